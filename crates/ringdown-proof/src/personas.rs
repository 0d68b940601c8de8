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

/// A persona book: the three engineers as given, anyone else presses 1.
pub fn book(first: &str, second: &str, third: &str) -> String {
    format!("default: {PRESS_1}\npersonas:\n  \"{FIRST}\": {first}\n  \"{SECOND}\": {second}\n  \"{THIRD}\": {third}\n")
}
