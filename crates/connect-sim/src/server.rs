//! The HTTP simulator: restJson1 like Amazon Connect, so the unmodified
//! `aws-sdk-connect` client (or the `aws` CLI) works with an endpoint override.
//!
//! Calls are simulated up front with [`crate::simulate_with`] and then *played*
//! in real time divided by `time_scale`: a call is live (counts against the
//! concurrency quota, GetContactAttributes shows what has been set so far) until
//! its scaled end, then its contact record is emitted.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::{broadcast, oneshot, Notify};

use crate::config::{
    ContactEvents, CtrFaults, EventBridgeConfig, KinesisConfig, SecsRange, SimConfig,
};
use crate::ctr::{build_ctr, bump_last_update, ctr_timestamp, CtrContext};
use crate::interp::{simulate_with, CallResult, SimOptions, TranscriptEvent};

// ---------------------------------------------------------------- clock & quotas

/// Time source for the API quotas. `Manual` makes throttling tests exact.
#[derive(Clone, Debug)]
pub enum Clock {
    System(Instant),
    Manual(ManualClock),
}

impl Clock {
    pub fn system() -> Clock {
        Clock::System(Instant::now())
    }

    /// Elapsed time since the clock started.
    pub fn now(&self) -> Duration {
        match self {
            Clock::System(start) => start.elapsed(),
            Clock::Manual(m) => m.now(),
        }
    }
}

/// A clock that only moves when told to.
#[derive(Clone, Debug, Default)]
pub struct ManualClock(Arc<Mutex<Duration>>);

impl ManualClock {
    pub fn new() -> ManualClock {
        ManualClock::default()
    }
    pub fn now(&self) -> Duration {
        *self.0.lock().unwrap()
    }
    pub fn advance(&self, d: Duration) {
        *self.0.lock().unwrap() += d;
    }
}

/// Deterministic token bucket: `burst` tokens, refilled at `rate` per second.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Duration,
}

impl TokenBucket {
    pub fn new(rate_per_sec: f64, burst: u32, now: Duration) -> TokenBucket {
        TokenBucket {
            rate: rate_per_sec,
            burst: burst as f64,
            tokens: burst as f64,
            last: now,
        }
    }

    /// Take one token if there is one.
    pub fn try_take(&mut self, now: Duration) -> bool {
        if now > self.last {
            let dt = (now - self.last).as_secs_f64();
            self.tokens = (self.tokens + dt * self.rate).min(self.burst);
            self.last = now;
        }
        if self.tokens >= 1.0 - 1e-9 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

// ---------------------------------------------------------------- errors

/// An error in Amazon Connect's wire shape: `x-amzn-ErrorType` + `{"message"}`.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
}

impl ApiError {
    pub fn new(code: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status: status_for(code),
            code: code.to_string(),
            message: message.into(),
        }
    }
}

/// HTTP status Amazon Connect uses for an error name.
pub fn status_for(code: &str) -> StatusCode {
    match code {
        "InvalidParameterException" | "InvalidRequestException" => StatusCode::BAD_REQUEST,
        "ResourceNotFoundException" => StatusCode::NOT_FOUND,
        "DestinationNotAllowedException"
        | "OutboundContactNotPermittedException"
        | "AccessDeniedException" => StatusCode::FORBIDDEN,
        "LimitExceededException" | "TooManyRequestsException" | "ThrottlingException" => {
            StatusCode::TOO_MANY_REQUESTS
        }
        "ContactNotFoundException" => StatusCode::GONE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, Json(json!({ "message": self.message }))).into_response();
        let h = resp.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&self.code) {
            h.insert("x-amzn-ErrorType", v);
        }
        h.insert(
            "x-amzn-RequestId",
            HeaderValue::from_str(&new_uuid()).expect("uuid is a valid header"),
        );
        resp
    }
}

type ApiResult = Result<Response, ApiError>;

fn ok_json(v: Value) -> ApiResult {
    let mut resp = Json(v).into_response();
    resp.headers_mut().insert(
        "x-amzn-RequestId",
        HeaderValue::from_str(&new_uuid()).expect("uuid is a valid header"),
    );
    Ok(resp)
}

/// A random version-4 UUID.
pub fn new_uuid() -> String {
    let mut b: [u8; 16] = rand::thread_rng().gen();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

// ---------------------------------------------------------------- state

/// One call as shown by `GET /_sim/calls` and given to observers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CallView {
    pub contact_id: String,
    pub client_token: Option<String>,
    pub destination_phone_number: String,
    pub source_phone_number: Option<String>,
    pub contact_flow_id: String,
    pub instance_id: String,
    /// never_answers | busy | telecom_failure | voicemail | human
    pub persona: String,
    /// `LIVE` or `ENDED`.
    pub state: String,
    pub initiation_timestamp: String,
    /// When the request that placed the call arrived, Unix milliseconds
    /// (the contact record's own timestamps have only second precision, too
    /// coarse for latency measurements).
    pub initiated_unix_ms: i64,
    /// When the call ended, Unix milliseconds of the real clock (the
    /// record's DisconnectTimestamp is in simulated time, to the second).
    pub ended_unix_ms: Option<i64>,
    pub connected_to_system_timestamp: Option<String>,
    pub disconnect_timestamp: Option<String>,
    pub disconnect_reason: Option<String>,
    pub attributes: BTreeMap<String, String>,
    pub transcript: Vec<TranscriptEvent>,
}

struct CallEntry {
    contact_id: String,
    client_token: Option<String>,
    destination: String,
    source: Option<String>,
    queue_id: Option<String>,
    flow_id: String,
    persona: String,
    initial: BTreeMap<String, String>,
    planned: CallResult,
    initiated_at: DateTime<Utc>,
    started: Instant,
    last_update: DateTime<Utc>,
    /// Set when the call is over.
    ended: Option<CallResult>,
    /// When it ended, on the real clock (search results show it from
    /// `index_delay_secs` later).
    ended_instant: Option<Instant>,
    ended_unix_ms: Option<i64>,
    stop: Option<oneshot::Sender<()>>,
}

#[derive(Default)]
struct Calls {
    by_id: HashMap<String, CallEntry>,
    order: Vec<String>,
    /// ClientToken → (ContactId, when first seen on the quota clock).
    tokens: HashMap<String, (String, Duration)>,
}

