//! AWS adapters for ringdown: one file per service, each converting SDK errors
//! to [`AwsError`] at its boundary. No business rules live here: every decision
//! is `ringdown-core`'s, every loop the engine's. `service_time` is the one
//! cross-service piece: AWS's clock, read off the answers.

pub mod bootstrap;
pub mod clients;
pub mod connect;
pub mod contact_events;
pub mod dlq;
pub mod dynamodb;
pub mod error;
pub mod kinesis;
pub mod service_time;
pub mod sns;
pub mod sqs;

pub use error::AwsError;
