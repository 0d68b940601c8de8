//! The simulated dialer of the embedded default.
//!
//! Calls are not faked with a canned outcome: each one runs ringdown's real
//! contact flow (`contact-flows/*.json`, embedded at build time) through
//! connect-flow's interpreter against a scripted caller (persona), and its
//! outcome is classified from the attributes the flow set and the disconnect
//! reason, exactly as a contact record from Amazon Connect would be. Calls
//! take their simulated duration on tokio's clock (divided by `time_scale`),
//! so under a paused runtime the demo plays hours in milliseconds.

use async_trait::async_trait;
use connect_flow::interp::{simulate_with, CallResult, SimOptions};
use connect_flow::{Flow, Persona, PersonaBook};
use ringdown_core::escalation::CallRequest;
use ringdown_core::outcome::classify;
use ringdown_core::phone::mask;
use ringdown_core::Language;
use ringdown_engine::{CancellationToken, Clock, DialError, Dialer, OutcomeReport};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// The contact flows ringdown ships, as imported into Amazon Connect.
pub const FLOW_JA_JP: &str = include_str!("../../../contact-flows/ringdown-ja-JP.json");
pub const FLOW_EN_US: &str = include_str!("../../../contact-flows/ringdown-en-US.json");

/// One simulated call, kept for transcripts and the demo.
#[derive(Debug, Clone)]
pub struct SimCall {
    pub call_id: String,
    pub contact_id: String,
    pub incident_id: String,
    pub person: String,
    pub phone: String,
    pub persona: &'static str,
    pub placed_at: chrono::DateTime<chrono::Utc>,
    pub result: CallResult,
}

pub struct SimDialer {
    flow_ja: Flow,
    flow_en: Flow,
    personas: PersonaBook,
    time_scale: f64,
    blocked_prefixes: Vec<String>,
    clock: Arc<dyn Clock>,
    outcomes: mpsc::UnboundedSender<OutcomeReport>,
    /// ClientToken idempotency: call id → contact id.
    placed: Mutex<HashMap<String, String>>,
    stopped: Arc<Mutex<HashSet<String>>>,
    calls: Arc<Mutex<Vec<SimCall>>>,
}

#[derive(Debug, thiserror::Error)]
pub enum SimDialerError {
    #[error("contact flow {name} is invalid: {problems}")]
    Flow {
        name: &'static str,
        problems: String,
    },
}

fn load(name: &'static str, text: &str) -> Result<Flow, SimDialerError> {
    connect_flow::validate_json(text).map_err(|errs| SimDialerError::Flow {
        name,
        problems: errs
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("; "),
    })
}

impl SimDialer {
    pub fn new(
        personas: PersonaBook,
        time_scale: f64,
        clock: Arc<dyn Clock>,
        outcomes: mpsc::UnboundedSender<OutcomeReport>,
    ) -> Result<SimDialer, SimDialerError> {
        Ok(SimDialer {
            flow_ja: load("ringdown-ja-JP.json", FLOW_JA_JP)?,
            flow_en: load("ringdown-en-US.json", FLOW_EN_US)?,
            personas,
            time_scale: if time_scale > 0.0 { time_scale } else { 1.0 },
            blocked_prefixes: Vec::new(),
            clock,
            outcomes,
            placed: Mutex::new(HashMap::new()),
            stopped: Arc::new(Mutex::new(HashSet::new())),
            calls: Arc::new(Mutex::new(Vec::new())),
        })
    }

    /// Numbers starting with these prefixes are refused as Amazon Connect
    /// refuses destinations that are not allow-listed.
    pub fn with_blocked_prefixes(mut self, prefixes: Vec<String>) -> Self {
        self.blocked_prefixes = prefixes;
        self
    }

    /// Contact ids of the calls hung up (StopContact) so far.
    pub fn stopped(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .stopped
            .lock()
            .expect("stopped lock")
            .iter()
            .cloned()
            .collect();
        v.sort();
        v
    }

    /// Every call placed so far, in order.
    pub fn calls(&self) -> Vec<SimCall> {
        self.calls.lock().expect("calls lock").clone()
    }

    fn contact_id(call_id: &str) -> String {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in call_id.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x100_0000_01b3);
        }
        format!("sim-{:016x}", h)
    }
}

