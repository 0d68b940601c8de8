use super::*;
use crate::alert::{Source, Status};
use proptest::prelude::*;
use serde_json::json;

fn p(v: &Value) -> Result<Vec<Alert>, ParseError> {
    parse(v.to_string().as_bytes())
}

fn err(v: &Value) -> ParseError {
    p(v).expect_err("expected a parse error")
}

fn sns(message: &str) -> Value {
    json!({
        "Type": "Notification",
        "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        "TopicArn": "arn:aws:sns:ap-northeast-1:123456789012:alerts",
        "Subject": null,
        "Message": message,
        "Timestamp": "2024-05-01T12:00:00.000Z",
        "SignatureVersion": "1",
    })
}

fn alertmanager() -> Value {
    json!({
        "version": "4",
        "groupKey": "{}:{alertname=\"HighLatency\"}",
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "ringdown",
        "groupLabels": {"alertname": "HighLatency"},
        "commonLabels": {"alertname": "HighLatency", "systemname": "web"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "HighLatency", "systemname": "web", "instance": "web-1", "severity": "critical"},
                "annotations": {"summary": "p99 latency 4s on web-1", "description": "p99 > 2s for 5m"},
                "startsAt": "2024-05-01T12:00:00.123Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus:9090/graph?g0.expr=...",
                "fingerprint": "c0ffee0000000001"
            },
            {
                "status": "resolved",
                "labels": {"alertname": "HighLatency", "systemname": "web", "instance": "web-2"},
                "annotations": {"summary": "p99 latency ok on web-2"},
                "startsAt": "2024-05-01T11:00:00Z",
                "endsAt": "2024-05-01T12:01:00+09:00",
                "generatorURL": "",
                "fingerprint": "c0ffee0000000002"
            },
            {
                "status": "firing",
                "labels": {"alertname": "HighLatency", "systemname": "web", "instance": "web-3", "empty": ""},
                "annotations": {},
                "startsAt": "2024-05-01T12:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z"
            }
        ]
    })
}

fn cloudwatch(state: &str) -> Value {
    json!({
        "AlarmName": "api-5xx-high",
        "AlarmDescription": "API 5xx rate above 1%",
        "AWSAccountId": "123456789012",
        "AlarmConfigurationUpdatedTimestamp": "2024-04-01T00:00:00.000+0000",
        "NewStateValue": state,
        "NewStateReason": "Threshold Crossed: 1 datapoint [5.0] was greater than the threshold (1.0).",
        "StateChangeTime": "2024-05-01T12:00:00.123+0000",
        "Region": "Asia Pacific (Tokyo)",
        "AlarmArn": "arn:aws:cloudwatch:ap-northeast-1:123456789012:alarm:api-5xx-high",
        "OldStateValue": "OK",
        "OKActions": [],
        "AlarmActions": ["arn:aws:sns:ap-northeast-1:123456789012:alerts"],
        "InsufficientDataActions": [],
        "Trigger": {
            "MetricName": "HTTPCode_Target_5XX_Count",
            "Namespace": "AWS/ApplicationELB",
            "StatisticType": "Statistic",
            "Statistic": "SUM",
            "Unit": null,
            "Dimensions": [{"value": "app/api/123", "name": "LoadBalancer"}, {"value": "x", "name": "region"}],
            "Period": 60,
            "EvaluationPeriods": 1,
            "ComparisonOperator": "GreaterThanThreshold",
            "Threshold": 1.0,
            "TreatMissingData": "missing",
            "EvaluateLowSampleCountPercentile": ""
        }
    })
}

fn eventbridge(state: &str) -> Value {
    json!({
        "version": "0",
        "id": "c4c1c1c9-6542-e61b-6ef0-8c4d36933a92",
        "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch",
        "account": "123456789012",
        "time": "2024-05-01T12:00:00Z",
        "region": "ap-northeast-1",
        "resources": ["arn:aws:cloudwatch:ap-northeast-1:123456789012:alarm:api-5xx-high"],
        "detail": {
            "alarmName": "api-5xx-high",
            "state": {"value": state, "reason": "Threshold Crossed", "reasonData": "{}", "timestamp": "2024-05-01T12:00:00.456+0000"},
            "previousState": {"value": "OK", "reason": "", "timestamp": "2024-05-01T11:00:00.000+0000"},
            "configuration": {
                "description": "API 5xx rate above 1%",
                "metrics": [{
                    "id": "m1",
                    "metricStat": {
                        "metric": {"namespace": "AWS/ApplicationELB", "name": "HTTPCode_Target_5XX_Count", "dimensions": {"LoadBalancer": "app/api/123", "region": "x"}},
                        "period": 60,
                        "stat": "Sum"
                    },
                    "returnData": true
                }]
            }
        }
    })
}

