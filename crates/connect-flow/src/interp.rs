//! Pure flow interpreter over virtual time.
//!
//! [`simulate`] plays one outbound call — ringing, the persona's behaviour, and the
//! contact flow — without any clock, I/O or randomness, and returns everything that
//! happened with offsets from the moment the call was placed. The HTTP simulator
//! replays the result in (scaled) real time; other crates can call it directly with
//! a virtual clock.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::flow::{Action, Flow};
use crate::persona::{HumanPersona, KeyPress, Persona};
use crate::polly::{self, Engine};

/// How a contact ended, as Amazon Connect writes it in the contact record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DisconnectReason {
    /// The flow ran `DisconnectParticipant` (normal end *and* voicemail guard).
    ContactFlowDisconnect,
    /// The callee hung up.
    CustomerDisconnect,
    /// Rang until the ring timeout.
    TelecomUnanswered,
    TelecomBusy,
    TelecomProblem,
    /// Ended by StopContact.
    Api,
}

impl DisconnectReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DisconnectReason::ContactFlowDisconnect => "CONTACT_FLOW_DISCONNECT",
            DisconnectReason::CustomerDisconnect => "CUSTOMER_DISCONNECT",
            DisconnectReason::TelecomUnanswered => "TELECOM_UNANSWERED",
            DisconnectReason::TelecomBusy => "TELECOM_BUSY",
            DisconnectReason::TelecomProblem => "TELECOM_PROBLEM",
            DisconnectReason::Api => "API",
        }
    }
}

impl std::fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happened at one moment of the call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventKind {
    /// The callee picked up (person or machine).
    Answered,
    /// The flow changed the text-to-speech voice.
    VoiceSet { voice: String },
    /// A prompt started playing: the text as heard (attributes substituted, SSML
    /// tags removed). `action` is the flow Identifier.
    Said { action: String, text: String },
    /// The callee pressed keys.
    Pressed { keys: String },
    /// The callee pressed keys while no input block was listening (during a
    /// `MessageParticipant` prompt): Amazon Connect does not hear them.
    KeysLost { keys: String },
    /// A contact attribute was set by the flow.
    AttributeSet { key: String, value: String },
    /// The flow hit a runtime error (missing branch, loop guard …).
    FlowError { action: String, message: String },
    /// The call ended.
    Disconnected { reason: DisconnectReason },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TranscriptEvent {
    /// Milliseconds since the call was placed.
    pub offset_ms: u64,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// The outcome of one simulated call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallResult {
    pub answered: bool,
    /// When the callee picked up (from the moment the call was placed).
    pub connected_at_offset: Option<Duration>,
    /// When the call ended.
    pub ended_at_offset: Duration,
    pub events: Vec<TranscriptEvent>,
    /// Final contact attributes (initial ones plus what the flow set).
    pub attributes: BTreeMap<String, String>,
    pub disconnect_reason: DisconnectReason,
}

impl CallResult {
    /// Attributes as they were `at` into the call (for GetContactAttributes on a
    /// live call).
    pub fn attributes_at(
        &self,
        initial: &BTreeMap<String, String>,
        at: Duration,
    ) -> BTreeMap<String, String> {
        let at_ms = at.as_millis() as u64;
        let mut attrs = initial.clone();
        for e in &self.events {
            if e.offset_ms > at_ms {
                break;
            }
            if let EventKind::AttributeSet { key, value } = &e.kind {
                attrs.insert(key.clone(), value.clone());
            }
        }
        attrs
    }

