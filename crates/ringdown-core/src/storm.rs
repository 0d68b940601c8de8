//! Storms: when one broken line makes many systems alert, each person on
//! call gets one call about all of it, and one key acknowledges it all.
//!
//! Two rules, one mechanism. An incident about to call a person joins (or
//! forms) that person's *storm* instead of calling when
//! - the person's phone is busy with another incident's call, or was rung
//!   for another incident less than `coalesce_secs` ago (a phone answers one
//!   call at a time; a second call right after the first for a different
//!   incident is one call too many), or
//! - more than `min_incidents` incidents that reached the person opened
//!   within `window_secs` (the storm rule of the roster's `storm:`).
//!
//! A storm is an incident of its own (group key `storm/<person>`, so a
//! store holds at most one open storm per person, whichever replica forms
//! it) that walks the policy of its first member and calls with one message
//! for all members. Members place no call of their own: a member's call
//! already in flight when it joined is *adopted* (its outcome is the
//! storm's), and every later call is the storm's. What the storm learns it
//! passes on: an acknowledgement, a silence, a hand resolution or the end
//! of the escalation reach every member ([`MemberCommand`]); members tell
//! the storm when an adopted call ended and when they close
//! ([`StormNote`]). Members resolving never ring anyone: the storm resolves
//! when its last member closes.
//!
//! [`Lines`] is what the shell knows of every person's phone (the open
//! incidents' calls in flight and last calls), kept up to date from each
//! incident it saves; [`verdict`] is the pure rule applied before a call.

use crate::escalation::{Incident, Phase};
use crate::outcome::Outcome;
use crate::roster::StormRules;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// The group key of `person`'s storm: one open storm per person.
pub fn group_key(person: &str) -> String {
    format!("storm/{person}")
}

/// One incident of a storm, as the storm keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StormMember {
    pub id: String,
    /// What the call names it by: its group labels (`systemname payments`)
    /// or, without any, its first alert.
    pub system: String,
    /// Its title (group labels and first alert), read in full when it is
    /// the storm's first.
    pub title: String,
    pub opened_at: DateTime<Utc>,
    pub joined_at: DateTime<Utc>,
    /// Alerts firing in it when it joined.
    pub firing: u64,
    /// A call of the member to the storm's person still in flight when it
    /// joined: its outcome is the storm's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adopted_call: Option<String>,
    /// How it closed; `None` while open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed: Option<Phase>,
    /// It holds an alert of an inhibition rule's `source_matchers` (a line
    /// down, a data centre unreachable): the storm's call reads it in full.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub source: bool,
}

impl StormMember {
    /// `inc` as a member, joining at `now`; `adopted_call` is its call in
    /// flight to the storm's person, if any.
    pub fn of(inc: &Incident, adopted_call: Option<String>, now: DateTime<Utc>) -> StormMember {
        let system = if inc.group_labels.is_empty() {
            inc.samples
                .first()
                .map(|s| s.title.clone())
                .unwrap_or_else(|| inc.group_key.clone())
        } else {
            inc.group_labels
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        StormMember {
            id: inc.id.clone(),
            system: crate::escalation::clip(&system, 160),
            title: crate::escalation::clip(&inc.title(), 500),
            opened_at: inc.opened_at,
            joined_at: now,
            firing: inc.firing.len() as u64 + inc.untracked_alerts,
            adopted_call,
            closed: None,
            source: !inc.sources.is_empty(),
        }
    }
}

/// What a storm incident holds beside an incident's usual fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Storm {
    /// Whose storm it is (the person its members were about to call).
    pub person: String,
    pub members: Vec<StormMember>,
}

impl Storm {
    pub fn open_members(&self) -> impl Iterator<Item = &StormMember> {
        self.members.iter().filter(|m| m.closed.is_none())
    }

    /// Adopted calls whose outcome the storm still waits for.
    pub fn adopted(&self) -> impl Iterator<Item = &str> {
        self.open_members()
            .filter_map(|m| m.adopted_call.as_deref())
    }

    pub fn is_member(&self, id: &str) -> bool {
        self.members.iter().any(|m| m.id == id)
    }
}

