//! Generic JSON (anything with `curl`) and the `alertinfo` payload monitoring
//! scripts post through API Gateway.

use super::{
    finish, invalid, json, missing, naive_time, object, opt_status, opt_string, opt_time,
    put_if_absent, string_map, Draft, Limits, ParseError, Path,
};
use crate::alert::{Alert, Labels, Source, Status};
use serde_json::{Map, Value};

fn check_count(path: &Path<'_>, count: usize, limits: &Limits) -> Result<(), ParseError> {
    if count > limits.max_alerts {
        return Err(ParseError::TooManyAlerts {
            path: path.render(),
            count,
            max: limits.max_alerts,
        });
    }
    Ok(())
}

/// `[{title, labels, ...}, ...]`
pub(crate) fn parse_array(
    items: Vec<Value>,
    path: &Path<'_>,
    limits: &Limits,
) -> Result<Vec<Alert>, ParseError> {
    check_count(path, items.len(), limits)?;
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let p = path.idx(i);
        let obj = object(
            item,
            &p,
            "an alert object {title, status, labels, annotations}",
        )?;
        out.push(parse_object(obj, &p, limits)?);
    }
    Ok(out)
}

/// `{"title", "status"?, "labels"?, "annotations"?, "starts_at"?, "ends_at"?,
/// "description"?}`. `startsAt`/`endsAt` are accepted too (Alertmanager's
/// API spelling). The title becomes annotation `summary` (unless one is given)
/// and label `alertname` (unless one is given); one of the two must exist.
pub(crate) fn parse_object(
    mut obj: Map<String, Value>,
    path: &Path<'_>,
    limits: &Limits,
) -> Result<Alert, ParseError> {
    let title = opt_string(&mut obj, "title", path)?.filter(|t| !t.trim().is_empty());
    let status = opt_status(&mut obj, path)?.unwrap_or(Status::Firing);
    let mut labels = string_map(obj.remove("labels"), &path.key("labels"), limits, true)?;
    let mut annotations = string_map(
        obj.remove("annotations"),
        &path.key("annotations"),
        limits,
        false,
    )?;
    let starts_at = match opt_time(&mut obj, "starts_at", path)? {
        Some(t) => Some(t),
        None => opt_time(&mut obj, "startsAt", path)?,
    };
    let ends_at = match opt_time(&mut obj, "ends_at", path)? {
        Some(t) => Some(t),
        None => opt_time(&mut obj, "endsAt", path)?,
    };
    for key in ["description", "message"] {
        if let Some(d) = opt_string(&mut obj, key, path)? {
            put_if_absent(&mut annotations, "description", &d);
        }
    }
    match &title {
        Some(t) => {
            put_if_absent(&mut annotations, "summary", t);
            put_if_absent(&mut labels, "alertname", t);
        }
        None if labels.contains_key("alertname") => {}
        None => {
            return Err(missing(
                &path.key("title"),
                "a string naming the alert (or a labels.alertname)",
            ))
        }
    }
    finish(
        path,
        limits,
        Draft {
            starts_at,
            ends_at,
            ..Draft::new(labels, annotations, status, Source::Generic)
        },
    )
}

/// Entry fields that change from check to check: kept as annotations, never
/// as labels, so they cannot change the alert's fingerprint.
const VOLATILE: [&str; 5] = ["lastcheck", "message", "description", "output", "details"];

/// `{"input": "{\"alertinfo\": [{host, service, lastcheck, systemname, ...}]}"}`
/// (`input` a JSON string or an object), or the inner `{"alertinfo": [...]}`.
pub(crate) fn parse_alertinfo(
    mut obj: Map<String, Value>,
    path: &Path<'_>,
    limits: &Limits,
) -> Result<Vec<Alert>, ParseError> {
    let ip = path.key("input");
    let (mut inner, base) = match obj.remove("input") {
        None => (obj, *path),
        Some(Value::String(s)) => {
            let v = json(&s, &ip, limits)?;
            (object(v, &ip, "a JSON object {\"alertinfo\": [...]}")?, ip)
        }
        Some(Value::Object(o)) => (o, ip),
        Some(other) => {
            return Err(invalid(
                &ip,
                "a JSON string or object {\"alertinfo\": [...]}",
                &other,
            ))
        }
    };
    let ap = base.key("alertinfo");
    let entries = match inner.remove("alertinfo") {
        Some(Value::Array(items)) => items,
        Some(Value::Object(o)) => vec![Value::Object(o)],
        Some(other) => return Err(invalid(&ap, "an array of alertinfo entries", &other)),
        None => {
            return Err(missing(
                &ap,
                "an array of {host, service, lastcheck, systemname} entries",
            ))
        }
    };
    check_count(&ap, entries.len(), limits)?;
    let mut out = Vec::with_capacity(entries.len());
    for (i, e) in entries.into_iter().enumerate() {
        let ep = ap.idx(i);
        let e = object(e, &ep, "an object {host, service, lastcheck, systemname}")?;
        out.push(alertinfo_entry(e, &ep, limits)?);
    }
    Ok(out)
}

fn alertinfo_status(s: &str, path: &Path<'_>) -> Result<Status, ParseError> {
    let l = s.trim().to_ascii_lowercase();
    match l.as_str() {
        "" | "firing" | "problem" | "alarm" | "alert" | "critical" | "warning" | "down"
        | "error" | "ng" => Ok(Status::Firing),
        "resolved" | "ok" | "recovery" | "recovered" | "up" => Ok(Status::Resolved),
        _ => Err(invalid(
            path,
            "\"firing\" (or problem/critical/warning/down) or \"resolved\" (or ok/recovery)",
            &Value::String(s.into()),
        )),
    }
}

fn alertinfo_entry(
    e: Map<String, Value>,
    path: &Path<'_>,
    limits: &Limits,
) -> Result<Alert, ParseError> {
    if e.len() > limits.max_labels {
        return Err(ParseError::TooManyLabels {
            path: path.render(),
            count: e.len(),
            max: limits.max_labels,
        });
    }
    let mut labels = Labels::new();
    let mut annotations = Labels::new();
    let mut status = Status::Firing;
    for (k, v) in e {
        let fp = path.key(&k);
        let text = match v {
            Value::Null => continue,
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            other => return Err(invalid(&fp, "a string", &other)),
        };
        if k == "status" {
            status = alertinfo_status(&text, &fp)?;
        } else if k == "lastcheck" {
            if !text.trim().is_empty() {
                let t = naive_time(&text, &fp)?;
                annotations.insert(k, t);
            }
        } else if VOLATILE.contains(&k.as_str()) {
            put_if_absent(&mut annotations, &k, &text);
        } else if !text.is_empty() {
            labels.insert(k, text);
        }
    }
    let Some(service) = labels.get("service").cloned() else {
        return Err(missing(&path.key("service"), "a non-empty string"));
    };
    put_if_absent(&mut labels, "alertname", &service);
    let summary = match labels.get("host") {
        Some(h) => format!("{service} on {h}"),
        None => service,
    };
    put_if_absent(&mut annotations, "summary", &summary);
    finish(
        path,
        limits,
        Draft::new(labels, annotations, status, Source::Alertinfo),
    )
}
