//! `ConnectDialer` against connect-sim (in-process on 127.0.0.1:0, calls
//! played 1000× faster than real time). No moto needed.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_connect::config::{BehaviorVersion, Credentials, Region};
use common::{FLOW_EN, FLOW_JA};
use connect_sim::{SimConfig, SimServer};
use ringdown_aws::connect::{ConnectDialer, ConnectSettings, PendingCalls};
use ringdown_core::escalation::CallRequest;
use ringdown_core::outcome::Outcome;
use ringdown_core::Language;
use ringdown_engine::gate::{bucket, take_token, Bucket, CallGate};
use ringdown_engine::{CancellationToken, DialError, Dialer};

const SOURCE: &str = "+81335550000";

const PERSONAS: &str = r#"
default: { answer_after_secs: 3, keys: [{key: "1", delay_secs: 1}] }
personas:
  "+81312345678": { voicemail: { answer_after_secs: 8 } }
  "+819011112222": { answer_after_secs: 2, keys: [{key: "5", delay_secs: 1}, {key: "1", delay_secs: 2}] }
  "+14155550100": never_answers
  "+14155550104": { answer_after_secs: 4, keys: [{key: "1", delay_secs: 1}, {key: "1", delay_secs: 2}] }
"#;

fn sim_config() -> SimConfig {
    common::unthrottled(SimConfig {
        allow_list: vec!["+819011112222".into()],
        ..common::sim_config(PERSONAS)
    })
}

fn client(url: &str) -> aws_sdk_connect::Client {
    // Default retry config on purpose: the dialer must switch it off itself.
    let conf = aws_sdk_connect::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .endpoint_url(url)
        .build();
    aws_sdk_connect::Client::from_conf(conf)
}

fn settings(sim: &SimServer) -> ConnectSettings {
    ConnectSettings {
        instance_id: sim.instance_id().to_string(),
        flow_id_ja: FLOW_JA.into(),
        flow_id_en: FLOW_EN.into(),
        source_phone_number: Some(SOURCE.into()),
        backoff_base_ms: 20,
        lookup_rate_per_sec: 1000,
        lookup_burst: 1000,
        ..ConnectSettings::default()
    }
}

fn dialer_with(sim: &SimServer, s: ConnectSettings, b: Arc<Bucket>) -> ConnectDialer {
    ConnectDialer::new(client(&sim.url()), s, b, Arc::new(PendingCalls::new())).unwrap()
}

fn dialer(sim: &SimServer) -> ConnectDialer {
    dialer_with(sim, settings(sim), bucket(1000, 1000))
}

fn req(call: &str, phone: &str, lang: Language) -> CallRequest {
    CallRequest {
        incident_id: "inc-42".into(),
        call_id: call.into(),
        person: "alice".into(),
        phone: phone.into(),
        phone_index: 0,
        language: lang,
        message: "<speak>Latency p99 over 4 s on web</speak>".into(),
        scope: "systemname web".into(),
        list: "<speak>The alert of this incident. web.</speak>".into(),
    }
}

