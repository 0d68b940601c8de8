//! Amazon Connect flow language (`"Version": "2019-10-30"`) model and validator.
//!
//! The model is deliberately loose (parameters stay JSON) so that a flow exported
//! from a real instance — with `Metadata` and fields the simulator does not use —
//! still parses. The validator is strict about the things that make a flow wrong
//! at 3 a.m.: unknown action types, transitions that go nowhere, actions nobody can
//! reach, error branches Amazon Connect requires, and contact-attribute keys outside
//! the ringdown ↔ flow contract.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The only flow-language version Amazon Connect accepts today.
pub const FLOW_VERSION: &str = "2019-10-30";

/// Action types this simulator can run (and therefore the only ones `validate` accepts).
pub const SUPPORTED_ACTIONS: &[&str] = &[
    "UpdateContactTextToSpeechVoice",
    "MessageParticipant",
    "GetParticipantInput",
    "UpdateContactAttributes",
    "Compare",
    "DisconnectParticipant",
];

/// Operators the `Compare` action supports.
pub const COMPARE_OPERATORS: &[&str] = &[
    "Equals",
    "TextStartsWith",
    "TextEndsWith",
    "TextContains",
    "NumberGreaterThan",
    "NumberGreaterOrEqualTo",
    "NumberLessThan",
    "NumberLessOrEqualTo",
];

/// A whole flow document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Flow {
    pub version: String,
    pub start_action: String,
    pub actions: Vec<Action>,
}

/// One step of a flow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Action {
    pub identifier: String,
    #[serde(rename = "Type")]
    pub action_type: String,
    #[serde(default)]
    pub parameters: serde_json::Map<String, Value>,
    #[serde(default)]
    pub transitions: Transitions,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Transitions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_action: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<ConditionBranch>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ErrorBranch>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ConditionBranch {
    pub next_action: String,
    pub condition: Condition,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Condition {
    pub operator: String,
    pub operands: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ErrorBranch {
    pub next_action: String,
    pub error_type: String,
}

impl Flow {
    /// Parse flow JSON (no validation beyond the JSON shape).
    pub fn from_json(text: &str) -> Result<Flow, serde_json::Error> {
        serde_json::from_str(text)
    }

    pub fn action(&self, id: &str) -> Option<&Action> {
        self.actions.iter().find(|a| a.identifier == id)
    }
}

impl Action {
    /// A parameter as a string; flows exported by the console mix `"5"`, `5` and `false`.
    pub fn param_str(&self, key: &str) -> Option<String> {
        value_as_string(self.parameters.get(key)?)
    }

    /// A nested parameter, e.g. `["DTMFConfiguration", "InputTerminationSequence"]`.
    pub fn param_path(&self, path: &[&str]) -> Option<String> {
        let (first, rest) = path.split_first()?;
        let mut v = self.parameters.get(*first)?;
        for k in rest {
            v = v.get(*k)?;
        }
        value_as_string(v)
    }

    pub fn param_bool(&self, path: &[&str]) -> Option<bool> {
        self.param_path(path)
            .map(|s| s.eq_ignore_ascii_case("true"))
    }

    /// Target of an error branch, if declared.
    pub fn error_target(&self, error_type: &str) -> Option<&str> {
        self.transitions
            .errors
            .iter()
            .find(|e| e.error_type == error_type)
            .map(|e| e.next_action.as_str())
    }

    /// Whether this is a GetParticipantInput with `StoreInput: True`.
    pub fn stores_input(&self) -> bool {
        self.param_bool(&["StoreInput"]).unwrap_or(false)
    }

    /// Every action id this action may transition to.
    pub fn targets(&self) -> impl Iterator<Item = &str> {
        self.transitions
            .next_action
            .iter()
            .map(|s| s.as_str())
            .chain(
                self.transitions
                    .conditions
                    .iter()
                    .map(|c| c.next_action.as_str()),
            )
            .chain(
                self.transitions
                    .errors
                    .iter()
                    .map(|e| e.next_action.as_str()),
            )
    }
}

fn value_as_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(if *b { "True" } else { "False" }.to_string()),
        _ => None,
    }
}

/// Which contact-attribute keys a flow may reference and which it may set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeContract {
    /// Keys the caller (ringdown) passes in; the flow may read them.
    pub passed_in: BTreeSet<String>,
    /// Keys the flow sets (and may also read back).
    pub flow_set: BTreeSet<String>,
    /// Passed-in keys whose value is a whole SSML document (`<speak>…</speak>`):
    /// a prompt uses one as its entire `SSML`, never inside another document
    /// and never as `Text` (the tags would be read aloud).
    pub documents: BTreeSet<String>,
}

