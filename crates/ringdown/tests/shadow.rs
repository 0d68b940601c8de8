//! The shadow run as a team uses it before cutting over: `ringdown run
//! --shadow` beside the paging tool in use for a week, then `ringdown
//! report --shadow FILE --compare OLD.csv`.
//!
//! The embedded scenarios run the real binary. The AWS scenario needs
//! `RINGDOWN_TEST_MOTO_URL` (`eval "$(tests/emulators.sh start)"`); without
//! it it says SKIPPED loudly, unless `RINGDOWN_REQUIRE_EMULATORS=1`.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use ringdown_core::escalation::Phase;
use ringdown_engine::{ContactRow, IncidentFilter, Store};
use ringdown_proof::process::ChildGuard;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

const TANAKA: &str = "+819012340001";
const SATO: &str = "+819012340003";

/// Tanaka first, then Sato; nobody else.
const ROSTER: &str = r#"
timezone: Asia/Tokyo
people:
  tanaka: { name: Tanaka Taro, phones: [{ number: "+819012340001" }] }
  sato:   { name: Sato Jiro, phones: [{ number: "+819012340003" }] }
policies:
  - name: default
    group_by: [systemname]
    group_wait_secs: 0
    steps:
      - targets: [person:tanaka]
      - targets: [person:sato]
"#;

/// Were the simulated phones used, everyone would pick up and press 1.
const EVERYONE_PRESSES_1: &str =
    "default: { answer_after_secs: 1, keys: [{ key: \"5\", delay_secs: 1 }, { key: \"1\", delay_secs: 1 }] }\n";

const SUMMARY: &str = "p99 latency above 4 s on web-001";

fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ringdown-shadow-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn ringdown(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ringdown"))
        .args(args)
        .output()
        .expect("ringdown runs")
}

/// `ringdown report --shadow SHADOW --compare OLD`, and `more`.
fn compare(shadow: &Path, old: &Path, more: &[&str]) -> Output {
    let (shadow, old) = (shadow.to_str().unwrap(), old.to_str().unwrap());
    let mut args = vec!["report", "--shadow", shadow, "--compare", old];
    args.extend(more);
    ringdown(&args)
}

/// [`compare`] refused with exit status 2 and nothing on standard output:
/// what it says.
fn refused(shadow: &Path, old: &Path) -> String {
    let out = compare(shadow, old, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    stderr(&out)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A configuration of the embedded default in `dir`: its own SQLite file,
/// the roster and personas above, calls 60 times faster than real time
/// (a minute of ringing takes a second).
fn embedded_config(dir: &Path) -> PathBuf {
    std::fs::write(dir.join("roster.yaml"), ROSTER).unwrap();
    std::fs::write(dir.join("personas.yaml"), EVERYONE_PRESSES_1).unwrap();
    let config = dir.join("ringdown.toml");
    std::fs::write(
        &config,
        format!(
            "roster_file = {:?}\n[store]\nsqlite_path = {:?}\n[http]\nlisten = \"127.0.0.1:0\"\n\
             [simulator]\npersonas_file = {:?}\ntime_scale = 60.0\n[fallback]\nfile = {:?}\n",
            dir.join("roster.yaml"),
            dir.join("ringdown.sqlite"),
            dir.join("personas.yaml"),
            dir.join("fallback.jsonl"),
        ),
    )
    .unwrap();
    config
}

fn read_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

fn of_kind<'a>(lines: &'a [Value], kind: &str) -> Vec<&'a Value> {
    lines.iter().filter(|l| l["kind"] == kind).collect()
}

