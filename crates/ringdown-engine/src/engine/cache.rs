use super::*;
use ringdown_core::storm::Lines;

/// See `Inner::cache`.
#[derive(Default)]
pub(super) struct IncidentCache {
    pub(super) by_id: HashMap<String, StoredIncident>,
    pub(super) by_group: HashMap<String, String>,
    /// Everyone's phone as these incidents show it (the storm rule's input).
    pub(super) lines: Lines,
}

impl IncidentCache {
    /// More open incidents than any team has; past it the cache starts over
    /// (entries of incidents other replicas closed are never read again).
    const MAX: usize = 10_000;

    pub(super) fn remember(&mut self, inc: &StoredIncident) {
        if inc.phase.is_closed() {
            self.forget(&inc.id);
            return;
        }
        if self.by_id.len() >= Self::MAX {
            self.by_id.clear();
            self.by_group.clear();
            self.lines = Lines::new();
        }
        self.lines.observe(inc);
        self.by_group.insert(inc.group_key.clone(), inc.id.clone());
        self.by_id.insert(inc.id.clone(), inc.clone());
    }

    pub(super) fn forget(&mut self, id: &str) {
        self.lines.forget(id);
        if let Some(inc) = self.by_id.remove(id) {
            if self.by_group.get(&inc.group_key).is_some_and(|g| g == id) {
                self.by_group.remove(&inc.group_key);
            }
        }
    }

    pub(super) fn open_id_for_group(&self, group_key: &str) -> Option<String> {
        let id = self.by_group.get(group_key)?;
        self.by_id.contains_key(id).then(|| id.clone())
    }
}
