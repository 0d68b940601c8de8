//! `ringdown run` on the embedded default: SQLite, HTTP ingest, simulated
//! phones, one process.

use crate::commands::user;
use crate::config::Config;
use crate::daemon::{apply_roster, serve_http, Mode};
use anyhow::{Context, Result};
use connect_flow::PersonaBook;
use ringdown_engine::gate::{bucket, CallGate};
use ringdown_engine::{
    Clock, Dialer, Engine, EngineSettings, Notifier, OutcomeReport, SteadyClock, Store,
};
use ringdown_local::{FileNotifier, SimDialer, SqliteStore};
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tracing::info;

/// The example roster used when nothing else is configured.
pub const EXAMPLE_ROSTER: &str = include_str!("../assets/example-roster.yaml");
/// The example personas: who answers the simulated phones.
pub const EXAMPLE_PERSONAS: &str = include_str!("../assets/example-personas.yaml");

/// Everything the embedded default runs on, wired together.
pub struct LocalStack {
    pub engine: Engine,
    pub store: Arc<SqliteStore>,
    pub dialer: Arc<SimDialer>,
    /// What went to the fallback channel (read by the scenario tests).
    #[cfg_attr(not(test), allow(dead_code))]
    pub notifier: Arc<FileNotifier>,
}

pub struct LocalOptions {
    pub personas: PersonaBook,
    pub time_scale: f64,
    pub blocked_prefixes: Vec<String>,
    pub fallback_file: Option<PathBuf>,
    pub settings: EngineSettings,
    pub rate_per_sec: u32,
    pub burst: u32,
}

pub fn build(store: SqliteStore, clock: Arc<dyn Clock>, opts: LocalOptions) -> Result<LocalStack> {
    let store = Arc::new(store);
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let dialer = Arc::new(
        SimDialer::new(opts.personas, opts.time_scale, clock.clone(), tx)?
            .with_blocked_prefixes(opts.blocked_prefixes),
    );
    let notifier = Arc::new(FileNotifier::new(opts.fallback_file, clock.clone()));
    let engine = engine(
        store.clone(),
        (dialer.clone(), notifier.clone()),
        clock,
        rx,
        opts.settings,
        (opts.rate_per_sec, opts.burst),
    );
    Ok(LocalStack {
        engine,
        store,
        dialer,
        notifier,
    })
}

/// The engine on `store`, calling through `dialer` and falling back to
/// `notifier`, its calls gated at `rate` (per second, burst).
fn engine(
    store: Arc<dyn Store>,
    (dialer, notifier): (Arc<dyn Dialer>, Arc<dyn Notifier>),
    clock: Arc<dyn Clock>,
    outcomes: tokio::sync::mpsc::UnboundedReceiver<OutcomeReport>,
    settings: EngineSettings,
    (rate_per_sec, burst): (u32, u32),
) -> Engine {
    let gate = Arc::new(CallGate::new(
        bucket(rate_per_sec, burst),
        settings.max_live_calls,
        settings.max_call_hold(),
    ));
    Engine::new(store, dialer, notifier, clock, gate, outcomes, settings)
}

/// Runs the daemon until `shutdown` completes.
pub async fn run(
    cfg: Config,
    mode: Mode,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let store = SqliteStore::open(&cfg.store.sqlite_path)
        .with_context(|| format!("opening {}", cfg.store.sqlite_path.display()))?;
    apply_roster(&store, cfg.roster_file.as_deref()).await?;
    let settings = EngineSettings {
        escalation: cfg.escalation.settings(cfg.simulator.time_scale),
        max_live_calls: cfg.dialer.max_live_calls,
        takeover_after: std::time::Duration::from_secs(cfg.escalation.takeover_after_secs),
        ..EngineSettings::default()
    };
    // The system clock without its steps (see `SteadyClock`); `VirtualRun`
    // uses tokio's paused clock instead.
    let clock: Arc<dyn Clock> = Arc::new(SteadyClock::new());
    let (engine, shadow) = match &mode {
        Mode::Live => (phones(&cfg, store, clock, settings)?.engine, None),
        Mode::Shadow(path) => {
            let store: Arc<dyn Store> = Arc::new(store);
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            let timing = &settings.escalation.call_timing;
            let shadow = crate::shadow::Shadow::start(
                path,
                store.clone(),
                clock.clone(),
                timing,
                &settings.instance,
                tx,
            )
            .await?;
            let engine = engine(
                store,
                (shadow.dialer.clone(), shadow.notifier.clone()),
                clock,
                rx,
                settings,
                (cfg.dialer.rate_per_sec, cfg.dialer.burst),
            );
            (engine, Some(shadow))
        }
    };
    let token = CancellationToken::new();
    let http = serve_http(&cfg, engine.clone(), None, token.clone()).await?;
    info!("ringdown is running on the embedded default");
    let stop = token.clone();
    tokio::spawn(async move {
        shutdown.await;
        stop.cancel();
    });
    engine.run(token.cancelled()).await?;
    for t in http {
        t.await??;
    }
    if let Some(shadow) = shadow {
        shadow.stopped();
    }
    info!("ringdown stopped");
    Ok(())
}

