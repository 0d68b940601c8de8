//! [`SqliteStore`]: the embedded [`Store`], one SQLite file in WAL mode.
//!
//! The tables mirror the DynamoDB tables of the AWS deployment (DESIGN.md,
//! "Storage"):
//!
//! | table | key | notes |
//! |---|---|---|
//! | `roster` | `version` | every applied version is kept; the highest is current |
//! | `silences` | `id` | the whole [`Silence`] as JSON, plus `starts_at`/`ends_at` (epoch s) |
//! | `incidents` | `id` | the whole incident as JSON (its version and owner beside it), plus the columns queries need |
//! | `groups` | `group_key` | points at the one open incident of the group |
//! | `contacts` | `contact_id` | one placed call |
//!
//! Times in query columns are epoch milliseconds (silences: epoch seconds, as
//! [`Silence`] keeps them); the JSON blobs hold the exact values and are what
//! is read back.
//!
//! Writes are committed in groups. Each write runs in a savepoint inside the
//! current batch's transaction (`BEGIN IMMEDIATE`, opened by the first write
//! of a batch, so two processes sharing the file serialise on the write lock
//! instead of both passing a check), then waits until the batch is on disk.
//! The first writer to wait becomes the batch's leader: it lets the tasks
//! that are ready run first (one `yield_now`), so that concurrent writes join
//! its batch, then commits once, one fsync for all. A write returns only
//! after the commit that holds it: an HTTP 202 still follows the fsync of
//! its alerts. A failed commit fails every write of its batch.
//!
//! The calls into SQLite are synchronous inside the `async fn`s (no
//! `spawn_blocking`): the queries are small, and the demo runs on a paused
//! tokio clock that must stay deterministic (a leader waits on nothing but
//! the tasks already ready).
//!
//! The schema version is kept in `PRAGMA user_version`; `MIGRATIONS` lists
//! the steps from an empty file, and [`SqliteStore::open`] applies the ones a
//! file has not seen yet.

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use ringdown_core::outcome::Outcome;
use ringdown_core::silence::Silence;
use ringdown_engine::StoredIncident;
use ringdown_engine::{ContactRow, Created, IncidentFilter, RosterDoc, Store, StoreError};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// Schema steps, in order; step `i` takes `user_version` from `i` to `i + 1`.
/// Append new steps, never edit old ones.
const MIGRATIONS: &[&str] = &[
    // 1: the initial schema.
    r#"
    CREATE TABLE roster (
        version    INTEGER PRIMARY KEY,
        yaml       TEXT NOT NULL,
        applied_at TEXT NOT NULL
    );
    CREATE TABLE silences (
        id        TEXT PRIMARY KEY,
        json      TEXT NOT NULL,
        starts_at INTEGER NOT NULL,
        ends_at   INTEGER NOT NULL
    );
    CREATE INDEX silences_ends_at ON silences (ends_at);
    CREATE TABLE incidents (
        id             TEXT PRIMARY KEY,
        group_key      TEXT NOT NULL,
        phase          TEXT NOT NULL,
        is_open        INTEGER NOT NULL,
        opened_at      INTEGER NOT NULL,
        closed_at      INTEGER,
        next_action_at INTEGER,
        version        INTEGER NOT NULL,
        json           TEXT NOT NULL
    );
    CREATE INDEX incidents_due ON incidents (is_open, next_action_at);
    CREATE INDEX incidents_opened ON incidents (opened_at);
    CREATE INDEX incidents_group ON incidents (group_key);
    CREATE TABLE groups (
        group_key   TEXT PRIMARY KEY,
        incident_id TEXT NOT NULL REFERENCES incidents (id)
    );
    CREATE TABLE contacts (
        contact_id        TEXT PRIMARY KEY,
        call_id           TEXT NOT NULL,
        incident_id       TEXT NOT NULL,
        person            TEXT NOT NULL,
        phone_masked      TEXT NOT NULL,
        placed_at         INTEGER NOT NULL,
        ended_at          INTEGER,
        outcome           TEXT,
        disconnect_reason TEXT,
        json              TEXT NOT NULL
    );
    CREATE INDEX contacts_incident ON contacts (incident_id, placed_at);
    CREATE INDEX contacts_placed ON contacts (placed_at);
    "#,
    // 2: heartbeats (dead man's switches).
    r#"
    CREATE TABLE heartbeats (
        name      TEXT PRIMARY KEY,
        last_seen INTEGER NOT NULL
    );
    "#,
    // 3: round-robin turns, per policy.
    r#"
    CREATE TABLE turns (
        policy TEXT PRIMARY KEY,
        next   INTEGER NOT NULL
    );
    "#,
];

