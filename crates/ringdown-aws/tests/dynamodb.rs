//! Scenario tests of [`DynamoStore`] against moto: the shared `Store`
//! contract (`ringdown_engine::testkit`, run against the SQLite store too),
//! plus the DynamoDB-specific parts (group pointers, TTL attribute, sparse
//! due index, leases).

mod common;

use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::Duration;
use ringdown_aws::dynamodb::{DynamoStore, SILENCE_RETENTION_SECS};
use ringdown_core::escalation::Phase;
use ringdown_engine::testkit::{self, created, incident, silence, t0};
use ringdown_engine::LeaseStore;
use ringdown_engine::Store;

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

#[tokio::test]
async fn create_stores_version_1_and_load_round_trips() {
    let Some((store, _)) = store("create_stores_version_1_and_load_round_trips").await else {
        return;
    };
    testkit::contract_create_and_load(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creators_of_one_group_get_one_incident() {
    let Some((store, _)) = store("concurrent_creators_of_one_group_get_one_incident").await else {
        return;
    };
    testkit::contract_create_race(Arc::new(store)).await;
}

#[tokio::test]
async fn stale_version_save_is_a_conflict() {
    let Some((store, _)) = store("stale_version_save_is_a_conflict").await else {
        return;
    };
    // The stale closing write goes through the transaction path here.
    testkit::contract_stale_version_conflict(&store).await;
}

#[tokio::test]
async fn closing_an_incident_frees_its_group() {
    let Some((store, _)) = store("closing_an_incident_frees_its_group").await else {
        return;
    };
    testkit::contract_closing_frees_group(&store).await;
}

#[tokio::test]
async fn closing_removes_the_group_pointer_and_a_stale_one_does_not_block() {
    let Some((store, client)) =
        store("closing_removes_the_group_pointer_and_a_stale_one_does_not_block").await
    else {
        return;
    };
    let mut first = created(
        store
            .create_incident(&incident("inc-1", "db", t0()))
            .await
            .unwrap(),
    );
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
    testkit::contract_due_order(&store).await;

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
    testkit::contract_list_filters(&store).await;
}

#[tokio::test]
async fn silences_round_trip_expire_and_carry_a_ttl() {
    let Some((store, client)) = store("silences_round_trip_expire_and_carry_a_ttl").await else {
        return;
    };
    testkit::contract_silences(&store).await;
    let now = t0().timestamp();
    let ttl_item = |id: &'static str| {
        client
            .get_item()
            .table_name(&store.tables().silences)
            .key("id", AttributeValue::S(id.into()))
            .send()
    };

    // Expiring moves the TTL with the end (s-later was expired at t0).
    let item = ttl_item("s-later").await.unwrap().item.unwrap();
    assert_eq!(
        item["ttl"].as_n().unwrap(),
        &(now + SILENCE_RETENTION_SECS).to_string()
    );

    // The TTL attribute DynamoDB deletes by: a week after the end.
    store
        .put_silence(&silence("s-ttl", now - 60, now + 3600))
        .await
        .unwrap();
    let item = ttl_item("s-ttl").await.unwrap().item.unwrap();
    assert_eq!(
        item["ttl"].as_n().unwrap(),
        &(now + 3600 + SILENCE_RETENTION_SECS).to_string()
    );
    assert_eq!(item["ends_at"].as_n().unwrap(), &(now + 3600).to_string());
    assert!(item["matchers"].as_s().unwrap().contains("system"));
}

#[tokio::test]
async fn roster_versions_increase_and_latest_wins() {
    let Some((store, _)) = store("roster_versions_increase_and_latest_wins").await else {
        return;
    };
    testkit::contract_roster_versions(&store).await;
}

#[tokio::test]
async fn contacts_upsert_and_query() {
    let Some((store, _)) = store("contacts_upsert_and_query").await else {
        return;
    };
    testkit::contract_contacts(&store).await;
}

#[tokio::test]
async fn heartbeats_keep_the_latest_beat() {
    let Some((store, _)) = store("heartbeats_keep_the_latest_beat").await else {
        return;
    };
    testkit::contract_heartbeats(&store).await;
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

#[tokio::test]
async fn an_incident_a_newer_release_wrote_is_skipped_by_listings_and_reported_when_loaded() {
    let Some((store, client)) =
        store("an_incident_a_newer_release_wrote_is_skipped_by_listings_and_reported").await
    else {
        return;
    };
    store
        .create_incident(&incident("inc-1", "db", t0()))
        .await
        .unwrap();
    client
        .put_item()
        .table_name(&store.tables().incidents)
        .item("id", AttributeValue::S("inc-newer".into()))
        .item("group_key", AttributeValue::S("web".into()))
        .item("phase", AttributeValue::S("paused".into()))
        .item("version", AttributeValue::N("1".into()))
        .item(
            "json",
            AttributeValue::S(format!(
                r#"{{"record_version": {}, "id": "inc-newer", "phase": "paused"}}"#,
                ringdown_engine::record::INCIDENT_RECORD_VERSION + 1
            )),
        )
        .send()
        .await
        .unwrap();
    let listed = store
        .list_incidents(&ringdown_engine::IncidentFilter::default())
        .await
        .expect("a listing survives an unreadable record");
    assert_eq!(
        listed.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
        ["inc-1"]
    );
    match store.load_incident("inc-newer").await {
        Err(ringdown_engine::StoreError::Undecodable { id, reason, .. }) => {
            assert_eq!(id, "inc-newer");
            assert!(reason.contains("newer ringdown"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}
