//! The report as a self-contained SVG chart (no script, no external
//! reference): weekly answer rates as bars, times to acknowledge as points.

use std::fmt::Write as _;

use ringdown_core::report::{Report, WeekStats};

use super::text::rows;

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