    /// All texts said, in order (handy for assertions).
    pub fn said(&self) -> Vec<&str> {
        self.events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Said { text, .. } => Some(text.as_str()),
                _ => None,
            })
            .collect()
    }

    /// All key entries pressed, in order.
    pub fn pressed(&self) -> Vec<&str> {
        self.events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Pressed { keys } => Some(keys.as_str()),
                _ => None,
            })
            .collect()
    }

    /// The call truncated at `at` (StopContact): later events dropped, ended with
    /// reason `API`. `initial` are the attributes the call was placed with.
    pub fn stopped_at(&self, initial: &BTreeMap<String, String>, at: Duration) -> CallResult {
        if at >= self.ended_at_offset {
            return self.clone();
        }
        let at_ms = at.as_millis() as u64;
        let mut events: Vec<TranscriptEvent> = self
            .events
            .iter()
            .filter(|e| e.offset_ms <= at_ms && !matches!(e.kind, EventKind::Disconnected { .. }))
            .cloned()
            .collect();
        events.push(TranscriptEvent {
            offset_ms: at_ms,
            kind: EventKind::Disconnected {
                reason: DisconnectReason::Api,
            },
        });
        let connected = self.connected_at_offset.filter(|c| *c <= at);
        CallResult {
            answered: connected.is_some(),
            connected_at_offset: connected,
            ended_at_offset: at,
            events,
            attributes: self.attributes_at(initial, at),
            disconnect_reason: DisconnectReason::Api,
        }
    }
}

/// Knobs of the simulation. `Default` gives Connect-like values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimOptions {
    /// How long the phone rings before the call is given up (Connect: 60 s default,
    /// `RingTimeoutInSeconds` 15–60).
    pub ring_timeout: Duration,
    /// Speech-duration estimate per character of the spoken text.
    pub ms_per_char: u64,
    /// How long a busy number takes to report busy.
    pub busy_after: Duration,
    /// How long a failing network takes to fail the call.
    pub failure_after: Duration,
    /// Default InputTimeLimitSeconds when a GetParticipantInput omits it.
    pub default_input_timeout: Duration,
    /// Default pause allowed between digits of stored input.
    pub default_interdigit_timeout: Duration,
    /// Guard against flows that loop forever.
    pub max_steps: usize,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            ring_timeout: Duration::from_secs(60),
            ms_per_char: 60,
            busy_after: Duration::from_secs(2),
            failure_after: Duration::from_secs(1),
            default_input_timeout: Duration::from_secs(5),
            default_interdigit_timeout: Duration::from_secs(5),
            max_steps: 500,
        }
    }
}

/// Simulate one call with default options and the given ring timeout.
pub fn simulate(
    flow: &Flow,
    attributes: &BTreeMap<String, String>,
    persona: &Persona,
    ring_timeout: Duration,
) -> CallResult {
    simulate_with(
        flow,
        attributes,
        persona,
        &SimOptions {
            ring_timeout,
            ..SimOptions::default()
        },
    )
}

/// Simulate one call. Pure: same inputs, same result.
pub fn simulate_with(
    flow: &Flow,
    attributes: &BTreeMap<String, String>,
    persona: &Persona,
    opts: &SimOptions,
) -> CallResult {
    let ring_ms = opts.ring_timeout.as_millis() as u64;
    let mut run = Run {
        flow,
        opts,
        t: 0,
        events: Vec::new(),
        attrs: attributes.clone(),
        stored: None,
        keys: Vec::new(),
        next_key: 0,
        hang_up_after_prompt: None,
        hangup_at: None,
        messages: 0,
        engine: Engine::Neural,
    };
    let ms = |s: f64| (s.max(0.0) * 1000.0).round() as u64;
    let answer_at = match persona {
        Persona::NeverAnswers => {
            return run.unanswered(ring_ms, DisconnectReason::TelecomUnanswered)
        }
        Persona::Busy => {
            return run.unanswered(
                (opts.busy_after.as_millis() as u64).min(ring_ms),
                DisconnectReason::TelecomBusy,
            )
        }
        Persona::TelecomFailure => {
            return run.unanswered(
                (opts.failure_after.as_millis() as u64).min(ring_ms),
                DisconnectReason::TelecomProblem,
            )
        }
        Persona::Voicemail { answer_after_secs } => ms(*answer_after_secs),
        Persona::Human(HumanPersona {
            answer_after_secs, ..
        }) => ms(*answer_after_secs),
    };
    if answer_at >= ring_ms {
        return run.unanswered(ring_ms, DisconnectReason::TelecomUnanswered);
    }
    if let Persona::Human(h) = persona {
        run.keys = h.keys.clone();
        run.hang_up_after_prompt = h.hang_up_after_prompt;
        run.hangup_at = h.hang_up_after_secs.map(|s| answer_at + ms(s));
    }
    run.t = answer_at;
    run.event(EventKind::Answered);
    let reason = run.execute();
    let end = run.t;
    run.event(EventKind::Disconnected { reason });
    CallResult {
        answered: true,
        connected_at_offset: Some(Duration::from_millis(answer_at)),
        ended_at_offset: Duration::from_millis(end),
        events: run.events,
        attributes: run.attrs,
        disconnect_reason: reason,
    }
}

