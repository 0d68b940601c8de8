//! `bootstrap` against moto: idempotent, and the resources it wires work
//! end to end (SNS → SQS envelope → parser; fallback notices on SNS).

mod common;

use std::collections::HashMap;

use aws_sdk_sqs::types::QueueAttributeName;
use chrono::{TimeZone, Utc};
use ringdown_aws::bootstrap::{bootstrap, ResourceNames};
use ringdown_aws::sns::SnsNotifier;
use ringdown_core::escalation::{AlertSummary, Incident, Phase};
use ringdown_core::roster::Policy;
use ringdown_core::{Labels, Status};
use ringdown_engine::Notifier;
use serde_json::Value;

async fn receive_one(sqs: &aws_sdk_sqs::Client, url: &str) -> aws_sdk_sqs::types::Message {
    for _ in 0..10 {
        let out = sqs
            .receive_message()
            .queue_url(url)
            .wait_time_seconds(1)
            .message_attribute_names("All")
            .send()
            .await
            .unwrap();
        if let Some(m) = out.messages.unwrap_or_default().into_iter().next() {
            return m;
        }
    }
    panic!("no message arrived on {url}");
}

#[tokio::test]
async fn bootstrap_is_idempotent_and_sns_reaches_the_queue() {
    let Some(sdk) = common::moto("bootstrap_is_idempotent_and_sns_reaches_the_queue") else {
        return;
    };
    let names = ResourceNames::from_prefix(&common::unique_prefix("boot"));
    let first = bootstrap(&sdk, &names).await.unwrap();
    assert!(!first.created.is_empty());
    assert_eq!(first.tables.len(), 6);
    let second = bootstrap(&sdk, &names).await.unwrap();
    assert!(
        second.created.is_empty(),
        "second run created {:?}",
        second.created
    );
    assert_eq!(first.queue_url, second.queue_url);
    assert_eq!(first.alert_topic_arn, second.alert_topic_arn);
    assert_eq!(first.alert_subscription_arn, second.alert_subscription_arn);
    assert_eq!(first.stream_arn, second.stream_arn);

    // Redrive to the DLQ after 5 receives.
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&first.queue_url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .unwrap();
    let redrive: Value = serde_json::from_str(
        attrs
            .attributes()
            .unwrap()
            .get(&QueueAttributeName::RedrivePolicy)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(redrive["deadLetterTargetArn"], first.dlq_arn.as_str());
    assert_eq!(
        redrive["maxReceiveCount"].to_string().trim_matches('"'),
        "5"
    );

    // TTL on silences.
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let ttl = ddb
        .describe_time_to_live()
        .table_name(&names.tables.silences)
        .send()
        .await
        .unwrap();
    assert_eq!(
        ttl.time_to_live_description()
            .and_then(|d| d.attribute_name()),
        Some("ttl")
    );

    // Alertmanager's SNS receiver: text message, labels as attributes.
    let sns = aws_sdk_sns::Client::new(&sdk);
    sns.publish()
        .topic_arn(&first.alert_topic_arn)
        .subject("[FIRING] Latency")
        .message("p99 4s")
        .message_attributes(
            "systemname",
            aws_sdk_sns::types::MessageAttributeValue::builder()
                .data_type("String")
                .string_value("web")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let m = receive_one(&sqs, &first.queue_url).await;
    let body = m.body().unwrap();
    let envelope: Value = serde_json::from_str(body).unwrap();
    assert_eq!(
        envelope["Type"], "Notification",
        "raw delivery must be off: {body}"
    );
    let alerts = ringdown_core::parse::parse(body.as_bytes()).unwrap();
    assert_eq!(alerts.len(), 1);
    assert_eq!(
        alerts[0].labels.get("systemname").map(String::as_str),
        Some("web")
    );
    assert_eq!(alerts[0].status, Status::Firing);
    // Exactly one delivery, although bootstrap ran twice.
    let more = sqs
        .receive_message()
        .queue_url(&first.queue_url)
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap();
    assert!(
        more.messages().is_empty(),
        "duplicate subscription delivered twice"
    );
}

fn incident() -> Incident {
    let policy = Policy {
        name: "db".into(),
        matchers: vec![],
        group_by: vec!["system".into()],
        group_wait_secs: 30,
        repeat: 1,
        steps: vec![],
        ack_timeout_secs: None,
    };
    let mut labels = Labels::new();
    labels.insert("system".into(), "db".into());
    let mut inc = Incident::open(
        "20250301-020000-abcdef",
        "db",
        &policy,
        labels,
        Utc.with_ymd_and_hms(2025, 3, 1, 2, 0, 0).unwrap(),
    );
    inc.phase = Phase::Exhausted;
    inc.samples.push(AlertSummary {
        title: "データベース応答なし db-1".into(),
        status: Status::Firing,
    });
    inc
}

#[tokio::test]
async fn fallback_notice_arrives_on_the_topic_without_phone_numbers() {
    let Some(sdk) = common::moto("fallback_notice_arrives_on_the_topic_without_phone_numbers")
    else {
        return;
    };
    let names = ResourceNames::from_prefix(&common::unique_prefix("sns"));
    let report = bootstrap(&sdk, &names).await.unwrap();

    // A watcher queue subscribed to the fallback topic.
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let sns = aws_sdk_sns::Client::new(&sdk);
    let watch_url = sqs
        .create_queue()
        .queue_name(format!("{}watch", names.prefix))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let watch_arn = sqs
        .get_queue_attributes()
        .queue_url(&watch_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .unwrap()[&QueueAttributeName::QueueArn]
        .clone();
    sns.subscribe()
        .topic_arn(&report.fallback_topic_arn)
        .protocol("sqs")
        .endpoint(watch_arn)
        .send()
        .await
        .unwrap();

    let notifier = SnsNotifier::new(sns.clone(), &report.fallback_topic_arn);
    let inc = incident();
    notifier
        .fallback(&inc, "nobody acknowledged; last tried +819012345678")
        .await
        .unwrap();
    notifier
        .operator_alert(&inc, "DestinationNotAllowed for +819011112222")
        .await
        .unwrap();

    let mut seen: HashMap<String, Value> = HashMap::new();
    for _ in 0..2 {
        let m = receive_one(&sqs, &watch_url).await;
        let body = m.body().unwrap().to_string();
        assert!(
            !body.contains("9012345678") && !body.contains("9011112222"),
            "{body}"
        );
        let envelope: Value = serde_json::from_str(&body).unwrap();
        let subject = envelope["Subject"].as_str().unwrap().to_string();
        assert!(subject.len() < 100 && subject.is_ascii(), "{subject:?}");
        let kind = envelope["MessageAttributes"]["kind"]["Value"]
            .as_str()
            .unwrap()
            .to_string();
        let msg: Value = serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap();
        assert_eq!(msg["kind"], kind.as_str());
        assert!(subject.contains(&kind), "{subject:?}");
        sqs.delete_message()
            .queue_url(&watch_url)
            .receipt_handle(m.receipt_handle().unwrap())
            .send()
            .await
            .unwrap();
        seen.insert(kind, msg);
    }
    let fb = &seen["fallback"];
    assert_eq!(fb["incident_id"], inc.id.as_str());
    assert_eq!(fb["phase"], "exhausted");
    assert_eq!(fb["alerts"][0]["title"], "データベース応答なし db-1");
    assert!(fb["reason"]
        .as_str()
        .unwrap()
        .starts_with("nobody acknowledged"));
    let op = seen["operator"]["reason"].as_str().unwrap();
    assert!(
        op.starts_with("DestinationNotAllowed for +81") && op.ends_with("2222"),
        "{op}"
    );
}
