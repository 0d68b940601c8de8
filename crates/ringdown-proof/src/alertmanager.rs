//! Ingest side by side with Prometheus Alertmanager (issue 7, "Proof").
//!
//! [`compare`] posts the very same alert stream to a fresh
//! `prometheus-alertmanager` and then to a fresh `ringdown run` (embedded
//! default), one after the other, each on loopback, and measures for each:
//!
//! - **accept throughput**: alerts / wall time from the first POST sent to the
//!   last POST answered 2xx (non-2xx answers and transport errors are counted
//!   and reported, never retried);
//! - **time to grouped notifications**: from the first POST until every
//!   group (one per `systemname`) has produced its notification — a webhook
//!   received by the bench for Alertmanager; for ringdown, a call placed for
//!   the group or for the storm it joined (`ringdown_incidents_notified_total`,
//!   polled every [`POLL`]);
//! - **notifications per storm**: the whole stream is one outage (30 systems
//!   behind one line): webhooks Alertmanager sent against calls ringdown
//!   placed (`ringdown_calls_placed_total`) for it;
//! - **peak RSS** (`VmHWM`) and **CPU time** (utime + stime, from just before
//!   the first POST to the end of the measurement) of the process.
//!
//! Alertmanager routes everything to a webhook receiver served by the bench
//! itself, `group_by: [systemname]`, `group_wait: 0s` (accepted by 0.25),
//! `group_interval`/`repeat_interval` long, clustering off. ringdown groups by
//! `systemname` with `group_wait_secs: 0` and one step calling one person,
//! and its dialer limits are raised to [`RINGDOWN_DIAL_RATE`]/s (Connect's
//! default quota is 2/s): Alertmanager has no downstream quota, so the
//! comparison is of the two pipelines, not of the telephone quota.
//!
//! The bodies are Alertmanager API v2 "postable alerts" (a JSON array of
//! `{labels, annotations, startsAt}`); Alertmanager gets them at
//! `POST /api/v2/alerts`, ringdown the same bytes at `POST /v1/alerts`
//! (its generic-JSON parser takes a top-level array of such objects).

use crate::http::Http;
use crate::measure::{cpu_time, metric_sum, proc_status_bytes};
use crate::process::ChildGuard;
use anyhow::{bail, Context, Result};
use hyper::body::Bytes;
use hyper::{Method, StatusCode};
use serde::Serialize;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What [`compare`] runs.
#[derive(Debug, Clone)]
pub struct CompareOptions {
    /// `ringdown` binary (release build).
    pub ringdown_bin: PathBuf,
    /// `prometheus-alertmanager` binary (Debian: `/usr/bin/prometheus-alertmanager`).
    pub alertmanager_bin: PathBuf,
    /// Alerts in the stream, each a distinct alert (unique `instance`).
    pub alerts: usize,
    /// Systems (`systemname` values), i.e. groups / incidents.
    pub systems: usize,
    /// Alerts per POST.
    pub per_post: usize,
    /// Concurrent keep-alive connections posting.
    pub concurrency: usize,
    /// Scratch directory: configs, stores and logs of both processes
    /// (`alertmanager/` and `ringdown/` below it, recreated each run).
    pub work_dir: PathBuf,
}

/// Alertmanager's `group_wait` in the generated config (the smallest value:
/// 0.25 accepts `0s`).
pub const ALERTMANAGER_GROUP_WAIT: &str = "0s";
/// ringdown's dialer rate, burst and live-call limit in this comparison.
pub const RINGDOWN_DIAL_RATE: u32 = 1000;
/// Interval of the `/metrics` poll that observes ringdown's calls.
pub const POLL: Duration = Duration::from_millis(10);
/// How long after the last POST answer the groups' notifications may take.
const NOTIFY_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a process may take to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The figures of one side.
#[derive(Debug, Clone, Serialize)]
pub struct SideResult {
    /// `alertmanager` or `ringdown`.
    pub name: String,
    /// First line of `--version`.
    pub version: String,
    /// Alerts posted.
    pub alerts: usize,
    /// POSTs sent.
    pub posts: usize,
    /// POSTs answered 2xx.
    pub posts_ok: usize,
    /// POSTs answered otherwise, or lost to a transport error.
    pub posts_failed: usize,
    /// The first failure, for the reader.
    pub first_error: Option<String>,
    /// First POST sent → last POST answered 2xx, seconds.
    pub accept_secs: f64,
    /// Alerts in 2xx-answered POSTs per `accept_secs`.
    pub alerts_per_sec: f64,
    /// Groups expected (= systems).
    pub groups: usize,
    /// Groups whose notification came out within the timeout.
    pub groups_notified: usize,
    /// First POST → first group notified, seconds.
    pub first_notify_secs: Option<f64>,
    /// First POST → every group notified, seconds (`None`: timed out).
    pub notify_secs: Option<f64>,
    /// Notifications seen (webhooks received / calls placed).
    pub notifications: usize,
    /// Alerts the process itself counted as received (its own metrics:
    /// `alertmanager_alerts_received_total` / `ringdown_alerts_received_total`).
    pub alerts_counted: Option<f64>,
    /// Peak resident set (`VmHWM`), KiB.
    pub peak_rss_kib: Option<u64>,
    /// CPU time (user + system) from just before the first POST to the end
    /// of the measurement, seconds.
    pub cpu_secs: Option<f64>,
    /// ringdown only: how its SQLite writes were committed.
    pub commits: Option<CommitStats>,
}

