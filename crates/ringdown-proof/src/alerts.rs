//! Alert payloads as monitoring systems send them.

use ringdown_core::escalation::{HistoryKind, Incident};

/// An Alertmanager v4 webhook carrying alerts `first..first + n` of `system`
/// (each alert is a different instance, so a different fingerprint).
pub fn webhook(system: &str, first: usize, n: usize, status: &str) -> String {
    let alerts: Vec<serde_json::Value> = (first..first + n)
        .map(|i| {
            serde_json::json!({
                "status": status,
                "labels": {"alertname": "HighLatency", "systemname": system, "instance": format!("{system}-{i:04}")},
                "annotations": {"summary": format!("latency high on {system}-{i:04}")},
                "startsAt": "2026-11-22T00:00:00Z", "endsAt": "0001-01-01T00:00:00Z"
            })
        })
        .collect();
    serde_json::json!({"version": "4", "status": status, "receiver": "ringdown", "groupKey": system, "alerts": alerts})
        .to_string()
}

/// A storm: `total` firing alerts spread round-robin over `systems` systems,
/// `per_message` alerts per webhook (Alertmanager batches a group's alerts
/// into one notification). Returns the message bodies.
pub fn storm(total: usize, systems: usize, per_message: usize) -> Vec<String> {
    let mut bodies = Vec::new();
    let mut sent = 0;
    let mut m = 0;
    while sent < total {
        let n = per_message.min(total - sent);
        let system = format!("sys{:02}", m % systems);
        bodies.push(webhook(&system, sent, n, "firing"));
        sent += n;
        m += 1;
    }
    bodies
}

/// The outcomes of an incident's calls, in order.
pub fn outcomes(inc: &Incident) -> Vec<&'static str> {
    inc.history
        .iter()
        .filter_map(|h| match &h.kind {
            HistoryKind::CallOutcome { outcome, .. } => Some(outcome.as_str()),
            _ => None,
        })
        .collect()
}