/// What a storm tells its members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum MemberCommand {
    Acknowledge {
        by: String,
    },
    /// Silence the member's own scope (as its own keypad silence would).
    Silence {
        by: String,
        hours: u32,
    },
    Resolve {
        by: String,
    },
    /// The storm's escalation ended without anyone answering (its fallback
    /// notice speaks for the members).
    Ended {
        reason: String,
    },
}

impl MemberCommand {
    /// The event a member decides on for this command.
    pub fn event(&self) -> crate::escalation::Event {
        use crate::escalation::Event;
        match self {
            MemberCommand::Acknowledge { by } => Event::Acknowledge { by: by.clone() },
            MemberCommand::Silence { by, hours } => Event::Silence {
                by: by.clone(),
                hours: *hours,
            },
            MemberCommand::Resolve { by } => Event::Resolve { by: by.clone() },
            MemberCommand::Ended { reason } => Event::StormEnded {
                reason: reason.clone(),
            },
        }
    }
}

/// What a member tells its storm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "note", rename_all = "snake_case")]
pub enum StormNote {
    /// A call the storm adopted ended.
    CallEnded {
        member_id: String,
        call_id: String,
        person: String,
        outcome: Outcome,
    },
    /// The member closed (resolved, silenced, by hand).
    Closed { member_id: String, phase: Phase },
}

/// An incident's last call to a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastCall {
    pub person: String,
    pub at: DateTime<Utc>,
}

/// What the shell knows of everyone's phone: built from the open incidents
/// it holds, updated with every incident it saves.
#[derive(Debug, Default, Clone)]
pub struct Lines {
    people: HashMap<String, Line>,
    /// Incident id → the people it is recorded under.
    seen: HashMap<String, Vec<String>>,
}

/// One person's phone.
#[derive(Debug, Default, Clone)]
pub struct Line {
    /// Open incidents with a call in flight to the person.
    pub calls: BTreeMap<String, Peer>,
    /// Open incidents whose last call went to the person.
    pub rung: BTreeMap<String, Peer>,
    /// The person's open storm.
    pub storm: Option<StormLine>,
}

/// Another incident as a line sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// When its call was placed.
    pub at: DateTime<Utc>,
    pub opened_at: DateTime<Utc>,
    /// Open, unacknowledged, and in no storm: it may form one.
    pub joinable: bool,
    /// The storm it belongs to.
    pub member_of: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StormLine {
    pub id: String,
    pub acked_at: Option<DateTime<Utc>>,
}

impl Lines {
    pub fn new() -> Lines {
        Lines::default()
    }

    pub fn get(&self, person: &str) -> Option<&Line> {
        self.people.get(person)
    }

    /// Records `inc` as saved (replacing what was known of it).
    pub fn observe(&mut self, inc: &Incident) {
        self.forget(&inc.id);
        if inc.phase.is_closed() {
            return;
        }
        let mut people = Vec::new();
        let peer = |at: DateTime<Utc>| Peer {
            at,
            opened_at: inc.opened_at,
            joinable: inc.phase != Phase::Acknowledged
                && inc.member_of.is_none()
                && inc.storm.is_none(),
            member_of: inc.member_of.clone(),
        };
        if let Some(storm) = &inc.storm {
            self.people.entry(storm.person.clone()).or_default().storm = Some(StormLine {
                id: inc.id.clone(),
                acked_at: inc.acked_at.filter(|_| inc.phase == Phase::Acknowledged),
            });
            people.push(storm.person.clone());
        }
        for call in inc.calls() {
            let line = self.people.entry(call.person.clone()).or_default();
            line.calls.insert(inc.id.clone(), peer(call.placed_at));
            people.push(call.person.clone());
        }
        if let Some(last) = &inc.last_call {
            let line = self.people.entry(last.person.clone()).or_default();
            line.rung.insert(inc.id.clone(), peer(last.at));
            people.push(last.person.clone());
        }
        if !people.is_empty() {
            self.seen.insert(inc.id.clone(), people);
        }
    }

