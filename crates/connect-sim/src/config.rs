//! Simulator configuration (YAML).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::flow::{validate, AttributeContract, Flow};
use crate::interp::SimOptions;
use crate::persona::PersonaBook;

/// Japanese mobile prefixes a new Tokyo instance cannot dial until allow-listed.
pub const DEFAULT_BLOCKED_PREFIXES: &[&str] = &["+8170", "+8180", "+8190"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Quotas {
    /// StartOutboundVoiceContact (and each other API) requests per second.
    pub rate_per_sec: f64,
    /// Token-bucket size.
    pub burst: u32,
    /// Concurrent live calls per instance.
    pub max_concurrent_calls: usize,
    /// How long a ClientToken is remembered, seconds (Connect: 7 days).
    pub client_token_ttl_secs: u64,
}

impl Default for Quotas {
    fn default() -> Self {
        Quotas {
            rate_per_sec: 2.0,
            burst: 5,
            max_concurrent_calls: 10,
            client_token_ttl_secs: 7 * 24 * 3600,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KinesisConfig {
    /// Endpoint URL, e.g. the moto server. `None` uses the SDK's default resolution.
    #[serde(default)]
    pub endpoint: Option<String>,
    pub stream: String,
    #[serde(default = "default_region")]
    pub region: String,
    /// Use the default AWS credential chain instead of `test`/`test`.
    #[serde(default)]
    pub default_credentials: bool,
}

fn default_region() -> String {
    "us-east-1".into()
}

/// Per-number CTR faults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NumberFaults {
    /// Never deliver the record.
    pub drop: bool,
    /// Extra copies to deliver.
    pub duplicate: u32,
    /// Each extra copy's LastUpdateTimestamp is this much later than the previous.
    pub bump_last_update_secs: u64,
    /// Deliver this many (simulated) seconds late.
    pub delay_secs: f64,
}

/// Contact-record fault injection. Probabilities use a seeded RNG, so a run is
/// reproducible.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CtrFaults {
    pub seed: u64,
    pub drop_probability: f64,
    pub duplicate_probability: f64,
    pub duplicate_copies: u32,
    pub bump_last_update_secs: u64,
    pub delay_probability: f64,
    pub delay_secs: f64,
    /// Deterministic faults by destination number.
    pub numbers: BTreeMap<String, NumberFaults>,
}

impl Default for CtrFaults {
    fn default() -> Self {
        CtrFaults {
            seed: 1,
            drop_probability: 0.0,
            duplicate_probability: 0.0,
            duplicate_copies: 1,
            bump_last_update_secs: 0,
            delay_probability: 0.0,
            delay_secs: 0.0,
            numbers: BTreeMap::new(),
        }
    }
}

/// A span of simulated seconds; each draw is uniform within it (seeded).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecsRange {
    pub min_secs: f64,
    pub max_secs: f64,
}

impl SecsRange {
    pub const fn new(min_secs: f64, max_secs: f64) -> SecsRange {
        SecsRange { min_secs, max_secs }
    }

    /// Always exactly `secs`.
    pub const fn fixed(secs: f64) -> SecsRange {
        SecsRange::new(secs, secs)
    }

    /// A draw in the span.
    pub fn draw(&self, rng: &mut impl rand::Rng) -> f64 {
        let (lo, hi) = (self.min_secs.max(0.0), self.max_secs.max(0.0));
        if hi <= lo {
            lo
        } else {
            rng.gen_range(lo..=hi)
        }
    }
}

/// How long after a call ends its contact record reaches Kinesis. Amazon
/// Connect gives no figure; one to two minutes is what is seen, so that is
/// the default. A test that wants records sooner says so explicitly.
pub const DEFAULT_CTR_LAG: SecsRange = SecsRange::new(60.0, 120.0);

/// Where contact events go: an EventBridge event bus (moto or real).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventBridgeConfig {
    /// Endpoint URL, e.g. the moto server. `None` uses the SDK's default resolution.
    #[serde(default)]
    pub endpoint: Option<String>,
    #[serde(default = "default_region")]
    pub region: String,
    /// The bus Amazon Connect publishes to: the account's default bus.
    #[serde(default = "default_bus")]
    pub bus: String,
    /// Use the default AWS credential chain instead of `test`/`test`.
    #[serde(default)]
    pub default_credentials: bool,
}

fn default_bus() -> String {
    "default".into()
}