fn grafana() -> Value {
    json!({
        "receiver": "ringdown",
        "status": "firing",
        "orgId": 1,
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "DiskFull", "grafana_folder": "infra", "systemname": "db"},
                "annotations": {"summary": "disk 95% on db-1"},
                "startsAt": "2024-05-01T12:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://grafana/alerting/grafana/abc/view",
                "fingerprint": "a1b2c3d4e5f60708",
                "silenceURL": "http://grafana/alerting/silence/new",
                "dashboardURL": "",
                "panelURL": "",
                "values": {"B": 95.2, "C": 1},
                "valueString": "[ var='B' labels={} value=95.2 ]"
            },
            {
                "status": "resolved",
                "labels": {"alertname": "DiskFull", "systemname": "db2"},
                "annotations": {},
                "startsAt": "2024-05-01T10:00:00Z",
                "endsAt": "2024-05-01T12:00:00Z",
                "generatorURL": "",
                "fingerprint": "a1b2c3d4e5f60709",
                "values": null
            }
        ],
        "groupLabels": {"alertname": "DiskFull"},
        "commonLabels": {"alertname": "DiskFull"},
        "commonAnnotations": {},
        "externalURL": "http://grafana/",
        "version": "1",
        "groupKey": "{}/{}:{alertname=\"DiskFull\"}",
        "truncatedAlerts": 0,
        "title": "[FIRING:1] DiskFull",
        "state": "alerting",
        "message": "**Firing** ..."
    })
}

fn alertinfo_inner() -> Value {
    json!({"alertinfo": [
        {"host": "Serve1", "service": "CPU Utilization", "lastcheck": "2023-10-03 13:20:52", "systemname": "XYZ"},
        {"host": "Serve2", "service": "Disk", "lastcheck": "2023-10-03 13:21:00", "systemname": "XYZ", "status": "RECOVERY", "port": 22, "output": "DISK OK"}
    ]})
}

fn label<'a>(a: &'a Alert, k: &str) -> &'a str {
    a.labels.get(k).map(String::as_str).unwrap_or("")
}

fn ann<'a>(a: &'a Alert, k: &str) -> &'a str {
    a.annotations.get(k).map(String::as_str).unwrap_or("")
}

fn utc(s: &str) -> Option<DateTime<Utc>> {
    Some(DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc))
}

// --- formats -----------------------------------------------------------------

#[test]
fn alertmanager_webhook_firing_and_resolved() {
    let alerts = p(&alertmanager()).unwrap();
    assert_eq!(alerts.len(), 3);
    let a = &alerts[0];
    assert_eq!(a.source, Source::Alertmanager);
    assert_eq!(a.status, Status::Firing);
    assert_eq!(
        a.fingerprint, "c0ffee0000000001",
        "Alertmanager's own fingerprint"
    );
    assert_eq!(label(a, "instance"), "web-1");
    assert_eq!(a.title(), "p99 latency 4s on web-1");
    assert_eq!(a.starts_at, utc("2024-05-01T12:00:00.123Z"));
    assert_eq!(a.ends_at, None, "Go zero time means not set");
    assert!(ann(a, "generator_url").starts_with("http://prometheus"));
    let r = &alerts[1];
    assert_eq!(r.status, Status::Resolved);
    assert_eq!(r.ends_at, utc("2024-05-01T03:01:00Z"));
    assert!(!r.annotations.contains_key("generator_url"));
    let c = &alerts[2];
    assert_eq!(c.fingerprint, crate::fingerprint::fingerprint(&c.labels));
    assert!(!c.labels.contains_key("empty"), "empty labels are dropped");
}

#[test]
fn alertmanager_without_version_and_per_alert_status_uses_group_status() {
    let v = json!({"status": "resolved", "alerts": [{"labels": {"alertname": "X"}}]});
    let a = &p(&v).unwrap()[0];
    assert_eq!(a.source, Source::Alertmanager);
    assert_eq!(a.status, Status::Resolved);
    assert_eq!(p(&json!({"alerts": []})).unwrap(), vec![]);
}

#[test]
fn grafana_webhook_firing_and_resolved() {
    let alerts = p(&grafana()).unwrap();
    assert_eq!(alerts.len(), 2);
    assert!(alerts.iter().all(|a| a.source == Source::Grafana));
    let a = &alerts[0];
    assert_eq!(a.status, Status::Firing);
    assert_eq!(a.fingerprint, "a1b2c3d4e5f60708");
    assert_eq!(label(a, "grafana_folder"), "infra");
    assert_eq!(ann(a, "value_string"), "[ var='B' labels={} value=95.2 ]");
    assert!(!a.annotations.contains_key("dashboard_url"));
    assert_eq!(alerts[1].status, Status::Resolved);
    assert_eq!(alerts[1].ends_at, utc("2024-05-01T12:00:00Z"));
}

