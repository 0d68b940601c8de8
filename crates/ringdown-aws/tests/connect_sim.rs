//! The unmodified `aws-sdk-connect` client against `connect-sim` (in-process, on
//! 127.0.0.1:0), contact records read back from Kinesis in moto.
//!
//! Kinesis read-back needs `RINGDOWN_TEST_MOTO_URL` (see tests/emulators.sh);
//! without it those parts print a loud skip notice, unless
//! `RINGDOWN_REQUIRE_EMULATORS=1`, in which case they fail.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_connect::config::retry::RetryConfig;
use aws_sdk_connect::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_connect::error::ProvideErrorMetadata;
use common::{create_stream, kinesis_client, unique, FLOW_EN, FLOW_JA};
use connect_sim::{Clock, KinesisConfig, ManualClock, NumberFaults, SimConfig, SimServer};
use serde_json::Value;

const SOURCE: &str = "+81335550000";

const PERSONAS: &str = r#"
default: { answer_after_secs: 3, keys: [{key: "1", delay_secs: 1}] }
personas:
  "+81312345678": { voicemail: { answer_after_secs: 8 } }
  "+819011112222": { answer_after_secs: 2, keys: [{key: "5", delay_secs: 1}, {key: "9", delay_secs: 3}, {key: "2#", delay_secs: 2}] }
  "+14155550100": never_answers
  "+14155550101": busy
  "+14155550102": { answer_after_secs: 2, keys: [{key: "1", delay_secs: 1}], hang_up_after_prompt: 1 }
  "+14155550103": telecom_failure
  "+14155550104": { answer_after_secs: 4, keys: [{key: "1", delay_secs: 1}, {key: "1", delay_secs: 2}] }
  "+14155550105": { answer_after_secs: 2, keys: [{key: "3", delay_secs: 1}, {key: "2", delay_secs: 2}] }
  "+14155550106": { answer_after_secs: 2, keys: [{key: "1", delay_secs: 1}, {key: "9", delay_secs: 1}, {key: "99#", delay_secs: 2}, {key: "0#", delay_secs: 2}] }
  "+14155550107": { answer_after_secs: 1, keys: [{key: "1", delay_secs: 1}, {key: "1", delay_secs: 1}] }
  "+14155550200": never_answers
  "+14155550201": never_answers
  "+14155550202": never_answers
  "+14155550203": never_answers
  "+14155550204": never_answers
  "+14155550205": never_answers
  "+14155550206": never_answers
  "+14155550207": never_answers
  "+14155550208": never_answers
  "+14155550209": never_answers
  "+14155550210": never_answers
"#;

fn base_config() -> SimConfig {
    SimConfig {
        allow_list: vec!["+819011112222".into()],
        ..common::sim_config(PERSONAS)
    }
}

fn connect_client(url: &str) -> aws_sdk_connect::Client {
    let conf = aws_sdk_connect::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .endpoint_url(url)
        // Retries would spend rate tokens behind our back; the tests count them.
        .retry_config(RetryConfig::disabled())
        .build();
    aws_sdk_connect::Client::from_conf(conf)
}

