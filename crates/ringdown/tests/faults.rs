//! The fault suite: ringdown on moto and connect-sim while things break.
//! For every fault the same three things are asserted, never eyeballed:
//! nothing is lost (every alert ends up in an incident, the queues drain),
//! no call is doubled (each incident rings exactly the people its escalation
//! calls for, once each), and escalation resumes once the fault is over.
//!
//! Contact records duplicated, delayed five minutes, dropped and foreign are
//! in `aws_e2e.rs` (`duplicate_late_dropped_and_foreign_contact_records`);
//! clock steps are proven on a virtual clock in the binary's unit tests
//! (`clock_jumps`); a replica whose clock disagrees with the others runs here
//! under libfaketime (Debian's `faketime`, which `tests/run.sh` installs).
//!
//! Needs `RINGDOWN_TEST_MOTO_URL` (`eval "$(tests/emulators.sh start)"`).

use connect_sim::CtrFaults;
use rand::{Rng, SeedableRng};
use ringdown_core::escalation::{Incident, Phase};
use ringdown_proof::alerts::{outcomes, webhook};
use ringdown_proof::personas::{FIRST, PRESS_1, SECOND, VOICEMAIL};
use ringdown_proof::{FaultProxy, ProxyMode, Stage, StageOptions};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

fn personas(first: &str, second: &str) -> String {
    ringdown_proof::personas::book(first, second, PRESS_1)
}

fn options(test: &str, first: &str, second: &str) -> StageOptions {
    StageOptions::new(
        test,
        env!("CARGO_BIN_EXE_ringdown"),
        &ringdown_proof::personas::one_after_another(),
        &personas(first, second),
    )
}

/// Every alert grouped, every incident acknowledged, the queue and the DLQ
/// empty, and each outage rang exactly `expected` (in order): an incident
/// on its own, or a storm with its members (a member's call that was
/// ringing when the storm formed is the storm's first).
async fn assert_nothing_lost_nothing_doubled(
    stage: &Stage,
    alerts: usize,
    incidents: usize,
    expected: &[&str],
) {
    let expected: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    assert_each_outage_rang(stage, alerts, incidents, |_| expected.clone()).await
}

