//! Structured input: `arbitrary` builds a *valid JSON* payload of each format
//! (Alertmanager / Grafana webhook, CloudWatch alarm as SNS delivers it,
//! EventBridge alarm state change, generic JSON object or array, alertinfo,
//! and an SNS text notification), filling the values from the fuzz input (a
//! pick from realistic values or any string), so coverage reaches past the
//! JSON parser into each format's field handling. Only `parse` is public, so
//! the payloads go through format detection as real messages do.
//!
//! Asserts, besides the invariants of `parse_alert`:
//! - wrapping a JSON payload in an SNS notification changes nothing (same
//!   alerts, or an error with the same reason code);
//! - the same alarm as a CloudWatch/SNS message and as an EventBridge event is
//!   accepted or rejected alike, and when accepted gives the same labels,
//!   fingerprint and status (one alarm, one incident, whichever path);
//! - a webhook gives one alert per entry, with the labels sent (empty values
//!   dropped), the source the version markers select, and the sender's
//!   fingerprint when one was given (in its canonical 16-hex-digit form);
//! - a generic object's title becomes `alertname` unless one was given;
//! - an SNS text notification gives exactly one named alert.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use ringdown_core::parse::{self, Limits, ParseError};
use ringdown_core::{Alert, Labels, Source};
use ringdown_fuzz::check_result;
use serde_json::{json, Map, Value};

/// A value: one of the realistic choices for the field, or any string.
#[derive(Arbitrary, Debug)]
enum Text {
    Pick(u8),
    Any(String),
}

impl Text {
    fn get(&self, table: &[&str]) -> String {
        match self {
            Text::Pick(i) => table[*i as usize % table.len()].to_string(),
            Text::Any(s) => s.clone(),
        }
    }
}

const NAMES: &[&str] = &[
    "alertname",
    "severity",
    "systemname",
    "instance",
    "team",
    "region",
    "account",
    "metric",
    "namespace",
    "insufficient_data",
    "dimension_region",
    "status",
    "service",
    "host",
    "lastcheck",
    "message",
    "description",
    "summary",
    "",
];
const VALUES: &[&str] = &[
    "critical",
    "web",
    "db",
    "",
    " ",
    "<break time=\"60s\"/>",
    "a & b",
    "ディスク満杯",
    "i-0123456789abcdef0",
];
const STATUSES: &[&str] = &["firing", "resolved", "FIRING", "Resolved", "", "pending"];
const TIMES: &[&str] = &[
    "2024-05-01T12:00:00Z",
    "2024-05-01T12:00:00.123+0000",
    "2024-05-01T21:00:00+09:00",
    "0001-01-01T00:00:00Z",
    "",
    "2024-05-01",
    "2024-13-01T00:00:00Z",
    "9999-12-31T23:59:59.999999999-23:59",
];
const VERSIONS: &[&str] = &["4", "1", "", "2"];
const STATES: &[&str] = &["ALARM", "OK", "INSUFFICIENT_DATA", "alarm", ""];
const REGIONS: &[&str] = &["ap-northeast-1", "us-east-1", "", "a:b"];
const ACCOUNTS: &[&str] = &["123456789012", "", "000000000000"];
const LASTCHECKS: &[&str] = &[
    "2023-10-03 13:20:52",
    "2023/10/03 13:20:52",
    "2023-10-03T13:20:52",
    "2023-10-03 13:20",
    "yesterday",
    "",
];
const ALERTINFO_STATUSES: &[&str] = &["problem", "OK", "recovery", "critical", "down", "maybe"];
const SUBJECTS: &[&str] = &[
    "[FIRING:2] HighCPU",
    "[RESOLVED] HighCPU",
    "[FIRING] disk full",
    "",
    "[firing:x] y",
    "[WHATEVER] z",
    "[RESOLVED:3]",
];
const ATTR_TYPES: &[&str] = &["String", "Number", "Binary", "String.Array", "String.json"];

#[derive(Arbitrary, Debug)]
struct Pair(Text, Text);

fn map(pairs: &[Pair]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|Pair(k, v)| (k.get(NAMES), Value::String(v.get(VALUES))))
        .collect()
}

#[derive(Arbitrary, Debug)]
struct WebAlert {
    status: Option<Text>,
    labels: Option<Vec<Pair>>,
    annotations: Vec<Pair>,
    starts_at: Option<Text>,
    ends_at: Option<Text>,
    fingerprint: Option<Text>,
    generator_url: Option<Text>,
    value_string: Option<Text>,
}

