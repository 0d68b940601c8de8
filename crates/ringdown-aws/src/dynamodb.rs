//! [`DynamoStore`]: the engine's [`Store`] and the shard [`LeaseStore`] on
//! DynamoDB, with the same semantics as the embedded SQLite store
//! (`ringdown-local/src/store.rs`) — the same scenario tests run against both.
//!
//! Tables (names `{prefix}{table}`, key schemas in [`table_specs`]):
//!
//! | table | key | notes |
//! |---|---|---|
//! | `roster` | `kind` = `"roster"`, `version` (N) | every version kept; the latest is one Query (descending, limit 1) |
//! | `silences` | `id` | `starts_at`/`ends_at` epoch s, `ttl` = `ends_at` + 7 days (DynamoDB TTL clean-up), the whole silence as `json` |
//! | `incidents` | `id` | `group_key`, `phase`, `is_open`, `opened_at`/`next_action_at` (epoch ms), `version` (optimistic lock), the whole incident as `json` |
//! | `groups` | `group_key` | `incident_id` of the group's one open incident |
//! | `contacts` | `contact_id` | `incident_id`, `placed_at` (epoch ms), the row as `json` |
//! | `leases` | `name` | `owner`, `lease_until_ms`, `checkpoint` |
//!
//! Due incidents are found through the sparse index `due` on the incidents
//! table: only open incidents with a `next_action_at` carry its partition
//! key `due_pk = "open"`, so [`Store::due_incidents`] is one Query whose cost
//! grows with the number of due incidents, never with the table.
//!
//! One open incident per group across replicas is the `groups` table's
//! conditional put, written in the same transaction as the incident.
//!
//! Every read that a decision depends on is strongly consistent. Index
//! queries (`due`, `by_incident`) are eventually consistent by nature; the
//! engine reloads an incident (consistently) before acting on it, so a
//! stale index entry costs one read, never a wrong decision.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::scan::builders::ScanFluentBuilder;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, CancellationReason, Delete, Put, ReturnValue, TransactWriteItem,
};
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, SecondsFormat, Utc};
use ringdown_core::escalation::Incident;
use ringdown_core::silence::Silence;
use ringdown_engine::{ContactRow, Created, IncidentFilter, RosterDoc, Store, StoreError};
use serde::Serialize;

use crate::clients::count_request;
use crate::AwsError;
use ringdown_engine::{Lease, LeaseStore};

type Item = HashMap<String, AttributeValue>;

const SERVICE: &str = "dynamodb";

/// Sparse index of open incidents by `next_action_at`.
pub const DUE_INDEX: &str = "due";
/// Index of contacts by incident, in `placed_at` order.
pub const BY_INCIDENT_INDEX: &str = "by_incident";
/// The one `due_pk` value: every due-able incident shares one partition.
/// Fine at ringdown's scale (a handful of open incidents, even in a storm).
const DUE_PK_OPEN: &str = "open";
/// Name prefix of heartbeat items in the `leases` table.
pub const HEARTBEAT_PREFIX: &str = "heartbeat/";
/// Silences stay this long after they end (for reports), then DynamoDB's
/// TTL deletes them.
pub const SILENCE_RETENTION_SECS: i64 = 7 * 24 * 3600;

/// Attribute type of a key attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum AttrKind {
    /// String.
    S,
    /// Number.
    N,
}

/// One key attribute (name and type).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct KeyAttr {
    pub name: &'static str,
    pub kind: AttrKind,
}

/// What a global secondary index copies from the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Projection {
    KeysOnly,
    All,
}

/// A global secondary index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IndexSpec {
    pub name: &'static str,
    pub hash_key: KeyAttr,
    pub range_key: Option<KeyAttr>,
    pub projection: Projection,
}

/// A table as ringdown uses it: keys, indexes, TTL attribute. Billing is
/// always on-demand (PAY_PER_REQUEST): the load is bursty (storms) and tiny
/// otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableSpec {
    /// The full table name (prefix included).
    pub name: String,
    pub hash_key: KeyAttr,
    pub range_key: Option<KeyAttr>,
    pub indexes: Vec<IndexSpec>,
    /// Attribute DynamoDB TTL deletes expired items by (epoch seconds).
    pub ttl_attribute: Option<&'static str>,
}

const fn key(name: &'static str, kind: AttrKind) -> KeyAttr {
    KeyAttr { name, kind }
}