/// As [`assert_nothing_lost_nothing_doubled`], with the numbers each
/// outage must ring given by `expected`.
async fn assert_each_outage_rang(
    stage: &Stage,
    alerts: usize,
    incidents: usize,
    expected: impl Fn(&Incident) -> Vec<String>,
) {
    stage
        .until(
            "every alert grouped and every incident acknowledged",
            Duration::from_secs(240),
            || async {
                let incs = stage.incidents().await;
                incs.iter().filter(|i| i.storm.is_none()).count() == incidents
                    && incs.iter().all(|i| i.phase == Phase::Acknowledged)
                    && incs.iter().map(|i| i.firing.len()).sum::<usize>() == alerts
            },
        )
        .await;
    stage
        .until("the queue drained", Duration::from_secs(60), || async {
            stage.queue_depth(&stage.report.queue_url).await == 0
        })
        .await;
    assert_eq!(
        stage.queue_depth(&stage.report.dlq_url).await,
        0,
        "no alert dead-lettered"
    );
    // Calls still in flight would show up late: give them a moment.
    tokio::time::sleep(Duration::from_secs(2)).await;
    // Amazon Connect starts a new call for a ClientToken whose contact has
    // ended: one contact per token is one ring per call decision.
    let mut per_token: BTreeMap<String, usize> = BTreeMap::new();
    for c in stage.sim.calls() {
        *per_token
            .entry(c.client_token.unwrap_or_default())
            .or_default() += 1;
    }
    let rung_twice: Vec<_> = per_token.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        rung_twice.is_empty(),
        "a call decision rang twice: {rung_twice:?}"
    );
    let incs: Vec<Incident> = stage.incidents().await;
    let owner: BTreeMap<&str, &str> = incs
        .iter()
        .map(|i| (i.id.as_str(), i.member_of.as_deref().unwrap_or(&i.id)))
        .collect();
    // In the order Connect was asked, each call counted to its outage.
    let mut by_incident: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for c in stage.sim.calls() {
        let inc = c.attributes.get("rd_incident").cloned().unwrap_or_default();
        let o = owner.get(inc.as_str()).copied().unwrap_or(&inc).to_string();
        by_incident
            .entry(o)
            .or_default()
            .push(c.destination_phone_number);
    }
    let outages: Vec<&Incident> = incs.iter().filter(|i| i.member_of.is_none()).collect();
    assert_eq!(
        by_incident.len(),
        outages.len(),
        "calls for exactly the outages: {by_incident:?}"
    );
    for inc in outages {
        assert_eq!(
            by_incident.get(&inc.id).map(Vec::as_slice).unwrap_or(&[]),
            expected(inc),
            "incident {} ({}) outcomes {:?}\ntimeline:\n{}\nlogs:\n{}",
            inc.id,
            inc.group_key,
            outcomes(inc),
            inc.history
                .iter()
                .map(|h| format!("  {} {:?}", h.at.format("%H:%M:%S%.3f"), h.kind))
                .collect::<Vec<_>>()
                .join("\n"),
            stage.logs_tail(40)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_is_unreachable_for_60_seconds_mid_storm_and_escalation_resumes_with_nothing_lost_or_doubled(
) {
    let Some(mut stage) = Stage::start(options("outage", VOICEMAIL, PRESS_1)).await else {
        return;
    };
    let upstream = stage
        .moto
        .trim_start_matches("http://")
        .parse()
        .expect("moto address");
    let proxy = FaultProxy::start(upstream).await.unwrap();
    stage.spawn_via("a", &proxy.url());
    // Three systems break: one outage, one call to the first engineer.
    let first_wave: Vec<String> = (0..30)
        .map(|m| webhook(&format!("sys{}", m % 3), m * 5, 5, "firing"))
        .collect();
    stage.send_batch(first_wave).await;
    stage
        .until("the first call", Duration::from_secs(60), || async {
            !stage.sim.calls().is_empty()
        })
        .await;
    // AWS goes away while the first engineer's phones ring: the outcomes
    // and the escalation to the second engineer must wait for it.
    proxy.set(ProxyMode::Down).await.unwrap();
    let second_wave: Vec<String> = (30..60)
        .map(|m| webhook(&format!("sys{}", m % 4), m * 5, 5, "firing"))
        .collect();
    stage.send_batch(second_wave).await;
    tokio::time::sleep(Duration::from_secs(60)).await;
    let log = stage.log("a");
    assert!(
        stage.pid("a").is_some(),
        "the daemon is still there:\n{log}"
    );
    assert!(
        log.contains("sqs receive failed") || log.contains("not receiving alerts"),
        "it said AWS was unreachable:\n{log}"
    );
    proxy.set(ProxyMode::Up).await.unwrap();
    // sys3 only broke during the outage; it joins the storm.
    assert_nothing_lost_nothing_doubled(&stage, 300, 4, &[FIRST, SECOND]).await;
    for inc in stage.incidents().await {
        if inc.member_of.is_none() {
            assert_eq!(outcomes(&inc), ["UNREACHABLE", "ACKNOWLEDGED"]);
        }
    }
    assert!(stage.stop("a").success(), "{}", stage.log("a"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_freezes_for_longer_than_the_request_timeout_and_the_worker_carries_on_instead_of_hanging(
) {
    // Requests time out after 3 s; AWS stops answering for 20 s, and the
    // connections it froze are never answered nor closed, not even after.
    let opts = options("freeze", PRESS_1, PRESS_1)
        .config("[aws.timeouts]\nconnect_timeout_ms = 1000\nrequest_timeout_ms = 3000\n");
    let Some(mut stage) = Stage::start(opts).await else {
        return;
    };
    let upstream = stage.moto.trim_start_matches("http://").parse().unwrap();
    let proxy = FaultProxy::start(upstream).await.unwrap();
    stage.spawn_via("a", &proxy.url());
    stage.send(webhook("sys0", 0, 5, "firing")).await;
    stage
        .until("the first call", Duration::from_secs(60), || async {
            !stage.sim.calls().is_empty()
        })
        .await;
    proxy.set(ProxyMode::Frozen).await.unwrap();
    stage.send(webhook("sys1", 5, 5, "firing")).await;
    let frozen_at = std::time::Instant::now();
    tokio::time::sleep(Duration::from_secs(12)).await;
    // Meanwhile the worker gave up on the frozen requests and kept trying:
    // several time-outs were logged during the freeze, not one hang.
    let timed_out = stage
        .log("a")
        .lines()
        .filter(|l| {
            let l = l.to_lowercase();
            l.contains("timed out") || l.contains("timeout")
        })
        .count();
    assert!(
        timed_out >= 2,
        "requests time out and are retried during the freeze ({timed_out} after {:?})",
        frozen_at.elapsed()
    );
    tokio::time::sleep(Duration::from_secs(8)).await;
    proxy.set(ProxyMode::Up).await.unwrap();
    assert_nothing_lost_nothing_doubled(&stage, 10, 2, &[FIRST]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_is_away_longer_than_the_queue_redelivers_and_no_live_alert_is_dead_lettered() {
    // Messages come back every 5 s and go to the DLQ on their 5th receive:
    // an outage of DynamoDB alone (SQS answers) of 40 s would dead-letter
    // every alert a poller kept receiving.
    let opts =
        options("storeaway", PRESS_1, PRESS_1).config("[aws.sqs]\nvisibility_timeout_secs = 5\n");
    let Some(mut stage) = Stage::start(opts).await else {
        return;
    };
    let upstream = stage.moto.trim_start_matches("http://").parse().unwrap();
    let proxy = FaultProxy::start(upstream).await.unwrap();
    let moto = stage.moto.clone();
    stage.spawn_with("a", &moto, &[("AWS_ENDPOINT_URL_DYNAMODB", &proxy.url())]);
    stage.send(webhook("sys0", 0, 5, "firing")).await;
    stage
        .until("the first call", Duration::from_secs(60), || async {
            !stage.sim.calls().is_empty()
        })
        .await;
    proxy.set(ProxyMode::Down).await.unwrap();
    stage.send(webhook("sys1", 5, 5, "firing")).await;
    tokio::time::sleep(Duration::from_secs(40)).await;
    proxy.set(ProxyMode::Up).await.unwrap();
    assert_nothing_lost_nothing_doubled(&stage, 10, 2, &[FIRST]).await;
    assert!(
        stage.log("a").contains("not receiving alerts"),
        "receiving paused while the store was away"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_answers_bursts_of_429s_and_500s_and_every_engineer_is_called_exactly_once() {
    // Connect's API quota is real-time in connect-sim, calls are not: at
    // 20x a call lasts fewer API tokens than the retries that must reach it
    // through its ClientToken while it rings. At 4x a call still outlasts
    // the retries, as it does at real speed.
    // Five teams, each its own first and second engineer: ten phones, ten
    // calls, five of them at once.
    let mut opts = StageOptions::new(
        "bursts",
        env!("CARGO_BIN_EXE_ringdown"),
        &five_teams(),
        &format!(
            "default: {PRESS_1}\npersonas:\n{}",
            (0..5)
                .map(|t| format!("  \"{}\": {VOICEMAIL}\n", team_phone(t, 1)))
                .collect::<String>()
        ),
    );
    opts.time_scale = 4.0;
    let Some(mut stage) = Stage::start(opts).await else {
        return;
    };
    // Throttles, plain 500s, and 500s answered after the call was placed:
    // the retry with the same ClientToken must find that call, not place
    // a second one.
    stage.sim.fail_next("TooManyRequestsException", 3, false);
    stage.sim.fail_next("InternalServiceException", 2, false);
    stage.sim.fail_next("InternalServiceException", 3, true);
    stage.spawn("a");
    let bodies: Vec<String> = (0..5)
        .map(|s| webhook(&format!("sys{s}"), s * 10, 10, "firing"))
        .collect();
    stage.send_batch(bodies).await;
    stage
        .until(
            "the first burst is absorbed",
            Duration::from_secs(60),
            || async { stage.sim.calls().len() >= 5 },
        )
        .await;
    // A second burst in the middle of the escalation to the second engineer.
    stage.sim.fail_next("InternalServiceException", 2, true);
    stage.sim.fail_next("TooManyRequestsException", 2, false);
    assert_each_outage_rang(&stage, 50, 5, |inc| {
        let team: usize = inc
            .group_labels
            .get("systemname")
            .and_then(|s| s.strip_prefix("sys")?.parse().ok())
            .unwrap_or(99);
        vec![team_phone(team, 1), team_phone(team, 2)]
    })
    .await;
    let errors = stage.sim.errors();
    assert_eq!(
        errors.get("TooManyRequestsException").copied().unwrap_or(0),
        5,
        "only the injected throttles: ringdown's own pacing caused none ({errors:?})"
    );
    assert_eq!(
        errors.get("InternalServiceException").copied().unwrap_or(0),
        7
    );
    let calls = stage.sim.calls();
    let tokens: BTreeSet<_> = calls.iter().map(|c| c.client_token.clone()).collect();
    assert_eq!(tokens.len(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_sigkills_at_random_points_of_a_storm_lose_nothing_and_double_no_call() {
    let seed: u64 = std::env::var("RINGDOWN_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs()
        });
    eprintln!("twenty_sigkills: RINGDOWN_FAULT_SEED={seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut opts = options("sigkill", VOICEMAIL, PRESS_1);
    // Contact records misbehave too: some dropped (the Connect look-up
    // settles those), some duplicated, some late.
    opts.ctr_faults = CtrFaults {
        seed,
        drop_probability: 0.15,
        duplicate_probability: 0.2,
        delay_probability: 0.2,
        delay_secs: 60.0,
        ..CtrFaults::default()
    };
    let Some(mut stage) = Stage::start(opts).await else {
        return;
    };
    stage.spawn("a");
    stage.spawn("b");
    let systems = 10;
    let mut sent = 0;
    for run in 0..20 {
        let bodies: Vec<String> = (0..5)
            .map(|i| {
                let m = run * 5 + i;
                webhook(&format!("sys{}", m % systems), sent + i * 5, 5, "firing")
            })
            .collect();
        sent += 25;
        stage.send_batch(bodies).await;
        tokio::time::sleep(Duration::from_millis(rng.gen_range(100..2500))).await;
        let victim = if rng.gen_bool(0.5) { "a" } else { "b" };
        stage.kill9(victim);
        stage.spawn(victim);
    }
    assert_nothing_lost_nothing_doubled(&stage, sent, systems, &[FIRST, SECOND]).await;
    for inc in stage
        .incidents()
        .await
        .iter()
        .filter(|i| i.member_of.is_none())
    {
        assert_eq!(
            outcomes(inc),
            ["UNREACHABLE", "ACKNOWLEDGED"],
            "seed {seed}: {}",
            inc.group_key
        );
    }
}

/// The phone of team `team`'s first (`1`) or second (`2`) engineer.
fn team_phone(team: usize, engineer: usize) -> String {
    format!("+1415555{engineer}1{team:02}")
}

/// System `sys<t>` pages team `t`: its first engineer, then its second.
fn five_teams() -> String {
    let mut people = String::new();
    let mut policies = String::new();
    for t in 0..5 {
        for e in [1, 2] {
            people.push_str(&format!(
                "  t{t}e{e}: {{ language: en-US, phones: [{{ number: \"{}\" }}] }}\n",
                team_phone(t, e)
            ));
        }
        policies.push_str(&format!(
            "  - {{ name: sys{t}, match: {{ systemname: sys{t} }}, group_by: [systemname], group_wait_secs: 0, steps: [{{ targets: [person:t{t}e1] }}, {{ targets: [person:t{t}e2] }}] }}\n"
        ));
    }
    format!("timezone: UTC\npeople:\n{people}policies:\n{policies}")
}

/// Debian's libfaketime, which runs a process on a clock of its own.
fn libfaketime() -> Option<String> {
    let found = std::fs::read_dir("/usr/lib")
        .ok()?
        .filter_map(Result::ok)
        .map(|d| d.path().join("faketime/libfaketime.so.1"))
        .find(|p| p.exists());
    if found.is_none() && std::env::var_os("RINGDOWN_REQUIRE_EMULATORS").is_some() {
        panic!("libfaketime is missing: apt-get install faketime (tests/run.sh does)");
    }
    found.map(|p| p.to_string_lossy().into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_whose_clock_runs_five_minutes_ahead_neither_takes_over_a_live_peers_incidents_nor_times_their_calls_out(
) {
    let Some(faketime) = libfaketime() else {
        eprintln!("SKIPPED: libfaketime not installed (apt-get install faketime)");
        return;
    };
    // Calls at twice real speed, so each stays in flight for a while.
    let mut opts = options("skew", PRESS_1, PRESS_1);
    opts.time_scale = 2.0;
    let Some(mut stage) = Stage::start(opts).await else {
        return;
    };
    let moto = stage.moto.clone();
    stage.spawn("a");
    // Replica b's system clock runs 300 s ahead of a's (and of AWS's).
    stage.spawn_with(
        "b",
        &moto,
        &[
            ("LD_PRELOAD", faketime.as_str()),
            ("FAKETIME", "+300s"),
            ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
        ],
    );
    stage
        .until("both replicas serve", Duration::from_secs(60), || async {
            ["a", "b"]
                .iter()
                .all(|r| stage.log(r).contains("POST alerts to http://"))
        })
        .await;
    for i in 0..6 {
        stage
            .send(webhook(&format!("sys{i}"), i * 2, 2, "firing"))
            .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_nothing_lost_nothing_doubled(&stage, 12, 6, &[FIRST]).await;
    for r in ["a", "b"] {
        let log = stage.log(r);
        // (Applying an outcome another replica read moves an incident
        // there, and is fine; finding a live owner overdue is not.)
        assert!(
            !log.contains("its owner is overdue"),
            "replica {r} found a live peer overdue:\n{}",
            ringdown_proof::stage::tail(&log, 30)
        );
        assert!(
            !log.contains("lost the shard lease"),
            "replica {r} lost its shard lease to a live peer"
        );
    }
    assert!(
        stage
            .log("b")
            .contains("this machine's clock disagrees with AWS's"),
        "replica b said its clock is off"
    );
}
