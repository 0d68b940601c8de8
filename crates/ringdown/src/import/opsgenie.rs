//! Opsgenie → roster.
//!
//! Reads the JSON of Opsgenie's REST API v2 (documented shapes:
//! <https://docs.opsgenie.com/docs/api-overview>; the models are those of
//! <https://github.com/opsgenie/opsgenie-oas>), one file per request:
//!
//! | file | request |
//! |---|---|
//! | `users.json` (required) | `GET /v2/users` |
//! | `contacts-<username>.json` | `GET /v2/users/<username>/contacts` |
//! | `schedules.json` | `GET /v2/schedules?expand=rotation` |
//! | `schedule-overrides-<schedule name>.json` | `GET /v2/schedules/<name>/overrides?scheduleIdentifierType=name` |
//! | `escalations.json` | `GET /v2/escalations` |
//!
//! What maps to what:
//! - a user → a person (id: the part of the username before `@`), their
//!   `locale` → the call's language; their first enabled `voice` contact
//!   method (`81-9012345678`) → the number;
//! - a schedule's rotation → a rotation: `daily`/`weekly`/`hourly` ×
//!   `length` → the shift, `startDate` → `start` in the roster's zone, user
//!   participants → members; the schedule's overrides → overrides;
//! - an escalation → a policy: rules with the same delay → one step, a
//!   schedule recipient → its rotations; the time to the next rule →
//!   attempts (see `super::pacing`); `repeat.count` → `repeat`, and
//!   `repeat.waitInterval` is the last step's time.

use super::{
    language_of, read, read_required, slug, unique, wall, zone_drift, Draft, Files, ImportError,
    Imported, Options, Override, Person, Policy, Rotation, Step, Target, Timestamp, VOICE_ONLY,
};
use chrono_tz::Tz;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};

pub const USERS: &str = "users.json";
pub const SCHEDULES: &str = "schedules.json";
pub const ESCALATIONS: &str = "escalations.json";

fn contacts_file(username: &str) -> String {
    format!("contacts-{username}.json")
}
fn overrides_file(schedule: &str) -> String {
    format!("schedule-overrides-{schedule}.json")
}

