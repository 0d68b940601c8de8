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
    /// Extra delay before every contact record is delivered, simulated seconds
    /// (real Connect: 1–2 minutes).
    #[serde(default)]
    pub ctr_delay_secs: f64,
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
    pub ctr_delay_secs: f64,
    pub api_errors: BTreeMap<String, String>,
    pub simulation: SimOptions,
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
            ctr_delay_secs: 0.0,
            api_errors: BTreeMap::new(),
            simulation: SimOptions::default(),
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
            ctr_delay_secs: file.ctr_delay_secs,
            api_errors: file.api_errors,
            simulation: SimOptions {
                ms_per_char: file
                    .speech_ms_per_char
                    .unwrap_or(SimOptions::default().ms_per_char),
                ..SimOptions::default()
            },
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
