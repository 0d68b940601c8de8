//! `ringdown import`: another paging tool's configuration turned into a
//! roster, with everything that could not come along named item by item.
//!
//! Each importer (`incident_manager`, `opsgenie`) reads the JSON its source's
//! API prints, from a map of file name → text ([`Files`]), and fills a
//! [`Draft`]: people, rotations and escalation steps as ringdown can express
//! them, and a [`Skipped`] entry for every part it had to leave out or change.
//! [`Draft::finish`] then removes what no longer stands (a person without a
//! number to call, and every mention of them), turns each step's time before
//! the next into attempts, writes the roster YAML and checks it with the
//! core's own validation. Nothing here reads files or the clock: the command
//! (`commands/import.rs`) does.
//!
//! How a step's time becomes calls ([`pacing`]): a step that the source gave
//! `W` seconds before escalating keeps calling for those seconds. Each round
//! rings every target for up to [`LONGEST_RING_SECS`], rounds are
//! `retry_after_secs` apart (60 s, or less when the round is long, so that a
//! repeated call reaches an iPhone in Do Not Disturb), and `attempts` is how
//! many rounds fit in `W`. A step whose time the source does not say (the
//! last Opsgenie rule without a repeat) calls twice.

pub mod incident_manager;
pub mod opsgenie;

use chrono::{DateTime, Datelike, NaiveDateTime, Offset, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use ringdown_core::phone::{mask, validate_e164};
use ringdown_core::roster::{Roster, LONGEST_RING_SECS, REPEATED_CALLS_WINDOW_SECS};
use ringdown_core::Language;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// The input: file name (without directory) → its text.
pub type Files = BTreeMap<String, String>;

/// What the user chose on the command line.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// The roster's time zone; default: the source's (first rotation or
    /// schedule), else UTC.
    pub timezone: Option<Tz>,
    /// Language for people whose language the source does not say.
    pub language: Option<Language>,
}

/// One thing of the source that is not in the roster as it was, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The source item, e.g. `contact tanaka, channel "tanaka-sms"`.
    pub item: String,
    pub reason: String,
}

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.item, self.reason)
    }
}

#[derive(Debug)]
pub enum ImportError {
    /// A file that is not the JSON the API prints (exit 2).
    Input { file: String, what: String },
    /// Nobody in the input can be called, so there is no roster to write.
    NothingToCall { skipped: Vec<Skipped> },
    /// The roster written does not validate: a bug of the importer, never
    /// the user's input.
    Internal(String),
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImportError::Input { file, what } => write!(f, "{file}: {what}"),
            ImportError::NothingToCall { skipped } => write!(
                f,
                "nobody in the input can be called, so there is no roster to write ({} item(s) not carried over)",
                skipped.len()
            ),
            ImportError::Internal(e) => write!(f, "the imported roster does not validate: {e}"),
        }
    }
}

/// A finished import: the roster text, the roster it validates to, and
/// what was not carried over.
#[derive(Debug)]
pub struct Imported {
    pub yaml: String,
    pub roster: Roster,
    pub skipped: Vec<Skipped>,
}

/// `file` parsed as `T`, or `None` when the input has no such file.
pub(crate) fn read<T: DeserializeOwned>(
    files: &Files,
    file: &str,
) -> Result<Option<T>, ImportError> {
    let Some(text) = files.get(file) else {
        return Ok(None);
    };
    serde_json::from_str(text)
        .map(Some)
        .map_err(|e| ImportError::Input {
            file: file.to_string(),
            what: format!("not the JSON the API prints: {e}"),
        })
}

/// Like [`read`], for a file the import cannot do without.
pub(crate) fn read_required<T: DeserializeOwned>(
    files: &Files,
    file: &str,
    how: &str,
) -> Result<T, ImportError> {
    read(files, file)?.ok_or_else(|| ImportError::Input {
        file: file.to_string(),
        what: format!("missing; {how}"),
    })
}

