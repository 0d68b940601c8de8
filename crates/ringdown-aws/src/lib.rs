//! AWS adapters for ringdown: one file per service, each converting SDK errors
//! to [`AwsError`] at its boundary. No business rules live here: every decision
//! is `ringdown-core`'s, every loop the engine's.

pub mod error;
pub mod lease;

pub use error::AwsError;

pub use aws_sdk_connect;
pub use aws_sdk_kinesis;
