//! Contact-record (CTR) reader: Amazon Connect's Kinesis stream → outcome
//! reports for the engine.
//!
//! Several replicas may run: shards are split between them with leases
//! (`ctr-shard/{stream}/{shard_id}` in the [`LeaseStore`]), each replica
//! announcing itself with a heartbeat lease (`ctr-worker/{stream}/{owner}`) so
//! everyone knows its fair share (⌈open shards / live readers⌉): a reader
//! holding more than that gives the extra leases up, a reader holding less
//! takes free or expired ones. A replica that dies stops renewing; its leases
//! expire after `lease_ttl_secs` and are taken over, reading on from the
//! checkpoint (the last sequence number whose reports were handed to the
//! engine), so no processed record is read again by the new owner.
//!
//! The stream is at-least-once and may be shared with a contact centre:
//! records without ringdown's `rd_incident`/`rd_call` attributes are counted
//! and skipped, and a record for a contact already seen with an equal or
//! later `LastUpdateTimestamp` is dropped (the engine ignores stale reports
//! too; deduplicating here keeps its log and metrics honest).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_kinesis::types::ShardIteratorType;
use chrono::{DateTime, Utc};
use ringdown_core::outcome::classify;
use ringdown_engine::OutcomeReport;
use serde_json::Value;
use tokio::sync::mpsc;
use tracing::{debug, error, info, warn};

use crate::connect::PendingCalls;
use crate::AwsError;
use ringdown_engine::{Lease, LeaseStore};

/// Checkpoint of a shard that was read to its end (closed by resharding).
pub const SHARD_END: &str = "SHARD_END";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CtrReaderSettings {
    /// The Kinesis stream Amazon Connect writes contact records to.
    pub stream_name: String,
    /// A lease not renewed for this long is free for another replica.
    pub lease_ttl_secs: u64,
    /// Pause between GetRecords rounds (Kinesis allows 5 reads/s per shard,
    /// shared by every consumer of the stream).
    pub poll_interval_ms: u64,
    /// This replica's unique name (host/task id); leases are held in it.
    pub owner: String,
    /// How often shards are re-listed, leases renewed and the split
    /// rebalanced. Clamped to a third of the lease TTL so leases never lapse.
    pub rebalance_interval_ms: u64,
    /// GetRecords `Limit`.
    pub max_records_per_call: i32,
    /// Contacts remembered for de-duplication (oldest forgotten first).
    /// Duplicates arrive within minutes, so this covers hours of calls.
    pub dedupe_capacity: usize,
}

impl Default for CtrReaderSettings {
    fn default() -> Self {
        CtrReaderSettings {
            stream_name: String::new(),
            lease_ttl_secs: 30,
            poll_interval_ms: 1000,
            owner: String::new(),
            rebalance_interval_ms: 10_000,
            max_records_per_call: 1000,
            dedupe_capacity: 50_000,
        }
    }
}

/// Counters since start, for tests and `ringdown status`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CtrStats {
    pub records: u64,
    pub reports: u64,
    pub foreign: u64,
    pub duplicates: u64,
    pub invalid: u64,
}

#[derive(Default)]
struct Counters {
    records: AtomicU64,
    reports: AtomicU64,
    foreign: AtomicU64,
    duplicates: AtomicU64,
    invalid: AtomicU64,
}

/// The fields of a contact record ringdown reads.
#[derive(Debug, Clone, PartialEq)]
pub struct Ctr {
    pub contact_id: String,
    pub last_update: Option<DateTime<Utc>>,
    pub disconnect_at: Option<DateTime<Utc>>,
    pub disconnect_reason: Option<String>,
    pub attributes: BTreeMap<String, String>,
}

impl Ctr {
    /// The outcome report, or `None` for a contact ringdown did not place.
    pub fn report(&self) -> Option<OutcomeReport> {
        let incident = self
            .attributes
            .get("rd_incident")
            .filter(|v| !v.is_empty())?;
        let call = self.attributes.get("rd_call").filter(|v| !v.is_empty())?;
        Some(OutcomeReport {
            applied: Default::default(),
            incident_id: incident.clone(),
            call_id: call.clone(),
            contact_id: self.contact_id.clone(),
            outcome: classify(&self.attributes, self.disconnect_reason.as_deref()),
            disconnect_reason: self.disconnect_reason.clone(),
            attributes: self.attributes.clone(),
            ended_at: self
                .disconnect_at
                .or(self.last_update)
                .unwrap_or_else(Utc::now),
        })
    }
}

