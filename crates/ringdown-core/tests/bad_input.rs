//! Bad input, told as scenarios: whatever arrives on the queue or is written in
//! a roster, the answer is an `Err` that says what is wrong and where, never a
//! panic, a hang or a stack overflow.
//!
//! Already covered next to the code, and not repeated here:
//! - `parse/tests.rs`: `error_kinds_have_codes_and_readable_messages` (empty
//!   body, invalid UTF-8 at offset 1, not JSON, unknown format, wrong field
//!   types), `limits_are_enforced` (every `Limits` field under small custom
//!   limits), `serde_recursion_limit_is_an_error_not_a_panic` (50,000 `[`),
//!   and the proptests `arbitrary_bytes_never_panic` /
//!   `arbitrary_json_never_panics`.
//! - `ssml.rs`: `injection_attempts_are_spoken_literally`,
//!   `truncates_before_escaping_never_inside_an_entity`, and the proptests
//!   on any title and details.
//! - `roster/tests.rs`: `every_validation_error_names_its_field` (a trunk-prefix
//!   number, an unquoted number, unknown people in members, overrides and
//!   targets, unknown rotations, calendars and policies),
//!   `validation_reports_every_problem_at_once`,
//!   `yaml_syntax_and_shape_errors_give_one_error_with_a_position`.
//! - `phone.rs`: `e164`, `masks_like_the_brief_says`.
//! - the fuzz targets in `fuzz/` (run with `fuzz/run.sh`) for all of these.
//!
//! Escalation cycles: nothing in roster format v1 can refer back to itself. A
//! step targets people and rotations, a rotation lists people (members and
//! overrides), a heartbeat names a policy; no rotation or policy names another
//! rotation or policy, so there is no reference graph to loop. What a person
//! *can* write is a name in the wrong namespace (a rotation where a person is
//! expected, and so on) and a YAML alias that refers to itself or expands
//! exponentially; those are the cycle-like cases below.

use ringdown_core::parse::{self, Limits, ParseError};
use ringdown_core::phone;
use ringdown_core::roster::Roster;
use ringdown_core::ssml::render_message;
use ringdown_core::Language;
use std::time::{Duration, Instant};

fn parse_err(bytes: &[u8]) -> ParseError {
    match parse::parse(bytes) {
        Ok(alerts) => panic!("expected an error, got {alerts:?}"),
        Err(e) => e,
    }
}

fn roster_errors(yaml: &str) -> Vec<String> {
    match Roster::from_yaml(yaml) {
        Ok(_) => panic!("expected roster errors for:\n{yaml}"),
        Err(e) => e.0,
    }
}

/// An Alertmanager webhook with one alert carrying `label = value`.
fn webhook_with_label(name: &str, value: &str) -> String {
    serde_json::json!({
        "version": "4",
        "status": "firing",
        "alerts": [{"status": "firing", "labels": {"alertname": "Big", name: value}}],
    })
    .to_string()
}

fn sns(message: &str) -> String {
    serde_json::json!({
        "Type": "Notification",
        "TopicArn": "arn:aws:sns:ap-northeast-1:123456789012:alerts",
        "Message": message,
    })
    .to_string()
}

// ----------------------------------------------------------------- size

#[test]
fn a_message_one_byte_over_the_default_limit_is_rejected_before_it_is_read() {
    let max = Limits::default().max_message_bytes;
    let mut body = br#"{"title": "x"}"#.to_vec();
    body.resize(max + 1, b' ');
    let e = parse_err(&body);
    assert_eq!(e, ParseError::TooLarge { size: max + 1, max });
    assert_eq!(e.reason_code(), "too_large");
    assert!(e.to_string().contains("larger than the limit"), "{e}");

    // Exactly at the limit is still read.
    body.truncate(max);
    assert_eq!(parse::parse(&body).unwrap().len(), 1);
}