/// Polls `check` every 100 ms for up to `secs` seconds.
async fn until(what: &str, secs: u64, log: &Path, check: impl Fn() -> bool) {
    let start = Instant::now();
    while start.elapsed().as_secs() < secs {
        if check() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!(
        "timed out waiting for {what}; the daemon's log:\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

/// POSTs `body` to `/v1/alerts` at `addr`; the status line.
async fn post_alert(addr: &str, body: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "POST /v1/alerts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).await.unwrap();
    response.lines().next().unwrap_or_default().to_string()
}

fn webhook() -> String {
    serde_json::json!({
        "version": "4", "status": "firing", "receiver": "ringdown", "groupKey": "web",
        "alerts": [{
            "status": "firing",
            "labels": {"alertname": "HighLatency", "systemname": "web", "instance": "web-001"},
            "annotations": {"summary": SUMMARY},
            "startsAt": "2026-11-23T18:11:30Z", "endsAt": "0001-01-01T00:00:00Z"
        }]
    })
    .to_string()
}

fn at(line: &Value) -> DateTime<Utc> {
    line["at"].as_str().unwrap().parse().unwrap()
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shadow_run_places_no_call_and_records_that_tanaka_would_have_been_called_first_then_sato(
) {
    let dir = scratch("embedded");
    let config = embedded_config(&dir);
    let shadow_log = dir.join("shadow.jsonl");
    let log = dir.join("daemon.log");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ringdown"));
    cmd.args(["run", "--config", config.to_str().unwrap(), "--shadow"])
        .args(["--shadow-log", shadow_log.to_str().unwrap()])
        .env("RUST_LOG", "info")
        .env_remove("RINGDOWN_HTTP_TOKEN");
    let daemon = ChildGuard::spawn("shadow", &mut cmd, log.clone()).unwrap();
    let listening = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .split("POST alerts to http://")
            .nth(1)
            .and_then(|r| r.split('/').next())
            .map(str::to_string)
    };
    until("the ingest endpoint", 30, &log, || listening().is_some()).await;
    let status = post_alert(&listening().unwrap(), &webhook()).await;
    assert!(status.contains(" 202 "), "{status}");

    // Nobody answers a call that is never placed: Tanaka's rings out, then
    // Sato's, then the fallback channel would hear of it.
    until("the fallback notice", 30, &log, || {
        !of_kind(&read_lines(&shadow_log), "notice").is_empty()
    })
    .await;
    assert!(daemon.terminate().unwrap().success());

    let lines = read_lines(&shadow_log);
    assert_eq!(lines.first().unwrap()["kind"], "started", "{lines:?}");
    assert_eq!(lines.last().unwrap()["kind"], "stopped", "{lines:?}");
    let calls = of_kind(&lines, "call");
    let who: Vec<(&str, &str, u64, u64)> = calls
        .iter()
        .map(|c| {
            (
                c["person"].as_str().unwrap(),
                c["phone"].as_str().unwrap(),
                c["step"].as_u64().unwrap(),
                c["attempt"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        who,
        [
            ("tanaka", "+81******0001", 1, 1),
            ("sato", "+81******0003", 2, 1)
        ]
    );
    assert_eq!(calls[0]["name"], "Tanaka Taro");
    let why = calls[0]["why"].as_str().unwrap();
    assert!(why.starts_with("step 1 attempt 1: person:tanaka"), "{why}");
    assert!(
        calls[0]["alert"].as_str().unwrap().contains(SUMMARY),
        "{}",
        calls[0]
    );
    assert!(calls[1]["call_id"]
        .as_str()
        .unwrap()
        .ends_with("-p0s2a1t0r0"));
    // Sato's call came once Tanaka's had rung out (60 s of telephone time).
    assert!(at(calls[1]) - at(calls[0]) >= Duration::milliseconds(900));
    let notices = of_kind(&lines, "notice");
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert_eq!(notices[0]["notice"], "fallback");

    // Nothing reached a phone or the fallback channel; numbers stay masked.
    let shadow_text = std::fs::read_to_string(&shadow_log).unwrap();
    let daemon_text = std::fs::read_to_string(&log).unwrap();
    assert!(
        daemon_text.contains(&format!(
            "shadow run: nobody will be called; would-be calls go to {}",
            shadow_log.display()
        )),
        "{daemon_text}"
    );
    for number in [TANAKA, SATO] {
        assert!(!shadow_text.contains(number), "{shadow_text}");
        assert!(!daemon_text.contains(number), "{daemon_text}");
    }
    assert!(!dir.join("fallback.jsonl").exists(), "nothing was posted");
    let store = ringdown_local::SqliteStore::open(dir.join("ringdown.sqlite")).unwrap();
    let contacts = store
        .contacts_between(Utc::now() - Duration::hours(1), Utc::now())
        .await
        .unwrap();
    assert_eq!(contacts.len(), 2, "{contacts:?}");
    for c in &contacts {
        assert!(c.contact_id.starts_with("shadow-"), "{c:?}");
        assert_eq!(c.disconnect_reason.as_deref(), Some("SHADOW_NOT_DIALLED"));
        assert_eq!(c.outcome.map(|o| o.as_str()), Some("UNREACHABLE"));
    }
    let incidents = store.incidents(&IncidentFilter::default()).await.unwrap();
    assert_eq!(incidents[0].phase, Phase::Exhausted);

    // The week is over: the old tool paged Tanaka 40 s after ringdown
    // would have, and Suzuki, whom ringdown would never have called.
    let tanaka_at = at(calls[0]);
    let old = dir.join("old.csv");
    std::fs::write(
        &old,
        format!(
            "time,person,alert\n{},Tanaka Taro,{SUMMARY}\n{},suzuki,\"HighLatency, web\"\n",
            (tanaka_at + Duration::seconds(40)).to_rfc3339(),
            ts(tanaka_at + Duration::seconds(1)),
        ),
    )
    .unwrap();
    let out = compare(&shadow_log, &old, &["--format", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["summary"]["matched"], 1, "{v:#}");
    assert_eq!(v["summary"]["missed"], 1, "{v:#}");
    assert_eq!(v["summary"]["extra"], 1, "{v:#}");
    assert_eq!(v["summary"]["notices"], 1, "{v:#}");
    assert_eq!(v["matched"][0]["delay_secs"], -40);
    assert_eq!(v["matched"][0]["call"]["person"], "tanaka");
    assert_eq!(v["missed"][0]["person"], "suzuki");
    assert_eq!(v["missed"][0]["line"], 3);
    assert_eq!(v["extra"][0]["person"], "sato");

    let out = compare(&shadow_log, &old, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("ringdown 40 s earlier"), "{table}");
    let missed = table
        .split("The old tool notified, ringdown would not have:\n")
        .nth(1)
        .unwrap_or_else(|| panic!("{table}"));
    assert!(missed.lines().next().unwrap().contains("suzuki"), "{table}");
    assert!(!table.contains(TANAKA) && !table.contains(SATO), "{table}");

    let out = compare(&shadow_log, &old, &["--format", "csv"]);
    let csv = String::from_utf8_lossy(&out.stdout);
    let results: Vec<&str> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(results, ["matched", "missed", "extra"], "{csv}");
}

#[test]
fn a_malformed_notification_log_or_shadow_log_is_exit_2_naming_file_and_line() {
    let dir = scratch("malformed");
    let shadow = dir.join("shadow.jsonl");
    std::fs::write(
        &shadow,
        "{\"kind\":\"started\",\"at\":\"2026-11-24T03:00:00Z\",\"instance\":\"local\"}\n",
    )
    .unwrap();
    let old = dir.join("old.csv");
    std::fs::write(
        &old,
        "time,person,alert\n2026-11-24T03:12:40Z,tanaka,web\nyesterday,sato,web\n",
    )
    .unwrap();
    let err = refused(&shadow, &old);
    assert!(
        err.contains(&format!(
            "{}:3: time \"yesterday\" is not an RFC 3339 time",
            old.display()
        )),
        "{err}"
    );

    std::fs::write(&old, "time,person,alert\n").unwrap();
    let mut text = std::fs::read_to_string(&shadow).unwrap();
    text.push_str("{\"kind\":\"call\",\"at\":\"2026-11-24T03:12:00Z\"}\n");
    std::fs::write(&shadow, text).unwrap();
    let err = refused(&shadow, &old);
    assert!(
        err.contains(&format!(
            "{}:2: not a shadow log entry: missing field",
            shadow.display()
        )),
        "{err}"
    );
}

#[test]
fn report_takes_a_month_or_a_shadow_log_and_a_notification_log_but_not_both() {
    for args in [
        vec!["report"],
        vec!["report", "--shadow", "s.jsonl"],
        vec!["report", "--compare", "old.csv"],
        vec![
            "report",
            "--month",
            "2026-10",
            "--shadow",
            "s.jsonl",
            "--compare",
            "old.csv",
        ],
        vec!["report", "--month", "2026-10", "--window-mins", "5"],
        vec!["run", "--shadow-log", "s.jsonl"],
    ] {
        let out = ringdown(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
    let out = ringdown(&[
        "report",
        "--shadow",
        "s.jsonl",
        "--compare",
        "old.csv",
        "--format",
        "svg",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("table, csv or json"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test]
async fn a_shadow_run_refuses_a_store_a_paging_ringdown_placed_calls_from() {
    let dir = scratch("guard");
    let config = embedded_config(&dir);
    let store = ringdown_local::SqliteStore::open(dir.join("ringdown.sqlite")).unwrap();
    store
        .record_contact(&ContactRow {
            contact_id: "5c1e7f00-0000-4000-8000-000000000001".into(),
            call_id: "inc-web-1-p0s1a1t0r0".into(),
            incident_id: "inc-web-1".into(),
            person: "tanaka".into(),
            phone_masked: "+81******0001".into(),
            placed_at: Utc::now() - Duration::days(2),
            ended_at: None,
            outcome: None,
            disconnect_reason: None,
        })
        .await
        .unwrap();
    drop(store);
    let shadow_log = dir.join("shadow.jsonl");
    let out = ringdown(&[
        "run",
        "--config",
        config.to_str().unwrap(),
        "--shadow",
        "--shadow-log",
        shadow_log.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("calls placed by a ringdown that phones people"),
        "{}",
        stderr(&out)
    );
    assert!(!shadow_log.exists());
}

mod aws {
    //! The AWS path on loopback: alerts through SQS (moto), the store in
    //! DynamoDB (moto), and a connect-sim that must hear nothing.

    use super::*;
    use connect_sim::CtrFaults;
    use ringdown_proof::alerts::{outcomes, webhook};
    use ringdown_proof::personas::{FIRST, PRESS_1, SECOND, THIRD};
    use ringdown_proof::{Stage, StageOptions};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[cfg_attr(not(feature = "aws"), ignore = "the AWS mode: --features aws")]
    async fn a_shadow_run_on_aws_takes_the_alert_from_sqs_and_connect_hears_nothing() {
        let mut opts = StageOptions::new(
            "shadow",
            env!("CARGO_BIN_EXE_ringdown"),
            &ringdown_proof::personas::one_after_another(),
            &ringdown_proof::personas::book(PRESS_1, PRESS_1, PRESS_1),
        );
        opts.ctr_faults = CtrFaults::default();
        let Some(mut env) = Stage::start(opts).await else {
            return;
        };
        let shadow_log = env.dir.join("shadow.jsonl");
        env.spawn_args(
            "a",
            &["--shadow", "--shadow-log", shadow_log.to_str().unwrap()],
        );
        env.until(
            "the roster loaded",
            std::time::Duration::from_secs(30),
            || async { env.log("a").contains("roster loaded") },
        )
        .await;
        env.send(webhook("web", 0, 1, "firing")).await;
        env.until(
            "the roster exhausted",
            std::time::Duration::from_secs(60),
            || async { env.phases().await == [Phase::Exhausted] },
        )
        .await;
        let daemon_log = env.log("a");
        assert!(
            env.stop("a").success(),
            "clean exit on SIGTERM:\n{daemon_log}"
        );

        // Connect was never asked for anything, though everyone would have
        // pressed 1; the alert left the queue.
        assert!(env.sim.calls().is_empty(), "{:?}", env.sim.calls());
        assert!(env.sim.errors().is_empty(), "{:?}", env.sim.errors());
        assert!(env.sim.events().is_empty());
        assert_eq!(env.queue_depth(&env.report.queue_url).await, 0);
        let inc = &env.incidents().await[0];
        assert_eq!(outcomes(inc), ["UNREACHABLE", "UNREACHABLE", "UNREACHABLE"]);

        let lines = read_lines(&shadow_log);
        let calls: Vec<(&str, u64)> = of_kind(&lines, "call")
            .iter()
            .map(|c| (c["person"].as_str().unwrap(), c["step"].as_u64().unwrap()))
            .collect();
        assert_eq!(calls, [("first", 1), ("second", 2), ("third", 3)]);
        assert_eq!(of_kind(&lines, "call")[0]["incident_id"], inc.id.as_str());
        let notices = of_kind(&lines, "notice");
        assert_eq!(notices.len(), 1);
        assert_eq!(notices[0]["notice"], "fallback");
        let text = std::fs::read_to_string(&shadow_log).unwrap();
        for number in [FIRST, SECOND, THIRD] {
            assert!(!text.contains(number), "{text}");
        }
        let daemon_log = env.log("a");
        assert!(
            daemon_log.contains("shadow run: nobody will be called"),
            "{daemon_log}"
        );
        for reader in ["took a shard lease", "contact-event reader started"] {
            assert!(
                !daemon_log.contains(reader),
                "nothing reads Connect's records or events: {daemon_log}"
            );
        }
    }
}