#[derive(Arbitrary, Debug)]
struct Webhook {
    version: Option<Text>,
    status: Option<Text>,
    org_id: bool,
    title: Option<Text>,
    group_labels: Vec<Pair>,
    alerts: Vec<WebAlert>,
}

#[derive(Arbitrary, Debug)]
struct Alarm {
    name: Text,
    state: Text,
    previous: Option<Text>,
    reason: Option<Text>,
    description: Option<Text>,
    region: Text,
    account: Text,
    /// `None`: a metric-math alarm (no single metric).
    metric: Option<(Text, Text)>,
    dimensions: Vec<Pair>,
    time: Option<Text>,
}

#[derive(Arbitrary, Debug)]
struct GenericAlert {
    title: Option<Text>,
    status: Option<Text>,
    labels: Option<Vec<Pair>>,
    annotations: Vec<Pair>,
    starts_at: Option<Text>,
    camel_case_times: bool,
    description: Option<Text>,
}

#[derive(Arbitrary, Debug)]
enum Scalar {
    Str(Text),
    Num(i32),
    Bool(bool),
    Null,
    Status(Text),
    Lastcheck(Text),
}

#[derive(Arbitrary, Debug)]
struct Alertinfo {
    /// `input` as a JSON string (API Gateway) or an object; or no `input`.
    input: u8,
    entries: Vec<Vec<(Text, Scalar)>>,
}

#[derive(Arbitrary, Debug)]
struct SnsText {
    subject: Option<Text>,
    message: Text,
    attributes: Vec<(Text, Text, Option<Text>)>,
}

#[derive(Arbitrary, Debug)]
enum Payload {
    Webhook(Webhook),
    Alarm(Alarm),
    Generic(GenericAlert),
    GenericArray(Vec<GenericAlert>),
    Alertinfo(Alertinfo),
    SnsText(SnsText),
}

#[derive(Arbitrary, Debug)]
struct Input {
    payload: Payload,
    pretty: bool,
}

fn opt(obj: &mut Map<String, Value>, key: &str, v: &Option<Text>, table: &[&str]) {
    if let Some(v) = v {
        obj.insert(key.into(), Value::String(v.get(table)));
    }
}

fn text(v: &Value, pretty: bool) -> String {
    if pretty {
        serde_json::to_string_pretty(v).unwrap()
    } else {
        v.to_string()
    }
}

fn sns(message: &str) -> Value {
    json!({
        "Type": "Notification",
        "MessageId": "6a1a3e4e-0000-0000-0000-000000000000",
        "TopicArn": "arn:aws:sns:ap-northeast-1:123456789012:ringdown-alerts",
        "Message": message,
        "Timestamp": "2024-05-01T12:00:01.000Z",
    })
}

fn run(v: &Value, pretty: bool) -> Result<Vec<Alert>, ParseError> {
    let raw = text(v, pretty);
    let direct = parse::parse(raw.as_bytes());
    check_result(&direct, &Limits::default());
    let wrapped = parse::parse(sns(&raw).to_string().as_bytes());
    check_result(&wrapped, &Limits::default());
    match (&direct, &wrapped) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "the SNS envelope changed the alerts"),
        (Err(a), Err(b)) => assert_eq!(
            a.reason_code(),
            b.reason_code(),
            "the SNS envelope changed the error: {a} / {b}"
        ),
        _ => panic!("the SNS envelope changed the outcome: {direct:?} / {wrapped:?}"),
    }
    direct
}