/// Amazon Connect contact events (`INITIATED`, `CONNECTED_TO_SYSTEM`,
/// `DISCONNECTED`), which Connect emits "on a best effort basis": a share of
/// them never arrives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ContactEvents {
    /// Emit events at all (they are kept for `/_sim/events` even without a bus).
    pub enabled: bool,
    /// Publish to this bus; `None` keeps them in memory only.
    pub eventbridge: Option<EventBridgeConfig>,
    /// Share of events that go missing.
    pub drop_probability: f64,
    /// Delay between the moment and its event on the bus, simulated seconds.
    pub delay: SecsRange,
    /// Seed of the drop and delay draws (reproducible runs).
    pub seed: u64,
}

impl Default for ContactEvents {
    fn default() -> Self {
        ContactEvents {
            enabled: true,
            eventbridge: None,
            drop_probability: 0.05,
            delay: SecsRange::new(0.2, 1.5),
            seed: 1,
        }
    }
}

/// SearchContacts: which user-defined attributes an administrator made
/// searchable ("a custom attribute isn't indexed until someone ... specifies
/// it should be searchable"), and how long after a contact disconnects it
/// shows in results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ContactSearch {
    pub searchable_attributes: Vec<String>,
    /// Simulated seconds between a contact's disconnect and its appearance
    /// in search results (AWS gives no figure; not zero).
    pub index_delay_secs: f64,
}

impl Default for ContactSearch {
    fn default() -> Self {
        ContactSearch {
            searchable_attributes: Vec::new(),
            index_delay_secs: 5.0,
        }
    }
}

/// Personas inline or in a separate YAML file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PersonaSource {
    File(PathBuf),
    Inline(PersonaBook),
}

/// On-disk configuration of `connect-sim serve`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimConfigFile {
    #[serde(default = "default_instance")]
    pub instance_id: String,
    #[serde(default = "default_account")]
    pub account_id: String,
    #[serde(default = "default_region")]
    pub region: String,
    /// Flow id → flow-language JSON file (relative to the config file).
    #[serde(default)]
    pub flows: BTreeMap<String, PathBuf>,
    #[serde(default)]
    pub personas: Option<PersonaSource>,
    #[serde(default)]
    pub time_scale: Option<f64>,
    #[serde(default)]
    pub quotas: Quotas,
    /// Numbers or prefixes exempt from `blocked_prefixes`.
    #[serde(default)]
    pub allow_list: Vec<String>,
    #[serde(default = "default_blocked")]
    pub blocked_prefixes: Vec<String>,
    #[serde(default)]
    pub kinesis: Option<KinesisConfig>,
    #[serde(default)]
    pub jsonl: Option<PathBuf>,
    #[serde(default)]
    pub ctr_faults: CtrFaults,
    /// How long after a call ends its record is delivered, simulated seconds
    /// (default 60–120, as seen on Amazon Connect).
    #[serde(default = "default_ctr_lag")]
    pub ctr_lag: SecsRange,
    #[serde(default)]
    pub contact_events: ContactEvents,
    #[serde(default)]
    pub contact_search: ContactSearch,
    /// Accept `TrafficType: CAMPAIGN` (off by default, as on a new instance:
    /// "Campaign calls are not allowed by default").
    #[serde(default)]
    pub campaign_calls: bool,
    /// Number → API error name returned by StartOutboundVoiceContact (e.g.
    /// `InternalServiceException`), to exercise callers' error handling.
    #[serde(default)]
    pub api_errors: BTreeMap<String, String>,
    /// Speech-duration estimate per spoken character (default 60 ms).
    #[serde(default)]
    pub speech_ms_per_char: Option<u64>,
    /// Skip flow validation on load.
    #[serde(default)]
    pub skip_flow_validation: bool,
    /// What a number already on a call does with a second one.
    #[serde(default)]
    pub busy_line: BusyLine,
}

/// A phone answers one call at a time: a call to a number that is already
/// ringing or on a call (placed through this instance) gets a busy tone, or
/// the number's voicemail answers it (call forwarding on busy).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BusyLine {
    /// `TELECOM_BUSY` after the busy tone.
    #[default]
    Busy,
    /// A voicemail picks up after 4 s and never presses a key.
    Voicemail,
}

fn default_ctr_lag() -> SecsRange {
    DEFAULT_CTR_LAG
}

