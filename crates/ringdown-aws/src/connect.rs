//! Amazon Connect dialer: `StartOutboundVoiceContact` behind the process-wide
//! token bucket, plus the late-record fallback (`DescribeContact` /
//! `GetContactAttributes`).
//!
//! Rate: every Connect API call of the process takes one token from the same
//! [`Bucket`] (the account's API quota, 2/s burst 5 by default). The *first*
//! `StartOutboundVoiceContact` of a call is already paid for by
//! `CallGate::admit` in the engine, which runs before [`Dialer::place`]; so
//! `place` takes a token only before each *retry*. Every other operation here
//! (`StopContact`, `DescribeContact`, `GetContactAttributes`) takes its own.
//! The SDK's own retries are disabled for the same reason: a hidden retry
//! would spend quota that nobody accounted for and turn into TooManyRequests
//! for everybody else in line.
//!
//! Idempotency: the `ClientToken` is the engine's deterministic call id, so a
//! retry, a re-issued decision or a crash-and-restart within Connect's 7-day
//! token window returns the same contact instead of ringing someone twice.
//!
//! Privacy: phone numbers appear only masked ([`mask`]) in logs and errors,
//! including numbers echoed back inside Amazon Connect's error messages.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_connect::config::retry::RetryConfig;
use aws_sdk_connect::error::{ProvideErrorMetadata, SdkError};
use chrono::{DateTime, Utc};
use rand::Rng;
use ringdown_core::escalation::CallRequest;
use ringdown_core::outcome::classify;
use ringdown_core::phone::{is_japanese_mobile, mask};
use ringdown_core::Language;
use ringdown_engine::gate::{take_token, take_token_ahead, Bucket};
use ringdown_engine::{CancellationToken, DialError, Dialer, OutcomeReport};
use tokio::sync::mpsc;
use tracing::{debug, error, info, warn};

use crate::AwsError;

/// Amazon Connect's limit on the size of all contact attributes together
/// (UTF-8 bytes of keys and values).
pub const MAX_ATTRIBUTES_BYTES: usize = 32 * 1024;
/// Amazon Connect's limit on `ClientToken` length.
pub const MAX_CLIENT_TOKEN_LEN: usize = 500;
/// `RingTimeoutInSeconds` must lie in this range.
pub const RING_TIMEOUT_RANGE: std::ops::RangeInclusive<u32> = 15..=60;

/// Where and how to place calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectSettings {
    /// Instance id (or ARN) of the Amazon Connect instance.
    pub instance_id: String,
    /// Contact flow for `ja-JP` calls (id or ARN).
    pub flow_id_ja: String,
    /// Contact flow for `en-US` calls (id or ARN).
    pub flow_id_en: String,
    /// Caller id (E.164, claimed by the instance). One of this or `queue_id`.
    pub source_phone_number: Option<String>,
    /// Outbound queue whose caller id is used, when no source number is given.
    pub queue_id: Option<String>,
    /// How long the phone rings before Connect gives up (15–60 s).
    pub ring_timeout_secs: u32,
    /// Retries of a throttled or failing `StartOutboundVoiceContact`; each
    /// one waits for a token of the shared bucket.
    pub max_retries: u32,
    /// First backoff; doubled per retry, full jitter.
    pub backoff_base_ms: u64,
    /// Upper bound of one backoff.
    pub backoff_max_ms: u64,
    /// After an answer that leaves it open whether the call was placed (a
    /// 5xx, a lost response), the first retries wait only this long: while
    /// the call rings the `ClientToken` returns it, and once it has ended
    /// the same token starts a second one. Telephone time: divided by the
    /// `time_scale` of a rehearsal.
    pub unsure_retry_ms: u64,
    /// How many such prompt retries before the usual backoff.
    pub unsure_prompt_retries: u32,
    /// Requests per second (and burst) of every other Connect operation
    /// ringdown calls (DescribeContact, SearchContacts, StopContact, …):
    /// each has a bucket of its own, as each has a quota of its own.
    pub lookup_rate_per_sec: u32,
    pub lookup_burst: u32,
}

impl Default for ConnectSettings {
    fn default() -> Self {
        ConnectSettings {
            instance_id: String::new(),
            flow_id_ja: String::new(),
            flow_id_en: String::new(),
            source_phone_number: None,
            queue_id: None,
            ring_timeout_secs: 60,
            max_retries: 5,
            backoff_base_ms: 500,
            backoff_max_ms: 20_000,
            unsure_retry_ms: 250,
            unsure_prompt_retries: 3,
            lookup_rate_per_sec: 2,
            lookup_burst: 4,
        }
    }
}

/// A configuration that cannot place any call; reported at start-up rather
/// than at 3 a.m. on the first alert.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectSettingsError {
    #[error("connect.instance_id is empty: set it to the Amazon Connect instance id (the last part of the instance ARN)")]
    NoInstance,
    #[error("connect: the contact flow id for {0} is empty: import contact-flows/ringdown-{0}.json and set its id")]
    NoFlow(&'static str),
    #[error(
        "connect: set source_phone_number (a number claimed by the instance, E.164) or queue_id"
    )]
    NoCallerId,
    #[error("connect.source_phone_number `{0}` is not E.164: {1}")]
    BadSource(String, String),
    #[error("connect.ring_timeout_secs is {0}; Amazon Connect accepts 15 to 60")]
    RingTimeout(u32),
}