/// The DynamoDB tables of a deployment with table prefix `prefix`.
///
/// This is the single source of truth for table names, key schemas, indexes
/// and TTL: [`crate::bootstrap::bootstrap`] creates tables from it, the
/// infrastructure templates (`infra/`) must be generated from or checked
/// against it, and [`DynamoStore`] reads and writes exactly these keys.
pub fn table_specs(prefix: &str) -> Vec<TableSpec> {
    let t = TableNames::from_prefix(prefix);
    vec![
        TableSpec {
            name: t.roster,
            hash_key: key("kind", AttrKind::S),
            range_key: Some(key("version", AttrKind::N)),
            indexes: vec![],
            ttl_attribute: None,
        },
        TableSpec {
            name: t.silences,
            hash_key: key("id", AttrKind::S),
            range_key: None,
            indexes: vec![],
            ttl_attribute: Some("ttl"),
        },
        TableSpec {
            name: t.incidents,
            hash_key: key("id", AttrKind::S),
            range_key: None,
            indexes: vec![IndexSpec {
                name: DUE_INDEX,
                hash_key: key("due_pk", AttrKind::S),
                range_key: Some(key("next_action_at", AttrKind::N)),
                projection: Projection::KeysOnly,
            }],
            ttl_attribute: None,
        },
        TableSpec {
            name: t.groups,
            hash_key: key("group_key", AttrKind::S),
            range_key: None,
            indexes: vec![],
            ttl_attribute: None,
        },
        TableSpec {
            name: t.contacts,
            hash_key: key("contact_id", AttrKind::S),
            range_key: None,
            indexes: vec![IndexSpec {
                name: BY_INCIDENT_INDEX,
                hash_key: key("incident_id", AttrKind::S),
                range_key: Some(key("placed_at", AttrKind::N)),
                projection: Projection::All,
            }],
            ttl_attribute: None,
        },
        TableSpec {
            name: t.leases,
            hash_key: key("name", AttrKind::S),
            range_key: None,
            indexes: vec![],
            ttl_attribute: None,
        },
    ]
}

/// Full table names for a prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableNames {
    pub roster: String,
    pub silences: String,
    pub incidents: String,
    pub groups: String,
    pub contacts: String,
    pub leases: String,
}

impl TableNames {
    pub fn from_prefix(prefix: &str) -> TableNames {
        let n = |t: &str| format!("{prefix}{t}");
        TableNames {
            roster: n("roster"),
            silences: n("silences"),
            incidents: n("incidents"),
            groups: n("groups"),
            contacts: n("contacts"),
            leases: n("leases"),
        }
    }
}

/// The DynamoDB [`Store`] and [`LeaseStore`].
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    tables: TableNames,
}

impl DynamoStore {
    pub fn new(client: Client, table_prefix: &str) -> DynamoStore {
        DynamoStore {
            client,
            tables: TableNames::from_prefix(table_prefix),
        }
    }

    pub fn from_conf(sdk: &SdkConfig, table_prefix: &str) -> DynamoStore {
        DynamoStore::new(Client::new(sdk), table_prefix)
    }

    /// Like [`Self::from_conf`], every answer's `Date` header feeding
    /// `time`: the daemon's clock on AWS (see [`crate::service_time`]).
    pub fn from_conf_timed(
        sdk: &SdkConfig,
        table_prefix: &str,
        time: &std::sync::Arc<crate::service_time::ServiceTime>,
    ) -> DynamoStore {
        let conf = aws_sdk_dynamodb::config::Builder::from(sdk)
            .interceptor(time.probe())
            .build();
        DynamoStore::new(Client::from_conf(conf), table_prefix)
    }

    pub fn tables(&self) -> &TableNames {
        &self.tables
    }

    /// Sets one attribute of lease `name`, only while `owner` holds it;
    /// false when the lease is someone else's now.
    async fn set_if_owner(
        &self,
        name: &str,
        owner: &str,
        attr: &str,
        value: AttributeValue,
    ) -> Result<bool, AwsError> {
        count_request(SERVICE, "UpdateItem");
        let r = self
            .client
            .update_item()
            .table_name(&self.tables.leases)
            .key("name", s(name))
            .update_expression("SET #a = :v")
            .condition_expression("#o = :me")
            .expression_attribute_names("#o", "owner")
            .expression_attribute_names("#a", attr)
            .expression_attribute_values(":me", s(owner))
            .expression_attribute_values(":v", value)
            .send()
            .await;
        match r {
            Ok(_) => Ok(true),
            Err(e) if is_ccf(&e) => Ok(false),
            Err(e) => Err(sdk("UpdateItem", e)),
        }
    }

