//! Fast path for the storm format: an Alertmanager / Grafana webhook is
//! deserialised straight into typed structs (skipping `groupLabels`,
//! `commonLabels` and friends without allocating, but checking them as
//! strictly as the general path does) instead of through a
//! `serde_json::Value` tree.
//!
//! It only ever *accepts*: anything unusual (another format's marker keys, a
//! wrong type, a bad time, a limit exceeded) returns `None` and the message goes
//! through the general path, which is the reference for both the result and the
//! error message. A test checks the two paths agree.

use super::{finish, put_if_absent, time, Draft, Limits, Path};
use crate::alert::{Alert, Labels, Source, Status};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::fmt;

/// Any JSON value, read as strictly as into a `serde_json::Value` (escapes
/// decoded and checked, numbers converted) but kept nowhere: how the fast path
/// skips the fields it does not use.
///
/// Not [`serde::de::IgnoredAny`] (what derived structs skip unknown fields
/// with): serde_json reads that leniently, consuming a lone surrogate escape
/// (`"\ud800"`) or a number out of range (`1e400`) without a word, while the
/// general path rejects the message as invalid JSON. Found by the
/// `parse_alert` fuzz target (a `\ud800` in a `commonLabels` key was accepted
/// by this path only).
struct Checked;

impl<'de> Deserialize<'de> for Checked {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(Checked)
    }
}

impl<'de> Visitor<'de> for Checked {
    type Value = Checked;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_str<E>(self, _: &str) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_unit<E>(self) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Checked, A::Error> {
        while seq.next_element::<Checked>()?.is_some() {}
        Ok(Checked)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Checked, A::Error> {
        while map.next_entry::<Checked, Checked>()?.is_some() {}
        Ok(Checked)
    }
}

/// Marks key number `bit` as read. A known key given twice is an error, as
/// with a derived struct, so that the general path decides (it keeps the last).
fn once<E: de::Error>(seen: &mut u32, bit: u32, key: &'static str) -> Result<(), E> {
    if *seen & (1 << bit) != 0 {
        return Err(E::duplicate_field(key));
    }
    *seen |= 1 << bit;
    Ok(())
}

/// The top-level keys the fast path reads; every other value is [`Checked`].
#[derive(Deserialize, Clone, Copy)]
#[serde(field_identifier)]
enum WebhookKey {
    #[serde(rename = "version")]
    Version,
    #[serde(rename = "status")]
    Status,
    #[serde(rename = "alerts")]
    Alerts,
    #[serde(rename = "orgId")]
    OrgId,
    #[serde(rename = "title")]
    Title,
    // Keys that make the general path pick another format.
    #[serde(rename = "Type")]
    SnsType,
    #[serde(rename = "detail-type")]
    DetailType,
    #[serde(rename = "AlarmName")]
    AlarmName,
    #[serde(other)]
    Other,
}

#[derive(Default)]
struct Webhook {
    version: Option<String>,
    status: Option<String>,
    alerts: Vec<FastAlert>,
    org_id: bool,
    title: bool,
    sns_type: bool,
    detail_type: bool,
    alarm_name: bool,
}

/// Only a JSON object is a webhook: a derived struct would also take an array
/// (fields by position), which the general path refuses.
impl<'de> Deserialize<'de> for Webhook {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Webhook;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a webhook object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Webhook, A::Error> {
                use WebhookKey as K;
                let mut w = Webhook::default();
                let mut alerts = None;
                let mut seen = 0;
                while let Some(key) = map.next_key::<WebhookKey>()? {
                    let (bit, name, flag) = match key {
                        K::Version => {
                            once(&mut seen, 0, "version")?;
                            w.version = map.next_value()?;
                            continue;
                        }
                        K::Status => {
                            once(&mut seen, 1, "status")?;
                            w.status = map.next_value()?;
                            continue;
                        }
                        K::Alerts => {
                            once(&mut seen, 2, "alerts")?;
                            alerts = Some(map.next_value()?);
                            continue;
                        }
                        K::Other => {
                            map.next_value::<Checked>()?;
                            continue;
                        }
                        // Only whether these are present matters.
                        K::OrgId => (3, "orgId", &mut w.org_id),
                        K::Title => (4, "title", &mut w.title),
                        K::SnsType => (5, "Type", &mut w.sns_type),
                        K::DetailType => (6, "detail-type", &mut w.detail_type),
                        K::AlarmName => (7, "AlarmName", &mut w.alarm_name),
                    };
                    once(&mut seen, bit, name)?;
                    map.next_value::<Checked>()?;
                    *flag = true;
                }
                w.alerts = alerts.ok_or_else(|| de::Error::missing_field("alerts"))?;
                Ok(w)
            }
        }
        d.deserialize_map(V)
    }
}