impl ConnectSettings {
    pub fn validate(&self) -> Result<(), ConnectSettingsError> {
        if self.instance_id.trim().is_empty() {
            return Err(ConnectSettingsError::NoInstance);
        }
        if self.flow_id_ja.trim().is_empty() {
            return Err(ConnectSettingsError::NoFlow("ja-JP"));
        }
        if self.flow_id_en.trim().is_empty() {
            return Err(ConnectSettingsError::NoFlow("en-US"));
        }
        match (&self.source_phone_number, &self.queue_id) {
            (None, None) => return Err(ConnectSettingsError::NoCallerId),
            (Some(src), _) => {
                if let Err(e) = ringdown_core::phone::validate_e164(src) {
                    return Err(ConnectSettingsError::BadSource(mask(src), e));
                }
            }
            _ => {}
        }
        if !RING_TIMEOUT_RANGE.contains(&self.ring_timeout_secs) {
            return Err(ConnectSettingsError::RingTimeout(self.ring_timeout_secs));
        }
        Ok(())
    }

    fn flow_for(&self, lang: Language) -> &str {
        match lang {
            Language::JaJp => &self.flow_id_ja,
            Language::EnUs => &self.flow_id_en,
        }
    }
}

// ------------------------------------------------------------------ pending

/// A placed call whose outcome has not been seen yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingCall {
    pub incident_id: String,
    pub call_id: String,
    /// Wall-clock placement time, for logs and reports.
    pub placed_at: DateTime<Utc>,
    /// The same instant on tokio's clock, for ages (immune to wall-clock jumps).
    placed_instant: tokio::time::Instant,
}

/// Calls placed by this process and not yet reconciled, keyed by contact id.
///
/// Shared by the dialer (registers on a successful place), the CTR reader
/// (marks a call done when its contact record arrives) and [`run_fallback`]
/// (asks Connect directly about calls whose record is late). Entries leave on
/// a record, a fallback answer, or the fallback giving up, so the map stays as
/// small as the number of calls in flight.
#[derive(Debug, Default)]
pub struct PendingCalls {
    inner: Mutex<HashMap<String, PendingCall>>,
    clock: DaemonClock,
}

/// The clock a call's age is read on: the dialling time may come from
/// another replica, so on AWS it is AWS's time (`service_time`).
struct DaemonClock(Arc<dyn ringdown_engine::Clock>);

impl Default for DaemonClock {
    fn default() -> Self {
        DaemonClock(Arc::new(ringdown_engine::SystemClock))
    }
}

impl std::fmt::Debug for DaemonClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DaemonClock")
    }
}

impl PendingCalls {
    pub fn new() -> PendingCalls {
        PendingCalls::default()
    }

    /// Reads calls' ages on `clock` (the daemon's).
    pub fn with_clock(clock: Arc<dyn ringdown_engine::Clock>) -> PendingCalls {
        PendingCalls {
            clock: DaemonClock(clock),
            ..PendingCalls::default()
        }
    }

    /// Records a placed call. Re-registering the same contact (an idempotent
    /// re-place) keeps the original placement time.
    pub fn register(&self, contact_id: &str, incident_id: &str, call_id: &str) {
        self.register_placed_at(contact_id, incident_id, call_id, self.clock.0.now());
    }

    /// Records a call placed at `placed_at` (by this process or, found in
    /// flight after a restart or a takeover, by another): its age counts
    /// from then.
    pub fn register_placed_at(
        &self,
        contact_id: &str,
        incident_id: &str,
        call_id: &str,
        placed_at: DateTime<Utc>,
    ) {
        let now = self.clock.0.now();
        let ago = (now - placed_at).to_std().unwrap_or_default();
        let instant = tokio::time::Instant::now()
            .checked_sub(ago)
            .unwrap_or_else(tokio::time::Instant::now);
        let mut m = self.inner.lock().expect("pending lock");
        m.entry(contact_id.to_string())
            .or_insert_with(|| PendingCall {
                incident_id: incident_id.to_string(),
                call_id: call_id.to_string(),
                placed_at,
                placed_instant: instant,
            });
    }

    /// The call's outcome is known; returns the entry when it was pending.
    pub fn mark_done(&self, contact_id: &str) -> Option<PendingCall> {
        self.inner.lock().expect("pending lock").remove(contact_id)
    }

    pub fn get(&self, contact_id: &str) -> Option<PendingCall> {
        self.inner
            .lock()
            .expect("pending lock")
            .get(contact_id)
            .cloned()
    }

    pub fn contains(&self, contact_id: &str) -> bool {
        self.inner
            .lock()
            .expect("pending lock")
            .contains_key(contact_id)
    }

