//! Scenario tests of the SQLite store: the shared `Store` contract
//! (`ringdown_engine::testkit`, run against the DynamoDB store too) plus the
//! SQLite-specific parts (one file shared by two connections, reopening,
//! schema version).

use chrono::Duration;
use ringdown_core::escalation::Phase;
use ringdown_engine::testkit::{self, contact, created, incident, silence, t0};
use ringdown_engine::{Created, Store, StoreError};
use ringdown_local::store::SCHEMA_VERSION;
use ringdown_local::SqliteStore;
use std::path::PathBuf;
use std::sync::Arc;

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
    assert_eq!(store.schema_version().await.unwrap(), SCHEMA_VERSION);
    testkit::contract_create_and_load(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_creators_for_one_group_get_one_incident() {
    testkit::contract_create_race(Arc::new(SqliteStore::in_memory().unwrap())).await;
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
    testkit::contract_stale_version_conflict(&SqliteStore::in_memory().unwrap()).await;
}

#[tokio::test]
async fn closing_an_incident_frees_its_group() {
    testkit::contract_closing_frees_group(&SqliteStore::in_memory().unwrap()).await;
}

#[tokio::test]
async fn due_incidents_are_open_ones_in_next_action_order() {
    testkit::contract_due_order(&SqliteStore::in_memory().unwrap()).await;
}

#[tokio::test]
async fn list_incidents_newest_first_with_filters() {
    testkit::contract_list_filters(&SqliteStore::in_memory().unwrap()).await;
}

#[tokio::test]
async fn silences_round_trip_and_expire() {
    testkit::contract_silences(&SqliteStore::in_memory().unwrap()).await;
}

#[tokio::test]
async fn roster_versions_increase_and_latest_wins() {
    testkit::contract_roster_versions(&SqliteStore::in_memory().unwrap()).await;
}

#[tokio::test]
async fn contacts_upsert_and_query() {
    testkit::contract_contacts(&SqliteStore::in_memory().unwrap()).await;
}

#[tokio::test]
async fn heartbeats_keep_the_latest_beat() {
    testkit::contract_heartbeats(&SqliteStore::in_memory().unwrap()).await;
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
    assert_eq!(store.schema_version().await.unwrap(), SCHEMA_VERSION);
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
        Err(StoreError::Backend {
            message, retryable, ..
        }) => {
            assert!(!retryable);
            assert!(message.contains("newer"), "{message}");
        }
        other => panic!("expected a schema error, got {other:?}"),
    }
}

/// Twenty incidents written at once (twenty requests of a storm) are one
/// commit, one fsync; each is on disk, seen by another connection, when its
/// write returns.
#[tokio::test]
async fn concurrent_writes_share_one_commit_and_are_on_disk_when_they_return() {
    let dir = TempDir::new("group-commit");
    let path = dir.file("ringdown.db");
    let store = SqliteStore::open(&path).unwrap();
    let writes = (0..20).map(|i| {
        let inc = incident(&format!("inc-{i}"), &format!("sys{i}"), t0());
        let store = &store;
        async move { created(store.create_incident(&inc).await.unwrap()) }
    });
    let done = futures_util::future::join_all(writes).await;
    assert_eq!(done.len(), 20);
    assert_eq!(store.commits(), (1, 20), "(commits, writes)");
    let other = SqliteStore::open(&path).unwrap();
    for i in 0..20 {
        assert!(other
            .load_incident(&format!("inc-{i}"))
            .await
            .unwrap()
            .is_some());
    }
    // One at a time, one commit each.
    store.put_silence(&silence("s1", 0, 10)).await.unwrap();
    store.put_silence(&silence("s2", 0, 10)).await.unwrap();
    assert_eq!(store.commits(), (3, 22));
}

/// On the daemon's runtime (two threads), writers that come while a commit's
/// fsync is under way wait for the connection without holding a thread, and
/// go in the next batch together; every write is on disk when it returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writers_arriving_during_a_commit_go_in_the_next_batch_together() {
    let dir = TempDir::new("group-commit-mt");
    let path = dir.file("ringdown.db");
    let store = std::sync::Arc::new(SqliteStore::open(&path).unwrap());
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let inc = incident(&format!("inc-{i}"), &format!("sys{i}"), t0());
                created(store.create_incident(&inc).await.unwrap())
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let (commits, writes) = store.commits();
    assert_eq!(writes, 200);
    assert!(commits < writes, "{commits} commits for {writes} writes");
    let other = SqliteStore::open(&path).unwrap();
    for i in 0..200 {
        assert!(other
            .load_incident(&format!("inc-{i}"))
            .await
            .unwrap()
            .is_some());
    }
}

/// A writer whose request is dropped after it wrote, while it was about to
/// commit (the client hung up), leaves no batch stranded: the next writer
/// commits both, and nobody waits forever.
#[tokio::test]
async fn a_writer_dropped_before_its_commit_leaves_the_batch_to_the_next() {
    use futures_util::FutureExt;
    let dir = TempDir::new("dropped-leader");
    let path = dir.file("ringdown.db");
    let store = SqliteStore::open(&path).unwrap();
    let until = t0().timestamp() + 3600;
    let first = silence("first", 0, until);
    assert!(
        store.put_silence(&first).now_or_never().is_none(),
        "the write waits for its commit"
    );
    store
        .put_silence(&silence("second", 0, until))
        .await
        .unwrap();
    assert_eq!(store.commits(), (1, 2));
    let other = SqliteStore::open(&path).unwrap();
    let ids: Vec<String> = other
        .silences(t0())
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
}

/// A write that fails (a stale version) is rolled back alone; the others of
/// its batch commit.
#[tokio::test]
async fn a_failed_write_does_not_undo_the_others_of_its_batch() {
    let store = SqliteStore::in_memory().unwrap();
    let stored = created(
        store
            .create_incident(&incident("a", "sys-a", t0()))
            .await
            .unwrap(),
    );
    let mut stale = stored.clone();
    stale.version = 7;
    let b = incident("b", "sys-b", t0());
    let (bad, good) = tokio::join!(store.save_incident(&stale), store.create_incident(&b));
    assert!(matches!(bad, Err(StoreError::Conflict(_))), "{bad:?}");
    assert!(matches!(good, Ok(Created::Created(_))));
    assert_eq!(store.load_incident("a").await.unwrap().unwrap().version, 1);
    assert!(store.load_incident("b").await.unwrap().is_some());
}
