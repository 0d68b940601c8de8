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
use ringdown_core::grouping::route;
use ringdown_core::phone::mask;
use ringdown_core::roster::Roster;
use ringdown_core::silence::SilenceIndex;
use ringdown_core::{Alert, Status};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::{mpsc, Notify};
use tokio_util::task::TaskTracker;
use tracing::{error, info, warn};

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
            .outcome_deadline(e.message_max_chars)
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

/// A notice the channel refused: when to try again, failures so far, the
/// incident and the notice.
type NoticeRetry = (DateTime<Utc>, u32, String, String);

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
    outcome_retries: Mutex<Vec<(DateTime<Utc>, u32, OutcomeReport)>>,
    /// Notices the channel refused: (when to try again, failures, incident,
    /// notice). The notices themselves are in their incidents' outboxes.
    notice_retries: Mutex<Vec<NoticeRetry>>,
    /// Open incidents as this process last wrote or read them, and the open
    /// incident of each group. Saves read before write: every save is
    /// conditional on the version, so a stale entry costs one conflict and a
    /// re-read, never a decision on old state (see `apply_as`).
    cache: Mutex<IncidentCache>,
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
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("incident {0} kept changing underneath; gave up after retries")]
    Contended(String),
}

const MAX_RETRIES: usize = 16;

/// See `Inner::cache`.
#[derive(Default)]
struct IncidentCache {
    by_id: HashMap<String, Incident>,
    by_group: HashMap<String, String>,
}

impl IncidentCache {
    /// More open incidents than any team has; past it the cache starts over
    /// (entries of incidents other replicas closed are never read again).
    const MAX: usize = 10_000;

    fn remember(&mut self, inc: &Incident) {
        if inc.phase.is_closed() {
            self.forget(&inc.id);
            return;
        }
        if self.by_id.len() >= Self::MAX {
            self.by_id.clear();
            self.by_group.clear();
        }
        self.by_group.insert(inc.group_key.clone(), inc.id.clone());
        self.by_id.insert(inc.id.clone(), inc.clone());
    }

    fn forget(&mut self, id: &str) {
        if let Some(inc) = self.by_id.remove(id) {
            if self.by_group.get(&inc.group_key).is_some_and(|g| g == id) {
                self.by_group.remove(&inc.group_key);
            }
        }
    }