    pub fn len(&self) -> usize {
        self.inner.lock().expect("pending lock").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Pending calls placed at least `age` ago, with their age.
    pub fn older_than(&self, age: Duration) -> Vec<(String, PendingCall, Duration)> {
        let now = tokio::time::Instant::now();
        let m = self.inner.lock().expect("pending lock");
        let mut v: Vec<_> = m
            .iter()
            .filter_map(|(cid, p)| {
                let a = now.saturating_duration_since(p.placed_instant);
                (a >= age).then(|| (cid.clone(), p.clone(), a))
            })
            .collect();
        v.sort_by_key(|e| std::cmp::Reverse(e.2));
        v
    }
}

// ------------------------------------------------------------------ dialer

/// Amazon Connect's API quota is per operation ("For all other operations,
/// a RateLimit of 2 requests per second, and a BurstLimit of 5"): each
/// operation ringdown calls besides StartOutboundVoiceContact has a bucket
/// of its own here, so looking up outcomes never slows dialling down.
/// StartOutboundVoiceContact's bucket is the engine's gate's.
struct OpBuckets {
    dial: (Arc<Bucket>, tokio::sync::Mutex<()>),
    others: HashMap<&'static str, (Arc<Bucket>, tokio::sync::Mutex<()>)>,
}

/// The operations with buckets of their own.
const LOOKUP_OPS: &[&str] = &[
    "DescribeContact",
    "GetContactAttributes",
    "SearchContacts",
    "StopContact",
];

impl OpBuckets {
    fn new(dial: Arc<Bucket>, rate_per_sec: u32, burst: u32) -> OpBuckets {
        OpBuckets {
            dial: (dial, tokio::sync::Mutex::new(())),
            others: LOOKUP_OPS
                .iter()
                .map(|op| {
                    (
                        *op,
                        (
                            ringdown_engine::gate::bucket(rate_per_sec, burst),
                            tokio::sync::Mutex::new(()),
                        ),
                    )
                })
                .collect(),
        }
    }

    async fn take(&self, op: &str) {
        let (bucket, line) = self.others.get(op).unwrap_or(&self.dial);
        take_token(bucket, line).await;
    }

    async fn take_ahead(&self, op: &str) {
        let (bucket, _) = self.others.get(op).unwrap_or(&self.dial);
        take_token_ahead(bucket).await;
    }
}

/// [`Dialer`] on Amazon Connect.
pub struct ConnectDialer {
    client: aws_sdk_connect::Client,
    settings: ConnectSettings,
    buckets: OpBuckets,
    pending: Arc<PendingCalls>,
    /// SearchContacts refused `rd_call` (not configured as searchable): said
    /// once, loudly, then the look-up is skipped.
    search_unavailable: std::sync::atomic::AtomicBool,
}

/// What one failed `StartOutboundVoiceContact` means for the caller.
enum Failure {
    Retry(AwsError),
    Fatal(String),
}

impl ConnectDialer {
    /// `bucket` must be the process-wide Connect bucket (`CallGate::bucket`).
    /// The client's SDK-level retries are switched off whatever it came with.
    pub fn new(
        client: aws_sdk_connect::Client,
        settings: ConnectSettings,
        bucket: Arc<Bucket>,
        pending: Arc<PendingCalls>,
    ) -> Result<ConnectDialer, ConnectSettingsError> {
        settings.validate()?;
        let conf = client
            .config()
            .to_builder()
            .retry_config(RetryConfig::disabled())
            .build();
        Ok(ConnectDialer {
            client: aws_sdk_connect::Client::from_conf(conf),
            buckets: OpBuckets::new(bucket, settings.lookup_rate_per_sec, settings.lookup_burst),
            settings,
            pending,
            search_unavailable: std::sync::atomic::AtomicBool::new(false),
        })
    }

    pub fn settings(&self) -> &ConnectSettings {
        &self.settings
    }

    pub fn pending(&self) -> &Arc<PendingCalls> {
        &self.pending
    }

    /// One token of `op`'s bucket.
    async fn token(&self, op: &str) {
        self.buckets.take(op).await;
    }

    fn backoff(&self, retry: u32) -> Duration {
        let cap = self
            .settings
            .backoff_base_ms
            .saturating_mul(1u64 << retry.min(20))
            .min(self.settings.backoff_max_ms.max(1));
        // Full jitter: many callers backing off together spread out instead
        // of returning in one burst.
        Duration::from_millis(rand::thread_rng().gen_range(0..=cap))
    }

    /// Half to all of `unsure_retry_ms`, jittered like the backoff.
    fn prompt_wait(&self) -> Duration {
        let ms = self.settings.unsure_retry_ms;
        Duration::from_millis(rand::thread_rng().gen_range(ms / 2..=ms))
    }

    async fn start(
        &self,
        req: &CallRequest,
        token: &str,
        attributes: &HashMap<String, String>,
    ) -> Result<String, Failure> {
        let mut b = self
            .client
            .start_outbound_voice_contact()
            .instance_id(&self.settings.instance_id)
            .contact_flow_id(self.settings.flow_for(req.language))
            .destination_phone_number(&req.phone)
            .client_token(token)
            .ring_timeout_in_seconds(self.settings.ring_timeout_secs as i32)
            .set_attributes(Some(attributes.clone()));
        if let Some(src) = &self.settings.source_phone_number {
            b = b.source_phone_number(src);
        }
        if let Some(q) = &self.settings.queue_id {
            b = b.queue_id(q);
        }
        match b.send().await {
            Ok(out) => match out.contact_id() {
                Some(id) => Ok(id.to_string()),
                None => Err(Failure::Retry(AwsError::InvalidData(
                    "StartOutboundVoiceContact answered without a ContactId".into(),
                ))),
            },
            Err(e) => Err(self.failure(req, e)),
        }
    }

