//! [`SqsSource`] against moto: delivery, dead-lettering, redelivery after an
//! ingest failure, visibility extension, and graceful shutdown.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::types::{MessageAttributeValue, SendMessageBatchRequestEntry};
use ringdown_aws::sqs::{SqsSettings, SqsSource};
use ringdown_core::Alert;
use ringdown_engine::{Ingest, IngestError, IngestReport, StoreError};
use serde_json::json;
use tokio_util::sync::CancellationToken;

/// Records what it is given; fails the first `fail_first` calls and takes
/// `delay` per call.
#[derive(Default)]
struct Recorder {
    alerts: Mutex<Vec<Alert>>,
    calls: AtomicUsize,
    started: AtomicUsize,
    fail_first: usize,
    delay: Duration,
    /// Alerts with this `alertname` are refused for good, as DynamoDB
    /// refuses an item past its size limit.
    refuse: Option<&'static str>,
}

#[async_trait]
impl Ingest for Recorder {
    async fn ingest(&self, alerts: Vec<Alert>) -> Result<IngestReport, IngestError> {
        self.started.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        if n < self.fail_first {
            return Err(IngestError::Store(StoreError::Backend {
                message: "injected failure".into(),
                retryable: true,
                source: None,
            }));
        }
        if let Some(refused) = self.refuse {
            if alerts
                .iter()
                .any(|a| a.labels.get("alertname").map(String::as_str) == Some(refused))
            {
                return Err(IngestError::Store(StoreError::Backend {
                    message: "dynamodb PutItem: ValidationException: Item size has exceeded the maximum allowed size".into(),
                    retryable: false,
                    source: None,
                }));
            }
        }
        self.alerts.lock().unwrap().extend(alerts);
        Ok(IngestReport::default())
    }
}

impl Recorder {
    fn count(&self) -> usize {
        self.alerts.lock().unwrap().len()
    }
    fn labels_text(&self) -> String {
        self.alerts
            .lock()
            .unwrap()
            .iter()
            .map(|a| format!("{:?}", a.labels))
            .collect()
    }
}

struct Queues {
    client: aws_sdk_sqs::Client,
    url: String,
    dlq: String,
}

async fn queues(test: &str) -> Option<Queues> {
    let sdk = common::moto(test)?;
    let client = aws_sdk_sqs::Client::new(&sdk);
    let prefix = common::unique_prefix("sqs");
    let mk = |name: String| {
        let client = client.clone();
        async move {
            client
                .create_queue()
                .queue_name(name)
                .send()
                .await
                .unwrap()
                .queue_url
                .unwrap()
        }
    };
    let url = mk(format!("{prefix}alerts")).await;
    let dlq = mk(format!("{prefix}dlq")).await;
    Some(Queues { client, url, dlq })
}

fn settings(visibility: u32) -> SqsSettings {
    SqsSettings {
        wait_time_secs: 1,
        visibility_timeout_secs: visibility,
        error_backoff_max_secs: 1,
        ..SqsSettings::default()
    }
}

async fn send_all(q: &Queues, bodies: &[String]) {
    for (c, chunk) in bodies.chunks(10).enumerate() {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, b)| {
                SendMessageBatchRequestEntry::builder()
                    .id(format!("m{c}-{i}"))
                    .message_body(b)
                    .build()
                    .unwrap()
            })
            .collect::<Vec<_>>();
        let out = q
            .client
            .send_message_batch()
            .queue_url(&q.url)
            .set_entries(Some(entries))
            .send()
            .await
            .unwrap();
        assert!(out.failed().is_empty(), "{:?}", out.failed());
    }
}

async fn wait_until(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn start(
    q: &Queues,
    settings: SqsSettings,
    ingest: Arc<Recorder>,
) -> (CancellationToken, tokio::task::JoinHandle<()>, SqsSource) {
    let source = SqsSource::new(q.client.clone(), &q.url, Some(q.dlq.clone()), settings);
    let shutdown = CancellationToken::new();
    let handle = {
        let (source, shutdown) = (source.clone(), shutdown.clone());
        tokio::spawn(async move { source.run(ingest, shutdown).await })
    };
    (shutdown, handle, source)
}

async fn stop(shutdown: CancellationToken, handle: tokio::task::JoinHandle<()>) {
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(10), handle)
        .await
        .expect("source stops promptly")
        .unwrap();
}

/// What the DLQ holds (one receive, waiting up to `wait_secs`).
async fn dead_lettered(q: &Queues, wait_secs: i32) -> Vec<aws_sdk_sqs::types::Message> {
    q.client
        .receive_message()
        .queue_url(&q.dlq)
        .message_attribute_names("All")
        .max_number_of_messages(10)
        .wait_time_seconds(wait_secs)
        .send()
        .await
        .unwrap()
        .messages()
        .to_vec()
}

