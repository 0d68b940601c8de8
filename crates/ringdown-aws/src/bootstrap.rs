//! `ringdown aws bootstrap`: creates every AWS resource ringdown uses,
//! idempotently (anything that exists is kept and converged, never
//! recreated), so a developer account or an emulator is ready in one
//! command, and a second run is a no-op.
//!
//! Names come from one prefix through [`ResourceNames::from_prefix`]; table
//! schemas from [`crate::dynamodb::table_specs`]. The infrastructure
//! templates use the same names and schemas: these two functions are the
//! single source of truth.
//!
//! What is created:
//! - the alert queue and its dead-letter queue (redrive after 5 receives);
//! - the SNS alert topic, subscribed to the alert queue with raw delivery
//!   off (so SNS envelopes arrive, which is what the parser expects), and a
//!   queue policy allowing exactly that topic to send;
//! - the SNS fallback topic;
//! - the DynamoDB tables (on-demand billing, their indexes, TTL on
//!   silences);
//! - the Kinesis stream for contact records (waits until ACTIVE);
//! - the contact-event queue and the EventBridge rule that sends Amazon
//!   Connect's `DISCONNECTED` events of API-placed contacts to it, with a
//!   queue policy allowing exactly that rule to send.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
    Projection as DynProjection, ProjectionType, ScalarAttributeType, TableStatus,
    TimeToLiveSpecification, TimeToLiveStatus,
};
use aws_sdk_kinesis::types::StreamStatus;
use aws_sdk_sqs::types::QueueAttributeName;
use serde::Serialize;

use crate::clients::count_request;
use crate::dynamodb::{table_specs, AttrKind, KeyAttr, Projection, TableNames, TableSpec};
use crate::AwsError;

/// Every resource name of one deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResourceNames {
    pub prefix: String,
    /// SQS queue monitoring systems post to (directly or through the topic).
    pub alert_queue: String,
    /// Where messages that cannot be parsed (or keep failing) end up.
    pub alert_dlq: String,
    /// SNS topic for senders that publish to SNS (Alertmanager's SNS
    /// receiver, CloudWatch alarms); delivers into `alert_queue`.
    pub alert_topic: String,
    /// SNS topic of the fallback channel.
    pub fallback_topic: String,
    /// Kinesis stream Amazon Connect writes contact records to.
    pub ctr_stream: String,
    /// SQS queue Amazon Connect's contact events reach through
    /// `contact_events_rule`.
    pub contact_events_queue: String,
    /// EventBridge rule (default bus) sending contact events to the queue.
    pub contact_events_rule: String,
    pub tables: TableNames,
}

impl ResourceNames {
    /// `ringdown-` gives `ringdown-alerts`, `ringdown-alerts-dlq`,
    /// `ringdown-fallback`, `ringdown-ctr`, `ringdown-incidents`, ….
    pub fn from_prefix(prefix: &str) -> ResourceNames {
        ResourceNames {
            prefix: prefix.to_string(),
            alert_queue: format!("{prefix}alerts"),
            alert_dlq: format!("{prefix}alerts-dlq"),
            alert_topic: format!("{prefix}alerts"),
            fallback_topic: format!("{prefix}fallback"),
            ctr_stream: format!("{prefix}ctr"),
            contact_events_queue: format!("{prefix}contact-events"),
            contact_events_rule: format!("{prefix}contact-events"),
            tables: TableNames::from_prefix(prefix),
        }
    }

    pub fn table_specs(&self) -> Vec<TableSpec> {
        table_specs(&self.prefix)
    }
}

/// Tunables of what bootstrap creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootstrapOptions {
    /// Receives before SQS moves a message to the DLQ by itself.
    pub max_receive_count: u32,
    /// Default visibility timeout of the alert queue.
    pub visibility_timeout_secs: u32,
    /// Shards of the contact-record stream (one is plenty: a few records a
    /// minute even in a storm).
    pub stream_shards: i32,
    /// How long to wait for tables and the stream to become ACTIVE.
    pub wait_active_secs: u64,
    /// The Amazon Connect instance ARN: when known, the contact-event rule
    /// takes only that instance's events (an account may run several).
    pub connect_instance_arn: Option<String>,
}

impl Default for BootstrapOptions {
    fn default() -> Self {
        BootstrapOptions {
            max_receive_count: 5,
            visibility_timeout_secs: 60,
            stream_shards: 1,
            wait_active_secs: 300,
            connect_instance_arn: None,
        }
    }
}

