//! The imperative shell around `ringdown-core`.
//!
//! `ports` holds the traits every adapter implements (SQLite or DynamoDB store,
//! simulated or Amazon Connect dialer, fallback channel); `engine` runs the
//! pure core against them: it routes and groups ingested alerts, persists each
//! decision *before* acting on it, executes the effects, and feeds results back.
//! The same engine runs the embedded default, the AWS daemon, the demo and the
//! fire drill.

pub mod clock;
pub mod engine;
pub mod gate;
pub mod lease;
pub mod ports;
pub mod record;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use clock::{Clock, SteadyClock, SystemClock, TokioClock};
pub use engine::{Engine, EngineSettings};
pub use lease::{Lease, LeaseStore, MemoryLeases};
pub use ports::*;
