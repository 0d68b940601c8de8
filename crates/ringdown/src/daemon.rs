//! What both modes of `ringdown run` share: logging, signals, applying the
//! configured roster, and the HTTP listeners (ingest and operations).

use crate::commands::user;
use crate::config::Config;
use crate::embedded::EXAMPLE_ROSTER;
use anyhow::Result;
use ringdown_core::roster::Roster;
use ringdown_engine::{Engine, Ingest, Store};
use std::process::ExitCode;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tracing::info;

pub fn init_logging(cfg: &crate::config::LogConfig) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&cfg.filter));
    // Colour only for a person at a terminal: log files and collectors get
    // plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let _ = if cfg.format == crate::config::LogFormat::Json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}

/// Whether `run` phones people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Calls are placed and notices sent.
    Live,
    /// A shadow run: nobody is called and nothing is posted; would-be
    /// calls and notices go to this shadow log.
    Shadow(std::path::PathBuf),
}

pub fn main(
    config: Option<&std::path::Path>,
    shadow: bool,
    shadow_log: Option<std::path::PathBuf>,
) -> Result<ExitCode> {
    let cfg = Config::load(config)?;
    let mode = match shadow {
        true => Mode::Shadow(shadow_log.unwrap_or_else(|| cfg.shadow.log_file.clone())),
        false => Mode::Live,
    };
    init_logging(&cfg.log);
    for w in cfg.warnings() {
        tracing::warn!("{w}");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        match cfg.aws.clone() {
            Some(aws) => crate::aws::run(cfg, aws, mode, shutdown_signal()).await,
            None => crate::embedded::run(cfg, mode, shutdown_signal()).await,
        }
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    info!("shutdown requested: no new alerts accepted, finishing calls in progress");
}

/// Applies the configured roster to the store when it changed, or the example
/// roster to an empty store.
pub async fn apply_roster(store: &dyn Store, file: Option<&std::path::Path>) -> Result<()> {
    let stored = store.load_roster().await?;
    let yaml = match file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| user(format!("cannot read {}: {e}", path.display())))?;
            crate::commands::load_roster(path)?;
            text
        }
        None if stored.is_none() => {
            info!("no roster configured: using the built-in example roster");
            EXAMPLE_ROSTER.to_string()
        }
        None => return Ok(()),
    };
    if stored.as_ref().map(|d| d.yaml.as_str()) != Some(yaml.as_str()) {
        Roster::from_yaml(&yaml).map_err(|e| user(e.to_string()))?;
        let doc = store.save_roster(&yaml, chrono::Utc::now()).await?;
        info!(version = doc.version, "roster applied");
    }
    Ok(())
}

/// The process-wide Prometheus recorder (installed once).
fn prometheus() -> metrics_exporter_prometheus::PrometheusHandle {
    static HANDLE: std::sync::OnceLock<metrics_exporter_prometheus::PrometheusHandle> =
        std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Fails only if a recorder is already installed (tests): keep theirs.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// `/metrics` (Prometheus text format) and `/readyz` (a roster is loaded).
pub fn ops_router(engine: Engine) -> axum::Router {
    use axum::http::StatusCode;
    use axum::routing::get;
    let handle = prometheus();
    axum::Router::new()
        .route(
            "/metrics",
            get(move || {
                let h = handle.clone();
                async move { h.render() }
            }),
        )
        .route(
            "/readyz",
            get(move || {
                let engine = engine.clone();
                async move {
                    metrics::gauge!("ringdown_live_calls").set(engine.live_calls() as f64);
                    if engine.roster().is_some() {
                        (StatusCode::OK, "ready")
                    } else {
                        (StatusCode::SERVICE_UNAVAILABLE, "no roster loaded")
                    }
                }
            }),
        )
}

/// The ingest token: `RINGDOWN_HTTP_TOKEN`, else the file `http.token_file`.
pub fn ingest_token(cfg: &Config) -> Result<Option<String>> {
    if let Ok(t) = std::env::var("RINGDOWN_HTTP_TOKEN") {
        let t = t.trim().to_string();
        if !t.is_empty() {
            return Ok(Some(t));
        }
    }
    match &cfg.http.token_file {
        None => Ok(None),
        Some(p) => {
            let t = std::fs::read_to_string(p)
                .map_err(|e| user(format!("cannot read http.token_file {}: {e}", p.display())))?;
            let t = t.trim().to_string();
            if t.len() < 16 {
                return Err(user(format!(
                    "the token in {} is shorter than 16 characters: use a long random one",
                    p.display()
                )));
            }
            Ok(Some(t))
        }
    }
}

async fn bind(addr: std::net::SocketAddr) -> Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| user(format!("cannot listen on {addr}: {e}")))
}

