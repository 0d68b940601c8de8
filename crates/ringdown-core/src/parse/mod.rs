//! Alert parsing: bytes off the queue (or the HTTP ingest) → normalised [`Alert`]s.
//!
//! The format is detected from the payload itself:
//!
//! | format | recognised by |
//! |---|---|
//! | SNS envelope | `"Type": "Notification"` with a `Message` string (unwrapped once) |
//! | Alertmanager webhook v4 | `alerts` array, `version` `"4"` or no Grafana markers |
//! | Grafana unified alerting webhook | `alerts` array plus `orgId`, `title` or `version` `"1"` |
//! | CloudWatch alarm (as SNS delivers it) | `AlarmName` and `NewStateValue` |
//! | EventBridge CloudWatch Alarm State Change | `detail-type` |
//! | alertinfo (monitoring scripts via API Gateway) | `input` (JSON string or object) or `alertinfo` |
//! | generic JSON | `title` or `labels` (an object, or an array of such objects) |
//!
//! An SNS notification whose `Message` is not JSON (Alertmanager's SNS receiver
//! sends its template *text*) becomes one text alert; see [`sns`].
//!
//! Every failure is a [`ParseError`] naming what was wrong, where, and what was
//! expected; nothing here panics on any input (property-tested). Labels with an
//! empty value are dropped, as Prometheus does, so "missing" and "empty" are the
//! same thing everywhere (matchers already treat them alike).

mod alertmanager;
mod aws;
mod fast;
mod generic;
pub mod sns;

#[cfg(test)]
mod tests;

use crate::alert::{Alert, Labels, Source, Status};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{Map, Value};
use std::fmt::Write as _;

/// Bounds on what one message may contain. Anything larger is rejected with a
/// [`ParseError`] (and dead-lettered by the shell), never truncated silently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Whole message, in bytes (SNS itself caps at 256 KiB).
    pub max_message_bytes: usize,
    /// Alerts in one message.
    pub max_alerts: usize,
    /// Label or annotation name, in bytes.
    pub max_name_bytes: usize,
    /// Label or annotation value, in bytes.
    pub max_value_bytes: usize,
    /// Labels per alert; the same bound applies to annotations.
    pub max_labels: usize,
    /// JSON nesting depth (arrays and objects). serde_json refuses more than
    /// 128 whatever this says.
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_bytes: 1024 * 1024,
            max_alerts: 1000,
            max_name_bytes: 256,
            max_value_bytes: 16 * 1024,
            max_labels: 128,
            max_depth: 64,
        }
    }
}

const FORMATS: &str = "an Alertmanager webhook (alerts[]), a Grafana webhook, a CloudWatch alarm \
(AlarmName, NewStateValue), an EventBridge CloudWatch Alarm State Change (detail-type), \
an alertinfo payload (input), generic JSON (title / labels), or any of these in an SNS notification";