struct Run<'a> {
    flow: &'a Flow,
    opts: &'a SimOptions,
    /// Virtual now, ms since the call was placed.
    t: u64,
    events: Vec<TranscriptEvent>,
    attrs: BTreeMap<String, String>,
    stored: Option<String>,
    keys: Vec<KeyPress>,
    next_key: usize,
    hang_up_after_prompt: Option<u32>,
    hangup_at: Option<u64>,
    /// MessageParticipant prompts started so far.
    messages: u32,
    /// The Polly engine of the voice in use: which SSML tags are available.
    engine: Engine,
}

/// How a prompt went.
enum Spoken {
    Done,
    /// The callee hung up while it played.
    HungUp(DisconnectReason),
    /// Polly or Connect refused the prompt (invalid SSML, too long): the
    /// block takes its error branch.
    Refused(String),
}

/// Control flow out of one action.
enum Step {
    Goto(String),
    End(DisconnectReason),
}

impl Run<'_> {
    fn event(&mut self, kind: EventKind) {
        self.events.push(TranscriptEvent {
            offset_ms: self.t,
            kind,
        });
    }

    fn unanswered(mut self, at: u64, reason: DisconnectReason) -> CallResult {
        self.t = at;
        self.event(EventKind::Disconnected { reason });
        CallResult {
            answered: false,
            connected_at_offset: None,
            ended_at_offset: Duration::from_millis(at),
            events: self.events,
            attributes: self.attrs,
            disconnect_reason: reason,
        }
    }

    fn execute(&mut self) -> DisconnectReason {
        let mut current = self.flow.start_action.clone();
        for _ in 0..self.opts.max_steps {
            let Some(action) = self.flow.action(&current) else {
                self.event(EventKind::FlowError {
                    action: current.clone(),
                    message: "transition to an action that does not exist".into(),
                });
                return DisconnectReason::ContactFlowDisconnect;
            };
            if let Some(h) = self.hangup_at {
                if h <= self.t {
                    self.t = h;
                    return DisconnectReason::CustomerDisconnect;
                }
            }
            match self.step(action) {
                Step::Goto(next) => current = next,
                Step::End(reason) => return reason,
            }
        }
        self.event(EventKind::FlowError {
            action: current,
            message: format!("more than {} steps: flow loops", self.opts.max_steps),
        });
        DisconnectReason::ContactFlowDisconnect
    }

    /// Follow `NextAction`, or fall back to `NoMatchingError`.
    fn next(&mut self, a: &Action) -> Step {
        match &a.transitions.next_action {
            Some(n) => Step::Goto(n.clone()),
            None => self.error(a, "NoMatchingError", "no NextAction"),
        }
    }

    /// Take an error branch (falling back to NoMatchingError); a missing branch is a
    /// runtime flow error, which Connect ends with a disconnect.
    fn error(&mut self, a: &Action, error_type: &str, why: &str) -> Step {
        if let Some(t) = a
            .error_target(error_type)
            .or_else(|| a.error_target("NoMatchingError"))
        {
            return Step::Goto(t.to_string());
        }
        self.event(EventKind::FlowError {
            action: a.identifier.clone(),
            message: format!("{why}; no `{error_type}` or `NoMatchingError` branch"),
        });
        Step::End(DisconnectReason::ContactFlowDisconnect)
    }

    fn step(&mut self, a: &Action) -> Step {
        match a.action_type.as_str() {
            "UpdateContactTextToSpeechVoice" => {
                let voice = self.substitute(&a.param_str("TextToSpeechVoice").unwrap_or_default());
                let engine = a
                    .param_str("TextToSpeechEngine")
                    .map(|e| self.substitute(&e))
                    .unwrap_or_else(|| "Standard".into());
                // "Results in error if voice or engine are invalid, or if the
                // selected voice does not support the selected engine."
                match voice_supports(&voice, &engine) {
                    Ok(e) => {
                        self.engine = e;
                        self.event(EventKind::VoiceSet { voice });
                        self.next(a)
                    }
                    Err(why) => {
                        self.event(EventKind::FlowError {
                            action: a.identifier.clone(),
                            message: why.clone(),
                        });
                        self.error(a, "NoMatchingError", &why)
                    }
                }
            }
            "MessageParticipant" => {
                self.messages += 1;
                let hang_here = self.hang_up_after_prompt == Some(self.messages);
                match self.speak(a, hang_here, false) {
                    Spoken::Done => self.next(a),
                    Spoken::HungUp(reason) => Step::End(reason),
                    Spoken::Refused(why) => self.error(a, "NoMatchingError", &why),
                }
            }
            "GetParticipantInput" => self.get_input(a),
            "UpdateContactAttributes" => {
                let Some(map) = a.parameters.get("Attributes").and_then(|v| v.as_object()) else {
                    return self.error(a, "NoMatchingError", "no Attributes");
                };
                for (k, v) in map {
                    let raw = v
                        .as_str()
                        .map(String::from)
                        .unwrap_or_else(|| v.to_string());
                    let value = self.substitute(&raw);
                    self.attrs.insert(k.clone(), value.clone());
                    self.event(EventKind::AttributeSet {
                        key: k.clone(),
                        value,
                    });
                }
                self.next(a)
            }
            "Compare" => {
                let value = self.substitute(&a.param_str("ComparisonValue").unwrap_or_default());
                for c in &a.transitions.conditions {
                    let operand = c
                        .condition
                        .operands
                        .first()
                        .map(String::as_str)
                        .unwrap_or("");
                    if compare(&c.condition.operator, &value, operand) {
                        return Step::Goto(c.next_action.clone());
                    }
                }
                self.error(a, "NoMatchingCondition", "no condition matched")
            }
            "DisconnectParticipant" => Step::End(DisconnectReason::ContactFlowDisconnect),
            other => {
                let msg = format!("unsupported action type `{other}`");
                self.error(a, "NoMatchingError", &msg)
            }
        }
    }

    /// Play the prompt of `a` (if any); `hang_midway` makes the callee hang
    /// up halfway through. `listening`: a `GetParticipantInput` prompt, which
    /// a key press interrupts; keys pressed during any other prompt are lost
    /// (Amazon Connect "can't capture the DTMF input that the caller provides
    /// during the play prompt block").
    fn speak(&mut self, a: &Action, hang_midway: bool, listening: bool) -> Spoken {
        let text = match (a.param_str("Text"), a.param_str("SSML")) {
            (Some(t), _) => {
                let t = self.substitute(&t);
                if t.chars().count() > polly::MAX_TOTAL_CHARS {
                    return self.refuse(
                        a,
                        format!(
                            "the prompt is {} characters; Amazon Connect reads at most {}",
                            t.chars().count(),
                            polly::MAX_TOTAL_CHARS
                        ),
                    );
                }
                t
            }
            (None, Some(s)) => match polly::check(&self.substitute(&s), self.engine) {
                Ok(heard) => heard,
                Err(e) => return self.refuse(a, format!("Polly refused the SSML: {e}")),
            },
            (None, None) => match a.param_str("PromptId") {
                Some(p) => format!("[prompt {p}]"),
                None => return Spoken::Done,
            },
        };
        let dur = text.chars().count() as u64 * self.opts.ms_per_char;
        self.event(EventKind::Said {
            action: a.identifier.clone(),
            text,
        });
        if hang_midway {
            let h = self.t + dur / 2;
            self.hangup_at = Some(self.hangup_at.map_or(h, |x| x.min(h)));
        }
        let mut end = self.t + dur;
        if listening {
            // A key pressed at a set moment interrupts the prompt.
            if let Some(at) = self.timed_key_at().filter(|at| *at < end) {
                end = at.max(self.t);
            }
        } else {
            self.lose_timed_keys_before(end);
        }
        if let Some(h) = self.hangup_at {
            if h < end {
                self.t = h.max(self.t);
                return Spoken::HungUp(DisconnectReason::CustomerDisconnect);
            }
        }
        self.t = end;
        Spoken::Done
    }

    fn refuse(&mut self, a: &Action, why: String) -> Spoken {
        self.event(EventKind::FlowError {
            action: a.identifier.clone(),
            message: why.clone(),
        });
        Spoken::Refused(why)
    }

    /// When the next key entry is pressed, if it is pressed at a set moment
    /// of the call rather than in answer to a prompt.
    fn timed_key_at(&self) -> Option<u64> {
        let k = self.keys.get(self.next_key)?;
        k.at_secs.map(|s| (s.max(0.0) * 1000.0).round() as u64)
    }

    /// Key entries pressed at set moments before `until`, while no input
    /// block listens: Connect never hears them.
    fn lose_timed_keys_before(&mut self, until: u64) {
        while let Some(at) = self.timed_key_at().filter(|at| *at < until) {
            if self.hangup_at.is_some_and(|h| h <= at) {
                return;
            }
            let keys = self.keys[self.next_key].key.clone();
            self.next_key += 1;
            let now = self.t;
            self.t = at.max(now);
            self.event(EventKind::KeysLost { keys });
            self.t = now;
        }
    }

    /// The next key entry and when it would be pressed if the caller became able to
    /// press at `ready`.
    fn pending_key(&self, ready: u64) -> Option<(String, u64)> {
        let k = self.keys.get(self.next_key)?;
        let at = match k.at_secs {
            Some(s) => ((s.max(0.0) * 1000.0).round() as u64).max(ready),
            None => ready + (k.delay_secs.max(0.0) * 1000.0).round() as u64,
        };
        Some((k.key.clone(), at))
    }

    /// Hang-up before `deadline`? Then move there and say so.
    fn hangs_up_before(&mut self, deadline: u64) -> bool {
        match self.hangup_at {
            Some(h) if h < deadline => {
                self.t = h.max(self.t);
                true
            }
            _ => false,
        }
    }

    fn get_input(&mut self, a: &Action) -> Step {
        match self.speak(a, false, true) {
            Spoken::Done => {}
            Spoken::HungUp(reason) => return Step::End(reason),
            Spoken::Refused(why) => return self.error(a, "NoMatchingError", &why),
        }
        let timeout_ms = a
            .param_str("InputTimeLimitSeconds")
            .and_then(|s| s.parse::<f64>().ok())
            .map(|s| (s * 1000.0) as u64)
            .unwrap_or(self.opts.default_input_timeout.as_millis() as u64);
        let ready = self.t;
        let deadline = ready + timeout_ms;
        let first = self.pending_key(ready).filter(|(_, at)| *at <= deadline);
        let Some((keys, at)) = first else {
            if self.hangs_up_before(deadline) {
                return Step::End(DisconnectReason::CustomerDisconnect);
            }
            self.t = deadline;
            if a.stores_input() && a.error_target("InputTimeLimitExceeded").is_none() {
                // Connect stores "Timeout" and carries on through the success branch.
                self.stored = Some("Timeout".into());
                return self.next(a);
            }
            return self.error(a, "InputTimeLimitExceeded", "input timed out");
        };
        if self.hangs_up_before(at) {
            return Step::End(DisconnectReason::CustomerDisconnect);
        }
        self.t = at;
        self.next_key += 1;
        self.event(EventKind::Pressed { keys: keys.clone() });

        if !a.stores_input() {
            // One DTMF digit decides; anything typed with it is ignored.
            let digit: String = keys.chars().take(1).collect();
            for c in &a.transitions.conditions {
                if c.condition.operator == "Equals" && c.condition.operands.contains(&digit) {
                    return Step::Goto(c.next_action.clone());
                }
            }
            return self.error(a, "NoMatchingCondition", "no condition for the key pressed");
        }

        // Stored input: gather digits until the terminator, the maximum length, or
        // the inter-digit timeout.
        let term = a
            .param_path(&["DTMFConfiguration", "InputTerminationSequence"])
            .unwrap_or_else(|| "#".into());
        let cancel_enabled = !a
            .param_bool(&["DTMFConfiguration", "DisableCancelKey"])
            .unwrap_or(false);
        let max_len = a
            .param_path(&["InputValidation", "CustomValidation", "MaximumLength"])
            .and_then(|s| s.parse::<usize>().ok())
            .unwrap_or(20);
        let interdigit = a
            .param_path(&["DTMFConfiguration", "InterdigitTimeLimitSeconds"])
            .and_then(|s| s.parse::<f64>().ok())
            .map(|s| (s * 1000.0) as u64)
            .unwrap_or(self.opts.default_interdigit_timeout.as_millis() as u64);
        let mut buf = String::new();
        let mut entry = keys;
        loop {
            let mut done = false;
            for ch in entry.chars() {
                if term.contains(ch) {
                    done = true;
                    break;
                }
                if ch == '*' && cancel_enabled {
                    buf.clear();
                    continue;
                }
                buf.push(ch);
                if buf.chars().count() >= max_len {
                    done = true;
                    break;
                }
            }
            if done {
                break;
            }
            let last = self.t;
            match self.pending_key(last) {
                Some((k, at)) if at <= last + interdigit => {
                    if self.hangs_up_before(at) {
                        return Step::End(DisconnectReason::CustomerDisconnect);
                    }
                    self.t = at;
                    self.next_key += 1;
                    self.event(EventKind::Pressed { keys: k.clone() });
                    entry = k;
                }
                _ => {
                    if self.hangs_up_before(last + interdigit) {
                        return Step::End(DisconnectReason::CustomerDisconnect);
                    }
                    self.t = last + interdigit;
                    break;
                }
            }
        }
        self.stored = Some(buf);
        self.next(a)
    }

    /// Replace `$.Attributes.x` and `$.StoredCustomerInput` in a text.
    fn substitute(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        loop {
            let a = rest.find("$.Attributes.");
            let s = rest.find("$.StoredCustomerInput");
            let (i, is_attr) = match (a, s) {
                (None, None) => break,
                (Some(a), None) => (a, true),
                (None, Some(s)) => (s, false),
                (Some(a), Some(s)) => {
                    if a < s {
                        (a, true)
                    } else {
                        (s, false)
                    }
                }
            };
            out.push_str(&rest[..i]);
            if is_attr {
                let after = &rest[i + "$.Attributes.".len()..];
                let end = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
                    .unwrap_or(after.len());
                if let Some(v) = self.attrs.get(&after[..end]) {
                    out.push_str(v);
                }
                rest = &after[end..];
            } else {
                if let Some(v) = &self.stored {
                    out.push_str(v);
                }
                rest = &rest[i + "$.StoredCustomerInput".len()..];
            }
        }
        out.push_str(rest);
        out
    }
}

