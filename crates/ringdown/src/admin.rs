//! Operator commands against the configured store: roster apply, silences,
//! configuration check.

use crate::cli::{IncidentCommand, Output, SilenceCommand};
use crate::commands::{load_roster, user};
use crate::config::Config;
use anyhow::Result;
use chrono::{DateTime, Utc};
use ringdown_core::escalation::Phase;
use ringdown_core::matcher::Matcher;
use ringdown_core::phone::mask;
use ringdown_core::silence::Silence;
use ringdown_engine::{IncidentFilter, Store};
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
/// topics, tables, stream, the contact-event rule) on the configured
/// endpoint, idempotently, and prints what exists.
pub fn aws_bootstrap(config: Option<&Path>) -> Result<ExitCode> {
    let cfg = Config::load(config)?;
    let aws = cfg.aws.clone().unwrap_or_default();
    runtime()?.block_on(async {
        let sdk = ringdown_aws::clients::sdk_config(&aws).await;
        let names = ringdown_aws::bootstrap::ResourceNames::from_prefix(&aws.table_prefix);
        // An instance given as its ARN narrows the contact-event rule to it.
        let opts = ringdown_aws::bootstrap::BootstrapOptions {
            connect_instance_arn: aws
                .connect_instance_id
                .clone()
                .filter(|id| id.starts_with("arn:")),
            ..Default::default()
        };
        let report = ringdown_aws::bootstrap::bootstrap_with(&sdk, &names, &opts).await?;
        println!("{}", serde_json::to_string_pretty(&report)?);
        Ok(ExitCode::SUCCESS)
    })
}