/// The schema version this build writes (`PRAGMA user_version`).
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// How long a write waits for another connection's lock before giving up
/// with a retryable error.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The embedded [`Store`]: SQLite behind a mutex.
///
/// The connection's lock is asynchronous: during a commit's fsync (about a
/// millisecond) the requests that come in wait for it without holding a
/// runtime thread, so they are parsed and decided meanwhile and their writes
/// queue up for the next batch. With a blocking lock both of the daemon's
/// threads stood still through every fsync, and each POST got a commit of its
/// own (104 commits for 100 POSTs on four connections; docs/performance.md).
pub struct SqliteStore {
    conn: tokio::sync::Mutex<Connection>,
    batch: Mutex<Batch>,
    committed: tokio::sync::watch::Sender<Committed>,
    commits: std::sync::atomic::AtomicU64,
}

/// The batch being written (under the connection's lock).
#[derive(Debug, Default)]
struct Batch {
    /// Writes so far, all batches: each write's sequence number.
    written: u64,
    /// The first write of the open batch.
    from: u64,
    /// A leader is committing (or about to).
    leader: bool,
}

/// What is on disk: every write up to `upto`, but for the failed batches.
#[derive(Debug, Default)]
struct Committed {
    upto: u64,
    /// `(from, to, error)` of the latest batches whose commit failed.
    failed: std::collections::VecDeque<(u64, u64, String)>,
}