/// The embedded store's group commit over a run, from its own metrics
/// (`ringdown_sqlite_commit_seconds`, `ringdown_sqlite_commit_writes`).
#[derive(Debug, Clone, Serialize)]
pub struct CommitStats {
    /// Commits (one fsync each).
    pub commits: f64,
    /// Writes they held.
    pub writes: f64,
    /// Mean writes per commit.
    pub writes_per_commit: f64,
    /// Mean time of a commit (the fsync), milliseconds.
    pub commit_ms: f64,
}

impl CommitStats {
    /// From the text of `/metrics`; `None` when there was no commit.
    pub fn from_metrics(text: &str) -> Option<CommitStats> {
        let get = |m: &str| metric_sum(text, m, &[]);
        let commits = get("ringdown_sqlite_commit_seconds_count")?;
        let secs = get("ringdown_sqlite_commit_seconds_sum")?;
        let writes = get("ringdown_sqlite_commit_writes_sum")?;
        (commits > 0.0).then(|| CommitStats {
            commits,
            writes,
            writes_per_commit: writes / commits,
            commit_ms: secs * 1000.0 / commits,
        })
    }
}

/// Both sides and their ratios (ringdown / Alertmanager).
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub alerts: usize,
    pub systems: usize,
    pub per_post: usize,
    pub concurrency: usize,
    /// `group_wait` Alertmanager ran with.
    pub alertmanager_group_wait: String,
    /// ringdown's dialer limits in this run (raised: Alertmanager has no
    /// downstream quota).
    pub ringdown_dialer: String,
    pub alertmanager: SideResult,
    pub ringdown: SideResult,
    /// ringdown alerts/s ÷ Alertmanager alerts/s (> 1: ringdown accepts faster).
    pub throughput_ratio: Option<f64>,
    /// ringdown time-to-notifications ÷ Alertmanager's (< 1: ringdown is sooner).
    pub notify_ratio: Option<f64>,
    /// ringdown peak RSS ÷ Alertmanager's.
    pub rss_ratio: Option<f64>,
    /// ringdown CPU time ÷ Alertmanager's.
    pub cpu_ratio: Option<f64>,
    /// The stream is one storm: Alertmanager's notifications for it
    /// (webhooks, one per group).
    pub alertmanager_notifications_per_storm: usize,
    /// ringdown's calls for it (one per person on call).
    pub ringdown_calls_per_storm: usize,
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 && a.is_finite() && b.is_finite() => Some(a / b),
        _ => None,
    }
}

impl Comparison {
    fn new(opts: &CompareOptions, am: SideResult, rd: SideResult) -> Comparison {
        let rate = |s: &SideResult| (s.posts_ok > 0).then_some(s.alerts_per_sec);
        Comparison {
            alerts: opts.alerts,
            systems: opts.systems,
            per_post: opts.per_post,
            concurrency: opts.concurrency,
            alertmanager_group_wait: ALERTMANAGER_GROUP_WAIT.into(),
            ringdown_dialer: format!(
                "rate_per_sec {RINGDOWN_DIAL_RATE}, burst {RINGDOWN_DIAL_RATE}, max_live_calls {RINGDOWN_DIAL_RATE}"
            ),
            throughput_ratio: ratio(rate(&rd), rate(&am)),
            notify_ratio: ratio(rd.notify_secs, am.notify_secs),
            rss_ratio: ratio(
                rd.peak_rss_kib.map(|k| k as f64),
                am.peak_rss_kib.map(|k| k as f64),
            ),
            cpu_ratio: ratio(rd.cpu_secs, am.cpu_secs),
            alertmanager_notifications_per_storm: am.notifications,
            ringdown_calls_per_storm: rd.notifications,
            alertmanager: am,
            ringdown: rd,
        }
    }