#[test]
fn cloudwatch_alarm_states() {
    let a = &p(&cloudwatch("ALARM")).unwrap()[0];
    assert_eq!(a.source, Source::Cloudwatch);
    assert_eq!(a.status, Status::Firing);
    assert_eq!(label(a, "alertname"), "api-5xx-high");
    assert_eq!(
        label(a, "region"),
        "ap-northeast-1",
        "region code from the ARN"
    );
    assert_eq!(label(a, "account"), "123456789012");
    assert_eq!(label(a, "namespace"), "AWS/ApplicationELB");
    assert_eq!(label(a, "metric"), "HTTPCode_Target_5XX_Count");
    assert_eq!(label(a, "LoadBalancer"), "app/api/123");
    assert_eq!(
        label(a, "dimension_region"),
        "x",
        "dimensions never overwrite"
    );
    assert_eq!(a.title(), "API 5xx rate above 1%");
    assert!(ann(a, "description").starts_with("Threshold Crossed"));
    assert_eq!(a.starts_at, utc("2024-05-01T12:00:00.123Z"));
    assert_eq!(a.fingerprint, crate::fingerprint::fingerprint(&a.labels));

    let ok = &p(&cloudwatch("OK")).unwrap()[0];
    assert_eq!(ok.status, Status::Resolved);
    assert_eq!(ok.ends_at, utc("2024-05-01T12:00:00.123Z"));
    assert_eq!(ok.fingerprint, a.fingerprint, "resolve matches the alarm");

    let insuf = &p(&cloudwatch("INSUFFICIENT_DATA")).unwrap()[0];
    assert_eq!(insuf.status, Status::Firing);
    assert_eq!(label(insuf, "insufficient_data"), "true");

    let mut composite = cloudwatch("ALARM");
    composite.as_object_mut().unwrap().remove("Trigger");
    composite["AlarmDescription"] = Value::Null;
    let c = &p(&composite).unwrap()[0];
    assert_eq!(c.title(), "api-5xx-high");
    assert!(!c.labels.contains_key("metric"));

    let e = err(&cloudwatch("BROKEN"));
    assert_eq!(e.reason_code(), "invalid_field");
    assert!(e.to_string().contains("NewStateValue"), "{e}");
}

#[test]
fn eventbridge_alarm_state_change() {
    let a = &p(&eventbridge("ALARM")).unwrap()[0];
    assert_eq!(a.source, Source::Eventbridge);
    assert_eq!(a.status, Status::Firing);
    assert_eq!(a.starts_at, utc("2024-05-01T12:00:00.456Z"));
    assert_eq!(ann(a, "previous_state"), "OK");
    let cw = &p(&cloudwatch("ALARM")).unwrap()[0];
    assert_eq!(a.labels, cw.labels, "same alarm, same labels, either path");
    assert_eq!(a.fingerprint, cw.fingerprint);
    let ok = &p(&eventbridge("OK")).unwrap()[0];
    assert_eq!(ok.status, Status::Resolved);

    let mut other = eventbridge("ALARM");
    other["detail-type"] = json!("EC2 Instance State-change Notification");
    let e = err(&other);
    assert_eq!(e.reason_code(), "unknown_format");
    assert!(e.to_string().contains("EC2 Instance State-change"), "{e}");

    let mut bad = eventbridge("ALARM");
    bad["detail"]["state"] = json!("ALARM");
    let e = err(&bad);
    assert!(
        e.to_string()
            .starts_with("detail.state: expected an object"),
        "{e}"
    );
}

#[test]
fn generic_objects_and_arrays() {
    let v = json!({"title": "Disk full", "labels": {"systemname": "db", "team": ""}, "annotations": {"runbook": "x"}, "starts_at": "2024-05-01T12:00:00+09:00", "description": "95%"});
    let a = &p(&v).unwrap()[0];
    assert_eq!(a.source, Source::Generic);
    assert_eq!(a.status, Status::Firing);
    assert_eq!(label(a, "alertname"), "Disk full");
    assert_eq!(ann(a, "summary"), "Disk full");
    assert_eq!(ann(a, "description"), "95%");
    assert_eq!(a.starts_at, utc("2024-05-01T03:00:00Z"));
    assert!(!a.labels.contains_key("team"));

    let arr = json!([
        {"title": "A", "status": "firing"},
        {"title": "A", "status": "RESOLVED"},
        {"labels": {"alertname": "B"}}
    ]);
    let alerts = p(&arr).unwrap();
    assert_eq!(alerts.len(), 3);
    assert_eq!(alerts[1].status, Status::Resolved);
    assert_eq!(alerts[0].fingerprint, alerts[1].fingerprint);
    assert_eq!(alerts[2].title(), "B");

    let e = err(&json!({"labels": {"systemname": "db"}}));
    assert_eq!(e.reason_code(), "missing_field");
    assert!(e.to_string().starts_with("title: missing"), "{e}");
    let e = err(&json!([{"title": "A"}, {"title": "B", "status": "on fire"}]));
    assert_eq!(
        e.to_string(),
        "[1].status: expected \"firing\" or \"resolved\", found the string \"on fire\""
    );
}

