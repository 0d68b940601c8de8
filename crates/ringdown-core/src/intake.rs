//! What becomes of each alert of a batch, decided before anything is
//! stored: a heartbeat's beat, unrouted, silenced, or grouped. The engine
//! executes the answer (renews the beats, writes one incident per group)
//! and keeps the metrics.

use crate::alert::{Alert, Status};
use crate::grouping::{route, Route};
use crate::roster::Roster;
use crate::silence::SilenceIndex;
use std::collections::{BTreeMap, BTreeSet};

/// The fate of one alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate {
    /// It renewed the heartbeat of this name, and opens nothing.
    Heartbeat { name: String },
    /// No policy matches it.
    Unrouted,
    /// This active silence covers it (firing alerts only: a resolution is
    /// never silenced, so an open incident still learns of it).
    Silenced { silence_id: String },
    /// It joins `Intake::groups[group]`.
    Grouped { group: usize },
}

/// The alerts of a batch that share a group, in batch order.
#[derive(Debug)]
pub struct Group<'a> {
    pub route: Route<'a>,
    pub alerts: Vec<usize>,
}

/// The decisions for a batch.
#[derive(Debug)]
pub struct Intake<'a> {
    /// One per alert, in batch order.
    pub fates: Vec<Fate>,
    /// Heartbeats the batch renewed.
    pub beats: BTreeSet<String>,
    /// By group key.
    pub groups: Vec<Group<'a>>,
}

/// Decides the fate of every alert in `alerts` at `now` (epoch seconds).
pub fn intake<'a>(
    roster: &'a Roster,
    silences: &SilenceIndex,
    alerts: &[Alert],
    now: i64,
) -> Intake<'a> {
    let mut fates = Vec::with_capacity(alerts.len());
    let mut beats = BTreeSet::new();
    let mut by_key: BTreeMap<String, (Route<'a>, Vec<usize>)> = BTreeMap::new();
    // Grouped alerts get their group index once the groups are ordered.
    let mut keys: Vec<Option<String>> = Vec::with_capacity(alerts.len());
    for (i, alert) in alerts.iter().enumerate() {
        keys.push(None);
        if let Some(h) = crate::heartbeat::renewed_by(roster, alert) {
            beats.insert(h.name.clone());
            fates.push(Fate::Heartbeat {
                name: h.name.clone(),
            });
            continue;
        }
        let Some(r) = route(roster, alert) else {
            fates.push(Fate::Unrouted);
            continue;
        };
        if alert.status == Status::Firing {
            if let Some(s) = silences.active_match_alert(&alert.labels, &alert.fingerprint, now) {
                fates.push(Fate::Silenced {
                    silence_id: s.id.clone(),
                });
                continue;
            }
        }
        keys[i] = Some(r.group_key.clone());
        by_key
            .entry(r.group_key.clone())
            .or_insert_with(|| (r, Vec::new()))
            .1
            .push(i);
        fates.push(Fate::Grouped { group: usize::MAX });
    }
    let index: BTreeMap<&str, usize> = by_key
        .keys()
        .enumerate()
        .map(|(n, k)| (k.as_str(), n))
        .collect();
    for (fate, key) in fates.iter_mut().zip(&keys) {
        if let (Fate::Grouped { group }, Some(k)) = (fate, key) {
            *group = index[k.as_str()];
        }
    }
    let groups = by_key
        .into_values()
        .map(|(route, alerts)| Group { route, alerts })
        .collect();
    Intake {
        fates,
        beats,
        groups,
    }
}

