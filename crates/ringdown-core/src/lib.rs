//! ringdown's functional core.
//!
//! Everything that decides *who is called, when, and why* lives here, as pure
//! functions over plain data. The core performs no I/O and never reads the clock:
//! the shell passes `now` in and executes the [`escalation::Effect`]s it gets back.
//! That is what lets the same logic run against DynamoDB, SQLite, a virtual clock
//! in the demo and a fire drill, and be property-tested.

pub mod alert;
pub mod escalation;
pub mod fingerprint;
pub mod grouping;
pub mod hash;
pub mod heartbeat;
pub mod inhibit;
pub mod intake;
pub mod matcher;
pub mod outcome;
pub mod parse;
pub mod phone;
pub mod report;
pub mod roster;
pub mod silence;
pub mod ssml;
pub mod storm;

pub use alert::{Alert, Labels, Language, Source, Status};

#[cfg(test)]
pub(crate) mod test_support {
    use crate::alert::{Alert, Labels, Source, Status};

    pub fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// An Alertmanager alert with these labels and its Prometheus fingerprint.
    pub fn alert(pairs: &[(&str, &str)], status: Status) -> Alert {
        Alert {
            source: Source::Alertmanager,
            ..Alert::with_labels(pairs.iter().copied(), status)
        }
    }
}
