//! Silences: matchers plus a time window. The index answers "is this alert
//! silenced now, and until when?" without scanning every silence: each silence
//! is filed under one of its equality matchers (the rarest one), so a lookup only
//! evaluates silences whose indexed `name="value"` the alert actually carries,
//! plus the few silences that have no usable equality matcher.

use crate::alert::Labels;
use crate::matcher::{MatchOp, Matcher};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::hash::BuildHasherDefault;

/// A pseudo-label that names one alert by its fingerprint. Labels starting
/// with `__` are reserved in Prometheus, so no alert carries it: a matcher on
/// it matches only through [`SilenceIndex::active_match_alert`], which knows
/// the alert's fingerprint. Keypad silences of incidents without group labels
/// use it, so they silence exactly the alerts of that outage.
pub const FINGERPRINT_LABEL: &str = "__fingerprint__";

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

    /// Like [`Silence::matches`], for an alert whose fingerprint is known.
    pub fn matches_alert(&self, labels: &Labels, fingerprint: &str) -> bool {
        self.matchers.iter().all(|m| {
            if m.name == FINGERPRINT_LABEL {
                m.matches_value(fingerprint)
            } else {
                m.matches(labels)
            }
        })
    }

    /// Checks what a silence must satisfy before it is stored: a non-empty id,
    /// an end after its start, and at least one matcher that does not match
    /// the empty label set (as Alertmanager requires), so no silence can mute
    /// every alert by accident.
    pub fn validate(&self) -> Result<(), String> {
        if self.id.trim().is_empty() {
            return Err("silence id is empty".into());
        }
        if self.ends_at <= self.starts_at {
            return Err(format!(
                "silence {}: ends_at ({}) must be after starts_at ({})",
                self.id, self.ends_at, self.starts_at
            ));
        }
        if self.matchers.is_empty() {
            return Err(format!(
                "silence {}: needs at least one matcher (e.g. systemname=\"web\")",
                self.id
            ));
        }
        if self.matchers.iter().all(|m| m.matches_value("")) {
            return Err(format!(
                "silence {}: matchers {} would match every alert; add one that requires a label value",
                self.id,
                self.matchers
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        Ok(())
    }
}

// FNV-1a for the index's string keys: lookups hash a handful of short label
// names and values per alert. Keys are chosen by SREs (silences), not by
// alert senders, so flooding is not a concern; alert labels only probe.
type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<crate::hash::Fnv>>;

/// The set of silences, indexed for fast lookup.
#[derive(Debug, Clone, Default)]
pub struct SilenceIndex {
    silences: Vec<Silence>,
    /// label name → label value → positions in `silences`, ascending.
    by_eq: FastMap<String, FastMap<String, Vec<u32>>>,
    /// Silences with no equality matcher on a non-empty value but a regex
    /// that starts with a literal: label name → (prefix, position). The
    /// alert's value is looked up once per name, not once per silence (50
    /// regex silences on `instance` were 50 tree lookups per alert).
    by_prefix: FastMap<String, Vec<(String, u32)>>,
    /// Silences with neither: every alert is checked against their matchers.
    unindexed: Vec<u32>,
}

/// `label` must be present and start with `prefix`: implied by a positive
/// regex matcher whose pattern begins with a plain literal.
#[derive(Debug, Clone)]
struct Prefilter {
    label: String,
    prefix: String,
}

impl Prefilter {
    fn for_silence(s: &Silence) -> Option<Prefilter> {
        s.matchers
            .iter()
            .filter(|m| m.op == MatchOp::Regex)
            .filter_map(|m| {
                literal_prefix(&m.value).map(|prefix| Prefilter {
                    label: m.name.clone(),
                    prefix,
                })
            })
            .max_by_key(|p| p.prefix.len())
    }
}

/// The literal every match of the (anchored) regex starts with, if it is
/// simple to see: leading plain characters, minus one made optional by a
/// following `?`, `*` or `{`. Any alternation anywhere gives up.
fn literal_prefix(re: &str) -> Option<String> {
    if re.contains('|') {
        return None;
    }
    let mut prefix = String::new();
    for c in re.chars() {
        match c {
            '?' | '*' | '{' => {
                prefix.pop();
                break;
            }
            '.' | '[' | ']' | '(' | ')' | '+' | '}' | '^' | '$' | '\\' => break,
            c => prefix.push(c),
        }
    }
    (!prefix.is_empty()).then_some(prefix)
}

impl SilenceIndex {
    /// Indexes `silences` (order is kept: it breaks ties, see [`Self::active_match`]).
    pub fn new(silences: Vec<Silence>) -> Self {
        // How many silences share each name="value": index each silence under
        // its rarest equality matcher so buckets stay small.
        let mut freq: FastMap<(&str, &str), usize> = FastMap::default();
        for s in &silences {
            for m in s.matchers.iter().filter(|m| indexable(m)) {
                *freq.entry((&m.name, &m.value)).or_default() += 1;
            }
        }
        let mut by_eq: FastMap<String, FastMap<String, Vec<u32>>> = FastMap::default();
        let mut by_prefix: FastMap<String, Vec<(String, u32)>> = FastMap::default();
        let mut unindexed = Vec::new();
        for (i, s) in silences.iter().enumerate() {
            let i = u32::try_from(i).expect("more than 4 billion silences");
            let best = s
                .matchers
                .iter()
                .filter(|m| indexable(m))
                .min_by_key(|m| (freq[&(m.name.as_str(), m.value.as_str())], &m.name));
            match best {
                Some(m) => by_eq
                    .entry(m.name.clone())
                    .or_default()
                    .entry(m.value.clone())
                    .or_default()
                    .push(i),
                None => match Prefilter::for_silence(s) {
                    Some(p) => by_prefix.entry(p.label).or_default().push((p.prefix, i)),
                    None => unindexed.push(i),
                },
            }
        }
        Self {
            silences,
            by_eq,
            by_prefix,
            unindexed,
        }
    }

    /// The active silence matching `labels` that ends latest, if any; between
    /// silences ending at the same second, the first in the list given to
    /// [`Self::new`].
    pub fn active_match(&self, labels: &Labels, now: i64) -> Option<&Silence> {
        let mut best: Option<(i64, u32)> = None;
        let mut consider = |i: u32| {
            let s = &self.silences[i as usize];
            let better = match best {
                None => true,
                Some((end, j)) => s.ends_at > end || (s.ends_at == end && i < j),
            };
            if better && s.is_active(now) && s.matches(labels) {
                best = Some((s.ends_at, i));
            }
        };
        self.unindexed.iter().for_each(|&i| consider(i));
        for (name, prefixed) in &self.by_prefix {
            if let Some(v) = labels.get(name) {
                for (prefix, i) in prefixed {
                    if v.starts_with(prefix.as_str()) {
                        consider(*i);
                    }
                }
            }
        }
        if !self.by_eq.is_empty() {
            if self.by_eq.len() < labels.len() {
                for (name, values) in &self.by_eq {
                    if let Some(ids) = labels.get(name).and_then(|v| values.get(v)) {
                        ids.iter().for_each(|&i| consider(i));
                    }
                }
            } else {
                for (name, value) in labels {
                    if let Some(ids) = self.by_eq.get(name).and_then(|vals| vals.get(value)) {
                        ids.iter().for_each(|&i| consider(i));
                    }
                }
            }
        }
        best.map(|(_, i)| &self.silences[i as usize])
    }

    /// [`Self::active_match`] for an alert: silences naming its fingerprint
    /// count too.
    pub fn active_match_alert(
        &self,
        labels: &Labels,
        fingerprint: &str,
        now: i64,
    ) -> Option<&Silence> {
        let by_labels = self.active_match(labels, now);
        let by_fp = self
            .by_eq
            .get(FINGERPRINT_LABEL)
            .and_then(|vals| vals.get(fingerprint))
            .into_iter()
            .flatten()
            .map(|&i| &self.silences[i as usize])
            .filter(|s| s.is_active(now) && s.matches_alert(labels, fingerprint))
            .max_by_key(|s| s.ends_at);
        match (by_labels, by_fp) {
            (Some(a), Some(b)) => Some(if b.ends_at > a.ends_at { b } else { a }),
            (a, b) => a.or(b),
        }
    }

    /// End (epoch seconds) of the latest-ending active silence for `labels`.
    /// Another silence may start exactly then; re-check at that time.
    pub fn silenced_until(&self, labels: &Labels, now: i64) -> Option<i64> {
        self.active_match(labels, now).map(|s| s.ends_at)
    }

    pub fn len(&self) -> usize {
        self.silences.len()
    }

    pub fn is_empty(&self) -> bool {
        self.silences.is_empty()
    }

    /// All silences, active or not, in the order given to [`Self::new`].
    pub fn iter(&self) -> std::slice::Iter<'_, Silence> {
        self.silences.iter()
    }
}

impl<'a> IntoIterator for &'a SilenceIndex {
    type Item = &'a Silence;
    type IntoIter = std::slice::Iter<'a, Silence>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// `name="value"` with a non-empty value: the alert must carry exactly that
/// label, so the silence can only match alerts found under it. (`name=""`
/// matches alerts *without* the label and cannot be looked up that way.)
fn indexable(m: &Matcher) -> bool {
    m.op == MatchOp::Equal && !m.value.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    use crate::test_support::labels;

    fn silence(id: &str, matchers: &[&str], starts_at: i64, ends_at: i64) -> Silence {
        Silence {
            id: id.into(),
            matchers: matchers
                .iter()
                .map(|m| Matcher::parse(m).unwrap())
                .collect(),
            starts_at,
            ends_at,
            created_by: "test".into(),
            reason: "test".into(),
        }
    }

    fn naive<'a>(silences: &'a [Silence], l: &Labels, now: i64) -> Option<&'a Silence> {
        let mut best: Option<&Silence> = None;
        for s in silences {
            let later = match best {
                None => true,
                Some(b) => s.ends_at > b.ends_at,
            };
            if s.is_active(now) && s.matches(l) && later {
                best = Some(s);
            }
        }
        best
    }

    #[test]
    fn finds_active_matching_silence_ending_latest() {
        let idx = SilenceIndex::new(vec![
            silence("a", &["systemname=web"], 0, 100),
            silence("b", &["systemname=web", "severity=~crit.*"], 0, 200),
            silence("c", &["systemname=db"], 0, 300),
            silence("d", &["systemname=web"], 150, 400),
        ]);
        let l = labels(&[("systemname", "web"), ("severity", "critical")]);
        assert_eq!(idx.active_match(&l, 50).unwrap().id, "b");
        assert_eq!(idx.silenced_until(&l, 50), Some(200));
        assert_eq!(idx.active_match(&l, 160).unwrap().id, "d");
        assert_eq!(idx.active_match(&l, 400), None, "end is exclusive");
        let warn = labels(&[("systemname", "web"), ("severity", "warning")]);
        assert_eq!(idx.active_match(&warn, 50).unwrap().id, "a");
        assert!(idx
            .active_match(&labels(&[("systemname", "api")]), 50)
            .is_none());
        assert_eq!(idx.len(), 4);
        assert!(!idx.is_empty());
        assert_eq!(idx.iter().count(), 4);
    }

    #[test]
    fn silences_without_equality_matchers_are_still_found() {
        let idx = SilenceIndex::new(vec![
            silence("re", &["instance=~\"web-[0-9]+\""], 0, 100),
            silence("neq", &["team!=\"\"", "env!=dev"], 0, 50),
            silence("empty-eq", &["team=\"\"", "alertname=Disk"], 0, 70),
        ]);
        assert_eq!(
            idx.active_match(&labels(&[("instance", "web-12")]), 10)
                .unwrap()
                .id,
            "re"
        );
        assert_eq!(
            idx.active_match(&labels(&[("team", "ops"), ("env", "prod")]), 10)
                .unwrap()
                .id,
            "neq"
        );
        assert_eq!(
            idx.active_match(&labels(&[("alertname", "Disk")]), 10)
                .unwrap()
                .id,
            "empty-eq"
        );
        assert!(idx
            .active_match(
                &labels(&[("alertname", "Disk"), ("team", "x"), ("env", "dev")]),
                10
            )
            .is_none());
    }

    #[test]
    fn literal_prefixes_are_conservative() {
        assert_eq!(literal_prefix("web-.*").as_deref(), Some("web-"));
        assert_eq!(literal_prefix("web-[0-9]+").as_deref(), Some("web-"));
        assert_eq!(literal_prefix("webs?").as_deref(), Some("web"));
        assert_eq!(literal_prefix("ab{0,2}").as_deref(), Some("a"));
        assert_eq!(literal_prefix("a|b"), None);
        assert_eq!(literal_prefix("(?i)web"), None);
        assert_eq!(literal_prefix(".*web"), None);
        assert_eq!(literal_prefix("x*"), None);
        assert_eq!(literal_prefix("\\d+"), None);
    }

    #[test]
    fn ties_go_to_the_first_silence() {
        let idx = SilenceIndex::new(vec![
            silence("first", &["a=1"], 0, 100),
            silence("second", &["b=2"], 0, 100),
        ]);
        let l = labels(&[("a", "1"), ("b", "2")]);
        assert_eq!(idx.active_match(&l, 1).unwrap().id, "first");
    }

    #[test]
    fn empty_index() {
        let idx = SilenceIndex::default();
        assert!(idx.is_empty());
        assert_eq!(idx.len(), 0);
        assert_eq!(idx.silenced_until(&labels(&[("a", "b")]), 0), None);
    }

    #[test]
    fn validate_rejects_bad_silences() {
        assert!(silence("ok", &["systemname=web"], 0, 10).validate().is_ok());
        let e = silence("", &["systemname=web"], 0, 10)
            .validate()
            .unwrap_err();
        assert!(e.contains("id"), "{e}");
        let e = silence("x", &["systemname=web"], 10, 10)
            .validate()
            .unwrap_err();
        assert!(e.contains("after"), "{e}");
        let e = silence("x", &[], 0, 10).validate().unwrap_err();
        assert!(e.contains("at least one matcher"), "{e}");
        let e = silence("x", &["a=~\".*\"", "b!=x"], 0, 10)
            .validate()
            .unwrap_err();
        assert!(e.contains("every alert"), "{e}");
    }

    fn arb_matcher() -> impl Strategy<Value = Matcher> {
        let names = prop::sample::select(vec!["a", "b", "c", "d"]);
        let values = prop::sample::select(vec!["", "x", "y", "z"]);
        (names, 0..8u8, values).prop_map(|(n, op, v)| match op {
            0..=2 => Matcher::new(n, MatchOp::Equal, v).unwrap(),
            3 => Matcher::new(n, MatchOp::NotEqual, v).unwrap(),
            4 => Matcher::new(n, MatchOp::Regex, &format!("{v}.*")).unwrap(),
            5 => Matcher::new(n, MatchOp::Regex, &format!("{v}x?")).unwrap(),
            6 => Matcher::new(n, MatchOp::Regex, &format!("{v}|y")).unwrap(),
            _ => Matcher::new(n, MatchOp::NotRegex, v).unwrap(),
        })
    }

    fn arb_silence() -> impl Strategy<Value = Silence> {
        (
            prop::collection::vec(arb_matcher(), 0..4),
            0i64..20,
            0i64..20,
        )
            .prop_map(|(matchers, start, len)| Silence {
                id: String::new(),
                matchers,
                starts_at: start,
                ends_at: start + len,
                created_by: String::new(),
                reason: String::new(),
            })
    }

    fn arb_labels() -> impl Strategy<Value = Labels> {
        prop::collection::btree_map(
            prop::sample::select(vec!["a", "b", "c", "d", "e"]).prop_map(String::from),
            prop::sample::select(vec!["", "x", "y", "z", "xx"]).prop_map(String::from),
            0..5,
        )
    }

    proptest! {
        #[test]
        fn index_agrees_with_linear_scan(
            mut silences in prop::collection::vec(arb_silence(), 0..40),
            alerts in prop::collection::vec(arb_labels(), 1..10),
            now in 0i64..40,
        ) {
            for (i, s) in silences.iter_mut().enumerate() {
                s.id = i.to_string();
            }
            let idx = SilenceIndex::new(silences.clone());
            for l in &alerts {
                let want = naive(&silences, l, now).map(|s| s.id.as_str());
                let got = idx.active_match(l, now).map(|s| s.id.as_str());
                prop_assert_eq!(got, want);
                prop_assert_eq!(idx.silenced_until(l, now), naive(&silences, l, now).map(|s| s.ends_at));
            }
        }
    }
}
