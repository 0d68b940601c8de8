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
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::borrow::Cow;
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
///
/// It also counts nesting as the general path's depth check does, so that a
/// skipped field nested deeper than `max` leaves the message to the general
/// path (which refuses it), without a scan of the whole text first.
#[derive(Clone, Copy)]
struct Checked {
    /// Containers around the value: the webhook object is 1.
    enclosing: usize,
    max: usize,
}

impl Checked {
    fn inside<E: de::Error>(self) -> Result<Checked, E> {
        if self.enclosing + 1 > self.max {
            return Err(E::custom("nested deeper than the limit"));
        }
        Ok(Checked {
            enclosing: self.enclosing + 1,
            max: self.max,
        })
    }
}

impl<'de> DeserializeSeed<'de> for Checked {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Checked {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let inner = self.inside()?;
        while seq.next_element_seed(inner)?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let inner = self.inside()?;
        while map.next_key_seed(inner)?.is_some() {
            map.next_value_seed(inner)?;
        }
        Ok(())
    }
}

/// A string borrowed from the message when it has no escapes (timestamps,
/// fingerprints and statuses never do), so reading it allocates nothing.
struct Text<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(s.to_owned())))
            }
            fn visit_string<E>(self, s: String) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(s)))
            }
        }
        d.deserialize_str(V)
    }
}

fn text_of<'a>(t: &'a Option<Text<'_>>) -> Option<&'a str> {
    t.as_ref().map(|t| t.0.as_ref())
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
struct Webhook<'de> {
    version: Option<Text<'de>>,
    status: Option<Text<'de>>,
    alerts: Vec<FastAlert<'de>>,
    org_id: bool,
    title: bool,
    sns_type: bool,
    detail_type: bool,
    alarm_name: bool,
}

/// Only a JSON object is a webhook: a derived struct would also take an array
/// (fields by position), which the general path refuses. The seed is the
/// depth limit.
struct WebhookSeed {
    max: usize,
}

impl<'de> DeserializeSeed<'de> for WebhookSeed {
    type Value = Webhook<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Webhook<'de>, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for WebhookSeed {
    type Value = Webhook<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a webhook object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Webhook<'de>, A::Error> {
        use WebhookKey as K;
        let skip = Checked {
            enclosing: 1,
            max: self.max,
        };
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
                    alerts = Some(map.next_value_seed(AlertsSeed { max: self.max })?);
                    continue;
                }
                K::Other => {
                    map.next_value_seed(skip)?;
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
            map.next_value_seed(skip)?;
            *flag = true;
        }
        w.alerts = alerts.ok_or_else(|| de::Error::missing_field("alerts"))?;
        Ok(w)
    }
}

/// The `alerts` array (null is an error here, as for a derived `Vec`).
struct AlertsSeed {
    max: usize,
}

impl<'de> DeserializeSeed<'de> for AlertsSeed {
    type Value = Vec<FastAlert<'de>>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for AlertsSeed {
    type Value = Vec<FastAlert<'de>>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of alerts")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(a) = seq.next_element_seed(AlertSeed { max: self.max })? {
            out.push(a);
        }
        Ok(out)
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
struct FastAlert<'de> {
    status: Option<Text<'de>>,
    labels: Option<Labels>,
    annotations: Option<Labels>,
    starts_at: Option<Text<'de>>,
    ends_at: Option<Text<'de>>,
    fingerprint: Option<Text<'de>>,
    generator_url: Option<Text<'de>>,
    dashboard_url: Option<Text<'de>>,
    panel_url: Option<Text<'de>>,
    silence_url: Option<Text<'de>>,
    value_string: Option<Text<'de>>,
}

/// Only a JSON object is an alert (see [`WebhookSeed`]).
struct AlertSeed {
    max: usize,
}

impl<'de> DeserializeSeed<'de> for AlertSeed {
    type Value = FastAlert<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<FastAlert<'de>, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for AlertSeed {
    type Value = FastAlert<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an alert object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FastAlert<'de>, A::Error> {
        use AlertKey as K;
        // The webhook object, its `alerts` array and this alert.
        let skip = Checked {
            enclosing: 3,
            max: self.max,
        };
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
                    map.next_value_seed(skip)?;
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
    // The typed part alone nests four deep (webhook, alerts, alert, labels).
    if limits.max_depth < 4 {
        return None;
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let w = WebhookSeed {
        max: limits.max_depth,
    }
    .deserialize(&mut de)
    .ok()?;
    de.end().ok()?;
    if w.sns_type || w.detail_type || w.alarm_name || w.alerts.len() > limits.max_alerts {
        return None;
    }
    let version = text_of(&w.version);
    let grafana = version != Some("4") && (version == Some("1") || w.org_id || w.title);
    let source = if grafana {
        Source::Grafana
    } else {
        Source::Alertmanager
    };
    let group_status = status(text_of(&w.status))?;
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
        let status = status(text_of(&a.status))?
            .or(group_status)
            .unwrap_or(Status::Firing);
        let starts_at = match text_of(&a.starts_at) {
            Some(s) => time(s, path).ok()?,
            None => None,
        };
        let ends_at = match text_of(&a.ends_at) {
            Some(s) => time(s, path).ok()?,
            None => None,
        };
        for (v, ann) in [
            (a.generator_url, "generator_url"),
            (a.dashboard_url, "dashboard_url"),
            (a.panel_url, "panel_url"),
            (a.silence_url, "silence_url"),
            (a.value_string, "value_string"),
        ] {
            if let Some(v) = text_of(&v) {
                put_if_absent(&mut annotations, ann, v);
            }
        }
        let draft = Draft {
            starts_at,
            ends_at,
            fingerprint: a.fingerprint.map(|t| t.0.into_owned()),
            ..Draft::new(labels, annotations, status, source)
        };
        out.push(finish(path, limits, draft).ok()?);
    }
    Some(out)
}
