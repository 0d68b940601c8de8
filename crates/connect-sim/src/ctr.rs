//! Contact trace records (format `2017-03-10`) for simulated calls.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

use crate::interp::CallResult;

/// Format a timestamp the way contact records do: `2026-11-22T21:30:14Z`.
pub fn ctr_timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// What the contact record needs besides the call result.
#[derive(Debug, Clone)]
pub struct CtrContext {
    pub account_id: String,
    pub region: String,
    pub instance_id: String,
    pub contact_id: String,
    /// Wall-clock time the call was placed; the result's offsets are added to it.
    pub initiated_at: DateTime<Utc>,
    pub customer_address: String,
    pub system_address: Option<String>,
    pub queue_id: Option<String>,
}

impl CtrContext {
    pub fn instance_arn(&self) -> String {
        format!(
            "arn:aws:connect:{}:{}:instance/{}",
            self.region, self.account_id, self.instance_id
        )
    }
}

/// Build the contact record of a finished call.
pub fn build_ctr(ctx: &CtrContext, result: &CallResult) -> Value {
    let at = |d: std::time::Duration| {
        ctr_timestamp(ctx.initiated_at + chrono::Duration::milliseconds(d.as_millis() as i64))
    };
    let disconnect = at(result.ended_at_offset);
    let mut ctr = json!({
        "AWSAccountId": ctx.account_id,
        "AWSContactTraceRecordFormatVersion": "2017-03-10",
        "Agent": null,
        "AgentConnectionAttempts": 0,
        "Attributes": result.attributes,
        "Channel": "VOICE",
        "ContactDetails": {},
        "ContactId": ctx.contact_id,
        "CustomerEndpoint": {"Address": ctx.customer_address, "Type": "TELEPHONE_NUMBER"},
        "DisconnectReason": result.disconnect_reason.as_str(),
        "DisconnectTimestamp": disconnect,
        "InitialContactId": null,
        "InitiationMethod": "API",
        "InitiationTimestamp": ctr_timestamp(ctx.initiated_at),
        "InstanceARN": ctx.instance_arn(),
        "LastUpdateTimestamp": disconnect,
        "MediaStreams": [{"Type": "AUDIO"}],
        "NextContactId": null,
        "PreviousContactId": null,
        "Queue": null,
        "Recording": null,
        "Recordings": null,
        "SystemEndpoint": ctx.system_address.as_ref().map(|a| json!({"Address": a, "Type": "TELEPHONE_NUMBER"})),
        "Tags": {},
        "TransferCompletedTimestamp": null,
        "TransferredToEndpoint": null,
    });
    if let Some(c) = result.connected_at_offset {
        ctr["ConnectedToSystemTimestamp"] = json!(at(c));
    }
    ctr
}

/// A copy of `ctr` with LastUpdateTimestamp moved `secs` later (duplicate records
/// delivered by the stream often carry a later update time).
pub fn bump_last_update(ctr: &Value, secs: i64) -> Value {
    let mut c = ctr.clone();
    if let Some(ts) = ctr["LastUpdateTimestamp"].as_str() {
        if let Ok(t) = DateTime::parse_from_rfc3339(ts) {
            c["LastUpdateTimestamp"] = json!(ctr_timestamp(
                t.with_timezone(&Utc) + chrono::Duration::seconds(secs)
            ));
        }
    }
    c
}
