//! Alertmanager webhook v4 and Grafana unified alerting webhook: the same
//! shape (`alerts[]` of labels/annotations/startsAt/endsAt/fingerprint).

use super::{
    finish, invalid, object, opt_status, opt_string, opt_time, put_if_absent, string_map, Draft,
    Limits, ParseError, Path,
};
use crate::alert::{Alert, Source, Status};
use serde_json::{Map, Value};

pub(crate) fn parse_webhook(
    mut obj: Map<String, Value>,
    path: &Path<'_>,
    limits: &Limits,
    source: Source,
) -> Result<Vec<Alert>, ParseError> {
    let group_status = opt_status(&mut obj, path)?;
    let alerts_path = path.key("alerts");
    let items = match obj.remove("alerts") {
        Some(Value::Array(items)) => items,
        Some(other) => return Err(invalid(&alerts_path, "an array of alerts", &other)),
        None => return Err(super::missing(&alerts_path, "an array of alerts")),
    };
    if items.len() > limits.max_alerts {
        return Err(ParseError::TooManyAlerts {
            path: alerts_path.render(),
            count: items.len(),
            max: limits.max_alerts,
        });
    }
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let p = alerts_path.idx(i);
        out.push(parse_alert(item, &p, limits, source, group_status)?);
    }
    Ok(out)
}

fn parse_alert(
    item: Value,
    path: &Path<'_>,
    limits: &Limits,
    source: Source,
    group_status: Option<Status>,
) -> Result<Alert, ParseError> {
    let mut a = object(item, path, "an alert object")?;
    let status = opt_status(&mut a, path)?
        .or(group_status)
        .unwrap_or(Status::Firing);
    let labels = string_map(a.remove("labels"), &path.key("labels"), limits, true)?;
    let mut annotations = string_map(
        a.remove("annotations"),
        &path.key("annotations"),
        limits,
        false,
    )?;
    let starts_at = opt_time(&mut a, "startsAt", path)?;
    let ends_at = opt_time(&mut a, "endsAt", path)?;
    let fingerprint = opt_string(&mut a, "fingerprint", path)?;
    // Links are kept for the fallback channel and the incident history.
    for (key, ann) in [
        ("generatorURL", "generator_url"),
        ("dashboardURL", "dashboard_url"),
        ("panelURL", "panel_url"),
        ("silenceURL", "silence_url"),
        ("valueString", "value_string"),
    ] {
        if let Some(v) = opt_string(&mut a, key, path)? {
            put_if_absent(&mut annotations, ann, &v);
        }
    }
    finish(
        path,
        limits,
        Draft {
            starts_at,
            ends_at,
            fingerprint,
            ..Draft::new(labels, annotations, status, source)
        },
    )
}