#[test]
fn alertinfo_string_and_object_input() {
    let v = json!({"input": alertinfo_inner().to_string()});
    let alerts = p(&v).unwrap();
    assert_eq!(alerts.len(), 2);
    let a = &alerts[0];
    assert_eq!(a.source, Source::Alertinfo);
    assert_eq!(a.status, Status::Firing);
    assert_eq!(label(a, "alertname"), "CPU Utilization");
    assert_eq!(label(a, "host"), "Serve1");
    assert_eq!(label(a, "systemname"), "XYZ");
    assert_eq!(ann(a, "lastcheck"), "2023-10-03 13:20:52");
    assert!(
        !a.labels.contains_key("lastcheck"),
        "lastcheck is not identity"
    );
    assert_eq!(a.starts_at, None, "local time without zone is not guessed");
    assert_eq!(a.title(), "CPU Utilization on Serve1");
    let r = &alerts[1];
    assert_eq!(r.status, Status::Resolved);
    assert_eq!(label(r, "port"), "22");
    assert_eq!(ann(r, "output"), "DISK OK");
    assert!(!r.labels.contains_key("status"));

    // Same entry firing and recovering: same fingerprint.
    let fire = json!({"input": {"alertinfo": [{"host": "h", "service": "s", "lastcheck": "2023-10-03 13:00:00"}]}});
    let ok = json!({"input": {"alertinfo": [{"host": "h", "service": "s", "lastcheck": "2023-10-03 13:05:00", "status": "ok"}]}});
    assert_eq!(
        p(&fire).unwrap()[0].fingerprint,
        p(&ok).unwrap()[0].fingerprint
    );
    // The inner object on its own is accepted too.
    assert_eq!(p(&alertinfo_inner()).unwrap().len(), 2);

    let e = err(
        &json!({"input": "{\"alertinfo\": [{\"host\": \"h\", \"service\": \"s\", \"lastcheck\": \"yesterday\"}]}"}),
    );
    assert_eq!(e.reason_code(), "invalid_timestamp");
    assert!(
        e.to_string().starts_with("input.alertinfo[0].lastcheck:"),
        "{e}"
    );
    let e = err(&json!({"input": "{not json"}));
    assert_eq!(e.reason_code(), "invalid_json");
    assert!(e.to_string().starts_with("input is not valid JSON"), "{e}");
    let e = err(&json!({"input": {"alertinfo": [{"host": "h"}]}}));
    assert!(
        e.to_string()
            .starts_with("input.alertinfo[0].service: missing"),
        "{e}"
    );
}

#[test]
fn sns_wrapped_json_payloads() {
    for (payload, source, n) in [
        (alertmanager(), Source::Alertmanager, 3),
        (grafana(), Source::Grafana, 2),
        (cloudwatch("ALARM"), Source::Cloudwatch, 1),
        (eventbridge("OK"), Source::Eventbridge, 1),
        (json!({"title": "x"}), Source::Generic, 1),
        (
            json!({"input": alertinfo_inner().to_string()}),
            Source::Alertinfo,
            2,
        ),
    ] {
        let direct = p(&payload).unwrap();
        let wrapped = p(&sns(&payload.to_string())).unwrap();
        assert_eq!(wrapped.len(), n);
        assert_eq!(wrapped[0].source, source);
        assert_eq!(wrapped, direct, "wrapping changes nothing");
    }
    // Errors inside the envelope say so.
    let e = err(&sns(&json!({"alerts": [{"labels": []}]}).to_string()));
    assert_eq!(
        e.to_string(),
        "Message.alerts[0].labels: expected an object of strings, found an array"
    );
    // Envelopes are unwrapped once, not recursively.
    let twice = sns(&sns("{\"title\": \"x\"}").to_string());
    assert_eq!(err(&twice).reason_code(), "unknown_format");
}

#[test]
fn sns_plain_text_from_alertmanager_sns_receiver() {
    // The sample from DESIGN.md.
    let body = r#"{"Type": "Notification", "Subject": "[FIRING] Latency", "Message": "p99 4s ",
 "MessageAttributes": {"status": {"Type": "String", "Value": "firing"},
                       "systemname": {"Type": "String", "Value": "web"}},
 "MessageId": "m-1", "TopicArn": "arn:aws:sns:ap-northeast-1:123456789012:alerts", "Timestamp": "2024-05-01T12:00:00.000Z", "SignatureVersion": "2"}"#;
    let alerts = parse(body.as_bytes()).unwrap();
    assert_eq!(alerts.len(), 1);
    let a = &alerts[0];
    assert_eq!(a.source, Source::Generic);
    assert_eq!(a.status, Status::Firing);
    assert_eq!(a.title(), "Latency");
    assert_eq!(a.description(), Some("p99 4s"));
    assert_eq!(label(a, "alertname"), "Latency");
    assert_eq!(label(a, "systemname"), "web");
    assert!(!a.labels.contains_key("status"), "status is not identity");

    // Resolved through the subject prefix; same fingerprint as the firing one.
    let resolved = body
        .replace("[FIRING] Latency", "[RESOLVED] Latency")
        .replace(r#""status": {"Type": "String", "Value": "firing"},"#, "");
    let r = &parse(resolved.as_bytes()).unwrap()[0];
    assert_eq!(r.status, Status::Resolved);
    assert_eq!(r.fingerprint, a.fingerprint);

    // `[FIRING:3]` prefix, alertname attribute, binary attributes ignored,
    // text that starts with `[` but is not JSON.
    let v = json!({"Type": "Notification", "Subject": "[FIRING:3] HighLatency (web critical)",
        "Message": "[FIRING:3] 3 alerts\n- web-1\n- web-2",
        "MessageAttributes": {"alertname": {"Type": "String", "Value": "HighLatency"},
                              "blob": {"Type": "Binary", "Value": "AAEC"}}});
    let a = &p(&v).unwrap()[0];
    assert_eq!(a.title(), "HighLatency (web critical)");
    assert_eq!(label(a, "alertname"), "HighLatency");
    assert!(!a.labels.contains_key("blob"));
    assert!(ann(a, "description").contains("web-2"));

    // No subject: the first line of the message is the title.
    let a = &p(&sns("\n  Disk full on db-1\nmore")).unwrap()[0];
    assert_eq!(a.title(), "Disk full on db-1");

    // A status attribute it cannot read is an error naming it.
    let v = json!({"Type": "Notification", "Subject": "x", "Message": "y",
        "MessageAttributes": {"status": {"Type": "String", "Value": "weird"}}});
    let e = err(&v);
    assert!(
        e.to_string().starts_with("MessageAttributes.status.Value:"),
        "{e}"
    );
}