/// Read every record of a one-shard stream until `n` arrived (or timeout).
async fn read_stream(k: &aws_sdk_kinesis::Client, name: &str, n: usize) -> Vec<Value> {
    let shards = k.list_shards().stream_name(name).send().await.unwrap();
    let shard = shards.shards()[0].shard_id().to_string();
    let mut it = k
        .get_shard_iterator()
        .stream_name(name)
        .shard_id(&shard)
        .shard_iterator_type(aws_sdk_kinesis::types::ShardIteratorType::TrimHorizon)
        .send()
        .await
        .unwrap()
        .shard_iterator()
        .map(String::from);
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while let Some(i) = it.clone() {
        let r = k.get_records().shard_iterator(i).send().await.unwrap();
        for rec in r.records() {
            assert_eq!(
                rec.partition_key(),
                serde_json::from_slice::<Value>(rec.data().as_ref()).unwrap()["ContactId"].as_str(),
                "partition key is the ContactId"
            );
            out.push(serde_json::from_slice(rec.data().as_ref()).unwrap());
        }
        if out.len() >= n || tokio::time::Instant::now() > deadline {
            break;
        }
        it = r.next_shard_iterator().map(String::from);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    out
}

fn attrs(lang: &str, call: &str) -> HashMap<String, String> {
    [
        ("rd_incident", "inc-7"),
        ("rd_call", call),
        ("rd_message", "<speak>Latency p99 over 4 s on web</speak>"),
        ("rd_lang", lang),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

async fn place(
    c: &aws_sdk_connect::Client,
    instance: &str,
    flow: &str,
    dest: &str,
    token: &str,
    lang: &str,
) -> Result<
    String,
    aws_sdk_connect::error::SdkError<
        aws_sdk_connect::operation::start_outbound_voice_contact::StartOutboundVoiceContactError,
    >,
> {
    c.start_outbound_voice_contact()
        .instance_id(instance)
        .contact_flow_id(flow)
        .destination_phone_number(dest)
        .source_phone_number(SOURCE)
        .client_token(token)
        .set_attributes(Some(attrs(lang, token)))
        .send()
        .await
        .map(|o| o.contact_id().unwrap().to_string())
}

struct Expect {
    number: &'static str,
    reason: &'static str,
    answered: bool,
    set: &'static [(&'static str, &'static str)],
    unset: &'static [&'static str],
}

const EXPECTATIONS: &[Expect] = &[
    // The seed scenario: voicemail and a normal ack both end CONTACT_FLOW_DISCONNECT;
    // only the flags tell them apart.
    Expect {
        number: "+81312345678",
        reason: "CONTACT_FLOW_DISCONNECT",
        answered: true,
        set: &[],
        unset: &["rd_human", "rd_ack"],
    },
    Expect {
        number: "+14155550104",
        reason: "CONTACT_FLOW_DISCONNECT",
        answered: true,
        set: &[("rd_human", "1"), ("rd_ack", "1")],
        unset: &["rd_next", "rd_silence_hours"],
    },
    Expect {
        number: "+819011112222",
        reason: "CONTACT_FLOW_DISCONNECT",
        answered: true,
        set: &[("rd_human", "1"), ("rd_silence_hours", "2")],
        unset: &["rd_ack"],
    },
    Expect {
        number: "+14155550106",
        reason: "CONTACT_FLOW_DISCONNECT",
        answered: true,
        set: &[("rd_human", "1"), ("rd_ack", "1")],
        unset: &["rd_silence_hours"],
    },
    Expect {
        number: "+14155550105",
        reason: "CONTACT_FLOW_DISCONNECT",
        answered: true,
        set: &[("rd_human", "1"), ("rd_next", "1")],
        unset: &["rd_ack"],
    },
    Expect {
        number: "+14155550199",
        reason: "CONTACT_FLOW_DISCONNECT",
        answered: true,
        set: &[("rd_human", "1")],
        unset: &["rd_ack", "rd_next", "rd_silence_hours"],
    },
    Expect {
        number: "+14155550102",
        reason: "CUSTOMER_DISCONNECT",
        answered: true,
        set: &[("rd_human", "1")],
        unset: &["rd_ack"],
    },
    Expect {
        number: "+14155550100",
        reason: "TELECOM_UNANSWERED",
        answered: false,
        set: &[],
        unset: &["rd_human"],
    },
    Expect {
        number: "+14155550101",
        reason: "TELECOM_BUSY",
        answered: false,
        set: &[],
        unset: &["rd_human"],
    },
    Expect {
        number: "+14155550103",
        reason: "TELECOM_PROBLEM",
        answered: false,
        set: &[],
        unset: &["rd_human"],
    },
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_persona_against_both_flows() {
    let moto = common::moto_url_or_skip("every_persona_against_both_flows", "Kinesis part SKIPPED");
    let stream = unique("ringdown-ctr");
    let mut cfg = base_config();
    cfg.quotas.rate_per_sec = 1000.0;
    cfg.quotas.burst = 1000;
    cfg.quotas.max_concurrent_calls = 100; // tested on its own below
    let kin = moto.as_ref().map(|u| kinesis_client(u));
    if let (Some(u), Some(k)) = (&moto, &kin) {
        create_stream(k, &stream, 1).await;
        cfg.kinesis = Some(KinesisConfig {
            endpoint: Some(u.clone()),
            stream: stream.clone(),
            region: "us-east-1".into(),
            default_credentials: false,
        });
    }
    let jsonl = std::env::temp_dir().join(format!("{}.jsonl", unique("connect-sim-ctr")));
    cfg.jsonl = Some(jsonl.clone());
    let sim = SimServer::start(cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let c = connect_client(&sim.url());
    let instance = sim.instance_id().to_string();

    let mut placed = Vec::new();
    for (flow, lang) in [(FLOW_EN, "en-US"), (FLOW_JA, "ja-JP")] {
        for e in EXPECTATIONS {
            let token = format!("inc-7:{lang}:{}", e.number);
            let cid = place(&c, &instance, flow, e.number, &token, lang)
                .await
                .unwrap_or_else(|err| {
                    panic!("{} {lang}: {:?}", e.number, err.into_service_error())
                });
            placed.push((cid, e, lang, token));
        }
        // A phone takes one call at a time: the other language's calls to
        // the same numbers wait until these ended.
        for (cid, ..) in placed.iter().filter(|p| p.2 == lang) {
            sim.wait_ended(cid, Duration::from_secs(20)).await;
        }
    }
    for (cid, e, lang, token) in &placed {
        let ctx = format!("{} {lang}", e.number);
        let view = sim
            .wait_ended(cid, Duration::from_secs(20))
            .await
            .unwrap_or_else(|| panic!("{ctx}: call did not end"));
        assert_eq!(
            view.disconnect_reason.as_deref(),
            Some(e.reason),
            "{ctx}: {view:#?}"
        );
        assert_eq!(view.client_token.as_deref(), Some(token.as_str()));
        assert_eq!(view.destination_phone_number, e.number);

        // GetContactAttributes through the SDK.
        let got = c
            .get_contact_attributes()
            .instance_id(&instance)
            .initial_contact_id(cid)
            .send()
            .await
            .unwrap();
        let a = got.attributes().unwrap();
        assert_eq!(
            a.get("rd_incident").map(String::as_str),
            Some("inc-7"),
            "{ctx}"
        );
        for (k, v) in e.set {
            assert_eq!(a.get(*k).map(String::as_str), Some(*v), "{ctx}: {a:?}");
        }
        for k in e.unset {
            assert!(!a.contains_key(*k), "{ctx}: {k} must be unset: {a:?}");
        }

        // DescribeContact through the SDK.
        let d = c
            .describe_contact()
            .instance_id(&instance)
            .contact_id(cid)
            .send()
            .await
            .unwrap();
        let contact = d.contact().unwrap();
        assert_eq!(contact.id(), Some(cid.as_str()));
        assert_eq!(contact.initiation_method().map(|m| m.as_str()), Some("API"));
        assert_eq!(contact.channel().map(|m| m.as_str()), Some("VOICE"));
        assert_eq!(contact.disconnect_reason(), Some(e.reason), "{ctx}");
        assert_eq!(
            contact.connected_to_system_timestamp().is_some(),
            e.answered,
            "{ctx}"
        );
        assert!(
            contact.disconnect_timestamp().unwrap().secs()
                >= contact.initiation_timestamp().unwrap().secs()
        );

        // Transcript sanity.
        let said: Vec<String> = view
            .transcript
            .iter()
            .filter_map(|ev| match &ev.kind {
                connect_sim::EventKind::Said { text, .. } => Some(text.clone()),
                _ => None,
            })
            .collect();
        let message_read = said
            .iter()
            .any(|s| s.contains("Latency p99 over 4 s on web"));
        let expect_read = e.set.iter().any(|(k, _)| *k == "rd_human");
        assert_eq!(message_read, expect_read, "{ctx}: {said:?}");
        if *lang == "ja-JP" && e.answered {
            assert!(said[0].contains("キー"), "{ctx}: {said:?}");
        }
    }

    // Contact records: one per call, in the right shape.
    let n = placed.len();
    let ctrs = sim.wait_ctrs(n, Duration::from_secs(20)).await;
    assert_eq!(ctrs.len(), n);
    check_ctrs(&ctrs, &placed);
    let lines = std::fs::read_to_string(&jsonl).unwrap();
    assert_eq!(lines.lines().count(), n);
    let _ = std::fs::remove_file(&jsonl);

    if let Some(k) = &kin {
        let from_kinesis = read_stream(k, &stream, n).await;
        assert_eq!(from_kinesis.len(), n, "records in Kinesis");
        check_ctrs(&from_kinesis, &placed);
    }
    sim.shutdown().await;
}

fn check_ctrs(ctrs: &[Value], placed: &[(String, &Expect, &str, String)]) {
    let by_id: HashMap<&str, &Value> = ctrs
        .iter()
        .map(|c| (c["ContactId"].as_str().unwrap(), c))
        .collect();
    for (cid, e, lang, _) in placed {
        let ctx = format!("{} {lang}", e.number);
        let r = by_id
            .get(cid.as_str())
            .unwrap_or_else(|| panic!("{ctx}: no CTR"));
        assert_eq!(r["AWSContactTraceRecordFormatVersion"], "2017-03-10");
        assert_eq!(r["InitiationMethod"], "API");
        assert_eq!(r["Channel"], "VOICE");
        assert!(r["InitialContactId"].is_null());
        assert!(r["InstanceARN"]
            .as_str()
            .unwrap()
            .starts_with("arn:aws:connect:us-east-1:"));
        assert_eq!(r["DisconnectReason"], e.reason, "{ctx}");
        assert_eq!(r["CustomerEndpoint"]["Address"], e.number);
        assert_eq!(r["CustomerEndpoint"]["Type"], "TELEPHONE_NUMBER");
        assert_eq!(r["SystemEndpoint"]["Address"], SOURCE);
        assert_eq!(
            r.get("ConnectedToSystemTimestamp").is_some(),
            e.answered,
            "{ctx}: ConnectedToSystemTimestamp only when answered"
        );
        for ts in [
            "InitiationTimestamp",
            "DisconnectTimestamp",
            "LastUpdateTimestamp",
        ] {
            let s = r[ts].as_str().unwrap();
            assert!(
                s.len() == 20 && s.ends_with('Z') && s.as_bytes()[10] == b'T',
                "{ctx}: {ts} = {s}"
            );
        }
        let a = &r["Attributes"];
        assert_eq!(a["rd_lang"], *lang);
        for (k, v) in e.set {
            assert_eq!(a[*k], *v, "{ctx}");
        }
        for k in e.unset {
            assert!(a.get(*k).is_none(), "{ctx}: {k}");
        }
    }
}

#[tokio::test]
async fn client_token_returns_the_same_contact_while_it_is_live() {
    let sim = SimServer::start(base_config(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let c = connect_client(&sim.url());
    let i = sim.instance_id().to_string();
    let a = place(&c, &i, FLOW_EN, "+14155550104", "inc-1:s0:a1", "en-US")
        .await
        .unwrap();
    let b = place(&c, &i, FLOW_EN, "+14155550104", "inc-1:s0:a1", "en-US")
        .await
        .unwrap();
    let other = place(&c, &i, FLOW_EN, "+14155550104", "inc-1:s0:a2", "en-US")
        .await
        .unwrap();
    assert_eq!(a, b, "same ClientToken → same ContactId");
    assert_ne!(a, other);
    assert_eq!(
        sim.calls().len(),
        2,
        "no second call for a token whose contact is live"
    );

    // /_sim/calls over plain HTTP.
    let body = http_get(&sim.url(), "/_sim/calls").await;
    let calls: Vec<Value> = serde_json::from_str(&body).unwrap();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0]["ClientToken"], "inc-1:s0:a1");
    assert_eq!(calls[0]["ContactId"], a.as_str());
    assert_eq!(calls[0]["DestinationPhoneNumber"], "+14155550104");
    assert!(calls[0]["InitiationTimestamp"].is_string());
    sim.shutdown().await;
}

async fn http_get(base: &str, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).await.unwrap();
    buf.split_once("\r\n\r\n").unwrap().1.to_string()
}

#[tokio::test]
async fn burst_of_20_gets_exactly_the_2_per_s_burst_5_bucket() {
    let clock = ManualClock::new();
    let sim = SimServer::start_with_clock(
        base_config(),
        "127.0.0.1:0".parse().unwrap(),
        Clock::Manual(clock.clone()),
    )
    .await
    .unwrap();
    let c = connect_client(&sim.url());
    let i = sim.instance_id().to_string();
    let mut ok = 0;
    let mut throttled = 0;
    for n in 0..20 {
        match place(
            &c,
            &i,
            FLOW_EN,
            "+14155550104",
            &format!("burst-{n}"),
            "en-US",
        )
        .await
        {
            Ok(_) => ok += 1,
            Err(e) => {
                let e = e.into_service_error();
                // The current Connect model has no typed TooManyRequests variant for
                // this operation: it surfaces as Unhandled with the error code.
                assert_eq!(e.code(), Some("TooManyRequestsException"), "{e:?}");
                assert!(e.message().unwrap().contains("Rate exceeded"));
                throttled += 1;
            }
        }
    }
    assert_eq!((ok, throttled), (5, 15));
    // One second later exactly two more tokens.
    clock.advance(Duration::from_secs(1));
    let mut later = Vec::new();
    for n in 0..3 {
        later.push(
            place(
                &c,
                &i,
                FLOW_EN,
                "+14155550104",
                &format!("later-{n}"),
                "en-US",
            )
            .await
            .is_ok(),
        );
    }
    assert_eq!(later, vec![true, true, false]);
    // A replayed ClientToken still costs a rate token (like real Connect).
    clock.advance(Duration::from_millis(500));
    assert!(place(&c, &i, FLOW_EN, "+14155550104", "burst-0", "en-US")
        .await
        .is_ok());
    assert!(place(&c, &i, FLOW_EN, "+14155550104", "burst-0", "en-US")
        .await
        .is_err());
    sim.shutdown().await;
}

#[tokio::test]
async fn eleventh_concurrent_call_is_limit_exceeded() {
    let mut cfg = base_config();
    cfg.time_scale = 1.0; // calls ring for a real minute
    cfg.quotas.burst = 100;
    let sim = SimServer::start(cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let c = connect_client(&sim.url());
    let i = sim.instance_id().to_string();
    // Eleven people, one call each (one phone takes one call at a time).
    let mut ids = Vec::new();
    for n in 0..10 {
        ids.push(
            place(
                &c,
                &i,
                FLOW_EN,
                &format!("+141555502{n:02}"),
                &format!("cc-{n}"),
                "en-US",
            )
            .await
            .expect("10 concurrent calls are allowed"),
        );
    }
    let err = place(&c, &i, FLOW_EN, "+14155550210", "cc-10", "en-US")
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_limit_exceeded_exception(), "{err:?}");
    assert!(err.message().unwrap().contains("concurrent"));

    // A live call: DescribeContact has no DisconnectTimestamp yet.
    let d = c
        .describe_contact()
        .instance_id(&i)
        .contact_id(&ids[0])
        .send()
        .await
        .unwrap();
    assert!(d.contact().unwrap().disconnect_timestamp().is_none());

    // StopContact frees a slot.
    c.stop_contact()
        .instance_id(&i)
        .contact_id(&ids[0])
        .send()
        .await
        .unwrap();
    let v = sim
        .wait_ended(&ids[0], Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(v.disconnect_reason.as_deref(), Some("API"));
    place(&c, &i, FLOW_EN, "+14155550210", "cc-11", "en-US")
        .await
        .expect("a slot was freed");
    // Stopping an ended contact: ContactNotFoundException.
    let err = c
        .stop_contact()
        .instance_id(&i)
        .contact_id(&ids[0])
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_contact_not_found_exception(), "{err:?}");
    for id in &ids[1..] {
        let _ = c.stop_contact().instance_id(&i).contact_id(id).send().await;
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn errors_map_to_the_sdk_typed_variants() {
    let mut cfg = base_config();
    cfg.quotas.burst = 100;
    cfg.api_errors
        .insert("+14155550666".into(), "InternalServiceException".into());
    let sim = SimServer::start(cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let c = connect_client(&sim.url());
    let i = sim.instance_id().to_string();
    let start_err = |dest: &'static str, flow: &'static str, instance: String| {
        let c = c.clone();
        async move {
            c.start_outbound_voice_contact()
                .instance_id(instance)
                .contact_flow_id(flow)
                .destination_phone_number(dest)
                .source_phone_number(SOURCE)
                .send()
                .await
                .unwrap_err()
                .into_service_error()
        }
    };

    // Japanese mobile on a fresh instance: blocked until allow-listed.
    let e = start_err("+819099998888", FLOW_JA, i.clone()).await;
    assert!(e.is_destination_not_allowed_exception(), "{e:?}");
    assert!(e.message().unwrap().contains("+8190"), "{e:?}");
    let e = start_err("+818012345678", FLOW_JA, i.clone()).await;
    assert!(e.is_destination_not_allowed_exception(), "{e:?}");

    let e = start_err("+14155550104", "no-such-flow", i.clone()).await;
    assert!(e.is_resource_not_found_exception(), "{e:?}");
    let e = start_err(
        "+14155550104",
        FLOW_EN,
        "00000000-0000-0000-0000-000000000000".into(),
    )
    .await;
    assert!(e.is_resource_not_found_exception(), "{e:?}");
    let e = start_err("0312345678", FLOW_EN, i.clone()).await;
    assert!(e.is_invalid_parameter_exception(), "{e:?}");
    let e = start_err("+14155550666", FLOW_EN, i.clone()).await;
    assert!(e.is_internal_service_exception(), "{e:?}");

    let e = c
        .start_outbound_voice_contact()
        .instance_id(&i)
        .contact_flow_id(FLOW_EN)
        .destination_phone_number("+14155550104")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        e.is_invalid_request_exception(),
        "no source nor queue: {e:?}"
    );

    let e = c
        .start_outbound_voice_contact()
        .instance_id(&i)
        .contact_flow_id(FLOW_EN)
        .destination_phone_number("+14155550104")
        .source_phone_number(SOURCE)
        .ring_timeout_in_seconds(5)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_invalid_parameter_exception(), "ring timeout 5: {e:?}");

    // Flow id given as an ARN works too.
    let arn = format!("arn:aws:connect:us-east-1:123456789012:instance/{i}/contact-flow/{FLOW_EN}");
    c.start_outbound_voice_contact()
        .instance_id(&i)
        .contact_flow_id(arn)
        .destination_phone_number("+14155550104")
        .queue_id("q-1")
        .send()
        .await
        .unwrap();

    let e = c
        .get_contact_attributes()
        .instance_id(&i)
        .initial_contact_id("nope")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_resource_not_found_exception(), "{e:?}");
    let e = c
        .describe_contact()
        .instance_id(&i)
        .contact_id("nope")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_resource_not_found_exception(), "{e:?}");
    sim.shutdown().await;
}

#[tokio::test]
async fn ctr_fault_injection_duplicate_delay_drop() {
    let moto = common::moto_url_or_skip(
        "ctr_fault_injection_duplicate_delay_drop",
        "Kinesis part SKIPPED",
    );
    let stream = unique("ringdown-ctr-faults");
    let mut cfg = base_config();
    cfg.quotas.burst = 100;
    cfg.ctr_faults.numbers.insert(
        "+14155550104".into(),
        NumberFaults {
            duplicate: 2,
            bump_last_update_secs: 5,
            ..Default::default()
        },
    );
    cfg.ctr_faults.numbers.insert(
        "+14155550101".into(),
        NumberFaults {
            drop: true,
            ..Default::default()
        },
    );
    cfg.ctr_faults.numbers.insert(
        "+14155550105".into(),
        NumberFaults {
            delay_secs: 1500.0,
            ..Default::default()
        }, // 1.5 s real at 1000x
    );
    let kin = moto.as_ref().map(|u| kinesis_client(u));
    if let (Some(u), Some(k)) = (&moto, &kin) {
        create_stream(k, &stream, 1).await;
        cfg.kinesis = Some(KinesisConfig {
            endpoint: Some(u.clone()),
            stream: stream.clone(),
            region: "us-east-1".into(),
            default_credentials: false,
        });
    }
    let sim = SimServer::start(cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let c = connect_client(&sim.url());
    let i = sim.instance_id().to_string();
    let dup = place(&c, &i, FLOW_EN, "+14155550104", "f-dup", "en-US")
        .await
        .unwrap();
    let dropped = place(&c, &i, FLOW_EN, "+14155550101", "f-drop", "en-US")
        .await
        .unwrap();
    let delayed = place(&c, &i, FLOW_EN, "+14155550105", "f-delay", "en-US")
        .await
        .unwrap();
    for id in [&dup, &dropped, &delayed] {
        sim.wait_ended(id, Duration::from_secs(20)).await.unwrap();
    }
    let early = sim.ctrs();
    assert!(
        !early.iter().any(|r| r["ContactId"] == delayed.as_str()),
        "the delayed record is not there yet"
    );
    let ctrs = sim.wait_ctrs(4, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let ctrs = if ctrs.len() < 4 { sim.ctrs() } else { ctrs };
    let check = |ctrs: &[Value]| {
        let dups: Vec<&Value> = ctrs
            .iter()
            .filter(|r| r["ContactId"] == dup.as_str())
            .collect();
        assert_eq!(dups.len(), 3, "1 record + 2 duplicates");
        let ts: Vec<&str> = dups
            .iter()
            .map(|r| r["LastUpdateTimestamp"].as_str().unwrap())
            .collect();
        assert!(
            ts[0] < ts[1] && ts[1] < ts[2],
            "later LastUpdateTimestamp on copies: {ts:?}"
        );
        assert!(
            !ctrs.iter().any(|r| r["ContactId"] == dropped.as_str()),
            "dropped"
        );
        assert_eq!(
            ctrs.iter()
                .filter(|r| r["ContactId"] == delayed.as_str())
                .count(),
            1
        );
        assert_eq!(ctrs.len(), 4);
    };
    check(&ctrs);
    if let Some(k) = &kin {
        check(&read_stream(k, &stream, 4).await);
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn a_second_call_to_a_phone_already_ringing_gets_the_busy_tone_or_its_voicemail() {
    for (busy_line, reason) in [
        (connect_sim::BusyLine::Busy, "TELECOM_BUSY"),
        (connect_sim::BusyLine::Voicemail, "CONTACT_FLOW_DISCONNECT"),
    ] {
        let mut cfg = base_config();
        cfg.time_scale = 20.0;
        cfg.busy_line = busy_line;
        let sim = SimServer::start(cfg, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let c = connect_client(&sim.url());
        let i = sim.instance_id().to_string();
        // +14155550100 never answers: its phone rings for a minute.
        let first = place(&c, &i, FLOW_EN, "+14155550100", "busy-1", "en-US")
            .await
            .unwrap();
        let second = place(&c, &i, FLOW_EN, "+14155550100", "busy-2", "en-US")
            .await
            .unwrap();
        let v = sim
            .wait_ended(&second, Duration::from_secs(30))
            .await
            .unwrap();
        assert_eq!(
            v.disconnect_reason.as_deref(),
            Some(reason),
            "{busy_line:?}"
        );
        assert!(
            sim.call(&first).unwrap().disconnect_reason.is_none(),
            "the first call still rings"
        );
        // Another number is not affected.
        let other = place(&c, &i, FLOW_EN, "+14155550102", "busy-3", "en-US")
            .await
            .unwrap();
        assert_eq!(sim.call(&other).unwrap().persona, "human");
        sim.shutdown().await;
    }
}