/// Whether alerts that found no open incident of their group open one: a
/// batch of resolutions alone has nothing to page about.
pub fn opens_incident(alerts: &[Alert]) -> bool {
    alerts.iter().any(|a| a.status == Status::Firing)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matcher::Matcher;
    use crate::silence::Silence;
    use crate::test_support::alert;

    const ROSTER: &str = r#"
timezone: UTC
people:
  a: { phones: [{ number: "+14155550001" }] }
policies:
  - name: payments
    match: { team: payments }
    group_by: [systemname]
    steps: [{ targets: [person:a] }]
heartbeats:
  - { name: watchdog, expect_every_secs: 300, policy: payments, labels: { alertname: Watchdog } }
"#;

    fn silence_on(system: &str) -> SilenceIndex {
        SilenceIndex::new(vec![Silence {
            id: "s1".into(),
            matchers: vec![Matcher::equal("systemname", system).unwrap()],
            starts_at: 0,
            ends_at: 1_000,
            created_by: "sre".into(),
            reason: "maintenance".into(),
        }])
    }

    #[test]
    fn a_batch_sorts_into_beats_unrouted_silenced_and_one_group_per_system() {
        let roster = Roster::from_yaml(ROSTER).unwrap();
        let batch = [
            alert(
                &[("team", "payments"), ("systemname", "db")],
                Status::Firing,
            ),
            alert(&[("alertname", "Watchdog")], Status::Firing),
            alert(&[("team", "search"), ("systemname", "es")], Status::Firing),
            alert(
                &[("team", "payments"), ("systemname", "web")],
                Status::Firing,
            ),
            alert(
                &[("team", "payments"), ("systemname", "db"), ("x", "2")],
                Status::Firing,
            ),
        ];
        let out = intake(&roster, &silence_on("web"), &batch, 500);
        assert_eq!(
            out.fates,
            vec![
                Fate::Grouped { group: 0 },
                Fate::Heartbeat {
                    name: "watchdog".into()
                },
                Fate::Unrouted,
                Fate::Silenced {
                    silence_id: "s1".into()
                },
                Fate::Grouped { group: 0 },
            ]
        );
        assert_eq!(out.beats, BTreeSet::from(["watchdog".to_string()]));
        assert_eq!(out.groups.len(), 1);
        assert_eq!(out.groups[0].route.group_key, "payments{systemname=\"db\"}");
        assert_eq!(out.groups[0].alerts, vec![0, 4]);
    }

    #[test]
    fn a_resolution_is_never_silenced_so_its_open_incident_hears_of_it() {
        let roster = Roster::from_yaml(ROSTER).unwrap();
        let batch = [alert(
            &[("team", "payments"), ("systemname", "web")],
            Status::Resolved,
        )];
        let out = intake(&roster, &silence_on("web"), &batch, 500);
        assert_eq!(out.fates, vec![Fate::Grouped { group: 0 }]);
        // Once the silence has ended, a firing alert groups again.
        let firing = [alert(
            &[("team", "payments"), ("systemname", "web")],
            Status::Firing,
        )];
        let later = intake(&roster, &silence_on("web"), &firing, 1_000);
        assert_eq!(later.fates, vec![Fate::Grouped { group: 0 }]);
    }

    #[test]
    fn groups_come_in_key_order_and_each_alert_names_its_own() {
        let roster = Roster::from_yaml(ROSTER).unwrap();
        let batch = [
            alert(
                &[("team", "payments"), ("systemname", "web")],
                Status::Firing,
            ),
            alert(
                &[("team", "payments"), ("systemname", "api")],
                Status::Firing,
            ),
        ];
        let out = intake(&roster, &SilenceIndex::default(), &batch, 0);
        let keys: Vec<_> = out
            .groups
            .iter()
            .map(|g| g.route.group_key.as_str())
            .collect();
        assert_eq!(
            keys,
            [
                "payments{systemname=\"api\"}",
                "payments{systemname=\"web\"}"
            ]
        );
        assert_eq!(
            out.fates,
            vec![Fate::Grouped { group: 1 }, Fate::Grouped { group: 0 }]
        );
    }

    #[test]
    fn only_a_firing_alert_opens_an_incident() {
        let resolved = alert(&[("systemname", "db")], Status::Resolved);
        let firing = alert(&[("systemname", "db")], Status::Firing);
        assert!(!opens_incident(std::slice::from_ref(&resolved)));
        assert!(opens_incident(&[resolved, firing]));
        assert!(!opens_incident(&[]));
    }
}
