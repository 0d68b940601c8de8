//! AWS adapters for ringdown (SQS source, DynamoDB store, Connect dialer,
//! Kinesis CTR reader). A later task fills this crate in; for now it only
//! re-exports the SDK crates so the integration tests against `connect-sim`
//! build with the exact same client versions the daemon will use.

pub use aws_sdk_connect;
pub use aws_sdk_kinesis;