/// What exists after bootstrap: the values to put into the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BootstrapReport {
    pub queue_url: String,
    pub queue_arn: String,
    pub dlq_url: String,
    pub dlq_arn: String,
    pub alert_topic_arn: String,
    pub alert_subscription_arn: String,
    pub fallback_topic_arn: String,
    pub tables: Vec<String>,
    pub stream_name: String,
    pub stream_arn: String,
    pub contact_events_queue_url: String,
    pub contact_events_rule_arn: String,
    /// Resources this run created (empty on a second run).
    pub created: Vec<String>,
}

/// Creates (or converges) every resource; see the module docs.
pub async fn bootstrap(
    sdk: &SdkConfig,
    names: &ResourceNames,
) -> Result<BootstrapReport, AwsError> {
    bootstrap_with(sdk, names, &BootstrapOptions::default()).await
}

pub async fn bootstrap_with(
    sdk: &SdkConfig,
    names: &ResourceNames,
    opts: &BootstrapOptions,
) -> Result<BootstrapReport, AwsError> {
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let sns = aws_sdk_sns::Client::new(sdk);
    let ddb = aws_sdk_dynamodb::Client::new(sdk);
    let kinesis = aws_sdk_kinesis::Client::new(sdk);
    let mut created = Vec::new();

    // Queues: the DLQ first, its ARN goes into the main queue's redrive policy.
    let dlq_url = ensure_queue(&sqs, &names.alert_dlq, &mut created).await?;
    let dlq_arn = queue_arn(&sqs, &dlq_url).await?;
    let queue_url = ensure_queue(&sqs, &names.alert_queue, &mut created).await?;
    let queue_arn = queue_arn(&sqs, &queue_url).await?;

    // Topics (CreateTopic is idempotent by name).
    let alert_topic_arn = create_topic(&sns, &names.alert_topic).await?;
    let fallback_topic_arn = create_topic(&sns, &names.fallback_topic).await?;

    let redrive = serde_json::json!({
        "deadLetterTargetArn": dlq_arn,
        "maxReceiveCount": opts.max_receive_count.to_string(),
    });
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "ringdown-alert-topic",
            "Effect": "Allow",
            "Principal": {"Service": "sns.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": queue_arn,
            "Condition": {"ArnEquals": {"aws:SourceArn": alert_topic_arn}},
        }],
    });
    count_request("sqs", "SetQueueAttributes");
    sqs.set_queue_attributes()
        .queue_url(&queue_url)
        .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
        .attributes(QueueAttributeName::Policy, policy.to_string())
        .attributes(
            QueueAttributeName::VisibilityTimeout,
            opts.visibility_timeout_secs.to_string(),
        )
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("sqs", "SetQueueAttributes", e))?;

    let alert_subscription_arn =
        ensure_subscription(&sns, &alert_topic_arn, &queue_arn, &mut created).await?;

    let mut tables = Vec::new();
    for spec in names.table_specs() {
        ensure_table(&ddb, &spec, opts, &mut created).await?;
        tables.push(spec.name.clone());
    }

    let stream_arn = ensure_stream(&kinesis, &names.ctr_stream, opts, &mut created).await?;

    let events = aws_sdk_eventbridge::Client::new(sdk);
    let (contact_events_queue_url, contact_events_rule_arn) =
        ensure_contact_events(&sqs, &events, names, opts, &mut created).await?;

    Ok(BootstrapReport {
        queue_url,
        queue_arn,
        dlq_url,
        dlq_arn,
        alert_topic_arn,
        alert_subscription_arn,
        fallback_topic_arn,
        tables,
        stream_name: names.ctr_stream.clone(),
        stream_arn,
        contact_events_queue_url,
        contact_events_rule_arn,
        created,
    })
}