/// Every v2 response: `{"data": …, "took": …, "requestId": …}`.
#[derive(Debug, Deserialize)]
struct Response<T> {
    data: T,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct User {
    id: String,
    username: String,
    full_name: Option<String>,
    locale: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ContactMethod {
    method: String,
    to: String,
    status: Option<ContactStatus>,
    apply_order: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct ContactStatus {
    enabled: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Schedule {
    id: String,
    name: String,
    timezone: Option<String>,
    enabled: Option<bool>,
    /// Only with `?expand=rotation`.
    rotations: Option<Vec<OgRotation>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OgRotation {
    id: Option<String>,
    name: Option<String>,
    start_date: Timestamp,
    end_date: Option<Timestamp>,
    #[serde(rename = "type")]
    kind: String,
    length: Option<u32>,
    #[serde(default)]
    participants: Vec<Recipient>,
    time_restriction: Option<TimeRestriction>,
}

#[derive(Debug, Clone, Deserialize)]
struct Recipient {
    #[serde(rename = "type")]
    kind: String,
    id: Option<String>,
    name: Option<String>,
    username: Option<String>,
}

impl Recipient {
    fn label(&self) -> String {
        let who = self
            .username
            .as_deref()
            .or(self.name.as_deref())
            .or(self.id.as_deref());
        match who {
            Some(w) => format!("{} {w}", self.kind),
            None => self.kind.clone(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TimeRestriction {
    #[serde(rename = "type")]
    kind: String,
    restriction: Option<DayTime>,
    #[serde(default)]
    restrictions: Vec<DayTime>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DayTime {
    start_day: Option<String>,
    start_hour: u32,
    #[serde(default)]
    start_min: u32,
    end_day: Option<String>,
    end_hour: u32,
    #[serde(default)]
    end_min: u32,
}

impl DayTime {
    fn text(&self) -> String {
        let day = |d: &Option<String>| d.as_deref().map(|d| format!("{d} ")).unwrap_or_default();
        format!(
            "{}{:02}:{:02}–{}{:02}:{:02}",
            day(&self.start_day),
            self.start_hour,
            self.start_min,
            day(&self.end_day),
            self.end_hour,
            self.end_min
        )
    }
}

impl TimeRestriction {
    fn text(&self) -> String {
        let spans: Vec<String> = self
            .restriction
            .iter()
            .chain(&self.restrictions)
            .map(DayTime::text)
            .collect();
        format!("{} {}", self.kind, spans.join(", "))
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OgOverride {
    user: Recipient,
    start_date: Timestamp,
    end_date: Timestamp,
    #[serde(default)]
    rotations: Vec<RotationRef>,
}

#[derive(Debug, Deserialize)]
struct RotationRef {
    id: Option<String>,
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Escalation {
    name: String,
    #[serde(default)]
    rules: Vec<Rule>,
    repeat: Option<Repeat>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    condition: Option<String>,
    notify_type: Option<String>,
    delay: Option<Delay>,
    recipient: Recipient,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Delay {
    time_amount: u64,
    time_unit: Option<String>,
}

impl Delay {
    /// In seconds; `None` for a unit ringdown does not read, or more than
    /// a year.
    fn secs(&self) -> Option<u64> {
        let per = match self.time_unit.as_deref().unwrap_or("minutes") {
            "days" => 86_400,
            "hours" => 3_600,
            "minutes" => 60,
            "seconds" => 1,
            _ => return None,
        };
        self.time_amount
            .checked_mul(per)
            .filter(|s| *s <= 366 * 86_400)
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Repeat {
    wait_interval: Option<u64>,
    count: Option<u32>,
    close_alert_after_all: Option<bool>,
}

/// Who a user is in the roster, by Opsgenie id and by username.
#[derive(Default)]
struct People {
    by_key: BTreeMap<String, String>,
}

impl People {
    fn find(&self, r: &Recipient) -> Option<&String> {
        [&r.id, &r.username, &r.name]
            .into_iter()
            .flatten()
            .find_map(|k| self.by_key.get(k))
    }
}

/// Reads the files named in the module documentation and builds the roster.
pub fn import(files: &Files, opts: Options) -> Result<Imported, ImportError> {
    let mut read_files: BTreeSet<String> = BTreeSet::new();
    let users: Response<Vec<User>> = read_required(
        files,
        USERS,
        "save the answer of `GET /v2/users` there (see docs/roster.md)",
    )?;
    read_files.insert(USERS.into());
    let schedules: Vec<Schedule> = read::<Response<Vec<Schedule>>>(files, SCHEDULES)?
        .map(|r| r.data)
        .unwrap_or_default();
    read_files.insert(SCHEDULES.into());
    if let Some(s) = schedules.iter().find(|s| s.rotations.is_none()) {
        return Err(ImportError::Input {
            file: SCHEDULES.into(),
            what: format!(
                "schedule {:?} has no `rotations`: fetch the list with `GET /v2/schedules?expand=rotation`",
                s.name
            ),
        });
    }
    let escalations: Vec<Escalation> = read::<Response<Vec<Escalation>>>(files, ESCALATIONS)?
        .map(|r| r.data)
        .unwrap_or_default();
    read_files.insert(ESCALATIONS.into());

    let timezone = opts.timezone.unwrap_or_else(|| {
        schedules
            .iter()
            .filter(|s| s.enabled != Some(false))
            .find_map(|s| s.timezone.as_deref().and_then(|z| z.parse::<Tz>().ok()))
            .unwrap_or(Tz::UTC)
    });
    let mut d = Draft {
        source: "Opsgenie",
        command: "opsgenie",
        routing: "Opsgenie's team routing rules chose this escalation",
        timezone,
        people: BTreeMap::new(),
        rotations: BTreeMap::new(),
        policies: Vec::new(),
        skipped: Vec::new(),
    };

    let mut people = People::default();
    for u in &users.data {
        let file = contacts_file(&u.username);
        let methods = read::<Response<Vec<ContactMethod>>>(files, &file)?.map(|r| r.data);
        read_files.insert(file);
        let local = u.username.split('@').next().unwrap_or(&u.username);
        let taken: BTreeSet<String> = d.people.keys().cloned().collect();
        let id = unique(&slug(local), &taken);
        people.by_key.insert(u.id.clone(), id.clone());
        people.by_key.insert(u.username.clone(), id.clone());
        let p = person(&mut d, u, methods, opts);
        d.people.insert(id, p);
    }

    // Schedule id and name → its rotations in the roster, or why none.
    let mut by_schedule: BTreeMap<String, Result<Vec<String>, String>> = BTreeMap::new();
    for s in &schedules {
        let file = overrides_file(&s.name);
        let overrides = read::<Response<Vec<OgOverride>>>(files, &file)?
            .map(|r| r.data)
            .unwrap_or_default();
        read_files.insert(file);
        let result = schedule(&mut d, s, &people, &overrides);
        by_schedule.insert(s.id.clone(), result.clone());
        by_schedule.insert(s.name.clone(), result);
    }

    for e in &escalations {
        let taken: BTreeSet<String> = d.policies.iter().map(|p| p.name.clone()).collect();
        let name = unique(&slug(&e.name), &taken);
        let p = policy(&mut d, e, name, &people, &by_schedule);
        d.policies.push(p);
    }

    d.unread(files, &read_files);
    d.finish()
}

fn person(d: &mut Draft, u: &User, methods: Option<Vec<ContactMethod>>, opts: Options) -> Person {
    let item = format!("user {}", u.username);
    let language = match u.locale.as_deref() {
        None => opts.language,
        Some(l) => language_of(l).or_else(|| {
            let fallback = opts.language.unwrap_or_default();
            d.skip(
                format!("{item}, locale {l}"),
                format!(
                    "ringdown calls in ja-JP or en-US; this person's calls will be in {}",
                    fallback.code()
                ),
            );
            opts.language
        }),
    };
    let mut phone = None;
    match methods {
        None => d.skip(
            &item,
            format!(
                "{} is missing, so this user's contact methods are unknown",
                contacts_file(&u.username)
            ),
        ),
        Some(mut methods) => {
            methods.sort_by_key(|m| m.apply_order.unwrap_or(i64::MAX));
            for m in methods {
                let mitem = match m.method.as_str() {
                    "voice" | "sms" => {
                        format!("{item}, {} contact {}", m.method, super::masked(&m.to))
                    }
                    other => format!("{item}, {other} contact"),
                };
                if m.method != "voice" {
                    let why = if m.method == "mobile" {
                        format!("a push notification of the Opsgenie app; {VOICE_ONLY}")
                    } else {
                        VOICE_ONLY.to_string()
                    };
                    d.skip(mitem, why);
                    continue;
                }
                if m.status.as_ref().and_then(|s| s.enabled) == Some(false) {
                    d.skip(
                        mitem,
                        "disabled in Opsgenie, which therefore never called it",
                    );
                    continue;
                }
                if let Some(number) = d.voice_number(&phone, &mitem, &m.to) {
                    phone = Some(number);
                }
            }
        }
    }
    Person {
        name: u
            .full_name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| u.username.clone()),
        language,
        phone,
        item,
    }
}

/// A schedule's rotations into the draft; the roster names of those
/// rotations, or why there are none.
fn schedule(
    d: &mut Draft,
    s: &Schedule,
    people: &People,
    overrides: &[OgOverride],
) -> Result<Vec<String>, String> {
    let item = format!("schedule {}", s.name);
    if s.enabled == Some(false) {
        d.skip(&item, "disabled in Opsgenie; left out");
        return Err("disabled in Opsgenie".into());
    }
    let zone = s.timezone.as_deref().unwrap_or("");
    let stz = zone.parse::<Tz>().ok();
    if stz.is_none() {
        d.skip(
            format!("{item}, time zone"),
            format!("{zone:?} is not an IANA name; hand-offs are read in the roster's zone"),
        );
    }
    let rotations = s.rotations.as_deref().unwrap_or_default();
    if rotations.is_empty() {
        d.skip(&item, "has no rotation; left out");
        return Err("has no rotation".into());
    }
    let mut names = Vec::new();
    // Opsgenie rotation id or name → roster rotation name.
    let mut ids: BTreeMap<String, String> = BTreeMap::new();
    for (i, r) in rotations.iter().enumerate() {
        let rname = r
            .name
            .clone()
            .unwrap_or_else(|| format!("rotation {}", i + 1));
        let base = if rotations.len() == 1 {
            slug(&s.name)
        } else {
            format!("{}-{}", slug(&s.name), slug(&rname))
        };
        let taken: BTreeSet<String> = d.rotations.keys().cloned().collect();
        let name = unique(&base, &taken);
        let ritem = format!("{item}, rotation {rname}");
        if let Some(rot) = rotation(d, r, &ritem, stz, people) {
            for k in [&r.id, &r.name].into_iter().flatten() {
                ids.insert(k.clone(), name.clone());
            }
            d.rotations.insert(name.clone(), rot);
            names.push(name);
        }
    }
    for o in overrides {
        let Some((from, to, oitem)) = d.override_span(&item, o.start_date, o.end_date) else {
            continue;
        };
        let Some(person) = (o.user.kind == "user")
            .then(|| people.find(&o.user))
            .flatten()
        else {
            let why = if o.user.kind == "none" {
                "nobody on call during it; a ringdown rotation always has someone, so it is left out".to_string()
            } else {
                format!("{} is not a user in {}; left out", o.user.label(), USERS)
            };
            d.skip(oitem, why);
            continue;
        };
        let targets: Vec<String> = if o.rotations.is_empty() {
            names.clone()
        } else {
            o.rotations
                .iter()
                .filter_map(|r| {
                    [&r.id, &r.name]
                        .into_iter()
                        .flatten()
                        .find_map(|k| ids.get(k))
                })
                .cloned()
                .collect()
        };
        if targets.is_empty() {
            d.skip(oitem, "none of its rotations was carried over; left out");
            continue;
        }
        for t in targets {
            if let Some(r) = d.rotations.get_mut(&t) {
                r.overrides.push(Override {
                    person: person.clone(),
                    from,
                    to,
                    item: oitem.clone(),
                });
            }
        }
    }
    if names.is_empty() {
        return Err("none of its rotations was carried over".into());
    }
    Ok(names)
}

fn rotation(
    d: &mut Draft,
    r: &OgRotation,
    item: &str,
    stz: Option<Tz>,
    people: &People,
) -> Option<Rotation> {
    let unit = match r.kind.as_str() {
        "hourly" => "h",
        "daily" => "d",
        "weekly" => "w",
        other => {
            d.skip(
                item,
                format!("of type {other:?}, which this import does not know; left out"),
            );
            return None;
        }
    };
    let shift = format!("{}{unit}", r.length.unwrap_or(1).max(1));
    if let Err(e) = ringdown_core::roster::ShiftLen::parse(&shift) {
        d.skip(item, format!("{e}; left out"));
        return None;
    }
    if let Some(end) = r.end_date {
        d.skip(
            format!("{item}, endDate"),
            format!(
                "the rotation ends {} in Opsgenie; ringdown rotations do not end, so remove it from the roster then",
                wall(end.0, d.timezone).format("%Y-%m-%d %H:%M")
            ),
        );
    }
    if let Some(t) = &r.time_restriction {
        d.skip(
            format!("{item}, timeRestriction"),
            format!(
                "the rotation covered only {}; a ringdown rotation always has someone on call, so it now covers every hour",
                t.text()
            ),
        );
    }
    if let Some(why) = stz.and_then(|z| zone_drift(z, d.timezone, r.start_date.0)) {
        d.skip(format!("{item}, time zone"), why);
    }
    let mut members = Vec::new();
    for (i, p) in r.participants.iter().enumerate() {
        let pitem = format!("{item}, participant {} ({})", i + 1, p.label());
        match p.kind.as_str() {
            "user" => match people.find(p) {
                Some(id) => members.push(id.clone()),
                None => d.skip(pitem, format!("not a user in {}; left out", USERS)),
            },
            "none" => d.skip(
                pitem,
                "an empty turn, when nobody was on call; a ringdown rotation always has someone, so the turn is left out and the others' turns come round sooner",
            ),
            _ => d.skip(
                pitem,
                "a team or escalation taking a turn; ringdown rotations are made of people, so the turn is left out",
            ),
        }
    }
    Some(Rotation {
        members,
        shift,
        start: wall(r.start_date.0, d.timezone),
        overrides: Vec::new(),
        item: item.to_string(),
    })
}

fn policy(
    d: &mut Draft,
    e: &Escalation,
    name: String,
    people: &People,
    by_schedule: &BTreeMap<String, Result<Vec<String>, String>>,
) -> Policy {
    let item = format!("escalation {}", e.name);
    let mut steps = Vec::new();
    let mut last = 0u64;
    for (i, rule) in e.rules.iter().enumerate() {
        let ritem = format!("{item}, rule {} ({})", i + 1, rule.recipient.label());
        let at = match &rule.delay {
            None => 0,
            Some(delay) => match delay.secs() {
                Some(s) => s,
                None => {
                    d.skip(
                        ritem,
                        "its delay is not up to a year in days, hours, minutes or seconds; left out",
                    );
                    continue;
                }
            },
        };
        last = last.max(at);
        let notify = rule.notify_type.as_deref().unwrap_or("default");
        if notify != "default" {
            let who = match notify {
                "next" => "the next on-call person",
                "previous" => "the previous on-call person",
                "users" => "the team's users",
                "admins" => "the team's admins",
                "all" => "every member of the team",
                "random" => "a random member of the team",
                _ => "recipients chosen another way",
            };
            d.skip(
                ritem,
                format!("notifies {who} (notifyType {notify}); ringdown steps call who is on call now, or named people, so the rule is left out"),
            );
            continue;
        }
        let mut targets = Vec::new();
        match rule.recipient.kind.as_str() {
            "user" => match people.find(&rule.recipient) {
                Some(id) => targets.push(Target::Person(id.clone())),
                None => {
                    d.skip(ritem, format!("not a user in {USERS}; left out"));
                    continue;
                }
            },
            "schedule" => {
                let key = [&rule.recipient.id, &rule.recipient.name]
                    .into_iter()
                    .flatten()
                    .find_map(|k| by_schedule.get(k));
                match key {
                    Some(Ok(names)) => {
                        targets.extend(names.iter().cloned().map(Target::Rotation));
                    }
                    Some(Err(why)) => {
                        d.skip(ritem, format!("the schedule is {why}; left out"));
                        continue;
                    }
                    None => {
                        d.skip(ritem, format!("not a schedule in {SCHEDULES}; left out"));
                        continue;
                    }
                }
            }
            _ => {
                d.skip(
                    ritem,
                    "a team or another escalation; ringdown steps call people and rotations, so the rule is left out",
                );
                continue;
            }
        }
        if rule.condition.as_deref() == Some("if-not-closed") {
            d.skip(
                &ritem,
                "Opsgenie went on to this rule until the alert was closed; ringdown stops at the first acknowledgement",
            );
        }
        steps.push(Step {
            at_secs: at,
            targets,
            item: ritem,
        });
    }
    let mut repeat = 0;
    let mut end_secs = None;
    if let Some(r) = &e.repeat {
        let count = r.count.unwrap_or(0);
        if count > 0 {
            repeat = count;
            end_secs = r
                .wait_interval
                .map(|m| last.saturating_add(m.saturating_mul(60)));
            if count > 100 {
                d.skip(
                    format!("{item}, repeat"),
                    format!("{count} repeats; a ringdown policy repeats at most 100 times"),
                );
            }
        }
        if r.close_alert_after_all == Some(true) {
            d.skip(
                format!("{item}, repeat.closeAlertAfterAll"),
                "Opsgenie closed the alert after the last repeat; ringdown hands the incident to the fallback channel instead",
            );
        }
    }
    Policy {
        name,
        steps,
        end_secs,
        repeat,
        item,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringdown_core::Language;

    fn user(id: &str, name: &str, locale: &str) -> String {
        format!(
            r#"{{"id": "{id}", "username": "{name}@example.com", "fullName": "{name} full", "role": {{"id": "User", "name": "User"}}, "timeZone": "Asia/Tokyo", "locale": "{locale}", "blocked": false, "verified": true}}"#
        )
    }

    fn voice(to: &str) -> String {
        format!(
            r#"{{"data": [{{"id": "c-{to}", "method": "voice", "to": "{to}", "status": {{"enabled": true}}, "applyOrder": 0}}], "took": 0.01, "requestId": "r"}}"#
        )
    }

    /// Two users on a weekly schedule, a manager, and an escalation: the
    /// schedule at once, the manager after 10 minutes, repeated twice.
    fn team() -> Files {
        let mut f = Files::new();
        f.insert(
            USERS.into(),
            format!(
                r#"{{"totalCount": 3, "data": [{}, {}, {}], "took": 0.1, "requestId": "r"}}"#,
                user("u1", "yamada", "ja_JP"),
                user("u2", "kim", "en_US"),
                user("u3", "boss", "en_US")
            ),
        );
        f.insert(contacts_file("yamada@example.com"), voice("81-9022220001"));
        f.insert(contacts_file("kim@example.com"), voice("1-5550100002"));
        f.insert(contacts_file("boss@example.com"), voice("1-5550100003"));
        f.insert(
            SCHEDULES.into(),
            r#"{"data": [{"id": "s1", "name": "Platform", "timezone": "Asia/Tokyo", "enabled": true,
                "ownerTeam": {"id": "t1", "name": "platform"},
                "rotations": [{"id": "r1", "name": "Weekly", "startDate": "2026-11-02T01:00:00Z", "type": "weekly", "length": 1,
                    "participants": [{"type": "user", "id": "u1", "username": "yamada@example.com"}, {"type": "user", "id": "u2", "username": "kim@example.com"}]}]}],
                "expandable": ["rotation"], "took": 0.1, "requestId": "r"}"#
                .into(),
        );
        f.insert(
            ESCALATIONS.into(),
            r#"{"data": [{"id": "e1", "name": "Platform_escalation", "ownerTeam": {"id": "t1", "name": "platform"},
                "rules": [
                  {"condition": "if-not-acked", "notifyType": "default", "delay": {"timeAmount": 0, "timeUnit": "minutes"}, "recipient": {"type": "schedule", "id": "s1", "name": "Platform"}},
                  {"condition": "if-not-acked", "notifyType": "default", "delay": {"timeAmount": 10, "timeUnit": "minutes"}, "recipient": {"type": "user", "id": "u3", "username": "boss@example.com"}}
                ],
                "repeat": {"waitInterval": 5, "count": 2, "resetRecipientStates": false, "closeAlertAfterAll": false}}],
                "took": 0.1, "requestId": "r"}"#
                .into(),
        );
        f
    }

    #[test]
    fn a_team_leaving_opsgenie_imports_its_schedule_and_escalation() {
        let out = import(&team(), Options::default()).unwrap();
        let r = &out.roster;
        assert_eq!(r.timezone, chrono_tz::Asia::Tokyo);
        assert_eq!(r.people["yamada"].phones[0].number, "+819022220001");
        assert_eq!(r.people["kim"].language, Language::EnUs);
        assert_eq!(r.people["yamada"].language, Language::JaJp);
        assert_eq!(r.people["boss"].name, "boss full");
        let rot = &r.rotations["platform"];
        assert_eq!(rot.members, ["yamada", "kim"]);
        assert_eq!(rot.shift.to_string(), "1w");
        assert_eq!(rot.start.to_string(), "2026-11-02 10:00:00");
        let p = &r.policies[0];
        assert_eq!(p.name, "platform_escalation");
        assert_eq!(p.repeat, 2);
        assert_eq!(p.steps.len(), 2);
        assert_eq!(p.steps[0].targets[0].to_string(), "rotation:platform");
        // Ten minutes until the manager: 5 calls, 2 minutes apart.
        assert_eq!((p.steps[0].attempts, p.steps[0].retry_after_secs), (5, 60));
        // The manager has the 5 minutes Opsgenie waits before repeating.
        assert_eq!(p.steps[1].attempts, 3);
        assert!(out.skipped.is_empty(), "{:?}", out.skipped);
    }

    #[test]
    fn what_ringdown_cannot_express_is_listed_item_by_item() {
        let mut f = team();
        f.insert(
            contacts_file("yamada@example.com"),
            r#"{"data": [
                {"id": "a", "method": "email", "to": "yamada@example.com", "status": {"enabled": true}, "applyOrder": 0},
                {"id": "b", "method": "sms", "to": "81-9022220001", "status": {"enabled": true}, "applyOrder": 1},
                {"id": "c", "method": "mobile", "to": "Yamada's iPhone", "status": {"enabled": true}, "applyOrder": 2},
                {"id": "d", "method": "voice", "to": "81-9022220009", "status": {"enabled": false}, "applyOrder": 3},
                {"id": "e", "method": "voice", "to": "81-9022220001", "status": {"enabled": true}, "applyOrder": 4}
            ], "took": 0.01, "requestId": "r"}"#
                .into(),
        );
        f.insert(
            SCHEDULES.into(),
            r#"{"data": [{"id": "s1", "name": "Platform", "timezone": "Europe/London", "enabled": true,
                "rotations": [{"id": "r1", "name": "Weekly", "startDate": "2026-11-02T01:00:00Z", "endDate": "2027-03-01T00:00:00Z", "type": "weekly", "length": 1,
                    "participants": [{"type": "user", "id": "u1"}, {"type": "none"}, {"type": "team", "id": "t9", "name": "dba"}],
                    "timeRestriction": {"type": "time-of-day", "restriction": {"startHour": 9, "startMin": 0, "endHour": 18, "endMin": 0}}}]}],
                "took": 0.1, "requestId": "r"}"#
                .into(),
        );
        f.insert(
            ESCALATIONS.into(),
            r#"{"data": [{"id": "e1", "name": "Platform_escalation",
                "rules": [
                  {"condition": "if-not-closed", "notifyType": "default", "delay": {"timeAmount": 0}, "recipient": {"type": "schedule", "name": "Platform"}},
                  {"condition": "if-not-acked", "notifyType": "next", "delay": {"timeAmount": 5}, "recipient": {"type": "schedule", "name": "Platform"}},
                  {"condition": "if-not-acked", "notifyType": "default", "delay": {"timeAmount": 10}, "recipient": {"type": "team", "name": "dba"}}
                ]}],
                "took": 0.1, "requestId": "r"}"#
                .into(),
        );
        let out = import(
            &f,
            Options {
                timezone: Some(chrono_tz::Asia::Tokyo),
                language: None,
            },
        )
        .unwrap();
        let all: Vec<String> = out.skipped.iter().map(|s| s.to_string()).collect();
        let text = all.join("\n");
        for expected in [
            "user yamada@example.com, email contact: ringdown only places voice calls",
            "user yamada@example.com, sms contact +81******0001: ringdown only places voice calls",
            "user yamada@example.com, mobile contact: a push notification",
            "user yamada@example.com, voice contact +81******0009: disabled in Opsgenie",
            "schedule Platform, rotation Weekly, endDate: the rotation ends 2027-03-01 09:00",
            "schedule Platform, rotation Weekly, timeRestriction: the rotation covered only time-of-day 09:00–18:00",
            "schedule Platform, rotation Weekly, time zone: it hands off by the clock of Europe/London",
            "schedule Platform, rotation Weekly, participant 2 (none): an empty turn",
            "schedule Platform, rotation Weekly, participant 3 (team dba): a team or escalation",
            "escalation Platform_escalation, rule 1 (schedule Platform): Opsgenie went on",
            "escalation Platform_escalation, rule 2 (schedule Platform): notifies the next on-call person",
            "escalation Platform_escalation, rule 3 (team dba): a team or another escalation",
        ] {
            assert!(text.contains(expected), "{expected}\nin\n{text}");
        }
        assert!(!text.contains("22220001"), "numbers are masked: {text}");
        assert_eq!(out.roster.rotations["platform"].members, ["yamada"]);
        // The schedule's step has the whole time: no rule after it is left.
        assert_eq!(out.roster.policies[0].steps.len(), 1);
        assert_eq!(out.roster.policies[0].steps[0].attempts, 2);
    }

    #[test]
    fn overrides_apply_to_the_rotations_they_name_or_the_whole_schedule() {
        let mut f = team();
        f.insert(
            overrides_file("Platform"),
            r#"{"data": [
                {"_parent": {"id": "s1", "name": "Platform", "enabled": true}, "alias": "o1", "user": {"type": "user", "id": "u3", "username": "boss@example.com"},
                 "startDate": "2026-11-22T15:00:00Z", "endDate": "2026-11-23T15:00:00Z", "rotations": [{"id": "r1", "name": "Weekly"}]},
                {"_parent": {"id": "s1", "name": "Platform", "enabled": true}, "alias": "o2", "user": {"type": "none"},
                 "startDate": "2026-12-01T00:00:00Z", "endDate": "2026-12-02T00:00:00Z", "rotations": []}
            ], "took": 0.1, "requestId": "r"}"#
                .into(),
        );
        let out = import(&f, Options::default()).unwrap();
        let os = &out.roster.rotations["platform"].overrides;
        assert_eq!(os.len(), 1);
        assert_eq!(os[0].person, "boss");
        assert_eq!(os[0].from.to_string(), "2026-11-23 00:00:00");
        assert!(out
            .skipped
            .iter()
            .any(|s| s.item == "schedule Platform, override 2026-12-01 09:00 → 2026-12-02 09:00"));
    }

