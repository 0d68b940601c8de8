//! `ringdown roster validate|apply|diff|export`: the roster file and the one in force.

use super::{open_store, runtime, user};
use crate::config::Config;
use anyhow::Result;
use chrono::Utc;
use ringdown_core::roster::Roster;
use std::path::Path;
use std::process::ExitCode;

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

pub(super) fn roster_validate(file: &Path) -> Result<ExitCode> {
    let roster = load_roster(file)?;
    println!(
        "{}: ok ({} people, {} rotations, {} policies)",
        file.display(),
        roster.people.len(),
        roster.rotations.len(),
        roster.policies.len()
    );
    print_advice(&roster);
    Ok(ExitCode::SUCCESS)
}

/// What the roster gives up, on standard error: worth knowing, never fatal.
fn print_advice(roster: &Roster) {
    for a in roster.advice() {
        eprintln!("warning: {a}");
    }
}

/// `ringdown roster contact-card`: the vCard of the caller numbers.
pub(super) fn roster_contact_card(
    config: Option<&Path>,
    numbers: &[String],
    name: &str,
    out: Option<&Path>,
) -> Result<ExitCode> {
    let cfg = Config::load(config)?;
    let mut all: Vec<String> = cfg
        .aws
        .as_ref()
        .and_then(|a| a.source_phone_number.clone())
        .into_iter()
        .collect();
    for n in numbers {
        if !all.contains(n) {
            all.push(n.clone());
        }
    }
    let card = crate::contact_card::render(name, &all).map_err(user)?;
    match out {
        Some(path) => {
            std::fs::write(path, &card)
                .map_err(|e| user(format!("cannot write {}: {e}", path.display())))?;
            eprintln!(
                "ringdown: wrote a contact card with {} caller number(s) to {}",
                all.len(),
                path.display()
            );
        }
        None => print!("{card}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// The roster in force in the configured store.
pub fn live_roster(config: Option<&Path>) -> Result<ringdown_core::roster::Roster> {
    let cfg = Config::load(config)?;
    runtime()?.block_on(async { stored_roster(open_store(&cfg).await?.as_ref()).await })
}

/// The roster `store` holds now.
pub(super) async fn stored_roster(
    store: &dyn ringdown_engine::Store,
) -> Result<ringdown_core::roster::Roster> {
    let doc = store.load_roster().await?;
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
pub fn diff_text(old: &str, new: &str, old_name: &str, new_name: &str) -> String {
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
        print_advice(&roster);
        Ok(ExitCode::SUCCESS)
    })
}