/// `ringdown dlq list|redrive` (AWS mode).
pub fn dlq(config: Option<&Path>, command: crate::cli::DlqCommand) -> Result<ExitCode> {
    let cfg = Config::load(config)?;
    let Some(aws) = cfg.aws.clone() else {
        return Err(user(
            "the dead-letter queue is part of the AWS mode (an [aws] section); the embedded \
             default answers an unparseable alert with HTTP 400 instead",
        ));
    };
    runtime()?.block_on(async {
        let sdk = ringdown_aws::clients::sdk_config(&aws).await;
        let sqs = ringdown_aws::clients::client(&sdk);
        let names = ringdown_aws::bootstrap::ResourceNames::from_prefix(&aws.table_prefix);
        let name = &names.alert_dlq;
        let dlq = ringdown_aws::sqs::queue_url_or(&sqs, aws.dlq_url.as_deref(), name)
            .await
            .map_err(|e| user(format!("finding queue {name}: {e} (set it in [aws])")))?;
        match command {
            crate::cli::DlqCommand::List { max, output } => {
                let list = ringdown_aws::dlq::list(&sqs, &dlq, max).await?;
                match output {
                    crate::cli::Output::Json => {
                        println!("{}", serde_json::to_string_pretty(&list)?)
                    }
                    crate::cli::Output::Text => {
                        if list.is_empty() {
                            println!("the dead-letter queue is empty");
                        }
                        for d in &list {
                            let when = d
                                .sent_at_ms
                                .and_then(chrono::DateTime::from_timestamp_millis)
                                .map(|t| t.to_rfc3339())
                                .unwrap_or_default();
                            println!(
                                "{}  {}  {}  {}",
                                d.message_id,
                                when,
                                d.reason
                                    .as_deref()
                                    .unwrap_or("moved by the queue (too many receives)"),
                                d.error.as_deref().unwrap_or("")
                            );
                        }
                    }
                }
            }
            crate::cli::DlqCommand::Redrive {
                max,
                include_unparseable,
            } => {
                let name = &names.alert_queue;
                let queue = ringdown_aws::sqs::queue_url_or(&sqs, aws.queue_url.as_deref(), name)
                    .await
                    .map_err(|e| user(format!("finding queue {name}: {e} (set it in [aws])")))?;
                let n = ringdown_aws::dlq::redrive(&sqs, &dlq, &queue, max, include_unparseable)
                    .await?;
                println!("{n} message(s) sent back to the alert queue");
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// The roster in force in the configured store.
pub fn live_roster(config: Option<&Path>) -> Result<ringdown_core::roster::Roster> {
    let cfg = Config::load(config)?;
    let doc = runtime()?.block_on(async {
        open_store(&cfg)
            .await?
            .load_roster()
            .await
            .map_err(anyhow::Error::from)
    })?;
    let doc = doc.ok_or_else(|| {
        user("the store has no roster yet: apply one with `ringdown roster apply FILE`")
    })?;
    ringdown_core::roster::Roster::from_yaml(&doc.yaml).map_err(|e| {
        user(format!(
            "the stored roster (version {}) is invalid: {}",
            doc.version,
            e.0.join("; ")
        ))
    })
}

/// A unified line diff of the stored roster against `new` ("" when equal).
fn diff_text(old: &str, new: &str, old_name: &str, new_name: &str) -> String {
    if old == new {
        return String::new();
    }
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(old_name, new_name)
        .to_string()
}

pub fn roster_diff(file: &Path, config: Option<&Path>) -> Result<ExitCode> {
    load_roster(file)?;
    let yaml = std::fs::read_to_string(file)?;
    let cfg = Config::load(config)?;
    runtime()?.block_on(async {
        let stored = open_store(&cfg).await?.load_roster().await?;
        let (old, name) = match &stored {
            Some(d) => (
                d.yaml.as_str(),
                format!("stored roster (version {})", d.version),
            ),
            None => ("", "stored roster (none)".to_string()),
        };
        let d = diff_text(old, &yaml, &name, &file.display().to_string());
        if d.is_empty() {
            println!("no changes");
        } else {
            print!("{d}");
        }
        Ok(ExitCode::SUCCESS)
    })
}

pub fn roster_export(config: Option<&Path>) -> Result<ExitCode> {
    let cfg = Config::load(config)?;
    runtime()?.block_on(async {
        match open_store(&cfg).await?.load_roster().await? {
            Some(doc) => {
                print!("{}", doc.yaml);
                Ok(ExitCode::SUCCESS)
            }
            None => Err(user(
                "the store has no roster yet: apply one with `ringdown roster apply FILE`",
            )),
        }
    })
}

pub fn roster_apply(file: &Path, config: Option<&Path>) -> Result<ExitCode> {
    let roster = load_roster(file)?;
    let yaml = std::fs::read_to_string(file)?;
    let cfg = Config::load(config)?;
    runtime()?.block_on(async {
        let store = open_store(&cfg).await?;
        let stored = store.load_roster().await?;
        if stored.as_ref().is_some_and(|d| d.yaml == yaml) {
            println!(
                "no changes: roster version {} is already in force",
                stored.map(|d| d.version).unwrap_or(0)
            );
            return Ok(ExitCode::SUCCESS);
        }
        let old = stored.as_ref().map(|d| d.yaml.as_str()).unwrap_or("");
        print!(
            "{}",
            diff_text(old, &yaml, "stored roster", &file.display().to_string())
        );
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

fn parse_phase(s: &str) -> Result<Phase> {
    const ALL: [Phase; 8] = [
        Phase::Grouping,
        Phase::Calling,
        Phase::Waiting,
        Phase::Suppressed,
        Phase::Acknowledged,
        Phase::Resolved,
        Phase::Silenced,
        Phase::Exhausted,
    ];
    ALL.into_iter().find(|p| p.as_str() == s).ok_or_else(|| {
        let names: Vec<&str> = ALL.iter().map(|p| p.as_str()).collect();
        user(format!("--state {s:?}: one of {}", names.join(", ")))
    })
}

/// `--since`: RFC 3339, or a duration back from now.
fn parse_since(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
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
                let list = store.list_incidents(&filter).await?;
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
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn incident_summary(i: &ringdown_core::escalation::Incident) -> serde_json::Value {
    serde_json::json!({
        "id": i.id, "state": i.phase.as_str(), "group_key": i.group_key, "policy": i.policy,
        "group_labels": i.group_labels, "opened_at": i.opened_at, "closed_at": i.closed_at,
        "alerts_received": i.alerts_received, "firing": i.firing.len(), "calls_placed": i.calls_placed,
        "acked_by": i.acked_by, "acked_at": i.acked_at,
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
    for w in cfg.warnings() {
        eprintln!("warning: {w}");
    }
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
