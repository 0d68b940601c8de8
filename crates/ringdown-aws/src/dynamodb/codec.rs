//! Items to and from ringdown's records, and SDK errors to the store's.

use super::*;

pub(super) fn sdk<E, R>(op: &'static str, e: SdkError<E, R>) -> AwsError
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    AwsError::from_sdk(SERVICE, op, e)
}

/// A lost conditional write is a conflict; everything else a backend error
/// with the crate's one retry classifier.
pub(super) fn store_err(e: AwsError) -> StoreError {
    match e {
        AwsError::ConditionFailed { .. } => StoreError::Conflict(e.to_string()),
        _ => StoreError::Backend {
            retryable: e.is_retryable(),
            message: e.to_string(),
            source: Some(std::sync::Arc::new(e)),
        },
    }
}

pub(super) fn invalid(what: &str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Backend {
        message: format!("dynamodb: stored {what} is unreadable: {detail}"),
        retryable: false,
        source: None,
    }
}

pub(super) fn build_err(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Backend {
        message: format!("dynamodb: cannot build request: {e}"),
        retryable: false,
        source: None,
    }
}

pub(super) fn encode<T: Serialize>(what: &str, v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Backend {
        message: format!("cannot encode {what}: {e}"),
        retryable: false,
        source: None,
    })
}

pub(super) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(super) fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub(super) fn get_s<'a>(item: &'a Item, k: &str) -> Result<&'a str, StoreError> {
    match item.get(k) {
        Some(AttributeValue::S(v)) => Ok(v),
        other => Err(invalid(k, format!("expected a string, found {other:?}"))),
    }
}

pub(super) fn get_n(item: &Item, k: &str) -> Result<i64, StoreError> {
    match item.get(k) {
        Some(AttributeValue::N(v)) => v
            .parse()
            .map_err(|e| invalid(k, format!("{v:?} is not an integer: {e}"))),
        other => Err(invalid(k, format!("expected a number, found {other:?}"))),
    }
}

/// Epoch milliseconds, rounded down.
pub(super) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// Epoch milliseconds, rounded up: an incident is never reported due before
/// its exact time (at most 1 ms late). Same rule as the SQLite store.
pub(super) fn ms_ceil(t: DateTime<Utc>) -> i64 {
    let m = t.timestamp_millis();
    if DateTime::from_timestamp_millis(m) == Some(t) {
        m
    } else {
        m + 1
    }
}

pub(super) fn decode_incident(item: &Item) -> Result<StoredIncident, StoreError> {
    ringdown_engine::record::decode_incident(get_s(item, "json")?)
}

pub(super) fn decode_contact(item: &Item) -> Result<ContactRow, StoreError> {
    serde_json::from_str(get_s(item, "json")?).map_err(|e| invalid("contact", e))
}

pub(super) fn decode_silence(item: &Item) -> Result<Silence, StoreError> {
    serde_json::from_str(get_s(item, "json")?).map_err(|e| invalid("silence", e))
}

/// The whole incident item. Written with PutItem (never UpdateItem), so
/// attributes that no longer apply (`next_action_at`, `due_pk`, `closed_at`)
/// disappear — which is what takes a closed incident out of the `due` index.
pub(super) fn incident_item(inc: &StoredIncident) -> Result<Item, StoreError> {
    let open = !inc.phase.is_closed();
    let mut item = Item::new();
    item.insert("id".into(), s(&inc.id));
    item.insert("group_key".into(), s(&inc.group_key));
    item.insert("phase".into(), s(inc.phase.as_str()));
    item.insert("is_open".into(), AttributeValue::Bool(open));
    item.insert("opened_at".into(), n(ms(inc.opened_at)));
    if let Some(c) = inc.closed_at {
        item.insert("closed_at".into(), n(ms(c)));
    }
    // `next_action_at` holds the incident's wake time: its next escalation
    // step or the check whether it resolved, whichever comes first.
    if let Some(at) = inc.wake_at() {
        item.insert("next_action_at".into(), n(ms_ceil(at)));
        if open {
            item.insert("due_pk".into(), s(DUE_PK_OPEN));
        }
    }
    item.insert("version".into(), n(inc.version as i64));
    item.insert(
        "json".into(),
        s(ringdown_engine::record::encode_incident(inc)?),
    );
    Ok(item)
}

pub(super) fn silence_item(sil: &Silence) -> Result<Item, StoreError> {
    let mut item = Item::new();
    item.insert("id".into(), s(&sil.id));
    item.insert("matchers".into(), s(encode("matchers", &sil.matchers)?));
    item.insert("starts_at".into(), n(sil.starts_at));
    item.insert("ends_at".into(), n(sil.ends_at));
    item.insert(
        "ttl".into(),
        n(sil.ends_at.saturating_add(SILENCE_RETENTION_SECS)),
    );
    item.insert("created_by".into(), s(&sil.created_by));
    item.insert("reason".into(), s(&sil.reason));
    item.insert("json".into(), s(encode("silence", sil)?));
    Ok(item)
}

pub(super) fn contact_item(row: &ContactRow) -> Result<Item, StoreError> {
    let mut item = Item::new();
    item.insert("contact_id".into(), s(&row.contact_id));
    item.insert("call_id".into(), s(&row.call_id));
    item.insert("incident_id".into(), s(&row.incident_id));
    item.insert("person".into(), s(&row.person));
    item.insert("phone_masked".into(), s(&row.phone_masked));
    item.insert("placed_at".into(), n(ms(row.placed_at)));
    if let Some(e) = row.ended_at {
        item.insert("ended_at".into(), n(ms(e)));
    }
    if let Some(o) = &row.outcome {
        item.insert("outcome".into(), s(encode("outcome", o)?));
    }
    if let Some(r) = &row.disconnect_reason {
        item.insert("disconnect_reason".into(), s(r));
    }
    item.insert("json".into(), s(encode("contact", row)?));
    Ok(item)
}

/// Whether a conditional write lost its condition.
pub(super) fn is_ccf<E>(e: &SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    e.as_service_error()
        .and_then(|se| se.code())
        .is_some_and(|c| c == "ConditionalCheckFailedException")
}
