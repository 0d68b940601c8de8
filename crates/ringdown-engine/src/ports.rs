//! The ports: what the engine needs from the outside world.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ringdown_core::escalation::{CallRequest, Incident, Phase};
use ringdown_core::outcome::Outcome;
use ringdown_core::silence::Silence;
use ringdown_core::Alert;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
pub use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// Someone else changed the record first (optimistic lock); reload and retry.
    #[error("conflict: {0} was changed concurrently")]
    Conflict(String),
    #[error("not found: {0}")]
    NotFound(String),
    /// The backend failed; `retryable` says whether trying again may help.
    #[error("store backend error: {message}")]
    Backend {
        message: String,
        retryable: bool,
        /// The backend's own error, when there is one.
        #[source]
        source: Option<std::sync::Arc<dyn std::error::Error + Send + Sync>>,
    },
    /// A stored record this release cannot read (corrupt, or written by a
    /// newer release). Listings skip it and report it; it is never retried.
    #[error("stored {what} {id} cannot be read: {reason}")]
    Undecodable {
        what: &'static str,
        id: String,
        reason: String,
    },
}

/// A stored roster document: the YAML the SRE applied, and its version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RosterDoc {
    pub yaml: String,
    pub version: u64,
    pub applied_at: DateTime<Utc>,
}

/// Result of creating an incident for a group that may already have one.
#[derive(Debug)]
pub enum Created {
    Created(StoredIncident),
    /// Another writer opened the group's incident first: here it is.
    Exists(StoredIncident),
}

#[derive(Debug, Clone, Default)]
pub struct IncidentFilter {
    pub since: Option<DateTime<Utc>>,
    pub phase: Option<Phase>,
    pub limit: Option<usize>,
}

/// One placed call, as kept for history and reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactRow {
    pub contact_id: String,
    pub call_id: String,
    pub incident_id: String,
    pub person: String,
    /// Always masked.
    pub phone_masked: String,
    pub placed_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub outcome: Option<Outcome>,
    pub disconnect_reason: Option<String>,
}

impl ContactRow {
    /// The order every store lists contacts in: oldest placed first, then
    /// by contact id.
    pub fn sort_oldest_first(rows: &mut [ContactRow]) {
        rows.sort_by(|a, b| {
            a.placed_at
                .cmp(&b.placed_at)
                .then_with(|| a.contact_id.cmp(&b.contact_id))
        });
    }
}

/// Durable state. Every method is a single atomic operation on the backend.
/// An incident as a store holds it: the core's incident, and what only the
/// stores and the engine care about. Reads as the incident it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredIncident {
    pub incident: Incident,
    /// Optimistic-lock version, set by the store: every save is conditional
    /// on it, so of two writers one wins and the other decides again.
    pub version: u64,
    /// The process driving the incident. Another takes over only when this
    /// one is overdue.
    pub owner: Option<String>,
}

impl StoredIncident {
    /// An incident not stored yet.
    pub fn new(incident: Incident) -> StoredIncident {
        StoredIncident {
            incident,
            version: 0,
            owner: None,
        }
    }
}

impl std::ops::Deref for StoredIncident {
    type Target = Incident;
    fn deref(&self) -> &Incident {
        &self.incident
    }
}

impl std::ops::DerefMut for StoredIncident {
    fn deref_mut(&mut self) -> &mut Incident {
        &mut self.incident
    }
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    async fn load_roster(&self) -> Result<Option<RosterDoc>, StoreError>;
    /// Stores a new roster version (the caller validated it) and returns it.
    async fn save_roster(&self, yaml: &str, now: DateTime<Utc>) -> Result<RosterDoc, StoreError>;