#[async_trait]
impl Dialer for SimDialer {
    /// The simulated phone company lives in this process, so it always
    /// knows whether a call was placed: `maybe_placed` needs no look-up.
    async fn place(
        &self,
        req: &CallRequest,
        _maybe_placed: bool,
        _cancel: &CancellationToken,
    ) -> Result<String, DialError> {
        if let Err(e) = ringdown_core::phone::validate_e164(&req.phone) {
            return Err(DialError::Misconfigured(format!(
                "InvalidParameterException: {e}"
            )));
        }
        if self
            .blocked_prefixes
            .iter()
            .any(|p| req.phone.starts_with(p.as_str()))
        {
            let advice = if ringdown_core::phone::is_japanese_mobile(&req.phone) {
                "Japanese mobile numbers must be allow-listed for this instance (AWS Support: country code allow list)"
            } else {
                "this destination is not allowed for the instance"
            };
            return Err(DialError::Misconfigured(format!(
                "DestinationNotAllowedException for {}: {advice}",
                mask(&req.phone)
            )));
        }
        if let Some(existing) = self.placed.lock().expect("placed lock").get(&req.call_id) {
            // Same ClientToken, same contact: the call is not placed twice.
            return Ok(existing.clone());
        }
        let contact_id = Self::contact_id(&req.call_id);
        self.placed
            .lock()
            .expect("placed lock")
            .insert(req.call_id.clone(), contact_id.clone());
        let attributes: BTreeMap<String, String> = [
            ("rd_incident", req.incident_id.as_str()),
            ("rd_call", req.call_id.as_str()),
            ("rd_message", req.message.as_str()),
            ("rd_lang", req.language.code()),
            ("rd_scope", req.scope.as_str()),
            ("rd_list", req.list.as_str()),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let flow = match req.language {
            Language::JaJp => &self.flow_ja,
            Language::EnUs => &self.flow_en,
        };
        let placed_at = self.clock.now();
        // A phone takes one call at a time: a call to a number still
        // ringing or answered gets the busy tone (as connect-sim models).
        let on_a_call = {
            let stopped = self.stopped.lock().expect("stopped lock");
            self.calls.lock().expect("calls lock").iter().any(|c| {
                let lasts = c.result.ended_at_offset.div_f64(self.time_scale);
                c.phone == req.phone
                    && !stopped.contains(&c.contact_id)
                    && chrono::Duration::from_std(lasts).is_ok_and(|d| placed_at < c.placed_at + d)
            })
        };
        let busy = Persona::Busy;
        let persona = if on_a_call {
            &busy
        } else {
            self.personas.lookup(&req.phone)
        };
        let result = simulate_with(flow, &attributes, persona, &SimOptions::default());
        self.calls.lock().expect("calls lock").push(SimCall {
            call_id: req.call_id.clone(),
            contact_id: contact_id.clone(),
            incident_id: req.incident_id.clone(),
            person: req.person.clone(),
            phone: req.phone.clone(),
            persona: persona.kind(),
            placed_at,
            result: result.clone(),
        });
        let wait = Duration::from_secs_f64(result.ended_at_offset.as_secs_f64() / self.time_scale);
        let outcomes = self.outcomes.clone();
        let stopped = self.stopped.clone();
        let clock = self.clock.clone();
        let report = OutcomeReport {
            applied: Default::default(),
            incident_id: req.incident_id.clone(),
            call_id: req.call_id.clone(),
            contact_id: contact_id.clone(),
            outcome: classify(&result.attributes, Some(result.disconnect_reason.as_str())),
            disconnect_reason: Some(result.disconnect_reason.as_str().to_string()),
            attributes: result.attributes.clone(),
            ended_at: placed_at,
        };
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            if stopped
                .lock()
                .expect("stopped lock")
                .contains(&report.contact_id)
            {
                return;
            }
            let _ = outcomes.send(OutcomeReport {
                applied: Default::default(),
                ended_at: clock.now(),
                ..report
            });
        });
        Ok(contact_id)
    }

    async fn stop(&self, contact_id: &str) -> Result<(), DialError> {
        self.stopped
            .lock()
            .expect("stopped lock")
            .insert(contact_id.to_string());
        Ok(())
    }
}