    /// A short Markdown table of both sides and the ratios.
    pub fn markdown(&self) -> String {
        let (am, rd) = (&self.alertmanager, &self.ringdown);
        let secs = |s: Option<f64>| s.map_or("—".into(), |s| format!("{:.3} s", s));
        let x = |r: Option<f64>| r.map_or("—".into(), |r| format!("{r:.2}×"));
        let mib =
            |k: Option<u64>| k.map_or("—".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0));
        let notified = |s: &SideResult| match s.notify_secs {
            Some(t) => format!("{:.3} s", t),
            None => format!("timed out ({}/{})", s.groups_notified, s.groups),
        };
        let mut out = format!(
            "{} alerts over {} systems, {} per POST, {} keep-alive connections; \
             Alertmanager `group_wait: {}`, ringdown `group_wait_secs: 0` with its dialer \
             raised to {} (Alertmanager has no downstream quota).\n\n",
            self.alerts,
            self.systems,
            self.per_post,
            self.concurrency,
            self.alertmanager_group_wait,
            self.ringdown_dialer,
        );
        out.push_str(&format!(
            "| | {} | {} | ringdown / Alertmanager |\n|---|---:|---:|---:|\n",
            if am.version.is_empty() {
                "Alertmanager".to_string()
            } else {
                format!("Alertmanager {}", am.version)
            },
            if rd.version.is_empty() {
                "ringdown".to_string()
            } else {
                format!("ringdown {}", rd.version)
            },
        ));
        out.push_str(&format!(
            "| alerts accepted / s | {:.0} | {:.0} | {} |\n",
            am.alerts_per_sec,
            rd.alerts_per_sec,
            x(self.throughput_ratio)
        ));
        out.push_str(&format!(
            "| accept wall time | {:.3} s | {:.3} s | |\n",
            am.accept_secs, rd.accept_secs
        ));
        out.push_str(&format!(
            "| POSTs failed | {}/{} | {}/{} | |\n",
            am.posts_failed, am.posts, rd.posts_failed, rd.posts
        ));
        out.push_str(&format!(
            "| first group notified | {} | {} | {} |\n",
            secs(am.first_notify_secs),
            secs(rd.first_notify_secs),
            x(ratio(rd.first_notify_secs, am.first_notify_secs))
        ));
        out.push_str(&format!(
            "| all {} groups notified | {} | {} | {} |\n",
            self.systems,
            notified(am),
            notified(rd),
            x(self.notify_ratio)
        ));
        out.push_str(&format!(
            "| notifications for this one outage (webhooks / calls) | {} | {} | |\n",
            self.alertmanager_notifications_per_storm, self.ringdown_calls_per_storm
        ));
        out.push_str(&format!(
            "| peak RSS | {} | {} | {} |\n",
            mib(am.peak_rss_kib),
            mib(rd.peak_rss_kib),
            x(self.rss_ratio)
        ));
        out.push_str(&format!(
            "| CPU time during the run | {} | {} | {} |\n",
            secs(am.cpu_secs),
            secs(rd.cpu_secs),
            x(self.cpu_ratio)
        ));
        if let Some(c) = &rd.commits {
            out.push_str(&format!(
                "\nringdown's SQLite commits (`synchronous = FULL`, one fsync each): {:.0} \
                 commits of {:.1} writes on average ({:.0} writes), {:.2} ms per commit; every \
                 202 followed the commit holding its alerts. Alertmanager keeps alerts in memory.\n",
                c.commits, c.writes_per_commit, c.writes, c.commit_ms
            ));
        }
        out
    }
}

/// Runs Alertmanager, then ringdown, each fresh, with the same alert stream;
/// both processes are killed before this returns (also on error).
pub async fn compare(opts: &CompareOptions) -> Result<Comparison> {
    if opts.alerts == 0 || opts.systems == 0 || opts.per_post == 0 || opts.concurrency == 0 {
        bail!("alerts, systems, per_post and concurrency must all be at least 1");
    }
    if opts.systems > opts.alerts {
        bail!(
            "{} systems need at least as many alerts (got {})",
            opts.systems,
            opts.alerts
        );
    }
    std::fs::create_dir_all(&opts.work_dir)
        .with_context(|| format!("creating {}", opts.work_dir.display()))?;
    let starts_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let bodies: Arc<Vec<Bytes>> = Arc::new(
        postable_alerts(opts.alerts, opts.systems, opts.per_post, &starts_at)
            .into_iter()
            .map(Bytes::from)
            .collect(),
    );
    let am = run_alertmanager(opts, bodies.clone())
        .await
        .context("Alertmanager side")?;
    let rd = run_ringdown(opts, bodies).await.context("ringdown side")?;
    Ok(Comparison::new(opts, am, rd))
}

