//! The engine on the embedded store and simulated phones, with the store
//! misbehaving on purpose: scenarios about what the engine must never do
//! whatever the store answers. Time is tokio's paused clock.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ringdown_core::escalation::{Incident, Phase};
use ringdown_core::silence::Silence;
use ringdown_core::{Alert, Labels, Status};
use ringdown_engine::{
    ContactRow, Created, Engine, IncidentFilter, Ingest, RosterDoc, Store, StoreError,
    StoredIncident,
};
use ringdown_local::SqliteStore;

mod support;

/// The SQLite store, except that the next `fail_silences` silence writes
/// fail as if the backend were unreachable.
struct FlakySilences {
    inner: SqliteStore,
    fail_silences: AtomicUsize,
}

fn unavailable() -> StoreError {
    StoreError::Backend {
        message: "the store is unreachable (test)".into(),
        retryable: true,
        source: None,
    }
}

#[async_trait]
impl Store for FlakySilences {
    async fn load_roster(&self) -> Result<Option<RosterDoc>, StoreError> {
        self.inner.load_roster().await
    }
    async fn save_roster(&self, yaml: &str, now: DateTime<Utc>) -> Result<RosterDoc, StoreError> {
        self.inner.save_roster(yaml, now).await
    }
    async fn silences(&self, now: DateTime<Utc>) -> Result<Vec<Silence>, StoreError> {
        self.inner.silences(now).await
    }
    async fn put_silence(&self, silence: &Silence) -> Result<(), StoreError> {
        let left = self.fail_silences.load(Ordering::SeqCst);
        if left > 0 {
            self.fail_silences.store(left - 1, Ordering::SeqCst);
            return Err(unavailable());
        }
        self.inner.put_silence(silence).await
    }
    async fn expire_silence(&self, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        self.inner.expire_silence(id, now).await
    }
    async fn next_turn(&self, policy: &str) -> Result<u64, StoreError> {
        self.inner.next_turn(policy).await
    }
    async fn open_incident_for_group(&self, g: &str) -> Result<Option<StoredIncident>, StoreError> {
        self.inner.open_incident_for_group(g).await
    }
    async fn create_incident(&self, i: &StoredIncident) -> Result<Created, StoreError> {
        self.inner.create_incident(i).await
    }
    async fn load_incident(&self, id: &str) -> Result<Option<StoredIncident>, StoreError> {
        self.inner.load_incident(id).await
    }
    async fn save_incident(&self, i: &StoredIncident) -> Result<u64, StoreError> {
        self.inner.save_incident(i).await
    }
    async fn due_incidents(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        self.inner.due_incidents(now, limit).await
    }
    async fn list_incidents(&self, f: &IncidentFilter) -> Result<Vec<StoredIncident>, StoreError> {
        self.inner.list_incidents(f).await
    }
    async fn heartbeat_seen(&self, name: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.inner.heartbeat_seen(name, at).await
    }
    async fn heartbeat_last_seen(&self, name: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.inner.heartbeat_last_seen(name).await
    }
    async fn record_contact(&self, row: &ContactRow) -> Result<(), StoreError> {
        self.inner.record_contact(row).await
    }
    async fn contacts_for_incident(&self, id: &str) -> Result<Vec<ContactRow>, StoreError> {
        self.inner.contacts_for_incident(id).await
    }
    async fn contacts_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<ContactRow>, StoreError> {
        self.inner.contacts_between(from, to).await
    }
}

const ROSTER: &str = r#"
timezone: UTC
people:
  alice: { language: en-US, phones: [{ number: "+14155550001" }] }
policies:
  - name: default
    group_by: [systemname]
    group_wait_secs: 0
    steps:
      - targets: [person:alice]
"#;

/// Alice answers, presses a key at the guard, 9, then 2 hours.
const SILENCES_2H: &str = r#"
default: { answer_after_secs: 2, keys: [{key: "5", delay_secs: 1}, {key: "9", delay_secs: 1}, {key: "2#", delay_secs: 1}] }
personas: {}
"#;

fn alert(system: &str) -> Alert {
    Alert::with_labels(
        [("systemname", system), ("alertname", "DiskFull")],
        Status::Firing,
    )
}

async fn engine_on(store: Arc<dyn Store>, personas: &str) -> Engine {
    support::engine_on(store, ROSTER, personas).await
}