#[test]
fn strip_status_prefix_variants() {
    use super::sns::strip_status_prefix as s;
    assert_eq!(s("[FIRING:12] A b"), ("A b", Some(Status::Firing)));
    assert_eq!(s("[FIRING] A"), ("A", Some(Status::Firing)));
    assert_eq!(s("[resolved] A"), ("A", Some(Status::Resolved)));
    assert_eq!(s("[RESOLVED:1]A"), ("A", Some(Status::Resolved)));
    assert_eq!(s("[prod] A"), ("[prod] A", None));
    assert_eq!(s("[FIRING:x] A"), ("[FIRING:x] A", None));
    assert_eq!(s("A"), ("A", None));
    assert_eq!(s("[FIRING"), ("[FIRING", None));
}

#[test]
fn sns_that_is_not_a_notification() {
    let v = json!({"Type": "SubscriptionConfirmation", "Message": "You have chosen to subscribe",
        "TopicArn": "arn:aws:sns:...", "SubscribeURL": "https://sns..."});
    let e = err(&v);
    assert_eq!(e.reason_code(), "sns_not_notification");
    assert!(e.to_string().contains("SubscribeURL"), "{e}");
}

#[test]
fn aws_time_formats() {
    let p = Path::ROOT;
    assert_eq!(
        time("2024-05-01T12:00:00.123+0000", &p).unwrap(),
        utc("2024-05-01T12:00:00.123Z")
    );
    assert_eq!(
        time("2024-05-01T12:00:00+09:00", &p).unwrap(),
        utc("2024-05-01T03:00:00Z")
    );
    assert_eq!(time("0001-01-01T00:00:00Z", &p).unwrap(), None);
    assert_eq!(time("", &p).unwrap(), None);
    assert!(time("2024-05-01", &p).is_err());
}

// --- errors --------------------------------------------------------------------

#[test]
fn error_kinds_have_codes_and_readable_messages() {
    let cases: Vec<(Vec<u8>, &str, &str)> = vec![
        (b"".to_vec(), "empty", "empty"),
        (b"  \n ".to_vec(), "empty", "empty"),
        (vec![b'{', 0xff, b'}'], "invalid_utf8", "offset 1"),
        (b"hello".to_vec(), "invalid_json", "raw message delivery"),
        (b"{\"title\": ".to_vec(), "invalid_json", "not valid JSON"),
        (b"42".to_vec(), "unknown_format", "a number"),
        (
            b"{\"foo\": 1, \"bar\": 2}".to_vec(),
            "unknown_format",
            "\"bar\", \"foo\"",
        ),
        (b"{}".to_vec(), "unknown_format", "empty object"),
        (
            b"{\"alerts\": {}}".to_vec(),
            "invalid_field",
            "alerts: expected an array of alerts, found an object",
        ),
        (
            b"{\"alerts\": [{\"labels\": {\"a\": 1}}]}".to_vec(),
            "invalid_field",
            "alerts[0].labels: expected an object of strings, found \"a\" is a number",
        ),
        (
            b"{\"alerts\": [1]}".to_vec(),
            "invalid_field",
            "alerts[0]: expected an alert object, found the number 1",
        ),
        (
            b"{\"alerts\": [{\"startsAt\": \"yesterday\"}]}".to_vec(),
            "invalid_timestamp",
            "alerts[0].startsAt: \"yesterday\" is not a valid time",
        ),
        (
            b"{\"alerts\": [{\"status\": \"pending\"}]}".to_vec(),
            "invalid_field",
            "alerts[0].status: expected \"firing\" or \"resolved\"",
        ),
        (
            b"{\"title\": 5}".to_vec(),
            "invalid_field",
            "title: expected a string, found the number 5",
        ),
    ];
    for (body, code, text) in cases {
        let e = parse(&body).expect_err(&String::from_utf8_lossy(&body));
        assert_eq!(e.reason_code(), code, "{e}");
        assert!(e.to_string().contains(text), "{e:?} / {e}");
    }
}

