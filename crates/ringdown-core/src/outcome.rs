//! Call outcome classification: DESIGN.md's outcome table as a pure function.
//!
//! The seed insight: a call that ends normally and a call nobody answered both
//! end with `CONTACT_FLOW_DISCONNECT`; only the attributes the contact flow set
//! (`rd_human`, `rd_ack`, ...) tell them apart. `DisconnectReason` is treated as
//! an open string: a value Amazon Connect adds tomorrow still classifies.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Longest silence an engineer can set from the keypad (the flow accepts 1–72).
pub const MAX_SILENCE_HOURS: u32 = 72;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Outcome {
    /// Pressed 1. Stop escalating.
    Acknowledged,
    /// Pressed 9 and entered hours. Counts as an acknowledgement; silences the
    /// incident's scope.
    Silenced { hours: u32 },
    /// Pressed 2: call the next person now.
    Declined,
    /// No answer, busy, or a voicemail (nobody pressed a key at the guard).
    Unreachable,
    /// A human answered the guard, then hung up without choosing.
    HungUp,
    /// The network failed the call: retry after a backoff.
    CallFailed,
    /// Connect refused the destination or a parameter: fix the configuration.
    Misconfigured,
    /// No contact record and no fallback answer: treated as unreachable.
    Unknown,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Acknowledged => "ACKNOWLEDGED",
            Outcome::Silenced { .. } => "SILENCED",
            Outcome::Declined => "DECLINED",
            Outcome::Unreachable => "UNREACHABLE",
            Outcome::HungUp => "HUNG_UP",
            Outcome::CallFailed => "CALL_FAILED",
            Outcome::Misconfigured => "MISCONFIGURED",
            Outcome::Unknown => "UNKNOWN",
        }
    }

    /// Did a human take responsibility (stop the escalation)?
    pub fn is_ack(self) -> bool {
        matches!(self, Outcome::Acknowledged | Outcome::Silenced { .. })
    }

    /// Did a person answer the guard prompt?
    pub fn answered_by_human(self) -> bool {
        matches!(
            self,
            Outcome::Acknowledged | Outcome::Silenced { .. } | Outcome::Declined | Outcome::HungUp
        )
    }
}

const TELECOM_FAILURES: [&str; 3] = [
    "TELECOM_PROBLEM",
    "TELECOM_POTENTIAL_BLOCKING",
    "TELECOM_NUMBER_INVALID",
];

fn flag(attrs: &BTreeMap<String, String>, key: &str) -> bool {
    attrs.get(key).is_some_and(|v| v.trim() == "1")
}

/// Parses `rd_silence_hours`; values outside 1–72 are not a silence (the flow
/// validates too, this is the daemon's own guard against a broken flow).
pub fn silence_hours(attrs: &BTreeMap<String, String>) -> Option<u32> {
    attrs
        .get("rd_silence_hours")
        .and_then(|v| v.trim().parse::<u32>().ok())
        .filter(|h| (1..=MAX_SILENCE_HOURS).contains(h))
}

/// Classifies a finished call from the contact attributes the flow set and the
/// contact record's `DisconnectReason`. Rows are tried top to bottom as in
/// DESIGN.md, so an acknowledgement wins over a line that dropped afterwards.
pub fn classify(attrs: &BTreeMap<String, String>, disconnect_reason: Option<&str>) -> Outcome {
    if flag(attrs, "rd_ack") {
        return Outcome::Acknowledged;
    }
    if let Some(hours) = silence_hours(attrs) {
        return Outcome::Silenced { hours };
    }
    if flag(attrs, "rd_next") {
        return Outcome::Declined;
    }
    let reason = disconnect_reason.unwrap_or("").trim();
    if TELECOM_FAILURES.contains(&reason) {
        return Outcome::CallFailed;
    }
    if flag(attrs, "rd_human") {
        // Answered the guard, made no choice: hung up, or let the menu time out.
        Outcome::HungUp
    } else {
        // CONTACT_FLOW_DISCONNECT without rd_human is the voicemail/no-key case;
        // TELECOM_UNANSWERED/TIMEOUT/BUSY/ORIGINATOR_CANCEL are no answer. Any
        // reason we do not know yet is treated the same: nobody was reached.
        Outcome::Unreachable
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn every_row_of_the_outcome_table() {
        use Outcome::*;
        type Row<'a> = (&'a [(&'a str, &'a str)], Option<&'a str>, Outcome);
        let rows: &[Row] = &[
            (
                &[("rd_human", "1"), ("rd_ack", "1")],
                Some("CONTACT_FLOW_DISCONNECT"),
                Acknowledged,
            ),
            (
                &[("rd_ack", "1")],
                Some("CUSTOMER_DISCONNECT"),
                Acknowledged,
            ),
            (&[("rd_ack", "1")], Some("TELECOM_PROBLEM"), Acknowledged),
            (
                &[("rd_human", "1"), ("rd_silence_hours", "2")],
                Some("CONTACT_FLOW_DISCONNECT"),
                Silenced { hours: 2 },
            ),
            (
                &[("rd_human", "1"), ("rd_next", "1")],
                Some("CONTACT_FLOW_DISCONNECT"),
                Declined,
            ),
            (&[], Some("CONTACT_FLOW_DISCONNECT"), Unreachable),
            (&[], Some("TELECOM_UNANSWERED"), Unreachable),
            (&[], Some("TELECOM_TIMEOUT"), Unreachable),
            (&[], Some("TELECOM_ORIGINATOR_CANCEL"), Unreachable),
            (&[], Some("TELECOM_BUSY"), Unreachable),
            (&[("rd_human", "1")], Some("CUSTOMER_DISCONNECT"), HungUp),
            (
                &[("rd_human", "1")],
                Some("CONTACT_FLOW_DISCONNECT"),
                HungUp,
            ),
            (&[], Some("TELECOM_PROBLEM"), CallFailed),
            (
                &[("rd_human", "1")],
                Some("TELECOM_POTENTIAL_BLOCKING"),
                CallFailed,
            ),
            (&[], Some("TELECOM_NUMBER_INVALID"), CallFailed),
            (&[], Some("SOMETHING_NEW_FROM_AWS"), Unreachable),
            (&[], None, Unreachable),
        ];
        for (a, reason, want) in rows {
            assert_eq!(classify(&attrs(a), *reason), *want, "{a:?} {reason:?}");
        }
    }

    #[test]
    fn the_seed_case_voicemail_and_normal_end_share_a_reason() {
        let voicemail = classify(&attrs(&[]), Some("CONTACT_FLOW_DISCONNECT"));
        let acked = classify(
            &attrs(&[("rd_human", "1"), ("rd_ack", "1")]),
            Some("CONTACT_FLOW_DISCONNECT"),
        );
        assert_eq!(voicemail, Outcome::Unreachable);
        assert_eq!(acked, Outcome::Acknowledged);
    }

    #[test]
    fn silence_hours_out_of_range_is_not_a_silence() {
        for bad in ["0", "73", "-1", "x", ""] {
            let a = attrs(&[("rd_human", "1"), ("rd_silence_hours", bad)]);
            assert_eq!(
                classify(&a, Some("CONTACT_FLOW_DISCONNECT")),
                Outcome::HungUp,
                "{bad}"
            );
        }
        assert_eq!(
            silence_hours(&attrs(&[("rd_silence_hours", "72")])),
            Some(72)
        );
    }
}