/// The keys of one alert the fast path reads; every other value is [`Checked`].
#[derive(Deserialize, Clone, Copy)]
#[serde(field_identifier)]
enum AlertKey {
    #[serde(rename = "status")]
    Status,
    #[serde(rename = "labels")]
    Labels,
    #[serde(rename = "annotations")]
    Annotations,
    #[serde(rename = "startsAt")]
    StartsAt,
    #[serde(rename = "endsAt")]
    EndsAt,
    #[serde(rename = "fingerprint")]
    Fingerprint,
    #[serde(rename = "generatorURL")]
    GeneratorUrl,
    #[serde(rename = "dashboardURL")]
    DashboardUrl,
    #[serde(rename = "panelURL")]
    PanelUrl,
    #[serde(rename = "silenceURL")]
    SilenceUrl,
    #[serde(rename = "valueString")]
    ValueString,
    #[serde(other)]
    Other,
}

#[derive(Default)]
struct FastAlert {
    status: Option<String>,
    labels: Option<Labels>,
    annotations: Option<Labels>,
    starts_at: Option<String>,
    ends_at: Option<String>,
    fingerprint: Option<String>,
    generator_url: Option<String>,
    dashboard_url: Option<String>,
    panel_url: Option<String>,
    silence_url: Option<String>,
    value_string: Option<String>,
}

/// Only a JSON object is an alert (see [`Webhook`]).
impl<'de> Deserialize<'de> for FastAlert {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = FastAlert;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an alert object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FastAlert, A::Error> {
                use AlertKey as K;
                let mut a = FastAlert::default();
                let mut seen = 0;
                while let Some(key) = map.next_key::<AlertKey>()? {
                    let (bit, name, text) = match key {
                        K::Labels => {
                            once(&mut seen, 0, "labels")?;
                            a.labels = map.next_value()?;
                            continue;
                        }
                        K::Annotations => {
                            once(&mut seen, 1, "annotations")?;
                            a.annotations = map.next_value()?;
                            continue;
                        }
                        K::Other => {
                            map.next_value::<Checked>()?;
                            continue;
                        }
                        K::Status => (2, "status", &mut a.status),
                        K::StartsAt => (3, "startsAt", &mut a.starts_at),
                        K::EndsAt => (4, "endsAt", &mut a.ends_at),
                        K::Fingerprint => (5, "fingerprint", &mut a.fingerprint),
                        K::GeneratorUrl => (6, "generatorURL", &mut a.generator_url),
                        K::DashboardUrl => (7, "dashboardURL", &mut a.dashboard_url),
                        K::PanelUrl => (8, "panelURL", &mut a.panel_url),
                        K::SilenceUrl => (9, "silenceURL", &mut a.silence_url),
                        K::ValueString => (10, "valueString", &mut a.value_string),
                    };
                    once(&mut seen, bit, name)?;
                    *text = map.next_value()?;
                }
                Ok(a)
            }
        }
        d.deserialize_map(V)
    }
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
    let w: Webhook = serde_json::from_str(text).ok()?;
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
    for a in w.alerts {
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