/// The embedded stack with its simulated phones, as configured.
fn phones(
    cfg: &Config,
    store: SqliteStore,
    clock: Arc<dyn Clock>,
    settings: EngineSettings,
) -> Result<LocalStack> {
    let personas = match &cfg.simulator.personas_file {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| user(format!("cannot read {}: {e}", p.display())))?;
            PersonaBook::from_yaml(&text)
                .map_err(|e| user(format!("personas {} are invalid: {e}", p.display())))?
        }
        None => PersonaBook::from_yaml(EXAMPLE_PERSONAS).context("built-in personas")?,
    };
    build(
        store,
        clock,
        LocalOptions {
            personas,
            time_scale: cfg.simulator.time_scale,
            blocked_prefixes: cfg.simulator.blocked_prefixes.clone(),
            fallback_file: cfg.fallback.file.clone(),
            settings,
            rate_per_sec: cfg.dialer.rate_per_sec,
            burst: cfg.dialer.burst,
        },
    )
}

#[cfg(test)]
#[path = "clock_jumps_tests.rs"]
mod clock_jumps;

#[cfg(test)]
mod tests {
    //! The embedded default end to end, on a virtual clock: alerts in, the real
    //! contact flows against scripted callers, outcomes back, decisions made.

    use super::*;
    use crate::demo::webhook;
    use crate::virtual_run::VirtualRun;
    use ringdown_core::escalation::{Incident, Phase};
    use ringdown_engine::IncidentFilter;
    use ringdown_engine::{Ingest, Store};
    use std::time::Duration;

    const ROSTER: &str = r#"
timezone: Asia/Tokyo
people:
  first:  { phones: [{ number: "+81300000001" }] }
  second: { phones: [{ number: "+81300000002" }] }
  third:  { phones: [{ number: "+81300000003" }] }
policies:
  - name: default
    group_by: [systemname]
    group_wait_secs: 0
    steps:
      - targets: [person:first]
        attempts: 2
        retry_after_secs: 60
      - targets: [person:second, person:third]
"#;

    async fn scenario(first: &str, second: &str, third: &str, blocked: &[&str]) -> VirtualRun {
        scenario_with(ROSTER, first, second, third, blocked).await
    }

    async fn scenario_with(
        roster: &str,
        first: &str,
        second: &str,
        third: &str,
        blocked: &[&str],
    ) -> VirtualRun {
        let personas = format!(
            "default: never_answers\npersonas:\n  \"+81300000001\": {first}\n  \"+81300000002\": {second}\n  \"+81300000003\": {third}\n"
        );
        VirtualRun::start(
            roster,
            PersonaBook::from_yaml(&personas).unwrap(),
            blocked.iter().map(|s| s.to_string()).collect(),
            crate::demo::demo_start(),
        )
        .await
        .unwrap()
    }

    impl VirtualRun {
        async fn alert(&self, system: &str) {
            let alerts = ringdown_core::parse::parse(webhook(system, 0, 1).as_bytes()).unwrap();
            self.stack.engine.ingest(alerts).await.unwrap();
        }

        async fn settle(self, minutes: u64) -> (Vec<String>, Incident, LocalStack) {
            tokio::time::sleep(Duration::from_secs(minutes * 60)).await;
            let stack = self.stop().await.unwrap();
            let called = stack
                .dialer
                .calls()
                .iter()
                .map(|c| c.person.clone())
                .collect();
            let inc = stack
                .store
                .incidents(&IncidentFilter::default())
                .await
                .unwrap()
                .remove(0);
            (called, inc, stack)
        }
    }

