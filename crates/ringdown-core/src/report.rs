//! The monthly figures of `ringdown report --month YYYY-MM`: how the phone
//! escalation went in a month. The shell fetches the calls and incidents and
//! renders the figures; what they mean is decided here.
//!
//! Figures, per person and overall:
//! - *calls*: contact rows placed in the month, each counted once under the
//!   outcome it ended with: `acknowledged` (pressed 1), `silenced` (pressed 9),
//!   `declined` (pressed 2), `hung_up` (answered the guard, chose nothing),
//!   `unreachable` (no answer, busy, voicemail), `failed` (telecom failure),
//!   `misconfigured` (Connect refused the destination) and `unknown` (no outcome
//!   recorded, or the call timed out without a contact record). A row without an
//!   outcome takes the outcome its incident's history recorded for the same
//!   call id, if any; otherwise it counts as `unknown`. The outcome counts add
//!   up to `calls`.
//! - *answered*: calls a human answered (acknowledged, silenced, declined, hung
//!   up); `answer_rate_pct` = answered / calls × 100.
//! - *time to acknowledge*: `acked_at − opened_at` of each incident opened in
//!   the month and acknowledged (from the keypad, by silencing, or from the
//!   CLI), attributed to whoever acknowledged it (`acked_by`) and to overall.
//!   Median and p90 use the *nearest-rank* method on the sorted durations:
//!   the p-th percentile of n values is the value at 1-based rank
//!   `ceil(p / 100 × n)`; so the median of an even count is the lower middle
//!   value, and every percentile is a duration that actually occurred.
//! - *exhausted incidents*: incidents opened in the month whose phase is
//!   `exhausted` (nobody acknowledged after every step and repeat).
//!
//! Month boundaries are UTC: `[YYYY-MM-01T00:00:00Z, first of next month)`.
//! Calls count in the month they were placed, incidents in the month they
//! were opened. (Reporting in a local timezone is a later refinement.)
//!
//! Weekly figures use ISO weeks (Monday to Sunday, labelled `YYYY-Www`) that
//! overlap the month, clipped to the month: the first and last weeks may be
//! shorter than seven days.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::escalation::{HistoryKind, Incident, Phase};
use crate::outcome::Outcome;

/// One placed call, as the report needs it (the stores keep more).
#[derive(Debug, Clone, PartialEq)]
pub struct CallRecord {
    pub call_id: String,
    pub incident_id: String,
    /// Person id from the roster.
    pub person: String,
    pub placed_at: DateTime<Utc>,
    /// `None` until the call's outcome was recorded with its contact.
    pub outcome: Option<Outcome>,
}

/// The figures of one person, one week or the whole month.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub calls: u64,
    /// Answered by a human: acknowledged + silenced + declined + hung_up.
    pub answered: u64,
    pub acknowledged: u64,
    pub silenced: u64,
    /// No answer, busy or voicemail.
    pub unreachable: u64,
    pub hung_up: u64,
    /// Telecom failures.
    pub failed: u64,
    pub misconfigured: u64,
    pub unknown: u64,
    pub declined: u64,
    /// answered / calls × 100; `None` without calls.
    pub answer_rate_pct: Option<f64>,
    /// Nearest-rank median of the times to acknowledge, in seconds.
    pub median_time_to_ack_secs: Option<f64>,
    /// Nearest-rank 90th percentile of the times to acknowledge, in seconds.
    pub p90_time_to_ack_secs: Option<f64>,
}

/// One ISO week of the month (clipped to the month).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeekStats {
    /// ISO week label, e.g. `2026-W40`.
    pub week: String,
    /// First day of the week inside the month.
    pub from: NaiveDate,
    /// Last day of the week inside the month (inclusive).
    pub to: NaiveDate,
    pub calls: u64,
    pub answered: u64,
    pub answer_rate_pct: Option<f64>,
    /// Incidents opened this week and acknowledged.
    pub acked_incidents: u64,
    pub median_time_to_ack_secs: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// `YYYY-MM`.
    pub month: String,
    /// Incidents opened in the month.
    pub incidents: u64,
    pub overall: Stats,
    /// Per person id (a person who acknowledged from the CLI without being
    /// called appears with zero calls).
    pub people: BTreeMap<String, Stats>,
    pub weeks: Vec<WeekStats>,
    /// Ids of the incidents opened in the month that exhausted the roster, in
    /// order of opening.
    pub exhausted_incidents: Vec<String>,
}