async fn start(cfg: SimConfig) -> SimServer {
    SimServer::start(cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn places_with_the_call_id_as_client_token_and_the_flow_of_the_language() {
    let sim = start(sim_config()).await;
    let d = dialer(&sim);
    let en = d
        .place(
            &req("inc-42-p0s1a1t0r0", "+14155550104", Language::EnUs),
            false,
            &CancellationToken::new(),
        )
        .await
        .unwrap();
    let ja = d
        .place(
            &req("inc-42-p0s2a1t0r0", "+819011112222", Language::JaJp),
            false,
            &CancellationToken::new(),
        )
        .await
        .unwrap();
    let calls = sim.calls();
    assert_eq!(calls.len(), 2);
    let (c_en, c_ja) = (&calls[0], &calls[1]);
    assert_eq!(c_en.contact_id, en);
    assert_eq!(c_en.client_token.as_deref(), Some("inc-42-p0s1a1t0r0"));
    assert_eq!(c_en.contact_flow_id, FLOW_EN);
    assert_eq!(c_en.source_phone_number.as_deref(), Some(SOURCE));
    assert_eq!(c_en.destination_phone_number, "+14155550104");
    assert_eq!(c_ja.contact_id, ja);
    assert_eq!(c_ja.client_token.as_deref(), Some("inc-42-p0s2a1t0r0"));
    assert_eq!(c_ja.contact_flow_id, FLOW_JA);
    for (c, call, lang) in [
        (c_en, "inc-42-p0s1a1t0r0", "en-US"),
        (c_ja, "inc-42-p0s2a1t0r0", "ja-JP"),
    ] {
        let a = &c.attributes;
        assert_eq!(a.get("rd_incident").map(String::as_str), Some("inc-42"));
        assert_eq!(a.get("rd_call").map(String::as_str), Some(call));
        assert_eq!(a.get("rd_lang").map(String::as_str), Some(lang));
        assert_eq!(
            a.get("rd_message").map(String::as_str),
            Some("<speak>Latency p99 over 4 s on web</speak>")
        );
    }
    // Both calls are pending until a contact record (or the fallback) says
    // how they ended.
    assert!(d.pending().contains(&en) && d.pending().contains(&ja));
    assert_eq!(d.pending().get(&en).unwrap().call_id, "inc-42-p0s1a1t0r0");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_call_id_returns_the_live_call_and_after_it_ended_the_dialer_finds_it_instead_of_ringing_again(
) {
    let sim = start(sim_config()).await;
    let d = dialer(&sim);
    let r = req("inc-42-p0s1a1t0r0", "+14155550104", Language::EnUs);
    let a = d.place(&r, false, &CancellationToken::new()).await.unwrap();
    let b = d.place(&r, false, &CancellationToken::new()).await.unwrap();
    assert_eq!(
        a, b,
        "same ClientToken while the call is live: same contact"
    );
    sim.wait_ended(&a, Duration::from_secs(10)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await; // search index
                                                         // The process died before it stored the contact id and places the call
                                                         // again: the ClientToken alone would start a second call now that the
                                                         // first has ended, so the dialer asks SearchContacts first.
    let c = d.place(&r, true, &CancellationToken::new()).await.unwrap();
    assert_eq!(a, c, "found by its rd_call attribute");
    assert_eq!(sim.calls().len(), 1, "one call in Connect's log");
    assert_eq!(d.pending().len(), 1);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_searchable_rd_call_the_dialer_can_only_rely_on_the_client_token() {
    let mut cfg = sim_config();
    cfg.contact_search.searchable_attributes.clear();
    let sim = start(cfg).await;
    let d = dialer(&sim);
    let r = req("inc-42-p0s1a1t0r0", "+14155550104", Language::EnUs);
    let a = d.place(&r, false, &CancellationToken::new()).await.unwrap();
    // While the call is live the token protects it ...
    assert_eq!(
        d.place(&r, true, &CancellationToken::new()).await.unwrap(),
        a
    );
    sim.wait_ended(&a, Duration::from_secs(10)).await.unwrap();
    // ... after it ended Connect starts a new call: the window the operator
    // closes by making rd_call searchable (the error log says so).
    let c = d.place(&r, true, &CancellationToken::new()).await.unwrap();
    assert_ne!(a, c);
    assert_eq!(sim.calls().len(), 2);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_japanese_mobile_is_misconfigured_with_allow_list_advice_and_a_masked_number() {
    let sim = start(sim_config()).await;
    let d = dialer(&sim);
    let err = d
        .place(
            &req("inc-42-p0s1a1t0r0", "+819099998888", Language::JaJp),
            false,
            &CancellationToken::new(),
        )
        .await
        .unwrap_err();
    let DialError::Misconfigured(msg) = &err else {
        panic!("expected Misconfigured, got {err:?}");
    };
    assert!(msg.contains("DestinationNotAllowedException"), "{msg}");
    assert!(
        msg.contains("Japanese mobile numbers (+8170/+8180/+8190) must be allow-listed"),
        "{msg}"
    );
    assert!(msg.contains("AWS Support"), "{msg}");
    assert!(msg.contains("+81******8888"), "{msg}");
    assert!(!msg.contains("99998888"), "the number is masked: {msg}");
    assert!(sim.calls().is_empty());
    assert!(d.pending().is_empty());

    // A non-Japanese blocked destination gets generic allow-list advice.
    let mut cfg = sim_config();
    cfg.blocked_prefixes.push("+4420".into());
    let sim2 = start(cfg).await;
    let err = dialer(&sim2)
        .place(
            &req("x-1", "+442071234567", Language::EnUs),
            false,
            &CancellationToken::new(),
        )
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("allow list") && !msg.contains("Japanese"),
        "{msg}"
    );
    assert!(!msg.contains("2071234567"), "{msg}");
    sim.shutdown().await;
    sim2.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_flow_or_instance_is_misconfigured() {
    let sim = start(sim_config()).await;
    let d = dialer_with(
        &sim,
        ConnectSettings {
            flow_id_en: "no-such-flow".into(),
            ..settings(&sim)
        },
        bucket(1000, 1000),
    );
    let err = d
        .place(
            &req("c-1", "+14155550104", Language::EnUs),
            false,
            &CancellationToken::new(),
        )
        .await
        .unwrap_err();
    let DialError::Misconfigured(msg) = &err else {
        panic!("expected Misconfigured, got {err:?}");
    };
    assert!(msg.contains("ResourceNotFoundException"), "{msg}");
    assert!(
        msg.contains("check instance_id and the contact flow ids"),
        "{msg}"
    );
    assert!(msg.contains("no-such-flow"), "{msg}");

    let d = dialer_with(
        &sim,
        ConnectSettings {
            instance_id: "00000000-0000-0000-0000-000000000000".into(),
            ..settings(&sim)
        },
        bucket(1000, 1000),
    );
    let err = d
        .place(
            &req("c-2", "+14155550104", Language::EnUs),
            false,
            &CancellationToken::new(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DialError::Misconfigured(m) if m.contains("check instance_id")),
        "{err:?}"
    );
    // An invalid destination: InvalidParameter, still masked.
    let err = d_place_invalid(&sim).await;
    assert!(
        matches!(&err, DialError::Misconfigured(m) if m.contains("InvalidParameterException") && !m.contains("312345678")),
        "{err:?}"
    );
    assert!(sim.calls().is_empty());
    sim.shutdown().await;
}

async fn d_place_invalid(sim: &SimServer) -> DialError {
    dialer(sim)
        .place(
            &req("c-3", "0312345678", Language::EnUs),
            false,
            &CancellationToken::new(),
        )
        .await
        .unwrap_err()
}

/// The engine's path: `CallGate::admit` (a token) then `Dialer::place`, with
/// the dialer on the same bucket, against Connect's default quota (2/s, burst
/// 5). Retries are off, so a single TooManyRequests would fail a call.
///
/// Our bucket runs at 2/s with burst 4, one token under Connect's: with a
/// burst of exactly 5 the first request of a burst only reaches Connect some
/// milliseconds after our bucket released it, Connect's refill clock starts
/// that much later, and a later request with less latency is throttled
/// (observed here). One token of headroom absorbs up to 500 ms of latency
/// skew at no cost to the sustained rate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_12_through_the_shared_bucket_gets_zero_throttling() {
    let mut cfg = sim_config();
    cfg.quotas = connect_sim::Quotas::default(); // 2/s, burst 5, 10 live calls
    let sim = start(cfg).await;
    let shared = bucket(2, 4);
    let gate = Arc::new(CallGate::new(shared.clone(), 10, Duration::from_secs(600)));
    let d = Arc::new(dialer_with(
        &sim,
        ConnectSettings {
            max_retries: 0,
            ..settings(&sim)
        },
        shared,
    ));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..12 {
        let (gate, d) = (gate.clone(), d.clone());
        tasks.push(tokio::spawn(async move {
            let call = format!("burst-{i}");
            gate.admit(&call).await;
            let r = d
                .place(
                    &req(&call, &format!("+1415555{:04}", 2000 + i), Language::EnUs),
                    false,
                    &CancellationToken::new(),
                )
                .await;
            gate.release(&call);
            r
        }));
    }
    for t in tasks {
        t.await.unwrap().expect("no TooManyRequests from Connect");
    }
    let elapsed = started.elapsed();
    assert_eq!(sim.calls().len(), 12);
    // 4 at once, then 8 more at 2/s: the quota is used, not wasted.
    assert!(
        elapsed >= Duration::from_millis(3900) && elapsed < Duration::from_secs(7),
        "{elapsed:?}"
    );
    sim.shutdown().await;
}

/// Connect throttles (its own bucket is smaller than ours here): the dialer
/// backs off and retries until the call goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_calls_are_retried_until_placed() {
    let mut cfg = sim_config();
    cfg.quotas.rate_per_sec = 4.0;
    cfg.quotas.burst = 1;
    let sim = start(cfg).await;
    // Without retries the second immediate call is throttled...
    let no_retry = dialer_with(
        &sim,
        ConnectSettings {
            max_retries: 0,
            ..settings(&sim)
        },
        bucket(1000, 1000),
    );
    no_retry
        .place(
            &req("t-0", "+14155550104", Language::EnUs),
            false,
            &CancellationToken::new(),
        )
        .await
        .unwrap();
    let err = no_retry
        .place(
            &req("t-1", "+14155550104", Language::EnUs),
            false,
            &CancellationToken::new(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DialError::Unavailable(m) if m.contains("TooManyRequests")),
        "{err:?}"
    );
    // ...with retries, three at once all get through.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let d = Arc::new(dialer_with(
        &sim,
        ConnectSettings {
            backoff_base_ms: 100,
            max_retries: 8,
            ..settings(&sim)
        },
        bucket(1000, 1000),
    ));
    let mut tasks = Vec::new();
    for i in 0..3 {
        let d = d.clone();
        tasks.push(tokio::spawn(async move {
            d.place(
                &req(&format!("r-{i}"), "+14155550104", Language::EnUs),
                false,
                &CancellationToken::new(),
            )
            .await
        }));
    }
    for t in tasks {
        t.await.unwrap().expect("placed after retries");
    }
    assert_eq!(sim.calls().len(), 4);
    sim.shutdown().await;
}

/// A destination that always gets InternalServiceException (500): every
/// retry waits for a token of the shared bucket, then the dialer gives up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_500s_give_unavailable_after_max_retries_each_retry_paying_a_token() {
    let mut cfg = sim_config();
    cfg.api_errors
        .insert("+14155550666".into(), "InternalServiceException".into());
    let sim = start(cfg).await;
    let shared = bucket(2, 1); // one token per 500 ms
    let line = tokio::sync::Mutex::new(());
    let d = dialer_with(
        &sim,
        ConnectSettings {
            max_retries: 2,
            backoff_base_ms: 1,
            ..settings(&sim)
        },
        shared.clone(),
    );
    take_token(&shared, &line).await; // what CallGate::admit does
    let started = Instant::now();
    let err = d
        .place(
            &req("e-1", "+14155550666", Language::EnUs),
            false,
            &CancellationToken::new(),
        )
        .await
        .unwrap_err();
    let elapsed = started.elapsed();
    let DialError::Unavailable(msg) = &err else {
        panic!("expected Unavailable, got {err:?}");
    };
    assert!(msg.contains("after 2 retries"), "{msg}");
    assert!(msg.contains("InternalServiceException"), "{msg}");
    assert!(!msg.contains("55550666"), "masked: {msg}");
    assert!(
        elapsed >= Duration::from_millis(900),
        "two retries, two tokens at 2/s: {elapsed:?}"
    );
    assert!(sim.calls().is_empty());
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_outcome_reads_acknowledged_and_voicemail_calls() {
    let sim = start(sim_config()).await;
    let d = dialer(&sim);
    let acked = d
        .place(
            &req("inc-42-ack", "+14155550104", Language::EnUs),
            false,
            &CancellationToken::new(),
        )
        .await
        .unwrap();
    let voicemail = d
        .place(
            &req("inc-42-vm", "+81312345678", Language::JaJp),
            false,
            &CancellationToken::new(),
        )
        .await
        .unwrap();
    for c in [&acked, &voicemail] {
        sim.wait_ended(c, Duration::from_secs(10)).await.unwrap();
    }
    let r = d.describe(&acked).await.unwrap().expect("ended");
    assert_eq!(r.outcome, Outcome::Acknowledged);
    assert_eq!(
        (
            r.incident_id.as_str(),
            r.call_id.as_str(),
            r.contact_id.as_str()
        ),
        ("inc-42", "inc-42-ack", acked.as_str())
    );
    assert_eq!(
        r.disconnect_reason.as_deref(),
        Some("CONTACT_FLOW_DISCONNECT")
    );
    assert_eq!(r.attributes.get("rd_ack").map(String::as_str), Some("1"));
    let r = d.describe(&voicemail).await.unwrap().expect("ended");
    assert_eq!(r.outcome, Outcome::Unreachable, "{r:?}");
    assert_eq!(
        r.disconnect_reason.as_deref(),
        Some("CONTACT_FLOW_DISCONNECT"),
        "the seed case: same reason as the ack"
    );
    let err = d.describe("nope").await.unwrap_err();
    assert!(
        matches!(err, ringdown_aws::AwsError::NotFound { .. }),
        "{err:?}"
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_call_has_no_outcome_yet_and_stop_hangs_it_up() {
    let mut cfg = sim_config();
    cfg.time_scale = 1.0; // rings for a real minute
    let sim = start(cfg).await;
    let d = dialer(&sim);
    let cid = d
        .place(
            &req("inc-42-live", "+14155550100", Language::EnUs),
            false,
            &CancellationToken::new(),
        )
        .await
        .unwrap();
    assert_eq!(d.describe(&cid).await.unwrap(), None);
    d.stop(&cid).await.unwrap();
    let v = sim.wait_ended(&cid, Duration::from_secs(5)).await.unwrap();
    assert_eq!(v.disconnect_reason.as_deref(), Some("API"));
    let r = d.describe(&cid).await.unwrap().expect("ended");
    assert_eq!(r.outcome, Outcome::Unreachable);
    // Stopping a call that already ended is fine.
    d.stop(&cid).await.unwrap();
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_500_sent_after_the_call_was_placed_and_a_call_over_before_the_retry_is_found_not_rung_again(
) {
    let sim = start(sim_config()).await;
    // The call is placed, Connect answers 500 anyway; by the time the retry
    // goes out the (voicemail) call is over, so the ClientToken alone would
    // start a second call.
    sim.fail_next("InternalServiceException", 1, true);
    // The retry waits a second in line for a token of the shared bucket,
    // long enough for the call to end: the look-up must come after that
    // wait, right before the request.
    let b = bucket(1, 1);
    take_token(&b, &tokio::sync::Mutex::new(())).await;
    let d = dialer_with(
        &sim,
        ConnectSettings {
            backoff_base_ms: 1,
            backoff_max_ms: 1,
            ..settings(&sim)
        },
        b,
    );
    let r = req("inc-42-p0s1a1t0r0", "+81312345678", Language::JaJp);
    let placed = tokio::spawn(async move {
        let out = d.place(&r, false, &CancellationToken::new()).await;
        (d, out)
    });
    let (_, out) = placed.await.unwrap();
    let contact = out.unwrap();
    let calls = sim.calls();
    assert_eq!(calls.len(), 1, "one call: {calls:?}");
    assert_eq!(calls[0].contact_id, contact);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_nobody_waits_for_any_more_is_not_retried() {
    let sim = start(sim_config()).await;
    sim.fail_next("TooManyRequestsException", 3, false);
    let d = dialer_with(
        &sim,
        ConnectSettings {
            backoff_base_ms: 300,
            backoff_max_ms: 300,
            ..settings(&sim)
        },
        bucket(1000, 1000),
    );
    let cancel = CancellationToken::new();
    let c2 = cancel.clone();
    let r = req("inc-42-p0s1a1t0r0", "+14155550104", Language::EnUs);
    let placing = tokio::spawn(async move { d.place(&r, false, &c2).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    // The incident was acknowledged meanwhile.
    cancel.cancel();
    assert_eq!(placing.await.unwrap(), Err(DialError::Cancelled));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(sim.calls().is_empty(), "no call placed after the cancel");
    sim.shutdown().await;
}
