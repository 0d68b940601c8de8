//! Scenario tests for the roster: parsing, validation, calendars, rotations
//! across DST, per-phone windows and plans.
use super::rotation::local_to_utc;
use super::*;
use chrono::{NaiveDateTime, TimeZone};
use proptest::prelude::*;

/// The example from the format documentation.
const SAMPLE: &str = r#"
timezone: Asia/Tokyo
calendars:
  jp-business:
    weekdays: [mon, tue, wed, thu, fri]
    holidays: jp
    extra_holidays: ["2026-12-31", "2027-01-02"]
people:
  tanaka:
    name: Tanaka Taro
    language: ja-JP
    phones:
      - number: "+81312345678"
        when: { calendar: jp-business, hours: "09:00-18:00" }
      - number: "+819012345678"
  sato:
    phones: [{ number: "+819011112222" }]
    only: { calendar: jp-business }
  smith:
    name: John Smith
    language: en-US
    phones: [{ number: "+14155550123" }]
rotations:
  primary:
    members: [tanaka, sato]
    shift: 1w
    start: "2026-11-02T10:00"
    overrides:
      - { person: tanaka, from: "2026-11-23T00:00", to: "2026-11-24T00:00" }
policies:
  - name: database
    match: ["team=db", "severity=~critical|page"]
    steps:
      - targets: [person:smith]
  - name: default
    match: {}
    group_by: [systemname]
    group_wait_secs: 30
    repeat: 2
    steps:
      - targets: [rotation:primary]
        attempts: 2
        retry_after_secs: 120
      - targets: [person:tanaka]
        attempts: 1
heartbeats:
  - { name: batch-nightly, expect_every_secs: 86400, policy: default, labels: { systemname: batch } }
"#;

fn sample() -> Roster {
    match Roster::from_yaml(SAMPLE) {
        Ok(r) => r,
        Err(e) => panic!("sample roster is invalid: {:#?}", e.0),
    }
}

/// A wall-clock time in `tz` (must exist and be unambiguous).
fn at(tz: Tz, s: &str) -> DateTime<Utc> {
    let n = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
    tz.from_local_datetime(&n)
        .single()
        .unwrap()
        .with_timezone(&Utc)
}
fn jst(s: &str) -> DateTime<Utc> {
    at(chrono_tz::Asia::Tokyo, s)
}
fn utc(s: &str) -> DateTime<Utc> {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M")
        .unwrap()
        .and_utc()
}
fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn rotation_roster(tz: &str, shift: &str, start: &str, members: &[&str]) -> Roster {
    let people: String = members
        .iter()
        .enumerate()
        .map(|(i, m)| format!("  {m}: {{ phones: [{{ number: \"+8190000000{i:02}\" }}] }}\n"))
        .collect();
    let yaml = format!(
        "timezone: {tz}\npeople:\n{people}rotations:\n  r:\n    members: [{}]\n    shift: {shift}\n    start: \"{start}\"\npolicies:\n  - {{ name: p, match: {{}}, steps: [{{ targets: [rotation:r] }}] }}\n",
        members.join(", ")
    );
    Roster::from_yaml(&yaml).unwrap_or_else(|e| panic!("{:#?}", e.0))
}

