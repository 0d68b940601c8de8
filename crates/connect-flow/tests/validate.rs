//! Broken flows are rejected with a message naming the action.

use connect_flow::validate_json;
use serde_json::{json, Value};

fn base() -> Value {
    let path = format!(
        "{}/../../contact-flows/ringdown-en-US.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn action<'a>(flow: &'a mut Value, id: &str) -> &'a mut Value {
    flow["Actions"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|a| a["Identifier"] == id)
        .unwrap()
}

type Mutation = fn(&mut Value);

#[test]
fn shipped_flows_are_valid() {
    for lang in ["en-US", "ja-JP"] {
        let path = format!(
            "{}/../../contact-flows/ringdown-{lang}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(path).unwrap();
        validate_json(&text).unwrap_or_else(|e| panic!("{lang}: {e:?}"));
    }
}

#[test]
fn broken_flows_are_rejected_naming_the_action() {
    let table: Vec<(&str, Mutation, &str, &str)> = vec![
        (
            "unknown action type",
            |f| action(f, "say-ack")["Type"] = json!("PlayPromptFancy"),
            "say-ack",
            "unknown or unsupported action type `PlayPromptFancy`",
        ),
        (
            "dangling NextAction",
            |f| action(f, "say-next")["Transitions"]["NextAction"] = json!("nowhere"),
            "say-next",
            "dangling NextAction",
        ),
        (
            "missing transition",
            |f| {
                action(f, "say-silenced")["Transitions"]
                    .as_object_mut()
                    .unwrap()
                    .remove("NextAction");
            },
            "say-silenced",
            "missing transition",
        ),
        (
            "unreachable action",
            |f| {
                f["Actions"].as_array_mut().unwrap().push(json!({
                    "Identifier": "orphan", "Type": "MessageParticipant",
                    "Parameters": {"Text": "nobody hears this"},
                    "Transitions": {"NextAction": "disconnect",
                        "Errors": [{"NextAction": "disconnect", "ErrorType": "NoMatchingError"}]}
                }))
            },
            "orphan",
            "unreachable",
        ),
        (
            "missing InputTimeLimitExceeded on the guard",
            |f| {
                action(f, "guard")["Transitions"]["Errors"]
                    .as_array_mut()
                    .unwrap()
                    .retain(|e| e["ErrorType"] != "InputTimeLimitExceeded")
            },
            "guard",
            "needs an `InputTimeLimitExceeded` error branch",
        ),
        (
            "missing NoMatchingError on a message",
            |f| {
                action(f, "say-ack")["Transitions"]
                    .as_object_mut()
                    .unwrap()
                    .remove("Errors");
            },
            "say-ack",
            "needs an `NoMatchingError` error branch",
        ),
        (
            "missing NoMatchingCondition on Compare",
            |f| {
                action(f, "check-max-1")["Transitions"]
                    .as_object_mut()
                    .unwrap()
                    .remove("Errors");
            },
            "check-max-1",
            "`NoMatchingCondition`",
        ),
        (
            "attribute key outside the contract",
            |f| action(f, "set-ack")["Parameters"]["Attributes"] = json!({"rd_acked": "1"}),
            "set-ack",
            "`rd_acked`, which is outside the contract",
        ),
        (
            "non-rd attribute key",
            |f| action(f, "set-next")["Parameters"]["Attributes"] = json!({"customer": "x"}),
            "set-next",
            "`customer`, which is outside the contract",
        ),
        (
            "flow may not set a key ringdown passes in",
            |f| action(f, "set-ack")["Parameters"]["Attributes"] = json!({"rd_message": "x"}),
            "set-ack",
            "`rd_message`, which is outside the contract",
        ),
        (
            "reads an attribute outside the contract",
            |f| action(f, "say-ack")["Parameters"]["Text"] = json!("Hi $.Attributes.name"),
            "say-ack",
            "`$.Attributes.name`",
        ),
        (
            "stored input with conditions",
            |f| {
                action(f, "silence-ask-1")["Transitions"]["Conditions"] = json!([
                    {"NextAction": "disconnect", "Condition": {"Operator": "Equals", "Operands": ["1"]}}
                ])
            },
            "silence-ask-1",
            "does not support Conditions",
        ),
        (
            "multi-key menu condition",
            |f| {
                action(f, "menu-1")["Transitions"]["Conditions"][0]["Condition"]["Operands"] =
                    json!(["12"])
            },
            "menu-1",
            "Equals on one key",
        ),
        (
            "bad compare operator",
            |f| {
                action(f, "check-min-1")["Transitions"]["Conditions"][0]["Condition"]["Operator"] =
                    json!("Between")
            },
            "check-min-1",
            "unsupported Compare operator",
        ),
        (
            "disconnect with transitions",
            |f| action(f, "disconnect")["Transitions"] = json!({"NextAction": "set-voice"}),
            "disconnect",
            "must not have transitions",
        ),
        (
            "duplicate identifier",
            |f| action(f, "say-error")["Identifier"] = json!("say-ack"),
            "say-ack",
            "duplicate Identifier",
        ),
        // What Amazon Connect's flow-language reference adds.
        (
            "UpdateContactTextToSpeechVoice without NoMatchingError (\"Must always be defined\")",
            |f| {
                action(f, "set-voice")["Transitions"]
                    .as_object_mut()
                    .unwrap()
                    .remove("Errors");
            },
            "set-voice",
            "needs an `NoMatchingError` error branch",
        ),
        (
            "a voice Polly does not have",
            |f| action(f, "set-voice")["Parameters"]["TextToSpeechVoice"] = json!("Robotina"),
            "set-voice",
            "not an Amazon Polly",
        ),
        (
            "a voice without the chosen engine",
            |f| action(f, "set-voice")["Parameters"]["TextToSpeechVoice"] = json!("Mizuki"),
            "set-voice",
            "has no Neural engine",
        ),
        (
            "InputTimeLimitSeconds past Connect's 179 s",
            |f| action(f, "menu-1")["Parameters"]["InputTimeLimitSeconds"] = json!("180"),
            "menu-1",
            "from 1 to 179",
        ),
        (
            "InterdigitTimeLimitSeconds past 20 s",
            |f| {
                action(f, "silence-ask-1")["Parameters"]["DTMFConfiguration"]
                    ["InterdigitTimeLimitSeconds"] = json!("25")
            },
            "silence-ask-1",
            "from 1 to 20",
        ),
        (
            "a * terminator while * cancels input",
            |f| {
                action(f, "silence-ask-1")["Parameters"]["DTMFConfiguration"]
                    ["InputTerminationSequence"] = json!("*")
            },
            "silence-ask-1",
            "DisableCancelKey",
        ),
        (
            "the alert document wrapped in <speak> again",
            |f| {
                action(f, "read-alert")["Parameters"]["SSML"] =
                    json!("<speak>$.Attributes.rd_message</speak>")
            },
            "read-alert",
            "wrapped in <speak> twice",
        ),
        (
            "the alert document read as Text",
            |f| action(f, "read-alert")["Parameters"] = json!({"Text": "$.Attributes.rd_message"}),
            "read-alert",
            "would read its tags aloud",
        ),
        (
            "SSML Polly refuses for a neural voice",
            |f| {
                action(f, "say-ack")["Parameters"] =
                    json!({"SSML": "<speak><emphasis>Acknowledged.</emphasis></speak>"})
            },
            "say-ack",
            "not available for neural voices",
        ),
        (
            "SSML that is not a document",
            |f| action(f, "say-ack")["Parameters"] = json!({"SSML": "Acknowledged & done"}),
            "say-ack",
            "not well-formed",
        ),
    ];
    for (name, mutate, id, needle) in table {
        let mut f = base();
        mutate(&mut f);
        let errs = validate_json(&f.to_string()).expect_err(name);
        let msgs: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert!(
            errs.iter()
                .any(|e| e.action.as_deref() == Some(id) && e.message.contains(needle)),
            "{name}: expected an error on `{id}` containing {needle:?}, got {msgs:#?}"
        );
        assert!(
            msgs.iter()
                .any(|m| m.starts_with(&format!("action `{id}`"))),
            "{name}: message must name the action: {msgs:?}"
        );
    }
}

#[test]
fn flow_level_errors() {
    let mut f = base();
    f["StartAction"] = json!("missing");
    let errs = validate_json(&f.to_string()).unwrap_err();
    assert!(errs.iter().any(|e| e.message.contains("StartAction")));
    let mut f = base();
    f["Version"] = json!("2020-01-01");
    assert!(validate_json(&f.to_string()).is_err());
    assert!(validate_json("{not json").is_err());
}