#[test]
fn a_label_value_over_the_default_limit_names_the_label_even_inside_an_sns_envelope() {
    let max = Limits::default().max_value_bytes;
    let body = webhook_with_label("dump", &"x".repeat(max + 1));
    let e = parse_err(body.as_bytes());
    assert_eq!(e.reason_code(), "value_too_long");
    assert_eq!(
        e.to_string(),
        format!(
            "alerts[0].labels.dump: value is {} bytes, longer than the limit of {max} bytes",
            max + 1
        )
    );

    let e = parse_err(sns(&body).as_bytes());
    assert_eq!(e.reason_code(), "value_too_long");
    assert!(
        e.to_string().starts_with("Message.alerts[0].labels.dump: "),
        "{e}"
    );

    // At the limit it is accepted, unchanged.
    let ok = webhook_with_label("dump", &"x".repeat(max));
    assert_eq!(
        parse::parse(ok.as_bytes()).unwrap()[0].labels["dump"].len(),
        max
    );
}

#[test]
fn more_alerts_than_the_default_limit_in_one_webhook_are_refused_not_truncated() {
    let max = Limits::default().max_alerts;
    let alerts: Vec<_> = (0..=max)
        .map(|i| serde_json::json!({"labels": {"alertname": "A", "n": i.to_string()}}))
        .collect();
    let body = serde_json::json!({"version": "4", "alerts": alerts}).to_string();
    let e = parse_err(body.as_bytes());
    assert_eq!(e.reason_code(), "too_many_alerts");
    assert!(
        e.to_string()
            .starts_with(&format!("alerts: {} alerts in one message", max + 1)),
        "{e}"
    );
}

// ----------------------------------------------------------- encodings

#[test]
fn invalid_utf8_inside_a_json_string_is_reported_at_its_byte_offset() {
    // Overlong '/', an encoded UTF-16 surrogate, a truncated 3-byte sequence
    // at the very end, and a bare continuation byte.
    let prefix = br#"{"title": "disk "#;
    for bad in [
        &[0xC0, 0xAF][..],
        &[0xED, 0xA0, 0x80],
        &[0xE3, 0x81],
        &[0x80],
    ] {
        let mut body = prefix.to_vec();
        body.extend_from_slice(bad);
        if bad != [0xE3, 0x81] {
            body.extend_from_slice(br#""}"#);
        }
        let e = parse_err(&body);
        assert_eq!(
            e,
            ParseError::InvalidUtf8 {
                offset: prefix.len()
            },
            "{bad:?}"
        );
        assert!(e.to_string().contains(&format!("offset {}", prefix.len())));
    }
}

#[test]
fn a_utf16_body_is_invalid_utf8_at_offset_zero_and_a_utf8_bom_is_accepted() {
    let utf16: Vec<u8> = "\u{feff}{\"title\": \"x\"}"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    assert_eq!(parse_err(&utf16), ParseError::InvalidUtf8 { offset: 0 });

    let with_bom = "\u{feff}{\"title\": \"x\"}";
    assert_eq!(parse::parse(with_bom.as_bytes()).unwrap().len(), 1);
}

#[test]
fn a_lone_surrogate_escape_is_invalid_json_not_a_panic() {
    for body in [
        r#"{"title": "\ud800"}"#,
        r#"{"title": "\udc00x"}"#,
        r#"{"alerts": [{"labels": {"alertname": "\ud83d"}}]}"#,
    ] {
        let e = parse_err(body.as_bytes());
        assert_eq!(e.reason_code(), "invalid_json", "{body}: {e}");
        assert!(e.to_string().contains("hex escape"), "{e}");
    }
}

// -------------------------------------------------------------- nesting

/// Fails the test if `f` takes longer than a generous bound (a hang or a
/// quadratic blow-up, not a benchmark).
fn quickly<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = f();
    let took = start.elapsed();
    assert!(took < Duration::from_secs(5), "{what} took {took:?}");
    out
}

