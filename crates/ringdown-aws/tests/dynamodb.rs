//! Scenario tests of [`DynamoStore`] against moto: the same contract the
//! SQLite store's tests (`ringdown-local/tests/store.rs`) check, plus the
//! DynamoDB-specific parts (TTL attribute, sparse due index, leases).

mod common;

use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, TimeZone, Utc};
use ringdown_aws::dynamodb::{DynamoStore, SILENCE_RETENTION_SECS};
use ringdown_aws::lease::LeaseStore;
use ringdown_core::escalation::{Incident, Phase};
use ringdown_core::matcher::Matcher;
use ringdown_core::outcome::Outcome;
use ringdown_core::roster::Policy;
use ringdown_core::silence::Silence;
use ringdown_core::Labels;
use ringdown_engine::{ContactRow, Created, IncidentFilter, Store, StoreError};

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

/// A store on fresh tables, or None when moto is not available.
async fn store(test: &str) -> Option<(DynamoStore, aws_sdk_dynamodb::Client)> {
    let sdk = common::moto(test)?;
    let prefix = common::unique_prefix("ddb");
    ringdown_aws::bootstrap::ensure_tables(&sdk, &prefix)
        .await
        .expect("create tables");
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    Some((DynamoStore::new(client.clone(), &prefix), client))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creators_of_one_group_get_one_incident() {
    let Some((store, _)) = store("concurrent_creators_of_one_group_get_one_incident").await else {
        return;
    };
    let store = Arc::new(store);
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
    }
}

