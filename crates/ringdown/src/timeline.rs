//! Human-readable timelines built from incident histories.

use chrono::{DateTime, Utc};
use connect_flow::interp::EventKind;
use ringdown_core::escalation::{HistoryKind, Incident};
use ringdown_local::SimCall;

/// Short label for an incident: its group labels' values, else its id.
pub fn incident_label(inc: &Incident) -> String {
    if let Some(st) = &inc.storm {
        return format!("storm of {}", st.person);
    }
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
        HistoryKind::CallStopped { person, why, .. } => {
            format!("call to {person} hung up: {why}")
        }
        HistoryKind::AckTimedOut {
            acked_by,
            after_secs,
        } => format!(
            "still firing {} min after {acked_by} acknowledged: paging again",
            after_secs.div_ceil(60)
        ),
        HistoryKind::Escalated { by } => format!("escalated by {by}: the next step now"),
        HistoryKind::ResolvedBy { by } => format!("resolved by {by}: incident closed"),
        HistoryKind::Resolved => "all alerts resolved: incident closed".into(),
        HistoryKind::Exhausted => "nobody acknowledged: sent to the fallback channel".into(),
        HistoryKind::Note { text } => text.clone(),
        HistoryKind::JoinedStorm { storm_id } => {
            format!("joined storm {storm_id}: the storm calls for it")
        }
        HistoryKind::MembersJoined { members, systems } => {
            format!(
                "{members} incident(s) joined the storm — {}",
                systems.join("; ")
            )
        }
        HistoryKind::MemberClosed { member_id, phase } => {
            format!("member {member_id} closed ({})", phase.as_str())
        }
        HistoryKind::Inhibited { alerts, titles } => format!(
            "{alerts} alert(s) inhibited by this incident's alerts (no call) — {}",
            titles.join("; ")
        ),
        HistoryKind::LineBusy { person, why } => format!("call to {person} waits: {why}"),
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

/// Every incident's history in time order, each placed call followed by what
/// happened on it (answered, what was said, keys, attributes the flow set,
/// how it ended). `first_alerts_only`: show one grouping line per incident
/// and a storm's first joiners (storms are summarised elsewhere). Returns text lines and JSON entries.
pub fn render(
    t0: DateTime<Utc>,
    incidents: &[Incident],
    calls: &[SimCall],
    first_alerts_only: bool,
) -> (Vec<String>, Vec<serde_json::Value>) {
    let mut lines = Vec::new();
    let mut json = Vec::new();
    let mut entries: Vec<(DateTime<Utc>, String, String, Option<String>)> = Vec::new();
    for inc in incidents {
        let label = incident_label(inc);
        let mut alerts_seen = false;
        let mut joined_seen = false;
        for h in &inc.history {
            // Condensed: a storm's member speaks through the storm, but a
            // call it placed before joining is the storm's call too.
            if first_alerts_only
                && inc.member_of.is_some()
                && !matches!(h.kind, HistoryKind::CallPlaced { .. })
            {
                continue;
            }
            if let HistoryKind::Alerts { .. } = h.kind {
                if first_alerts_only && alerts_seen {
                    continue;
                }
                alerts_seen = true;
            }
            // Condensed: a storm's first joiners, not each latecomer.
            if let HistoryKind::MembersJoined { .. } = h.kind {
                if first_alerts_only && joined_seen {
                    continue;
                }
                joined_seen = true;
            }
            let call_id = match &h.kind {
                HistoryKind::CallPlaced { call_id, .. } => Some(call_id.clone()),
                _ => None,
            };
            entries.push((h.at, label.clone(), describe(&h.kind), call_id));
            json.push(serde_json::json!({"at": h.at, "incident": inc.id, "system": label, "entry": h.kind}));
        }
    }
    // Calls ringdown hung up (someone else acknowledged): the simulated
    // call is cut where it was stopped.
    let stopped: std::collections::HashMap<&str, DateTime<Utc>> = incidents
        .iter()
        .flat_map(|i| &i.history)
        .filter_map(|h| match &h.kind {
            HistoryKind::CallStopped { call_id, .. } => Some((call_id.as_str(), h.at)),
            _ => None,
        })
        .collect();
    entries.sort_by_key(|e| e.0);
    for (at, label, text, call_id) in entries {
        lines.push(format!("{}  [{label}] {text}", offset(t0, at)));
        if let Some(call) = call_id.and_then(|id| calls.iter().find(|c| c.call_id == id)) {
            let cut_ms = stopped
                .get(call.call_id.as_str())
                .map(|t| (*t - call.placed_at).num_milliseconds().max(0) as u64);
            for e in &call.result.events {
                if cut_ms.is_some_and(|cut| e.offset_ms > cut) {
                    break;
                }
                let what = match &e.kind {
                    EventKind::Answered => Some("answered".to_string()),
                    EventKind::Said { text, .. } => Some(format!("says: {}", shorten(text, 110))),
                    EventKind::Pressed { keys } => Some(format!("pressed {keys}")),
                    EventKind::KeysLost { keys } => {
                        Some(format!("pressed {keys} while a prompt played (not heard)"))
                    }
                    EventKind::AttributeSet { key, value } if key != "rd_message" => {
                        Some(format!("flow sets {key}={value}"))
                    }
                    EventKind::Disconnected { reason } => Some(format!("disconnected ({reason})")),
                    _ => None,
                };
                if let Some(w) = what {
                    lines.push(format!(
                        "           │ {:>5.1}s  {w}",
                        e.offset_ms as f64 / 1000.0
                    ));
                }
            }
            if let Some(cut) = cut_ms {
                lines.push(format!(
                    "           │ {:>5.1}s  hung up by ringdown (API)",
                    cut as f64 / 1000.0
                ));
            }
        }
    }
    (lines, json)
}

fn shorten(s: &str, max: usize) -> String {
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.chars().count() <= max {
        s
    } else {
        format!("{}…", s.chars().take(max).collect::<String>())
    }
}
