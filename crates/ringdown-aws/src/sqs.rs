//! [`SqsSource`]: drains the alert queue into the engine's [`Ingest`].
//!
//! The delivery contract (DESIGN.md, "Data flow" step 1):
//!
//! - Long polling, batches of up to 10, several pollers.
//! - Every parsed alert of a batch goes to **one** `ingest` call, so a storm
//!   costs one incident write per group per batch, not one per alert.
//! - A message is deleted only after `ingest` returned Ok (its effects are
//!   durable). On an ingest error nothing is deleted: the messages reappear
//!   after the visibility timeout and the poller backs off.
//! - When a batch cannot be recorded, its messages are tried one by one: the
//!   ones recorded are deleted, one the store refuses for good goes to the
//!   dead-letter queue with the reason (`ingest_refused`), and only when none
//!   can be recorded does the poller treat the store as down.
//! - A message that can never be parsed is copied to the dead-letter queue
//!   with the reason attached (`ringdown_reason`, `ringdown_error`,
//!   `ringdown_source_message_id` message attributes), then deleted. It
//!   never blocks or crashes a poller. The queue's own redrive policy stays
//!   the backstop for anything else that keeps failing.
//! - A batch worked on for longer than half the visibility timeout gets its
//!   visibility extended, so a slow store does not cause duplicate work.
//! - Shutdown stops receiving, finishes the batch in hand, and returns.
//!
//! Queue lag: SQS's `ApproximateAgeOfOldestMessage` is a CloudWatch metric,
//! not a queue attribute (and moto has no CloudWatch metrics for SQS), so
//! `ringdown_queue_lag_seconds` is computed from the `SentTimestamp` of the
//! messages as they are received: the age of the oldest message of the
//! latest batch. The periodic `GetQueueAttributes` report sets it to 0 when
//! the queue is empty, and publishes `ringdown_queue_messages{state}`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, Message,
    MessageAttributeValue, MessageSystemAttributeName, QueueAttributeName,
};
use aws_sdk_sqs::Client;
use ringdown_core::parse::{parse, ParseError};
use ringdown_engine::{Ingest, IngestError, StoreError};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub use crate::settings::SqsSettings;
use tracing::{debug, error, info, warn};

use crate::clients::count_request;
use crate::AwsError;

const SERVICE: &str = "sqs";

/// SQS's own cap on messages per receive and per batch call.
const SQS_BATCH_MAX: usize = 10;

/// SQS allows 10 message attributes per message; 3 are ringdown's reasons.
const DLQ_ORIGINAL_ATTRIBUTES_MAX: usize = 7;

/// The SQS alert source. Cheap to clone (the client is shared).
#[derive(Debug, Clone)]
pub struct SqsSource {
    client: Client,
    queue_url: String,
    dlq_url: Option<String>,
    settings: SqsSettings,
    /// Ingest failed (the store is away): every poller stops receiving
    /// until `Ingest::ready` answers. Messages received meanwhile would only
    /// climb towards the queue's maxReceiveCount and the DLQ.
    store_down: Arc<std::sync::atomic::AtomicBool>,
}

impl SqsSource {
    /// `dlq_url`: where unparseable messages go. Without one they are left
    /// on the queue (logged at every receive) for its redrive policy to move.
    pub fn new(
        client: Client,
        queue_url: impl Into<String>,
        dlq_url: Option<String>,
        settings: SqsSettings,
    ) -> SqsSource {
        SqsSource {
            client,
            queue_url: queue_url.into(),
            dlq_url,
            settings,
            store_down: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        }
    }

    /// Runs the pollers (and the queue-depth reporter) until `shutdown` is
    /// cancelled; returns once every in-flight batch is finished.
    pub async fn run(&self, ingest: Arc<dyn Ingest>, shutdown: CancellationToken) {
        let mut tasks = JoinSet::new();
        let pollers = self.settings.pollers.max(1);
        info!(queue = %self.queue_url, pollers, "sqs source started");
        for n in 0..pollers {
            let me = self.clone();
            let ingest = ingest.clone();
            let shutdown = shutdown.clone();
            tasks.spawn(async move { me.poll_loop(n, ingest, shutdown).await });
        }
        {
            let me = self.clone();
            let shutdown = shutdown.clone();
            tasks.spawn(async move { me.report_loop(shutdown).await });
        }
        while let Some(r) = tasks.join_next().await {
            if let Err(e) = r {
                error!(error = %e, "sqs poller task failed");
            }
        }
        info!(queue = %self.queue_url, "sqs source stopped");
    }

