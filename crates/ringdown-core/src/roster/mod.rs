//! The roster: who is called for which alert, on which number, when.
//!
//! Written by hand as YAML (format v1, documented in `docs/roster.md`),
//! parsed into `raw` serde structs, then validated into a [`Roster`] in one
//! pass that reports *every* problem ([`RosterErrors`]).
//!
//! Resolution is a pure function of the roster, the alert's labels and `now`:
//!
//! 1. [`Roster::policy_for`]: the first policy whose `match` fits the labels.
//! 2. [`Roster::resolve_step`]: a step's targets expanded in order
//!    (rotation → the person on call now, see [`rotation`]; person → that
//!    person), de-duplicated by person (first wins); for each, the first phone
//!    whose `when` window contains `now`, or `None` and why.
//! 3. [`Roster::plan`]: every step × attempt × target of the policy, as it
//!    would resolve at `now`.
//!
//! All wall-clock rules use the roster `timezone`. Instants outside years
//! 1–9999 are clamped to that range (so arbitrary input never panics).
use crate::alert::{Labels, Language};
use crate::matcher::Matcher;
use crate::phone;
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use std::collections::BTreeMap;

pub mod calendar;
pub mod holidays;
mod raw;
pub mod rotation;
mod validate;

#[cfg(test)]
mod tests;

pub use calendar::{Calendar, DayKind, HolidaySet, Hours, Window};
pub use rotation::{Handoff, OnCall, Override, Rotation, ShiftLen};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetRef {
    Rotation(String),
    Person(String),
}

impl std::fmt::Display for TargetRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TargetRef::Rotation(r) => write!(f, "rotation:{r}"),
            TargetRef::Person(p) => write!(f, "person:{p}"),
        }
    }
}

/// How a step rings its people.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepMode {
    /// One after another, in the order listed (the default).
    #[default]
    InOrder,
    /// Everyone at once; the first acknowledgement wins and the other
    /// calls are hung up.
    All,
    /// One after another, each new incident starting with the next person.
    RoundRobin,
}

impl StepMode {
    pub fn as_str(self) -> &'static str {
        match self {
            StepMode::InOrder => "in_order",
            StepMode::All => "all",
            StepMode::RoundRobin => "round_robin",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub targets: Vec<TargetRef>,
    /// `in_order` (default), `all` or `round_robin`.
    pub mode: StepMode,
    /// Calls per target in this step, at least 1 (default 1).
    pub attempts: u32,
    /// Wait between attempts (default 60).
    pub retry_after_secs: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub name: String,
    /// Label matchers; empty matches every alert.
    pub matchers: Vec<Matcher>,
    pub group_by: Vec<String>,
    /// Default 30.
    pub group_wait_secs: u64,
    /// How many *more* times the steps are walked after the first pass
    /// (0..=100, default 0): `repeat: 1` means two passes in all.
    pub repeat: u32,
    pub steps: Vec<Step>,
    /// An acknowledged incident still firing this long after the
    /// acknowledgement is paged again: the person who acknowledged first,
    /// then the escalation goes on. `None`: an acknowledgement holds until
    /// the alerts resolve.
    pub ack_timeout_secs: Option<u64>,
}

impl Policy {
    /// Whether a step takes turns between incidents (the shell then gives
    /// each new incident its turn number).
    pub fn takes_turns(&self) -> bool {
        self.steps.iter().any(|s| s.mode == StepMode::RoundRobin)
    }
}

/// One person a step resolves to at a moment: callable (`phone` is set) or
/// skipped (`phone` is `None`), and in both cases why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResolvedTarget {
    pub person: String,
    pub name: String,
    pub language: Language,
    pub phone: Option<String>,
    /// Which of the person's phones `phone` is (0-based).
    pub phone_index: Option<usize>,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanEntry {
    pub step: u32,
    pub attempt: u32,
    pub person: String,
    pub phone: Option<String>,
    pub reason: String,
}

/// Every problem found in a roster file, each naming its field path
/// (`people.sato.phones[0].number: …`).
#[derive(Debug, Clone, thiserror::Error)]
#[error("roster is invalid ({} problem{}):\n  {}", .0.len(), if .0.len() == 1 { "" } else { "s" }, .0.join("\n  "))]
pub struct RosterErrors(pub Vec<String>);

/// A phone number and when it may be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneRule {
    /// E.164.
    pub number: String,
    /// `None`: any time.
    pub when: Option<Window>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub id: String,
    /// Display name (defaults to the id).
    pub name: String,
    pub language: Language,
    /// In order of preference: the first whose window fits is used.
    pub phones: Vec<PhoneRule>,
    /// The person is only called inside this window (`only:`).
    pub only: Option<Window>,
}