    pub fn forget(&mut self, id: &str) {
        let Some(people) = self.seen.remove(id) else {
            return;
        };
        for p in people {
            let Some(line) = self.people.get_mut(&p) else {
                continue;
            };
            line.calls.remove(id);
            line.rung.remove(id);
            if line.storm.as_ref().is_some_and(|s| s.id == id) {
                line.storm = None;
            }
            if line.calls.is_empty() && line.rung.is_empty() && line.storm.is_none() {
                self.people.remove(&p);
            }
        }
    }

    /// The incidents that would form `person`'s storm with a newcomer:
    /// those calling the person now, rung recently, or opened within the
    /// window, that are free to join. Each with its call in flight to the
    /// person, if any (ids only: the shell loads them).
    pub fn storm_peers(
        &self,
        person: &str,
        exclude: &str,
        rules: &StormRules,
        now: DateTime<Utc>,
    ) -> Vec<String> {
        let Some(line) = self.people.get(person) else {
            return Vec::new();
        };
        let window = Duration::seconds(rules.window_secs as i64);
        let coalesce = Duration::seconds(rules.coalesce_secs as i64);
        let mut ids: Vec<String> = line
            .calls
            .iter()
            .filter(|(_, p)| p.joinable)
            .map(|(id, _)| id.clone())
            .chain(
                line.rung
                    .iter()
                    .filter(|(_, p)| {
                        p.joinable && (now - p.at < coalesce || now - p.opened_at < window)
                    })
                    .map(|(id, _)| id.clone()),
            )
            .filter(|id| id != exclude)
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }
}

/// What an incident about to call a person must do instead, if anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Call.
    Free,
    /// Join the person's storm, forming it if need be.
    Storm,
    /// Wait until `until`: the phone is busy or was just rung, and no storm
    /// can take the call.
    Wait { until: DateTime<Utc>, why: String },
}

/// How often a call waiting for a busy phone looks again.
pub const BUSY_RECHECK_SECS: i64 = 15;

/// The rule of the module's documentation, for `me` about to call `person`.
pub fn verdict(
    lines: &Lines,
    me: &Incident,
    person: &str,
    rules: &StormRules,
    now: DateTime<Utc>,
) -> Verdict {
    let Some(line) = lines.get(person) else {
        return Verdict::Free;
    };
    let window = Duration::seconds(rules.window_secs as i64);
    let coalesce = Duration::seconds(rules.coalesce_secs as i64);
    let recheck = now + Duration::seconds(BUSY_RECHECK_SECS);
    let not_mine =
        |id: &String, p: &Peer| id != &me.id && p.member_of.as_deref() != Some(me.id.as_str());
    let busy = line.calls.iter().any(|(id, p)| not_mine(id, p));
    if me.storm.is_some() {
        // A storm never rings a phone another incident's call holds; its
        // own members' calls are adopted, not a reason to wait.
        return if busy {
            Verdict::Wait {
                until: recheck,
                why: format!("{person} is on another ringdown call"),
            }
        } else {
            Verdict::Free
        };
    }
    if let Some(s) = &line.storm {
        let joinable = s.acked_at.is_none_or(|a| now - a < window);
        if s.id != me.id && joinable {
            return Verdict::Storm;
        }
    }
    let recent: Vec<&Peer> = line
        .rung
        .iter()
        .filter(|(id, p)| not_mine(id, p) && now - p.at < coalesce)
        .map(|(_, p)| p)
        .collect();
    let in_window = line
        .rung
        .iter()
        .filter(|(id, p)| not_mine(id, p) && p.joinable && now - p.opened_at < window)
        .count();
    let crowded = in_window as u64 + 1 > u64::from(rules.min_incidents);
    let can_form = line.storm.is_none()
        && (line
            .calls
            .iter()
            .any(|(id, p)| not_mine(id, p) && p.joinable)
            || recent.iter().any(|p| p.joinable)
            || crowded);
    if (busy || !recent.is_empty() || crowded) && can_form {
        return Verdict::Storm;
    }
    if busy {
        return Verdict::Wait {
            until: recheck,
            why: format!("{person} is on another ringdown call"),
        };
    }
    if let Some(last) = recent.iter().map(|p| p.at).max() {
        return Verdict::Wait {
            until: (last + coalesce).max(now + Duration::seconds(1)),
            why: format!(
                "{person} was rung for another incident {} s ago (storm.coalesce_secs {})",
                (now - last).num_seconds(),
                rules.coalesce_secs
            ),
        };
    }
    Verdict::Free
}