/// How many failed batches are remembered for their writers.
const FAILED_BATCHES_KEPT: usize = 64;

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path`, switches it to
    /// WAL mode and brings its schema up to [`SCHEMA_VERSION`].
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteStore, StoreError> {
        let path = path.as_ref();
        let conn = Connection::open(path).map_err(|e| StoreError::Backend {
            message: format!("cannot open SQLite database {}: {e}", path.display()),
            retryable: is_busy(&e),
            source: None,
        })?;
        Self::init(conn)
    }

    /// A private in-memory database (tests, `--dry-run`).
    pub fn in_memory() -> Result<SqliteStore, StoreError> {
        Self::init(Connection::open_in_memory().map_err(backend)?)
    }

    fn init(mut conn: Connection) -> Result<SqliteStore, StoreError> {
        conn.busy_timeout(DEFAULT_BUSY_TIMEOUT).map_err(backend)?;
        // In-memory databases answer "memory"; files switch to WAL.
        let _mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(backend)?;
        // An acknowledged ingest must survive a power cut, not just a crash.
        conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")
            .map_err(backend)?;
        migrate(&mut conn)?;
        Ok(SqliteStore {
            conn: tokio::sync::Mutex::new(conn),
            batch: Mutex::new(Batch::default()),
            committed: tokio::sync::watch::channel(Committed::default()).0,
            commits: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// The schema version of the open database.
    pub async fn schema_version(&self) -> Result<u32, StoreError> {
        let conn = self.lock().await;
        user_version(&conn)
    }

    /// (A panic while holding the lock dropped, and so rolled back, the
    /// write's savepoint: the connection stays consistent, and tokio's lock
    /// is not poisoned by it.)
    async fn lock(&self) -> tokio::sync::MutexGuard<'_, Connection> {
        self.conn.lock().await
    }

    /// Batches committed so far (each one fsync), and writes so far.
    pub fn commits(&self) -> (u64, u64) {
        (
            self.commits.load(std::sync::atomic::Ordering::Relaxed),
            self.batch().written,
        )
    }

    fn batch(&self) -> MutexGuard<'_, Batch> {
        self.batch.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` as one write of the open batch and returns once the batch
    /// is committed. A write that fails is rolled back alone; it still waits
    /// for the batch, so that whoever opened the transaction sees it closed.
    async fn write<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let (out, seq) = self.write_unsynced(f).await;
        self.durable(seq).await?;
        out
    }

    /// The first half of [`Self::write`]: `f` runs in the open batch, and
    /// the write's sequence number is what [`Self::durable`] waits on.
    async fn write_unsynced<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> (Result<T, StoreError>, u64) {
        {
            let mut conn = self.lock().await;
            if conn.is_autocommit() {
                if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
                    // Nothing opened: no batch to wait for (a write before
                    // is already committed, or its writer commits it).
                    return (Err(backend(e)), 0);
                }
                let mut b = self.batch();
                b.from = b.written + 1;
            }
            let out = match conn.savepoint() {
                Ok(mut sp) => {
                    sp.set_drop_behavior(rusqlite::DropBehavior::Rollback);
                    let out = f(&sp);
                    match out {
                        Ok(v) => sp.commit().map(|()| v).map_err(backend),
                        Err(e) => Err(e),
                    }
                }
                Err(e) => Err(backend(e)),
            };
            let mut b = self.batch();
            b.written += 1;
            (out, b.written)
        }
    }

    /// Waits until write `seq` is on disk, committing the batch when no one
    /// else is.
    async fn durable(&self, seq: u64) -> Result<(), StoreError> {
        let mut rx = self.committed.subscribe();
        loop {
            {
                let c = rx.borrow_and_update();
                if c.upto >= seq {
                    return match c.failed.iter().find(|(a, b, _)| (*a..=*b).contains(&seq)) {
                        Some((_, _, e)) => Err(StoreError::Backend {
                            message: format!("sqlite: commit failed: {e}"),
                            retryable: true,
                            source: None,
                        }),
                        None => Ok(()),
                    };
                }
            }
            let lead = {
                let mut b = self.batch();
                !std::mem::replace(&mut b.leader, true)
            };
            if lead {
                let mut leader = Leader {
                    store: self,
                    done: false,
                };
                // Writers that are ready now join this batch; those already
                // waiting for the connection are ahead of the commit in its
                // queue (tokio's lock is first come, first served).
                tokio::task::yield_now().await;
                self.commit_batch().await;
                leader.done = true;
            } else if rx.changed().await.is_err() {
                return Err(StoreError::Backend {
                    message: "sqlite: the store was dropped".into(),
                    retryable: false,
                    source: None,
                });
            }
        }
    }

    /// Commits the open batch (if any): one fsync for every write in it.
    async fn commit_batch(&self) {
        let conn = self.lock().await;
        let started = std::time::Instant::now();
        // No write can start while the connection is held, so the batch's
        // bounds stay put; its lock is not held through the fsync, or the
        // writers checking for a leader would block their threads on it.
        let (from, upto) = {
            let b = self.batch();
            (b.from, b.written)
        };
        let result = if conn.is_autocommit() {
            Ok(())
        } else {
            let commit = || {
                let r = conn.execute_batch("COMMIT").map_err(|e| e.to_string());
                if r.is_err() && !conn.is_autocommit() {
                    let _ = conn.execute_batch("ROLLBACK");
                }
                r
            };
            // On the daemon's runtime the fsync gives up its thread's other
            // tasks to another thread while it waits.
            let multi_thread = tokio::runtime::Handle::try_current()
                .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
            let r = if multi_thread {
                tokio::task::block_in_place(commit)
            } else {
                commit()
            };
            self.commits
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            metrics::histogram!("ringdown_sqlite_commit_seconds")
                .record(started.elapsed().as_secs_f64());
            metrics::histogram!("ringdown_sqlite_commit_writes").record((upto + 1 - from) as f64);
            r
        };
        self.batch().leader = false;
        drop(conn);
        self.committed.send_modify(|c| {
            c.upto = c.upto.max(upto);
            if let Err(e) = result {
                tracing::error!(error = %e, writes = upto + 1 - from, "sqlite commit failed");
                c.failed.push_back((from, upto, e));
                if c.failed.len() > FAILED_BATCHES_KEPT {
                    c.failed.pop_front();
                }
            }
        });
    }
}

/// A leader whose future is dropped before it committed (its request was
/// cancelled) hands the batch on: the waiters wake and one of them leads.
struct Leader<'a> {
    store: &'a SqliteStore,
    done: bool,
}

impl Drop for Leader<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.store.batch().leader = false;
            self.store.committed.send_modify(|_| {});
        }
    }
}

