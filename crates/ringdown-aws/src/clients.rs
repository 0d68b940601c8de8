//! AWS settings as the operator writes them, and the one place an
//! [`SdkConfig`] is built from them.
//!
//! Credentials always come from the default chain (environment, profile,
//! ECS task role, IMDS): ringdown never reads keys from its own config file,
//! so they cannot leak through it.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use serde::{Deserialize, Serialize};

use crate::sqs::SqsSettings;

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

impl AwsTimeouts {
    /// The SDK's timeout configuration; `extra` is added to the request
    /// limits (the wait of a long poll).
    pub fn sdk(&self, extra: std::time::Duration) -> aws_config::timeout::TimeoutConfig {
        use std::time::Duration;
        let request = Duration::from_millis(self.request_timeout_ms.max(1)) + extra;
        aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(Duration::from_millis(self.connect_timeout_ms.max(1)))
            .read_timeout(request)
            .operation_attempt_timeout(request)
            // The SDK's own retries (3 attempts by default) stay bounded too.
            .operation_timeout(request * 3 + Duration::from_secs(2))
            .build()
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

/// An SDK service client ringdown uses.
pub trait ServiceClient {
    fn from_sdk(sdk: &SdkConfig) -> Self;
}

macro_rules! service_clients {
    ($($c:path),*) => {$(
        impl ServiceClient for $c {
            fn from_sdk(sdk: &SdkConfig) -> Self {
                <$c>::new(sdk)
            }
        }
    )*};
}

service_clients!(
    aws_sdk_connect::Client,
    aws_sdk_dynamodb::Client,
    aws_sdk_eventbridge::Client,
    aws_sdk_kinesis::Client,
    aws_sdk_sns::Client,
    aws_sdk_sqs::Client
);

/// A service client made from the shared configuration. Callers outside this
/// crate hand it straight to an adapter and never name the SDK's type.
pub fn client<C: ServiceClient>(sdk: &SdkConfig) -> C {
    C::from_sdk(sdk)
}

/// Loads the shared SDK configuration: the default credential and region
/// chains, overridden by `settings.region` and `settings.endpoint_url`.
pub async fn sdk_config(settings: &AwsSettings) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(settings.timeouts.sdk(std::time::Duration::ZERO));
    if let Some(region) = settings.region.as_deref().filter(|r| !r.is_empty()) {
        loader = loader.region(Region::new(region.to_string()));
    }
    if let Some(url) = settings.endpoint_url.as_deref().filter(|u| !u.is_empty()) {
        loader = loader.endpoint_url(url);
    }
    loader.load().await
}

/// An [`SdkConfig`] for emulators on loopback (moto): region `us-east-1`,
/// static `test`/`test` credentials (moto only needs requests to be signed,
/// and picks the service from the signature's scope), every service at
/// `endpoint`. Never reads the environment, so a developer's real AWS
/// profile cannot leak into a test.
pub fn test_sdk_config(endpoint: &str) -> SdkConfig {
    use aws_sdk_sqs::config::{Credentials, SharedCredentialsProvider};
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "test", "test", None, None, "static",
        )))
        .build()
}

/// Counts one AWS request. "AWS requests per alert" is a first-class figure
/// (it is also the bill), so every adapter counts what it sends.
pub(crate) fn count_request(service: &'static str, op: &'static str) {
    metrics::counter!("ringdown_aws_requests_total", "service" => service, "op" => op).increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_defaults_and_names() {
        let s: AwsSettings = serde_json::from_str(
            r#"{"region":"ap-northeast-1","connect_flow_ids":{"ja-JP":"f-ja"},"sqs":{"pollers":4}}"#,
        )
        .unwrap();
        assert_eq!(s.table_prefix, "ringdown-");
        assert_eq!(s.connect_flow_ids.ja_jp.as_deref(), Some("f-ja"));
        assert_eq!(s.sqs.pollers, 4);
        assert_eq!(s.sqs.wait_time_secs, 20);
        assert!(serde_json::from_str::<AwsSettings>(r#"{"regoin":"x"}"#).is_err());
    }
}
