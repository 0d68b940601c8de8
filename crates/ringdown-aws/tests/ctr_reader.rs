//! `CtrReader` against Kinesis in moto, and the late-record fallback against
//! connect-sim.
//!
//! Kinesis needs `RINGDOWN_TEST_MOTO_URL` (tests/emulators.sh); without it
//! those tests print a loud skip notice, unless `RINGDOWN_REQUIRE_EMULATORS=1`,
//! in which case they fail.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_kinesis::primitives::Blob;
use common::{create_stream, moto_url, unique, FLOW_EN, FLOW_JA};
use connect_sim::{KinesisConfig, NumberFaults, SimConfig, SimServer};
use ringdown_aws::connect::{
    run_fallback, ConnectDialer, ConnectSettings, FallbackSettings, PendingCalls,
};
use ringdown_aws::kinesis::{CtrReader, CtrReaderSettings};
use ringdown_core::escalation::CallRequest;
use ringdown_core::outcome::Outcome;
use ringdown_core::Language;
use ringdown_engine::gate::bucket;
use ringdown_engine::{CancellationToken, Dialer, OutcomeReport};
use ringdown_engine::{LeaseStore, MemoryLeases};
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};

/// A contact record shaped like connect-sim's `build_ctr` (and Connect's).
fn ctr(contact: &str, last_update: &str, reason: &str, attrs: Value) -> Value {
    json!({
        "AWSAccountId": "123456789012",
        "AWSContactTraceRecordFormatVersion": "2017-03-10",
        "Agent": null,
        "Attributes": attrs,
        "Channel": "VOICE",
        "ContactId": contact,
        "CustomerEndpoint": {"Address": "+14155550104", "Type": "TELEPHONE_NUMBER"},
        "DisconnectReason": reason,
        "DisconnectTimestamp": "2026-11-22T21:30:14Z",
        "InitiationMethod": "API",
        "InitiationTimestamp": "2026-11-22T21:29:30Z",
        "ConnectedToSystemTimestamp": "2026-11-22T21:29:35Z",
        "LastUpdateTimestamp": last_update,
        "SystemEndpoint": {"Address": "+81335550000", "Type": "TELEPHONE_NUMBER"},
    })
}

fn ours(incident: &str, call: &str, extra: &[(&str, &str)]) -> Value {
    let mut m = serde_json::Map::new();
    m.insert("rd_incident".into(), json!(incident));
    m.insert("rd_call".into(), json!(call));
    m.insert("rd_lang".into(), json!("en-US"));
    m.insert("rd_message".into(), json!("disk full"));
    for (k, v) in extra {
        m.insert(k.to_string(), json!(v));
    }
    Value::Object(m)
}

/// Hash keys in the lower / upper half of the key space: shard 0 / shard 1
/// of a 2-shard stream.
const LOW: &str = "1";
const HIGH: &str = "300000000000000000000000000000000000000";

async fn put(k: &aws_sdk_kinesis::Client, stream: &str, rec: &Value, hash: Option<&str>) {
    k.put_record()
        .stream_name(stream)
        .partition_key(rec["ContactId"].as_str().unwrap())
        .set_explicit_hash_key(hash.map(str::to_string))
        .data(Blob::new(rec.to_string().into_bytes()))
        .send()
        .await
        .expect("PutRecord");
}

fn settings(stream: &str, owner: &str) -> CtrReaderSettings {
    CtrReaderSettings {
        stream_name: stream.into(),
        owner: owner.into(),
        lease_ttl_secs: 3,
        poll_interval_ms: 100,
        rebalance_interval_ms: 200,
        ..CtrReaderSettings::default()
    }
}

struct Running {
    reader: Arc<CtrReader>,
    rx: mpsc::UnboundedReceiver<OutcomeReport>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    async fn stop(mut self) -> mpsc::UnboundedReceiver<OutcomeReport> {
        let _ = self.stop.take().unwrap().send(());
        self.task.await.unwrap();
        self.rx
    }
}

