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

/// Bounds on what the endpoint accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpLimits {
    /// Largest request body, in bytes; larger ones get 413. Default 1 MiB
    /// (the parser refuses larger messages anyway).
    pub max_body_bytes: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            max_body_bytes: 1024 * 1024,
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
    /// What happened to each alert, in the order of the body.
    pub alerts: Vec<AlertDisposition>,
}

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
}

/// `POST /v1/alerts` and `GET /healthz`.
pub fn router(ingest: Arc<dyn Ingest>, limits: HttpLimits) -> Router {
    let body_limit = DefaultBodyLimit::max(limits.max_body_bytes);
    Router::new()
        .route("/v1/alerts", post(post_alerts).layer(body_limit))
        .route("/healthz", get(healthz))
        .with_state(AppState { ingest, limits })
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
    body: Result<Bytes, BytesRejection>,
) -> Response {
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
        }),
    )
        .into_response()
}

fn ingest_failed(e: IngestError) -> Response {
    let (reason, retry_after) = match &e {
        IngestError::NoRoster => ("no_roster", 30),
        IngestError::Store(StoreError::Conflict(_)) => ("store_conflict", 1),
        IngestError::Store(StoreError::Backend {
            retryable: true, ..
        }) => ("store_busy", 1),
        IngestError::Store(_) => ("store_unavailable", 5),
    };
    tracing::warn!(reason, error = %e, "alerts could not be recorded: answering 503");
    let mut resp = error(
        StatusCode::SERVICE_UNAVAILABLE,
        reason,
        format!("alerts were not recorded, retry later: {e}"),
    );
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    resp
}