/// Evaluate a Compare operator. Number operators never match non-numbers.
pub fn compare(operator: &str, value: &str, operand: &str) -> bool {
    let num = || -> Option<(f64, f64)> {
        Some((value.trim().parse().ok()?, operand.trim().parse().ok()?))
    };
    match operator {
        "Equals" => value == operand,
        "TextStartsWith" => value.starts_with(operand),
        "TextEndsWith" => value.ends_with(operand),
        "TextContains" => value.contains(operand),
        "NumberGreaterThan" => num().is_some_and(|(v, o)| v > o),
        "NumberGreaterOrEqualTo" => num().is_some_and(|(v, o)| v >= o),
        "NumberLessThan" => num().is_some_and(|(v, o)| v < o),
        "NumberLessOrEqualTo" => num().is_some_and(|(v, o)| v <= o),
        _ => false,
    }
}

/// Whether Amazon Polly has `voice` with `engine` (`TextToSpeechEngine`).
/// connect-sim knows the US English and Japanese voices, the languages
/// ringdown calls in; any other voice is an error here.
pub fn voice_supports(voice: &str, engine: &str) -> Result<Engine, String> {
    let Some(e) = Engine::parse(engine) else {
        return Err(format!(
            "TextToSpeechEngine `{engine}` is not one connect-sim models (Standard, Neural)"
        ));
    };
    // (voice, has standard, has neural), from Polly's voice list.
    const VOICES: &[(&str, bool, bool)] = &[
        ("Mizuki", true, false),
        ("Takumi", true, true),
        ("Kazuha", false, true),
        ("Tomoko", false, true),
        ("Danielle", false, true),
        ("Gregory", false, true),
        ("Ivy", true, true),
        ("Joanna", true, true),
        ("Kendra", true, true),
        ("Kimberly", true, true),
        ("Salli", true, true),
        ("Joey", true, true),
        ("Justin", true, true),
        ("Kevin", false, true),
        ("Matthew", true, true),
        ("Ruth", false, true),
        ("Stephen", false, true),
    ];
    let Some((_, standard, neural)) = VOICES.iter().find(|(v, _, _)| *v == voice) else {
        return Err(format!(
            "`{voice}` is not an Amazon Polly en-US or ja-JP voice"
        ));
    };
    let ok = match e {
        Engine::Standard => *standard,
        Engine::Neural => *neural,
    };
    if ok {
        Ok(e)
    } else {
        Err(format!("the voice `{voice}` has no {engine} engine"))
    }
}

