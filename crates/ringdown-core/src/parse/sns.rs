//! The SNS envelope (an SQS subscription with raw delivery off), and the text
//! alert for a `Message` that is not JSON.
//!
//! Alertmanager's SNS receiver publishes its template *output*: `Subject` and
//! `Message` are text, and the receiver's `attributes:` arrive as SNS message
//! attributes. Such a notification becomes one alert:
//!
//! - title: `Subject` without a `[FIRING:n]` / `[FIRING]` / `[RESOLVED]` prefix
//!   (or the first line of `Message` when there is no subject);
//! - annotations: `summary` = title, `description` = `Message` (cut to the value
//!   limit with `…`: it is text to read, not an identity);
//! - labels: the string message attributes except `status`, plus `alertname`
//!   (the attribute, else the title);
//! - status: the `status` attribute, else the subject prefix, else firing.
//!
//! Message attributes are *not* merged into JSON payloads: those carry their own
//! labels.

use super::{
    detect, exceeds_depth, finish, invalid, missing, opt_string, truncate, Draft, Limits,
    ParseError, Path,
};
use crate::alert::{Alert, Labels, Source, Status};
use serde_json::{Map, Value};

pub(crate) fn parse_envelope(
    mut obj: Map<String, Value>,
    path: &Path<'_>,
    limits: &Limits,
) -> Result<Vec<Alert>, ParseError> {
    let kind = opt_string(&mut obj, "Type", path)?.unwrap_or_default();
    if kind != "Notification" {
        let hint = if kind == "SubscriptionConfirmation" {
            "; confirm the subscription by visiting its SubscribeURL"
        } else {
            ""
        };
        return Err(ParseError::SnsNotNotification { kind, hint });
    }
    let mp = path.key("Message");
    let message = match obj.remove("Message") {
        Some(Value::String(s)) => s,
        Some(other) => return Err(invalid(&mp, "a string", &other)),
        None => return Err(missing(&mp, "a string")),
    };
    let trimmed = message.trim();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        if exceeds_depth(trimmed.as_bytes(), limits.max_depth) {
            return Err(ParseError::TooDeep {
                path: mp.render(),
                max: limits.max_depth,
            });
        }
        if let Some(alerts) = super::try_fast(trimmed, &mp, limits)? {
            return Ok(alerts);
        }
        // Text such as "[FIRING:2] ..." fails to parse and is read as text.
        if let Ok(v @ (Value::Object(_) | Value::Array(_))) = serde_json::from_str(trimmed) {
            return detect(v, &mp, limits, false);
        }
    }
    let subject = opt_string(&mut obj, "Subject", path)?.unwrap_or_default();
    let attrs = message_attributes(obj.remove("MessageAttributes"), path, limits)?;
    text_alert(&subject, &message, attrs, path, limits).map(|a| vec![a])
}

/// String (and Number) message attributes as a map; binary ones are skipped.
fn message_attributes(
    v: Option<Value>,
    path: &Path<'_>,
    limits: &Limits,
) -> Result<Labels, ParseError> {
    let ap = path.key("MessageAttributes");
    let obj = match v {
        None | Some(Value::Null) => return Ok(Labels::new()),
        Some(Value::Object(o)) => o,
        Some(other) => {
            return Err(invalid(
                &ap,
                "an object of {\"Type\": \"String\", \"Value\": ...}",
                &other,
            ))
        }
    };
    if obj.len() > limits.max_labels {
        return Err(ParseError::TooManyLabels {
            path: ap.render(),
            count: obj.len(),
            max: limits.max_labels,
        });
    }
    let mut out = Labels::new();
    for (name, attr) in obj {
        let np = ap.key(&name);
        let Value::Object(attr) = attr else {
            return Err(invalid(
                &np,
                "an object {\"Type\": \"String\", \"Value\": ...}",
                &attr,
            ));
        };
        let ty = attr.get("Type").and_then(Value::as_str).unwrap_or("String");
        let textual =
            (ty.starts_with("String") && ty != "String.Array") || ty.starts_with("Number");
        if !textual {
            continue;
        }
        match attr.get("Value") {
            Some(Value::String(s)) => {
                if !s.is_empty() {
                    out.insert(name, s.clone());
                }
            }
            None | Some(Value::Null) => {}
            Some(other) => return Err(invalid(&np.key("Value"), "a string", other)),
        }
    }
    Ok(out)
}

/// Removes a leading `[FIRING:n]`, `[FIRING]`, `[RESOLVED]` or `[RESOLVED:n]`
/// (any case) and returns the rest with the status it named.
pub fn strip_status_prefix(subject: &str) -> (&str, Option<Status>) {
    let s = subject.trim();
    let Some(rest) = s.strip_prefix('[') else {
        return (s, None);
    };
    let Some(close) = rest.find(']') else {
        return (s, None);
    };
    let tag = &rest[..close];
    let (word, count) = match tag.split_once(':') {
        Some((w, n)) => (w, Some(n)),
        None => (tag, None),
    };
    if let Some(n) = count {
        if n.is_empty() || !n.trim().bytes().all(|b| b.is_ascii_digit()) {
            return (s, None);
        }
    }
    let status = if word.trim().eq_ignore_ascii_case("firing") {
        Status::Firing
    } else if word.trim().eq_ignore_ascii_case("resolved") {
        Status::Resolved
    } else {
        return (s, None);
    };
    (rest[close + 1..].trim(), Some(status))
}

/// Longest title taken from the first line of the message.
const MAX_TITLE_BYTES: usize = 256;

fn text_alert(
    subject: &str,
    message: &str,
    mut labels: Labels,
    path: &Path<'_>,
    limits: &Limits,
) -> Result<Alert, ParseError> {
    let (stripped, subject_status) = strip_status_prefix(subject);
    let status = match labels.remove("status") {
        Some(s) => {
            let ap = path.key("MessageAttributes");
            let sp = ap.key("status");
            super::status_word(s.trim(), &sp.key("Value"))?
        }
        None => subject_status.unwrap_or(Status::Firing),
    };
    let text = message.trim();
    let title = if !stripped.is_empty() {
        stripped.to_string()
    } else if let Some(name) = labels.get("alertname") {
        name.clone()
    } else if let Some(line) = text.lines().map(str::trim).find(|l| !l.is_empty()) {
        truncate(line.to_string(), MAX_TITLE_BYTES)
    } else {
        return Err(missing(
            &path.key("Subject"),
            "a subject or message text naming the alert",
        ));
    };
    if !labels.contains_key("alertname") {
        labels.insert("alertname".into(), title.clone());
    }
    let mut annotations = Labels::new();
    annotations.insert("summary".into(), title);
    if !text.is_empty() {
        annotations.insert(
            "description".into(),
            truncate(text.to_string(), limits.max_value_bytes),
        );
    }
    finish(
        path,
        limits,
        Draft::new(labels, annotations, status, Source::Generic),
    )
}
