//! `ringdown report --month YYYY-MM`: how the phone escalation went in a month.
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
use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use ringdown_core::escalation::{HistoryKind, Incident, Phase};
use ringdown_core::outcome::Outcome;
use ringdown_engine::{ContactRow, IncidentFilter, Store};
use serde::{Deserialize, Serialize};

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
fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
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

/// Computes the report of `month` (`YYYY-MM`) from the contact rows and
/// incidents given. Pure. Rows placed and incidents opened outside the month
/// are ignored for the figures; incidents of any month are still consulted for
/// the outcome of a row that has none.
pub fn compute(
    month: &str,
    contacts: &[ContactRow],
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

/// Fetches the month's contacts and incidents from `store` and computes the
/// report. Incidents opened before the month are loaded only when one of the
/// month's calls has no outcome and may find it in that incident's history.
pub async fn build(store: &dyn Store, month: &str) -> anyhow::Result<Report> {
    let (from, to) = month_bounds(month).map_err(crate::commands::user)?;
    let contacts = store.contacts_between(from, to).await?;
    let mut incidents = store
        .list_incidents(&IncidentFilter {
            since: Some(from),
            phase: None,
            limit: None,
        })
        .await?;
    let mut missing: Vec<&str> = contacts
        .iter()
        .filter(|c| c.outcome.is_none())
        .map(|c| c.incident_id.as_str())
        .filter(|id| !incidents.iter().any(|i| i.id == *id))
        .collect();
    missing.sort_unstable();
    missing.dedup();
    for id in missing {
        if let Some(inc) = store.load_incident(id).await? {
            incidents.push(inc);
        }
    }
    compute(month, &contacts, &incidents).map_err(anyhow::Error::msg)
}

// ---------------------------------------------------------------- renderers

fn opt(v: Option<f64>, decimals: usize) -> String {
    v.map(|x| format!("{x:.decimals$}")).unwrap_or_default()
}

fn secs(v: Option<f64>) -> String {
    v.map(|x| format!("{x}")).unwrap_or_default()
}

fn stat_cells(s: &Stats) -> Vec<String> {
    vec![
        s.calls.to_string(),
        s.answered.to_string(),
        s.acknowledged.to_string(),
        s.silenced.to_string(),
        s.declined.to_string(),
        s.hung_up.to_string(),
        s.unreachable.to_string(),
        s.failed.to_string(),
        s.misconfigured.to_string(),
        s.unknown.to_string(),
        opt(s.answer_rate_pct, 1),
        secs(s.median_time_to_ack_secs),
        secs(s.p90_time_to_ack_secs),
    ]
}

fn rows(r: &Report) -> Vec<(String, &Stats)> {
    let mut out: Vec<(String, &Stats)> = r.people.iter().map(|(p, s)| (p.clone(), s)).collect();
    out.push(("overall".to_string(), &r.overall));
    out
}

fn aligned(header: &[&str], body: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in body {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
            let pad = w - c.chars().count();
            if i == 0 {
                // First column (names) left-aligned, numbers right-aligned.
                s.push_str(c);
                s.push_str(&" ".repeat(pad));
            } else {
                s.push_str("  ");
                s.push_str(&" ".repeat(pad));
                s.push_str(c);
            }
        }
        s.truncate(s.trim_end().len());
        s.push('\n');
        s
    };
    let mut out = line(header.to_vec());
    for row in body {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// Aligned text: one row per person, then `overall`; the weekly figures; the
/// exhausted incidents. Empty cells mean "no data" (no calls, no ack).
pub fn to_table(r: &Report) -> String {
    let header = [
        "person",
        "calls",
        "answered",
        "acked",
        "silenced",
        "declined",
        "hung_up",
        "unreach",
        "failed",
        "misconf",
        "unknown",
        "answer%",
        "ack_p50_s",
        "ack_p90_s",
    ];
    let body: Vec<Vec<String>> = rows(r)
        .into_iter()
        .map(|(p, s)| {
            let mut row = vec![p];
            row.extend(stat_cells(s));
            row
        })
        .collect();
    let mut out = format!(
        "ringdown report {} (UTC): {} incident(s), {} call(s)\n\n",
        r.month, r.incidents, r.overall.calls
    );
    out.push_str(&aligned(&header, &body));
    out.push('\n');
    let wheader = [
        "week",
        "days",
        "calls",
        "answered",
        "answer%",
        "acked",
        "ack_p50_s",
    ];
    let wbody: Vec<Vec<String>> = r
        .weeks
        .iter()
        .map(|w| {
            vec![
                w.week.clone(),
                format!("{}..{}", w.from.format("%m-%d"), w.to.format("%m-%d")),
                w.calls.to_string(),
                w.answered.to_string(),
                opt(w.answer_rate_pct, 1),
                w.acked_incidents.to_string(),
                secs(w.median_time_to_ack_secs),
            ]
        })
        .collect();
    out.push_str(&aligned(&wheader, &wbody));
    out.push('\n');
    if r.exhausted_incidents.is_empty() {
        out.push_str("exhausted the roster: none\n");
    } else {
        let _ = writeln!(
            out,
            "exhausted the roster: {} ({})",
            r.exhausted_incidents.len(),
            r.exhausted_incidents.join(", ")
        );
    }
    out
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The CSV header of [`to_csv`].
pub const CSV_HEADER: &str = "person,calls,answered,acknowledged,silenced,declined,hung_up,unreachable,failed,misconfigured,unknown,answer_rate_pct,median_time_to_ack_secs,p90_time_to_ack_secs";

/// Header, one row per person (sorted by id), then `overall`. Empty cells
/// mean "no data".
pub fn to_csv(r: &Report) -> String {
    let mut out = String::from(CSV_HEADER);
    out.push('\n');
    for (p, s) in rows(r) {
        let mut cells = vec![csv_field(&p)];
        cells.extend(stat_cells(s));
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}

/// The whole [`Report`] as pretty JSON.
pub fn to_json(r: &Report) -> String {
    let mut s = serde_json::to_string_pretty(r).expect("a report always serialises");
    s.push('\n');
    s
}

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\t' && c != '\n' => {}
            c => out.push(c),
        }
    }
    out
}

/// Smallest "nice" axis maximum (1, 2, 5 × 10ⁿ) at or above `v`.
fn nice_max(v: f64) -> f64 {
    if v <= 0.0 {
        return 60.0;
    }
    let mag = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0] {
        if m * mag >= v {
            return m * mag;
        }
    }
    10.0 * mag
}

fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// A self-contained SVG (no script, no external resource, generic font
/// family): weekly answer rate (%) as bars on the top panel, weekly median
/// time to acknowledge (s) as a line with points on the bottom panel, then a
/// per-person summary. Every text is XML-escaped.
pub fn to_svg(r: &Report) -> String {
    const W: f64 = 760.0;
    const LEFT: f64 = 70.0;
    const RIGHT: f64 = 30.0;
    const PANEL_H: f64 = 160.0;
    const TOP1: f64 = 90.0; // top of the answer-rate panel
    const TOP2: f64 = TOP1 + PANEL_H + 70.0; // top of the time-to-ack panel
    let plot_w = W - LEFT - RIGHT;
    let n = r.weeks.len().max(1) as f64;
    let slot = plot_w / n;
    let legend_top = TOP2 + PANEL_H + 60.0;
    let h = legend_top + 20.0 * (r.people.len() as f64 + 2.0) + 10.0;

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{h}" viewBox="0 0 {W} {h}" font-family="sans-serif" font-size="12">"#
    );
    let title = format!("ringdown report {} (UTC)", r.month);
    let _ = writeln!(s, "<title>{}</title>", xml_escape(&title));
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="30" text-anchor="middle" font-size="18" font-weight="bold">{}</text>"#,
        W / 2.0,
        xml_escape(&title)
    );
    let _ = writeln!(
        s,
        r##"<text x="{}" y="50" text-anchor="middle" fill="#555">{}</text>"##,
        W / 2.0,
        xml_escape(&format!(
            "{} incident(s), {} call(s), answer rate {}, {} exhausted the roster",
            r.incidents,
            r.overall.calls,
            r.overall
                .answer_rate_pct
                .map(|p| format!("{p:.1}%"))
                .unwrap_or_else(|| "n/a".into()),
            r.exhausted_incidents.len()
        ))
    );

    // Axes, grid and tick labels of one panel.
    let axes = |s: &mut String, top: f64, max: f64, unit: &str, label: &str| {
        let bottom = top + PANEL_H;
        for i in 0..=4 {
            let v = max * i as f64 / 4.0;
            let y = bottom - PANEL_H * i as f64 / 4.0;
            let _ = writeln!(
                s,
                r##"<line x1="{LEFT}" y1="{y}" x2="{}" y2="{y}" stroke="#ddd"/><text x="{}" y="{}" text-anchor="end">{}{}</text>"##,
                W - RIGHT,
                LEFT - 6.0,
                y + 4.0,
                fmt_num(v),
                xml_escape(unit)
            );
        }
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" y1="{top}" x2="{LEFT}" y2="{bottom}" stroke="#333"/><line x1="{LEFT}" y1="{bottom}" x2="{}" y2="{bottom}" stroke="#333"/>"##,
            W - RIGHT
        );
        let _ = writeln!(
            s,
            r#"<text x="{LEFT}" y="{}" font-weight="bold">{}</text>"#,
            top - 22.0,
            xml_escape(label)
        );
        for (i, w) in r.weeks.iter().enumerate() {
            let x = LEFT + slot * (i as f64 + 0.5);
            let _ = writeln!(
                s,
                r##"<text x="{x}" y="{}" text-anchor="middle">{}</text><text x="{x}" y="{}" text-anchor="middle" fill="#555" font-size="10">{}</text>"##,
                bottom + 16.0,
                xml_escape(&w.week),
                bottom + 29.0,
                xml_escape(&format!(
                    "{}–{}",
                    w.from.format("%b %d"),
                    w.to.format("%b %d")
                ))
            );
        }
    };

    // Panel 1: answer rate bars.
    axes(
        &mut s,
        TOP1,
        100.0,
        "%",
        "Answer rate by week (% of calls answered by a human)",
    );
    let bottom1 = TOP1 + PANEL_H;
    for (i, w) in r.weeks.iter().enumerate() {
        let pct = w.answer_rate_pct.unwrap_or(0.0);
        let bh = PANEL_H * pct / 100.0;
        let bw = slot * 0.6;
        let x = LEFT + slot * i as f64 + (slot - bw) / 2.0;
        let tip = format!("{}: {}/{} answered", w.week, w.answered, w.calls);
        let _ = writeln!(
            s,
            r##"<rect class="bar" x="{x:.1}" y="{:.1}" width="{bw:.1}" height="{bh:.1}" fill="#4878a8"><title>{}</title></rect>"##,
            bottom1 - bh,
            xml_escape(&tip)
        );
        let text = match w.answer_rate_pct {
            Some(p) => format!("{p:.0}% ({}/{})", w.answered, w.calls),
            None => "no calls".to_string(),
        };
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="11">{}</text>"#,
            x + bw / 2.0,
            bottom1 - bh - 4.0,
            xml_escape(&text)
        );
    }

    // Panel 2: median time to acknowledge.
    let max_ack = r
        .weeks
        .iter()
        .filter_map(|w| w.median_time_to_ack_secs)
        .fold(0.0, f64::max);
    let ymax = nice_max(max_ack);
    axes(
        &mut s,
        TOP2,
        ymax,
        " s",
        "Median time to acknowledge by week (seconds, incidents opened that week)",
    );
    let bottom2 = TOP2 + PANEL_H;
    let points: Vec<(f64, f64, &WeekStats, f64)> = r
        .weeks
        .iter()
        .enumerate()
        .filter_map(|(i, w)| {
            w.median_time_to_ack_secs.map(|v| {
                (
                    LEFT + slot * (i as f64 + 0.5),
                    bottom2 - PANEL_H * v / ymax,
                    w,
                    v,
                )
            })
        })
        .collect();
    if points.len() > 1 {
        let path: Vec<String> = points
            .iter()
            .map(|(x, y, ..)| format!("{x:.1},{y:.1}"))
            .collect();
        let _ = writeln!(
            s,
            r##"<polyline class="ack-line" points="{}" fill="none" stroke="#c05030" stroke-width="2"/>"##,
            path.join(" ")
        );
    }
    for (x, y, w, v) in &points {
        let _ = writeln!(
            s,
            r##"<circle class="ack-point" cx="{x:.1}" cy="{y:.1}" r="4" fill="#c05030"><title>{}</title></circle><text x="{x:.1}" y="{:.1}" text-anchor="middle" font-size="11">{}</text>"##,
            xml_escape(&format!(
                "{}: median {} s over {} ack(s)",
                w.week,
                fmt_num(*v),
                w.acked_incidents
            )),
            y - 8.0,
            xml_escape(&format!("{} s", fmt_num(*v)))
        );
    }
    if points.is_empty() {
        let _ = writeln!(
            s,
            r##"<text x="{}" y="{}" text-anchor="middle" fill="#555">no acknowledged incident this month</text>"##,
            W / 2.0,
            TOP2 + PANEL_H / 2.0
        );
    }

    // Per-person summary.
    let _ = writeln!(
        s,
        r#"<text x="{LEFT}" y="{legend_top}" font-weight="bold">Per person</text>"#
    );
    let lines = rows(r);
    for (i, (p, st)) in lines.iter().enumerate() {
        let line = format!(
            "{p}: {} call(s), {} answered ({}), {} ack, {} silenced, median ack {}, p90 {}",
            st.calls,
            st.answered,
            st.answer_rate_pct
                .map(|x| format!("{x:.1}%"))
                .unwrap_or_else(|| "n/a".into()),
            st.acknowledged,
            st.silenced,
            st.median_time_to_ack_secs
                .map(|x| format!("{} s", fmt_num(x)))
                .unwrap_or_else(|| "n/a".into()),
            st.p90_time_to_ack_secs
                .map(|x| format!("{} s", fmt_num(x)))
                .unwrap_or_else(|| "n/a".into()),
        );
        let _ = writeln!(
            s,
            r#"<text x="{LEFT}" y="{}">{}</text>"#,
            legend_top + 20.0 * (i as f64 + 1.0),
            xml_escape(&line)
        );
    }
    s.push_str("</svg>\n");
    s
}

