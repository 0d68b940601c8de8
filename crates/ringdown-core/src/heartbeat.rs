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

/// What a periodic check of one heartbeat does.
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    /// Never seen: armed now, so a fresh deployment does not page before
    /// the first beat had a chance.
    Arm,
    /// Silent too long, and not yet raised: raise this alert.
    Raise(Alert),
    /// Raised before, and beating again (the beat came through another
    /// replica): resolve with this alert.
    Clear(Alert),
    /// Nothing to do.
    Nothing,
}

/// Checks heartbeat `h` last seen at `last_seen`; `raised` says whether
/// this process has raised its missed alert and not cleared it.
pub fn check(
    h: &Heartbeat,
    last_seen: Option<DateTime<Utc>>,
    raised: bool,
    now: DateTime<Utc>,
) -> Check {
    let Some(last) = last_seen else {
        return Check::Arm;
    };
    match (is_overdue(h, last, now), raised) {
        (true, false) => Check::Raise(missed_alert(h, Status::Firing, last)),
        (false, true) => Check::Clear(missed_alert(h, Status::Resolved, last)),
        _ => Check::Nothing,
    }
}

/// Whether a beat arriving at `now` ends a miss: the heartbeat was overdue
/// when it came (another replica may have raised the alert), or this
/// process raised it.
pub fn beat_ends_miss(
    h: &Heartbeat,
    previous: Option<DateTime<Utc>>,
    raised: bool,
    now: DateTime<Utc>,
) -> bool {
    raised || previous.is_some_and(|p| is_overdue(h, p, now))
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
        crate::test_support::alert(pairs, Status::Firing)
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

    #[test]
    fn a_heartbeat_is_armed_raised_once_and_cleared_when_it_beats_again() {
        let r = Roster::from_yaml(ROSTER).unwrap();
        let h = &r.heartbeats[0]; // every 300 s
        let t0 = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let at = |s: i64| t0 + Duration::seconds(s);
        assert_eq!(check(h, None, false, t0), Check::Arm);
        assert_eq!(check(h, Some(t0), false, at(300)), Check::Nothing);
        let Check::Raise(alert) = check(h, Some(t0), false, at(301)) else {
            panic!("overdue after 301 s of silence");
        };
        assert_eq!(alert.status, Status::Firing);
        assert_eq!(alert.labels["heartbeat"], "watchdog");
        assert_eq!(
            check(h, Some(t0), true, at(900)),
            Check::Nothing,
            "raised once"
        );
        let Check::Clear(clear) = check(h, Some(at(890)), true, at(900)) else {
            panic!("a raised heartbeat beating again is cleared");
        };
        assert_eq!(clear.status, Status::Resolved);
        assert_eq!(
            clear.fingerprint, alert.fingerprint,
            "the clear resolves the miss"
        );
    }

    #[test]
    fn a_beat_ends_a_miss_another_replica_may_have_raised() {
        let r = Roster::from_yaml(ROSTER).unwrap();
        let h = &r.heartbeats[0];
        let t0 = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let later = t0 + Duration::seconds(301);
        assert!(beat_ends_miss(h, Some(t0), false, later));
        assert!(!beat_ends_miss(
            h,
            Some(t0),
            false,
            t0 + Duration::seconds(60)
        ));
        assert!(beat_ends_miss(h, None, true, later));
        assert!(!beat_ends_miss(h, None, false, later));
    }
}
