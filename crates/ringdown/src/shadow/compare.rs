//! Pairs the old tool's notifications with a shadow run's would-be calls.
//! Pure: no files, no clock.
//!
//! A notification and a call are the same page when they reach the same
//! person (the roster's id or display name, any case) within the window.
//! Among those calls, one whose alert text contains the notification's or
//! is contained in it (any case), or a label value equal to it, is taken
//! first; then the nearest in time. Notifications are taken in time order,
//! each call pairs at most once.

use super::log::{Entry, WouldCall};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use std::collections::HashSet;

/// One line of the old tool's notification log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notification {
    /// The line of the CSV file it came from.
    pub line: usize,
    pub at: DateTime<Utc>,
    pub person: String,
    pub alert: String,
}

/// A notification and the would-be call that is the same page.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pair {
    pub old: Notification,
    pub call: WouldCall,
    /// Seconds from the notification to the call: negative when ringdown
    /// would have called earlier.
    pub delay_secs: i64,
    /// Paired by the alert text too, not by person and time alone.
    pub alert_matched: bool,
}

/// When the shadow run was running: from its first start to its last stop
/// (`None`: still running, or it did not stop cleanly).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Period {
    pub from: DateTime<Utc>,
    pub to: Option<DateTime<Utc>>,
}

impl Period {
    /// Whether the run was on at `at`, give or take the second an old
    /// tool's log may have cut its times to.
    fn covers(&self, at: DateTime<Utc>) -> bool {
        let second = Duration::seconds(1);
        self.from - at < second && self.to.is_none_or(|to| at - to < second)
    }
}

/// Whole seconds from `from` to `to`, rounded to the nearest.
fn secs_between(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    ((to - from).num_milliseconds() as f64 / 1000.0).round() as i64
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub window_secs: i64,
    /// `None`: the shadow log is empty.
    pub period: Option<Period>,
    pub matched: Vec<Pair>,
    /// The old tool notified someone ringdown would not have called: what a
    /// team must look at before cutting over.
    pub missed: Vec<Notification>,
    /// Calls no notification pairs with. The shadow assumes nobody
    /// answers, so later steps and repeats of the escalation appear here.
    pub extra: Vec<WouldCall>,
    /// Notifications from before or after the shadow run: neither missed
    /// nor matched.
    pub outside: Vec<Notification>,
    /// Fallback and operator notices the shadow run would have sent.
    pub notices: usize,
}

impl Comparison {
    /// Matched pairs where ringdown would have called earlier, at the same
    /// second, later.
    pub fn earlier_same_later(&self) -> (usize, usize, usize) {
        let count = |f: fn(i64) -> bool| self.matched.iter().filter(|p| f(p.delay_secs)).count();
        (count(|d| d < 0), count(|d| d == 0), count(|d| d > 0))
    }

    /// The median of the pairs' delays (the lower middle of an even count).
    pub fn median_delay_secs(&self) -> Option<i64> {
        let mut d: Vec<i64> = self.matched.iter().map(|p| p.delay_secs).collect();
        d.sort_unstable();
        d.get(d.len().saturating_sub(1) / 2).copied()
    }
}

fn norm(s: &str) -> String {
    s.trim().to_lowercase()
}

fn same_person(old: &str, call: &WouldCall) -> bool {
    let old = norm(old);
    norm(&call.person) == old || call.name.as_deref().is_some_and(|n| norm(n) == old)
}

fn same_alert(old: &str, call: &WouldCall) -> bool {
    let (old, alert) = (norm(old), norm(&call.alert));
    if old.is_empty() {
        return false;
    }
    (!alert.is_empty() && (alert.contains(&old) || old.contains(&alert)))
        || call.labels.values().any(|v| norm(v) == old)
}

/// The shadow run's period: from its first start (or first line) to the
/// stop after its last start, if there is one.
fn period(shadow: &[Entry]) -> Option<Period> {
    let from = shadow
        .iter()
        .filter(|e| matches!(e, Entry::Started { .. }))
        .map(Entry::at)
        .min()
        .or_else(|| shadow.iter().map(Entry::at).min())?;
    let last_start = shadow
        .iter()
        .filter(|e| matches!(e, Entry::Started { .. }))
        .map(Entry::at)
        .max()
        .unwrap_or(from);
    let to = shadow
        .iter()
        .filter(|e| matches!(e, Entry::Stopped { .. }))
        .map(Entry::at)
        .filter(|at| *at >= last_start)
        .max();
    Some(Period { from, to })
}

