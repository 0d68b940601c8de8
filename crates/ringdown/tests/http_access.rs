//! Who may post to a real `ringdown run`'s HTTP ingest (embedded default),
//! and how much: the token, resolving, rate and concurrency bounds.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Daemon {
    child: Child,
    log: PathBuf,
    dir: PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ringdown-http-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn config(d: &std::path::Path, extra: &str) -> PathBuf {
    let p = d.join("ringdown.toml");
    std::fs::write(
        &p,
        format!(
            "[store]\nsqlite_path = {:?}\n[fallback]\nfile = {:?}\n{extra}",
            d.join("ringdown.sqlite"),
            d.join("fallback.jsonl")
        ),
    )
    .unwrap();
    p
}

fn start(name: &str, http: &str, env: &[(&str, &str)]) -> (Daemon, String) {
    let d = dir(name);
    let cfg = config(&d, &format!("[http]\n{http}\n"));
    let log = d.join("daemon.log");
    let child = Command::new(env!("CARGO_BIN_EXE_ringdown"))
        .args(["run", "--config", cfg.to_str().unwrap()])
        .env_remove("RINGDOWN_HTTP_TOKEN")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let daemon = Daemon {
        child,
        log: log.clone(),
        dir: d,
    };
    let start = Instant::now();
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(addr) = text
            .lines()
            .find_map(|l| l.split("POST alerts to http://").nth(1))
            .and_then(|r| r.split('/').next())
        {
            return (daemon, addr.to_string());
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "daemon did not start:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// (status, body) of a POST /v1/alerts.
fn post(addr: &str, body: &str, token: Option<&str>) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "POST /v1/alerts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{auth}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, out)
}

fn alert(system: &str, status: &str) -> String {
    format!(
        r#"{{"title": "Disk full", "status": "{status}", "labels": {{"systemname": "{system}", "alertname": "DiskFull"}}}}"#
    )
}

const TOKEN: &str = "s3cr3t-token-for-the-ingest-0123456789";

#[test]
fn an_ingest_reachable_from_other_hosts_without_a_token_does_not_start() {
    let d = dir("open");
    let cfg = config(&d, "[http]\nlisten = \"0.0.0.0:0\"\n");
    let out = Command::new(env!("CARGO_BIN_EXE_ringdown"))
        .args(["run", "--config", cfg.to_str().unwrap()])
        .env_remove("RINGDOWN_HTTP_TOKEN")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no ingest token"), "{err}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn with_a_token_every_request_must_carry_it() {
    let (_d, addr) = start(
        "token",
        "listen = \"0.0.0.0:0\"",
        &[("RINGDOWN_HTTP_TOKEN", TOKEN)],
    );
    let addr = addr.replace("0.0.0.0", "127.0.0.1");
    let (status, body) = post(&addr, &alert("web", "firing"), None);
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("www-authenticate") || body.contains("WWW-Authenticate"));
    assert_eq!(post(&addr, &alert("web", "firing"), Some("guess")).0, 401);
    let (status, body) = post(&addr, &alert("web", "firing"), Some(TOKEN));
    assert_eq!(status, 202, "{body}");
    let (status, body) = post(&addr, &alert("web", "resolved"), Some(TOKEN));
    assert_eq!(status, 202, "{body}");
}

#[test]
fn without_a_token_loopback_takes_firing_alerts_and_refuses_to_resolve() {
    let (d, addr) = start("loopback", "listen = \"127.0.0.1:0\"", &[]);
    let (status, body) = post(&addr, &alert("web", "firing"), None);
    assert_eq!(status, 202, "{body}");
    // Resolving closes the incident and hangs up its call: not for anyone
    // who can reach the port.
    let (status, body) = post(&addr, &alert("web", "resolved"), None);
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("token_required_to_resolve"), "{body}");
    let log = std::fs::read_to_string(&d.log).unwrap();
    assert!(!log.contains("incident closed"), "{log}");
}

