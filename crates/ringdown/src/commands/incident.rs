//! `ringdown incident list|show` against the configured store.

use super::{open_store, parse_duration, runtime, user};
use crate::cli::{IncidentCommand, Output};
use crate::config::Config;
use anyhow::Result;
use chrono::{DateTime, Utc};
use ringdown_core::escalation::Phase;
use ringdown_engine::IncidentFilter;
use std::path::Path;
use std::process::ExitCode;

pub(super) fn parse_phase(s: &str) -> Result<Phase> {
    Phase::ALL
        .into_iter()
        .find(|p| p.as_str() == s)
        .ok_or_else(|| {
            let names: Vec<&str> = Phase::ALL.iter().map(|p| p.as_str()).collect();
            user(format!("--state {s:?}: one of {}", names.join(", ")))
        })
}

/// `--since`: RFC 3339, or a duration back from now.
pub(super) fn parse_since(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    parse_duration(s).map(|d| now - d).map_err(|_| {
        user(format!(
            "--since {s:?}: give an RFC 3339 time or a duration such as 24h or 7d"
        ))
    })
}

pub fn incident(config: Option<&Path>, command: IncidentCommand) -> Result<ExitCode> {
    use crate::actions::{main as act, Action};
    let (action, args, hours) = match command {
        IncidentCommand::Ack(a) => (Action::Ack, a, None),
        IncidentCommand::Resolve(a) => (Action::Resolve, a, None),
        IncidentCommand::Escalate(a) => (Action::Escalate, a, None),
        IncidentCommand::Silence { act, hours } => (Action::Silence, act, Some(hours)),
        command => return look(config, command),
    };
    act(config, action, &args.id, args.by, hours, args.daemon)
}

fn look(config: Option<&Path>, command: IncidentCommand) -> Result<ExitCode> {
    let cfg = Config::load(config)?;
    runtime()?.block_on(async {
        let store = open_store(&cfg).await?;
        match command {
            IncidentCommand::List {
                since,
                state,
                limit,
                output,
            } => {
                let filter = IncidentFilter {
                    since: since
                        .as_deref()
                        .map(|s| parse_since(s, Utc::now()))
                        .transpose()?,
                    phase: state.as_deref().map(parse_phase).transpose()?,
                    limit: Some(limit),
                };
                let list = store.incidents(&filter).await?;
                match output {
                    Output::Json => {
                        let rows: Vec<serde_json::Value> =
                            list.iter().map(incident_summary).collect();
                        println!("{}", serde_json::to_string_pretty(&rows)?);
                    }
                    Output::Text => {
                        if list.is_empty() {
                            println!("no incidents");
                        }
                        for i in &list {
                            println!(
                                "{}  {:<12} {}  {:<28} alerts {:>5}  calls {:>3}{}",
                                i.id,
                                i.phase.as_str(),
                                i.opened_at.format("%Y-%m-%d %H:%M:%SZ"),
                                crate::timeline::incident_label(i),
                                i.alerts_received,
                                i.calls_placed,
                                i.acked_by
                                    .as_deref()
                                    .map(|p| format!("  acked by {p}"))
                                    .unwrap_or_default()
                            );
                        }
                    }
                }
            }
            IncidentCommand::Show { id, output } => {
                let Some(inc) = store.load_incident(&id).await? else {
                    return Err(user(format!("no incident with id {id}")));
                };
                let contacts = store.contacts_for_incident(&id).await?;
                match output {
                    Output::Json => {
                        let mut v = incident_summary(&inc);
                        v["timeline"] = serde_json::to_value(&inc.history)?;
                        v["calls"] = serde_json::to_value(&contacts)?;
                        println!("{}", serde_json::to_string_pretty(&v)?);
                    }
                    Output::Text => {
                        println!(
                            "incident {}  [{}]  {}",
                            inc.id,
                            crate::timeline::incident_label(&inc),
                            inc.phase.as_str()
                        );
                        println!("  group {}  policy {}", inc.group_key, inc.policy);
                        println!(
                            "  {} alert(s) received, {} firing, {} call(s)",
                            inc.alerts_received,
                            inc.firing.len(),
                            inc.calls_placed
                        );
                        println!("timeline:");
                        for h in &inc.history {
                            println!(
                                "  {}  {}",
                                h.at.format("%Y-%m-%d %H:%M:%SZ"),
                                crate::timeline::describe(&h.kind)
                            );
                        }
                        if !contacts.is_empty() {
                            println!("calls:");
                            for c in &contacts {
                                println!(
                                    "  {}  {:<12} {:<15} {:<14} {:<26} contact {}",
                                    c.placed_at.format("%Y-%m-%d %H:%M:%SZ"),
                                    c.person,
                                    c.phone_masked,
                                    c.outcome.map(|o| o.as_str()).unwrap_or("(pending)"),
                                    c.disconnect_reason.as_deref().unwrap_or("-"),
                                    c.contact_id
                                );
                            }
                        }
                    }
                }
            }
            _ => unreachable!("actions are handled by `incident`"),
        }
        Ok(ExitCode::SUCCESS)
    })
}

pub(super) fn incident_summary(i: &ringdown_core::escalation::Incident) -> serde_json::Value {
    serde_json::json!({
        "id": i.id, "state": i.phase.as_str(), "group_key": i.group_key, "policy": i.policy,
        "group_labels": i.group_labels, "opened_at": i.opened_at, "closed_at": i.closed_at,
        "alerts_received": i.alerts_received, "firing": i.firing.len(), "calls_placed": i.calls_placed,
        "acked_by": i.acked_by, "acked_at": i.acked_at,
    })
}