    fn failure<R: std::fmt::Debug>(
        &self,
        req: &CallRequest,
        err: SdkError<
            aws_sdk_connect::operation::start_outbound_voice_contact::StartOutboundVoiceContactError,
            R,
        >,
    ) -> Failure {
        let e = AwsError::from_sdk("connect", "StartOutboundVoiceContact", err);
        if e.is_retryable() {
            return Failure::Retry(e);
        }
        let code = e.code().unwrap_or("Unknown").to_string();
        let short = code.rsplit('.').next().unwrap_or(&code).to_string();
        let service_msg = match &e {
            AwsError::Service { message, .. }
            | AwsError::NotFound { message, .. }
            | AwsError::Throttled { message, .. } => mask_numbers(message),
            other => mask_numbers(&other.to_string()),
        };
        let phone = mask(&req.phone);
        let s = &self.settings;
        let flow = s.flow_for(req.language);
        let advice = match short.as_str() {
            "DestinationNotAllowedException" if is_japanese_mobile(&req.phone) => format!(
                "Japanese mobile numbers (+8170/+8180/+8190) must be allow-listed for this \
                 Amazon Connect instance: request it from AWS Support (country/prefix allow \
                 list); until then {phone} cannot be called"
            ),
            "DestinationNotAllowedException" => format!(
                "Amazon Connect does not allow calls to {phone} from this instance: request the \
                 destination country/prefix from AWS Support (allow list) or give the person \
                 another number"
            ),
            "ResourceNotFoundException" => format!(
                "check instance_id and the contact flow ids (instance `{}`, {} flow `{flow}`): \
                 the flows in contact-flows/ must be imported and published in that instance",
                s.instance_id,
                req.language.code()
            ),
            "OutboundContactNotPermittedException" => "outbound calls are not enabled for this \
                 instance: enable outbound calling in the instance's telephony settings"
                .to_string(),
            "InvalidParameterException" => format!(
                "check the destination {phone} is E.164, source_phone_number/queue_id belong to \
                 the instance, and ring_timeout_secs is 15–60"
            ),
            "InvalidRequestException" => "check source_phone_number or queue_id is set and \
                 belongs to the instance, and the instance id/flow ids are ids or ARNs"
                .to_string(),
            "AccessDeniedException" => {
                "the AWS credentials lack connect:StartOutboundVoiceContact \
                 on this instance: fix the IAM policy"
                    .to_string()
            }
            _ => format!("Amazon Connect refused the call to {phone}"),
        };
        Failure::Fatal(format!("{short}: {advice} ({service_msg})"))
    }

    /// How a finished contact ended, asked from Connect directly: one
    /// DescribeContact, which carries the contact's attributes and its
    /// DisconnectReason. `None` while the call is live, and for a contact
    /// ringdown did not place (no `rd_incident`/`rd_call` attribute).
    pub async fn describe(&self, contact_id: &str) -> Result<Option<OutcomeReport>, AwsError> {
        self.token("DescribeContact").await;
        let d = self
            .client
            .describe_contact()
            .instance_id(&self.settings.instance_id)
            .contact_id(contact_id)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("connect", "DescribeContact", e))?;
        let Some(contact) = d.contact() else {
            return Err(AwsError::InvalidData(format!(
                "DescribeContact for {contact_id} answered without a Contact"
            )));
        };
        let Some(ended) = contact.disconnect_timestamp() else {
            return Ok(None);
        };
        let ended_at = DateTime::<Utc>::from_timestamp(ended.secs(), ended.subsec_nanos())
            .unwrap_or_else(Utc::now);
        let reason = contact.disconnect_reason().map(str::to_string);
        let attributes: BTreeMap<String, String> = match contact.attributes() {
            Some(m) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            None => {
                // An older DescribeContact without attributes: ask for them.
                self.token("GetContactAttributes").await;
                let a = self
                    .client
                    .get_contact_attributes()
                    .instance_id(&self.settings.instance_id)
                    .initial_contact_id(contact_id)
                    .send()
                    .await
                    .map_err(|e| AwsError::from_sdk("connect", "GetContactAttributes", e))?;
                a.attributes()
                    .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default()
            }
        };
        let (Some(incident_id), Some(call_id)) = (
            attributes
                .get("rd_incident")
                .filter(|v| !v.is_empty())
                .cloned(),
            attributes.get("rd_call").filter(|v| !v.is_empty()).cloned(),
        ) else {
            return Ok(None);
        };
        Ok(Some(OutcomeReport {
            applied: Default::default(),
            incident_id,
            call_id,
            contact_id: contact_id.to_string(),
            outcome: classify(&attributes, reason.as_deref()),
            disconnect_reason: reason,
            attributes,
            ended_at,
        }))
    }

