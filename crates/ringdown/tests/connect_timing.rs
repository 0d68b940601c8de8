//! ringdown on Amazon Connect's real timing, end to end: real `ringdown run`
//! processes, SQS, DynamoDB, Kinesis and EventBridge in moto, calls in
//! connect-sim with its strict defaults (contact records 60-120 s late,
//! contact events best effort, a ClientToken that starts a new call once its
//! contact ended). Time runs 20x on both sides.
//!
//! Needs `RINGDOWN_TEST_MOTO_URL` (`eval "$(tests/emulators.sh start)"`).

use ringdown_core::escalation::Phase;
use ringdown_proof::alerts::{outcomes, webhook};
use ringdown_proof::personas::{FIRST, PRESS_1, SECOND, THIRD, VOICEMAIL};
use ringdown_proof::{Stage, StageOptions};
use std::collections::BTreeMap;
use std::time::Duration;

fn roster() -> String {
    format!(
        r#"
timezone: UTC
people:
  first:  {{ language: en-US, phones: [{{ number: "{FIRST}" }}] }}
  second: {{ language: en-US, phones: [{{ number: "{SECOND}" }}] }}
policies:
  - name: default
    group_by: [systemname]
    group_wait_secs: 0
    steps:
      - targets: [person:first]
      - targets: [person:second]
"#
    )
}

fn options(test: &str, first: &str) -> StageOptions {
    StageOptions::new(
        test,
        env!("CARGO_BIN_EXE_ringdown"),
        &roster(),
        &ringdown_proof::personas::book(first, PRESS_1, PRESS_1),
    )
}

const LONG: Duration = Duration::from_secs(90);

/// One contact per ClientToken: one ring per call decision (Connect starts
/// a new call for a token whose contact has ended).
fn assert_no_call_rang_twice(stage: &Stage) {
    let mut per_token: BTreeMap<String, usize> = BTreeMap::new();
    for c in stage.sim.calls() {
        *per_token
            .entry(c.client_token.unwrap_or_default())
            .or_default() += 1;
    }
    let twice: Vec<_> = per_token.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "rang twice: {twice:?}");
}