/// Sets the old tool's `notifications` beside the `shadow` log's entries
/// (from one or more logs, in any order).
pub fn compare(notifications: &[Notification], shadow: &[Entry], window: Duration) -> Comparison {
    let mut seen = HashSet::new();
    let mut calls: Vec<&WouldCall> = shadow
        .iter()
        .filter_map(|e| match e {
            Entry::Call(c) => Some(c),
            _ => None,
        })
        .filter(|c| seen.insert(c.call_id.as_str()))
        .collect();
    calls.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.call_id.cmp(&b.call_id)));
    let mut old: Vec<&Notification> = notifications.iter().collect();
    old.sort_by_key(|n| (n.at, n.line));

    let period = period(shadow);
    let mut used = vec![false; calls.len()];
    let mut out = Comparison {
        window_secs: window.num_seconds(),
        period,
        matched: Vec::new(),
        missed: Vec::new(),
        extra: Vec::new(),
        outside: Vec::new(),
        notices: shadow
            .iter()
            .filter(|e| matches!(e, Entry::Notice(_)))
            .count(),
    };
    for n in old {
        let best = calls
            .iter()
            .enumerate()
            .filter(|(i, c)| {
                !used[*i] && same_person(&n.person, c) && (c.at - n.at).abs() <= window
            })
            .min_by_key(|(_, c)| (!same_alert(&n.alert, c), (c.at - n.at).abs()));
        match best {
            Some((i, c)) => {
                used[i] = true;
                out.matched.push(Pair {
                    old: n.clone(),
                    call: (*c).clone(),
                    delay_secs: secs_between(n.at, c.at),
                    alert_matched: same_alert(&n.alert, c),
                });
            }
            None if period.is_some_and(|p| p.covers(n.at)) => out.missed.push(n.clone()),
            None => out.outside.push(n.clone()),
        }
    }
    out.extra = calls
        .iter()
        .zip(&used)
        .filter(|(_, u)| !**u)
        .map(|(c, _)| (*c).clone())
        .collect();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringdown_core::Labels;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(&format!("2026-11-24T{s}+09:00"))
            .unwrap()
            .with_timezone(&Utc)
    }

    fn old(line: usize, at: &str, person: &str, alert: &str) -> Notification {
        Notification {
            line,
            at: t(at),
            person: person.into(),
            alert: alert.into(),
        }
    }

    fn call(id: &str, at: &str, person: &str, name: &str, alert: &str, step: u32) -> Entry {
        Entry::Call(WouldCall {
            at: t(at),
            incident_id: "inc".into(),
            call_id: id.into(),
            person: person.into(),
            name: (!name.is_empty()).then(|| name.to_string()),
            phone: "+81******0001".into(),
            alert: alert.into(),
            labels: Labels::from([("alertname".to_string(), "HighLatency".to_string())]),
            step,
            attempt: 1,
            pass: 0,
            why: String::new(),
        })
    }

    fn started(at: &str) -> Entry {
        Entry::Started {
            at: t(at),
            instance: "local".into(),
        }
    }

    const WEB: &str = "systemname web: p99 latency above 4 s on web-001";

    #[test]
    fn the_old_tool_paging_the_same_person_40_s_later_is_one_page_ringdown_sends_earlier() {
        let shadow = [
            started("03:00:00"),
            call("c1", "03:12:00", "tanaka", "Tanaka Taro", WEB, 1),
            call("c2", "03:13:05", "sato", "Sato Jiro", WEB, 2),
        ];
        let olds = [old(2, "03:12:40", "Tanaka Taro", "p99 latency above 4 s")];
        let c = compare(&olds, &shadow, Duration::minutes(10));
        assert_eq!(c.matched.len(), 1);
        assert_eq!(c.matched[0].delay_secs, -40);
        assert!(c.matched[0].alert_matched);
        assert_eq!(c.earlier_same_later(), (1, 0, 0));
        assert_eq!(c.median_delay_secs(), Some(-40));
        assert!(c.missed.is_empty());
        // Nobody answers a shadow call: the next step appears as an extra.
        assert_eq!(c.extra.len(), 1);
        assert_eq!(c.extra[0].person, "sato");
    }

    #[test]
    fn a_person_only_the_old_tool_paged_is_missed() {
        let shadow = [
            started("03:00:00"),
            call("c1", "03:12:00", "tanaka", "", WEB, 1),
        ];
        let olds = [
            old(2, "03:12:10", "TANAKA", "HighLatency"),
            old(3, "03:12:10", "suzuki", "HighLatency"),
        ];
        let c = compare(&olds, &shadow, Duration::minutes(10));
        assert_eq!(c.matched.len(), 1);
        assert!(c.matched[0].alert_matched, "equal to a label value");
        assert_eq!(c.missed, [olds[1].clone()]);
        assert!(c.extra.is_empty());
    }

    #[test]
    fn a_call_outside_the_window_is_not_the_same_page() {
        let shadow = [
            started("03:00:00"),
            call("c1", "03:12:00", "tanaka", "", WEB, 1),
        ];
        let olds = [old(2, "03:22:01", "tanaka", WEB)];
        let c = compare(&olds, &shadow, Duration::minutes(10));
        assert!(c.matched.is_empty());
        assert_eq!(c.missed.len(), 1);
        assert_eq!(c.extra.len(), 1);
        let c = compare(&olds, &shadow, Duration::minutes(11));
        assert_eq!(c.matched[0].delay_secs, -601);
    }

    #[test]
    fn an_old_tool_that_logs_whole_seconds_is_compared_to_the_nearest_second() {
        let mut late = call("c1", "03:12:00", "tanaka", "", WEB, 1);
        if let Entry::Call(c) = &mut late {
            c.at += Duration::milliseconds(600);
        }
        let shadow = [
            Entry::Started {
                at: t("03:00:00") + Duration::milliseconds(400),
                instance: "local".into(),
            },
            late,
        ];
        let olds = [
            old(2, "03:12:40", "tanaka", WEB),
            old(3, "03:00:00", "sato", WEB),
        ];
        let c = compare(&olds, &shadow, Duration::minutes(10));
        assert_eq!(c.matched[0].delay_secs, -39);
        assert_eq!(c.missed.len(), 1, "the run had started that second");
    }

    #[test]
    fn the_call_with_the_same_alert_is_preferred_to_a_nearer_one() {
        let shadow = [
            started("03:00:00"),
            call(
                "db",
                "03:12:00",
                "tanaka",
                "",
                "systemname db: disk full",
                1,
            ),
            call("web", "03:14:00", "tanaka", "", WEB, 1),
        ];
        let olds = [
            old(2, "03:12:00", "tanaka", "P99 LATENCY above 4 s on web-001"),
            old(3, "03:12:30", "tanaka", "something else entirely"),
        ];
        let c = compare(&olds, &shadow, Duration::minutes(10));
        let paired: Vec<(&str, &str)> = c
            .matched
            .iter()
            .map(|p| (p.old.alert.as_str(), p.call.call_id.as_str()))
            .collect();
        assert_eq!(
            paired,
            [
                ("P99 LATENCY above 4 s on web-001", "web"),
                ("something else entirely", "db")
            ]
        );
        assert!(c.matched[0].alert_matched && !c.matched[1].alert_matched);
    }

    #[test]
    fn notifications_before_the_shadow_started_or_after_it_stopped_are_outside_not_missed() {
        let shadow = [
            started("03:00:00"),
            call("c1", "03:12:00", "tanaka", "", WEB, 1),
            Entry::Stopped {
                at: t("04:00:00"),
                instance: "local".into(),
            },
        ];
        let olds = [
            old(2, "02:00:00", "sato", WEB),
            old(3, "03:30:00", "sato", WEB),
            old(4, "05:00:00", "sato", WEB),
        ];
        let c = compare(&olds, &shadow, Duration::minutes(10));
        assert_eq!(c.missed.len(), 1);
        assert_eq!(c.missed[0].line, 3);
        assert_eq!(c.outside.len(), 2);
        // Started again without stopping since: still running.
        let mut again = shadow.to_vec();
        again.push(started("04:30:00"));
        let c = compare(&olds, &again, Duration::minutes(10));
        assert_eq!(c.period.unwrap().to, None);
        assert_eq!(c.missed.len(), 2);
        // An empty log covers nothing.
        let c = compare(&olds, &[], Duration::minutes(10));
        assert_eq!((c.period, c.outside.len()), (None, 3));
    }

    #[test]
    fn a_call_in_two_replicas_logs_counts_once_and_pairs_once() {
        let shadow = [
            started("03:00:00"),
            call("c1", "03:12:00", "tanaka", "", WEB, 1),
            call("c1", "03:12:01", "tanaka", "", WEB, 1),
        ];
        let olds = [
            old(2, "03:12:00", "tanaka", WEB),
            old(3, "03:12:05", "tanaka", WEB),
        ];
        let c = compare(&olds, &shadow, Duration::minutes(10));
        assert_eq!((c.matched.len(), c.missed.len(), c.extra.len()), (1, 1, 0));
    }
}