fn default_instance() -> String {
    "00000000-0000-4000-8000-00000000c0de".into()
}
fn default_account() -> String {
    "123456789012".into()
}
fn default_blocked() -> Vec<String> {
    DEFAULT_BLOCKED_PREFIXES
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// Resolved configuration: flows parsed, personas loaded.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub instance_id: String,
    pub account_id: String,
    pub region: String,
    pub flows: BTreeMap<String, Flow>,
    pub personas: PersonaBook,
    /// Simulated seconds per real second (60 = a minute of call in a second).
    pub time_scale: f64,
    pub quotas: Quotas,
    pub allow_list: Vec<String>,
    pub blocked_prefixes: Vec<String>,
    pub kinesis: Option<KinesisConfig>,
    pub jsonl: Option<PathBuf>,
    pub ctr_faults: CtrFaults,
    pub ctr_lag: SecsRange,
    pub contact_events: ContactEvents,
    pub contact_search: ContactSearch,
    pub campaign_calls: bool,
    pub api_errors: BTreeMap<String, String>,
    pub simulation: SimOptions,
    pub busy_line: BusyLine,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            instance_id: default_instance(),
            account_id: default_account(),
            region: default_region(),
            flows: BTreeMap::new(),
            personas: PersonaBook::default(),
            time_scale: 1.0,
            quotas: Quotas::default(),
            allow_list: Vec::new(),
            blocked_prefixes: default_blocked(),
            kinesis: None,
            jsonl: None,
            ctr_faults: CtrFaults::default(),
            ctr_lag: DEFAULT_CTR_LAG,
            contact_events: ContactEvents::default(),
            contact_search: ContactSearch::default(),
            campaign_calls: false,
            api_errors: BTreeMap::new(),
            simulation: SimOptions::default(),
            busy_line: BusyLine::default(),
        }
    }
}

impl SimConfig {
    /// Load a YAML config; relative paths are relative to the file's directory.
    pub fn load(path: &Path) -> anyhow::Result<SimConfig> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let file: SimConfigFile =
            serde_yaml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        SimConfig::from_file(file, base)
    }

    pub fn from_file(file: SimConfigFile, base: &Path) -> anyhow::Result<SimConfig> {
        let mut flows = BTreeMap::new();
        for (id, p) in &file.flows {
            let p = base.join(p);
            let flow = load_flow(&p, !file.skip_flow_validation)?;
            flows.insert(id.clone(), flow);
        }
        let personas = match file.personas {
            None => PersonaBook::default(),
            Some(PersonaSource::Inline(b)) => b,
            Some(PersonaSource::File(p)) => {
                let p = base.join(p);
                let text = std::fs::read_to_string(&p)
                    .with_context(|| format!("reading personas {}", p.display()))?;
                PersonaBook::from_yaml(&text)
                    .with_context(|| format!("parsing personas {}", p.display()))?
            }
        };
        let time_scale = file.time_scale.or(personas.time_scale).unwrap_or(1.0);
        anyhow::ensure!(time_scale > 0.0, "time_scale must be > 0");
        Ok(SimConfig {
            instance_id: file.instance_id,
            account_id: file.account_id,
            region: file.region,
            flows,
            personas,
            time_scale,
            quotas: file.quotas,
            allow_list: file.allow_list,
            blocked_prefixes: file.blocked_prefixes,
            kinesis: file.kinesis,
            jsonl: file.jsonl.map(|p| base.join(p)),
            ctr_faults: file.ctr_faults,
            ctr_lag: file.ctr_lag,
            contact_events: file.contact_events,
            contact_search: file.contact_search,
            campaign_calls: file.campaign_calls,
            api_errors: file.api_errors,
            simulation: SimOptions {
                ms_per_char: file
                    .speech_ms_per_char
                    .unwrap_or(SimOptions::default().ms_per_char),
                ..SimOptions::default()
            },
            busy_line: file.busy_line,
        })
    }
}

/// Read, parse and (optionally) validate one flow file.
pub fn load_flow(path: &Path, validate_it: bool) -> anyhow::Result<Flow> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading flow {}", path.display()))?;
    let flow =
        Flow::from_json(&text).with_context(|| format!("parsing flow {}", path.display()))?;
    if validate_it {
        if let Err(errs) = validate(&flow, &AttributeContract::default()) {
            let list: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
            anyhow::bail!("invalid flow {}:\n  {}", path.display(), list.join("\n  "));
        }
    }
    Ok(flow)
}
