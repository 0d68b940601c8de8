//! Configuration: one TOML file, every field optional, plus `RINGDOWN_*`
//! environment overrides for the settings operators change per deployment.

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Roster file applied to the store at start when it differs from the
    /// stored one. Without it, the stored roster is used, or the built-in
    /// example roster on a fresh store.
    pub roster_file: Option<PathBuf>,
    pub store: StoreConfig,
    pub http: HttpConfig,
    pub ops: OpsConfig,
    pub dialer: DialerConfig,
    pub simulator: SimulatorConfig,
    pub escalation: EscalationConfig,
    pub fallback: FallbackConfig,
    /// `ringdown run --shadow`: where the would-be calls are written.
    pub shadow: ShadowConfig,
    pub log: LogConfig,
    /// This process's name in incident ownership, leases and logs. Default:
    /// `local` on the embedded default; host name and process id on AWS.
    pub instance_name: Option<String>,
    /// AWS resources. When this section is present, `ringdown run` uses SQS,
    /// DynamoDB, Amazon Connect and Kinesis instead of the embedded default.
    pub aws: Option<ringdown_aws::settings::AwsSettings>,
    /// Amazon Connect call and contact-record tuning (AWS mode).
    pub connect: ConnectConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// SQLite file of the embedded store (created if missing).
    pub sqlite_path: PathBuf,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            sqlite_path: PathBuf::from("ringdown.sqlite"),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Where `POST /v1/alerts` and `/healthz` listen (`ip:port`). Loopback
    /// by default; any other address needs a token.
    pub listen: SocketAddr,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// A file holding the bearer token every ingest request must carry
    /// (`RINGDOWN_HTTP_TOKEN` in the environment takes precedence). Never
    /// the token itself in this file. Without a token, only loopback is
    /// served, and only firing alerts are taken: resolving needs the token.
    pub token_file: Option<PathBuf>,
    /// Requests worked on at once; more are answered 503 (retry shortly).
    pub max_concurrent_requests: usize,
    /// Sustained requests per second (burst twice that); more get 429.
    pub requests_per_sec: u32,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 9095)),
            max_body_bytes: 1 << 20,
            token_file: None,
            max_concurrent_requests: 64,
            requests_per_sec: 500,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OpsConfig {
    /// Where `/metrics`, `/readyz` and `/healthz` listen (`ip:port`). Unset:
    /// with the ingest on the embedded default; on AWS, apart from it on
    /// `127.0.0.1:9096`.
    pub listen: Option<SocketAddr>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DialerConfig {
    /// Sustained Amazon Connect API requests per second for this process
    /// (the account quota is 2/s per region unless raised).
    pub rate_per_sec: u32,
    /// Requests allowed at once. Connect's quota is a burst of 5; ringdown
    /// keeps one token of headroom so network jitter between our bucket and
    /// Connect's never turns into a TooManyRequests.
    pub burst: u32,
    /// Calls alive at once (Connect's concurrent-calls quota: 10 per instance).
    pub max_live_calls: usize,
}

impl Default for DialerConfig {
    fn default() -> Self {
        DialerConfig {
            rate_per_sec: 2,
            burst: 4,
            max_live_calls: 10,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConnectConfig {
    /// Sent as RingTimeoutInSeconds (15–60). Amazon Connect honours it only
    /// for campaign traffic: the GENERAL calls ringdown places ring for
    /// Connect's default 60 s whatever this says, and ringdown's deadlines
    /// assume so.
    pub ring_timeout_secs: u32,
    /// Retries of a throttled or failing StartOutboundVoiceContact, each
    /// waiting for a token of the shared bucket.
    pub max_retries: u32,
    /// Pause between Kinesis GetRecords rounds.
    pub ctr_poll_interval_ms: u64,
    /// A shard lease not renewed for this long is taken over by a replica.
    pub lease_ttl_secs: u64,
    /// Telephone seconds per real second. Leave it at 1 against Amazon
    /// Connect. Rehearsing against connect-sim with its `time_scale`, set
    /// the same value here so ringdown's expectations of how long a call
    /// lasts and how late its record comes run as fast as the simulated
    /// calls.
    pub time_scale: f64,
    /// No longer used: Connect is asked about a call whose contact record is
    /// overdue, which derives from what the call can last and
    /// `escalation.record_lag_secs`. Accepted so older files still load.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ctr_fallback_after_secs: Option<u64>,
}

impl Default for ConnectConfig {
    fn default() -> Self {
        ConnectConfig {
            ring_timeout_secs: 60,
            max_retries: 5,
            ctr_poll_interval_ms: 1000,
            lease_ttl_secs: 30,
            time_scale: 1.0,
            ctr_fallback_after_secs: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimulatorConfig {
    /// Personas (scripted callers) YAML keyed by phone number. Without it the
    /// built-in example personas answer.
    pub personas_file: Option<PathBuf>,
    /// Simulated calls run this many times faster than real time.
    pub time_scale: f64,
    /// Destination prefixes refused like a new Tokyo instance refuses Japanese
    /// mobiles until allow-listed (e.g. ["+8190"]). Empty: all allowed.
    pub blocked_prefixes: Vec<String>,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        SimulatorConfig {
            personas_file: None,
            time_scale: 1.0,
            blocked_prefixes: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EscalationConfig {
    /// How late a contact record may reach the stream after its call ended
    /// (Amazon Connect: one to two minutes). A call's outcome deadline is
    /// what the call can last (60 s of ringing, the flow, the message) plus
    /// this and two minutes to ask Connect directly; it starts when the call
    /// is dialled, never while it waits for a live-call slot.
    pub record_lag_secs: u64,
    /// First wait before retrying a number after a telecom failure; doubles.
    pub call_failed_backoff_secs: u64,
    /// Telecom failures in a row before moving on and flagging the number.
    pub max_call_failures: u32,
    /// Longest message read on the call (characters of SSML).
    pub message_max_chars: usize,
    /// A call waiting for a live-call slot is re-confirmed this often; the
    /// write shows other replicas that its owner is at work.
    pub queued_check_secs: u64,
    /// How long past an incident's due time other replicas wait for its
    /// owner before taking it over (the owner died or is cut off).
    pub takeover_after_secs: u64,
    /// An incident tracks its first 5,000 alerts by fingerprint. Past that it
    /// cannot tell when the last one resolves, so once its tracked alerts
    /// have resolved it resolves only after no untracked alert fired for
    /// this long. Keep it above Alertmanager's `repeat_interval` (4 h by
    /// default), within which every firing alert is sent again.
    pub untracked_quiet_secs: u64,
    /// No longer used: the outcome deadline derives from the call (see
    /// `record_lag_secs`). Accepted so older files still load.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome_timeout_secs: Option<u64>,
}

impl Default for EscalationConfig {
    fn default() -> Self {
        let s = ringdown_core::escalation::Settings::default();
        EscalationConfig {
            record_lag_secs: s.call_timing.record_lag_secs,
            call_failed_backoff_secs: s.call_failed_backoff_secs,
            max_call_failures: s.max_call_failures,
            message_max_chars: s.message_max_chars,
            queued_check_secs: s.queued_check_secs,
            takeover_after_secs: 30,
            untracked_quiet_secs: s.untracked_quiet_secs,
            outcome_timeout_secs: None,
        }
    }
}

impl EscalationConfig {
    /// The core's settings; `time_scale` is telephone seconds per real
    /// second (1 against Amazon Connect).
    pub fn settings(&self, time_scale: f64) -> ringdown_core::escalation::Settings {
        let defaults = ringdown_core::escalation::Settings::default();
        ringdown_core::escalation::Settings {
            call_timing: ringdown_core::escalation::CallTiming {
                record_lag_secs: self.record_lag_secs,
                time_scale,
                ..defaults.call_timing.clone()
            },
            call_failed_backoff_secs: self.call_failed_backoff_secs,
            max_call_failures: self.max_call_failures,
            message_max_chars: self.message_max_chars,
            queued_check_secs: self.queued_check_secs,
            untracked_quiet_secs: self.untracked_quiet_secs,
            ..defaults
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FallbackConfig {
    /// JSON-lines file receiving incidents nobody acknowledged and operator
    /// alerts (the embedded default's fallback channel).
    pub file: Option<PathBuf>,
}

impl Default for FallbackConfig {
    fn default() -> Self {
        FallbackConfig {
            file: Some(PathBuf::from("ringdown-fallback.jsonl")),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShadowConfig {
    /// JSON-lines file a shadow run (`ringdown run --shadow`) appends each
    /// would-be call and notice to; `--shadow-log` overrides it. Only the
    /// command line turns a shadow run on, so this file can never stop a
    /// daemon from paging.
    pub log_file: PathBuf,
}

impl Default for ShadowConfig {
    fn default() -> Self {
        ShadowConfig {
            log_file: PathBuf::from("ringdown-shadow.jsonl"),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` for people, `json` for log pipelines.
    pub format: LogFormat,
    /// `tracing` filter, e.g. `info` or `ringdown_engine=debug,info`.
    pub filter: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Text,
            filter: "info".into(),
        }
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err(format!("{s:?} is not a log format: text or json")),
        }
    }
}

/// Amazon Connect's range for RingTimeoutInSeconds.
const RING_TIMEOUT_SECS: std::ops::RangeInclusive<u32> = 15..=60;

impl Config {
    /// Settings that cannot work, each with its key: `config check` exits 2
    /// on any, and `run` refuses to start.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        let t = self.connect.ring_timeout_secs;
        if !RING_TIMEOUT_SECS.contains(&t) {
            p.push(format!(
                "connect.ring_timeout_secs = {t}: Amazon Connect accepts {}–{} s",
                RING_TIMEOUT_SECS.start(),
                RING_TIMEOUT_SECS.end()
            ));
        }
        if self.dialer.rate_per_sec == 0 {
            p.push("dialer.rate_per_sec = 0: no call could ever be placed".into());
        }
        if self.dialer.max_live_calls == 0 {
            p.push("dialer.max_live_calls = 0: no call could ever be placed".into());
        }
        for (key, v) in [
            ("simulator.time_scale", self.simulator.time_scale),
            ("connect.time_scale", self.connect.time_scale),
        ] {
            if !(v.is_finite() && v > 0.0) {
                p.push(format!("{key} = {v}: must be a positive number"));
            }
        }
        p
    }

    /// Settings that are accepted but have no effect any more, with what
    /// replaced them; `run` logs them and `config check` prints them.
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        if self.escalation.outcome_timeout_secs.is_some() {
            w.push("escalation.outcome_timeout_secs is no longer used: a call's outcome deadline starts when it is dialled and derives from what it can last and escalation.record_lag_secs".to_string());
        }
        if self.connect.ctr_fallback_after_secs.is_some() {
            w.push("connect.ctr_fallback_after_secs is no longer used: Amazon Connect is asked about a call once its contact record is overdue (escalation.record_lag_secs)".to_string());
        }
        if self.connect.ring_timeout_secs != 60 {
            w.push(format!("connect.ring_timeout_secs = {}: Amazon Connect honours RingTimeoutInSeconds only for campaign traffic; ringdown's GENERAL calls ring 60 s", self.connect.ring_timeout_secs));
        }
        #[cfg(not(feature = "aws"))]
        if self.aws.is_some() {
            w.push(format!("[aws]: {}", crate::aws::NOT_BUILT));
        }
        w
    }

    /// Reads the file (if any), applies `RINGDOWN_*` overrides, and refuses
    /// a configuration with [`Config::problems`] (exit status 2).
    pub fn load(path: Option<&std::path::Path>) -> anyhow::Result<Config> {
        let mut cfg = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| {
                    crate::commands::user(format!("cannot read config {}: {e}", p.display()))
                })?;
                toml::from_str(&text).map_err(|e| {
                    crate::commands::user(format!("config {} is invalid: {e}", p.display()))
                })?
            }
            None => Config::default(),
        };
        cfg.apply_env(|k| std::env::var(k).ok())?;
        let problems = cfg.problems();
        if !problems.is_empty() {
            return Err(crate::commands::user(format!(
                "the configuration cannot work:\n  {}",
                problems.join("\n  ")
            )));
        }
        Ok(cfg)
    }

    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
        let bad = |k: &str, v: &str| crate::commands::user(format!("{k}={v:?} is not valid"));
        if let Some(v) = get("RINGDOWN_ROSTER_FILE") {
            self.roster_file = Some(v.into());
        }
        if let Some(v) = get("RINGDOWN_STORE_SQLITE_PATH") {
            self.store.sqlite_path = v.into();
        }
        if let Some(v) = get("RINGDOWN_HTTP_LISTEN") {
            self.http.listen = v.parse().map_err(|_| bad("RINGDOWN_HTTP_LISTEN", &v))?;
        }
        if let Some(v) = get("RINGDOWN_SIMULATOR_PERSONAS_FILE") {
            self.simulator.personas_file = Some(v.into());
        }
        if let Some(v) = get("RINGDOWN_SIMULATOR_TIME_SCALE") {
            self.simulator.time_scale = v
                .parse()
                .map_err(|_| bad("RINGDOWN_SIMULATOR_TIME_SCALE", &v))?;
        }
        if let Some(v) = get("RINGDOWN_DIALER_RATE_PER_SEC") {
            self.dialer.rate_per_sec = v
                .parse()
                .map_err(|_| bad("RINGDOWN_DIALER_RATE_PER_SEC", &v))?;
        }
        if let Some(v) = get("RINGDOWN_INSTANCE_NAME") {
            self.instance_name = Some(v);
        }
        // They adjust an [aws] section; they never turn one on, so a stray
        // variable cannot move a daemon off its embedded store unnoticed.
        for (key, set) in [
            (
                "RINGDOWN_AWS_REGION",
                aws_region as fn(&mut AwsSettings, String),
            ),
            ("RINGDOWN_AWS_TABLE_PREFIX", |a, v| a.table_prefix = v),
            ("RINGDOWN_AWS_QUEUE_URL", |a, v| a.queue_url = Some(v)),
            ("RINGDOWN_AWS_CONNECT_INSTANCE_ID", |a, v| {
                a.connect_instance_id = Some(v)
            }),
        ] {
            let Some(v) = get(key) else { continue };
            match self.aws.as_mut() {
                Some(aws) => set(aws, v),
                None => {
                    return Err(crate::commands::user(format!(
                        "{key} is set but the configuration has no [aws] section: add `[aws]` \
                         (it may be empty) to run on AWS, or unset {key}"
                    )))
                }
            }
        }
        if let Some(v) = get("RINGDOWN_LOG_FORMAT") {
            self.log.format = v.parse().map_err(|_| bad("RINGDOWN_LOG_FORMAT", &v))?;
        }
        if let Some(v) = get("RINGDOWN_LOG_FILTER") {
            self.log.filter = v;
        }
        Ok(())
    }
}

use ringdown_aws::settings::AwsSettings;

fn aws_region(a: &mut AwsSettings, v: String) {
    a.region = Some(v);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_misspelt_log_format_or_listen_address_is_refused_with_its_key() {
        let err = toml::from_str::<Config>("[log]\nformat = \"jsn\"\n").unwrap_err();
        assert!(err.to_string().contains("jsn"), "{err}");
        let err = toml::from_str::<Config>("[http]\nlisten = \"localhost\"\n").unwrap_err();
        assert!(err.to_string().contains("listen"), "{err}");
        let mut cfg = Config::default();
        assert!(cfg
            .apply_env(|k| (k == "RINGDOWN_LOG_FORMAT").then(|| "jsn".to_string()))
            .is_err());
    }

    #[test]
    fn an_aws_variable_without_an_aws_section_is_an_error_not_a_switch() {
        let mut cfg = Config::default();
        let region = |k: &str| (k == "RINGDOWN_AWS_REGION").then(|| "ap-northeast-1".to_string());
        let err = cfg.apply_env(region).unwrap_err();
        assert!(err.to_string().contains("no [aws] section"), "{err}");
        assert!(cfg.aws.is_none());
        let mut cfg: Config = toml::from_str("[aws]\n").unwrap();
        cfg.apply_env(region).unwrap();
        assert_eq!(cfg.aws.unwrap().region.as_deref(), Some("ap-northeast-1"));
    }

    #[test]
    fn settings_that_cannot_work_are_problems() {
        assert!(Config::default().problems().is_empty());
        let cfg: Config =
            toml::from_str("[connect]\nring_timeout_secs = 90\n[dialer]\nrate_per_sec = 0\n")
                .unwrap();
        let p = cfg.problems();
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].starts_with("connect.ring_timeout_secs = 90"), "{p:?}");
    }

    #[test]
    fn unknown_fields_are_refused_with_their_name() {
        let err = toml::from_str::<Config>("[dialer]\nrate = 3\n").unwrap_err();
        assert!(err.to_string().contains("rate"), "{err}");
    }

    #[test]
    fn env_overrides_the_file() {
        let mut cfg: Config = toml::from_str("[http]\nlisten = \"127.0.0.1:1\"\n").unwrap();
        cfg.apply_env(|k| (k == "RINGDOWN_HTTP_LISTEN").then(|| "127.0.0.1:2".to_string()))
            .unwrap();
        assert_eq!(cfg.http.listen.to_string(), "127.0.0.1:2");
        assert!(cfg
            .apply_env(|k| (k == "RINGDOWN_DIALER_RATE_PER_SEC").then(|| "fast".to_string()))
            .is_err());
    }
}