/// Why a message could not be turned into alerts. `Display` is meant for the
/// operator reading the dead-letter queue; [`ParseError::reason_code`] is the
/// short machine-readable reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("message body is empty: expected a JSON alert payload or an SNS notification")]
    Empty,
    #[error("message is {size} bytes, larger than the limit of {max} bytes")]
    TooLarge { size: usize, max: usize },
    #[error(
        "message is not valid UTF-8 (first bad byte at offset {offset}): expected UTF-8 JSON text"
    )]
    InvalidUtf8 { offset: usize },
    #[error("{path} is not valid JSON ({detail}): expected {FORMATS}. If this is Alertmanager's SNS receiver, turn raw message delivery off on the SQS subscription so the SNS envelope arrives")]
    InvalidJson { path: String, detail: String },
    #[error("{path}: JSON nested deeper than {max} levels")]
    TooDeep { path: String, max: usize },
    #[error("{path}: unrecognised alert payload ({found}): expected {FORMATS}")]
    UnknownFormat { path: String, found: String },
    #[error("SNS message of type {kind:?} is not an alert notification (expected Type \"Notification\"){hint}")]
    SnsNotNotification { kind: String, hint: &'static str },
    #[error("{path}: expected {expected}, found {found}")]
    InvalidField {
        path: String,
        expected: String,
        found: String,
    },
    #[error("{path}: missing, expected {expected}")]
    MissingField { path: String, expected: String },
    #[error("{path}: {value:?} is not a valid time, expected {expected}")]
    InvalidTimestamp {
        path: String,
        value: String,
        expected: &'static str,
    },
    #[error("{path}: {count} alerts in one message, more than the limit of {max}")]
    TooManyAlerts {
        path: String,
        count: usize,
        max: usize,
    },
    #[error("{path}: {count} entries, more than the limit of {max} per alert")]
    TooManyLabels {
        path: String,
        count: usize,
        max: usize,
    },
    #[error("{path}: name {name:?} is {len} bytes, longer than the limit of {max} bytes")]
    NameTooLong {
        path: String,
        /// The name, cut to 32 characters.
        name: String,
        len: usize,
        max: usize,
    },
    #[error("{path}: value is {len} bytes, longer than the limit of {max} bytes")]
    ValueTooLong {
        path: String,
        len: usize,
        max: usize,
    },
}

impl ParseError {
    /// Short snake_case reason, used as the dead-letter-queue reason attribute.
    pub fn reason_code(&self) -> &'static str {
        match self {
            ParseError::Empty => "empty",
            ParseError::TooLarge { .. } => "too_large",
            ParseError::InvalidUtf8 { .. } => "invalid_utf8",
            ParseError::InvalidJson { .. } => "invalid_json",
            ParseError::TooDeep { .. } => "too_deep",
            ParseError::UnknownFormat { .. } => "unknown_format",
            ParseError::SnsNotNotification { .. } => "sns_not_notification",
            ParseError::InvalidField { .. } => "invalid_field",
            ParseError::MissingField { .. } => "missing_field",
            ParseError::InvalidTimestamp { .. } => "invalid_timestamp",
            ParseError::TooManyAlerts { .. } => "too_many_alerts",
            ParseError::TooManyLabels { .. } => "too_many_labels",
            ParseError::NameTooLong { .. } => "name_too_long",
            ParseError::ValueTooLong { .. } => "value_too_long",
        }
    }
}

/// [`parse_with`] under the default [`Limits`].
pub fn parse(bytes: &[u8]) -> Result<Vec<Alert>, ParseError> {
    parse_with(bytes, &Limits::default())
}

/// Detects the format of `bytes` and parses every alert in it. An empty
/// `alerts` list is not an error: it yields no alerts.
pub fn parse_with(bytes: &[u8], limits: &Limits) -> Result<Vec<Alert>, ParseError> {
    if bytes.len() > limits.max_message_bytes {
        return Err(ParseError::TooLarge {
            size: bytes.len(),
            max: limits.max_message_bytes,
        });
    }
    let text = std::str::from_utf8(bytes).map_err(|e| ParseError::InvalidUtf8 {
        offset: e.valid_up_to(),
    })?;
    let text = text.trim_start_matches('\u{feff}');
    if text.trim().is_empty() {
        return Err(ParseError::Empty);
    }
    let root = Path::ROOT;
    let alerts = parse_text(text, &root, limits, true)?;
    if alerts.len() > limits.max_alerts {
        return Err(ParseError::TooManyAlerts {
            path: root.render(),
            count: alerts.len(),
            max: limits.max_alerts,
        });
    }
    Ok(alerts)
}

/// Hooks for the fuzz targets in `fuzz/`, compiled only under `--cfg fuzzing`
/// (which `cargo fuzz` sets): never part of the normal API.
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing {
    use super::{detect, json, Alert, Limits, ParseError, Path};

    /// The general (`serde_json::Value`) path alone, without the webhook fast
    /// path, on UTF-8 text: what [`super::parse_with`] must agree with.
    pub fn general_path(text: &str, limits: &Limits) -> Result<Vec<Alert>, ParseError> {
        let v = json(text, &Path::ROOT, limits)?;
        detect(v, &Path::ROOT, limits, true)
    }
}