#[tokio::test(start_paused = true)]
async fn a_keypad_silence_the_store_cannot_take_yet_is_stored_before_the_incident_closes() {
    // The store refuses silence writes for longer than the engine's own
    // retries of one decision last.
    let store = Arc::new(FlakySilences {
        inner: SqliteStore::in_memory().unwrap(),
        fail_silences: AtomicUsize::new(8),
    });
    let engine = engine_on(store.clone(), SILENCES_2H).await;
    let run = {
        let e = engine.clone();
        tokio::spawn(async move { e.run(std::future::pending()).await })
    };
    engine.ingest(vec![alert("web")]).await.unwrap();
    // Whatever moment we look, a closed (silenced) incident has its silence.
    let mut saw_silenced = false;
    for _ in 0..600 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let incs = store
            .list_incidents(&IncidentFilter::default())
            .await
            .unwrap();
        let silenced = incs.iter().any(|i| i.phase == Phase::Silenced);
        let silences = store.silences(engine.now()).await.unwrap();
        assert!(
            !silenced || !silences.is_empty(),
            "the incident was closed as SILENCED without its silence"
        );
        if silenced {
            saw_silenced = true;
            break;
        }
    }
    assert!(
        saw_silenced,
        "the silence is stored once the store takes it"
    );
    run.abort();
}

/// A channel that refuses the first `fail` notices, and counts the rest.
struct FlakyChannel {
    fail: AtomicUsize,
    delivered: std::sync::Mutex<Vec<String>>,
}

#[async_trait]
impl ringdown_engine::Notifier for FlakyChannel {
    async fn fallback(&self, incident: &Incident, reason: &str) -> Result<(), String> {
        let left = self.fail.load(Ordering::SeqCst);
        if left > 0 {
            self.fail.store(left - 1, Ordering::SeqCst);
            return Err("SNS Publish failed (test)".into());
        }
        self.delivered
            .lock()
            .unwrap()
            .push(format!("{}: {reason}", incident.id));
        Ok(())
    }
    async fn operator_alert(&self, _: &Incident, _: &str) -> Result<(), String> {
        Ok(())
    }
}

/// Alice never answers; one walk of the policy, then the fallback channel.
const NOBODY_ANSWERS: &str = "default: never_answers\npersonas: {}\n";

async fn engine_with(
    store: Arc<dyn Store>,
    personas: &str,
    notifier: Arc<dyn ringdown_engine::Notifier>,
) -> Engine {
    support::engine_with(store, ROSTER, personas, Some(notifier)).await
}

async fn exhausted_with_outbox(store: &dyn Store) -> Vec<StoredIncident> {
    store
        .list_incidents(&IncidentFilter::default())
        .await
        .unwrap()
        .into_iter()
        .filter(|i| i.phase == Phase::Exhausted)
        .collect()
}

#[tokio::test(start_paused = true)]
async fn the_nobody_answered_notice_is_kept_until_the_channel_takes_it() {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().unwrap());
    let channel = Arc::new(FlakyChannel {
        fail: AtomicUsize::new(3),
        delivered: Default::default(),
    });
    let engine = engine_with(store.clone(), NOBODY_ANSWERS, channel.clone()).await;
    let run = {
        let e = engine.clone();
        tokio::spawn(async move { e.run(std::future::pending()).await })
    };
    engine.ingest(vec![alert("web")]).await.unwrap();
    for _ in 0..900 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if !channel.delivered.lock().unwrap().is_empty() {
            break;
        }
    }
    let delivered = channel.delivered.lock().unwrap().clone();
    assert_eq!(delivered.len(), 1, "sent once it was taken: {delivered:?}");
    assert!(
        delivered[0].contains("nobody acknowledged"),
        "{delivered:?}"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let inc = &exhausted_with_outbox(store.as_ref()).await[0];
    assert!(inc.outbox.is_empty(), "delivered notices leave the outbox");
    run.abort();
}