// ---------------------------------------------------------------------------
// The alert stream.

/// `alerts` Alertmanager API v2 postable alerts, spread round-robin over
/// `systems` systems (`sys000`, `sys001`, …), each with a unique `instance`,
/// as JSON arrays of `per_post` alerts (the last may be shorter).
pub fn postable_alerts(
    alerts: usize,
    systems: usize,
    per_post: usize,
    starts_at: &str,
) -> Vec<String> {
    let systems = systems.max(1);
    let per_post = per_post.max(1);
    let all: Vec<serde_json::Value> = (0..alerts)
        .map(|i| {
            let system = format!("sys{:03}", i % systems);
            let instance = format!("host-{i:06}");
            serde_json::json!({
                "labels": {
                    "alertname": "HighLatency",
                    "systemname": system,
                    "instance": instance,
                    "severity": if i % 4 == 0 { "critical" } else { "warning" },
                },
                "annotations": {"summary": format!("latency high on {instance} ({system})")},
                "startsAt": starts_at,
            })
        })
        .collect();
    all.chunks(per_post)
        .map(|c| serde_json::Value::Array(c.to_vec()).to_string())
        .collect()
}

// ---------------------------------------------------------------------------
// Parsing what the processes expose.

fn cpu_secs(pid: u32) -> Option<f64> {
    cpu_time(pid).map(|d| d.as_secs_f64())
}

fn peak_rss_kib(pid: u32) -> Option<u64> {
    proc_status_bytes(pid, "VmHWM").map(|b| b / 1024)
}

// ---------------------------------------------------------------------------
// Processes.

/// The version number `bin --version` prints (`0.25.0` out of
/// `alertmanager, version 0.25.0 (branch: …)`, `0.1.0` out of `ringdown 0.1.0`).
fn version_of(bin: &Path) -> String {
    let Ok(out) = Command::new(bin).arg("--version").output() else {
        return String::new();
    };
    let text = if out.stdout.is_empty() {
        out.stderr
    } else {
        out.stdout
    };
    version_number(&String::from_utf8_lossy(&text))
}

/// The first word starting with a digit on the first line (else the line).
fn version_number(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default();
    line.split(|c: char| c.is_whitespace() || c == ',')
        .find(|w| w.starts_with(|c: char| c.is_ascii_digit()))
        .unwrap_or(line.trim())
        .to_string()
}

/// A loopback port free at the time of asking.
fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn fresh_dir(dir: &Path) -> Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))
}

