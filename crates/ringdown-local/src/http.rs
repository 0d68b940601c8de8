//! The HTTP ingest endpoint of the embedded default.
//!
//! - `POST /v1/alerts`: any payload `ringdown_core::parse` understands
//!   (Alertmanager or Grafana webhook, CloudWatch alarm, EventBridge event,
//!   SNS envelope, alertinfo, generic JSON). The alerts are durable when the
//!   answer is sent:
//!   - `202 {"accepted": n, "incidents": [ids], "alerts": [dispositions]}`;
//!   - `400 {"error": "...", "reason": "<parse reason code>"}` when the body
//!     is not an alert payload (resending it cannot help);
//!   - `413 {"error": "...", "reason": "too_large"}` when the body exceeds
//!     [`HttpLimits::max_body_bytes`] (refused while reading, the rest of the
//!     body is never buffered);
//!   - `503 {"error": "...", "reason": "..."}` with `Retry-After` when the
//!     alerts could not be recorded (store failure, no roster): the sender
//!     should retry, and Alertmanager does.
//! - `GET /healthz`: `200 ok` while the process serves requests.
//!
//! Who may post: with a token configured, every request must carry it
//! (`Authorization: Bearer …`, else `401`); without one (loopback only, the
//! binary refuses anything else), firing alerts are taken and resolved ones
//! refused with `401`, since resolving stops a call. Requests beyond
//! [`HttpLimits::requests_per_sec`] get `429`, beyond
//! [`HttpLimits::max_concurrent_requests`] at once `503`.
//!
//! Other routes (`/metrics`, `/readyz`) are merged in with [`router_with`].
//! The listener's address is the caller's choice; the CLI binds loopback by
//! default.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use ringdown_core::parse::{self, ParseError};
use ringdown_engine::{AlertDisposition, Ingest, IngestError, StoreError};
use serde::Serialize;
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Bounds on what the endpoint accepts, and who may post.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpLimits {
    /// Largest request body, in bytes; larger ones get 413. Default 1 MiB
    /// (the parser refuses larger messages anyway).
    pub max_body_bytes: usize,
    /// Requests worked on at once; more get 503 with `Retry-After`.
    pub max_concurrent_requests: usize,
    /// Sustained requests per second (burst twice that); more get 429.
    pub requests_per_sec: u32,
    /// The bearer token every request must carry (`Authorization: Bearer
    /// …`). Without one, only firing alerts are taken: resolving an
    /// incident (which stops its call) or anything else needs the token.
    pub token: Option<String>,
}

impl std::fmt::Debug for HttpLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpLimits")
            .field("max_body_bytes", &self.max_body_bytes)
            .field("max_concurrent_requests", &self.max_concurrent_requests)
            .field("requests_per_sec", &self.requests_per_sec)
            .field("token", &self.token.as_ref().map(|_| "<hidden>"))
            .finish()
    }
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            max_body_bytes: 1024 * 1024,
            max_concurrent_requests: 64,
            requests_per_sec: 500,
            token: None,
        }
    }
}

/// The `202` answer to `POST /v1/alerts`.
#[derive(Debug, Clone, Serialize)]
pub struct AcceptedBody {
    /// Alerts parsed from the body (and recorded).
    pub accepted: usize,
    /// Distinct incidents the alerts joined or opened, first seen first.
    pub incidents: Vec<String>,
    /// What happened to each alert taken, in the order of the body.
    pub alerts: Vec<AlertDisposition>,
    /// Alerts of the message that were not taken, and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<RefusedAlert>,
}

/// An alert of an accepted message that was not taken.
#[derive(Debug, Clone, Serialize)]
pub struct RefusedAlert {
    /// The alert's fingerprint.
    pub fingerprint: String,
    /// Short snake_case reason, for machines.
    pub reason: &'static str,
    /// For the human reading the sender's log.
    pub error: &'static str,
}

const RESOLVE_NEEDS_TOKEN: &str = "resolving alerts needs the ingest token: set RINGDOWN_HTTP_TOKEN (or http.token_file) and send Authorization: Bearer <token>";