    /// The contact an earlier attempt of `call_id` created, if Connect has
    /// one: SearchContacts on the `rd_call` attribute (which the instance
    /// must have configured as searchable). A voice contact shows in search
    /// once it has disconnected; one still live is found by the
    /// `ClientToken` instead, which returns a live contact's id.
    pub async fn find_placed(&self, call_id: &str) -> Result<Option<String>, AwsError> {
        use aws_sdk_connect::types::{
            SearchContactsMatchType, SearchContactsTimeRange, SearchContactsTimeRangeType,
            SearchCriteria, SearchableContactAttributes, SearchableContactAttributesCriteria,
        };
        if self
            .search_unavailable
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            return Ok(None);
        }
        let now = Utc::now();
        let to_smithy = |t: DateTime<Utc>| {
            aws_sdk_connect::primitives::DateTime::from_millis(t.timestamp_millis())
        };
        // The ClientToken lives 7 days: no earlier attempt can be older.
        let range = SearchContactsTimeRange::builder()
            .r#type(SearchContactsTimeRangeType::InitiationTimestamp)
            .start_time(to_smithy(now - chrono::Duration::days(8)))
            .end_time(to_smithy(now + chrono::Duration::minutes(5)))
            .build()
            .map_err(|e| AwsError::InvalidData(e.to_string()))?;
        let criterion = SearchableContactAttributesCriteria::builder()
            .key("rd_call")
            .values(call_id)
            .build()
            .map_err(|e| AwsError::InvalidData(e.to_string()))?;
        let criteria = SearchCriteria::builder()
            .searchable_contact_attributes(
                SearchableContactAttributes::builder()
                    .criteria(criterion)
                    .match_type(SearchContactsMatchType::MatchAll)
                    .build()
                    .map_err(|e| AwsError::InvalidData(e.to_string()))?,
            )
            .build();
        self.token("SearchContacts").await;
        let out = self
            .client
            .search_contacts()
            .instance_id(&self.settings.instance_id)
            .time_range(range)
            .search_criteria(criteria)
            .max_results(10)
            .send()
            .await;
        match out {
            Ok(out) => {
                let newest = out
                    .contacts()
                    .iter()
                    .max_by_key(|c| c.initiation_timestamp().map(|t| t.as_nanos()))
                    .and_then(|c| c.id())
                    .map(str::to_string);
                Ok(newest)
            }
            Err(e) => {
                let e = AwsError::from_sdk("connect", "SearchContacts", e);
                if e.code().is_some_and(|c| c.contains("InvalidParameter")) {
                    self.search_unavailable
                        .store(true, std::sync::atomic::Ordering::Relaxed);
                    error!(
                        error = %e,
                        "SearchContacts cannot search the rd_call contact attribute: make rd_call \
                         searchable on the Amazon Connect instance, or a call placed just before \
                         a crash may ring twice"
                    );
                }
                Err(e)
            }
        }
    }
}

#[async_trait]
impl Dialer for ConnectDialer {
    /// The first attempt's token was taken by `CallGate::admit`; each retry
    /// takes one more from the same bucket while the caller keeps its
    /// live-call slot, so a throttled call keeps its place instead of going
    /// to the back of the queue.
    async fn place(
        &self,
        req: &CallRequest,
        maybe_placed: bool,
        cancel: &CancellationToken,
    ) -> Result<String, DialError> {
        let token = client_token(&req.call_id);
        let attributes = call_attributes(req);
        // Retries on the usual backoff, counted against `max_retries`.
        let mut retry = 0u32;
        // Prompt retries left after an answer that may hide a placed call.
        let mut prompt_left = 0u32;
        let mut prompt = false;
        let mut first = true;
        // The ClientToken returns a contact only while it is live; after it
        // ended, the same token starts a new call. So whenever an earlier
        // request may have reached Connect, ask Connect before dialling.
        let mut ask_first = maybe_placed;
        loop {
            // In line for a token first: the look-up must be the last thing
            // before the request, or the call could end while we wait.
            if !first {
                let token = async {
                    if prompt {
                        self.buckets.take_ahead("StartOutboundVoiceContact").await
                    } else {
                        self.token("StartOutboundVoiceContact").await
                    }
                };
                tokio::select! {
                    _ = cancel.cancelled() => return Err(DialError::Cancelled),
                    _ = token => {}
                }
            }
            first = false;
            if cancel.is_cancelled() {
                info!(call = %req.call_id, "call no longer needed; not retried");
                return Err(DialError::Cancelled);
            }
            if ask_first {
                match self.find_placed(&req.call_id).await {
                    Ok(Some(contact_id)) => {
                        metrics::counter!("ringdown_calls_found_placed_total").increment(1);
                        info!(call = %req.call_id, contact = %contact_id, "the call was placed by an earlier attempt: not dialling again");
                        self.pending
                            .register(&contact_id, &req.incident_id, &req.call_id);
                        return Ok(contact_id);
                    }
                    Ok(None) => {}
                    Err(e) => {
                        warn!(call = %req.call_id, error = %e, "could not ask Amazon Connect whether the call was placed; relying on the ClientToken")
                    }
                }
            }
            match self.start(req, &token, &attributes).await {
                Ok(contact_id) => {
                    self.pending
                        .register(&contact_id, &req.incident_id, &req.call_id);
                    if retry > 0 || prompt {
                        info!(call = %req.call_id, contact = %contact_id, retries = retry, "call placed after retries");
                    } else {
                        debug!(call = %req.call_id, contact = %contact_id, "call placed");
                    }
                    return Ok(contact_id);
                }
                Err(Failure::Fatal(msg)) => {
                    error!(incident = %req.incident_id, call = %req.call_id, phone = %mask(&req.phone), "Amazon Connect refused the call: {msg}");
                    metrics::counter!("ringdown_connect_misconfigured_total").increment(1);
                    return Err(DialError::Misconfigured(msg));
                }
                Err(Failure::Retry(e)) => {
                    // A throttle placed nothing; a 5xx or a lost answer may
                    // have placed the call. Once a contact may exist, every
                    // further attempt asks first: it may end at any moment.
                    // The first such answer earns a few prompt retries, to
                    // reach the contact through its token while it rings.
                    let unsure = !matches!(e, AwsError::Throttled { .. });
                    if unsure && !ask_first {
                        prompt_left = self.settings.unsure_prompt_retries;
                    }
                    ask_first |= unsure;
                    let msg = mask_numbers(&e.to_string());
                    metrics::counter!("ringdown_connect_retries_total", "kind" => retry_kind(&e))
                        .increment(1);
                    prompt = prompt_left > 0;
                    let wait = if prompt {
                        prompt_left -= 1;
                        self.prompt_wait()
                    } else {
                        if retry >= self.settings.max_retries {
                            error!(call = %req.call_id, phone = %mask(&req.phone), retries = retry, error = %msg, "giving up placing the call");
                            return Err(DialError::Unavailable(format!(
                                "StartOutboundVoiceContact still failing after {retry} retries: {msg}"
                            )));
                        }
                        retry += 1;
                        self.backoff(retry - 1)
                    };
                    warn!(call = %req.call_id, retry = retry, prompt, wait_ms = wait.as_millis() as u64, error = %msg, "StartOutboundVoiceContact failed; retrying");
                    tokio::select! {
                        _ = cancel.cancelled() => return Err(DialError::Cancelled),
                        _ = tokio::time::sleep(wait) => {}
                    }
                }
            }
        }
    }

