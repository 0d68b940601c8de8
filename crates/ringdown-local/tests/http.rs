//! The HTTP ingest endpoint, against a fake `Ingest` that records its calls.

use async_trait::async_trait;
use axum::body::{Body, Bytes};
use axum::http::{header, Request, StatusCode};
use axum::routing::get;
use axum::Router;
use http_body_util::BodyExt;
use ringdown_core::{Alert, Status};
use ringdown_engine::{AlertDisposition, Ingest, IngestError, IngestReport, StoreError};
use ringdown_local::{router, router_with, serve, HttpLimits};
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceExt;

/// Makes the error a failing fake returns.
type Failure = fn() -> IngestError;

#[derive(Default)]
struct FakeIngest {
    calls: Mutex<Vec<Vec<Alert>>>,
    fail: Option<Failure>,
}

#[async_trait]
impl Ingest for FakeIngest {
    async fn ingest(&self, alerts: Vec<Alert>) -> Result<IngestReport, IngestError> {
        self.calls.lock().unwrap().push(alerts.clone());
        if let Some(fail) = self.fail {
            return Err(fail());
        }
        let alerts = alerts
            .iter()
            .map(|a| match a.status {
                Status::Firing => AlertDisposition::Grouped {
                    fingerprint: a.fingerprint.clone(),
                    incident_id: format!(
                        "inc-{}",
                        a.labels.get("system").map(String::as_str).unwrap_or("none")
                    ),
                },
                Status::Resolved => AlertDisposition::ResolvedNoIncident {
                    fingerprint: a.fingerprint.clone(),
                },
            })
            .collect();
        Ok(IngestReport { alerts })
    }
}

const ALERTMANAGER: &str = r#"{
  "version": "4",
  "groupKey": "{}:{alertname=\"DiskFull\"}",
  "status": "firing",
  "receiver": "ringdown",
  "groupLabels": {"alertname": "DiskFull"},
  "commonLabels": {"alertname": "DiskFull"},
  "commonAnnotations": {},
  "externalURL": "http://alertmanager:9093",
  "alerts": [
    {"status": "firing", "labels": {"alertname": "DiskFull", "system": "db", "instance": "db-1"},
     "annotations": {"summary": "disk 95% full on db-1"},
     "startsAt": "2025-03-01T02:00:00Z", "endsAt": "0001-01-01T00:00:00Z", "fingerprint": "aaaa000000000001"},
    {"status": "firing", "labels": {"alertname": "DiskFull", "system": "db", "instance": "db-2"},
     "annotations": {"summary": "disk 96% full on db-2"},
     "startsAt": "2025-03-01T02:00:05Z", "endsAt": "0001-01-01T00:00:00Z", "fingerprint": "aaaa000000000002"},
    {"status": "resolved", "labels": {"alertname": "DiskFull", "system": "web", "instance": "web-1"},
     "annotations": {},
     "startsAt": "2025-03-01T01:00:00Z", "endsAt": "2025-03-01T01:55:00Z", "fingerprint": "aaaa000000000003"}
  ]
}"#;

/// The token the tests' routers are given; the sample resolves an alert,
/// which only a sender holding the token may do.
const TOKEN: &str = "test-ingest-token";

fn limits() -> HttpLimits {
    HttpLimits {
        token: Some(TOKEN.into()),
        ..HttpLimits::default()
    }
}

fn post(body: impl Into<Body>) -> Request<Body> {
    Request::post("/v1/alerts")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .body(body.into())
        .unwrap()
}

async fn call(app: Router, req: Request<Body>) -> (StatusCode, axum::http::HeaderMap, Value) {
    let resp = app.oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, headers, json)
}

#[tokio::test]
async fn alertmanager_webhook_is_accepted_with_incident_ids() {
    let ingest = Arc::new(FakeIngest::default());
    let app = router(ingest.clone(), limits());
    let (status, _, body) = call(app, post(ALERTMANAGER)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["accepted"], 3);
    assert_eq!(body["incidents"], serde_json::json!(["inc-db"]));
    let alerts = body["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 3);
    assert_eq!(alerts[0]["result"], "grouped");
    assert_eq!(alerts[0]["fingerprint"], "aaaa000000000001");
    assert_eq!(alerts[2]["result"], "resolved_no_incident");

    let calls = ingest.calls.lock().unwrap();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].len(), 3);
    assert_eq!(calls[0][1].labels["instance"], "db-2");
    assert_eq!(calls[0][2].status, Status::Resolved);
}

