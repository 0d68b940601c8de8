//! Operator commands against the configured store: roster apply, silences,
//! configuration check.

use crate::cli::{Output, SilenceCommand};
use crate::commands::{load_roster, user};
use crate::config::Config;
use anyhow::Result;
use chrono::{DateTime, Utc};
use ringdown_core::matcher::Matcher;
use ringdown_core::phone::mask;
use ringdown_core::silence::Silence;
use ringdown_engine::Store;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// The store the configuration points at.
pub async fn open_store(cfg: &Config) -> Result<Arc<dyn Store>> {
    match &cfg.aws {
        Some(aws) => {
            let sdk = ringdown_aws::clients::sdk_config(aws).await;
            Ok(Arc::new(ringdown_aws::dynamodb::DynamoStore::from_conf(
                &sdk,
                &aws.table_prefix,
            )))
        }
        None => Ok(Arc::new(ringdown_local::SqliteStore::open(
            &cfg.store.sqlite_path,
        )?)),
    }
}

/// `ringdown aws bootstrap`: creates every AWS resource ringdown uses (queues,
/// topics, tables, stream) on the configured endpoint, idempotently, and prints
/// what exists.
pub fn aws_bootstrap(config: Option<&Path>) -> Result<ExitCode> {
    let cfg = Config::load(config)?;
    let aws = cfg.aws.clone().unwrap_or_default();
    runtime()?.block_on(async {
        let sdk = ringdown_aws::clients::sdk_config(&aws).await;
        let names = ringdown_aws::bootstrap::ResourceNames::from_prefix(&aws.table_prefix);
        let report = ringdown_aws::bootstrap::bootstrap(&sdk, &names).await?;
        println!("{}", serde_json::to_string_pretty(&report)?);
        Ok(ExitCode::SUCCESS)
    })
}

pub fn roster_apply(file: &Path, config: Option<&Path>) -> Result<ExitCode> {
    let roster = load_roster(file)?;
    let yaml = std::fs::read_to_string(file)?;
    let cfg = Config::load(config)?;
    runtime()?.block_on(async {
        let store = open_store(&cfg).await?;
        let doc = store.save_roster(&yaml, Utc::now()).await?;
        println!(
            "roster version {} applied ({} people, {} rotations, {} policies)",
            doc.version,
            roster.people.len(),
            roster.rotations.len(),
            roster.policies.len()
        );
        Ok(ExitCode::SUCCESS)
    })
}

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

fn matcher_text(s: &Silence) -> String {
    s.matchers
        .iter()
        .map(|m| m.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Prints the effective configuration. Values whose key suggests a secret are
/// replaced, and phone numbers are masked.
pub fn config_check(config: Option<&Path>) -> Result<ExitCode> {
    let cfg = Config::load(config)?;
    let mut value = toml::Value::try_from(&cfg)?;
    redact(&mut value, "");
    println!("{}", toml::to_string_pretty(&value)?);
    Ok(ExitCode::SUCCESS)
}

fn redact(v: &mut toml::Value, key: &str) {
    match v {
        toml::Value::Table(t) => {
            for (k, v) in t.iter_mut() {
                redact(v, k);
            }
        }
        toml::Value::Array(a) => a.iter_mut().for_each(|v| redact(v, key)),
        toml::Value::String(s) => {
            let k = key.to_ascii_lowercase();
            if ["secret", "password", "token", "credential", "access_key"]
                .iter()
                .any(|w| k.contains(w))
            {
                *s = "<hidden>".into();
            } else if s.starts_with('+')
                && s.len() > 8
                && s[1..].chars().all(|c| c.is_ascii_digit())
            {
                *s = mask(s);
            }
        }
        _ => {}
    }
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

    #[test]
    fn secrets_and_numbers_are_hidden() {
        let mut v: toml::Value =
            toml::from_str("a = \"+819012345678\"\n[x]\nsecret_key = \"abc\"\n").unwrap();
        redact(&mut v, "");
        let s = v.to_string();
        assert!(
            s.contains("+81******5678") && s.contains("<hidden>") && !s.contains("abc"),
            "{s}"
        );
    }
}
