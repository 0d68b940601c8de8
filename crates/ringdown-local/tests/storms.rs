//! Storms on the embedded default: the engine, the SQLite store and the
//! simulated phones (the real contact flows played through connect-flow).
//! A line breaks, many systems alert, and the person on call gets one call.
//! Time is tokio's paused clock.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use ringdown_core::escalation::{HistoryKind, Phase};
use ringdown_core::{Alert, Status};
use ringdown_engine::{Engine, IncidentFilter, Ingest, Store, StoredIncident};
use ringdown_local::SqliteStore;

mod support;

const ROSTER: &str = r#"
timezone: UTC
people:
  alice: { language: en-US, phones: [{ number: "+14155550001" }] }
  bob: { language: en-US, phones: [{ number: "+14155550002" }] }
storm: { min_incidents: 2, window_secs: 600, coalesce_secs: 180 }
inhibit_rules:
  - source_matchers: ['alertname="LineDown"']
    target_matchers: ['alertname="Unreachable"']
    equal: [site]
policies:
  - name: default
    group_by: [systemname]
    group_wait_secs: 0
    steps:
      - { targets: [person:alice], attempts: 1 }
      - { targets: [person:bob], attempts: 1 }
"#;

fn alert(pairs: &[(&str, &str)], status: Status) -> Alert {
    Alert::with_labels(pairs.iter().copied(), status)
}

fn system_down(system: &str, status: Status) -> Alert {
    alert(
        &[
            ("systemname", system),
            ("alertname", "Unreachable"),
            ("site", "tokyo"),
        ],
        status,
    )
}

struct Night {
    engine: Engine,
    store: Arc<SqliteStore>,
    run: tokio::task::JoinHandle<()>,
}

impl Night {
    async fn start(personas: &str) -> Night {
        let store = Arc::new(SqliteStore::in_memory().unwrap());
        let engine = support::engine_on(store.clone(), ROSTER, personas).await;
        let run = {
            let e = engine.clone();
            tokio::spawn(async move {
                let _ = e.run(std::future::pending()).await;
            })
        };
        Night { engine, store, run }
    }

    async fn incidents(&self) -> Vec<StoredIncident> {
        self.store
            .list_incidents(&IncidentFilter::default())
            .await
            .unwrap()
    }

    /// Everyone rung so far, in order.
    async fn called(&self) -> Vec<String> {
        let mut placed: Vec<(chrono::DateTime<Utc>, String)> = Vec::new();
        for inc in self.incidents().await {
            for h in &inc.history {
                if let HistoryKind::CallPlaced { person, .. } = &h.kind {
                    placed.push((h.at, person.clone()));
                }
            }
        }
        placed.sort();
        placed.into_iter().map(|(_, p)| p).collect()
    }

    async fn storm(&self) -> StoredIncident {
        self.incidents()
            .await
            .into_iter()
            .find(|i| i.storm.is_some())
            .expect("a storm formed")
    }

    async fn members(&self) -> Vec<StoredIncident> {
        self.incidents()
            .await
            .into_iter()
            .filter(|i| i.member_of.is_some())
            .collect()
    }

    /// One system's alert reaches ringdown, as its own webhook.
    async fn report(&self, system: &str, status: Status) {
        self.engine
            .ingest(vec![system_down(system, status)])
            .await
            .unwrap();
    }