/// Something that must report in regularly; when it stops, `policy` is run
/// with `labels` (used by the heartbeat work).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heartbeat {
    pub name: String,
    pub expect_every_secs: u64,
    pub policy: String,
    pub labels: Labels,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roster {
    pub timezone: Tz,
    pub calendars: BTreeMap<String, Calendar>,
    pub people: BTreeMap<String, Person>,
    pub rotations: BTreeMap<String, Rotation>,
    pub policies: Vec<Policy>,
    pub heartbeats: Vec<Heartbeat>,
    /// When incidents become one storm, and how close two calls to one
    /// phone may come (`storm:`).
    pub storm: StormRules,
    /// Alertmanager's inhibition: while a source alert fires, matching
    /// targets open no incident of their own (`inhibit_rules:`).
    pub inhibit_rules: Vec<InhibitRule>,
}

/// The roster's `storm:` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StormRules {
    /// More than this many incidents reaching the same person within
    /// `window_secs` become one storm (one call for all of them).
    pub min_incidents: u32,
    /// How far back incidents count towards a storm.
    pub window_secs: u64,
    /// A person rung for another incident this recently (or on a call now)
    /// hears a new incident in the same or the next call, not in a call of
    /// its own right after.
    pub coalesce_secs: u64,
}

impl Default for StormRules {
    fn default() -> Self {
        StormRules {
            min_incidents: 2,
            window_secs: 600,
            coalesce_secs: 180,
        }
    }
}

/// One of Alertmanager's `inhibit_rules`: while an alert matching
/// `source_matchers` fires, an alert matching `target_matchers` with the
/// same values of the `equal` labels (missing counts as empty) is inhibited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InhibitRule {
    pub source_matchers: Vec<Matcher>,
    pub target_matchers: Vec<Matcher>,
    pub equal: Vec<String>,
}

/// `chosen (not phone 1 …: why)`.
fn with_misses(chosen: String, misses: &[String]) -> String {
    if misses.is_empty() {
        chosen
    } else {
        format!("{chosen} (not {})", misses.join("; not "))
    }
}

/// An iPhone lets a second call from the same number through Do Not Disturb
/// and Focus when it comes within three minutes of the first ("Repeated
/// Calls").
pub const REPEATED_CALLS_WINDOW_SECS: u64 = 180;

/// The longest an unanswered call rings: Amazon Connect's 60 s for the
/// GENERAL calls ringdown places.
pub const LONGEST_RING_SECS: u64 = 60;

/// Most entries [`Roster::next_handoffs`] returns.
pub const MAX_HANDOFFS: usize = 10_000;

fn clamp_instant(t: DateTime<Utc>) -> DateTime<Utc> {
    let lo = NaiveDate::from_ymd_opt(1, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc())
        .unwrap_or(t);
    let hi = NaiveDate::from_ymd_opt(9999, 12, 31)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc())
        .unwrap_or(t);
    t.clamp(lo, hi)
}

