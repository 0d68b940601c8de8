//! Named leases with a checkpoint: how replicas split the Kinesis shards (and
//! any other work that must have exactly one owner at a time). A port like
//! [`crate::Store`]: implemented on DynamoDB (`ringdown-aws`, the `leases`
//! table) and in memory here for tests and a single process.

use async_trait::async_trait;

use crate::ports::StoreError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub name: String,
    pub owner: String,
    /// Epoch milliseconds until which `owner` holds it.
    pub lease_until_ms: i64,
    /// Last position processed (e.g. a Kinesis sequence number).
    pub checkpoint: Option<String>,
}

#[async_trait]
pub trait LeaseStore: Send + Sync + 'static {
    /// Takes the lease if it is free, expired, or already ours; returns it
    /// (with its checkpoint) or `None` when another owner holds it.
    async fn try_acquire(
        &self,
        name: &str,
        owner: &str,
        now_ms: i64,
        ttl_ms: i64,
    ) -> Result<Option<Lease>, StoreError>;
    /// Extends our lease; false when we lost it.
    async fn renew(
        &self,
        name: &str,
        owner: &str,
        now_ms: i64,
        ttl_ms: i64,
    ) -> Result<bool, StoreError>;
    /// Records progress, only while we own the lease; false when we lost it.
    async fn checkpoint(
        &self,
        name: &str,
        owner: &str,
        checkpoint: &str,
    ) -> Result<bool, StoreError>;
    /// Gives the lease up (graceful shutdown) so another replica takes over at once.
    async fn release(&self, name: &str, owner: &str) -> Result<(), StoreError>;
    /// Every lease whose name starts with `prefix`.
    async fn list(&self, prefix: &str) -> Result<Vec<Lease>, StoreError>;
}

/// In-memory leases for unit tests and a single process.
#[derive(Default)]
pub struct MemoryLeases {
    inner: std::sync::Mutex<std::collections::BTreeMap<String, Lease>>,
}

#[async_trait]
impl LeaseStore for MemoryLeases {
    async fn try_acquire(
        &self,
        name: &str,
        owner: &str,
        now_ms: i64,
        ttl_ms: i64,
    ) -> Result<Option<Lease>, StoreError> {
        let mut m = self.inner.lock().expect("leases");
        let entry = m.entry(name.to_string()).or_insert_with(|| Lease {
            name: name.to_string(),
            owner: String::new(),
            lease_until_ms: 0,
            checkpoint: None,
        });
        if entry.owner == owner || entry.owner.is_empty() || entry.lease_until_ms <= now_ms {
            entry.owner = owner.to_string();
            entry.lease_until_ms = now_ms + ttl_ms;
            Ok(Some(entry.clone()))
        } else {
            Ok(None)
        }
    }

    async fn renew(
        &self,
        name: &str,
        owner: &str,
        now_ms: i64,
        ttl_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut m = self.inner.lock().expect("leases");
        match m.get_mut(name) {
            Some(l) if l.owner == owner => {
                l.lease_until_ms = now_ms + ttl_ms;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn checkpoint(
        &self,
        name: &str,
        owner: &str,
        checkpoint: &str,
    ) -> Result<bool, StoreError> {
        let mut m = self.inner.lock().expect("leases");
        match m.get_mut(name) {
            Some(l) if l.owner == owner => {
                l.checkpoint = Some(checkpoint.to_string());
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn release(&self, name: &str, owner: &str) -> Result<(), StoreError> {
        let mut m = self.inner.lock().expect("leases");
        if let Some(l) = m.get_mut(name) {
            if l.owner == owner {
                l.owner.clear();
                l.lease_until_ms = 0;
            }
        }
        Ok(())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<Lease>, StoreError> {
        let m = self.inner.lock().expect("leases");
        Ok(m.values()
            .filter(|l| l.name.starts_with(prefix))
            .cloned()
            .collect())
    }
}