fn webhook(w: &Webhook, pretty: bool) {
    let mut obj = Map::new();
    opt(&mut obj, "version", &w.version, VERSIONS);
    opt(&mut obj, "status", &w.status, STATUSES);
    if w.org_id {
        obj.insert("orgId".into(), json!(1));
    }
    opt(&mut obj, "title", &w.title, SUBJECTS);
    obj.insert("receiver".into(), json!("ringdown"));
    obj.insert("groupLabels".into(), Value::Object(map(&w.group_labels)));
    obj.insert("commonLabels".into(), json!({}));
    obj.insert("externalURL".into(), json!("http://alertmanager:9093"));
    obj.insert("groupKey".into(), json!("{}:{alertname=\"x\"}"));
    let mut sent = Vec::new();
    let alerts: Vec<Value> = w
        .alerts
        .iter()
        .map(|a| {
            let mut o = Map::new();
            opt(&mut o, "status", &a.status, STATUSES);
            let labels = a.labels.as_deref().map(map);
            if let Some(l) = &labels {
                o.insert("labels".into(), Value::Object(l.clone()));
            }
            o.insert("annotations".into(), Value::Object(map(&a.annotations)));
            opt(&mut o, "startsAt", &a.starts_at, TIMES);
            opt(&mut o, "endsAt", &a.ends_at, TIMES);
            opt(
                &mut o,
                "fingerprint",
                &a.fingerprint,
                &["c0ffee0123456789", ""],
            );
            opt(
                &mut o,
                "generatorURL",
                &a.generator_url,
                &["http://prom/graph", ""],
            );
            opt(
                &mut o,
                "valueString",
                &a.value_string,
                &["[ var='A' value=1 ]"],
            );
            let fp = a
                .fingerprint
                .as_ref()
                .map(|f| f.get(&["c0ffee0123456789", ""]));
            sent.push((labels.unwrap_or_default(), fp));
            Value::Object(o)
        })
        .collect();
    obj.insert("alerts".into(), Value::Array(alerts));

    let version = w.version.as_ref().map(|v| v.get(VERSIONS));
    let version = version.as_deref();
    let grafana = version != Some("4") && (version == Some("1") || w.org_id || w.title.is_some());
    let want_source = if grafana {
        Source::Grafana
    } else {
        Source::Alertmanager
    };
    let Ok(alerts) = run(&Value::Object(obj), pretty) else {
        return;
    };
    assert_eq!(alerts.len(), sent.len(), "one alert per webhook entry");
    for (a, (labels, fp)) in alerts.iter().zip(&sent) {
        assert_eq!(a.source, want_source);
        let want: Labels = labels
            .iter()
            .filter_map(|(k, v)| {
                let v = v.as_str().unwrap();
                (!v.is_empty()).then(|| (k.clone(), v.to_string()))
            })
            .collect();
        assert_eq!(a.labels, want, "webhook labels changed");
        match fp.as_deref() {
            Some(f) if !f.is_empty() => {
                assert_eq!(
                    a.fingerprint,
                    ringdown_core::fingerprint::canonical(f.to_string())
                )
            }
            _ => assert_eq!(
                a.fingerprint,
                ringdown_core::fingerprint::fingerprint(&want)
            ),
        }
    }
}

