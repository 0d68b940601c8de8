//! CloudWatch alarms: the state-change message SNS delivers, and the EventBridge
//! "CloudWatch Alarm State Change" event. Both produce the *same labels* for the
//! same alarm (alertname, region code, account, namespace, metric, dimensions), so
//! an alarm wired through both paths has one fingerprint and one incident.

use super::{
    finish, get_str, invalid, object, opt_string, opt_time, put_if_absent, req_string, time, Draft,
    Limits, ParseError, Path,
};
use crate::alert::{Alert, Labels, Source, Status};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

/// Labels ringdown sets itself; a dimension of the same name is prefixed
/// `dimension_` instead of overwriting them.
const RESERVED: [&str; 6] = [
    "alertname",
    "region",
    "account",
    "namespace",
    "metric",
    "insufficient_data",
];

/// ALARM → firing, OK → resolved, INSUFFICIENT_DATA → firing and flagged.
fn alarm_state(s: &str, path: &Path<'_>) -> Result<(Status, bool), ParseError> {
    match s {
        "ALARM" => Ok((Status::Firing, false)),
        "OK" => Ok((Status::Resolved, false)),
        "INSUFFICIENT_DATA" => Ok((Status::Firing, true)),
        other => Err(invalid(
            path,
            "\"ALARM\", \"OK\" or \"INSUFFICIENT_DATA\"",
            &Value::String(other.into()),
        )),
    }
}

fn add_dimension(labels: &mut Labels, name: &str, value: &str) {
    if name.is_empty() || value.is_empty() {
        return;
    }
    let key = if RESERVED.contains(&name) {
        format!("dimension_{name}")
    } else {
        name.to_string()
    };
    labels.entry(key).or_insert_with(|| value.to_string());
}

/// Field `n` (0-based) of `arn:aws:cloudwatch:REGION:ACCOUNT:alarm:NAME`.
fn arn_part(arn: Option<&str>, n: usize) -> Option<&str> {
    arn.and_then(|a| a.split(':').nth(n))
        .filter(|s| !s.is_empty())
}

struct Common {
    name: String,
    state: String,
    reason: Option<String>,
    description: Option<String>,
    previous_state: Option<String>,
    arn: Option<String>,
    region: Option<String>,
    account: Option<String>,
    when: Option<DateTime<Utc>>,
}

fn build(
    c: Common,
    mut labels: Labels,
    state_path: &Path<'_>,
    path: &Path<'_>,
    limits: &Limits,
    source: Source,
) -> Result<Alert, ParseError> {
    let (status, insufficient) = alarm_state(&c.state, state_path)?;
    labels.insert("alertname".into(), c.name.clone());
    let region = arn_part(c.arn.as_deref(), 3)
        .map(str::to_string)
        .or(c.region)
        .unwrap_or_default();
    put_if_absent(&mut labels, "region", &region);
    let account = c
        .account
        .filter(|a| !a.is_empty())
        .or_else(|| arn_part(c.arn.as_deref(), 4).map(str::to_string))
        .unwrap_or_default();
    put_if_absent(&mut labels, "account", &account);
    if insufficient {
        labels.insert("insufficient_data".into(), "true".into());
    }
    let mut annotations = Labels::new();
    let summary = c
        .description
        .as_deref()
        .filter(|d| !d.trim().is_empty())
        .unwrap_or(&c.name);
    put_if_absent(&mut annotations, "summary", summary);
    put_if_absent(
        &mut annotations,
        "description",
        c.reason.as_deref().unwrap_or(""),
    );
    put_if_absent(&mut annotations, "state", &c.state);
    put_if_absent(
        &mut annotations,
        "previous_state",
        c.previous_state.as_deref().unwrap_or(""),
    );
    put_if_absent(
        &mut annotations,
        "alarm_arn",
        c.arn.as_deref().unwrap_or(""),
    );
    let (starts_at, ends_at) = match status {
        Status::Firing => (c.when, None),
        Status::Resolved => (None, c.when),
    };
    finish(
        path,
        limits,
        Draft {
            starts_at,
            ends_at,
            ..Draft::new(labels, annotations, status, source)
        },
    )
}

