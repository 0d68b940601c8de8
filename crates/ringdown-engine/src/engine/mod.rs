//! The engine: runs `ringdown_core::escalation::decide` against the ports.
//!
//! Order of operations for every decision, which is what makes a crash at any
//! point safe:
//! 1. load the incident (with its version);
//! 2. `decide` (pure);
//! 3. create any silence the decision asks for (idempotent by id), then save
//!    the incident conditionally on its version — a conflict means another
//!    writer got there first: reload and decide again;
//! 4. only then execute the remaining effects (place or stop calls, fallback).
//!
//! A crash after 3 and before 4 leaves an incident that says "calling X with
//! call id C" but no call: on start-up [`Engine::recover`] re-issues the
//! request with the same call id, which Amazon Connect's `ClientToken`
//! idempotency turns into the same contact if it had already been placed.

use crate::clock::{sleep_until, Clock};
use crate::gate::CallGate;
use crate::ports::*;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ringdown_core::escalation::{
    decide, CallRequest, Context, Effect, Event, Incident, NoticeKind, RejectKind, Settings,
};
use ringdown_core::phone::mask;
use ringdown_core::roster::Roster;
use ringdown_core::silence::SilenceIndex;
use ringdown_core::{Alert, Status};
use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::{mpsc, Notify};
use tokio_util::task::TaskTracker;
use tracing::{error, info, warn};

mod apply;
mod cache;
mod calls;
mod heartbeats;
mod held;
mod intake;
mod notices;
mod outcomes;
mod run_loop;
mod storms;

use cache::IncidentCache;
use held::{HeldOutcome, HeldQueue, NoticeRef};

/// Engine tunables (the binary fills these from the configuration file).
#[derive(Debug, Clone)]
pub struct EngineSettings {
    pub escalation: Settings,
    /// Live calls at once (Amazon Connect's default concurrent-calls quota: 10).
    pub max_live_calls: usize,
    /// How often the store is swept for due incidents this process has no
    /// timer for (after a restart, or another replica's).
    pub sweep_interval: Duration,
    /// How often silences are re-read from the store.
    pub silence_refresh: Duration,
    /// How often the roster is re-read from the store.
    pub roster_refresh: Duration,
    /// Identifies this process in incident ids, logs and incident ownership.
    pub instance: String,
    /// How long past an incident's due time other replicas wait for its owner
    /// before taking it over (the owner died or is partitioned away).
    pub takeover_after: Duration,
    /// How often heartbeats (dead man's switches) are checked for misses.
    pub heartbeat_check: Duration,
}

impl EngineSettings {
    /// The longest a live-call slot can rightly be held: a call's outcome
    /// deadline for the longest message, and a minute more. A slot whose
    /// release never came (the outcome went to another replica) is
    /// reclaimed after it.
    pub fn max_call_hold(&self) -> Duration {
        let e = &self.escalation;
        e.call_timing
            .outcome_deadline(e.longest_spoken_chars())
            .to_std()
            .unwrap_or_default()
            + Duration::from_secs(60)
    }
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            escalation: Settings::default(),
            max_live_calls: 10,
            sweep_interval: Duration::from_secs(5),
            silence_refresh: Duration::from_secs(5),
            roster_refresh: Duration::from_secs(30),
            instance: "local".into(),
            takeover_after: Duration::from_secs(30),
            heartbeat_check: Duration::from_secs(15),
        }
    }
}

#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    dialer: Arc<dyn Dialer>,
    notifier: Arc<dyn Notifier>,
    clock: Arc<dyn Clock>,
    settings: EngineSettings,
    gate: Arc<CallGate>,
    roster: RwLock<Option<(u64, Arc<Roster>)>>,
    silences: RwLock<Arc<SilenceIndex>>,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    wakes: Mutex<BTreeSet<(DateTime<Utc>, String)>>,
    wake: Notify,
    outcomes: tokio::sync::Mutex<mpsc::UnboundedReceiver<OutcomeReport>>,
    /// Outcomes that could not be stored yet (the store was unreachable),
    /// with when to try again and how often it failed. The contact record
    /// they came from is already checkpointed, so dropping one would turn
    /// an acknowledgement into a timeout and call the next person.
    outcome_retries: HeldQueue<OutcomeReport>,
    /// Notices the channel refused. The notices themselves are in their
    /// incidents' outboxes.
    notice_retries: HeldQueue<NoticeRef>,
    /// Open incidents as this process last wrote or read them, and the open
    /// incident of each group. Saves read before write: every save is
    /// conditional on the version, so a stale entry costs one conflict and a
    /// re-read, never a decision on old state (see `apply_as`).
    cache: Mutex<IncidentCache>,
    /// Storm joins waiting for their person's turn (`storms.rs`).
    storm_joins: Mutex<HashMap<String, Arc<storms::JoinQueue>>>,
    tracker: TaskTracker,
    seq: AtomicU64,
    /// Heartbeats this process has raised a missed-heartbeat alert for.
    missed: Mutex<std::collections::HashSet<String>>,
    /// Calls the dialer is working on, by call id: cancelled once the call
    /// is no longer wanted, so a retry never rings for an outcome already
    /// known.
    dialing: Mutex<HashMap<String, (u64, tokio_util::sync::CancellationToken)>>,
    /// Due incidents this release cannot read (written by a newer one):
    /// reported once, then skipped by sweeps.
    unreadable: Mutex<std::collections::HashSet<String>>,
    /// Where replicas tell each other whose phone a call holds (see
    /// `calls.rs`): unset for a single process, whose lines see it all.
    shared_lines: std::sync::OnceLock<Arc<dyn crate::LeaseStore>>,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("incident {0} kept changing underneath; gave up after retries")]
    Contended(String),
}

