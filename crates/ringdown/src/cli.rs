//! Command-line interface.

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "ringdown",
    version,
    about = "Phones the on-call engineer until a human acknowledges the alert."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the daemon. Without AWS settings it runs on the embedded default:
    /// SQLite, HTTP ingest on loopback, simulated phones.
    Run {
        /// Configuration file (TOML). Without one, the embedded defaults apply.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Play a storm scenario end to end on a virtual clock and print the timeline.
    Demo {
        /// Print the timeline as JSON lines instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Work with alert payloads.
    Alerts {
        #[command(subcommand)]
        command: AlertsCommand,
    },
    /// Work with rosters.
    Roster {
        #[command(subcommand)]
        command: RosterCommand,
    },
    /// Who would be called for an alert at a given moment, in order, and why.
    Oncall {
        /// Roster file (YAML).
        #[arg(long)]
        roster: PathBuf,
        /// The moment (RFC 3339, e.g. 2026-11-23T03:00:00+09:00). Default: now.
        #[arg(long)]
        at: Option<String>,
        /// Alert labels, repeatable: --label systemname=web --label severity=critical
        #[arg(long = "label", value_name = "K=V")]
        labels: Vec<String>,
        #[arg(long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
}

#[derive(Subcommand, Debug)]
pub enum AlertsCommand {
    /// Parse a payload (any supported format, SNS-wrapped or raw) and print the
    /// normalised alerts as JSON.
    Parse {
        /// File to read, or `-` for standard input.
        #[arg(default_value = "-")]
        file: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum RosterCommand {
    /// Check a roster file; exit 2 listing every problem.
    Validate { file: PathBuf },
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    Text,
    Json,
}