/// The JSON CloudWatch publishes to an SNS topic on an alarm state change.
pub(crate) fn parse_cloudwatch(
    mut obj: Map<String, Value>,
    path: &Path<'_>,
    limits: &Limits,
) -> Result<Alert, ParseError> {
    let name = req_string(&mut obj, "AlarmName", path)?;
    let state = req_string(&mut obj, "NewStateValue", path)?;
    let mut labels = Labels::new();
    if let Some(trigger) = obj.remove("Trigger").filter(|t| !t.is_null()) {
        let tp = path.key("Trigger");
        let trigger = object(trigger, &tp, "an object")?;
        // Metric-math alarms have `Metrics` instead: no single metric to name.
        if let Some(metric) = get_str(&trigger, "MetricName", &tp)? {
            put_if_absent(&mut labels, "metric", metric);
        }
        if let Some(ns) = get_str(&trigger, "Namespace", &tp)? {
            put_if_absent(&mut labels, "namespace", ns);
        }
        let dp = tp.key("Dimensions");
        match trigger.get("Dimensions") {
            None | Some(Value::Null) => {}
            Some(Value::Array(dims)) => {
                for (i, d) in dims.iter().enumerate() {
                    let ip = dp.idx(i);
                    let Value::Object(d) = d else {
                        return Err(invalid(&ip, "an object {name, value}", d));
                    };
                    let n = get_str(d, "name", &ip)?.unwrap_or("");
                    let v = get_str(d, "value", &ip)?.unwrap_or("");
                    add_dimension(&mut labels, n, v);
                }
            }
            Some(other) => return Err(invalid(&dp, "an array of {name, value}", other)),
        }
    }
    let c = Common {
        name,
        state,
        reason: opt_string(&mut obj, "NewStateReason", path)?,
        description: opt_string(&mut obj, "AlarmDescription", path)?,
        previous_state: opt_string(&mut obj, "OldStateValue", path)?,
        arn: opt_string(&mut obj, "AlarmArn", path)?,
        region: opt_string(&mut obj, "Region", path)?,
        account: opt_string(&mut obj, "AWSAccountId", path)?,
        when: opt_time(&mut obj, "StateChangeTime", path)?,
    };
    build(
        c,
        labels,
        &path.key("NewStateValue"),
        path,
        limits,
        Source::Cloudwatch,
    )
}

/// An EventBridge event; only `CloudWatch Alarm State Change` is an alert.
pub(crate) fn parse_eventbridge(
    mut obj: Map<String, Value>,
    path: &Path<'_>,
    limits: &Limits,
) -> Result<Alert, ParseError> {
    let detail_type = opt_string(&mut obj, "detail-type", path)?.unwrap_or_default();
    if detail_type != "CloudWatch Alarm State Change" {
        return Err(ParseError::UnknownFormat {
            path: path.key("detail-type").render(),
            found: format!("an EventBridge event of detail-type {detail_type:?}; only \"CloudWatch Alarm State Change\" is supported"),
        });
    }
    let dp = path.key("detail");
    let mut detail = match obj.remove("detail") {
        Some(d) => object(d, &dp, "an object")?,
        None => return Err(super::missing(&dp, "the alarm state change object")),
    };
    let name = req_string(&mut detail, "alarmName", &dp)?;
    let sp = dp.key("state");
    let mut state = match detail.remove("state") {
        Some(s) => object(s, &sp, "an object {value, reason, timestamp}")?,
        None => return Err(super::missing(&sp, "an object {value, reason, timestamp}")),
    };
    let state_value = req_string(&mut state, "value", &sp)?;
    let reason = opt_string(&mut state, "reason", &sp)?;
    let mut when = opt_time(&mut state, "timestamp", &sp)?;
    if when.is_none() {
        if let Some(t) = opt_string(&mut obj, "time", path)? {
            when = time(&t, &path.key("time"))?;
        }
    }
    let previous_state = match detail.get("previousState") {
        Some(Value::Object(p)) => get_str(p, "value", &dp.key("previousState"))?.map(String::from),
        _ => None,
    };
    let mut labels = Labels::new();
    let mut description = None;
    if let Some(conf) = detail.remove("configuration").filter(|c| !c.is_null()) {
        let cp = dp.key("configuration");
        let conf = object(conf, &cp, "an object")?;
        description = get_str(&conf, "description", &cp)?.map(String::from);
        if let Some(Value::Array(metrics)) = conf.get("metrics") {
            // One plain metric: name it. Metric math: leave it to alertname.
            if let [Value::Object(m)] = metrics.as_slice() {
                let msp = cp.key("metrics");
                let mp = msp.idx(0);
                if let Some(Value::Object(stat)) = m.get("metricStat") {
                    let sp = mp.key("metricStat");
                    if let Some(Value::Object(metric)) = stat.get("metric") {
                        let mp = sp.key("metric");
                        if let Some(n) = get_str(metric, "name", &mp)? {
                            put_if_absent(&mut labels, "metric", n);
                        }
                        if let Some(ns) = get_str(metric, "namespace", &mp)? {
                            put_if_absent(&mut labels, "namespace", ns);
                        }
                        match metric.get("dimensions") {
                            None | Some(Value::Null) => {}
                            Some(Value::Object(dims)) => {
                                let dmp = mp.key("dimensions");
                                for (k, v) in dims {
                                    match v {
                                        Value::String(v) => add_dimension(&mut labels, k, v),
                                        other => {
                                            return Err(invalid(&dmp.key(k), "a string", other))
                                        }
                                    }
                                }
                            }
                            Some(other) => {
                                return Err(invalid(
                                    &mp.key("dimensions"),
                                    "an object of strings",
                                    other,
                                ))
                            }
                        }
                    }
                }
            }
        }
    }
    let arn = match obj.get("resources") {
        Some(Value::Array(r)) => r.iter().find_map(Value::as_str).map(String::from),
        _ => None,
    };
    let c = Common {
        name,
        state: state_value,
        reason,
        description,
        previous_state,
        arn,
        region: opt_string(&mut obj, "region", path)?,
        account: opt_string(&mut obj, "account", path)?,
        when,
    };
    build(
        c,
        labels,
        &sp.key("value"),
        path,
        limits,
        Source::Eventbridge,
    )
}
