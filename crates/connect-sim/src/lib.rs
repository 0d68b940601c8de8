//! # connect-sim
//!
//! An Amazon Connect stand-in for tests and demos:
//!
//! * the flow language, its interpreter and the scripted callers come from
//!   the `connect-flow` crate (re-exported here as [`flow`], [`interp`] and
//!   [`persona`]);
//! * [`ctr`] — contact trace records (format `2017-03-10`);
//! * [`server`] — the restJson1 HTTP API (StartOutboundVoiceContact,
//!   GetContactAttributes, DescribeContact, StopContact) with Connect's quotas,
//!   playing calls in scaled real time and shipping CTRs to Kinesis / JSON lines.
//!
//! It knows nothing of ringdown's internals; the only shared thing is the
//! attribute contract ([`AttributeContract::default`]).

pub mod config;
pub mod ctr;
pub mod server;

pub use connect_flow::{flow, interp, persona};

pub use config::{
    load_flow, BusyLine, ContactEvents, ContactSearch, CtrFaults, EventBridgeConfig, KinesisConfig,
    NumberFaults, Quotas, SecsRange, SimConfig, DEFAULT_CTR_LAG,
};
pub use ctr::{build_ctr, ctr_timestamp, CtrContext};
pub use flow::{validate, validate_json, AttributeContract, Flow, ValidationError};
pub use interp::{
    simulate, simulate_with, CallResult, DisconnectReason, EventKind, SimOptions, TranscriptEvent,
};
pub use persona::{HumanPersona, KeyPress, Persona, PersonaBook};
pub use server::{CallView, Clock, InjectedError, ManualClock, SimServer, TokenBucket};