/// Polls `GET path` until it answers 200.
async fn wait_ready(child: &mut ChildGuard, addr: SocketAddr, path: &str) -> Result<()> {
    let deadline = Instant::now() + READY_TIMEOUT;
    let mut last;
    loop {
        child.check_alive()?;
        let mut http = Http::new(addr);
        match http.request(Method::GET, path, Bytes::new()).await {
            Ok((StatusCode::OK, _)) => return Ok(()),
            Ok((s, b)) => last = format!("{s}: {}", String::from_utf8_lossy(&b)),
            Err(e) => last = e.to_string(),
        }
        if Instant::now() > deadline {
            bail!(
                "{} not ready on http://{addr}{path} after {READY_TIMEOUT:?} (last: {last}); its log ends:\n{}",
                child.name(),
                child.log_tail()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What posting the stream gave.
struct Posted {
    /// When the first POST was sent.
    start: Instant,
    /// When the last 2xx answer arrived (`start` if none did).
    last_ok: Instant,
    posts_ok: usize,
    alerts_ok: usize,
    posts_failed: usize,
    first_error: Option<String>,
}

/// Posts every body to `path` over `concurrency` keep-alive connections
/// (opened before the clock starts), each taking the next body in turn.
async fn post_all(
    addr: SocketAddr,
    path: &'static str,
    bodies: Arc<Vec<Bytes>>,
    per_post: usize,
    total: usize,
    concurrency: usize,
) -> Result<Posted> {
    let mut conns = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let mut h = Http::new(addr);
        h.connect().await?;
        conns.push(h);
    }
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let workers: Vec<_> = conns
        .into_iter()
        .map(|mut http| {
            let next = next.clone();
            let bodies = bodies.clone();
            tokio::spawn(async move {
                let (mut ok, mut alerts_ok, mut failed) = (0usize, 0usize, 0usize);
                let mut last_ok = None;
                let mut first_error = None;
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= bodies.len() {
                        break;
                    }
                    let n = per_post.min(total - i * per_post);
                    match http.request(Method::POST, path, bodies[i].clone()).await {
                        Ok((status, _)) if status.is_success() => {
                            ok += 1;
                            alerts_ok += n;
                            last_ok = Some(Instant::now());
                        }
                        Ok((status, body)) => {
                            failed += 1;
                            first_error.get_or_insert_with(|| {
                                let b = String::from_utf8_lossy(&body);
                                format!("{status}: {}", b.chars().take(300).collect::<String>())
                            });
                        }
                        Err(e) => {
                            failed += 1;
                            first_error.get_or_insert_with(|| format!("{e:#}"));
                        }
                    }
                }
                (ok, alerts_ok, failed, last_ok, first_error)
            })
        })
        .collect();
    let mut posted = Posted {
        start,
        last_ok: start,
        posts_ok: 0,
        alerts_ok: 0,
        posts_failed: 0,
        first_error: None,
    };
    for w in workers {
        let (ok, alerts_ok, failed, last_ok, first_error) = w.await?;
        posted.posts_ok += ok;
        posted.alerts_ok += alerts_ok;
        posted.posts_failed += failed;
        if let Some(t) = last_ok {
            posted.last_ok = posted.last_ok.max(t);
        }
        if posted.first_error.is_none() {
            posted.first_error = first_error;
        }
    }
    Ok(posted)
}

/// When each group's first notification came out.
#[derive(Default)]
struct Notified {
    first: Option<Instant>,
    all: Option<Instant>,
    groups: usize,
    notifications: usize,
}

#[allow(clippy::too_many_arguments)]
fn side_result(
    name: &str,
    version: String,
    opts: &CompareOptions,
    posts: usize,
    posted: &Posted,
    notified: &Notified,
    alerts_counted: Option<f64>,
    pid: u32,
    cpu_before: Option<f64>,
) -> SideResult {
    let accept_secs = posted.last_ok.duration_since(posted.start).as_secs_f64();
    let since =
        |t: Option<Instant>| t.map(|t| t.saturating_duration_since(posted.start).as_secs_f64());
    SideResult {
        name: name.into(),
        version,
        alerts: opts.alerts,
        posts,
        posts_ok: posted.posts_ok,
        posts_failed: posted.posts_failed,
        first_error: posted.first_error.clone(),
        accept_secs,
        alerts_per_sec: if accept_secs > 0.0 {
            posted.alerts_ok as f64 / accept_secs
        } else {
            0.0
        },
        groups: opts.systems,
        groups_notified: notified.groups,
        first_notify_secs: since(notified.first),
        notify_secs: since(notified.all),
        notifications: notified.notifications,
        alerts_counted,
        peak_rss_kib: peak_rss_kib(pid),
        cpu_secs: match (cpu_before, cpu_secs(pid)) {
            (Some(a), Some(b)) => Some(b - a),
            _ => None,
        },
        commits: None,
    }
}

// ---------------------------------------------------------------------------
// Alertmanager.

/// The webhook receiver's record: first notification per group.
struct Hooks {
    groups: Mutex<HashMap<String, Instant>>,
    notifications: AtomicUsize,
    count: tokio::sync::watch::Sender<usize>,
}

async fn hook(
    axum::extract::State(hooks): axum::extract::State<Arc<Hooks>>,
    body: Bytes,
) -> StatusCode {
    let now = Instant::now();
    hooks.notifications.fetch_add(1, Ordering::Relaxed);
    let key = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| {
            v.pointer("/groupLabels/systemname")
                .or_else(|| v.get("groupKey"))
                .and_then(|s| s.as_str())
                .map(str::to_string)
        })
        .unwrap_or_default();
    let n = {
        let mut groups = hooks.groups.lock().unwrap();
        groups.entry(key).or_insert(now);
        groups.len()
    };
    hooks.count.send_replace(n);
    StatusCode::OK
}

/// Alertmanager's configuration: everything to the bench's webhook.
pub fn alertmanager_config(webhook_url: &str) -> String {
    format!(
        r#"route:
  receiver: bench
  group_by: [systemname]
  group_wait: {ALERTMANAGER_GROUP_WAIT}
  group_interval: 1h
  repeat_interval: 24h
receivers:
  - name: bench
    webhook_configs:
      - url: "{webhook_url}"
        send_resolved: false
"#
    )
}

async fn run_alertmanager(opts: &CompareOptions, bodies: Arc<Vec<Bytes>>) -> Result<SideResult> {
    let dir = opts.work_dir.join("alertmanager");
    fresh_dir(&dir)?;
    // The webhook receiver, inside this process.
    let (count_tx, mut count_rx) = tokio::sync::watch::channel(0usize);
    let hooks = Arc::new(Hooks {
        groups: Mutex::new(HashMap::new()),
        notifications: AtomicUsize::new(0),
        count: count_tx,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let hook_addr = listener.local_addr()?;
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(hook))
        .with_state(hooks.clone());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    struct AbortOnDrop(tokio::task::JoinHandle<std::io::Result<()>>);
    impl Drop for AbortOnDrop {
        fn drop(&mut self) {
            self.0.abort();
        }
    }
    let _server = AbortOnDrop(server);

    let config = dir.join("alertmanager.yml");
    std::fs::write(
        &config,
        alertmanager_config(&format!("http://{hook_addr}/hook")),
    )?;
    let port = free_port()?;
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut child = ChildGuard::spawn(
        "prometheus-alertmanager",
        Command::new(&opts.alertmanager_bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.path={}", dir.join("data").display()))
            .arg("--cluster.listen-address=")
            .arg(format!("--web.listen-address={addr}")),
        dir.join("alertmanager.log"),
    )?;
    wait_ready(&mut child, addr, "/-/ready").await?;

    let cpu_before = cpu_secs(child.pid());
    // The receiver stamps each group's first notification as it arrives;
    // after the last answer, wait (bounded) for the groups still missing.
    let posted = post_all(
        addr,
        "/api/v2/alerts",
        bodies.clone(),
        opts.per_post,
        opts.alerts,
        opts.concurrency,
    )
    .await?;
    let want = opts.systems;
    let _ = tokio::time::timeout(NOTIFY_TIMEOUT, count_rx.wait_for(|n| *n >= want)).await;
    child.check_alive()?;
    let notified = {
        let groups = hooks.groups.lock().unwrap();
        Notified {
            first: groups.values().min().copied(),
            all: (groups.len() >= opts.systems)
                .then(|| groups.values().max().copied())
                .flatten(),
            groups: groups.len(),
            notifications: hooks.notifications.load(Ordering::Relaxed),
        }
    };
    let counted = counted_by_process(addr, "alertmanager_alerts_received_total").await;
    Ok(side_result(
        "alertmanager",
        version_of(&opts.alertmanager_bin),
        opts,
        bodies.len(),
        &posted,
        &notified,
        counted,
        child.pid(),
        cpu_before,
    ))
}

/// How many alerts the process itself says it received (its own counter
/// `metric` on `/metrics`), to cross-check what was posted.
async fn counted_by_process(addr: SocketAddr, metric: &str) -> Option<f64> {
    let (_, body) = Http::new(addr)
        .request(Method::GET, "/metrics", Bytes::new())
        .await
        .ok()?;
    metric_sum(&String::from_utf8_lossy(&body), metric, &[])
}

// ---------------------------------------------------------------------------
// ringdown.

/// The roster: group by `systemname`, no wait, one step calling one person.
pub const RINGDOWN_ROSTER: &str = r#"timezone: UTC
people:
  bench:
    name: Bench Person
    language: en-US
    phones: [{ number: "+14155550199" }]
policies:
  - name: default
    match: {}
    group_by: [systemname]
    group_wait_secs: 0
    steps:
      - targets: [person:bench]
        attempts: 1
"#;

fn ringdown_config(dir: &Path) -> String {
    let p = |name: &str| dir.join(name).display().to_string();
    format!(
        r#"roster_file = {roster:?}
[http]
listen = "127.0.0.1:0"
[store]
sqlite_path = {sqlite:?}
[dialer]
rate_per_sec = {RINGDOWN_DIAL_RATE}
burst = {RINGDOWN_DIAL_RATE}
max_live_calls = {RINGDOWN_DIAL_RATE}
[simulator]
time_scale = 1.0
[fallback]
file = {fallback:?}
[log]
format = "text"
filter = "info"
"#,
        roster = p("roster.yaml"),
        sqlite = p("ringdown.sqlite"),
        fallback = p("fallback.jsonl"),
    )
}

/// The ingest address from ringdown's log line
/// `POST alerts to http://127.0.0.1:PORT/v1/alerts`.
fn ringdown_addr(log: &str) -> Option<SocketAddr> {
    log.lines()
        .find_map(|l| l.split("POST alerts to http://").nth(1))
        .and_then(|r| r.split('/').next())
        .and_then(|a| a.parse().ok())
}

async fn run_ringdown(opts: &CompareOptions, bodies: Arc<Vec<Bytes>>) -> Result<SideResult> {
    let dir = opts.work_dir.join("ringdown");
    fresh_dir(&dir)?;
    std::fs::write(dir.join("roster.yaml"), RINGDOWN_ROSTER)?;
    let config = dir.join("ringdown.toml");
    std::fs::write(&config, ringdown_config(&dir))?;
    let log = dir.join("ringdown.log");
    let mut cmd = Command::new(&opts.ringdown_bin);
    cmd.arg("run").arg("--config").arg(&config);
    // The config file alone decides (no RINGDOWN_* override from the caller).
    for (k, _) in std::env::vars() {
        if k.starts_with("RINGDOWN_") || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    let mut child = ChildGuard::spawn("ringdown", &mut cmd, log.clone())?;
    let deadline = Instant::now() + READY_TIMEOUT;
    let addr = loop {
        child.check_alive()?;
        if let Some(a) = ringdown_addr(&std::fs::read_to_string(&log).unwrap_or_default()) {
            break a;
        }
        if Instant::now() > deadline {
            bail!(
                "ringdown did not log its address within {READY_TIMEOUT:?}; its log ends:\n{}",
                child.log_tail()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    wait_ready(&mut child, addr, "/healthz").await?;
    wait_ready(&mut child, addr, "/readyz").await?;

    let cpu_before = cpu_secs(child.pid());
    // Calls placed, polled on /metrics over its own keep-alive connection.
    let want = opts.systems;
    let (done_tx, mut done_rx) = tokio::sync::watch::channel(false);
    let poller = tokio::spawn(async move {
        let mut http = Http::new(addr);
        let mut notified = Notified::default();
        let mut tick = tokio::time::interval(POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = done_rx.changed() => break,
            }
            let Ok((StatusCode::OK, body)) =
                http.request(Method::GET, "/metrics", Bytes::new()).await
            else {
                continue;
            };
            let now = Instant::now();
            let text = String::from_utf8_lossy(&body);
            let placed =
                metric_sum(&text, "ringdown_calls_placed_total", &[]).unwrap_or(0.0) as usize;
            // A group is notified when someone will hear of it: its own
            // call, or the call of the storm it joined.
            let heard =
                metric_sum(&text, "ringdown_incidents_notified_total", &[]).unwrap_or(0.0) as usize;
            notified.notifications = placed;
            notified.groups = heard.min(want);
            if placed >= 1 && notified.first.is_none() {
                notified.first = Some(now);
            }
            if heard >= want {
                notified.all = Some(now);
                break;
            }
        }
        notified
    });
    let posted = post_all(
        addr,
        "/v1/alerts",
        bodies.clone(),
        opts.per_post,
        opts.alerts,
        opts.concurrency,
    )
    .await;
    let posted = match posted {
        Ok(p) => p,
        Err(e) => {
            let _ = done_tx.send(true);
            return Err(e);
        }
    };
    let timeout = tokio::time::sleep(NOTIFY_TIMEOUT);
    tokio::pin!(timeout);
    let mut poller = poller;
    let notified = tokio::select! {
        n = &mut poller => n?,
        _ = &mut timeout => {
            let _ = done_tx.send(true);
            poller.await?
        }
    };
    child.check_alive()?;
    let counted = counted_by_process(addr, "ringdown_alerts_received_total").await;
    let mut side = side_result(
        "ringdown",
        version_of(&opts.ringdown_bin),
        opts,
        bodies.len(),
        &posted,
        &notified,
        counted,
        child.pid(),
        cpu_before,
    );
    if let Ok((_, body)) = Http::new(addr)
        .request(Method::GET, "/metrics", Bytes::new())
        .await
    {
        side.commits = CommitStats::from_metrics(&String::from_utf8_lossy(&body));
    }
    Ok(side)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_is_round_robin_unique_and_chunked() {
        let bodies = postable_alerts(250, 30, 100, "2026-11-23T00:00:00.000Z");
        assert_eq!(bodies.len(), 3);
        let all: Vec<serde_json::Value> = bodies
            .iter()
            .flat_map(|b| serde_json::from_str::<Vec<serde_json::Value>>(b).unwrap())
            .collect();
        assert_eq!(all.len(), 250);
        assert_eq!(
            serde_json::from_str::<Vec<serde_json::Value>>(&bodies[2])
                .unwrap()
                .len(),
            50
        );
        let mut instances = std::collections::HashSet::new();
        for (i, a) in all.iter().enumerate() {
            assert_eq!(a["labels"]["systemname"], format!("sys{:03}", i % 30));
            assert_eq!(a["labels"]["alertname"], "HighLatency");
            assert!(a["labels"]["severity"].is_string());
            assert!(a["annotations"]["summary"].is_string());
            assert_eq!(a["startsAt"], "2026-11-23T00:00:00.000Z");
            assert!(instances.insert(a["labels"]["instance"].as_str().unwrap().to_string()));
        }
    }

    #[test]
    fn ringdown_parses_the_postable_alerts_as_they_are() {
        let bodies = postable_alerts(100, 30, 100, "2026-11-23T00:00:00.000Z");
        let alerts = ringdown_core::parse::parse(bodies[0].as_bytes()).unwrap();
        assert_eq!(alerts.len(), 100);
        assert_eq!(
            alerts[31].labels.get("systemname").map(String::as_str),
            Some("sys001")
        );
        assert_eq!(
            alerts[31].labels.get("instance").map(String::as_str),
            Some("host-000031")
        );
    }

    #[test]
    fn version_numbers_are_picked_out() {
        assert_eq!(
            version_number("alertmanager, version 0.25.0 (branch: debian/sid, revision: 0.25.0-1+b4)\n  build user: x\n"),
            "0.25.0"
        );
        assert_eq!(version_number("ringdown 0.1.0\n"), "0.1.0");
        assert_eq!(version_number("dev build"), "dev build");
    }

    #[test]
    fn the_log_line_gives_ringdown_s_address() {
        let log = "2026-11-23T00:00:00Z  INFO ringdown::local: ringdown is running on the embedded default: POST alerts to http://127.0.0.1:40123/v1/alerts\n";
        assert_eq!(ringdown_addr(log), Some("127.0.0.1:40123".parse().unwrap()));
        assert_eq!(ringdown_addr("nothing yet"), None);
    }

    #[test]
    fn the_alertmanager_config_routes_everything_to_the_webhook() {
        let c = alertmanager_config("http://127.0.0.1:1/hook");
        assert!(c.contains("group_wait: 0s"), "{c}");
        assert!(c.contains("group_by: [systemname]"), "{c}");
        assert!(c.contains("url: \"http://127.0.0.1:1/hook\""), "{c}");
    }

    #[test]
    fn commit_figures_come_from_the_summaries_ringdown_exports() {
        let text = "ringdown_sqlite_commit_seconds{quantile=\"0.5\"} 0.002\n\
                    ringdown_sqlite_commit_seconds_sum 0.05\n\
                    ringdown_sqlite_commit_seconds_count 25\n\
                    ringdown_sqlite_commit_writes_sum 3000\n\
                    ringdown_sqlite_commit_writes_count 25\n";
        let c = CommitStats::from_metrics(text).unwrap();
        assert_eq!(
            (c.commits, c.writes, c.writes_per_commit),
            (25.0, 3000.0, 120.0)
        );
        assert!((c.commit_ms - 2.0).abs() < 1e-9);
        assert!(CommitStats::from_metrics("ringdown_up 1\n").is_none());
    }

    #[test]
    fn the_markdown_shows_both_sides_and_ratios() {
        let side = |name: &str, rate: f64, notify: f64| SideResult {
            name: name.into(),
            version: String::new(),
            alerts: 1000,
            posts: 10,
            posts_ok: 10,
            posts_failed: 0,
            first_error: None,
            accept_secs: 1000.0 / rate,
            alerts_per_sec: rate,
            groups: 30,
            groups_notified: 30,
            first_notify_secs: Some(notify / 2.0),
            notify_secs: Some(notify),
            notifications: 30,
            alerts_counted: Some(1000.0),
            peak_rss_kib: Some(20480),
            cpu_secs: Some(0.5),
            commits: None,
        };
        let opts = CompareOptions {
            ringdown_bin: "r".into(),
            alertmanager_bin: "a".into(),
            alerts: 1000,
            systems: 30,
            per_post: 100,
            concurrency: 4,
            work_dir: "w".into(),
        };
        let c = Comparison::new(
            &opts,
            side("alertmanager", 2000.0, 0.1),
            side("ringdown", 1000.0, 0.2),
        );
        assert_eq!(c.throughput_ratio, Some(0.5));
        assert_eq!(c.notify_ratio, Some(2.0));
        let md = c.markdown();
        assert!(
            md.contains("| alerts accepted / s | 2000 | 1000 | 0.50× |"),
            "{md}"
        );
        assert!(
            md.contains("| all 30 groups notified | 0.100 s | 0.200 s | 2.00× |"),
            "{md}"
        );
        serde_json::to_string(&c).unwrap();
    }
}
