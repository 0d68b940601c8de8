//! Contact attributes and a disconnect reason into `outcome::classify`.
//!
//! Input: text; the first line is the `DisconnectReason` (`-` for none), each
//! further line `key=value` (so seeds are readable).
//!
//! Asserts: never panics; deterministic; follows the outcome table's order
//! (an `rd_ack` of 1 always acknowledges, then a silence of 1–72 hours, then
//! `rd_next`, then a telecom failure); only `rd_*` attributes matter; a silence
//! is within 1–72 hours; an acknowledgement was answered by a human; the
//! outcome round-trips through JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringdown_core::outcome::{classify, silence_hours, Outcome, MAX_SILENCE_HOURS};
use std::collections::BTreeMap;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let reason = match lines.next() {
        None | Some("-") => None,
        Some(r) => Some(r),
    };
    let attrs: BTreeMap<String, String> = lines
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (l.to_string(), String::new()),
        })
        .collect();

    let o = classify(&attrs, reason);
    assert_eq!(o, classify(&attrs, reason), "not deterministic");
    assert!(!o.as_str().is_empty());

    let flag = |k: &str| attrs.get(k).is_some_and(|v| v.trim() == "1");
    let silence = silence_hours(&attrs);
    if flag("rd_ack") {
        assert_eq!(o, Outcome::Acknowledged);
    } else if let Some(h) = silence {
        assert_eq!(o, Outcome::Silenced { hours: h });
    } else if flag("rd_next") {
        assert_eq!(o, Outcome::Declined);
    } else if reason.is_some_and(|r| r.trim() == "TELECOM_PROBLEM") {
        assert_eq!(o, Outcome::CallFailed);
    }
    if let Outcome::Silenced { hours } = o {
        assert!((1..=MAX_SILENCE_HOURS).contains(&hours));
    }
    if o.is_ack() {
        assert!(o.answered_by_human());
    }

    // Only the flow's own attributes decide.
    let own: BTreeMap<String, String> = attrs
        .iter()
        .filter(|(k, _)| k.starts_with("rd_"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    assert_eq!(classify(&own, reason), o);

    let json = serde_json::to_string(&o).unwrap();
    assert_eq!(serde_json::from_str::<Outcome>(&json).unwrap(), o, "{json}");
});
