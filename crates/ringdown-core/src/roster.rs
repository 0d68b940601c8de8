//! Roster (owned by the roster work; this is the agreed interface).
use crate::alert::{Labels, Language};
use crate::matcher::Matcher;
use chrono::{DateTime, Utc};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetRef {
    Rotation(String),
    Person(String),
}

#[derive(Debug, Clone)]
pub struct Step {
    pub targets: Vec<TargetRef>,
    pub attempts: u32,
    pub retry_after_secs: u64,
}

#[derive(Debug, Clone)]
pub struct Policy {
    pub name: String,
    pub matchers: Vec<Matcher>,
    pub group_by: Vec<String>,
    pub group_wait_secs: u64,
    pub repeat: u32,
    pub steps: Vec<Step>,
}

/// One person a step resolves to at a moment: callable (`phone` is set) or
/// skipped (`phone` is `None`), and in both cases why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResolvedTarget {
    pub person: String,
    pub name: String,
    pub language: Language,
    pub phone: Option<String>,
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

#[derive(Debug, Clone, thiserror::Error)]
#[error("roster is invalid")]
pub struct RosterErrors(pub Vec<String>);

#[derive(Debug, Clone)]
pub struct Roster {
    pub policies: Vec<Policy>,
}

impl Roster {
    pub fn from_yaml(_src: &str) -> Result<Roster, RosterErrors> {
        Err(RosterErrors(vec!["not yet".into()]))
    }
    pub fn policy_for(&self, labels: &Labels) -> Option<&Policy> {
        self.policies
            .iter()
            .find(|p| crate::matcher::all_match(&p.matchers, labels))
    }
    pub fn policy(&self, name: &str) -> Option<&Policy> {
        self.policies.iter().find(|p| p.name == name)
    }
    pub fn resolve_step(
        &self,
        _policy: &Policy,
        _step: usize,
        _now: DateTime<Utc>,
    ) -> Vec<ResolvedTarget> {
        Vec::new()
    }
    pub fn plan(&self, _labels: &Labels, _now: DateTime<Utc>) -> Vec<PlanEntry> {
        Vec::new()
    }
}
