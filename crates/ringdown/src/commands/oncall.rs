//! `ringdown oncall`: who would be called, at a moment or over a period.

use super::{load_roster, open_store, parse_at, parse_labels, runtime, user};
use crate::cli::OncallOutput;
use crate::config::Config;
use anyhow::Result;
use chrono::{DateTime, Utc};
use ringdown_core::alert::Labels;
use ringdown_core::escalation::Incident;
use ringdown_core::roster::Roster;
use ringdown_core::storm::{self, Lines, Verdict};
use ringdown_engine::IncidentFilter;
use std::path::Path;
use std::process::ExitCode;

/// The roster file given, or the live roster from the configured store.
pub(super) fn roster_source(file: Option<&Path>, config: Option<&Path>) -> Result<Roster> {
    match file {
        Some(f) => load_roster(f),
        None => crate::commands::live_roster(config),
    }
}

/// The live roster and the open incidents of the configured store (those
/// of the last week: older ones cannot be in anyone's storm window), read
/// from one connection.
pub(super) fn live_roster_and_open_incidents(
    config: Option<&Path>,
    now: DateTime<Utc>,
) -> Result<(Roster, Vec<Incident>)> {
    let cfg = Config::load(config)?;
    runtime()?.block_on(async {
        let store = open_store(&cfg).await?;
        let roster = super::roster::stored_roster(store.as_ref()).await?;
        let all = store
            .incidents(&IncidentFilter {
                since: Some(now - chrono::Duration::days(7)),
                ..IncidentFilter::default()
            })
            .await?;
        Ok((
            roster,
            all.into_iter().filter(|i| !i.phase.is_closed()).collect(),
        ))
    })
}

/// Whether an alert for `person` at `now` would call on its own or be
/// part of their storm: the rules always, and with the store's open
/// incidents (`open`), what the daemon would decide right now.
pub fn storm_outlook(
    roster: &Roster,
    labels: &Labels,
    person: &str,
    open: Option<&[Incident]>,
    now: DateTime<Utc>,
) -> Vec<String> {
    let r = &roster.storm;
    let mut out = vec![format!(
        "Storms: if {person} is on another ringdown call, was rung for another incident in the last {} s, or has more than {} incidents within {} s, this alert becomes part of {person}'s storm: one call for all of them.",
        r.coalesce_secs, r.min_incidents, r.window_secs
    )];
    let Some(open) = open else {
        return out;
    };
    let Some(policy) = roster.policy_for(labels) else {
        return out;
    };
    let mut lines = Lines::new();
    for inc in open {
        lines.observe(inc);
    }
    let me = Incident::open("(this alert)", "", policy, labels.clone(), now);
    let title = |id: &str| {
        open.iter()
            .find(|i| i.id == id)
            .map(|i| format!("{id} ({})", i.title()))
            .unwrap_or_else(|| id.to_string())
    };
    let others: Vec<String> = lines
        .get(person)
        .map(|l| {
            let mut ids: Vec<&String> = l.calls.keys().chain(l.rung.keys()).collect();
            ids.sort();
            ids.dedup();
            ids.into_iter().map(|id| title(id)).collect()
        })
        .unwrap_or_default();
    out.push(match storm::verdict(&lines, &me, person, r, now) {
        Verdict::Free => format!("Now: nothing open holds {person}'s phone: this alert would call on its own."),
        Verdict::Storm => match lines.get(person).and_then(|l| l.storm.as_ref()) {
            Some(s) => format!(
                "Now: {person}'s storm {} is open: this alert would be part of it, heard on its next call, never in a call of its own.",
                title(&s.id)
            ),
            None => format!(
                "Now: this alert would form a storm with {}: one call for all of them.",
                others.join(", ")
            ),
        },
        Verdict::Wait { until, why } => format!(
            "Now: {why}; this alert would call at {} on its own.",
            until.with_timezone(&roster.timezone).format("%H:%M:%S %Z")
        ),
    });
    out
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
    open: Option<&[Incident]>,
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
            if let Some(first) = plan.iter().find(|e| e.phone.is_some()) {
                for l in storm_outlook(&roster, &labels, &first.person, open, now) {
                    println!("{l}");
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringdown_core::escalation::{decide, Context, Event, Settings};
    use ringdown_core::silence::SilenceIndex;
    use ringdown_core::storm::Lines;

    fn labels(system: &str) -> Labels {
        [("systemname".to_string(), system.to_string())]
            .into_iter()
            .collect()
    }

    #[test]
    fn an_alert_while_tanakas_phone_rings_for_web_would_form_a_storm_with_web() {
        let roster = Roster::from_yaml(crate::embedded::EXAMPLE_ROSTER).unwrap();
        // Tuesday 03:12 in Tokyo: tanaka is the primary.
        let now = DateTime::parse_from_rfc3339("2026-11-24T03:12:00+09:00")
            .unwrap()
            .with_timezone(&Utc);
        let policy = roster.policy_for(&labels("web")).unwrap();
        let web = Incident::open("inc-web", "default{web}", policy, labels("web"), now);
        let (settings, silences, lines) =
            (Settings::default(), SilenceIndex::default(), Lines::new());
        let ctx = Context {
            roster: &roster,
            silences: &silences,
            settings: &settings,
            lines: &lines,
        };
        let alert = ringdown_core::parse::parse(
            br#"{"title": "web down", "labels": {"systemname": "web"}}"#,
        )
        .unwrap();
        let (web, _) = decide(&web, Event::Alerts(alert), &ctx, now);
        let later = now + chrono::Duration::seconds(40);
        let (web, _) = decide(&web, Event::Tick, &ctx, later);
        assert!(web.call.is_some(), "tanaka's phone rings for web");

        let text = storm_outlook(&roster, &labels("db"), "tanaka", Some(&[web]), later).join("\n");
        assert!(
            text.contains("Now: this alert would form a storm with inc-web"),
            "{text}"
        );
        let quiet = storm_outlook(&roster, &labels("db"), "tanaka", Some(&[]), later).join("\n");
        assert!(quiet.contains("would call on its own"), "{quiet}");
    }
}
