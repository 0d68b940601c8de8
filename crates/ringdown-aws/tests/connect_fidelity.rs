//! connect-sim behaves as Amazon Connect is documented to, where the
//! documentation is strict or where the stricter reading was chosen: one test
//! per row of the fidelity table in `crates/connect-sim/README.md`, driven
//! through the unmodified `aws-sdk-connect` (and, for contact events, moto's
//! EventBridge and SQS).

mod common;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use aws_sdk_connect::config::retry::RetryConfig;
use aws_sdk_connect::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_connect::error::ProvideErrorMetadata;
use aws_sdk_connect::types::{
    SearchContactsMatchType, SearchContactsTimeRange, SearchContactsTimeRangeType, SearchCriteria,
    SearchableContactAttributes, SearchableContactAttributesCriteria, TrafficType,
};
use common::{FLOW_EN, FLOW_JA};
use connect_sim::{
    CallView, ContactEvents, EventBridgeConfig, EventKind, SecsRange, SimConfig, SimServer,
};
use serde_json::Value;

const SOURCE: &str = "+81335550000";
const PRESSES_1: &str = "+14155550104";
const NEVER_ANSWERS: &str = "+14155550100";
const BUSY: &str = "+14155550101";
const VOICEMAIL: &str = "+81312345678";

const PERSONAS: &str = r#"
default: { answer_after_secs: 3, keys: [{key: "1", delay_secs: 1}] }
personas:
  "+81312345678": { voicemail: { answer_after_secs: 8 } }
  "+14155550100": never_answers
  "+14155550101": busy
  "+14155550104": { answer_after_secs: 4, keys: [{key: "1", delay_secs: 1}, {key: "1", delay_secs: 2}] }
"#;

fn config(time_scale: f64) -> SimConfig {
    let mut cfg = common::unthrottled(common::sim_config(PERSONAS));
    cfg.time_scale = time_scale;
    cfg
}

