//! Subcommands that read files and print: parse, validate, oncall.

use crate::cli::{
    AlertsCommand, AwsCommand, Cli, Command, ConfigCommand, OncallOutput, RosterCommand,
};
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use ringdown_core::roster::Roster;
use ringdown_core::Labels;
use std::io::Read;
use std::path::Path;
use std::process::ExitCode;

/// Bad input from the person at the keyboard: exit code 2, one clear message.
#[derive(Debug)]
pub struct UserError(pub String);

impl std::fmt::Display for UserError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for UserError {}

pub fn user(msg: impl Into<String>) -> anyhow::Error {
    UserError(msg.into()).into()
}

pub fn dispatch(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Run { config } => crate::local::main(config.as_deref()),
        Command::Demo { json } => crate::demo::main(json),
        Command::Drill {
            roster,
            alert,
            personas,
            at,
            minutes,
            json,
        } => crate::drill::main(
            crate::drill::DrillOptions {
                roster: &roster,
                alert: &alert,
                personas: personas.as_deref(),
                at: at.as_deref(),
                minutes,
            },
            json,
        ),
        Command::Alerts {
            command: AlertsCommand::Parse { file },
        } => alerts_parse(&file),
        Command::Roster {
            command: RosterCommand::Validate { file },
        } => roster_validate(&file),
        Command::Roster {
            command: RosterCommand::Apply { file, config },
        } => crate::admin::roster_apply(&file, config.as_deref()),
        Command::Roster {
            command: RosterCommand::Diff { file, config },
        } => crate::admin::roster_diff(&file, config.as_deref()),
        Command::Roster {
            command: RosterCommand::Export { config },
        } => crate::admin::roster_export(config.as_deref()),
        Command::Silence { config, command } => crate::admin::silence(config.as_deref(), command),
        Command::Config {
            command: ConfigCommand::Check { config },
        } => crate::admin::config_check(config.as_deref()),
        Command::Aws {
            command: AwsCommand::Bootstrap { config },
        } => crate::admin::aws_bootstrap(config.as_deref()),
        Command::Dlq { config, command } => crate::admin::dlq(config.as_deref(), command),
        Command::Incident { config, command } => crate::admin::incident(config.as_deref(), command),
        Command::Report {
            month,
            format,
            out,
            config,
        } => crate::report::main(config.as_deref(), &month, &format, out.as_deref()),
        Command::Oncall {
            roster,
            config,
            at,
            labels,
            from,
            to,
            output,
        } => match (from, to) {
            (Some(from), Some(to)) => oncall_period(
                roster_source(roster.as_deref(), config.as_deref())?,
                &from,
                &to,
                output,
            ),
            _ => oncall(
                roster_source(roster.as_deref(), config.as_deref())?,
                at.as_deref(),
                &labels,
                output,
            ),
        },
    }
}

fn read_input(file: &str) -> Result<Vec<u8>> {
    // Read one byte past the parser's limit so "too large" is reported by the
    // parser with its own message, without reading an unbounded stream.
    let limit = ringdown_core::parse::Limits::default().max_message_bytes as u64 + 1;
    let mut buf = Vec::new();
    if file == "-" {
        std::io::stdin()
            .take(limit)
            .read_to_end(&mut buf)
            .context("reading standard input")?;
    } else {
        std::fs::File::open(file)
            .map_err(|e| user(format!("cannot read {file}: {e}")))?
            .take(limit)
            .read_to_end(&mut buf)
            .map_err(|e| user(format!("cannot read {file}: {e}")))?;
    }
    Ok(buf)
}

fn alerts_parse(file: &str) -> Result<ExitCode> {
    let bytes = read_input(file)?;
    let alerts = ringdown_core::parse::parse(&bytes)
        .map_err(|e| user(format!("{} ({})", e, e.reason_code())))?;
    println!("{}", serde_json::to_string_pretty(&alerts)?);
    Ok(ExitCode::SUCCESS)
}

pub fn load_roster(path: &Path) -> Result<Roster> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| user(format!("cannot read {}: {e}", path.display())))?;
    Roster::from_yaml(&text).map_err(|errs| {
        let mut msg = format!(
            "{} is not a valid roster ({} problem(s)):",
            path.display(),
            errs.0.len()
        );
        for e in &errs.0 {
            msg.push_str("\n  - ");
            msg.push_str(e);
        }
        user(msg)
    })
}

fn roster_validate(file: &Path) -> Result<ExitCode> {
    let roster = load_roster(file)?;
    println!(
        "{}: ok ({} people, {} rotations, {} policies)",
        file.display(),
        roster.people.len(),
        roster.rotations.len(),
        roster.policies.len()
    );
    Ok(ExitCode::SUCCESS)
}

pub fn parse_at(at: Option<&str>) -> Result<DateTime<Utc>> {
    match at {
        None => Ok(Utc::now()),
        Some(s) => DateTime::parse_from_rfc3339(s)
            .map(|d| d.with_timezone(&Utc))
            .map_err(|e| {
                user(format!(
                    "--at {s:?} is not an RFC 3339 time (e.g. 2026-11-23T03:00:00+09:00): {e}"
                ))
            }),
    }
}

pub fn parse_labels(pairs: &[String]) -> Result<Labels> {
    pairs
        .iter()
        .map(|p| {
            p.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .filter(|(k, _)| !k.is_empty())
                .ok_or_else(|| user(format!("--label {p:?} must look like name=value")))
        })
        .collect()
}

/// The roster file given, or the live roster from the configured store.
fn roster_source(file: Option<&Path>, config: Option<&Path>) -> Result<Roster> {
    match file {
        Some(f) => load_roster(f),
        None => crate::admin::live_roster(config),
    }
}

fn oncall_period(roster: Roster, from: &str, to: &str, output: OncallOutput) -> Result<ExitCode> {
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

fn oncall(
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
