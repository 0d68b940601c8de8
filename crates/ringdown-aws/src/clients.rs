//! AWS settings as the operator writes them, and the one place an
//! [`SdkConfig`] is built from them.
//!
//! Credentials always come from the default chain (environment, profile,
//! ECS task role, IMDS): ringdown never reads keys from its own config file,
//! so they cannot leak through it.

use aws_config::{BehaviorVersion, Region, SdkConfig};

pub use crate::settings::{AwsSettings, AwsTimeouts, ConnectFlowIds};

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
