//! Raw roster → validated [`Roster`], collecting every problem.
use super::calendar::{parse_weekday, Calendar, HolidaySet, Hours, WeekdayOrd, Window};
use super::raw::*;
use super::rotation::{Override, Rotation, ShiftLen};
use super::{
    Heartbeat, InhibitRule, Person, PhoneRule, Policy, Roster, RosterErrors, Step, StepMode,
    StormRules, TargetRef,
};
use crate::alert::{Labels, Language};
use crate::matcher::Matcher;
use crate::phone::validate_e164;
use chrono::{Datelike, NaiveDate, NaiveDateTime, Weekday};
use chrono_tz::Tz;
use std::collections::{BTreeMap, BTreeSet};

/// Largest `attempts` and `repeat` accepted.
const MAX_COUNT: i64 = 100;
/// Wall-clock years accepted in `start`, `from`, `to` and dates.
const YEARS: std::ops::RangeInclusive<i32> = 1900..=2200;

struct Errs(Vec<String>);

impl Errs {
    fn add(&mut self, path: impl AsRef<str>, msg: impl AsRef<str>) {
        self.0.push(format!("{}: {}", path.as_ref(), msg.as_ref()));
    }
}

fn known<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let v: Vec<&str> = names.map(String::as_str).collect();
    if v.is_empty() {
        "none are defined".to_string()
    } else {
        format!("known: {}", v.join(", "))
    }
}

pub(super) fn from_yaml(src: &str) -> Result<Roster, RosterErrors> {
    // Syntax first, so an empty file gets its own message.
    match serde_yaml::from_str::<serde_yaml::Value>(src) {
        Err(e) => return Err(RosterErrors(vec![yaml_error(&e)])),
        Ok(serde_yaml::Value::Null) => {
            return Err(RosterErrors(vec![
                "roster: the file is empty; it needs at least `timezone`, `people` and `policies`"
                    .into(),
            ]))
        }
        Ok(_) => {}
    }
    let raw: RawRoster =
        serde_yaml::from_str(src).map_err(|e| RosterErrors(vec![yaml_error(&e)]))?;
    let mut errs = Errs(Vec::new());
    let roster = convert(raw, &mut errs);
    if errs.0.is_empty() {
        Ok(roster)
    } else {
        Err(RosterErrors(errs.0))
    }
}

/// serde's names for the roster's parts, in the roster's own words.
const SHAPES: [(&str, &str); 11] = [
    (
        "struct RawRoster",
        "a roster: a mapping of timezone, calendars, people, rotations, policies and heartbeats",
    ),
    (
        "struct RawCalendar",
        "a calendar {weekdays, holidays, extra_holidays, extra_workdays}",
    ),
    (
        "struct RawPerson",
        "a person {name, language, phones, only}",
    ),
    ("struct RawPhone", "a phone {number, when}"),
    ("struct RawWindow", "a window {calendar, hours}"),
    (
        "struct RawRotation",
        "a rotation {members, shift, start, overrides}",
    ),
    ("struct RawOverride", "an override {person, from, to}"),
    (
        "struct RawPolicy",
        "a policy {name, match, group_by, group_wait_secs, repeat, ack_timeout_secs, steps}",
    ),
    (
        "struct RawStep",
        "a step {targets, mode, attempts, retry_after_secs}",
    ),
    (
        "struct RawHeartbeat",
        "a heartbeat {name, expect_every_secs, policy, labels}",
    ),
    (
        "data did not match any variant of untagged enum Scalar",
        "expected a single value (text, a number or true/false)",
    ),
];

