//! Routing an alert to its policy and group (Alertmanager-style `group_by`).

use crate::alert::{Alert, Labels};
use crate::roster::{Policy, Roster};

/// Where an alert goes: which policy handles it and which group it joins.
#[derive(Debug, Clone)]
pub struct Route<'a> {
    pub policy: &'a Policy,
    /// `policy-name{k="v",...}`: one open incident per key.
    pub group_key: String,
    /// The `group_by` labels and their values for this group.
    pub group_labels: Labels,
}

/// Labels the group is keyed by. A `group_by` label the alert lacks is keyed as
/// empty, as Alertmanager does; `group_by: ["..."]` groups by all labels.
pub fn group_labels(policy: &Policy, labels: &Labels) -> Labels {
    if policy.group_by.iter().any(|g| g == "...") {
        return labels.clone();
    }
    policy
        .group_by
        .iter()
        .map(|k| (k.clone(), labels.get(k).cloned().unwrap_or_default()))
        .collect()
}

pub fn group_key(policy_name: &str, group_labels: &Labels) -> String {
    let mut key = String::with_capacity(policy_name.len() + 32);
    key.push_str(policy_name);
    key.push('{');
    for (i, (k, v)) in group_labels.iter().enumerate() {
        if i > 0 {
            key.push(',');
        }
        key.push_str(k);
        key.push('=');
        // Debug quoting escapes `,`/`}`-free values unambiguously.
        key.push_str(&format!("{v:?}"));
    }
    key.push('}');
    if key.len() <= MAX_GROUP_KEY_BYTES {
        return key;
    }
    // A long label value (or `group_by: ["..."]`) would make a key past
    // DynamoDB's 2,048-byte limit for a key attribute, and every write of
    // the group would fail for good. Keep a readable head and name the
    // whole key by its SHA-256, which two groups never share in practice.
    use sha2::Digest;
    let digest = sha2::Sha256::digest(key.as_bytes());
    let mut head_end = KEY_HEAD_BYTES;
    while !key.is_char_boundary(head_end) {
        head_end -= 1;
    }
    let mut bounded = String::with_capacity(head_end + 72);
    bounded.push_str(&key[..head_end]);
    bounded.push_str("…#sha256:");
    for b in digest.iter() {
        bounded.push_str(&format!("{b:02x}"));
    }
    bounded
}

/// Longest group key kept as written; longer ones are cut and hashed.
pub const MAX_GROUP_KEY_BYTES: usize = 512;
/// How much of a long key stays readable in front of its hash.
const KEY_HEAD_BYTES: usize = 200;

/// The route for an alert, or `None` when no policy matches it.
pub fn route<'a>(roster: &'a Roster, alert: &Alert) -> Option<Route<'a>> {
    Some(route_on(roster.policy_for(&alert.labels)?, &alert.labels))
}

/// The group an alert with `labels` joins on `policy`, however the policy
/// was chosen (by `match`, or named by a heartbeat).
pub fn route_on<'a>(policy: &'a Policy, labels: &Labels) -> Route<'a> {
    let group_labels = group_labels(policy, labels);
    Route {
        group_key: group_key(&policy.name, &group_labels),
        policy,
        group_labels,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_stable_and_unambiguous() {
        let a: Labels = [("systemname".to_string(), "web".to_string())].into();
        assert_eq!(group_key("default", &a), "default{systemname=\"web\"}");
        let tricky: Labels = [("a".to_string(), "x\",b=\"y".to_string())].into();
        let two: Labels = [
            ("a".to_string(), "x".to_string()),
            ("b".to_string(), "y".to_string()),
        ]
        .into();
        assert_ne!(group_key("p", &tricky), group_key("p", &two));
    }

    #[test]
    fn a_key_past_the_bound_is_cut_and_named_by_its_hash() {
        let long = |tail: &str| -> Labels {
            [(
                "systemname".to_string(),
                format!("{}{tail}", "長".repeat(1000)),
            )]
            .into()
        };
        let a = group_key("default", &long("a"));
        let b = group_key("default", &long("b"));
        assert!(a.len() <= MAX_GROUP_KEY_BYTES, "{}", a.len());
        assert!(a.starts_with("default{systemname=\"長"), "{a}");
        assert_ne!(a, b, "keys differing only past the cut stay apart");
        assert_eq!(a, group_key("default", &long("a")));
    }
}