/// The body of every error answer.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorBody {
    /// For the human reading the sender's log.
    pub error: String,
    /// Short snake_case reason, for machines.
    pub reason: &'static str,
}

#[derive(Clone)]
struct AppState {
    ingest: Arc<dyn Ingest>,
    limits: HttpLimits,
    in_flight: Arc<tokio::sync::Semaphore>,
    rate: Arc<ringdown_engine::gate::Bucket>,
}

/// `POST /v1/alerts` and `GET /healthz`.
pub fn router(ingest: Arc<dyn Ingest>, limits: HttpLimits) -> Router {
    let body_limit = DefaultBodyLimit::max(limits.max_body_bytes);
    let state = AppState {
        in_flight: Arc::new(tokio::sync::Semaphore::new(
            limits.max_concurrent_requests.max(1),
        )),
        rate: ringdown_engine::gate::bucket(
            limits.requests_per_sec.max(1),
            limits.requests_per_sec.max(1).saturating_mul(2),
        ),
        ingest: Arc::new(crate::batch::Batched::new(ingest)),
        limits,
    };
    Router::new()
        .route("/v1/alerts", post(post_alerts).layer(body_limit))
        .route("/healthz", get(healthz))
        .with_state(state)
}

/// Compares without an early exit, so the time taken says nothing of how
/// much of a guess was right.
pub fn same_secret(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for (i, x) in a.iter().enumerate() {
        diff |= usize::from(x ^ b.get(i).copied().unwrap_or(0));
    }
    diff == 0
}

/// Whether the request carries `token` as its bearer token.
pub fn has_token(headers: &axum::http::HeaderMap, token: &str) -> bool {
    bearer(headers).is_some_and(|got| same_secret(token.as_bytes(), got.as_bytes()))
}

/// The bearer token of a request, if it carries one.
fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

fn unauthorized(reason: &'static str, message: &str) -> Response {
    let mut resp = error(StatusCode::UNAUTHORIZED, reason, message.to_string());
    resp.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"ringdown\""),
    );
    resp
}

/// [`router`] plus `extra` routes (`/metrics`, `/readyz`, …). Panics, as
/// [`Router::merge`] does, if `extra` defines a route this one has.
pub fn router_with(ingest: Arc<dyn Ingest>, limits: HttpLimits, extra: Router) -> Router {
    router(ingest, limits).merge(extra)
}

/// Serves `router` on `listener` until `shutdown` completes, then stops
/// accepting and waits for the requests in flight to finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "HTTP ingest listening");
    }
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await?;
    tracing::info!("HTTP ingest stopped");
    Ok(())
}

async fn healthz() -> &'static str {
    "ok"
}

fn error(status: StatusCode, reason: &'static str, message: String) -> Response {
    (
        status,
        Json(ErrorBody {
            error: message,
            reason,
        }),
    )
        .into_response()
}

fn too_large(limit: usize) -> Response {
    error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        format!(
            "request body is larger than the limit of {limit} bytes: send fewer alerts per request"
        ),
    )
}