/// The contact-event queue, the rule that fills it, and the queue policy
/// that lets exactly that rule send. Events are hints (the contact record
/// is the truth), so the queue keeps them an hour at most.
async fn ensure_contact_events(
    sqs: &aws_sdk_sqs::Client,
    events: &aws_sdk_eventbridge::Client,
    names: &ResourceNames,
    opts: &BootstrapOptions,
    created: &mut Vec<String>,
) -> Result<(String, String), AwsError> {
    let url = ensure_queue(sqs, &names.contact_events_queue, created).await?;
    let arn = queue_arn(sqs, &url).await?;
    count_request("eventbridge", "PutRule");
    let rule = events
        .put_rule()
        .name(&names.contact_events_rule)
        .description(
            "Amazon Connect contact events of ringdown's calls, for outcomes within seconds",
        )
        .event_pattern(
            crate::contact_events::event_pattern(opts.connect_instance_arn.as_deref()).to_string(),
        )
        .state(aws_sdk_eventbridge::types::RuleState::Enabled)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("eventbridge", "PutRule", e))?;
    let rule_arn = rule
        .rule_arn
        .ok_or_else(|| AwsError::InvalidData("PutRule returned no RuleArn".into()))?;
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "ringdown-contact-events",
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": arn,
            "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
        }],
    });
    count_request("sqs", "SetQueueAttributes");
    sqs.set_queue_attributes()
        .queue_url(&url)
        .attributes(QueueAttributeName::Policy, policy.to_string())
        .attributes(QueueAttributeName::MessageRetentionPeriod, "3600")
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("sqs", "SetQueueAttributes", e))?;
    let target = aws_sdk_eventbridge::types::Target::builder()
        .id("ringdown-contact-events")
        .arn(&arn)
        .build()
        .map_err(build)?;
    count_request("eventbridge", "PutTargets");
    let out = events
        .put_targets()
        .rule(&names.contact_events_rule)
        .targets(target)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("eventbridge", "PutTargets", e))?;
    if out.failed_entry_count() > 0 {
        return Err(AwsError::InvalidData(format!(
            "PutTargets on {} failed: {:?}",
            names.contact_events_rule,
            out.failed_entries()
        )));
    }
    Ok((url, rule_arn))
}

/// Creates (or checks) only the DynamoDB tables of `prefix`; returns their
/// names. For deployments whose queues and topics are managed elsewhere, and
/// for tests.
pub async fn ensure_tables(sdk: &SdkConfig, prefix: &str) -> Result<Vec<String>, AwsError> {
    let ddb = aws_sdk_dynamodb::Client::new(sdk);
    let opts = BootstrapOptions::default();
    let mut created = Vec::new();
    let mut names = Vec::new();
    for spec in table_specs(prefix) {
        ensure_table(&ddb, &spec, &opts, &mut created).await?;
        names.push(spec.name);
    }
    Ok(names)
}

async fn ensure_queue(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    created: &mut Vec<String>,
) -> Result<String, AwsError> {
    count_request("sqs", "GetQueueUrl");
    match sqs.get_queue_url().queue_name(name).send().await {
        Ok(out) => return Ok(out.queue_url.unwrap_or_default()),
        Err(e) => {
            let e = AwsError::from_sdk("sqs", "GetQueueUrl", e);
            if !matches!(e, AwsError::NotFound { .. }) {
                return Err(e);
            }
        }
    }
    // Attributes are converged afterwards (SetQueueAttributes), so CreateQueue
    // carries none: a re-run can never trip "exists with other attributes".
    count_request("sqs", "CreateQueue");
    let out = sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("sqs", "CreateQueue", e))?;
    created.push(format!("sqs queue {name}"));
    Ok(out.queue_url.unwrap_or_default())
}

async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<String, AwsError> {
    count_request("sqs", "GetQueueAttributes");
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("sqs", "GetQueueAttributes", e))?;
    out.attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .cloned()
        .ok_or_else(|| AwsError::InvalidData(format!("queue {url} has no QueueArn")))
}

async fn create_topic(sns: &aws_sdk_sns::Client, name: &str) -> Result<String, AwsError> {
    count_request("sns", "CreateTopic");
    let out = sns
        .create_topic()
        .name(name)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("sns", "CreateTopic", e))?;
    out.topic_arn
        .ok_or_else(|| AwsError::InvalidData(format!("CreateTopic {name} returned no ARN")))
}

