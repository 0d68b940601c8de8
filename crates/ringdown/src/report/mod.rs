//! `ringdown report --month YYYY-MM`: the month's figures
//! (`ringdown_core::report` decides them) fetched from the store and
//! rendered as a table, CSV, JSON or an SVG chart.

mod svg;
mod text;

use std::path::Path;
use std::process::ExitCode;

use ringdown_core::report::{compute, month_bounds, CallRecord, Report};
use ringdown_engine::{ContactRow, IncidentFilter, Store};

pub use svg::to_svg;
pub(crate) use text::csv_field;
pub use text::{to_csv, to_json, to_table};

fn call_record(row: ContactRow) -> CallRecord {
    CallRecord {
        call_id: row.call_id,
        incident_id: row.incident_id,
        person: row.person,
        placed_at: row.placed_at,
        outcome: row.outcome,
    }
}

/// Fetches the month's contacts and incidents from `store` and computes the
/// report. Incidents opened before the month are loaded only when one of the
/// month's calls has no outcome and may find it in that incident's history.
pub async fn build(store: &dyn Store, month: &str) -> anyhow::Result<Report> {
    let (from, to) = month_bounds(month).map_err(crate::commands::user)?;
    let contacts = store.contacts_between(from, to).await?;
    let mut incidents = store
        .incidents(&IncidentFilter {
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
            incidents.push(inc.incident);
        }
    }
    let calls: Vec<CallRecord> = contacts.into_iter().map(call_record).collect();
    compute(month, &calls, &incidents).map_err(anyhow::Error::msg)
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
        let store = crate::commands::open_store(&cfg).await?;
        build(store.as_ref(), month).await
    })?;
    let text = render(&report, format)?;
    write_out(&text, out, &format!("{format} report for {month}"))?;
    Ok(ExitCode::SUCCESS)
}

/// Writes `text` to `out` (saying so on standard error, naming it `what`),
/// or to standard output.
pub(crate) fn write_out(text: &str, out: Option<&Path>, what: &str) -> anyhow::Result<()> {
    match out {
        Some(path) => {
            std::fs::write(path, text)
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
            eprintln!("ringdown: wrote {what} to {}", path.display());
        }
        None => {
            use std::io::Write;
            std::io::stdout().lock().write_all(text.as_bytes())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::text::CSV_HEADER;
    use super::*;
    use chrono::Duration;
    use ringdown_core::escalation::Phase;
    use ringdown_core::report::sample::{expected, incident, seed};

    #[test]
    fn an_invalid_month_or_format_is_the_users_error() {
        let err = main(None, "2026-13", "table", None).unwrap_err();
        assert!(err.downcast_ref::<crate::commands::UserError>().is_some());
        let err = main(None, "2026-10", "pdf", None).unwrap_err();
        assert!(err.downcast_ref::<crate::commands::UserError>().is_some());
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
        use ringdown_engine::{Created, StoredIncident};
        let store = ringdown_local::SqliteStore::in_memory().unwrap();
        let (contacts, incidents) = seed();
        for (n, c) in contacts.iter().enumerate() {
            let row = ContactRow {
                contact_id: format!("ct-{n:02}"),
                call_id: c.call_id.clone(),
                incident_id: c.incident_id.clone(),
                person: c.person.clone(),
                phone_masked: "+81******78".into(),
                placed_at: c.placed_at,
                ended_at: c.outcome.map(|_| c.placed_at + Duration::seconds(40)),
                outcome: c.outcome,
                disconnect_reason: None,
            };
            store.record_contact(&row).await.unwrap();
        }
        for inc in &incidents {
            let mut fresh = incident(&inc.id, inc.opened_at, Phase::Grouping);
            fresh.next_action_at = Some(inc.opened_at + Duration::seconds(30));
            let fresh = StoredIncident::new(fresh);
            let mut stored = match store.create_incident(&fresh).await.unwrap() {
                Created::Created(i) => i,
                Created::Exists(i) => panic!("exists: {}", i.id),
            };
            stored.incident = inc.clone();
            store.save_incident(&stored).await.unwrap();
        }
        let r = build(&store, "2026-10").await.unwrap();
        assert_eq!(r, expected());
        let err = build(&store, "2026-1").await.unwrap_err();
        assert!(err.downcast_ref::<crate::commands::UserError>().is_some());
    }
}