async fn post_alerts(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let authorized = match (&state.limits.token, bearer(&headers)) {
        (Some(want), Some(got)) if same_secret(want.as_bytes(), got.as_bytes()) => true,
        (Some(_), _) => {
            metrics::counter!("ringdown_http_refused_total", "reason" => "unauthorized")
                .increment(1);
            tracing::warn!("alert request refused: missing or wrong token");
            return unauthorized(
                "unauthorized",
                "this endpoint needs its token: send Authorization: Bearer <token>",
            );
        }
        (None, _) => false,
    };
    if state.rate.check().is_err() {
        metrics::counter!("ringdown_http_refused_total", "reason" => "rate").increment(1);
        return retry_later(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_requests",
            format!(
                "more than {} requests a second: slow down",
                state.limits.requests_per_sec
            ),
            1,
        );
    }
    let Ok(_slot) = state.in_flight.clone().try_acquire_owned() else {
        metrics::counter!("ringdown_http_refused_total", "reason" => "busy").increment(1);
        return retry_later(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            format!(
                "{} requests are already being worked on: retry shortly",
                state.limits.max_concurrent_requests
            ),
            1,
        );
    };
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            tracing::warn!(
                limit = state.limits.max_body_bytes,
                "alert request refused: body too large"
            );
            return too_large(state.limits.max_body_bytes);
        }
        Err(rejection) => {
            tracing::warn!(error = %rejection.body_text(), "alert request body could not be read");
            return error(
                StatusCode::BAD_REQUEST,
                "unreadable_body",
                format!("cannot read the request body: {}", rejection.body_text()),
            );
        }
    };
    if body.len() > state.limits.max_body_bytes {
        return too_large(state.limits.max_body_bytes);
    }
    let alerts = match parse::parse(&body) {
        Ok(alerts) => alerts,
        Err(e @ ParseError::TooLarge { .. }) => {
            tracing::warn!(error = %e, "alert request refused");
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                e.reason_code(),
                e.to_string(),
            );
        }
        Err(e) => {
            tracing::warn!(reason = e.reason_code(), error = %e, "alert request refused: unparseable");
            return error(StatusCode::BAD_REQUEST, e.reason_code(), e.to_string());
        }
    };
    let mut alerts = alerts;
    let mut refused = Vec::new();
    if !authorized
        && alerts
            .iter()
            .any(|a| a.status == ringdown_core::Status::Resolved)
    {
        // A resolved alert closes an incident and stops its call: never on
        // the word of whoever can reach the port. The firing alerts of the
        // same message are still taken: Alertmanager does not resend a
        // message answered 4xx, and a page must not be lost with it.
        let (resolved, firing): (Vec<_>, Vec<_>) = alerts
            .into_iter()
            .partition(|a| a.status == ringdown_core::Status::Resolved);
        metrics::counter!("ringdown_http_refused_total", "reason" => "resolve_without_token")
            .increment(resolved.len() as u64);
        tracing::warn!(
            refused = resolved.len(),
            "resolved alerts refused: resolving needs the ingest token"
        );
        if firing.is_empty() {
            return unauthorized("token_required_to_resolve", RESOLVE_NEEDS_TOKEN);
        }
        refused = resolved
            .into_iter()
            .map(|a| RefusedAlert {
                fingerprint: a.fingerprint,
                reason: "token_required_to_resolve",
                error: RESOLVE_NEEDS_TOKEN,
            })
            .collect();
        alerts = firing;
    }
    let accepted = alerts.len();
    let report = if alerts.is_empty() {
        Default::default()
    } else {
        match state.ingest.ingest(alerts).await {
            Ok(report) => report,
            Err(e) => return ingest_failed(e),
        }
    };
    tracing::debug!(accepted, "alerts accepted over HTTP");
    (
        StatusCode::ACCEPTED,
        Json(AcceptedBody {
            accepted,
            incidents: report.incident_ids(),
            alerts: report.alerts,
            refused,
        }),
    )
        .into_response()
}

fn ingest_failed(e: IngestError) -> Response {
    let (reason, retry_after) = match &e {
        IngestError::NoRoster => ("no_roster", 30),
        IngestError::Store(StoreError::Conflict(_)) | IngestError::Contended(_) => {
            ("store_conflict", 1)
        }
        IngestError::Store(StoreError::Backend {
            retryable: true, ..
        }) => ("store_busy", 1),
        IngestError::Store(_) => ("store_unavailable", 5),
    };
    tracing::warn!(reason, error = %e, "alerts could not be recorded: answering 503");
    retry_later(
        StatusCode::SERVICE_UNAVAILABLE,
        reason,
        format!("alerts were not recorded, retry later: {e}"),
        retry_after,
    )
}

/// An error answer that tells the sender when to try again.
fn retry_later(
    status: StatusCode,
    reason: &'static str,
    message: String,
    retry_after_secs: u32,
) -> Response {
    let mut resp = error(status, reason, message);
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    resp
}