impl Default for AttributeContract {
    /// The ringdown contract from DESIGN.md ("Flow ↔ daemon contract").
    fn default() -> Self {
        AttributeContract {
            passed_in: [
                "rd_incident",
                "rd_call",
                "rd_message",
                "rd_lang",
                "rd_scope",
                "rd_list",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            flow_set: ["rd_human", "rd_ack", "rd_next", "rd_silence_hours"]
                .into_iter()
                .map(String::from)
                .collect(),
            documents: ["rd_message", "rd_list"]
                .into_iter()
                .map(String::from)
                .collect(),
        }
    }
}

impl AttributeContract {
    pub fn readable(&self, key: &str) -> bool {
        self.passed_in.contains(key) || self.flow_set.contains(key)
    }
}

/// One problem found by [`validate`]. `action` names the offending Identifier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ValidationError {
    pub action: Option<String>,
    pub message: String,
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.action {
            Some(a) => write!(f, "action `{a}`: {}", self.message),
            None => write!(f, "flow: {}", self.message),
        }
    }
}

/// Parse and validate flow JSON against the default (ringdown) contract.
pub fn validate_json(text: &str) -> Result<Flow, Vec<ValidationError>> {
    let flow = Flow::from_json(text).map_err(|e| {
        vec![ValidationError {
            action: None,
            message: format!("not a flow-language document: {e}"),
        }]
    })?;
    validate(&flow, &AttributeContract::default())?;
    Ok(flow)
}