fn spawn_reader(
    k: &aws_sdk_kinesis::Client,
    leases: Arc<dyn LeaseStore>,
    s: CtrReaderSettings,
    pending: Arc<PendingCalls>,
) -> Running {
    let (tx, rx) = mpsc::unbounded_channel();
    let reader = Arc::new(CtrReader::new(k.clone(), leases, s, tx, pending));
    let (stop, stop_rx) = oneshot::channel::<()>();
    let r = reader.clone();
    let task = tokio::spawn(async move {
        r.run(async {
            let _ = stop_rx.await;
        })
        .await
        .expect("reader ran");
    });
    Running {
        reader,
        rx,
        stop: Some(stop),
        task,
    }
}

/// Receives until `n` reports arrived or `timeout` passed, confirming each
/// as stored, as the engine does.
async fn recv_n(
    rx: &mut mpsc::UnboundedReceiver<OutcomeReport>,
    n: usize,
    timeout: Duration,
) -> Vec<OutcomeReport> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut out = Vec::new();
    while out.len() < n {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(r)) => {
                r.applied.confirm();
                out.push(r)
            }
            _ => break,
        }
    }
    out
}

fn drain(rx: &mut mpsc::UnboundedReceiver<OutcomeReport>) -> Vec<OutcomeReport> {
    let mut out = Vec::new();
    while let Ok(r) = rx.try_recv() {
        r.applied.confirm();
        out.push(r);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_become_reports_once_foreign_and_stale_ones_are_dropped() {
    let Some(url) = moto_url("records_become_reports_once_foreign_and_stale_ones_are_dropped")
    else {
        return;
    };
    let k = common::kinesis_client(&url);
    let stream = unique("rd-ctr-basic");
    create_stream(&k, &stream, 1).await;
    let t0 = "2026-11-22T21:30:14Z";
    let t1 = "2026-11-22T21:30:19Z";
    let ack = ours(
        "inc-1",
        "inc-1-p0s1a1t0r0",
        &[("rd_human", "1"), ("rd_ack", "1")],
    );
    let records = [
        ctr("c-ack", t0, "CONTACT_FLOW_DISCONNECT", ack.clone()),
        ctr("c-ack", t0, "CONTACT_FLOW_DISCONNECT", ack.clone()), // duplicate
        ctr(
            "c-vm",
            t0,
            "CONTACT_FLOW_DISCONNECT",
            ours("inc-2", "inc-2-p0s1a1t0r0", &[]),
        ),
        ctr(
            "c-foreign",
            t0,
            "CUSTOMER_DISCONNECT",
            json!({"customer_tier": "gold"}),
        ),
        ctr("c-ack", t1, "CONTACT_FLOW_DISCONNECT", ack.clone()), // newer: kept
        ctr("c-ack", t0, "CONTACT_FLOW_DISCONNECT", ack.clone()), // older after newer
    ];
    for r in &records {
        put(&k, &stream, r, None).await;
    }
    let pending = Arc::new(PendingCalls::new());
    pending.register("c-ack", "inc-1", "inc-1-p0s1a1t0r0");
    pending.register("c-vm", "inc-2", "inc-2-p0s1a1t0r0");
    let mut r = spawn_reader(
        &k,
        Arc::new(MemoryLeases::default()),
        settings(&stream, "replica-a"),
        pending.clone(),
    );
    let got = recv_n(&mut r.rx, 3, Duration::from_secs(15)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stats = r.reader.stats();
    let mut rx = r.stop().await;
    let extra = drain(&mut rx);
    assert!(extra.is_empty(), "no more reports: {extra:?}");
    assert_eq!(got.len(), 3, "{got:#?}");

    let first = &got[0];
    assert_eq!(first.contact_id, "c-ack");
    assert_eq!(first.incident_id, "inc-1");
    assert_eq!(first.call_id, "inc-1-p0s1a1t0r0");
    assert_eq!(first.outcome, Outcome::Acknowledged);
    assert_eq!(
        first.disconnect_reason.as_deref(),
        Some("CONTACT_FLOW_DISCONNECT")
    );
    assert_eq!(first.ended_at.to_rfc3339(), "2026-11-22T21:30:14+00:00");
    assert_eq!(
        first.attributes.get("rd_ack").map(String::as_str),
        Some("1")
    );
    assert_eq!(got[1].contact_id, "c-vm");
    assert_eq!(got[1].outcome, Outcome::Unreachable, "voicemail");
    assert_eq!(got[2].contact_id, "c-ack", "the newer update is passed on");
    assert_eq!(stats.records, 6);
    assert_eq!(stats.reports, 3);
    assert_eq!(stats.duplicates, 2);
    assert_eq!(stats.foreign, 1);
    assert!(pending.is_empty(), "records mark their calls done");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_checkpoint_waits_until_the_engine_has_stored_the_outcome() {
    let Some(url) = moto_url("the_checkpoint_waits_until_the_engine_has_stored_the_outcome") else {
        return;
    };
    let k = common::kinesis_client(&url);
    let stream = unique("rd-ctr-durable");
    create_stream(&k, &stream, 1).await;
    put(
        &k,
        &stream,
        &ctr(
            "c-ack",
            "2026-11-22T21:30:14Z",
            "CONTACT_FLOW_DISCONNECT",
            ours(
                "inc-1",
                "inc-1-p0s1a1t0r0",
                &[("rd_human", "1"), ("rd_ack", "1")],
            ),
        ),
        None,
    )
    .await;
    let leases = Arc::new(MemoryLeases::default());
    let mut r = spawn_reader(
        &k,
        leases.clone(),
        settings(&stream, "replica-a"),
        Arc::new(PendingCalls::new()),
    );
    let checkpoint = || async {
        leases
            .list(&format!("ctr-shard/{stream}/"))
            .await
            .unwrap()
            .first()
            .and_then(|l| l.checkpoint.clone())
    };
    // The engine has the outcome but cannot store it yet (the store is
    // away): a crash now must read the record again, so no checkpoint.
    let held = tokio::time::timeout(Duration::from_secs(15), r.rx.recv())
        .await
        .expect("a report")
        .expect("a report");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        checkpoint().await,
        None,
        "not past an outcome not yet durable"
    );
    held.applied.confirm();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while checkpoint().await.is_none() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        checkpoint().await.is_some(),
        "the checkpoint follows once stored"
    );
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_readers_split_the_shards_and_one_takes_over_from_the_checkpoint() {
    let Some(url) = moto_url("two_readers_split_the_shards_and_one_takes_over_from_the_checkpoint")
    else {
        return;
    };
    let k = common::kinesis_client(&url);
    let stream = unique("rd-ctr-split");
    create_stream(&k, &stream, 2).await;
    let leases: Arc<dyn LeaseStore> = Arc::new(MemoryLeases::default());
    let pending = Arc::new(PendingCalls::new());
    let a = spawn_reader(
        &k,
        leases.clone(),
        settings(&stream, "replica-a"),
        pending.clone(),
    );
    let mut b = spawn_reader(
        &k,
        leases.clone(),
        settings(&stream, "replica-b"),
        pending.clone(),
    );
    // Each owns exactly one shard, never the same one.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (sa, sb) = (a.reader.owned_shards(), b.reader.owned_shards());
        let overlap = sa.iter().any(|s| sb.contains(s));
        assert!(!overlap, "a shard owned twice: {sa:?} {sb:?}");
        if sa.len() == 1 && sb.len() == 1 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no split: {sa:?} {sb:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let mk = |i: usize| {
        ctr(
            &format!("c-{i}"),
            "2026-11-22T21:30:14Z",
            "CONTACT_FLOW_DISCONNECT",
            ours(
                &format!("inc-{i}"),
                &format!("call-{i}"),
                &[("rd_human", "1"), ("rd_ack", "1")],
            ),
        )
    };
    for i in 0..10 {
        put(
            &k,
            &stream,
            &mk(i),
            Some(if i % 2 == 0 { LOW } else { HIGH }),
        )
        .await;
    }
    let mut a = a;
    let mut got_a = Vec::new();
    let mut got_b = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while got_a.len() + got_b.len() < 10 && tokio::time::Instant::now() < deadline {
        got_a.extend(drain(&mut a.rx));
        got_b.extend(drain(&mut b.rx));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(got_a.len(), 5, "reader a read its shard: {got_a:?}");
    assert_eq!(got_b.len(), 5, "reader b read its shard: {got_b:?}");
    let first: BTreeSet<String> = got_a
        .iter()
        .chain(&got_b)
        .map(|r| r.contact_id.clone())
        .collect();
    assert_eq!(first.len(), 10);

    // Replica a shuts down (releases its leases); b takes its shard over
    // from a's checkpoint.
    let mut rx_a = a.stop().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while b.reader.owned_shards().len() < 2 {
        assert!(tokio::time::Instant::now() < deadline, "no take-over");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for i in 10..16 {
        put(
            &k,
            &stream,
            &mk(i),
            Some(if i % 2 == 0 { LOW } else { HIGH }),
        )
        .await;
    }
    let later = recv_n(&mut b.rx, 6, Duration::from_secs(15)).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let extra = drain(&mut b.rx);
    assert!(
        extra.is_empty(),
        "records a already processed were read again: {extra:?}"
    );
    let later_ids: BTreeSet<String> = later.iter().map(|r| r.contact_id.clone()).collect();
    let want: BTreeSet<String> = (10..16).map(|i| format!("c-{i}")).collect();
    assert_eq!(later_ids, want);
    assert!(drain(&mut rx_a).is_empty());
    let rx_b = b.stop().await;
    drop(rx_b);
    // Both stopped: every lease is free again.
    assert!(leases
        .list("ctr-shard/")
        .await
        .unwrap()
        .iter()
        .filter(|l| l.name.contains(&stream))
        .all(|l| l.owner.is_empty()));
}

/// A replica that dies without releasing anything: its leases expire after
/// `lease_ttl_secs` and the survivor reads on from its checkpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_readers_shard_is_taken_over_after_its_lease_expires() {
    let Some(url) = moto_url("a_dead_readers_shard_is_taken_over_after_its_lease_expires") else {
        return;
    };
    let k = common::kinesis_client(&url);
    let stream = unique("rd-ctr-dead");
    create_stream(&k, &stream, 2).await;
    let leases: Arc<dyn LeaseStore> = Arc::new(MemoryLeases::default());
    let pending = Arc::new(PendingCalls::new());
    let mut a = spawn_reader(&k, leases.clone(), settings(&stream, "a"), pending.clone());
    let mut b = spawn_reader(&k, leases.clone(), settings(&stream, "b"), pending.clone());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !(a.reader.owned_shards().len() == 1 && b.reader.owned_shards().len() == 1) {
        assert!(tokio::time::Instant::now() < deadline, "no split");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mk = |i: usize| {
        ctr(
            &format!("d-{i}"),
            "2026-11-22T21:30:14Z",
            "TELECOM_UNANSWERED",
            ours(&format!("inc-{i}"), &format!("call-{i}"), &[]),
        )
    };
    for i in 0..4 {
        put(
            &k,
            &stream,
            &mk(i),
            Some(if i % 2 == 0 { LOW } else { HIGH }),
        )
        .await;
    }
    let mut seen = recv_n(&mut a.rx, 2, Duration::from_secs(10)).await;
    seen.extend(recv_n(&mut b.rx, 2, Duration::from_secs(10)).await);
    assert_eq!(seen.len(), 4);
    // Both readers checkpoint once their outcomes are confirmed stored.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let l = leases.list(&format!("ctr-shard/{stream}/")).await.unwrap();
        if l.len() == 2 && l.iter().all(|l| l.checkpoint.is_some()) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no checkpoints");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // kill -9: no release, no goodbye.
    a.task.abort();
    let killed_at = tokio::time::Instant::now();
    let deadline = killed_at + Duration::from_secs(10);
    while b.reader.owned_shards().len() < 2 {
        assert!(tokio::time::Instant::now() < deadline, "no take-over");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        killed_at.elapsed() >= Duration::from_secs(2),
        "not before the lease could have expired"
    );
    for i in 4..8 {
        put(
            &k,
            &stream,
            &mk(i),
            Some(if i % 2 == 0 { LOW } else { HIGH }),
        )
        .await;
    }
    let later = recv_n(&mut b.rx, 4, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(drain(&mut b.rx).is_empty(), "nothing read twice");
    let ids: BTreeSet<String> = later.iter().map(|r| r.contact_id.clone()).collect();
    assert_eq!(ids, (4..8).map(|i| format!("d-{i}")).collect());
    b.stop().await;
}

// ------------------------------------------------------------------ fallback

fn sim_config() -> SimConfig {
    common::unthrottled(common::sim_config(
        r#"
default: { answer_after_secs: 3, keys: [{key: "1", delay_secs: 1}, {key: "1", delay_secs: 2}] }
personas:
  "+81312345678": { voicemail: { answer_after_secs: 8 } }
"#,
    ))
}

fn dialer(sim: &SimServer, pending: Arc<PendingCalls>) -> Arc<ConnectDialer> {
    use aws_sdk_connect::config::{BehaviorVersion, Credentials, Region};
    let conf = aws_sdk_connect::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .endpoint_url(sim.url())
        .build();
    Arc::new(
        ConnectDialer::new(
            aws_sdk_connect::Client::from_conf(conf),
            ConnectSettings {
                instance_id: sim.instance_id().into(),
                flow_id_ja: FLOW_JA.into(),
                flow_id_en: FLOW_EN.into(),
                source_phone_number: Some("+81335550000".into()),
                ..ConnectSettings::default()
            },
            bucket(1000, 1000),
            pending,
        )
        .unwrap(),
    )
}

fn call(incident: &str, call: &str, phone: &str) -> CallRequest {
    CallRequest {
        incident_id: incident.into(),
        call_id: call.into(),
        person: "alice".into(),
        phone: phone.into(),
        phone_index: 0,
        language: Language::JaJp,
        message: "ディスク満杯".into(),
        scope: "systemname web".into(),
        list: "<speak>The alert of this incident. web.</speak>".into(),
    }
}

fn fast_fallback() -> FallbackSettings {
    FallbackSettings {
        after: Duration::from_secs(1),
        interval: Duration::from_millis(100),
        give_up_after: Duration::from_secs(30),
        ..FallbackSettings::default()
    }
}

/// No contact record ever comes (no stream at all): the fallback asks
/// Connect after `after` and reports both calls. Needs no moto.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fallback_reports_calls_whose_record_never_comes() {
    let sim = SimServer::start(sim_config(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let pending = Arc::new(PendingCalls::new());
    let d = dialer(&sim, pending.clone());
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (stop, stop_rx) = oneshot::channel::<()>();
    let fb = tokio::spawn(run_fallback(
        d.clone(),
        pending.clone(),
        tx,
        fast_fallback(),
        async {
            let _ = stop_rx.await;
        },
    ));
    let placed = tokio::time::Instant::now();
    let ack = d
        .place(
            &call("inc-1", "inc-1-a", "+14155550123"),
            false,
            &CancellationToken::new(),
        )
        .await
        .unwrap();
    let vm = d
        .place(
            &call("inc-2", "inc-2-a", "+81312345678"),
            false,
            &CancellationToken::new(),
        )
        .await
        .unwrap();
    let mut got = recv_n(&mut rx, 2, Duration::from_secs(10)).await;
    assert!(
        placed.elapsed() >= Duration::from_secs(1),
        "not before `after`"
    );
    got.sort_by(|a, b| a.incident_id.cmp(&b.incident_id));
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(
        (got[0].contact_id.as_str(), got[0].outcome),
        (ack.as_str(), Outcome::Acknowledged)
    );
    assert_eq!(got[0].call_id, "inc-1-a");
    assert_eq!(
        (got[1].contact_id.as_str(), got[1].outcome),
        (vm.as_str(), Outcome::Unreachable)
    );
    assert!(pending.is_empty());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(drain(&mut rx).is_empty(), "each call reported once");
    let _ = stop.send(());
    fb.await.unwrap();
    sim.shutdown().await;
}

/// The whole path: connect-sim writes contact records to Kinesis in moto,
/// except for one number whose record is dropped (CtrFaults). The CTR reader
/// reports the first call; the fallback the second; nothing twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_record_is_reported_by_the_fallback_and_the_others_by_the_reader() {
    let Some(url) =
        moto_url("a_lost_record_is_reported_by_the_fallback_and_the_others_by_the_reader")
    else {
        return;
    };
    let k = common::kinesis_client(&url);
    let stream = unique("rd-ctr-fallback");
    create_stream(&k, &stream, 1).await;
    let mut cfg = sim_config();
    cfg.kinesis = Some(KinesisConfig {
        endpoint: Some(url.clone()),
        stream: stream.clone(),
        region: "us-east-1".into(),
        default_credentials: false,
    });
    cfg.ctr_faults.numbers.insert(
        "+81312345678".into(),
        NumberFaults {
            drop: true,
            ..Default::default()
        },
    );
    let sim = SimServer::start(cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let pending = Arc::new(PendingCalls::new());
    let d = dialer(&sim, pending.clone());
    let mut reader = spawn_reader(
        &k,
        Arc::new(MemoryLeases::default()),
        settings(&stream, "replica-a"),
        pending.clone(),
    );
    let (tx, mut rx_fb) = mpsc::unbounded_channel();
    let (stop, stop_rx) = oneshot::channel::<()>();
    let fb = tokio::spawn(run_fallback(
        d.clone(),
        pending.clone(),
        tx,
        FallbackSettings {
            after: Duration::from_secs(3),
            ..fast_fallback()
        },
        async {
            let _ = stop_rx.await;
        },
    ));
    let ack = d
        .place(
            &call("inc-1", "inc-1-a", "+14155550123"),
            false,
            &CancellationToken::new(),
        )
        .await
        .unwrap();
    let lost = d
        .place(
            &call("inc-2", "inc-2-a", "+81312345678"),
            false,
            &CancellationToken::new(),
        )
        .await
        .unwrap();
    let from_reader = recv_n(&mut reader.rx, 1, Duration::from_secs(10)).await;
    assert_eq!(from_reader.len(), 1);
    assert_eq!(from_reader[0].contact_id, ack);
    assert_eq!(from_reader[0].outcome, Outcome::Acknowledged);
    let from_fb = recv_n(&mut rx_fb, 1, Duration::from_secs(10)).await;
    assert_eq!(from_fb.len(), 1);
    assert_eq!(from_fb[0].contact_id, lost);
    assert_eq!(from_fb[0].incident_id, "inc-2");
    assert_eq!(from_fb[0].outcome, Outcome::Unreachable, "voicemail");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        drain(&mut rx_fb).is_empty(),
        "the fallback left the first call alone"
    );
    assert!(pending.is_empty());
    let _ = stop.send(());
    fb.await.unwrap();
    let mut rx = reader.stop().await;
    assert!(drain(&mut rx).is_empty());
    sim.shutdown().await;
}