    const PRESS_1: &str = "{ answer_after_secs: 2, keys: [{key: \"5\", delay_secs: 1}, {key: \"1\", delay_secs: 1}] }";
    const PRESS_2: &str = "{ answer_after_secs: 2, keys: [{key: \"5\", delay_secs: 1}, {key: \"2\", delay_secs: 1}] }";
    const HANG_UP: &str =
        "{ answer_after_secs: 2, keys: [{key: \"5\", delay_secs: 1}], hang_up_after_prompt: 2 }";

    #[tokio::test(start_paused = true)]
    async fn first_engineer_presses_1_and_nobody_else_is_called() {
        let s = scenario(PRESS_1, PRESS_1, PRESS_1, &[]).await;
        s.alert("web").await;
        let (called, inc, _) = s.settle(30).await;
        assert_eq!(called, ["first"]);
        assert_eq!(inc.phase, Phase::Acknowledged);
    }

    #[tokio::test(start_paused = true)]
    async fn voicemail_twice_then_the_second_presses_1_and_the_third_is_never_called() {
        let s = scenario("voicemail", PRESS_1, PRESS_1, &[]).await;
        s.alert("web").await;
        let (called, inc, stack) = s.settle(30).await;
        assert_eq!(called, ["first", "first", "second"]);
        assert_eq!(inc.phase, Phase::Acknowledged);
        let calls = stack.dialer.calls();
        // The seed case: the voicemail ended CONTACT_FLOW_DISCONNECT with no rd_human.
        assert_eq!(
            calls[0].result.disconnect_reason.as_str(),
            "CONTACT_FLOW_DISCONNECT"
        );
        assert!(!calls[0].result.attributes.contains_key("rd_human"));
        // retry_after_secs: 60 between the two attempts of step 1.
        assert!(calls[1].placed_at - calls[0].placed_at >= chrono::Duration::seconds(60));
    }