    /// Silences that have not ended at `now` (active or starting later).
    async fn silences(&self, now: DateTime<Utc>) -> Result<Vec<Silence>, StoreError>;
    async fn put_silence(&self, silence: &Silence) -> Result<(), StoreError>;
    /// Ends a silence now; false when no such silence exists.
    async fn expire_silence(&self, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError>;

    /// The open incident of a group, if any.
    async fn open_incident_for_group(
        &self,
        group_key: &str,
    ) -> Result<Option<StoredIncident>, StoreError>;
    /// Creates `incident` as its group's one open incident (conditional write).
    /// The stored version is 1.
    async fn create_incident(&self, incident: &StoredIncident) -> Result<Created, StoreError>;
    async fn load_incident(&self, id: &str) -> Result<Option<StoredIncident>, StoreError>;
    /// Writes `incident` if the stored version still equals `incident.version`;
    /// returns the new version. When the incident is closed the group's pointer
    /// to it is removed in the same write.
    async fn save_incident(&self, incident: &StoredIncident) -> Result<u64, StoreError>;
    /// [`Store::save_incident`] in two steps, for a store that commits
    /// writes in groups: the write takes its place among the store's writes
    /// (a later read or save sees it), and the returned ticket is what
    /// [`Store::synced`] waits on until it is on disk. A store whose every
    /// write is durable when it returns (DynamoDB) has no ticket.
    async fn save_incident_unsynced(
        &self,
        incident: &StoredIncident,
    ) -> Result<(u64, Option<u64>), StoreError> {
        self.save_incident(incident).await.map(|v| (v, None))
    }
    /// Waits until the write of `ticket` is on disk (an error: it never
    /// will be, and neither will any write that built on it).
    async fn synced(&self, _ticket: Option<u64>) -> Result<(), StoreError> {
        Ok(())
    }
    /// Ids of open incidents whose `next_action_at` is at or before `now`.
    async fn due_incidents(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<String>, StoreError>;
    async fn list_incidents(
        &self,
        filter: &IncidentFilter,
    ) -> Result<Vec<StoredIncident>, StoreError>;
    /// [`Store::list_incidents`], the incidents alone.
    async fn incidents(&self, filter: &IncidentFilter) -> Result<Vec<Incident>, StoreError> {
        let stored = self.list_incidents(filter).await?;
        Ok(stored.into_iter().map(|i| i.incident).collect())
    }

    /// The next turn of policy `policy`'s round-robin steps: 0, 1, 2, …,
    /// one per call, atomically across processes (each new incident of the
    /// policy takes one and starts its round-robin steps with person
    /// `turn % n`).
    async fn next_turn(&self, policy: &str) -> Result<u64, StoreError>;

    /// Records that heartbeat `name` was seen at `at` (keeps the latest).
    async fn heartbeat_seen(&self, name: &str, at: DateTime<Utc>) -> Result<(), StoreError>;
    /// When heartbeat `name` was last seen, if ever.
    async fn heartbeat_last_seen(&self, name: &str) -> Result<Option<DateTime<Utc>>, StoreError>;

    /// Inserts or updates a contact row (keyed by contact id).
    async fn record_contact(&self, row: &ContactRow) -> Result<(), StoreError>;
    async fn contacts_for_incident(&self, incident_id: &str)
        -> Result<Vec<ContactRow>, StoreError>;
    async fn contacts_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<ContactRow>, StoreError>;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DialError {
    /// The call was no longer wanted; nothing more was sent.
    #[error("cancelled: the call is no longer needed")]
    Cancelled,
    /// The destination or a parameter is refused (DestinationNotAllowed,
    /// InvalidParameter): retrying cannot help; an operator must fix it.
    #[error("misconfigured: {0}")]
    Misconfigured(String),
    /// Throttled or failing after the dialer's own retries.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

/// Places calls. Implementations retry transient errors themselves (keeping
/// their place in line) and report only final results.
#[async_trait]
pub trait Dialer: Send + Sync + 'static {
    /// Places the call; returns the contact id. `req.call_id` is the
    /// `ClientToken`, which only protects a retry while the contact is still
    /// live. `maybe_placed`: an earlier attempt of this call may have reached
    /// the telephony service (the process died before learning the contact
    /// id): find that contact first and return it instead of ringing again.
    /// `cancel`: the call is no longer wanted (its outcome is known, its
    /// incident closed); stop retrying, never in the middle of a request.
    async fn place(
        &self,
        req: &CallRequest,
        maybe_placed: bool,
        cancel: &CancellationToken,
    ) -> Result<String, DialError>;
    /// Hangs up a call that is no longer needed. Best effort.
    async fn stop(&self, contact_id: &str) -> Result<(), DialError>;
    /// Follows a call this process did not place (found in flight on
    /// recovery after a crash): its contact record may have been read, and
    /// lost, by the process that died, so the dialer should ask the
    /// telephony service about it if no record comes. `dialled_at`: when the
    /// call was dialled, so its age (when to ask) counts from then, not from
    /// this process's start. Default: nothing.
    fn watch(
        &self,
        _incident_id: &str,
        _call_id: &str,
        _contact_id: &str,
        _dialled_at: DateTime<Utc>,
    ) {
    }
}

/// How a call ended, from the contact record (or the simulated call).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutcomeReport {
    pub incident_id: String,
    pub call_id: String,
    pub contact_id: String,
    pub outcome: Outcome,
    pub disconnect_reason: Option<String>,
    pub attributes: BTreeMap<String, String>,
    pub ended_at: DateTime<Utc>,
    /// Told once the engine has made the outcome durable (or found it
    /// already applied): a source that checkpoints (the contact-record
    /// reader) waits for it before moving past the record.
    #[serde(skip)]
    pub applied: Applied,
}

/// A one-shot "the outcome is durable" signal that travels with a report
/// (and its clones: the first [`Applied::confirm`] of any clone counts).
#[derive(Clone, Default)]
pub struct Applied(
    Option<std::sync::Arc<std::sync::Mutex<Option<tokio::sync::oneshot::Sender<()>>>>>,
);

impl Applied {
    /// A signal and the receiver to wait on. The receiver fails if the
    /// report is dropped unconfirmed (the engine stopped first).
    pub fn new() -> (Applied, tokio::sync::oneshot::Receiver<()>) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        (
            Applied(Some(std::sync::Arc::new(std::sync::Mutex::new(Some(tx))))),
            rx,
        )
    }

    pub fn confirm(&self) {
        if let Some(m) = &self.0 {
            if let Some(tx) = m.lock().expect("applied lock").take() {
                let _ = tx.send(());
            }
        }
    }
}

impl std::fmt::Debug for Applied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Applied(waited on)"
        } else {
            "Applied(none)"
        })
    }
}