    async fn poll_loop(&self, n: usize, ingest: Arc<dyn Ingest>, shutdown: CancellationToken) {
        let mut backoff = Backoff::new(self.settings.error_backoff_max_secs);
        while !shutdown.is_cancelled() {
            if self.store_down.load(std::sync::atomic::Ordering::SeqCst) {
                let ready = tokio::select! {
                    _ = shutdown.cancelled() => break,
                    r = ingest.ready() => r,
                };
                match ready {
                    Ok(()) => {
                        if self
                            .store_down
                            .swap(false, std::sync::atomic::Ordering::SeqCst)
                        {
                            info!(poller = n, "the store answers again: receiving alerts");
                            metrics::gauge!("ringdown_sqs_receiving_paused").set(0.0);
                        }
                        backoff.reset();
                    }
                    Err(e) => {
                        let pause = backoff.next();
                        warn!(poller = n, error = %e, retry_in_ms = pause.as_millis() as u64, "the store is unavailable: not receiving alerts (they wait on the queue)");
                        tokio::select! {
                            _ = shutdown.cancelled() => break,
                            _ = tokio::time::sleep(pause) => {}
                        }
                        continue;
                    }
                }
            }
            // Dropping a receive in flight is safe: anything it had taken
            // becomes visible again after the visibility timeout.
            let received = tokio::select! {
                _ = shutdown.cancelled() => break,
                r = self.receive() => r,
            };
            let ok = match received {
                Err(e) => {
                    warn!(poller = n, error = %e, retryable = e.is_retryable(), "sqs receive failed");
                    false
                }
                Ok(msgs) if msgs.is_empty() => true,
                Ok(msgs) => self.handle_batch(ingest.as_ref(), &msgs).await,
            };
            if ok {
                backoff.reset();
            } else {
                let pause = backoff.next();
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(pause) => {}
                }
            }
        }
        debug!(poller = n, "sqs poller stopped");
    }

    async fn receive(&self) -> Result<Vec<Message>, AwsError> {
        count_request(SERVICE, "ReceiveMessage");
        let max = self.settings.max_messages.clamp(1, SQS_BATCH_MAX as u32);
        let out = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(max as i32)
            .wait_time_seconds(self.settings.wait_time_secs.min(20) as i32)
            .visibility_timeout(self.settings.visibility_timeout_secs as i32)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
            .customize()
            .config_override(long_poll(&self.client, self.settings.wait_time_secs))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(SERVICE, "ReceiveMessage", e))?;
        let msgs = out.messages.unwrap_or_default();
        metrics::counter!("ringdown_sqs_messages_received_total").increment(msgs.len() as u64);
        Ok(msgs)
    }

    /// Works on one batch, extending its visibility while that takes long.
    /// False when the batch must be retried later (ingest failed).
    async fn handle_batch(&self, ingest: &dyn Ingest, msgs: &[Message]) -> bool {
        let half = Duration::from_millis(
            (u64::from(self.settings.visibility_timeout_secs) * 1000 / 2).max(500),
        );
        let work = self.process(ingest, msgs);
        tokio::pin!(work);
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + half, half);
        loop {
            tokio::select! {
                ok = &mut work => return ok,
                _ = tick.tick() => self.extend_visibility(msgs).await,
            }
        }
    }

    async fn process(&self, ingest: &dyn Ingest, msgs: &[Message]) -> bool {
        let now_ms = chrono::Utc::now().timestamp_millis();
        let mut oldest_ms: Option<i64> = None;
        let mut alerts = Vec::new();
        let mut parsed: Vec<&Message> = Vec::with_capacity(msgs.len());
        for m in msgs {
            if let Some(sent) = system_attr(m, MessageSystemAttributeName::SentTimestamp)
                .and_then(|v| v.parse::<i64>().ok())
            {
                oldest_ms = Some(oldest_ms.map_or(sent, |o| o.min(sent)));
            }
            match parse(m.body().unwrap_or_default().as_bytes()) {
                Ok(mut a) => {
                    alerts.append(&mut a);
                    parsed.push(m);
                }
                Err(e) => self.dead_letter(m, &e).await,
            }
        }
        if let Some(sent) = oldest_ms {
            let lag = (now_ms - sent).max(0) as f64 / 1000.0;
            metrics::gauge!("ringdown_queue_lag_seconds").set(lag);
        }
        if !alerts.is_empty() {
            let count = alerts.len();
            match ingest.ingest(alerts).await {
                Ok(report) => {
                    metrics::counter!("ringdown_alerts_ingested_total").increment(count as u64);
                    debug!(
                        messages = parsed.len(),
                        alerts = count,
                        incidents = report.incident_ids().len(),
                        "sqs batch ingested"
                    );
                }
                Err(e) if parsed.len() > 1 => {
                    warn!(
                        messages = parsed.len(),
                        error = %e,
                        "batch could not be recorded; recording its messages one by one"
                    );
                    return self.one_by_one(ingest, &parsed).await;
                }
                Err(e) => {
                    let receives = parsed
                        .iter()
                        .filter_map(|m| {
                            system_attr(m, MessageSystemAttributeName::ApproximateReceiveCount)
                        })
                        .filter_map(|v| v.parse::<u32>().ok())
                        .max()
                        .unwrap_or(1);
                    warn!(
                        messages = parsed.len(),
                        alerts = count,
                        receive_count = receives,
                        error = %e,
                        "ingest failed; messages stay on the queue and come back after the visibility timeout"
                    );
                    self.pause_receiving();
                    return false;
                }
            }
        }
        self.delete_batch(&parsed).await;
        true
    }

    /// The store failed: count it, and stop receiving until `Ingest::ready`.
    fn pause_receiving(&self) {
        metrics::counter!("ringdown_ingest_failures_total").increment(1);
        if !self
            .store_down
            .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            metrics::gauge!("ringdown_sqs_receiving_paused").set(1.0);
        }
    }

    /// After a batch failed: each message alone, so one the store refuses
    /// does not hold back (and at last dead-letter) the others. Those
    /// recorded are deleted. When none could be, the store is the problem:
    /// receiving pauses, as for a single message. When some could, a
    /// message refused for good (not a retryable error) goes to the DLQ
    /// with the reason; the others come back after the visibility timeout.
    async fn one_by_one(&self, ingest: &dyn Ingest, parsed: &[&Message]) -> bool {
        let mut recorded: Vec<&Message> = Vec::new();
        let mut failed: Vec<(&Message, IngestError)> = Vec::new();
        for m in parsed {
            // Parsed once already: parsing is deterministic, and this path rare.
            let alerts = parse(m.body().unwrap_or_default().as_bytes()).unwrap_or_default();
            let count = alerts.len();
            match ingest.ingest(alerts).await {
                Ok(_) => {
                    metrics::counter!("ringdown_alerts_ingested_total").increment(count as u64);
                    recorded.push(m);
                }
                Err(e) => failed.push((m, e)),
            }
        }
        self.delete_batch(&recorded).await;
        if recorded.is_empty() {
            warn!(
                messages = parsed.len(),
                "no message of the batch could be recorded; they stay on the queue and receiving pauses until the store answers"
            );
            self.pause_receiving();
            return false;
        }
        for (m, e) in failed {
            metrics::counter!("ringdown_ingest_failures_total").increment(1);
            if ingest_retryable(&e) {
                warn!(message_id = m.message_id().unwrap_or("?"), error = %e, "message could not be recorded; it comes back after the visibility timeout");
            } else {
                self.move_to_dlq(
                    m,
                    "ingest_refused",
                    &e.to_string(),
                    "message the store refuses for good",
                )
                .await;
            }
        }
        true
    }

    /// Copies an unparseable message to the DLQ with the reason, then
    /// deletes it. If the copy fails the message stays (it will be retried,
    /// and the redrive policy moves it eventually): never dropped silently.
    async fn dead_letter(&self, m: &Message, err: &ParseError) {
        let reason = err.reason_code();
        metrics::counter!("ringdown_messages_unparseable_total", "reason" => reason).increment(1);
        self.move_to_dlq(m, reason, &err.to_string(), "unparseable message")
            .await;
    }

    /// Copies `m` to the DLQ with `reason` and `error` attached, then
    /// deletes it; `what` names the case in the log.
    async fn move_to_dlq(&self, m: &Message, reason: &'static str, err: &str, what: &str) {
        let id = m.message_id().unwrap_or("?");
        let Some(dlq) = &self.dlq_url else {
            error!(message_id = id, reason, error = %err, "{what} and no dead-letter queue configured; left on the queue for its redrive policy");
            return;
        };
        let mut attrs: HashMap<String, MessageAttributeValue> = m
            .message_attributes()
            .map(|a| {
                a.iter()
                    .filter(|(k, _)| !k.starts_with("ringdown_"))
                    .take(DLQ_ORIGINAL_ATTRIBUTES_MAX)
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default();
        for (k, v) in [
            ("ringdown_reason", reason.to_string()),
            ("ringdown_error", truncate_chars(err, 256)),
            ("ringdown_source_message_id", id.to_string()),
        ] {
            if let Ok(v) = string_attr(v) {
                attrs.insert(k.to_string(), v);
            }
        }
        count_request(SERVICE, "SendMessage");
        let sent = self
            .client
            .send_message()
            .queue_url(dlq)
            .message_body(m.body().unwrap_or_default())
            .set_message_attributes(Some(attrs))
            .send()
            .await;
        if let Err(e) = sent {
            let e = AwsError::from_sdk(SERVICE, "SendMessage", e);
            error!(message_id = id, reason, error = %e, "could not copy {what} to the dead-letter queue; it stays on the queue");
            return;
        }
        warn!(message_id = id, reason, error = %err, "{what} moved to the dead-letter queue");
        metrics::counter!("ringdown_messages_dead_lettered_total", "reason" => reason).increment(1);
        if let Some(handle) = m.receipt_handle() {
            count_request(SERVICE, "DeleteMessage");
            if let Err(e) = self
                .client
                .delete_message()
                .queue_url(&self.queue_url)
                .receipt_handle(handle)
                .send()
                .await
            {
                let e = AwsError::from_sdk(SERVICE, "DeleteMessage", e);
                warn!(message_id = id, error = %e, "could not delete dead-lettered message; it may be dead-lettered twice");
            }
        }
    }

    async fn delete_batch(&self, msgs: &[&Message]) {
        delete_messages(&self.client, &self.queue_url, msgs).await;
    }

    async fn extend_visibility(&self, msgs: &[Message]) {
        for chunk in msgs.chunks(SQS_BATCH_MAX) {
            let entries: Vec<ChangeMessageVisibilityBatchRequestEntry> = chunk
                .iter()
                .enumerate()
                .filter_map(|(i, m)| {
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(m.receipt_handle()?)
                        .visibility_timeout(self.settings.visibility_timeout_secs as i32)
                        .build()
                        .ok()
                })
                .collect();
            if entries.is_empty() {
                continue;
            }
            count_request(SERVICE, "ChangeMessageVisibilityBatch");
            match self
                .client
                .change_message_visibility_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
            {
                Ok(out) => {
                    debug!(
                        extended = out.successful().len(),
                        failed = out.failed().len(),
                        "sqs visibility extended"
                    );
                }
                Err(e) => {
                    let e = AwsError::from_sdk(SERVICE, "ChangeMessageVisibilityBatch", e);
                    warn!(error = %e, "could not extend visibility; messages may be delivered twice");
                }
            }
        }
    }

    async fn report_loop(&self, shutdown: CancellationToken) {
        let every = Duration::from_secs(self.settings.lag_report_interval_secs.max(1));
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            match self.queue_depth().await {
                Ok((visible, in_flight)) => {
                    metrics::gauge!("ringdown_queue_messages", "state" => "visible")
                        .set(visible as f64);
                    metrics::gauge!("ringdown_queue_messages", "state" => "in_flight")
                        .set(in_flight as f64);
                    if visible == 0 {
                        metrics::gauge!("ringdown_queue_lag_seconds").set(0.0);
                    }
                }
                Err(e) => debug!(error = %e, "could not read queue depth"),
            }
        }
    }

    /// (visible, in flight) message counts, approximate as SQS reports them.
    pub async fn queue_depth(&self) -> Result<(u64, u64), AwsError> {
        count_request(SERVICE, "GetQueueAttributes");
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(&self.queue_url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(SERVICE, "GetQueueAttributes", e))?;
        let get = |k: QueueAttributeName| {
            out.attributes()
                .and_then(|a| a.get(&k))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        Ok((
            get(QueueAttributeName::ApproximateNumberOfMessages),
            get(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        ))
    }
}

/// Deletes `msgs` from `queue_url` in batches of 10. A failed delete is
/// logged: the message comes back after its visibility timeout.
async fn delete_messages(client: &Client, queue_url: &str, msgs: &[&Message]) {
    for chunk in msgs.chunks(SQS_BATCH_MAX) {
        let entries: Vec<DeleteMessageBatchRequestEntry> = chunk
            .iter()
            .enumerate()
            .filter_map(|(i, m)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(m.receipt_handle()?)
                    .build()
                    .ok()
            })
            .collect();
        if entries.is_empty() {
            continue;
        }
        count_request(SERVICE, "DeleteMessageBatch");
        match client
            .delete_message_batch()
            .queue_url(queue_url)
            .set_entries(Some(entries))
            .send()
            .await
        {
            Ok(out) => {
                for f in out.failed() {
                    warn!(entry = f.id(), code = f.code(), message = ?f.message(), "sqs delete failed; the message will be delivered again");
                }
            }
            Err(e) => {
                let e = AwsError::from_sdk(SERVICE, "DeleteMessageBatch", e);
                warn!(error = %e, messages = chunk.len(), "sqs batch delete failed; the messages will be delivered again");
            }
        }
    }
}

/// A long poll waits up to `wait_secs` for the first message: its time
/// limits are the client's with that wait added (a poll is not a hang).
fn long_poll(client: &Client, wait_secs: u32) -> aws_sdk_sqs::config::Builder {
    let wait = Duration::from_secs(u64::from(wait_secs.min(20)));
    let base = client
        .config()
        .timeout_config()
        .cloned()
        .unwrap_or_else(|| aws_sdk_sqs::config::timeout::TimeoutConfig::builder().build());
    let add = |d: Option<Duration>| d.map(|d| d + wait);
    let mut t = aws_sdk_sqs::config::timeout::TimeoutConfig::builder();
    if let Some(c) = base.connect_timeout() {
        t = t.connect_timeout(c);
    }
    if let Some(d) = add(base.read_timeout()) {
        t = t.read_timeout(d);
    }
    if let Some(d) = add(base.operation_attempt_timeout()) {
        t = t.operation_attempt_timeout(d);
    }
    if let Some(d) = add(base.operation_timeout()) {
        t = t.operation_timeout(d);
    }
    aws_sdk_sqs::config::Builder::default().timeout_config(t.build())
}

/// The URL of queue `name` (GetQueueUrl).
pub async fn queue_url(client: &Client, name: &str) -> Result<String, AwsError> {
    count_request(SERVICE, "GetQueueUrl");
    let out = client
        .get_queue_url()
        .queue_name(name)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(SERVICE, "GetQueueUrl", e))?;
    out.queue_url
        .ok_or_else(|| AwsError::InvalidData(format!("GetQueueUrl {name} returned no URL")))
}