fn handoff_times(r: &Roster, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<(String, String)> {
    r.next_handoffs("r", from, to)
        .into_iter()
        .skip(1) // the entry at `from`
        .map(|h| (h.at.format("%Y-%m-%d %H:%M").to_string(), h.person))
        .collect()
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

// ---------------------------------------------------------------- parsing

#[test]
fn the_documented_example_parses_with_defaults() {
    let r = sample();
    assert_eq!(r.timezone, chrono_tz::Asia::Tokyo);
    let tanaka = r.person("tanaka").unwrap();
    assert_eq!(tanaka.name, "Tanaka Taro");
    assert_eq!(tanaka.phones.len(), 2);
    let sato = r.person("sato").unwrap();
    assert_eq!(sato.name, "sato", "name defaults to the id");
    assert_eq!(sato.language, Language::JaJp, "language defaults to ja-JP");
    assert_eq!(r.person("smith").unwrap().language, Language::EnUs);
    let p = r.policy("default").unwrap();
    assert_eq!(p.group_by, vec!["systemname"]);
    assert_eq!((p.group_wait_secs, p.repeat), (30, 2));
    assert_eq!(
        p.steps[0].targets,
        vec![TargetRef::Rotation("primary".into())]
    );
    assert_eq!((p.steps[0].attempts, p.steps[0].retry_after_secs), (2, 120));
    assert_eq!(p.steps[1].retry_after_secs, 60, "default retry_after_secs");
    let db = r.policy("database").unwrap();
    assert_eq!(db.group_wait_secs, 30, "default group_wait_secs");
    assert_eq!(db.repeat, 0, "default repeat: no extra pass");
    assert_eq!(r.rotations["primary"].shift.to_string(), "1w");
    assert_eq!(
        r.heartbeats,
        vec![Heartbeat {
            name: "batch-nightly".into(),
            expect_every_secs: 86400,
            policy: "default".into(),
            labels: labels(&[("systemname", "batch")]),
        }]
    );
}

#[test]
fn first_matching_policy_wins_and_match_accepts_map_or_list() {
    let r = sample();
    let db = labels(&[("team", "db"), ("severity", "page")]);
    assert_eq!(r.policy_for(&db).unwrap().name, "database");
    let db_warn = labels(&[("team", "db"), ("severity", "warning")]);
    assert_eq!(r.policy_for(&db_warn).unwrap().name, "default");

    let yaml = SAMPLE.replace(
        "match: [\"team=db\", \"severity=~critical|page\"]",
        "match: { team: db, port: 5432 }",
    );
    let r = Roster::from_yaml(&yaml).unwrap();
    let m = &r.policy("database").unwrap().matchers;
    assert_eq!(m.len(), 2);
    assert!(r
        .policy_for(&labels(&[("team", "db"), ("port", "5432")]))
        .is_some_and(|p| p.name == "database"));
}

#[test]
fn no_matching_policy_means_an_empty_plan() {
    let yaml = r#"
timezone: UTC
people: { a: { phones: [{ number: "+819000000001" }] } }
policies:
  - { name: web, match: { team: web }, steps: [{ targets: [person:a] }] }
"#;
    let r = Roster::from_yaml(yaml).unwrap();
    assert!(r.policy_for(&labels(&[("team", "db")])).is_none());
    assert!(r
        .plan(&labels(&[("team", "db")]), utc("2026-01-01 00:00"))
        .is_empty());
    assert_eq!(
        r.plan(&labels(&[("team", "web")]), utc("2026-01-01 00:00"))
            .len(),
        1
    );
}

// -------------------------------------------------------------- rotations

#[test]
fn weekly_rotation_with_an_override_on_the_holiday() {
    let r = sample();
    let (who, why) = r.on_call("primary", jst("2026-11-20 12:00")).unwrap();
    assert_eq!(who, "tanaka");
    assert_eq!(
        why,
        "rotation primary: shift 3 (2026-11-16 10:00 → 2026-11-23 10:00 Asia/Tokyo)"
    );
    assert_eq!(
        r.on_call("primary", jst("2026-11-10 09:00")).unwrap().0,
        "sato"
    );
    // Hand-off instant belongs to the new shift.
    assert_eq!(
        r.on_call("primary", jst("2026-11-09 10:00")).unwrap().0,
        "sato"
    );
    assert_eq!(
        r.on_call(
            "primary",
            jst("2026-11-09 10:00") - chrono::Duration::seconds(1)
        )
        .unwrap()
        .0,
        "tanaka"
    );
    // Shift 4 is sato's, but tanaka covers 11/23 by override.
    let (who, why) = r.on_call("primary", jst("2026-11-23 12:00")).unwrap();
    assert_eq!(who, "tanaka");
    assert!(
        why.starts_with("rotation primary: override 2026-11-23 00:00 → 2026-11-24 00:00"),
        "{why}"
    );
    assert_eq!(
        r.on_call("primary", jst("2026-11-24 00:00")).unwrap().0,
        "sato"
    );
    assert!(r.on_call("nope", jst("2026-11-24 00:00")).is_none());
}

#[test]
fn before_the_start_the_first_member_is_on_call() {
    let r = sample();
    let (who, why) = r.on_call("primary", jst("2026-10-01 00:00")).unwrap();
    assert_eq!(who, "tanaka");
    assert!(why.contains("before its start 2026-11-02 10:00"), "{why}");
    let d = r
        .on_call_detail("primary", jst("2026-10-01 00:00"))
        .unwrap();
    assert_eq!(d.until, Some(jst("2026-11-02 10:00")));
}

#[test]
fn schedule_over_a_month_lists_every_change() {
    let r = sample();
    let got: Vec<(String, String)> = r
        .next_handoffs("primary", jst("2026-11-01 00:00"), jst("2026-12-01 00:00"))
        .into_iter()
        .map(|h| {
            (
                h.at.with_timezone(&r.timezone)
                    .format("%m-%d %H:%M")
                    .to_string(),
                h.person,
            )
        })
        .collect();
    assert_eq!(
        got,
        pairs(&[
            ("11-01 00:00", "tanaka"), // before start
            ("11-02 10:00", "tanaka"), // shift 1
            ("11-09 10:00", "sato"),
            ("11-16 10:00", "tanaka"),
            ("11-23 00:00", "tanaka"), // override (covers the 10:00 hand-off)
            ("11-24 00:00", "sato"),   // back to shift 4
            ("11-30 10:00", "tanaka"),
        ])
    );
    assert!(r
        .next_handoffs("primary", jst("2026-12-01 00:00"), jst("2026-11-01 00:00"))
        .is_empty());
}

#[test]
fn overlapping_overrides_latest_listed_wins() {
    let yaml = SAMPLE.replace(
        "      - { person: tanaka, from: \"2026-11-23T00:00\", to: \"2026-11-24T00:00\" }",
        "      - { person: tanaka, from: \"2026-11-20T00:00\", to: \"2026-11-27T00:00\" }\n      - { person: smith, from: \"2026-11-22\", to: \"2026-11-23 12:00\" }",
    );
    let r = Roster::from_yaml(&yaml).unwrap();
    assert_eq!(
        r.on_call("primary", jst("2026-11-21 12:00")).unwrap().0,
        "tanaka"
    );
    let (who, why) = r.on_call("primary", jst("2026-11-22 12:00")).unwrap();
    assert_eq!(
        who, "smith",
        "an override may name someone outside the rotation"
    );
    assert!(why.contains("overrides[1]"), "{why}");
    assert_eq!(
        r.on_call("primary", jst("2026-11-23 12:00")).unwrap().0,
        "tanaka"
    );
    assert_eq!(
        r.on_call("primary", jst("2026-11-27 00:00")).unwrap().0,
        "sato"
    );
}

#[test]
fn new_york_spring_forward_daily_hand_off_stays_at_9am() {
    let r = rotation_roster(
        "America/New_York",
        "1d",
        "2026-03-06T09:00",
        &["a", "b", "c"],
    );
    // 09:00 EST = 14:00Z, 09:00 EDT = 13:00Z: the 7th→8th shift lasts 23 h.
    assert_eq!(
        handoff_times(&r, utc("2026-03-06 12:00"), utc("2026-03-10 12:00")),
        pairs(&[
            ("2026-03-06 14:00", "a"),
            ("2026-03-07 14:00", "b"),
            ("2026-03-08 13:00", "c"),
            ("2026-03-09 13:00", "a"),
        ])
    );
    let (who, why) = r.on_call("r", utc("2026-03-08 12:59")).unwrap();
    assert_eq!(who, "b");
    assert_eq!(
        why,
        "rotation r: shift 2 (2026-03-07 09:00 → 2026-03-08 09:00 America/New_York)"
    );
}

#[test]
fn new_york_fall_back_daily_shift_is_25_hours() {
    let r = rotation_roster("America/New_York", "1d", "2026-10-30T09:00", &["a", "b"]);
    assert_eq!(
        handoff_times(&r, utc("2026-10-31 00:00"), utc("2026-11-03 00:00")),
        pairs(&[
            ("2026-10-31 13:00", "b"), // 09:00 EDT
            ("2026-11-01 14:00", "a"), // 09:00 EST
            ("2026-11-02 14:00", "b"),
        ])
    );
}

#[test]
fn new_york_hand_off_in_the_gap_moves_to_the_end_of_the_gap() {
    // 02:30 does not exist on 2026-03-08: the hand-off is at 03:00 EDT.
    let tz = chrono_tz::America::New_York;
    let n = |s| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
    assert_eq!(
        local_to_utc(tz, n("2026-03-08 02:30")),
        Some(utc("2026-03-08 07:00"))
    );
    let r = rotation_roster("America/New_York", "1d", "2026-03-01T02:30", &["a", "b"]);
    let got = handoff_times(&r, utc("2026-03-07 00:00"), utc("2026-03-10 00:00"));
    assert_eq!(
        got,
        pairs(&[
            ("2026-03-07 07:30", "a"), // 02:30 EST
            ("2026-03-08 07:00", "b"), // 03:00 EDT, first instant after the gap
            ("2026-03-09 06:30", "a"), // 02:30 EDT
        ])
    );
}

#[test]
fn new_york_ambiguous_hand_off_uses_the_earlier_instant() {
    let tz = chrono_tz::America::New_York;
    let n = |s| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
    assert_eq!(
        local_to_utc(tz, n("2026-11-01 01:30")),
        Some(utc("2026-11-01 05:30"))
    );
    let r = rotation_roster("America/New_York", "1d", "2026-10-25T01:30", &["a", "b"]);
    assert_eq!(
        handoff_times(&r, utc("2026-10-31 12:00"), utc("2026-11-03 00:00")),
        pairs(&[
            ("2026-11-01 05:30", "b"), // 01:30 EDT, not 01:30 EST
            ("2026-11-02 06:30", "a"), // 01:30 EST
        ])
    );
    // During the repeated hour (01:30 EST = 06:30Z) the 11-01 shift continues.
    assert_eq!(r.on_call("r", utc("2026-11-01 06:30")).unwrap().0, "b");
}

#[test]
fn new_york_twelve_hour_shifts_keep_9_and_21() {
    let r = rotation_roster(
        "America/New_York",
        "12h",
        "2026-03-07T09:00",
        &["day", "night"],
    );
    let got: Vec<(String, String)> = r
        .next_handoffs(
            "r",
            at(chrono_tz::America::New_York, "2026-03-07 10:00"),
            utc("2026-03-09 14:00"),
        )
        .into_iter()
        .skip(1)
        .map(|h| {
            (
                h.at.with_timezone(&chrono_tz::America::New_York)
                    .format("%d %H:%M %Z")
                    .to_string(),
                h.person,
            )
        })
        .collect();
    assert_eq!(
        got,
        pairs(&[
            ("07 21:00 EST", "night"),
            ("08 09:00 EDT", "day"), // an 11-hour night
            ("08 21:00 EDT", "night"),
            ("09 09:00 EDT", "day"),
        ])
    );
}

#[test]
fn london_spring_and_autumn() {
    let r = rotation_roster("Europe/London", "1d", "2026-03-27T09:00", &["a", "b"]);
    assert_eq!(
        handoff_times(&r, utc("2026-03-28 00:00"), utc("2026-03-31 00:00")),
        pairs(&[
            ("2026-03-28 09:00", "b"), // 09:00 GMT
            ("2026-03-29 08:00", "a"), // 09:00 BST
            ("2026-03-30 08:00", "b"),
        ])
    );
    let r = rotation_roster("Europe/London", "1d", "2026-10-20T09:00", &["a", "b"]);
    assert_eq!(
        handoff_times(&r, utc("2026-10-24 00:00"), utc("2026-10-27 00:00")),
        pairs(&[
            ("2026-10-24 08:00", "a"), // 09:00 BST
            ("2026-10-25 09:00", "b"), // 09:00 GMT: 25-hour shift
            ("2026-10-26 09:00", "a"),
        ])
    );
    let tz = chrono_tz::Europe::London;
    let n = |s| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
    assert_eq!(
        local_to_utc(tz, n("2026-03-29 01:30")),
        Some(utc("2026-03-29 01:00"))
    );
    assert_eq!(
        local_to_utc(tz, n("2026-10-25 01:30")),
        Some(utc("2026-10-25 00:30"))
    );
}

#[test]
fn sub_hour_shifts_inside_a_gap_collapse_without_panicking() {
    let r = rotation_roster(
        "America/New_York",
        "30m",
        "2026-03-08T00:00",
        &["a", "b", "c"],
    );
    // Local 02:00, 02:30 and 03:00 all map to 03:00 EDT = 07:00Z: shifts 5
    // ("b", 02:00) and 6 ("c", 02:30) have zero length and are skipped.
    let (who, why) = r.on_call("r", utc("2026-03-08 06:59")).unwrap();
    assert_eq!(
        (who.as_str(), why.as_str()),
        (
            "a",
            "rotation r: shift 4 (2026-03-08 01:30 → 2026-03-08 03:00 America/New_York)"
        )
    );
    let (who, why) = r.on_call("r", utc("2026-03-08 07:00")).unwrap();
    assert_eq!(
        (who.as_str(), why.as_str()),
        (
            "a",
            "rotation r: shift 7 (2026-03-08 03:00 → 2026-03-08 03:30 America/New_York)"
        )
    );
    let h = r.next_handoffs("r", utc("2026-03-08 06:00"), utc("2026-03-08 08:00"));
    let who: Vec<&str> = h.iter().map(|h| h.person.as_str()).collect();
    assert_eq!(who, ["c", "a", "a", "b"], "{h:#?}");
}

// ------------------------------------------------------- phones and people

#[test]
fn office_landline_on_business_hours_mobile_otherwise() {
    let r = sample();
    let tanaka = r.person("tanaka").unwrap().clone();
    let phone = |s| r.phone_for(&tanaka, jst(s)).map(|(n, _)| n);
    // Tuesday 10:00, a business day: the landline.
    assert_eq!(phone("2026-11-24 10:00").unwrap(), "+81312345678");
    // Monday 10:00, but 勤労感謝の日: the mobile.
    assert_eq!(phone("2026-11-23 10:00").unwrap(), "+819012345678");
    // Weekday evening: the mobile.
    assert_eq!(phone("2026-11-24 20:00").unwrap(), "+819012345678");
    assert_eq!(
        phone("2026-11-24 18:00").unwrap(),
        "+819012345678",
        "end is exclusive"
    );
    assert_eq!(
        phone("2026-11-24 09:00").unwrap(),
        "+81312345678",
        "start is inclusive"
    );
    // extra_holidays of the calendar.
    assert_eq!(phone("2026-12-31 10:00").unwrap(), "+819012345678");
    let (_, why) = r.phone_for(&tanaka, jst("2026-11-24 10:00")).unwrap();
    assert!(why.contains("phone 1 (+81*****5678)"), "{why}");
    assert!(
        why.contains("09:00-18:00 on business days of jp-business"),
        "{why}"
    );
}

#[test]
fn business_day_only_person_is_skipped_on_holiday_and_weekend() {
    let r = sample();
    let policy = r.policy("default").unwrap();
    // 2026-11-23 is in shift 4 (sato) but the override puts tanaka on; ask
    // for sato directly through a person target instead.
    let yaml = SAMPLE.replace("- targets: [person:tanaka]", "- targets: [person:sato]");
    let r2 = Roster::from_yaml(&yaml).unwrap();
    let p2 = r2.policy("default").unwrap();
    let t = &r2.resolve_step(p2, 1, jst("2026-11-23 10:00"))[0];
    assert_eq!(t.person, "sato");
    assert_eq!(t.phone, None);
    assert!(
        t.reason
            .contains("sato is only called on business days of jp-business")
            && t.reason
                .contains("2026-11-23 is a holiday (勤労感謝の日 Labour Thanksgiving Day)"),
        "{}",
        t.reason
    );
    let t = &r2.resolve_step(p2, 1, jst("2026-11-28 10:00"))[0];
    assert_eq!(t.phone, None);
    assert!(
        t.reason.contains("2026-11-28 is a Saturday"),
        "{}",
        t.reason
    );
    let t = &r2.resolve_step(p2, 1, jst("2026-11-25 23:00"))[0];
    assert_eq!(
        t.phone.as_deref(),
        Some("+819011112222"),
        "a business day, any hour"
    );

    // Through the rotation: 2026-11-30 is shift 5 (tanaka); 11-24 Tue is sato's.
    let got = r.resolve_step(policy, 0, jst("2026-11-24 10:00"));
    assert_eq!(got.len(), 1);
    assert_eq!(
        (got[0].person.as_str(), got[0].phone.as_deref()),
        ("sato", Some("+819011112222"))
    );
    assert!(
        got[0].reason.starts_with("rotation primary: shift 4"),
        "{}",
        got[0].reason
    );
}

#[test]
fn a_person_with_no_fitting_phone_is_skipped_with_each_phone_explained() {
    let yaml = r#"
timezone: Asia/Tokyo
calendars: { biz: { holidays: jp } }
people:
  yamada:
    phones:
      - { number: "+81312345678", when: { calendar: biz, hours: "09:00-18:00" } }
      - { number: "+819012345678", when: { hours: "18:00-23:00" } }
policies:
  - { name: p, match: {}, steps: [{ targets: [person:yamada] }] }
"#;
    let r = Roster::from_yaml(yaml).unwrap();
    let t = &r.resolve_step(r.policy("p").unwrap(), 0, jst("2026-11-23 03:00"))[0];
    assert_eq!(t.phone, None);
    assert!(
        t.reason
            .contains("no phone of yamada fits 2026-11-23 03:00 Asia/Tokyo"),
        "{}",
        t.reason
    );
    assert!(
        t.reason.contains("phone 1 (+81*****5678)")
            && t.reason.contains("03:00 is outside 09:00-18:00"),
        "{}",
        t.reason
    );
    assert!(
        t.reason
            .contains("phone 2 (+81******5678) 18:00-23:00 every day: 03:00 is outside"),
        "{}",
        t.reason
    );
}

#[test]
fn overnight_window_belongs_to_the_day_it_starts() {
    let yaml = r#"
timezone: Asia/Tokyo
calendars: { biz: { holidays: jp } }
people:
  night:
    phones: [{ number: "+819012345678", when: { calendar: biz, hours: "18:00-09:00" } }]
policies:
  - { name: p, match: {}, steps: [{ targets: [person:night] }] }
"#;
    let r = Roster::from_yaml(yaml).unwrap();
    let p = r.person("night").unwrap().clone();
    let ok = |s| r.phone_for(&p, jst(s)).is_ok();
    assert!(ok("2026-11-27 20:00"), "Friday evening");
    assert!(ok("2026-11-28 08:59"), "Saturday morning: tail of Friday");
    assert!(!ok("2026-11-28 09:00"));
    assert!(!ok("2026-11-28 20:00"), "Saturday evening");
    assert!(!ok("2026-11-30 08:00"), "Monday morning: tail of Sunday");
    assert!(ok("2026-11-30 18:00"));
    assert!(!ok("2026-11-23 20:00"), "holiday evening");
    assert!(
        !ok("2026-11-24 08:00"),
        "Tuesday morning: tail of the holiday evening"
    );
}

#[test]
fn extra_workdays_override_weekends_and_holidays() {
    let yaml = r#"
timezone: Asia/Tokyo
calendars:
  biz:
    weekdays: [Monday, tue, wed, thu, fri]
    holidays: jp
    extra_holidays: ["2026-11-24"]
    extra_workdays: ["2026-11-23", "2026-11-28"]
  all-days: { weekdays: [mon, tue, wed, thu, fri, sat, sun], holidays: none }
people: { a: { phones: [{ number: "+819012345678" }] } }
policies:
  - { name: p, match: {}, steps: [{ targets: [person:a] }] }
"#;
    let r = Roster::from_yaml(yaml).unwrap();
    let biz = &r.calendars["biz"];
    let d = |s| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
    assert!(
        biz.is_business_day(d("2026-11-23")),
        "holiday made a workday"
    );
    assert!(
        biz.is_business_day(d("2026-11-28")),
        "Saturday made a workday"
    );
    assert!(!biz.is_business_day(d("2026-11-24")));
    assert!(!biz.is_business_day(d("2026-11-29")));
    assert!(biz.is_business_day(d("2026-11-25")));
    assert_eq!(biz.day_kind(d("2026-11-24")), DayKind::ExtraHoliday);
    assert!(r.calendars["all-days"].is_business_day(d("2026-11-29")));
    assert!(r.calendars["all-days"].is_business_day(d("2026-11-23")));
}

// ------------------------------------------------------------ steps, plan

#[test]
fn resolve_step_dedupes_people_keeping_the_first_mention() {
    let yaml = SAMPLE.replace(
        "      - targets: [rotation:primary]\n",
        "      - targets: [rotation:primary, person:tanaka, person:sato, person:tanaka]\n",
    );
    let r = Roster::from_yaml(&yaml).unwrap();
    let p = r.policy("default").unwrap();
    let got = r.resolve_step(p, 0, jst("2026-11-17 10:00")); // shift 3: tanaka
    let who: Vec<&str> = got.iter().map(|t| t.person.as_str()).collect();
    assert_eq!(who, ["tanaka", "sato"]);
    assert!(
        got[0].reason.starts_with("rotation primary"),
        "first mention kept"
    );
    assert_eq!(got[1].reason.split(';').next(), Some("person:sato"));
    assert_eq!(got[0].name, "Tanaka Taro");
    assert!(r.resolve_step(p, 9, jst("2026-11-17 10:00")).is_empty());
}

#[test]
fn plan_lists_every_step_attempt_and_target() {
    let r = sample();
    let plan = r.plan(&labels(&[("systemname", "web")]), jst("2026-11-24 10:00"));
    let got: Vec<(u32, u32, &str, Option<&str>)> = plan
        .iter()
        .map(|e| (e.step, e.attempt, e.person.as_str(), e.phone.as_deref()))
        .collect();
    assert_eq!(
        got,
        vec![
            (1, 1, "sato", Some("+819011112222")),
            (1, 2, "sato", Some("+819011112222")),
            (2, 1, "tanaka", Some("+81312345678")),
        ]
    );
    // On the holiday the override puts tanaka on, on his mobile.
    let plan = r.plan(&labels(&[]), jst("2026-11-23 10:00"));
    assert_eq!(plan[0].person, "tanaka");
    assert_eq!(plan[0].phone.as_deref(), Some("+819012345678"));
    assert!(plan[0].reason.contains("override"), "{}", plan[0].reason);
    assert!(
        plan[0].reason.contains("2026-11-23 is a holiday"),
        "{}",
        plan[0].reason
    );
}

// ------------------------------------------------------------- validation

fn errors(yaml: &str) -> Vec<String> {
    match Roster::from_yaml(yaml) {
        Ok(_) => panic!("expected errors for:\n{yaml}"),
        Err(e) => e.0,
    }
}

const BASE: &str = r#"
timezone: Asia/Tokyo
calendars:
  jp-business: { holidays: jp }
people:
  tanaka: { phones: [{ number: "+819012345678" }] }
  sato: { phones: [{ number: "+819011112222" }] }
rotations:
  primary: { members: [tanaka, sato], shift: 1w, start: "2026-11-02T10:00" }
policies:
  - name: default
    match: {}
    steps: [{ targets: [rotation:primary] }]
"#;

#[test]
fn base_roster_for_validation_cases_is_valid() {
    assert!(Roster::from_yaml(BASE).is_ok());
}

#[test]
fn every_validation_error_names_its_field() {
    // (what to replace in BASE, replacement, expected path prefix, expected words)
    let cases: &[(&str, &str, &str, &str)] = &[
        ("timezone: Asia/Tokyo", "timezone: Asia/Tokio", "timezone:", "unknown time zone \"Asia/Tokio\""),
        ("timezone: Asia/Tokyo", "timezone: asia/tokyo", "timezone:", "did you mean Asia/Tokyo?"),
        ("timezone: Asia/Tokyo", "", "timezone:", "missing"),
        ("{ holidays: jp }", "{ holidays: us }", "calendars.jp-business.holidays:", "use `jp`"),
        ("{ holidays: jp }", "{ weekdays: [mon, tues] }", "calendars.jp-business.weekdays[1]:", "\"tues\" is not a weekday"),
        ("{ holidays: jp }", "{ weekdays: [] }", "calendars.jp-business.weekdays:", "empty"),
        ("{ holidays: jp }", "{ extra_holidays: [\"2026-13-01\"] }", "calendars.jp-business.extra_holidays[0]:", "not a date"),
        ("{ holidays: jp }", "{ extra_holidays: [\"2026-12-31\"], extra_workdays: [\"2026-12-31\"] }", "calendars.jp-business.extra_workdays[0]:", "also in extra_holidays"),
        ("\"+819011112222\"", "+819011112222", "people.sato.phones[0].number:", "write the number in quotes"),
        ("\"+819011112222\"", "\"09011112222\"", "people.sato.phones[0].number:", "not in E.164 form"),
        ("sato: { phones: [{ number: \"+819011112222\" }] }", "sato: { phones: [] }", "people.sato.phones:", "empty"),
        ("sato: { phones: [{ number: \"+819011112222\" }] }", "sato: { language: fr-FR, phones: [{ number: \"+819011112222\" }] }", "people.sato.language:", "use ja-JP or en-US"),
        ("sato: { phones: [{ number: \"+819011112222\" }] }", "sato: { phones: [{ number: \"+819011112222\", when: { calendar: jp-biz } }] }", "people.sato.phones[0].when.calendar:", "unknown calendar \"jp-biz\" (known: jp-business)"),
        ("sato: { phones: [{ number: \"+819011112222\" }] }", "sato: { phones: [{ number: \"+819011112222\", when: { hours: \"9-18\" } }] }", "people.sato.phones[0].when.hours:", "HH:MM-HH:MM"),
        ("sato: { phones: [{ number: \"+819011112222\" }] }", "sato: { phones: [{ number: \"+819011112222\", when: { hours: \"09:00-09:00\" } }] }", "people.sato.phones[0].when.hours:", "empty range"),
        ("sato: { phones: [{ number: \"+819011112222\" }] }", "sato: { phones: [{ number: \"+819011112222\" }, { number: \"+819011113333\" }] }", "people.sato.phones[1]:", "never used"),
        ("sato: { phones: [{ number: \"+819011112222\" }] }", "sato: { phones: [{ number: \"+819011112222\" }], only: { calendar: nope } }", "people.sato.only.calendar:", "unknown calendar \"nope\""),
        ("members: [tanaka, sato]", "members: [tanaka, sato, suzuki]", "rotations.primary.members[2]:", "unknown person \"suzuki\" (known: sato, tanaka)"),
        ("members: [tanaka, sato]", "members: []", "rotations.primary.members:", "empty"),
        ("shift: 1w", "shift: 1y", "rotations.primary.shift:", "unit m, h, d or w"),
        ("shift: 1w", "shift: 0d", "rotations.primary.shift:", "zero"),
        ("shift: 1w", "shift: 2.5h", "rotations.primary.shift:", "not a shift length"),
        ("shift: 1w", "shift: 60w", "rotations.primary.shift:", "maximum"),
        ("shift: 1w, ", "", "rotations.primary.shift:", "missing"),
        ("start: \"2026-11-02T10:00\"", "start: \"2026-11-02T10:00+09:00\"", "rotations.primary.start:", "UTC offset"),
        ("start: \"2026-11-02T10:00\"", "start: \"next monday\"", "rotations.primary.start:", "not a date and time"),
        ("start: \"2026-11-02T10:00\"", "start: \"2026-11-02T10:00\", overrides: [{ person: tanaka, from: \"2026-11-24T00:00\", to: \"2026-11-23T00:00\" }]", "rotations.primary.overrides[0]:", "`to` 2026-11-23 00:00 is not after `from` 2026-11-24 00:00"),
        ("start: \"2026-11-02T10:00\"", "start: \"2026-11-02T10:00\", overrides: [{ person: suzuki, from: \"2026-11-23\", to: \"2026-11-24\" }]", "rotations.primary.overrides[0].person:", "unknown person \"suzuki\""),
        ("start: \"2026-11-02T10:00\"", "start: \"2026-11-02T10:00\", overrides: [{ person: sato, from: \"yesterday\", to: \"2026-11-24\" }]", "rotations.primary.overrides[0].from:", "not a date and time"),
        ("[rotation:primary]", "[rotation:secondary]", "policies[0].steps[0].targets[0]:", "unknown rotation \"secondary\" (known: primary)"),
        ("[rotation:primary]", "[person:suzuki]", "policies[0].steps[0].targets[0]:", "unknown person \"suzuki\""),
        ("[rotation:primary]", "[primary]", "policies[0].steps[0].targets[0]:", "write rotation:<name> or person:<id>"),
        ("[rotation:primary]", "[]", "policies[0].steps[0].targets:", "empty"),
        ("steps: [{ targets: [rotation:primary] }]", "steps: []", "policies[0].steps:", "empty"),
        ("steps: [{ targets: [rotation:primary] }]", "steps: [{ targets: [rotation:primary], attempts: 0 }]", "policies[0].steps[0].attempts:", "between 1 and 100"),
        ("steps: [{ targets: [rotation:primary] }]", "steps: [{ targets: [rotation:primary], retry_after_secs: -5 }]", "policies[0].steps[0].retry_after_secs:", "negative"),
        ("steps: [{ targets: [rotation:primary] }]", "steps: [{ targets: [rotation:primary] }]\n    repeat: -1", "policies[0].repeat:", "between 0 and 100"),
        ("steps: [{ targets: [rotation:primary] }]", "steps: [{ targets: [rotation:primary] }]\n    group_wait_secs: -1", "policies[0].group_wait_secs:", "negative"),
        ("match: {}", "match: [\"severity=~(\"]", "policies[0].match[0]:", "invalid regular expression"),
        ("match: {}", "match: [\"severity\"]", "policies[0].match[0]:", "no operator"),
        ("match: {}", "match: \"severity=critical\"", "policies[0].match:", "must be a map"),
        ("match: {}", "match: { severity: [a, b] }", "policies[0].match.severity:", "single value"),
        ("  - name: default\n", "  - name: \"\"\n", "policies[0].name:", "missing"),
        (
            "steps: [{ targets: [rotation:primary] }]\n",
            "steps: [{ targets: [rotation:primary] }]\n  - { name: default, match: { team: db }, steps: [{ targets: [person:sato] }] }\n",
            "policies[1].name:",
            "\"default\" is already used by policies[0]",
        ),
        (
            "steps: [{ targets: [rotation:primary] }]\n",
            "steps: [{ targets: [rotation:primary] }]\n  - { name: db, match: { team: db }, steps: [{ targets: [person:sato] }] }\n",
            "policies[1]:",
            "can never match: policies[0] matches every alert",
        ),
        (
            "steps: [{ targets: [rotation:primary] }]\n",
            "steps: [{ targets: [rotation:primary] }]\nheartbeats: [{ name: hb, expect_every_secs: 60, policy: nightly }]\n",
            "heartbeats[0].policy:",
            "unknown policy \"nightly\" (known: default)",
        ),
        (
            "steps: [{ targets: [rotation:primary] }]\n",
            "steps: [{ targets: [rotation:primary] }]\nheartbeats: [{ name: hb, expect_every_secs: 0, policy: default }]\n",
            "heartbeats[0].expect_every_secs:",
            "at least 1",
        ),
        (
            "steps: [{ targets: [rotation:primary] }]\n",
            "steps: [{ targets: [rotation:primary] }]\nheartbeats: [{ name: hb, expect_every_secs: 5, policy: default }, { name: hb, expect_every_secs: 5, policy: default }]\n",
            "heartbeats[1].name:",
            "already used",
        ),
    ];
    for (from, to, path, words) in cases {
        assert!(BASE.contains(from), "case {path}: {from:?} not in BASE");
        let yaml = BASE.replacen(from, to, 1);
        let errs = errors(&yaml);
        assert!(
            errs.iter()
                .any(|e| e.starts_with(path) && e.contains(words)),
            "case {path} {words:?}: got {errs:#?}"
        );
    }
    // Without policies at all.
    let no_policies = &BASE[..BASE.find("policies:").unwrap()];
    assert!(errors(no_policies)
        .iter()
        .any(|e| e.starts_with("policies:")));
}

#[test]
fn validation_reports_every_problem_at_once() {
    let yaml = r#"
timezone: Mars/Olympus
people:
  sato: { phones: [{ number: "09011112222" }] }
rotations:
  primary: { members: [sato, suzuki], shift: 1fortnight, start: "2026-11-02T10:00" }
policies:
  - name: default
    match: {}
    steps: [{ targets: [rotation:secondary], attempts: 0 }]
  - name: default
    steps: []
"#;
    let errs = errors(yaml);
    let expected = [
        "timezone:",
        "people.sato.phones[0].number:",
        "rotations.primary.members[1]:",
        "rotations.primary.shift:",
        "policies[0].steps[0].targets[0]:",
        "policies[0].steps[0].attempts:",
        "policies[1].name:",
        "policies[1]:",
        "policies[1].steps:",
    ];
    for p in expected {
        assert!(
            errs.iter().any(|e| e.starts_with(p)),
            "{p} missing from {errs:#?}"
        );
    }
    assert_eq!(errs.len(), expected.len(), "{errs:#?}");
    assert!(
        !errs.iter().any(|e| e.contains("09011112222")),
        "numbers are masked in errors"
    );
}

#[test]
fn yaml_syntax_and_shape_errors_give_one_error_with_a_position() {
    let errs = errors("timezone: Asia/Tokyo\npeople:\n  tanaka: [\n");
    assert_eq!(errs.len(), 1);
    assert!(errs[0].contains("line "), "{errs:?}");

    let errs = errors("timezone: Asia/Tokyo\npeople:\n  tanaka:\n    phone: \"+819012345678\"\n");
    assert_eq!(errs.len(), 1);
    assert!(
        errs[0].contains("unknown field `phone`") && errs[0].contains("line 4"),
        "{errs:?}"
    );
    assert!(errs[0].starts_with("people.tanaka"), "{errs:?}");

    let errs = errors("");
    assert!(errs[0].contains("empty"), "{errs:?}");
}

#[test]
fn yaml_shape_errors_are_in_the_rosters_own_words() {
    // Found by the bad-input scenarios: serde's internal names (RawRoster,
    // untagged enum Scalar, u128) and bare limits reached the operator.
    let errs = errors("- timezone: UTC\n");
    assert_eq!(
        errs,
        vec!["roster: invalid type: sequence, expected a roster: a mapping of timezone, calendars, people, rotations, policies and heartbeats at line 1 column 1"]
    );
    let errs = errors("timezone: UTC\npeople:\n  tanaka: \"+819012345678\"\n");
    assert!(
        errs[0].starts_with("people.tanaka: invalid type: string")
            && errs[0].contains("expected a person {name, language, phones, only}"),
        "{errs:?}"
    );
    let errs = errors("timezone: UTC\npeople:\n  tanaka: { phones: [{ number: [1] }] }\n");
    assert!(
        // (serde_yaml loses the last key inside an untagged enum.)
        errs[0].starts_with("people.tanaka.phones[0]: expected a single value"),
        "{errs:?}"
    );
    let big = BASE.replace(
        "steps: [{ targets: [rotation:primary] }]",
        "steps: [{ targets: [rotation:primary], attempts: 99999999999999999999999 }]",
    );
    let errs = errors(&big);
    assert!(
        errs[0].starts_with(
            "policies[0].steps[0].attempts: integer `99999999999999999999999` is out of range at line "
        ),
        "{errs:?}"
    );
    let errs = errors(&format!("{}{}", "[".repeat(200), "]".repeat(200)));
    assert!(
        errs[0].starts_with("roster: nested more than 128 levels deep"),
        "{errs:?}"
    );
    let mut laughs = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..8 {
        let p = i - 1;
        laughs.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    let errs = errors(&laughs);
    assert!(
        errs[0].starts_with("roster: YAML aliases expand to too many values"),
        "{errs:?}"
    );
}

// --------------------------------------------------------------- proptest

fn any_instant() -> impl Strategy<Value = DateTime<Utc>> {
    let lo = DateTime::<Utc>::MIN_UTC.timestamp();
    let hi = DateTime::<Utc>::MAX_UTC.timestamp();
    prop_oneof![
        (lo..=hi),
        // Dense around the interesting years.
        (1_700_000_000i64..2_000_000_000i64),
    ]
    .prop_map(|s| DateTime::from_timestamp(s, 0).unwrap_or_default())
}

proptest! {
    #[test]
    fn resolve_step_never_panics_and_is_deterministic(now in any_instant(), step in 0usize..4) {
        let r = sample();
        for p in &r.policies {
            let a = r.resolve_step(p, step, now);
            let b = r.resolve_step(p, step, now);
            prop_assert_eq!(&a, &b);
            if step < p.steps.len() {
                prop_assert!(!a.is_empty());
            }
        }
        prop_assert_eq!(r.plan(&labels(&[]), now), r.plan(&labels(&[]), now));
        let oc = r.on_call_detail("primary", now).unwrap();
        if let (Some(s), Some(u)) = (oc.since, oc.until) {
            prop_assert!(s <= u);
        }
    }

    #[test]
    fn dst_rotations_are_consistent(now in 1_700_000_000i64..2_000_000_000i64, shift in prop::sample::select(vec!["30m", "7h", "12h", "1d", "1w"])) {
        let now = DateTime::from_timestamp(now, 0).unwrap();
        for tz in ["America/New_York", "Europe/London", "Australia/Lord_Howe"] {
            let r = rotation_roster(tz, shift, "2023-03-12T02:30", &["a", "b", "c"]);
            let oc = r.on_call_detail("r", now).unwrap();
            let (s, u) = (oc.since.unwrap(), oc.until.unwrap());
            prop_assert!(s <= now && now < u, "{} {} {}", s, now, u);
            let h = r.next_handoffs("r", now, now + chrono::Duration::days(3));
            prop_assert!(h.windows(2).all(|w| w[0].at < w[1].at));
        }
    }
}

#[test]
fn an_invalid_roster_prints_every_problem_with_its_field() {
    let yaml = r#"
timezone: Mars/Olympus
people:
  a: { phones: [{ number: "0312345678" }] }
policies: []
"#;
    let e = Roster::from_yaml(yaml).unwrap_err();
    let text = e.to_string();
    assert!(e.0.len() >= 2, "{:?}", e.0);
    assert!(text.starts_with("roster is invalid ("), "{text}");
    for problem in &e.0 {
        assert!(
            text.contains(problem.as_str()),
            "{problem} missing from {text}"
        );
    }
    assert!(text.contains("people.a.phones[0].number"), "{text}");
}

#[test]
fn a_retry_too_late_for_an_iphones_repeated_calls_is_advised_against() {
    let yaml = |steps: &str| {
        format!(
            r#"
timezone: UTC
people:
  a: {{ phones: [{{ number: "+14155550001" }}] }}
  b: {{ phones: [{{ number: "+14155550002" }}] }}
policies:
  - name: default
    steps: {steps}
"#
        )
    };
    let advice = |steps: &str| Roster::from_yaml(&yaml(steps)).unwrap().advice();
    // The default (60 s after a 60 s ring) keeps within three minutes.
    assert!(advice("[{ targets: [person:a], attempts: 3 }]").is_empty());
    assert!(advice("[{ targets: [person:a], attempts: 2, retry_after_secs: 120 }]").is_empty());
    let a = advice("[{ targets: [person:a], attempts: 2, retry_after_secs: 300 }]");
    assert_eq!(a.len(), 1, "{a:?}");
    assert!(
        a[0].starts_with("policies[0].steps[0].retry_after_secs = 300"),
        "{a:?}"
    );
    assert!(a[0].contains("120 s or less"), "{a:?}");
    // Two targets ring in turn: 60 s more before the same person again.
    let a = advice("[{ targets: [person:a, person:b], attempts: 2, retry_after_secs: 90 }]");
    assert_eq!(a.len(), 1, "{a:?}");
    assert!(a[0].contains("60 s or less"), "{a:?}");
    // One attempt: no second call to let through.
    assert!(advice("[{ targets: [person:a], retry_after_secs: 600 }]").is_empty());
}

#[test]
fn step_modes_and_the_acknowledgement_timeout_are_read_and_checked() {
    let yaml = |policy_extra: &str, mode: &str| {
        format!(
            r#"
timezone: UTC
people:
  a: {{ phones: [{{ number: "+819011110001" }}] }}
  b: {{ phones: [{{ number: "+819011110002" }}] }}
policies:
  - name: p
    match: {{}}
    {policy_extra}
    steps:
      - targets: [person:a, person:b]
        {mode}
        attempts: 2
        retry_after_secs: 100
"#
        )
    };
    let r = Roster::from_yaml(&yaml("ack_timeout_secs: 1800", "mode: all")).unwrap();
    let p = r.policy("p").unwrap();
    assert_eq!(p.ack_timeout_secs, Some(1800));
    assert_eq!(p.steps[0].mode, StepMode::All);
    assert!(!p.takes_turns());
    // Everyone at once: one ring (60 s) + 100 s is within the 180 s of
    // Repeated Calls, where two in turn (120 s + 100 s) are not.
    assert!(r.advice().is_empty(), "{:?}", r.advice());
    let r = Roster::from_yaml(&yaml("", "mode: round_robin")).unwrap();
    assert_eq!(r.policy("p").unwrap().ack_timeout_secs, None);
    assert!(r.policy("p").unwrap().takes_turns());
    assert_eq!(r.advice().len(), 1);
    let r = Roster::from_yaml(&yaml("", "")).unwrap();
    assert_eq!(r.policy("p").unwrap().steps[0].mode, StepMode::InOrder);

    let e = Roster::from_yaml(&yaml("ack_timeout_secs: 5", "mode: everyone")).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("policies[0].ack_timeout_secs: 5 is not allowed"),
        "{text}"
    );
    assert!(
        text.contains("policies[0].steps[0].mode: \"everyone\" is not a mode"),
        "{text}"
    );
}