    /// One bucket token. A contact that already ended is not an error.
    /// Registers the call with the contact-record fallback: if no record
    /// arrives within `ctr_fallback_after_secs`, Connect is asked directly.
    fn watch(&self, incident_id: &str, call_id: &str, contact_id: &str, dialled_at: DateTime<Utc>) {
        self.pending
            .register_placed_at(contact_id, incident_id, call_id, dialled_at);
    }

    async fn stop(&self, contact_id: &str) -> Result<(), DialError> {
        self.token("StopContact").await;
        match self
            .client
            .stop_contact()
            .instance_id(&self.settings.instance_id)
            .contact_id(contact_id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                let se = e.as_service_error();
                if se.is_some_and(|s| {
                    s.is_contact_not_found_exception()
                        || s.code() == Some("ContactNotFoundException")
                }) {
                    return Ok(());
                }
                let e = AwsError::from_sdk("connect", "StopContact", e);
                warn!(contact = %contact_id, error = %e, "could not stop the call");
                Err(DialError::Unavailable(e.to_string()))
            }
        }
    }
}

fn retry_kind(e: &AwsError) -> &'static str {
    match e {
        AwsError::Throttled { .. } => "throttled",
        AwsError::Transport { .. } => "transport",
        _ => "service",
    }
}

/// The `ClientToken` for a call id: the id itself when Connect accepts it
/// (≤ 500 printable ASCII characters), otherwise a deterministic digest of
/// it, so the same call id always maps to the same token.
pub fn client_token(call_id: &str) -> String {
    if !call_id.is_empty()
        && call_id.len() <= MAX_CLIENT_TOKEN_LEN
        && call_id.bytes().all(|b| b.is_ascii_graphic())
    {
        return call_id.to_string();
    }
    // Two FNV-1a lanes with different offsets: 128 bits, no extra crate.
    use ringdown_core::hash::{fnv1a, FNV_OFFSET};
    let lane = |offset: u64| fnv1a(offset, call_id.as_bytes());
    format!(
        "rd-{:016x}{:016x}",
        lane(FNV_OFFSET),
        lane(0x6c62_272e_07bb_0142)
    )
}

