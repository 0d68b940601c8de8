//! Silences (owned by the parsing work; this is the agreed interface).
use crate::alert::Labels;
use crate::matcher::Matcher;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Silence {
    pub id: String,
    pub matchers: Vec<Matcher>,
    /// Epoch seconds.
    pub starts_at: i64,
    /// Epoch seconds; the silence is active while `starts_at <= now < ends_at`.
    pub ends_at: i64,
    pub created_by: String,
    pub reason: String,
}

impl Silence {
    pub fn is_active(&self, now: i64) -> bool {
        self.starts_at <= now && now < self.ends_at
    }
    pub fn matches(&self, labels: &Labels) -> bool {
        crate::matcher::all_match(&self.matchers, labels)
    }
}

/// The set of silences, indexed for fast lookup.
#[derive(Debug, Clone, Default)]
pub struct SilenceIndex {
    silences: Vec<Silence>,
}

impl SilenceIndex {
    pub fn new(silences: Vec<Silence>) -> Self {
        Self { silences }
    }
    /// The active silence matching `labels` that lasts longest, if any.
    pub fn active_match(&self, labels: &Labels, now: i64) -> Option<&Silence> {
        self.silences
            .iter()
            .filter(|s| s.is_active(now) && s.matches(labels))
            .max_by_key(|s| s.ends_at)
    }
}