/// `given` when the operator set it, else the URL of the queue named `name`
/// (as `ringdown aws bootstrap` made it).
pub async fn queue_url_or(
    client: &Client,
    given: Option<&str>,
    name: &str,
) -> Result<String, AwsError> {
    match given {
        Some(u) => Ok(u.to_string()),
        None => queue_url(client, name).await,
    }
}

/// A queue of notices (Amazon Connect's contact events, through an
/// EventBridge rule): long-polled bodies, deleted once handled.
#[derive(Debug, Clone)]
pub struct NoticeQueue {
    client: Client,
    queue_url: String,
}

/// One received notice.
#[derive(Debug, Clone)]
pub struct Notice {
    pub body: String,
    message: Message,
}

impl NoticeQueue {
    pub fn new(client: Client, queue_url: impl Into<String>) -> NoticeQueue {
        NoticeQueue {
            client,
            queue_url: queue_url.into(),
        }
    }

    pub fn url(&self) -> &str {
        &self.queue_url
    }

    /// Up to 10 notices, waiting up to `wait_secs` (long polling) for the
    /// first; each stays invisible to other readers for `visibility_secs`.
    pub async fn receive(
        &self,
        wait_secs: u32,
        visibility_secs: u32,
    ) -> Result<Vec<Notice>, AwsError> {
        count_request(SERVICE, "ReceiveMessage");
        let out = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(SQS_BATCH_MAX as i32)
            .wait_time_seconds(wait_secs.min(20) as i32)
            .visibility_timeout(visibility_secs as i32)
            .customize()
            .config_override(long_poll(&self.client, wait_secs))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(SERVICE, "ReceiveMessage", e))?;
        Ok(out
            .messages
            .unwrap_or_default()
            .into_iter()
            .map(|m| Notice {
                body: m.body().unwrap_or_default().to_string(),
                message: m,
            })
            .collect())
    }

    /// Deletes handled notices.
    pub async fn delete(&self, notices: &[&Notice]) {
        let msgs: Vec<&Message> = notices.iter().map(|n| &n.message).collect();
        delete_messages(&self.client, &self.queue_url, &msgs).await;
    }
}

