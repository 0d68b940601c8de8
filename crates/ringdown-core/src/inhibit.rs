//! Inhibition, as Alertmanager's `inhibit_rules` define it: while an alert
//! matching a rule's `source_matchers` fires, an alert matching its
//! `target_matchers` whose `equal` labels have the same values (a label
//! missing on both counts as equal) is inhibited. An inhibited alert opens
//! no incident and rings nobody: it is attached to its source's incident
//! and listed in that incident's timeline. An alert never inhibits itself
//! (Alertmanager's rule for an alert matching both sides).
//!
//! Incidents remember their firing source alerts ([`SourceAlert`], bounded
//! by [`MAX_SOURCES`]), so any process holding the open incidents can tell
//! what inhibits what after a restart.

use crate::alert::{Alert, Labels, Status};
use crate::fingerprint::Fingerprint;
use crate::matcher::all_match;
use crate::roster::InhibitRule;
use serde::{Deserialize, Serialize};

/// Source alerts an incident remembers; past it, later sources inhibit
/// nothing (a needless call beats a missed one).
pub const MAX_SOURCES: usize = 64;

/// A firing alert that may inhibit others.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceAlert {
    pub fingerprint: Fingerprint,
    /// Its labels named by the `equal` of the rules it is a source of.
    pub labels: Labels,
    /// Indexes of those rules in the roster.
    pub rules: Vec<usize>,
}

/// `alert` as a source of the rules it matches, if any.
pub fn as_source(rules: &[InhibitRule], alert: &Alert) -> Option<SourceAlert> {
    if alert.status != Status::Firing {
        return None;
    }
    let matched: Vec<usize> = rules
        .iter()
        .enumerate()
        .filter(|(_, r)| all_match(&r.source_matchers, &alert.labels))
        .map(|(i, _)| i)
        .collect();
    if matched.is_empty() {
        return None;
    }
    let labels = matched
        .iter()
        .flat_map(|i| rules[*i].equal.iter())
        .filter_map(|l| alert.labels.get(l).map(|v| (l.clone(), v.clone())))
        .collect();
    Some(SourceAlert {
        fingerprint: Fingerprint::of(&alert.fingerprint),
        labels,
        rules: matched,
    })
}

/// Is `target` (firing) inhibited by `source`?
pub fn inhibits(rules: &[InhibitRule], source: &SourceAlert, target: &Alert) -> bool {
    if target.status != Status::Firing || source.fingerprint == Fingerprint::of(&target.fingerprint)
    {
        return false;
    }
    source.rules.iter().filter_map(|i| rules.get(*i)).any(|r| {
        all_match(&r.target_matchers, &target.labels)
            && r.equal.iter().all(|l| {
                source.labels.get(l).map_or("", String::as_str)
                    == target.labels.get(l).map_or("", String::as_str)
            })
    })
}

/// Could `alert` be inhibited by any rule (it matches a rule's targets)?
pub fn is_target(rules: &[InhibitRule], alert: &Alert) -> bool {
    alert.status == Status::Firing
        && rules
            .iter()
            .any(|r| all_match(&r.target_matchers, &alert.labels))
}

/// The first of `sources` (incident id, source alert) that inhibits `target`.
pub fn inhibitor<'a>(
    rules: &[InhibitRule],
    target: &Alert,
    sources: impl IntoIterator<Item = (&'a str, &'a SourceAlert)>,
) -> Option<&'a str> {
    if !is_target(rules, target) {
        return None;
    }
    sources
        .into_iter()
        .find(|(_, s)| inhibits(rules, s, target))
        .map(|(id, _)| id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::roster::Roster;
    use crate::test_support::alert;

    fn rules() -> Vec<InhibitRule> {
        Roster::from_yaml(
            r#"
timezone: UTC
people: { a: { phones: [{ number: "+14155550001" }] } }
policies: [{ name: p, match: {}, steps: [{ targets: [person:a] }] }]
inhibit_rules:
  - source_matchers: ['alertname="LineDown"']
    target_matchers: ['severity=~"warning|critical"']
    equal: [site]
"#,
        )
        .unwrap()
        .inhibit_rules
    }

    #[test]
    fn a_line_down_inhibits_the_same_sites_alerts_and_not_another_sites() {
        let r = rules();
        let line = alert(
            &[("alertname", "LineDown"), ("site", "tokyo")],
            Status::Firing,
        );
        let src = as_source(&r, &line).expect("a source");
        let web = alert(
            &[
                ("alertname", "Http5xx"),
                ("severity", "critical"),
                ("site", "tokyo"),
            ],
            Status::Firing,
        );
        let osaka = alert(
            &[
                ("alertname", "Http5xx"),
                ("severity", "critical"),
                ("site", "osaka"),
            ],
            Status::Firing,
        );
        let info = alert(
            &[
                ("alertname", "Http5xx"),
                ("severity", "info"),
                ("site", "tokyo"),
            ],
            Status::Firing,
        );
        assert!(inhibits(&r, &src, &web));
        assert!(!inhibits(&r, &src, &osaka), "equal: [site] differs");
        assert!(!inhibits(&r, &src, &info), "not a target");
        assert_eq!(inhibitor(&r, &web, [("inc-1", &src)]), Some("inc-1"));
    }

    #[test]
    fn missing_equal_labels_count_as_equal_and_an_alert_never_inhibits_itself() {
        let r = rules();
        let line = alert(
            &[("alertname", "LineDown"), ("severity", "critical")],
            Status::Firing,
        );
        let src = as_source(&r, &line).unwrap();
        assert!(!inhibits(&r, &src, &line), "matches both sides: not itself");
        let other = alert(
            &[("alertname", "Db"), ("severity", "warning")],
            Status::Firing,
        );
        assert!(inhibits(&r, &src, &other), "site missing on both");
        let resolved = alert(&[("alertname", "LineDown")], Status::Resolved);
        assert!(as_source(&r, &resolved).is_none());
    }
}