impl Roster {
    /// Settings that work but give something up, each with its field path:
    /// `roster validate` and `roster apply` print them; they never stop a
    /// roster. Today: a step whose next attempt may come too late for an
    /// iPhone to let it through Do Not Disturb. The next call to a person
    /// comes `retry_after_secs` after the round ends, and a round rings each
    /// of its targets for up to [`LONGEST_RING_SECS`] in turn.
    pub fn advice(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (i, p) in self.policies.iter().enumerate() {
            for (j, step) in p.steps.iter().enumerate() {
                // A ring-all step rings everyone at once: one ring, not one each.
                let ringing = match step.mode {
                    StepMode::All => 1,
                    _ => step.targets.len() as u64,
                };
                let gap = ringing * LONGEST_RING_SECS + step.retry_after_secs;
                if step.attempts > 1 && gap > REPEATED_CALLS_WINDOW_SECS {
                    out.push(format!(
                        "policies[{i}].steps[{j}].retry_after_secs = {}: with {} call(s) in turn ringing up \
                         to {LONGEST_RING_SECS} s each, the next attempt may come {gap} s after the \
                         unanswered one began, past the {REPEATED_CALLS_WINDOW_SECS} s in which an \
                         iPhone lets a repeated call through Do Not Disturb; {} s or less keeps it",
                        step.retry_after_secs,
                        ringing,
                        REPEATED_CALLS_WINDOW_SECS.saturating_sub(ringing * LONGEST_RING_SECS),
                    ));
                }
            }
        }
        out
    }

    /// Parses and validates a roster file. On failure every problem found is
    /// returned, each as `field.path: what is wrong; how to fix`.
    pub fn from_yaml(src: &str) -> Result<Roster, RosterErrors> {
        validate::from_yaml(src)
    }

    pub fn policy_for(&self, labels: &Labels) -> Option<&Policy> {
        self.policies
            .iter()
            .find(|p| crate::matcher::all_match(&p.matchers, labels))
    }

    pub fn policy(&self, name: &str) -> Option<&Policy> {
        self.policies.iter().find(|p| p.name == name)
    }

    /// The full number of a call decided for `person` on phone `index`
    /// (incidents store masked numbers only). `masked` is what was decided:
    /// a number that no longer masks to it (the roster changed) is used all
    /// the same, the roster being the truth; a person or phone that is gone
    /// is an error.
    pub fn number_to_dial(
        &self,
        person: &str,
        index: usize,
        masked: &str,
    ) -> Result<String, String> {
        if !masked.contains('*') {
            // Decided before incidents held masked numbers only.
            return Ok(masked.to_string());
        }
        let p = self
            .person(person)
            .ok_or_else(|| format!("{person} is no longer in the roster"))?;
        let phone = p
            .phones
            .get(index)
            .ok_or_else(|| format!("{person}'s phone {} is no longer in the roster", index + 1))?;
        Ok(phone.number.clone())
    }

    pub fn person(&self, id: &str) -> Option<&Person> {
        self.people.get(id)
    }

    /// Who `rotation` has on call at `now` and why, e.g.
    /// `("tanaka", "rotation primary: shift 3 (2026-11-16 10:00 → 2026-11-23 10:00 Asia/Tokyo)")`.
    /// `None` for an unknown rotation. Rules: see [`rotation`].
    pub fn on_call(&self, rotation: &str, now: DateTime<Utc>) -> Option<(String, String)> {
        self.on_call_detail(rotation, now)
            .map(|o| (o.person, o.reason))
    }

    /// [`Roster::on_call`] with the assignment's start and end.
    pub fn on_call_detail(&self, rotation: &str, now: DateTime<Utc>) -> Option<OnCall> {
        let r = self.rotations.get(rotation)?;
        Some(r.on_call(self.timezone, clamp_instant(now)))
    }

