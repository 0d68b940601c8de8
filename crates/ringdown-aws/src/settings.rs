//! AWS settings as the operator writes them: plain data, compiled with or
//! without the SDK (the `sdk` feature), so that the configuration file reads
//! the same in every build.

use serde::{Deserialize, Serialize};

/// Everything ringdown needs to know about its AWS resources.
///
/// Every field may be omitted; names left unset fall back to the ones
/// [`crate::bootstrap::ResourceNames::from_prefix`] derives from
/// `table_prefix`, so a deployment made by `ringdown aws bootstrap` (or the
/// infrastructure templates, which use the same names) needs no more than
/// the region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AwsSettings {
    /// AWS region, e.g. `ap-northeast-1`. Unset: the default chain decides
    /// (`AWS_REGION`, then the profile).
    pub region: Option<String>,
    /// Send every service's requests here instead of AWS (emulators such as
    /// moto). `AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_<SERVICE>` in the
    /// environment are honoured as well; this setting wins over them.
    pub endpoint_url: Option<String>,
    /// Prefix of every DynamoDB table (and of every derived resource name):
    /// `ringdown-` gives `ringdown-incidents`, `ringdown-silences`, ….
    pub table_prefix: String,
    /// URL of the SQS queue monitoring systems post alerts to.
    pub queue_url: Option<String>,
    /// URL of the dead-letter queue for messages that can never be parsed.
    /// Unset: unparseable messages stay on the queue until its own redrive
    /// policy moves them (and are logged on every receive).
    pub dlq_url: Option<String>,
    /// ARN of the SNS topic incidents go to when phoning people failed
    /// (fallback channel: SMS, e-mail, chat subscriptions).
    pub topic_arn: Option<String>,
    /// Kinesis stream Amazon Connect writes contact records (CTRs) to.
    pub stream_name: Option<String>,
    /// SQS queue that Amazon Connect's contact events reach through an
    /// EventBridge rule (`ringdown aws bootstrap` makes both): outcomes
    /// within seconds of hang-up instead of the contact record's minute or
    /// two. Unset: the queue named after `table_prefix`, if it exists.
    pub contact_events_queue_url: Option<String>,
    /// Amazon Connect instance id (the UUID, not the alias).
    pub connect_instance_id: Option<String>,
    /// Contact flow id per call language.
    pub connect_flow_ids: ConnectFlowIds,
    /// Caller id for outbound calls: a number claimed by the Connect
    /// instance, E.164 (`+81…`).
    pub source_phone_number: Option<String>,
    /// How the alert queue is drained.
    pub sqs: SqsSettings,
    /// How long an AWS request may take before it is abandoned (and
    /// retried): without a bound, a connection that stops answering would
    /// hang the worker that sent it.
    pub timeouts: AwsTimeouts,
}

/// Time limits of every AWS request ringdown sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AwsTimeouts {
    /// Establishing a connection.
    pub connect_timeout_ms: u64,
    /// One attempt of a request, and the longest wait for the next bytes of
    /// its answer. A long poll (SQS ReceiveMessage) gets its wait on top.
    pub request_timeout_ms: u64,
}

impl Default for AwsTimeouts {
    fn default() -> Self {
        AwsTimeouts {
            connect_timeout_ms: 3_000,
            request_timeout_ms: 10_000,
        }
    }
}

impl Default for AwsSettings {
    fn default() -> Self {
        AwsSettings {
            region: None,
            endpoint_url: None,
            table_prefix: "ringdown-".into(),
            queue_url: None,
            dlq_url: None,
            topic_arn: None,
            stream_name: None,
            contact_events_queue_url: None,
            connect_instance_id: None,
            connect_flow_ids: ConnectFlowIds::default(),
            source_phone_number: None,
            sqs: SqsSettings::default(),
            timeouts: AwsTimeouts::default(),
        }
    }
}

/// Contact flow ids, by the language the flow speaks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConnectFlowIds {
    /// Flow for Japanese calls (`contact-flows/ringdown-ja-JP.json`).
    #[serde(rename = "ja-JP")]
    pub ja_jp: Option<String>,
    /// Flow for English calls (`contact-flows/ringdown-en-US.json`).
    #[serde(rename = "en-US")]
    pub en_us: Option<String>,
}

/// How the alert queue is drained.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SqsSettings {
    /// Long-poll wait per ReceiveMessage (0–20 s). 20 keeps an idle queue
    /// at 3 requests a minute per poller.
    pub wait_time_secs: u32,
    /// Messages per receive (1–10).
    pub max_messages: u32,
    /// Concurrent long-pollers per process.
    pub pollers: usize,
    /// How long a received message stays invisible to other consumers; a
    /// batch still being worked on at half of it is extended.
    pub visibility_timeout_secs: u32,
    /// Longest pause after a failed receive or ingest (doubling from 0.2 s).
    pub error_backoff_max_secs: u64,
    /// How often queue depth is read (GetQueueAttributes) for metrics.
    pub lag_report_interval_secs: u64,
}

impl Default for SqsSettings {
    fn default() -> Self {
        SqsSettings {
            wait_time_secs: 20,
            max_messages: 10,
            pollers: 2,
            visibility_timeout_secs: 60,
            error_backoff_max_secs: 30,
            lag_report_interval_secs: 30,
        }
    }
}