/// Renders `r` in `format` (`table`, `csv`, `json` or `svg`).
pub fn render(r: &Report, format: &str) -> anyhow::Result<String> {
    Ok(match format {
        "table" => to_table(r),
        "csv" => to_csv(r),
        "json" => to_json(r),
        "svg" => to_svg(r),
        other => {
            return Err(crate::commands::user(format!(
                "unknown report format {other:?}: expected table, csv, json or svg"
            )))
        }
    })
}

/// `ringdown report --month YYYY-MM [--format table|csv|json|svg] [--out FILE]`.
pub fn main(
    config: Option<&Path>,
    month: &str,
    format: &str,
    out: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    month_bounds(month).map_err(crate::commands::user)?;
    if !["table", "csv", "json", "svg"].contains(&format) {
        return Err(crate::commands::user(format!(
            "unknown report format {format:?}: expected table, csv, json or svg"
        )));
    }
    let cfg = crate::config::Config::load(config)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let report = rt.block_on(async {
        let store = crate::admin::open_store(&cfg).await?;
        build(store.as_ref(), month).await
    })?;
    let text = render(&report, format)?;
    match out {
        Some(path) => {
            std::fs::write(path, text)
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
            eprintln!(
                "ringdown: wrote {format} report for {month} to {}",
                path.display()
            );
        }
        None => {
            use std::io::Write;
            std::io::stdout().lock().write_all(text.as_bytes())?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringdown_core::escalation::HistoryEntry;
    use ringdown_core::roster::Policy;
    use ringdown_core::Labels;

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
        }
    }

    fn incident(id: &str, opened: DateTime<Utc>, phase: Phase) -> Incident {
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
    ) -> ContactRow {
        ContactRow {
            contact_id: format!("ct-{n:02}"),
            call_id: format!("{incident}-call{n}"),
            incident_id: incident.into(),
            person: person.into(),
            phone_masked: "+81******78".into(),
            placed_at,
            ended_at: outcome.map(|_| placed_at + Duration::seconds(40)),
            outcome,
            disconnect_reason: None,
        }
    }

    /// October 2026 (Thursday the 1st; ISO weeks 40–44). Three people, ten
    /// calls in the month plus one on each side of it; five incidents opened
    /// in the month (two acked from the keypad, one silenced, one exhausted,
    /// one resolved without an ack) plus one opened the day before.
    fn seed() -> (Vec<ContactRow>, Vec<Incident>) {
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

    fn expected() -> Report {
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
        let err = main(None, "2026-13", "table", None).unwrap_err();
        assert!(err.downcast_ref::<crate::commands::UserError>().is_some());
        let err = main(None, "2026-10", "pdf", None).unwrap_err();
        assert!(err.downcast_ref::<crate::commands::UserError>().is_some());
        // A month starting mid-week: February 2027 starts on a Monday.
        let r = compute("2027-02", &[], &[]).unwrap();
        assert_eq!(r.weeks.len(), 4);
        assert_eq!(r.weeks[0].week, "2027-W05");
        assert_eq!(r.overall.answer_rate_pct, None);
        assert_eq!(r.overall.median_time_to_ack_secs, None);
    }

    #[test]
    fn report_csv_text() {
        let (contacts, incidents) = seed();
        let r = compute("2026-10", &contacts, &incidents).unwrap();
        let csv = to_csv(&r);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 5);
        assert_eq!(lines[0], CSV_HEADER);
        assert_eq!(lines[1], "alice,4,4,1,1,1,1,0,0,0,0,100.0,45,120");
        assert_eq!(lines[2], "bob,3,1,1,0,0,0,1,1,0,0,33.3,300,300");
        assert_eq!(lines[3], "carol,3,0,0,0,0,0,2,0,0,1,0.0,,");
        assert_eq!(lines[4], "overall,10,5,2,1,1,1,3,1,0,1,50.0,120,300");
        assert_eq!(csv_field("a,\"b\""), "\"a,\"\"b\"\"\"");
    }

    #[test]
    fn report_table_has_overall_last_and_aligned_columns() {
        let (contacts, incidents) = seed();
        let r = compute("2026-10", &contacts, &incidents).unwrap();
        let t = to_table(&r);
        let lines: Vec<&str> = t.lines().collect();
        let head = lines.iter().position(|l| l.starts_with("person")).unwrap();
        assert!(lines[head + 4].starts_with("overall"), "{t}");
        // Right-aligned numbers: every row of the main table ends at the same column.
        let width = lines[head].len();
        assert!(lines[head + 1..head + 4].iter().all(|l| l.len() <= width));
        assert_eq!(lines[head + 4].len(), width, "{t}");
        assert!(t.contains("exhausted the roster: 1 (i3)"));
        assert!(t.contains("2026-W42"));
    }

    #[test]
    fn report_json_round_trips() {
        let (contacts, incidents) = seed();
        let r = compute("2026-10", &contacts, &incidents).unwrap();
        let json = to_json(&r);
        let back: Report = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["overall"]["median_time_to_ack_secs"], 120.0);
        assert_eq!(
            v["people"]["carol"]["p90_time_to_ack_secs"],
            serde_json::Value::Null
        );
        assert_eq!(v["weeks"][0]["from"], "2026-10-01");
    }

    #[test]
    fn report_svg_is_self_contained_and_escaped() {
        let (mut contacts, incidents) = seed();
        contacts[2].person = "x<y&z".into();
        let r = compute("2026-10", &contacts, &incidents).unwrap();
        let svg = to_svg(&r);
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("ringdown report 2026-10"));
        assert!(svg.contains("x&lt;y&amp;z"));
        assert!(!svg.contains("x<y"));
        assert!(!svg.contains("<script") && !svg.contains("href"));
        assert_eq!(svg.matches(r#"class="bar""#).count(), r.weeks.len());
        assert_eq!(svg.matches(r#"class="ack-point""#).count(), 3);
        assert_eq!(svg.matches("<svg").count(), 1);
        // Every tag that opens closes (no element is left dangling).
        for tag in ["text", "title", "rect", "circle"] {
            let opens = svg.matches(&format!("<{tag}")).count();
            let closes = svg.matches(&format!("</{tag}>")).count()
                + svg
                    .split(&format!("<{tag}"))
                    .skip(1)
                    .filter(|rest| rest.split('>').next().unwrap().ends_with('/'))
                    .count();
            assert_eq!(opens, closes, "{tag}");
        }
        // Bars scale with the rate: week 41 (100%) is the full panel height.
        assert!(svg.contains(r##"height="160.0" fill="#4878a8""##));
    }

    #[tokio::test]
    async fn report_through_the_sqlite_store() {
        use ringdown_engine::Created;
        let store = ringdown_local::SqliteStore::in_memory().unwrap();
        let (contacts, incidents) = seed();
        for c in &contacts {
            store.record_contact(c).await.unwrap();
        }
        for inc in &incidents {
            let mut fresh = incident(&inc.id, inc.opened_at, Phase::Grouping);
            fresh.next_action_at = Some(inc.opened_at + Duration::seconds(30));
            let stored = match store.create_incident(&fresh).await.unwrap() {
                Created::Created(i) => i,
                Created::Exists(i) => panic!("exists: {}", i.id),
            };
            let mut done = inc.clone();
            done.version = stored.version;
            store.save_incident(&done).await.unwrap();
        }
        let r = build(&store, "2026-10").await.unwrap();
        assert_eq!(r, expected());
        let err = build(&store, "2026-1").await.unwrap_err();
        assert!(err.downcast_ref::<crate::commands::UserError>().is_some());
    }
}
