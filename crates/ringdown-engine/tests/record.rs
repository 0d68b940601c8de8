//! Stored incidents across releases: the previous format decodes, the
//! current one round-trips, a record from a newer release is reported, not
//! fatal.

use ringdown_core::escalation::Phase;
use ringdown_engine::record::{decode_incident, encode_incident, INCIDENT_RECORD_VERSION};
use ringdown_engine::StoreError;

const V1: &str = include_str!("fixtures/incident-v1.json");

#[test]
fn an_incident_stored_by_the_previous_release_decodes_with_its_call_in_flight() {
    let inc = decode_incident(V1).expect("version 1 decodes");
    assert_eq!(inc.phase, Phase::Calling);
    assert_eq!(inc.owner.as_deref(), Some("ringdown-host-4242"));
    let call = inc.call.as_ref().expect("the call in flight");
    // The stored call id is the ClientToken of the call Connect has: it is
    // reused as stored, never recomputed, so a format change cannot re-ring.
    assert_eq!(call.call_id, "20261123-180000-abcdef-p0s1a1t0r0");
    assert_eq!(call.request.call_id, call.call_id);
    assert_eq!(
        call.contact_id.as_deref(),
        Some("c0ffee00-0000-4000-8000-000000000001")
    );
    // Fields version 1 did not have take their defaults.
    assert_eq!(call.dialled_at, None);
    assert_eq!(call.dial_attempts, 0);
    assert!(inc.outbox.is_empty());
    assert_eq!(call.request.phone_index, 0);
    // Its full number is dialled as stored (the roster may not be asked).
    assert_eq!(call.request.phone, "+819012340001");
}

#[test]
fn the_current_format_round_trips_and_says_its_version() {
    let inc = decode_incident(V1).unwrap();
    let stored = encode_incident(&inc).unwrap();
    let v: serde_json::Value = serde_json::from_str(&stored).unwrap();
    assert_eq!(v["record_version"], INCIDENT_RECORD_VERSION);
    assert_eq!(decode_incident(&stored).unwrap(), inc);
}

#[test]
fn the_stores_version_and_owner_are_written_where_the_previous_release_reads_them() {
    let mut inc = decode_incident(V1).unwrap();
    let v1: serde_json::Value = serde_json::from_str(V1).unwrap();
    assert_eq!(Some(inc.version), v1["version"].as_u64());
    inc.version = 7;
    inc.owner = Some("ringdown-host-1".into());
    let v: serde_json::Value = serde_json::from_str(&encode_incident(&inc).unwrap()).unwrap();
    // The previous release reads them as fields of the incident itself.
    assert_eq!(v["version"], 7);
    assert_eq!(v["owner"], "ringdown-host-1");
    let back = decode_incident(&v.to_string()).unwrap();
    assert_eq!(
        (back.version, back.owner.as_deref()),
        (7, Some("ringdown-host-1"))
    );
}

#[test]
fn a_record_from_a_newer_release_is_undecodable_and_says_so() {
    let mut v: serde_json::Value = serde_json::from_str(V1).unwrap();
    v["record_version"] = serde_json::json!(INCIDENT_RECORD_VERSION + 1);
    v["phase"] = serde_json::json!("paused");
    match decode_incident(&v.to_string()) {
        Err(StoreError::Undecodable { what, id, reason }) => {
            assert_eq!(what, "incident");
            assert_eq!(id, "20261123-180000-abcdef");
            assert!(reason.contains("newer ringdown"), "{reason}");
            assert!(reason.contains("paused"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    // Fields a newer release added are ignored: still readable.
    let mut v: serde_json::Value = serde_json::from_str(V1).unwrap();
    v["record_version"] = serde_json::json!(INCIDENT_RECORD_VERSION + 1);
    v["something_new"] = serde_json::json!({"x": 1});
    assert!(decode_incident(&v.to_string()).is_ok());
}
