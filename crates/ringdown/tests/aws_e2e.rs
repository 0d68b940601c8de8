//! ringdown on AWS, end to end on real wire protocols: alerts into SQS (moto),
//! `ringdown run` as a real process, calls placed in connect-sim, contact
//! records through Kinesis (moto), decisions in DynamoDB (moto).
//!
//! Needs `RINGDOWN_TEST_MOTO_URL` (`eval "$(tests/emulators.sh start)"`);
//! without it each test says SKIPPED loudly, unless
//! `RINGDOWN_REQUIRE_EMULATORS=1`, when it fails.

use connect_sim::{CtrFaults, NumberFaults};
use ringdown_core::escalation::{HistoryKind, Phase};
use ringdown_proof::alerts::{outcomes, webhook};
use ringdown_proof::personas::{FIRST, PRESS_1, SECOND, THIRD, VOICEMAIL};
use ringdown_proof::{Stage as Env, StageOptions};
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::Duration;

const HANG_UP: &str =
    r#"{ answer_after_secs: 2, keys: [{key: "5", delay_secs: 1}], hang_up_after_prompt: 2 }"#;
const SILENCE_2H: &str = r#"{ answer_after_secs: 2, keys: [{key: "5", delay_secs: 1}, {key: "9", delay_secs: 1}, {key: "2#", delay_secs: 1}] }"#;

fn roster(extra_policies: &str) -> String {
    format!(
        r#"
timezone: UTC
people:
  first:  {{ language: en-US, phones: [{{ number: "{FIRST}" }}] }}
  second: {{ language: en-US, phones: [{{ number: "{SECOND}" }}] }}
  third:  {{ language: ja-JP, phones: [{{ number: "{THIRD}" }}] }}
policies:
{extra_policies}
  - name: default
    group_by: [systemname]
    group_wait_secs: 0
    steps:
      - targets: [person:first]
        attempts: 1
      - targets: [person:second]
        attempts: 1
      - targets: [person:third]
        attempts: 1
"#
    )
}

/// `ringdown silence list --output json` against the stage's DynamoDB.
fn silence_list(env: &Env) -> Vec<serde_json::Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_ringdown"))
        .args([
            "silence",
            "list",
            "--output",
            "json",
            "--config",
            env.config.to_str().unwrap(),
        ])
        .env("AWS_ENDPOINT_URL", &env.moto)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `roster` with a `storm:` line.
fn with_storm(storm: &str, roster: String) -> String {
    roster.replacen("policies:", &format!("{storm}\npolicies:"), 1)
}

fn personas(first: &str, second: &str, third: &str) -> String {
    ringdown_proof::personas::book(first, second, third)
}

/// A stage running this build's `ringdown`, calls at 20× speed.
async fn start(test: &str, roster_yaml: &str, personas: &str, faults: CtrFaults) -> Option<Env> {
    start_scaled(test, roster_yaml, personas, faults, 20.0).await
}

/// `time_scale`: simulated call seconds per real second.
async fn start_scaled(
    test: &str,
    roster_yaml: &str,
    personas: &str,
    faults: CtrFaults,
    time_scale: f64,
) -> Option<Env> {
    let mut opts = StageOptions::new(test, env!("CARGO_BIN_EXE_ringdown"), roster_yaml, personas);
    opts.ctr_faults = faults;
    opts.time_scale = time_scale;
    Env::start(opts).await
}

const LONG: Duration = Duration::from_secs(60);