    /// The schedule of `rotation` over `[from, to)`: the person on call at
    /// `from`, then one entry per change (hand-off, override start or end),
    /// consecutive identical assignments merged, at most [`MAX_HANDOFFS`].
    /// Empty for an unknown rotation or an empty period.
    pub fn next_handoffs(
        &self,
        rotation: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Vec<Handoff> {
        match self.rotations.get(rotation) {
            Some(r) => r.schedule(
                self.timezone,
                clamp_instant(from),
                clamp_instant(to),
                MAX_HANDOFFS,
            ),
            None => Vec::new(),
        }
    }

    /// Whether `person` may be called at `now` and on which number:
    /// `Ok((number, why))` or `Err(why not)`.
    pub fn phone_for(
        &self,
        person: &Person,
        now: DateTime<Utc>,
    ) -> Result<(String, String), String> {
        self.phone_choice(person, now).map(|(_, n, why)| (n, why))
    }

    /// [`Self::phone_for`] with the phone's index among the person's phones.
    pub fn phone_choice(
        &self,
        person: &Person,
        now: DateTime<Utc>,
    ) -> Result<(usize, String, String), String> {
        let now = clamp_instant(now);
        let local = now.with_timezone(&self.timezone).naive_local();
        let stamp = format!("{} {}", local.format("%Y-%m-%d %H:%M"), self.timezone);
        if let Some(only) = &person.only {
            if let Err(why) = only.check(local, &self.calendars) {
                let rule = match (&only.calendar, &only.hours) {
                    (Some(c), None) => format!("only called on business days of {c}"),
                    _ => format!("only called {}", only.describe()),
                };
                return Err(format!("{} is {rule}; {why}", person.id));
            }
        }
        let mut misses = Vec::new();
        for (i, p) in person.phones.iter().enumerate() {
            let masked = phone::mask(&p.number);
            match &p.when {
                None => {
                    return Ok((
                        i,
                        p.number.clone(),
                        with_misses(format!("phone {} ({masked}) any time", i + 1), &misses),
                    ))
                }
                Some(w) => match w.check(local, &self.calendars) {
                    Ok(why) => {
                        return Ok((
                            i,
                            p.number.clone(),
                            with_misses(
                                format!("phone {} ({masked}) {}: {why}", i + 1, w.describe()),
                                &misses,
                            ),
                        ))
                    }
                    Err(why) => misses.push(format!(
                        "phone {} ({masked}) {}: {why}",
                        i + 1,
                        w.describe()
                    )),
                },
            }
        }
        Err(format!(
            "no phone of {} fits {stamp}: {}",
            person.id,
            if misses.is_empty() {
                "no phones".to_string()
            } else {
                misses.join("; ")
            }
        ))
    }

    /// A step's targets at `now`, in order, one entry per person (first
    /// mention wins). Unknown step index or unknown references (impossible
    /// for a validated roster) yield nothing.
    pub fn resolve_step(
        &self,
        policy: &Policy,
        step: usize,
        now: DateTime<Utc>,
    ) -> Vec<ResolvedTarget> {
        let now = clamp_instant(now);
        let Some(step) = policy.steps.get(step) else {
            return Vec::new();
        };
        let mut out: Vec<ResolvedTarget> = Vec::new();
        for target in &step.targets {
            let (id, via) = match target {
                TargetRef::Person(p) => (p.clone(), format!("person:{p}")),
                TargetRef::Rotation(r) => match self.on_call(r, now) {
                    Some((p, why)) => (p, why),
                    None => continue,
                },
            };
            if out.iter().any(|t| t.person == id) {
                continue;
            }
            let Some(person) = self.people.get(&id) else {
                continue;
            };
            let (phone, phone_index, why) = match self.phone_choice(person, now) {
                Ok((i, n, why)) => (Some(n), Some(i), why),
                Err(why) => (None, None, format!("skipped: {why}")),
            };
            out.push(ResolvedTarget {
                person: id,
                name: person.name.clone(),
                language: person.language,
                phone,
                phone_index,
                reason: format!("{via}; {why}"),
            });
        }
        out
    }

    /// The whole first pass of the matching policy as it resolves at `now`:
    /// for each step (1-based), each attempt 1..=attempts, each target. Empty
    /// when no policy matches. Skipped targets are included with
    /// `phone: None`. (`repeat` passes are not expanded.)
    pub fn plan(&self, labels: &Labels, now: DateTime<Utc>) -> Vec<PlanEntry> {
        let Some(policy) = self.policy_for(labels) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, step) in policy.steps.iter().enumerate() {
            let targets = self.resolve_step(policy, i, now);
            for attempt in 1..=step.attempts {
                for t in &targets {
                    out.push(PlanEntry {
                        step: (i + 1) as u32,
                        attempt,
                        person: t.person.clone(),
                        phone: t.phone.clone(),
                        reason: t.reason.clone(),
                    });
                }
            }
        }
        out
    }
}