fn timestamp(v: &Value) -> Option<DateTime<Utc>> {
    match v {
        Value::String(s) => DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.with_timezone(&Utc)),
        // Epoch seconds, as some exports write them.
        Value::Number(n) => n.as_f64().and_then(|f| {
            DateTime::<Utc>::from_timestamp((f.trunc()) as i64, (f.fract() * 1e9) as u32)
        }),
        _ => None,
    }
}

/// Parses one Kinesis record's data as a contact record (format `2017-03-10`).
pub fn parse_ctr(data: &[u8]) -> Result<Ctr, AwsError> {
    let v: Value = serde_json::from_slice(data)
        .map_err(|e| AwsError::InvalidData(format!("contact record is not JSON: {e}")))?;
    let contact_id = v["ContactId"]
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| AwsError::InvalidData("contact record without ContactId".into()))?
        .to_string();
    let attributes = match &v["Attributes"] {
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| {
                let s = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.clone(), s)
            })
            .collect(),
        _ => BTreeMap::new(),
    };
    Ok(Ctr {
        contact_id,
        last_update: timestamp(&v["LastUpdateTimestamp"]),
        disconnect_at: timestamp(&v["DisconnectTimestamp"]),
        disconnect_reason: v["DisconnectReason"]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        attributes,
    })
}

/// ContactId → highest LastUpdateTimestamp seen, bounded (FIFO eviction).
struct Dedupe {
    cap: usize,
    seen: HashMap<String, Option<DateTime<Utc>>>,
    order: VecDeque<String>,
}

