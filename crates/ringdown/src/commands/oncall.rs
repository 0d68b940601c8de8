//! `ringdown oncall`: who would be called, at a moment or over a period.

use super::{load_roster, parse_at, parse_labels, user};
use crate::cli::OncallOutput;
use anyhow::Result;
use chrono::Utc;
use ringdown_core::roster::Roster;
use std::path::Path;
use std::process::ExitCode;

/// The roster file given, or the live roster from the configured store.
pub(super) fn roster_source(file: Option<&Path>, config: Option<&Path>) -> Result<Roster> {
    match file {
        Some(f) => load_roster(f),
        None => crate::commands::live_roster(config),
    }
}

pub(super) fn oncall_period(
    roster: Roster,
    from: &str,
    to: &str,
    output: OncallOutput,
) -> Result<ExitCode> {
    let (from, to) = (parse_at(Some(from))?, parse_at(Some(to))?);
    if to <= from {
        return Err(user("--to must be after --from"));
    }
    if to - from > chrono::Duration::days(366) {
        return Err(user("the period is limited to one year"));
    }
    let s = crate::schedule::schedule(&roster, from, to);
    match output {
        OncallOutput::Text => print!("{}", crate::schedule::to_text(&roster, &s)),
        OncallOutput::Json => println!("{}", serde_json::to_string_pretty(&s)?),
        OncallOutput::Ics => print!("{}", crate::schedule::to_ics(&s, Utc::now())),
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) fn oncall(
    roster: Roster,
    at: Option<&str>,
    labels: &[String],
    output: OncallOutput,
) -> Result<ExitCode> {
    if output == OncallOutput::Ics {
        return Err(user("--output ics needs a period: --from T1 --to T2"));
    }
    let now = parse_at(at)?;
    let labels = parse_labels(labels)?;
    let plan = roster.plan(&labels, now);
    match output {
        OncallOutput::Json | OncallOutput::Ics => {
            println!("{}", serde_json::to_string_pretty(&plan)?)
        }
        OncallOutput::Text => {
            let Some(policy) = roster.policy_for(&labels) else {
                println!("No policy matches {labels:?}: nobody would be called. Add a catch-all policy (match: {{}}).");
                return Ok(ExitCode::SUCCESS);
            };
            let local = now.with_timezone(&roster.timezone);
            println!(
                "At {} ({}), policy `{}` calls:",
                local.format("%Y-%m-%d %H:%M %Z"),
                now.format("%H:%MZ"),
                policy.name
            );
            for e in &plan {
                let phone = e
                    .phone
                    .as_deref()
                    .map(ringdown_core::phone::mask)
                    .unwrap_or_else(|| "skipped".into());
                println!(
                    "  step {} attempt {}  {:<12} {:<15} {}",
                    e.step, e.attempt, e.person, phone, e.reason
                );
            }
            if policy.repeat > 0 {
                println!(
                    "then the whole policy again, {} more time(s); then the fallback channel.",
                    policy.repeat
                );
            } else {
                println!("then the fallback channel.");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
