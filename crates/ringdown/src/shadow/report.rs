//! `ringdown report --shadow FILE --compare OLD.csv`: the files read, the
//! comparison rendered as a table, CSV or JSON.

use super::compare::{compare, Comparison, Notification, Pair};
use super::log::{Entry, WouldCall};
use crate::commands::user;
use crate::report::csv_field;
use chrono::{DateTime, SecondsFormat, Utc};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The fields of one CSV line (RFC 4180 quoting, one line per record).
fn csv_fields(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                    None => return Err("a quoted field does not end on its line".into()),
                }
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(',') => {}
                Some(c) => return Err(format!("{c:?} after a closing quote")),
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field);
                        return Ok(fields);
                    }
                    Some(',') => break,
                    Some(c) => field.push(c),
                }
            }
        }
        fields.push(field);
    }
}

/// The old tool's notification log: a header naming `time`, `person` and
/// `alert` (any order, other columns ignored), then one notification a
/// line. A line that cannot be read is the user's error, named by `name`
/// and line.
pub fn parse_old(text: &str, name: &str) -> anyhow::Result<Vec<Notification>> {
    let bad = |n: usize, what: String| user(format!("{name}:{n}: {what}"));
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((n, header)) = lines.next() else {
        return Err(user(format!(
            "{name}: empty: expected the header time,person,alert"
        )));
    };
    let header: Vec<String> = csv_fields(header)
        .map_err(|e| bad(n, e))?
        .iter()
        .map(|h| h.trim().to_lowercase())
        .collect();
    let column = |want: &str| {
        header.iter().position(|h| h == want).ok_or_else(|| {
            bad(
                n,
                format!(
                    "the header must name the columns time,person,alert; it is {:?}",
                    header.join(",")
                ),
            )
        })
    };
    let (time, person, alert) = (column("time")?, column("person")?, column("alert")?);
    let needed = time.max(person).max(alert) + 1;
    let mut out = Vec::new();
    for (n, line) in lines {
        let f = csv_fields(line).map_err(|e| bad(n, e))?;
        if f.len() < needed {
            return Err(bad(
                n,
                format!("{} field(s), expected {}", f.len(), header.len()),
            ));
        }
        let at = DateTime::parse_from_rfc3339(f[time].trim())
            .map_err(|e| {
                bad(
                    n,
                    format!(
                        "time {:?} is not an RFC 3339 time (e.g. 2026-11-24T03:12:40+09:00): {e}",
                        f[time]
                    ),
                )
            })?
            .with_timezone(&Utc);
        let who = f[person].trim();
        if who.is_empty() {
            return Err(bad(n, "the person is empty".into()));
        }
        out.push(Notification {
            line: n,
            at,
            person: who.to_string(),
            alert: f[alert].trim().to_string(),
        });
    }
    Ok(out)
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// "ringdown 40 s earlier", "at the same second", "ringdown 5 s later".
fn difference(delay_secs: i64) -> String {
    match delay_secs {
        0 => "at the same second".into(),
        d if d < 0 => format!("ringdown {} s earlier", -d),
        d => format!("ringdown {d} s later"),
    }
}

/// Left-aligned columns, two spaces apart.
fn columns(rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = Vec::new();
    for row in rows {
        for (i, c) in row.iter().enumerate() {
            if widths.len() <= i {
                widths.push(0);
            }
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::from("  ");
        for (c, w) in row.iter().zip(&widths) {
            line.push_str(c);
            line.push_str(&" ".repeat(w - c.chars().count() + 2));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn person(c: &WouldCall) -> String {
    match &c.name {
        Some(n) => format!("{} ({n})", c.person),
        None => c.person.clone(),
    }
}

/// For people: the counts first, then what the old tool did that ringdown
/// would not have, the pairs, and the calls only ringdown would have made.
pub fn to_table(c: &Comparison) -> String {
    let mut out = String::from("ringdown shadow run beside the old tool\n");
    match c.period {
        Some(p) => {
            let to = p.to.map(ts).unwrap_or_else(|| "still running".into());
            let _ = writeln!(out, "shadow run: {} to {to}", ts(p.from));
        }
        None => out.push_str("shadow run: the shadow log is empty\n"),
    }
    let (earlier, same, later) = c.earlier_same_later();
    let olds = c.matched.len() + c.missed.len() + c.outside.len();
    let calls = c.matched.len() + c.extra.len();
    let _ = writeln!(
        out,
        "{olds} notification(s) by the old tool, {calls} would-be call(s) by ringdown, paired within {} min\n",
        c.window_secs / 60
    );
    let median = c
        .median_delay_secs()
        .map(|d| format!("; median {}", difference(d)))
        .unwrap_or_default();
    let counts = [
        (
            "matched",
            c.matched.len(),
            format!("ringdown earlier {earlier}, same second {same}, later {later}{median}"),
        ),
        (
            "the old tool notified, ringdown would not have",
            c.missed.len(),
            String::new(),
        ),
        (
            "ringdown would also have called",
            c.extra.len(),
            "nobody answers a shadow call, so later steps appear here".into(),
        ),
        (
            "old notifications outside the shadow run",
            c.outside.len(),
            String::new(),
        ),
        (
            "fallback notices ringdown would have sent",
            c.notices,
            String::new(),
        ),
    ];
    for (label, n, note) in counts {
        let label = format!("{label}:");
        let note = if note.is_empty() {
            note
        } else {
            format!("  ({note})")
        };
        let _ = writeln!(out, "  {label:<48}{n:>4}{note}");
    }
    if !c.missed.is_empty() {
        out.push_str("\nThe old tool notified, ringdown would not have:\n");
        let rows: Vec<Vec<String>> = c
            .missed
            .iter()
            .map(|n| {
                vec![
                    ts(n.at),
                    n.person.clone(),
                    n.alert.clone(),
                    format!("(line {})", n.line),
                ]
            })
            .collect();
        out.push_str(&columns(&rows));
    }
    if !c.matched.is_empty() {
        out.push_str("\nMatched:\n");
        let mut rows = vec![vec![
            "old tool".to_string(),
            "ringdown".to_string(),
            "person".to_string(),
            "difference".to_string(),
            "step".to_string(),
            "alert".to_string(),
        ]];
        rows.extend(c.matched.iter().map(|p: &Pair| {
            vec![
                ts(p.old.at),
                ts(p.call.at),
                person(&p.call),
                difference(p.delay_secs),
                format!("{}/{}", p.call.step, p.call.attempt),
                p.call.alert.clone(),
            ]
        }));
        out.push_str(&columns(&rows));
    }
    if !c.extra.is_empty() {
        out.push_str("\nringdown would also have called:\n");
        let rows: Vec<Vec<String>> = c
            .extra
            .iter()
            .map(|w| vec![ts(w.at), person(w), w.alert.clone(), w.why.clone()])
            .collect();
        out.push_str(&columns(&rows));
    }
    if !c.outside.is_empty() {
        out.push_str("\nOld notifications outside the shadow run (not compared):\n");
        let rows: Vec<Vec<String>> = c
            .outside
            .iter()
            .map(|n| vec![ts(n.at), n.person.clone(), n.alert.clone()])
            .collect();
        out.push_str(&columns(&rows));
    }
    out
}

/// The CSV header of [`to_csv`].
pub const CSV_HEADER: &str = "result,old_time,old_person,old_alert,ringdown_time,person,name,step,attempt,delay_secs,incident_id,call_id,alert,why";

/// One row per notification and per would-be call: `matched`, `missed`
/// (the old tool notified, ringdown would not have), `extra` (ringdown
/// would also have called), `outside` (before or after the shadow run).
pub fn to_csv(c: &Comparison) -> String {
    let mut out = String::from(CSV_HEADER);
    out.push('\n');
    let mut row =
        |result: &str, old: Option<&Notification>, call: Option<&WouldCall>, delay: Option<i64>| {
            let cells = [
                result.to_string(),
                old.map(|n| ts(n.at)).unwrap_or_default(),
                old.map(|n| n.person.clone()).unwrap_or_default(),
                old.map(|n| n.alert.clone()).unwrap_or_default(),
                call.map(|w| ts(w.at)).unwrap_or_default(),
                call.map(|w| w.person.clone()).unwrap_or_default(),
                call.and_then(|w| w.name.clone()).unwrap_or_default(),
                call.map(|w| w.step.to_string()).unwrap_or_default(),
                call.map(|w| w.attempt.to_string()).unwrap_or_default(),
                delay.map(|d| d.to_string()).unwrap_or_default(),
                call.map(|w| w.incident_id.clone()).unwrap_or_default(),
                call.map(|w| w.call_id.clone()).unwrap_or_default(),
                call.map(|w| w.alert.clone()).unwrap_or_default(),
                call.map(|w| w.why.clone()).unwrap_or_default(),
            ];
            let cells: Vec<String> = cells.iter().map(|s| csv_field(s)).collect();
            out.push_str(&cells.join(","));
            out.push('\n');
        };
    for p in &c.matched {
        row("matched", Some(&p.old), Some(&p.call), Some(p.delay_secs));
    }
    for n in &c.missed {
        row("missed", Some(n), None, None);
    }
    for w in &c.extra {
        row("extra", None, Some(w), None);
    }
    for n in &c.outside {
        row("outside", Some(n), None, None);
    }
    out
}

/// The whole comparison, with its counts under `summary`.
pub fn to_json(c: &Comparison) -> String {
    let (earlier, same, later) = c.earlier_same_later();
    let mut v = serde_json::to_value(c).expect("a comparison always serialises");
    v["summary"] = serde_json::json!({
        "matched": c.matched.len(),
        "missed": c.missed.len(),
        "extra": c.extra.len(),
        "outside": c.outside.len(),
        "notices": c.notices,
        "ringdown_earlier": earlier,
        "same_second": same,
        "ringdown_later": later,
        "median_delay_secs": c.median_delay_secs(),
    });
    let mut s = serde_json::to_string_pretty(&v).expect("JSON values serialise");
    s.push('\n');
    s
}

/// `ringdown report --shadow FILE… --compare OLD.csv [--window-mins N]
/// [--format table|csv|json] [--out FILE]`.
pub fn main(
    shadow: &[PathBuf],
    old: &Path,
    window_mins: u64,
    format: &str,
    out: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    if !["table", "csv", "json"].contains(&format) {
        return Err(user(format!(
            "unknown format {format:?} for a shadow comparison: expected table, csv or json"
        )));
    }
    let window = i64::try_from(window_mins)
        .ok()
        .filter(|m| *m <= 7 * 24 * 60)
        .ok_or_else(|| user("--window-mins is limited to a week (10080)"))?;
    let mut entries: Vec<Entry> = Vec::new();
    for path in shadow {
        entries.extend(super::log::read(path)?);
    }
    let text = std::fs::read_to_string(old)
        .map_err(|e| user(format!("cannot read {}: {e}", old.display())))?;
    let notifications = parse_old(&text, &old.display().to_string())?;
    let c = compare(&notifications, &entries, chrono::Duration::minutes(window));
    let text = match format {
        "csv" => to_csv(&c),
        "json" => to_json(&c),
        _ => to_table(&c),
    };
    crate::report::write_out(&text, out, &format!("the shadow comparison ({format})"))?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_follow_rfc_4180_quoting() {
        assert_eq!(csv_fields("a,b,,c").unwrap(), ["a", "b", "", "c"]);
        assert_eq!(
            csv_fields(r#""x, y","say ""hi""",z"#).unwrap(),
            ["x, y", "say \"hi\"", "z"]
        );
        assert_eq!(csv_fields(r#""""#).unwrap(), [""]);
        assert!(csv_fields(r#""open"#).is_err());
        assert!(csv_fields(r#""a"b"#).is_err());
    }

    #[test]
    fn the_old_log_takes_its_columns_from_the_header_and_names_the_bad_line() {
        let text = "\u{feff}Alert,Time,Person,channel\r\n\"disk full, db-1\",2026-11-24T03:12:40+09:00,Tanaka Taro,sms\r\n\r\n";
        let n = parse_old(text, "old.csv").unwrap();
        assert_eq!(n.len(), 1);
        assert_eq!(n[0].line, 2);
        assert_eq!(n[0].person, "Tanaka Taro");
        assert_eq!(n[0].alert, "disk full, db-1");
        assert_eq!(ts(n[0].at), "2026-11-23T18:12:40Z");
        for (bad, want) in [
            ("", "old.csv: empty"),
            ("when,who,what\n", "old.csv:1: the header must name"),
            (
                "time,person,alert\n2026-11-24 03:12,tanaka,x\n",
                "old.csv:2: time \"2026-11-24 03:12\" is not an RFC 3339 time",
            ),
            (
                "time,person,alert\n2026-11-24T03:12:40Z,tanaka\n",
                "old.csv:2: 2 field(s), expected 3",
            ),
            (
                "time,person,alert\n\n2026-11-24T03:12:40Z, ,x\n",
                "old.csv:3: the person is empty",
            ),
            (
                "time,person,alert\n2026-11-24T03:12:40Z,tanaka,\"x\n",
                "old.csv:2: a quoted field does not end on its line",
            ),
        ] {
            let err = parse_old(bad, "old.csv").unwrap_err();
            assert!(err.downcast_ref::<crate::commands::UserError>().is_some());
            assert!(err.to_string().starts_with(want), "{bad:?}: {err}");
        }
    }

    #[test]
    fn an_svg_or_unknown_format_is_the_users_error() {
        let err = main(&[], Path::new("x.csv"), 10, "svg", None).unwrap_err();
        assert!(err.downcast_ref::<crate::commands::UserError>().is_some());
    }
}