impl Calls {
    /// The contact a replayed `ClientToken` returns: the API model promises
    /// "If a contact is already started, the contact ID is returned" within
    /// the token's 7 days, and (in the model's earlier wording, which the
    /// current one no longer contradicts) "If the contact is disconnected, a
    /// new contact is started". So only a *live* contact is returned; a
    /// replay after the call ended places a new call.
    fn live_contact_for(&self, token: &str, now: Duration, ttl: Duration) -> Option<String> {
        let (cid, at) = self.tokens.get(token)?;
        if now.saturating_sub(*at) >= ttl {
            return None;
        }
        let live = self.by_id.get(cid).is_some_and(|e| e.ended.is_none());
        live.then(|| cid.clone())
    }
}

struct Shared {
    cfg: SimConfig,
    clock: Clock,
    buckets: Mutex<HashMap<&'static str, TokenBucket>>,
    calls: Mutex<Calls>,
    sink: CtrSink,
    ended_tx: broadcast::Sender<CallView>,
    changed: Notify,
    /// Error responses sent, by `x-amzn-ErrorType` (throttles included), so
    /// a test can assert "zero TooManyRequests" from the service's side.
    errors: Mutex<BTreeMap<String, u64>>,
    /// Errors queued by [`SimServer::fail_next`], answered in order by the
    /// next StartOutboundVoiceContact requests.
    injected: Mutex<VecDeque<InjectedError>>,
    /// Responses held back by [`SimServer::hold_next`]: the call is placed
    /// and the answer comes this much later (a caller may die meanwhile).
    holds: Mutex<VecDeque<Duration>>,
    events: EventSink,
    /// Most calls live at once so far.
    peak_live: AtomicUsize,
}

/// One error answered by a coming StartOutboundVoiceContact request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InjectedError {
    /// Error name, e.g. `TooManyRequestsException` (429) or
    /// `InternalServiceException` (500).
    pub code: String,
    /// Place the call anyway and only then answer with the error: the caller
    /// cannot tell whether the phone is ringing, and must retry with the same
    /// ClientToken to find out without calling twice.
    #[serde(default)]
    pub after_create: bool,
}

impl Shared {
    fn rate_limit(&self, op: &'static str) -> Result<(), ApiError> {
        let now = self.clock.now();
        let mut b = self.buckets.lock().unwrap();
        let bucket = b.entry(op).or_insert_with(|| {
            TokenBucket::new(self.cfg.quotas.rate_per_sec, self.cfg.quotas.burst, now)
        });
        if bucket.try_take(now) {
            Ok(())
        } else {
            Err(ApiError::new(
                "TooManyRequestsException",
                format!("Rate exceeded for {op}"),
            ))
        }
    }

    fn virtual_elapsed(&self, started: Instant) -> Duration {
        started.elapsed().mul_f64(self.cfg.time_scale)
    }

    fn view(&self, e: &CallEntry) -> CallView {
        let (result, live) = match &e.ended {
            Some(r) => (r.clone(), false),
            None => {
                let at = self.virtual_elapsed(e.started);
                let mut r = e.planned.stopped_at(&e.initial, at);
                // still live: no disconnect yet
                r.events
                    .retain(|ev| !matches!(ev.kind, crate::interp::EventKind::Disconnected { .. }));
                (r, true)
            }
        };
        let at = |d: Duration| {
            ctr_timestamp(e.initiated_at + chrono::Duration::milliseconds(d.as_millis() as i64))
        };
        CallView {
            contact_id: e.contact_id.clone(),
            client_token: e.client_token.clone(),
            destination_phone_number: e.destination.clone(),
            source_phone_number: e.source.clone(),
            contact_flow_id: e.flow_id.clone(),
            instance_id: self.cfg.instance_id.clone(),
            persona: e.persona.clone(),
            state: if live { "LIVE" } else { "ENDED" }.into(),
            initiation_timestamp: ctr_timestamp(e.initiated_at),
            initiated_unix_ms: e.initiated_at.timestamp_millis(),
            ended_unix_ms: e.ended_unix_ms,
            connected_to_system_timestamp: result.connected_at_offset.map(at),
            disconnect_timestamp: (!live).then(|| at(result.ended_at_offset)),
            disconnect_reason: (!live).then(|| result.disconnect_reason.as_str().to_string()),
            attributes: result.attributes.clone(),
            transcript: result.events,
        }
    }

    fn ctr_context(&self, e: &CallEntry) -> CtrContext {
        CtrContext {
            account_id: self.cfg.account_id.clone(),
            region: self.cfg.region.clone(),
            instance_id: self.cfg.instance_id.clone(),
            contact_id: e.contact_id.clone(),
            initiated_at: e.initiated_at,
            customer_address: e.destination.clone(),
            system_address: e.source.clone(),
            queue_id: e.queue_id.clone(),
        }
    }
}

// ---------------------------------------------------------------- CTR sink

struct CtrSink {
    kinesis: Option<(aws_sdk_kinesis::Client, String)>,
    jsonl: Option<Mutex<std::fs::File>>,
    faults: CtrFaults,
    rng: Mutex<rand::rngs::StdRng>,
    delivered: Mutex<Vec<Value>>,
    delivered_notify: Notify,
    time_scale: f64,
    lag: SecsRange,
}

/// What happens to one record.
#[derive(Debug, Clone, PartialEq)]
struct Delivery {
    drop: bool,
    copies: u32,
    bump_secs: u64,
    delay_secs: f64,
}

