//! Properties shared by the fuzz targets in `fuzz_targets/`.
//!
//! Every target asserts properties of the result, not only "does not crash":
//! a failed assertion is a crash to libFuzzer, which then saves the input.
//! Built by `cargo fuzz` only: it passes `--cfg fuzzing`, which
//! `ringdown_core::parse::fuzzing` (the general parse path alone) needs.

use ringdown_core::parse::{self, Limits, ParseError};
use ringdown_core::{Alert, Source};

/// Small limits, so the fuzzer reaches every limit with short inputs.
pub fn tight_limits() -> Limits {
    Limits {
        max_message_bytes: 2048,
        max_alerts: 3,
        max_name_bytes: 16,
        max_value_bytes: 32,
        max_labels: 4,
        max_depth: 6,
    }
}

/// An error has a snake_case reason code and a message for the operator.
pub fn check_error(e: &ParseError) {
    let code = e.reason_code();
    assert!(!code.is_empty(), "empty reason code for {e:?}");
    assert!(
        code.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
        "reason code {code:?} is not snake_case"
    );
    assert!(!e.to_string().trim().is_empty(), "empty message for {e:?}");
}

/// An accepted alert respects `limits`, has a usable identity and survives a
/// JSON round trip (the shell stores alerts as JSON).
pub fn check_alert(a: &Alert, limits: &Limits) {
    assert!(!a.fingerprint.is_empty(), "empty fingerprint: {a:?}");
    assert!(a.fingerprint.len() <= limits.max_name_bytes, "{a:?}");
    for (what, map) in [("labels", &a.labels), ("annotations", &a.annotations)] {
        assert!(map.len() <= limits.max_labels, "too many {what}: {a:?}");
        for (k, v) in map {
            assert!(!k.is_empty(), "empty {what} name: {a:?}");
            assert!(
                k.len() <= limits.max_name_bytes,
                "{what} name {k:?} too long"
            );
            assert!(v.len() <= limits.max_value_bytes, "{what}.{k} too long");
        }
    }
    // "Missing" and "empty" are the same thing for labels: empty values are dropped.
    assert!(
        a.labels.values().all(|v| !v.is_empty()),
        "label with an empty value: {a:?}"
    );
    // Only Alertmanager and Grafana send their own fingerprint; every other
    // source's identity is the Prometheus fingerprint of its labels.
    if !matches!(a.source, Source::Alertmanager | Source::Grafana) {
        assert_eq!(
            a.fingerprint,
            ringdown_core::fingerprint::fingerprint(&a.labels),
            "{a:?}"
        );
    }
    assert!(!a.title().is_empty());
    let json = serde_json::to_string(a).expect("an alert serialises");
    let back: Alert = serde_json::from_str(&json).expect("an alert deserialises");
    assert_eq!(&back, a, "JSON round trip changed the alert");
}

pub fn check_result(r: &Result<Vec<Alert>, ParseError>, limits: &Limits) {
    match r {
        Err(e) => check_error(e),
        Ok(alerts) => {
            assert!(alerts.len() <= limits.max_alerts, "{} alerts", alerts.len());
            for a in alerts {
                check_alert(a, limits);
            }
        }
    }
}

/// The webhook fast path only ever *accepts*, and what it accepts is exactly
/// what the general path gives: `parse_with` must equal the general path
/// (plus the whole-message checks `parse_with` does first and last).
pub fn check_fast_path(bytes: &[u8], limits: &Limits) {
    if bytes.len() > limits.max_message_bytes {
        return;
    }
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    let text = text.trim_start_matches('\u{feff}');
    if text.trim().is_empty() {
        return;
    }
    let general = parse::fuzzing::general_path(text, limits).and_then(|alerts| {
        if alerts.len() > limits.max_alerts {
            Err(ParseError::TooManyAlerts {
                path: "message".into(),
                count: alerts.len(),
                max: limits.max_alerts,
            })
        } else {
            Ok(alerts)
        }
    });
    assert_eq!(
        parse::parse_with(bytes, limits),
        general,
        "fast path and general path disagree"
    );
}

/// Fields that identify an alert; annotations may legitimately differ under
/// other limits (the SNS text description is cut to the value limit).
pub fn identity(a: &Alert) -> impl PartialEq + std::fmt::Debug + '_ {
    (
        &a.fingerprint,
        &a.labels,
        a.status,
        a.source,
        a.starts_at,
        a.ends_at,
    )
}
