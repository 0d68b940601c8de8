//! Shared helpers of the moto-backed tests.
//!
//! Tests that need moto read `RINGDOWN_TEST_MOTO_URL` (see
//! `tests/emulators.sh`). Without it they print a loud skip notice and pass,
//! unless `RINGDOWN_REQUIRE_EMULATORS=1` (CI), in which case they fail.
//! moto keeps all state in one process: every test uses its own names.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use aws_config::SdkConfig;
use connect_sim::{load_flow, ContactSearch, PersonaBook, SimConfig};

/// The moto URL, or None after a loud skip notice (a panic when emulators
/// are required).
pub fn moto_url(test: &str) -> Option<String> {
    moto_url_or_skip(test, "SKIPPED")
}

/// [`moto_url`], the notice saying `skipped` (e.g. "Kinesis part SKIPPED"
/// when only part of the test needs moto).
pub fn moto_url_or_skip(test: &str, skipped: &str) -> Option<String> {
    match std::env::var("RINGDOWN_TEST_MOTO_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            if std::env::var("RINGDOWN_REQUIRE_EMULATORS").as_deref() == Ok("1") {
                panic!("{test}: RINGDOWN_REQUIRE_EMULATORS=1 but RINGDOWN_TEST_MOTO_URL is not set (run tests/emulators.sh start)");
            }
            eprintln!(
                "\n!!!!!!!! {test}: {skipped}: needs moto (eval \"$(tests/emulators.sh start)\") !!!!!!!!\n"
            );
            None
        }
    }
}

/// The SDK configuration for moto, or None (skipped).
pub fn moto(test: &str) -> Option<SdkConfig> {
    moto_url(test).map(|u| ringdown_aws::clients::test_sdk_config(&u))
}

/// A name prefix no other test (or earlier run against the same moto) uses.
pub fn unique_prefix(tag: &str) -> String {
    use rand::Rng;
    let n: u32 = rand::thread_rng().gen();
    format!("t{n:08x}-{tag}-")
}

/// `{prefix}-{pid}-{nanos}`: a resource name no other test uses.
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{}-{nanos}", std::process::id())
}

/// A Kinesis client for moto (or connect-sim's Kinesis endpoint).
pub fn kinesis_client(url: &str) -> aws_sdk_kinesis::Client {
    use aws_sdk_kinesis::config::{BehaviorVersion, Credentials, Region};
    let conf = aws_sdk_kinesis::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .endpoint_url(url)
        .build();
    aws_sdk_kinesis::Client::from_conf(conf)
}

/// Creates a stream of `shards` shards and waits until it is ACTIVE.
pub async fn create_stream(k: &aws_sdk_kinesis::Client, name: &str, shards: i32) {
    k.create_stream()
        .stream_name(name)
        .shard_count(shards)
        .send()
        .await
        .expect("CreateStream in moto");
    for _ in 0..50 {
        let d = k
            .describe_stream_summary()
            .stream_name(name)
            .send()
            .await
            .unwrap();
        if d.stream_description_summary()
            .map(|s| s.stream_status().as_str() == "ACTIVE")
            .unwrap_or(false)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("stream {name} never became ACTIVE");
}

/// The English contact flow's id in connect-sim.
pub const FLOW_EN: &str = "ringdown-en-flow";
/// The Japanese contact flow's id in connect-sim.
pub const FLOW_JA: &str = "ringdown-ja-flow";

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// connect-sim with both contact flows of `contact-flows/`, the persona book
/// `personas` (YAML), calls played 1000x faster than real time, and
/// defaults otherwise.
pub fn sim_config(personas: &str) -> SimConfig {
    let mut flows = BTreeMap::new();
    for (id, file) in [
        (FLOW_EN, "ringdown-en-US.json"),
        (FLOW_JA, "ringdown-ja-JP.json"),
    ] {
        let flow = load_flow(&repo_root().join("contact-flows").join(file), true).unwrap();
        flows.insert(id.to_string(), flow);
    }
    SimConfig {
        flows,
        personas: PersonaBook::from_yaml(personas).unwrap(),
        time_scale: 1000.0,
        // As an administrator sets the instance up for ringdown.
        contact_search: ContactSearch {
            searchable_attributes: vec!["rd_call".into()],
            ..ContactSearch::default()
        },
        ..SimConfig::default()
    }
}

/// `cfg` with a Connect API quota no test reaches (1000/s, burst 1000).
pub fn unthrottled(mut cfg: SimConfig) -> SimConfig {
    cfg.quotas.rate_per_sec = 1000.0;
    cfg.quotas.burst = 1000;
    cfg
}
