//! The roster file as written by hand (format v1), before validation.
//!
//! Only the *shape* is checked here (unknown fields, wrong types); every
//! value that can be wrong in a way worth explaining (time zone, numbers,
//! dates, hours, references) is kept as text and checked in `validate`, so
//! that all problems are reported at once.
use serde::Deserialize;
use std::collections::BTreeMap;

/// A scalar we want as text: YAML `09:00`, `1`, `true` and `"x"` all work.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Scalar {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl Scalar {
    pub fn text(&self) -> String {
        match self {
            Scalar::Str(s) => s.clone(),
            Scalar::Int(i) => i.to_string(),
            Scalar::Float(f) => f.to_string(),
            Scalar::Bool(b) => b.to_string(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoster {
    pub timezone: Option<String>,
    #[serde(default)]
    pub calendars: BTreeMap<String, RawCalendar>,
    #[serde(default)]
    pub people: BTreeMap<String, RawPerson>,
    #[serde(default)]
    pub rotations: BTreeMap<String, RawRotation>,
    #[serde(default)]
    pub policies: Vec<RawPolicy>,
    #[serde(default)]
    pub heartbeats: Vec<RawHeartbeat>,
    pub storm: Option<RawStorm>,
    #[serde(default)]
    pub inhibit_rules: Vec<RawInhibitRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStorm {
    pub min_incidents: Option<i64>,
    pub window_secs: Option<i64>,
    pub coalesce_secs: Option<i64>,
}

/// Alertmanager's `inhibit_rules` entry (the matcher forms only).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInhibitRule {
    pub source_matchers: Option<serde_yaml::Value>,
    pub target_matchers: Option<serde_yaml::Value>,
    #[serde(default)]
    pub equal: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCalendar {
    pub weekdays: Option<Vec<String>>,
    pub holidays: Option<String>,
    #[serde(default)]
    pub extra_holidays: Vec<Scalar>,
    #[serde(default)]
    pub extra_workdays: Vec<Scalar>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPerson {
    pub name: Option<String>,
    pub language: Option<String>,
    #[serde(default)]
    pub phones: Vec<RawPhone>,
    pub only: Option<RawWindow>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPhone {
    pub number: Scalar,
    pub when: Option<RawWindow>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWindow {
    pub calendar: Option<String>,
    pub hours: Option<Scalar>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRotation {
    #[serde(default)]
    pub members: Vec<String>,
    pub shift: Option<Scalar>,
    pub start: Option<Scalar>,
    #[serde(default)]
    pub overrides: Vec<RawOverride>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOverride {
    pub person: String,
    pub from: Scalar,
    pub to: Scalar,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPolicy {
    pub name: Option<String>,
    /// Either `{label: value}` (equality) or `["label=~re", …]`; checked
    /// in `validate` for a clear message.
    #[serde(rename = "match")]
    pub matchers: Option<serde_yaml::Value>,
    #[serde(default)]
    pub group_by: Vec<String>,
    pub group_wait_secs: Option<i64>,
    pub repeat: Option<i64>,
    pub ack_timeout_secs: Option<i64>,
    #[serde(default)]
    pub steps: Vec<RawStep>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    #[serde(default)]
    pub targets: Vec<String>,
    pub attempts: Option<i64>,
    pub retry_after_secs: Option<i64>,
    pub mode: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHeartbeat {
    pub name: Option<String>,
    pub expect_every_secs: Option<i64>,
    pub policy: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, Scalar>,
}