/// Whether recording the message again may succeed.
fn ingest_retryable(e: &IngestError) -> bool {
    match e {
        IngestError::Store(StoreError::Backend { retryable, .. }) => *retryable,
        IngestError::Store(StoreError::Undecodable { .. }) => false,
        IngestError::Store(_) | IngestError::NoRoster | IngestError::Contended(_) => true,
    }
}

fn system_attr(m: &Message, k: MessageSystemAttributeName) -> Option<&str> {
    m.attributes().and_then(|a| a.get(&k)).map(String::as_str)
}

fn string_attr(v: String) -> Result<MessageAttributeValue, aws_sdk_sqs::error::BuildError> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(v)
        .build()
}

fn truncate_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => s[..i].to_string(),
        None => s.to_string(),
    }
}

/// Doubling pause with jitter, from 200 ms up to a cap.
struct Backoff {
    next_ms: u64,
    max_ms: u64,
}

impl Backoff {
    fn new(max_secs: u64) -> Backoff {
        Backoff {
            next_ms: 200,
            max_ms: (max_secs * 1000).max(200),
        }
    }

    fn reset(&mut self) {
        self.next_ms = 200;
    }

    fn next(&mut self) -> Duration {
        use rand::Rng;
        let base = self.next_ms;
        self.next_ms = (self.next_ms * 2).min(self.max_ms);
        let jitter = rand::thread_rng().gen_range(0..=base / 2);
        Duration::from_millis(base / 2 + jitter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_is_by_character() {
        assert_eq!(truncate_chars("abc", 2), "ab");
        assert_eq!(truncate_chars("日本語", 2), "日本");
        assert_eq!(truncate_chars("ab", 5), "ab");
    }

    #[test]
    fn backoff_grows_to_its_cap() {
        let mut b = Backoff::new(1);
        let pauses: Vec<_> = (0..6).map(|_| b.next()).collect();
        assert!(pauses.iter().all(|p| *p <= Duration::from_millis(1000)));
        assert!(pauses[5] >= Duration::from_millis(500));
        b.reset();
        assert!(b.next() <= Duration::from_millis(200));
    }
}
