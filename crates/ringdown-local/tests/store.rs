//! Scenario tests of the SQLite store against the `Store` contract.

use chrono::{DateTime, Duration, TimeZone, Utc};
use ringdown_core::escalation::{Incident, Phase};
use ringdown_core::matcher::Matcher;
use ringdown_core::outcome::Outcome;
use ringdown_core::roster::Policy;
use ringdown_core::silence::Silence;
use ringdown_core::Labels;
use ringdown_engine::{ContactRow, Created, IncidentFilter, Store, StoreError};
use ringdown_local::store::SCHEMA_VERSION;
use ringdown_local::SqliteStore;
use std::path::PathBuf;
use std::sync::Arc;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 2, 0, 0).unwrap()
}

fn policy() -> Policy {
    Policy {
        name: "db".into(),
        matchers: vec![],
        group_by: vec!["system".into()],
        group_wait_secs: 30,
        repeat: 1,
        steps: vec![],
    }
}

fn incident(id: &str, group: &str, now: DateTime<Utc>) -> Incident {
    let mut labels = Labels::new();
    labels.insert("system".into(), group.into());
    Incident::open(id, group, &policy(), labels, now)
}

fn created(c: Created) -> Incident {
    match c {
        Created::Created(i) => i,
        Created::Exists(i) => panic!("expected Created, got Exists({})", i.id),
    }
}

fn silence(id: &str, starts_at: i64, ends_at: i64) -> Silence {
    Silence {
        id: id.into(),
        matchers: vec![Matcher::equal("system", "db").unwrap()],
        starts_at,
        ends_at,
        created_by: "+81 90-****-5678".into(),
        reason: "maintenance".into(),
    }
}