    #[test]
    fn several_escalations_become_policies_told_apart_by_a_label() {
        let mut f = team();
        f.insert(
            ESCALATIONS.into(),
            r#"{"data": [
                {"id": "e1", "name": "Platform", "rules": [{"condition": "if-not-acked", "notifyType": "default", "delay": {"timeAmount": 0}, "recipient": {"type": "schedule", "id": "s1"}}]},
                {"id": "e2", "name": "Database", "rules": [{"condition": "if-not-acked", "notifyType": "default", "delay": {"timeAmount": 0}, "recipient": {"type": "user", "username": "boss@example.com"}}]}
            ], "took": 0.1, "requestId": "r"}"#
                .into(),
        );
        let out = import(&f, Options::default()).unwrap();
        assert_eq!(out.roster.policies.len(), 2);
        let labels =
            ringdown_core::Labels::from([("escalation".to_string(), "database".to_string())]);
        assert_eq!(out.roster.policy_for(&labels).unwrap().name, "database");
        assert!(out.skipped.iter().any(|s| s.item == "escalation Platform"
            && s.reason.contains("labelled escalation=platform")));
    }

    #[test]
    fn a_schedule_list_without_rotations_is_an_input_error() {
        let mut f = team();
        f.insert(
            SCHEDULES.into(),
            r#"{"data": [{"id": "s1", "name": "Platform", "timezone": "Asia/Tokyo", "enabled": true}], "took": 0.1, "requestId": "r"}"#.into(),
        );
        let err = import(&f, Options::default()).unwrap_err().to_string();
        assert!(err.starts_with("schedules.json: "), "{err}");
        assert!(err.contains("expand=rotation"), "{err}");
    }

    #[test]
    fn without_an_escalation_one_policy_calls_every_rotation() {
        let mut f = team();
        f.remove(ESCALATIONS);
        let out = import(&f, Options::default()).unwrap();
        let p = &out.roster.policies[0];
        assert_eq!(p.name, "default");
        assert_eq!(p.steps[0].targets[0].to_string(), "rotation:platform");
        assert!(out.skipped.iter().any(|s| s.item == "escalation"));
    }

    #[test]
    fn nobody_to_call_is_an_error_listing_why() {
        let mut f = Files::new();
        f.insert(
            USERS.into(),
            format!(
                r#"{{"data": [{}], "took": 0.1, "requestId": "r"}}"#,
                user("u1", "yamada", "ja_JP")
            ),
        );
        match import(&f, Options::default()) {
            Err(ImportError::NothingToCall { skipped }) => {
                assert!(skipped.iter().any(|s| s.item == "user yamada@example.com"));
            }
            other => panic!("{other:?}"),
        }
    }
}