fn user_version(conn: &Connection) -> Result<u32, StoreError> {
    conn.query_row("PRAGMA user_version", [], |r| r.get::<_, u32>(0))
        .map_err(backend)
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(backend)?;
    let current = user_version(&tx)?;
    if current > SCHEMA_VERSION {
        return Err(StoreError::Backend {
            message: format!(
                "database schema version {current} is newer than this build supports ({SCHEMA_VERSION}): upgrade ringdown"
            ),
            retryable: false,
            source: None,
        });
    }
    for (i, step) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        tx.execute_batch(step).map_err(backend)?;
        tx.pragma_update(None, "user_version", (i + 1) as u32)
            .map_err(backend)?;
        tracing::debug!(version = i + 1, "sqlite schema migrated");
    }
    tx.commit().map_err(backend)
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend {
        retryable: is_busy(&e),
        message: format!("sqlite: {e}"),
        source: Some(std::sync::Arc::new(e)),
    }
}

fn corrupt(what: &str, e: serde_json::Error) -> StoreError {
    StoreError::Backend {
        message: format!("sqlite: stored {what} is unreadable: {e}"),
        retryable: false,
        source: None,
    }
}

fn encode<T: serde::Serialize>(what: &str, v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Backend {
        message: format!("cannot encode {what}: {e}"),
        retryable: false,
        source: None,
    })
}

/// Epoch milliseconds, rounded down.
fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// Epoch milliseconds, rounded up: stored as `next_action_at` so that an
/// incident is never reported due before its exact time (at most 1 ms late).
fn ms_ceil(t: DateTime<Utc>) -> i64 {
    let m = t.timestamp_millis();
    if t.timestamp_subsec_nanos() % 1_000_000 != 0 {
        m + 1
    } else {
        m
    }
}

/// The record of `incident` as the version a save makes of it.
fn encode_next(incident: &StoredIncident) -> Result<String, StoreError> {
    ringdown_engine::record::encode_incident_as(incident, incident.version + 1)
}

fn decode_incident(json: &str) -> Result<StoredIncident, StoreError> {
    ringdown_engine::record::decode_incident(json)
}

fn load_incident_tx(conn: &Connection, id: &str) -> Result<Option<StoredIncident>, StoreError> {
    let json: Option<String> = conn
        .query_row("SELECT json FROM incidents WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .optional()
        .map_err(backend)?;
    json.as_deref().map(decode_incident).transpose()
}

/// Inserts or replaces the incident row (columns + JSON) of `inc` as given.
/// Writes `inc` as version `version` (its own, or the next when saving), whose
/// record `json` is (encoded before the connection's lock is taken: in a
/// storm the encoding is most of a write, and other writers wait meanwhile).
fn write_incident(
    conn: &Connection,
    inc: &StoredIncident,
    version: u64,
    insert: bool,
    json: &str,
) -> Result<(), StoreError> {
    let sql = if insert {
        "INSERT INTO incidents (id, group_key, phase, is_open, opened_at, closed_at, next_action_at, version, json)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
    } else {
        "UPDATE incidents SET group_key = ?2, phase = ?3, is_open = ?4, opened_at = ?5, closed_at = ?6,
                next_action_at = ?7, version = ?8, json = ?9
         WHERE id = ?1"
    };
    conn.prepare_cached(sql)
        .and_then(|mut stmt| {
            stmt.execute(params![
                inc.id,
                inc.group_key,
                inc.phase.as_str(),
                !inc.phase.is_closed(),
                ms(inc.opened_at),
                inc.closed_at.map(ms),
                // The wake time: next escalation step or resolve check.
                inc.wake_at().map(ms_ceil),
                version as i64,
                json,
            ])
        })
        .map_err(|e| match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::ConstraintViolation) => {
                StoreError::Conflict(format!("incident {} already exists", inc.id))
            }
            _ => backend(e),
        })?;
    Ok(())
}

/// Writes `incident` if the stored version is still its own; the new version.
/// `json` is its record as that version ([`encode_next`]).
fn save_incident_in(
    tx: &Connection,
    incident: &StoredIncident,
    json: &str,
) -> Result<u64, StoreError> {
    let stored: Option<i64> = tx
        .prepare_cached("SELECT version FROM incidents WHERE id = ?1")
        .and_then(|mut stmt| stmt.query_row([&incident.id], |r| r.get(0)).optional())
        .map_err(backend)?;
    match stored {
        None => return Err(StoreError::NotFound(format!("incident {}", incident.id))),
        Some(v) if v as u64 != incident.version => {
            return Err(StoreError::Conflict(format!(
                "incident {} (stored version {v}, written from version {})",
                incident.id, incident.version
            )));
        }
        Some(_) => {}
    }
    let next = incident.version + 1;
    write_incident(tx, incident, next, false, json)?;
    if incident.phase.is_closed() {
        tx.execute(
            "DELETE FROM groups WHERE group_key = ?1 AND incident_id = ?2",
            params![incident.group_key, incident.id],
        )
        .map_err(backend)?;
    }
    Ok(next)
}

