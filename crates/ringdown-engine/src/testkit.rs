//! The [`Store`] contract as scenarios every backend's tests run (feature
//! `testkit`).
//!
//! Each `contract_*` function starts from an empty store, drives one scenario
//! through the port and panics on the first broken expectation. Backends call
//! them from their own `#[tokio::test]`s (the SQLite store in
//! `ringdown-local/tests/store.rs`, the DynamoDB store in
//! `ringdown-aws/tests/dynamodb.rs`) and keep only their backend-specific
//! checks locally. [`contract_create_race`] spawns tasks: run it on a
//! multi-threaded runtime.

use std::sync::Arc;

use crate::StoredIncident;

use chrono::{DateTime, Duration, TimeZone, Utc};
use ringdown_core::escalation::{Incident, Phase};
use ringdown_core::matcher::Matcher;
use ringdown_core::outcome::Outcome;
use ringdown_core::roster::Policy;
use ringdown_core::silence::Silence;
use ringdown_core::Labels;

use crate::{ContactRow, Created, IncidentFilter, Store, StoreError};

/// The scenarios' reference time.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 2, 0, 0).unwrap()
}

/// The policy every scenario incident is opened under.
pub fn policy() -> Policy {
    Policy {
        name: "db".into(),
        matchers: vec![],
        group_by: vec!["system".into()],
        group_wait_secs: 30,
        repeat: 1,
        steps: vec![],
        ack_timeout_secs: None,
    }
}

/// A new incident `id` of group `group` (label `system=<group>`), not
/// stored yet.
pub fn incident(id: &str, group: &str, now: DateTime<Utc>) -> StoredIncident {
    let mut labels = Labels::new();
    labels.insert("system".into(), group.into());
    StoredIncident::new(Incident::open(id, group, &policy(), labels, now))
}

/// The incident of a `Created::Created`; panics on `Exists`.
pub fn created(c: Created) -> StoredIncident {
    match c {
        Created::Created(i) => i,
        Created::Exists(i) => panic!("expected Created, got Exists({})", i.id),
    }
}

/// A silence of `system=db` over `[starts_at, ends_at)` (Unix seconds).
pub fn silence(id: &str, starts_at: i64, ends_at: i64) -> Silence {
    Silence {
        id: id.into(),
        matchers: vec![Matcher::equal("system", "db").unwrap()],
        starts_at,
        ends_at,
        created_by: "+81 90-****-5678".into(),
        reason: "maintenance".into(),
    }
}