#[tokio::test]
async fn garbage_is_a_400_with_the_parse_reason() {
    let ingest = Arc::new(FakeIngest::default());
    for (body, reason) in [
        ("this is not json {", "invalid_json"),
        ("", "empty"),
        (r#"{"hello": "world"}"#, "unknown_format"),
    ] {
        let (status, _, json) = call(router(ingest.clone(), limits()), post(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body:?}: {json}");
        assert_eq!(json["reason"], reason, "{body:?}: {json}");
        let msg = json["error"].as_str().unwrap();
        assert!(msg.len() > 20, "unhelpful message {msg:?}");
    }
    assert!(ingest.calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_2_mib_body_is_a_413() {
    let ingest = Arc::new(FakeIngest::default());
    let big = vec![b' '; 2 * 1024 * 1024];
    let (status, _, json) = call(router(ingest.clone(), limits()), post(big.clone())).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{json}");
    assert_eq!(json["reason"], "too_large");

    // Also when the size is not announced (streamed body, no Content-Length):
    // the body is refused once the limit is crossed, not read to the end.
    let (mut tx, rx) = http_body_util::channel::Channel::<Bytes>::new(1);
    let sender = tokio::spawn(async move {
        let mut sent = 0;
        for _ in 0..32 {
            if tx
                .send_data(Bytes::from(vec![b' '; 64 * 1024]))
                .await
                .is_err()
            {
                break;
            }
            sent += 1;
        }
        sent
    });
    let (status, _, json) = call(router(ingest.clone(), limits()), post(Body::new(rx))).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{json}");
    let sent = sender.await.unwrap();
    assert!(sent < 32, "the whole 2 MiB body was read ({sent} chunks)");

    // A smaller configured limit applies too.
    let limits = HttpLimits {
        max_body_bytes: 100,
        ..limits()
    };
    let (status, _, _) = call(router(ingest.clone(), limits), post(ALERTMANAGER)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(ingest.calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn ingest_failure_is_a_503_with_retry_after() {
    let failures: [(Failure, &str); 3] = [
        (
            || {
                IngestError::Store(StoreError::Backend {
                    message: "disk I/O error".into(),
                    retryable: false,
                    source: None,
                })
            },
            "store_unavailable",
        ),
        (
            || {
                IngestError::Store(StoreError::Backend {
                    message: "database is locked".into(),
                    retryable: true,
                    source: None,
                })
            },
            "store_busy",
        ),
        (|| IngestError::NoRoster, "no_roster"),
    ];
    for (fail, reason) in failures {
        let ingest = Arc::new(FakeIngest {
            fail: Some(fail),
            ..Default::default()
        });
        let (status, headers, json) =
            call(router(ingest.clone(), limits()), post(ALERTMANAGER)).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{json}");
        assert_eq!(json["reason"], reason);
        let msg = json["error"].as_str().unwrap();
        assert!(msg.contains("not recorded"), "{msg}");
        assert!(headers.contains_key(header::RETRY_AFTER));
        assert_eq!(ingest.calls.lock().unwrap().len(), 1);
    }
    // The roster hint reaches the sender.
    let ingest = Arc::new(FakeIngest {
        fail: Some(|| IngestError::NoRoster),
        ..Default::default()
    });
    let (_, _, json) = call(router(ingest, limits()), post(ALERTMANAGER)).await;
    assert!(
        json["error"].as_str().unwrap().contains("roster apply"),
        "{json}"
    );
}

#[tokio::test]
async fn empty_alert_list_is_accepted_without_ingesting() {
    let ingest = Arc::new(FakeIngest::default());
    let (status, _, json) = call(
        router(ingest.clone(), limits()),
        post(r#"{"version":"4","status":"firing","alerts":[]}"#),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{json}");
    assert_eq!(
        json,
        serde_json::json!({"accepted": 0, "incidents": [], "alerts": []})
    );
    assert!(ingest.calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn healthz_extra_routes_and_wrong_method() {
    let ingest = Arc::new(FakeIngest::default());
    let extra = Router::new().route("/readyz", get(|| async { "ready" }));
    let app = router_with(ingest, HttpLimits::default(), extra);

    let (status, _, body) = call(
        app.clone(),
        Request::get("/healthz").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!((status, body), (StatusCode::OK, Value::String("ok".into())));
    let (status, _, body) = call(
        app.clone(),
        Request::get("/readyz").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, Value::String("ready".into()))
    );
    let (status, _, _) = call(
        app.clone(),
        Request::get("/v1/alerts").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let (status, _, _) = call(app, Request::get("/nope").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Sends one raw HTTP/1.1 request and returns the whole response text.
async fn raw_request(addr: std::net::SocketAddr, request: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    stream.read_to_end(&mut out).await.unwrap();
    String::from_utf8(out).unwrap()
}

#[tokio::test]
async fn serve_answers_over_tcp_and_stops_on_shutdown() {
    let ingest = Arc::new(FakeIngest::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, router(ingest.clone(), limits()), async {
        let _ = stop_rx.await;
    }));

    let request = format!(
        "POST /v1/alerts HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Authorization: Bearer {TOKEN}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{ALERTMANAGER}",
        ALERTMANAGER.len()
    );
    let response = tokio::time::timeout(Duration::from_secs(10), raw_request(addr, &request))
        .await
        .expect("no answer from the server");
    assert!(response.starts_with("HTTP/1.1 202"), "{response}");
    let body = &response[response.find("\r\n\r\n").unwrap() + 4..];
    let json: Value = serde_json::from_str(body).unwrap();
    assert_eq!(json["incidents"], serde_json::json!(["inc-db"]));
    assert_eq!(ingest.calls.lock().unwrap().len(), 1);

    let health = raw_request(
        addr,
        "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(health.ends_with("ok"), "{health}");

    stop_tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("serve did not stop after shutdown")
        .unwrap()
        .unwrap();
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "still accepting after shutdown"
    );
}

#[tokio::test]
async fn without_the_token_a_mixed_message_pages_and_does_not_resolve() {
    // Alertmanager does not resend a message answered 4xx: refusing the
    // whole message would lose the two firing alerts riding with the
    // resolved one.
    let ingest = Arc::new(FakeIngest::default());
    let unauthenticated = Request::post("/v1/alerts")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(ALERTMANAGER))
        .unwrap();
    let (status, _, json) = call(
        router(ingest.clone(), HttpLimits::default()),
        unauthenticated,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{json}");
    assert_eq!(json["accepted"], 2);
    assert_eq!(json["incidents"], serde_json::json!(["inc-db"]));
    assert_eq!(json["refused"][0]["fingerprint"], "aaaa000000000003");
    assert_eq!(json["refused"][0]["reason"], "token_required_to_resolve");
    {
        let calls = ingest.calls.lock().unwrap();
        assert_eq!(calls.len(), 1);
        assert!(calls[0].iter().all(|a| a.status == Status::Firing));
        assert_eq!(calls[0].len(), 2);
    }

    // Only resolved alerts: nothing taken, and the sender is told why.
    let resolved_only = r#"{"version":"4","status":"resolved","alerts":[
      {"status":"resolved","labels":{"alertname":"DiskFull","system":"web"},"annotations":{},
       "startsAt":"2025-03-01T01:00:00Z","endsAt":"2025-03-01T01:55:00Z","fingerprint":"aaaa000000000003"}]}"#;
    let req = Request::post("/v1/alerts")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(resolved_only))
        .unwrap();
    let (status, _, json) = call(router(ingest.clone(), HttpLimits::default()), req).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{json}");
    assert_eq!(json["reason"], "token_required_to_resolve");
    assert_eq!(ingest.calls.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn with_a_token_a_request_without_it_or_with_another_is_refused() {
    let ingest = Arc::new(FakeIngest::default());
    for auth in [None, Some("Bearer wrong"), Some("Basic dGVzdA==")] {
        let mut req = Request::post("/v1/alerts").header(header::CONTENT_TYPE, "application/json");
        if let Some(a) = auth {
            req = req.header(header::AUTHORIZATION, a);
        }
        let (status, _, json) = call(
            router(ingest.clone(), limits()),
            req.body(Body::from(ALERTMANAGER)).unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{auth:?}: {json}");
    }
    assert!(ingest.calls.lock().unwrap().is_empty());
}
