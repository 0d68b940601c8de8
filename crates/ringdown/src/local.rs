//! `ringdown run` on the embedded default: SQLite, HTTP ingest, simulated phones.

use crate::commands::user;
use crate::config::Config;
use anyhow::{Context, Result};
use connect_sim::PersonaBook;
use ringdown_core::roster::Roster;
use ringdown_engine::gate::{bucket, CallGate};
use ringdown_engine::{Clock, Engine, EngineSettings, Ingest, Store, SystemClock};
use ringdown_local::{FileNotifier, SimDialer, SqliteStore};
use std::future::Future;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tracing::info;

/// The example roster used when nothing else is configured.
pub const EXAMPLE_ROSTER: &str = include_str!("../assets/example-roster.yaml");
/// The example personas: who answers the simulated phones.
pub const EXAMPLE_PERSONAS: &str = include_str!("../assets/example-personas.yaml");

/// Everything the embedded default runs on, wired together.
pub struct LocalStack {
    pub engine: Engine,
    pub store: Arc<SqliteStore>,
    pub dialer: Arc<SimDialer>,
    pub notifier: Arc<FileNotifier>,
}

pub struct LocalOptions {
    pub personas: PersonaBook,
    pub time_scale: f64,
    pub blocked_prefixes: Vec<String>,
    pub fallback_file: Option<PathBuf>,
    pub settings: EngineSettings,
    pub rate_per_sec: u32,
    pub burst: u32,
}

pub fn build(store: SqliteStore, clock: Arc<dyn Clock>, opts: LocalOptions) -> Result<LocalStack> {
    let store = Arc::new(store);
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let dialer = Arc::new(
        SimDialer::new(opts.personas, opts.time_scale, clock.clone(), tx)?
            .with_blocked_prefixes(opts.blocked_prefixes),
    );
    let notifier = Arc::new(FileNotifier::new(opts.fallback_file, clock.clone()));
    let gate = Arc::new(CallGate::new(
        bucket(opts.rate_per_sec, opts.burst),
        opts.settings.max_live_calls,
    ));
    let engine = Engine::new(
        store.clone(),
        dialer.clone(),
        notifier.clone(),
        clock,
        gate,
        rx,
        opts.settings,
    );
    Ok(LocalStack {
        engine,
        store,
        dialer,
        notifier,
    })
}

pub fn init_logging(cfg: &crate::config::LogConfig) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&cfg.filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if cfg.format == "json" {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}

pub fn main(config: Option<&std::path::Path>) -> Result<ExitCode> {
    let cfg = Config::load(config)?;
    init_logging(&cfg.log);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(run(cfg, shutdown_signal()))?;
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
        Roster::from_yaml(&yaml)
            .map_err(|e| user(format!("roster is invalid: {}", e.0.join("; "))))?;
        let doc = store.save_roster(&yaml, chrono::Utc::now()).await?;
        info!(version = doc.version, "roster applied");
    }
    Ok(())
}

/// Runs the daemon until `shutdown` completes.
pub async fn run(cfg: Config, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<()> {
    let store = SqliteStore::open(&cfg.store.sqlite_path)
        .with_context(|| format!("opening {}", cfg.store.sqlite_path.display()))?;
    apply_roster(&store, cfg.roster_file.as_deref()).await?;
    let personas = match &cfg.simulator.personas_file {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| user(format!("cannot read {}: {e}", p.display())))?;
            PersonaBook::from_yaml(&text)
                .map_err(|e| user(format!("personas {} are invalid: {e}", p.display())))?
        }
        None => PersonaBook::from_yaml(EXAMPLE_PERSONAS).context("built-in personas")?,
    };
    let settings = EngineSettings {
        escalation: cfg.escalation.settings(),
        max_live_calls: cfg.dialer.max_live_calls,
        ..EngineSettings::default()
    };
    let stack = build(
        store,
        Arc::new(SystemClock),
        LocalOptions {
            personas,
            time_scale: cfg.simulator.time_scale,
            blocked_prefixes: cfg.simulator.blocked_prefixes.clone(),
            fallback_file: cfg.fallback.file.clone(),
            settings,
            rate_per_sec: cfg.dialer.rate_per_sec,
            burst: cfg.dialer.burst,
        },
    )?;
    let listener = tokio::net::TcpListener::bind(&cfg.http.listen)
        .await
        .map_err(|e| user(format!("cannot listen on {}: {e}", cfg.http.listen)))?;
    let addr = listener.local_addr()?;
    info!("ringdown is running on the embedded default: POST alerts to http://{addr}/v1/alerts");
    let token = CancellationToken::new();
    let stop = token.clone();
    tokio::spawn(async move {
        shutdown.await;
        stop.cancel();
    });
    let ingest: Arc<dyn Ingest> = Arc::new(stack.engine.clone());
    let router = ringdown_local::router(
        ingest,
        ringdown_local::HttpLimits {
            max_body_bytes: cfg.http.max_body_bytes,
        },
    );
    let http_stop = token.clone();
    let http = tokio::spawn(ringdown_local::serve(listener, router, async move {
        http_stop.cancelled().await
    }));
    stack.engine.run(token.cancelled()).await?;
    http.await??;
    info!("ringdown stopped");
    Ok(())
}
