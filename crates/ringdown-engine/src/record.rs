//! How an incident is written to a store, and read back: versioned JSON,
//! the same in SQLite and DynamoDB.
//!
//! Replicas of different releases share one store during a rolling upgrade,
//! so a record carries the version of its format (`record_version`), a reader
//! decodes the previous version, and a record it cannot decode (a newer
//! replica's new phase or outcome, say) is skipped and reported by listings,
//! never allowed to stop a start-up.
//!
//! | version | what changed |
//! |---|---|
//! | 1 (no `record_version`) | the format up to December 2026 |
//! | 2 | masked numbers in the round and the call (`phone_index` names the roster's phone), `dialled_at`/`dial_attempts`, the notice `outbox`, the call's `scope` |
//! | 3 | calls of a ring-all step (`more_calls`; each call's `due_at`, `together`, `reminder`), the round-robin `turn`, `reminders`, and the timeline's `call_stopped`, `ack_timed_out`, `escalated`, `resolved_by` |
//!
//! Version 1 records decode as they are: their full numbers are dialled as
//! stored and masked when the incident next places a call.

use ringdown_core::escalation::Incident;

use crate::{StoreError, StoredIncident};

/// The format written now.
pub const INCIDENT_RECORD_VERSION: u64 = 3;

const FIELD: &str = "record_version";
/// The store's optimistic-lock version, kept beside the incident.
const VERSION: &str = "version";
/// The process driving the incident.
const OWNER: &str = "owner";

/// The stored form of `inc`: the incident, its version and owner (fields of
/// the same object, as the previous release wrote and reads them).
pub fn encode_incident(inc: &StoredIncident) -> Result<String, StoreError> {
    encode_incident_as(inc, inc.version)
}

/// [`encode_incident`] with another optimistic-lock version (the one a save
/// writes), so that a store need not copy the incident to bump it.
pub fn encode_incident_as(inc: &StoredIncident, version: u64) -> Result<String, StoreError> {
    let body = serde_json::to_string(&inc.incident).map_err(|e| StoreError::Backend {
        message: format!("cannot encode incident {}: {e}", inc.id),
        retryable: false,
        source: None,
    })?;
    // The incident is a JSON object: the three fields go in front of its
    // own (written straight, with no intermediate tree: this runs for every
    // write of a storm).
    let rest = body.strip_prefix('{').unwrap_or(&body);
    let owner = serde_json::to_string(&inc.owner).unwrap_or_else(|_| "null".into());
    let sep = if rest.starts_with('}') { "" } else { "," };
    Ok(format!(
        "{{\"{VERSION}\":{version},\"{OWNER}\":{owner},\"{FIELD}\":{INCIDENT_RECORD_VERSION}{sep}{rest}"
    ))
}

/// An incident from its stored form (any version this release reads).
pub fn decode_incident(json: &str) -> Result<StoredIncident, StoreError> {
    let undecodable = |version: u64, reason: String| {
        let id = serde_json::from_str::<serde_json::Value>(json)
            .ok()
            .and_then(|v| v["id"].as_str().map(str::to_string))
            .unwrap_or_else(|| "?".into());
        let newer = if version > INCIDENT_RECORD_VERSION {
            format!(" (written by a newer ringdown: record version {version}, this one reads up to {INCIDENT_RECORD_VERSION})")
        } else {
            String::new()
        };
        StoreError::Undecodable {
            what: "incident",
            id,
            reason: format!("{reason}{newer}"),
        }
    };
    let mut v: serde_json::Value =
        serde_json::from_str(json).map_err(|e| undecodable(0, format!("not JSON: {e}")))?;
    let mut take = |key: &str| v.as_object_mut().and_then(|m| m.remove(key));
    let version = take(FIELD).and_then(|x| x.as_u64()).unwrap_or(1);
    let stored_version = take(VERSION).and_then(|x| x.as_u64()).unwrap_or(0);
    let owner = take(OWNER).and_then(|x| x.as_str().map(str::to_string));
    let incident: Incident =
        serde_json::from_value(v).map_err(|e| undecodable(version, e.to_string()))?;
    Ok(StoredIncident {
        incident,
        version: stored_version,
        owner,
    })
}