/// The attributes the contact flow reads (DESIGN.md "Flow ↔ daemon
/// contract"). `rd_message`, then `rd_list`, are shortened when the whole
/// set would exceed Connect's 32 KiB, cutting before any half-written SSML
/// tag or entity and keeping the document closed: a shorter message is
/// better than no call.
pub fn call_attributes(req: &CallRequest) -> HashMap<String, String> {
    let fixed = [
        ("rd_incident", req.incident_id.as_str()),
        ("rd_call", req.call_id.as_str()),
        ("rd_lang", req.language.code()),
        ("rd_scope", req.scope.as_str()),
    ];
    let fixed_bytes: usize = fixed.iter().map(|(k, v)| k.len() + v.len()).sum();
    let mut room_left =
        MAX_ATTRIBUTES_BYTES.saturating_sub(fixed_bytes + "rd_message".len() + "rd_list".len());
    let mut m: HashMap<String, String> = fixed
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    // The list needs room for at least an empty document.
    const EMPTY: &str = "<speak></speak>";
    for (key, doc, keep) in [
        ("rd_message", &req.message, EMPTY.len()),
        ("rd_list", &req.list, 0),
    ] {
        let room = room_left.saturating_sub(keep);
        let fitted = if doc.len() <= room {
            doc.clone()
        } else {
            warn!(call = %req.call_id, attribute = key, bytes = doc.len(), "too long for Connect's 32 KiB attribute limit; shortened");
            fit_ssml(doc, room)
        };
        room_left -= fitted.len();
        m.insert(key.into(), fitted);
    }
    m
}

/// `doc` cut to `max_bytes`; a `<speak>` document stays one.
fn fit_ssml(doc: &str, max_bytes: usize) -> String {
    const CLOSE: &str = "</speak>";
    match doc.strip_suffix(CLOSE) {
        Some(body) if doc.starts_with("<speak>") && max_bytes >= "<speak>".len() + CLOSE.len() => {
            format!("{}{CLOSE}", truncate_ssml(body, max_bytes - CLOSE.len()))
        }
        _ => truncate_ssml(doc, max_bytes),
    }
}

fn truncate_ssml(s: &str, max_bytes: usize) -> String {
    let mut end = max_bytes.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let mut cut = &s[..end];
    if let Some(amp) = cut.rfind('&') {
        if !cut[amp..].contains(';') {
            cut = &cut[..amp];
        }
    }
    if let Some(lt) = cut.rfind('<') {
        if !cut[lt..].contains('>') {
            cut = &cut[..lt];
        }
    }
    cut.to_string()
}