#[tokio::test]
async fn stale_version_save_is_a_conflict() {
    let Some((store, _)) = store("stale_version_save_is_a_conflict").await else {
        return;
    };
    let v1 = created(
        store
            .create_incident(&incident("inc-1", "db", t0()))
            .await
            .unwrap(),
    );
    assert_eq!(v1.version, 1);

    let mut first = v1.clone();
    first.phase = Phase::Calling;
    assert_eq!(store.save_incident(&first).await.unwrap(), 2);
    let mut second = v1.clone();
    second.phase = Phase::Acknowledged;
    match store.save_incident(&second).await {
        Err(StoreError::Conflict(msg)) => assert!(msg.contains("inc-1"), "{msg}"),
        other => panic!("expected Conflict, got {other:?}"),
    }

    let stored = store.load_incident("inc-1").await.unwrap().unwrap();
    assert_eq!(stored.phase, Phase::Calling);
    assert_eq!(stored.version, 2);

    let mut retry = stored;
    retry.phase = Phase::Acknowledged;
    assert_eq!(store.save_incident(&retry).await.unwrap(), 3);
    assert_eq!(
        store.load_incident("inc-1").await.unwrap().unwrap().phase,
        Phase::Acknowledged
    );

    // A stale save of a *closing* write is a conflict too (the transaction path).
    let mut stale_close = retry.clone();
    stale_close.phase = Phase::Resolved;
    assert!(matches!(
        store.save_incident(&stale_close).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(store.open_incident_for_group("db").await.unwrap().is_some());

    match store.save_incident(&incident("ghost", "web", t0())).await {
        Err(StoreError::NotFound(_)) => {}
        other => panic!("expected NotFound, got {other:?}"),
    }
}

#[tokio::test]
async fn closing_an_incident_frees_its_group() {
    let Some((store, client)) = store("closing_an_incident_frees_its_group").await else {
        return;
    };
    let mut first = created(
        store
            .create_incident(&incident("inc-1", "db", t0()))
            .await
            .unwrap(),
    );

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
    // The pointer itself is gone (removed in the same transaction).
    let pointer = client
        .get_item()
        .table_name(&store.tables().groups)
        .key("group_key", AttributeValue::S("db".into()))
        .send()
        .await
        .unwrap();
    assert!(pointer.item.is_none(), "{:?}", pointer.item);

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

    // A stale pointer (a crash between writes, or a table edited by hand)
    // to a closed incident does not block the group.
    client
        .put_item()
        .table_name(&store.tables().groups)
        .item("group_key", AttributeValue::S("cache".into()))
        .item("incident_id", AttributeValue::S("inc-1".into()))
        .send()
        .await
        .unwrap();
    assert!(store
        .open_incident_for_group("cache")
        .await
        .unwrap()
        .is_none());
    let third = created(
        store
            .create_incident(&incident("inc-3", "cache", t0()))
            .await
            .unwrap(),
    );
    assert_eq!(
        store
            .open_incident_for_group("cache")
            .await
            .unwrap()
            .unwrap()
            .id,
        third.id
    );
}

#[tokio::test]
async fn due_incidents_are_open_ones_in_next_action_order() {
    let Some((store, client)) = store("due_incidents_are_open_ones_in_next_action_order").await
    else {
        return;
    };
    let now = t0() + Duration::minutes(10);
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

    // The index is sparse: closed and not-scheduled incidents are not in it.
    let index = client
        .scan()
        .table_name(&store.tables().incidents)
        .index_name("due")
        .send()
        .await
        .unwrap();
    assert_eq!(index.count, 6, "{:?}", index.items);
}

#[tokio::test]
async fn list_incidents_newest_first_with_filters() {
    let Some((store, _)) = store("list_incidents_newest_first_with_filters").await else {
        return;
    };
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
async fn silences_round_trip_expire_and_carry_a_ttl() {
    let Some((store, client)) = store("silences_round_trip_expire_and_carry_a_ttl").await else {
        return;
    };
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

    // The TTL attribute DynamoDB deletes by: a week after the end.
    let item = client
        .get_item()
        .table_name(&store.tables().silences)
        .key("id", AttributeValue::S("s-active".into()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(
        item["ttl"].as_n().unwrap(),
        &(now + 3600 + SILENCE_RETENTION_SECS).to_string()
    );
    assert_eq!(item["ends_at"].as_n().unwrap(), &(now + 3600).to_string());
    assert!(item["matchers"].as_s().unwrap().contains("system"));

    let mut extended = active.clone();
    extended.ends_at = now + 7200;
    extended.reason = "longer maintenance".into();
    store.put_silence(&extended).await.unwrap();
    assert_eq!(
        store.silences(t0()).await.unwrap(),
        vec![extended.clone(), later.clone()]
    );

    assert!(store.expire_silence("s-active", t0()).await.unwrap());
    assert!(!store.expire_silence("s-missing", t0()).await.unwrap());
    assert_eq!(store.silences(t0()).await.unwrap(), vec![later.clone()]);
    assert!(store
        .silences(t0() + Duration::seconds(7200))
        .await
        .unwrap()
        .is_empty());

    assert!(store.expire_silence("s-later", t0()).await.unwrap());
    assert!(store.silences(t0()).await.unwrap().is_empty());
    let all = store.silences(t0() - Duration::hours(3)).await.unwrap();
    assert_eq!(all.len(), 3, "{all:?}");
    let ended = all.iter().find(|s| s.id == "s-later").unwrap();
    assert_eq!((ended.starts_at, ended.ends_at), (now, now));
    // Expiring moves the TTL with the end.
    let item = client
        .get_item()
        .table_name(&store.tables().silences)
        .key("id", AttributeValue::S("s-later".into()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(
        item["ttl"].as_n().unwrap(),
        &(now + SILENCE_RETENTION_SECS).to_string()
    );
}

#[tokio::test]
async fn roster_versions_increase_and_latest_wins() {
    let Some((store, _)) = store("roster_versions_increase_and_latest_wins").await else {
        return;
    };
    assert!(store.load_roster().await.unwrap().is_none());
    let a = store.save_roster("people: []\n", t0()).await.unwrap();
    let at = t0() + Duration::nanoseconds(1_234_567_891);
    let b = store.save_roster("people: [alice]\n", at).await.unwrap();
    assert_eq!((a.version, b.version), (1, 2));
    let loaded = store.load_roster().await.unwrap().unwrap();
    assert_eq!(loaded, b);
    assert_eq!(loaded.applied_at, at);

    // Many versions: the latest is still one query away (numeric sort key,
    // not lexicographic: 10 > 9).
    for i in 3..=11 {
        store.save_roster(&format!("v{i}\n"), t0()).await.unwrap();
    }
    let loaded = store.load_roster().await.unwrap().unwrap();
    assert_eq!((loaded.version, loaded.yaml.as_str()), (11, "v11\n"));
}

#[tokio::test]
async fn contacts_upsert_and_query() {
    let Some((store, _)) = store("contacts_upsert_and_query").await else {
        return;
    };
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
async fn leases_acquire_steal_renew_checkpoint_release() {
    let Some((store, _)) = store("leases_acquire_steal_renew_checkpoint_release").await else {
        return;
    };
    let ttl = 10_000;
    let a = store
        .try_acquire("shard-0", "a", 1_000, ttl)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (a.owner.as_str(), a.lease_until_ms, a.checkpoint.clone()),
        ("a", 11_000, None)
    );
    // Held: b cannot take it; a can re-acquire (idempotent).
    assert!(store
        .try_acquire("shard-0", "b", 5_000, ttl)
        .await
        .unwrap()
        .is_none());
    assert!(store
        .try_acquire("shard-0", "a", 5_000, ttl)
        .await
        .unwrap()
        .is_some());

    // Only the owner checkpoints and renews.
    assert!(store.checkpoint("shard-0", "a", "seq-1").await.unwrap());
    assert!(!store.checkpoint("shard-0", "b", "seq-x").await.unwrap());
    assert!(store.renew("shard-0", "a", 6_000, ttl).await.unwrap());
    assert!(!store.renew("shard-0", "b", 6_000, ttl).await.unwrap());
    assert!(!store.renew("shard-missing", "a", 6_000, ttl).await.unwrap());

    // Expired (a stopped renewing): b steals it, with a's checkpoint.
    assert!(store
        .try_acquire("shard-0", "b", 15_999, ttl)
        .await
        .unwrap()
        .is_none());
    let b = store
        .try_acquire("shard-0", "b", 16_000, ttl)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (b.owner.as_str(), b.checkpoint.as_deref()),
        ("b", Some("seq-1"))
    );
    // a lost it: its writes are refused.
    assert!(!store.checkpoint("shard-0", "a", "seq-stale").await.unwrap());
    assert!(!store.renew("shard-0", "a", 16_000, ttl).await.unwrap());
    assert!(store.checkpoint("shard-0", "b", "seq-2").await.unwrap());

    // Release hands it over at once, checkpoint kept; releasing someone
    // else's lease does nothing.
    store.release("shard-0", "a").await.unwrap();
    assert!(store
        .try_acquire("shard-0", "c", 17_000, ttl)
        .await
        .unwrap()
        .is_none());
    store.release("shard-0", "b").await.unwrap();
    let c = store
        .try_acquire("shard-0", "c", 17_000, ttl)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.checkpoint.as_deref(), Some("seq-2"));

    store
        .try_acquire("shard-1", "a", 17_000, ttl)
        .await
        .unwrap()
        .unwrap();
    store
        .try_acquire("heartbeat-a", "a", 17_000, ttl)
        .await
        .unwrap()
        .unwrap();
    let shards = store.list("shard-").await.unwrap();
    assert_eq!(
        shards
            .iter()
            .map(|l| (l.name.as_str(), l.owner.as_str()))
            .collect::<Vec<_>>(),
        vec![("shard-0", "c"), ("shard-1", "a")]
    );
    assert_eq!(store.list("").await.unwrap().len(), 3);
}