impl CtrSink {
    async fn new(cfg: &SimConfig) -> anyhow::Result<CtrSink> {
        let kinesis = match &cfg.kinesis {
            None => None,
            Some(k) => Some((kinesis_client(k).await, k.stream.clone())),
        };
        let jsonl = match &cfg.jsonl {
            None => None,
            Some(p) => Some(Mutex::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)?,
            )),
        };
        Ok(CtrSink {
            kinesis,
            jsonl,
            faults: cfg.ctr_faults.clone(),
            rng: Mutex::new(rand::rngs::StdRng::seed_from_u64(cfg.ctr_faults.seed)),
            delivered: Mutex::new(Vec::new()),
            delivered_notify: Notify::new(),
            time_scale: cfg.time_scale,
            lag: cfg.ctr_lag,
        })
    }

    fn plan(&self, number: &str) -> Delivery {
        let f = &self.faults;
        if let Some(n) = f.numbers.get(number) {
            return Delivery {
                drop: n.drop,
                copies: n.duplicate,
                bump_secs: n.bump_last_update_secs,
                delay_secs: n.delay_secs,
            };
        }
        let mut rng = self.rng.lock().unwrap();
        let mut roll = |p: f64| p > 0.0 && rng.gen::<f64>() < p;
        let drop = roll(f.drop_probability);
        let dup = roll(f.duplicate_probability);
        let delay = roll(f.delay_probability);
        Delivery {
            drop,
            copies: if dup { f.duplicate_copies } else { 0 },
            bump_secs: f.bump_last_update_secs,
            delay_secs: if delay { f.delay_secs } else { 0.0 },
        }
    }

    /// This record's lag after the call ended, simulated seconds.
    fn lag_secs(&self) -> f64 {
        self.lag.draw(&mut *self.rng.lock().unwrap())
    }

    async fn put(&self, rec: &Value) {
        let line = rec.to_string();
        if let Some((client, stream)) = &self.kinesis {
            let cid = rec["ContactId"].as_str().unwrap_or("unknown").to_string();
            let mut tries = 0;
            loop {
                tries += 1;
                let r = client
                    .put_record()
                    .stream_name(stream)
                    .partition_key(&cid)
                    .data(aws_sdk_kinesis::primitives::Blob::new(line.as_bytes()))
                    .send()
                    .await;
                match r {
                    Ok(_) => break,
                    Err(e) if tries < 5 => {
                        tracing::warn!(error = %aws_sdk_kinesis::error::DisplayErrorContext(&e), "PutRecord failed, retrying");
                        tokio::time::sleep(Duration::from_millis(100 * tries)).await;
                    }
                    Err(e) => {
                        tracing::error!(error = %aws_sdk_kinesis::error::DisplayErrorContext(&e), "PutRecord failed, contact record lost");
                        break;
                    }
                }
            }
        }
        if let Some(f) = &self.jsonl {
            use std::io::Write;
            let mut f = f.lock().unwrap();
            let _ = writeln!(f, "{line}");
            let _ = f.flush();
        }
        self.delivered.lock().unwrap().push(rec.clone());
        self.delivered_notify.notify_waiters();
    }
}

async fn kinesis_client(k: &KinesisConfig) -> aws_sdk_kinesis::Client {
    use aws_sdk_kinesis::config::{BehaviorVersion, Credentials, Region};
    if k.default_credentials {
        let mut loader =
            aws_config::defaults(BehaviorVersion::latest()).region(Region::new(k.region.clone()));
        if let Some(ep) = &k.endpoint {
            loader = loader.endpoint_url(ep);
        }
        return aws_sdk_kinesis::Client::new(&loader.load().await);
    }
    let mut b = aws_sdk_kinesis::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(k.region.clone()))
        .credentials_provider(Credentials::new("test", "test", None, None, "connect-sim"));
    if let Some(ep) = &k.endpoint {
        b = b.endpoint_url(ep);
    }
    aws_sdk_kinesis::Client::from_conf(b.build())
}

// ---------------------------------------------------------------- contact events

/// Publishes Amazon Connect contact events (EventBridge source `aws.connect`,
/// detail-type "Amazon Connect Contact Event"). Best effort, like Connect's:
/// a seeded share is dropped, and each arrives after a short delay. Events
/// carry the contact's id and timestamps but no attribute values and no
/// disconnect reason; a consumer reads those with GetContactAttributes or
/// DescribeContact.
struct EventSink {
    cfg: ContactEvents,
    client: Option<(aws_sdk_eventbridge::Client, String)>,
    rng: Mutex<rand::rngs::StdRng>,
    published: Arc<Mutex<Vec<Value>>>,
    dropped: Arc<AtomicUsize>,
    time_scale: f64,
}

/// Contact-event timestamps: `2021-08-04T17:17:53.000Z`.
fn event_timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl EventSink {
    async fn new(cfg: &ContactEvents, time_scale: f64) -> EventSink {
        let client = match &cfg.eventbridge {
            Some(eb) => Some((eventbridge_client(eb).await, eb.bus.clone())),
            None => None,
        };
        EventSink {
            cfg: cfg.clone(),
            client,
            rng: Mutex::new(rand::rngs::StdRng::seed_from_u64(cfg.seed)),
            published: Arc::new(Mutex::new(Vec::new())),
            dropped: Arc::new(AtomicUsize::new(0)),
            time_scale,
        }
    }

    /// Sends one event in the background (after its delay), unless dropped.
    fn emit(
        &self,
        sim: &SimConfig,
        event_type: &str,
        contact_id: &str,
        initiated: DateTime<Utc>,
        connected: Option<DateTime<Utc>>,
        disconnected: Option<DateTime<Utc>>,
    ) {
        if !self.cfg.enabled {
            return;
        }
        let (drop, delay) = {
            let mut rng = self.rng.lock().unwrap();
            let p = self.cfg.drop_probability;
            (
                p > 0.0 && rng.gen::<f64>() < p,
                self.cfg.delay.draw(&mut *rng),
            )
        };
        if drop {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::info!(contact = %contact_id, event = event_type, "contact event dropped (best effort)");
            return;
        }
        let instance_arn = format!(
            "arn:aws:connect:{}:{}:instance/{}",
            sim.region, sim.account_id, sim.instance_id
        );
        let contact_arn = format!("{instance_arn}/contact/{contact_id}");
        let mut detail = json!({
            "eventType": event_type,
            "contactId": contact_id,
            "channel": "VOICE",
            "instanceArn": instance_arn,
            "initiationMethod": "API",
            "initiationTimestamp": event_timestamp(initiated),
        });
        if let Some(c) = connected {
            detail["connectedToSystemTimestamp"] = json!(event_timestamp(c));
        }
        if let Some(d) = disconnected {
            detail["disconnectTimestamp"] = json!(event_timestamp(d));
        }
        let time = disconnected.or(connected).unwrap_or(initiated);
        let envelope = json!({
            "version": "0",
            "id": new_uuid(),
            "detail-type": "Amazon Connect Contact Event",
            "source": "aws.connect",
            "account": sim.account_id,
            "time": time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "region": sim.region,
            "resources": [instance_arn, contact_arn],
            "detail": detail,
        });
        let client = self.client.clone();
        let published = self.published.clone();
        let wait = Duration::from_secs_f64(delay.max(0.0) / self.time_scale);
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            if let Some((client, bus)) = client {
                let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
                    .source("aws.connect")
                    .detail_type("Amazon Connect Contact Event")
                    .event_bus_name(&bus)
                    .resources(envelope["resources"][0].as_str().unwrap_or_default())
                    .resources(envelope["resources"][1].as_str().unwrap_or_default())
                    .detail(envelope["detail"].to_string())
                    .time(aws_sdk_eventbridge::primitives::DateTime::from_millis(
                        time.timestamp_millis(),
                    ))
                    .build();
                for attempt in 1..=5u64 {
                    match client.put_events().entries(entry.clone()).send().await {
                        Ok(out) if out.failed_entry_count() == 0 => break,
                        Ok(out) => tracing::warn!(
                            failed = out.failed_entry_count(),
                            "PutEvents rejected the contact event"
                        ),
                        Err(e) => {
                            tracing::warn!(error = %aws_sdk_eventbridge::error::DisplayErrorContext(&e), attempt, "PutEvents failed")
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
                }
            }
            published.lock().unwrap().push(envelope);
        });
    }
}

