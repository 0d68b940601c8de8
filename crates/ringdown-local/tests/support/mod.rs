//! What the engine scenarios share: an engine on the embedded store and
//! simulated phones, on tokio's (paused) clock.

use std::sync::Arc;

use chrono::Utc;
use connect_flow::PersonaBook;
use ringdown_engine::gate::{bucket, CallGate};
use ringdown_engine::{Engine, EngineSettings, Notifier, Store, TokioClock};
use ringdown_local::{FileNotifier, SimDialer};

/// An engine on `store` with `roster` applied, whose calls reach the
/// simulated phones of `personas` (the real contact flows played through
/// connect-flow) and whose notices go to a log. Not running yet: the caller
/// decides.
pub async fn engine_on(store: Arc<dyn Store>, roster: &str, personas: &str) -> Engine {
    engine_with(store, roster, personas, None).await
}

/// [`engine_on`] with the notice channel given.
pub async fn engine_with(
    store: Arc<dyn Store>,
    roster: &str,
    personas: &str,
    notifier: Option<Arc<dyn Notifier>>,
) -> Engine {
    let clock: Arc<dyn ringdown_engine::Clock> = Arc::new(TokioClock::starting_at(Utc::now()));
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let dialer = Arc::new(
        SimDialer::new(
            PersonaBook::from_yaml(personas).unwrap(),
            1.0,
            clock.clone(),
            tx,
        )
        .unwrap(),
    );
    let settings = EngineSettings::default();
    let gate = Arc::new(CallGate::new(
        bucket(2, 4),
        settings.max_live_calls,
        settings.max_call_hold(),
    ));
    store.save_roster(roster, clock.now()).await.unwrap();
    let notifier = notifier.unwrap_or_else(|| Arc::new(FileNotifier::new(None, clock.clone())));
    let engine = Engine::new(store, dialer, notifier, clock, gate, rx, settings);
    engine.reload_roster().await.unwrap();
    engine
}
