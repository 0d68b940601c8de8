//! The `ringdown` binary as a user runs it: exit codes, output shapes, errors.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn ringdown(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ringdown"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ringdown runs");
    {
        let mut input = child.stdin.take().unwrap();
        if let Some(bytes) = stdin {
            // The child may refuse early (too large); a broken pipe is fine.
            let _ = input.write_all(bytes);
        }
    }
    child.wait_with_output().unwrap()
}

fn temp_file(name: &str, content: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("ringdown-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p
}

const ROSTER: &str = include_str!("../assets/example-roster.yaml");

#[test]
fn alerts_parse_prints_normalised_alerts() {
    let body = r#"{"input": "{\"alertinfo\": [{\"host\": \"Serve1\", \"service\": \"CPU Utilization\", \"lastcheck\": \"2023-10-03 13:20:52\", \"systemname\": \"XYZ\"}]}"}"#;
    let out = ringdown(&["alerts", "parse", "-"], Some(body.as_bytes()));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let a = &v[0];
    assert_eq!(a["source"], "alertinfo");
    assert_eq!(a["status"], "firing");
    assert_eq!(a["labels"]["systemname"], "XYZ");
    assert_eq!(a["labels"]["host"], "Serve1");
    for key in [
        "fingerprint",
        "labels",
        "annotations",
        "starts_at",
        "ends_at",
        "source",
    ] {
        assert!(a.get(key).is_some(), "missing {key}: {a}");
    }
}

#[test]
fn alerts_parse_rejects_bad_input_with_exit_2_and_one_line() {
    for bad in [
        &b"not json"[..],
        &b"{\"hello\": 1}"[..],
        &[0xff, 0xfe, 0x00][..],
    ] {
        let out = ringdown(&["alerts", "parse"], Some(bad));
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(out.stdout.is_empty());
    }
    let huge = vec![b' '; 2 << 20];
    let out = ringdown(&["alerts", "parse"], Some(&huge));
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn roster_validate_accepts_the_example_and_lists_every_problem_of_a_broken_one() {
    let ok = temp_file("ok.yaml", ROSTER);
    let out = ringdown(&["roster", "validate", ok.to_str().unwrap()], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let broken = ROSTER
        .replace("\"+819012340002\"", "\"09012340002\"")
        .replace("targets: [person:sato]", "targets: [person:nobody]");
    let bad = temp_file("bad.yaml", &broken);
    let out = ringdown(&["roster", "validate", bad.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("people.suzuki.phones[0].number"), "{err}");
    assert!(err.contains("nobody"), "{err}");
    assert!(
        !err.contains("09012340002"),
        "numbers are masked in errors: {err}"
    );
}

#[test]
fn oncall_json_lists_who_is_called_in_order_and_why() {
    let roster = temp_file("oncall.yaml", ROSTER);
    // Tuesday 03:12 Tokyo: tanaka's week, night → mobile.
    let out = ringdown(
        &[
            "oncall",
            "--roster",
            roster.to_str().unwrap(),
            "--at",
            "2026-11-24T03:12:00+09:00",
            "--label",
            "systemname=web",
            "--output",
            "json",
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let people: Vec<(&str, u64, u64)> = plan
        .iter()
        .map(|e| {
            (
                e["person"].as_str().unwrap(),
                e["step"].as_u64().unwrap(),
                e["attempt"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        people,
        [("tanaka", 1, 1), ("suzuki", 2, 1), ("suzuki", 2, 2)]
    );
    assert_eq!(plan[0]["phone"], "+819012340001");
    assert!(
        plan[0]["reason"].as_str().unwrap().contains("primary"),
        "{}",
        plan[0]
    );

    // Same moment at 10:00 on a business day: the office landline.
    let out = ringdown(
        &[
            "oncall",
            "--roster",
            roster.to_str().unwrap(),
            "--at",
            "2026-11-24T10:00:00+09:00",
            "--label",
            "systemname=web",
            "--output",
            "json",
        ],
        None,
    );
    let plan: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan[0]["phone"], "+81312340001");

    // Text form masks numbers.
    let out = ringdown(
        &[
            "oncall",
            "--roster",
            roster.to_str().unwrap(),
            "--at",
            "2026-11-24T03:12:00+09:00",
            "--label",
            "systemname=payments",
        ],
        None,
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("sato") && text.contains("+81******0003"),
        "{text}"
    );
    // And when the alert would be part of a storm instead.
    assert!(
        text.contains("Storms: if sato is on another ringdown call, was rung for another incident in the last 180 s, or has more than 2 incidents within 600 s"),
        "{text}"
    );
}

#[test]
fn oncall_rejects_a_bad_time_with_exit_2() {
    let roster = temp_file("oncall2.yaml", ROSTER);
    let out = ringdown(
        &[
            "oncall",
            "--roster",
            roster.to_str().unwrap(),
            "--at",
            "yesterday",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("RFC 3339"));
}

#[test]
fn demo_plays_the_story_and_exits_0() {
    let out = ringdown(&["demo"], None);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("300 alerts"), "{text}");
    assert!(text.contains("into 2 incidents"), "{text}");
}

/// A fresh SQLite file `{name}.sqlite`, in a directory of this test run.
fn fresh_db(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("ringdown-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join(format!("{name}.sqlite"));
    let _ = std::fs::remove_file(&db);
    db
}

/// What the store-direct scenarios start from: a fresh store file, the
/// example roster's default policy, and a runtime to fill the store with.
fn store_scenario(
    name: &str,
) -> (
    std::path::PathBuf,
    ringdown_core::roster::Policy,
    tokio::runtime::Runtime,
) {
    let roster = ringdown_core::roster::Roster::from_yaml(ROSTER).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    (
        fresh_db(name),
        roster.policy("default").unwrap().clone(),
        rt,
    )
}

#[test]
fn an_sre_applies_a_roster_and_manages_silences_from_the_cli() {
    let db = fresh_db("admin");
    let cfg = temp_file(
        "admin.toml",
        &format!("[store]\nsqlite_path = {:?}\n", db.to_str().unwrap()),
    );
    let cfg = cfg.to_str().unwrap();
    let roster = temp_file("apply.yaml", ROSTER);

    let out = ringdown(
        &["roster", "apply", roster.to_str().unwrap(), "--config", cfg],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("roster version 1 applied"));

    // export gives back what was applied; the live roster answers oncall.
    let out = ringdown(&["roster", "export", "--config", cfg], None);
    assert_eq!(String::from_utf8_lossy(&out.stdout), ROSTER);
    let out = ringdown(
        &[
            "oncall",
            "--config",
            cfg,
            "--at",
            "2026-11-24T03:12:00+09:00",
            "--label",
            "systemname=web",
            "--output",
            "json",
        ],
        None,
    );
    let plan: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan[0]["person"], "tanaka");
    // Against the live store, oncall says what the daemon would decide now.
    let out = ringdown(
        &[
            "oncall",
            "--config",
            cfg,
            "--at",
            "2026-11-24T03:12:00+09:00",
            "--label",
            "systemname=web",
        ],
        None,
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Now: nothing open holds tanaka's phone: this alert would call on its own."),
        "{text}"
    );
    // diff shows what a change would do, before it is applied.
    let changed = ROSTER.replacen("retry_after_secs: 120", "retry_after_secs: 300", 1);
    let changed = temp_file("apply2.yaml", &changed);
    let out = ringdown(
        &["roster", "diff", changed.to_str().unwrap(), "--config", cfg],
        None,
    );
    let diff = String::from_utf8_lossy(&out.stdout);
    assert!(
        diff.contains("-        retry_after_secs: 120")
            && diff.contains("+        retry_after_secs: 300"),
        "{diff}"
    );
    let out = ringdown(
        &["roster", "diff", roster.to_str().unwrap(), "--config", cfg],
        None,
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("no changes"));
    let out = ringdown(
        &["roster", "apply", roster.to_str().unwrap(), "--config", cfg],
        None,
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("no changes"));

    let out = ringdown(
        &[
            "silence",
            "add",
            "--config",
            cfg,
            "-m",
            "systemname=web",
            "--duration",
            "2h",
            "--reason",
            "deploy",
            "--by",
            "sre",
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string();

    let out = ringdown(
        &["silence", "list", "--config", cfg, "--output", "json"],
        None,
    );
    let list: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["id"], id.as_str());
    assert_eq!(list[0]["created_by"], "cli:sre");
    assert_eq!(
        list[0]["ends_at"].as_i64().unwrap() - list[0]["starts_at"].as_i64().unwrap(),
        7200
    );

    let out = ringdown(&["silence", "expire", &id, "--config", cfg], None);
    assert!(out.status.success());
    let out = ringdown(&["silence", "list", "--config", cfg], None);
    assert!(String::from_utf8_lossy(&out.stdout).contains("no silences"));

    // Mistakes are exit 2 with the reason.
    let out = ringdown(
        &[
            "silence",
            "add",
            "--config",
            cfg,
            "-m",
            "systemname",
            "--duration",
            "2h",
            "--reason",
            "x",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    let out = ringdown(&["silence", "expire", "nope", "--config", cfg], None);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn config_check_prints_the_effective_configuration_and_refuses_unknown_fields() {
    let cfg = temp_file("check.toml", "[http]\nlisten = \"127.0.0.1:9999\"\n");
    let out = ringdown(
        &["config", "check", "--config", cfg.to_str().unwrap()],
        None,
    );
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("127.0.0.1:9999"));
    let bad = temp_file("bad.toml", "[http]\nlisten_on = \"x\"\n");
    let out = ringdown(
        &["config", "check", "--config", bad.to_str().unwrap()],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("listen_on"));
}

#[test]
fn config_check_exits_2_on_a_setting_that_cannot_work_and_says_which() {
    let cfg = temp_file(
        "ring.toml",
        "[connect]\nring_timeout_secs = 120\n[log]\nformat = \"json\"\n",
    );
    let out = ringdown(
        &["config", "check", "--config", cfg.to_str().unwrap()],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("connect.ring_timeout_secs = 120"), "{err}");
    let typo = temp_file("typo.toml", "[log]\nformat = \"jsn\"\n");
    let out = ringdown(
        &["config", "check", "--config", typo.to_str().unwrap()],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("jsn"));
}

#[test]
fn incident_list_and_show_tell_what_happened_with_numbers_masked() {
    use ringdown_core::escalation::{HistoryEntry, HistoryKind, Incident, Phase};
    use ringdown_core::outcome::Outcome;
    use ringdown_engine::{ContactRow, Store};

    let (db, policy, rt) = store_scenario("incident");
    let t0 = chrono::DateTime::parse_from_rfc3339("2026-11-23T18:12:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    rt.block_on(async {
        let store = ringdown_local::SqliteStore::open(&db).unwrap();
        let labels: ringdown_core::Labels = [("systemname".to_string(), "web".to_string())].into();
        let mut inc = Incident::open(
            "inc-web-1",
            "default{systemname=\"web\"}",
            &policy,
            labels,
            t0,
        );
        inc.history.push(HistoryEntry {
            at: t0 + chrono::Duration::seconds(30),
            kind: HistoryKind::CallPlaced {
                call_id: "inc-web-1-p0s1a1t0r0".into(),
                person: "tanaka".into(),
                phone: "+81******0001".into(),
                step: 1,
                attempt: 1,
                pass: 0,
            },
        });
        inc.history.push(HistoryEntry {
            at: t0 + chrono::Duration::seconds(50),
            kind: HistoryKind::CallOutcome {
                call_id: "inc-web-1-p0s1a1t0r0".into(),
                person: "tanaka".into(),
                outcome: Outcome::Acknowledged,
                disconnect_reason: Some("CONTACT_FLOW_DISCONNECT".into()),
            },
        });
        inc.phase = Phase::Acknowledged;
        inc.acked_by = Some("tanaka".into());
        inc.calls_placed = 1;
        store
            .create_incident(&ringdown_engine::StoredIncident::new(inc))
            .await
            .unwrap();
        store
            .record_contact(&ContactRow {
                contact_id: "c-1".into(),
                call_id: "inc-web-1-p0s1a1t0r0".into(),
                incident_id: "inc-web-1".into(),
                person: "tanaka".into(),
                phone_masked: "+81******0001".into(),
                placed_at: t0 + chrono::Duration::seconds(30),
                ended_at: Some(t0 + chrono::Duration::seconds(50)),
                outcome: Some(Outcome::Acknowledged),
                disconnect_reason: Some("CONTACT_FLOW_DISCONNECT".into()),
            })
            .await
            .unwrap();
    });
    let cfg = temp_file(
        "incident.toml",
        &format!("[store]\nsqlite_path = {:?}\n", db.to_str().unwrap()),
    );
    let cfg = cfg.to_str().unwrap();

    let out = ringdown(
        &[
            "incident",
            "list",
            "--config",
            cfg,
            "--state",
            "acknowledged",
        ],
        None,
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("inc-web-1") && text.contains("acked by tanaka"),
        "{text}"
    );
    let out = ringdown(
        &["incident", "list", "--config", cfg, "--state", "exhausted"],
        None,
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("no incidents"));

    let out = ringdown(&["incident", "show", "inc-web-1", "--config", cfg], None);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("call tanaka at +81******0001 (step 1, attempt 1)"),
        "{text}"
    );
    assert!(
        text.contains("tanaka: ACKNOWLEDGED (CONTACT_FLOW_DISCONNECT)"),
        "{text}"
    );
    assert!(
        text.contains("ACKNOWLEDGED") && text.contains("contact c-1"),
        "{text}"
    );

    let out = ringdown(
        &[
            "incident",
            "show",
            "inc-web-1",
            "--config",
            cfg,
            "--output",
            "json",
        ],
        None,
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["state"], "acknowledged");
    assert_eq!(v["calls"][0]["outcome"]["outcome"], "ACKNOWLEDGED");

    let out = ringdown(&["incident", "show", "nope", "--config", cfg], None);
    assert_eq!(out.status.code(), Some(2));
    let out = ringdown(
        &["incident", "list", "--config", cfg, "--state", "sleeping"],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn oncall_over_a_period_prints_the_schedule_and_an_ics_feed() {
    let roster = temp_file("period.yaml", ROSTER);
    let r = roster.to_str().unwrap();
    let out = ringdown(
        &[
            "oncall",
            "--roster",
            r,
            "--from",
            "2026-11-20T00:00:00+09:00",
            "--to",
            "2026-11-27T00:00:00+09:00",
        ],
        None,
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The weekly hand-off of the example roster: Monday 2026-11-23 10:00 Tokyo time, a holiday.
    assert!(text.contains("Mon 2026-11-23 10:00 JST"), "{text}");
    assert!(
        text.contains("Labour Thanksgiving Day") || text.contains("勤労感謝の日"),
        "{text}"
    );
    let out = ringdown(
        &[
            "oncall",
            "--roster",
            r,
            "--from",
            "2026-11-20T00:00:00+09:00",
            "--to",
            "2026-11-27T00:00:00+09:00",
            "--output",
            "ics",
        ],
        None,
    );
    let ics = String::from_utf8_lossy(&out.stdout);
    assert!(
        ics.starts_with("BEGIN:VCALENDAR") && ics.contains("DTSTART:20261123T010000Z"),
        "{ics}"
    );
    let out = ringdown(
        &[
            "oncall",
            "--roster",
            r,
            "--from",
            "2026-11-27T00:00:00Z",
            "--to",
            "2026-11-20T00:00:00Z",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn drill_rehearses_the_example_roster_when_nobody_answers() {
    let roster = temp_file("drill.yaml", ROSTER);
    let alert = temp_file(
        "drill-alert.json",
        r#"{"title": "Disk full", "labels": {"systemname": "web"}}"#,
    );
    let out = ringdown(
        &[
            "drill",
            "--roster",
            roster.to_str().unwrap(),
            "--alert",
            alert.to_str().unwrap(),
            "--at",
            "2026-11-24T03:12:00+09:00",
        ],
        None,
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Tanaka's week, at night: his mobile, then the secondary (twice), then
    // the whole policy again (repeat: 1), then the fallback channel.
    let calls: Vec<&str> = text.lines().filter(|l| l.contains("] call ")).collect();
    assert_eq!(calls.len(), 6, "{text}");
    assert!(
        calls[0].starts_with("+00:30  [web] call tanaka at +81******0001 (step 1, attempt 1)"),
        "{text}"
    );
    assert!(
        text.contains("nobody acknowledged: sent to the fallback channel"),
        "{text}"
    );
    let bad = ringdown(
        &[
            "drill",
            "--roster",
            roster.to_str().unwrap(),
            "--alert",
            roster.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn a_missing_unreadable_empty_or_hostile_roster_file_is_exit_2_naming_the_problem() {
    let dir = std::env::temp_dir().join(format!("ringdown-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let binary = dir.join("utf16.yaml");
    std::fs::write(&binary, [0xff, 0xfe, b't', 0x00, b':', 0x00]).unwrap();
    let deep = format!("{}{}", "[".repeat(20_000), "]".repeat(20_000));
    let cases = [
        (dir.join("no-such-roster.yaml"), "cannot read"),
        (binary, "cannot read"),
        (temp_file("empty.yaml", ""), "the file is empty"),
        (temp_file("deep.yaml", &deep), "nested more than 128 levels"),
        (
            temp_file("list.yaml", "- timezone: UTC\n"),
            "expected a roster",
        ),
        (
            temp_file(
                "e164.yaml",
                &ROSTER.replace("\"+819012340002\"", "\"090-1234-5678\""),
            ),
            "people.suzuki.phones[0].number: `*************` is not in E.164 form",
        ),
    ];
    for (path, words) in &cases {
        let p = path.to_str().unwrap();
        for args in [
            &["roster", "validate", p][..],
            &["oncall", "--roster", p, "--at", "2026-11-24T10:00:00+09:00"][..],
        ] {
            let out = ringdown(args, None);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
            assert!(
                err.starts_with("ringdown: ") && err.contains(words),
                "{args:?}: {err}"
            );
            assert!(out.stdout.is_empty(), "{args:?}");
        }
    }
}

#[test]
fn an_engineer_saves_the_contact_card_with_the_number_ringdown_calls_from() {
    let cfg = temp_file(
        "card.toml",
        "[aws]\nsource_phone_number = \"+81335550000\"\n",
    );
    let card = cfg.with_file_name("ringdown.vcf");
    let out = ringdown(
        &[
            "roster",
            "contact-card",
            "--config",
            cfg.to_str().unwrap(),
            "--number",
            "+14155550199",
            "--out",
            card.to_str().unwrap(),
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&card).unwrap();
    assert!(text.starts_with("BEGIN:VCARD\r\nVERSION:4.0\r\n"), "{text}");
    assert!(
        text.contains("\r\nTEL;TYPE=voice:+81335550000\r\n"),
        "{text}"
    );
    assert!(
        text.contains("\r\nTEL;TYPE=voice:+14155550199\r\n"),
        "{text}"
    );
    assert!(text.contains("\r\nFN:ringdown on-call\r\n"), "{text}");
    // Without any caller number there is nothing to save: exit 2.
    let out = ringdown(&["roster", "contact-card"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("source_phone_number"));
}

#[test]
fn a_roster_whose_retry_comes_too_late_for_do_not_disturb_validates_with_a_warning() {
    let late = ROSTER.replacen("retry_after_secs: 120", "retry_after_secs: 300", 1);
    assert_ne!(late, ROSTER, "the example roster retries after 120 s");
    let file = temp_file("late-retry.yaml", &late);
    let out = ringdown(&["roster", "validate", file.to_str().unwrap()], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("warning: policies["), "{err}");
    assert!(err.contains("retry_after_secs = 300"), "{err}");
    assert!(err.contains("Do Not Disturb"), "{err}");
    let ok = temp_file("example.yaml", ROSTER);
    let out = ringdown(&["roster", "validate", ok.to_str().unwrap()], None);
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("warning"),
        "the example roster keeps within three minutes"
    );
}

/// A configuration on the SQLite file `db` whose daemon address nothing
/// listens on: commands act on the store itself.
fn no_daemon_config(name: &str, db: &std::path::Path) -> std::path::PathBuf {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    temp_file(
        name,
        &format!(
            "[store]\nsqlite_path = {:?}\n[http]\nlisten = \"127.0.0.1:{port}\"\n",
            db.to_str().unwrap()
        ),
    )
}

#[test]
fn with_no_daemon_running_an_engineer_acknowledges_then_resolves_from_the_cli_and_the_store_records_who(
) {
    use ringdown_core::escalation::Incident;
    use ringdown_engine::{Store, StoredIncident};

    let (db, policy, rt) = store_scenario("act");
    rt.block_on(async {
        let store = ringdown_local::SqliteStore::open(&db).unwrap();
        store.save_roster(ROSTER, chrono::Utc::now()).await.unwrap();
        let labels: ringdown_core::Labels = [("systemname".to_string(), "web".to_string())].into();
        let mut inc = Incident::open(
            "inc-act-1",
            "default{systemname=\"web\"}",
            &policy,
            labels,
            chrono::Utc::now(),
        );
        inc.firing.insert("fp-1".into());
        store
            .create_incident(&StoredIncident::new(inc))
            .await
            .unwrap();
    });
    let config = no_daemon_config("act.toml", &db);
    let c = config.to_str().unwrap();
    let out = ringdown(
        &["incident", "ack", "inc-act-1", "--by", "tanaka", "-c", c],
        None,
    );
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stderr.contains("no ringdown daemon answered"), "{stderr}");
    assert!(
        stdout.contains("incident inc-act-1: acknowledged (acknowledged by tanaka)"),
        "{stdout}"
    );
    let out = ringdown(
        &["incident", "resolve", "inc-act-1", "--by", "sato", "-c", c],
        None,
    );
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("resolved by sato"));
    let show = ringdown(&["incident", "show", "inc-act-1", "-c", c], None);
    let show = String::from_utf8_lossy(&show.stdout);
    assert!(show.contains("acknowledged by tanaka"), "{show}");
    assert!(show.contains("resolved by sato: incident closed"), "{show}");
    // A closed incident cannot be acted on; a silence needs its hours.
    let out = ringdown(&["incident", "ack", "inc-act-1", "-c", c], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already resolved"));
    let out = ringdown(&["incident", "silence", "inc-act-1", "-c", c], None);
    assert_eq!(out.status.code(), Some(2));
    let out = ringdown(
        &[
            "incident",
            "silence",
            "inc-act-1",
            "--hours",
            "100",
            "-c",
            c,
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("between 1 and 72"));
}

/// A build without the AWS mode (the default `cargo build`) says so, and
/// how to get it, instead of running an `[aws]` configuration some other way.
#[cfg(not(feature = "aws"))]
#[test]
fn a_build_without_the_aws_mode_refuses_an_aws_configuration_and_says_how_to_build_it() {
    let dir = std::env::temp_dir().join(format!("ringdown-noaws-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("ringdown.toml");
    std::fs::write(&cfg, "[aws]\nregion = \"ap-northeast-1\"\n").unwrap();
    for args in [
        vec!["run", "--config"],
        vec!["aws", "bootstrap", "--config"],
        vec!["incident", "list", "--config"],
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ringdown"))
            .args(&args)
            .arg(&cfg)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("--features aws"), "{args:?}: {err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn with_no_daemon_running_resolving_a_storm_from_the_cli_resolves_its_members_too() {
    use ringdown_core::escalation::{Incident, Phase};
    use ringdown_core::storm::StormMember;
    use ringdown_engine::{Store, StoredIncident};

    let (db, policy, rt) = store_scenario("storm");
    let now = chrono::Utc::now();
    rt.block_on(async {
        let store = ringdown_local::SqliteStore::open(&db).unwrap();
        store.save_roster(ROSTER, now).await.unwrap();
        let mut storm = Incident::open_storm("storm-1", "tanaka", &policy, now);
        for system in ["web", "db"] {
            let labels: ringdown_core::Labels =
                [("systemname".to_string(), system.to_string())].into();
            let mut m = Incident::open(
                &format!("inc-{system}"),
                &format!("default{{systemname=\"{system}\"}}"),
                &policy,
                labels,
                now,
            );
            m.firing.insert(format!("fp-{system}").as_str().into());
            m.member_of = Some("storm-1".into());
            storm
                .storm
                .as_mut()
                .unwrap()
                .members
                .push(StormMember::of(&m, None, now));
            store
                .create_incident(&StoredIncident::new(m))
                .await
                .unwrap();
        }
        store
            .create_incident(&StoredIncident::new(storm))
            .await
            .unwrap();
    });
    let config = no_daemon_config("storm.toml", &db);
    let c = config.to_str().unwrap();
    let out = ringdown(
        &["incident", "resolve", "storm-1", "--by", "sato", "-c", c],
        None,
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    rt.block_on(async {
        let store = ringdown_local::SqliteStore::open(&db).unwrap();
        for id in ["storm-1", "inc-web", "inc-db"] {
            let inc = store.load_incident(id).await.unwrap().unwrap();
            assert_eq!(inc.phase, Phase::Resolved, "{id} resolved by sato's word");
        }
    });
}