/// Subscribes the queue to the topic unless it already is (SNS itself
/// dedupes identical subscriptions, but not every emulator does).
async fn ensure_subscription(
    sns: &aws_sdk_sns::Client,
    topic_arn: &str,
    queue_arn: &str,
    created: &mut Vec<String>,
) -> Result<String, AwsError> {
    let mut next: Option<String> = None;
    loop {
        count_request("sns", "ListSubscriptionsByTopic");
        let out = sns
            .list_subscriptions_by_topic()
            .topic_arn(topic_arn)
            .set_next_token(next.take())
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("sns", "ListSubscriptionsByTopic", e))?;
        for s in out.subscriptions() {
            if s.protocol() == Some("sqs") && s.endpoint() == Some(queue_arn) {
                if let Some(arn) = s.subscription_arn().filter(|a| a.starts_with("arn:")) {
                    return Ok(arn.to_string());
                }
            }
        }
        match out.next_token {
            Some(t) if !t.is_empty() => next = Some(t),
            _ => break,
        }
    }
    count_request("sns", "Subscribe");
    let out = sns
        .subscribe()
        .topic_arn(topic_arn)
        .protocol("sqs")
        .endpoint(queue_arn)
        // Envelopes on: the parser reads Subject and message attributes from it.
        .attributes("RawMessageDelivery", "false")
        .return_subscription_arn(true)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("sns", "Subscribe", e))?;
    created.push(format!("sns subscription {topic_arn} -> {queue_arn}"));
    Ok(out.subscription_arn.unwrap_or_default())
}

fn scalar(kind: AttrKind) -> ScalarAttributeType {
    match kind {
        AttrKind::S => ScalarAttributeType::S,
        AttrKind::N => ScalarAttributeType::N,
    }
}

fn key_schema(hash: KeyAttr, range: Option<KeyAttr>) -> Result<Vec<KeySchemaElement>, AwsError> {
    let mut out = vec![KeySchemaElement::builder()
        .attribute_name(hash.name)
        .key_type(KeyType::Hash)
        .build()
        .map_err(build)?];
    if let Some(r) = range {
        out.push(
            KeySchemaElement::builder()
                .attribute_name(r.name)
                .key_type(KeyType::Range)
                .build()
                .map_err(build)?,
        );
    }
    Ok(out)
}

fn build(e: impl std::fmt::Display) -> AwsError {
    AwsError::InvalidData(format!("cannot build request: {e}"))
}

async fn ensure_table(
    ddb: &aws_sdk_dynamodb::Client,
    spec: &TableSpec,
    opts: &BootstrapOptions,
    created: &mut Vec<String>,
) -> Result<(), AwsError> {
    // Every attribute used in any key, once.
    let mut attrs: BTreeMap<&str, AttrKind> = BTreeMap::new();
    for k in std::iter::once(spec.hash_key).chain(spec.range_key).chain(
        spec.indexes
            .iter()
            .flat_map(|i| std::iter::once(i.hash_key).chain(i.range_key)),
    ) {
        attrs.insert(k.name, k.kind);
    }
    let mut req = ddb
        .create_table()
        .table_name(&spec.name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_key_schema(Some(key_schema(spec.hash_key, spec.range_key)?));
    for (name, kind) in &attrs {
        req = req.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(*name)
                .attribute_type(scalar(*kind))
                .build()
                .map_err(build)?,
        );
    }
    for idx in &spec.indexes {
        let projection = DynProjection::builder()
            .projection_type(match idx.projection {
                Projection::KeysOnly => ProjectionType::KeysOnly,
                Projection::All => ProjectionType::All,
            })
            .build();
        req = req.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(idx.name)
                .set_key_schema(Some(key_schema(idx.hash_key, idx.range_key)?))
                .projection(projection)
                .build()
                .map_err(build)?,
        );
    }
    count_request("dynamodb", "CreateTable");
    match req.send().await {
        Ok(_) => created.push(format!("dynamodb table {}", spec.name)),
        Err(e)
            if e.as_service_error()
                .is_some_and(|se| se.is_resource_in_use_exception()) => {}
        Err(e) => return Err(AwsError::from_sdk("dynamodb", "CreateTable", e)),
    }
    wait_table_active(ddb, spec, opts).await?;
    if let Some(ttl) = spec.ttl_attribute {
        ensure_ttl(ddb, &spec.name, ttl).await?;
    }
    Ok(())
}