    async fn get_item(&self, table: &str, k: &str, v: &str) -> Result<Option<Item>, AwsError> {
        count_request(SERVICE, "GetItem");
        let out = self
            .client
            .get_item()
            .table_name(table)
            .key(k, s(v))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk("GetItem", e))?;
        Ok(out.item)
    }

    /// An unconditional PutItem (replaces any item with the same key).
    async fn put_item(&self, table: &str, item: Item) -> Result<(), StoreError> {
        count_request(SERVICE, "PutItem");
        self.client
            .put_item()
            .table_name(table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| store_err(sdk("PutItem", e)))?;
        Ok(())
    }

    /// A paginated Scan, each item decoded by `decode` (`None` skips it),
    /// in the order the pages come.
    async fn scan<T>(
        &self,
        req: ScanFluentBuilder,
        mut decode: impl FnMut(&Item) -> Result<Option<T>, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let mut pages = req.into_paginator().send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            count_request(SERVICE, "Scan");
            let page = page.map_err(|e| store_err(sdk("Scan", e)))?;
            for item in page.items() {
                out.extend(decode(item)?);
            }
        }
        Ok(out)
    }

    async fn group_pointer(&self, group_key: &str) -> Result<Option<String>, StoreError> {
        let item = self
            .get_item(&self.tables.groups, "group_key", group_key)
            .await
            .map_err(store_err)?;
        item.map(|i| get_s(&i, "incident_id").map(str::to_string))
            .transpose()
    }

    /// Writes the incident item if the stored version is `expected`.
    async fn put_incident_if(&self, item: Item, expected: u64) -> Result<bool, StoreError> {
        count_request(SERVICE, "PutItem");
        let r = self
            .client
            .put_item()
            .table_name(&self.tables.incidents)
            .set_item(Some(item))
            .condition_expression("#v = :expected")
            .expression_attribute_names("#v", "version")
            .expression_attribute_values(":expected", n(expected as i64))
            .send()
            .await;
        match r {
            Ok(_) => Ok(true),
            Err(e) if is_ccf(&e) => Ok(false),
            Err(e) => Err(store_err(sdk("PutItem", e))),
        }
    }

    /// Why a conditional incident write failed: gone, or someone else's version.
    async fn save_refused(&self, incident: &Incident) -> StoreError {
        match self
            .get_item(&self.tables.incidents, "id", &incident.id)
            .await
        {
            Ok(None) => StoreError::NotFound(format!("incident {}", incident.id)),
            Ok(Some(item)) => {
                let stored = get_n(&item, "version").unwrap_or(-1);
                StoreError::Conflict(format!(
                    "incident {} (stored version {stored}, written from version {})",
                    incident.id, incident.version
                ))
            }
            Err(e) => store_err(e),
        }
    }

    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<(), TransactFailure> {
        count_request(SERVICE, "TransactWriteItems");
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(se))
                if matches!(
                    se.err(),
                    TransactWriteItemsError::TransactionCanceledException(_)
                ) =>
            {
                let reasons = match se.into_err() {
                    TransactWriteItemsError::TransactionCanceledException(c) => {
                        c.cancellation_reasons.unwrap_or_default()
                    }
                    _ => vec![],
                };
                Err(TransactFailure::Cancelled(reasons))
            }
            Err(e) => Err(TransactFailure::Other(sdk("TransactWriteItems", e))),
        }
    }

    async fn query_due_page(
        &self,
        now_ms: i64,
        page: i32,
        start: Option<Item>,
    ) -> Result<(Vec<(i64, String)>, Option<Item>), StoreError> {
        count_request(SERVICE, "Query");
        let out = self
            .client
            .query()
            .table_name(&self.tables.incidents)
            .index_name(DUE_INDEX)
            .key_condition_expression("#pk = :open AND #at <= :now")
            .expression_attribute_names("#pk", "due_pk")
            .expression_attribute_names("#at", "next_action_at")
            .expression_attribute_values(":open", s(DUE_PK_OPEN))
            .expression_attribute_values(":now", n(now_ms))
            .scan_index_forward(true)
            .limit(page)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| store_err(sdk("Query", e)))?;
        let mut rows = Vec::with_capacity(out.items().len());
        for item in out.items() {
            rows.push((
                get_n(item, "next_action_at")?,
                get_s(item, "id")?.to_string(),
            ));
        }
        Ok((rows, out.last_evaluated_key))
    }
}

enum TransactFailure {
    /// A condition (or a concurrent transaction) cancelled it; one reason per
    /// item, in order (empty when the service sent none).
    Cancelled(Vec<CancellationReason>),
    Other(AwsError),
}

fn reason_is_condition(reasons: &[CancellationReason], i: usize) -> bool {
    reasons
        .get(i)
        .and_then(|r| r.code())
        .is_some_and(|c| c == "ConditionalCheckFailed")
}

fn sdk<E, R>(op: &'static str, e: SdkError<E, R>) -> AwsError
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    AwsError::from_sdk(SERVICE, op, e)
}

/// A lost conditional write is a conflict; everything else a backend error
/// with the crate's one retry classifier.
fn store_err(e: AwsError) -> StoreError {
    match e {
        AwsError::ConditionFailed { .. } => StoreError::Conflict(e.to_string()),
        _ => StoreError::Backend {
            retryable: e.is_retryable(),
            message: e.to_string(),
            source: Some(std::sync::Arc::new(e)),
        },
    }
}

fn invalid(what: &str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Backend {
        message: format!("dynamodb: stored {what} is unreadable: {detail}"),
        retryable: false,
        source: None,
    }
}

