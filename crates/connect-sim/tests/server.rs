//! Server-level tests without the AWS SDK: the binary, the config file, the wire
//! shape of errors. (The SDK-driven tests live in crates/ringdown-aws/tests.)

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use connect_sim::{build_ctr, simulate, CtrContext, Persona, SimConfig, TokenBucket};

fn example() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sim.example.yaml")
}

/// Minimal HTTP/1.0 client: (status line, headers+body text).
fn http(addr: &str, method: &str, path: &str, body: &str) -> (String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out.lines().next().unwrap_or("").to_string();
    (status, out)
}

#[test]
fn token_bucket_is_exact() {
    let mut b = TokenBucket::new(2.0, 5, Duration::ZERO);
    let first: Vec<bool> = (0..20).map(|_| b.try_take(Duration::ZERO)).collect();
    assert_eq!(first.iter().filter(|x| **x).count(), 5);
    assert!(first[..5].iter().all(|x| *x));
    assert!(!b.try_take(Duration::from_millis(499)));
    assert!(b.try_take(Duration::from_millis(500)));
    assert!(!b.try_take(Duration::from_millis(500)));
    // never more than the burst after a long idle
    let n = (0..10)
        .filter(|_| b.try_take(Duration::from_secs(100)))
        .count();
    assert_eq!(n, 5);
}

#[test]
fn example_config_loads() {
    let cfg = SimConfig::load(&example()).unwrap();
    assert_eq!(cfg.flows.len(), 2);
    assert_eq!(cfg.time_scale, 60.0);
    assert_eq!(cfg.quotas.burst, 5);
    assert_eq!(cfg.personas.lookup("+14155550100"), &Persona::NeverAnswers);
    assert!(cfg.blocked_prefixes.contains(&"+8190".to_string()));
}

#[test]
fn ctr_shape() {
    let cfg = SimConfig::load(&example()).unwrap();
    let flow = &cfg.flows["ringdown-en-US"];
    let attrs = [("rd_message".to_string(), "hello".to_string())]
        .into_iter()
        .collect();
    let ctx = CtrContext {
        account_id: "123456789012".into(),
        region: "us-east-1".into(),
        instance_id: "inst".into(),
        contact_id: "c-1".into(),
        initiated_at: chrono::DateTime::parse_from_rfc3339("2026-11-22T21:30:14Z")
            .unwrap()
            .with_timezone(&chrono::Utc),
        customer_address: "+14155550100".into(),
        system_address: Some("+81335550000".into()),
        queue_id: None,
    };
    let r = simulate(
        flow,
        &attrs,
        &Persona::NeverAnswers,
        Duration::from_secs(30),
    );
    let ctr = build_ctr(&ctx, &r);
    assert_eq!(ctr["InitiationTimestamp"], "2026-11-22T21:30:14Z");
    assert_eq!(ctr["DisconnectTimestamp"], "2026-11-22T21:30:44Z");
    assert_eq!(ctr["LastUpdateTimestamp"], "2026-11-22T21:30:44Z");
    assert_eq!(ctr["DisconnectReason"], "TELECOM_UNANSWERED");
    assert!(ctr.get("ConnectedToSystemTimestamp").is_none());
    assert_eq!(
        ctr["InstanceARN"],
        "arn:aws:connect:us-east-1:123456789012:instance/inst"
    );
    assert_eq!(ctr["Attributes"]["rd_message"], "hello");

    let r = simulate(
        flow,
        &attrs,
        &Persona::voicemail(8.0),
        Duration::from_secs(30),
    );
    let ctr = build_ctr(&ctx, &r);
    assert_eq!(ctr["ConnectedToSystemTimestamp"], "2026-11-22T21:30:22Z");
    assert_eq!(ctr["DisconnectReason"], "CONTACT_FLOW_DISCONNECT");
}