/// Depth check, then the typed fast path for webhooks, then the general path.
fn parse_text(
    text: &str,
    path: &Path<'_>,
    limits: &Limits,
    allow_sns: bool,
) -> Result<Vec<Alert>, ParseError> {
    if let Some(alerts) = try_fast(text, path, limits)? {
        return Ok(alerts);
    }
    let value = json(text, path, limits)?;
    detect(value, path, limits, allow_sns)
}

/// The fast path's answer, if it has one. It counts nesting itself and
/// leaves anything too deep to the general path, whose `json` refuses it.
pub(crate) fn try_fast(
    text: &str,
    path: &Path<'_>,
    limits: &Limits,
) -> Result<Option<Vec<Alert>>, ParseError> {
    if !text.contains("\"alerts\"") {
        return Ok(None);
    }
    Ok(fast::webhook(text, path, limits))
}

/// Parses JSON text after checking its nesting depth.
pub(crate) fn json(text: &str, path: &Path<'_>, limits: &Limits) -> Result<Value, ParseError> {
    if exceeds_depth(text.as_bytes(), limits.max_depth) {
        return Err(ParseError::TooDeep {
            path: path.render(),
            max: limits.max_depth,
        });
    }
    serde_json::from_str(text).map_err(|e| {
        let detail = e.to_string();
        if detail.contains("recursion limit") {
            ParseError::TooDeep {
                path: path.render(),
                max: limits.max_depth.min(128),
            }
        } else {
            ParseError::InvalidJson {
                path: path.render(),
                detail,
            }
        }
    })
}

/// True when arrays/objects nest deeper than `max` (strings are skipped).
fn exceeds_depth(bytes: &[u8], max: usize) -> bool {
    // Most of a webhook's bytes are inside strings (label values, URLs):
    // jump over them to the closing quote or the next escape instead of
    // stepping byte by byte (this scan was a quarter of the parse).
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                loop {
                    match memchr::memchr2(b'"', b'\\', &bytes[i..]) {
                        None => return false,
                        Some(at) if bytes[i + at] == b'\\' => i += at + 2,
                        Some(at) => {
                            i += at + 1;
                            break;
                        }
                    }
                    if i >= bytes.len() {
                        return false;
                    }
                }
                continue;
            }
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    false
}

/// Picks the format of a parsed payload. `allow_sns` is false inside an SNS
/// envelope: envelopes are unwrapped once, not recursively.
pub(crate) fn detect(
    value: Value,
    path: &Path<'_>,
    limits: &Limits,
    allow_sns: bool,
) -> Result<Vec<Alert>, ParseError> {
    let obj = match value {
        Value::Object(obj) => obj,
        Value::Array(items) => return generic::parse_array(items, path, limits),
        other => {
            return Err(ParseError::UnknownFormat {
                path: path.render(),
                found: format!("JSON {}", kind(&other)),
            })
        }
    };
    if allow_sns && obj.contains_key("Type") && obj.contains_key("Message") {
        return sns::parse_envelope(obj, path, limits);
    }
    if allow_sns {
        if let Some(Value::String(t)) = obj.get("Type") {
            if obj.contains_key("TopicArn") {
                let hint = if t == "SubscriptionConfirmation" {
                    "; confirm the subscription by visiting its SubscribeURL"
                } else {
                    ""
                };
                return Err(ParseError::SnsNotNotification {
                    kind: t.clone(),
                    hint,
                });
            }
        }
    }
    if obj.contains_key("detail-type") {
        return aws::parse_eventbridge(obj, path, limits).map(|a| vec![a]);
    }
    if obj.contains_key("AlarmName") && obj.contains_key("NewStateValue") {
        return aws::parse_cloudwatch(obj, path, limits).map(|a| vec![a]);
    }
    if obj.contains_key("alerts") {
        let version = obj.get("version").and_then(Value::as_str);
        let grafana = version != Some("4")
            && (version == Some("1") || obj.contains_key("orgId") || obj.contains_key("title"));
        let source = if grafana {
            Source::Grafana
        } else {
            Source::Alertmanager
        };
        return alertmanager::parse_webhook(obj, path, limits, source);
    }
    if obj.contains_key("input") || obj.contains_key("alertinfo") {
        return generic::parse_alertinfo(obj, path, limits);
    }
    if obj.contains_key("title") || obj.contains_key("labels") {
        return generic::parse_object(obj, path, limits).map(|a| vec![a]);
    }
    let mut found = String::from("top-level keys: ");
    for (i, k) in obj.keys().take(8).enumerate() {
        if i > 0 {
            found.push_str(", ");
        }
        let _ = write!(found, "{k:?}");
    }
    if obj.len() > 8 {
        found.push_str(", …");
    }
    if obj.is_empty() {
        found = "an empty object".into();
    }
    Err(ParseError::UnknownFormat {
        path: path.render(),
        found,
    })
}

