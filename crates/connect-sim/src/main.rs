//! `connect-sim serve --listen 127.0.0.1:0 --config sim.yaml` and
//! `connect-sim validate FILE...`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use connect_sim::{validate_json, CallView, EventKind, SimConfig, SimServer};

#[derive(Parser)]
#[command(
    name = "connect-sim",
    about = "Amazon Connect simulator for ringdown tests",
    version
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Serve the Connect API on loopback.
    Serve {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        /// Simulator config (YAML). Without it: default instance, no flows.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Don't print transcripts as calls end.
        #[arg(long)]
        quiet: bool,
    },
    /// Validate contact-flow JSON files. Exit code 2 if any is invalid.
    Validate {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Validate { files } => validate_files(&files),
        Cmd::Serve {
            listen,
            config,
            quiet,
        } => {
            tracing_subscriber::fmt()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_default_env()
                        .unwrap_or_else(|_| "connect_sim=warn".into()),
                )
                .with_writer(std::io::stderr)
                .init();
            let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
            match rt.block_on(serve(listen, config, quiet)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("connect-sim: {e:#}");
                    ExitCode::from(1)
                }
            }
        }
    }
}

fn validate_files(files: &[PathBuf]) -> ExitCode {
    let mut bad = false;
    for f in files {
        let text = match std::fs::read_to_string(f) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("{}: cannot read: {e}", f.display());
                bad = true;
                continue;
            }
        };
        match validate_json(&text) {
            Ok(flow) => println!("{}: ok ({} actions)", f.display(), flow.actions.len()),
            Err(errs) => {
                bad = true;
                for e in errs {
                    eprintln!("{}: {e}", f.display());
                }
            }
        }
    }
    if bad {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}

async fn serve(listen: SocketAddr, config: Option<PathBuf>, quiet: bool) -> anyhow::Result<()> {
    let cfg = match &config {
        Some(p) => SimConfig::load(p)?,
        None => SimConfig::default(),
    };
    let server = SimServer::start(cfg, listen).await?;
    // First stdout line is machine-read by scripts.
    println!("listening on {}", server.url());
    let mut ended = server.subscribe_ended();
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            r = ended.recv() => match r {
                Ok(call) if !quiet => print_transcript(&call),
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(_) => break,
            },
        }
    }
    server.shutdown().await;
    Ok(())
}

fn print_transcript(c: &CallView) {
    println!(
        "── call {} to {} ({}) flow {} token {}",
        c.contact_id,
        c.destination_phone_number,
        c.persona,
        c.contact_flow_id,
        c.client_token.as_deref().unwrap_or("-")
    );
    for e in &c.transcript {
        let t = e.offset_ms as f64 / 1000.0;
        let line = match &e.kind {
            EventKind::Answered => "answered".to_string(),
            EventKind::VoiceSet { voice } => format!("voice {voice}"),
            EventKind::Said { action, text } => format!("said [{action}] {text}"),
            EventKind::Pressed { keys } => format!("pressed {keys}"),
            EventKind::KeysLost { keys } => {
                format!("pressed {keys} (not heard: a prompt was playing)")
            }
            EventKind::AttributeSet { key, value } => format!("set {key}={value}"),
            EventKind::FlowError { action, message } => format!("FLOW ERROR [{action}] {message}"),
            EventKind::Disconnected { reason } => format!("disconnected {reason}"),
        };
        println!("   {t:>7.1}s  {line}");
    }
    println!(
        "   ended {} — attributes {:?}",
        c.disconnect_reason.as_deref().unwrap_or("?"),
        c.attributes
    );
}
