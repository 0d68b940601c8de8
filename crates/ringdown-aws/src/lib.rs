//! AWS adapters for ringdown: one file per service, each converting SDK errors
//! to [`AwsError`] at its boundary. No business rules live here: every decision
//! is `ringdown-core`'s, every loop the engine's. `service_time` is the one
//! cross-service piece: AWS's clock, read off the answers.

#[cfg(feature = "sdk")]
pub mod bootstrap;
#[cfg(feature = "sdk")]
pub mod clients;
#[cfg(feature = "sdk")]
pub mod connect;
#[cfg(feature = "sdk")]
pub mod contact_events;
#[cfg(feature = "sdk")]
pub mod dlq;
#[cfg(feature = "sdk")]
pub mod dynamodb;
#[cfg(feature = "sdk")]
pub mod error;
#[cfg(feature = "sdk")]
pub mod kinesis;
#[cfg(feature = "sdk")]
pub mod service_time;
pub mod settings;
#[cfg(feature = "sdk")]
pub mod sns;
#[cfg(feature = "sdk")]
pub mod sqs;

#[cfg(feature = "sdk")]
pub use error::AwsError;