async fn eventbridge_client(e: &EventBridgeConfig) -> aws_sdk_eventbridge::Client {
    use aws_sdk_eventbridge::config::{BehaviorVersion, Credentials, Region};
    if e.default_credentials {
        let mut loader =
            aws_config::defaults(BehaviorVersion::latest()).region(Region::new(e.region.clone()));
        if let Some(ep) = &e.endpoint {
            loader = loader.endpoint_url(ep);
        }
        return aws_sdk_eventbridge::Client::new(&loader.load().await);
    }
    let mut b = aws_sdk_eventbridge::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(e.region.clone()))
        .credentials_provider(Credentials::new("test", "test", None, None, "connect-sim"));
    if let Some(ep) = &e.endpoint {
        b = b.endpoint_url(ep);
    }
    aws_sdk_eventbridge::Client::from_conf(b.build())
}

// ---------------------------------------------------------------- server handle

/// A running simulator.
pub struct SimServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl SimServer {
    /// Bind `listen` (use port 0 for any) and serve. Quotas use the system clock.
    pub async fn start(cfg: SimConfig, listen: SocketAddr) -> anyhow::Result<SimServer> {
        SimServer::start_with_clock(cfg, listen, Clock::system()).await
    }

    /// Like [`SimServer::start`] with an explicit quota clock.
    pub async fn start_with_clock(
        cfg: SimConfig,
        listen: SocketAddr,
        clock: Clock,
    ) -> anyhow::Result<SimServer> {
        let sink = CtrSink::new(&cfg).await?;
        let events = EventSink::new(&cfg.contact_events, cfg.time_scale).await;
        let (ended_tx, _) = broadcast::channel(1024);
        let shared = Arc::new(Shared {
            cfg,
            clock,
            buckets: Mutex::new(HashMap::new()),
            calls: Mutex::new(Calls::default()),
            sink,
            ended_tx,
            changed: Notify::new(),
            errors: Mutex::new(BTreeMap::new()),
            injected: Mutex::new(VecDeque::new()),
            holds: Mutex::new(VecDeque::new()),
            events,
            peak_live: AtomicUsize::new(0),
        });
        let app = router(shared.clone());
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(SimServer {
            addr,
            shared,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, ready for `endpoint_url`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn instance_id(&self) -> &str {
        &self.shared.cfg.instance_id
    }

    /// Error responses sent so far, by error type (e.g. `TooManyRequestsException`).
    pub fn errors(&self) -> BTreeMap<String, u64> {
        self.shared.errors.lock().unwrap().clone()
    }

    /// The next `count` StartOutboundVoiceContact requests fail with `code`
    /// (after the quota check, which real throttling precedes); with
    /// `after_create` the call is placed before the error is answered.
    pub fn fail_next(&self, code: &str, count: usize, after_create: bool) {
        let mut q = self.shared.injected.lock().unwrap();
        for _ in 0..count {
            q.push_back(InjectedError {
                code: code.to_string(),
                after_create,
            });
        }
    }

    /// The next `count` StartOutboundVoiceContact requests place their call
    /// and answer only `hold` (real time) later: a caller killed meanwhile
    /// never learns the contact id.
    pub fn hold_next(&self, count: usize, hold: Duration) {
        let mut q = self.shared.holds.lock().unwrap();
        for _ in 0..count {
            q.push_back(hold);
        }
    }

    /// Contact events published so far (after best-effort drops), in order.
    pub fn events(&self) -> Vec<Value> {
        self.shared.events.published.lock().unwrap().clone()
    }

    /// Contact events that were dropped (never published), for assertions.
    pub fn dropped_events(&self) -> usize {
        self.shared.events.dropped.load(Ordering::Relaxed)
    }

    /// Most calls that were live at the same time so far.
    pub fn peak_live_calls(&self) -> usize {
        self.shared.peak_live.load(Ordering::Relaxed)
    }

    /// Every call so far, in the order placed.
    pub fn calls(&self) -> Vec<CallView> {
        let calls = self.shared.calls.lock().unwrap();
        calls
            .order
            .iter()
            .filter_map(|id| calls.by_id.get(id))
            .map(|e| self.shared.view(e))
            .collect()
    }

    pub fn call(&self, contact_id: &str) -> Option<CallView> {
        let calls = self.shared.calls.lock().unwrap();
        calls.by_id.get(contact_id).map(|e| self.shared.view(e))
    }

    /// Observe calls as they end.
    pub fn subscribe_ended(&self) -> broadcast::Receiver<CallView> {
        self.shared.ended_tx.subscribe()
    }

    /// Wait until `contact_id` has ended (None on timeout or unknown contact).
    pub async fn wait_ended(&self, contact_id: &str, timeout: Duration) -> Option<CallView> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.shared.changed.notified();
            if let Some(v) = self.call(contact_id) {
                if v.state == "ENDED" {
                    return Some(v);
                }
            } else {
                return None;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return None;
            }
        }
    }

    /// Contact records delivered so far (after fault injection), in delivery order.
    pub fn ctrs(&self) -> Vec<Value> {
        self.shared.sink.delivered.lock().unwrap().clone()
    }

    /// Wait until at least `n` records were delivered; returns them.
    pub async fn wait_ctrs(&self, n: usize, timeout: Duration) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.shared.sink.delivered_notify.notified();
            let v = self.ctrs();
            if v.len() >= n {
                return v;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.ctrs();
            }
        }
    }

    /// Stop serving.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/contact/outbound-voice", put(start_outbound_voice_contact))
        .route(
            "/contact/attributes/{instance_id}/{contact_id}",
            get(get_contact_attributes),
        )
        .route(
            "/contacts/{instance_id}/{contact_id}",
            get(describe_contact),
        )
        .route("/contact/stop", post(stop_contact))
        .route("/search-contacts", post(search_contacts))
        .route("/_sim/events", get(list_events))
        .route("/_sim/calls", get(list_calls))
        .route("/_sim/ctrs", get(list_ctrs))
        .route("/_sim/errors", get(list_errors))
        .route("/_sim/faults", post(inject_faults))
        .fallback(fallback)
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            count_errors,
        ))
        .with_state(shared)
}