async fn all_acknowledged(stage: &Stage, n: usize) -> bool {
    let p = stage.phases().await;
    p.len() == n && p.iter().all(|p| *p == Phase::Acknowledged)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_between_connect_placing_the_call_and_storing_it_then_restarted_after_the_call_ended_rings_nobody_twice(
) {
    // Events off, so the restart, not an event, is the first to learn of
    // the call: it must find it with SearchContacts before dialling again.
    let mut opts = options("window-ended", VOICEMAIL);
    opts.event_drop_probability = 1.0;
    let Some(mut stage) = Stage::start(opts).await else {
        return;
    };
    // Connect places the call but answers only 30 s later: the daemon dies
    // waiting, with its intent stored and no contact id.
    stage.sim.hold_next(1, Duration::from_secs(30));
    stage.spawn("a");
    stage.send(webhook("web", 0, 1, "firing")).await;
    stage
        .until("the call is placed", LONG, || async {
            stage.sim.calls().len() == 1
        })
        .await;
    let first = stage.sim.calls()[0].contact_id.clone();
    stage
        .sim
        .wait_ended(&first, Duration::from_secs(10))
        .await
        .expect("the voicemail call ends");
    // Past the search index's delay (5 simulated seconds).
    tokio::time::sleep(Duration::from_millis(600)).await;
    stage.kill9("a");
    stage.spawn("a");
    stage
        .until("the second engineer acknowledged", LONG, || async {
            all_acknowledged(&stage, 1).await
        })
        .await;
    assert_eq!(stage.destinations(), [FIRST, SECOND]);
    assert_no_call_rang_twice(&stage);
    assert!(
        stage
            .log("a")
            .contains("the call was placed by an earlier attempt: not dialling again"),
        "found with SearchContacts"
    );
    let inc = &stage.incidents().await[0];
    assert_eq!(outcomes(inc), ["UNREACHABLE", "ACKNOWLEDGED"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_between_connect_placing_the_call_and_storing_it_then_restarted_while_it_rings_rings_nobody_twice(
) {
    // She takes 30 s to pick up: the restart finds the call still ringing,
    // where only the ClientToken (not search) knows it.
    let slow = r#"{ answer_after_secs: 30, keys: [{key: "5", delay_secs: 1}, {key: "1", delay_secs: 1}] }"#;
    let Some(mut stage) = Stage::start(options("window-live", slow)).await else {
        return;
    };
    stage.sim.hold_next(1, Duration::from_secs(30));
    stage.spawn("a");
    stage.send(webhook("web", 0, 1, "firing")).await;
    stage
        .until("the call is placed", LONG, || async {
            stage.sim.calls().len() == 1
        })
        .await;
    stage.kill9("a");
    stage.spawn("a");
    stage
        .until("the first engineer acknowledged", LONG, || async {
            all_acknowledged(&stage, 1).await
        })
        .await;
    assert_eq!(stage.destinations(), [FIRST]);
    assert_no_call_rang_twice(&stage);
    assert_eq!(outcomes(&stage.incidents().await[0]), ["ACKNOWLEDGED"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_restarted_under_a_new_name_follows_the_calls_still_waiting_for_a_live_call_slot()
{
    // One live call at a time and calls of ~60 s: two of three incidents
    // wait in line when the replica dies. Each system pages its own
    // engineer: three incidents for one person would be one storm, one call.
    let slow = r#"{ answer_after_secs: 45, keys: [{key: "5", delay_secs: 1}, {key: "1", delay_secs: 1}] }"#;
    let roster = format!(
        r#"
timezone: UTC
people:
  first:  {{ language: en-US, phones: [{{ number: "{FIRST}" }}] }}
  second: {{ language: en-US, phones: [{{ number: "{SECOND}" }}] }}
  third:  {{ language: en-US, phones: [{{ number: "{THIRD}" }}] }}
policies:
  - {{ name: db, match: {{ systemname: db }}, group_by: [systemname], group_wait_secs: 0, steps: [{{ targets: [person:first] }}] }}
  - {{ name: web, match: {{ systemname: web }}, group_by: [systemname], group_wait_secs: 0, steps: [{{ targets: [person:second] }}] }}
  - {{ name: mq, match: {{ systemname: mq }}, group_by: [systemname], group_wait_secs: 0, steps: [{{ targets: [person:third] }}] }}
"#
    );
    let opts = StageOptions::new(
        "renamed",
        env!("CARGO_BIN_EXE_ringdown"),
        &roster,
        &ringdown_proof::personas::book(slow, slow, slow),
    )
    .config(
        "[dialer]\nmax_live_calls = 1\n[escalation]\nqueued_check_secs = 2\ntakeover_after_secs = 2\n",
    );
    let Some(mut stage) = Stage::start(opts).await else {
        return;
    };
    stage.spawn("ringdown-host-1234");
    stage
        .send_batch(
            ["db", "web", "mq"]
                .iter()
                .map(|s| webhook(s, 0, 1, "firing"))
                .collect(),
        )
        .await;
    stage
        .until("the first call is placed", LONG, || async {
            stage.sim.calls().len() == 1
        })
        .await;
    // The three alerts are three SQS messages, which may come in more than
    // one receive: wait until every incident has decided its call.
    stage
        .until(
            "two calls wait for the one live-call slot",
            Duration::from_secs(20),
            || async {
                let queued = stage
                    .incidents()
                    .await
                    .into_iter()
                    .filter(|i| i.call.as_ref().is_some_and(|c| c.dialled_at.is_none()))
                    .count();
                queued == 2 && stage.sim.calls().len() == 1
            },
        )
        .await;
    stage.kill9("ringdown-host-1234");
    stage.spawn("ringdown-host-5678");
    stage
        .until("all three acknowledged", LONG, || async {
            all_acknowledged(&stage, 3).await
        })
        .await;
    let mut rung = stage.destinations();
    rung.sort();
    assert_eq!(rung, [FIRST, SECOND, THIRD]);
    assert_no_call_rang_twice(&stage);
    for inc in stage.incidents().await {
        assert_eq!(
            outcomes(&inc),
            ["ACKNOWLEDGED"],
            "nothing timed out in line"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outcomes_come_from_contact_events_and_from_connect_itself_when_every_event_is_lost() {
    for (drop, name) in [(0.0, "events-on"), (1.0, "events-lost")] {
        let mut opts = options(name, VOICEMAIL);
        opts.event_drop_probability = drop;
        let Some(mut stage) = Stage::start(opts).await else {
            return;
        };
        stage.spawn("a");
        stage.send(webhook("web", 0, 1, "firing")).await;
        stage
            .until("the second engineer acknowledged", LONG, || async {
                all_acknowledged(&stage, 1).await
            })
            .await;
        assert_eq!(stage.destinations(), [FIRST, SECOND], "{name}");
        let metrics = stage.metrics_text("a").await;
        let from_events = metrics
            .lines()
            .find(|l| l.starts_with("ringdown_contact_events_total{result=\"outcome\"}"))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
        if drop == 0.0 {
            assert!(
                from_events >= 2.0,
                "both outcomes from events: {from_events}"
            );
        } else {
            assert_eq!(from_events, 0.0, "no event arrived");
            let log = stage.log("a");
            assert!(
                log.contains("outcome taken from DescribeContact")
                    || log.contains("ringdown_aws::kinesis: contact record"),
                "from a look-up or the contact record"
            );
        }
        assert_no_call_rang_twice(&stage);
    }
}
