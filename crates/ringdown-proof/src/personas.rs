//! The engineers of the test rosters and how their phones behave
//! (connect-sim persona YAML).

/// The first, second and third engineer's phones.
pub const FIRST: &str = "+14155550001";
pub const SECOND: &str = "+14155550002";
pub const THIRD: &str = "+14155550003";

/// Picks up after 2 s, listens, presses 1.
pub const PRESS_1: &str =
    r#"{ answer_after_secs: 2, keys: [{key: "5", delay_secs: 1}, {key: "1", delay_secs: 1}] }"#;
/// Voicemail picks up after 3 s and never presses a key.
pub const VOICEMAIL: &str = r#"{ voicemail: { answer_after_secs: 3 } }"#;

/// A roster calling the three engineers one after the other, one attempt
/// each (times in UTC).
pub fn one_after_another() -> String {
    format!(
        r#"
timezone: UTC
people:
  first:  {{ language: en-US, phones: [{{ number: "{FIRST}" }}] }}
  second: {{ language: en-US, phones: [{{ number: "{SECOND}" }}] }}
  third:  {{ language: ja-JP, phones: [{{ number: "{THIRD}" }}] }}
policies:
  - name: default
    group_by: [systemname]
    group_wait_secs: 0
    steps:
      - targets: [person:first]
      - targets: [person:second]
      - targets: [person:third]
"#
    )
}

/// A persona book: the three engineers as given, anyone else presses 1.
pub fn book(first: &str, second: &str, third: &str) -> String {
    format!("default: {PRESS_1}\npersonas:\n  \"{FIRST}\": {first}\n  \"{SECOND}\": {second}\n  \"{THIRD}\": {third}\n")
}
