//! AWS Systems Manager Incident Manager (`aws ssm-contacts …`) → roster.
//!
//! Reads the JSON the AWS CLI prints (documented shapes:
//! <https://docs.aws.amazon.com/incident-manager/latest/APIReference/API_Operations_AWS_Systems_Manager_Incident_Manager_Contacts.html>),
//! one file per command, named after the command:
//!
//! | file | command |
//! |---|---|
//! | `list-contacts.json` (required) | `aws ssm-contacts list-contacts` |
//! | `get-contact-<alias>.json` | `aws ssm-contacts get-contact --contact-id <arn>` |
//! | `list-contact-channels-<alias>.json` | `aws ssm-contacts list-contact-channels --contact-id <arn>` |
//! | `list-rotations.json` | `aws ssm-contacts list-rotations` |
//! | `get-rotation-<name>.json` | `aws ssm-contacts get-rotation --rotation-id <arn>` (instead of, or besides, the list) |
//! | `list-rotation-overrides-<name>.json` | `aws ssm-contacts list-rotation-overrides --rotation-id <arn> --start-time … --end-time …` |
//!
//! What maps to what:
//! - a `PERSONAL` contact → a person (id: its alias); its first activated
//!   `VOICE` channel, in the order its engagement plan engages them → the
//!   number;
//! - a rotation → a rotation: `DailySettings` → `<n>d` (or, with several
//!   evenly spaced hand-offs a day, hours), `WeeklySettings` → `<n>w`;
//!   `start` is the hand-off at or before `StartTime`, in the roster's zone;
//!   its overrides → overrides;
//! - an `ESCALATION` contact → a policy, one step per stage; an
//!   `ONCALL_SCHEDULE` contact in a stage → its rotations; a stage's
//!   `DurationInMinutes` → the step's attempts (see `super::pacing`).

use super::{
    read, read_required, slug, unique, wall, zone_drift, Draft, Files, ImportError, Imported,
    Options, Override, Person, Policy, Rotation, Step, Target, Timestamp, VOICE_ONLY,
};
use chrono::{Datelike, Duration, NaiveDateTime, NaiveTime, Weekday};
use chrono_tz::Tz;
use ringdown_core::roster::rotation::local_to_utc;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};

pub const LIST_CONTACTS: &str = "list-contacts.json";
pub const LIST_ROTATIONS: &str = "list-rotations.json";