fn build_err(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Backend {
        message: format!("dynamodb: cannot build request: {e}"),
        retryable: false,
        source: None,
    }
}

fn encode<T: Serialize>(what: &str, v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Backend {
        message: format!("cannot encode {what}: {e}"),
        retryable: false,
        source: None,
    })
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn get_s<'a>(item: &'a Item, k: &str) -> Result<&'a str, StoreError> {
    match item.get(k) {
        Some(AttributeValue::S(v)) => Ok(v),
        other => Err(invalid(k, format!("expected a string, found {other:?}"))),
    }
}

fn get_n(item: &Item, k: &str) -> Result<i64, StoreError> {
    match item.get(k) {
        Some(AttributeValue::N(v)) => v
            .parse()
            .map_err(|e| invalid(k, format!("{v:?} is not an integer: {e}"))),
        other => Err(invalid(k, format!("expected a number, found {other:?}"))),
    }
}

/// Epoch milliseconds, rounded down.
fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// Epoch milliseconds, rounded up: an incident is never reported due before
/// its exact time (at most 1 ms late). Same rule as the SQLite store.
fn ms_ceil(t: DateTime<Utc>) -> i64 {
    let m = t.timestamp_millis();
    if DateTime::from_timestamp_millis(m) == Some(t) {
        m
    } else {
        m + 1
    }
}

fn decode_incident(item: &Item) -> Result<Incident, StoreError> {
    ringdown_engine::record::decode_incident(get_s(item, "json")?)
}

fn decode_contact(item: &Item) -> Result<ContactRow, StoreError> {
    serde_json::from_str(get_s(item, "json")?).map_err(|e| invalid("contact", e))
}

fn decode_silence(item: &Item) -> Result<Silence, StoreError> {
    serde_json::from_str(get_s(item, "json")?).map_err(|e| invalid("silence", e))
}

