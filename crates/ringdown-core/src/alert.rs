//! The normalised alert every input format is parsed into.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Label and annotation maps are ordered so that fingerprints, group keys and
/// serialised output are identical whatever order the sender used.
pub type Labels = BTreeMap<String, String>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Firing,
    Resolved,
}

/// Which wire format an alert came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Alertmanager,
    Cloudwatch,
    Eventbridge,
    Grafana,
    Generic,
    Alertinfo,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Alertmanager => "alertmanager",
            Source::Cloudwatch => "cloudwatch",
            Source::Eventbridge => "eventbridge",
            Source::Grafana => "grafana",
            Source::Generic => "generic",
            Source::Alertinfo => "alertinfo",
        }
    }
}

/// Language of the call: picks the contact flow's voice and prompts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum Language {
    #[serde(rename = "ja-JP")]
    #[default]
    JaJp,
    #[serde(rename = "en-US")]
    EnUs,
}

impl Language {
    pub fn code(self) -> &'static str {
        match self {
            Language::JaJp => "ja-JP",
            Language::EnUs => "en-US",
        }
    }
}

/// One alert, whatever format it arrived in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Stable identity of the alert: Alertmanager's own fingerprint when the
    /// sender gave one, otherwise computed from the labels (see `fingerprint`).
    pub fingerprint: String,
    pub status: Status,
    pub labels: Labels,
    pub annotations: Labels,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub source: Source,
}

impl Alert {
    /// An alert with these labels and nothing else: its fingerprint computed
    /// from them as Prometheus does, no annotations or times, a generic
    /// source (what a plain JSON sender gives; tests and drills build them so).
    pub fn with_labels<'a>(
        labels: impl IntoIterator<Item = (&'a str, &'a str)>,
        status: Status,
    ) -> Alert {
        let labels: Labels = labels
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Alert {
            fingerprint: crate::fingerprint::fingerprint(&labels),
            status,
            labels,
            annotations: Labels::new(),
            starts_at: None,
            ends_at: None,
            source: Source::Generic,
        }
    }

    /// A one-line human title: `summary` / `title` annotation, else `alertname`,
    /// else the fingerprint.
    pub fn title(&self) -> &str {
        for key in ["summary", "title"] {
            if let Some(v) = self.annotations.get(key) {
                if !v.is_empty() {
                    return v;
                }
            }
        }
        self.labels
            .get("alertname")
            .map(String::as_str)
            .unwrap_or(&self.fingerprint)
    }

    /// Longer text for the call: `description` / `message` annotation if any.
    pub fn description(&self) -> Option<&str> {
        ["description", "message", "text"]
            .iter()
            .find_map(|k| self.annotations.get(*k).map(String::as_str))
            .filter(|s| !s.is_empty())
    }
}
