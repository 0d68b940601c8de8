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
pub fn canonical(sender: &str) -> String {
    if sender.len() == 16
        && sender
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return sender.to_string();
    }
    format!("{:016x}", fnv1a(OFFSET, sender.as_bytes()))
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
    fn matches_prometheus_for_known_label_sets() {
        // Empty label set is the FNV offset basis, as in Prometheus' model.
        assert_eq!(fingerprint(&Labels::new()), "cbf29ce484222325");
        let l: Labels = [("a".to_string(), "b".to_string())].into_iter().collect();
        // Computed independently: fnv1a64("a\xffb\xff").
        assert_eq!(fingerprint(&l), "d2b371819297f98a");
    }

    #[test]
    fn a_senders_fingerprint_is_kept_when_it_has_alertmanagers_form_and_hashed_otherwise() {
        assert_eq!(canonical("aaaa000000000001"), "aaaa000000000001");
        let other = canonical("my-check/db-1");
        assert_eq!(other.len(), 16);
        assert_eq!(other, canonical("my-check/db-1"));
        assert_ne!(other, canonical("my-check/db-2"));
        assert_eq!(canonical(&"x".repeat(256)).len(), 16);
        assert_ne!(canonical("AAAA000000000001"), "AAAA000000000001");
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