#[tokio::test(start_paused = true)]
async fn a_notice_the_channel_refused_before_a_restart_is_sent_after_it() {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().unwrap());
    let down = Arc::new(FlakyChannel {
        fail: AtomicUsize::new(usize::MAX),
        delivered: Default::default(),
    });
    let first = engine_with(store.clone(), NOBODY_ANSWERS, down.clone()).await;
    let run = {
        let e = first.clone();
        tokio::spawn(async move { e.run(std::future::pending()).await })
    };
    first.ingest(vec![alert("web")]).await.unwrap();
    for _ in 0..900 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if !exhausted_with_outbox(store.as_ref()).await.is_empty() {
            break;
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    run.abort();
    let pending = exhausted_with_outbox(store.as_ref()).await;
    assert_eq!(pending[0].outbox.len(), 1, "the refused notice is stored");
    // A new process on the same store, its channel working.
    let up = Arc::new(FlakyChannel {
        fail: AtomicUsize::new(0),
        delivered: Default::default(),
    });
    let second = engine_with(store.clone(), NOBODY_ANSWERS, up.clone()).await;
    let run = {
        let e = second.clone();
        tokio::spawn(async move { e.run(std::future::pending()).await })
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(up.delivered.lock().unwrap().len(), 1);
    assert!(exhausted_with_outbox(store.as_ref()).await[0]
        .outbox
        .is_empty());
    run.abort();
}

#[tokio::test(start_paused = true)]
async fn stored_incidents_hold_masked_numbers_only_and_calls_still_reach_the_full_number() {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().unwrap());
    let channel = Arc::new(FlakyChannel {
        fail: AtomicUsize::new(0),
        delivered: Default::default(),
    });
    let engine = engine_with(store.clone(), NOBODY_ANSWERS, channel.clone()).await;
    let run = {
        let e = engine.clone();
        tokio::spawn(async move { e.run(std::future::pending()).await })
    };
    engine.ingest(vec![alert("web")]).await.unwrap();
    // While Alice's phone rings, and after.
    let mut seen_in_flight = false;
    for _ in 0..900 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let incidents = store
            .list_incidents(&IncidentFilter::default())
            .await
            .unwrap();
        let records: Vec<&Incident> = incidents.iter().map(|i| &i.incident).collect();
        let stored = serde_json::to_string(&records).unwrap();
        assert!(
            !stored.contains("+14155550001"),
            "no full number in the stored incident: {stored}"
        );
        if incidents[0]
            .call
            .as_ref()
            .is_some_and(|c| c.contact_id.is_some())
        {
            seen_in_flight = true;
            assert!(stored.contains("+14*****0001"), "{stored}");
        }
        if incidents[0].phase == Phase::Exhausted {
            break;
        }
    }
    assert!(seen_in_flight, "the call was placed (to the full number)");
    run.abort();
}

#[tokio::test(start_paused = true)]
async fn a_record_a_newer_release_wrote_does_not_stop_a_start_and_is_skipped() {
    let dir = std::env::temp_dir().join(format!("ringdown-undecodable-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ringdown.sqlite");
    let _ = std::fs::remove_file(&path);
    let store = SqliteStore::open(&path).unwrap();
    store.save_roster(ROSTER, Utc::now()).await.unwrap();
    let roster = ringdown_core::roster::Roster::from_yaml(ROSTER).unwrap();
    let good = Incident::open(
        "20261205-000000-good00",
        "default{systemname=\"web\"}",
        roster.policy("default").unwrap(),
        Labels::new(),
        Utc::now(),
    );
    store
        .create_incident(&StoredIncident::new(good))
        .await
        .unwrap();
    // A newer replica wrote an incident in a phase this release does not know.
    let conn = rusqlite::Connection::open(&path).unwrap();
    let newer = ringdown_engine::record::INCIDENT_RECORD_VERSION + 1;
    conn.execute(
        &format!("INSERT INTO incidents (id, group_key, phase, is_open, opened_at, closed_at, next_action_at, version, json)
         VALUES ('20261205-000000-newer0', 'default{{systemname=\"db\"}}', 'paused', 1, 0, NULL, 0, 1,
                 '{{\"record_version\": {newer}, \"id\": \"20261205-000000-newer0\", \"phase\": \"paused\"}}')"),
        [],
    )
    .unwrap();
    drop(conn);
    let store: Arc<dyn Store> = Arc::new(store);
    let listed = store
        .list_incidents(&IncidentFilter::default())
        .await
        .unwrap();
    assert_eq!(
        listed.len(),
        1,
        "the unreadable record is skipped, the others listed"
    );
    let channel = Arc::new(FlakyChannel {
        fail: AtomicUsize::new(0),
        delivered: Default::default(),
    });
    let engine = engine_with(store.clone(), NOBODY_ANSWERS, channel).await;
    assert_eq!(engine.recover().await.unwrap(), 1, "start-up carries on");
    let _ = std::fs::remove_dir_all(&dir);
}