/// The longest a caller can keep `flow` running, speaking `ms_per_char` per
/// character of prompt text (attribute values count as empty) and letting
/// every input wait out its time limit: a bound for deadlines. Each action
/// counts once per path, so a menu option that repeats the message adds it
/// once.
pub fn longest_run(flow: &Flow, ms_per_char: u64) -> Duration {
    fn cost(a: &Action, ms_per_char: u64) -> u64 {
        let text = a
            .param_str("Text")
            .or_else(|| {
                a.param_str("SSML")
                    .and_then(|s| polly::check(&s, Engine::Standard).ok())
            })
            .unwrap_or_default();
        let spoken: String = {
            let mut out = String::new();
            let mut rest = text.as_str();
            while let Some(i) = rest.find("$.") {
                out.push_str(&rest[..i]);
                let after = &rest[i + 2..];
                let end = after
                    .find(|c: char| {
                        !(c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
                    })
                    .unwrap_or(after.len());
                rest = &after[end..];
            }
            out.push_str(rest);
            out
        };
        let mut ms = spoken.chars().count() as u64 * ms_per_char;
        if a.action_type == "GetParticipantInput" {
            let secs = |path: &[&str], default: u64| {
                a.param_path(path)
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(default)
            };
            ms += secs(&["InputTimeLimitSeconds"], 5) * 1000;
            if a.stores_input() {
                let digits = secs(
                    &["InputValidation", "CustomValidation", "MaximumLength"],
                    20,
                );
                ms += digits * secs(&["DTMFConfiguration", "InterdigitTimeLimitSeconds"], 5) * 1000;
            }
        }
        ms
    }
    fn walk<'f>(flow: &'f Flow, id: &'f str, seen: &mut Vec<&'f str>, ms_per_char: u64) -> u64 {
        let Some(a) = flow.action(id) else { return 0 };
        if seen.contains(&id) {
            return 0;
        }
        seen.push(id);
        let here = cost(a, ms_per_char);
        let next = a
            .targets()
            .map(|t| walk(flow, t, seen, ms_per_char))
            .max()
            .unwrap_or(0);
        seen.pop();
        here + next
    }
    Duration::from_millis(walk(flow, &flow.start_action, &mut Vec::new(), ms_per_char))
}