    async fn pass(&self, secs: u64) {
        for _ in 0..secs {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

impl Drop for Night {
    fn drop(&mut self) {
        self.run.abort();
    }
}

/// Answers after `after` seconds, presses a key at the guard, then `key`.
fn presses(after: u32, key: &str) -> String {
    format!("{{ answer_after_secs: {after}, keys: [{{key: \"5\", delay_secs: 1}}, {{key: \"{key}\", delay_secs: 1}}] }}")
}

#[tokio::test(start_paused = true)]
async fn thirty_systems_go_down_alice_gets_one_call_and_her_1_acknowledges_them_all() {
    let personas = format!(
        "default: never_answers\npersonas:\n  \"+14155550001\": {}\n",
        presses(20, "1")
    );
    let night = Night::start(&personas).await;
    for i in 0..30 {
        night.report(&format!("sys{i:02}"), Status::Firing).await;
    }
    night.pass(120).await;
    assert_eq!(
        night.called().await,
        ["alice"],
        "one call for thirty systems"
    );
    let storm = night.storm().await;
    assert_eq!(storm.storm.as_ref().unwrap().members.len(), 30);
    assert_eq!(storm.phase, Phase::Acknowledged);
    let members = night.members().await;
    assert_eq!(members.len(), 30);
    for m in &members {
        assert_eq!(m.phase, Phase::Acknowledged, "{} acknowledged", m.id);
        assert_eq!(m.acked_by.as_deref(), Some("alice"));
    }
    night.pass(1800).await;
    assert_eq!(night.called().await, ["alice"], "and nobody is rung after");
}

#[tokio::test(start_paused = true)]
async fn a_system_failing_while_alices_phone_rings_joins_the_storm_without_a_call_of_its_own() {
    // Alice lets the first call ring out; bob gets the storm's call.
    let personas = format!(
        "default: never_answers\npersonas:\n  \"+14155550002\": {}\n",
        presses(30, "1")
    );
    let night = Night::start(&personas).await;
    for i in 0..3 {
        night.report(&format!("sys{i}"), Status::Firing).await;
    }
    night.pass(10).await;
    night.report("late", Status::Firing).await;
    night.pass(600).await;
    assert_eq!(night.called().await, ["alice", "bob"]);
    let members = night.members().await;
    assert_eq!(members.len(), 4, "the late system joined");
    assert!(members
        .iter()
        .all(|m| m.phase == Phase::Acknowledged && m.acked_by.as_deref() == Some("bob")));
}

#[tokio::test(start_paused = true)]
async fn alice_passes_the_storm_with_2_and_bob_silences_it_with_9() {
    let bob = "{ answer_after_secs: 3, keys: [{key: \"5\", delay_secs: 1}, {key: \"9\", delay_secs: 1}, {key: \"2#\", delay_secs: 1}] }";
    let personas = format!(
        "default: never_answers\npersonas:\n  \"+14155550001\": {}\n  \"+14155550002\": {bob}\n",
        presses(3, "2")
    );
    let night = Night::start(&personas).await;
    for i in 0..4 {
        night.report(&format!("sys{i}"), Status::Firing).await;
    }
    night.pass(600).await;
    assert_eq!(night.called().await, ["alice", "bob"]);
    assert_eq!(night.storm().await.phase, Phase::Silenced);
    for m in night.members().await {
        assert_eq!(m.phase, Phase::Silenced, "{}", m.id);
    }
    let silences = night.store.silences(night.engine.now()).await.unwrap();
    assert_eq!(silences.len(), 4, "each system's own scope: {silences:?}");
    // The systems alerting again ring nobody.
    night.report("sys2", Status::Firing).await;
    night.pass(600).await;
    assert_eq!(night.called().await, ["alice", "bob"]);
}

#[tokio::test(start_paused = true)]
async fn the_systems_recover_one_by_one_nobody_is_rung_and_the_storm_closes_with_the_last() {
    let personas = format!(
        "default: never_answers\npersonas:\n  \"+14155550001\": {}\n",
        presses(5, "1")
    );
    let night = Night::start(&personas).await;
    for i in 0..3 {
        night.report(&format!("sys{i}"), Status::Firing).await;
    }
    night.pass(120).await;
    for i in 0..3 {
        night.report(&format!("sys{i}"), Status::Resolved).await;
        night.pass(30).await;
    }
    assert_eq!(night.storm().await.phase, Phase::Resolved);
    assert!(night
        .members()
        .await
        .iter()
        .all(|m| m.phase == Phase::Resolved));
    assert_eq!(night.called().await, ["alice"]);
}

#[tokio::test(start_paused = true)]
async fn the_line_down_alert_inhibits_the_systems_behind_it_and_they_are_listed_in_its_timeline() {
    let personas = format!(
        "default: never_answers\npersonas:\n  \"+14155550001\": {}\n",
        presses(5, "1")
    );
    let night = Night::start(&personas).await;
    let line = alert(
        &[
            ("systemname", "network"),
            ("alertname", "LineDown"),
            ("site", "tokyo"),
        ],
        Status::Firing,
    );
    // The line and the systems behind it in one batch, the line last.
    let mut batch: Vec<Alert> = (0..10)
        .map(|i| system_down(&format!("sys{i}"), Status::Firing))
        .collect();
    batch.push(line);
    // A system at another site is not behind this line.
    batch.push(alert(
        &[
            ("systemname", "osaka-web"),
            ("alertname", "Unreachable"),
            ("site", "osaka"),
        ],
        Status::Firing,
    ));
    night.engine.ingest(batch).await.unwrap();
    // More of the same site later: still inhibited.
    night.report("sys10", Status::Firing).await;
    night.pass(120).await;
    let incidents = night.incidents().await;
    let plain: Vec<&StoredIncident> = incidents.iter().filter(|i| i.storm.is_none()).collect();
    let mut groups: Vec<&str> = plain.iter().map(|i| i.group_key.as_str()).collect();
    groups.sort();
    assert_eq!(groups.len(), 2, "the line and osaka only: {groups:?}");
    let source = plain
        .iter()
        .find(|i| i.group_key.contains("network"))
        .unwrap();
    assert_eq!(source.inhibited, 11);
    let listed: u32 = source
        .history
        .iter()
        .filter_map(|h| match &h.kind {
            HistoryKind::Inhibited { alerts, .. } => Some(*alerts),
            _ => None,
        })
        .sum();
    assert_eq!(listed, 11, "listed in the source's timeline");
    // The line and osaka both reach alice: one storm, one call.
    assert_eq!(night.called().await, ["alice"]);
}
