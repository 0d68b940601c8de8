//! `ringdown demo`: a storm on the embedded default, on a virtual clock.
//!
//! The story: 300 alerts from two systems arrive within 20 seconds and become
//! two incidents. For `web`, the primary on-call's phone goes to voicemail (no
//! key at the guard prompt, `CONTACT_FLOW_DISCONNECT`), so the secondary is
//! called and presses 1. For `payments`, the engineer presses 9 and silences
//! the system for 2 hours. Ten minutes later a new `payments` alert arrives and
//! places no call.
//!
//! Everything real runs: the engine, the SQLite store, the contact flows in
//! `contact-flows/` interpreted by connect-flow, the token bucket. Only the
//! clock is virtual (a paused tokio runtime), so the half hour plays in a
//! moment. The demo checks its own story and exits 1 if it did not happen.

use crate::embedded::{EXAMPLE_PERSONAS, EXAMPLE_ROSTER};
use crate::timeline;
use crate::virtual_run::VirtualRun;
use anyhow::{Context, Result};
use chrono::{DateTime, TimeZone, Utc};
use connect_flow::PersonaBook;
use ringdown_core::escalation::Phase;
use ringdown_core::phone::mask;
use ringdown_core::roster::Roster;
use ringdown_engine::{AlertDisposition, IncidentFilter, Ingest, IngestReport, Store};
use std::process::ExitCode;
use std::time::Duration;

/// Tuesday 2026-11-24, 03:12 in Tokyo: the middle of the night.
pub fn demo_start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 18, 12, 0).unwrap()
}

/// One Alertmanager webhook with `n` firing alerts of `system`.
pub fn webhook(system: &str, first: usize, n: usize) -> String {
    let alerts: Vec<serde_json::Value> = (first..first + n)
        .map(|i| {
            let (name, summary) = match system {
                "payments" => ("PaymentGatewayErrors", format!("card authorisations failing on pay-{:03}", i % 40)),
                _ => ("HighLatency", format!("p99 latency above 4 s on web-{:03}", i % 60)),
            };
            serde_json::json!({
                "status": "firing",
                "labels": {"alertname": name, "systemname": system, "instance": format!("{system}-{i:03}"), "severity": "critical"},
                "annotations": {"summary": summary},
                "startsAt": "2026-11-23T18:11:30Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus.example/graph"
            })
        })
        .collect();
    serde_json::json!({
        "version": "4", "status": "firing", "receiver": "ringdown",
        "groupKey": format!("{{}}:{{systemname=\"{system}\"}}"),
        "groupLabels": {"systemname": system}, "commonLabels": {"systemname": system},
        "commonAnnotations": {}, "externalURL": "http://alertmanager.example",
        "truncatedAlerts": 0, "alerts": alerts
    })
    .to_string()
}

pub struct DemoResult {
    pub lines: Vec<String>,
    pub json: Vec<serde_json::Value>,
    pub problems: Vec<String>,
}

pub fn main(json: bool) -> Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()?;
    let result = rt.block_on(play())?;
    if json {
        for v in &result.json {
            println!("{v}");
        }
    } else {
        for l in &result.lines {
            println!("{l}");
        }
    }
    if result.problems.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        for p in &result.problems {
            eprintln!("demo: expected story did not happen: {p}");
        }
        Ok(ExitCode::from(1))
    }
}