impl Dedupe {
    fn new(cap: usize) -> Dedupe {
        Dedupe {
            cap: cap.max(1),
            seen: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// True when the record is new or newer than what was seen.
    fn admit(&mut self, contact_id: &str, ts: Option<DateTime<Utc>>) -> bool {
        if let Some(prev) = self.seen.get_mut(contact_id) {
            if ts > *prev {
                *prev = ts;
                return true;
            }
            return false;
        }
        self.seen.insert(contact_id.to_string(), ts);
        self.order.push_back(contact_id.to_string());
        while self.order.len() > self.cap {
            if let Some(old) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
        true
    }
}

struct ShardState {
    lease: String,
    /// Last sequence number handed to the engine (this owner's progress).
    position: Option<String>,
    iterator: Option<String>,
}

enum Poll {
    Continue,
    /// Read to its end: closed by resharding.
    Closed,
    /// Another replica holds the lease now.
    Lost,
}

/// Reads contact records and sends [`OutcomeReport`]s to the engine.
pub struct CtrReader {
    client: aws_sdk_kinesis::Client,
    leases: Arc<dyn LeaseStore>,
    settings: CtrReaderSettings,
    outcomes: mpsc::UnboundedSender<OutcomeReport>,
    pending: Arc<PendingCalls>,
    dedupe: Mutex<Dedupe>,
    counters: Counters,
    owned: Mutex<BTreeSet<String>>,
    /// Lease expiries are compared on this clock: another replica wrote
    /// them, so on AWS it is AWS's time (`service_time`), never this
    /// machine's own.
    clock: Arc<dyn ringdown_engine::Clock>,
}

impl CtrReader {
    pub fn new(
        client: aws_sdk_kinesis::Client,
        leases: Arc<dyn LeaseStore>,
        settings: CtrReaderSettings,
        outcomes: mpsc::UnboundedSender<OutcomeReport>,
        pending: Arc<PendingCalls>,
    ) -> CtrReader {
        let dedupe = Mutex::new(Dedupe::new(settings.dedupe_capacity));
        CtrReader {
            client,
            leases,
            settings,
            outcomes,
            pending,
            dedupe,
            counters: Counters::default(),
            owned: Mutex::new(BTreeSet::new()),
            clock: Arc::new(ringdown_engine::SystemClock),
        }
    }

    /// Compares lease expiries on `clock` (the daemon's, which keeps AWS's
    /// time) instead of this machine's clock.
    pub fn with_clock(mut self, clock: Arc<dyn ringdown_engine::Clock>) -> CtrReader {
        self.clock = clock;
        self
    }

    fn now_ms(&self) -> i64 {
        self.clock.now().timestamp_millis()
    }

    pub fn stats(&self) -> CtrStats {
        let c = &self.counters;
        CtrStats {
            records: c.records.load(Ordering::Relaxed),
            reports: c.reports.load(Ordering::Relaxed),
            foreign: c.foreign.load(Ordering::Relaxed),
            duplicates: c.duplicates.load(Ordering::Relaxed),
            invalid: c.invalid.load(Ordering::Relaxed),
        }
    }

    /// Shard ids this reader holds the lease of right now.
    pub fn owned_shards(&self) -> Vec<String> {
        self.owned.lock().expect("owned").iter().cloned().collect()
    }

    pub fn shard_lease_name(stream: &str, shard_id: &str) -> String {
        format!("ctr-shard/{stream}/{shard_id}")
    }

    fn shard_prefix(&self) -> String {
        format!("ctr-shard/{}/", self.settings.stream_name)
    }

    fn worker_prefix(&self) -> String {
        format!("ctr-worker/{}/", self.settings.stream_name)
    }

    fn ttl_ms(&self) -> i64 {
        (self.settings.lease_ttl_secs.max(1) * 1000) as i64
    }

    /// Handles one record. `Err` when the engine is gone; `Ok(Some(rx))`
    /// resolves once the engine made its outcome durable.
    fn handle(&self, data: &[u8]) -> Result<Option<tokio::sync::oneshot::Receiver<()>>, ()> {
        self.counters.records.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("ringdown_ctr_records_total").increment(1);
        let ctr = match parse_ctr(data) {
            Ok(c) => c,
            Err(e) => {
                self.counters.invalid.fetch_add(1, Ordering::Relaxed);
                metrics::counter!("ringdown_ctr_invalid_total").increment(1);
                warn!(error = %e, "unreadable contact record skipped");
                return Ok(None);
            }
        };
        let Some(report) = ctr.report() else {
            // The instance may also serve a contact centre: not ours.
            self.counters.foreign.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("ringdown_ctr_foreign_total").increment(1);
            debug!(contact = %ctr.contact_id, "contact record without rd_incident/rd_call ignored");
            return Ok(None);
        };
        let fresh = self
            .dedupe
            .lock()
            .expect("dedupe")
            .admit(&ctr.contact_id, ctr.last_update);
        if !fresh {
            self.counters.duplicates.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("ringdown_ctr_duplicates_total").increment(1);
            debug!(contact = %ctr.contact_id, "duplicate or older contact record dropped");
            return Ok(None);
        }
        if let Some(at) = ctr.disconnect_at {
            let lag = (Utc::now() - at).num_milliseconds().max(0) as f64 / 1000.0;
            metrics::histogram!("ringdown_ctr_lag_seconds").record(lag);
        }
        self.pending.mark_done(&report.contact_id);
        info!(
            contact = %report.contact_id, incident = %report.incident_id, call = %report.call_id,
            outcome = report.outcome.as_str(), "contact record"
        );
        let (applied, done) = ringdown_engine::Applied::new();
        if self
            .outcomes
            .send(OutcomeReport { applied, ..report })
            .is_err()
        {
            return Err(());
        }
        self.counters.reports.fetch_add(1, Ordering::Relaxed);
        Ok(Some(done))
    }

    async fn list_shards(&self) -> Result<Vec<String>, AwsError> {
        let mut out = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let req = match &next {
                // With a token the stream name must not be sent again.
                Some(t) => self.client.list_shards().next_token(t),
                None => self
                    .client
                    .list_shards()
                    .stream_name(&self.settings.stream_name),
            };
            let r = req
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("kinesis", "ListShards", e))?;
            out.extend(r.shards().iter().map(|s| s.shard_id().to_string()));
            match r.next_token() {
                Some(t) if !t.is_empty() => next = Some(t.to_string()),
                _ => return Ok(out),
            }
        }
    }

    /// Heartbeat, renewals, re-listing and the fair split.
    async fn rebalance(&self, shards: &mut BTreeMap<String, ShardState>) -> Result<(), AwsError> {
        let owner = &self.settings.owner;
        let ttl = self.ttl_ms();
        let now = self.now_ms();
        let me = format!("{}{owner}", self.worker_prefix());
        self.leases.try_acquire(&me, owner, now, ttl).await?;
        let ids: Vec<String> = shards.keys().cloned().collect();
        for id in ids {
            let lease = &shards[&id].lease;
            if !self.leases.renew(lease, owner, now, ttl).await? {
                warn!(shard = %id, "lost the shard lease to another reader");
                shards.remove(&id);
            }
        }
        let workers = self
            .leases
            .list(&self.worker_prefix())
            .await?
            .iter()
            .filter(|l| !l.owner.is_empty() && l.lease_until_ms > now)
            .count()
            .max(1);
        let listed = self.list_shards().await?;
        let leases: HashMap<String, Lease> = self
            .leases
            .list(&self.shard_prefix())
            .await?
            .into_iter()
            .map(|l| (l.name.clone(), l))
            .collect();
        let open: Vec<&String> = listed
            .iter()
            .filter(|id| {
                let name = Self::shard_lease_name(&self.settings.stream_name, id);
                leases.get(&name).and_then(|l| l.checkpoint.as_deref()) != Some(SHARD_END)
            })
            .collect();
        shards.retain(|id, _| open.contains(&id));
        let target = open.len().div_ceil(workers);
        while shards.len() > target {
            let Some(id) = shards.keys().next_back().cloned() else {
                break;
            };
            let st = shards.remove(&id).expect("present");
            info!(shard = %id, target, workers, "giving a shard lease up to balance readers");
            self.leases.release(&st.lease, owner).await?;
        }
        for id in open {
            if shards.len() >= target {
                break;
            }
            if shards.contains_key(id) {
                continue;
            }
            let name = Self::shard_lease_name(&self.settings.stream_name, id);
            if let Some(l) = leases.get(&name) {
                if !l.owner.is_empty() && &l.owner != owner && l.lease_until_ms > now {
                    continue; // held by a live reader
                }
            }
            if let Some(l) = self
                .leases
                .try_acquire(&name, owner, self.now_ms(), ttl)
                .await?
            {
                info!(shard = %id, checkpoint = l.checkpoint.as_deref().unwrap_or("TRIM_HORIZON"), "took a shard lease");
                shards.insert(
                    id.clone(),
                    ShardState {
                        lease: name,
                        position: l.checkpoint,
                        iterator: None,
                    },
                );
            }
        }
        Ok(())
    }

    async fn poll_shard(&self, shard_id: &str, st: &mut ShardState) -> Result<Poll, AwsError> {
        let iterator = match st.iterator.take() {
            Some(i) => i,
            None => {
                let mut req = self
                    .client
                    .get_shard_iterator()
                    .stream_name(&self.settings.stream_name)
                    .shard_id(shard_id);
                req = match &st.position {
                    Some(seq) => req
                        .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                        .starting_sequence_number(seq),
                    None => req.shard_iterator_type(ShardIteratorType::TrimHorizon),
                };
                let r = req
                    .send()
                    .await
                    .map_err(|e| AwsError::from_sdk("kinesis", "GetShardIterator", e))?;
                match r.shard_iterator() {
                    Some(i) => i.to_string(),
                    None => return Ok(Poll::Closed),
                }
            }
        };
        let r = match self
            .client
            .get_records()
            .shard_iterator(&iterator)
            .limit(self.settings.max_records_per_call.clamp(1, 10_000))
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) => {
                let e = AwsError::from_sdk("kinesis", "GetRecords", e);
                if e.code().is_some_and(|c| c.contains("ExpiredIterator")) {
                    // Recreated from our position on the next round.
                    return Ok(Poll::Continue);
                }
                st.iterator = Some(iterator);
                return Err(e);
            }
        };
        let records = r.records();
        let mut last = None;
        let mut pending = Vec::new();
        let gone = || AwsError::InvalidData("the engine's outcome receiver is gone".into());
        for rec in records {
            match self.handle(rec.data().as_ref()) {
                Ok(Some(done)) => pending.push(done),
                Ok(None) => {}
                Err(()) => return Err(gone()),
            }
            last = Some(rec.sequence_number().to_string());
        }
        // Only once every outcome of the batch is durable: a process that
        // dies before then reads the records again from the checkpoint.
        for done in pending {
            if done.await.is_err() {
                return Err(gone());
            }
        }
        if let Some(seq) = last {
            if !self
                .leases
                .checkpoint(&st.lease, &self.settings.owner, &seq)
                .await?
            {
                return Ok(Poll::Lost);
            }
            st.position = Some(seq);
        }
        match r.next_shard_iterator() {
            Some(next) => {
                st.iterator = Some(next.to_string());
                Ok(Poll::Continue)
            }
            None => {
                self.leases
                    .checkpoint(&st.lease, &self.settings.owner, SHARD_END)
                    .await?;
                Ok(Poll::Closed)
            }
        }
    }

    /// Reads until `shutdown` completes, then gives every lease up so another
    /// replica continues at once. Transient errors are logged and retried;
    /// it returns early only when the outcome receiver is gone.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) -> Result<(), AwsError> {
        tokio::pin!(shutdown);
        let poll = Duration::from_millis(self.settings.poll_interval_ms.max(10));
        let rebalance_every = Duration::from_millis(
            self.settings
                .rebalance_interval_ms
                .clamp(10, self.ttl_ms() as u64 / 3),
        );
        let mut shards: BTreeMap<String, ShardState> = BTreeMap::new();
        let mut last_rebalance: Option<tokio::time::Instant> = None;
        let mut result = Ok(());
        'outer: loop {
            if !matches!(last_rebalance, Some(t) if t.elapsed() < rebalance_every) {
                last_rebalance = Some(tokio::time::Instant::now());
                if let Err(e) = self.rebalance(&mut shards).await {
                    warn!(stream = %self.settings.stream_name, error = %e, "could not list shards or renew leases");
                }
                *self.owned.lock().expect("owned") = shards.keys().cloned().collect();
            }
            let ids: Vec<String> = shards.keys().cloned().collect();
            for id in ids {
                let st = shards.get_mut(&id).expect("present");
                match self.poll_shard(&id, st).await {
                    Ok(Poll::Continue) => {}
                    Ok(Poll::Closed) => {
                        info!(shard = %id, "shard read to its end");
                        if let Some(st) = shards.remove(&id) {
                            let _ = self.leases.release(&st.lease, &self.settings.owner).await;
                        }
                    }
                    Ok(Poll::Lost) => {
                        warn!(shard = %id, "shard lease lost while reading; another reader continues");
                        shards.remove(&id);
                    }
                    Err(AwsError::InvalidData(m)) => {
                        error!("{m}; CTR reader stopping");
                        result = Err(AwsError::InvalidData(m));
                        break 'outer;
                    }
                    Err(e) => {
                        warn!(shard = %id, error = %e, "reading contact records failed; retrying")
                    }
                }
            }
            *self.owned.lock().expect("owned") = shards.keys().cloned().collect();
            tokio::select! {
                _ = &mut shutdown => break,
                _ = tokio::time::sleep(poll) => {}
            }
        }
        for (id, st) in std::mem::take(&mut shards) {
            if let Err(e) = self.leases.release(&st.lease, &self.settings.owner).await {
                warn!(shard = %id, error = %e, "could not release the shard lease; it expires by itself");
            }
        }
        let me = format!("{}{}", self.worker_prefix(), self.settings.owner);
        let _ = self.leases.release(&me, &self.settings.owner).await;
        self.owned.lock().expect("owned").clear();
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(cid: &str, last: &str, attrs: Value) -> Vec<u8> {
        serde_json::json!({
            "ContactId": cid,
            "LastUpdateTimestamp": last,
            "DisconnectTimestamp": "2026-01-01T00:00:10Z",
            "DisconnectReason": "CONTACT_FLOW_DISCONNECT",
            "Attributes": attrs,
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn parse_and_classify() {
        let c = parse_ctr(&rec(
            "c1",
            "2026-01-01T00:00:10Z",
            serde_json::json!({"rd_incident": "i", "rd_call": "k", "rd_human": "1", "rd_ack": "1"}),
        ))
        .unwrap();
        let r = c.report().unwrap();
        assert_eq!(r.outcome, ringdown_core::outcome::Outcome::Acknowledged);
        assert_eq!(r.ended_at.to_rfc3339(), "2026-01-01T00:00:10+00:00");
        let foreign = parse_ctr(&rec("c2", "2026-01-01T00:00:10Z", serde_json::json!({}))).unwrap();
        assert!(foreign.report().is_none());
        assert!(parse_ctr(b"not json").is_err());
    }

    #[test]
    fn dedupe_keeps_the_newest_and_is_bounded() {
        let t = |s: &str| Some(DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc));
        let mut d = Dedupe::new(2);
        assert!(d.admit("a", t("2026-01-01T00:00:10Z")));
        assert!(!d.admit("a", t("2026-01-01T00:00:10Z")));
        assert!(d.admit("a", t("2026-01-01T00:00:20Z")));
        assert!(!d.admit("a", t("2026-01-01T00:00:15Z")));
        assert!(d.admit("b", None));
        assert!(d.admit("c", None));
        assert!(d.admit("a", t("2026-01-01T00:00:05Z")), "a was forgotten");
    }
}