/// One alert, and the first engineer presses 1: the stage afterwards.
async fn first_engineer_acknowledged(test: &str) -> Option<Env> {
    let mut env = start(
        test,
        &roster(""),
        &personas(PRESS_1, PRESS_1, PRESS_1),
        CtrFaults::default(),
    )
    .await?;
    env.spawn("a");
    env.send(webhook("web", 0, 1, "firing")).await;
    env.until("acknowledged", LONG, || async {
        env.phases().await == [Phase::Acknowledged]
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    Some(env)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_engineer_presses_1_and_nobody_else_is_called() {
    let Some(mut env) = first_engineer_acknowledged("ack").await else {
        return;
    };
    assert_eq!(env.destinations(), [FIRST]);
    let call = &env.sim.calls()[0];
    assert_eq!(
        call.disconnect_reason.as_deref(),
        Some("CONTACT_FLOW_DISCONNECT")
    );
    assert_eq!(call.attributes.get("rd_ack").map(String::as_str), Some("1"));
    let inc = &env.incidents().await[0];
    assert_eq!(
        call.client_token.as_deref(),
        Some(
            inc.history
                .iter()
                .find_map(|h| match &h.kind {
                    HistoryKind::CallPlaced { call_id, .. } => Some(call_id.as_str()),
                    _ => None,
                })
                .unwrap()
        ),
        "the call's ClientToken is its call id"
    );
    assert!(
        env.stop("a").success(),
        "clean exit on SIGTERM:\n{}",
        env.log("a")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_commands_read_the_incident_and_roster_from_dynamodb() {
    let Some(env) = first_engineer_acknowledged("cmds").await else {
        return;
    };
    let inc = &env.incidents().await[0];
    let month = chrono::Utc::now().format("%Y-%m").to_string();
    let incident_id = inc.id.clone();
    let roster_file = env.dir.join("roster.yaml").to_str().unwrap().to_string();
    for (args, want) in [
        (
            vec!["incident", "list", "--state", "acknowledged"],
            incident_id.clone(),
        ),
        (
            vec!["incident", "show", incident_id.as_str()],
            "ACKNOWLEDGED (CONTACT_FLOW_DISCONNECT)".to_string(),
        ),
        (
            vec!["report", "--month", month.as_str(), "--format", "csv"],
            "first,1,1,1,".to_string(),
        ),
        (vec!["roster", "export"], "person:first".to_string()),
        (
            vec!["roster", "diff", roster_file.as_str()],
            "no changes".to_string(),
        ),
        (
            vec!["roster", "apply", roster_file.as_str()],
            "already in force".to_string(),
        ),
        (
            vec!["oncall", "--label", "systemname=web", "--output", "json"],
            "\"person\": \"first\"".to_string(),
        ),
    ] {
        let text = env.cli(&args);
        assert!(
            text.contains(&want),
            "ringdown {args:?}: expected {want:?} in\n{text}"
        );
    }
    // The console on the operations listener reads the same DynamoDB.
    let ops = env.ops_addr("a").unwrap();
    for (path, want) in [
        (
            format!("/console/incidents/{incident_id}"),
            "data-outcome=\"ACKNOWLEDGED\"",
        ),
        (
            format!("/console/incidents/{incident_id}"),
            "CONTACT_FLOW_DISCONNECT",
        ),
        (
            "/console/incidents?state=acknowledged".to_string(),
            incident_id.as_str(),
        ),
        (
            "/console/now?labels=systemname%3Dweb".to_string(),
            "data-person=\"first\"",
        ),
        (format!("/console/report?month={month}"), "<td>1</td>"),
    ] {
        let page = get(&ops, &path).await;
        assert!(page.starts_with("HTTP/1.1 200"), "{path}: {page}");
        assert!(page.contains(want), "{path}: expected {want:?} in\n{page}");
        assert!(
            !page.contains(FIRST),
            "{path} shows a phone number unmasked"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_the_acknowledged_call_and_never_show_a_phone_number() {
    let Some(env) = first_engineer_acknowledged("metrics").await else {
        return;
    };
    let metrics = env.metrics_text("a").await;
    for counter in [
        "ringdown_alerts_received_total",
        "ringdown_incidents_opened_total",
        "ringdown_calls_placed_total",
        "ringdown_call_outcomes_total{outcome=\"ACKNOWLEDGED\"}",
        "ringdown_incidents_acked_total",
        "ringdown_aws_requests_total",
    ] {
        assert!(
            metrics.contains(counter),
            "{counter} missing from /metrics:\n{metrics}"
        );
    }
    assert!(!metrics.contains(FIRST), "numbers never appear in metrics");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voicemail_then_the_second_engineer_presses_1() {
    let Some(mut env) = start(
        "voicemail",
        &roster(""),
        &personas(VOICEMAIL, PRESS_1, PRESS_1),
        CtrFaults::default(),
    )
    .await
    else {
        return;
    };
    env.spawn("a");
    env.send(webhook("web", 0, 1, "firing")).await;
    env.until("acknowledged", LONG, || async {
        env.phases().await == [Phase::Acknowledged]
    })
    .await;
    assert_eq!(env.destinations(), [FIRST, SECOND]);
    let voicemail = &env.sim.calls()[0];
    // The seed case: the voicemail ends like a normal call, minus rd_human.
    assert_eq!(
        voicemail.disconnect_reason.as_deref(),
        Some("CONTACT_FLOW_DISCONNECT")
    );
    assert!(!voicemail.attributes.contains_key("rd_human"));
    assert_eq!(
        outcomes(&env.incidents().await[0]),
        ["UNREACHABLE", "ACKNOWLEDGED"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engineer_hears_the_message_and_hangs_up() {
    let Some(mut env) = start(
        "hangup",
        &roster(""),
        &personas(HANG_UP, PRESS_1, PRESS_1),
        CtrFaults::default(),
    )
    .await
    else {
        return;
    };
    env.spawn("a");
    env.send(webhook("web", 0, 1, "firing")).await;
    env.until("acknowledged", LONG, || async {
        env.phases().await == [Phase::Acknowledged]
    })
    .await;
    assert_eq!(env.destinations(), [FIRST, SECOND]);
    assert_eq!(
        env.sim.calls()[0].disconnect_reason.as_deref(),
        Some("CUSTOMER_DISCONNECT")
    );
    assert_eq!(
        outcomes(&env.incidents().await[0]),
        ["HUNG_UP", "ACKNOWLEDGED"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pressing_9_silences_the_system_and_only_alerts_outside_it_call() {
    let Some(mut env) = start(
        "silence",
        &roster(""),
        &personas(SILENCE_2H, PRESS_1, PRESS_1),
        CtrFaults::default(),
    )
    .await
    else {
        return;
    };
    env.spawn("a");
    env.send(webhook("web", 0, 1, "firing")).await;
    env.until("silenced", LONG, || async {
        env.phases().await == [Phase::Silenced]
    })
    .await;
    // The silence is in DynamoDB, and `ringdown silence list` shows it.
    let list = silence_list(&env);
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["matchers"][0], "systemname=\"web\"");
    assert_eq!(
        list[0]["ends_at"].as_i64().unwrap() - list[0]["starts_at"].as_i64().unwrap(),
        7200
    );
    // A new alert inside the scope places no call; one outside does.
    env.send(webhook("web", 100, 1, "firing")).await;
    env.send(webhook("db", 0, 1, "firing")).await;
    env.until("the db call", LONG, || async {
        env.destinations().len() == 2
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        env.destinations().len(),
        2,
        "no call for the silenced web alert"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_1000_alerts_over_3_systems_is_one_call_whose_1_acknowledges_all_three() {
    let Some(mut env) = start(
        "storm",
        &roster(""),
        &personas(PRESS_1, PRESS_1, PRESS_1),
        CtrFaults::default(),
    )
    .await
    else {
        return;
    };
    env.spawn("a");
    let mut bodies = Vec::new();
    for m in 0..100 {
        let system = ["web", "db", "payments"][m % 3];
        bodies.push(webhook(system, m * 10, 10, "firing"));
    }
    env.send_batch(bodies).await;
    env.until(
        "3 incidents and their storm acknowledged",
        Duration::from_secs(120),
        || async {
            let p = env.phases().await;
            p.len() == 4 && p.iter().all(|p| *p == Phase::Acknowledged)
        },
    )
    .await;
    env.until("every alert grouped", Duration::from_secs(120), || async {
        env.incidents()
            .await
            .iter()
            .map(|i| i.firing.len())
            .sum::<usize>()
            == 1000
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(env.destinations(), [FIRST], "one call for the outage");
    let incidents = env.incidents().await;
    let storm = incidents
        .iter()
        .find(|i| i.storm.is_some())
        .expect("a storm");
    assert_eq!(storm.storm.as_ref().unwrap().members.len(), 3);
    assert!(incidents
        .iter()
        .filter(|i| i.storm.is_none())
        .all(|i| i.member_of.as_deref() == Some(storm.id.as_str())
            && i.acked_by.as_deref() == Some("first")));
    assert!(
        env.sim.errors().is_empty(),
        "no throttling: {:?}",
        env.sim.errors()
    );
}

const PASS: &str =
    r#"{ answer_after_secs: 2, keys: [{key: "5", delay_secs: 1}, {key: "2", delay_secs: 1}] }"#;

/// Five systems behind one broken line, one alert each.
fn five_systems(status: &str) -> Vec<String> {
    (1..=5)
        .map(|i| webhook(&format!("app{i}"), 0, 1, status))
        .collect()
}

/// Five systems fail at once, the first and second engineer answer as
/// given; returns once the storm and its five incidents reach `phase`.
async fn five_systems_fail(test: &str, first: &str, second: &str, phase: Phase) -> Option<Env> {
    let mut env = start(
        test,
        &roster(""),
        &personas(first, second, PRESS_1),
        CtrFaults::default(),
    )
    .await?;
    env.spawn("a");
    env.send_batch(five_systems("firing")).await;
    env.until(
        "the storm and its five incidents settle",
        Duration::from_secs(120),
        || async {
            let p = env.phases().await;
            p.len() == 6 && p.iter().all(|p| *p == phase)
        },
    )
    .await;
    Some(env)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_engineer_passes_the_storm_with_2_and_the_second_silences_all_five_systems_with_9(
) {
    let Some(env) = five_systems_fail("stormpass", PASS, SILENCE_2H, Phase::Silenced).await else {
        return;
    };
    assert_eq!(
        env.destinations(),
        [FIRST, SECOND],
        "one call each, the second after the pass; nobody else"
    );
    // Each system has its own silence, as its own keypad silence would.
    let list = silence_list(&env);
    let scopes: BTreeSet<String> = list
        .iter()
        .map(|s| s["matchers"][0].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        scopes,
        (1..=5)
            .map(|i| format!("systemname=\"app{i}\""))
            .collect::<BTreeSet<_>>(),
        "{list:?}"
    );
    // A system of the outage alerting again rings nobody.
    env.send(webhook("app3", 10, 1, "firing")).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(env.destinations(), [FIRST, SECOND]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_storms_systems_recovering_one_by_one_ring_nobody_and_the_last_closes_the_storm() {
    let Some(env) = five_systems_fail("stormresolve", PRESS_1, PRESS_1, Phase::Acknowledged).await
    else {
        return;
    };
    let resolved = five_systems("resolved");
    for (i, body) in resolved.into_iter().enumerate() {
        env.send(body).await;
        if i == 2 {
            env.until("three systems resolved", LONG, || async {
                env.phases()
                    .await
                    .iter()
                    .filter(|p| **p == Phase::Resolved)
                    .count()
                    == 3
            })
            .await;
            let storm = env
                .incidents()
                .await
                .into_iter()
                .find(|i| i.storm.is_some())
                .expect("a storm");
            assert_eq!(storm.phase, Phase::Acknowledged, "two members still firing");
        }
    }
    env.until("everything resolved", LONG, || async {
        let p = env.phases().await;
        p.len() == 6 && p.iter().all(|p| *p == Phase::Resolved)
    })
    .await;
    assert_eq!(env.destinations(), [FIRST], "recoveries ring nobody");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_the_line_down_alert_fires_the_systems_behind_it_open_nothing_and_one_call_tells_of_it(
) {
    let roster = roster("").replacen(
        "policies:",
        "inhibit_rules:\n  - { source_matchers: ['alertname=LineDown'], target_matchers: ['alertname=HighLatency'], equal: [] }\npolicies:",
        1,
    );
    let Some(mut env) = start(
        "inhibit",
        &roster,
        &personas(PRESS_1, PRESS_1, PRESS_1),
        CtrFaults::default(),
    )
    .await
    else {
        return;
    };
    env.spawn("a");
    let line_down = serde_json::json!({
        "version": "4", "status": "firing", "receiver": "ringdown", "groupKey": "line",
        "alerts": [{
            "status": "firing",
            "labels": {"alertname": "LineDown", "systemname": "line"},
            "annotations": {"summary": "the line to the data centre is down"},
            "startsAt": "2026-11-22T00:00:00Z", "endsAt": "0001-01-01T00:00:00Z"
        }]
    })
    .to_string();
    env.send(line_down).await;
    env.until("the line incident opens", LONG, || async {
        env.phases().await.len() == 1
    })
    .await;
    env.send_batch(five_systems("firing")).await;
    env.until("the line acknowledged", LONG, || async {
        env.phases().await == [Phase::Acknowledged]
    })
    .await;
    env.until("the five systems' alerts inhibited", LONG, || async {
        env.incidents().await[0].inhibited == 5
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        env.phases().await.len(),
        1,
        "the systems behind the line open nothing"
    );
    assert_eq!(env.destinations(), [FIRST], "one call, about the line");
    let line = &env.incidents().await[0];
    assert!(
        line.history
            .iter()
            .any(|h| matches!(&h.kind, HistoryKind::Inhibited { .. })),
        "the line's timeline lists what it held back: {:?}",
        line.history
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_systems_failing_at_once_are_one_call_and_a_system_failing_mid_call_rings_nobody() {
    // The first engineer lets the first call ring out; the storm's call
    // goes to the second, who answers after 20 simulated seconds. Real
    // Connect timing: records 60-120 s late, contact events lost.
    let slow = r#"{ answer_after_secs: 20, keys: [{key: "5", delay_secs: 1}, {key: "1", delay_secs: 1}] }"#;
    let Some(mut env) = start_scaled(
        "pacing",
        &roster(""),
        &personas("never_answers", slow, PRESS_1),
        CtrFaults::default(),
        4.0,
    )
    .await
    else {
        return;
    };
    env.spawn("a");
    let bodies: Vec<String> = (0..30)
        .map(|i| webhook(&format!("sys{i:02}"), 0, 1, "firing"))
        .collect();
    env.send_batch(bodies).await;
    env.until(
        "the second engineer's phone rings",
        Duration::from_secs(150),
        || async { env.destinations().len() == 2 },
    )
    .await;
    // A system fails while the storm's call rings: it joins, no call.
    env.send(webhook("late", 0, 1, "firing")).await;
    env.until(
        "everything acknowledged",
        Duration::from_secs(150),
        || async {
            let p = env.phases().await;
            p.len() == 32 && p.iter().all(|p| *p == Phase::Acknowledged)
        },
    )
    .await;
    assert!(env.sim.errors().is_empty(), "{:?}", env.sim.errors());
    assert_eq!(
        env.destinations(),
        [FIRST, SECOND],
        "one call per person, in turn"
    );
    assert!(
        env.sim
            .calls()
            .iter()
            .all(|c| c.disconnect_reason.as_deref() != Some("TELECOM_BUSY")),
        "never two calls to one phone at once"
    );
    let incidents = env.incidents().await;
    let storm = incidents
        .iter()
        .find(|i| i.storm.is_some())
        .expect("a storm");
    assert_eq!(
        storm.storm.as_ref().unwrap().members.len(),
        31,
        "the late system joined"
    );
    assert_eq!(storm.acked_by.as_deref(), Some("second"));
    for inc in incidents.iter().filter(|i| i.storm.is_none()) {
        assert_eq!(inc.acked_by.as_deref(), Some("second"), "{}", inc.id);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_alert_resolves_before_anyone_acknowledges_and_calling_stops() {
    let ring = r#"never_answers"#;
    let Some(mut env) = start(
        "resolve",
        &roster(""),
        &personas(ring, ring, ring),
        CtrFaults::default(),
    )
    .await
    else {
        return;
    };
    env.spawn("a");
    env.send(webhook("web", 0, 1, "firing")).await;
    env.until("the first call", LONG, || async {
        !env.destinations().is_empty()
    })
    .await;
    env.send(webhook("web", 0, 1, "resolved")).await;
    env.until("resolved", LONG, || async {
        env.phases().await == [Phase::Resolved]
    })
    .await;
    let calls = env.destinations().len();
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert_eq!(
        env.destinations().len(),
        calls,
        "no call after the resolution"
    );
    assert!(calls <= 2, "{calls}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_late_dropped_and_foreign_contact_records() {
    let policies = r#"
  - name: dup
    match: { systemname: dup }
    group_wait_secs: 0
    group_by: [systemname]
    steps: [{ targets: [person:first] }]
  - name: late
    match: { systemname: late }
    group_wait_secs: 0
    group_by: [systemname]
    steps: [{ targets: [person:second] }]
  - name: dropped
    match: { systemname: dropped }
    group_wait_secs: 0
    group_by: [systemname]
    steps: [{ targets: [person:third] }]"#;
    let mut numbers = BTreeMap::new();
    numbers.insert(
        FIRST.to_string(),
        NumberFaults {
            duplicate: 2,
            bump_last_update_secs: 5,
            ..Default::default()
        },
    );
    numbers.insert(
        SECOND.to_string(),
        NumberFaults {
            delay_secs: 300.0,
            ..Default::default()
        },
    );
    numbers.insert(
        THIRD.to_string(),
        NumberFaults {
            drop: true,
            ..Default::default()
        },
    );
    let faults = CtrFaults {
        numbers,
        ..CtrFaults::default()
    };
    let Some(mut env) = start(
        "ctrfaults",
        &roster(policies),
        &personas(PRESS_1, PRESS_1, PRESS_1),
        faults,
    )
    .await
    else {
        return;
    };
    // A contact centre shares the instance: its records have no rd_ attributes.
    let foreign = serde_json::json!({
        "AWSContactTraceRecordFormatVersion": "2017-03-10", "ContactId": "foreign-1", "Channel": "VOICE",
        "InitiationMethod": "INBOUND", "DisconnectReason": "CUSTOMER_DISCONNECT", "Attributes": {"customer": "x"},
        "LastUpdateTimestamp": "2026-11-22T00:00:00Z"
    });
    env.put_contact_record("foreign-1", &foreign).await;
    env.spawn("a");
    for s in ["dup", "late", "dropped"] {
        env.send(webhook(s, 0, 1, "firing")).await;
    }
    env.until("3 acknowledged", Duration::from_secs(90), || async {
        let p = env.phases().await;
        p.len() == 3 && p.iter().all(|p| *p == Phase::Acknowledged)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut d = env.destinations();
    d.sort();
    assert_eq!(
        d,
        [FIRST, SECOND, THIRD],
        "each engineer called exactly once"
    );
    for inc in env.incidents().await {
        assert_eq!(outcomes(&inc), ["ACKNOWLEDGED"], "{}", inc.group_key);
    }
    // The contact centre's record was read and left alone, not mistaken
    // for a call of ringdown's.
    let metrics = env.metrics_text("a").await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("ringdown_ctr_foreign_total") && l.ends_with(" 1")),
        "one foreign record counted:\n{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unparseable_message_goes_to_the_dlq_with_its_reason_and_the_worker_keeps_going() {
    let Some(mut env) = start(
        "dlq",
        &roster(""),
        &personas(PRESS_1, PRESS_1, PRESS_1),
        CtrFaults::default(),
    )
    .await
    else {
        return;
    };
    env.spawn("a");
    env.send("{\"this is\": \"not an alert\"}".into()).await;
    env.send(webhook("web", 0, 1, "firing")).await;
    env.until("acknowledged", LONG, || async {
        env.phases().await == [Phase::Acknowledged]
    })
    .await;
    let got = env
        .sqs()
        .receive_message()
        .queue_url(&env.report.dlq_url)
        .message_attribute_names("All")
        .wait_time_seconds(2)
        .send()
        .await
        .unwrap();
    let msg = got
        .messages()
        .first()
        .expect("the bad message is in the DLQ");
    assert_eq!(msg.body(), Some("{\"this is\": \"not an alert\"}"));
    let reason = msg
        .message_attributes()
        .unwrap()
        .get("ringdown_reason")
        .unwrap()
        .string_value()
        .unwrap();
    assert_eq!(reason, "unknown_format");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_lists_the_dead_letter_queue_and_sends_back_what_the_queue_moved() {
    let Some(mut env) = start(
        "dlqcli",
        &roster(""),
        &personas(PRESS_1, PRESS_1, PRESS_1),
        CtrFaults::default(),
    )
    .await
    else {
        return;
    };
    env.spawn("a");
    env.send("{\"this is\": \"not an alert\"}".into()).await;
    env.until("the bad message dead-lettered", LONG, || async {
        env.queue_depth(&env.report.dlq_url).await == 1
    })
    .await;
    // A live alert the queue itself moved there (too many receives during
    // an outage, say): no ringdown reason.
    env.sqs()
        .send_message()
        .queue_url(&env.report.dlq_url)
        .message_body(webhook("db", 0, 1, "firing"))
        .send()
        .await
        .unwrap();
    let listed = env.cli(&["dlq", "list", "--output", "json"]);
    let listed: Vec<serde_json::Value> = serde_json::from_str(&listed).unwrap();
    assert_eq!(listed.len(), 2, "{listed:#?}");
    assert!(listed.iter().any(|d| d["reason"] == "unknown_format"
        && d["body_preview"].as_str().unwrap().contains("not an alert")));
    assert!(listed.iter().any(|d| d["reason"].is_null()));
    // Sent back: only the live alert, which pages; the unparseable one stays.
    tokio::time::sleep(Duration::from_secs(6)).await; // listing hid them 5 s
    let out = env.cli(&["dlq", "redrive"]);
    assert!(out.contains("1 message(s) sent back"), "{out}");
    env.until("the redriven alert acknowledged", LONG, || async {
        env.phases().await == [Phase::Acknowledged]
    })
    .await;
    // The unparseable one is still there (in flight counts).
    assert_eq!(env.queue_depth(&env.report.dlq_url).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_one_killed_mid_escalation_the_other_takes_over_and_no_call_is_doubled() {
    let ring = r#"never_answers"#;
    let roster_yaml = roster("").replace(
        "      - targets: [person:first]\n        attempts: 1",
        "      - targets: [person:first]\n        attempts: 2\n        retry_after_secs: 8",
    );
    let Some(mut env) = start(
        "replicas",
        &roster_yaml,
        &personas(ring, PRESS_1, PRESS_1),
        CtrFaults::default(),
    )
    .await
    else {
        return;
    };
    env.spawn("a");
    env.spawn("b");
    env.send(webhook("web", 0, 1, "firing")).await;
    env.until("the first call", LONG, || async {
        !env.destinations().is_empty()
    })
    .await;
    let owner = env.stored_incidents().await[0]
        .owner
        .clone()
        .expect("an owner");
    let other = if owner == "a" { "b" } else { "a" };
    env.kill9(&owner);
    env.until(
        "acknowledged by the second engineer",
        Duration::from_secs(120),
        || async { env.phases().await == [Phase::Acknowledged] },
    )
    .await;
    let inc = &env.stored_incidents().await[0];
    assert_eq!(
        inc.owner.as_deref(),
        Some(other),
        "the survivor drove it to the end"
    );
    let calls = env.sim.calls();
    let tokens: BTreeSet<_> = calls.iter().map(|c| c.client_token.clone()).collect();
    assert_eq!(tokens.len(), calls.len(), "no ClientToken used twice");
    let d = env.destinations();
    assert_eq!(d.iter().filter(|x| *x == FIRST).count(), 2, "{d:?}");
    assert_eq!(d.iter().filter(|x| *x == SECOND).count(), 1, "{d:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_a_storm_and_restart_loses_no_alert_and_doubles_no_call() {
    let Some(mut env) = start(
        "crash",
        &roster(""),
        &personas(PRESS_1, PRESS_1, PRESS_1),
        CtrFaults::default(),
    )
    .await
    else {
        return;
    };
    let mut bodies = Vec::new();
    for m in 0..30 {
        let system = ["web", "db", "payments"][m % 3];
        bodies.push(webhook(system, m * 10, 10, "firing"));
    }
    env.spawn("a");
    env.send_batch(bodies).await;
    for delay_ms in [700u64, 1500, 2500] {
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        env.kill9("a");
        env.spawn("a");
    }
    env.until(
        "every alert grouped, the 3 incidents and their storm acknowledged",
        Duration::from_secs(120),
        || async {
            let incs = env.incidents().await;
            incs.len() == 4
                && incs.iter().all(|i| i.phase == Phase::Acknowledged)
                && incs.iter().map(|i| i.firing.len()).sum::<usize>() == 300
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let calls = env.sim.calls();
    let tokens: BTreeSet<_> = calls.iter().map(|c| c.client_token.clone()).collect();
    assert_eq!(tokens.len(), calls.len(), "no ClientToken used twice");
    assert_eq!(
        calls.len(),
        1,
        "one call for the outage: {:?}",
        env.destinations()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_aws_the_operations_endpoints_listen_apart_from_the_ingest() {
    let Some(mut env) = start(
        "opsapart",
        &roster(""),
        &personas(PRESS_1, PRESS_1, PRESS_1),
        CtrFaults::default(),
    )
    .await
    else {
        return;
    };
    env.spawn("a");
    env.until("the daemon serves", LONG, || async {
        env.ops_addr("a").is_some() && env.log("a").contains("POST alerts to http://")
    })
    .await;
    let ops = env.ops_addr("a").unwrap();
    let log = env.log("a");
    let ingest = log
        .lines()
        .find_map(|l| l.split("POST alerts to http://").nth(1))
        .and_then(|r| r.split('/').next())
        .unwrap()
        .to_string();
    assert_ne!(ops, ingest);
    assert!(get(&ops, "/metrics").await.starts_with("HTTP/1.1 200"));
    assert!(get(&ingest, "/metrics").await.starts_with("HTTP/1.1 404"));
    assert!(get(&ops, "/console/now").await.starts_with("HTTP/1.1 200"));
    assert!(get(&ingest, "/console/now")
        .await
        .starts_with("HTTP/1.1 404"));
    assert!(!get(&ops, "/v1/alerts").await.starts_with("HTTP/1.1 2"));
}

/// One `GET` over HTTP/1.1: the whole answer, status line first.
async fn get(addr: &str, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

/// Alerts `first..first + n` of `system`, Alertmanager-style; the first
/// three of the message carry a 16 KiB summary (runbook text pasted into
/// the annotation), which the incident's timeline must not keep whole.
fn wordy_webhook(system: &str, first: usize, n: usize, status: &str) -> String {
    let alerts: Vec<serde_json::Value> = (first..first + n)
        .map(|i| {
            let summary = if i - first < 3 {
                format!(
                    "latency high on {system}-{i:05}: {}",
                    "runbook ".repeat(2000)
                )
            } else {
                format!("latency high on {system}-{i:05}")
            };
            serde_json::json!({
                "status": status,
                "labels": storm_labels(system, i),
                "annotations": {"summary": summary},
                "startsAt": "2026-11-22T00:00:00Z", "endsAt": "0001-01-01T00:00:00Z"
            })
        })
        .collect();
    serde_json::json!({"version": "4", "status": status, "receiver": "ringdown", "groupKey": system, "alerts": alerts})
        .to_string()
}

fn storm_labels(system: &str, i: usize) -> ringdown_core::Labels {
    [
        ("alertname", "HighLatency".to_string()),
        ("systemname", system.to_string()),
        ("instance", format!("{system}-{i:05}")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_of_25000_alerts_and_a_3_kb_label_value_poison_neither_their_group_nor_their_batch(
) {
    let mut opts = StageOptions::new(
        "bigincident",
        env!("CARGO_BIN_EXE_ringdown"),
        &roster(""),
        &personas(PRESS_1, PRESS_1, PRESS_1),
    );
    opts.time_scale = 20.0;
    // Alertmanager resends a firing alert within its repeat_interval; here
    // the test plays Alertmanager and resends within seconds.
    let opts = opts.config("[escalation]\nuntracked_quiet_secs = 20\n");
    let Some(mut env) = Env::start(opts).await else {
        return;
    };
    // One SQS batch: a system whose name is 3 KB long (its group key is
    // past DynamoDB's 2,048-byte key limit), and nine healthy systems.
    let long_name = format!("a{}", "x".repeat(3000));
    let mut first_batch = vec![webhook(&long_name, 0, 1, "firing")];
    first_batch.extend((1..=9).map(|i| webhook(&format!("sys{i}"), 0, 1, "firing")));
    env.send_batch(first_batch).await;
    env.spawn("a");
    // Ten systems reaching one person: ten incidents and their storm.
    let systems = || async {
        env.incidents()
            .await
            .into_iter()
            .filter(|i| i.storm.is_none())
            .count()
    };
    env.until("an incident for each of the ten systems", LONG, || async {
        systems().await == 10
    })
    .await;
    let long = env
        .incidents()
        .await
        .into_iter()
        .find(|i| i.group_labels.get("systemname") == Some(&long_name))
        .expect("the 3 KB system has its incident, labels whole");
    assert!(long.group_key.len() <= 1024, "{}", long.group_key.len());

    // 25,000 firing alerts of one system, 500 a message.
    for m in 0..50 {
        env.send(wordy_webhook("storm", m * 500, 500, "firing"))
            .await;
    }
    let storm = || async {
        env.incidents()
            .await
            .into_iter()
            .find(|i| i.group_labels.get("systemname").map(String::as_str) == Some("storm"))
    };
    env.until(
        "all 25,000 alerts in one incident",
        Duration::from_secs(180),
        || async { storm().await.is_some_and(|i| i.alerts_received >= 25_000) },
    )
    .await;
    env.until("the queue drained", LONG, || async {
        env.queue_depth(&env.report.queue_url).await == 0
    })
    .await;
    assert_eq!(
        env.queue_depth(&env.report.dlq_url).await,
        0,
        "alerts were dead-lettered"
    );
    assert_eq!(systems().await, 11, "the outage opened a second incident");
    env.until("the outage acknowledged", LONG, || async {
        storm()
            .await
            .is_some_and(|i| i.phase == Phase::Acknowledged)
    })
    .await;
    let inc = storm().await.unwrap();
    assert_eq!(inc.firing.len(), 5000);
    assert!(inc.untracked_alerts >= 20_000, "{}", inc.untracked_alerts);
    let stored = serde_json::to_vec(&inc).unwrap().len();
    assert!(stored < 300_000, "stored incident of {stored} bytes");

    // Everything resolves but ten alerts the incident could not track.
    let still: Vec<usize> = (0..25_000)
        .filter(|i| {
            !inc.firing
                .contains(&ringdown_core::fingerprint::Fingerprint(
                    ringdown_core::fingerprint::fingerprint_u64(&storm_labels("storm", *i)),
                ))
        })
        .take(10)
        .collect();
    for m in 0..50 {
        let resolved: Vec<usize> = (m * 500..m * 500 + 500)
            .filter(|i| !still.contains(i))
            .collect();
        let alerts: Vec<serde_json::Value> = resolved
            .iter()
            .map(|i| {
                serde_json::json!({"status": "resolved", "labels": storm_labels("storm", *i),
                    "annotations": {}, "startsAt": "2026-11-22T00:00:00Z", "endsAt": "2026-11-22T01:00:00Z"})
            })
            .collect();
        env.send(
            serde_json::json!({"version": "4", "status": "resolved", "alerts": alerts}).to_string(),
        )
        .await;
    }
    env.until(
        "the tracked alerts resolved",
        Duration::from_secs(120),
        || async { storm().await.is_some_and(|i| i.firing.is_empty()) },
    )
    .await;
    let inc = storm().await.unwrap();
    assert_eq!(
        inc.phase,
        Phase::Acknowledged,
        "resolved while ten alerts still fire: their next notification pages from step 1"
    );
    // Alertmanager sends the ten again: they join the acknowledged incident.
    let ten = |status: &str| {
        let alerts: Vec<serde_json::Value> = still
            .iter()
            .map(|i| {
                serde_json::json!({"status": status, "labels": storm_labels("storm", *i),
                "annotations": {"summary": "still slow"}, "startsAt": "2026-11-22T00:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z"})
            })
            .collect();
        serde_json::json!({"version": "4", "status": status, "alerts": alerts}).to_string()
    };
    env.send(ten("firing")).await;
    env.until("the ten tracked", LONG, || async {
        storm().await.is_some_and(|i| i.firing.len() == 10)
    })
    .await;
    env.send(ten("resolved")).await;
    env.until(
        "the outage resolved once quiet",
        Duration::from_secs(120),
        || async { storm().await.is_some_and(|i| i.phase == Phase::Resolved) },
    )
    .await;
    assert_eq!(systems().await, 11, "a second incident was opened");
    // One call for everything: the ten systems' storm, which the outage
    // joined while acknowledged.
    assert_eq!(
        env.sim.calls().len(),
        1,
        "the acknowledgement was lost: the outage paged again"
    );
}

/// Everyone of a step at once, and steps taking turns, on AWS. Calls
/// run at 20x; `coalesce_secs: 0` lets a person acknowledged seconds ago be
/// rung for the next incident at once (real time would wait 3 minutes).
fn ring_all_roster() -> String {
    with_storm(
        "storm: { coalesce_secs: 0 }",
        roster(
            r#"
  - name: rr
    match: { team: rr }
    group_by: [systemname]
    group_wait_secs: 0
    steps:
      - targets: [person:first, person:second, person:third]
        mode: round_robin
  - name: all
    match: { team: all }
    group_by: [systemname]
    group_wait_secs: 0
    steps:
      - targets: [person:first]
      - targets: [person:second, person:third]
        mode: all
"#,
        ),
    )
}

fn team_webhook(team: &str, system: &str) -> String {
    webhook(system, 0, 1, "firing").replace(
        "\"systemname\":",
        &format!("\"team\": \"{team}\", \"systemname\":"),
    )
}

fn stopped_people(inc: &ringdown_core::escalation::Incident) -> Vec<String> {
    inc.history
        .iter()
        .filter_map(|h| match &h.kind {
            HistoryKind::CallStopped { person, .. } => Some(person.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_aws_a_ring_all_step_rings_both_and_the_first_to_press_1_hangs_up_the_other() {
    let Some(mut env) = start_scaled(
        "ringall",
        &ring_all_roster(),
        &personas(VOICEMAIL, PRESS_1, r#"never_answers"#),
        CtrFaults::default(),
        4.0,
    )
    .await
    else {
        return;
    };
    env.spawn("a");
    assert!(team_webhook("all", "web").contains("\"team\": \"all\""));
    env.send(team_webhook("all", "web")).await;
    env.until("second acknowledged", LONG, || async {
        env.phases().await == [Phase::Acknowledged]
    })
    .await;
    let inc = env.incidents().await.remove(0);
    assert_eq!(inc.acked_by.as_deref(), Some("second"));
    assert_eq!(stopped_people(&inc), ["third"]);
    env.until("third's call hung up", LONG, || async {
        env.sim.calls().iter().any(|c| {
            c.destination_phone_number == THIRD && c.disconnect_reason.as_deref() == Some("API")
        })
    })
    .await;
    let mut rung = env.destinations();
    rung[1..].sort();
    assert_eq!(rung, [FIRST, SECOND, THIRD]);
    let calls = env.sim.calls();
    assert!(
        (calls[2].initiated_unix_ms - calls[1].initiated_unix_ms).abs() < 2000,
        "second and third rung at once"
    );
    assert!(env.stop("a").success(), "{}", env.log("a"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_aws_round_robin_takes_turns_across_incidents_through_dynamodb() {
    let Some(mut env) = start(
        "roundrobin",
        &ring_all_roster(),
        &personas(PRESS_1, PRESS_1, PRESS_1),
        CtrFaults::default(),
    )
    .await
    else {
        return;
    };
    env.spawn("a");
    for (i, system) in ["web", "db", "batch", "mail"].iter().enumerate() {
        env.send(team_webhook("rr", system)).await;
        env.until("acknowledged", LONG, || async {
            env.phases()
                .await
                .iter()
                .filter(|p| **p == Phase::Acknowledged)
                .count()
                == i + 1
        })
        .await;
    }
    assert_eq!(env.destinations(), [FIRST, SECOND, THIRD, FIRST]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_aws_an_acknowledgement_from_the_cli_hangs_up_the_ringing_phone_and_nobody_else_is_rung()
{
    const TOKEN: &str = "a-long-ingest-token-for-the-test";
    // Real time: the first engineer's phone rings for a whole minute.
    let Some(mut env) = start_scaled(
        "cliack",
        &roster(""),
        &personas("never_answers", PRESS_1, PRESS_1),
        CtrFaults::default(),
        1.0,
    )
    .await
    else {
        return;
    };
    let moto = env.moto.clone();
    env.spawn_with("a", &moto, &[("RINGDOWN_HTTP_TOKEN", TOKEN)]);
    env.send(webhook("web", 0, 1, "firing")).await;
    env.until("the first engineer's phone rings", LONG, || async {
        env.incidents()
            .await
            .iter()
            .any(|i| i.call.as_ref().is_some_and(|c| c.contact_id.is_some()))
    })
    .await;
    let id = env.incidents().await[0].id.clone();
    let ingest = env
        .log("a")
        .lines()
        .find_map(|l| l.split("POST alerts to http://").nth(1))
        .and_then(|r| r.split('/').next())
        .unwrap()
        .to_string();
    let url = format!("http://{ingest}");
    let out = env.cli_with(
        &["incident", "ack", &id, "--by", "third", "--daemon", &url],
        &[("RINGDOWN_HTTP_TOKEN", TOKEN)],
    );
    assert!(
        out.contains("acknowledged (acknowledged by third)"),
        "{out}"
    );
    assert!(out.contains("call to first hung up"), "{out}");
    env.until("the ringing call ended by StopContact", LONG, || async {
        env.sim.calls()[0].disconnect_reason.as_deref() == Some("API")
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(env.destinations(), [FIRST], "nobody else is rung");
    assert_eq!(env.phases().await, [Phase::Acknowledged]);
    assert!(env.stop("a").success(), "{}", env.log("a"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_aws_the_engineer_who_acknowledged_is_rung_again_while_it_still_fires() {
    let roster_yaml = roster("").replace(
        "  - name: default\n    group_by: [systemname]\n    group_wait_secs: 0\n",
        "  - name: default\n    group_by: [systemname]\n    group_wait_secs: 0\n    ack_timeout_secs: 60\n",
    );
    assert!(roster_yaml.contains("ack_timeout_secs: 60"));
    let Some(mut env) = start(
        "acktimeout",
        &roster_yaml,
        &personas(PRESS_1, PRESS_1, PRESS_1),
        CtrFaults::default(),
    )
    .await
    else {
        return;
    };
    env.spawn("a");
    env.send(webhook("web", 0, 1, "firing")).await;
    env.until(
        "the first engineer is reminded",
        Duration::from_secs(150),
        || async {
            env.sim
                .calls()
                .iter()
                .filter(|c| c.state == "ENDED")
                .count()
                >= 2
        },
    )
    .await;
    assert_eq!(env.destinations(), [FIRST, FIRST], "the acker, nobody else");
    let reminder = &env.sim.calls()[1];
    assert!(
        reminder.attributes["rd_message"]
            .contains("You acknowledged this a minute ago and it is still firing."),
        "{:?}",
        reminder.attributes.get("rd_message")
    );
    assert_ne!(env.sim.calls()[0].client_token, reminder.client_token);
    env.until("acknowledged again", LONG, || async {
        env.incidents().await[0]
            .history
            .iter()
            .filter(|h| matches!(h.kind, HistoryKind::Acknowledged { .. }))
            .count()
            == 2
    })
    .await;
    assert!(env.stop("a").success(), "{}", env.log("a"));
}