fn contact(id: &str, incident: &str, placed_at: DateTime<Utc>) -> ContactRow {
    ContactRow {
        contact_id: id.into(),
        call_id: format!("{incident}-p0s1a1t0r0"),
        incident_id: incident.into(),
        person: "alice".into(),
        phone_masked: "+8190****5678".into(),
        placed_at,
        ended_at: None,
        outcome: None,
        disconnect_reason: None,
    }
}

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!(
            "ringdown-local-{tag}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test]
async fn create_stores_version_1_and_load_round_trips() {
    let store = SqliteStore::in_memory().unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    let inc = incident("inc-1", "db", t0());
    let stored = created(store.create_incident(&inc).await.unwrap());
    assert_eq!(stored.version, 1);
    let loaded = store.load_incident("inc-1").await.unwrap().unwrap();
    assert_eq!(loaded, stored);
    assert_eq!(
        store.open_incident_for_group("db").await.unwrap(),
        Some(stored)
    );
    assert!(store.load_incident("nope").await.unwrap().is_none());
    assert!(store
        .open_incident_for_group("web")
        .await
        .unwrap()
        .is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_creators_for_one_group_get_one_incident() {
    let store = Arc::new(SqliteStore::in_memory().unwrap());
    let (a, b) = (store.clone(), store.clone());
    let ta = tokio::spawn(async move { a.create_incident(&incident("inc-a", "db", t0())).await });
    let tb = tokio::spawn(async move { b.create_incident(&incident("inc-b", "db", t0())).await });
    let results = [ta.await.unwrap().unwrap(), tb.await.unwrap().unwrap()];
    let winners: Vec<&Incident> = results
        .iter()
        .filter_map(|r| match r {
            Created::Created(i) => Some(i),
            _ => None,
        })
        .collect();
    let losers: Vec<&Incident> = results
        .iter()
        .filter_map(|r| match r {
            Created::Exists(i) => Some(i),
            _ => None,
        })
        .collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    assert_eq!(losers.len(), 1, "{results:?}");
    assert_eq!(winners[0].id, losers[0].id);
    let loser_id = if winners[0].id == "inc-a" {
        "inc-b"
    } else {
        "inc-a"
    };
    assert!(store.load_incident(loser_id).await.unwrap().is_none());
}

/// The same race between two processes sharing one database file: each has
/// its own connection, so the group check relies on SQLite's write lock.
#[test]
fn two_connections_racing_on_one_file_get_one_incident() {
    let dir = TempDir::new("race");
    let path = dir.file("ringdown.db");
    drop(SqliteStore::open(&path).unwrap());
    for round in 0..20 {
        let group = format!("g{round}");
        let barrier = Arc::new(std::sync::Barrier::new(2));
        let handles: Vec<_> = ["x", "y"]
            .into_iter()
            .map(|who| {
                let (path, group, barrier) = (path.clone(), group.clone(), barrier.clone());
                std::thread::spawn(move || {
                    let store = SqliteStore::open(&path).unwrap();
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .build()
                        .unwrap();
                    barrier.wait();
                    rt.block_on(store.create_incident(&incident(
                        &format!("{group}-{who}"),
                        &group,
                        t0(),
                    )))
                    .unwrap()
                })
            })
            .collect();
        let results: Vec<Created> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let ids: Vec<(&str, bool)> = results
            .iter()
            .map(|r| match r {
                Created::Created(i) => (i.id.as_str(), true),
                Created::Exists(i) => (i.id.as_str(), false),
            })
            .collect();
        assert_eq!(
            ids.iter().filter(|(_, c)| *c).count(),
            1,
            "round {round}: {ids:?}"
        );
        assert_eq!(ids[0].0, ids[1].0, "round {round}: {ids:?}");
    }
}

#[tokio::test]
async fn stale_version_save_is_a_conflict() {
    let store = SqliteStore::in_memory().unwrap();
    let v1 = created(
        store
            .create_incident(&incident("inc-1", "db", t0()))
            .await
            .unwrap(),
    );

    // Two workers load version 1; the first save wins.
    let mut first = v1.clone();
    first.phase = Phase::Calling;
    assert_eq!(store.save_incident(&first).await.unwrap(), 2);
    let mut second = v1.clone();
    second.phase = Phase::Acknowledged;
    match store.save_incident(&second).await {
        Err(StoreError::Conflict(msg)) => assert!(msg.contains("inc-1"), "{msg}"),
        other => panic!("expected Conflict, got {other:?}"),
    }

    // The stored record is the winner's, its version inside the JSON too.
    let stored = store.load_incident("inc-1").await.unwrap().unwrap();
    assert_eq!(stored.phase, Phase::Calling);
    assert_eq!(stored.version, 2);

    // Reload and retry succeeds.
    let mut retry = stored;
    retry.phase = Phase::Acknowledged;
    assert_eq!(store.save_incident(&retry).await.unwrap(), 3);
    assert_eq!(
        store.load_incident("inc-1").await.unwrap().unwrap().phase,
        Phase::Acknowledged
    );

    // Saving an incident that was never created.
    match store.save_incident(&incident("ghost", "web", t0())).await {
        Err(StoreError::NotFound(_)) => {}
        other => panic!("expected NotFound, got {other:?}"),
    }
}

#[tokio::test]
async fn closing_an_incident_frees_its_group() {
    let store = SqliteStore::in_memory().unwrap();
    let mut first = created(
        store
            .create_incident(&incident("inc-1", "db", t0()))
            .await
            .unwrap(),
    );

    // While open, a second creator finds it.
    match store
        .create_incident(&incident("inc-2", "db", t0()))
        .await
        .unwrap()
    {
        Created::Exists(i) => assert_eq!(i.id, "inc-1"),
        Created::Created(i) => panic!(
            "group already had an open incident, got a new one: {}",
            i.id
        ),
    }

    first.phase = Phase::Resolved;
    first.closed_at = Some(t0() + Duration::minutes(5));
    first.next_action_at = None;
    assert_eq!(store.save_incident(&first).await.unwrap(), 2);
    assert!(store.open_incident_for_group("db").await.unwrap().is_none());

    let second = created(
        store
            .create_incident(&incident("inc-2", "db", t0() + Duration::minutes(10)))
            .await
            .unwrap(),
    );
    assert_eq!(second.id, "inc-2");
    assert_eq!(
        store
            .open_incident_for_group("db")
            .await
            .unwrap()
            .unwrap()
            .id,
        "inc-2"
    );

    // A late save of the old (closed) incident must not free the new one's group.
    let mut old = store.load_incident("inc-1").await.unwrap().unwrap();
    old.history.clear();
    store.save_incident(&old).await.unwrap();
    assert_eq!(
        store
            .open_incident_for_group("db")
            .await
            .unwrap()
            .unwrap()
            .id,
        "inc-2"
    );

    // Reusing an existing id is refused.
    assert!(matches!(
        store.create_incident(&incident("inc-1", "web", t0())).await,
        Err(StoreError::Conflict(_))
    ));
}

#[tokio::test]
async fn due_incidents_are_open_ones_in_next_action_order() {
    let store = SqliteStore::in_memory().unwrap();
    let now = t0() + Duration::minutes(10);
    // (id, group, next_action_at, phase)
    let cases = [
        (
            "late",
            "g1",
            Some(now - Duration::seconds(10)),
            Phase::Waiting,
        ),
        (
            "early",
            "g2",
            Some(now - Duration::minutes(5)),
            Phase::Calling,
        ),
        ("exact", "g3", Some(now), Phase::Grouping),
        (
            "future",
            "g4",
            Some(now + Duration::milliseconds(1)),
            Phase::Waiting,
        ),
        (
            "sub-ms-future",
            "g5",
            Some(now + Duration::microseconds(300)),
            Phase::Waiting,
        ),
        ("none", "g6", None, Phase::Acknowledged),
        (
            "closed",
            "g7",
            Some(now - Duration::minutes(9)),
            Phase::Exhausted,
        ),
    ];
    for (id, group, next, phase) in cases {
        let mut inc = created(
            store
                .create_incident(&incident(id, group, t0()))
                .await
                .unwrap(),
        );
        inc.next_action_at = next;
        inc.phase = phase;
        store.save_incident(&inc).await.unwrap();
    }
    assert_eq!(
        store.due_incidents(now, 10).await.unwrap(),
        vec!["early", "late", "exact"]
    );
    assert_eq!(
        store.due_incidents(now, 2).await.unwrap(),
        vec!["early", "late"]
    );
    assert!(store.due_incidents(t0(), 10).await.unwrap().is_empty());
    // Order is by millisecond (sub-millisecond times round up, never early),
    // then by id.
    assert_eq!(
        store
            .due_incidents(now + Duration::seconds(1), 10)
            .await
            .unwrap(),
        vec!["early", "late", "exact", "future", "sub-ms-future"]
    );
}

#[tokio::test]
async fn list_incidents_newest_first_with_filters() {
    let store = SqliteStore::in_memory().unwrap();
    for (i, phase) in [
        Phase::Resolved,
        Phase::Calling,
        Phase::Resolved,
        Phase::Waiting,
    ]
    .into_iter()
    .enumerate()
    {
        let id = format!("inc-{i}");
        let mut inc = created(
            store
                .create_incident(&incident(
                    &id,
                    &format!("g{i}"),
                    t0() + Duration::hours(i as i64),
                ))
                .await
                .unwrap(),
        );
        inc.phase = phase;
        store.save_incident(&inc).await.unwrap();
    }
    let ids = |v: Vec<Incident>| v.into_iter().map(|i| i.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store
            .list_incidents(&IncidentFilter::default())
            .await
            .unwrap()),
        vec!["inc-3", "inc-2", "inc-1", "inc-0"]
    );
    let since = IncidentFilter {
        since: Some(t0() + Duration::hours(1)),
        ..Default::default()
    };
    assert_eq!(
        ids(store.list_incidents(&since).await.unwrap()),
        vec!["inc-3", "inc-2", "inc-1"]
    );
    let resolved = IncidentFilter {
        phase: Some(Phase::Resolved),
        ..Default::default()
    };
    assert_eq!(
        ids(store.list_incidents(&resolved).await.unwrap()),
        vec!["inc-2", "inc-0"]
    );
    let limited = IncidentFilter {
        limit: Some(2),
        since: Some(t0() + Duration::minutes(30)),
        ..Default::default()
    };
    assert_eq!(
        ids(store.list_incidents(&limited).await.unwrap()),
        vec!["inc-3", "inc-2"]
    );
}

#[tokio::test]
async fn silences_round_trip_and_expire() {
    let store = SqliteStore::in_memory().unwrap();
    let now = t0().timestamp();
    let active = silence("s-active", now - 60, now + 3600);
    let later = silence("s-later", now + 600, now + 7200);
    let over = silence("s-over", now - 7200, now - 1);
    for s in [&active, &later, &over] {
        store.put_silence(s).await.unwrap();
    }
    assert_eq!(
        store.silences(t0()).await.unwrap(),
        vec![active.clone(), later.clone()]
    );

    // put_silence replaces by id.
    let mut extended = active.clone();
    extended.ends_at = now + 7200;
    extended.reason = "longer maintenance".into();
    store.put_silence(&extended).await.unwrap();
    assert_eq!(
        store.silences(t0()).await.unwrap(),
        vec![extended.clone(), later.clone()]
    );

    // Expiring ends it now; expiring an unknown id says so.
    assert!(store.expire_silence("s-active", t0()).await.unwrap());
    assert!(!store.expire_silence("s-missing", t0()).await.unwrap());
    assert_eq!(store.silences(t0()).await.unwrap(), vec![later.clone()]);
    // The end is strict: a silence ending at `now` is over.
    assert!(store
        .silences(t0() + Duration::seconds(7200))
        .await
        .unwrap()
        .is_empty());

    // A silence that had not started yet is ended without an inverted window.
    assert!(store.expire_silence("s-later", t0()).await.unwrap());
    assert!(store.silences(t0()).await.unwrap().is_empty());
    let all = store.silences(t0() - Duration::hours(3)).await.unwrap();
    assert_eq!(all.len(), 3, "{all:?}");
    let ended = all.iter().find(|s| s.id == "s-later").unwrap();
    assert_eq!((ended.starts_at, ended.ends_at), (now, now));
    assert!(all.iter().all(|s| s.starts_at <= s.ends_at), "{all:?}");
}

#[tokio::test]
async fn roster_versions_increase_and_latest_wins() {
    let store = SqliteStore::in_memory().unwrap();
    assert!(store.load_roster().await.unwrap().is_none());
    let a = store.save_roster("people: []\n", t0()).await.unwrap();
    let at = t0() + Duration::nanoseconds(1_234_567_891);
    let b = store.save_roster("people: [alice]\n", at).await.unwrap();
    assert_eq!((a.version, b.version), (1, 2));
    let loaded = store.load_roster().await.unwrap().unwrap();
    assert_eq!(loaded, b);
    assert_eq!(loaded.applied_at, at);
}

#[tokio::test]
async fn contacts_upsert_and_query() {
    let store = SqliteStore::in_memory().unwrap();
    let placed = t0() + Duration::microseconds(1_500);
    let mut c1 = contact("c-1", "inc-1", placed);
    store.record_contact(&c1).await.unwrap();
    store
        .record_contact(&contact("c-2", "inc-1", placed + Duration::minutes(2)))
        .await
        .unwrap();
    store
        .record_contact(&contact("c-3", "inc-2", placed + Duration::minutes(1)))
        .await
        .unwrap();

    // The outcome arrives later: same contact id, updated row.
    c1.ended_at = Some(placed + Duration::seconds(40));
    c1.outcome = Some(Outcome::Silenced { hours: 2 });
    c1.disconnect_reason = Some("CUSTOMER_DISCONNECT".into());
    store.record_contact(&c1).await.unwrap();

    let for_inc = store.contacts_for_incident("inc-1").await.unwrap();
    assert_eq!(for_inc.len(), 2);
    assert_eq!(for_inc[0], c1);
    assert_eq!(for_inc[1].contact_id, "c-2");

    let ids = |v: Vec<ContactRow>| v.into_iter().map(|c| c.contact_id).collect::<Vec<_>>();
    assert_eq!(
        ids(store
            .contacts_between(t0(), t0() + Duration::hours(1))
            .await
            .unwrap()),
        vec!["c-1", "c-3", "c-2"]
    );
    // [from, to): exact bounds, below the millisecond.
    assert_eq!(
        ids(store
            .contacts_between(placed, placed + Duration::minutes(1))
            .await
            .unwrap()),
        vec!["c-1"]
    );
    assert_eq!(
        ids(store
            .contacts_between(
                placed + Duration::microseconds(1),
                placed + Duration::minutes(2)
            )
            .await
            .unwrap()),
        vec!["c-3"]
    );
}

#[tokio::test]
async fn reopened_file_store_keeps_everything() {
    let dir = TempDir::new("reopen");
    let path = dir.file("ringdown.db");
    let now = t0();
    let (inc, closed) = {
        let store = SqliteStore::open(&path).unwrap();
        store.save_roster("people: []\n", now).await.unwrap();
        store.save_roster("people: [bob]\n", now).await.unwrap();
        store
            .put_silence(&silence("s-1", now.timestamp(), now.timestamp() + 60))
            .await
            .unwrap();
        let inc = created(
            store
                .create_incident(&incident("inc-1", "db", now))
                .await
                .unwrap(),
        );
        let mut closed = created(
            store
                .create_incident(&incident("inc-0", "web", now))
                .await
                .unwrap(),
        );
        closed.phase = Phase::Exhausted;
        closed.version = store.save_incident(&closed).await.unwrap();
        store
            .record_contact(&contact("c-1", "inc-1", now))
            .await
            .unwrap();
        (inc, closed)
    };
    assert!(path.exists());

    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    let roster = store.load_roster().await.unwrap().unwrap();
    assert_eq!(
        (roster.version, roster.yaml.as_str()),
        (2, "people: [bob]\n")
    );
    assert_eq!(store.silences(now).await.unwrap().len(), 1);
    assert_eq!(
        store.load_incident("inc-1").await.unwrap(),
        Some(inc.clone())
    );
    assert_eq!(store.load_incident("inc-0").await.unwrap(), Some(closed));
    assert_eq!(
        store.open_incident_for_group("db").await.unwrap(),
        Some(inc)
    );
    assert!(store
        .open_incident_for_group("web")
        .await
        .unwrap()
        .is_none());
    assert_eq!(store.contacts_for_incident("inc-1").await.unwrap().len(), 1);
    assert_eq!(
        store
            .due_incidents(now + Duration::minutes(1), 10)
            .await
            .unwrap(),
        vec!["inc-1"]
    );
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = TempDir::new("newer");
    let path = dir.file("ringdown.db");
    drop(SqliteStore::open(&path).unwrap());
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
    }
    match SqliteStore::open(&path) {
        Err(StoreError::Backend { message, retryable }) => {
            assert!(!retryable);
            assert!(message.contains("newer"), "{message}");
        }
        other => panic!("expected a schema error, got {other:?}"),
    }
}