/// A timestamp as the APIs print it: seconds since the epoch (the AWS JSON
/// protocol, and `aws` CLI v1) or RFC 3339 text (`aws` CLI v2, Opsgenie).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timestamp(pub DateTime<Utc>);

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let bad = |what: String| serde::de::Error::custom(what);
        let t = match serde_json::Value::deserialize(d)? {
            serde_json::Value::Number(n) => {
                let secs = n.as_f64().unwrap_or(f64::NAN);
                let whole = secs.floor();
                if !whole.is_finite() || whole.abs() > 1e12 {
                    return Err(bad(format!("{n} is not a time")));
                }
                let nanos = ((secs - whole) * 1e9).round().min(999_999_999.0) as u32;
                DateTime::from_timestamp(whole as i64, nanos)
                    .map(Timestamp)
                    .ok_or_else(|| bad(format!("{n} is not a time")))
            }
            serde_json::Value::String(s) => DateTime::parse_from_rfc3339(s.trim())
                .map(|t| Timestamp(t.with_timezone(&Utc)))
                .map_err(|e| bad(format!("{s:?} is not an RFC 3339 time: {e}"))),
            other => Err(bad(format!(
                "expected a time (seconds since 1970, or RFC 3339 text), found {other}"
            ))),
        }?;
        // The years a roster accepts, with a day to spare for time zones.
        if !(1901..=2199).contains(&t.0.year()) {
            return Err(bad(format!(
                "{} is out of range: a roster takes years 1900 to 2200",
                t.0.format("%Y-%m-%dT%H:%M:%SZ")
            )));
        }
        Ok(t)
    }
}

/// An instant as wall-clock time in the roster's zone, whole seconds.
pub(crate) fn wall(t: DateTime<Utc>, tz: Tz) -> NaiveDateTime {
    let local = t.with_timezone(&tz).naive_local();
    local.with_nanosecond(0).unwrap_or(local)
}

/// `2026-11-02T10:00`, with seconds only when there are some.
fn wall_text(t: NaiveDateTime) -> String {
    if t.second() == 0 {
        t.format("%Y-%m-%dT%H:%M").to_string()
    } else {
        t.format("%Y-%m-%dT%H:%M:%S").to_string()
    }
}

/// Why hand-offs read in `source` may land an hour off once written in the
/// roster's `roster` zone: their UTC offsets differ by different amounts
/// over the year after `from` (one of them changes clocks, the other does
/// not, or on other dates). `None` when the two keep in step.
pub(crate) fn zone_drift(source: Tz, roster: Tz, from: DateTime<Utc>) -> Option<String> {
    if source == roster {
        return None;
    }
    let diff = |t: DateTime<Utc>| {
        let a = source
            .offset_from_utc_datetime(&t.naive_utc())
            .fix()
            .local_minus_utc();
        let b = roster
            .offset_from_utc_datetime(&t.naive_utc())
            .fix()
            .local_minus_utc();
        a - b
    };
    let first = diff(from);
    let drifts = (1..=366).any(|d| diff(from + chrono::Duration::days(d)) != first);
    drifts.then(|| {
        format!(
            "it hands off by the clock of {source}; the roster's clocks are {roster}'s, which change for daylight saving on other dates, so some hand-offs may move by an hour (import with --timezone {source} to keep them)"
        )
    })
}

/// `81-9012345678` (Opsgenie), `+81 90-1234-5678` or `+819012345678` →
/// `+819012345678` when that is E.164; otherwise why not (number masked).
pub(crate) fn e164(raw: &str) -> Result<String, String> {
    let t = raw.trim();
    let digits: String = t.chars().filter(char::is_ascii_digit).collect();
    let candidate = if t.starts_with('+') || t.contains('-') && !t.starts_with('0') {
        format!("+{digits}")
    } else {
        t.to_string()
    };
    validate_e164(&candidate).map(|_| candidate)
}

/// A number as messages show it: masked (`+81******5678`), in E.164 when
/// it converts, so the country code and the last digits stay recognisable.
pub(crate) fn masked(raw: &str) -> String {
    mask(&e164(raw).unwrap_or_else(|_| raw.trim().to_string()))
}