fn string_attrs(m: &aws_sdk_sqs::types::Message) -> HashMap<&str, &str> {
    m.message_attributes()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.as_str(), v.string_value().unwrap_or("")))
        .collect()
}

/// Waits up to 5 s for the main queue to be empty; returns its depth.
async fn drained(source: &SqsSource) -> (u64, u64) {
    let mut depth = (1, 1);
    for _ in 0..50 {
        depth = source.queue_depth().await.unwrap();
        if depth == (0, 0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    depth
}

fn alertmanager(i: usize) -> String {
    json!({
        "version": "4", "status": "firing", "receiver": "ringdown",
        "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
        "alerts": [{
            "status": "firing",
            "labels": {"alertname": format!("T{i}"), "systemname": "web"},
            "annotations": {"summary": "p99 latency"},
            "startsAt": "2024-05-01T12:00:00Z", "endsAt": "0001-01-01T00:00:00Z"
        }]
    })
    .to_string()
}

fn cloudwatch_in_sns(i: usize) -> String {
    let alarm = json!({
        "AlarmName": format!("cw-{i}"),
        "AlarmDescription": "API 5xx rate above 1%",
        "AWSAccountId": "123456789012",
        "NewStateValue": "ALARM",
        "NewStateReason": "Threshold Crossed",
        "StateChangeTime": "2024-05-01T12:00:00.123+0000",
        "Region": "Asia Pacific (Tokyo)",
        "AlarmArn": format!("arn:aws:cloudwatch:ap-northeast-1:123456789012:alarm:cw-{i}"),
        "OldStateValue": "OK",
        "Trigger": {"MetricName": "HTTPCode_Target_5XX_Count", "Namespace": "AWS/ApplicationELB",
                    "Dimensions": [], "Period": 60, "EvaluationPeriods": 1,
                    "ComparisonOperator": "GreaterThanThreshold", "Threshold": 1.0}
    });
    json!({
        "Type": "Notification",
        "MessageId": format!("00000000-0000-0000-0000-{i:012}"),
        "TopicArn": "arn:aws:sns:ap-northeast-1:123456789012:alerts",
        "Subject": "ALARM",
        "Message": alarm.to_string(),
        "Timestamp": "2024-05-01T12:00:00.000Z",
        "SignatureVersion": "1",
    })
    .to_string()
}

fn alertinfo(i: usize) -> String {
    json!({"input": json!({"alertinfo": [
        {"host": format!("h{i}"), "service": "CPU Utilization", "lastcheck": "2023-10-03 13:20:52", "systemname": "XYZ"}
    ]}).to_string()})
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_alert_is_ingested_and_the_queue_drained() {
    let Some(q) = queues("every_alert_is_ingested_and_the_queue_drained").await else {
        return;
    };
    let bodies: Vec<String> = (0..25)
        .map(|i| match i % 3 {
            0 => alertmanager(i),
            1 => cloudwatch_in_sns(i),
            _ => alertinfo(i),
        })
        .collect();
    send_all(&q, &bodies).await;

    let rec = Arc::new(Recorder::default());
    let (shutdown, handle, source) = start(&q, settings(30), rec.clone());
    wait_until("25 alerts", 30, || rec.count() >= 25).await;
    // Deletes follow the ingest call.
    let depth = drained(&source).await;
    assert_eq!(depth, (0, 0), "queue not empty (visible, in flight)");
    stop(shutdown, handle).await;

    assert_eq!(rec.count(), 25);
    let text = rec.labels_text();
    for i in 0..25 {
        let needle = match i % 3 {
            0 => format!("\"T{i}\""),
            1 => format!("\"cw-{i}\""),
            _ => format!("\"h{i}\""),
        };
        assert!(
            text.contains(&needle),
            "alert {i} ({needle}) missing from {text}"
        );
    }
    // Amortised: one ingest call per received batch, not per message.
    let calls = rec.calls.load(Ordering::SeqCst);
    assert!(calls < 25, "{calls} ingest calls for 25 messages");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unparseable_message_goes_to_the_dlq_with_its_reason() {
    let Some(q) = queues("unparseable_message_goes_to_the_dlq_with_its_reason").await else {
        return;
    };
    let bad = "this is not an alert {";
    let expected_reason = ringdown_core::parse::parse(bad.as_bytes())
        .unwrap_err()
        .reason_code();
    let sent = q
        .client
        .send_message()
        .queue_url(&q.url)
        .message_body(bad)
        .message_attributes(
            "origin",
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value("zabbix-7")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let bad_id = sent.message_id.unwrap();
    send_all(&q, &[alertmanager(1), alertinfo(2)]).await;

    let rec = Arc::new(Recorder::default());
    let (shutdown, handle, source) = start(&q, settings(30), rec.clone());
    wait_until("2 alerts", 20, || rec.count() >= 2).await;

    // The worker keeps going after it.
    send_all(&q, &[cloudwatch_in_sns(3)]).await;
    wait_until("3rd alert", 20, || rec.count() >= 3).await;

    let msgs = dead_lettered(&q, 2).await;
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    let m = &msgs[0];
    assert_eq!(m.body(), Some(bad));
    let attrs = string_attrs(m);
    assert_eq!(attrs["ringdown_reason"], expected_reason);
    assert_eq!(attrs["ringdown_source_message_id"], bad_id);
    assert!(!attrs["ringdown_error"].is_empty() && attrs["ringdown_error"].chars().count() <= 256);
    assert_eq!(attrs["origin"], "zabbix-7", "original attributes are kept");

    let depth = drained(&source).await;
    assert_eq!(depth, (0, 0), "main queue not empty");
    stop(shutdown, handle).await;
    assert_eq!(rec.count(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_ingest_leaves_messages_for_redelivery() {
    let Some(q) = queues("failed_ingest_leaves_messages_for_redelivery").await else {
        return;
    };
    send_all(&q, &[alertmanager(1), alertmanager(2), alertinfo(3)]).await;
    let rec = Arc::new(Recorder {
        fail_first: 2,
        ..Recorder::default()
    });
    let (shutdown, handle, source) = start(&q, settings(1), rec.clone());
    wait_until("first failure", 10, || {
        rec.calls.load(Ordering::SeqCst) >= 1
    })
    .await;
    // Not deleted: still on the queue (in flight until the timeout).
    let (visible, in_flight) = source.queue_depth().await.unwrap();
    assert!(
        visible + in_flight >= 1,
        "messages were deleted after a failed ingest"
    );

    wait_until("all 3 alerts after redelivery", 30, || rec.count() >= 3).await;
    assert!(rec.calls.load(Ordering::SeqCst) >= 3);
    let depth = drained(&source).await;
    assert_eq!(depth, (0, 0));
    stop(shutdown, handle).await;
    // Every alert at least once (redelivery may repeat some, never lose any).
    let text = rec.labels_text();
    for needle in ["\"T1\"", "\"T2\"", "\"h3\""] {
        assert!(text.contains(needle), "{needle} missing");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_batch_is_extended_and_finished_on_shutdown() {
    let Some(q) = queues("slow_batch_is_extended_and_finished_on_shutdown").await else {
        return;
    };
    send_all(&q, &[alertmanager(7)]).await;
    // Ingest takes 3.5 s, the visibility timeout is 2 s: without extension a
    // second poller would receive the message again while it is worked on.
    let rec = Arc::new(Recorder {
        delay: Duration::from_millis(3500),
        ..Recorder::default()
    });
    let (shutdown, handle, source) = start(&q, settings(2), rec.clone());
    wait_until("ingest started", 10, || {
        rec.started.load(Ordering::SeqCst) >= 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    // Shut down while the batch is still in ingest: it is finished, not dropped.
    assert_eq!(rec.count(), 0);
    stop(shutdown, handle).await;
    assert_eq!(rec.count(), 1, "in-flight batch finished before returning");
    assert_eq!(
        rec.started.load(Ordering::SeqCst),
        1,
        "message was delivered twice"
    );
    assert_eq!(
        source.queue_depth().await.unwrap(),
        (0, 0),
        "message deleted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_the_store_refuses_for_good_is_dead_lettered_and_the_nine_received_with_it_are_recorded(
) {
    let Some(q) = queues("a_message_the_store_refuses_for_good").await else {
        return;
    };
    // Ten messages in the queue before the poller starts: one receive
    // takes them all, the refused one among them.
    let bodies: Vec<String> = (0..10).map(alertmanager).collect();
    send_all(&q, &bodies).await;
    let rec = Arc::new(Recorder {
        refuse: Some("T3"),
        ..Recorder::default()
    });
    let (shutdown, handle, source) = start(&q, settings(30), rec.clone());
    wait_until("the nine others recorded", 20, || rec.count() >= 9).await;

    let msgs = dead_lettered(&q, 5).await;
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    assert_eq!(msgs[0].body(), Some(alertmanager(3).as_str()));
    let attrs = string_attrs(&msgs[0]);
    assert_eq!(attrs["ringdown_reason"], "ingest_refused");
    assert!(attrs["ringdown_error"].contains("Item size"), "{attrs:?}");

    let depth = drained(&source).await;
    assert_eq!(
        depth,
        (0, 0),
        "the nine were deleted, the refused one moved"
    );
    stop(shutdown, handle).await;
    let text = rec.labels_text();
    for i in (0..10).filter(|i| *i != 3) {
        assert!(text.contains(&format!("\"T{i}\"")), "T{i} missing");
    }
}
