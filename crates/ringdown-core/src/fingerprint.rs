//! Alert fingerprints, computed exactly as Prometheus/Alertmanager do
//! (FNV-1a 64 over label names and values sorted by name, each followed by the
//! 0xff separator byte) so that an alert keeps the same identity whether it came
//! through Alertmanager (which sends its own fingerprint) or from elsewhere.

use crate::alert::Labels;

use crate::hash::{fnv1a, FNV_OFFSET as OFFSET};

const SEP: u8 = 0xff;

/// 16 lowercase hex digits; independent of the order labels were sent in
/// (`Labels` is a sorted map).
pub fn fingerprint(labels: &Labels) -> String {
    format!("{:016x}", fingerprint_u64(labels))
}

/// A sender's own fingerprint as ringdown keeps it: Alertmanager's and
/// Grafana's (16 lowercase hex digits) as they are; any other (a plain JSON
/// sender's id, up to 256 bytes) hashed to that form with FNV-1a 64, so an
/// incident tracking 5,000 alerts stores 5,000 × 16 bytes, whatever the
/// senders chose.
pub fn canonical(sender: String) -> String {
    if is_canonical(&sender) {
        return sender;
    }
    format!("{:016x}", Fingerprint::of(&sender).0)
}

/// 16 lowercase hex digits: Alertmanager's and Grafana's form.
fn is_canonical(text: &str) -> bool {
    text.len() == 16
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// An alert's fingerprint as an incident tracks it: the value of its 16 hex
/// digits. Stored and shown as those digits (so records read as before);
/// held as a number so that an incident tracking 5,000 alerts is copied
/// (once per event it decides) without 5,000 allocations, which was most of
/// the embedded ingest's time in a storm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fingerprint(pub u64);

impl Fingerprint {
    /// The fingerprint of an alert's `fingerprint` text: its value when it is
    /// in the canonical form (what parsing gives every alert), else that
    /// text hashed as [`canonical`] would.
    pub fn of(text: &str) -> Fingerprint {
        match is_canonical(text)
            .then(|| u64::from_str_radix(text, 16).ok())
            .flatten()
        {
            Some(v) => Fingerprint(v),
            None => Fingerprint(fnv1a(OFFSET, text.as_bytes())),
        }
    }
}

impl From<&str> for Fingerprint {
    fn from(text: &str) -> Fingerprint {
        Fingerprint::of(text)
    }
}

impl std::fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl serde::Serialize for Fingerprint {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; 16];
        let digits = b"0123456789abcdef";
        for (i, b) in buf.iter_mut().enumerate() {
            *b = digits[((self.0 >> (60 - 4 * i)) & 0xf) as usize];
        }
        s.serialize_str(std::str::from_utf8(&buf).expect("hex digits"))
    }
}

impl<'de> serde::Deserialize<'de> for Fingerprint {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Ok(Fingerprint::of(&text))
    }
}

/// The fingerprints of an incident's firing alerts: a sorted vector, so that
/// copying an incident (once per event it decides, twice more by the
/// engine's cache) is one allocation and one copy, where a `BTreeSet` of
/// 5,000 was a hundred nodes to allocate and free. Stored as the set was, a
/// JSON array of hex digits in ascending order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FiringSet(Vec<Fingerprint>);

impl FiringSet {
    pub fn new() -> FiringSet {
        FiringSet::default()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, fp: &Fingerprint) -> bool {
        self.0.binary_search(fp).is_ok()
    }

    /// Whether it was not there yet.
    pub fn insert(&mut self, fp: Fingerprint) -> bool {
        match self.0.binary_search(&fp) {
            Ok(_) => false,
            Err(at) => {
                self.0.insert(at, fp);
                true
            }
        }
    }

    /// Whether it was there.
    pub fn remove(&mut self, fp: &Fingerprint) -> bool {
        match self.0.binary_search(fp) {
            Ok(at) => {
                self.0.remove(at);
                true
            }
            Err(_) => false,
        }
    }

    /// In ascending order.
    pub fn iter(&self) -> std::slice::Iter<'_, Fingerprint> {
        self.0.iter()
    }
}

impl FromIterator<Fingerprint> for FiringSet {
    fn from_iter<I: IntoIterator<Item = Fingerprint>>(iter: I) -> Self {
        let mut v: Vec<Fingerprint> = iter.into_iter().collect();
        v.sort_unstable();
        v.dedup();
        FiringSet(v)
    }
}

