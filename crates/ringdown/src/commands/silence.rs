//! `ringdown silence add|list|expire` against the configured store.

use super::{open_store, runtime, user};
use crate::cli::{Output, SilenceCommand};
use crate::config::Config;
use anyhow::Result;
use chrono::{DateTime, Utc};
use ringdown_core::matcher::Matcher;
use ringdown_core::silence::Silence;
use std::path::Path;
use std::process::ExitCode;

/// `30m`, `2h`, `1d`, `90s`.
pub fn parse_duration(s: &str) -> Result<chrono::Duration> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = num.parse().map_err(|_| {
        user(format!(
            "duration {s:?}: write a number and a unit, e.g. 30m, 2h, 1d"
        ))
    })?;
    let d = match unit {
        "s" => chrono::Duration::seconds(n),
        "m" => chrono::Duration::minutes(n),
        "h" | "" => chrono::Duration::hours(n),
        "d" => chrono::Duration::days(n),
        _ => return Err(user(format!("duration {s:?}: unit must be s, m, h or d"))),
    };
    if d <= chrono::Duration::zero() {
        return Err(user(format!("duration {s:?} must be positive")));
    }
    Ok(d)
}

pub fn silence(config: Option<&Path>, command: SilenceCommand) -> Result<ExitCode> {
    let cfg = Config::load(config)?;
    runtime()?.block_on(async {
        let store = open_store(&cfg).await?;
        let now = Utc::now();
        match command {
            SilenceCommand::Add {
                matchers,
                duration,
                until,
                reason,
                by,
            } => {
                let matchers: Vec<Matcher> = matchers
                    .iter()
                    .map(|m| Matcher::parse(m).map_err(|e| user(e.to_string())))
                    .collect::<Result<_>>()?;
                let ends: DateTime<Utc> = match (duration, until) {
                    (Some(d), _) => now + parse_duration(&d)?,
                    (None, Some(u)) => crate::commands::parse_at(Some(&u))?,
                    (None, None) => {
                        return Err(user("give --duration (e.g. 2h) or --until (RFC 3339)"))
                    }
                };
                let by = by
                    .or_else(|| std::env::var("USER").ok())
                    .unwrap_or_else(|| "cli".into());
                let s = Silence {
                    id: format!("cli-{}", now.format("%Y%m%d%H%M%S%3f")),
                    matchers,
                    starts_at: now.timestamp(),
                    ends_at: ends.timestamp(),
                    created_by: format!("cli:{by}"),
                    reason,
                };
                s.validate().map_err(user)?;
                store.put_silence(&s).await?;
                println!(
                    "silence {} until {} ({})",
                    s.id,
                    ends.to_rfc3339(),
                    matcher_text(&s)
                );
            }
            SilenceCommand::List { output } => {
                let list = store.silences(now).await?;
                match output {
                    Output::Json => println!("{}", serde_json::to_string_pretty(&list)?),
                    Output::Text => {
                        if list.is_empty() {
                            println!("no silences");
                        }
                        for s in &list {
                            let state = if s.is_active(now.timestamp()) {
                                "active"
                            } else {
                                "pending"
                            };
                            println!(
                                "{}  {state}  until {}  {}  by {}  — {}",
                                s.id,
                                DateTime::from_timestamp(s.ends_at, 0)
                                    .map(|d| d.to_rfc3339())
                                    .unwrap_or_default(),
                                matcher_text(s),
                                s.created_by,
                                s.reason
                            );
                        }
                    }
                }
            }
            SilenceCommand::Expire { id } => {
                if store.expire_silence(&id, now).await? {
                    println!("silence {id} expired");
                } else {
                    return Err(user(format!("no silence with id {id}")));
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

pub(super) fn matcher_text(s: &Silence) -> String {
    s.matchers
        .iter()
        .map(|m| m.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("2h").unwrap(), chrono::Duration::hours(2));
        assert_eq!(
            parse_duration("30m").unwrap(),
            chrono::Duration::minutes(30)
        );
        assert!(parse_duration("0h").is_err());
        assert!(parse_duration("2w").is_err());
        assert!(parse_duration("soon").is_err());
    }
}