/// A contact row of `incident`, placed at `placed_at`, with no outcome yet.
pub fn contact(id: &str, incident: &str, placed_at: DateTime<Utc>) -> ContactRow {
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

/// Create stores version 1; load and the group lookup return it.
pub async fn contract_create_and_load<S: Store>(store: &S) {
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

/// Two concurrent creators of one group: one `Created`, one `Exists` of the
/// same incident, and the loser's incident is not stored. Needs a
/// multi-threaded runtime.
pub async fn contract_create_race<S: Store>(store: Arc<S>) {
    for round in 0..5 {
        let group = format!("g{round}");
        let barrier = Arc::new(tokio::sync::Barrier::new(2));
        let tasks: Vec<_> = ["a", "b"]
            .into_iter()
            .map(|who| {
                let (store, group, barrier) = (store.clone(), group.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    store
                        .create_incident(&incident(&format!("{group}-{who}"), &group, t0()))
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut results = Vec::new();
        for t in tasks {
            results.push(t.await.unwrap());
        }
        let ids: Vec<(String, bool)> = results
            .iter()
            .map(|r| match r {
                Created::Created(i) => (i.id.clone(), true),
                Created::Exists(i) => (i.id.clone(), false),
            })
            .collect();
        assert_eq!(
            ids.iter().filter(|(_, c)| *c).count(),
            1,
            "round {round}: {ids:?}"
        );
        assert_eq!(ids[0].0, ids[1].0, "round {round}: {ids:?}");
        assert_eq!(
            store
                .open_incident_for_group(&group)
                .await
                .unwrap()
                .unwrap()
                .id,
            ids[0].0
        );
        let loser_id = if ids[0].0 == format!("{group}-a") {
            format!("{group}-b")
        } else {
            format!("{group}-a")
        };
        assert!(
            store.load_incident(&loser_id).await.unwrap().is_none(),
            "round {round}: {ids:?}"
        );
    }
}

/// Saving from a stale version is a `Conflict` (a closing write too); reload
/// and retry succeeds; saving a never-created incident is `NotFound`.
pub async fn contract_stale_version_conflict<S: Store>(store: &S) {
    let v1 = created(
        store
            .create_incident(&incident("inc-1", "db", t0()))
            .await
            .unwrap(),
    );
    assert_eq!(v1.version, 1);

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

    // A stale save of a *closing* write is a conflict too.
    let mut stale_close = retry.clone();
    stale_close.phase = Phase::Resolved;
    assert!(matches!(
        store.save_incident(&stale_close).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(store.open_incident_for_group("db").await.unwrap().is_some());

    // Saving an incident that was never created.
    match store.save_incident(&incident("ghost", "web", t0())).await {
        Err(StoreError::NotFound(_)) => {}
        other => panic!("expected NotFound, got {other:?}"),
    }
}

/// Closing an incident frees its group for a new one; a late save of the
/// closed one does not free the new one's group; reusing an id is refused.
pub async fn contract_closing_frees_group<S: Store>(store: &S) {
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
    assert_eq!(store.save_incident(&old).await.unwrap(), 3);
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

/// The instant [`contract_due_order`] asks at.
pub fn due_now() -> DateTime<Utc> {
    t0() + Duration::minutes(10)
}

/// Due incidents are the open, scheduled ones at or before `now`, ordered by
/// millisecond (sub-millisecond times round up, never early), then by id,
/// and limited. Leaves six scheduled open incidents and two that are not
/// (one not scheduled, one closed).
pub async fn contract_due_order<S: Store>(store: &S) {
    let now = due_now();
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
        // Same millisecond as "exact": ties are ordered by id.
        ("exact-a", "g8", Some(now), Phase::Waiting),
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
        vec!["early", "late", "exact", "exact-a"]
    );
    assert_eq!(
        store.due_incidents(now, 2).await.unwrap(),
        vec!["early", "late"]
    );
    assert_eq!(
        store.due_incidents(now, 3).await.unwrap(),
        vec!["early", "late", "exact"]
    );
    assert!(store.due_incidents(now, 0).await.unwrap().is_empty());
    assert!(store.due_incidents(t0(), 10).await.unwrap().is_empty());
    assert_eq!(
        store
            .due_incidents(now + Duration::seconds(1), 10)
            .await
            .unwrap(),
        vec![
            "early",
            "late",
            "exact",
            "exact-a",
            "future",
            "sub-ms-future"
        ]
    );
}

/// `list_incidents` is newest first, filtered by `since`, phase and limit.
pub async fn contract_list_filters<S: Store>(store: &S) {
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
    let ids = |v: Vec<StoredIncident>| v.into_iter().map(|i| i.incident.id).collect::<Vec<_>>();
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

/// Silences round-trip, are replaced by id, and expire (strict end; a
/// not-yet-started one ends without an inverted window). Leaves `s-active`
/// and `s-later` expired at `t0()` and `s-over` as it was.
pub async fn contract_silences<S: Store>(store: &S) {
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

/// Roster versions count up from 1 and the latest is loaded, with its
/// `applied_at` to the nanosecond, also past version 9 (numeric, not
/// lexicographic order).
pub async fn contract_roster_versions<S: Store>(store: &S) {
    assert!(store.load_roster().await.unwrap().is_none());
    let a = store.save_roster("people: []\n", t0()).await.unwrap();
    let at = t0() + Duration::nanoseconds(1_234_567_891);
    let b = store.save_roster("people: [alice]\n", at).await.unwrap();
    assert_eq!((a.version, b.version), (1, 2));
    let loaded = store.load_roster().await.unwrap().unwrap();
    assert_eq!(loaded, b);
    assert_eq!(loaded.applied_at, at);

    // Many versions: the latest is still the one loaded (10 > 9).
    for i in 3..=11 {
        store.save_roster(&format!("v{i}\n"), t0()).await.unwrap();
    }
    let loaded = store.load_roster().await.unwrap().unwrap();
    assert_eq!((loaded.version, loaded.yaml.as_str()), (11, "v11\n"));
}

/// Heartbeats keep their latest time, whatever order beats are recorded in.
pub async fn contract_heartbeats<S: Store>(store: &S) {
    let t = t0();
    assert_eq!(store.heartbeat_last_seen("watchdog").await.unwrap(), None);
    store.heartbeat_seen("watchdog", t).await.unwrap();
    assert_eq!(
        store.heartbeat_last_seen("watchdog").await.unwrap(),
        Some(t)
    );
    store
        .heartbeat_seen("watchdog", t + Duration::seconds(60))
        .await
        .unwrap();
    store
        .heartbeat_seen("watchdog", t + Duration::seconds(30))
        .await
        .unwrap();
    assert_eq!(
        store.heartbeat_last_seen("watchdog").await.unwrap(),
        Some(t + Duration::seconds(60)),
        "an older beat never moves it back"
    );
    assert_eq!(store.heartbeat_last_seen("other").await.unwrap(), None);
}

/// Contact rows are upserted by contact id and queried by incident and by
/// a `[from, to)` window with sub-millisecond bounds.
pub async fn contract_contacts<S: Store>(store: &S) {
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
    assert!(store
        .contacts_for_incident("inc-none")
        .await
        .unwrap()
        .is_empty());

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