    #[tokio::test(start_paused = true)]
    async fn hearing_the_message_and_hanging_up_is_a_next_attempt() {
        let s = scenario(HANG_UP, PRESS_1, PRESS_1, &[]).await;
        s.alert("web").await;
        let (called, _, stack) = s.settle(30).await;
        assert_eq!(called, ["first", "first", "second"]);
        assert_eq!(
            stack.dialer.calls()[0].result.disconnect_reason.as_str(),
            "CUSTOMER_DISCONNECT"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn pressing_2_passes_to_the_next_person_at_once() {
        let s = scenario(PRESS_2, PRESS_2, PRESS_1, &[]).await;
        s.alert("web").await;
        let (called, inc, _) = s.settle(30).await;
        assert_eq!(called, ["first", "first", "second", "third"]);
        assert_eq!(inc.acked_by.as_deref(), Some("third"));
    }

    #[tokio::test(start_paused = true)]
    async fn busy_and_no_answer_are_unreachable() {
        let s = scenario("busy", "never_answers", PRESS_1, &[]).await;
        s.alert("web").await;
        let (called, inc, stack) = s.settle(30).await;
        assert_eq!(called, ["first", "first", "second", "third"]);
        let reasons: Vec<&str> = stack
            .dialer
            .calls()
            .iter()
            .map(|c| c.result.disconnect_reason.as_str())
            .collect();
        assert_eq!(
            reasons,
            [
                "TELECOM_BUSY",
                "TELECOM_BUSY",
                "TELECOM_UNANSWERED",
                "CONTACT_FLOW_DISCONNECT"
            ]
        );
        assert_eq!(inc.phase, Phase::Acknowledged);
    }

    #[tokio::test(start_paused = true)]
    async fn telecom_failure_is_retried_after_a_backoff_then_the_number_is_flagged() {
        let s = scenario("telecom_failure", PRESS_1, PRESS_1, &[]).await;
        s.alert("web").await;
        let (called, inc, _) = s.settle(30).await;
        // 2 attempts x 2 tries each, then step 2.
        assert_eq!(called, ["first", "first", "first", "first", "second"]);
        assert!(inc.history.iter().any(|h| matches!(
            h.kind,
            ringdown_core::escalation::HistoryKind::NumberFlagged { .. }
        )));
    }

    #[tokio::test(start_paused = true)]
    async fn a_refused_destination_alerts_the_operator_and_calls_the_next_person() {
        let s = scenario(PRESS_1, PRESS_1, PRESS_1, &["+81300000001"]).await;
        s.alert("web").await;
        let (called, inc, stack) = s.settle(30).await;
        assert_eq!(called, ["second"], "the refused number never rang");
        assert_eq!(inc.phase, Phase::Acknowledged);
        let sent = stack.notifier.sent();
        assert!(sent.iter().any(|v| v["kind"] == "operator"), "{sent:?}");
        assert!(!serde_json::to_string(&sent)
            .unwrap()
            .contains("+81300000001"));
    }

    #[tokio::test(start_paused = true)]
    async fn nobody_answers_and_the_incident_goes_to_the_fallback_channel() {
        let s = scenario("never_answers", "voicemail", "busy", &[]).await;
        s.alert("web").await;
        let (called, inc, stack) = s.settle(60).await;
        assert_eq!(called, ["first", "first", "second", "third"]);
        assert_eq!(inc.phase, Phase::Exhausted);
        assert!(stack
            .notifier
            .sent()
            .iter()
            .any(|v| v["kind"] == "fallback"));
    }

    #[tokio::test(start_paused = true)]
    async fn pressing_9_silences_the_system_and_a_later_alert_places_no_call() {
        let silence = "{ answer_after_secs: 2, keys: [{key: \"5\", delay_secs: 1}, {key: \"9\", delay_secs: 1}, {key: \"2#\", delay_secs: 1}] }";
        let s = scenario(silence, PRESS_1, PRESS_1, &[]).await;
        s.alert("web").await;
        tokio::time::sleep(Duration::from_secs(5 * 60)).await;
        s.alert("web").await;
        let (called, inc, stack) = s.settle(10).await;
        assert_eq!(called, ["first"]);
        let silences = stack.store.silences(stack.engine.now()).await.unwrap();
        assert_eq!(silences.len(), 1);
        assert_eq!(silences[0].ends_at - silences[0].starts_at, 2 * 3600);
        let _ = inc;
    }

    #[tokio::test(start_paused = true)]
    async fn the_alert_resolves_before_anyone_acknowledges_and_no_more_calls_are_placed() {
        let s = scenario("never_answers", PRESS_1, PRESS_1, &[]).await;
        s.alert("web").await;
        tokio::time::sleep(Duration::from_secs(70)).await;
        let resolved = webhook("web", 0, 1).replace("\"firing\"", "\"resolved\"");
        let alerts = ringdown_core::parse::parse(resolved.as_bytes()).unwrap();
        s.stack.engine.ingest(alerts).await.unwrap();
        let (called, inc, _) = s.settle(30).await;
        assert_eq!(called, ["first"]);
        assert_eq!(inc.phase, Phase::Resolved);
    }

    #[tokio::test(start_paused = true)]
    async fn a_missed_heartbeat_places_a_call_and_the_next_beat_resolves_it() {
        let roster = format!(
            "{ROSTER}heartbeats:\n  - {{ name: watchdog, expect_every_secs: 300, policy: default, labels: {{ alertname: Watchdog }} }}\n"
        );
        let run = scenario_with(&roster, PRESS_1, "never_answers", "never_answers", &[]).await;
        let stack = &run.stack;
        let watchdog = r#"{"version":"4","status":"firing","receiver":"r","groupKey":"w","alerts":[{"status":"firing","labels":{"alertname":"Watchdog"},"annotations":{},"startsAt":"2026-11-23T18:00:00Z","endsAt":"0001-01-01T00:00:00Z"}]}"#;
        let beat = || async {
            let alerts = ringdown_core::parse::parse(watchdog.as_bytes()).unwrap();
            let r = stack.engine.ingest(alerts).await.unwrap();
            assert!(
                matches!(
                    r.alerts[0],
                    ringdown_engine::AlertDisposition::Heartbeat { .. }
                ),
                "{r:?}"
            );
        };
        // Beats every 4 minutes: nobody is called.
        for _ in 0..3 {
            beat().await;
            tokio::time::sleep(Duration::from_secs(240)).await;
        }
        assert!(stack.dialer.calls().is_empty());
        // The beats stop: within 5 minutes + one check, the first engineer is called.
        tokio::time::sleep(Duration::from_secs(6 * 60)).await;
        let calls = stack.dialer.calls();
        assert_eq!(
            calls.iter().map(|c| c.person.as_str()).collect::<Vec<_>>(),
            ["first"]
        );
        let incs = stack
            .store
            .incidents(&IncidentFilter::default())
            .await
            .unwrap();
        assert_eq!(incs.len(), 1);
        assert_eq!(
            incs[0].group_labels.get("systemname").map(String::as_str),
            Some("")
        );
        assert!(
            incs[0].samples[0]
                .title
                .contains("heartbeat watchdog missed"),
            "{:?}",
            incs[0].samples
        );
        // It comes back: the incident resolves.
        beat().await;
        let incs = stack
            .store
            .incidents(&IncidentFilter::default())
            .await
            .unwrap();
        assert_eq!(incs[0].phase, Phase::Resolved);
        run.stop().await.unwrap();
    }

    /// Two replicas on one database, each with its own engine (and so its
    /// own incident cache). `b` changes an incident behind `a`'s back.
    async fn two_replicas(name: &str) -> (LocalStack, LocalStack) {
        let dir = std::env::temp_dir().join(format!(
            "ringdown-{name}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("replicas.sqlite");
        let open = |instance: &str| {
            let store = SqliteStore::open(&path).unwrap();
            let settings = EngineSettings {
                instance: instance.to_string(),
                ..EngineSettings::default()
            };
            build(
                store,
                Arc::new(ringdown_engine::SystemClock),
                LocalOptions {
                    personas: PersonaBook::from_yaml("default: never_answers\n").unwrap(),
                    time_scale: 1.0,
                    blocked_prefixes: vec![],
                    fallback_file: None,
                    settings,
                    rate_per_sec: 100,
                    burst: 100,
                },
            )
            .unwrap()
        };
        let a = open("a");
        a.store
            .save_roster(ROSTER, chrono::Utc::now())
            .await
            .unwrap();
        let b = open("b");
        a.engine.reload_roster().await.unwrap();
        b.engine.reload_roster().await.unwrap();
        (a, b)
    }

    async fn ingest(stack: &LocalStack, body: String) {
        let alerts = ringdown_core::parse::parse(body.as_bytes()).unwrap();
        stack.engine.ingest(alerts).await.unwrap();
    }

    async fn incidents(stack: &LocalStack) -> Vec<Incident> {
        let mut v = stack
            .store
            .incidents(&IncidentFilter::default())
            .await
            .unwrap();
        v.sort_by_key(|i| i.opened_at);
        v
    }

    #[tokio::test]
    async fn an_alert_firing_again_after_another_replica_resolved_its_incident_opens_a_new_one() {
        let (a, b) = two_replicas("refire").await;
        ingest(&a, webhook("web", 0, 1)).await;
        ingest(
            &b,
            webhook("web", 0, 1).replace("\"firing\"", "\"resolved\""),
        )
        .await;
        assert_eq!(incidents(&a).await[0].phase, Phase::Resolved);
        // `a` still remembers the incident as open, with this very alert
        // firing: the alert must reach a new incident, not the closed one.
        ingest(&a, webhook("web", 0, 1)).await;
        let incs = incidents(&a).await;
        assert_eq!(incs.len(), 2, "{incs:?}");
        assert_eq!(incs[0].phase, Phase::Resolved);
        assert!(!incs[1].phase.is_closed());
        assert_eq!(incs[1].firing.len(), 1);
    }

    #[tokio::test]
    async fn a_new_alert_after_another_replica_resolved_the_incident_is_not_written_into_the_closed_one(
    ) {
        let (a, b) = two_replicas("stale").await;
        ingest(&a, webhook("web", 0, 1)).await;
        ingest(
            &b,
            webhook("web", 0, 1).replace("\"firing\"", "\"resolved\""),
        )
        .await;
        // A different alert of the same system: `a`'s stale copy would take
        // it; the version check refuses that write and `a` starts over.
        ingest(&a, webhook("web", 5, 1)).await;
        let incs = incidents(&b).await;
        assert_eq!(incs.len(), 2, "{incs:?}");
        assert_eq!(incs[0].phase, Phase::Resolved);
        assert_eq!(incs[0].firing.len(), 0);
        assert_eq!(incs[1].firing.len(), 1);
        // And the other way round: `b` never saw the new incident, `a` acts on it.
        ingest(
            &b,
            webhook("web", 5, 1).replace("\"firing\"", "\"resolved\""),
        )
        .await;
        assert_eq!(incidents(&a).await[1].phase, Phase::Resolved);
    }

    const LEAVERS: &str = r#"
timezone: Asia/Tokyo
people:
  first:  { language: en-US, phones: [{ number: "+81300000001" }] }
  second: { phones: [{ number: "+81300000002" }] }
  third:  { phones: [{ number: "+81300000003" }] }
policies:
  - name: default
    group_by: [systemname]
    group_wait_secs: 0
    ack_timeout_secs: 1800
    steps:
      - targets: [person:first]
      - targets: [person:second, person:third]
        mode: all
"#;

    fn stopped_people(inc: &Incident) -> Vec<String> {
        inc.history
            .iter()
            .filter_map(|h| match &h.kind {
                ringdown_core::escalation::HistoryKind::CallStopped { person, .. } => {
                    Some(person.clone())
                }
                _ => None,
            })
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn the_engineer_who_acknowledged_is_rung_again_every_30_minutes_while_it_still_fires() {
        let s = scenario_with(LEAVERS, PRESS_1, PRESS_1, PRESS_1, &[]).await;
        s.alert("web").await;
        let (called, inc, stack) = s.settle(65).await;
        assert_eq!(called, ["first", "first", "first"]);
        let calls = stack.dialer.calls();
        let gap = calls[1].placed_at - calls[0].placed_at;
        assert!(
            gap >= chrono::Duration::minutes(30) && gap < chrono::Duration::minutes(31),
            "{gap}"
        );
        let said: Vec<String> = calls[1]
            .result
            .events
            .iter()
            .filter_map(|e| match &e.kind {
                connect_flow::interp::EventKind::Said { text, .. } => Some(text.clone()),
                _ => None,
            })
            .collect();
        assert!(
            said.iter()
                .any(|t| t.contains("You acknowledged this 30 minutes ago and it is still firing")),
            "{said:?}"
        );
        assert_eq!(inc.phase, Phase::Acknowledged);
    }

    #[tokio::test(start_paused = true)]
    async fn a_ring_all_step_rings_both_at_once_and_the_first_to_press_1_hangs_up_the_other() {
        let s = scenario_with(LEAVERS, "voicemail", PRESS_1, "never_answers", &[]).await;
        s.alert("web").await;
        let (called, inc, stack) = s.settle(10).await;
        assert_eq!(called, ["first", "second", "third"]);
        let calls = stack.dialer.calls();
        assert!(calls[2].placed_at - calls[1].placed_at < chrono::Duration::seconds(2));
        assert_eq!(inc.phase, Phase::Acknowledged);
        assert_eq!(inc.acked_by.as_deref(), Some("second"));
        assert_eq!(stopped_people(&inc), ["third"]);
        assert_eq!(stack.dialer.stopped(), [calls[2].contact_id.clone()]);
    }

    #[tokio::test(start_paused = true)]
    async fn round_robin_starts_each_new_incident_with_the_next_person() {
        let roster = r#"
timezone: Asia/Tokyo
people:
  first:  { phones: [{ number: "+81300000001" }] }
  second: { phones: [{ number: "+81300000002" }] }
  third:  { phones: [{ number: "+81300000003" }] }
policies:
  - name: default
    group_by: [systemname]
    group_wait_secs: 0
    steps:
      - targets: [person:first, person:second, person:third]
        mode: round_robin
"#;
        let s = scenario_with(roster, PRESS_1, PRESS_1, PRESS_1, &[]).await;
        for system in ["web", "db", "batch", "mail"] {
            s.alert(system).await;
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
        let (called, _, _) = s.settle(5).await;
        assert_eq!(called, ["first", "second", "third", "first"]);
    }

    #[tokio::test]
    async fn an_acknowledgement_from_the_cli_hangs_up_the_ringing_phone_at_once() {
        let dir = std::env::temp_dir().join(format!("ringdown-act-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        std::fs::write(dir.join("roster.yaml"), LEAVERS).unwrap();
        std::fs::write(dir.join("personas.yaml"), "default: never_answers\n").unwrap();
        let mut cfg = Config::default();
        cfg.store.sqlite_path = dir.join("act.sqlite");
        cfg.roster_file = Some(dir.join("roster.yaml"));
        cfg.simulator.personas_file = Some(dir.join("personas.yaml"));
        cfg.fallback.file = Some(dir.join("fallback.jsonl"));
        cfg.http.listen = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let daemon = tokio::spawn(run(cfg.clone(), Mode::Live, async move {
            let _ = stop_rx.await;
        }));
        let url = format!("http://127.0.0.1:{port}");
        let body = webhook("web", 0, 1);
        let store = SqliteStore::open(&cfg.store.sqlite_path).unwrap();
        // The first engineer's phone rings (nobody answers for a minute).
        let mut ringing = None;
        for _ in 0..200 {
            if ringing.is_none() {
                let _ = post(port, &body).await;
            }
            let list = store.incidents(&IncidentFilter::default()).await.unwrap();
            if let Some(i) = list
                .iter()
                .find(|i| i.call.as_ref().is_some_and(|c| c.contact_id.is_some()))
            {
                ringing = Some(i.clone());
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let inc = ringing.expect("a call rings");
        let req = crate::actions::ActionRequest {
            by: "second".into(),
            hours: None,
        };
        // Without the token the daemon refuses.
        let mut wrong = cfg.clone();
        std::fs::write(dir.join("wrong.token"), "not-the-token-at-all").unwrap();
        wrong.http.token_file = Some(dir.join("wrong.token"));
        let refused = crate::actions::ask(&wrong, &url, crate::actions::Action::Ack, &inc.id, &req)
            .await
            .unwrap_err();
        assert!(refused.to_string().contains("401"), "{refused}");
        let done = crate::actions::ask(&cfg, &url, crate::actions::Action::Ack, &inc.id, &req)
            .await
            .unwrap()
            .expect("the daemon answers");
        assert_eq!(done.state, "acknowledged");
        assert_eq!(done.acked_by.as_deref(), Some("second"));
        assert!(
            done.timeline
                .iter()
                .any(|l| l.contains("call to first hung up")),
            "{:?}",
            done.timeline
        );
        let stored = store.load_incident(&inc.id).await.unwrap().unwrap();
        assert_eq!(stopped_people(&stored), ["first"]);
        assert!(stored.call.is_none());
        let _ = stop_tx.send(());
        daemon.await.unwrap().unwrap();
    }

    async fn post(port: u16, body: &str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut response = String::new();
        if let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
            let req = format!(
                "POST /v1/alerts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            s.write_all(req.as_bytes()).await.unwrap();
            s.read_to_string(&mut response).await.unwrap();
        }
        response
    }

    #[tokio::test]
    async fn ringdown_run_accepts_alerts_over_http_and_stops_on_shutdown() {
        let dir = std::env::temp_dir().join(format!("ringdown-run-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let mut cfg = Config::default();
        cfg.store.sqlite_path = dir.join("run.sqlite");
        cfg.fallback.file = Some(dir.join("fallback.jsonl"));
        cfg.http.listen = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        cfg.simulator.time_scale = 50.0;
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let daemon = tokio::spawn(run(cfg.clone(), Mode::Live, async move {
            let _ = stop_rx.await;
        }));
        let body = webhook("web", 0, 3);
        let mut response = String::new();
        for _ in 0..100 {
            response = post(port, &body).await;
            if !response.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(response.starts_with("HTTP/1.1 202"), "{response}");
        let get = |path: &'static str| async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .unwrap();
            let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            s.write_all(req.as_bytes()).await.unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).await.unwrap();
            out
        };
        let metrics = get("/metrics").await;
        assert!(
            metrics.contains("ringdown_alerts_received_total"),
            "{metrics}"
        );
        assert!(
            metrics.contains("ringdown_incidents_opened_total"),
            "{metrics}"
        );
        assert!(get("/readyz").await.starts_with("HTTP/1.1 200"));
        let _ = stop_tx.send(());
        daemon.await.unwrap().unwrap();
        let store = SqliteStore::open(&cfg.store.sqlite_path).unwrap();
        let incidents = store.incidents(&IncidentFilter::default()).await.unwrap();
        assert_eq!(incidents.len(), 1);
        assert_eq!(incidents[0].alerts_received, 3);
    }
}