/// serde_yaml's message already names the field path and position; make
/// sure the position is there, and put serde's internal type names and
/// limits in the roster's own words.
fn yaml_error(e: &serde_yaml::Error) -> String {
    let mut msg = e.to_string();
    for (raw, plain) in SHAPES {
        msg = msg.replace(raw, plain);
    }
    // An integer beyond 64 bits reaches serde as a 128-bit one.
    for wide in [
        " as u128, expected any YAML value",
        " as i128, expected any YAML value",
    ] {
        if msg.contains(wide) {
            msg = msg
                .replace(wide, " is out of range")
                .replace("invalid type: integer", "integer");
        }
    }
    if msg.contains("recursion limit exceeded") {
        msg = msg.replace(
            "recursion limit exceeded",
            "nested more than 128 levels deep (recursion limit exceeded)",
        );
    }
    if msg.contains("repetition limit exceeded") {
        msg = msg.replace(
            "repetition limit exceeded",
            "YAML aliases expand to too many values (repetition limit exceeded); write the values out",
        );
    }
    let msg = match e.location() {
        Some(l) if !msg.contains("line ") => {
            format!("{msg} at line {} column {}", l.line(), l.column())
        }
        _ => msg,
    };
    // Without a field path the problem is the file as a whole.
    let has_path = msg
        .split_once(": ")
        .is_some_and(|(head, _)| !head.contains(' '));
    if has_path {
        msg
    } else {
        format!("roster: {msg}")
    }
}