async fn count_errors(
    State(s): State<Arc<Shared>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let resp = next.run(req).await;
    if let Some(code) = resp
        .headers()
        .get("x-amzn-ErrorType")
        .and_then(|v| v.to_str().ok())
    {
        *s.errors
            .lock()
            .unwrap()
            .entry(code.to_string())
            .or_default() += 1;
    }
    resp
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultRequest {
    #[serde(flatten)]
    error: InjectedError,
    count: usize,
}

/// `POST /_sim/faults {"code": "InternalServiceException", "count": 3,
/// "after_create": false}`: the next `count` calls fail so.
async fn inject_faults(State(s): State<Arc<Shared>>, Json(f): Json<FaultRequest>) -> StatusCode {
    let mut q = s.injected.lock().unwrap();
    for _ in 0..f.count {
        q.push_back(f.error.clone());
    }
    StatusCode::NO_CONTENT
}

async fn list_errors(State(s): State<Arc<Shared>>) -> Json<BTreeMap<String, u64>> {
    Json(s.errors.lock().unwrap().clone())
}

// ---------------------------------------------------------------- handlers

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StartRequest {
    destination_phone_number: Option<String>,
    contact_flow_id: Option<String>,
    instance_id: Option<String>,
    client_token: Option<String>,
    source_phone_number: Option<String>,
    queue_id: Option<String>,
    #[serde(default)]
    attributes: BTreeMap<String, String>,
    ring_timeout_in_seconds: Option<i64>,
    traffic_type: Option<String>,
    answer_machine_detection_config: Option<Value>,
    campaign_id: Option<String>,
}

/// Accept an id or an ARN ending in `/<id>`.
fn last_segment(s: &str) -> &str {
    s.rsplit('/').next().unwrap_or(s)
}

fn is_e164(s: &str) -> bool {
    let d = s.strip_prefix('+').unwrap_or("");
    (2..=15).contains(&d.len()) && d.chars().all(|c| c.is_ascii_digit()) && !d.starts_with('0')
}

fn parse_body<T: serde::de::DeserializeOwned + Default>(body: &Bytes) -> Result<T, ApiError> {
    if body.is_empty() {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            "InvalidRequestException",
            format!("malformed request body: {e}"),
        )
    })
}

