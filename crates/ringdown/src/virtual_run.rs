//! The embedded stack with the production engine on a virtual clock (a
//! paused tokio runtime): how the demo, the drill and the scenario tests
//! play escalations in seconds.

use crate::embedded::{build, LocalOptions, LocalStack};
use anyhow::{Context, Result};
use connect_flow::PersonaBook;
use ringdown_engine::{Clock, EngineSettings, Store};
use ringdown_local::SqliteStore;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// The embedded stack with its engine running on a virtual clock (a paused
/// tokio runtime): the demo, the drill and the scenario tests all play
/// escalations this way, with the production engine unchanged.
pub struct VirtualRun {
    pub stack: LocalStack,
    token: CancellationToken,
    runner: tokio::task::JoinHandle<Result<(), ringdown_engine::engine::EngineError>>,
}

impl VirtualRun {
    /// Stores `roster_yaml`, wires an in-memory stack whose phones follow
    /// `personas`, and starts the engine with the clock at `start`.
    pub async fn start(
        roster_yaml: &str,
        personas: PersonaBook,
        blocked_prefixes: Vec<String>,
        start: chrono::DateTime<chrono::Utc>,
    ) -> Result<VirtualRun> {
        let clock = Arc::new(ringdown_engine::TokioClock::starting_at(start));
        VirtualRun::start_with_clock(roster_yaml, personas, blocked_prefixes, clock).await
    }

    /// As [`VirtualRun::start`], on `clock` (which should follow tokio's
    /// paused clock; the clock-step scenarios make it jump).
    pub async fn start_with_clock(
        roster_yaml: &str,
        personas: PersonaBook,
        blocked_prefixes: Vec<String>,
        clock: Arc<dyn Clock>,
    ) -> Result<VirtualRun> {
        let store = SqliteStore::in_memory()?;
        store.save_roster(roster_yaml, clock.now()).await?;
        let stack = build(
            store,
            clock,
            LocalOptions {
                personas,
                time_scale: 1.0,
                blocked_prefixes,
                fallback_file: None,
                settings: EngineSettings::default(),
                rate_per_sec: 2,
                burst: 4,
            },
        )?;
        stack.engine.reload_roster().await?;
        let token = CancellationToken::new();
        let runner = {
            let e = stack.engine.clone();
            let t = token.clone();
            tokio::spawn(async move { e.run(t.cancelled()).await })
        };
        Ok(VirtualRun {
            stack,
            token,
            runner,
        })
    }

    /// Stops the engine (it finishes calls in progress) and hands back the stack.
    pub async fn stop(self) -> Result<LocalStack> {
        self.token.cancel();
        self.runner.await.context("engine task")??;
        Ok(self.stack)
    }
}