impl<'a> IntoIterator for &'a FiringSet {
    type Item = &'a Fingerprint;
    type IntoIter = std::slice::Iter<'a, Fingerprint>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl serde::Serialize for FiringSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for FiringSet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Any order, any repeats (hand-edited or older records): sorted here.
        Ok(Vec::<Fingerprint>::deserialize(d)?.into_iter().collect())
    }
}

pub fn fingerprint_u64(labels: &Labels) -> u64 {
    let mut h = OFFSET;
    for (k, v) in labels {
        h = fnv1a(h, k.as_bytes());
        h = fnv1a(h, &[SEP]);
        h = fnv1a(h, v.as_bytes());
        h = fnv1a(h, &[SEP]);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_firing_set_is_stored_as_the_sorted_list_of_digits_records_always_held() {
        let mut set = FiringSet::new();
        for fp in [
            "00000000000000ff",
            "0000000000000001",
            "00000000000000ff",
            "0000000000000a00",
        ] {
            set.insert(Fingerprint::of(fp));
        }
        assert_eq!(set.len(), 3);
        let json = serde_json::to_string(&set).unwrap();
        assert_eq!(
            json,
            r#"["0000000000000001","00000000000000ff","0000000000000a00"]"#
        );
        // Read back in any order, with repeats (older or hand-edited records).
        let read: FiringSet = serde_json::from_str(
            r#"["0000000000000a00","0000000000000001","00000000000000ff","0000000000000001"]"#,
        )
        .unwrap();
        assert_eq!(read, set);
        assert!(read.contains(&Fingerprint::of("00000000000000ff")));
        let mut less = read.clone();
        assert!(less.remove(&Fingerprint::of("00000000000000ff")));
        assert!(!less.remove(&Fingerprint::of("00000000000000ff")));
        assert!(!less.contains(&Fingerprint::of("00000000000000ff")));
        assert_eq!(less.len(), 2);
    }

    #[test]
    fn matches_prometheus_for_known_label_sets() {
        // Empty label set is the FNV offset basis, as in Prometheus' model.
        assert_eq!(fingerprint(&Labels::new()), "cbf29ce484222325");
        let l: Labels = [("a".to_string(), "b".to_string())].into_iter().collect();
        // Computed independently: fnv1a64("a\xffb\xff").
        assert_eq!(fingerprint(&l), "d2b371819297f98a");
    }

    #[test]
    fn a_senders_fingerprint_is_kept_when_it_has_alertmanagers_form_and_hashed_otherwise() {
        assert_eq!(canonical("aaaa000000000001".into()), "aaaa000000000001");
        let other = canonical("my-check/db-1".into());
        assert_eq!(other.len(), 16);
        assert_eq!(other, canonical("my-check/db-1".into()));
        assert_ne!(other, canonical("my-check/db-2".into()));
        assert_eq!(canonical("x".repeat(256)).len(), 16);
        assert_ne!(canonical("AAAA000000000001".into()), "AAAA000000000001");
    }

    #[test]
    fn a_tracked_fingerprint_reads_and_writes_as_its_hex_digits() {
        let fp = Fingerprint::of("00000000deadbeef");
        assert_eq!(fp, Fingerprint(0xdead_beef));
        assert_eq!(fp.to_string(), "00000000deadbeef");
        assert_eq!(serde_json::to_string(&fp).unwrap(), "\"00000000deadbeef\"");
        let back: Fingerprint = serde_json::from_str("\"00000000deadbeef\"").unwrap();
        assert_eq!(back, fp);
        // Any other text is hashed as `canonical` hashes it.
        assert_eq!(
            Fingerprint::of("my-check/db-1").to_string(),
            canonical("my-check/db-1".into())
        );
        // Sorted as the hex strings sort, so stored sets keep their order.
        let mut hex = vec!["ffff000000000000", "0000000000000001", "a000000000000000"];
        let mut fps: Vec<Fingerprint> = hex.iter().map(|h| Fingerprint::of(h)).collect();
        hex.sort();
        fps.sort();
        let shown: Vec<String> = fps.iter().map(ToString::to_string).collect();
        assert_eq!(shown, hex);
    }

    #[test]
    fn label_order_does_not_matter() {
        let a: Labels = [("x", "1"), ("y", "2")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let b: Labels = [("y", "2"), ("x", "1")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(fingerprint(&a), fingerprint(&b));
    }
}