#[test]
fn limits_are_enforced() {
    let limits = Limits {
        max_message_bytes: 4096,
        max_alerts: 2,
        max_name_bytes: 12,
        max_value_bytes: 16,
        max_labels: 3,
        max_depth: 5,
    };
    let pl = |v: Value| parse_with(v.to_string().as_bytes(), &limits).unwrap_err();

    let big = vec![b' '; 4097];
    let e = parse_with(&big, &limits).unwrap_err();
    assert_eq!(
        e,
        ParseError::TooLarge {
            size: 4097,
            max: 4096
        }
    );

    let three = json!({"alerts": [{}, {}, {}]});
    assert_eq!(pl(three).reason_code(), "too_many_alerts");
    let three = json!([{"title": "a"}, {"title": "b"}, {"title": "c"}]);
    assert_eq!(pl(three).reason_code(), "too_many_alerts");
    let three =
        json!({"input": {"alertinfo": [{"service": "a"}, {"service": "b"}, {"service": "c"}]}});
    let e = pl(three);
    assert_eq!(e.reason_code(), "too_many_alerts");
    assert!(
        e.to_string().starts_with("input.alertinfo: 3 alerts"),
        "{e}"
    );

    let e = pl(json!({"title": "x", "labels": {"a": "1", "b": "2", "c": "3", "d": "4"}}));
    assert_eq!(e.reason_code(), "too_many_labels");
    // `alertname` added from the title makes four.
    let e = pl(json!({"title": "x", "labels": {"a": "1", "b": "2", "c": "3"}}));
    assert_eq!(e.reason_code(), "too_many_labels");

    let e = pl(json!({"title": "x", "labels": {"much_too_long_name": "1"}}));
    assert_eq!(e.reason_code(), "name_too_long");
    assert_eq!(
        e.to_string(),
        "labels: name \"much_too_long_name\" is 18 bytes, longer than the limit of 12 bytes"
    );
    let e = pl(json!({"alerts": [{"labels": {"a": "01234567890123456"}}]}));
    assert_eq!(e.reason_code(), "value_too_long");
    assert_eq!(
        e.to_string(),
        "alerts[0].labels.a: value is 17 bytes, longer than the limit of 16 bytes"
    );
    let e = pl(json!({"title": "x", "annotations": {"d": "01234567890123456"}}));
    assert_eq!(e.reason_code(), "value_too_long");

    let deep = json!({"title": "x", "extra": [[[[[1]]]]]});
    let e = pl(deep);
    assert_eq!(e.reason_code(), "too_deep");

    // The SNS text description is cut to the value limit, not rejected.
    let v = json!({"Type": "Notification", "Subject": "x", "Message": "0123456789abcdefghij"});
    let a = &parse_with(v.to_string().as_bytes(), &limits).unwrap()[0];
    assert!(ann(a, "description").len() <= 16);
    assert!(ann(a, "description").ends_with('…'));
}