// ---------------------------------------------------------------------------
// Paths: built on the stack while walking, rendered only for an error.

#[derive(Clone, Copy)]
pub(crate) enum Seg<'a> {
    Root,
    Key(&'a str),
    Index(usize),
}

/// Where in the payload we are, e.g. `Message.alerts[3].labels`.
#[derive(Clone, Copy)]
pub(crate) struct Path<'a> {
    parent: Option<&'a Path<'a>>,
    seg: Seg<'a>,
}

impl<'a> Path<'a> {
    pub(crate) const ROOT: Path<'static> = Path {
        parent: None,
        seg: Seg::Root,
    };

    pub(crate) fn key(&'a self, key: &'a str) -> Path<'a> {
        Path {
            parent: Some(self),
            seg: Seg::Key(key),
        }
    }

    pub(crate) fn idx(&'a self, i: usize) -> Path<'a> {
        Path {
            parent: Some(self),
            seg: Seg::Index(i),
        }
    }

    fn write(&self, out: &mut String) {
        if let Some(p) = self.parent {
            p.write(out);
        }
        match self.seg {
            Seg::Root => {}
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Seg::Index(i) => {
                let _ = write!(out, "[{i}]");
            }
        }
    }

    /// `alerts[3].labels`; the top level is called `message`.
    pub(crate) fn render(&self) -> String {
        let mut s = String::new();
        self.write(&mut s);
        if s.is_empty() {
            s.push_str("message");
        }
        s
    }
}

// ---------------------------------------------------------------------------
// Field helpers shared by the formats.

pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

pub(crate) fn invalid(path: &Path<'_>, expected: &str, found: &Value) -> ParseError {
    let found = match found {
        Value::String(s) if s.len() <= 64 => format!("the string {s:?}"),
        Value::Number(n) => format!("the number {n}"),
        Value::Bool(b) => format!("the boolean {b}"),
        other => kind(other).to_string(),
    };
    ParseError::InvalidField {
        path: path.render(),
        expected: expected.to_string(),
        found,
    }
}

pub(crate) fn missing(path: &Path<'_>, expected: &str) -> ParseError {
    ParseError::MissingField {
        path: path.render(),
        expected: expected.to_string(),
    }
}

/// Expects `v` to be an object.
pub(crate) fn object(
    v: Value,
    path: &Path<'_>,
    what: &str,
) -> Result<Map<String, Value>, ParseError> {
    match v {
        Value::Object(o) => Ok(o),
        other => Err(invalid(path, what, &other)),
    }
}

/// Removes `key` and returns it as a string; missing or null gives `None`.
pub(crate) fn opt_string(
    obj: &mut Map<String, Value>,
    key: &str,
    path: &Path<'_>,
) -> Result<Option<String>, ParseError> {
    match obj.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(invalid(&path.key(key), "a string", &other)),
    }
}