    fn open_for_group(&self, group_key: &str) -> Option<Incident> {
        self.by_id.get(self.by_group.get(group_key)?).cloned()
    }
}

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
                outcome_retries: Mutex::new(Vec::new()),
                notice_retries: Mutex::new(Vec::new()),
                cache: Mutex::new(IncidentCache::default()),
                tracker: TaskTracker::new(),
                seq: AtomicU64::new(0),
                missed: Mutex::new(Default::default()),
                dialing: Mutex::new(HashMap::new()),
                unreadable: Mutex::new(Default::default()),
            }),
        }
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
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in group_key
            .bytes()
            .chain(self.inner.settings.instance.bytes())
            .chain(seq.to_le_bytes())
            .chain(now.timestamp_millis().to_le_bytes())
        {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x100_0000_01b3);
        }
        format!("{}-{:06x}", now.format("%Y%m%d-%H%M%S"), h & 0xff_ffff)
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, IncidentCache> {
        self.inner.cache.lock().expect("incident cache")
    }

    /// Applies `event` to incident `id`: load, decide, persist, then act.
    pub async fn apply(&self, id: &str, event: Event) -> Result<Option<Incident>, EngineError> {
        self.apply_as(id, event, false).await
    }

    /// `from_sweep`: the tick comes from scanning the store rather than from
    /// this process's own timer, so an incident another live replica owns is
    /// left to it until it is overdue by `takeover_after`.
    async fn apply_as(
        &self,
        id: &str,
        event: Event,
        from_sweep: bool,
    ) -> Result<Option<Incident>, EngineError> {
        let Some(roster) = self.roster() else {
            warn!(incident = id, "no roster loaded; event deferred");
            return Ok(None);
        };
        let lock = self.lock_for(id);
        let _guard = lock.lock().await;
        // A sweep re-checks ownership against the store, so it never starts
        // from the cache.
        let mut trust_cache = !from_sweep;
        for _ in 0..MAX_RETRIES {
            let cached = trust_cache
                .then(|| self.cache().by_id.get(id).cloned())
                .flatten();
            let from_cache = cached.is_some();
            let current = match cached {
                Some(c) => c,
                None => match self.inner.store.load_incident(id).await? {
                    Some(c) => c,
                    None => return Ok(None),
                },
            };
            if current.phase.is_closed() && !matches!(event, Event::NoticeDelivered { .. }) {
                self.cache().forget(id);
                // Closed incidents never change (but for their outbox); the
                // caller must look elsewhere (a new incident of the group)
                // for where the event belongs.
                return Ok(None);
            }
            let now = self.now();
            if from_sweep && self.owned_by_live_peer(&current, now) {
                return Ok(Some(current));
            }
            let silences = self.silences();
            let ctx = Context {
                roster: &roster,
                silences: &silences,
                settings: &self.inner.settings.escalation,
            };
            let (mut next, effects) = decide(&current, event.clone(), &ctx, now);
            if next == current {
                if from_cache {
                    // Nothing to write, so no version check would catch a
                    // stale entry: confirm against the store.
                    trust_cache = false;
                    continue;
                }
                self.cache().remember(&current);
                return Ok(Some(current));
            }
            let mut took_over = false;
            if next.owner.as_deref() != Some(self.inner.settings.instance.as_str()) {
                if let Some(prev) = &next.owner {
                    if from_sweep {
                        info!(incident = %id, previous = %prev, "its owner is overdue: taking over the incident");
                    } else {
                        info!(incident = %id, previous = %prev, "taking over the incident to apply an event");
                    }
                    took_over = true;
                }
                next.owner = Some(self.inner.settings.instance.clone());
            }
            // A silence is stored before the incident that created it: if it
            // cannot be, nothing is saved and the event is retried (an
            // outcome is held until the store takes it).
            let effects = self.pre_effects(effects).await?;
            match self.inner.store.save_incident(&next).await {
                Ok(v) => {
                    next.version = v;
                    self.cache().remember(&next);
                    if took_over {
                        // Follow the call in flight, whoever placed it. Only
                        // an owner found overdue (a sweep) may have died with
                        // its call unplaced: then place it. Any other writer
                        // (an alert, an outcome) leaves the dialling to the
                        // live owner. A call this decision places is placed
                        // by `execute`.
                        self.watch_call_in_flight(&next);
                        let same_call = current.call.as_ref().map(|c| &c.call_id)
                            == next.call.as_ref().map(|c| &c.call_id);
                        if from_sweep && same_call {
                            self.reissue_unplaced(&next);
                        }
                    }
                    self.release_finished_call(&current, &next);
                    if current.acked_at.is_none() {
                        if let Some(acked) = next.acked_at {
                            metrics::counter!("ringdown_incidents_acked_total").increment(1);
                            let secs = (acked - next.opened_at).num_milliseconds() as f64 / 1000.0;
                            metrics::histogram!("ringdown_time_to_ack_seconds").record(secs);
                        }
                    }
                    self.execute(&next, effects).await;
                    if next.phase.is_closed() {
                        self.inner.locks.lock().expect("locks").remove(id);
                    }
                    return Ok(Some(next));
                }
                Err(StoreError::Conflict(_)) => {
                    self.cache().forget(id);
                    trust_cache = false;
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(EngineError::Contended(id.to_string()))
    }

    /// Effects that must be durable before the incident is saved. A
    /// silence that cannot be stored after a few tries fails the decision.
    async fn pre_effects(&self, effects: Vec<Effect>) -> Result<Vec<Effect>, StoreError> {
        let mut rest = Vec::with_capacity(effects.len());
        for e in effects {
            if let Effect::CreateSilence(s) = &e {
                let mut attempt = 0u32;
                loop {
                    match self.inner.store.put_silence(s).await {
                        Ok(()) => break,
                        Err(err) if attempt < 4 => {
                            warn!(silence = %s.id, attempt, error = %err, "could not store silence; retrying");
                            tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
                            attempt += 1;
                        }
                        Err(err) => {
                            error!(silence = %s.id, error = %err, "could not store the silence: the incident stays open and the outcome is tried again");
                            return Err(err);
                        }
                    }
                }
                info!(silence = %s.id, ends_at = s.ends_at, by = %s.created_by, "silence created");
                metrics::counter!("ringdown_silences_created_total").increment(1);
                if let Err(err) = self.reload_silences().await {
                    warn!(error = %err, "could not refresh silences");
                }
            } else {
                rest.push(e);
            }
        }
        Ok(rest)
    }

    fn owned_by_live_peer(&self, inc: &Incident, now: DateTime<Utc>) -> bool {
        let me = self.inner.settings.instance.as_str();
        let takeover =
            chrono::Duration::from_std(self.inner.settings.takeover_after).unwrap_or_default();
        match (&inc.owner, inc.wake_at()) {
            (Some(owner), Some(due)) if owner != me => now < due + takeover,
            _ => false,
        }
    }

    fn release_finished_call(&self, before: &Incident, after: &Incident) {
        if let Some(old) = &before.call {
            if after.call.as_ref().map(|c| &c.call_id) != Some(&old.call_id) {
                self.inner.gate.release(&old.call_id);
                self.cancel_dialing(&old.call_id);
            }
        }
    }

    /// The dialer stops retrying `call_id` (between requests).
    fn cancel_dialing(&self, call_id: &str) {
        if let Some((_, t)) = self.inner.dialing.lock().expect("dialing").remove(call_id) {
            t.cancel();
        }
    }

    async fn execute(&self, inc: &Incident, effects: Vec<Effect>) {
        for effect in effects {
            match effect {
                Effect::PlaceCall(req) => self.spawn_call(req),
                Effect::StopCall {
                    call_id,
                    contact_id,
                } => {
                    self.inner.gate.release(&call_id);
                    self.cancel_dialing(&call_id);
                    if let Some(contact) = contact_id {
                        let dialer = self.inner.dialer.clone();
                        self.inner.tracker.spawn(async move {
                            if let Err(e) = dialer.stop(&contact).await {
                                warn!(call = %call_id, error = %e, "could not stop call");
                            }
                        });
                    }
                }
                Effect::CreateSilence(_) => {}
                Effect::WakeAt { at } => self.schedule(at, &inc.id),
                Effect::Fallback {
                    reason, notice_id, ..
                } => {
                    metrics::counter!("ringdown_fallbacks_total").increment(1);
                    warn!(incident = %inc.id, reason = %reason, "incident sent to the fallback channel");
                    self.spawn_notice(inc.clone(), notice_id, 0);
                }
                Effect::OperatorAlert {
                    message, notice_id, ..
                } => {
                    error!(incident = %inc.id, "{message}");
                    self.spawn_notice(inc.clone(), notice_id, 0);
                }
                Effect::ReleaseGroup { .. } => {
                    let phase = inc.phase.as_str();
                    metrics::counter!("ringdown_incidents_closed_total", "phase" => phase)
                        .increment(1);
                    info!(incident = %inc.id, phase, "incident closed");
                }
            }
        }
    }

    /// Delivers a notice of the incident's outbox, then takes it out of the
    /// outbox; a notice the channel refused is tried again (5 s, doubling to
    /// 5 min) until it is taken, across restarts (the outbox is stored).
    fn spawn_notice(&self, inc: Incident, notice_id: String, failures: u32) {
        let engine = self.clone();
        self.inner.tracker.spawn(async move {
            engine.deliver_notice(inc, notice_id, failures).await;
        });
    }

    async fn deliver_notice(&self, inc: Incident, notice_id: String, failures: u32) {
        let Some(notice) = inc.outbox.iter().find(|n| n.id == notice_id).cloned() else {
            return;
        };
        let kind = match notice.kind {
            NoticeKind::Fallback => "fallback",
            NoticeKind::OperatorAlert => "operator_alert",
        };
        let sent = match notice.kind {
            NoticeKind::Fallback => self.inner.notifier.fallback(&inc, &notice.text).await,
            NoticeKind::OperatorAlert => {
                self.inner.notifier.operator_alert(&inc, &notice.text).await
            }
        };
        match sent {
            Ok(()) => {
                metrics::counter!("ringdown_notices_total", "kind" => kind, "result" => "delivered")
                    .increment(1);
                let delivered = Event::NoticeDelivered {
                    id: notice_id.clone(),
                };
                if let Err(e) = self.apply(&inc.id, delivered).await {
                    // Delivered but still in the outbox: sent once more later
                    // (at least once beats never).
                    warn!(incident = %inc.id, notice = %notice_id, error = %e, "could not clear a delivered notice");
                }
            }
            Err(e) => {
                metrics::counter!("ringdown_notices_total", "kind" => kind, "result" => "failed")
                    .increment(1);
                let wait =
                    Duration::from_secs(5u64 << failures.min(6)).min(Duration::from_secs(300));
                error!(incident = %inc.id, notice = %notice_id, kind, error = %e, retry_in_s = wait.as_secs(), "the notice channel failed; the notice is kept and sent again");
                let at = self.now() + chrono::Duration::from_std(wait).unwrap_or_default();
                self.inner
                    .notice_retries
                    .lock()
                    .expect("notice retries")
                    .push((at, failures + 1, inc.id.clone(), notice_id));
            }
        }
    }

    /// Notices whose retry time has come, sent again from the stored outbox.
    async fn retry_notices(&self) {
        let now = self.now();
        let due: Vec<(u32, String, String)> = {
            let mut q = self.inner.notice_retries.lock().expect("notice retries");
            let (due, later): (Vec<_>, Vec<_>) = q.drain(..).partition(|(at, ..)| *at <= now);
            *q = later;
            due.into_iter().map(|(_, n, i, id)| (n, i, id)).collect()
        };
        for (failures, incident_id, notice_id) in due {
            match self.inner.store.load_incident(&incident_id).await {
                Ok(Some(inc)) => self.spawn_notice(inc, notice_id, failures),
                Ok(None) => {}
                Err(e) => {
                    warn!(incident = %incident_id, error = %e, "could not read the incident of a pending notice; trying later");
                    let at = now + chrono::Duration::seconds(5);
                    self.inner
                        .notice_retries
                        .lock()
                        .expect("notice retries")
                        .push((at, failures, incident_id, notice_id));
                }
            }
        }
    }

    fn schedule(&self, at: DateTime<Utc>, id: &str) {
        self.inner
            .wakes
            .lock()
            .expect("wakes")
            .insert((at, id.to_string()));
        self.inner.wake.notify_one();
    }

    fn spawn_call(&self, req: CallRequest) {
        let engine = self.clone();
        self.inner
            .tracker
            .spawn(async move { engine.place_call(req).await });
    }

    async fn place_call(&self, req: CallRequest) {
        let inner = &self.inner;
        // One task per call in this process: a re-issue while the call is
        // being placed already is a no-op.
        let cancel = tokio_util::sync::CancellationToken::new();
        let mine = inner.seq.fetch_add(1, Ordering::Relaxed);
        {
            let mut dialing = inner.dialing.lock().expect("dialing");
            if dialing.contains_key(&req.call_id) {
                return;
            }
            dialing.insert(req.call_id.clone(), (mine, cancel.clone()));
        }
        self.place_call_once(&req, &cancel).await;
        let mut dialing = inner.dialing.lock().expect("dialing");
        if dialing.get(&req.call_id).is_some_and(|(n, _)| *n == mine) {
            dialing.remove(&req.call_id);
        }
    }

    async fn place_call_once(
        &self,
        req: &CallRequest,
        cancel: &tokio_util::sync::CancellationToken,
    ) {
        let inner = &self.inner;
        tokio::select! {
            _ = cancel.cancelled() => {
                info!(incident = %req.incident_id, call = %req.call_id, "call no longer needed; not placed");
                return;
            }
            _ = inner.gate.admit(&req.call_id) => {}
        }
        // The intent, stored before the request leaves: the outcome deadline
        // starts now (never while the call waited in line), and a process
        // that dies from here on leaves the record that this call may have
        // reached Connect. The conditional write also re-checks the
        // incident: waiting in line may have taken a while, and nobody is
        // woken for an incident resolved or acknowledged meanwhile.
        let dialing = Event::Dialing {
            call_id: req.call_id.clone(),
        };
        let maybe_placed = match self.apply(&req.incident_id, dialing).await {
            Ok(Some(inc)) => match inc.call.as_ref().filter(|c| {
                c.call_id == req.call_id && c.dialled_at.is_some() && c.contact_id.is_none()
            }) {
                Some(c) => c.dial_attempts > 1,
                None => {
                    info!(incident = %req.incident_id, call = %req.call_id, "call no longer needed; not placed");
                    inner.gate.release(&req.call_id);
                    return;
                }
            },
            Ok(None) => {
                info!(incident = %req.incident_id, call = %req.call_id, "call no longer needed; not placed");
                inner.gate.release(&req.call_id);
                return;
            }
            Err(e) => {
                // A page must go out: dial, and treat the call as one that
                // may have been placed before (the dialer asks first).
                warn!(incident = %req.incident_id, error = %e, "could not record that the call is being dialled; placing it anyway");
                true
            }
        };
        // The full number comes from the roster now; the stored request
        // holds it masked.
        let number = match self.roster() {
            Some(r) => r.number_to_dial(&req.person, req.phone_index, &req.phone),
            None => Err("no roster is loaded".to_string()),
        };
        let dial = match number {
            Ok(number) => CallRequest {
                phone: number,
                ..req.clone()
            },
            Err(why) => {
                inner.gate.release(&req.call_id);
                warn!(incident = %req.incident_id, call = %req.call_id, "{why}");
                let rejected = Event::CallRejected {
                    call_id: req.call_id.clone(),
                    kind: RejectKind::Misconfigured,
                    message: why,
                };
                if let Err(e) = self.apply(&req.incident_id, rejected).await {
                    error!(incident = %req.incident_id, error = %e, "could not record call result");
                }
                return;
            }
        };
        let req = &dial;
        info!(incident = %req.incident_id, call = %req.call_id, person = %req.person, phone = %mask(&req.phone), "placing call");
        // The dialer runs in its own task so that a panic inside an SDK (a
        // malformed endpoint setting, say) becomes a failed call that the core
        // escalates past, not a silently lost one.
        let placed = {
            let dialer = inner.dialer.clone();
            let req = req.clone();
            let cancel = cancel.clone();
            tokio::spawn(async move { dialer.place(&req, maybe_placed, &cancel).await })
                .await
                .unwrap_or_else(|e| {
                    Err(DialError::Unavailable(format!(
                        "the dialer failed unexpectedly: {e}"
                    )))
                })
        };
        if matches!(placed, Err(DialError::Cancelled)) {
            inner.gate.release(&req.call_id);
            return;
        }
        let event = match placed {
            Ok(contact_id) => {
                metrics::counter!("ringdown_calls_placed_total").increment(1);
                let row = ContactRow {
                    contact_id: contact_id.clone(),
                    call_id: req.call_id.clone(),
                    incident_id: req.incident_id.clone(),
                    person: req.person.clone(),
                    phone_masked: mask(&req.phone),
                    placed_at: self.now(),
                    ended_at: None,
                    outcome: None,
                    disconnect_reason: None,
                };
                if let Err(e) = inner.store.record_contact(&row).await {
                    warn!(call = %req.call_id, error = %e, "could not record contact");
                }
                Event::CallPlaced {
                    call_id: req.call_id.clone(),
                    contact_id,
                }
            }
            Err(err) => {
                inner.gate.release(&req.call_id);
                let kind = match err {
                    DialError::Misconfigured(_) => RejectKind::Misconfigured,
                    DialError::Unavailable(_) | DialError::Cancelled => RejectKind::Unavailable,
                };
                metrics::counter!("ringdown_calls_rejected_total").increment(1);
                warn!(incident = %req.incident_id, call = %req.call_id, error = %err, "call rejected");
                Event::CallRejected {
                    call_id: req.call_id.clone(),
                    kind,
                    message: err.to_string(),
                }
            }
        };
        if let Err(e) = self.apply(&req.incident_id, event).await {
            error!(incident = %req.incident_id, error = %e, "could not record call result");
        }
    }

    /// Feeds a finished call's outcome to its incident.
    pub async fn on_outcome(&self, report: OutcomeReport) -> Result<(), EngineError> {
        info!(
            incident = %report.incident_id, call = %report.call_id, contact = %report.contact_id,
            outcome = report.outcome.as_str(), reason = report.disconnect_reason.as_deref().unwrap_or("-"),
            "call ended"
        );
        metrics::counter!("ringdown_call_outcomes_total", "outcome" => report.outcome.as_str())
            .increment(1);
        self.inner.gate.release(&report.call_id);
        self.store_outcome(report).await
    }

    /// Applies an outcome to its incident; on failure the outcome is kept
    /// and tried again (1 s, doubling to 30 s) until the store takes it.
    async fn on_outcome_or_retry(&self, report: OutcomeReport, failures: u32) {
        let result = if failures == 0 {
            self.on_outcome(report.clone()).await
        } else {
            self.store_outcome(report.clone()).await
        };
        if let Err(e) = result {
            let wait = Duration::from_secs(1u64 << failures.min(5)).min(Duration::from_secs(30));
            error!(
                incident = %report.incident_id, call = %report.call_id, error = %e,
                retry_in_s = wait.as_secs(), "could not apply call outcome; will retry"
            );
            let at = self.now() + chrono::Duration::from_std(wait).unwrap_or_default();
            self.inner
                .outcome_retries
                .lock()
                .expect("outcome retries")
                .push((at, failures + 1, report));
        }
    }

    async fn retry_outcomes(&self) {
        let now = self.now();
        let due: Vec<(u32, OutcomeReport)> = {
            let mut q = self.inner.outcome_retries.lock().expect("outcome retries");
            let (due, later): (Vec<_>, Vec<_>) = q.drain(..).partition(|(at, _, _)| *at <= now);
            *q = later;
            due.into_iter().map(|(_, n, r)| (n, r)).collect()
        };
        for (failures, report) in due {
            self.on_outcome_or_retry(report, failures).await;
        }
    }

    /// Applies the outcomes held for `incident_id` now, before its timers:
    /// an outcome timeout must never be decided while the outcome itself
    /// waits in the retry list (the store was away when it came). False
    /// when some could still not be stored; the timer then waits too.
    async fn flush_held_outcomes(&self, incident_id: &str) -> bool {
        let held: Vec<(u32, OutcomeReport)> = {
            let mut q = self.inner.outcome_retries.lock().expect("outcome retries");
            let (mine, rest): (Vec<_>, Vec<_>) = q
                .drain(..)
                .partition(|(_, _, r)| r.incident_id == incident_id);
            *q = rest;
            mine.into_iter().map(|(_, n, r)| (n, r)).collect()
        };
        let mut all_stored = true;
        for (failures, report) in held {
            if self.store_outcome(report.clone()).await.is_err() {
                all_stored = false;
                let at = self.now() + chrono::Duration::seconds(1);
                self.inner
                    .outcome_retries
                    .lock()
                    .expect("outcome retries")
                    .push((at, failures + 1, report));
            }
        }
        all_stored
    }

    async fn store_outcome(&self, report: OutcomeReport) -> Result<(), EngineError> {
        let applied = report.applied.clone();
        self.store_outcome_once(report).await?;
        applied.confirm();
        Ok(())
    }

    async fn store_outcome_once(&self, report: OutcomeReport) -> Result<(), EngineError> {
        let existing = self
            .inner
            .store
            .contacts_for_incident(&report.incident_id)
            .await?;
        if let Some(mut row) = existing
            .into_iter()
            .find(|r| r.contact_id == report.contact_id)
        {
            row.ended_at = Some(report.ended_at);
            row.outcome = Some(report.outcome);
            row.disconnect_reason = report.disconnect_reason.clone();
            self.inner.store.record_contact(&row).await?;
        }
        self.apply(
            &report.incident_id,
            Event::CallEnded {
                call_id: report.call_id,
                outcome: report.outcome,
                disconnect_reason: report.disconnect_reason,
            },
        )
        .await?;
        Ok(())
    }

    /// Re-arms every open incident after a start: timers for due work and a
    /// re-issue of calls that were decided but may never have reached Connect.
    pub async fn recover(&self) -> Result<usize, EngineError> {
        let all = self
            .inner
            .store
            .list_incidents(&IncidentFilter::default())
            .await?;
        // Notices raised before a crash (or whose channel was down) go out
        // now, closed incidents' included.
        for inc in all.iter().filter(|i| !i.outbox.is_empty()) {
            for n in &inc.outbox {
                self.spawn_notice(inc.clone(), n.id.clone(), 0);
            }
        }
        let open: Vec<Incident> = all.into_iter().filter(|i| !i.phase.is_closed()).collect();
        let me = self.inner.settings.instance.as_str();
        for inc in &open {
            // Whoever owns it, a call in flight may have had its contact
            // record read and lost by the process that died: look it up if
            // no record comes. (Cheap: one request, only for late records.)
            self.watch_call_in_flight(inc);
        }
        for inc in open
            .iter()
            .filter(|i| i.owner.as_deref().is_none_or(|o| o == me))
        {
            if let Some(at) = inc.wake_at() {
                self.schedule(at, &inc.id);
            }
            self.reissue_unplaced(inc);
        }
        Ok(open.len())
    }

    /// Places `inc`'s call again when its contact id is unknown: it waited
    /// in line at a process that died, or that process died between dialling
    /// and storing the contact id (then the dialer asks Connect first).
    fn reissue_unplaced(&self, inc: &Incident) {
        if let Some(call) = &inc.call {
            if call.contact_id.is_none() {
                info!(incident = %inc.id, call = %call.call_id, dialled = call.dialled_at.is_some(), "re-issuing a call whose contact is not known");
                self.spawn_call(call.request.clone());
            }
        }
    }

    /// Has the dialer follow `inc`'s placed call, whose outcome this process
    /// would otherwise only learn from a contact record that may never come
    /// (read and lost by a replica that died, or dropped).
    fn watch_call_in_flight(&self, inc: &Incident) {
        if let Some(call) = &inc.call {
            if let Some(contact) = &call.contact_id {
                let dialled_at = call.dialled_at.unwrap_or(call.placed_at);
                self.inner
                    .dialer
                    .watch(&inc.id, &call.call_id, contact, dialled_at);
            }
        }
    }

    async fn run_due(&self) {
        let now = self.now();
        let due: Vec<String> = {
            let mut wakes = self.inner.wakes.lock().expect("wakes");
            let mut due = Vec::new();
            while let Some(first) = wakes.first().cloned() {
                if first.0 > now {
                    break;
                }
                wakes.pop_first();
                if !due.contains(&first.1) {
                    due.push(first.1);
                }
            }
            due
        };
        for id in due {
            if !self.flush_held_outcomes(&id).await {
                self.schedule(now + chrono::Duration::seconds(1), &id);
                continue;
            }
            if let Err(e) = self.apply(&id, Event::Tick).await {
                error!(incident = %id, error = %e, "tick failed");
            }
        }
    }

    async fn sweep(&self) {
        match self.inner.store.due_incidents(self.now(), 100).await {
            Ok(ids) => {
                for id in ids {
                    if self
                        .inner
                        .unreadable
                        .lock()
                        .expect("unreadable")
                        .contains(&id)
                    {
                        continue;
                    }
                    if !self.flush_held_outcomes(&id).await {
                        continue;
                    }
                    match self.apply_as(&id, Event::Tick, true).await {
                        Ok(_) => {}
                        Err(EngineError::Store(e @ StoreError::Undecodable { .. })) => {
                            // Said once, then left to the release that wrote it.
                            error!(incident = %id, error = %e, "an incident this release cannot read is left alone");
                            self.inner.unreadable.lock().expect("unreadable").insert(id);
                        }
                        Err(e) => error!(incident = %id, error = %e, "tick failed"),
                    }
                }
            }
            Err(e) => warn!(error = %e, "sweep for due incidents failed"),
        }
    }

    /// Runs timers, outcome processing and periodic refreshes until `shutdown`
    /// completes; then waits for calls being placed to finish.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) -> Result<(), EngineError> {
        if let Err(e) = self.reload_roster().await {
            warn!(error = %e, "could not read the roster");
        }
        self.reload_silences().await?;
        self.recover().await?;
        let mut outcomes = self.inner.outcomes.lock().await;
        let mut last_sweep = tokio::time::Instant::now();
        let mut last_silences = tokio::time::Instant::now();
        let mut last_roster = tokio::time::Instant::now();
        let mut last_heartbeats = tokio::time::Instant::now();
        tokio::pin!(shutdown);
        loop {
            let next_wake = self
                .inner
                .wakes
                .lock()
                .expect("wakes")
                .first()
                .map(|(t, _)| *t);
            let sweep_at = self.now()
                + chrono::Duration::from_std(self.inner.settings.sweep_interval)
                    .unwrap_or_default();
            let next_retry = self
                .inner
                .outcome_retries
                .lock()
                .expect("outcome retries")
                .iter()
                .map(|(at, _, _)| *at)
                .min();
            let next_notice = self
                .inner
                .notice_retries
                .lock()
                .expect("notice retries")
                .iter()
                .map(|(at, ..)| *at)
                .min();
            let until = [next_wake, next_retry, next_notice]
                .into_iter()
                .flatten()
                .fold(sweep_at, |a, b| a.min(b));
            tokio::select! {
                _ = &mut shutdown => break,
                _ = sleep_until(self.inner.clock.as_ref(), until) => {}
                _ = self.inner.wake.notified() => {}
                report = outcomes.recv() => {
                    match report {
                        Some(r) => self.on_outcome_or_retry(r, 0).await,
                        None => {
                            // Every outcome sender is gone; keep running timers.
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                }
            }
            self.run_due().await;
            self.retry_outcomes().await;
            self.retry_notices().await;
            if last_sweep.elapsed() >= self.inner.settings.sweep_interval {
                last_sweep = tokio::time::Instant::now();
                self.sweep().await;
            }
            if last_silences.elapsed() >= self.inner.settings.silence_refresh {
                last_silences = tokio::time::Instant::now();
                if let Err(e) = self.reload_silences().await {
                    warn!(error = %e, "could not refresh silences");
                }
            }
            if last_heartbeats.elapsed() >= self.inner.settings.heartbeat_check {
                last_heartbeats = tokio::time::Instant::now();
                self.check_heartbeats().await;
            }
            if last_roster.elapsed() >= self.inner.settings.roster_refresh {
                last_roster = tokio::time::Instant::now();
                if let Err(e) = self.reload_roster().await {
                    warn!(error = %e, "could not refresh the roster");
                }
            }
        }
        info!("engine stopping: finishing calls in progress");
        self.inner.tracker.close();
        self.inner.tracker.wait().await;
        self.release_ownership().await;
        Ok(())
    }

    /// On a graceful stop, gives up ownership of open incidents so another
    /// replica picks them up at their due time instead of `takeover_after`
    /// later. Best effort: a conflict means someone else already moved on.
    async fn release_ownership(&self) {
        let me = self.inner.settings.instance.as_str();
        let Ok(list) = self
            .inner
            .store
            .list_incidents(&IncidentFilter::default())
            .await
        else {
            return;
        };
        let mut released = 0;
        for mut inc in list
            .into_iter()
            .filter(|i| !i.phase.is_closed() && i.owner.as_deref() == Some(me))
        {
            inc.owner = None;
            if self.inner.store.save_incident(&inc).await.is_ok() {
                released += 1;
            }
        }
        if released > 0 {
            info!(released, "released ownership of open incidents");
        }
    }

    /// Raises a missed-heartbeat alert for every heartbeat silent for longer
    /// than it promised (and clears ones whose beats came back through
    /// another replica). A heartbeat never seen is armed now, so a fresh
    /// deployment does not page before the first beat had a chance.
    pub async fn check_heartbeats(&self) {
        let Some(roster) = self.roster() else { return };
        let now = self.now();
        for h in &roster.heartbeats {
            let last = match self.inner.store.heartbeat_last_seen(&h.name).await {
                Ok(Some(t)) => t,
                Ok(None) => {
                    if let Err(e) = self.inner.store.heartbeat_seen(&h.name, now).await {
                        warn!(heartbeat = %h.name, error = %e, "could not arm heartbeat");
                    }
                    continue;
                }
                Err(e) => {
                    warn!(heartbeat = %h.name, error = %e, "could not read heartbeat");
                    continue;
                }
            };
            let overdue = ringdown_core::heartbeat::is_overdue(h, last, now);
            let known = self.inner.missed.lock().expect("missed").contains(&h.name);
            if overdue && !known {
                error!(heartbeat = %h.name, last_seen = %last, "heartbeat missed: the alerting path may be down");
                metrics::counter!("ringdown_heartbeats_missed_total").increment(1);
                let alert = ringdown_core::heartbeat::missed_alert(h, Status::Firing, last);
                match self.ingest_on_policy(&roster, &h.policy, vec![alert]).await {
                    Ok(_) => {
                        self.inner
                            .missed
                            .lock()
                            .expect("missed")
                            .insert(h.name.clone());
                    }
                    Err(e) => {
                        error!(heartbeat = %h.name, error = %e, "could not open the missed-heartbeat incident")
                    }
                }
            } else if !overdue && known {
                self.clear_missed(&roster, h, last).await;
            }
        }
    }

    async fn clear_missed(
        &self,
        roster: &Roster,
        h: &ringdown_core::roster::Heartbeat,
        last: DateTime<Utc>,
    ) {
        let alert = ringdown_core::heartbeat::missed_alert(h, Status::Resolved, last);
        match self.ingest_on_policy(roster, &h.policy, vec![alert]).await {
            Ok(_) => {
                info!(heartbeat = %h.name, "heartbeat is back");
                self.inner.missed.lock().expect("missed").remove(&h.name);
            }
            Err(e) => {
                warn!(heartbeat = %h.name, error = %e, "could not clear the missed-heartbeat incident")
            }
        }
    }

    /// Records beats; a beat that ends a miss resolves its incident.
    async fn renew_heartbeats(
        &self,
        roster: &Roster,
        names: BTreeSet<String>,
    ) -> Result<(), StoreError> {
        let now = self.now();
        for name in names {
            let Some(h) = roster.heartbeats.iter().find(|h| h.name == name) else {
                continue;
            };
            let prev = self.inner.store.heartbeat_last_seen(&name).await?;
            self.inner.store.heartbeat_seen(&name, now).await?;
            metrics::counter!("ringdown_heartbeats_received_total").increment(1);
            let was_missed = prev.is_some_and(|p| ringdown_core::heartbeat::is_overdue(h, p, now))
                || self.inner.missed.lock().expect("missed").contains(&name);
            if was_missed {
                self.clear_missed(roster, h, prev.unwrap_or(now)).await;
            }
        }
        Ok(())
    }

    /// Ingests alerts on a named policy, bypassing `match` (heartbeats name
    /// their policy explicitly).
    async fn ingest_on_policy(
        &self,
        roster: &Roster,
        policy: &str,
        alerts: Vec<Alert>,
    ) -> Result<Option<String>, EngineError> {
        let Some(p) = roster.policy(policy) else {
            return Ok(None);
        };
        let Some(first) = alerts.first() else {
            return Ok(None);
        };
        let labels = ringdown_core::grouping::group_labels(p, &first.labels);
        let key = ringdown_core::grouping::group_key(&p.name, &labels);
        self.ingest_group(roster, &key, policy, &labels, alerts)
            .await
    }

    async fn ingest_group(
        &self,
        roster: &Roster,
        group_key: &str,
        policy: &str,
        group_labels: &ringdown_core::Labels,
        alerts: Vec<Alert>,
    ) -> Result<Option<String>, EngineError> {
        for attempt in 0..MAX_RETRIES {
            let cached = if attempt == 0 {
                self.cache().open_for_group(group_key)
            } else {
                None
            };
            let open = match cached {
                Some(inc) => Some(inc),
                None => {
                    let found = self.inner.store.open_incident_for_group(group_key).await?;
                    if let Some(inc) = &found {
                        self.cache().remember(inc);
                    }
                    found
                }
            };
            if let Some(open) = open {
                match self.apply(&open.id, Event::Alerts(alerts.clone())).await? {
                    Some(inc) if inc.id == open.id => return Ok(Some(inc.id)),
                    _ => continue,
                }
            }
            if alerts.iter().all(|a| a.status == Status::Resolved) {
                return Ok(None);
            }
            let Some(policy) = roster.policy(policy) else {
                return Ok(None);
            };
            let now = self.now();
            let id = self.new_incident_id(group_key, now);
            let fresh = Incident::open(&id, group_key, policy, group_labels.clone(), now);
            let silences = self.silences();
            let ctx = Context {
                roster,
                silences: &silences,
                settings: &self.inner.settings.escalation,
            };
            let (inc, effects) = decide(&fresh, Event::Alerts(alerts.clone()), &ctx, now);
            match self.inner.store.create_incident(&inc).await? {
                Created::Created(stored) => {
                    self.cache().remember(&stored);
                    info!(incident = %stored.id, group = %group_key, alerts = alerts.len(), "incident opened");
                    metrics::counter!("ringdown_incidents_opened_total").increment(1);
                    self.execute(&stored, effects).await;
                    return Ok(Some(stored.id));
                }
                Created::Exists(_) => continue,
            }
        }
        Err(EngineError::Contended(group_key.to_string()))
    }
}

#[async_trait]
impl Ingest for Engine {
    /// One cheap read of the store, and a roster to route by.
    async fn ready(&self) -> Result<(), IngestError> {
        self.inner.store.load_roster().await?;
        if self.roster().is_none() {
            return Err(IngestError::NoRoster);
        }
        Ok(())
    }

    /// Routes, silences and groups a batch; one incident write per group.
    async fn ingest(&self, alerts: Vec<Alert>) -> Result<IngestReport, IngestError> {
        let Some(roster) = self.roster() else {
            return Err(IngestError::NoRoster);
        };
        let silences = self.silences();
        let now = self.now().timestamp();
        let mut report: Vec<Option<AlertDisposition>> = vec![None; alerts.len()];
        // group key -> (policy, group labels, alert indices)
        let mut groups: BTreeMap<String, (String, ringdown_core::Labels, Vec<usize>)> =
            BTreeMap::new();
        let mut beats = BTreeSet::new();
        for (i, alert) in alerts.iter().enumerate() {
            metrics::counter!("ringdown_alerts_received_total", "source" => alert.source.as_str())
                .increment(1);
            if let Some(h) = ringdown_core::heartbeat::renewed_by(&roster, alert) {
                beats.insert(h.name.clone());
                report[i] = Some(AlertDisposition::Heartbeat {
                    fingerprint: alert.fingerprint.clone(),
                    name: h.name.clone(),
                });
                continue;
            }
            let Some(r) = route(&roster, alert) else {
                metrics::counter!("ringdown_alerts_unrouted_total").increment(1);
                warn!(fingerprint = %alert.fingerprint, labels = ?alert.labels, "no policy matches this alert; add a catch-all policy (match: {{}})");
                report[i] = Some(AlertDisposition::Unrouted {
                    fingerprint: alert.fingerprint.clone(),
                });
                continue;
            };
            if alert.status == Status::Firing {
                if let Some(s) = silences.active_match_alert(&alert.labels, &alert.fingerprint, now)
                {
                    metrics::counter!("ringdown_alerts_silenced_total").increment(1);
                    report[i] = Some(AlertDisposition::Silenced {
                        fingerprint: alert.fingerprint.clone(),
                        silence_id: s.id.clone(),
                    });
                    continue;
                }
            }
            groups
                .entry(r.group_key)
                .or_insert_with(|| (r.policy.name.clone(), r.group_labels, Vec::new()))
                .2
                .push(i);
        }
        if !beats.is_empty() {
            self.renew_heartbeats(&roster, beats).await?;
        }
        for (key, (policy, labels, idx)) in groups {
            let batch: Vec<Alert> = idx.iter().map(|i| alerts[*i].clone()).collect();
            let result = self
                .ingest_group(&roster, &key, &policy, &labels, batch)
                .await
                .map_err(|e| match e {
                    EngineError::Store(s) => IngestError::Store(s),
                    EngineError::Contended(k) => IngestError::Store(StoreError::Conflict(k)),
                })?;
            for i in idx {
                let fingerprint = alerts[i].fingerprint.clone();
                report[i] = Some(match &result {
                    Some(id) => {
                        metrics::counter!("ringdown_alerts_grouped_total").increment(1);
                        AlertDisposition::Grouped {
                            fingerprint,
                            incident_id: id.clone(),
                        }
                    }
                    None => AlertDisposition::ResolvedNoIncident { fingerprint },
                });
            }
        }
        Ok(IngestReport {
            alerts: report.into_iter().flatten().collect(),
        })
    }
}
