//! # connect-flow
//!
//! Amazon Connect's flow language (`"Version": "2019-10-30"`), as far as
//! ringdown's contact flows use it, with no I/O, no clock and no randomness:
//!
//! * [`flow`]: the model and the [`validate`]r, which rejects what Amazon
//!   Connect rejects and what would fail at 3 a.m.;
//! * [`interp`]: a **pure** interpreter: [`simulate`] plays one outbound call
//!   (ringing, a scripted [`Persona`], the contact flow) over virtual time and
//!   returns a [`CallResult`] with a transcript;
//! * [`persona`]: scripted callers keyed by phone number ([`PersonaBook`]).
//!
//! The daemon links this crate for its simulated phones (the embedded
//! default, the demo, the drill); `connect-sim`, the Amazon Connect API
//! simulator, links it to run the flows behind its HTTP API. The only thing
//! shared with ringdown is the attribute contract
//! ([`AttributeContract::default`]).

pub mod flow;
pub mod interp;
pub mod persona;
pub mod polly;

pub use flow::{validate, validate_json, AttributeContract, Flow, ValidationError};
pub use interp::{
    longest_run, simulate, simulate_with, CallResult, DisconnectReason, EventKind, SimOptions,
    TranscriptEvent,
};
pub use persona::{HumanPersona, KeyPress, Persona, PersonaBook};