#[test]
fn a_flood_is_answered_429_and_the_daemon_keeps_serving() {
    let (_d, addr) = start(
        "flood",
        "listen = \"127.0.0.1:0\"\nrequests_per_sec = 5",
        &[],
    );
    let statuses: Vec<u16> = (0..40)
        .map(|i| post(&addr, &alert(&format!("sys{i}"), "firing"), None).0)
        .collect();
    assert!(statuses.contains(&429), "{statuses:?}");
    assert!(statuses.contains(&202), "{statuses:?}");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(post(&addr, &alert("late", "firing"), None).0, 202);
}

/// Nothing a 202 acknowledged is lost: four clients post a storm (50 alerts
/// a request over 30 systems) to a real `ringdown run`, which is killed with
/// SIGKILL mid-storm; after a restart on the same file every alert of every
/// 202 is in its incident.
#[test]
fn kill_9_during_a_storm_of_posts_loses_no_alert_that_was_answered_202() {
    let (mut daemon, addr) = start("kill9", "requests_per_sec = 100000", &[]);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|c| {
            let (addr, stop) = (addr.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut acked: Vec<(String, String)> = Vec::new();
                let mut n = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let system = format!("sys{:02}", (c * 7 + n) % 30);
                    let body = ringdown_proof::alerts::webhook(&system, c * 1_000_000 + n * 50, 50, "firing");
                    n += 1;
                    // Refused connections once the daemon is gone end the client.
                    let Ok(mut s) = TcpStream::connect(&addr) else { break };
                    let req = format!(
                        "POST /v1/alerts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let mut out = String::new();
                    if s.write_all(req.as_bytes()).is_err() || s.read_to_string(&mut out).is_err() {
                        break;
                    }
                    if !out.starts_with("HTTP/1.1 202") {
                        continue;
                    }
                    let json: serde_json::Value =
                        serde_json::from_str(out.split("\r\n\r\n").nth(1).unwrap()).unwrap();
                    for a in json["alerts"].as_array().unwrap() {
                        acked.push((
                            a["fingerprint"].as_str().unwrap().to_string(),
                            a["incident_id"].as_str().unwrap().to_string(),
                        ));
                    }
                }
                acked
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    daemon.child.kill().unwrap(); // SIGKILL
    let _ = daemon.child.wait();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let acked: Vec<(String, String)> = clients
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    assert!(
        acked.len() >= 500,
        "the storm was answered: {} alerts",
        acked.len()
    );

    // The restarted daemon recovers from the same file...
    let cfg = daemon.dir.join("ringdown.toml");
    let log = daemon.dir.join("restart.log");
    daemon.child = Command::new(env!("CARGO_BIN_EXE_ringdown"))
        .args(["run", "--config", cfg.to_str().unwrap()])
        .env_remove("RINGDOWN_HTTP_TOKEN")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("POST alerts to")
    {
        assert!(started.elapsed() < Duration::from_secs(20), "no restart");
        std::thread::sleep(Duration::from_millis(50));
    }
    // ...which holds every acknowledged alert in the incident it was given.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let store = ringdown_local::SqliteStore::open(daemon.dir.join("ringdown.sqlite")).unwrap();
    let mut missing = Vec::new();
    let mut incidents = std::collections::BTreeMap::new();
    for (fingerprint, id) in &acked {
        let inc = incidents.entry(id.clone()).or_insert_with(|| {
            rt.block_on(ringdown_engine::Store::load_incident(&store, id))
                .unwrap()
                .unwrap_or_else(|| panic!("incident {id} of an acknowledged alert is gone"))
        });
        // (Past 5,000 firing alerts an incident counts them untracked.)
        if !inc
            .firing
            .contains(&ringdown_core::fingerprint::Fingerprint::of(fingerprint))
            && inc.untracked_alerts == 0
        {
            missing.push(fingerprint.clone());
        }
    }
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged alerts lost: {:?}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(5)]
    );
    eprintln!(
        "{} alerts acknowledged with 202 before SIGKILL, all in the store after restart",
        acked.len()
    );
}