async fn start(cfg: SimConfig) -> SimServer {
    SimServer::start(cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

fn client(url: &str) -> aws_sdk_connect::Client {
    let conf = aws_sdk_connect::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .endpoint_url(url)
        .retry_config(RetryConfig::disabled())
        .build();
    aws_sdk_connect::Client::from_conf(conf)
}

fn attrs(call: &str, message: &str) -> HashMap<String, String> {
    [
        ("rd_incident", "inc-7"),
        ("rd_call", call),
        ("rd_message", message),
        ("rd_lang", "en-US"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// StartOutboundVoiceContact as ringdown sends it, with a ClientToken.
fn start_call(
    c: &aws_sdk_connect::Client,
    sim: &SimServer,
    dest: &str,
    token: &str,
) -> aws_sdk_connect::operation::start_outbound_voice_contact::builders::StartOutboundVoiceContactFluentBuilder
{
    c.start_outbound_voice_contact()
        .instance_id(sim.instance_id())
        .contact_flow_id(FLOW_EN)
        .destination_phone_number(dest)
        .source_phone_number(SOURCE)
        .client_token(token)
        .set_attributes(Some(attrs(token, "<speak>Disk full on db-1</speak>")))
}

async fn call(c: &aws_sdk_connect::Client, sim: &SimServer, dest: &str, token: &str) -> String {
    start_call(c, sim, dest, token)
        .send()
        .await
        .unwrap()
        .contact_id()
        .unwrap()
        .to_string()
}

fn ended_at_ms(v: &CallView) -> u64 {
    v.transcript
        .iter()
        .find(|e| matches!(e.kind, EventKind::Disconnected { .. }))
        .map(|e| e.offset_ms)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_token_returns_the_live_contact_and_starts_a_new_call_once_it_ended() {
    let sim = start(config(1000.0)).await;
    let c = client(&sim.url());
    let a = call(&c, &sim, VOICEMAIL, "inc-7-p0s1a1t0r0").await;
    let b = call(&c, &sim, VOICEMAIL, "inc-7-p0s1a1t0r0").await;
    assert_eq!(a, b, "a contact already started: its id is returned");
    sim.wait_ended(&a, Duration::from_secs(10)).await.unwrap();
    let again = call(&c, &sim, VOICEMAIL, "inc-7-p0s1a1t0r0").await;
    assert_ne!(
        a, again,
        "the contact was disconnected: a new contact is started"
    );
    assert_eq!(sim.calls().len(), 2, "the phone rang twice");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contact_records_arrive_one_to_two_minutes_after_their_call_ended() {
    // 200 simulated seconds per real second: 60–120 s of lag is 0.3–0.6 s.
    let scale = 200.0;
    let sim = start(config(scale)).await;
    let c = client(&sim.url());
    let mut ended = sim.subscribe_ended();
    let n = 8;
    for i in 0..n {
        call(&c, &sim, BUSY, &format!("lag-{i}")).await;
    }
    let mut end_at: BTreeMap<String, Instant> = BTreeMap::new();
    let mut arrive_at: BTreeMap<String, Instant> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while arrive_at.len() < n && Instant::now() < deadline {
        while let Ok(v) = ended.try_recv() {
            end_at.entry(v.contact_id).or_insert_with(Instant::now);
        }
        for r in sim.ctrs() {
            let id = r["ContactId"].as_str().unwrap().to_string();
            arrive_at.entry(id).or_insert_with(Instant::now);
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let lags: Vec<f64> = arrive_at
        .iter()
        .map(|(id, at)| (*at - end_at[id]).as_secs_f64() * scale)
        .collect();
    assert_eq!(lags.len(), n, "{lags:?}");
    for lag in &lags {
        assert!(
            (58.0..=126.0).contains(lag),
            "record lag {lag:.1} s: {lags:?}"
        );
    }
    let spread = lags.iter().cloned().fold(f64::MIN, f64::max)
        - lags.iter().cloned().fold(f64::MAX, f64::min);
    assert!(spread > 10.0, "spread, not one fixed delay: {lags:?}");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_test_that_wants_records_sooner_says_so() {
    let mut cfg = config(1000.0);
    cfg.ctr_lag = SecsRange::fixed(0.0);
    let sim = start(cfg).await;
    let c = client(&sim.url());
    let id = call(&c, &sim, BUSY, "soon-1").await;
    sim.wait_ended(&id, Duration::from_secs(5)).await.unwrap();
    let t = Instant::now();
    assert_eq!(sim.wait_ctrs(1, Duration::from_secs(5)).await.len(), 1);
    assert!(t.elapsed() < Duration::from_millis(500));
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ring_timeout_is_honoured_only_for_campaign_calls_which_a_new_instance_refuses() {
    let sim = start(config(1000.0)).await;
    let c = client(&sim.url());
    // GENERAL traffic: validated, but the phone rings Connect's 60 s.
    let general = start_call(&c, &sim, NEVER_ANSWERS, "ring-general")
        .ring_timeout_in_seconds(20)
        .send()
        .await
        .unwrap()
        .contact_id()
        .unwrap()
        .to_string();
    let v = sim
        .wait_ended(&general, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(ended_at_ms(&v), 60_000);
    assert_eq!(v.disconnect_reason.as_deref(), Some("TELECOM_UNANSWERED"));
    // Out of range is refused either way.
    let e = start_call(&c, &sim, NEVER_ANSWERS, "ring-90")
        .ring_timeout_in_seconds(90)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidParameterException"));
    // "Campaign calls are not allowed by default."
    let e = start_call(&c, &sim, NEVER_ANSWERS, "ring-campaign")
        .traffic_type(TrafficType::Campaign)
        .ring_timeout_in_seconds(20)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidRequestException"));
    sim.shutdown().await;

    let mut cfg = config(1000.0);
    cfg.campaign_calls = true;
    let sim = start(cfg).await;
    let c = client(&sim.url());
    let campaign = start_call(&c, &sim, NEVER_ANSWERS, "ring-campaign")
        .traffic_type(TrafficType::Campaign)
        .ring_timeout_in_seconds(20)
        .send()
        .await
        .unwrap()
        .contact_id()
        .unwrap()
        .to_string();
    let v = sim
        .wait_ended(&campaign, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(ended_at_ms(&v), 20_000);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_message_polly_refuses_is_never_spoken() {
    let sim = start(config(1000.0)).await;
    let c = client(&sim.url());
    for (token, message) in [
        ("ssml-twice", "<speak><speak>Disk full</speak></speak>"),
        ("ssml-plain", "Disk full & more"),
        (
            "ssml-break",
            "<speak>Disk full<break time=\"30s\"/></speak>",
        ),
    ] {
        let id = c
            .start_outbound_voice_contact()
            .instance_id(sim.instance_id())
            .contact_flow_id(FLOW_JA)
            .destination_phone_number(PRESSES_1)
            .source_phone_number(SOURCE)
            .client_token(token)
            .set_attributes(Some(attrs(token, message)))
            .send()
            .await
            .unwrap()
            .contact_id()
            .unwrap()
            .to_string();
        let v = sim.wait_ended(&id, Duration::from_secs(5)).await.unwrap();
        let said: Vec<String> = v
            .transcript
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Said { text, .. } => Some(text.clone()),
                _ => None,
            })
            .collect();
        assert!(
            !said.iter().any(|t| t.contains("Disk full")),
            "{token}: {said:?}"
        );
        assert!(
            v.transcript.iter().any(|e| matches!(&e.kind,
                EventKind::FlowError { action, .. } if action == "read-alert")),
            "{token}: the read-alert block took its error branch"
        );
    }
    sim.shutdown().await;
}

fn search_for(
    c: &aws_sdk_connect::Client,
    sim: &SimServer,
    key: &str,
    value: &str,
) -> aws_sdk_connect::operation::search_contacts::builders::SearchContactsFluentBuilder {
    let now = chrono::Utc::now().timestamp_millis();
    let range = SearchContactsTimeRange::builder()
        .r#type(SearchContactsTimeRangeType::InitiationTimestamp)
        .start_time(aws_sdk_connect::primitives::DateTime::from_millis(
            now - 3_600_000,
        ))
        .end_time(aws_sdk_connect::primitives::DateTime::from_millis(
            now + 60_000,
        ))
        .build()
        .unwrap();
    let criteria = SearchCriteria::builder()
        .searchable_contact_attributes(
            SearchableContactAttributes::builder()
                .criteria(
                    SearchableContactAttributesCriteria::builder()
                        .key(key)
                        .values(value)
                        .build()
                        .unwrap(),
                )
                .match_type(SearchContactsMatchType::MatchAll)
                .build()
                .unwrap(),
        )
        .build();
    c.search_contacts()
        .instance_id(sim.instance_id())
        .time_range(range)
        .search_criteria(criteria)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_contacts_finds_a_call_by_a_searchable_attribute_once_it_has_disconnected() {
    // 10 simulated seconds per real second: the 60 s ring is 6 s, the 5 s
    // index delay half a second.
    let sim = start(config(10.0)).await;
    let c = client(&sim.url());
    let id = call(&c, &sim, NEVER_ANSWERS, "search-1").await;
    let found = |out: aws_sdk_connect::operation::search_contacts::SearchContactsOutput| {
        out.contacts()
            .iter()
            .filter_map(|c| c.id().map(str::to_string))
            .collect::<Vec<_>>()
    };
    let live = search_for(&c, &sim, "rd_call", "search-1")
        .send()
        .await
        .unwrap();
    assert!(
        found(live).is_empty(),
        "a live voice contact is not in search results"
    );
    sim.wait_ended(&id, Duration::from_secs(10)).await.unwrap();
    let at_once = search_for(&c, &sim, "rd_call", "search-1")
        .send()
        .await
        .unwrap();
    assert!(found(at_once).is_empty(), "not indexed the instant it ends");
    tokio::time::sleep(Duration::from_millis(700)).await;
    let later = search_for(&c, &sim, "rd_call", "search-1")
        .send()
        .await
        .unwrap();
    assert_eq!(found(later), [id]);
    // An attribute nobody made searchable.
    let e = search_for(&c, &sim, "rd_incident", "inc-7")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidParameterException"), "{e:?}");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_share_of_contact_events_never_arrives() {
    let mut cfg = config(1000.0);
    cfg.contact_events = ContactEvents {
        drop_probability: 0.3,
        seed: 11,
        ..ContactEvents::default()
    };
    let sim = start(cfg).await;
    let c = client(&sim.url());
    let n = 40;
    for i in 0..n {
        let id = call(&c, &sim, BUSY, &format!("drop-{i}")).await;
        sim.wait_ended(&id, Duration::from_secs(5)).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    // A busy line: INITIATED and DISCONNECTED, no CONNECTED_TO_SYSTEM.
    let published = sim.events().len();
    let dropped = sim.dropped_events();
    assert_eq!(published + dropped, 2 * n);
    assert!((10..=40).contains(&dropped), "about 30 % of 80: {dropped}");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contact_events_reach_a_queue_through_an_eventbridge_rule_as_connect_publishes_them() {
    let Some(sdk) = common::moto("contact events") else {
        return;
    };
    let moto = common::moto_url("contact events").unwrap();
    let prefix = common::unique_prefix("events");
    let names = ringdown_aws::bootstrap::ResourceNames::from_prefix(&prefix);
    let mut cfg = config(1000.0);
    cfg.instance_id = format!("{}-0000-4000-8000-00000000e7e7", &prefix[1..9]);
    let arn = format!(
        "arn:aws:connect:{}:{}:instance/{}",
        cfg.region, cfg.account_id, cfg.instance_id
    );
    let report = ringdown_aws::bootstrap::bootstrap_with(
        &sdk,
        &names,
        &ringdown_aws::bootstrap::BootstrapOptions {
            connect_instance_arn: Some(arn.clone()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    cfg.contact_events = ContactEvents {
        eventbridge: Some(EventBridgeConfig {
            endpoint: Some(moto),
            region: "us-east-1".into(),
            bus: "default".into(),
            default_credentials: false,
        }),
        drop_probability: 0.0,
        ..ContactEvents::default()
    };
    let sim = start(cfg).await;
    let c = client(&sim.url());
    let answered = call(&c, &sim, PRESSES_1, "ev-answered").await;
    let busy = call(&c, &sim, BUSY, "ev-busy").await;
    for id in [&answered, &busy] {
        sim.wait_ended(id, Duration::from_secs(5)).await.unwrap();
    }
    // Everything connect-sim published: the three kinds, no attributes. In
    // no particular order: events are published as they happen and
    // EventBridge promises no order (at 1000x, one event's publishing may
    // overtake the one before).
    tokio::time::sleep(Duration::from_millis(200)).await;
    let kinds = |id: &str| -> Vec<String> {
        let mut k: Vec<String> = sim
            .events()
            .iter()
            .filter(|e| e["detail"]["contactId"] == id)
            .map(|e| e["detail"]["eventType"].as_str().unwrap().to_string())
            .collect();
        k.sort();
        k
    };
    assert_eq!(
        kinds(&answered),
        ["CONNECTED_TO_SYSTEM", "DISCONNECTED", "INITIATED"]
    );
    assert_eq!(kinds(&busy), ["DISCONNECTED", "INITIATED"]);
    // What reached the queue: only DISCONNECTED, through the rule bootstrap made.
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let mut bodies: Vec<Value> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while bodies.len() < 2 && Instant::now() < deadline {
        let out = sqs
            .receive_message()
            .queue_url(&report.contact_events_queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        for m in out.messages() {
            bodies.push(serde_json::from_str(m.body().unwrap()).unwrap());
        }
    }
    assert_eq!(bodies.len(), 2, "{bodies:#?}");
    for b in &bodies {
        assert_eq!(b["source"], "aws.connect");
        assert_eq!(b["detail-type"], "Amazon Connect Contact Event");
        let d = &b["detail"];
        assert_eq!(d["eventType"], "DISCONNECTED");
        assert_eq!(d["initiationMethod"], "API");
        assert_eq!(d["channel"], "VOICE");
        assert_eq!(d["instanceArn"], arn.as_str());
        assert!(d["initiationTimestamp"].as_str().unwrap().ends_with('Z'));
        assert!(d["disconnectTimestamp"].is_string());
        let text = b.to_string();
        assert!(
            !text.contains("rd_call") && !text.contains("Attributes"),
            "events carry no attribute values: {text}"
        );
    }
    let answered_event = bodies
        .iter()
        .find(|b| b["detail"]["contactId"] == answered.as_str())
        .unwrap();
    assert!(answered_event["detail"]["connectedToSystemTimestamp"].is_string());
    let busy_event = bodies
        .iter()
        .find(|b| b["detail"]["contactId"] == busy.as_str())
        .unwrap();
    assert!(busy_event["detail"]["connectedToSystemTimestamp"].is_null());
    sim.shutdown().await;
}