async fn start_outbound_voice_contact(State(s): State<Arc<Shared>>, body: Bytes) -> ApiResult {
    // Every request costs a token, including idempotent replays and invalid
    // requests: that is how the real per-account API quota behaves.
    s.rate_limit("StartOutboundVoiceContact")?;
    let injected = s.injected.lock().unwrap().pop_front();
    if let Some(f) = injected.as_ref().filter(|f| !f.after_create) {
        return Err(ApiError::new(&f.code, "injected fault"));
    }
    let req: StartRequest = parse_body(&body)?;
    let now = s.clock.now();
    let ttl = Duration::from_secs(s.cfg.quotas.client_token_ttl_secs);

    // An idempotent replay: the call exists, so a pending after-create
    // fault is answered as such too.
    let replay = |cid: &str| match &injected {
        Some(f) => Err(ApiError::new(
            &f.code,
            "injected fault (the call was placed)",
        )),
        None => ok_json(json!({ "ContactId": cid })),
    };
    if let Some(tok) = &req.client_token {
        let calls = s.calls.lock().unwrap();
        if let Some(cid) = calls.live_contact_for(tok, now, ttl) {
            return replay(&cid);
        }
    }

    let missing =
        |name: &str| ApiError::new("InvalidParameterException", format!("{name} is required"));
    let dest = req
        .destination_phone_number
        .clone()
        .ok_or_else(|| missing("DestinationPhoneNumber"))?;
    let flow_id = req
        .contact_flow_id
        .clone()
        .ok_or_else(|| missing("ContactFlowId"))?;
    let instance = req
        .instance_id
        .clone()
        .ok_or_else(|| missing("InstanceId"))?;
    if !is_e164(&dest) {
        return Err(ApiError::new(
            "InvalidParameterException",
            format!("DestinationPhoneNumber `{dest}` is not in E.164 format"),
        ));
    }
    if let Some(src) = &req.source_phone_number {
        if !is_e164(src) {
            return Err(ApiError::new(
                "InvalidParameterException",
                format!("SourcePhoneNumber `{src}` is not in E.164 format"),
            ));
        }
    }
    if req.source_phone_number.is_none() && req.queue_id.is_none() {
        return Err(ApiError::new(
            "InvalidRequestException",
            "either SourcePhoneNumber or QueueId must be provided",
        ));
    }
    if let Some(rt) = req.ring_timeout_in_seconds {
        if !(15..=60).contains(&rt) {
            return Err(ApiError::new(
                "InvalidParameterException",
                format!("RingTimeoutInSeconds must be between 15 and 60, got {rt}"),
            ));
        }
    }
    let campaign = match req.traffic_type.as_deref() {
        None | Some("GENERAL") => false,
        Some("CAMPAIGN") => true,
        Some(other) => {
            return Err(ApiError::new(
                "InvalidParameterException",
                format!("TrafficType must be GENERAL or CAMPAIGN, got {other}"),
            ))
        }
    };
    let amd = req
        .answer_machine_detection_config
        .as_ref()
        .is_some_and(|c| c["EnableAnswerMachineDetection"] == json!(true));
    if amd && !campaign {
        return Err(ApiError::new(
            "InvalidParameterException",
            "EnableAnswerMachineDetection requires TrafficType CAMPAIGN",
        ));
    }
    if campaign && !s.cfg.campaign_calls {
        return Err(ApiError::new(
            "InvalidRequestException",
            "Campaign calls are not allowed for this instance: request the Amazon Connect campaigns service quota first",
        ));
    }
    let _ = &req.campaign_id;
    let attr_bytes: usize = req.attributes.iter().map(|(k, v)| k.len() + v.len()).sum();
    if attr_bytes > 32 * 1024 {
        return Err(ApiError::new(
            "InvalidParameterException",
            format!("Attributes are {attr_bytes} bytes; the limit is 32768"),
        ));
    }
    if let Some(bad) = req.attributes.keys().find(|k| {
        k.is_empty()
            || !k
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    }) {
        return Err(ApiError::new(
            "InvalidParameterException",
            format!("attribute key `{bad}` may contain only A-Z a-z 0-9 _ -"),
        ));
    }
    if last_segment(&instance) != s.cfg.instance_id {
        return Err(ApiError::new(
            "ResourceNotFoundException",
            format!("Instance {instance} not found"),
        ));
    }
    let flow_key = last_segment(&flow_id).to_string();
    let Some(flow) = s.cfg.flows.get(&flow_key) else {
        return Err(ApiError::new(
            "ResourceNotFoundException",
            format!("Contact flow {flow_id} not found in instance {instance}"),
        ));
    };
    if let Some(code) = s.cfg.api_errors.get(&dest) {
        return Err(ApiError::new(code, format!("injected {code} for {dest}")));
    }
    let allowed = s
        .cfg
        .allow_list
        .iter()
        .any(|p| dest.starts_with(p.as_str()));
    if !allowed {
        if let Some(p) = s
            .cfg
            .blocked_prefixes
            .iter()
            .find(|p| dest.starts_with(p.as_str()))
        {
            return Err(ApiError::new(
                "DestinationNotAllowedException",
                format!(
                    "Outbound calls to {dest} are not allowed: destinations starting with {p} \
                     are blocked for this instance until allow-listed (ask AWS Support to \
                     enable calls to this country/number type)"
                ),
            ));
        }
    }

    // A phone takes one call at a time: a second call while it rings or is
    // answered gets the busy tone (or voicemail, by `busy_line`).
    let on_a_call = s
        .calls
        .lock()
        .unwrap()
        .by_id
        .values()
        .any(|c| c.destination == dest && c.ended.is_none());
    let persona = match (on_a_call, s.cfg.busy_line) {
        (false, _) => s.cfg.personas.lookup(&dest).clone(),
        (true, crate::config::BusyLine::Busy) => crate::persona::Persona::Busy,
        (true, crate::config::BusyLine::Voicemail) => crate::persona::Persona::voicemail(4.0),
    };
    // RingTimeoutInSeconds is validated always but honoured only for
    // campaign traffic; a GENERAL call rings for Connect's 60 s default.
    let ring_secs = match (campaign, req.ring_timeout_in_seconds) {
        (true, Some(rt)) => rt as u64,
        _ => 60,
    };
    let opts = SimOptions {
        ring_timeout: Duration::from_secs(ring_secs),
        ..s.cfg.simulation.clone()
    };
    let planned = simulate_with(flow, &req.attributes, &persona, &opts);
    let contact_id = new_uuid();
    let (stop_tx, stop_rx) = oneshot::channel();
    {
        let mut calls = s.calls.lock().unwrap();
        // Re-check the token under the lock (two concurrent requests, same token).
        if let Some(tok) = &req.client_token {
            if let Some(cid) = calls.live_contact_for(tok, now, ttl) {
                return replay(&cid);
            }
        }
        let live = calls.by_id.values().filter(|c| c.ended.is_none()).count();
        if live >= s.cfg.quotas.max_concurrent_calls {
            return Err(ApiError::new(
                "LimitExceededException",
                format!(
                    "The concurrent calls limit of {} for instance {} has been reached",
                    s.cfg.quotas.max_concurrent_calls, s.cfg.instance_id
                ),
            ));
        }
        let initiated_at = Utc::now();
        calls.by_id.insert(
            contact_id.clone(),
            CallEntry {
                contact_id: contact_id.clone(),
                client_token: req.client_token.clone(),
                destination: dest.clone(),
                source: req.source_phone_number.clone(),
                queue_id: req.queue_id.clone(),
                flow_id: flow_key,
                persona: persona.kind().to_string(),
                initial: req.attributes.clone(),
                planned: planned.clone(),
                initiated_at,
                started: Instant::now(),
                last_update: initiated_at,
                ended: None,
                ended_instant: None,
                ended_unix_ms: None,
                stop: Some(stop_tx),
            },
        );
        calls.order.push(contact_id.clone());
        if let Some(tok) = &req.client_token {
            calls.tokens.insert(tok.clone(), (contact_id.clone(), now));
        }
        s.peak_live.fetch_max(live + 1, Ordering::Relaxed);
    }
    tracing::info!(contact = %contact_id, destination = %dest, persona = persona.kind(), "call placed");
    let initiated_at = s
        .calls
        .lock()
        .unwrap()
        .by_id
        .get(&contact_id)
        .map(|e| e.initiated_at)
        .unwrap_or_else(Utc::now);
    s.events
        .emit(&s.cfg, "INITIATED", &contact_id, initiated_at, None, None);
    if let Some(at) = planned.connected_at_offset {
        let s2 = s.clone();
        let cid = contact_id.clone();
        tokio::spawn(async move {
            tokio::time::sleep(at.div_f64(s2.cfg.time_scale)).await;
            // Not if StopContact ended the call before it was answered.
            let still = s2
                .calls
                .lock()
                .unwrap()
                .by_id
                .get(&cid)
                .is_some_and(|e| e.ended.is_none());
            if still {
                let connected =
                    initiated_at + chrono::Duration::milliseconds(at.as_millis() as i64);
                s2.events.emit(
                    &s2.cfg,
                    "CONNECTED_TO_SYSTEM",
                    &cid,
                    initiated_at,
                    Some(connected),
                    None,
                );
            }
        });
    }
    tokio::spawn(play(s.clone(), contact_id.clone(), planned, stop_rx));
    if let Some(f) = injected {
        return Err(ApiError::new(
            &f.code,
            "injected fault (the call was placed)",
        ));
    }
    let hold = s.holds.lock().unwrap().pop_front();
    if let Some(hold) = hold {
        tokio::time::sleep(hold).await;
    }
    ok_json(json!({ "ContactId": contact_id }))
}