/// Serves the ingest endpoint (`http.listen`) and the operations endpoints
/// (`ops.listen`; `separate_ops` is the default address when they must not
/// share the ingest's listener, as on AWS). Refuses to serve the ingest on
/// anything but loopback without a token.
pub async fn serve_http(
    cfg: &Config,
    engine: Engine,
    separate_ops: Option<std::net::SocketAddr>,
    stop: CancellationToken,
) -> Result<Vec<tokio::task::JoinHandle<std::io::Result<()>>>> {
    let token = ingest_token(cfg)?;
    let listener = bind(cfg.http.listen).await?;
    let addr = listener.local_addr()?;
    if token.is_none() && !addr.ip().is_loopback() {
        return Err(user(format!(
            "http.listen is {addr}, reachable from other hosts, and no ingest token is set: \
             anyone there could page or resolve. Set RINGDOWN_HTTP_TOKEN (or http.token_file), \
             or listen on loopback"
        )));
    }
    let limits = ringdown_local::HttpLimits {
        max_body_bytes: cfg.http.max_body_bytes,
        max_concurrent_requests: cfg.http.max_concurrent_requests,
        requests_per_sec: cfg.http.requests_per_sec,
        token: token.clone(),
    };
    let action_token = crate::actions::daemon_token(cfg)?;
    let actions = crate::actions::router(engine.clone(), action_token.clone());
    let console = crate::console::Console::new(engine.clone(), token.clone(), action_token);
    let ingest: Arc<dyn Ingest> = Arc::new(engine.clone());
    let ops_addr = cfg.ops.listen.or(separate_ops);
    let mut tasks = Vec::new();
    let ingest_router = match ops_addr {
        None => {
            info!("health and metrics on http://{addr}/healthz, /readyz, /metrics");
            info!("console on http://{addr}/console/");
            let ops = ops_router(engine.clone()).merge(console.router());
            ringdown_local::router_with(ingest, limits, ops).merge(actions)
        }
        Some(ops) => {
            let ops_listener = bind(ops).await?;
            let ops_addr = ops_listener.local_addr()?;
            info!("health and metrics on http://{ops_addr}/healthz, /readyz, /metrics");
            let mut router =
                ops_router(engine.clone()).route("/healthz", axum::routing::get(|| async { "ok" }));
            if limits.token.is_none() && !ops_addr.ip().is_loopback() {
                tracing::warn!(
                    "the console is not served: ops.listen {ops_addr} is reachable from other hosts \
                     and no token is set (RINGDOWN_HTTP_TOKEN or http.token_file)"
                );
            } else {
                info!("console on http://{ops_addr}/console/");
                router = router.merge(console.router());
            }
            let s = stop.clone();
            tasks.push(tokio::spawn(ringdown_local::serve(
                ops_listener,
                router,
                async move { s.cancelled().await },
            )));
            ringdown_local::router(ingest, limits).merge(actions)
        }
    };
    info!("POST alerts to http://{addr}/v1/alerts");
    let s = stop.clone();
    tasks.push(tokio::spawn(ringdown_local::serve(
        listener,
        ingest_router,
        async move { s.cancelled().await },
    )));
    Ok(tasks)
}