#[test]
fn a_hundred_thousand_open_brackets_are_too_deep_not_a_stack_overflow() {
    let opened = "[".repeat(100_000);
    let closed = format!("{opened}{}", "]".repeat(100_000));
    let objects = format!("{}1{}", r#"{"a":"#.repeat(100_000), "}".repeat(100_000));
    for body in [&opened, &closed, &objects] {
        let e = quickly("deep JSON", || parse_err(body.as_bytes()));
        assert_eq!(e.reason_code(), "too_deep", "{e}");
        assert_eq!(e.to_string(), "message: JSON nested deeper than 64 levels");
    }
}

#[test]
fn deep_nesting_hidden_in_a_webhook_an_sns_message_or_an_alertinfo_input_names_where() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let webhook = format!(r#"{{"alerts": [{{"labels": {{}}, "extra": {deep}}}]}}"#);
    let e = quickly("deep webhook", || parse_err(webhook.as_bytes()));
    assert_eq!(e.reason_code(), "too_deep");

    let e = quickly("deep SNS message", || parse_err(sns(&deep).as_bytes()));
    assert_eq!(e.reason_code(), "too_deep");
    assert!(e.to_string().starts_with("Message: "), "{e}");

    let e = quickly("deep SNS webhook", || parse_err(sns(&webhook).as_bytes()));
    assert_eq!(e.reason_code(), "too_deep");
    assert!(e.to_string().starts_with("Message: "), "{e}");

    let alertinfo = serde_json::json!({ "input": deep }).to_string();
    let e = quickly("deep alertinfo input", || parse_err(alertinfo.as_bytes()));
    assert_eq!(e.reason_code(), "too_deep");
    assert!(e.to_string().starts_with("input: "), "{e}");
}

#[test]
fn brackets_inside_strings_never_count_as_nesting() {
    let title = "[{".repeat(50_000);
    let body = serde_json::json!({"title": title, "labels": {"x": "]}".repeat(100)}});
    let alerts = quickly("brackets in strings", || {
        parse::parse_with(
            body.to_string().as_bytes(),
            &Limits {
                max_value_bytes: 200_000,
                ..Limits::default()
            },
        )
    })
    .unwrap();
    assert_eq!(alerts[0].labels["alertname"].len(), 100_000);
}

// ----------------------------------------------------------------- SSML

/// The `<speak>` body of a message: checks it is the only markup.
fn speak_body(m: &str) -> &str {
    assert!(m.starts_with("<speak>") && m.ends_with("</speak>"), "{m}");
    assert_eq!(m.matches('<').count(), 2, "markup from alert text: {m}");
    assert_eq!(m.matches('>').count(), 2, "markup from alert text: {m}");
    let body = &m["<speak>".len()..m.len() - "</speak>".len()];
    let entities = ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"];
    for (i, _) in body.match_indices('&') {
        assert!(
            entities.iter().any(|e| body[i..].starts_with(e)),
            "bare & at {i}: {m}"
        );
    }
    body
}

#[test]
fn an_alert_carrying_ssml_is_read_out_escaped_never_as_markup() {
    let body = serde_json::json!({
        "title": r#"<break time="60s"/>Disk & CPU <full>"#,
        "description": r#"<audio src="x"/> then </speak><speak>"#,
        "labels": {"systemname": "db"},
    })
    .to_string();
    let alert = &parse::parse(body.as_bytes()).unwrap()[0];
    let details = vec![alert.description().unwrap().to_string()];
    for lang in [Language::JaJp, Language::EnUs] {
        let m = render_message(lang, alert.title(), &details, 2, 2000);
        let spoken = speak_body(&m);
        assert!(
            spoken.contains("&lt;break time=&quot;60s&quot;/&gt;"),
            "{m}"
        );
        assert!(spoken.contains("&lt;audio src=&quot;x&quot;/&gt;"), "{m}");
        assert!(spoken.contains("Disk &amp; CPU &lt;full&gt;"), "{m}");
        assert!(spoken.contains("&lt;/speak&gt;&lt;speak&gt;"), "{m}");
    }
}

#[test]
fn ssml_in_an_sns_text_notification_is_escaped_too() {
    let body = serde_json::json!({
        "Type": "Notification",
        "TopicArn": "arn:aws:sns:ap-northeast-1:123456789012:alerts",
        "Subject": r#"[FIRING:1] <break time="60s"/>"#,
        "Message": "<audio src=\"https://evil/x.mp3\"/>\nA & B",
    })
    .to_string();
    let alert = &parse::parse(body.as_bytes()).unwrap()[0];
    let details = vec![alert.description().unwrap().to_string()];
    let m = render_message(Language::EnUs, alert.title(), &details, 1, 2000);
    let spoken = speak_body(&m);
    assert!(
        spoken.contains("&lt;break time=&quot;60s&quot;/&gt;"),
        "{m}"
    );
    assert!(
        spoken.contains("&lt;audio src=&quot;https://evil/x.mp3&quot;/&gt; A &amp; B"),
        "{m}"
    );
}

#[test]
fn a_message_cut_to_its_budget_never_cuts_an_injected_tag_into_markup() {
    let title = r#"<break time="60s"/><audio src="x"/>&&&"#;
    for max in 15..160 {
        for lang in [Language::JaJp, Language::EnUs] {
            let m = render_message(lang, title, &[title.to_string()], 3, max);
            assert!(m.chars().count() <= max.max(15), "{max}: {m}");
            speak_body(&m);
        }
    }
}

// --------------------------------------------------------------- roster

const ROSTER: &str = r#"
timezone: Asia/Tokyo
people:
  tanaka: { phones: [{ number: "+819012345678" }] }
  sato: { phones: [{ number: "+819011112222" }] }
rotations:
  primary: { members: [tanaka, sato], shift: 1w, start: "2026-11-02T10:00" }
policies:
  - name: default
    match: {}
    steps: [{ targets: [rotation:primary] }]
"#;

#[test]
fn the_base_roster_of_these_scenarios_is_valid() {
    Roster::from_yaml(ROSTER).unwrap();
}

#[test]
fn phone_numbers_that_are_not_e164_are_refused_naming_the_field_and_masked() {
    let cases = [
        ("090-1234-5678", "must start with +"),
        ("+0123", "country code cannot start with 0"),
        ("+8190123456789012", "16 digits"),
        ("+81abc1234567", "only digits may follow +"),
        ("phone", "must start with +"),
        ("+81 90 1234 5678", "only digits may follow +"),
        ("+81-90-1234-5678", "only digits may follow +"),
        ("＋８１９０１２３４５６７８", "must start with +"),
        ("+８１９０１２３４５６７８", "only digits may follow +"),
        ("+", "has 0 digits"),
        ("", "must start with +"),
    ];
    for (number, why) in cases {
        assert!(phone::validate_e164(number).is_err(), "{number}");
        let yaml = ROSTER.replace("+819011112222", number);
        let errs = roster_errors(&yaml);
        assert_eq!(errs.len(), 1, "{number}: {errs:#?}");
        let e = &errs[0];
        assert!(
            e.starts_with("people.sato.phones[0].number: "),
            "{number}: {e}"
        );
        assert!(
            e.contains("not in E.164 form") && e.contains(why),
            "{number}: {e}"
        );
        if number.len() >= 8 {
            assert!(!e.contains(number), "the number is masked: {e}");
        }
    }
}

#[test]
fn a_rotation_named_as_a_person_or_a_person_as_a_rotation_is_an_unknown_reference() {
    let errs =
        roster_errors(&ROSTER.replace("[rotation:primary]", "[person:primary, rotation:tanaka]"));
    assert!(
        errs.contains(
            &"policies[0].steps[0].targets[0]: unknown person \"primary\" (known: sato, tanaka)"
                .to_string()
        ),
        "{errs:#?}"
    );
    assert!(
        errs.contains(
            &"policies[0].steps[0].targets[1]: unknown rotation \"tanaka\" (known: primary)"
                .to_string()
        ),
        "{errs:#?}"
    );
}

#[test]
fn a_rotation_cannot_contain_itself_or_hand_over_to_a_rotation() {
    // The nearest thing to a cycle: a rotation listing itself as a member, or
    // an override handing the rotation to a rotation.
    let yaml = ROSTER.replace(
        r#"members: [tanaka, sato], shift: 1w, start: "2026-11-02T10:00" }"#,
        r#"members: [tanaka, primary], shift: 1w, start: "2026-11-02T10:00", overrides: [{ person: "rotation:primary", from: "2026-11-03", to: "2026-11-04" }] }"#,
    );
    let errs = roster_errors(&yaml);
    assert!(
        errs.contains(
            &"rotations.primary.members[1]: unknown person \"primary\" (known: sato, tanaka)"
                .to_string()
        ),
        "{errs:#?}"
    );
    assert!(
        errs.iter().any(|e| e.starts_with(
            "rotations.primary.overrides[0].person: unknown person \"rotation:primary\""
        )),
        "{errs:#?}"
    );
    assert_eq!(errs.len(), 2, "{errs:#?}");
}

#[test]
fn a_heartbeat_naming_a_rotation_instead_of_a_policy_is_an_unknown_policy() {
    let yaml = format!(
        "{ROSTER}heartbeats: [{{ name: nightly, expect_every_secs: 60, policy: primary }}]\n"
    );
    let errs = roster_errors(&yaml);
    assert_eq!(
        errs,
        vec!["heartbeats[0].policy: unknown policy \"primary\" (known: default)".to_string()]
    );
}

#[test]
fn a_yaml_alias_that_refers_to_itself_is_an_error_not_a_hang() {
    let yaml = format!("{ROSTER}x: &loop [*loop]\n");
    let errs = quickly("self-referencing alias", || roster_errors(&yaml));
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert!(errs[0].contains("line "), "{errs:#?}");
}

#[test]
fn a_billion_laughs_roster_is_refused_quickly() {
    let mut yaml = String::from("a0: &a0 [\"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\"]\n");
    for i in 1..10 {
        let p = i - 1;
        yaml.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    let errs = quickly("billion laughs", || roster_errors(&yaml));
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert!(errs[0].contains("repetition limit exceeded"), "{errs:#?}");
}

#[test]
fn twenty_thousand_nested_yaml_lists_are_an_error_not_a_stack_overflow() {
    // libyaml keeps an explicit stack and reads the whole document first
    // (linear, about 7 µs a level in release, 5–8 times that in a debug
    // build), then serde_yaml stops at 128 levels.
    let yaml = format!("{}{}", "[".repeat(20_000), "]".repeat(20_000));
    let errs = quickly("deep YAML", || roster_errors(&yaml));
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert!(errs[0].contains("recursion limit exceeded"), "{errs:#?}");

    let nested_people = format!(
        "timezone: UTC\npeople: {}{}\n",
        "{a: ".repeat(10_000),
        "}".repeat(10_000)
    );
    let errs = quickly("deep YAML maps", || roster_errors(&nested_people));
    assert_eq!(errs.len(), 1, "{errs:#?}");
}

#[test]
fn counts_too_large_for_any_integer_are_refused_naming_the_field() {
    for (field, value) in [
        ("attempts", "99999999999999999999999"),
        ("attempts", "1e400"),
        ("retry_after_secs", "-99999999999999999999999"),
    ] {
        let yaml = ROSTER.replace(
            "steps: [{ targets: [rotation:primary] }]",
            &format!("steps: [{{ targets: [rotation:primary], {field}: {value} }}]"),
        );
        let errs = roster_errors(&yaml);
        assert_eq!(errs.len(), 1, "{field}: {value}: {errs:#?}");
        assert!(
            errs[0].starts_with(&format!("policies[0].steps[0].{field}")),
            "{field}: {value}: {errs:#?}"
        );
    }
}

#[test]
fn a_roster_that_is_not_a_mapping_says_what_it_is() {
    for yaml in [
        "- timezone: UTC\n",
        "just text\n",
        "42\n",
        "~\n",
        "\u{feff}\n",
    ] {
        let errs = roster_errors(yaml);
        assert_eq!(errs.len(), 1, "{yaml:?}: {errs:#?}");
        assert!(!errs[0].trim().is_empty());
    }
}