fn alarm(al: &Alarm, pretty: bool) {
    let name = al.name.get(&["HighCPU", "", "payments-5xx <&>"]);
    let state = al.state.get(STATES);
    let region = al.region.get(REGIONS);
    let account = al.account.get(ACCOUNTS);
    let arn = format!("arn:aws:cloudwatch:{region}:{account}:alarm:{name}");
    // First mention of a dimension wins, in name order, so that the list
    // (CloudWatch) and the object (EventBridge) carry the same dimensions.
    let mut dims: Vec<(String, String)> = Vec::new();
    for Pair(k, v) in &al.dimensions {
        let k = k.get(NAMES);
        if !dims.iter().any(|(n, _)| *n == k) {
            dims.push((k, v.get(VALUES)));
        }
    }
    dims.sort();
    let metric = al
        .metric
        .as_ref()
        .map(|(m, ns)| (m.get(&["CPUUtilization", ""]), ns.get(&["AWS/EC2", ""])));
    let time = al.time.as_ref().map(|t| t.get(TIMES));
    let previous = al.previous.as_ref().map(|p| p.get(STATES));
    let reason = al.reason.as_ref().map(|r| r.get(VALUES));
    let description = al.description.as_ref().map(|d| d.get(VALUES));

    let mut cw = Map::new();
    cw.insert("AlarmName".into(), json!(name));
    cw.insert("NewStateValue".into(), json!(state));
    cw.insert("AlarmArn".into(), json!(arn));
    cw.insert("AWSAccountId".into(), json!(account));
    cw.insert("Region".into(), json!(region));
    let mut trigger = Map::new();
    if let Some((m, ns)) = &metric {
        trigger.insert("MetricName".into(), json!(m));
        trigger.insert("Namespace".into(), json!(ns));
        trigger.insert(
            "Dimensions".into(),
            Value::Array(
                dims.iter()
                    .map(|(n, v)| json!({"name": n, "value": v}))
                    .collect(),
            ),
        );
    } else {
        // A metric-math alarm's trigger has `Metrics`, no single metric.
        trigger.insert(
            "Metrics".into(),
            json!([{"Id": "e1", "Expression": "m1+m2"}]),
        );
    }
    cw.insert("Trigger".into(), Value::Object(trigger));
    for (k, v) in [
        ("StateChangeTime", &time),
        ("OldStateValue", &previous),
        ("NewStateReason", &reason),
        ("AlarmDescription", &description),
    ] {
        if let Some(v) = v {
            cw.insert(k.into(), json!(v));
        }
    }

    let mut state_obj = Map::new();
    state_obj.insert("value".into(), json!(state));
    if let Some(r) = &reason {
        state_obj.insert("reason".into(), json!(r));
    }
    if let Some(t) = &time {
        state_obj.insert("timestamp".into(), json!(t));
    }
    let mut conf = Map::new();
    if let Some(d) = &description {
        conf.insert("description".into(), json!(d));
    }
    let dim_obj: Map<String, Value> = dims.iter().map(|(n, v)| (n.clone(), json!(v))).collect();
    let mut metric_obj = Map::new();
    if let Some((m, ns)) = &metric {
        metric_obj.insert("name".into(), json!(m));
        metric_obj.insert("namespace".into(), json!(ns));
    }
    metric_obj.insert("dimensions".into(), Value::Object(dim_obj));
    let metrics = if metric.is_some() {
        json!([{"id": "m1", "metricStat": {"metric": metric_obj, "period": 60, "stat": "Average"}}])
    } else {
        // Metric math: two metrics and an expression; no single metric to name.
        json!([{"id": "e1", "expression": "m1+m2"}, {"id": "m1"}])
    };
    conf.insert("metrics".into(), metrics);
    let mut detail = Map::new();
    detail.insert("alarmName".into(), json!(name));
    detail.insert("state".into(), Value::Object(state_obj));
    if let Some(p) = &previous {
        detail.insert("previousState".into(), json!({"value": p}));
    }
    detail.insert("configuration".into(), Value::Object(conf));
    let eb = json!({
        "version": "0",
        "id": "c4c1c1c9-6542-e61b-6ef0-8c4d36933a92",
        "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch",
        "account": account,
        "time": "2024-05-01T12:00:00Z",
        "region": region,
        "resources": [arn],
        "detail": detail,
    });

    let a = run(&Value::Object(cw), pretty);
    let b = run(&eb, pretty);
    match (&a, &b) {
        (Ok(a), Ok(b)) => {
            assert_eq!((a.len(), b.len()), (1, 1));
            let (a, b) = (&a[0], &b[0]);
            assert_eq!(a.source, Source::Cloudwatch);
            assert_eq!(b.source, Source::Eventbridge);
            assert_eq!(a.labels, b.labels, "CloudWatch and EventBridge disagree");
            assert_eq!(a.fingerprint, b.fingerprint);
            assert_eq!(a.status, b.status);
            assert_eq!(a.labels.get("alertname"), Some(&name));
        }
        (Err(a), Err(b)) => assert_eq!(a.reason_code(), b.reason_code(), "{a} / {b}"),
        _ => panic!("CloudWatch and EventBridge disagree: {a:?} / {b:?}"),
    }
}

fn generic_value(g: &GenericAlert) -> Value {
    let mut o = Map::new();
    opt(
        &mut o,
        "title",
        &g.title,
        &["Disk full", "", "  ", "<audio src=\"x\"/>"],
    );
    opt(&mut o, "status", &g.status, STATUSES);
    if let Some(l) = &g.labels {
        o.insert("labels".into(), Value::Object(map(l)));
    }
    o.insert("annotations".into(), Value::Object(map(&g.annotations)));
    let key = if g.camel_case_times {
        "startsAt"
    } else {
        "starts_at"
    };
    opt(&mut o, key, &g.starts_at, TIMES);
    opt(&mut o, "description", &g.description, VALUES);
    Value::Object(o)
}