/// Plays the story and returns the printed timeline and any deviation.
pub async fn play() -> Result<DemoResult> {
    let t0 = demo_start();
    let roster = Roster::from_yaml(EXAMPLE_ROSTER)
        .map_err(|e| anyhow::anyhow!("example roster: {:?}", e.0))?;
    let personas = PersonaBook::from_yaml(EXAMPLE_PERSONAS).context("example personas")?;
    let run = VirtualRun::start(EXAMPLE_ROSTER, personas, Vec::new(), t0).await?;
    let engine = run.stack.engine.clone();

    // The storm: 30 webhooks of 10 alerts, 200 from web and 100 from payments,
    // over 20 seconds.
    let mut reports: Vec<IngestReport> = Vec::new();
    let mut webhooks = 0;
    for batch in 0..30 {
        let system = if batch % 3 == 2 { "payments" } else { "web" };
        let body = webhook(system, batch * 10, 10);
        let alerts =
            ringdown_core::parse::parse(body.as_bytes()).context("parsing the demo webhook")?;
        reports.push(engine.ingest(alerts).await?);
        webhooks += 1;
        tokio::time::sleep(Duration::from_millis(666)).await;
    }
    // Ten minutes later: a new payments alert, inside the silenced scope.
    tokio::time::sleep(Duration::from_secs(10 * 60)).await;
    let later_at = clock_now(&engine);
    let later = engine
        .ingest(ringdown_core::parse::parse(
            webhook("payments", 900, 1).as_bytes(),
        )?)
        .await?;
    // Let everything settle: retries, contact records, timers.
    tokio::time::sleep(Duration::from_secs(20 * 60)).await;
    let stack = run.stop().await?;

    let incidents = stack.store.incidents(&IncidentFilter::default()).await?;
    let calls = stack.dialer.calls();
    let alerts_total: usize = reports.iter().map(|r| r.alerts.len()).sum();
    let grouped = reports
        .iter()
        .flat_map(|r| r.alerts.iter())
        .filter(|a| matches!(a, AlertDisposition::Grouped { .. }))
        .count();

    // ---- the timeline --------------------------------------------------------
    let mut lines = Vec::new();
    let mut json = Vec::new();
    let tz = roster.timezone;
    lines.push(format!(
        "ringdown demo — {} ({}), embedded default, virtual clock",
        t0.with_timezone(&tz).format("%a %Y-%m-%d %H:%M %Z"),
        tz.name()
    ));
    lines.push(format!(
        "{}  storm: {alerts_total} alerts in {webhooks} Alertmanager webhooks over 20 s → {grouped} grouped into {} incidents",
        timeline::offset(t0, t0),
        incidents.len()
    ));
    json.push(serde_json::json!({"at": t0, "event": "storm", "alerts": alerts_total, "webhooks": webhooks, "incidents": incidents.len()}));
    let (tl_lines, tl_json) = timeline::render(t0, &incidents, &calls, true);
    lines.extend(tl_lines);
    json.extend(tl_json);
    let later_line = match later.alerts.first() {
        Some(AlertDisposition::Silenced { silence_id, .. }) => {
            format!("new payments alert matches silence {silence_id}: no call")
        }
        Some(other) => format!("new payments alert: {other:?}"),
        None => "new payments alert: nothing".into(),
    };
    lines.push(format!(
        "{}  [payments] {later_line}",
        timeline::offset(t0, later_at)
    ));
    json.push(
        serde_json::json!({"at": later_at, "event": "later_alert", "result": later.alerts.first()}),
    );
    let who: Vec<String> = calls
        .iter()
        .map(|c| format!("{} ({})", c.person, mask(&c.phone)))
        .collect();
    lines.push(format!(
        "calls placed: {} — {}",
        calls.len(),
        who.join(", ")
    ));
    for inc in &incidents {
        lines.push(format!(
            "incident {} [{}]: {}{}",
            inc.id,
            timeline::incident_label(inc),
            inc.phase.as_str(),
            inc.acked_at
                .map(|a| format!(
                    ", acknowledged {} s after the first alert",
                    (a - inc.opened_at).num_seconds()
                ))
                .unwrap_or_default()
        ));
    }

    // ---- the story must have happened ----------------------------------------
    let mut problems = Vec::new();
    if alerts_total != 300 || grouped != 300 {
        problems.push(format!(
            "300 alerts grouped, got {grouped} of {alerts_total}"
        ));
    }
    if incidents.len() != 2 {
        problems.push(format!("2 incidents, got {}", incidents.len()));
    }
    let order: Vec<&str> = calls.iter().map(|c| c.person.as_str()).collect();
    let mut sorted = order.clone();
    sorted.sort();
    if sorted != ["sato", "suzuki", "tanaka"] {
        problems.push(format!(
            "calls to tanaka, sato and suzuki once each, got {order:?}"
        ));
    }
    let phase_of = |sys: &str| {
        incidents
            .iter()
            .find(|i| i.group_labels.get("systemname").map(String::as_str) == Some(sys))
            .map(|i| i.phase)
    };
    if phase_of("web") != Some(Phase::Acknowledged) {
        problems.push(format!("web acknowledged, got {:?}", phase_of("web")));
    }
    if phase_of("payments") != Some(Phase::Silenced) {
        problems.push(format!("payments silenced, got {:?}", phase_of("payments")));
    }
    if !matches!(
        later.alerts.first(),
        Some(AlertDisposition::Silenced { .. })
    ) {
        problems.push("the later payments alert is silenced".into());
    }
    Ok(DemoResult {
        lines,
        json,
        problems,
    })
}

fn clock_now(engine: &ringdown_engine::Engine) -> DateTime<Utc> {
    engine.now()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_demo_story_happens_end_to_end() {
        let r = play().await.unwrap();
        assert!(
            r.problems.is_empty(),
            "{:?}\n{}",
            r.problems,
            r.lines.join("\n")
        );
        let text = r.lines.join("\n");
        assert!(
            text.contains("tanaka: UNREACHABLE (CONTACT_FLOW_DISCONNECT)"),
            "{text}"
        );
        assert!(text.contains("suzuki: ACKNOWLEDGED"), "{text}");
        assert!(text.contains("sato: SILENCED"), "{text}");
        assert!(text.contains("no call"), "{text}");
        assert!(
            !text.contains("+819012340001"),
            "numbers are masked: {text}"
        );
    }
}
