//! `ringdown drill`: rehearse a roster change before it goes live.
//!
//! The real escalation runs (engine, store, contact flows interpreted by
//! connect-flow, the call gate) on a virtual clock starting at `--at`, with
//! the alert from `--alert` and scripted callers from `--personas`. Without
//! personas nobody answers, which is exactly what the drill is for: it shows
//! every call the policy would place, when, what each person would hear, and
//! where the incident goes when the roster is exhausted.

use crate::commands::{load_roster, parse_at, user};
use crate::timeline;
use crate::virtual_run::VirtualRun;
use anyhow::Result;
use chrono::{DateTime, Utc};
use connect_flow::PersonaBook;
use ringdown_engine::{AlertDisposition, IncidentFilter, Ingest, Store};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

/// Nobody answers: the worst case, the policy walked to its end.
pub const NOBODY_ANSWERS: &str = "default: never_answers\n";

pub struct DrillOptions<'a> {
    pub roster: &'a Path,
    pub alert: &'a Path,
    pub personas: Option<&'a Path>,
    pub at: Option<&'a str>,
    pub minutes: u64,
}

pub fn main(opts: DrillOptions<'_>, json: bool) -> Result<ExitCode> {
    let roster_text = std::fs::read_to_string(opts.roster)
        .map_err(|e| user(format!("cannot read {}: {e}", opts.roster.display())))?;
    load_roster(opts.roster)?;
    let alert = std::fs::read(opts.alert)
        .map_err(|e| user(format!("cannot read {}: {e}", opts.alert.display())))?;
    let personas = match opts.personas {
        Some(p) => std::fs::read_to_string(p)
            .map_err(|e| user(format!("cannot read {}: {e}", p.display())))?,
        None => NOBODY_ANSWERS.to_string(),
    };
    let start = parse_at(opts.at)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()?;
    let (lines, entries) =
        rt.block_on(run(&roster_text, &alert, &personas, start, opts.minutes))?;
    if json {
        for e in entries {
            println!("{e}");
        }
    } else {
        for l in lines {
            println!("{l}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Plays the drill and returns the timeline (text lines, JSON entries).
pub async fn run(
    roster_yaml: &str,
    alert: &[u8],
    personas: &str,
    start: DateTime<Utc>,
    minutes: u64,
) -> Result<(Vec<String>, Vec<serde_json::Value>)> {
    let roster =
        ringdown_core::roster::Roster::from_yaml(roster_yaml).map_err(|e| user(e.to_string()))?;
    let alerts = ringdown_core::parse::parse(alert)
        .map_err(|e| user(format!("alert file: {e} ({})", e.reason_code())))?;
    let personas =
        PersonaBook::from_yaml(personas).map_err(|e| user(format!("personas are invalid: {e}")))?;
    let run = VirtualRun::start(roster_yaml, personas, Vec::new(), start).await?;
    let report = run.stack.engine.ingest(alerts).await?;
    tokio::time::sleep(Duration::from_secs(minutes * 60)).await;
    let stack = run.stop().await?;

    let tz = roster.timezone;
    let mut lines = vec![format!(
        "ringdown drill — alert at {} ({}), virtual clock, {} min",
        start.with_timezone(&tz).format("%a %Y-%m-%d %H:%M %Z"),
        tz.name(),
        minutes
    )];
    // What the roster gives up (a retry too late to get through Do Not
    // Disturb), before the story.
    for w in roster.advice() {
        lines.push(format!("warning: {w}"));
    }
    for d in &report.alerts {
        match d {
            AlertDisposition::Silenced {
                fingerprint,
                silence_id,
            } => lines.push(format!(
                "alert {fingerprint}: silenced by {silence_id}: no call"
            )),
            AlertDisposition::Unrouted { fingerprint } => lines.push(format!(
                "alert {fingerprint}: no policy matches its labels: nobody would be called"
            )),
            AlertDisposition::ResolvedNoIncident { fingerprint } => {
                lines.push(format!("alert {fingerprint}: resolved, no open incident"))
            }
            AlertDisposition::Heartbeat { name, .. } => {
                lines.push(format!("alert renews heartbeat {name}: no call"))
            }
            AlertDisposition::Grouped { .. } => {}
        }
    }
    let incidents = stack.store.incidents(&IncidentFilter::default()).await?;
    let calls = stack.dialer.calls();
    let (tl, json) = timeline::render(start, &incidents, &calls, false);
    lines.extend(tl);
    for n in stack.notifier.sent() {
        lines.push(format!(
            "{}  fallback channel ({}): {}",
            n["at"]
                .as_str()
                .and_then(|a| DateTime::parse_from_rfc3339(a).ok())
                .map(|a| timeline::offset(start, a.with_timezone(&Utc)))
                .unwrap_or_default(),
            n["kind"].as_str().unwrap_or(""),
            n["message"].as_str().unwrap_or("")
        ));
    }
    for inc in &incidents {
        lines.push(match (&inc.storm, &inc.member_of) {
            (Some(st), _) => format!(
                "storm [{}] of {} incident(s) ends {} after {} call(s): one call for all of them",
                timeline::incident_label(inc),
                st.members.len(),
                inc.phase.as_str(),
                inc.calls_placed
            ),
            (None, Some(storm_id)) => format!(
                "incident [{}] ends {}: part of storm {storm_id}, which called for it",
                timeline::incident_label(inc),
                inc.phase.as_str(),
            ),
            (None, None) => format!(
                "incident [{}] ends {} after {} call(s)",
                timeline::incident_label(inc),
                inc.phase.as_str(),
                inc.calls_placed
            ),
        });
    }
    Ok((lines, json))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tricky week in New York: the clocks go back on Sunday 2026-11-01,
    /// Monday is a holiday for the business-days-only engineer, and an
    /// override puts Carol on call for the night.
    const ROSTER: &str = r#"
timezone: America/New_York
calendars:
  office: { holidays: none, extra_holidays: ["2026-11-02"] }
people:
  alice: { language: en-US, phones: [{ number: "+14155550001" }] }
  bob:   { language: en-US, phones: [{ number: "+14155550002" }], only: { calendar: office } }
  carol: { language: en-US, phones: [{ number: "+14155550003" }] }
rotations:
  primary:
    members: [alice, bob]
    shift: 1d
    start: "2026-10-30T09:00"
    overrides:
      - { person: carol, from: "2026-11-02T00:00", to: "2026-11-02T08:00" }
policies:
  - name: default
    group_by: [systemname]
    group_wait_secs: 30
    steps:
      - targets: [rotation:primary]
        attempts: 2
        retry_after_secs: 300
      - targets: [person:bob, person:alice]
"#;

    const ALERT: &str =
        r#"{"title": "Checkout <errors> & timeouts", "labels": {"systemname": "shop"}}"#;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[tokio::test(start_paused = true)]
    async fn nobody_answers_on_a_holiday_night_after_the_clocks_went_back() {
        // Monday 2026-11-02 03:00 EST (08:00Z): the override's Carol is on
        // call; Bob may not be called on the office holiday.
        let (lines, _) = run(
            ROSTER,
            ALERT.as_bytes(),
            NOBODY_ANSWERS,
            at("2026-11-02T08:00:00Z"),
            60,
        )
        .await
        .unwrap();
        let text = lines.join("\n");
        let calls: Vec<&str> = lines
            .iter()
            .filter(|l| l.contains("] call "))
            .map(|l| l.as_str())
            .collect();
        assert_eq!(
            calls,
            [
                "+00:30  [shop] call carol at +14*****0003 (step 1, attempt 1)",
                "+06:30  [shop] call carol at +14*****0003 (step 1, attempt 2)",
                "+07:30  [shop] call alice at +14*****0001 (step 2, attempt 1)",
            ],
            "{text}"
        );
        assert!(text.contains("skip bob"), "{text}");
        assert!(
            text.contains("carol: UNREACHABLE (TELECOM_UNANSWERED)"),
            "{text}"
        );
        assert!(text.contains("fallback channel (fallback)"), "{text}");
        assert!(
            text.contains("incident [shop] ends exhausted after 3 call(s)"),
            "{text}"
        );
        assert!(
            text.contains(
                "skipped: bob is only called on business days of office; 2026-11-02 is a holiday"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "+08:30  fallback channel (fallback): nobody acknowledged after 1 pass(es)"
            ),
            "{text}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_drill_shows_a_ring_all_step_the_acknowledgement_timeout_and_the_do_not_disturb_warning(
    ) {
        let roster = r#"
timezone: Asia/Tokyo
people:
  tanaka: { language: en-US, phones: [{ number: "+819011110001" }] }
  sato:   { language: en-US, phones: [{ number: "+819011110002" }] }
  suzuki: { language: en-US, phones: [{ number: "+819011110003" }] }
policies:
  - name: default
    group_by: [systemname]
    group_wait_secs: 0
    ack_timeout_secs: 1800
    steps:
      - targets: [person:tanaka]
      - targets: [person:sato, person:suzuki]
        mode: all
        attempts: 2
        retry_after_secs: 300
"#;
        let personas = r#"
default: never_answers
personas:
  "+819011110001": { voicemail: { answer_after_secs: 10 } }
  "+819011110002": { answer_after_secs: 5, keys: [{key: "5", delay_secs: 1}, {key: "1", delay_secs: 1}] }
"#;
        let (lines, _) = run(
            roster,
            ALERT.as_bytes(),
            personas,
            at("2026-11-24T18:00:00Z"),
            40,
        )
        .await
        .unwrap();
        let text = lines.join("\n");
        assert!(
            text.contains("warning: policies[0].steps[1].retry_after_secs = 300"),
            "{text}"
        );
        assert!(text.contains("Do Not Disturb"), "{text}");
        let calls: Vec<&str> = lines
            .iter()
            .filter(|l| l.contains("] call ") && !l.contains("hung up"))
            .map(|l| l.as_str())
            .collect();
        assert_eq!(calls.len(), 4, "{text}");
        assert!(calls[0].contains("call tanaka"), "{text}");
        assert!(
            calls[1].contains("call sato") && calls[2].contains("call suzuki"),
            "{text}"
        );
        assert!(
            text.contains("call to suzuki hung up: sato acknowledged"),
            "{text}"
        );
        assert!(text.contains("hung up by ringdown (API)"), "{text}");
        assert!(
            !text.contains("TELECOM_UNANSWERED"),
            "suzuki's call was cut: {text}"
        );
        assert!(
            text.contains("still firing 30 min after sato acknowledged: paging again"),
            "{text}"
        );
        assert!(calls[3].contains("call sato"), "{text}");
        assert!(
            text.contains("You acknowledged this 30 minutes ago and it is still firing"),
            "{text}"
        );
        assert!(
            text.contains("incident [shop] ends acknowledged after 4 call(s)"),
            "{text}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn with_personas_the_drill_shows_who_acknowledges() {
        let personas = "default: { answer_after_secs: 2, keys: [{key: \"5\", delay_secs: 1}, {key: \"1\", delay_secs: 1}] }\n";
        // Wednesday 2026-11-04 10:00 EST: Bob's day (hand-off 09:00 EST = 14:00Z).
        let (lines, _) = run(
            ROSTER,
            ALERT.as_bytes(),
            personas,
            at("2026-11-04T15:00:00Z"),
            30,
        )
        .await
        .unwrap();
        let text = lines.join("\n");
        assert!(
            text.contains("+00:30  [shop] call bob at +14*****0002 (step 1, attempt 1)"),
            "{text}"
        );
        assert!(text.contains("bob: ACKNOWLEDGED"), "{text}");
        assert!(text.contains("pressed 1"), "{text}");
        // What Bob hears: the alert text read literally. Had it reached the
        // SSML unescaped, `<errors>` would have been swallowed as markup.
        assert!(
            text.contains("says: Alert. systemname shop: Checkout <errors> & timeouts."),
            "{text}"
        );
        assert!(
            text.contains("incident [shop] ends acknowledged after 1 call(s)"),
            "{text}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_drill_of_an_outage_over_five_systems_shows_one_storm_and_one_call() {
        let alerts: Vec<String> = (1..=5)
            .map(|i| format!(r#"{{"status": "firing", "labels": {{"alertname": "TargetDown", "systemname": "app{i}"}}, "annotations": {{"summary": "app{i} unreachable"}}}}"#))
            .collect();
        let webhook = format!(
            r#"{{"version": "4", "status": "firing", "receiver": "ringdown", "groupKey": "{{}}", "alerts": [{}]}}"#,
            alerts.join(",")
        );
        let personas = "default: { answer_after_secs: 2, keys: [{key: \"5\", delay_secs: 1}, {key: \"1\", delay_secs: 1}] }\n";
        let (lines, _) = run(
            ROSTER,
            webhook.as_bytes(),
            personas,
            at("2026-11-04T15:00:00Z"),
            30,
        )
        .await
        .unwrap();
        let text = lines.join("\n");
        assert_eq!(text.matches("call bob at").count(), 1, "one call: {text}");
        assert!(
            text.contains("storm [storm of bob] of 5 incident(s) ends acknowledged after"),
            "{text}"
        );
        assert_eq!(
            text.matches("ends acknowledged: part of storm").count(),
            5,
            "{text}"
        );
    }
}