/// Play a planned call in scaled real time, then end it and emit its record.
async fn play(
    s: Arc<Shared>,
    contact_id: String,
    planned: CallResult,
    stop_rx: oneshot::Receiver<()>,
) {
    let real = planned.ended_at_offset.div_f64(s.cfg.time_scale);
    let stopped = tokio::select! {
        _ = tokio::time::sleep(real) => false,
        r = stop_rx => r.is_ok(),
    };
    let (view, ctr, number) = {
        let mut calls = s.calls.lock().unwrap();
        let Some(e) = calls.by_id.get_mut(&contact_id) else {
            return;
        };
        let final_result = if stopped {
            let at = s.virtual_elapsed(e.started);
            e.planned.stopped_at(&e.initial, at)
        } else {
            planned
        };
        e.last_update = e.initiated_at
            + chrono::Duration::milliseconds(final_result.ended_at_offset.as_millis() as i64);
        e.ended = Some(final_result.clone());
        e.ended_instant = Some(Instant::now());
        e.ended_unix_ms = Some(Utc::now().timestamp_millis());
        e.stop = None;
        let ctr = build_ctr(&s.ctr_context(e), &final_result);
        let connected = final_result
            .connected_at_offset
            .map(|c| e.initiated_at + chrono::Duration::milliseconds(c.as_millis() as i64));
        let ended = e.initiated_at
            + chrono::Duration::milliseconds(final_result.ended_at_offset.as_millis() as i64);
        s.events.emit(
            &s.cfg,
            "DISCONNECTED",
            &e.contact_id,
            e.initiated_at,
            connected,
            Some(ended),
        );
        (s.view(e), ctr, e.destination.clone())
    };
    s.changed.notify_waiters();
    let _ = s.ended_tx.send(view);
    let sink = Arc::new(SinkRef(s.clone()));
    tokio::spawn(async move { sink.deliver(number, ctr).await });
}

/// Lets the sink's `deliver(self: Arc<..>)` run from the shared state.
struct SinkRef(Arc<Shared>);

impl SinkRef {
    async fn deliver(&self, number: String, ctr: Value) {
        let sink = &self.0.sink;
        let plan = sink.plan(&number);
        if plan.drop {
            tracing::info!(contact = %ctr["ContactId"], "fault injection: contact record dropped");
            return;
        }
        let delay = (sink.lag_secs() + plan.delay_secs).max(0.0) / sink.time_scale;
        if delay > 0.0 {
            tokio::time::sleep(Duration::from_secs_f64(delay)).await;
        }
        for i in 0..=plan.copies {
            let rec = if i == 0 {
                ctr.clone()
            } else {
                bump_last_update(&ctr, (plan.bump_secs * i as u64) as i64)
            };
            sink.put(&rec).await;
        }
    }
}

fn check_instance(s: &Shared, instance: &str) -> Result<(), ApiError> {
    if last_segment(instance) != s.cfg.instance_id {
        return Err(ApiError::new(
            "ResourceNotFoundException",
            format!("Instance {instance} not found"),
        ));
    }
    Ok(())
}

/// The current view of a contact, or Connect's not-found error.
fn contact_view(s: &Shared, contact: &str) -> Result<CallView, ApiError> {
    let calls = s.calls.lock().unwrap();
    let e = calls.by_id.get(contact).ok_or_else(|| {
        ApiError::new(
            "ResourceNotFoundException",
            format!("Contact {contact} not found"),
        )
    })?;
    Ok(s.view(e))
}

async fn get_contact_attributes(
    State(s): State<Arc<Shared>>,
    Path((instance, contact)): Path<(String, String)>,
) -> ApiResult {
    s.rate_limit("GetContactAttributes")?;
    check_instance(&s, &instance)?;
    let v = contact_view(&s, &contact)?;
    ok_json(json!({ "Attributes": v.attributes }))
}

