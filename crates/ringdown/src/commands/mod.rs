//! The subcommands, one module per group; `dispatch` sends each command to
//! its module. Errors the person at the keyboard can fix are [`UserError`]s
//! (exit status 2, one clear message).

mod alerts;
mod aws;
mod config_check;
mod import;
mod incident;
mod oncall;
mod roster;
mod silence;

pub use roster::{diff_text as roster_diff_text, live_roster, load_roster};
pub use silence::parse_duration;

use crate::cli::{AlertsCommand, AwsCommand, Cli, Command, ConfigCommand, RosterCommand};
use crate::config::Config;
use anyhow::Result;
use chrono::{DateTime, Utc};
use ringdown_core::Labels;
use ringdown_engine::Store;
use std::process::ExitCode;
use std::sync::Arc;

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
        Command::Run {
            config,
            shadow,
            shadow_log,
        } => crate::daemon::main(config.as_deref(), shadow, shadow_log),
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
        } => alerts::alerts_parse(&file),
        Command::Roster {
            command: RosterCommand::Validate { file },
        } => roster::roster_validate(&file),
        Command::Roster {
            command: RosterCommand::Apply { file, config },
        } => roster::roster_apply(&file, config.as_deref()),
        Command::Roster {
            command: RosterCommand::Diff { file, config },
        } => roster::roster_diff(&file, config.as_deref()),
        Command::Roster {
            command:
                RosterCommand::ContactCard {
                    config,
                    numbers,
                    name,
                    out,
                },
        } => roster::roster_contact_card(config.as_deref(), &numbers, &name, out.as_deref()),
        Command::Roster {
            command: RosterCommand::Export { config },
        } => roster::roster_export(config.as_deref()),
        Command::Silence { config, command } => silence::silence(config.as_deref(), command),
        Command::Config {
            command: ConfigCommand::Check { config },
        } => config_check::config_check(config.as_deref()),
        Command::Aws {
            command: AwsCommand::Bootstrap { config },
        } => aws::aws_bootstrap(config.as_deref()),
        Command::Dlq { config, command } => aws::dlq(config.as_deref(), command),
        Command::Incident { config, command } => incident::incident(config.as_deref(), command),
        Command::Import { command } => import::import(command),
        Command::Report {
            month,
            format,
            out,
            config,
            shadow,
            compare,
            window_mins,
        } => match (month, compare) {
            (_, Some(old)) => {
                crate::shadow::report::main(&shadow, &old, window_mins, &format, out.as_deref())
            }
            (Some(month), None) => {
                crate::report::main(config.as_deref(), &month, &format, out.as_deref())
            }
            (None, None) => Err(user("--month YYYY-MM, or --shadow FILE --compare FILE")),
        },
        Command::Oncall {
            roster,
            config,
            at,
            labels,
            from,
            to,
            output,
        } => match (from, to) {
            (Some(from), Some(to)) => oncall::oncall_period(
                oncall::roster_source(roster.as_deref(), config.as_deref())?,
                &from,
                &to,
                output,
            ),
            _ => {
                // The live roster comes with the live incidents: whether
                // this alert would be part of a storm right now.
                let (roster, open) = match &roster {
                    Some(file) => (load_roster(file)?, None),
                    None => {
                        let (roster, open) = oncall::live_roster_and_open_incidents(
                            config.as_deref(),
                            parse_at(at.as_deref())?,
                        )?;
                        (roster, Some(open))
                    }
                };
                oncall::oncall(roster, at.as_deref(), &labels, output, open.as_deref())
            }
        },
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// The store the configuration points at.
pub async fn open_store(cfg: &Config) -> Result<Arc<dyn Store>> {
    match &cfg.aws {
        #[cfg(feature = "aws")]
        Some(aws) => {
            let sdk = ringdown_aws::clients::sdk_config(aws).await;
            Ok(Arc::new(ringdown_aws::dynamodb::DynamoStore::from_conf(
                &sdk,
                &aws.table_prefix,
            )))
        }
        #[cfg(not(feature = "aws"))]
        Some(_) => Err(crate::aws::missing()),
        None => Ok(Arc::new(ringdown_local::SqliteStore::open(
            &cfg.store.sqlite_path,
        )?)),
    }
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
