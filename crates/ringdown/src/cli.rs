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
        /// A shadow run, beside the paging tool in use: everything but the
        /// calls. Nobody is phoned and nothing is posted to the fallback
        /// channel; each call ringdown would place (as if nobody answered)
        /// and each notice it would send is written to the shadow log.
        #[arg(long)]
        shadow: bool,
        /// The shadow log (JSON lines). Default: `[shadow] log_file` of the
        /// configuration, `ringdown-shadow.jsonl`.
        #[arg(long, requires = "shadow", value_name = "FILE")]
        shadow_log: Option<PathBuf>,
    },
    /// Play a storm scenario end to end on a virtual clock and print the timeline.
    Demo {
        /// Print the timeline as JSON lines instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Rehearse a roster: run the real escalation for an alert on a virtual
    /// clock and print who would be called when, what they would hear, and
    /// what happens if nobody answers.
    Drill {
        #[arg(long)]
        roster: PathBuf,
        /// An alert payload in any supported format.
        #[arg(long)]
        alert: PathBuf,
        /// Scripted callers (personas, as connect-sim reads them). Default: nobody answers.
        #[arg(long)]
        personas: Option<PathBuf>,
        /// When the alert fires (RFC 3339). Default: now.
        #[arg(long)]
        at: Option<String>,
        /// How much virtual time to play.
        #[arg(long, default_value_t = 120)]
        minutes: u64,
        /// JSON lines instead of text.
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
    /// Manage silences in the configured store.
    Silence {
        /// Configuration file (selects the store).
        #[arg(long, short, global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        command: SilenceCommand,
    },
    /// The dead-letter queue (AWS mode): what is on it, and sending it back.
    Dlq {
        #[arg(long, short, global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        command: DlqCommand,
    },
    /// AWS resources.
    Aws {
        #[command(subcommand)]
        command: AwsCommand,
    },
    /// Look at incidents: what happened, who was called, what they pressed.
    Incident {
        /// Configuration file (selects the store).
        #[arg(long, short, global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        command: IncidentCommand,
    },
    /// Monthly figures per person and overall: calls, answers, acknowledgements,
    /// silences, voicemail, hang-ups, failures, time to acknowledge, exhausted
    /// incidents.
    ///
    /// With --shadow and --compare instead: what a shadow run would have done
    /// beside what the paging tool in use did.
    Report {
        /// The month, YYYY-MM (UTC).
        #[arg(long, required_unless_present = "shadow")]
        month: Option<String>,
        /// table, csv, json, or svg (a chart of answer rate and time to
        /// acknowledge by week that opens in a browser; not with --shadow).
        #[arg(long, default_value = "table")]
        format: String,
        /// Write to this file instead of standard output.
        #[arg(long, short)]
        out: Option<PathBuf>,
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// A shadow log written by `ringdown run --shadow` (repeatable: one
        /// per replica).
        #[arg(long, value_name = "FILE", requires = "compare", conflicts_with_all = ["month", "config"])]
        shadow: Vec<PathBuf>,
        /// The notification log of the paging tool in use: CSV with the
        /// header `time,person,alert` (RFC 3339 times).
        #[arg(long, value_name = "FILE", requires = "shadow")]
        compare: Option<PathBuf>,
        /// How far apart a notification and a would-be call to the same
        /// person may be and still be the same page.
        #[arg(long, value_name = "N", default_value_t = 10, requires = "shadow")]
        window_mins: u64,
    },
    /// Inspect the configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Turn another paging tool's contacts, rotations and escalations into a
    /// roster, listing on standard error what could not be carried over.
    Import {
        #[command(subcommand)]
        command: ImportCommand,
    },
    /// Who would be called for an alert at a given moment, in order, and why.
    Oncall {
        /// Roster file (YAML). Without it, the roster in force in the
        /// configured store (the live roster).
        #[arg(long)]
        roster: Option<PathBuf>,
        /// Configuration file (selects the store) when no --roster is given.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// The moment (RFC 3339, e.g. 2026-11-23T03:00:00+09:00). Default: now.
        #[arg(long)]
        at: Option<String>,
        /// Alert labels, repeatable: --label systemname=web --label severity=critical
        #[arg(long = "label", value_name = "K=V")]
        labels: Vec<String>,
        /// Print the schedule over a period instead (needs --to): hand-offs,
        /// overrides, holidays, clock changes. RFC 3339.
        #[arg(long, requires = "to")]
        from: Option<String>,
        #[arg(long, requires = "from")]
        to: Option<String>,
        /// text, json, or ics (an iCalendar feed; with --from/--to).
        #[arg(long, value_enum, default_value_t = OncallOutput::Text)]
        output: OncallOutput,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OncallOutput {
    Text,
    Json,
    Ics,
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
    /// Show what applying a roster file would change in the stored roster.
    Diff {
        file: PathBuf,
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Print the roster in force in the configured store.
    Export {
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Validate a roster file and store it as the roster in force (the daemon
    /// picks it up at its next refresh). Prints what changes.
    Apply {
        file: PathBuf,
        /// Configuration file (selects the store).
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Write a vCard of the numbers ringdown calls from, for engineers to
    /// save and mark as an emergency bypass.
    ContactCard {
        /// Configuration file (its `[aws] source_phone_number` is on the card).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Another caller number (E.164), repeatable.
        #[arg(long = "number")]
        numbers: Vec<String>,
        /// The name the phone shows.
        #[arg(long, default_value = crate::contact_card::DEFAULT_NAME)]
        name: String,
        /// Write the card here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
pub enum ImportCommand {
    /// AWS Systems Manager Incident Manager: a directory of what `aws
    /// ssm-contacts list-contacts`, `get-contact`, `list-contact-channels`,
    /// `list-rotations` and `list-rotation-overrides` print, one file per
    /// command (list-contacts.json, get-contact-<alias>.json, …; see
    /// docs/roster.md).
    IncidentManager(ImportArgs),
    /// Opsgenie: a directory of REST API v2 answers (users.json,
    /// contacts-<username>.json, schedules.json, schedule-overrides-<name>.json,
    /// escalations.json; see docs/roster.md).
    Opsgenie(ImportArgs),
}

#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    /// The directory holding the JSON files.
    pub dir: PathBuf,
    /// Write the roster here instead of standard output.
    #[arg(long, short)]
    pub out: Option<PathBuf>,
    /// The roster's time zone (IANA, e.g. Asia/Tokyo). Default: the first
    /// rotation's or schedule's.
    #[arg(long)]
    pub timezone: Option<String>,
    /// Call language of people whose language the source does not say:
    /// ja-JP or en-US. Default: the roster's (ja-JP).
    #[arg(long)]
    pub language: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum SilenceCommand {
    /// Silence alerts matching every matcher for a while.
    Add {
        /// Label matcher, repeatable: systemname=web, severity=~"warn|info", team!=db
        #[arg(long = "matcher", short = 'm', required = true)]
        matchers: Vec<String>,
        /// How long: 30m, 2h, 1d.
        #[arg(long, conflicts_with = "until")]
        duration: Option<String>,
        /// Until when (RFC 3339).
        #[arg(long)]
        until: Option<String>,
        /// Why (shown in listings and incident timelines).
        #[arg(long)]
        reason: String,
        /// Who (default: $USER).
        #[arg(long)]
        by: Option<String>,
    },
    /// List silences that have not ended.
    List {
        #[arg(long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// End a silence now.
    Expire { id: String },
}

#[derive(Subcommand, Debug)]
pub enum IncidentCommand {
    /// Incidents, newest first.
    List {
        /// Only incidents opened since then: RFC 3339, or a duration back from now (24h, 7d).
        #[arg(long)]
        since: Option<String>,
        /// Only incidents in this state: grouping, calling, waiting, suppressed,
        /// acknowledged, resolved, silenced, exhausted.
        #[arg(long)]
        state: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[arg(long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// One incident's timeline: alerts, calls (who, masked number, when,
    /// outcome, DisconnectReason), keypad choices, silences, escalation steps.
    Show {
        id: String,
        #[arg(long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// I am on it: the call in progress is hung up and nobody else is rung
    /// (the policy's ack_timeout_secs pages again if it still fires).
    Ack(ActArgs),
    /// Close the incident though its alerts still fire (a later alert of
    /// its group opens a new one).
    Resolve(ActArgs),
    /// Ring the incident's next step now (also from an acknowledgement).
    Escalate(ActArgs),
    /// Silence the incident's scope (its group labels, as pressing 9 does)
    /// and close it.
    Silence {
        #[command(flatten)]
        act: ActArgs,
        /// How long, 1 to 72.
        #[arg(long)]
        hours: u32,
    },
}

/// Acting on an incident: who, and which daemon.
#[derive(clap::Args, Debug)]
pub struct ActArgs {
    pub id: String,
    /// Who acts, recorded in the timeline: your roster person id (then an
    /// acknowledgement timeout rings you first). Default: cli:$USER.
    #[arg(long)]
    pub by: Option<String>,
    /// The daemon to ask (http://HOST:PORT). Default: the configured
    /// http.listen. When none answers, the store is acted on directly.
    #[arg(long)]
    pub daemon: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum AwsCommand {
    /// Create the queues, dead-letter queue, SNS topics (the alert topic
    /// subscribed to the queue), tables and contact-record stream on the
    /// configured endpoint (AWS, or an emulator via AWS_ENDPOINT_URL). Safe to
    /// run again.
    Bootstrap {
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
pub enum DlqCommand {
    /// Messages on the dead-letter queue: ringdown's reason (`invalid_json`,
    /// …) for those it could not parse, none for those the queue moved after
    /// too many receives.
    List {
        #[arg(long, default_value_t = 50)]
        max: usize,
        #[arg(long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// Send messages back to the alert queue (by default only those the
    /// queue moved, not those ringdown could not parse).
    Redrive {
        #[arg(long, default_value_t = 1000)]
        max: usize,
        /// Send back unparseable messages too (after upgrading ringdown).
        #[arg(long)]
        include_unparseable: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Print the effective configuration (file + environment), secrets hidden.
    Check {
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    Text,
    Json,
}