fn generic(g: &GenericAlert, pretty: bool) {
    let Ok(alerts) = run(&generic_value(g), pretty) else {
        return;
    };
    assert_eq!(alerts.len(), 1);
    let a = &alerts[0];
    let given = g
        .labels
        .as_deref()
        .map(map)
        .and_then(|l| l.get("alertname").and_then(Value::as_str).map(String::from))
        .filter(|n| !n.is_empty());
    let title = g
        .title
        .as_ref()
        .map(|t| t.get(&["Disk full", "", "  ", "<audio src=\"x\"/>"]))
        .filter(|t| !t.trim().is_empty());
    match (given, title) {
        (Some(n), _) => assert_eq!(a.labels.get("alertname"), Some(&n)),
        (None, Some(t)) => assert_eq!(a.labels.get("alertname"), Some(&t)),
        (None, None) => panic!("accepted a generic alert without a name: {a:?}"),
    }
}

fn alertinfo(ai: &Alertinfo, pretty: bool) {
    let entries: Vec<Value> = ai
        .entries
        .iter()
        .map(|e| {
            let mut o = Map::new();
            for (k, v) in e {
                let (k, v) = match v {
                    Scalar::Str(s) => (k.get(NAMES), json!(s.get(VALUES))),
                    Scalar::Num(n) => (k.get(NAMES), json!(n)),
                    Scalar::Bool(b) => (k.get(NAMES), json!(b)),
                    Scalar::Null => (k.get(NAMES), Value::Null),
                    Scalar::Status(s) => ("status".into(), json!(s.get(ALERTINFO_STATUSES))),
                    Scalar::Lastcheck(s) => ("lastcheck".into(), json!(s.get(LASTCHECKS))),
                };
                o.insert(k, v);
            }
            Value::Object(o)
        })
        .collect();
    let inner = json!({ "alertinfo": entries });
    let v = match ai.input % 3 {
        0 => json!({ "input": inner.to_string() }),
        1 => json!({ "input": inner }),
        _ => inner,
    };
    if let Ok(alerts) = run(&v, pretty) {
        assert_eq!(alerts.len(), ai.entries.len());
        for a in &alerts {
            assert_eq!(a.source, Source::Alertinfo);
            assert!(a.labels.contains_key("service"), "{a:?}");
            assert!(a.labels.contains_key("alertname"), "{a:?}");
        }
    }
}

fn sns_text(t: &SnsText) {
    let message = t.message.get(&[
        "Disk full on web-1\nsecond line",
        "",
        "   ",
        "[FIRING:1] {not json",
        "<break time=\"60s\"/>",
    ]);
    // A message that is JSON after all (the fuzzer's own text) is a payload.
    let trimmed = message.trim();
    let is_json = (trimmed.starts_with('{') || trimmed.starts_with('['))
        && matches!(
            serde_json::from_str(trimmed),
            Ok(Value::Object(_) | Value::Array(_))
        );
    let mut env = sns(&message).as_object().unwrap().clone();
    opt(&mut env, "Subject", &t.subject, SUBJECTS);
    let attrs: Map<String, Value> = t
        .attributes
        .iter()
        .map(|(name, ty, value)| {
            let mut a = Map::new();
            a.insert("Type".into(), json!(ty.get(ATTR_TYPES)));
            if let Some(v) = value {
                a.insert("Value".into(), json!(v.get(STATUSES)));
            }
            (name.get(NAMES), Value::Object(a))
        })
        .collect();
    env.insert("MessageAttributes".into(), Value::Object(attrs));
    let r = parse::parse(Value::Object(env).to_string().as_bytes());
    check_result(&r, &Limits::default());
    if let (Ok(alerts), false) = (r, is_json) {
        assert_eq!(alerts.len(), 1, "one alert per SNS text notification");
        let a = &alerts[0];
        assert_eq!(a.source, Source::Generic);
        assert!(!a.labels.get("alertname").map_or("", |s| s).is_empty());
        assert!(!a.annotations.get("summary").map_or("", |s| s).is_empty());
        assert!(!a.labels.contains_key("status"), "status is not a label");
    }
}

fuzz_target!(|input: Input| {
    match &input.payload {
        Payload::Webhook(w) => webhook(w, input.pretty),
        Payload::Alarm(a) => alarm(a, input.pretty),
        Payload::Generic(g) => generic(g, input.pretty),
        Payload::GenericArray(gs) => {
            let v = Value::Array(gs.iter().map(generic_value).collect());
            if let Ok(alerts) = run(&v, input.pretty) {
                assert_eq!(alerts.len(), gs.len());
            }
        }
        Payload::Alertinfo(ai) => alertinfo(ai, input.pretty),
        Payload::SnsText(t) => sns_text(t),
    }
});
