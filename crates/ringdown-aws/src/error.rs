//! The crate's one error type and its one retry classifier.

use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};

#[derive(Debug, Clone, thiserror::Error)]
pub enum AwsError {
    /// The service asked us to slow down (throttling, quota).
    #[error("{service} {operation}: throttled ({code}): {message}")]
    Throttled {
        service: &'static str,
        operation: &'static str,
        code: String,
        message: String,
    },
    /// A conditional write lost the race (DynamoDB ConditionalCheckFailed).
    #[error("{service} {operation}: condition failed")]
    ConditionFailed {
        service: &'static str,
        operation: &'static str,
    },
    /// The resource does not exist (queue, table, stream, instance, flow).
    #[error("{service} {operation}: not found ({code}): {message}")]
    NotFound {
        service: &'static str,
        operation: &'static str,
        code: String,
        message: String,
    },
    /// The service rejected the request; `retryable` for 5xx-type errors.
    #[error("{service} {operation}: {code}: {message}")]
    Service {
        service: &'static str,
        operation: &'static str,
        code: String,
        message: String,
        retryable: bool,
    },
    /// The request never got an answer (connection, timeout, dispatch).
    #[error("{service} {operation}: transport error: {message}")]
    Transport {
        service: &'static str,
        operation: &'static str,
        message: String,
    },
    /// A stored item or record that ringdown cannot read.
    #[error("invalid data: {0}")]
    InvalidData(String),
    /// The lease store (a port of the engine) failed.
    #[error("lease store: {0}")]
    Store(#[from] ringdown_engine::StoreError),
}

const THROTTLE_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "AWS.SimpleQueueService.RequestThrottled",
];

impl AwsError {
    /// May the same request succeed if tried again later?
    pub fn is_retryable(&self) -> bool {
        match self {
            AwsError::Throttled { .. } | AwsError::Transport { .. } => true,
            AwsError::Service { retryable, .. } => *retryable,
            AwsError::ConditionFailed { .. }
            | AwsError::NotFound { .. }
            | AwsError::InvalidData(_) => false,
            AwsError::Store(e) => matches!(
                e,
                ringdown_engine::StoreError::Backend {
                    retryable: true,
                    ..
                } | ringdown_engine::StoreError::Conflict(_)
            ),
        }
    }

    /// The service's error code, when it sent one.
    pub fn code(&self) -> Option<&str> {
        match self {
            AwsError::Throttled { code, .. }
            | AwsError::NotFound { code, .. }
            | AwsError::Service { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Classifies any SDK error. Services' typed variants are matched where
    /// they exist (in each service file); this is the common fallback by code
    /// and HTTP status.
    pub fn from_sdk<E, R>(
        service: &'static str,
        operation: &'static str,
        err: SdkError<E, R>,
    ) -> AwsError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        match &err {
            SdkError::ServiceError(se) => {
                let e = se.err();
                let code = e.code().unwrap_or("Unknown").to_string();
                let message = e.message().unwrap_or_default().to_string();
                let status = http_status(se.raw());
                Self::classify(service, operation, code, message, status)
            }
            SdkError::TimeoutError(_)
            | SdkError::DispatchFailure(_)
            | SdkError::ResponseError(_) => AwsError::Transport {
                service,
                operation,
                message: format!("{}", aws_sdk_sqs::error::DisplayErrorContext(&err)),
            },
            _ => AwsError::Service {
                service,
                operation,
                code: "ConstructionFailure".into(),
                message: format!("{}", aws_sdk_sqs::error::DisplayErrorContext(&err)),
                retryable: false,
            },
        }
    }

    pub fn classify(
        service: &'static str,
        operation: &'static str,
        code: String,
        message: String,
        status: Option<u16>,
    ) -> AwsError {
        let short = code.rsplit('.').next().unwrap_or(&code);
        if THROTTLE_CODES.contains(&code.as_str())
            || THROTTLE_CODES.contains(&short)
            || status == Some(429)
        {
            return AwsError::Throttled {
                service,
                operation,
                code,
                message,
            };
        }
        if short == "ConditionalCheckFailedException"
            || short == "TransactionCanceledException" && message.contains("ConditionalCheckFailed")
        {
            return AwsError::ConditionFailed { service, operation };
        }
        if short.contains("NotFound") || short == "NonExistentQueue" || short == "QueueDoesNotExist"
        {
            return AwsError::NotFound {
                service,
                operation,
                code,
                message,
            };
        }
        let retryable = status.is_some_and(|s| s >= 500)
            || matches!(
                short,
                "InternalServiceException"
                    | "InternalServerError"
                    | "InternalFailure"
                    | "ServiceUnavailable"
            );
        AwsError::Service {
            service,
            operation,
            code,
            message,
            retryable,
        }
    }
}

fn http_status<R: std::fmt::Debug>(raw: &R) -> Option<u16> {
    // The raw response type differs per SDK version; its Debug output carries
    // the status code, which is all we need for classification.
    let s = format!("{raw:?}");
    let i = s.find("status: StatusCode(")?;
    s[i + 19..].split(')').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        let t = AwsError::classify(
            "connect",
            "StartOutboundVoiceContact",
            "TooManyRequestsException".into(),
            "".into(),
            Some(429),
        );
        assert!(matches!(t, AwsError::Throttled { .. }) && t.is_retryable());
        let q = AwsError::classify(
            "sqs",
            "ReceiveMessage",
            "AWS.SimpleQueueService.NonExistentQueue".into(),
            "".into(),
            Some(400),
        );
        assert!(matches!(q, AwsError::NotFound { .. }) && !q.is_retryable());
        let c = AwsError::classify(
            "dynamodb",
            "PutItem",
            "ConditionalCheckFailedException".into(),
            "".into(),
            Some(400),
        );
        assert!(matches!(c, AwsError::ConditionFailed { .. }));
        let i = AwsError::classify(
            "connect",
            "StartOutboundVoiceContact",
            "InternalServiceException".into(),
            "".into(),
            Some(500),
        );
        assert!(i.is_retryable());
        let d = AwsError::classify(
            "connect",
            "StartOutboundVoiceContact",
            "DestinationNotAllowedException".into(),
            "".into(),
            Some(403),
        );
        assert!(!d.is_retryable());
    }
}
