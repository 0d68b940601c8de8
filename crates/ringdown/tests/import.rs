//! `ringdown import` as a team leaving another paging tool runs it: the
//! fixtures (tests/fixtures/import/, shaped like the APIs' documented
//! output) become a roster that `ringdown roster validate` accepts, and what
//! stayed behind is listed item by item.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn ringdown(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ringdown"))
        .args(args)
        .output()
        .expect("ringdown runs")
}

fn fixtures(source: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/import")
        .join(source)
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ringdown-import-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A copy of a fixture directory to change.
fn copy_of(source: &str, name: &str) -> PathBuf {
    let dir = scratch(name);
    for e in std::fs::read_dir(fixtures(source)).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dir.join(e.file_name())).unwrap();
    }
    dir
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Imports `source`'s fixtures into a file, checks the file with `roster
/// validate`, and returns the roster and the import's standard error.
fn import_and_validate(source: &str) -> (String, String) {
    let out_file = scratch(source).join("roster.yaml");
    let dir = fixtures(source);
    let out = ringdown(&[
        "import",
        source,
        dir.to_str().unwrap(),
        "--out",
        out_file.to_str().unwrap(),
    ]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(out.stdout.is_empty(), "the roster went to --out");
    let check = ringdown(&["roster", "validate", out_file.to_str().unwrap()]);
    assert!(
        check.status.success(),
        "the imported roster validates: {}",
        text(&check.stderr)
    );
    assert!(text(&check.stdout).contains(": ok ("));
    (std::fs::read_to_string(&out_file).unwrap(), err)
}

fn assert_lists(err: &str, items: &[&str]) {
    for item in items {
        assert!(
            err.lines()
                .any(|l| l.trim_start().starts_with(&format!("- {item}"))),
            "{item:?} is listed as not carried over:\n{err}"
        );
    }
}

#[test]
fn a_team_leaving_incident_manager_imports_its_weekly_rotation_and_the_engagement_plan_becomes_two_steps(
) {
    let (roster, err) = import_and_validate("incident-manager");
    assert!(roster.contains("timezone: Asia/Tokyo"), "{roster}");
    assert!(
        roster.contains("  primary:\n    members: [tanaka, sato]\n    shift: 1w\n    start: \"2026-11-02T10:00\""),
        "{roster}"
    );
    assert!(
        roster.contains("{ person: suzuki, from: \"2026-11-23T00:00\", to: \"2026-11-24T00:00\" }"),
        "{roster}"
    );
    // Stage 1, the on-call schedule for 5 minutes; stage 2, the manager for 10.
    assert!(
        roster.contains(
            "    steps:\n      - targets: [rotation:primary]\n        attempts: 3\n        retry_after_secs: 60\n      - targets: [person:suzuki]\n        attempts: 5\n"
        ),
        "{roster}"
    );
    assert!(
        roster.contains("\"+819011110001\""),
        "the numbers are in the roster"
    );
    assert_lists(
        &err,
        &[
            "contact tanaka, SMS channel \"tanaka-sms\" (+81******0001): ringdown only places voice calls",
            "contact tanaka, EMAIL channel \"tanaka-email\"",
            "contact tanaka, engagement plan",
            "contact sato, VOICE channel \"sato-desk\" (+15*****0002)",
            "contact watanabe, VOICE channel \"watanabe-mobile\" (+81******0003): not activated",
            "contact watanabe: no number ringdown can call",
            "rotation primary, member watanabe",
            "rotation primary, override 2026-12-31 18:00 → 2027-01-01 10:00",
            "rotation daytime, ShiftCoverages",
            "escalation plan platform-escalation, stage 2, contact watanabe: not essential",
        ],
    );
    for digits in ["11110001", "22220002", "0100002", "33330003"] {
        assert!(
            !err.contains(digits),
            "numbers are masked on standard error: {err}"
        );
    }
}

#[test]
fn a_team_leaving_opsgenie_imports_users_schedules_and_escalation_to_standard_output() {
    let (roster, err) = import_and_validate("opsgenie");
    assert!(
        roster.contains("  kim:\n    name: \"Kim Minji\"\n    language: en-US"),
        "{roster}"
    );
    assert!(
        roster.contains("  platform_schedule:\n    members: [yamada, kim, lee]\n    shift: 1w\n    start: \"2026-11-02T10:00\""),
        "{roster}"
    );
    assert!(roster.contains("    repeat: 1\n"), "{roster}");
    assert_lists(
        &err,
        &[
            "user yamada@example.com, email contact: ringdown only places voice calls",
            "user yamada@example.com, sms contact +81******0001",
            "user kim@example.com, mobile contact",
            "user lee@example.com, locale ko_KR",
            "user boss@example.com, voice contact +15*****0032",
            "schedule Weekend_schedule, rotation Weekend, timeRestriction",
            "schedule Weekend_schedule, rotation Weekend, participant 2 (none)",
            "escalation Platform_escalation, rule 2 (schedule Platform_schedule): notifies the next on-call person",
            "escalation Platform_escalation, rule 4 (team Platform)",
        ],
    );

    // Without --out the roster is standard output, the same text.
    let dir = fixtures("opsgenie");
    let out = ringdown(&["import", "opsgenie", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), roster);
}

#[test]
fn a_malformed_file_is_exit_2_with_one_line_naming_it() {
    let dir = copy_of("incident-manager", "malformed");
    std::fs::write(
        dir.join("get-contact-platform-escalation.json"),
        "{\"ContactArn\": \"arn:aws:ssm-contacts:ap-northeast-1:111122223333:contact/platform-escalation\", \"Plan\": {\"Stages\": [",
    )
    .unwrap();
    let out = ringdown(&["import", "incident-manager", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("get-contact-platform-escalation.json"),
        "{err}"
    );
    assert!(err.contains("line 1"), "{err}");
    assert!(out.stdout.is_empty(), "no roster is written");

    // A file of the wrong shape: a field the API always prints is missing.
    let dir = copy_of("opsgenie", "wrong-shape");
    std::fs::write(dir.join("users.json"), "{\"users\": []}").unwrap();
    let out = ringdown(&["import", "opsgenie", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("users.json") && err.contains("data"), "{err}");
}

#[test]
fn a_missing_directory_or_list_and_bad_options_are_exit_2() {
    let empty = scratch("empty");
    let out = ringdown(&["import", "incident-manager", empty.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("list-contacts.json: missing"),
        "{}",
        text(&out.stderr)
    );

    let out = ringdown(&["import", "opsgenie", empty.join("nope").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("cannot read"));

    let dir = fixtures("opsgenie");
    let out = ringdown(&[
        "import",
        "opsgenie",
        dir.to_str().unwrap(),
        "--timezone",
        "Asia/Tokio",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--timezone"));
    let out = ringdown(&[
        "import",
        "opsgenie",
        dir.to_str().unwrap(),
        "--language",
        "ko-KR",
    ]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn the_roster_can_be_imported_in_another_zone() {
    let dir = fixtures("incident-manager");
    let out = ringdown(&[
        "import",
        "incident-manager",
        dir.to_str().unwrap(),
        "--timezone",
        "UTC",
        "--language",
        "en-US",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let roster = text(&out.stdout);
    assert!(roster.contains("timezone: UTC"), "{roster}");
    // Monday 10:00 in Tokyo is Monday 01:00 UTC.
    assert!(roster.contains("start: \"2026-11-02T01:00\""), "{roster}");
    assert!(roster.contains("language: en-US"), "{roster}");
}
