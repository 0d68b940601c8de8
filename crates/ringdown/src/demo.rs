//! `ringdown demo`: a storm on the embedded default, on a virtual clock.
//!
//! The story: 300 alerts from two systems arrive within 20 seconds and become
//! two incidents. For `web`, the primary on-call's phone goes to voicemail (no
//! key at the guard prompt, `CONTACT_FLOW_DISCONNECT`), so the secondary is
//! called and presses 1. For `payments`, the engineer presses 9 and silences
//! the system for 2 hours. Ten minutes later a new `payments` alert arrives and
//! places no call.
//!
//! Then a core switch fails: thirty systems alert within fifteen seconds. They are
//! one outage, so they become one storm and one call: the primary's voicemail
//! again, then the secondary hears "30 systems alerting since 04:00" and one
//! press of 1 acknowledges all thirty.
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

/// The outage of the second act: a core switch fails at 04:00 Tokyo time.
pub const OUTAGE_SYSTEMS: usize = 30;

fn outage_start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 19, 0, 0).unwrap()
}

/// One Alertmanager webhook of the outage: `system` cannot be reached.
fn outage_webhook(system: &str) -> String {
    serde_json::json!({
        "version": "4", "status": "firing", "receiver": "ringdown",
        "groupKey": format!("{{}}:{{systemname=\"{system}\"}}"),
        "groupLabels": {"systemname": system}, "commonLabels": {"systemname": system},
        "commonAnnotations": {}, "externalURL": "http://alertmanager.example",
        "truncatedAlerts": 0,
        "alerts": [{
            "status": "firing",
            "labels": {"alertname": "TargetDown", "systemname": system, "severity": "critical"},
            "annotations": {"summary": format!("{system} is unreachable")},
            "startsAt": "2026-11-23T19:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.example/graph"
        }]
    })
    .to_string()
}

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

    // Act two, 04:00: a core switch fails and thirty systems alert within
    // fifteen seconds, one webhook each.
    let wait = (outage_start() - clock_now(&engine))
        .to_std()
        .unwrap_or_default();
    tokio::time::sleep(wait).await;
    let outage_at = clock_now(&engine);
    let calls_before = run.stack.dialer.calls().len();
    for i in 0..OUTAGE_SYSTEMS {
        let body = outage_webhook(&format!("app{:02}", i + 1));
        engine
            .ingest(ringdown_core::parse::parse(body.as_bytes())?)
            .await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
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
    // Act by act; a storm's members speak through the storm in the text
    // timeline (the JSON has every incident's every entry).
    let (act_one, act_two): (Vec<_>, Vec<_>) = incidents
        .iter()
        .cloned()
        .partition(|i| i.opened_at < outage_at);
    lines.push(format!(
        "{}  storm: {alerts_total} alerts in {webhooks} Alertmanager webhooks over 20 s → {grouped} grouped into {} incidents",
        timeline::offset(t0, t0),
        act_one.len()
    ));
    json.push(serde_json::json!({"at": t0, "event": "storm", "alerts": alerts_total, "webhooks": webhooks, "incidents": act_one.len()}));
    let (tl_lines, tl_json) = timeline::render(t0, &act_one, &calls, true);
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
    let members: Vec<_> = incidents.iter().filter(|i| i.member_of.is_some()).collect();
    lines.push(format!(
        "{}  core switch fails: {OUTAGE_SYSTEMS} systems alert within 15 s → {} incidents, one storm",
        timeline::offset(t0, outage_at),
        members.len()
    ));
    json.push(serde_json::json!({"at": outage_at, "event": "outage", "systems": OUTAGE_SYSTEMS, "incidents": act_two.len()}));
    let (tl_two, json_two) = timeline::render(t0, &act_two, &calls, true);
    lines.extend(tl_two);
    json.extend(json_two);
    let who: Vec<String> = calls
        .iter()
        .map(|c| format!("{} ({})", c.person, mask(&c.phone)))
        .collect();
    lines.push(format!(
        "calls placed: {} — {}",
        calls.len(),
        who.join(", ")
    ));
    for inc in incidents.iter().filter(|i| i.member_of.is_none()) {
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

    let acked_members = members
        .iter()
        .filter(|m| m.phase == Phase::Acknowledged)
        .count();
    lines.push(format!(
        "the outage: {} incidents in one storm, {} call(s), {acked_members} acknowledged by one key",
        members.len(),
        calls.len() - calls_before
    ));

    // ---- the story must have happened ----------------------------------------
    let mut problems = Vec::new();
    if alerts_total != 300 || grouped != 300 {
        problems.push(format!(
            "300 alerts grouped, got {grouped} of {alerts_total}"
        ));
    }
    let storms = incidents.iter().filter(|i| i.storm.is_some()).count();
    if incidents.len() != 3 + OUTAGE_SYSTEMS || storms != 1 || members.len() != OUTAGE_SYSTEMS {
        problems.push(format!(
            "2 incidents, then {OUTAGE_SYSTEMS} in one storm; got {} incidents, {storms} storm(s), {} member(s)",
            incidents.len(),
            members.len()
        ));
    }
    let outage: Vec<&str> = calls[calls_before..]
        .iter()
        .map(|c| c.person.as_str())
        .collect();
    if outage != ["tanaka", "suzuki"] {
        problems.push(format!(
            "the outage: one call to tanaka (voicemail), one to suzuki, got {outage:?}"
        ));
    }
    if acked_members != OUTAGE_SYSTEMS {
        problems.push(format!(
            "every system of the outage acknowledged by suzuki's 1, got {acked_members}"
        ));
    }
    let order: Vec<&str> = calls[..calls_before]
        .iter()
        .map(|c| c.person.as_str())
        .collect();
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
            text.contains(
                "the outage: 30 incidents in one storm, 2 call(s), 30 acknowledged by one key"
            ),
            "{text}"
        );
        assert!(text.contains("04:00から30のシステムでアラート"), "{text}");
        assert!(
            !text.contains("+819012340001"),
            "numbers are masked: {text}"
        );
    }
}