/// Waits for ACTIVE and checks that an existing table has the keys and
/// indexes ringdown reads by: a table with another schema would fail at the
/// first write, far from the cause.
async fn wait_table_active(
    ddb: &aws_sdk_dynamodb::Client,
    spec: &TableSpec,
    opts: &BootstrapOptions,
) -> Result<(), AwsError> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(opts.wait_active_secs);
    loop {
        count_request("dynamodb", "DescribeTable");
        let out = ddb
            .describe_table()
            .table_name(&spec.name)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("dynamodb", "DescribeTable", e))?;
        let table = out.table.ok_or_else(|| {
            AwsError::InvalidData(format!("DescribeTable {} returned nothing", spec.name))
        })?;
        let keys: HashMap<String, KeyType> = table
            .key_schema()
            .iter()
            .map(|k| (k.attribute_name().to_string(), k.key_type().clone()))
            .collect();
        let want_ok = keys.get(spec.hash_key.name) == Some(&KeyType::Hash)
            && match spec.range_key {
                None => true,
                Some(r) => keys.get(r.name) == Some(&KeyType::Range),
            }
            && keys.len() == 1 + usize::from(spec.range_key.is_some());
        if !want_ok {
            return Err(AwsError::InvalidData(format!(
                "table {} exists with key schema {keys:?}, ringdown needs hash {:?} range {:?}: rename the prefix or migrate the table",
                spec.name,
                spec.hash_key.name,
                spec.range_key.map(|r| r.name)
            )));
        }
        for idx in &spec.indexes {
            if !table
                .global_secondary_indexes()
                .iter()
                .any(|g| g.index_name() == Some(idx.name))
            {
                return Err(AwsError::InvalidData(format!(
                    "table {} exists without the index {:?} ringdown queries: add it (see dynamodb::table_specs) or use a new prefix",
                    spec.name, idx.name
                )));
            }
        }
        let indexes_active = table
            .global_secondary_indexes()
            .iter()
            .all(|g| !matches!(g.index_status(), Some(s) if s.as_str() != "ACTIVE"));
        if table.table_status() == Some(&TableStatus::Active) && indexes_active {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(AwsError::Transport {
                service: "dynamodb",
                operation: "DescribeTable",
                message: format!(
                    "table {} not ACTIVE after {} s",
                    spec.name, opts.wait_active_secs
                ),
            });
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

async fn ensure_ttl(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
    attr: &str,
) -> Result<(), AwsError> {
    count_request("dynamodb", "DescribeTimeToLive");
    let out = ddb
        .describe_time_to_live()
        .table_name(table)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("dynamodb", "DescribeTimeToLive", e))?;
    let desc = out.time_to_live_description();
    let status = desc.and_then(|d| d.time_to_live_status());
    if matches!(
        status,
        Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
    ) {
        if desc.and_then(|d| d.attribute_name()) != Some(attr) {
            tracing::warn!(table, attr, current = ?desc.and_then(|d| d.attribute_name()), "TTL is enabled on another attribute; expired silences will not be cleaned up");
        }
        return Ok(());
    }
    count_request("dynamodb", "UpdateTimeToLive");
    ddb.update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name(attr)
                .enabled(true)
                .build()
                .map_err(build)?,
        )
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("dynamodb", "UpdateTimeToLive", e))?;
    Ok(())
}

async fn ensure_stream(
    kinesis: &aws_sdk_kinesis::Client,
    name: &str,
    opts: &BootstrapOptions,
    created: &mut Vec<String>,
) -> Result<String, AwsError> {
    count_request("kinesis", "CreateStream");
    match kinesis
        .create_stream()
        .stream_name(name)
        .shard_count(opts.stream_shards.max(1))
        .send()
        .await
    {
        Ok(_) => created.push(format!("kinesis stream {name}")),
        Err(e)
            if e.as_service_error()
                .is_some_and(|se| se.is_resource_in_use_exception()) => {}
        Err(e) => return Err(AwsError::from_sdk("kinesis", "CreateStream", e)),
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(opts.wait_active_secs);
    loop {
        count_request("kinesis", "DescribeStreamSummary");
        let out = kinesis
            .describe_stream_summary()
            .stream_name(name)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("kinesis", "DescribeStreamSummary", e))?;
        if let Some(d) = out.stream_description_summary {
            if d.stream_status == StreamStatus::Active {
                return Ok(d.stream_arn);
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(AwsError::Transport {
                service: "kinesis",
                operation: "DescribeStreamSummary",
                message: format!("stream {name} not ACTIVE after {} s", opts.wait_active_secs),
            });
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_derive_from_the_prefix() {
        let n = ResourceNames::from_prefix("rd-");
        assert_eq!(n.alert_queue, "rd-alerts");
        assert_eq!(n.alert_dlq, "rd-alerts-dlq");
        assert_eq!(n.tables.incidents, "rd-incidents");
        let specs = n.table_specs();
        assert_eq!(specs.len(), 6);
        let silences = specs.iter().find(|s| s.name == "rd-silences").unwrap();
        assert_eq!(silences.ttl_attribute, Some("ttl"));
        let incidents = specs.iter().find(|s| s.name == "rd-incidents").unwrap();
        assert_eq!(incidents.indexes[0].name, "due");
    }
}
