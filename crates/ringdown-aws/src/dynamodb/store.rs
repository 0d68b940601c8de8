//! [`DynamoStore`] as the engine's [`Store`].

use super::codec::*;
use super::*;

/// The DynamoDB [`Store`] and [`LeaseStore`].
#[derive(Debug, Clone)]
pub struct DynamoStore {
    pub(super) client: Client,
    pub(super) tables: TableNames,
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
    async fn save_refused(&self, incident: &StoredIncident) -> StoreError {
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

pub(super) enum TransactFailure {
    /// A condition (or a concurrent transaction) cancelled it; one reason per
    /// item, in order (empty when the service sent none).
    Cancelled(Vec<CancellationReason>),
    Other(AwsError),
}

pub(super) fn reason_is_condition(reasons: &[CancellationReason], i: usize) -> bool {
    reasons
        .get(i)
        .and_then(|r| r.code())
        .is_some_and(|c| c == "ConditionalCheckFailed")
}

/// Short pause with jitter before retrying a lost race, so two replicas do
/// not retry in lockstep.
pub(super) async fn race_pause(attempt: u32) {
    use rand::Rng;
    let base = 5u64 << attempt.min(5);
    let jitter = rand::thread_rng().gen_range(0..=base);
    tokio::time::sleep(Duration::from_millis(base + jitter)).await;
}

pub(super) const RACE_ATTEMPTS: u32 = 8;

pub(super) fn gave_up(what: String) -> StoreError {
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
    ) -> Result<Option<StoredIncident>, StoreError> {
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
    async fn create_incident(&self, incident: &StoredIncident) -> Result<Created, StoreError> {
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

    async fn load_incident(&self, id: &str) -> Result<Option<StoredIncident>, StoreError> {
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
    async fn save_incident(&self, incident: &StoredIncident) -> Result<u64, StoreError> {
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
    async fn list_incidents(
        &self,
        filter: &IncidentFilter,
    ) -> Result<Vec<StoredIncident>, StoreError> {
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
    async fn next_turn(&self, policy: &str) -> Result<u64, StoreError> {
        count_request(SERVICE, "UpdateItem");
        let out = self
            .client
            .update_item()
            .table_name(&self.tables.leases)
            .key("name", s(format!("{TURN_PREFIX}{policy}")))
            .update_expression("ADD #n :one")
            .expression_attribute_names("#n", "next")
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|e| store_err(sdk("UpdateItem", e)))?;
        let attrs = out.attributes.unwrap_or_default();
        let next = get_n(&attrs, "next")?;
        Ok(u64::try_from(next - 1).unwrap_or(0))
    }

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
        ContactRow::sort_oldest_first(&mut out);
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
        ContactRow::sort_oldest_first(&mut out);
        Ok(out)
    }
}