/// Like [`opt_string`], but the field must be there and not empty.
pub(crate) fn req_string(
    obj: &mut Map<String, Value>,
    key: &str,
    path: &Path<'_>,
) -> Result<String, ParseError> {
    match opt_string(obj, key, path)? {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(missing(&path.key(key), "a non-empty string")),
    }
}

/// Borrowing variant for nested objects we only read.
pub(crate) fn get_str<'v>(
    obj: &'v Map<String, Value>,
    key: &str,
    path: &Path<'_>,
) -> Result<Option<&'v str>, ParseError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(invalid(&path.key(key), "a string", other)),
    }
}

/// An object of strings (labels or annotations); missing or null is empty.
/// With `drop_empty`, entries whose value is `""` are left out.
pub(crate) fn string_map(
    v: Option<Value>,
    path: &Path<'_>,
    limits: &Limits,
    drop_empty: bool,
) -> Result<Labels, ParseError> {
    let obj = match v {
        None | Some(Value::Null) => return Ok(Labels::new()),
        Some(Value::Object(o)) => o,
        Some(other) => return Err(invalid(path, "an object of strings", &other)),
    };
    if obj.len() > limits.max_labels {
        return Err(ParseError::TooManyLabels {
            path: path.render(),
            count: obj.len(),
            max: limits.max_labels,
        });
    }
    let mut out = Labels::new();
    for (k, v) in obj {
        match v {
            Value::String(s) => {
                if !(drop_empty && s.is_empty()) {
                    out.insert(k, s);
                }
            }
            other => {
                return Err(ParseError::InvalidField {
                    path: path.render(),
                    expected: "an object of strings".into(),
                    found: format!("{k:?} is {}", kind(&other)),
                })
            }
        }
    }
    Ok(out)
}

/// Removes `status` and reads it as `firing`/`resolved`; missing, null or
/// empty gives `None` (the caller's default applies).
pub(crate) fn opt_status(
    obj: &mut Map<String, Value>,
    path: &Path<'_>,
) -> Result<Option<Status>, ParseError> {
    match opt_string(obj, "status", path)? {
        Some(s) if !s.is_empty() => Ok(Some(status_word(&s, &path.key("status"))?)),
        _ => Ok(None),
    }
}

pub(crate) fn status_word(s: &str, path: &Path<'_>) -> Result<Status, ParseError> {
    if s.eq_ignore_ascii_case("firing") {
        Ok(Status::Firing)
    } else if s.eq_ignore_ascii_case("resolved") {
        Ok(Status::Resolved)
    } else {
        Err(invalid(
            path,
            "\"firing\" or \"resolved\"",
            &Value::String(s.into()),
        ))
    }
}

const TIME_EXPECTED: &str = "an RFC 3339 time such as 2024-05-01T12:00:00Z";