fn get_contact(alias: &str) -> String {
    format!("get-contact-{alias}.json")
}
fn list_channels(alias: &str) -> String {
    format!("list-contact-channels-{alias}.json")
}
fn list_overrides(rotation: &str) -> String {
    format!("list-rotation-overrides-{rotation}.json")
}
const GET_ROTATION_PREFIX: &str = "get-rotation-";

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListContacts {
    contacts: Vec<ContactSummary>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ContactSummary {
    contact_arn: String,
    alias: String,
    display_name: Option<String>,
    #[serde(rename = "Type")]
    kind: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetContact {
    #[serde(default)]
    plan: Option<Plan>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Plan {
    #[serde(default)]
    stages: Vec<Stage>,
    #[serde(default)]
    rotation_ids: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Stage {
    duration_in_minutes: u32,
    #[serde(default)]
    targets: Vec<StageTarget>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StageTarget {
    channel_target_info: Option<ChannelTargetInfo>,
    contact_target_info: Option<ContactTargetInfo>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ChannelTargetInfo {
    contact_channel_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ContactTargetInfo {
    contact_id: Option<String>,
    #[serde(default = "yes")]
    is_essential: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListContactChannels {
    contact_channels: Vec<Channel>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Channel {
    contact_channel_arn: String,
    name: String,
    #[serde(rename = "Type")]
    kind: String,
    delivery_address: DeliveryAddress,
    activation_status: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeliveryAddress {
    simple_address: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListRotations {
    rotations: Vec<ImRotation>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ImRotation {
    rotation_arn: String,
    name: String,
    #[serde(default)]
    contact_ids: Vec<String>,
    start_time: Option<Timestamp>,
    time_zone_id: Option<String>,
    recurrence: Option<Recurrence>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Recurrence {
    #[serde(default)]
    monthly_settings: Vec<MonthlySetting>,
    #[serde(default)]
    weekly_settings: Vec<WeeklySetting>,
    #[serde(default)]
    daily_settings: Vec<HandOffTime>,
    number_of_on_calls: u32,
    #[serde(default)]
    shift_coverages: BTreeMap<String, Vec<CoverageTime>>,
    recurrence_multiplier: u32,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HandOffTime {
    hour_of_day: u32,
    minute_of_hour: u32,
}

impl HandOffTime {
    fn time(self) -> Option<NaiveTime> {
        NaiveTime::from_hms_opt(self.hour_of_day, self.minute_of_hour, 0)
    }
    fn text(self) -> String {
        format!("{:02}:{:02}", self.hour_of_day, self.minute_of_hour)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct WeeklySetting {
    day_of_week: String,
    hand_off_time: HandOffTime,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct MonthlySetting {
    day_of_month: u32,
    hand_off_time: HandOffTime,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CoverageTime {
    start: HandOffTime,
    end: HandOffTime,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListRotationOverrides {
    rotation_overrides: Vec<ImOverride>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ImOverride {
    #[serde(default)]
    new_contact_ids: Vec<String>,
    start_time: Timestamp,
    end_time: Timestamp,
}

/// A contact with what the per-contact files say of it.
struct Contact {
    summary: ContactSummary,
    /// `None`: no `get-contact-<alias>.json`.
    plan: Option<Plan>,
    /// `None`: no `list-contact-channels-<alias>.json`.
    channels: Option<Vec<Channel>>,
}

/// Reads the files named in the module documentation and builds the roster.
pub fn import(files: &Files, opts: Options) -> Result<Imported, ImportError> {
    let mut read_files: BTreeSet<String> = BTreeSet::new();
    let list: ListContacts = read_required(
        files,
        LIST_CONTACTS,
        "save the output of `aws ssm-contacts list-contacts` there (see docs/roster.md)",
    )?;
    read_files.insert(LIST_CONTACTS.into());
    let mut contacts = Vec::new();
    for s in list.contacts {
        let plan_file = get_contact(&s.alias);
        let channels_file = list_channels(&s.alias);
        let plan = read::<GetContact>(files, &plan_file)?.map(|g| g.plan.unwrap_or_default());
        let channels = if s.kind == "PERSONAL" {
            read::<ListContactChannels>(files, &channels_file)?.map(|l| l.contact_channels)
        } else {
            None
        };
        read_files.insert(plan_file);
        read_files.insert(channels_file);
        contacts.push(Contact {
            summary: s,
            plan,
            channels,
        });
    }

    // Rotations: the list, and any single ones (the same rotation once).
    let mut rotations: Vec<ImRotation> = Vec::new();
    if let Some(l) = read::<ListRotations>(files, LIST_ROTATIONS)? {
        rotations.extend(l.rotations);
    }
    read_files.insert(LIST_ROTATIONS.into());
    for name in files.keys().filter(|n| n.starts_with(GET_ROTATION_PREFIX)) {
        if let Some(r) = read::<ImRotation>(files, name)? {
            rotations.retain(|o| o.rotation_arn != r.rotation_arn);
            rotations.push(r);
        }
        read_files.insert(name.clone());
    }
    let mut overrides = BTreeMap::new();
    for r in &rotations {
        let file = list_overrides(&r.name);
        if let Some(l) = read::<ListRotationOverrides>(files, &file)? {
            overrides.insert(r.rotation_arn.clone(), l.rotation_overrides);
        }
        read_files.insert(file);
    }

    let timezone = opts.timezone.unwrap_or_else(|| {
        rotations
            .iter()
            .find_map(|r| r.time_zone_id.as_deref().and_then(|z| z.parse::<Tz>().ok()))
            .unwrap_or(Tz::UTC)
    });
    let mut d = Draft {
        source: "Incident Manager",
        command: "incident-manager",
        routing: "Incident Manager's response plans chose this escalation plan",
        timezone,
        people: BTreeMap::new(),
        rotations: BTreeMap::new(),
        policies: Vec::new(),
        skipped: Vec::new(),
    };

    // Contact ARN → roster person id (PERSONAL contacts only).
    let mut person_ids: BTreeMap<String, String> = BTreeMap::new();
    for c in contacts.iter().filter(|c| c.summary.kind == "PERSONAL") {
        let taken: BTreeSet<String> = d.people.keys().cloned().collect();
        let id = unique(&slug(&c.summary.alias), &taken);
        person_ids.insert(c.summary.contact_arn.clone(), id.clone());
        let person = person(&mut d, c, opts);
        d.people.insert(id, person);
    }

    // Rotation ARN → roster rotation name.
    let mut rotation_names: BTreeMap<String, String> = BTreeMap::new();
    for r in &rotations {
        let taken: BTreeSet<String> = rotation_names.values().cloned().collect();
        rotation_names.insert(r.rotation_arn.clone(), unique(&slug(&r.name), &taken));
    }
    for r in &rotations {
        let name = rotation_names[&r.rotation_arn].clone();
        let no_overrides = Vec::new();
        let os = overrides.get(&r.rotation_arn).unwrap_or(&no_overrides);
        if let Some(rot) = rotation(&mut d, r, &person_ids, os) {
            d.rotations.insert(name, rot);
        }
    }

    let by_arn: BTreeMap<&str, &Contact> = contacts
        .iter()
        .map(|c| (c.summary.contact_arn.as_str(), c))
        .collect();
    for c in contacts.iter() {
        match c.summary.kind.as_str() {
            "PERSONAL" => {}
            "ESCALATION" => {
                let taken: BTreeSet<String> = d.policies.iter().map(|p| p.name.clone()).collect();
                let name = unique(&slug(&c.summary.alias), &taken);
                if let Some(p) = policy(&mut d, c, name, &by_arn, &person_ids, &rotation_names) {
                    d.policies.push(p);
                }
            }
            "ONCALL_SCHEDULE" => {
                if c.plan.is_none() {
                    d.skip(
                        format!("on-call schedule {}", c.summary.alias),
                        format!(
                            "{} is missing, so which rotations it holds is unknown; escalation plans that engage it lose it",
                            get_contact(&c.summary.alias)
                        ),
                    );
                }
            }
            other => d.skip(
                format!("contact {}", c.summary.alias),
                format!("of type {other}, which this import does not know"),
            ),
        }
    }

    d.unread(files, &read_files);
    d.finish()
}

/// A PERSONAL contact → a person with the first voice channel it can call.
fn person(d: &mut Draft, c: &Contact, opts: Options) -> Person {
    let alias = &c.summary.alias;
    let item = format!("contact {alias}");
    let mut phone = None;
    match &c.channels {
        None => d.skip(
            &item,
            format!(
                "{} is missing, so this contact's numbers are unknown",
                list_channels(alias)
            ),
        ),
        Some(channels) => {
            // The engagement plan's order: the channel it engages first is
            // the number ringdown calls.
            let engaged: Vec<&str> = c
                .plan
                .iter()
                .flat_map(|p| &p.stages)
                .flat_map(|s| &s.targets)
                .filter_map(|t| t.channel_target_info.as_ref())
                .map(|t| t.contact_channel_id.as_str())
                .collect();
            let rank = |ch: &Channel| {
                engaged
                    .iter()
                    .position(|a| *a == ch.contact_channel_arn)
                    .unwrap_or(usize::MAX)
            };
            let mut ordered: Vec<&Channel> = channels.iter().collect();
            ordered.sort_by_key(|ch| rank(ch));
            for ch in ordered {
                let address = ch.delivery_address.simple_address.as_deref().unwrap_or("");
                let citem = format!("{item}, {} channel {:?}", ch.kind, ch.name);
                if ch.kind != "VOICE" {
                    let shown = if ch.kind == "SMS" {
                        format!("{citem} ({})", super::masked(address))
                    } else {
                        citem
                    };
                    d.skip(shown, VOICE_ONLY);
                    continue;
                }
                let citem = format!("{citem} ({})", super::masked(address));
                if ch.activation_status.as_deref() == Some("NOT_ACTIVATED") {
                    d.skip(
                        citem,
                        "not activated in Incident Manager, which therefore never called it",
                    );
                    continue;
                }
                let Some(number) = d.voice_number(&phone, &citem, address) else {
                    continue;
                };
                if !engaged.is_empty() && rank(ch) == usize::MAX {
                    d.skip(
                        citem,
                        "carried over as this contact's number, although the engagement plan never engaged it",
                    );
                }
                phone = Some(number);
            }
        }
    }
    if let Some(plan) = &c.plan {
        if plan.stages.len() > 1 {
            let minutes: u32 = plan.stages.iter().map(|s| s.duration_in_minutes).sum();
            d.skip(
                format!("{item}, engagement plan"),
                format!(
                    "{} stages over {minutes} min; ringdown calls this number whenever a step reaches the person, as many times as the step's attempts",
                    plan.stages.len()
                ),
            );
        }
    }
    Person {
        name: c
            .summary
            .display_name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| alias.clone()),
        language: opts.language,
        phone,
        item,
    }
}

/// How a rotation hands off, as far as ringdown can say it.
struct Cadence {
    /// `1w`, `2d`, `12h`.
    shift: String,
    minutes: i64,
    /// Weekly hand-offs: the weekday.
    weekday: Option<Weekday>,
    at: NaiveTime,
}

fn weekday(s: &str) -> Option<Weekday> {
    match s {
        "MON" => Some(Weekday::Mon),
        "TUE" => Some(Weekday::Tue),
        "WED" => Some(Weekday::Wed),
        "THU" => Some(Weekday::Thu),
        "FRI" => Some(Weekday::Fri),
        "SAT" => Some(Weekday::Sat),
        "SUN" => Some(Weekday::Sun),
        _ => None,
    }
}

fn cadence(r: &Recurrence) -> Result<Cadence, String> {
    let n = r.recurrence_multiplier.max(1) as i64;
    if let Some(m) = r.monthly_settings.first() {
        return Err(format!(
            "hands off monthly (day {} at {}); ringdown shifts last minutes, hours, days or weeks",
            m.day_of_month,
            m.hand_off_time.text()
        ));
    }
    match r.weekly_settings.as_slice() {
        [w] => {
            let day = weekday(&w.day_of_week)
                .ok_or_else(|| format!("{:?} is not a day of the week", w.day_of_week))?;
            let at = w
                .hand_off_time
                .time()
                .ok_or_else(|| format!("{} is not a time of day", w.hand_off_time.text()))?;
            return Ok(Cadence {
                shift: format!("{n}w"),
                minutes: n * 7 * 1440,
                weekday: Some(day),
                at,
            });
        }
        [] => {}
        several => {
            let days: Vec<String> = several
                .iter()
                .map(|w| format!("{} {}", w.day_of_week, w.hand_off_time.text()))
                .collect();
            return Err(format!(
                "hands off on several days a week ({}); a ringdown rotation hands off at one fixed interval",
                days.join(", ")
            ));
        }
    }
    let mut times: Vec<NaiveTime> = r
        .daily_settings
        .iter()
        .map(|h| {
            h.time()
                .ok_or_else(|| format!("{} is not a time of day", h.text()))
        })
        .collect::<Result<_, _>>()?;
    times.sort();
    times.dedup();
    match times.as_slice() {
        [] => Err("has no daily, weekly or monthly hand-off settings".into()),
        [at] => Ok(Cadence {
            shift: format!("{n}d"),
            minutes: n * 1440,
            weekday: None,
            at: *at,
        }),
        several => {
            // Evenly spaced hand-offs every day: shifts of that length.
            let k = several.len() as i64;
            let gap = 1440 / k;
            let even = n == 1
                && 1440 % k == 0
                && several
                    .windows(2)
                    .all(|w| (w[1] - w[0]).num_minutes() == gap);
            let list: Vec<String> = several
                .iter()
                .map(|t| t.format("%H:%M").to_string())
                .collect();
            if !even {
                return Err(format!(
                    "hands off at {} every {n} day(s); a ringdown rotation hands off at one fixed interval",
                    list.join(", ")
                ));
            }
            let shift = if gap % 60 == 0 {
                format!("{}h", gap / 60)
            } else {
                format!("{gap}m")
            };
            Ok(Cadence {
                shift,
                minutes: gap,
                weekday: None,
                at: several[0],
            })
        }
    }
}

impl Cadence {
    /// The last hand-off at or before `t` (wall clock of the rotation).
    fn handoff_at_or_before(&self, t: NaiveDateTime) -> NaiveDateTime {
        let mut date = t.date();
        if let Some(day) = self.weekday {
            let back = (date.weekday().num_days_from_monday() + 7 - day.num_days_from_monday()) % 7;
            date -= Duration::days(back as i64);
        }
        let step = Duration::minutes(self.minutes);
        let mut h = date.and_time(self.at);
        while h > t {
            h -= step;
        }
        while h + step <= t {
            h += step;
        }
        h
    }
}

fn coverage_text(c: &BTreeMap<String, Vec<CoverageTime>>) -> Option<String> {
    let days = ["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"];
    let all_day = |v: &Vec<CoverageTime>| {
        v.iter().any(|t| {
            t.start.hour_of_day == 0
                && t.start.minute_of_hour == 0
                && ((t.end.hour_of_day == 0 && t.end.minute_of_hour == 0)
                    || (t.end.hour_of_day == 23 && t.end.minute_of_hour == 59))
        })
    };
    if c.is_empty() || days.iter().all(|d| c.get(*d).is_some_and(all_day)) {
        return None;
    }
    let parts: Vec<String> = days
        .iter()
        .filter_map(|d| c.get(*d).map(|v| (d, v)))
        .map(|(d, v)| {
            let spans: Vec<String> = v
                .iter()
                .map(|t| format!("{}–{}", t.start.text(), t.end.text()))
                .collect();
            format!("{d} {}", spans.join(", "))
        })
        .collect();
    Some(if parts.is_empty() {
        "no day".to_string()
    } else {
        parts.join("; ")
    })
}

fn rotation(
    d: &mut Draft,
    r: &ImRotation,
    person_ids: &BTreeMap<String, String>,
    overrides: &[ImOverride],
) -> Option<Rotation> {
    let item = format!("rotation {}", r.name);
    let zone = r.time_zone_id.as_deref().unwrap_or("");
    let Ok(rtz) = zone.parse::<Tz>() else {
        d.skip(
            item,
            format!("time zone {zone:?} is not an IANA name, so its hand-offs cannot be placed; left out"),
        );
        return None;
    };
    let (Some(rec), Some(start)) = (&r.recurrence, r.start_time) else {
        d.skip(
            item,
            "has no Recurrence or StartTime, so its shifts are unknown; left out",
        );
        return None;
    };
    let cad = match cadence(rec) {
        Ok(c) => c,
        Err(why) => {
            d.skip(item, format!("{why}; left out"));
            return None;
        }
    };
    if let Err(e) = ringdown_core::roster::ShiftLen::parse(&cad.shift) {
        d.skip(item, format!("{e}; left out"));
        return None;
    }
    let local_start = start.0.with_timezone(&rtz).naive_local();
    let first = cad.handoff_at_or_before(local_start);
    let at_tz = local_to_utc(rtz, first).unwrap_or(start.0);
    if first != local_start {
        d.skip(
            format!("{item}, StartTime"),
            format!(
                "{} {rtz} is not at a hand-off: the first member is on call from it until the next hand-off, and the roster counts shifts from the hand-off before it ({}); check with `ringdown oncall --from … --to …`",
                local_start.format("%Y-%m-%d %H:%M"),
                first.format("%Y-%m-%d %H:%M")
            ),
        );
    }
    if let Some(why) = zone_drift(rtz, d.timezone, at_tz) {
        d.skip(format!("{item}, time zone"), why);
    }
    if rec.number_of_on_calls > 1 {
        d.skip(
            format!("{item}, NumberOfOnCalls"),
            format!(
                "{} people were on call at once; a ringdown rotation has one, so the members take single shifts in the same order",
                rec.number_of_on_calls
            ),
        );
    }
    if let Some(cov) = coverage_text(&rec.shift_coverages) {
        d.skip(
            format!("{item}, ShiftCoverages"),
            format!("the rotation covered only {cov}; a ringdown rotation always has someone on call, so it now covers every hour"),
        );
    }
    let mut members = Vec::new();
    for arn in &r.contact_ids {
        match person_ids.get(arn) {
            Some(id) => members.push(id.clone()),
            None => d.skip(
                format!("{item}, member {}", arn_tail(arn)),
                format!("not a personal contact in {LIST_CONTACTS}; left out"),
            ),
        }
    }
    let mut os = Vec::new();
    for o in overrides {
        let Some((from, to, oitem)) = d.override_span(&item, o.start_time, o.end_time) else {
            continue;
        };
        let Some((first, rest)) = o.new_contact_ids.split_first() else {
            d.skip(
                oitem,
                "nobody on call during it; a ringdown rotation always has someone, so it is left out",
            );
            continue;
        };
        let Some(person) = person_ids.get(first) else {
            d.skip(
                oitem,
                format!(
                    "{} is not a personal contact in {LIST_CONTACTS}; left out",
                    arn_tail(first)
                ),
            );
            continue;
        };
        if !rest.is_empty() {
            let others: Vec<&str> = rest.iter().map(|a| arn_tail(a)).collect();
            d.skip(
                &oitem,
                format!(
                    "{} people on call during it; the roster's override puts only {person} on call, not {}",
                    o.new_contact_ids.len(),
                    others.join(", ")
                ),
            );
        }
        os.push(Override {
            person: person.clone(),
            from,
            to,
            item: oitem,
        });
    }
    Some(Rotation {
        members,
        shift: cad.shift,
        start: wall(at_tz, d.timezone),
        overrides: os,
        item,
    })
}

/// `arn:aws:ssm-contacts:…:contact/sato` → `sato`: how a message names a contact.
fn arn_tail(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

fn policy(
    d: &mut Draft,
    c: &Contact,
    name: String,
    by_arn: &BTreeMap<&str, &Contact>,
    person_ids: &BTreeMap<String, String>,
    rotation_names: &BTreeMap<String, String>,
) -> Option<Policy> {
    let alias = &c.summary.alias;
    let item = format!("escalation plan {alias}");
    let Some(plan) = &c.plan else {
        d.skip(
            item,
            format!(
                "{} is missing, so its stages are unknown; left out",
                get_contact(alias)
            ),
        );
        return None;
    };
    let mut steps = Vec::new();
    let mut at = 0u64;
    for (i, stage) in plan.stages.iter().enumerate() {
        let sitem = format!("{item}, stage {}", i + 1);
        let mut targets = Vec::new();
        for t in &stage.targets {
            if let Some(ch) = &t.channel_target_info {
                d.skip(
                    format!("{sitem}, channel {}", arn_tail(&ch.contact_channel_id)),
                    "a channel engaged directly; ringdown steps call people and rotations, so it is left out",
                );
            }
            let Some(ct) = &t.contact_target_info else {
                continue;
            };
            let arn = ct.contact_id.as_deref().unwrap_or("");
            let titem = format!("{sitem}, contact {}", arn_tail(arn));
            let Some(target) = by_arn.get(arn) else {
                d.skip(titem, format!("not in {LIST_CONTACTS}; left out"));
                continue;
            };
            match target.summary.kind.as_str() {
                "PERSONAL" => {
                    if let Some(id) = person_ids.get(arn) {
                        targets.push(Target::Person(id.clone()));
                    }
                    if !ct.is_essential {
                        d.skip(
                            titem,
                            "not essential in Incident Manager, where their acknowledgement did not stop the plan; in ringdown any acknowledgement stops the escalation",
                        );
                    }
                }
                "ONCALL_SCHEDULE" => match &target.plan {
                    None => d.skip(
                        titem,
                        format!(
                            "{} is missing, so the schedule's rotations are unknown; left out",
                            get_contact(&target.summary.alias)
                        ),
                    ),
                    Some(p) if p.rotation_ids.is_empty() => {
                        d.skip(titem, "the on-call schedule has no rotation; left out")
                    }
                    Some(p) => {
                        for rid in &p.rotation_ids {
                            match rotation_names.get(rid) {
                                Some(n) => targets.push(Target::Rotation(n.clone())),
                                None => d.skip(
                                    format!("{titem}, rotation {}", arn_tail(rid)),
                                    format!("not in {LIST_ROTATIONS} or a get-rotation file; left out"),
                                ),
                            }
                        }
                    }
                },
                _ => d.skip(
                    titem,
                    "another escalation plan; ringdown steps call people and rotations, so copy its steps in by hand",
                ),
            }
        }
        steps.push(Step {
            at_secs: at,
            targets,
            item: sitem,
        });
        at += stage.duration_in_minutes as u64 * 60;
    }
    Some(Policy {
        name,
        steps,
        end_secs: Some(at),
        repeat: 0,
        item,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use ringdown_core::Language;

    const ACCOUNT: &str = "arn:aws:ssm-contacts:ap-northeast-1:111122223333";

    fn contact(alias: &str, kind: &str) -> String {
        format!(
            r#"{{"ContactArn": "{ACCOUNT}:contact/{alias}", "Alias": "{alias}", "DisplayName": "{alias} san", "Type": "{kind}"}}"#
        )
    }

    fn voice(alias: &str, id: &str, number: &str) -> String {
        format!(
            r#"{{"ContactChannelArn": "{ACCOUNT}:contact-channel/{alias}/{id}", "ContactArn": "{ACCOUNT}:contact/{alias}", "Name": "{alias} mobile", "Type": "VOICE", "DeliveryAddress": {{"SimpleAddress": "{number}"}}, "ActivationStatus": "ACTIVATED"}}"#
        )
    }

    /// A team of two on a weekly rotation, an on-call schedule holding it,
    /// and an escalation plan: the schedule for 5 minutes, then the lead.
    fn team() -> Files {
        let mut f = Files::new();
        f.insert(
            LIST_CONTACTS.into(),
            format!(
                r#"{{"Contacts": [{}, {}, {}, {}, {}]}}"#,
                contact("tanaka", "PERSONAL"),
                contact("sato", "PERSONAL"),
                contact("lead", "PERSONAL"),
                contact("primary-oncall", "ONCALL_SCHEDULE"),
                contact("page-team", "ESCALATION"),
            ),
        );
        for (alias, n) in [
            ("tanaka", "+819011110001"),
            ("sato", "+819011110002"),
            ("lead", "+15550100003"),
        ] {
            f.insert(
                list_channels(alias),
                format!(r#"{{"ContactChannels": [{}]}}"#, voice(alias, "c1", n)),
            );
        }
        f.insert(
            get_contact("primary-oncall"),
            format!(
                r#"{{"ContactArn": "{ACCOUNT}:contact/primary-oncall", "Alias": "primary-oncall", "Type": "ONCALL_SCHEDULE", "Plan": {{"Stages": [], "RotationIds": ["{ACCOUNT}:rotation/primary"]}}}}"#
            ),
        );
        f.insert(
            get_contact("page-team"),
            format!(
                r#"{{"ContactArn": "{ACCOUNT}:contact/page-team", "Alias": "page-team", "Type": "ESCALATION", "Plan": {{"Stages": [
                    {{"DurationInMinutes": 5, "Targets": [{{"ContactTargetInfo": {{"ContactId": "{ACCOUNT}:contact/primary-oncall", "IsEssential": true}}}}]}},
                    {{"DurationInMinutes": 10, "Targets": [{{"ContactTargetInfo": {{"ContactId": "{ACCOUNT}:contact/lead", "IsEssential": true}}}}]}}
                ]}}}}"#
            ),
        );
        f.insert(
            LIST_ROTATIONS.into(),
            format!(
                r#"{{"Rotations": [{{"RotationArn": "{ACCOUNT}:rotation/primary", "Name": "primary",
                    "ContactIds": ["{ACCOUNT}:contact/tanaka", "{ACCOUNT}:contact/sato"],
                    "StartTime": "2026-11-02T10:00:00+09:00", "TimeZoneId": "Asia/Tokyo",
                    "Recurrence": {{"WeeklySettings": [{{"DayOfWeek": "MON", "HandOffTime": {{"HourOfDay": 10, "MinuteOfHour": 0}}}}],
                                    "NumberOfOnCalls": 1, "RecurrenceMultiplier": 1}}}}]}}"#
            ),
        );
        f
    }

    #[test]
    fn a_stage_engaging_the_on_call_and_the_lead_together_becomes_a_ring_all_step() {
        let mut f = team();
        f.insert(
            get_contact("page-team"),
            format!(
                r#"{{"ContactArn": "{ACCOUNT}:contact/page-team", "Alias": "page-team", "Type": "ESCALATION", "Plan": {{"Stages": [
                    {{"DurationInMinutes": 5, "Targets": [{{"ContactTargetInfo": {{"ContactId": "{ACCOUNT}:contact/primary-oncall", "IsEssential": true}}}},
                                                          {{"ContactTargetInfo": {{"ContactId": "{ACCOUNT}:contact/lead", "IsEssential": true}}}}]}}
                ]}}}}"#
            ),
        );
        let out = import(&f, Options::default()).unwrap();
        let step = &out.roster.policies[0].steps[0];
        assert_eq!(step.targets.len(), 2);
        assert_eq!(step.mode, ringdown_core::roster::StepMode::All);
        // Everyone at once rings one minute a round: calls 2 min apart.
        assert_eq!((step.attempts, step.retry_after_secs), (3, 60));
    }

    #[test]
    fn a_team_leaving_incident_manager_imports_its_weekly_rotation_and_a_two_step_plan() {
        let out = import(&team(), Options::default()).unwrap();
        let r = &out.roster;
        assert_eq!(r.timezone, chrono_tz::Asia::Tokyo);
        assert_eq!(r.people.len(), 3);
        assert_eq!(r.people["lead"].phones[0].number, "+15550100003");
        assert_eq!(r.people["tanaka"].name, "tanaka san");
        let rot = &r.rotations["primary"];
        assert_eq!(rot.members, ["tanaka", "sato"]);
        assert_eq!(rot.shift.to_string(), "1w");
        assert_eq!(rot.start.to_string(), "2026-11-02 10:00:00");
        let p = &r.policies[0];
        assert_eq!(p.name, "page-team");
        assert!(p.matchers.is_empty(), "one policy takes every alert");
        assert_eq!(p.steps.len(), 2);
        assert_eq!(p.steps[0].targets[0].to_string(), "rotation:primary");
        // Five minutes for the on-call, ten for the lead, calls 2 min apart.
        assert_eq!((p.steps[0].attempts, p.steps[0].retry_after_secs), (3, 60));
        assert_eq!(p.steps[1].targets[0].to_string(), "person:lead");
        assert_eq!(p.steps[1].attempts, 5);
        assert!(out.skipped.is_empty(), "{:?}", out.skipped);
        // Who is on call follows the weekly hand-off.
        let at = Utc.with_ymd_and_hms(2026, 11, 10, 3, 0, 0).unwrap();
        assert_eq!(r.on_call("primary", at).unwrap().0, "sato");
    }

    #[test]
    fn sms_and_email_channels_are_listed_and_their_numbers_masked() {
        let mut f = team();
        f.insert(
            list_channels("tanaka"),
            format!(
                r#"{{"ContactChannels": [
                {{"ContactChannelArn": "{ACCOUNT}:contact-channel/tanaka/s1", "ContactArn": "{ACCOUNT}:contact/tanaka", "Name": "tanaka sms", "Type": "SMS", "DeliveryAddress": {{"SimpleAddress": "+819011110001"}}, "ActivationStatus": "ACTIVATED"}},
                {{"ContactChannelArn": "{ACCOUNT}:contact-channel/tanaka/e1", "ContactArn": "{ACCOUNT}:contact/tanaka", "Name": "tanaka mail", "Type": "EMAIL", "DeliveryAddress": {{"SimpleAddress": "tanaka@example.com"}}, "ActivationStatus": "ACTIVATED"}},
                {}]}}"#,
                voice("tanaka", "v1", "+819011110001")
            ),
        );
        let out = import(&f, Options::default()).unwrap();
        let text: Vec<String> = out.skipped.iter().map(|s| s.to_string()).collect();
        let all = text.join("\n");
        assert!(all.contains("contact tanaka, SMS channel \"tanaka sms\" (+81******0001): ringdown only places voice calls"), "{all}");
        assert!(
            all.contains(
                "contact tanaka, EMAIL channel \"tanaka mail\": ringdown only places voice calls"
            ),
            "{all}"
        );
        assert!(!all.contains("11110001"), "numbers are masked: {all}");
        assert!(!all.contains("tanaka@example.com"), "{all}");
        assert_eq!(
            out.roster.people["tanaka"].phones[0].number,
            "+819011110001"
        );
    }

    #[test]
    fn a_person_without_a_voice_number_is_left_out_with_every_mention_of_them() {
        let mut f = team();
        f.insert(list_channels("sato"), r#"{"ContactChannels": []}"#.into());
        let out = import(&f, Options::default()).unwrap();
        assert!(!out.roster.people.contains_key("sato"));
        assert_eq!(out.roster.rotations["primary"].members, ["tanaka"]);
        let items: Vec<&str> = out.skipped.iter().map(|s| s.item.as_str()).collect();
        assert!(items.contains(&"contact sato"), "{items:?}");
        assert!(
            items.contains(&"rotation primary, member sato"),
            "{items:?}"
        );
    }

    #[test]
    fn what_a_ringdown_rotation_cannot_say_is_listed_and_the_rest_carried_over() {
        let mut f = team();
        f.insert(
            LIST_ROTATIONS.into(),
            format!(
                r#"{{"Rotations": [{{"RotationArn": "{ACCOUNT}:rotation/primary", "Name": "primary",
                    "ContactIds": ["{ACCOUNT}:contact/tanaka", "{ACCOUNT}:contact/sato", "{ACCOUNT}:contact/ghost"],
                    "StartTime": 1793581200, "TimeZoneId": "America/New_York",
                    "Recurrence": {{"DailySettings": [{{"HourOfDay": 9, "MinuteOfHour": 0}}, {{"HourOfDay": 21, "MinuteOfHour": 0}}],
                                    "NumberOfOnCalls": 2, "RecurrenceMultiplier": 1,
                                    "ShiftCoverages": {{"MON": [{{"Start": {{"HourOfDay": 9, "MinuteOfHour": 0}}, "End": {{"HourOfDay": 17, "MinuteOfHour": 0}}}}]}}}}}}]}}"#
            ),
        );
        let out = import(&f, Options::default()).unwrap();
        let rot = &out.roster.rotations["primary"];
        assert_eq!(out.roster.timezone, chrono_tz::America::New_York);
        assert_eq!(rot.shift.to_string(), "12h");
        // 2026-11-02 01:00 UTC is 2026-11-01 20:00 in New York: the hand-off
        // before it was 09:00 that day.
        assert_eq!(rot.start.to_string(), "2026-11-01 09:00:00");
        let items: Vec<&str> = out.skipped.iter().map(|s| s.item.as_str()).collect();
        for expected in [
            "rotation primary, StartTime",
            "rotation primary, NumberOfOnCalls",
            "rotation primary, ShiftCoverages",
            "rotation primary, member ghost",
        ] {
            assert!(items.contains(&expected), "{expected} in {items:?}");
        }
    }

    #[test]
    fn monthly_rotations_are_left_out_and_steps_that_needed_them_too() {
        let mut f = team();
        f.insert(
            LIST_ROTATIONS.into(),
            format!(
                r#"{{"Rotations": [{{"RotationArn": "{ACCOUNT}:rotation/primary", "Name": "primary",
                    "ContactIds": ["{ACCOUNT}:contact/tanaka"], "StartTime": 1793581200, "TimeZoneId": "Asia/Tokyo",
                    "Recurrence": {{"MonthlySettings": [{{"DayOfMonth": 1, "HandOffTime": {{"HourOfDay": 9, "MinuteOfHour": 0}}}}],
                                    "NumberOfOnCalls": 1, "RecurrenceMultiplier": 1}}}}]}}"#
            ),
        );
        let out = import(&f, Options::default()).unwrap();
        assert!(out.roster.rotations.is_empty());
        let p = &out.roster.policies[0];
        assert_eq!(p.steps.len(), 1, "only the lead's step is left");
        assert_eq!(p.steps[0].targets[0].to_string(), "person:lead");
        // The lead is still first called 5 minutes in, as Incident Manager
        // engaged them, and for the 10 minutes of their stage.
        assert_eq!(p.group_wait_secs, 300);
        assert_eq!(p.steps[0].attempts, 5);
        let all: Vec<String> = out.skipped.iter().map(|s| s.to_string()).collect();
        assert!(
            all.iter()
                .any(|s| s.starts_with("rotation primary: hands off monthly")),
            "{all:?}"
        );
        assert!(
            all.iter()
                .any(|s| s.starts_with("escalation plan page-team, stage 1, rotation:primary")),
            "{all:?}"
        );
    }

    #[test]
    fn overrides_become_the_rosters_and_gaps_are_listed() {
        let mut f = team();
        f.insert(
            list_overrides("primary"),
            format!(
                r#"{{"RotationOverrides": [
                {{"RotationOverrideId": "a", "NewContactIds": ["{ACCOUNT}:contact/lead"], "StartTime": "2026-11-23T00:00:00+09:00", "EndTime": "2026-11-24T00:00:00+09:00", "CreateTime": "2026-11-01T00:00:00+09:00"}},
                {{"RotationOverrideId": "b", "NewContactIds": [], "StartTime": "2026-12-01T00:00:00+09:00", "EndTime": "2026-12-02T00:00:00+09:00", "CreateTime": "2026-11-01T00:00:00+09:00"}}
                ]}}"#
            ),
        );
        let out = import(&f, Options::default()).unwrap();
        let os = &out.roster.rotations["primary"].overrides;
        assert_eq!(os.len(), 1);
        assert_eq!(os[0].person, "lead");
        assert_eq!(os[0].from.to_string(), "2026-11-23 00:00:00");
        assert!(out
            .skipped
            .iter()
            .any(|s| s.item == "rotation primary, override 2026-12-01 00:00 → 2026-12-02 00:00"));
    }

    #[test]
    fn the_roster_can_be_written_in_another_zone_and_language() {
        let opts = Options {
            timezone: Some(chrono_tz::UTC),
            language: Some(Language::EnUs),
        };
        let out = import(&team(), opts).unwrap();
        assert_eq!(out.roster.timezone, chrono_tz::UTC);
        assert_eq!(
            out.roster.rotations["primary"].start.to_string(),
            "2026-11-02 01:00:00"
        );
        assert_eq!(out.roster.people["tanaka"].language, Language::EnUs);
        // Tokyo keeps no daylight saving: no drift to report.
        assert!(out.skipped.is_empty(), "{:?}", out.skipped);
    }

    #[test]
    fn a_malformed_or_missing_list_is_an_input_error_naming_the_file() {
        let mut f = team();
        f.insert(LIST_CONTACTS.into(), "{\"Contacts\": [".into());
        match import(&f, Options::default()) {
            Err(ImportError::Input { file, what }) => {
                assert_eq!(file, LIST_CONTACTS);
                assert!(what.contains("line"), "{what}");
            }
            other => panic!("{other:?}"),
        }
        f.remove(LIST_CONTACTS);
        assert!(matches!(
            import(&f, Options::default()),
            Err(ImportError::Input { .. })
        ));
        let mut f = team();
        f.insert(
            get_contact("page-team"),
            r#"{"Plan": {"Stages": [{"Targets": []}]}}"#.into(),
        );
        let err = import(&f, Options::default()).unwrap_err().to_string();
        assert!(err.starts_with("get-contact-page-team.json: "), "{err}");
        assert!(err.contains("DurationInMinutes"), "{err}");
    }

    #[test]
    fn files_the_import_does_not_read_are_named() {
        let mut f = team();
        f.insert("get_contact-tanaka.json".into(), "{}".into());
        let out = import(&f, Options::default()).unwrap();
        assert!(out
            .skipped
            .iter()
            .any(|s| s.item == "file get_contact-tanaka.json"));
    }
}