#[test]
fn serde_recursion_limit_is_an_error_not_a_panic() {
    let limits = Limits {
        max_depth: 100_000,
        ..Limits::default()
    };
    let mut body = "[".repeat(50_000);
    body.push_str(&"]".repeat(50_000));
    let e = parse_with(body.as_bytes(), &limits).unwrap_err();
    assert_eq!(e.reason_code(), "too_deep");
    let e = parse(body.as_bytes()).unwrap_err();
    assert_eq!(e.reason_code(), "too_deep");
    // Brackets inside strings do not count.
    let v = json!({"title": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["});
    assert!(p(&v).is_ok());
}

#[test]
fn label_order_does_not_change_the_fingerprint() {
    let a = br#"{"title": "x", "labels": {"b": "2", "a": "1", "c": "3"}}"#;
    let b = br#"{"title": "x", "labels": {"c": "3", "a": "1", "b": "2"}}"#;
    let fa = &parse(a).unwrap()[0];
    let fb = &parse(b).unwrap()[0];
    assert_eq!(fa.fingerprint, fb.fingerprint);
    let a = br#"{"alerts": [{"labels": {"b": "2", "a": "1"}}]}"#;
    let b = br#"{"alerts": [{"labels": {"a": "1", "b": "2"}}]}"#;
    assert_eq!(
        parse(a).unwrap()[0].fingerprint,
        parse(b).unwrap()[0].fingerprint
    );
}

// --- properties --------------------------------------------------------------------

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::String),
        prop::sample::select(vec![
            "firing",
            "resolved",
            "ALARM",
            "OK",
            "INSUFFICIENT_DATA",
            "Notification",
            "4",
            "1",
            "2024-05-01T12:00:00Z",
            "0001-01-01T00:00:00Z",
            "CloudWatch Alarm State Change",
            "{\"alertinfo\": [{\"service\": \"s\"}]}",
            "{\"title\": \"t\"}",
            "[FIRING:2] x",
        ])
        .prop_map(|s| Value::String(s.to_string())),
    ];
    let keys = prop::sample::select(vec![
        "alerts",
        "labels",
        "annotations",
        "status",
        "title",
        "version",
        "orgId",
        "Type",
        "Message",
        "Subject",
        "MessageAttributes",
        "AlarmName",
        "NewStateValue",
        "Trigger",
        "Dimensions",
        "detail-type",
        "detail",
        "state",
        "value",
        "input",
        "alertinfo",
        "service",
        "host",
        "lastcheck",
        "startsAt",
        "endsAt",
        "fingerprint",
        "name",
        "configuration",
        "metrics",
        "metricStat",
        "metric",
        "dimensions",
        "Value",
        "x",
    ]);
    leaf.prop_recursive(5, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(keys.clone().prop_map(String::from), inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse(&bytes);
    }

    #[test]
    fn arbitrary_json_never_panics(v in arb_json()) {
        let text = v.to_string();
        let _ = parse(text.as_bytes());
        // And wrapped in an SNS envelope.
        let _ = parse(sns(&text).to_string().as_bytes());
        if let Ok(alerts) = parse(text.as_bytes()) {
            for a in alerts {
                prop_assert!(!a.fingerprint.is_empty());
            }
        }
    }

    #[test]
    fn label_order_never_matters(pairs in prop::collection::vec(("[a-z]{1,6}", "[a-z0-9]{1,6}"), 1..10)) {
        let fwd: Vec<String> = pairs.iter().map(|(k, v)| format!("{k:?}: {v:?}")).collect();
        let mut rev = fwd.clone();
        rev.reverse();
        let body = |items: &[String]| format!("{{\"title\": \"t\", \"labels\": {{{}}}}}", items.join(", "));
        // Duplicate keys keep the last value, so only compare when keys are unique.
        let mut keys: Vec<&String> = pairs.iter().map(|(k, _)| k).collect();
        keys.sort();
        keys.dedup();
        prop_assume!(keys.len() == pairs.len());
        let a = parse(body(&fwd).as_bytes()).unwrap();
        let b = parse(body(&rev).as_bytes()).unwrap();
        prop_assert_eq!(&a[0].fingerprint, &b[0].fingerprint);
    }
}

/// The general path, bypassing the webhook fast path.
fn slow(text: &str) -> Result<Vec<Alert>, ParseError> {
    let limits = Limits::default();
    let v = json(text, &Path::ROOT, &limits)?;
    detect(v, &Path::ROOT, &limits, true)
}

#[test]
fn fast_path_agrees_with_general_path_on_samples() {
    for v in [
        alertmanager(),
        grafana(),
        json!({"alerts": []}),
        json!({"status": "resolved", "alerts": [{"labels": {"a": "b"}}]}),
    ] {
        let text = v.to_string();
        let fast =
            fast::webhook(&text, &Path::ROOT, &Limits::default()).expect("fast path takes it");
        assert_eq!(Ok(fast), slow(&text));
    }
    // Unusual shapes are left to the general path.
    for v in [
        json!({"alerts": [{"labels": {"a": 1}}]}),
        json!({"alerts": [{"startsAt": "nope"}]}),
        json!({"Type": "Notification", "Message": "x", "alerts": []}),
        json!({"alerts": [], "version": 4}),
    ] {
        assert_eq!(
            fast::webhook(&v.to_string(), &Path::ROOT, &Limits::default()),
            None
        );
    }
}

#[test]
fn fast_path_refuses_what_the_general_path_refuses_in_fields_it_skips() {
    // Found by the `parse_alert` fuzz target: a lone surrogate escape in a
    // `commonLabels` key was accepted by the fast path (serde_json does not
    // check what `IgnoredAny` skips) but is invalid JSON to the general path.
    // Numbers out of range were the same.
    let long = format!(r#"{{"alerts": [], "n": 1{}}}"#, "0".repeat(400));
    let bodies = [
        r#"{"version": "4", "commonLabels": {"ale\ud800": "x"}, "alerts": [{"labels": {"alertname": "A"}}]}"#,
        r#"{"version": "4", "groupKey": "\udc00", "alerts": []}"#,
        r#"{"version": "4", "truncatedAlerts": 1e400, "alerts": []}"#,
        r#"{"alerts": [{"labels": {"alertname": "A"}, "values": {"B": -1e999}}]}"#,
        long.as_str(),
    ];
    for body in bodies {
        let fast = try_fast(body, &Path::ROOT, &Limits::default()).unwrap();
        assert!(fast.is_none(), "{body}");
        let e = parse(body.as_bytes()).unwrap_err();
        assert_eq!(e.reason_code(), "invalid_json", "{e}");
        assert_eq!(Err(e), slow(body));
    }
    // Also refused here, decided by the general path: a key given twice, an
    // alert that is an array, and (with a depth limit above serde_json's 128)
    // a skipped field nested too deep.
    for body in [
        r#"{"alerts": [], "alerts": [{"labels": {"alertname": "A"}}]}"#,
        r#"{"version": "1", "version": "4", "alerts": []}"#,
        r#"{"alerts": [{"labels": {"alertname": "A"}, "labels": {"alertname": "B"}}]}"#,
        r#"{"alerts": [["firing", {"alertname": "A"}]]}"#,
        r#"[[{"alertname": "A"}]]"#,
    ] {
        let fast = try_fast(body, &Path::ROOT, &Limits::default()).unwrap();
        assert!(fast.is_none(), "{body}");
        assert_eq!(parse(body.as_bytes()), slow(body), "{body}");
    }
    let deep = Limits {
        max_depth: 1000,
        ..Limits::default()
    };
    let body = format!(
        r#"{{"alerts": [], "x": {}{}}}"#,
        "[".repeat(200),
        "]".repeat(200)
    );
    assert!(try_fast(&body, &Path::ROOT, &deep).unwrap().is_none());
    assert_eq!(
        parse_with(body.as_bytes(), &deep)
            .unwrap_err()
            .reason_code(),
        "too_deep"
    );
    // A valid surrogate pair and a large finite number stay on the fast path.
    let ok = r#"{"version": "4", "commonLabels": {"emoji": "\ud83d\ude00"}, "n": 1e300, "alerts": [{"labels": {"alertname": "A"}}]}"#;
    assert!(try_fast(ok, &Path::ROOT, &Limits::default())
        .unwrap()
        .is_some());
    assert_eq!(parse(ok.as_bytes()), slow(ok));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn fast_path_never_disagrees(v in arb_json(), alerts in prop::collection::vec(arb_json(), 0..4), grafana in any::<bool>()) {
        let mut obj = match v {
            Value::Object(o) => o,
            _ => Map::new(),
        };
        obj.insert("alerts".into(), Value::Array(alerts));
        if grafana {
            obj.insert("orgId".into(), json!(1));
        }
        let text = Value::Object(obj).to_string();
        if let Some(fast) = fast::webhook(&text, &Path::ROOT, &Limits::default()) {
            prop_assert_eq!(Ok(fast), slow(&text));
        }
        let _ = parse(text.as_bytes());
    }

    #[test]
    fn fast_path_agrees_on_well_formed_alerts(
        labels in prop::collection::btree_map("[a-z]{1,5}", "[a-z0-9]{0,5}", 0..6),
        ann in prop::collection::btree_map("[a-z]{1,5}", ".{0,8}", 0..4),
        status in prop::sample::select(vec!["firing", "resolved", "", "FIRING"]),
        fp in prop::option::of("[0-9a-f]{16}"),
        ends in prop::sample::select(vec!["0001-01-01T00:00:00Z", "2024-05-01T12:00:00.5+09:00", ""]),
    ) {
        let mut a = json!({"status": status, "labels": labels, "annotations": ann, "startsAt": "2024-05-01T12:00:00Z", "endsAt": ends, "generatorURL": "http://x"});
        if let Some(fp) = fp {
            a["fingerprint"] = json!(fp);
        }
        let text = json!({"version": "4", "status": "firing", "alerts": [a]}).to_string();
        let fast = fast::webhook(&text, &Path::ROOT, &Limits::default());
        prop_assert!(fast.is_some());
        prop_assert_eq!(Ok(fast.unwrap()), slow(&text));
    }
}

/// The depth check as first written, a byte at a time: the reference the
/// skipping scan must agree with.
fn exceeds_depth_bytewise(bytes: &[u8], max: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in bytes {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn the_depth_scan_that_skips_strings_agrees_with_the_bytewise_one(
        text in "[\\[\\]{}\"\\\\a:,]{0,64}",
        max in 0usize..6,
    ) {
        prop_assert_eq!(
            exceeds_depth(text.as_bytes(), max),
            exceeds_depth_bytewise(text.as_bytes(), max)
        );
    }
}

#[test]
fn a_skipped_field_nested_past_the_limit_is_too_deep_on_either_path() {
    // The fast path no longer scans the text first: it counts nesting in the
    // fields it skips and leaves a message that goes too deep to the general
    // path, which refuses it; one level less is taken by the fast path.
    let limits = Limits {
        max_depth: 10,
        ..Limits::default()
    };
    let nest = |n: usize| match n {
        0 => "0".to_string(),
        n => format!("{}{}", "[".repeat(n), "]".repeat(n)),
    };
    for (top, in_alert) in [(9, 0), (0, 7)] {
        let ok = format!(
            r#"{{"alerts": [{{"labels": {{"alertname": "A"}}, "x": {}}}], "y": {}}}"#,
            nest(in_alert),
            nest(top)
        );
        assert!(
            try_fast(&ok, &Path::ROOT, &limits).unwrap().is_some(),
            "{ok}"
        );
        let deep = format!(
            r#"{{"alerts": [{{"labels": {{"alertname": "A"}}, "x": {}}}], "y": {}}}"#,
            nest(if in_alert > 0 { in_alert + 1 } else { 0 }),
            nest(if top > 0 { top + 1 } else { 0 })
        );
        assert!(
            try_fast(&deep, &Path::ROOT, &limits).unwrap().is_none(),
            "{deep}"
        );
        assert_eq!(
            parse_with(deep.as_bytes(), &limits)
                .unwrap_err()
                .reason_code(),
            "too_deep",
            "{deep}"
        );
    }
}

#[test]
fn escaped_text_in_a_borrowed_field_stays_on_the_fast_path() {
    // Go's encoder writes `&` in a generator URL as \u0026: the string cannot
    // be borrowed from the message and is copied instead.
    let body = r#"{"version": "4", "status": "firing", "alerts": [{"labels": {"alertname": "A"}, "generatorURL": "http://p/graph?g0.expr=up\u0026g0.tab=1", "startsAt": "2024-05-01T12:00:00Z"}]}"#;
    let fast = try_fast(body, &Path::ROOT, &Limits::default())
        .unwrap()
        .expect("fast path takes it");
    assert_eq!(
        fast[0].annotations["generator_url"],
        "http://p/graph?g0.expr=up&g0.tab=1"
    );
    assert_eq!(Ok(fast), slow(body));
}