/// `Tanaka Taro <tanaka@example.com>` → `tanaka-taro-tanaka-example-com`: an id
/// that reads well in the roster (`[a-z0-9_-]`).
pub(crate) fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.trim().chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() || c == '_' {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

/// `base`, or `base-2`, `base-3` … whichever is not taken yet.
pub(crate) fn unique(base: &str, taken: &BTreeSet<String>) -> String {
    let base = if base.is_empty() { "unnamed" } else { base };
    if !taken.contains(base) {
        return base.to_string();
    }
    (2..)
        .map(|i| format!("{base}-{i}"))
        .find(|c| !taken.contains(c))
        .unwrap_or_else(|| base.to_string())
}

/// Calls per target and `retry_after_secs` for a step of `targets` targets
/// that the source gave `window` seconds before escalating (see the module
/// documentation).
pub(crate) fn pacing(targets: usize, window: Option<u64>) -> (u32, u64) {
    let ring = targets.max(1) as u64 * LONGEST_RING_SECS;
    let retry = REPEATED_CALLS_WINDOW_SECS.saturating_sub(ring).min(60);
    let attempts = match window {
        None => 2,
        Some(w) => (w.saturating_add(retry) / (ring + retry)).clamp(1, 100),
    };
    (attempts as u32, retry)
}

/// A rotation or a person, as a step names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    Person(String),
    Rotation(String),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Person(p) => write!(f, "person:{p}"),
            Target::Rotation(r) => write!(f, "rotation:{r}"),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Person {
    pub name: String,
    pub language: Option<Language>,
    /// E.164; `None`: nothing to call, left out by [`Draft::finish`].
    pub phone: Option<String>,
    /// How the source names it, for the not-carried-over list.
    pub item: String,
}

#[derive(Debug, Clone)]
pub(crate) struct Override {
    pub person: String,
    pub from: NaiveDateTime,
    pub to: NaiveDateTime,
    pub item: String,
}

#[derive(Debug, Clone)]
pub(crate) struct Rotation {
    pub members: Vec<String>,
    /// `1w`, `12h` …
    pub shift: String,
    /// First hand-off, wall clock in the roster's zone.
    pub start: NaiveDateTime,
    pub overrides: Vec<Override>,
    pub item: String,
}

#[derive(Debug, Clone)]
pub(crate) struct Step {
    /// When the source reaches this step, counted from the first: steps at
    /// the same moment are called as one.
    pub at_secs: u64,
    pub targets: Vec<Target>,
    pub item: String,
}

#[derive(Debug, Clone)]
pub(crate) struct Policy {
    pub name: String,
    pub steps: Vec<Step>,
    /// When the source's plan is over, counted like `at_secs`: the last
    /// step's time. `None`: not said.
    pub end_secs: Option<u64>,
    pub repeat: u32,
    pub item: String,
}

/// A roster being imported; see the module documentation.
#[derive(Debug)]
pub(crate) struct Draft {
    /// `Incident Manager`, `Opsgenie`.
    pub source: &'static str,
    /// `incident-manager`, `opsgenie`.
    pub command: &'static str,
    /// How the source picks an escalation, for policies that need a `match`.
    pub routing: &'static str,
    pub timezone: Tz,
    pub people: BTreeMap<String, Person>,
    pub rotations: BTreeMap<String, Rotation>,
    pub policies: Vec<Policy>,
    pub skipped: Vec<Skipped>,
}

/// The label that tells several imported policies apart.
pub const ROUTING_LABEL: &str = "escalation";

/// Why a contact method other than a voice call is not carried over.
pub(crate) const VOICE_ONLY: &str = "ringdown only places voice calls";

impl Draft {
    pub fn skip(&mut self, item: impl Into<String>, reason: impl Into<String>) {
        self.skipped.push(Skipped {
            item: item.into(),
            reason: reason.into(),
        });
    }

    /// The number a voice contact method gives, when it is E.164 and the
    /// person has none yet; otherwise listed (`item`) with the reason.
    pub fn voice_number(
        &mut self,
        taken: &Option<String>,
        item: &str,
        raw: &str,
    ) -> Option<String> {
        match e164(raw) {
            Err(e) => self.skip(item, e),
            Ok(_) if taken.is_some() => self.skip(
                item,
                "ringdown calls a person's first number whenever it fits; a second number needs a `when` window (docs/roster.md), so add it by hand with one",
            ),
            Ok(n) => return Some(n),
        }
        None
    }

    /// An override's span in the roster's wall clock and how the list names
    /// it (`<scope>, override 2026-11-23 00:00 → 2026-11-24 00:00`); `None`,
    /// listed, when it ends before it starts.
    pub fn override_span(
        &mut self,
        scope: &str,
        start: Timestamp,
        end: Timestamp,
    ) -> Option<(NaiveDateTime, NaiveDateTime, String)> {
        let from = wall(start.0, self.timezone);
        let to = wall(end.0, self.timezone);
        let item = format!(
            "{scope}, override {} → {}",
            from.format("%Y-%m-%d %H:%M"),
            to.format("%Y-%m-%d %H:%M")
        );
        if to <= from {
            self.skip(item, "ends before it starts; left out");
            return None;
        }
        Some((from, to, item))
    }

    /// Lists the input files no importer step read (a misnamed file).
    pub fn unread(&mut self, files: &Files, read: &BTreeSet<String>) {
        for name in files.keys().filter(|n| !read.contains(*n)) {
            self.skip(
                format!("file {name}"),
                "not read: not a name this import reads (see docs/roster.md, \"Moving from Incident Manager or Opsgenie\")",
            );
        }
    }

    /// Removes what cannot stand, paces the steps, writes and checks the
    /// roster.
    pub fn finish(mut self) -> Result<Imported, ImportError> {
        self.drop_people_without_numbers();
        self.drop_dangling_rotations();
        self.drop_dangling_targets();
        if self.policies.is_empty() {
            self.add_fallback_policy();
        }
        if self.policies.is_empty() {
            return Err(ImportError::NothingToCall {
                skipped: self.skipped,
            });
        }
        if self.policies.len() > 1 {
            self.note_routing();
        }
        let yaml = self.render();
        match Roster::from_yaml(&yaml) {
            Ok(roster) => Ok(Imported {
                yaml,
                roster,
                skipped: self.skipped,
            }),
            Err(e) => Err(ImportError::Internal(e.0.join("; "))),
        }
    }

    /// Several policies: each matches its own label, since what chose
    /// between them in the source does not come along.
    fn note_routing(&mut self) {
        let notes: Vec<(String, String)> = self
            .policies
            .iter()
            .map(|p| {
                (
                    p.item.clone(),
                    format!(
                        "{}, which is not imported; the policy matches alerts labelled {ROUTING_LABEL}={}: change its `match` to fit your alerts",
                        self.routing, p.name
                    ),
                )
            })
            .collect();
        for (item, reason) in notes {
            self.skip(item, reason);
        }
    }

    fn drop_people_without_numbers(&mut self) {
        let gone: Vec<String> = self
            .people
            .iter()
            .filter(|(_, p)| p.phone.is_none())
            .map(|(id, _)| id.clone())
            .collect();
        for id in gone {
            if let Some(p) = self.people.remove(&id) {
                self.skip(
                    p.item,
                    "no number ringdown can call, so this person is left out of the roster, and so is every mention of them below",
                );
            }
        }
    }

    fn drop_dangling_rotations(&mut self) {
        let people: BTreeSet<String> = self.people.keys().cloned().collect();
        let mut skipped = Vec::new();
        let mut empty = Vec::new();
        for (name, r) in self.rotations.iter_mut() {
            r.members.retain(|m| {
                let keep = people.contains(m);
                if !keep {
                    skipped.push((
                        format!("{}, member {m}", r.item),
                        format!("left out: {m} has no number to call; the others take the shifts in turn"),
                    ));
                }
                keep
            });
            r.overrides.retain(|o| {
                let keep = people.contains(&o.person);
                if !keep {
                    skipped.push((
                        o.item.clone(),
                        format!("left out: {} has no number to call", o.person),
                    ));
                }
                keep
            });
            if r.members.is_empty() {
                empty.push(name.clone());
            }
        }
        for (item, reason) in skipped {
            self.skip(item, reason);
        }
        for name in empty {
            if let Some(r) = self.rotations.remove(&name) {
                self.skip(
                    r.item,
                    "nobody in it can be called, so the rotation is left out",
                );
            }
        }
    }

    fn drop_dangling_targets(&mut self) {
        let people: BTreeSet<String> = self.people.keys().cloned().collect();
        let rotations: BTreeSet<String> = self.rotations.keys().cloned().collect();
        let mut skipped = Vec::new();
        for p in self.policies.iter_mut() {
            for s in p.steps.iter_mut() {
                let mut seen = Vec::new();
                s.targets.retain(|t| {
                    let exists = match t {
                        Target::Person(id) => people.contains(id),
                        Target::Rotation(r) => rotations.contains(r),
                    };
                    if !exists {
                        skipped.push((
                            format!("{}, {t}", s.item),
                            "left out of the step: it was left out above".to_string(),
                        ));
                    }
                    let first = !seen.contains(t);
                    seen.push(t.clone());
                    exists && first
                });
                if s.targets.is_empty() {
                    skipped.push((
                        s.item.clone(),
                        "nobody left to call in it, so the step is left out".to_string(),
                    ));
                }
            }
            p.steps.retain(|s| !s.targets.is_empty());
            if p.steps.is_empty() {
                skipped.push((
                    p.item.clone(),
                    "no step left, so the policy is left out".to_string(),
                ));
            }
        }
        self.policies.retain(|p| !p.steps.is_empty());
        for (item, reason) in skipped {
            self.skip(item, reason);
        }
    }

    /// Without an escalation to import: one step calling every rotation
    /// (or, without rotations, every person).
    fn add_fallback_policy(&mut self) {
        let targets: Vec<Target> = if self.rotations.is_empty() {
            self.people.keys().cloned().map(Target::Person).collect()
        } else {
            self.rotations
                .keys()
                .cloned()
                .map(Target::Rotation)
                .collect()
        };
        if targets.is_empty() {
            return;
        }
        let names: Vec<String> = targets.iter().map(Target::to_string).collect();
        self.skip(
            "escalation",
            format!(
                "none in the input can be carried over, so the roster's policy `default` calls {} in one step; edit it to fit",
                names.join(", ")
            ),
        );
        self.policies.push(Policy {
            name: "default".into(),
            steps: vec![Step {
                at_secs: 0,
                targets,
                item: "policy default".into(),
            }],
            end_secs: None,
            repeat: 0,
            item: "policy default".into(),
        });
    }

    fn render(&self) -> String {
        let mut y = String::new();
        y.push_str(&format!(
            "# Imported from {} by `ringdown import {}`.\n# Check it with `ringdown roster validate` and `ringdown oncall --from … --to …`.\n",
            self.source, self.command
        ));
        y.push_str(&format!("timezone: {}\n", self.timezone.name()));
        y.push_str("people:\n");
        for (id, p) in &self.people {
            y.push_str(&format!("  {}:\n", plain_or_quoted(id)));
            if p.name != *id {
                y.push_str(&format!("    name: {}\n", quoted(&p.name)));
            }
            if let Some(l) = p.language {
                y.push_str(&format!("    language: {}\n", l.code()));
            }
            if let Some(n) = &p.phone {
                y.push_str(&format!("    phones:\n      - number: {}\n", quoted(n)));
            }
        }
        if !self.rotations.is_empty() {
            y.push_str("rotations:\n");
        }
        for (name, r) in &self.rotations {
            let members: Vec<String> = r.members.iter().map(|m| plain_or_quoted(m)).collect();
            y.push_str(&format!("  {}:\n", plain_or_quoted(name)));
            y.push_str(&format!("    members: [{}]\n", members.join(", ")));
            y.push_str(&format!("    shift: {}\n", r.shift));
            y.push_str(&format!("    start: {}\n", quoted(&wall_text(r.start))));
            if !r.overrides.is_empty() {
                y.push_str("    overrides:\n");
            }
            for o in &r.overrides {
                y.push_str(&format!(
                    "      - {{ person: {}, from: {}, to: {} }}\n",
                    plain_or_quoted(&o.person),
                    quoted(&wall_text(o.from)),
                    quoted(&wall_text(o.to))
                ));
            }
        }
        y.push_str("policies:\n");
        let several = self.policies.len() > 1;
        for p in &self.policies {
            y.push_str(&format!("  - name: {}\n", plain_or_quoted(&p.name)));
            if several {
                y.push_str(&format!(
                    "    match: {{ {ROUTING_LABEL}: {} }}\n",
                    quoted(&p.name)
                ));
            } else {
                y.push_str("    match: {}\n");
            }
            let steps = merge_steps(&p.steps);
            // The source's first step may come after a delay: ringdown
            // waits that long before the first call.
            let first = steps.first().map(|s| s.0).unwrap_or(0);
            if first > 0 {
                y.push_str(&format!("    group_wait_secs: {first}\n"));
            }
            if p.repeat > 0 {
                y.push_str(&format!("    repeat: {}\n", p.repeat.min(100)));
            }
            y.push_str("    steps:\n");
            for (i, (at, targets)) in steps.iter().enumerate() {
                let next = steps.get(i + 1).map(|s| Some(s.0)).unwrap_or(p.end_secs);
                let window = next.map(|n| n.saturating_sub(*at));
                // The source engages everyone of a moment at once: so
                // does a ring-all step (one ring per round, not one each).
                let together = targets.len() > 1;
                let (attempts, retry) = pacing(if together { 1 } else { targets.len() }, window);
                let names: Vec<String> = targets
                    .iter()
                    .map(|t| plain_or_quoted(&t.to_string()))
                    .collect();
                y.push_str(&format!("      - targets: [{}]\n", names.join(", ")));
                if together {
                    y.push_str("        mode: all\n");
                }
                y.push_str(&format!("        attempts: {attempts}\n"));
                y.push_str(&format!("        retry_after_secs: {retry}\n"));
            }
        }
        y
    }
}

/// Steps at the same moment merged into one (targets in order, each once),
/// in the order of their moments.
fn merge_steps(steps: &[Step]) -> Vec<(u64, Vec<Target>)> {
    let mut out: Vec<(u64, Vec<Target>)> = Vec::new();
    let mut sorted: Vec<&Step> = steps.iter().collect();
    sorted.sort_by_key(|s| s.at_secs);
    for s in sorted {
        match out.last_mut() {
            Some((at, targets)) if *at == s.at_secs => {
                for t in &s.targets {
                    if !targets.contains(t) {
                        targets.push(t.clone());
                    }
                }
            }
            _ => out.push((s.at_secs, s.targets.clone())),
        }
    }
    out
}

/// A YAML double-quoted scalar (JSON's string syntax is valid YAML).
fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// `tanaka` as it is; anything YAML could read as something else quoted.
fn plain_or_quoted(s: &str) -> String {
    let plain = s.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-' | ':'))
        && !matches!(
            s,
            "y" | "n" | "yes" | "no" | "on" | "off" | "true" | "false" | "null"
        );
    if plain {
        s.to_string()
    } else {
        quoted(s)
    }
}

/// `en_US`, `en-GB`, `ja_JP`, `ja` → the call language; `None` for a
/// language ringdown does not speak.
pub(crate) fn language_of(locale: &str) -> Option<Language> {
    let l = locale.trim().to_ascii_lowercase();
    if l == "en" || l.starts_with("en_") || l.starts_with("en-") {
        Some(Language::EnUs)
    } else if l == "ja" || l.starts_with("ja_") || l.starts_with("ja-") {
        Some(Language::JaJp)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_in_opsgenie_and_e164_form_become_e164_and_bad_ones_are_masked() {
        assert_eq!(e164("81-9012345678").unwrap(), "+819012345678");
        assert_eq!(e164("+1 555-010-0001").unwrap(), "+15550100001");
        assert_eq!(e164("+819012345678").unwrap(), "+819012345678");
        let err = e164("09077778888").unwrap_err();
        assert!(!err.contains("7777"), "{err}");
        assert_eq!(masked("81-9077778888"), "+81******8888");
        assert!(!masked("090-7777-8888").contains("7777"));
    }

    #[test]
    fn a_step_keeps_calling_for_the_time_the_source_gave_it() {
        // One target, five minutes: calls at 0, 2 and 4 minutes.
        assert_eq!(pacing(1, Some(300)), (3, 60));
        // Two targets ring up to two minutes a round: 60 s between rounds
        // still reaches an iPhone in Do Not Disturb.
        assert_eq!(pacing(2, Some(600)), (3, 60));
        // Three targets: rounds back to back.
        assert_eq!(pacing(3, Some(600)), (3, 0));
        // No time, or less than one round: one call.
        assert_eq!(pacing(1, Some(0)), (1, 60));
        // The source does not say: twice, so the second gets through.
        assert_eq!(pacing(1, None), (2, 60));
        assert_eq!(pacing(1, Some(24 * 3600)).0, 100);
    }

    #[test]
    fn ids_read_well_and_never_collide() {
        assert_eq!(slug("Tanaka Taro"), "tanaka-taro");
        assert_eq!(slug("sato@example.com"), "sato-example-com");
        assert_eq!(slug("  primary_rota  "), "primary_rota");
        let taken: BTreeSet<String> = ["sato".to_string(), "sato-2".to_string()].into();
        assert_eq!(unique("sato", &taken), "sato-3");
        assert_eq!(unique("", &taken), "unnamed");
    }

    #[test]
    fn names_yaml_would_misread_are_quoted() {
        assert_eq!(plain_or_quoted("tanaka"), "tanaka");
        assert_eq!(plain_or_quoted("rotation:primary"), "rotation:primary");
        assert_eq!(plain_or_quoted("yes"), "\"yes\"");
        assert_eq!(plain_or_quoted("123"), "\"123\"");
        assert_eq!(plain_or_quoted("Tanaka"), "\"Tanaka\"");
    }

    #[test]
    fn timestamps_come_as_epoch_seconds_or_rfc_3339() {
        let t: Timestamp = serde_json::from_str("1793581200.0").unwrap();
        let u: Timestamp = serde_json::from_str("\"2026-11-02T10:00:00+09:00\"").unwrap();
        assert_eq!(t, u);
        assert!(serde_json::from_str::<Timestamp>("\"next monday\"").is_err());
        let far = serde_json::from_str::<Timestamp>("99999999999").unwrap_err();
        assert!(far.to_string().contains("out of range"), "{far}");
        let odd = serde_json::from_str::<Timestamp>("{}").unwrap_err();
        assert!(odd.to_string().starts_with("expected a time"), "{odd}");
        assert_eq!(
            wall_text(wall(u.0, chrono_tz::Asia::Tokyo)),
            "2026-11-02T10:00"
        );
    }

    #[test]
    fn zones_that_change_clocks_on_other_dates_are_flagged() {
        let t = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert!(zone_drift(chrono_tz::Asia::Tokyo, chrono_tz::Asia::Seoul, t).is_none());
        assert!(zone_drift(chrono_tz::America::New_York, chrono_tz::Asia::Tokyo, t).is_some());
        assert!(zone_drift(chrono_tz::Asia::Tokyo, chrono_tz::Asia::Tokyo, t).is_none());
    }
}
