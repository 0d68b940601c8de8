//! Fast path for the storm format: an Alertmanager / Grafana webhook is
//! deserialised straight into typed structs (skipping `groupLabels`,
//! `commonLabels` and friends without allocating) instead of through a
//! `serde_json::Value` tree.
//!
//! It only ever *accepts*: anything unusual (another format's marker keys, a
//! wrong type, a bad time, a limit exceeded) returns `None` and the message goes
//! through the general path, which is the reference for both the result and the
//! error message. A test checks the two paths agree.

use super::{finish, put_if_absent, time, Draft, Limits, Path};
use crate::alert::{Alert, Labels, Source, Status};
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use std::marker::PhantomData;

/// Derived structs also accept a JSON *array* (fields by position); the
/// general path does not, so only objects are let through here.
struct ObjectOnly<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for ObjectOnly<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = T;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            }
        }
        d.deserialize_map(V(PhantomData)).map(ObjectOnly)
    }
}

fn present<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    IgnoredAny::deserialize(d).map(|_| true)
}

#[derive(Deserialize)]
struct Webhook<'a> {
    #[serde(default, borrow)]
    version: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    status: Option<String>,
    alerts: Vec<ObjectOnly<FastAlert>>,
    #[serde(rename = "orgId", default, deserialize_with = "present")]
    org_id: bool,
    #[serde(default, deserialize_with = "present")]
    title: bool,
    // Keys that make the general path pick another format.
    #[serde(rename = "Type", default, deserialize_with = "present")]
    sns_type: bool,
    #[serde(rename = "detail-type", default, deserialize_with = "present")]
    detail_type: bool,
    #[serde(rename = "AlarmName", default, deserialize_with = "present")]
    alarm_name: bool,
}

#[derive(Deserialize)]
struct FastAlert {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    labels: Option<Labels>,
    #[serde(default)]
    annotations: Option<Labels>,
    #[serde(rename = "startsAt", default)]
    starts_at: Option<String>,
    #[serde(rename = "endsAt", default)]
    ends_at: Option<String>,
    #[serde(default)]
    fingerprint: Option<String>,
    #[serde(rename = "generatorURL", default)]
    generator_url: Option<String>,
    #[serde(rename = "dashboardURL", default)]
    dashboard_url: Option<String>,
    #[serde(rename = "panelURL", default)]
    panel_url: Option<String>,
    #[serde(rename = "silenceURL", default)]
    silence_url: Option<String>,
    #[serde(rename = "valueString", default)]
    value_string: Option<String>,
}

fn status(s: Option<&str>) -> Option<Option<Status>> {
    match s {
        None | Some("") => Some(None),
        Some(s) if s.eq_ignore_ascii_case("firing") => Some(Some(Status::Firing)),
        Some(s) if s.eq_ignore_ascii_case("resolved") => Some(Some(Status::Resolved)),
        Some(_) => None,
    }
}

/// The alerts of a webhook, or `None` to let the general path decide.
pub(crate) fn webhook(text: &str, path: &Path<'_>, limits: &Limits) -> Option<Vec<Alert>> {
    let ObjectOnly(w): ObjectOnly<Webhook<'_>> = serde_json::from_str(text).ok()?;
    if w.sns_type || w.detail_type || w.alarm_name || w.alerts.len() > limits.max_alerts {
        return None;
    }
    let version = w.version.as_deref();
    let grafana = version != Some("4") && (version == Some("1") || w.org_id || w.title);
    let source = if grafana {
        Source::Grafana
    } else {
        Source::Alertmanager
    };
    let group_status = status(w.status.as_deref())?;
    let mut out = Vec::with_capacity(w.alerts.len());
    for ObjectOnly(a) in w.alerts {
        let labels = a.labels.unwrap_or_default();
        if labels.len() > limits.max_labels {
            return None;
        }
        let mut labels = labels;
        labels.retain(|_, v| !v.is_empty());
        let mut annotations = a.annotations.unwrap_or_default();
        if annotations.len() > limits.max_labels {
            return None;
        }
        let status = status(a.status.as_deref())?
            .or(group_status)
            .unwrap_or(Status::Firing);
        let starts_at = match a.starts_at {
            Some(s) => time(&s, path).ok()?,
            None => None,
        };
        let ends_at = match a.ends_at {
            Some(s) => time(&s, path).ok()?,
            None => None,
        };
        for (v, ann) in [
            (a.generator_url, "generator_url"),
            (a.dashboard_url, "dashboard_url"),
            (a.panel_url, "panel_url"),
            (a.silence_url, "silence_url"),
            (a.value_string, "value_string"),
        ] {
            if let Some(v) = v {
                put_if_absent(&mut annotations, ann, &v);
            }
        }
        let draft = Draft {
            starts_at,
            ends_at,
            fingerprint: a.fingerprint,
            ..Draft::new(labels, annotations, status, source)
        };
        out.push(finish(path, limits, draft).ok()?);
    }
    Some(out)
}