/// RFC 3339, or AWS's `2024-05-01T12:00:00.123+0000`. Empty and Go's zero
/// time (`0001-01-01T00:00:00Z`, Alertmanager's "not set") give `None`.
pub(crate) fn time(s: &str, path: &Path<'_>) -> Result<Option<DateTime<Utc>>, ParseError> {
    let s = s.trim();
    if s.is_empty() || s.starts_with("0001-01-01T00:00:00") {
        return Ok(None);
    }
    DateTime::parse_from_rfc3339(s)
        .or_else(|_| DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .map(|t| Some(t.with_timezone(&Utc)))
        .map_err(|_| ParseError::InvalidTimestamp {
            path: path.render(),
            value: s.chars().take(64).collect(),
            expected: TIME_EXPECTED,
        })
}

pub(crate) fn opt_time(
    obj: &mut Map<String, Value>,
    key: &str,
    path: &Path<'_>,
) -> Result<Option<DateTime<Utc>>, ParseError> {
    match opt_string(obj, key, path)? {
        None => Ok(None),
        Some(s) => time(&s, &path.key(key)),
    }
}

/// A wall-clock time with no zone (`2023-10-03 13:20:52`); normalised to
/// `YYYY-MM-DD HH:MM:SS` but never converted, since the zone is unknown.
pub(crate) fn naive_time(s: &str, path: &Path<'_>) -> Result<String, ParseError> {
    let t = s.trim();
    for fmt in [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
        "%Y/%m/%d %H:%M:%S",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(n) = NaiveDateTime::parse_from_str(t, fmt) {
            return Ok(n.format("%Y-%m-%d %H:%M:%S").to_string());
        }
    }
    Err(ParseError::InvalidTimestamp {
        path: path.render(),
        value: t.chars().take(64).collect(),
        expected: "a local time such as 2023-10-03 13:20:52",
    })
}

/// Inserts `v` under `k` unless empty or already set.
pub(crate) fn put_if_absent(map: &mut Labels, k: &str, v: &str) {
    if !v.is_empty() && !map.contains_key(k) {
        map.insert(k.to_string(), v.to_string());
    }
}

/// An alert before its limits are checked and its fingerprint is settled.
pub(crate) struct Draft {
    pub labels: Labels,
    pub annotations: Labels,
    pub status: Status,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub source: Source,
    /// The sender's own fingerprint (Alertmanager, Grafana), if any.
    pub fingerprint: Option<String>,
}

impl Draft {
    /// A draft with no start or end time and no sender fingerprint; set those
    /// with struct update syntax (`Draft { starts_at, ..Draft::new(…) }`).
    pub(crate) fn new(
        labels: Labels,
        annotations: Labels,
        status: Status,
        source: Source,
    ) -> Draft {
        Draft {
            labels,
            annotations,
            status,
            starts_at: None,
            ends_at: None,
            source,
            fingerprint: None,
        }
    }
}

/// Builds the alert after checking it against the limits; the fingerprint is
/// the sender's when given (in its canonical 16-digit form), else computed
/// from the labels.
pub(crate) fn finish(path: &Path<'_>, limits: &Limits, d: Draft) -> Result<Alert, ParseError> {
    check_map(&path.key("labels"), &d.labels, limits)?;
    check_map(&path.key("annotations"), &d.annotations, limits)?;
    let fingerprint = match d.fingerprint {
        Some(f) if !f.is_empty() => {
            if f.len() > limits.max_name_bytes {
                return Err(ParseError::ValueTooLong {
                    path: path.key("fingerprint").render(),
                    len: f.len(),
                    max: limits.max_name_bytes,
                });
            }
            crate::fingerprint::canonical(f)
        }
        _ => crate::fingerprint::fingerprint(&d.labels),
    };
    Ok(Alert {
        fingerprint,
        status: d.status,
        labels: d.labels,
        annotations: d.annotations,
        starts_at: d.starts_at,
        ends_at: d.ends_at,
        source: d.source,
    })
}

fn check_map(path: &Path<'_>, map: &Labels, limits: &Limits) -> Result<(), ParseError> {
    if map.len() > limits.max_labels {
        return Err(ParseError::TooManyLabels {
            path: path.render(),
            count: map.len(),
            max: limits.max_labels,
        });
    }
    for (k, v) in map {
        if k.len() > limits.max_name_bytes {
            let mut name: String = k.chars().take(32).collect();
            if name.len() < k.len() {
                name.push('…');
            }
            return Err(ParseError::NameTooLong {
                path: path.render(),
                name,
                len: k.len(),
                max: limits.max_name_bytes,
            });
        }
        if k.is_empty() {
            return Err(ParseError::InvalidField {
                path: path.render(),
                expected: "non-empty names".into(),
                found: "an empty name".into(),
            });
        }
        if v.len() > limits.max_value_bytes {
            return Err(ParseError::ValueTooLong {
                path: path.key(k).render(),
                len: v.len(),
                max: limits.max_value_bytes,
            });
        }
    }
    Ok(())
}

/// Cuts `s` to at most `max` bytes on a char boundary, marking the cut with `…`.
pub(crate) fn truncate(mut s: String, max: usize) -> String {
    if s.len() <= max {
        return s;
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    s.push('…');
    s
}