/// Parses `YYYY-MM` into the month's UTC bounds `[from, to)`.
pub fn month_bounds(month: &str) -> Result<(DateTime<Utc>, DateTime<Utc>), String> {
    let bad = || format!("invalid month {month:?}: expected YYYY-MM, e.g. 2026-10");
    let b = month.as_bytes();
    if b.len() != 7 || b[4] != b'-' || !b[..4].iter().chain(&b[5..]).all(|c| c.is_ascii_digit()) {
        return Err(bad());
    }
    let year: i32 = month[..4].parse().map_err(|_| bad())?;
    let mon: u32 = month[5..].parse().map_err(|_| bad())?;
    let first = NaiveDate::from_ymd_opt(year, mon, 1).ok_or_else(bad)?;
    let next = if mon == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(year, mon + 1, 1)
    }
    .ok_or_else(bad)?;
    let utc = |d: NaiveDate| Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight"));
    Ok((utc(first), utc(next)))
}

/// Nearest-rank percentile of sorted values (`p` in 0..=100).
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

fn rate(answered: u64, calls: u64) -> Option<f64> {
    (calls > 0).then(|| answered as f64 * 100.0 / calls as f64)
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

impl Stats {
    fn count(&mut self, outcome: Option<Outcome>) {
        self.calls += 1;
        if outcome.is_some_and(Outcome::answered_by_human) {
            self.answered += 1;
        }
        match outcome {
            Some(Outcome::Acknowledged) => self.acknowledged += 1,
            Some(Outcome::Silenced { .. }) => self.silenced += 1,
            Some(Outcome::Declined) => self.declined += 1,
            Some(Outcome::Unreachable) => self.unreachable += 1,
            Some(Outcome::HungUp) => self.hung_up += 1,
            Some(Outcome::CallFailed) => self.failed += 1,
            Some(Outcome::Misconfigured) => self.misconfigured += 1,
            Some(Outcome::Unknown) | None => self.unknown += 1,
        }
    }

    fn finish(&mut self, ack_secs: Vec<f64>) {
        let s = sorted(ack_secs);
        self.answer_rate_pct = rate(self.answered, self.calls);
        self.median_time_to_ack_secs = percentile(&s, 50.0);
        self.p90_time_to_ack_secs = percentile(&s, 90.0);
    }
}

/// Computes the report of `month` (`YYYY-MM`) from the calls and incidents
/// given. Rows placed and incidents opened outside the month
/// are ignored for the figures; incidents of any month are still consulted for
/// the outcome of a row that has none.
pub fn compute(
    month: &str,
    contacts: &[CallRecord],
    incidents: &[Incident],
) -> Result<Report, String> {
    let (from, to) = month_bounds(month)?;
    let in_month = |t: DateTime<Utc>| t >= from && t < to;

    // Outcomes the incidents' histories recorded, by call id.
    let mut history_outcome: HashMap<&str, Outcome> = HashMap::new();
    for inc in incidents {
        for h in &inc.history {
            if let HistoryKind::CallOutcome {
                call_id, outcome, ..
            } = &h.kind
            {
                history_outcome.insert(call_id.as_str(), *outcome);
            }
        }
    }

    // ISO weeks overlapping the month, clipped to it.
    let first_day = from.date_naive();
    let last_day = (to - Duration::days(1)).date_naive();
    let mut weeks: Vec<WeekStats> = Vec::new();
    let mut monday = first_day - Duration::days(first_day.weekday().num_days_from_monday() as i64);
    while monday <= last_day {
        let iso = monday.iso_week();
        weeks.push(WeekStats {
            week: format!("{}-W{:02}", iso.year(), iso.week()),
            from: monday.max(first_day),
            to: (monday + Duration::days(6)).min(last_day),
            calls: 0,
            answered: 0,
            answer_rate_pct: None,
            acked_incidents: 0,
            median_time_to_ack_secs: None,
        });
        monday += Duration::days(7);
    }
    let week_of = |t: DateTime<Utc>| {
        let d = t.date_naive();
        weeks.iter().position(|w| w.from <= d && d <= w.to)
    };

    let mut overall = Stats::default();
    let mut people: BTreeMap<String, Stats> = BTreeMap::new();
    let mut week_calls: Vec<(u64, u64)> = vec![(0, 0); weeks.len()];
    for row in contacts.iter().filter(|r| in_month(r.placed_at)) {
        let outcome = row
            .outcome
            .or_else(|| history_outcome.get(row.call_id.as_str()).copied());
        overall.count(outcome);
        people.entry(row.person.clone()).or_default().count(outcome);
        if let Some(w) = week_of(row.placed_at) {
            week_calls[w].0 += 1;
            if outcome.is_some_and(Outcome::answered_by_human) {
                week_calls[w].1 += 1;
            }
        }
    }

    let mut opened: Vec<&Incident> = incidents.iter().filter(|i| in_month(i.opened_at)).collect();
    opened.sort_by(|a, b| a.opened_at.cmp(&b.opened_at).then_with(|| a.id.cmp(&b.id)));
    opened.dedup_by(|a, b| a.id == b.id);

    let mut overall_ack: Vec<f64> = Vec::new();
    let mut person_ack: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut week_ack: Vec<Vec<f64>> = vec![Vec::new(); weeks.len()];
    let mut exhausted_incidents = Vec::new();
    for inc in &opened {
        if inc.phase == Phase::Exhausted {
            exhausted_incidents.push(inc.id.clone());
        }
        let Some(acked_at) = inc.acked_at else {
            continue;
        };
        let secs = (acked_at - inc.opened_at).num_milliseconds().max(0) as f64 / 1000.0;
        overall_ack.push(secs);
        if let Some(by) = &inc.acked_by {
            person_ack.entry(by.clone()).or_default().push(secs);
        }
        if let Some(w) = week_of(inc.opened_at) {
            week_ack[w].push(secs);
        }
    }

    overall.finish(overall_ack);
    for by in person_ack.keys() {
        people.entry(by.clone()).or_default();
    }
    for (person, stats) in people.iter_mut() {
        stats.finish(person_ack.remove(person).unwrap_or_default());
    }
    for (i, w) in weeks.iter_mut().enumerate() {
        (w.calls, w.answered) = week_calls[i];
        w.answer_rate_pct = rate(w.answered, w.calls);
        w.acked_incidents = week_ack[i].len() as u64;
        w.median_time_to_ack_secs = percentile(&sorted(std::mem::take(&mut week_ack[i])), 50.0);
    }

    Ok(Report {
        month: month.to_string(),
        incidents: opened.len() as u64,
        overall,
        people,
        weeks,
        exhausted_incidents,
    })
}

/// A month of calls and incidents with its report worked out by hand, for
/// the tests of this module and of the report's renderers.
#[cfg(any(test, feature = "testkit"))]
pub mod sample {
    use super::*;
    use crate::escalation::HistoryEntry;
    use crate::roster::Policy;
    use crate::Labels;

    fn at(d: u32, h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 10, d, h, m, s).unwrap()
    }

    fn policy() -> Policy {
        Policy {
            name: "db".into(),
            matchers: vec![],
            group_by: vec!["system".into()],
            group_wait_secs: 30,
            repeat: 0,
            steps: vec![],
            ack_timeout_secs: None,
        }
    }

    /// An incident of the sample's policy, opened at `opened`.
    pub fn incident(id: &str, opened: DateTime<Utc>, phase: Phase) -> Incident {
        let mut labels = Labels::new();
        labels.insert("system".into(), id.into());
        let mut inc = Incident::open(id, id, &policy(), labels, opened);
        inc.phase = phase;
        if phase.is_closed() {
            inc.closed_at = Some(opened + Duration::hours(1));
        }
        inc.next_action_at = None;
        inc
    }

    fn acked(mut inc: Incident, by: &str, after_secs: i64) -> Incident {
        inc.acked_by = Some(by.into());
        inc.acked_at = Some(inc.opened_at + Duration::seconds(after_secs));
        inc
    }

    fn contact(
        n: u32,
        incident: &str,
        person: &str,
        placed_at: DateTime<Utc>,
        outcome: Option<Outcome>,
    ) -> CallRecord {
        CallRecord {
            call_id: format!("{incident}-call{n}"),
            incident_id: incident.into(),
            person: person.into(),
            placed_at,
            outcome,
        }
    }

    /// October 2026 (Thursday the 1st; ISO weeks 40–44). Three people, ten
    /// calls in the month plus one on each side of it; five incidents opened
    /// in the month (two acked from the keypad, one silenced, one exhausted,
    /// one resolved without an ack) plus one opened the day before.
    pub fn seed() -> (Vec<CallRecord>, Vec<Incident>) {
        use Outcome::*;
        let mut i3 = incident("i3", at(13, 3, 0, 0), Phase::Exhausted);
        // Call 8's row has no outcome; the history has it.
        i3.history.push(HistoryEntry {
            at: at(13, 3, 4, 0),
            kind: HistoryKind::CallOutcome {
                call_id: "i3-call8".into(),
                person: "carol".into(),
                outcome: Unreachable,
                disconnect_reason: Some("TELECOM_UNANSWERED".into()),
            },
        });
        let incidents = vec![
            acked(
                incident(
                    "i0",
                    Utc.with_ymd_and_hms(2026, 9, 30, 23, 0, 0).unwrap(),
                    Phase::Resolved,
                ),
                "alice",
                60,
            ),
            acked(
                incident("i1", at(2, 10, 0, 0), Phase::Resolved),
                "alice",
                120,
            ),
            acked(
                incident("i2", at(6, 9, 0, 0), Phase::Acknowledged),
                "bob",
                300,
            ),
            i3,
            incident("i4", at(20, 12, 0, 0), Phase::Resolved),
            acked(
                incident("i5", at(27, 8, 0, 0), Phase::Silenced),
                "alice",
                45,
            ),
        ];
        let contacts = vec![
            contact(
                0,
                "i0",
                "alice",
                Utc.with_ymd_and_hms(2026, 9, 30, 23, 59, 59).unwrap(),
                Some(Acknowledged),
            ),
            contact(1, "i1", "bob", at(2, 10, 0, 30), Some(Unreachable)),
            contact(2, "i1", "alice", at(2, 10, 1, 30), Some(Acknowledged)),
            contact(3, "i2", "alice", at(6, 9, 0, 30), Some(Declined)),
            contact(4, "i2", "bob", at(6, 9, 2, 0), Some(Acknowledged)),
            contact(5, "i3", "alice", at(13, 3, 0, 30), Some(HungUp)),
            contact(6, "i3", "bob", at(13, 3, 2, 0), Some(CallFailed)),
            contact(7, "i3", "carol", at(13, 3, 3, 0), Some(Unreachable)),
            contact(8, "i3", "carol", at(13, 3, 3, 30), None),
            contact(9, "i4", "carol", at(20, 12, 0, 30), None),
            contact(
                10,
                "i5",
                "alice",
                at(27, 8, 0, 30),
                Some(Silenced { hours: 2 }),
            ),
            contact(
                11,
                "i5",
                "bob",
                Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap(),
                Some(Unreachable),
            ),
        ];
        (contacts, incidents)
    }

    /// The report of [`seed`]'s month, worked out by hand.
    pub fn expected() -> Report {
        let stats = |calls,
                     answered,
                     acknowledged,
                     silenced,
                     declined,
                     hung_up,
                     unreachable,
                     failed,
                     unknown,
                     rate: Option<f64>,
                     p50: Option<f64>,
                     p90: Option<f64>| Stats {
            calls,
            answered,
            acknowledged,
            silenced,
            unreachable,
            hung_up,
            failed,
            misconfigured: 0,
            unknown,
            declined,
            answer_rate_pct: rate,
            median_time_to_ack_secs: p50,
            p90_time_to_ack_secs: p90,
        };
        let d = |day| NaiveDate::from_ymd_opt(2026, 10, day).unwrap();
        let week =
            |n: u32, from, to, calls, answered, rate: Option<f64>, acks, p50: Option<f64>| {
                WeekStats {
                    week: format!("2026-W{n}"),
                    from: d(from),
                    to: d(to),
                    calls,
                    answered,
                    answer_rate_pct: rate,
                    acked_incidents: acks,
                    median_time_to_ack_secs: p50,
                }
            };
        let mut people = BTreeMap::new();
        people.insert(
            "alice".into(),
            stats(
                4,
                4,
                1,
                1,
                1,
                1,
                0,
                0,
                0,
                Some(100.0),
                Some(45.0),
                Some(120.0),
            ),
        );
        people.insert(
            "bob".into(),
            stats(
                3,
                1,
                1,
                0,
                0,
                0,
                1,
                1,
                0,
                Some(100.0 / 3.0),
                Some(300.0),
                Some(300.0),
            ),
        );
        people.insert(
            "carol".into(),
            stats(3, 0, 0, 0, 0, 0, 2, 0, 1, Some(0.0), None, None),
        );
        Report {
            month: "2026-10".into(),
            incidents: 5,
            overall: stats(
                10,
                5,
                2,
                1,
                1,
                1,
                3,
                1,
                1,
                Some(50.0),
                Some(120.0),
                Some(300.0),
            ),
            people,
            weeks: vec![
                week(40, 1, 4, 2, 1, Some(50.0), 1, Some(120.0)),
                week(41, 5, 11, 2, 2, Some(100.0), 1, Some(300.0)),
                week(42, 12, 18, 4, 1, Some(25.0), 0, None),
                week(43, 19, 25, 1, 0, Some(0.0), 0, None),
                week(44, 26, 31, 1, 1, Some(100.0), 1, Some(45.0)),
            ],
            exhausted_incidents: vec!["i3".into()],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::sample::{expected, seed};
    use super::*;

    #[test]
    fn report_figures_of_the_seeded_month() {
        let (contacts, incidents) = seed();
        let r = compute("2026-10", &contacts, &incidents).unwrap();
        let want = expected();
        assert_eq!(r.overall, want.overall);
        for (p, s) in &want.people {
            assert_eq!(r.people.get(p), Some(s), "{p}");
        }
        assert_eq!(r.people.len(), 3);
        assert_eq!(r.weeks, want.weeks);
        assert_eq!(r.exhausted_incidents, want.exhausted_incidents);
        assert_eq!(r, want);
        // Outcome counts add up to the calls.
        let s = &r.overall;
        assert_eq!(
            s.acknowledged
                + s.silenced
                + s.declined
                + s.hung_up
                + s.unreachable
                + s.failed
                + s.misconfigured
                + s.unknown,
            s.calls
        );
    }

    #[test]
    fn report_nearest_rank_percentiles() {
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[7.0], 90.0), Some(7.0));
        assert_eq!(percentile(&[1.0, 2.0], 50.0), Some(1.0));
        let v: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(5.0));
        assert_eq!(percentile(&v, 90.0), Some(9.0));
        let v: Vec<f64> = (1..=11).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(6.0));
        assert_eq!(percentile(&v, 90.0), Some(10.0));
    }

    #[test]
    fn report_month_validation_and_bounds() {
        let (from, to) = month_bounds("2026-12").unwrap();
        assert_eq!(from, Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap());
        assert_eq!(to, Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap());
        for bad in [
            "2026-13",
            "2026-00",
            "2026-1",
            "26-10",
            "2026/10",
            "2026-10-01",
            "",
            "abcd-ef",
            "+202-10",
        ] {
            assert!(month_bounds(bad).is_err(), "{bad}");
            assert!(compute(bad, &[], &[]).is_err(), "{bad}");
        }
        // A month starting mid-week: February 2027 starts on a Monday.
        let r = compute("2027-02", &[], &[]).unwrap();
        assert_eq!(r.weeks.len(), 4);
        assert_eq!(r.weeks[0].week, "2027-W05");
        assert_eq!(r.overall.answer_rate_pct, None);
        assert_eq!(r.overall.median_time_to_ack_secs, None);
    }
}