/// The members a storm's call speaks of: the open ones, or all of them
/// once none is open (a last reminder).
fn spoken(storm: &Storm) -> Vec<&StormMember> {
    let open: Vec<&StormMember> = storm.open_members().collect();
    if open.is_empty() {
        storm.members.iter().collect()
    } else {
        open
    }
}

/// What a storm's call says, for [`crate::ssml::render_message`]: the
/// headline (how many systems since when, then the first alert in full),
/// any inhibition source in full, then one line per other open member with
/// its number of alerts, and the number of alerts.
pub fn message_parts(
    storm: &Storm,
    language: crate::alert::Language,
    tz: chrono_tz::Tz,
) -> (String, Vec<String>, usize) {
    use crate::alert::Language;
    let shown = spoken(storm);
    let since = shown
        .iter()
        .map(|m| m.opened_at)
        .min()
        .map(|t| t.with_timezone(&tz).format("%H:%M").to_string())
        .unwrap_or_default();
    let mut systems: Vec<&str> = shown.iter().map(|m| m.system.as_str()).collect();
    systems.sort_unstable();
    systems.dedup();
    let first = shown.first().map_or("alert", |m| m.title.as_str());
    let alerts: u64 = shown.iter().map(|m| m.firing.max(1)).sum();
    let title = match language {
        Language::JaJp => format!(
            "{since}から{}のシステムでアラートが続いています。最初のアラート、{first}",
            systems.len()
        ),
        Language::EnUs => format!(
            "{} systems alerting since {since}. The first alert: {first}",
            systems.len()
        ),
    };
    let rest = shown.iter().skip(1);
    let sources = rest.clone().filter(|m| m.source).map(|m| match language {
        Language::JaJp => format!("原因と見られるアラート、{}", m.title),
        Language::EnUs => format!("A likely cause: {}", m.title),
    });
    let others: Vec<&&StormMember> = rest.filter(|m| !m.source).collect();
    let mut details: Vec<String> = sources.collect();
    details.extend(others.iter().take(SYSTEMS_READ).map(|m| match language {
        Language::JaJp => format!("{}、{}件", m.system, m.firing.max(1)),
        Language::EnUs if m.firing <= 1 => format!("{}: 1 alert", m.system),
        Language::EnUs => format!("{}: {} alerts", m.system, m.firing),
    }));
    // Thirty systems read one by one take a minute at 3 a.m.: past the
    // first few, a count, and key 3 reads them all.
    let unread = &others[others.len().min(SYSTEMS_READ)..];
    if !unread.is_empty() {
        let n: u64 = unread.iter().map(|m| m.firing.max(1)).sum();
        details.push(match language {
            Language::JaJp => format!(
                "ほか{}のシステムで{n}件。一覧は3を押してください",
                unread.len()
            ),
            Language::EnUs => format!(
                "{} more systems, {n} alerts: press 3 to hear them all",
                unread.len()
            ),
        });
    }
    (title, details, alerts as usize)
}

/// Other members a storm's message names one by one.
const SYSTEMS_READ: usize = 5;

/// What pressing 3 on a storm's call reads, for
/// [`crate::ssml::render_list`]: a heading and each member's title.
pub fn list_parts(storm: &Storm, language: crate::alert::Language) -> (String, Vec<String>) {
    use crate::alert::Language;
    let shown = spoken(storm);
    let heading = match language {
        Language::JaJp => format!("この障害のインシデント{}件", shown.len()),
        Language::EnUs => format!("The {} incidents of this storm", shown.len()),
    };
    let items = shown.iter().map(|m| m.title.clone()).collect();
    (heading, items)
}

/// What pressing 9 on a storm's call silences, in words the call says
/// before the engineer confirms.
pub fn scope_words(storm: &Storm, language: crate::alert::Language) -> String {
    let n = storm.open_members().count().max(1);
    match language {
        crate::alert::Language::JaJp => format!("この障害の{n}件のインシデント"),
        crate::alert::Language::EnUs => format!("all {n} incidents of this storm"),
    }
}
