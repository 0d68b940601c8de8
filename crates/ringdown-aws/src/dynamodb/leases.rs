//! [`DynamoStore`] as the engine's [`LeaseStore`]: the shard leases of the
//! contact-record readers, one conditional write each.

use super::codec::*;
use super::*;

pub(super) fn lease_from_item(item: &Item) -> Result<Lease, AwsError> {
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

/// Leases are single conditional UpdateItems: the condition is the lease
/// rule, so two replicas can never both believe they hold one.
impl DynamoStore {
    /// Sets attributes of lease `name`, only while `owner` holds it; false
    /// when the lease is someone else's now.
    async fn set_if_owner(
        &self,
        name: &str,
        owner: &str,
        values: &[(&str, AttributeValue)],
    ) -> Result<bool, AwsError> {
        count_request(SERVICE, "UpdateItem");
        let sets: Vec<String> = (0..values.len())
            .map(|i| format!("#a{i} = :v{i}"))
            .collect();
        let mut req = self
            .client
            .update_item()
            .table_name(&self.tables.leases)
            .key("name", s(name))
            .update_expression(format!("SET {}", sets.join(", ")))
            .condition_expression("#o = :me")
            .expression_attribute_names("#o", "owner")
            .expression_attribute_values(":me", s(owner));
        for (i, (attr, value)) in values.iter().enumerate() {
            req = req
                .expression_attribute_names(format!("#a{i}"), *attr)
                .expression_attribute_values(format!(":v{i}"), value.clone());
        }
        match req.send().await {
            Ok(_) => Ok(true),
            Err(e) if is_ccf(&e) => Ok(false),
            Err(e) => Err(sdk("UpdateItem", e)),
        }
    }

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
        let until = n(now_ms.saturating_add(ttl_ms));
        self.set_if_owner(name, owner, &[("lease_until_ms", until)])
            .await
    }

    async fn lease_checkpoint(
        &self,
        name: &str,
        owner: &str,
        checkpoint: &str,
    ) -> Result<bool, AwsError> {
        self.set_if_owner(name, owner, &[("checkpoint", s(checkpoint))])
            .await
    }

    /// Gives the lease up; one someone else holds already is left alone.
    async fn lease_release(&self, name: &str, owner: &str) -> Result<(), AwsError> {
        let free = [("owner", s("")), ("lease_until_ms", n(0))];
        self.set_if_owner(name, owner, &free).await.map(|_| ())
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