/// Validate a parsed flow. Returns every problem found, not only the first.
pub fn validate(flow: &Flow, contract: &AttributeContract) -> Result<(), Vec<ValidationError>> {
    let mut errs = Vec::new();
    let mut push = |action: Option<&str>, message: String| {
        errs.push(ValidationError {
            action: action.map(String::from),
            message,
        })
    };

    if flow.version != FLOW_VERSION {
        push(
            None,
            format!(
                "Version must be \"{FLOW_VERSION}\", got \"{}\"",
                flow.version
            ),
        );
    }
    let mut ids: BTreeMap<&str, &Action> = BTreeMap::new();
    for a in &flow.actions {
        if a.identifier.is_empty() || a.identifier.chars().count() > 50 {
            push(
                Some(&a.identifier),
                "Identifier must be 1 to 50 characters".into(),
            );
        }
        if a.identifier.chars().any(|c| "%:(\\/)=$,;[]{}".contains(c)) {
            push(
                Some(&a.identifier),
                "Identifier contains a character Amazon Connect forbids (% : ( \\ / ) = $ , ; [ ] { })"
                    .into(),
            );
        }
        if ids.insert(a.identifier.as_str(), a).is_some() {
            push(Some(&a.identifier), "duplicate Identifier".into());
        }
    }
    if !ids.contains_key(flow.start_action.as_str()) {
        push(
            None,
            format!(
                "StartAction `{}` is not the Identifier of any action",
                flow.start_action
            ),
        );
    }

    for a in &flow.actions {
        let id = Some(a.identifier.as_str());
        // Dangling transitions.
        for t in a.targets() {
            if !ids.contains_key(t) {
                push(
                    id,
                    format!("transition to `{t}`, which is not an action of this flow (dangling NextAction)"),
                );
            }
        }
        let has_next = a.transitions.next_action.is_some();
        let has_err = |e: &str| a.error_target(e).is_some();
        let require_err = |e: &str, errs: &mut dyn FnMut(Option<&str>, String)| {
            if !has_err(e) {
                errs(id, format!("{} needs an `{e}` error branch", a.action_type));
            }
        };
        match a.action_type.as_str() {
            "UpdateContactTextToSpeechVoice" => {
                match a.param_str("TextToSpeechVoice") {
                    None => push(id, "missing Parameters.TextToSpeechVoice".into()),
                    Some(v) if !v.contains("$.") => {
                        let engine = a
                            .param_str("TextToSpeechEngine")
                            .unwrap_or_else(|| "Standard".into());
                        if !engine.contains("$.") {
                            if let Err(why) = crate::interp::voice_supports(&v, &engine) {
                                push(id, why);
                            }
                        }
                    }
                    Some(_) => {}
                }
                if !has_next {
                    push(id, "missing transition: no NextAction".into());
                }
                // "NoMatchingError - if no other Error matches. Must always
                // be defined." (the action's reference page)
                require_err("NoMatchingError", &mut push);
            }
            "MessageParticipant" => {
                check_prompt(a, &mut push, contract, true);
                if !has_next {
                    push(id, "missing transition: no NextAction".into());
                }
                require_err("NoMatchingError", &mut push);
            }
            "GetParticipantInput" => {
                check_prompt(a, &mut push, contract, false);
                match a.param_str("InputTimeLimitSeconds") {
                    Some(s) if s.parse::<u32>().is_ok_and(|n| (1..=179).contains(&n)) => {}
                    Some(s) => push(
                        id,
                        format!("InputTimeLimitSeconds must be a whole number from 1 to 179 (Amazon Connect's longest input timeout), got `{s}`"),
                    ),
                    None => {}
                }
                if let Some(s) = a.param_path(&["DTMFConfiguration", "InterdigitTimeLimitSeconds"])
                {
                    if !s.parse::<u32>().is_ok_and(|n| (1..=20).contains(&n)) {
                        push(
                            id,
                            format!("InterdigitTimeLimitSeconds must be a whole number from 1 to 20, got `{s}`"),
                        );
                    }
                }
                if let Some(t) = a.param_path(&["DTMFConfiguration", "InputTerminationSequence"]) {
                    let cancel_disabled = a
                        .param_bool(&["DTMFConfiguration", "DisableCancelKey"])
                        .unwrap_or(false);
                    if t.is_empty()
                        || t.chars().count() > 5
                        || !t.chars().all(|c| "0123456789*#".contains(c))
                    {
                        push(
                            id,
                            format!("InputTerminationSequence must be 1 to 5 keys of 0-9, * and #, got `{t}`"),
                        );
                    } else if t.contains('*') && !cancel_disabled {
                        push(
                            id,
                            "a * in InputTerminationSequence needs DisableCancelKey True (* cancels input otherwise)".into(),
                        );
                    }
                }
                if a.stores_input() {
                    if a.parameters.get("InputValidation").is_none() {
                        push(
                            id,
                            "StoreInput True needs Parameters.InputValidation".into(),
                        );
                    }
                    if !a.transitions.conditions.is_empty() {
                        push(
                            id,
                            "StoreInput True does not support Conditions (compare $.StoredCustomerInput with Compare)".into(),
                        );
                    }
                    if has_err("NoMatchingCondition") {
                        push(
                            id,
                            "NoMatchingCondition may only be defined when StoreInput is False"
                                .into(),
                        );
                    }
                    if !has_next {
                        push(id, "missing transition: no NextAction".into());
                    }
                    require_err("NoMatchingError", &mut push);
                } else {
                    if a.transitions.conditions.is_empty() {
                        push(id, "missing transition: no Conditions for any key".into());
                    }
                    for c in &a.transitions.conditions {
                        let ok_op = c.condition.operator == "Equals";
                        let ok_operand = c.condition.operands.len() == 1
                            && c.condition.operands[0].chars().count() == 1
                            && "0123456789*#".contains(c.condition.operands[0].as_str());
                        if !ok_op || !ok_operand {
                            push(
                                id,
                                format!(
                                    "input conditions must be Equals on one key 0-9, * or #, got {} {:?}",
                                    c.condition.operator, c.condition.operands
                                ),
                            );
                        }
                    }
                    for e in [
                        "InputTimeLimitExceeded",
                        "NoMatchingCondition",
                        "NoMatchingError",
                    ] {
                        require_err(e, &mut push);
                    }
                }
            }
            "UpdateContactAttributes" => {
                match a.parameters.get("Attributes").and_then(|v| v.as_object()) {
                    None => push(id, "missing Parameters.Attributes".into()),
                    Some(map) => {
                        for (k, v) in map {
                            if !contract.flow_set.contains(k) {
                                push(
                                    id,
                                    format!(
                                        "sets attribute `{k}`, which is outside the contract (the flow may set only {})",
                                        join(&contract.flow_set)
                                    ),
                                );
                            }
                            if let Some(s) = v.as_str() {
                                check_refs(a, s, &mut push, contract);
                            }
                        }
                    }
                }
                if !has_next {
                    push(id, "missing transition: no NextAction".into());
                }
                require_err("NoMatchingError", &mut push);
            }
            "Compare" => {
                match a.param_str("ComparisonValue") {
                    None => push(id, "missing Parameters.ComparisonValue".into()),
                    Some(v) => check_refs(a, &v, &mut push, contract),
                }
                if a.transitions.conditions.is_empty() {
                    push(id, "missing transition: Compare has no Conditions".into());
                }
                for c in &a.transitions.conditions {
                    if !COMPARE_OPERATORS.contains(&c.condition.operator.as_str()) {
                        push(
                            id,
                            format!("unsupported Compare operator `{}`", c.condition.operator),
                        );
                    }
                    if c.condition.operands.len() != 1 {
                        push(id, "a Compare condition needs exactly one operand".into());
                    }
                }
                require_err("NoMatchingCondition", &mut push);
            }
            "DisconnectParticipant" => {
                if a.targets().next().is_some() {
                    push(id, "DisconnectParticipant must not have transitions".into());
                }
            }
            other => push(
                id,
                format!(
                    "unknown or unsupported action type `{other}` (supported: {})",
                    SUPPORTED_ACTIONS.join(", ")
                ),
            ),
        }
    }

    // Reachability from StartAction.
    if ids.contains_key(flow.start_action.as_str()) {
        let mut seen = BTreeSet::new();
        let mut q = VecDeque::from([flow.start_action.as_str()]);
        while let Some(id) = q.pop_front() {
            if !seen.insert(id) {
                continue;
            }
            if let Some(a) = ids.get(id) {
                q.extend(a.targets());
            }
        }
        for a in &flow.actions {
            if !seen.contains(a.identifier.as_str()) {
                push(
                    Some(&a.identifier),
                    "unreachable: no path from StartAction leads here".into(),
                );
            }
        }
        // Every path must be able to end in DisconnectParticipant.
        if !flow
            .actions
            .iter()
            .any(|a| a.action_type == "DisconnectParticipant")
        {
            push(
                None,
                "no DisconnectParticipant action: calls would never end in the flow".into(),
            );
        }
    }

    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs)
    }
}