#[test]
fn binary_serves_and_answers_in_the_aws_error_shape() {
    let exe = env!("CARGO_BIN_EXE_connect-sim");
    let mut child = Command::new(exe)
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(example())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    let addr = first
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("first line: {first:?}"))
        .to_string();

    let (status, body) = http(&addr, "GET", "/_sim/calls", "");
    assert!(status.contains("200"), "{body}");
    assert!(body.ends_with("[]"), "{body}");

    // Blocked Japanese mobile: 403 + x-amzn-ErrorType.
    let req = r#"{"InstanceId":"00000000-0000-4000-8000-00000000c0de","ContactFlowId":"ringdown-ja-JP","DestinationPhoneNumber":"+819012345678","SourcePhoneNumber":"+81335550000"}"#;
    let (status, body) = http(&addr, "PUT", "/contact/outbound-voice", req);
    assert!(status.contains("403"), "{body}");
    assert!(
        body.to_ascii_lowercase()
            .contains("x-amzn-errortype: destinationnotallowedexception"),
        "{body}"
    );
    assert!(body.contains(r#""message":"#), "{body}");

    // A call that rings out: placed, then printed as it ends (60 s at 60x = 1 s).
    let req = r#"{"InstanceId":"00000000-0000-4000-8000-00000000c0de","ContactFlowId":"ringdown-en-US","DestinationPhoneNumber":"+14155550100","SourcePhoneNumber":"+81335550000","ClientToken":"tok-1","Attributes":{"rd_message":"hi"}}"#;
    let (status, body) = http(&addr, "PUT", "/contact/outbound-voice", req);
    assert!(status.contains("200"), "{body}");
    assert!(body.contains("ContactId"), "{body}");
    let mut printed = String::new();
    for _ in 0..10 {
        let mut line = String::new();
        if out.read_line(&mut line).unwrap() == 0 {
            break;
        }
        printed.push_str(&line);
        if line.contains("ended ") {
            break;
        }
    }
    assert!(printed.contains("+14155550100"), "{printed}");
    assert!(printed.contains("TELECOM_UNANSWERED"), "{printed}");
    let (_, body) = http(&addr, "GET", "/_sim/calls", "");
    assert!(body.contains(r#""ClientToken":"tok-1""#), "{body}");
    assert!(body.contains(r#""State":"ENDED""#), "{body}");

    // Injected faults: a 500 before anything happens, then a 500 answered
    // after the call was placed; the retry with the same ClientToken finds
    // that call instead of placing a second one.
    let (status, body) = http(
        &addr,
        "POST",
        "/_sim/faults",
        r#"{"code":"InternalServiceException","count":1}"#,
    );
    assert!(status.contains("204"), "{body}");
    let (status, body) = http(
        &addr,
        "POST",
        "/_sim/faults",
        r#"{"code":"InternalServiceException","count":1,"after_create":true}"#,
    );
    assert!(status.contains("204"), "{body}");
    let req = r#"{"InstanceId":"00000000-0000-4000-8000-00000000c0de","ContactFlowId":"ringdown-en-US","DestinationPhoneNumber":"+14155550100","SourcePhoneNumber":"+81335550000","ClientToken":"tok-2","Attributes":{"rd_message":"hi"}}"#;
    let calls_before = http(&addr, "GET", "/_sim/calls", "")
        .1
        .matches("ContactId")
        .count();
    let (status, body) = http(&addr, "PUT", "/contact/outbound-voice", req);
    assert!(status.contains("500"), "{body}");
    let (_, listed) = http(&addr, "GET", "/_sim/calls", "");
    assert_eq!(
        listed.matches("ContactId").count(),
        calls_before,
        "{listed}"
    );
    let (status, body) = http(&addr, "PUT", "/contact/outbound-voice", req);
    assert!(status.contains("500"), "{body}");
    assert!(
        body.to_ascii_lowercase()
            .contains("x-amzn-errortype: internalserviceexception"),
        "{body}"
    );
    let (_, listed) = http(&addr, "GET", "/_sim/calls", "");
    assert_eq!(listed.matches("\"tok-2\"").count(), 1, "{listed}");
    let (status, body) = http(&addr, "PUT", "/contact/outbound-voice", req);
    assert!(status.contains("200"), "{body}");
    let (_, listed) = http(&addr, "GET", "/_sim/calls", "");
    assert_eq!(listed.matches("\"tok-2\"").count(), 1, "one call: {listed}");
    assert!(listed.contains("InitiatedUnixMs"), "{listed}");

    // Unknown operation.
    let (status, _) = http(&addr, "GET", "/nope", "");
    assert!(status.contains("404"));
    child.kill().unwrap();
    child.wait().unwrap();
}
