//! Pure interpreter tests: every persona against both shipped flows, no network.

use std::collections::BTreeMap;
use std::time::Duration;

use connect_flow::{
    simulate, validate_json, DisconnectReason, EventKind, Flow, HumanPersona, KeyPress, Persona,
};

const RING: Duration = Duration::from_secs(60);

fn flow(lang: &str) -> Flow {
    let path = format!(
        "{}/../../contact-flows/ringdown-{lang}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap();
    validate_json(&text).unwrap_or_else(|e| panic!("{path}: {e:?}"))
}

fn attrs(lang: &str) -> BTreeMap<String, String> {
    [
        ("rd_incident", "inc-42"),
        ("rd_call", "inc-42-s0-a1"),
        ("rd_message", "<speak>Disk full on db-1 &amp; db-2</speak>"),
        ("rd_lang", lang),
        ("rd_scope", "systemname web"),
        (
            "rd_list",
            "<speak>The 2 incidents of this storm. web down. db slow.</speak>",
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn both() -> Vec<(&'static str, Flow)> {
    vec![("en-US", flow("en-US")), ("ja-JP", flow("ja-JP"))]
}

fn human(keys: &[(&str, f64)]) -> Persona {
    Persona::human(2.0, keys)
}

fn set_keys(r: &connect_flow::CallResult) -> Vec<String> {
    r.events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::AttributeSet { key, value } => Some(format!("{key}={value}")),
            _ => None,
        })
        .collect()
}

fn assert_monotonic(r: &connect_flow::CallResult) {
    let mut last = 0;
    for e in &r.events {
        assert!(e.offset_ms >= last, "events out of order: {:?}", r.events);
        last = e.offset_ms;
    }
    assert_eq!(last, r.ended_at_offset.as_millis() as u64);
    assert!(matches!(
        r.events.last().unwrap().kind,
        EventKind::Disconnected { .. }
    ));
    assert!(
        !r.events
            .iter()
            .any(|e| matches!(e.kind, EventKind::FlowError { .. })),
        "flow error: {:?}",
        r.events
    );
}

#[test]
fn voicemail_is_contact_flow_disconnect_without_rd_human() {
    for (lang, f) in both() {
        let r = simulate(&f, &attrs(lang), &Persona::voicemail(8.0), RING);
        assert_monotonic(&r);
        assert!(r.answered, "{lang}");
        assert_eq!(r.connected_at_offset, Some(Duration::from_secs(8)));
        assert_eq!(r.disconnect_reason, DisconnectReason::ContactFlowDisconnect);
        assert!(
            !r.attributes.contains_key("rd_human"),
            "{lang}: {:?}",
            r.attributes
        );
        assert!(set_keys(&r).is_empty());
        assert!(r.pressed().is_empty());
        // Only the guard prompt was played; the alert was never read to a machine.
        assert_eq!(r.said().len(), 1, "{lang}: {:?}", r.said());
        assert!(!r.said().iter().any(|s| s.contains("Disk full")));
        // guard timeout = 5 s after the prompt
        let guard_len = r.said()[0].chars().count() as u64 * 60;
        assert_eq!(
            r.ended_at_offset.as_millis() as u64,
            8000 + guard_len + 5000
        );
    }
}

#[test]
fn pressing_3_reads_the_list_then_the_menu_again_and_1_still_acknowledges() {
    for (lang, f) in both() {
        let r = simulate(
            &f,
            &attrs(lang),
            &human(&[("1", 1.0), ("3", 2.0), ("1", 2.0)]),
            RING,
        );
        assert_monotonic(&r);
        assert_eq!(set_keys(&r), vec!["rd_human=1", "rd_ack=1"], "{lang}");
        let said = r.said();
        let list = said
            .iter()
            .position(|s| s.contains("web down. db slow."))
            .unwrap_or_else(|| panic!("{lang}: the list was not read: {said:?}"));
        assert!(
            said[..list].iter().any(|s| s.contains("Disk full")),
            "{lang}: the message comes first: {said:?}"
        );
        assert!(
            said[list + 1..].iter().any(|s| s.contains('3')),
            "{lang}: the menu is offered again after the list: {said:?}"
        );
    }
}

#[test]
fn acknowledged_call_is_also_contact_flow_disconnect_but_with_rd_ack() {
    for (lang, f) in both() {
        let r = simulate(&f, &attrs(lang), &human(&[("1", 1.0), ("1", 2.0)]), RING);
        assert_monotonic(&r);
        assert_eq!(r.disconnect_reason, DisconnectReason::ContactFlowDisconnect);
        assert_eq!(set_keys(&r), vec!["rd_human=1", "rd_ack=1"], "{lang}");
        assert_eq!(r.attributes["rd_ack"], "1");
        assert_eq!(r.attributes["rd_incident"], "inc-42");
        // The SSML message is read with attributes substituted and entities decoded.
        assert!(
            r.said().contains(&"Disk full on db-1 & db-2"),
            "{:?}",
            r.said()
        );
        assert_eq!(r.pressed(), vec!["1", "1"]);
    }
    let r = simulate(
        &flow("en-US"),
        &attrs("en-US"),
        &human(&[("1", 1.0), ("1", 2.0)]),
        RING,
    );
    assert_eq!(
        r.said().last().unwrap(),
        &"Acknowledged. Thank you. Goodbye."
    );
    let voice = r.events.iter().find_map(|e| match &e.kind {
        EventKind::VoiceSet { voice } => Some(voice.clone()),
        _ => None,
    });
    assert_eq!(voice.as_deref(), Some("Joanna"));
    let r = simulate(
        &flow("ja-JP"),
        &attrs("ja-JP"),
        &human(&[("1", 1.0), ("1", 2.0)]),
        RING,
    );
    assert!(r.said().last().unwrap().contains("確認を受け付けました"));
    assert!(r
        .events
        .iter()
        .any(|e| matches!(&e.kind, EventKind::VoiceSet { voice } if voice == "Kazuha")));
}

#[test]
fn default_persona_presses_1_once_so_menu_times_out_twice() {
    // The book's default persona (answer after 3 s, press 1 once) passes the guard
    // and then makes no choice: menu repeated once, then disconnect.
    let p = connect_flow::PersonaBook::default().default;
    for (lang, f) in both() {
        let r = simulate(&f, &attrs(lang), &p, RING);
        assert_monotonic(&r);
        assert_eq!(set_keys(&r), vec!["rd_human=1"], "{lang}");
        assert_eq!(r.disconnect_reason, DisconnectReason::ContactFlowDisconnect);
        let menus = r
            .events
            .iter()
            .filter(|e| matches!(&e.kind, EventKind::Said { action, .. } if action.starts_with("menu-")))
            .count();
        assert_eq!(menus, 2, "{lang}");
        assert!(r.events.iter().any(
            |e| matches!(&e.kind, EventKind::Said { action, .. } if action == "say-no-choice")
        ));
    }
}

#[test]
fn pass_to_next_person() {
    for (lang, f) in both() {
        let r = simulate(&f, &attrs(lang), &human(&[("7", 0.5), ("2", 1.0)]), RING);
        assert_monotonic(&r);
        assert_eq!(set_keys(&r), vec!["rd_human=1", "rd_next=1"], "{lang}");
        assert_eq!(r.disconnect_reason, DisconnectReason::ContactFlowDisconnect);
    }
}

#[test]
fn silence_9_then_2_hash_sets_two_hours() {
    // The persona of the task: 5 at the guard, 9 at the menu, "2#" for the hours.
    let p = human(&[("5", 1.0), ("9", 3.0), ("2#", 2.0)]);
    for (lang, f) in both() {
        let r = simulate(&f, &attrs(lang), &p, RING);
        assert_monotonic(&r);
        assert_eq!(
            set_keys(&r),
            vec!["rd_human=1", "rd_silence_hours=2"],
            "{lang}"
        );
        assert!(!r.attributes.contains_key("rd_ack"));
        assert_eq!(r.pressed(), vec!["5", "9", "2#"]);
        assert!(r.said().last().unwrap().contains('2'), "{:?}", r.said());
    }
    let r = simulate(&flow("en-US"), &attrs("en-US"), &p, RING);
    assert_eq!(
        r.said().last().unwrap(),
        &"Silenced systemname web for 2 hours. Goodbye."
    );
}

#[test]
fn hours_typed_digit_by_digit_and_max_length() {
    let f = flow("en-US");
    // "7", then "2" one second later, then "#": 72 is the maximum allowed.
    let r = simulate(
        &f,
        &attrs("en-US"),
        &human(&[("1", 1.0), ("9", 1.0), ("7", 1.0), ("2", 1.0), ("#", 1.0)]),
        RING,
    );
    assert_eq!(
        r.attributes.get("rd_silence_hours").map(String::as_str),
        Some("72")
    );
    // MaximumLength 2 ends collection without '#'.
    let r = simulate(
        &f,
        &attrs("en-US"),
        &human(&[("1", 1.0), ("9", 1.0), ("24", 1.0)]),
        RING,
    );
    assert_eq!(
        r.attributes.get("rd_silence_hours").map(String::as_str),
        Some("24")
    );
    // '*' cancels what was typed so far.
    let r = simulate(
        &f,
        &attrs("en-US"),
        &human(&[("1", 1.0), ("9", 1.0), ("8*4#", 1.0)]),
        RING,
    );
    assert_eq!(
        r.attributes.get("rd_silence_hours").map(String::as_str),
        Some("4")
    );
}

#[test]
fn invalid_hours_twice_falls_back_to_ack() {
    for (lang, f) in both() {
        let r = simulate(
            &f,
            &attrs(lang),
            &human(&[("1", 1.0), ("9", 1.0), ("99#", 2.0), ("0#", 2.0)]),
            RING,
        );
        assert_monotonic(&r);
        assert_eq!(set_keys(&r), vec!["rd_human=1", "rd_ack=1"], "{lang}");
        assert!(!r.attributes.contains_key("rd_silence_hours"));
        assert_eq!(r.disconnect_reason, DisconnectReason::ContactFlowDisconnect);
    }
    let r = simulate(
        &flow("en-US"),
        &attrs("en-US"),
        &human(&[("1", 1.0), ("9", 1.0), ("99#", 2.0), ("0#", 2.0)]),
        RING,
    );
    assert!(r
        .said()
        .last()
        .unwrap()
        .contains("acknowledged, without a silence"));
}

#[test]
fn invalid_hours_once_then_valid() {
    for (lang, f) in both() {
        let r = simulate(
            &f,
            &attrs(lang),
            &human(&[("1", 1.0), ("9", 1.0), ("80#", 2.0), ("12#", 2.0)]),
            RING,
        );
        assert_eq!(
            set_keys(&r),
            vec!["rd_human=1", "rd_silence_hours=12"],
            "{lang}"
        );
    }
}

#[test]
fn no_hours_entered_times_out_twice_then_ack() {
    for (lang, f) in both() {
        let r = simulate(&f, &attrs(lang), &human(&[("1", 1.0), ("9", 1.0)]), RING);
        assert_monotonic(&r);
        assert_eq!(set_keys(&r), vec!["rd_human=1", "rd_ack=1"], "{lang}");
    }
}

#[test]
fn star_repeats_the_message() {
    for (lang, f) in both() {
        let r = simulate(
            &f,
            &attrs(lang),
            &human(&[("1", 1.0), ("*", 1.0), ("1", 1.0)]),
            RING,
        );
        assert_monotonic(&r);
        let reads = r.said().iter().filter(|s| s.contains("Disk full")).count();
        assert_eq!(reads, 2, "{lang}");
        assert_eq!(r.attributes.get("rd_ack").map(String::as_str), Some("1"));
    }
}

#[test]
fn invalid_menu_key_repeats_menu_once() {
    for (lang, f) in both() {
        let r = simulate(
            &f,
            &attrs(lang),
            &human(&[("1", 1.0), ("5", 1.0), ("1", 1.0)]),
            RING,
        );
        assert_eq!(set_keys(&r), vec!["rd_human=1", "rd_ack=1"], "{lang}");
        let r = simulate(
            &f,
            &attrs(lang),
            &human(&[("1", 1.0), ("5", 1.0), ("6", 1.0)]),
            RING,
        );
        assert_eq!(set_keys(&r), vec!["rd_human=1"], "{lang}");
        assert_eq!(r.disconnect_reason, DisconnectReason::ContactFlowDisconnect);
    }
}

#[test]
fn slow_key_at_guard_is_treated_like_voicemail() {
    for (lang, f) in both() {
        let r = simulate(&f, &attrs(lang), &human(&[("1", 6.0)]), RING);
        assert!(r.answered);
        assert!(r.pressed().is_empty());
        assert!(!r.attributes.contains_key("rd_human"), "{lang}");
        assert_eq!(r.disconnect_reason, DisconnectReason::ContactFlowDisconnect);
    }
}

#[test]
fn never_answers_busy_and_failure() {
    for (lang, f) in both() {
        let r = simulate(&f, &attrs(lang), &Persona::NeverAnswers, RING);
        assert!(!r.answered);
        assert_eq!(r.connected_at_offset, None);
        assert_eq!(r.ended_at_offset, RING);
        assert_eq!(r.disconnect_reason, DisconnectReason::TelecomUnanswered);
        assert_eq!(r.attributes, attrs(lang));

        let r = simulate(
            &f,
            &attrs(lang),
            &Persona::NeverAnswers,
            Duration::from_secs(20),
        );
        assert_eq!(r.ended_at_offset, Duration::from_secs(20));

        let r = simulate(&f, &attrs(lang), &Persona::Busy, RING);
        assert!(!r.answered);
        assert_eq!(r.disconnect_reason, DisconnectReason::TelecomBusy);

        let r = simulate(&f, &attrs(lang), &Persona::TelecomFailure, RING);
        assert!(!r.answered);
        assert_eq!(r.disconnect_reason, DisconnectReason::TelecomProblem);
        assert_eq!(r.events.len(), 1);
    }
}

#[test]
fn answering_after_the_ring_timeout_is_unanswered() {
    let f = flow("en-US");
    let r = simulate(
        &f,
        &attrs("en-US"),
        &human(&[]).with_answer(30.0),
        Duration::from_secs(20),
    );
    assert!(!r.answered);
    assert_eq!(r.disconnect_reason, DisconnectReason::TelecomUnanswered);
}

trait WithAnswer {
    fn with_answer(self, secs: f64) -> Persona;
}
impl WithAnswer for Persona {
    fn with_answer(self, secs: f64) -> Persona {
        match self {
            Persona::Human(mut h) => {
                h.answer_after_secs = secs;
                Persona::Human(h)
            }
            p => p,
        }
    }
}

#[test]
fn hang_up_during_the_alert_message() {
    let p = Persona::Human(HumanPersona {
        answer_after_secs: 2.0,
        keys: vec![KeyPress::new("1", 1.0)],
        hang_up_after_prompt: Some(1),
        hang_up_after_secs: None,
    });
    for (lang, f) in both() {
        let r = simulate(&f, &attrs(lang), &p, RING);
        assert_monotonic(&r);
        assert_eq!(
            r.disconnect_reason,
            DisconnectReason::CustomerDisconnect,
            "{lang}"
        );
        assert_eq!(set_keys(&r), vec!["rd_human=1"]);
        // hung up in the middle of the message: it was started, the menu never was
        assert!(r.said().iter().any(|s| s.contains("Disk full")));
        assert!(!r.events.iter().any(
            |e| matches!(&e.kind, EventKind::Said { action, .. } if action.starts_with("menu"))
        ));
    }
    // Hanging up after N seconds, during the menu wait.
    let p = Persona::Human(HumanPersona {
        answer_after_secs: 2.0,
        keys: vec![KeyPress::new("1", 1.0), KeyPress::new("1", 30.0)],
        hang_up_after_prompt: None,
        hang_up_after_secs: Some(25.0),
    });
    let r = simulate(&flow("en-US"), &attrs("en-US"), &p, RING);
    assert_eq!(r.disconnect_reason, DisconnectReason::CustomerDisconnect);
    assert_eq!(r.ended_at_offset, Duration::from_secs(27));
}

#[test]
fn simulate_is_pure() {
    let f = flow("ja-JP");
    let p = human(&[("5", 1.0), ("9", 3.0), ("2#", 2.0)]);
    assert_eq!(
        simulate(&f, &attrs("ja-JP"), &p, RING),
        simulate(&f, &attrs("ja-JP"), &p, RING)
    );
}

#[test]
fn stopped_call_keeps_only_what_happened() {
    let f = flow("en-US");
    let r = simulate(&f, &attrs("en-US"), &human(&[("1", 1.0), ("1", 1.0)]), RING);
    let s = r.stopped_at(&attrs("en-US"), Duration::from_millis(1500));
    assert!(!s.answered);
    assert_eq!(s.disconnect_reason, DisconnectReason::Api);
    assert_eq!(s.attributes, attrs("en-US"));
}

#[test]
fn persona_yaml_from_the_task() {
    let yaml = r#"
time_scale: 60
default: { answer_after_secs: 3, keys: [{key: "1", delay_secs: 1}] }
personas:
  "+81312345678": { voicemail: { answer_after_secs: 8 } }
  "+819011112222": { answer_after_secs: 2, keys: [{key: "5", delay_secs: 1}, {key: "9", delay_secs: 3}, {key: "2#", delay_secs: 2}] }
  "+14155550100": never_answers
  "+14155550101": busy
  "+14155550102": { answer_after_secs: 2, keys: [{key: "1", delay_secs: 1}], hang_up_after_prompt: 1 }
  "+14155550103": telecom_failure
"#;
    let book = connect_flow::PersonaBook::from_yaml(yaml).unwrap();
    assert_eq!(book.time_scale, Some(60.0));
    assert_eq!(book.lookup("+81312345678"), &Persona::voicemail(8.0));
    assert_eq!(book.lookup("+14155550100"), &Persona::NeverAnswers);
    assert_eq!(book.lookup("+14155550101"), &Persona::Busy);
    assert_eq!(book.lookup("+14155550103"), &Persona::TelecomFailure);
    assert_eq!(
        book.lookup("+10000000000"),
        &Persona::human(3.0, &[("1", 1.0)])
    );
    assert!(
        matches!(book.lookup("+14155550102"), Persona::Human(h) if h.hang_up_after_prompt == Some(1))
    );
    // typo'd field is an error, not a silent default
    assert!(connect_flow::PersonaBook::from_yaml("personas: {\"+1\": {answer_after: 2}}").is_err());
    // round trip
    let back: connect_flow::PersonaBook =
        serde_yaml::from_str(&serde_yaml::to_string(&book).unwrap()).unwrap();
    assert_eq!(back, book);
}

fn said(r: &connect_flow::CallResult) -> Vec<String> {
    r.said().into_iter().map(String::from).collect()
}

#[test]
fn the_engineer_hears_the_alert_text_ringdown_sent() {
    for (lang, f) in both() {
        let r = simulate(&f, &attrs(lang), &human(&[("5", 1.0), ("1", 1.0)]), RING);
        assert_monotonic(&r);
        assert!(
            said(&r).iter().any(|t| t == "Disk full on db-1 & db-2"),
            "{lang}: {:?}",
            said(&r)
        );
        assert_eq!(r.attributes.get("rd_ack").map(String::as_str), Some("1"));
    }
}

#[test]
fn the_alert_wrapped_in_speak_twice_is_never_heard_and_the_call_goes_to_the_menu() {
    // The defect the old flows had: `<speak>$.Attributes.rd_message</speak>`
    // around a message that is already a whole document.
    let mut v: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!(
            "{}/../../contact-flows/ringdown-en-US.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap(),
    )
    .unwrap();
    for a in v["Actions"].as_array_mut().unwrap() {
        if a["Identifier"] == "read-alert" {
            a["Parameters"] = serde_json::json!({"SSML": "<speak>$.Attributes.rd_message</speak>"});
        }
    }
    let f = Flow::from_json(&v.to_string()).unwrap();
    let r = simulate(&f, &attrs("en-US"), &human(&[("5", 1.0), ("1", 1.0)]), RING);
    assert!(
        !said(&r).iter().any(|t| t.contains("Disk full")),
        "{:?}",
        said(&r)
    );
    assert!(r.events.iter().any(|e| matches!(&e.kind,
        EventKind::FlowError { action, message } if action == "read-alert" && message.contains("twice"))));
    assert_eq!(
        r.attributes.get("rd_ack").map(String::as_str),
        Some("1"),
        "asked to press 1 for an alert she never heard"
    );
}

#[test]
fn a_message_polly_refuses_is_announced_as_unreadable_before_the_menu() {
    for (lang, f) in both() {
        let mut a = attrs(lang);
        a.insert(
            "rd_message".into(),
            "<speak>pause <break time=\"60s\"/></speak>".into(),
        );
        let r = simulate(&f, &a, &human(&[("5", 1.0), ("1", 1.0)]), RING);
        assert!(
            said(&r)
                .iter()
                .any(|t| t.contains("could not be read") || t.contains("読み上げられません")),
            "{lang}: {:?}",
            said(&r)
        );
        assert_eq!(
            r.attributes.get("rd_ack").map(String::as_str),
            Some("1"),
            "{lang}"
        );
    }
}

#[test]
fn a_key_pressed_while_the_alert_is_read_is_not_heard() {
    // She presses 1 halfway through the alert (Amazon Connect drops it),
    // then hears the menu and presses 1 again.
    let f = flow("en-US");
    let p = Persona::Human(HumanPersona {
        answer_after_secs: 2.0,
        keys: vec![
            KeyPress::new("5", 1.0),
            KeyPress::at("1", 7.5),
            KeyPress::new("1", 1.0),
        ],
        ..Default::default()
    });
    let r = simulate(&f, &attrs("en-US"), &p, RING);
    assert_monotonic(&r);
    let lost: Vec<&EventKind> = r
        .events
        .iter()
        .map(|e| &e.kind)
        .filter(|k| matches!(k, EventKind::KeysLost { .. }))
        .collect();
    assert_eq!(
        lost,
        [&EventKind::KeysLost { keys: "1".into() }],
        "{:?}",
        r.events
    );
    let lost_at = r
        .events
        .iter()
        .find(|e| matches!(e.kind, EventKind::KeysLost { .. }))
        .unwrap()
        .offset_ms;
    let menu_at = r
        .events
        .iter()
        .find(|e| matches!(&e.kind, EventKind::Said { action, .. } if action == "menu-1"))
        .unwrap()
        .offset_ms;
    assert!(lost_at < menu_at, "lost during the alert, before the menu");
    assert_eq!(r.attributes.get("rd_ack").map(String::as_str), Some("1"));
}

#[test]
fn a_key_pressed_during_the_menu_prompt_interrupts_it() {
    let f = flow("en-US");
    let guard = Persona::human(2.0, &[("5", 1.0), ("1", 1.0)]);
    let full = simulate(&f, &attrs("en-US"), &guard, RING);
    let menu_at = full
        .events
        .iter()
        .find(|e| matches!(&e.kind, EventKind::Said { action, .. } if action == "menu-1"))
        .unwrap()
        .offset_ms;
    let p = Persona::Human(HumanPersona {
        answer_after_secs: 2.0,
        keys: vec![
            KeyPress::new("5", 1.0),
            KeyPress::at("1", (menu_at as f64 + 1500.0) / 1000.0),
        ],
        ..Default::default()
    });
    let r = simulate(&f, &attrs("en-US"), &p, RING);
    assert_monotonic(&r);
    let pressed = r
        .events
        .iter()
        .filter(|e| matches!(&e.kind, EventKind::Pressed { keys } if keys == "1"))
        .map(|e| e.offset_ms)
        .next()
        .unwrap();
    assert_eq!(
        pressed,
        menu_at + 1500,
        "heard mid-prompt, without waiting for its end"
    );
    assert_eq!(r.attributes.get("rd_ack").map(String::as_str), Some("1"));
}

#[test]
fn a_voice_polly_cannot_give_falls_back_to_the_standard_voice() {
    let mut v: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!(
            "{}/../../contact-flows/ringdown-ja-JP.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap(),
    )
    .unwrap();
    for a in v["Actions"].as_array_mut().unwrap() {
        if a["Identifier"] == "set-voice" {
            a["Parameters"]["TextToSpeechVoice"] = serde_json::json!("Mizuki");
        }
    }
    let f = Flow::from_json(&v.to_string()).unwrap();
    let r = simulate(&f, &attrs("ja-JP"), &human(&[("5", 1.0), ("1", 1.0)]), RING);
    let voices: Vec<&str> = r
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::VoiceSet { voice } => Some(voice.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        voices,
        ["Takumi"],
        "Mizuki has no neural engine: the flow's error branch sets the standard voice"
    );
    assert_eq!(r.attributes.get("rd_ack").map(String::as_str), Some("1"));
}

#[test]
fn the_call_says_what_pressing_9_silences_before_and_after_the_hours() {
    for (lang, f) in both() {
        let mut a = attrs(lang);
        a.insert("rd_scope".into(), "systemname web".into());
        let r = simulate(&f, &a, &human(&[("5", 1.0), ("9", 1.0), ("2#", 1.0)]), RING);
        assert_monotonic(&r);
        let said = said(&r);
        let asks = said.iter().filter(|t| t.contains("systemname web")).count();
        assert_eq!(
            asks, 2,
            "{lang}: asked and confirmed with the scope: {said:?}"
        );
        assert_eq!(
            r.attributes.get("rd_silence_hours").map(String::as_str),
            Some("2")
        );
    }
}