/// The whole incident item. Written with PutItem (never UpdateItem), so
/// attributes that no longer apply (`next_action_at`, `due_pk`, `closed_at`)
/// disappear — which is what takes a closed incident out of the `due` index.
fn incident_item(inc: &Incident) -> Result<Item, StoreError> {
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

fn silence_item(sil: &Silence) -> Result<Item, StoreError> {
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

fn contact_item(row: &ContactRow) -> Result<Item, StoreError> {
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

fn sort_contacts(rows: &mut [ContactRow]) {
    rows.sort_by(|a, b| {
        a.placed_at
            .cmp(&b.placed_at)
            .then_with(|| a.contact_id.cmp(&b.contact_id))
    });
}

/// Short pause with jitter before retrying a lost race, so two replicas do
/// not retry in lockstep.
async fn race_pause(attempt: u32) {
    use rand::Rng;
    let base = 5u64 << attempt.min(5);
    let jitter = rand::thread_rng().gen_range(0..=base);
    tokio::time::sleep(Duration::from_millis(base + jitter)).await;
}

const RACE_ATTEMPTS: u32 = 8;

fn gave_up(what: String) -> StoreError {
    StoreError::Backend {
        message: format!("dynamodb: {what} kept changing concurrently; gave up"),
        retryable: true,
        source: None,
    }
}

#[async_trait]
impl Store for DynamoStore {
    async fn load_roster(&self) -> Result<Option<RosterDoc>, StoreError> {
        count_request(SERVICE, "Query");
        let out = self
            .client
            .query()
            .table_name(&self.tables.roster)
            .key_condition_expression("#k = :roster")
            .expression_attribute_names("#k", "kind")
            .expression_attribute_values(":roster", s("roster"))
            .scan_index_forward(false)
            .limit(1)
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_err(sdk("Query", e)))?;
        let Some(item) = out.items().first() else {
            return Ok(None);
        };
        let applied = get_s(item, "applied_at")?;
        let applied_at = DateTime::parse_from_rfc3339(applied)
            .map_err(|e| invalid("roster time", format!("{applied:?}: {e}")))?
            .with_timezone(&Utc);
        Ok(Some(RosterDoc {
            yaml: get_s(item, "yaml")?.to_string(),
            version: get_n(item, "version")? as u64,
            applied_at,
        }))
    }

    /// Next version = latest + 1, written only if nobody wrote that version
    /// first (two operators applying at once both get a version, in order).
    async fn save_roster(&self, yaml: &str, now: DateTime<Utc>) -> Result<RosterDoc, StoreError> {
        for attempt in 0..RACE_ATTEMPTS {
            let latest = self.load_roster().await?.map_or(0, |d| d.version);
            let version = latest + 1;
            count_request(SERVICE, "PutItem");
            let r = self
                .client
                .put_item()
                .table_name(&self.tables.roster)
                .item("kind", s("roster"))
                .item("version", n(version as i64))
                .item("yaml", s(yaml))
                .item(
                    "applied_at",
                    s(now.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
                )
                .condition_expression("attribute_not_exists(#v)")
                .expression_attribute_names("#v", "version")
                .send()
                .await;
            match r {
                Ok(_) => {
                    return Ok(RosterDoc {
                        yaml: yaml.to_string(),
                        version,
                        applied_at: now,
                    })
                }
                Err(e) if is_ccf(&e) => race_pause(attempt).await,
                Err(e) => return Err(store_err(sdk("PutItem", e))),
            }
        }
        Err(gave_up("roster version".into()))
    }

    /// A Scan: silences are few (tens), and the engine caches them and
    /// refreshes every few seconds.
    async fn silences(&self, now: DateTime<Utc>) -> Result<Vec<Silence>, StoreError> {
        let req = self
            .client
            .scan()
            .table_name(&self.tables.silences)
            .filter_expression("#e > :now")
            .expression_attribute_names("#e", "ends_at")
            .expression_attribute_values(":now", n(now.timestamp()))
            .consistent_read(true);
        let mut out = self
            .scan(req, |item| decode_silence(item).map(Some))
            .await?;
        out.sort_by(|a: &Silence, b: &Silence| {
            a.starts_at.cmp(&b.starts_at).then_with(|| a.id.cmp(&b.id))
        });
        Ok(out)
    }

    async fn put_silence(&self, silence: &Silence) -> Result<(), StoreError> {
        self.put_item(&self.tables.silences, silence_item(silence)?)
            .await
    }

    /// Read, modify, write back only if nobody changed it meanwhile.
    async fn expire_silence(&self, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        for attempt in 0..RACE_ATTEMPTS {
            let Some(item) = self
                .get_item(&self.tables.silences, "id", id)
                .await
                .map_err(store_err)?
            else {
                return Ok(false);
            };
            let old_json = get_s(&item, "json")?.to_string();
            let mut silence = decode_silence(&item)?;
            let now = now.timestamp();
            if silence.ends_at <= now {
                return Ok(true);
            }
            silence.ends_at = now;
            silence.starts_at = silence.starts_at.min(now);
            count_request(SERVICE, "PutItem");
            let r = self
                .client
                .put_item()
                .table_name(&self.tables.silences)
                .set_item(Some(silence_item(&silence)?))
                .condition_expression("#j = :old")
                .expression_attribute_names("#j", "json")
                .expression_attribute_values(":old", s(old_json))
                .send()
                .await;
            match r {
                Ok(_) => return Ok(true),
                Err(e) if is_ccf(&e) => race_pause(attempt).await,
                Err(e) => return Err(store_err(sdk("PutItem", e))),
            }
        }
        Err(gave_up(format!("silence {id}")))
    }

    async fn open_incident_for_group(
        &self,
        group_key: &str,
    ) -> Result<Option<Incident>, StoreError> {
        let Some(id) = self.group_pointer(group_key).await? else {
            return Ok(None);
        };
        Ok(self
            .load_incident(&id)
            .await?
            .filter(|i| !i.phase.is_closed()))
    }

    /// One transaction: the group pointer (only if the group has none) and
    /// the incident (only if the id is new). When the group is taken, the
    /// holder is returned — unless it is closed (a pointer a crash left
    /// behind), which is removed before trying again.
    async fn create_incident(&self, incident: &Incident) -> Result<Created, StoreError> {
        let mut stored = incident.clone();
        stored.version = 1;
        let item = incident_item(&stored)?;
        let exists = || StoreError::Conflict(format!("incident {} already exists", stored.id));
        let put_incident = Put::builder()
            .table_name(&self.tables.incidents)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#id)")
            .expression_attribute_names("#id", "id")
            .build()
            .map_err(build_err)?;
        if stored.phase.is_closed() {
            // A closed incident holds no group.
            return match self
                .transact(vec![TransactWriteItem::builder().put(put_incident).build()])
                .await
            {
                Ok(()) => Ok(Created::Created(stored)),
                Err(TransactFailure::Cancelled(_)) => Err(exists()),
                Err(TransactFailure::Other(e)) => Err(store_err(e)),
            };
        }
        let put_group = Put::builder()
            .table_name(&self.tables.groups)
            .item("group_key", s(&stored.group_key))
            .item("incident_id", s(&stored.id))
            .condition_expression("attribute_not_exists(#g)")
            .expression_attribute_names("#g", "group_key")
            .build()
            .map_err(build_err)?;
        for attempt in 0..RACE_ATTEMPTS {
            let items = vec![
                TransactWriteItem::builder().put(put_group.clone()).build(),
                TransactWriteItem::builder()
                    .put(put_incident.clone())
                    .build(),
            ];
            match self.transact(items).await {
                Ok(()) => return Ok(Created::Created(stored)),
                Err(TransactFailure::Other(e)) => return Err(store_err(e)),
                Err(TransactFailure::Cancelled(_)) => {}
            }
            // Whatever the reasons say, the group's state decides (as in the
            // SQLite store: an open holder wins over a duplicate id).
            match self.group_pointer(&stored.group_key).await? {
                Some(holder_id) => match self.load_incident(&holder_id).await? {
                    Some(holder) if !holder.phase.is_closed() => {
                        return Ok(Created::Exists(holder))
                    }
                    _ => {
                        // Stale pointer: remove it, only if it still is this one.
                        count_request(SERVICE, "DeleteItem");
                        let r = self
                            .client
                            .delete_item()
                            .table_name(&self.tables.groups)
                            .key("group_key", s(&stored.group_key))
                            .condition_expression("#i = :stale")
                            .expression_attribute_names("#i", "incident_id")
                            .expression_attribute_values(":stale", s(&holder_id))
                            .send()
                            .await;
                        if let Err(e) = r {
                            if !is_ccf(&e) {
                                return Err(store_err(sdk("DeleteItem", e)));
                            }
                        }
                    }
                },
                None => {
                    if self.load_incident(&stored.id).await?.is_some() {
                        return Err(exists());
                    }
                    // A concurrent transaction on the same items: try again.
                    race_pause(attempt).await;
                }
            }
        }
        Err(gave_up(format!("group {}", stored.group_key)))
    }

    async fn load_incident(&self, id: &str) -> Result<Option<Incident>, StoreError> {
        let item = self
            .get_item(&self.tables.incidents, "id", id)
            .await
            .map_err(store_err)?;
        item.as_ref().map(decode_incident).transpose()
    }

    /// Conditional on the stored version. Closing also deletes the group
    /// pointer in the same transaction, if it still points here; when it does
    /// not (already freed, or a newer incident holds the group), the
    /// transaction is cancelled by that condition alone and the incident is
    /// written by itself — still conditional on its version.
    async fn save_incident(&self, incident: &Incident) -> Result<u64, StoreError> {
        let mut next = incident.clone();
        next.version = incident.version + 1;
        let item = incident_item(&next)?;
        if next.phase.is_closed() {
            let put = Put::builder()
                .table_name(&self.tables.incidents)
                .set_item(Some(item.clone()))
                .condition_expression("#v = :expected")
                .expression_attribute_names("#v", "version")
                .expression_attribute_values(":expected", n(incident.version as i64))
                .build()
                .map_err(build_err)?;
            let del = Delete::builder()
                .table_name(&self.tables.groups)
                .key("group_key", s(&next.group_key))
                .condition_expression("#i = :id")
                .expression_attribute_names("#i", "incident_id")
                .expression_attribute_values(":id", s(&next.id))
                .build()
                .map_err(build_err)?;
            let items = vec![
                TransactWriteItem::builder().put(put).build(),
                TransactWriteItem::builder().delete(del).build(),
            ];
            match self.transact(items).await {
                Ok(()) => return Ok(next.version),
                Err(TransactFailure::Other(e)) => return Err(store_err(e)),
                Err(TransactFailure::Cancelled(reasons)) => {
                    if reason_is_condition(&reasons, 0) {
                        return Err(self.save_refused(incident).await);
                    }
                    // The pointer is not ours (or the reasons are unknown):
                    // the version-conditional write alone decides.
                }
            }
        }
        if self.put_incident_if(item, incident.version).await? {
            Ok(next.version)
        } else {
            Err(self.save_refused(incident).await)
        }
    }

    /// One Query of the sparse `due` index. Items due in the same millisecond
    /// come back in no defined order, so reading continues past `limit`
    /// until the millisecond changes, then sorts by (time, id) exactly as the
    /// SQLite store does.
    async fn due_incidents(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        if limit == 0 {
            return Ok(vec![]);
        }
        let page = i32::try_from(limit.saturating_add(1)).unwrap_or(i32::MAX);
        let mut rows: Vec<(i64, String)> = Vec::new();
        let mut start = None;
        loop {
            let (mut got, next) = self.query_due_page(ms(now), page, start).await?;
            rows.append(&mut got);
            let complete = rows.len() > limit && rows[rows.len() - 1].0 > rows[limit - 1].0;
            match next {
                Some(k) if !complete => start = Some(k),
                _ => break,
            }
        }
        rows.sort();
        rows.truncate(limit);
        Ok(rows.into_iter().map(|(_, id)| id).collect())
    }

    /// A Scan of the incidents table: this is the operator's listing and
    /// report path (CLI, `ringdown incidents`), never the engine's hot path.
    async fn list_incidents(&self, filter: &IncidentFilter) -> Result<Vec<Incident>, StoreError> {
        let mut req = self
            .client
            .scan()
            .table_name(&self.tables.incidents)
            .consistent_read(true);
        let mut conds = Vec::new();
        if let Some(since) = filter.since {
            conds.push("#o >= :since");
            req = req
                .expression_attribute_names("#o", "opened_at")
                .expression_attribute_values(":since", n(ms(since)));
        }
        if let Some(phase) = filter.phase {
            conds.push("#p = :phase");
            req = req
                .expression_attribute_names("#p", "phase")
                .expression_attribute_values(":phase", s(phase.as_str()));
        }
        if !conds.is_empty() {
            req = req.filter_expression(conds.join(" AND "));
        }
        let mut out = self
            .scan(req, |item| {
                let inc = match decode_incident(item) {
                    Ok(inc) => inc,
                    Err(e @ StoreError::Undecodable { .. }) => {
                        // One unreadable record must not hide the others (nor
                        // stop a start-up): skip it, say so.
                        tracing::error!(error = %e, "skipping a stored incident this release cannot read");
                        metrics::counter!("ringdown_store_undecodable_total").increment(1);
                        return Ok(None);
                    }
                    Err(e) => return Err(e),
                };
                let kept = match filter.since {
                    Some(since) => inc.opened_at >= since,
                    None => true,
                };
                Ok(kept.then_some(inc))
            })
            .await?;
        out.sort_by(|a, b| b.opened_at.cmp(&a.opened_at).then_with(|| b.id.cmp(&a.id)));
        if let Some(limit) = filter.limit {
            out.truncate(limit);
        }
        Ok(out)
    }

    async fn record_contact(&self, row: &ContactRow) -> Result<(), StoreError> {
        self.put_item(&self.tables.contacts, contact_item(row)?)
            .await
    }

    /// Heartbeats live in the `leases` table as `heartbeat/{name}` items
    /// (one tiny item each; a table of their own would be one more resource
    /// to create and grant for a handful of rows). The condition keeps the
    /// latest time when replicas record beats out of order.
    async fn heartbeat_seen(&self, name: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        count_request(SERVICE, "UpdateItem");
        let r = self
            .client
            .update_item()
            .table_name(&self.tables.leases)
            .key("name", s(format!("{HEARTBEAT_PREFIX}{name}")))
            .update_expression("SET #l = :at")
            .condition_expression("attribute_not_exists(#l) OR #l < :at")
            .expression_attribute_names("#l", "last_seen_ms")
            .expression_attribute_values(":at", n(ms(at)))
            .send()
            .await;
        match r {
            Ok(_) => Ok(()),
            Err(e) if is_ccf(&e) => Ok(()),
            Err(e) => Err(store_err(sdk("UpdateItem", e))),
        }
    }

    async fn heartbeat_last_seen(&self, name: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        let item = self
            .get_item(
                &self.tables.leases,
                "name",
                &format!("{HEARTBEAT_PREFIX}{name}"),
            )
            .await
            .map_err(store_err)?;
        match item {
            Some(item) => Ok(DateTime::from_timestamp_millis(get_n(
                &item,
                "last_seen_ms",
            )?)),
            None => Ok(None),
        }
    }

    async fn contacts_for_incident(
        &self,
        incident_id: &str,
    ) -> Result<Vec<ContactRow>, StoreError> {
        let mut pages = self
            .client
            .query()
            .table_name(&self.tables.contacts)
            .index_name(BY_INCIDENT_INDEX)
            .key_condition_expression("#i = :id")
            .expression_attribute_names("#i", "incident_id")
            .expression_attribute_values(":id", s(incident_id))
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            count_request(SERVICE, "Query");
            let page = page.map_err(|e| store_err(sdk("Query", e)))?;
            for item in page.items() {
                out.push(decode_contact(item)?);
            }
        }
        sort_contacts(&mut out);
        Ok(out)
    }

    /// Contacts placed in `[from, to)`, oldest first. A filtered Scan: this
    /// is the report path (answer rates, `ringdown report`), run by an
    /// operator, not by the engine.
    async fn contacts_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<ContactRow>, StoreError> {
        let req = self
            .client
            .scan()
            .table_name(&self.tables.contacts)
            .filter_expression("#p BETWEEN :from AND :to")
            .expression_attribute_names("#p", "placed_at")
            .expression_attribute_values(":from", n(ms(from)))
            .expression_attribute_values(":to", n(ms(to)))
            .consistent_read(true);
        let mut out = self
            .scan(req, |item| {
                let row = decode_contact(item)?;
                Ok((row.placed_at >= from && row.placed_at < to).then_some(row))
            })
            .await?;
        sort_contacts(&mut out);
        Ok(out)
    }
}

fn lease_from_item(item: &Item) -> Result<Lease, AwsError> {
    let bad = |e: StoreError| AwsError::InvalidData(e.to_string());
    Ok(Lease {
        name: get_s(item, "name").map_err(bad)?.to_string(),
        owner: get_s(item, "owner").map_err(bad)?.to_string(),
        lease_until_ms: get_n(item, "lease_until_ms").map_err(bad)?,
        checkpoint: match item.get("checkpoint") {
            Some(AttributeValue::S(c)) => Some(c.clone()),
            _ => None,
        },
    })
}

/// Whether a conditional write lost its condition.
fn is_ccf<E>(e: &SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    e.as_service_error()
        .and_then(|se| se.code())
        .is_some_and(|c| c == "ConditionalCheckFailedException")
}

/// Leases are single conditional UpdateItems: the condition is the lease
/// rule, so two replicas can never both believe they hold one.
impl DynamoStore {
    async fn lease_try_acquire(
        &self,
        name: &str,
        owner: &str,
        now_ms: i64,
        ttl_ms: i64,
    ) -> Result<Option<Lease>, AwsError> {
        count_request(SERVICE, "UpdateItem");
        let r = self
            .client
            .update_item()
            .table_name(&self.tables.leases)
            .key("name", s(name))
            .update_expression("SET #o = :me, #u = :until")
            .condition_expression(
                "attribute_not_exists(#n) OR #o = :me OR #o = :nobody OR #u <= :now",
            )
            .expression_attribute_names("#n", "name")
            .expression_attribute_names("#o", "owner")
            .expression_attribute_names("#u", "lease_until_ms")
            .expression_attribute_values(":me", s(owner))
            .expression_attribute_values(":nobody", s(""))
            .expression_attribute_values(":now", n(now_ms))
            .expression_attribute_values(":until", n(now_ms.saturating_add(ttl_ms)))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match r {
            Ok(out) => lease_from_item(&out.attributes.unwrap_or_default()).map(Some),
            Err(e) if is_ccf(&e) => Ok(None),
            Err(e) => Err(sdk("UpdateItem", e)),
        }
    }

    async fn lease_renew(
        &self,
        name: &str,
        owner: &str,
        now_ms: i64,
        ttl_ms: i64,
    ) -> Result<bool, AwsError> {
        self.set_if_owner(
            name,
            owner,
            "lease_until_ms",
            n(now_ms.saturating_add(ttl_ms)),
        )
        .await
    }

    async fn lease_checkpoint(
        &self,
        name: &str,
        owner: &str,
        checkpoint: &str,
    ) -> Result<bool, AwsError> {
        self.set_if_owner(name, owner, "checkpoint", s(checkpoint))
            .await
    }

    async fn lease_release(&self, name: &str, owner: &str) -> Result<(), AwsError> {
        count_request(SERVICE, "UpdateItem");
        let r = self
            .client
            .update_item()
            .table_name(&self.tables.leases)
            .key("name", s(name))
            .update_expression("SET #o = :nobody, #u = :zero")
            .condition_expression("#o = :me")
            .expression_attribute_names("#o", "owner")
            .expression_attribute_names("#u", "lease_until_ms")
            .expression_attribute_values(":me", s(owner))
            .expression_attribute_values(":nobody", s(""))
            .expression_attribute_values(":zero", n(0))
            .send()
            .await;
        match r {
            Ok(_) => Ok(()),
            Err(e) if is_ccf(&e) => Ok(()),
            Err(e) => Err(sdk("UpdateItem", e)),
        }
    }

    /// A Scan: the leases table holds one item per Kinesis shard and a few
    /// heartbeats.
    async fn lease_list(&self, prefix: &str) -> Result<Vec<Lease>, AwsError> {
        let mut pages = self
            .client
            .scan()
            .table_name(&self.tables.leases)
            .filter_expression("begins_with(#n, :p)")
            .expression_attribute_names("#n", "name")
            .expression_attribute_values(":p", s(prefix))
            .consistent_read(true)
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            count_request(SERVICE, "Scan");
            let page = page.map_err(|e| sdk("Scan", e))?;
            for item in page.items() {
                out.push(lease_from_item(item)?);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }
}

#[async_trait]
impl LeaseStore for DynamoStore {
    async fn try_acquire(
        &self,
        name: &str,
        owner: &str,
        now_ms: i64,
        ttl_ms: i64,
    ) -> Result<Option<Lease>, StoreError> {
        self.lease_try_acquire(name, owner, now_ms, ttl_ms)
            .await
            .map_err(store_err)
    }

    async fn renew(
        &self,
        name: &str,
        owner: &str,
        now_ms: i64,
        ttl_ms: i64,
    ) -> Result<bool, StoreError> {
        self.lease_renew(name, owner, now_ms, ttl_ms)
            .await
            .map_err(store_err)
    }

    async fn checkpoint(
        &self,
        name: &str,
        owner: &str,
        checkpoint: &str,
    ) -> Result<bool, StoreError> {
        self.lease_checkpoint(name, owner, checkpoint)
            .await
            .map_err(store_err)
    }

    async fn release(&self, name: &str, owner: &str) -> Result<(), StoreError> {
        self.lease_release(name, owner).await.map_err(store_err)
    }

    async fn list(&self, prefix: &str) -> Result<Vec<Lease>, StoreError> {
        self.lease_list(prefix).await.map_err(store_err)
    }
}