/// Masks every phone-number-like run (an optional `+` and 7 or more digits)
/// inside free text: Connect's error messages echo the destination back, in
/// E.164 or as the caller wrote it.
pub fn mask_numbers(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < text.len() {
        let plus = bytes[i] == b'+';
        let digits_from = if plus { i + 1 } else { i };
        let mut end = digits_from;
        while end < bytes.len() && bytes[end].is_ascii_digit() {
            end += 1;
        }
        let run = end - digits_from;
        if run >= 7 && (i == 0 || !bytes[i - 1].is_ascii_alphanumeric()) {
            out.push_str(&mask(&text[i..end]));
            i = end;
        } else if run > 0 {
            out.push_str(&text[i..end]);
            i = end;
        } else {
            let c = text[i..].chars().next().expect("in bounds");
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

// ------------------------------------------------------------------ fallback

/// When and how long [`run_fallback`] asks Connect about calls whose
/// outcome has not arrived (no contact event, no contact record yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FallbackSettings {
    /// Age of a pending call before Connect is asked directly: by then the
    /// call is usually over and its contact event should have come.
    pub after: Duration,
    /// How often the pending calls are scanned (and each overdue one asked).
    pub interval: Duration,
    /// Age after which the fallback stops asking and leaves the call to the
    /// engine's own outcome timeout (UNKNOWN, treated as unreachable).
    pub give_up_after: Duration,
    /// Most calls asked about per scan, the oldest first: the look-ups share
    /// DescribeContact's quota with the contact events' own, which come first.
    pub max_per_round: usize,
}

impl Default for FallbackSettings {
    fn default() -> Self {
        FallbackSettings {
            after: Duration::from_secs(30),
            interval: Duration::from_secs(5),
            give_up_after: Duration::from_secs(460),
            max_per_round: 3,
        }
    }
}

/// Reconciles calls whose contact record is late or lost: every `interval`,
/// for each pending call older than `after`, asks Connect
/// ([`ConnectDialer::describe`]) and sends the report when the call
/// is over. Each look-up spends bucket tokens, so this only ever touches calls
/// the CTR stream failed to explain. Runs until `shutdown` completes.
pub async fn run_fallback(
    dialer: Arc<ConnectDialer>,
    pending: Arc<PendingCalls>,
    outcomes: mpsc::UnboundedSender<OutcomeReport>,
    settings: FallbackSettings,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let mut tick = tokio::time::interval(settings.interval.max(Duration::from_millis(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tick.tick() => {}
        }
        let mut asked = 0;
        for (contact_id, call, age) in pending.older_than(settings.after) {
            if !pending.contains(&contact_id) {
                continue; // the record arrived while we were busy
            }
            if age < settings.give_up_after {
                if asked >= settings.max_per_round.max(1) {
                    continue;
                }
                asked += 1;
            }
            if age >= settings.give_up_after {
                pending.mark_done(&contact_id);
                metrics::counter!("ringdown_ctr_fallback_total", "result" => "gave_up")
                    .increment(1);
                error!(
                    contact = %contact_id, incident = %call.incident_id, call = %call.call_id,
                    age_s = age.as_secs(),
                    "NO CONTACT RECORD and Amazon Connect cannot say how the call ended: \
                     leaving it to the engine's outcome timeout (UNKNOWN, treated as unreachable)"
                );
                continue;
            }
            let r = tokio::select! {
                _ = &mut shutdown => return,
                r = dialer.describe(&contact_id) => r,
            };
            match r {
                Ok(Some(report)) => {
                    if pending.mark_done(&contact_id).is_none() {
                        continue; // the record won the race; it already reported
                    }
                    metrics::counter!("ringdown_ctr_fallback_total", "result" => "reported")
                        .increment(1);
                    info!(
                        contact = %contact_id, incident = %call.incident_id, call = %call.call_id,
                        outcome = report.outcome.as_str(), age_s = age.as_secs(),
                        "no contact event or record yet: outcome taken from DescribeContact"
                    );
                    if outcomes.send(report).is_err() {
                        info!("outcome receiver gone; fallback stopping");
                        return;
                    }
                }
                Ok(None) => {
                    debug!(contact = %contact_id, age_s = age.as_secs(), "call still live");
                }
                Err(AwsError::NotFound { .. }) => {
                    pending.mark_done(&contact_id);
                    metrics::counter!("ringdown_ctr_fallback_total", "result" => "not_found")
                        .increment(1);
                    error!(
                        contact = %contact_id, incident = %call.incident_id, call = %call.call_id,
                        "Amazon Connect does not know this contact: leaving it to the engine's \
                         outcome timeout (UNKNOWN, treated as unreachable)"
                    );
                }
                Err(e) => {
                    metrics::counter!("ringdown_ctr_fallback_total", "result" => "error")
                        .increment(1);
                    warn!(contact = %contact_id, error = %e, "fallback look-up failed; will try again");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(msg: &str) -> CallRequest {
        CallRequest {
            incident_id: "inc-1".into(),
            call_id: "inc-1-p0s1a1t0r0".into(),
            person: "alice".into(),
            phone: "+819012345678".into(),
            phone_index: 0,
            language: Language::JaJp,
            message: msg.into(),
            scope: "systemname web".into(),
            list: "<speak>The alert of this incident. web down.</speak>".into(),
        }
    }

    #[test]
    fn client_token_is_the_call_id_or_a_stable_digest() {
        assert_eq!(client_token("inc-1-p0s1a1t0r0"), "inc-1-p0s1a1t0r0");
        let long = "x".repeat(600);
        let t = client_token(&long);
        assert!(t.len() <= MAX_CLIENT_TOKEN_LEN);
        assert_eq!(t, client_token(&long));
        assert_ne!(t, client_token(&"y".repeat(600)));
        assert_ne!(client_token("あ"), client_token("い"));
    }

    #[test]
    fn attributes_fit_connects_limit_without_breaking_ssml() {
        let a = call_attributes(&req("hello"));
        assert_eq!(a["rd_incident"], "inc-1");
        assert_eq!(a["rd_call"], "inc-1-p0s1a1t0r0");
        assert_eq!(a["rd_lang"], "ja-JP");
        assert_eq!(a["rd_message"], "hello");
        let big = format!("{}&amp;<break time=\"1s\"/>", "あ".repeat(12_000));
        let a = call_attributes(&req(&big));
        let total: usize = a.iter().map(|(k, v)| k.len() + v.len()).sum();
        assert!(total <= MAX_ATTRIBUTES_BYTES, "{total}");
        assert!(!a["rd_message"].ends_with('&'));
        assert_eq!(truncate_ssml("ab&amp;cd", 4), "ab");
        let doc = format!("<speak>{}</speak>", "x&amp;".repeat(10_000));
        let a = call_attributes(&req(&doc));
        let total: usize = a.iter().map(|(k, v)| k.len() + v.len()).sum();
        assert!(total <= MAX_ATTRIBUTES_BYTES, "{total}");
        assert!(a["rd_message"].starts_with("<speak>") && a["rd_message"].ends_with("</speak>"));
        assert!(
            a["rd_list"].ends_with("</speak>"),
            "the list keeps what room is left"
        );
        assert_eq!(truncate_ssml("ab<break/>cd", 6), "ab");
    }

    #[test]
    fn numbers_in_messages_are_masked() {
        let m = mask_numbers("Outbound calls to +819099998888 are not allowed (+8190)");
        assert!(!m.contains("99998888"), "{m}");
        assert!(m.contains("+81******8888"), "{m}");
        assert!(m.contains("(+8190)"), "{m}");
        let m = mask_numbers("DestinationPhoneNumber `0312345678` is not in E.164 format");
        assert!(!m.contains("12345"), "{m}");
        assert!(m.contains("E.164"), "{m}");
    }

    #[test]
    fn settings_are_checked_up_front() {
        let ok = ConnectSettings {
            instance_id: "i".into(),
            flow_id_ja: "fj".into(),
            flow_id_en: "fe".into(),
            source_phone_number: Some("+81335550000".into()),
            ..Default::default()
        };
        assert!(ok.validate().is_ok());
        let bad = ConnectSettings {
            ring_timeout_secs: 90,
            ..ok.clone()
        };
        assert_eq!(bad.validate(), Err(ConnectSettingsError::RingTimeout(90)));
        let bad = ConnectSettings {
            source_phone_number: None,
            ..ok
        };
        assert_eq!(bad.validate(), Err(ConnectSettingsError::NoCallerId));
    }
}
