//! The proof of ringdown's claims, on loopback.
//!
//! A [`Stage`] is one isolated AWS world on the emulators: fresh queues,
//! tables and a stream in moto (unique names, so stages share one moto), a
//! connect-sim whose phones follow scripted personas, and real
//! `ringdown run` processes started, killed and restarted like production
//! replicas. The fault suite (`crates/ringdown/tests/faults.rs`), the
//! end-to-end scenarios (`crates/ringdown/tests/aws_e2e.rs`) and the storm
//! benchmark (`ringdown-bench`) all play on it.

pub mod alertmanager;
pub mod alerts;
pub mod http;
pub mod measure;
pub mod personas;
pub mod process;
pub mod proxy;
pub mod stage;

pub use proxy::{FaultProxy, ProxyMode};
pub use stage::{moto_url, Stage, StageOptions};