const MAX_RETRIES: usize = 16;

impl Engine {
    pub fn new(
        store: Arc<dyn Store>,
        dialer: Arc<dyn Dialer>,
        notifier: Arc<dyn Notifier>,
        clock: Arc<dyn Clock>,
        gate: Arc<CallGate>,
        outcomes: mpsc::UnboundedReceiver<OutcomeReport>,
        settings: EngineSettings,
    ) -> Engine {
        Engine {
            inner: Arc::new(Inner {
                store,
                dialer,
                notifier,
                clock,
                settings,
                gate,
                roster: RwLock::new(None),
                silences: RwLock::new(Arc::new(SilenceIndex::default())),
                locks: Mutex::new(HashMap::new()),
                wakes: Mutex::new(BTreeSet::new()),
                wake: Notify::new(),
                outcomes: tokio::sync::Mutex::new(outcomes),
                outcome_retries: HeldQueue::default(),
                notice_retries: HeldQueue::default(),
                cache: Mutex::new(IncidentCache::default()),
                storm_joins: Mutex::new(HashMap::new()),
                tracker: TaskTracker::new(),
                seq: AtomicU64::new(0),
                missed: Mutex::new(Default::default()),
                dialing: Mutex::new(HashMap::new()),
                unreadable: Mutex::new(Default::default()),
                shared_lines: std::sync::OnceLock::new(),
            }),
        }
    }

    /// Replicas share one store: a call takes its person's line there
    /// before it is dialled, so two replicas never ring one phone at once
    /// (the second call's incident joins the person's storm instead).
    pub fn share_lines(&self, leases: Arc<dyn crate::LeaseStore>) {
        let _ = self.inner.shared_lines.set(leases);
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.inner.clock.now()
    }

    pub fn live_calls(&self) -> usize {
        self.inner.gate.live_calls()
    }

    /// The roster in force, if one is loaded.
    pub fn roster(&self) -> Option<Arc<Roster>> {
        self.inner
            .roster
            .read()
            .expect("roster lock")
            .as_ref()
            .map(|(_, r)| r.clone())
    }

    /// Uses `roster` from now on (drills and tests; the daemon reads the store).
    pub fn set_roster(&self, roster: Roster) {
        *self.inner.roster.write().expect("roster lock") = Some((0, Arc::new(roster)));
    }

    /// Re-reads the roster from the store. An invalid stored roster is logged
    /// and the previous one stays in force: a typo must not stop the paging.
    pub async fn reload_roster(&self) -> Result<bool, StoreError> {
        let Some(doc) = self.inner.store.load_roster().await? else {
            return Ok(false);
        };
        let current = self
            .inner
            .roster
            .read()
            .expect("roster lock")
            .as_ref()
            .map(|(v, _)| *v);
        if current == Some(doc.version) {
            return Ok(true);
        }
        match Roster::from_yaml(&doc.yaml) {
            Ok(r) => {
                info!(version = doc.version, "roster loaded");
                *self.inner.roster.write().expect("roster lock") = Some((doc.version, Arc::new(r)));
                Ok(true)
            }
            Err(errs) => {
                error!(version = doc.version, problems = ?errs.0, "stored roster is invalid; keeping the previous one");
                Ok(current.is_some())
            }
        }
    }

    pub async fn reload_silences(&self) -> Result<(), StoreError> {
        let list = self.inner.store.silences(self.now()).await?;
        *self.inner.silences.write().expect("silence lock") = Arc::new(SilenceIndex::new(list));
        Ok(())
    }

    fn silences(&self) -> Arc<SilenceIndex> {
        self.inner.silences.read().expect("silence lock").clone()
    }

    fn lock_for(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.inner
            .locks
            .lock()
            .expect("locks")
            .entry(id.to_string())
            .or_default()
            .clone()
    }

    fn new_incident_id(&self, group_key: &str, now: DateTime<Utc>) -> String {
        let seq = self.inner.seq.fetch_add(1, Ordering::Relaxed);
        use ringdown_core::hash::{fnv1a, FNV_OFFSET};
        let h = [
            group_key.as_bytes(),
            self.inner.settings.instance.as_bytes(),
            &seq.to_le_bytes(),
            &now.timestamp_millis().to_le_bytes(),
        ]
        .into_iter()
        .fold(FNV_OFFSET, fnv1a);
        format!("{}-{:06x}", now.format("%Y%m%d-%H%M%S"), h & 0xff_ffff)
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, IncidentCache> {
        self.inner.cache.lock().expect("incident cache")
    }
}
