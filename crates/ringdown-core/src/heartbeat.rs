//! Heartbeats (dead man's switches): alerts that must keep arriving, such as
//! Alertmanager's always-firing `Watchdog`. A heartbeat that stops means the
//! alerting path itself is broken, the outage nobody would otherwise hear of.
//!
//! An alert renews heartbeat `h` when it carries every label of `h.labels`;
//! with no `labels`, when it carries `heartbeat=<h.name>`. Renewing alerts are
//! consumed: they never open an incident. A missed heartbeat raises a
//! synthetic alert (`alertname=HeartbeatMissed`, `heartbeat=<name>`, plus the
//! heartbeat's labels) on the heartbeat's policy; the next beat resolves it.

use crate::alert::{Alert, Labels, Source, Status};
use crate::fingerprint::fingerprint;
use crate::roster::{Heartbeat, Roster};
use chrono::{DateTime, Duration, Utc};

/// `alertname` of the alert raised for a missed heartbeat.
pub const MISSED: &str = "HeartbeatMissed";

/// The heartbeat `alert` renews, if any.
pub fn renewed_by<'a>(roster: &'a Roster, alert: &Alert) -> Option<&'a Heartbeat> {
    if alert.labels.get("alertname").map(String::as_str) == Some(MISSED) {
        // Our own alert about a missed beat is never a beat.
        return None;
    }
    if alert.status != crate::Status::Firing {
        // A beat is a firing alert (Alertmanager's Watchdog always fires);
        // a resolved one says the opposite, and anyone could send it.
        return None;
    }
    roster.heartbeats.iter().find(|h| {
        if h.labels.is_empty() {
            alert.labels.get("heartbeat") == Some(&h.name)
        } else {
            h.labels.iter().all(|(k, v)| alert.labels.get(k) == Some(v))
        }
    })
}

/// Has the heartbeat been silent for longer than it promised?
pub fn is_overdue(h: &Heartbeat, last_seen: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    now - last_seen > Duration::seconds(h.expect_every_secs as i64)
}

/// The alert raised (`Firing`) or cleared (`Resolved`) for a missed heartbeat.
/// Same labels either way, so the clear resolves the incident the miss opened.
pub fn missed_alert(h: &Heartbeat, status: Status, last_seen: DateTime<Utc>) -> Alert {
    let mut labels: Labels = h.labels.clone();
    labels.insert("alertname".into(), MISSED.into());
    labels.insert("heartbeat".into(), h.name.clone());
    let mut annotations = Labels::new();
    annotations.insert(
        "summary".into(),
        format!(
            "heartbeat {} missed: nothing for more than {} seconds; the alerting path may be down",
            h.name, h.expect_every_secs
        ),
    );
    annotations.insert("last_seen".into(), last_seen.to_rfc3339());
    Alert {
        fingerprint: fingerprint(&labels),
        status,
        labels,
        annotations,
        starts_at: Some(last_seen + Duration::seconds(h.expect_every_secs as i64)),
        ends_at: None,
        source: Source::Generic,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROSTER: &str = r#"
timezone: UTC
people:
  a: { phones: [{ number: "+14155550001" }] }
policies:
  - name: default
    steps: [{ targets: [person:a] }]
heartbeats:
  - { name: watchdog, expect_every_secs: 300, policy: default, labels: { alertname: Watchdog } }
  - { name: cron, expect_every_secs: 3600, policy: default }
"#;

    fn alert(pairs: &[(&str, &str)]) -> Alert {
        let labels: Labels = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Alert {
            fingerprint: fingerprint(&labels),
            status: Status::Firing,
            labels,
            annotations: Labels::new(),
            starts_at: None,
            ends_at: None,
            source: Source::Alertmanager,
        }
    }

    #[test]
    fn a_resolved_beat_never_keeps_a_dead_mans_switch_alive() {
        let r = Roster::from_yaml(ROSTER).unwrap();
        let mut w = alert(&[("alertname", "Watchdog")]);
        w.status = Status::Resolved;
        assert!(renewed_by(&r, &w).is_none());
    }

    #[test]
    fn which_alerts_renew_which_heartbeat() {
        let r = Roster::from_yaml(ROSTER).unwrap();
        let w = alert(&[("alertname", "Watchdog"), ("prometheus", "p1")]);
        assert_eq!(
            renewed_by(&r, &w).map(|h| h.name.as_str()),
            Some("watchdog")
        );
        let c = alert(&[("alertname", "Backup"), ("heartbeat", "cron")]);
        assert_eq!(renewed_by(&r, &c).map(|h| h.name.as_str()), Some("cron"));
        assert!(renewed_by(&r, &alert(&[("alertname", "HighLatency")])).is_none());
    }

    #[test]
    fn overdue_and_the_missed_alert_resolves_what_it_opened() {
        let r = Roster::from_yaml(ROSTER).unwrap();
        let h = &r.heartbeats[0];
        let t = DateTime::from_timestamp(1_795_000_000, 0).unwrap();
        assert!(!is_overdue(h, t, t + Duration::seconds(300)));
        assert!(is_overdue(h, t, t + Duration::seconds(301)));
        let fire = missed_alert(h, Status::Firing, t);
        let clear = missed_alert(h, Status::Resolved, t + Duration::seconds(900));
        assert_eq!(fire.fingerprint, clear.fingerprint);
        assert_eq!(
            fire.labels.get("alertname").map(String::as_str),
            Some("HeartbeatMissed")
        );
        // Not itself a heartbeat renewal, even for a heartbeat keyed by name.
        assert!(renewed_by(&r, &fire).is_none());
        assert!(renewed_by(&r, &missed_alert(&r.heartbeats[1], Status::Firing, t)).is_none());
    }
}