fn join(set: &BTreeSet<String>) -> String {
    set.iter().cloned().collect::<Vec<_>>().join(", ")
}

fn check_prompt(
    a: &Action,
    push: &mut dyn FnMut(Option<&str>, String),
    contract: &AttributeContract,
    required: bool,
) {
    let id = Some(a.identifier.as_str());
    let kinds: Vec<&str> = ["Text", "SSML", "PromptId", "Media"]
        .into_iter()
        .filter(|k| a.parameters.contains_key(*k))
        .collect();
    if kinds.len() > 1 {
        push(
            id,
            format!("only one of Text, SSML, PromptId, Media may be given, got {kinds:?}"),
        );
    }
    if required && kinds.is_empty() {
        push(id, "needs Parameters.Text, SSML or PromptId".into());
    }
    for k in ["Text", "SSML"] {
        if let Some(t) = a.param_str(k) {
            check_refs(a, &t, push, contract);
        }
    }
    if let Some(t) = a.param_str("Text") {
        for key in attribute_refs(&t) {
            if contract.documents.contains(&key) {
                push(
                    id,
                    format!("`$.Attributes.{key}` is an SSML document: a Text prompt would read its tags aloud; use it as the whole SSML"),
                );
            }
        }
    }
    if let Some(t) = a.param_str("SSML") {
        // What Polly would get at run time, with sample values: a document
        // attribute becomes a whole <speak> document, anything else a word.
        let sample = sample_substitution(&t, contract);
        if let Err(e) = crate::polly::check(&sample, crate::polly::Engine::Neural) {
            push(
                id,
                format!("SSML is not a document Amazon Polly accepts once its attributes are filled in: {e}"),
            );
        }
    }
}

/// `text` with every `$.Attributes.x` replaced by a representative value
/// (a whole `<speak>` document for document keys) and
/// `$.StoredCustomerInput` by a digit.
fn sample_substitution(text: &str, contract: &AttributeContract) -> String {
    const P: &str = "$.Attributes.";
    let mut out = String::new();
    let mut rest = text.replace("$.StoredCustomerInput", "1");
    while let Some(i) = rest.find(P) {
        out.push_str(&rest[..i]);
        let after = &rest[i + P.len()..];
        let end = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
            .unwrap_or(after.len());
        if contract.documents.contains(&after[..end]) {
            out.push_str("<speak>sample</speak>");
        } else {
            out.push_str("sample");
        }
        rest = after[end..].to_string();
    }
    out.push_str(&rest);
    out
}

/// Every `$.Attributes.x` reference must name a contract key.
fn check_refs(
    a: &Action,
    text: &str,
    push: &mut dyn FnMut(Option<&str>, String),
    contract: &AttributeContract,
) {
    for key in attribute_refs(text) {
        if !contract.readable(&key) {
            push(
                Some(&a.identifier),
                format!("references attribute `$.Attributes.{key}`, which is outside the contract"),
            );
        }
    }
}

/// Names referenced as `$.Attributes.NAME` in a text.
pub fn attribute_refs(text: &str) -> Vec<String> {
    const P: &str = "$.Attributes.";
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find(P) {
        let after = &rest[i + P.len()..];
        let end = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
            .unwrap_or(after.len());
        if end > 0 {
            out.push(after[..end].to_string());
        }
        rest = &after[end..];
    }
    out
}