/// Reports are equal whatever their signals.
impl PartialEq for Applied {
    fn eq(&self, _: &Applied) -> bool {
        true
    }
}

/// Where incidents go when phoning people failed (SNS topic, log file).
#[async_trait]
pub trait Notifier: Send + Sync + 'static {
    async fn fallback(&self, incident: &Incident, reason: &str) -> Result<(), String>;
    async fn operator_alert(&self, incident: &Incident, message: &str) -> Result<(), String>;
}

/// What happened to each alert of an ingested batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum AlertDisposition {
    /// Joined (or opened) this incident.
    Grouped {
        fingerprint: String,
        incident_id: String,
    },
    /// Matched an active silence: no incident, no call.
    Silenced {
        fingerprint: String,
        silence_id: String,
    },
    /// A resolved alert for which no incident was open: nothing to do.
    ResolvedNoIncident { fingerprint: String },
    /// No policy matches its labels; reported to the fallback channel.
    Unrouted { fingerprint: String },
    /// A heartbeat (dead man's switch) was renewed; no incident, no call.
    Heartbeat { fingerprint: String, name: String },
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestReport {
    pub alerts: Vec<AlertDisposition>,
}

impl IngestReport {
    /// Distinct incidents touched, in first-seen order.
    pub fn incident_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = Vec::new();
        for a in &self.alerts {
            if let AlertDisposition::Grouped { incident_id, .. } = a {
                if !ids.contains(incident_id) {
                    ids.push(incident_id.clone());
                }
            }
        }
        ids
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no roster is loaded: apply one with `ringdown roster apply FILE`")]
    NoRoster,
    /// Other writers kept changing the group's incident; trying again later
    /// succeeds.
    #[error("the incident of group {0} kept changing underneath; try again")]
    Contended(String),
}

/// Accepts parsed alerts and makes their effects durable before returning:
/// when `ingest` returns Ok, the source may acknowledge the message.
#[async_trait]
pub trait Ingest: Send + Sync + 'static {
    async fn ingest(&self, alerts: Vec<Alert>) -> Result<IngestReport, IngestError>;
    /// Whether alerts can be made durable now (the store answers). A source
    /// stops receiving while they cannot, so its queue's redrive policy does
    /// not dead-letter live alerts during a store outage. Default: ready.
    async fn ready(&self) -> Result<(), IngestError> {
        Ok(())
    }
}