async fn describe_contact(
    State(s): State<Arc<Shared>>,
    Path((instance, contact)): Path<(String, String)>,
) -> ApiResult {
    s.rate_limit("DescribeContact")?;
    check_instance(&s, &instance)?;
    let calls = s.calls.lock().unwrap();
    let e = calls.by_id.get(&contact).ok_or_else(|| {
        ApiError::new(
            "ResourceNotFoundException",
            format!("Contact {contact} not found"),
        )
    })?;
    let v = s.view(e);
    let epoch = |ts: &str| {
        DateTime::parse_from_rfc3339(ts)
            .map(|t| t.timestamp_millis() as f64 / 1000.0)
            .unwrap_or(0.0)
    };
    let arn = format!(
        "arn:aws:connect:{}:{}:instance/{}/contact/{}",
        s.cfg.region, s.cfg.account_id, s.cfg.instance_id, e.contact_id
    );
    let mut c = json!({
        "Arn": arn,
        "Id": e.contact_id,
        "InitiationMethod": "API",
        "Channel": "VOICE",
        "InitiationTimestamp": epoch(&v.initiation_timestamp),
        "LastUpdateTimestamp": (e.last_update.timestamp_millis() as f64) / 1000.0,
        "CustomerEndpoint": {"Type": "TELEPHONE_NUMBER", "Address": e.destination},
        "Attributes": v.attributes,
    });
    if let Some(src) = &e.source {
        c["SystemEndpoint"] = json!({"Type": "TELEPHONE_NUMBER", "Address": src});
    }
    if let Some(ts) = &v.connected_to_system_timestamp {
        c["ConnectedToSystemTimestamp"] = json!(epoch(ts));
    }
    if let Some(ts) = &v.disconnect_timestamp {
        c["DisconnectTimestamp"] = json!(epoch(ts));
    }
    if let Some(r) = &v.disconnect_reason {
        c["DisconnectReason"] = json!(r);
    }
    ok_json(json!({ "Contact": c }))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StopRequest {
    contact_id: Option<String>,
    instance_id: Option<String>,
}

async fn stop_contact(State(s): State<Arc<Shared>>, body: Bytes) -> ApiResult {
    s.rate_limit("StopContact")?;
    let req: StopRequest = parse_body(&body)?;
    let instance = req
        .instance_id
        .ok_or_else(|| ApiError::new("InvalidParameterException", "InstanceId is required"))?;
    let contact = req
        .contact_id
        .ok_or_else(|| ApiError::new("InvalidParameterException", "ContactId is required"))?;
    check_instance(&s, &instance)?;
    let stop = {
        let mut calls = s.calls.lock().unwrap();
        match calls.by_id.get_mut(&contact) {
            None => None,
            Some(e) => e.stop.take(),
        }
    };
    match stop {
        Some(tx) => {
            let _ = tx.send(());
            ok_json(json!({}))
        }
        None => Err(ApiError::new(
            "ContactNotFoundException",
            format!("Contact {contact} is not active or does not exist"),
        )),
    }
}

async fn list_calls(State(s): State<Arc<Shared>>) -> Response {
    let calls = s.calls.lock().unwrap();
    let v: Vec<CallView> = calls
        .order
        .iter()
        .filter_map(|id| calls.by_id.get(id))
        .map(|e| s.view(e))
        .collect();
    Json(v).into_response()
}

async fn list_ctrs(State(s): State<Arc<Shared>>) -> Response {
    Json(s.sink.delivered.lock().unwrap().clone()).into_response()
}

async fn fallback(headers: HeaderMap, uri: axum::http::Uri) -> ApiError {
    let _ = headers;
    ApiError {
        status: StatusCode::NOT_FOUND,
        code: "UnknownOperationException".into(),
        message: format!("connect-sim does not implement {uri}"),
    }
}

async fn list_events(State(s): State<Arc<Shared>>) -> Response {
    Json(s.events.published.lock().unwrap().clone()).into_response()
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SearchRequest {
    instance_id: Option<String>,
    time_range: Option<SearchTimeRange>,
    search_criteria: Option<Value>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SearchTimeRange {
    #[serde(rename = "Type")]
    kind: String,
    start_time: f64,
    end_time: f64,
}

/// SearchContacts over the contacts' initiation time and searchable
/// attributes. A voice contact shows once it has disconnected ("You can
/// search for contacts once they have been either connected to an agent,
/// or have been disconnected"), `index_delay_secs` later; an attribute key
/// nobody made searchable is refused.
async fn search_contacts(State(s): State<Arc<Shared>>, body: Bytes) -> ApiResult {
    s.rate_limit("SearchContacts")?;
    let req: SearchRequest = parse_body(&body)?;
    let instance = req
        .instance_id
        .ok_or_else(|| ApiError::new("InvalidParameterException", "InstanceId is required"))?;
    check_instance(&s, &instance)?;
    let range = req
        .time_range
        .ok_or_else(|| ApiError::new("InvalidParameterException", "TimeRange is required"))?;
    if range.kind != "INITIATION_TIMESTAMP" && range.kind != "DISCONNECT_TIMESTAMP" {
        return Err(ApiError::new(
            "InvalidParameterException",
            format!(
                "connect-sim searches INITIATION_TIMESTAMP or DISCONNECT_TIMESTAMP ranges, not {}",
                range.kind
            ),
        ));
    }
    if range.end_time < range.start_time || range.end_time - range.start_time > 8.0 * 7.0 * 86400.0
    {
        return Err(ApiError::new(
            "InvalidParameterException",
            "TimeRange must run forwards and span at most 8 weeks",
        ));
    }
    let max = req.max_results.unwrap_or(100);
    if !(1..=100).contains(&max) {
        return Err(ApiError::new(
            "InvalidParameterException",
            "MaxResults must be 1 to 100",
        ));
    }
    let skip: usize = match &req.next_token {
        Some(t) => t
            .parse()
            .map_err(|_| ApiError::new("InvalidParameterException", "bad NextToken"))?,
        None => 0,
    };
    // (key, accepted values), with MATCH_ALL / MATCH_ANY semantics.
    let mut criteria: Vec<(String, Vec<String>)> = Vec::new();
    let mut match_all = true;
    if let Some(sc) = &req.search_criteria {
        let attrs = &sc["SearchableContactAttributes"];
        if !attrs.is_null() {
            match attrs["MatchType"].as_str().unwrap_or("MATCH_ALL") {
                "MATCH_ALL" => match_all = true,
                "MATCH_ANY" => match_all = false,
                other => {
                    return Err(ApiError::new(
                        "InvalidParameterException",
                        format!(
                            "connect-sim supports MatchType MATCH_ALL and MATCH_ANY, not {other}"
                        ),
                    ))
                }
            }
            for c in attrs["Criteria"].as_array().cloned().unwrap_or_default() {
                let key = c["Key"].as_str().unwrap_or_default().to_string();
                if !s.cfg.contact_search.searchable_attributes.contains(&key) {
                    return Err(ApiError::new(
                        "InvalidParameterException",
                        format!("contact attribute `{key}` is not configured as searchable for this instance"),
                    ));
                }
                let values = c["Values"]
                    .as_array()
                    .map(|v| {
                        v.iter()
                            .filter_map(|x| x.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default();
                criteria.push((key, values));
            }
            if criteria.len() > 15 {
                return Err(ApiError::new(
                    "InvalidParameterException",
                    "at most 15 attribute criteria",
                ));
            }
        }
    }
    let index_delay =
        Duration::from_secs_f64(s.cfg.contact_search.index_delay_secs.max(0.0) / s.cfg.time_scale);
    let calls = s.calls.lock().unwrap();
    let mut found = Vec::new();
    for id in &calls.order {
        let Some(e) = calls.by_id.get(id) else {
            continue;
        };
        let Some(ended_at) = e.ended_instant else {
            continue;
        };
        if ended_at.elapsed() < index_delay {
            continue;
        }
        let result = e.ended.as_ref().expect("ended_instant implies ended");
        let initiated = e.initiated_at.timestamp_millis() as f64 / 1000.0;
        let disconnected = (e.initiated_at
            + chrono::Duration::milliseconds(result.ended_at_offset.as_millis() as i64))
        .timestamp_millis() as f64
            / 1000.0;
        let t = if range.kind == "INITIATION_TIMESTAMP" {
            initiated
        } else {
            disconnected
        };
        if t < range.start_time || t > range.end_time {
            continue;
        }
        let hit = |(k, vals): &(String, Vec<String>)| {
            result.attributes.get(k).is_some_and(|v| vals.contains(v))
        };
        let matches = criteria.is_empty()
            || if match_all {
                criteria.iter().all(hit)
            } else {
                criteria.iter().any(hit)
            };
        if !matches {
            continue;
        }
        found.push(json!({
            "Arn": format!("arn:aws:connect:{}:{}:instance/{}/contact/{}", s.cfg.region, s.cfg.account_id, s.cfg.instance_id, e.contact_id),
            "Id": e.contact_id,
            "InitiationMethod": "API",
            "Channel": "VOICE",
            "InitiationTimestamp": initiated,
            "DisconnectTimestamp": disconnected,
        }));
    }
    let total = found.len();
    let page: Vec<Value> = found.into_iter().skip(skip).take(max as usize).collect();
    let mut out = json!({ "Contacts": page, "TotalCount": total });
    if skip + (max as usize) < total {
        out["NextToken"] = json!((skip + max as usize).to_string());
    }
    ok_json(out)
}
