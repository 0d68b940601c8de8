//! Human-readable timelines built from incident histories.

use chrono::{DateTime, Utc};
use ringdown_core::escalation::{HistoryKind, Incident};

/// Short label for an incident: its group labels' values, else its id.
pub fn incident_label(inc: &Incident) -> String {
    let vals: Vec<&str> = inc
        .group_labels
        .values()
        .map(String::as_str)
        .filter(|v| !v.is_empty())
        .collect();
    if vals.is_empty() {
        inc.id.clone()
    } else {
        vals.join(",")
    }
}

pub fn describe(kind: &HistoryKind) -> String {
    match kind {
        HistoryKind::Opened { policy, .. } => format!("incident opened (policy {policy})"),
        HistoryKind::Alerts {
            firing,
            resolved,
            titles,
        } => {
            let mut s = format!("{firing} firing, {resolved} resolved alert(s) grouped");
            if !titles.is_empty() {
                s.push_str(&format!(" — {}", titles.join("; ")));
            }
            s
        }
        HistoryKind::Skipped { person, reason } => format!("skip {person}: {reason}"),
        HistoryKind::Suppressed { silence_id, until } => {
            format!(
                "silenced by {silence_id} until {}: no call",
                until.format("%H:%M:%SZ")
            )
        }
        HistoryKind::CallPlaced {
            person,
            phone,
            step,
            attempt,
            pass,
            ..
        } => {
            let pass = if *pass > 0 {
                format!(", repeat {pass}")
            } else {
                String::new()
            };
            format!("call {person} at {phone} (step {step}, attempt {attempt}{pass})")
        }
        HistoryKind::CallOutcome {
            person,
            outcome,
            disconnect_reason,
            ..
        } => format!(
            "{person}: {}{}",
            outcome.as_str(),
            disconnect_reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        ),
        HistoryKind::CallRejected { person, error, .. } => {
            format!("call to {person} refused: {error}")
        }
        HistoryKind::SilenceCreated { hours, by, .. } => {
            format!("silence for {hours} h created by {by}")
        }
        HistoryKind::NumberFlagged { person, phone } => {
            format!("{person}'s number {phone} flagged after repeated failures")
        }
        HistoryKind::Acknowledged { by } => format!("acknowledged by {by}: escalation stops"),
        HistoryKind::Resolved => "all alerts resolved: incident closed".into(),
        HistoryKind::Exhausted => "nobody acknowledged: sent to the fallback channel".into(),
        HistoryKind::Note { text } => text.clone(),
    }
}

/// `+MM:SS` (or `+H:MM:SS`) since `t0`.
pub fn offset(t0: DateTime<Utc>, at: DateTime<Utc>) -> String {
    let s = (at - t0).num_seconds().max(0);
    if s >= 3600 {
        format!("+{}:{:02}:{:02}", s / 3600, (s % 3600) / 60, s % 60)
    } else {
        format!("+{:02}:{:02}", s / 60, s % 60)
    }
}