fn contact_from_json(json: &str) -> Result<ContactRow, StoreError> {
    serde_json::from_str(json).map_err(|e| corrupt("contact", e))
}

#[async_trait]
impl Store for SqliteStore {
    async fn load_roster(&self) -> Result<Option<RosterDoc>, StoreError> {
        let conn = self.lock().await;
        let row: Option<(i64, String, String)> = conn
            .query_row(
                "SELECT version, yaml, applied_at FROM roster ORDER BY version DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(backend)?;
        row.map(|(version, yaml, applied_at)| {
            let applied_at = DateTime::parse_from_rfc3339(&applied_at)
                .map_err(|e| StoreError::Backend {
                    message: format!(
                        "sqlite: stored roster time {applied_at:?} is unreadable: {e}"
                    ),
                    retryable: false,
                    source: None,
                })?
                .with_timezone(&Utc);
            Ok(RosterDoc {
                yaml,
                version: version as u64,
                applied_at,
            })
        })
        .transpose()
    }

    async fn save_roster(&self, yaml: &str, now: DateTime<Utc>) -> Result<RosterDoc, StoreError> {
        self.write(|tx| {
            let latest: i64 = tx
                .query_row("SELECT COALESCE(MAX(version), 0) FROM roster", [], |r| {
                    r.get(0)
                })
                .map_err(backend)?;
            let version = latest + 1;
            tx.execute(
                "INSERT INTO roster (version, yaml, applied_at) VALUES (?1, ?2, ?3)",
                params![
                    version,
                    yaml,
                    now.to_rfc3339_opts(SecondsFormat::AutoSi, true)
                ],
            )
            .map_err(backend)?;
            Ok(RosterDoc {
                yaml: yaml.to_string(),
                version: version as u64,
                applied_at: now,
            })
        })
        .await
    }

    async fn silences(&self, now: DateTime<Utc>) -> Result<Vec<Silence>, StoreError> {
        let conn = self.lock().await;
        let mut stmt = conn
            .prepare_cached("SELECT json FROM silences WHERE ends_at > ?1 ORDER BY starts_at, id")
            .map_err(backend)?;
        let rows = stmt
            .query_map([now.timestamp()], |r| r.get::<_, String>(0))
            .map_err(backend)?;
        let mut out = Vec::new();
        for json in rows {
            let json = json.map_err(backend)?;
            out.push(serde_json::from_str(&json).map_err(|e| corrupt("silence", e))?);
        }
        Ok(out)
    }

    async fn put_silence(&self, silence: &Silence) -> Result<(), StoreError> {
        let json = encode("silence", silence)?;
        self.write(|conn| {
            conn.execute(
                "INSERT INTO silences (id, json, starts_at, ends_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (id) DO UPDATE SET json = excluded.json, starts_at = excluded.starts_at,
                     ends_at = excluded.ends_at",
                params![silence.id, json, silence.starts_at, silence.ends_at],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn expire_silence(&self, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        self.write(|tx| {
            let json: Option<String> = tx
                .query_row("SELECT json FROM silences WHERE id = ?1", [id], |r| {
                    r.get(0)
                })
                .optional()
                .map_err(backend)?;
            let Some(json) = json else {
                return Ok(false);
            };
            let mut silence: Silence =
                serde_json::from_str(&json).map_err(|e| corrupt("silence", e))?;
            let now = now.timestamp();
            if silence.ends_at > now {
                silence.ends_at = now;
                silence.starts_at = silence.starts_at.min(now);
                tx.execute(
                    "UPDATE silences SET json = ?2, starts_at = ?3, ends_at = ?4 WHERE id = ?1",
                    params![
                        id,
                        encode("silence", &silence)?,
                        silence.starts_at,
                        silence.ends_at
                    ],
                )
                .map_err(backend)?;
            }
            Ok(true)
        })
        .await
    }

    async fn open_incident_for_group(
        &self,
        group_key: &str,
    ) -> Result<Option<StoredIncident>, StoreError> {
        let conn = self.lock().await;
        let json: Option<String> = conn
            .query_row(
                "SELECT i.json FROM groups g JOIN incidents i ON i.id = g.incident_id
                 WHERE g.group_key = ?1 AND i.is_open = 1",
                [group_key],
                |r| r.get(0),
            )
            .optional()
            .map_err(backend)?;
        json.as_deref().map(decode_incident).transpose()
    }

    async fn create_incident(&self, incident: &StoredIncident) -> Result<Created, StoreError> {
        let json = ringdown_engine::record::encode_incident_as(incident, 1)?;
        self.write(|tx| {
            let current: Option<String> = tx
                .query_row(
                    "SELECT incident_id FROM groups WHERE group_key = ?1",
                    [&incident.group_key],
                    |r| r.get(0),
                )
                .optional()
                .map_err(backend)?;
            if let Some(existing_id) = current {
                match load_incident_tx(tx, &existing_id)? {
                    Some(existing) if !existing.phase.is_closed() => {
                        return Ok(Created::Exists(existing));
                    }
                    // A pointer to a closed (or vanished) incident is stale: the
                    // group is free.
                    _ => {
                        tx.execute(
                            "DELETE FROM groups WHERE group_key = ?1",
                            [&incident.group_key],
                        )
                        .map_err(backend)?;
                    }
                }
            }
            let mut stored = incident.clone();
            stored.version = 1;
            write_incident(tx, &stored, 1, true, &json)?;
            if !stored.phase.is_closed() {
                tx.execute(
                    "INSERT INTO groups (group_key, incident_id) VALUES (?1, ?2)",
                    params![stored.group_key, stored.id],
                )
                .map_err(backend)?;
            }
            Ok(Created::Created(stored))
        })
        .await
    }

    async fn load_incident(&self, id: &str) -> Result<Option<StoredIncident>, StoreError> {
        let conn = self.lock().await;
        load_incident_tx(&conn, id)
    }

    async fn save_incident(&self, incident: &StoredIncident) -> Result<u64, StoreError> {
        let json = encode_next(incident)?;
        self.write(|tx| save_incident_in(tx, incident, &json)).await
    }

    async fn save_incident_unsynced(
        &self,
        incident: &StoredIncident,
    ) -> Result<(u64, Option<u64>), StoreError> {
        let json = encode_next(incident)?;
        match self
            .write_unsynced(|tx| save_incident_in(tx, incident, &json))
            .await
        {
            (Ok(v), seq) => Ok((v, Some(seq))),
            (Err(e), seq) => {
                // Its batch still closes before the failure is told.
                self.durable(seq).await?;
                Err(e)
            }
        }
    }

    async fn synced(&self, ticket: Option<u64>) -> Result<(), StoreError> {
        match ticket {
            Some(seq) => self.durable(seq).await,
            None => Ok(()),
        }
    }

    async fn due_incidents(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let conn = self.lock().await;
        let mut stmt = conn
            .prepare_cached(
                "SELECT id FROM incidents
                 WHERE is_open = 1 AND next_action_at IS NOT NULL AND next_action_at <= ?1
                 ORDER BY next_action_at, id LIMIT ?2",
            )
            .map_err(backend)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt
            .query_map(params![ms(now), limit], |r| r.get::<_, String>(0))
            .map_err(backend)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(backend)
    }

    async fn list_incidents(
        &self,
        filter: &IncidentFilter,
    ) -> Result<Vec<StoredIncident>, StoreError> {
        let conn = self.lock().await;
        // `opened_at` is whole milliseconds: the column narrows the scan, the
        // exact time in the JSON decides.
        let mut stmt = conn
            .prepare_cached(
                "SELECT json FROM incidents
                 WHERE (?1 IS NULL OR opened_at >= ?1) AND (?2 IS NULL OR phase = ?2)
                 ORDER BY opened_at DESC, id DESC",
            )
            .map_err(backend)?;
        let rows = stmt
            .query_map(
                params![filter.since.map(ms), filter.phase.map(|p| p.as_str())],
                |r| r.get::<_, String>(0),
            )
            .map_err(backend)?;
        let limit = filter.limit.unwrap_or(usize::MAX);
        let mut out = Vec::new();
        for json in rows {
            if out.len() >= limit {
                break;
            }
            let inc = match decode_incident(&json.map_err(backend)?) {
                Ok(inc) => inc,
                Err(e @ StoreError::Undecodable { .. }) => {
                    // One unreadable record must not hide the others (nor
                    // stop a start-up): skip it, say so.
                    tracing::error!(error = %e, "skipping a stored incident this release cannot read");
                    metrics::counter!("ringdown_store_undecodable_total").increment(1);
                    continue;
                }
                Err(e) => return Err(e),
            };
            if filter.since.is_some_and(|since| inc.opened_at < since) {
                continue;
            }
            out.push(inc);
        }
        // Rows within one millisecond come back by id; order them exactly.
        out.sort_by(|a, b| b.opened_at.cmp(&a.opened_at).then_with(|| b.id.cmp(&a.id)));
        Ok(out)
    }

    async fn next_turn(&self, policy: &str) -> Result<u64, StoreError> {
        let next: i64 = self
            .write(|conn| {
                conn.query_row(
                    "INSERT INTO turns (policy, next) VALUES (?1, 1)
                     ON CONFLICT (policy) DO UPDATE SET next = next + 1
                     RETURNING next",
                    params![policy],
                    |r| r.get(0),
                )
                .map_err(backend)
            })
            .await?;
        Ok(u64::try_from(next - 1).unwrap_or(0))
    }

    async fn heartbeat_seen(&self, name: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.write(|conn| {
            conn.execute(
                "INSERT INTO heartbeats (name, last_seen) VALUES (?1, ?2)
                 ON CONFLICT (name) DO UPDATE SET last_seen = max(last_seen, excluded.last_seen)",
                params![name, ms(at)],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn heartbeat_last_seen(&self, name: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        let conn = self.lock().await;
        let v: Option<i64> = conn
            .query_row(
                "SELECT last_seen FROM heartbeats WHERE name = ?1",
                params![name],
                |r| r.get(0),
            )
            .optional()
            .map_err(backend)?;
        Ok(v.and_then(DateTime::from_timestamp_millis))
    }

    async fn record_contact(&self, row: &ContactRow) -> Result<(), StoreError> {
        let json = encode("contact", row)?;
        let outcome = row
            .outcome
            .as_ref()
            .map(|o: &Outcome| encode("outcome", o))
            .transpose()?;
        self.write(|conn| {
        conn.execute(
            "INSERT INTO contacts (contact_id, call_id, incident_id, person, phone_masked, placed_at,
                                   ended_at, outcome, disconnect_reason, json)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
             ON CONFLICT (contact_id) DO UPDATE SET
                 call_id = excluded.call_id, incident_id = excluded.incident_id,
                 person = excluded.person, phone_masked = excluded.phone_masked,
                 placed_at = excluded.placed_at, ended_at = excluded.ended_at,
                 outcome = excluded.outcome, disconnect_reason = excluded.disconnect_reason,
                 json = excluded.json",
            params![
                row.contact_id,
                row.call_id,
                row.incident_id,
                row.person,
                row.phone_masked,
                ms(row.placed_at),
                row.ended_at.map(ms),
                outcome,
                row.disconnect_reason,
                json,
            ],
        )
        .map_err(backend)?;
        Ok(())
        })
        .await
    }

    async fn contacts_for_incident(
        &self,
        incident_id: &str,
    ) -> Result<Vec<ContactRow>, StoreError> {
        let conn = self.lock().await;
        let mut stmt = conn
            .prepare_cached(
                "SELECT json FROM contacts WHERE incident_id = ?1 ORDER BY placed_at, contact_id",
            )
            .map_err(backend)?;
        let rows = stmt
            .query_map([incident_id], |r| r.get::<_, String>(0))
            .map_err(backend)?;
        let mut out = Vec::new();
        for json in rows {
            out.push(contact_from_json(&json.map_err(backend)?)?);
        }
        ContactRow::sort_oldest_first(&mut out);
        Ok(out)
    }

    /// Contacts placed in `[from, to)`, oldest first.
    async fn contacts_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<ContactRow>, StoreError> {
        let conn = self.lock().await;
        let mut stmt = conn
            .prepare_cached(
                "SELECT json FROM contacts WHERE placed_at >= ?1 AND placed_at <= ?2
                 ORDER BY placed_at, contact_id",
            )
            .map_err(backend)?;
        let rows = stmt
            .query_map(params![ms(from), ms(to)], |r| r.get::<_, String>(0))
            .map_err(backend)?;
        let mut out = Vec::new();
        for json in rows {
            let row = contact_from_json(&json.map_err(backend)?)?;
            if row.placed_at >= from && row.placed_at < to {
                out.push(row);
            }
        }
        ContactRow::sort_oldest_first(&mut out);
        Ok(out)
    }
}
