//! The report as text: an aligned table for people, CSV and JSON for tools.

use std::fmt::Write as _;

use ringdown_core::report::{Report, Stats};

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

pub(super) fn rows(r: &Report) -> Vec<(String, &Stats)> {
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

pub(crate) fn csv_field(s: &str) -> String {
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