fn scalar_text(v: &serde_yaml::Value) -> Option<String> {
    match v {
        serde_yaml::Value::String(s) => Some(s.clone()),
        serde_yaml::Value::Number(n) => Some(n.to_string()),
        serde_yaml::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn parse_date(s: &str) -> Result<NaiveDate, String> {
    let d = NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map_err(|_| format!("{s:?} is not a date: write YYYY-MM-DD, e.g. \"2026-12-31\""))?;
    if !YEARS.contains(&d.year()) {
        return Err(format!(
            "{s:?} is out of range: years {}–{} are accepted",
            YEARS.start(),
            YEARS.end()
        ));
    }
    Ok(d)
}

/// Wall-clock date-time without offset: `2026-11-02T10:00`, `2026-11-02 10:00`,
/// with optional seconds, or a bare date (midnight).
fn parse_wall(s: &str) -> Result<NaiveDateTime, String> {
    let t = s.trim();
    let hint = "write wall-clock time in the roster timezone as YYYY-MM-DDTHH:MM, e.g. \"2026-11-02T10:00\"";
    let time_part = t.get(10..).unwrap_or("");
    if t.ends_with('Z')
        || time_part.contains('+')
        || time_part.get(1..).is_some_and(|r| r.contains('-'))
    {
        return Err(format!(
            "{s:?} has a UTC offset; {hint} (no offset: the roster timezone applies)"
        ));
    }
    let parsed = [
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%d %H:%M:%S",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(t, f).ok())
    .or_else(|| {
        NaiveDate::parse_from_str(t, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
    });
    let Some(dt) = parsed else {
        return Err(format!("{s:?} is not a date and time; {hint}"));
    };
    if !YEARS.contains(&dt.year()) {
        return Err(format!(
            "{s:?} is out of range: years {}–{} are accepted",
            YEARS.start(),
            YEARS.end()
        ));
    }
    Ok(dt)
}

fn parse_language(s: &str) -> Option<Language> {
    match s.trim().to_ascii_lowercase().as_str() {
        "ja-jp" | "ja" => Some(Language::JaJp),
        "en-us" | "en" => Some(Language::EnUs),
        _ => None,
    }
}

fn convert(raw: RawRoster, errs: &mut Errs) -> Roster {
    // timezone
    let timezone = match raw.timezone.as_deref().map(str::trim) {
        None | Some("") => {
            errs.add(
                "timezone",
                "missing; set the IANA time zone hand-offs and hours are read in, e.g. `timezone: Asia/Tokyo`",
            );
            Tz::UTC
        }
        Some(name) => match name.parse::<Tz>() {
            Ok(tz) => tz,
            Err(_) => {
                let hint = chrono_tz::TZ_VARIANTS
                    .iter()
                    .find(|t| t.name().eq_ignore_ascii_case(name))
                    .map(|t| format!("did you mean {}?", t.name()))
                    .unwrap_or_else(|| {
                        "use an IANA name such as Asia/Tokyo, America/New_York or UTC".into()
                    });
                errs.add("timezone", format!("unknown time zone {name:?}; {hint}"));
                Tz::UTC
            }
        },
    };

    // calendars
    let mut calendars = BTreeMap::new();
    for (name, rc) in &raw.calendars {
        let path = format!("calendars.{name}");
        let weekdays: BTreeSet<WeekdayOrd> = match &rc.weekdays {
            None => [
                Weekday::Mon,
                Weekday::Tue,
                Weekday::Wed,
                Weekday::Thu,
                Weekday::Fri,
            ]
            .into_iter()
            .map(WeekdayOrd::from_weekday)
            .collect(),
            Some(list) => {
                if list.is_empty() {
                    errs.add(
                        format!("{path}.weekdays"),
                        "empty; list the working days, e.g. [mon, tue, wed, thu, fri]",
                    );
                }
                let mut set = BTreeSet::new();
                for (i, w) in list.iter().enumerate() {
                    match parse_weekday(w) {
                        Some(w) => {
                            set.insert(WeekdayOrd::from_weekday(w));
                        }
                        None => errs.add(
                            format!("{path}.weekdays[{i}]"),
                            format!(
                                "{w:?} is not a weekday; use mon, tue, wed, thu, fri, sat or sun"
                            ),
                        ),
                    }
                }
                set
            }
        };
        let holidays = match rc.holidays.as_deref().map(str::trim) {
            None | Some("none") => HolidaySet::None,
            Some("jp") => HolidaySet::Jp,
            Some(other) => {
                errs.add(
                    format!("{path}.holidays"),
                    format!("{other:?} is not a holiday set; use `jp` (Japanese public holidays) or `none`"),
                );
                HolidaySet::None
            }
        };
        let dates = |field: &str, list: &[Scalar], errs: &mut Errs| {
            let mut set = BTreeSet::new();
            for (i, d) in list.iter().enumerate() {
                match parse_date(&d.text()) {
                    Ok(d) => {
                        set.insert(d);
                    }
                    Err(e) => errs.add(format!("{path}.{field}[{i}]"), e),
                }
            }
            set
        };
        let extra_holidays = dates("extra_holidays", &rc.extra_holidays, errs);
        let extra_workdays = dates("extra_workdays", &rc.extra_workdays, errs);
        for (i, d) in rc.extra_workdays.iter().enumerate() {
            if let Ok(date) = parse_date(&d.text()) {
                if extra_holidays.contains(&date) {
                    errs.add(
                        format!("{path}.extra_workdays[{i}]"),
                        format!("{date} is also in extra_holidays; keep it in only one list"),
                    );
                }
            }
        }
        calendars.insert(
            name.clone(),
            Calendar {
                name: name.clone(),
                weekdays,
                holidays,
                extra_holidays,
                extra_workdays,
            },
        );
    }

    let window = |path: &str, rw: &RawWindow, errs: &mut Errs| -> Window {
        let mut w = Window::default();
        if let Some(c) = &rw.calendar {
            if !calendars.contains_key(c) {
                errs.add(
                    format!("{path}.calendar"),
                    format!("unknown calendar {c:?} ({})", known(calendars.keys())),
                );
            }
            w.calendar = Some(c.clone());
        }
        if let Some(h) = &rw.hours {
            match Hours::parse(&h.text()) {
                Ok(h) => w.hours = Some(h),
                Err(e) => errs.add(format!("{path}.hours"), e),
            }
        }
        w
    };

    // people
    let mut people = BTreeMap::new();
    for (id, rp) in &raw.people {
        let path = format!("people.{id}");
        let language = match &rp.language {
            None => Language::default(),
            Some(l) => parse_language(l).unwrap_or_else(|| {
                errs.add(
                    format!("{path}.language"),
                    format!("{l:?} is not supported; use ja-JP or en-US"),
                );
                Language::default()
            }),
        };
        if rp.phones.is_empty() {
            errs.add(
                format!("{path}.phones"),
                "empty; add at least one, e.g. phones: [{ number: \"+819012345678\" }]",
            );
        }
        let mut phones = Vec::new();
        let mut catch_all: Option<usize> = None;
        for (i, ph) in rp.phones.iter().enumerate() {
            let ppath = format!("{path}.phones[{i}]");
            let number = ph.number.text();
            if let Err(e) = validate_e164(number.trim()) {
                let hint = match ph.number {
                    Scalar::Str(_) => "",
                    _ => " (write the number in quotes: \"+81…\"; unquoted, YAML reads it as an integer and drops the +)",
                };
                errs.add(format!("{ppath}.number"), format!("{e}{hint}"));
            }
            if let Some(first) = catch_all {
                errs.add(
                    &ppath,
                    format!("is never used: phones[{first}] has no `when` and fits any time; move the phone without `when` last"),
                );
            }
            let when = ph
                .when
                .as_ref()
                .map(|w| window(&format!("{ppath}.when"), w, errs));
            let fits_always = match &when {
                None => true,
                Some(w) => *w == Window::default(),
            };
            if fits_always && catch_all.is_none() {
                catch_all = Some(i);
            }
            phones.push(PhoneRule {
                number: number.trim().to_string(),
                when,
            });
        }
        let only = rp
            .only
            .as_ref()
            .map(|w| window(&format!("{path}.only"), w, errs));
        people.insert(
            id.clone(),
            Person {
                id: id.clone(),
                name: rp
                    .name
                    .clone()
                    .filter(|n| !n.trim().is_empty())
                    .unwrap_or_else(|| id.clone()),
                language,
                phones,
                only,
            },
        );
    }

    // rotations
    let mut rotations = BTreeMap::new();
    for (name, rr) in &raw.rotations {
        let path = format!("rotations.{name}");
        if rr.members.is_empty() {
            errs.add(
                format!("{path}.members"),
                "empty; list the people in rotation order, e.g. [tanaka, sato]",
            );
        }
        for (i, m) in rr.members.iter().enumerate() {
            if !people.contains_key(m) {
                errs.add(
                    format!("{path}.members[{i}]"),
                    format!("unknown person {m:?} ({})", known(people.keys())),
                );
            }
        }
        let shift = match &rr.shift {
            None => {
                errs.add(
                    format!("{path}.shift"),
                    "missing; set the shift length, e.g. `shift: 1w`",
                );
                None
            }
            Some(s) => ShiftLen::parse(&s.text())
                .map_err(|e| errs.add(format!("{path}.shift"), e))
                .ok(),
        };
        let start = match &rr.start {
            None => {
                errs.add(
                    format!("{path}.start"),
                    "missing; set the first hand-off, wall clock in the roster timezone, e.g. \"2026-11-02T10:00\"",
                );
                None
            }
            Some(s) => parse_wall(&s.text())
                .map_err(|e| errs.add(format!("{path}.start"), e))
                .ok(),
        };
        let mut overrides = Vec::new();
        for (i, o) in rr.overrides.iter().enumerate() {
            let opath = format!("{path}.overrides[{i}]");
            if !people.contains_key(&o.person) {
                errs.add(
                    format!("{opath}.person"),
                    format!("unknown person {:?} ({})", o.person, known(people.keys())),
                );
            }
            let from = parse_wall(&o.from.text()).map_err(|e| errs.add(format!("{opath}.from"), e));
            let to = parse_wall(&o.to.text()).map_err(|e| errs.add(format!("{opath}.to"), e));
            if let (Ok(from), Ok(to)) = (from, to) {
                if to <= from {
                    errs.add(
                        &opath,
                        format!(
                            "`to` {} is not after `from` {}; an override covers from <= t < to",
                            to.format("%Y-%m-%d %H:%M"),
                            from.format("%Y-%m-%d %H:%M")
                        ),
                    );
                }
                overrides.push(Override {
                    person: o.person.clone(),
                    from,
                    to,
                });
            }
        }
        if let (Some(shift), Some(start)) = (shift, start) {
            rotations.insert(
                name.clone(),
                Rotation {
                    name: name.clone(),
                    members: rr.members.clone(),
                    shift,
                    start,
                    overrides,
                },
            );
        }
    }

    // policies
    if raw.policies.is_empty() {
        errs.add(
            "policies",
            "none defined; add at least one policy (`match: {}` matches every alert)",
        );
    }
    let mut policies: Vec<Policy> = Vec::new();
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    let mut catch_all: Option<usize> = None;
    for (i, rp) in raw.policies.iter().enumerate() {
        let path = format!("policies[{i}]");
        let name = rp.name.clone().unwrap_or_default().trim().to_string();
        if name.is_empty() {
            errs.add(
                format!("{path}.name"),
                "missing; every policy needs a unique name",
            );
        } else if let Some(first) = names.get(&name) {
            errs.add(
                format!("{path}.name"),
                format!(
                    "{name:?} is already used by policies[{first}]; policy names must be unique"
                ),
            );
        } else {
            names.insert(name.clone(), i);
        }
        let matchers = parse_match(&path, rp.matchers.as_ref(), errs);
        if let Some(c) = catch_all {
            errs.add(
                &path,
                format!("can never match: policies[{c}] matches every alert; move the catch-all policy last or narrow its `match`"),
            );
        } else if matchers.is_empty() {
            catch_all = Some(i);
        }
        let group_wait_secs = nonneg(
            &format!("{path}.group_wait_secs"),
            rp.group_wait_secs,
            30,
            errs,
        );
        let repeat = match rp.repeat {
            None => 0,
            Some(n) if (0..=MAX_COUNT).contains(&n) => n as u32,
            Some(n) => {
                errs.add(
                    format!("{path}.repeat"),
                    format!("{n} is not allowed; it must be between 0 and {MAX_COUNT} (extra passes through the steps)"),
                );
                0
            }
        };
        if rp.steps.is_empty() {
            errs.add(
                format!("{path}.steps"),
                "empty; add at least one step, e.g. steps: [{ targets: [rotation:primary] }]",
            );
        }
        let mut steps = Vec::new();
        for (j, rs) in rp.steps.iter().enumerate() {
            let spath = format!("{path}.steps[{j}]");
            if rs.targets.is_empty() {
                errs.add(
                    format!("{spath}.targets"),
                    "empty; list who to call, e.g. [rotation:primary, person:tanaka]",
                );
            }
            let mut targets = Vec::new();
            for (k, t) in rs.targets.iter().enumerate() {
                let tpath = format!("{spath}.targets[{k}]");
                let t = t.trim();
                if let Some(r) = t.strip_prefix("rotation:") {
                    let r = r.trim();
                    if !raw.rotations.contains_key(r) {
                        errs.add(
                            &tpath,
                            format!("unknown rotation {r:?} ({})", known(raw.rotations.keys())),
                        );
                    }
                    targets.push(TargetRef::Rotation(r.to_string()));
                } else if let Some(p) = t.strip_prefix("person:") {
                    let p = p.trim();
                    if !people.contains_key(p) {
                        errs.add(
                            &tpath,
                            format!("unknown person {p:?} ({})", known(people.keys())),
                        );
                    }
                    targets.push(TargetRef::Person(p.to_string()));
                } else {
                    errs.add(
                        &tpath,
                        format!("{t:?} is not a target; write rotation:<name> or person:<id>"),
                    );
                }
            }
            let attempts = count(&format!("{spath}.attempts"), rs.attempts, errs);
            let retry_after_secs = nonneg(
                &format!("{spath}.retry_after_secs"),
                rs.retry_after_secs,
                60,
                errs,
            );
            let mode = match rs.mode.as_deref().map(str::trim) {
                None | Some("in_order") => StepMode::InOrder,
                Some("all") => StepMode::All,
                Some("round_robin") => StepMode::RoundRobin,
                Some(other) => {
                    errs.add(
                        format!("{spath}.mode"),
                        format!("{other:?} is not a mode; write in_order (one after another, the default), all (everyone at once) or round_robin (each new incident starts with the next person)"),
                    );
                    StepMode::InOrder
                }
            };
            steps.push(Step {
                targets,
                mode,
                attempts,
                retry_after_secs,
            });
        }
        let ack_timeout_secs = match rp.ack_timeout_secs {
            None => None,
            Some(n) if (60..=7 * 86_400).contains(&n) => Some(n as u64),
            Some(n) => {
                errs.add(
                    format!("{path}.ack_timeout_secs"),
                    format!("{n} is not allowed; give seconds between 60 and 604800 (a week), e.g. 1800 to page again 30 minutes after an acknowledgement if still firing, or leave it out"),
                );
                None
            }
        };
        policies.push(Policy {
            ack_timeout_secs,
            name,
            matchers,
            group_by: rp.group_by.clone(),
            group_wait_secs,
            repeat,
            steps,
        });
    }

    // heartbeats
    let mut heartbeats = Vec::new();
    let mut hb_names: BTreeMap<String, usize> = BTreeMap::new();
    for (i, rh) in raw.heartbeats.iter().enumerate() {
        let path = format!("heartbeats[{i}]");
        let name = rh.name.clone().unwrap_or_default().trim().to_string();
        if name.is_empty() {
            errs.add(
                format!("{path}.name"),
                "missing; every heartbeat needs a unique name",
            );
        } else if let Some(first) = hb_names.get(&name) {
            errs.add(
                format!("{path}.name"),
                format!("{name:?} is already used by heartbeats[{first}]; heartbeat names must be unique"),
            );
        } else {
            hb_names.insert(name.clone(), i);
        }
        let expect_every_secs = match rh.expect_every_secs {
            None => {
                errs.add(
                    format!("{path}.expect_every_secs"),
                    "missing; set how often a beat is expected, e.g. 300",
                );
                0
            }
            Some(n) if n < 1 => {
                errs.add(
                    format!("{path}.expect_every_secs"),
                    format!("{n} is not allowed; it must be at least 1 second"),
                );
                0
            }
            Some(n) => n as u64,
        };
        let policy = rh.policy.clone().unwrap_or_default();
        if policy.is_empty() {
            errs.add(
                format!("{path}.policy"),
                "missing; name the policy to run when the heartbeat stops",
            );
        } else if !names.contains_key(&policy) {
            errs.add(
                format!("{path}.policy"),
                format!("unknown policy {policy:?} ({})", known(names.keys())),
            );
        }
        let labels: Labels = rh
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), v.text()))
            .collect();
        heartbeats.push(Heartbeat {
            name,
            expect_every_secs,
            policy,
            labels,
        });
    }

    let storm = storm_rules(raw.storm.as_ref(), errs);
    let inhibit_rules = inhibit_rules(&raw.inhibit_rules, errs);

    Roster {
        timezone,
        calendars,
        people,
        rotations,
        policies,
        heartbeats,
        storm,
        inhibit_rules,
    }
}

fn storm_rules(raw: Option<&RawStorm>, errs: &mut Errs) -> StormRules {
    let d = StormRules::default();
    let Some(raw) = raw else {
        return d;
    };
    let min_incidents = match raw.min_incidents {
        None => d.min_incidents,
        Some(n) if (1..=MAX_COUNT).contains(&n) => n as u32,
        Some(n) => {
            errs.add(
                "storm.min_incidents",
                format!("{n} is not allowed; it must be between 1 and {MAX_COUNT}"),
            );
            d.min_incidents
        }
    };
    StormRules {
        min_incidents,
        window_secs: nonneg("storm.window_secs", raw.window_secs, d.window_secs, errs),
        coalesce_secs: nonneg(
            "storm.coalesce_secs",
            raw.coalesce_secs,
            d.coalesce_secs,
            errs,
        ),
    }
}

fn inhibit_rules(raw: &[RawInhibitRule], errs: &mut Errs) -> Vec<InhibitRule> {
    let mut out = Vec::new();
    for (i, r) in raw.iter().enumerate() {
        let path = format!("inhibit_rules[{i}]");
        let source = parse_matchers(
            &format!("{path}.source_matchers"),
            r.source_matchers.as_ref(),
            errs,
        );
        let target = parse_matchers(
            &format!("{path}.target_matchers"),
            r.target_matchers.as_ref(),
            errs,
        );
        if source.is_empty() {
            errs.add(
                format!("{path}.source_matchers"),
                "is required: without it every alert would inhibit the targets",
            );
        }
        if target.is_empty() {
            errs.add(
                format!("{path}.target_matchers"),
                "is required: without it the rule would inhibit every alert",
            );
        }
        out.push(InhibitRule {
            source_matchers: source,
            target_matchers: target,
            equal: r.equal.clone(),
        });
    }
    out
}

fn parse_match(path: &str, v: Option<&serde_yaml::Value>, errs: &mut Errs) -> Vec<Matcher> {
    parse_matchers(&format!("{path}.match"), v, errs)
}

/// Matchers written as a map `{label: value}` or a list `["label=~re"]`;
/// `field` is the path errors name.
fn parse_matchers(field: &str, v: Option<&serde_yaml::Value>, errs: &mut Errs) -> Vec<Matcher> {
    let mut out = Vec::new();
    match v {
        None | Some(serde_yaml::Value::Null) => {}
        Some(serde_yaml::Value::Mapping(m)) => {
            for (k, val) in m {
                let key = scalar_text(k).unwrap_or_default();
                let Some(val) = scalar_text(val) else {
                    errs.add(
                        format!("{field}.{key}"),
                        "must be a single value (equality); for regexes use the list form [\"label=~re\"]",
                    );
                    continue;
                };
                match Matcher::equal(&key, &val) {
                    Ok(m) => out.push(m),
                    Err(e) => errs.add(format!("{field}.{key}"), e.to_string()),
                }
            }
        }
        Some(serde_yaml::Value::Sequence(list)) => {
            for (i, item) in list.iter().enumerate() {
                let Some(s) = scalar_text(item) else {
                    errs.add(
                        format!("{field}[{i}]"),
                        "must be a matcher string such as \"severity=~critical|page\"",
                    );
                    continue;
                };
                match Matcher::parse(&s) {
                    Ok(m) => out.push(m),
                    Err(e) => errs.add(format!("{field}[{i}]"), e.to_string()),
                }
            }
        }
        Some(_) => errs.add(
            field,
            "must be a map {label: value} or a list of matchers [\"label=~re\", \"team!=db\"]",
        ),
    }
    out
}

/// A count that must be 1..=MAX_COUNT (default 1).
fn count(path: &str, v: Option<i64>, errs: &mut Errs) -> u32 {
    match v {
        None => 1,
        Some(n) if (1..=MAX_COUNT).contains(&n) => n as u32,
        Some(n) => {
            errs.add(
                path,
                format!("{n} is not allowed; it must be between 1 and {MAX_COUNT}"),
            );
            1
        }
    }
}

/// Seconds that must be >= 0.
fn nonneg(path: &str, v: Option<i64>, default: u64, errs: &mut Errs) -> u64 {
    match v {
        None => default,
        Some(n) if n >= 0 => n as u64,
        Some(n) => {
            errs.add(
                path,
                format!("{n} is negative; use a number of seconds >= 0"),
            );
            default
        }
    }
}
