//! ringdown's whole-system benchmark: real `ringdown run` processes against
//! moto (SQS, DynamoDB, Kinesis) and connect-sim (Amazon Connect) on
//! loopback. Writes `report.json` and `report.md` to `--out`.
//!
//! Run it with `bench/run.sh`, which installs the emulators and Alertmanager,
//! builds in release mode and starts moto.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use connect_sim::Quotas;
use ringdown_proof::alerts::storm;
use ringdown_proof::http::Http;
use ringdown_proof::measure::{cpu_time, metric_sum, proc_status_bytes, RssSampler};
use ringdown_proof::personas::PRESS_1;
use ringdown_proof::{Stage, StageOptions};
use serde::Serialize;
use serde_json::{json, Value};

#[derive(Parser, Debug)]
#[command(about = "Storm, latency and Alertmanager benchmarks of ringdown on loopback")]
struct Args {
    /// Where report.json and report.md go.
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
    /// Alerts per storm.
    #[arg(long, default_value_t = 10_000)]
    alerts: usize,
    /// Alerts per SQS message in the storms (Alertmanager sends a group's
    /// alerts in one notification).
    #[arg(long, default_value_t = 10)]
    per_message: usize,
    /// Latency samples (one new incident each).
    #[arg(long, default_value_t = 60)]
    latency_samples: usize,
    /// Which runs: any of latency, storm3, storm30, realtime, nextring,
    /// alertmanager.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "latency,storm3,storm30,realtime,nextring,alertmanager"
    )]
    only: Vec<String>,
    /// Simulated seconds per real second in the runs on Connect's real
    /// timing (`realtime`, `nextring`); 1 is the honest figure.
    #[arg(long, default_value_t = 1.0)]
    real_time_scale: f64,
    /// Samples of "call ended → next person's phone rings", per mode.
    #[arg(long, default_value_t = 30)]
    next_ring_samples: usize,
    /// Concurrent live calls, as Connect's quota (connect-sim) and as
    /// ringdown's `dialer.max_live_calls` (Connect's default quota is 10).
    #[arg(long, default_value_t = 10)]
    max_live_calls: usize,
    /// The `ringdown` executable (default: next to this one).
    #[arg(long)]
    ringdown: Option<PathBuf>,
    /// Prometheus Alertmanager (Debian's package).
    #[arg(long, default_value = "/usr/bin/prometheus-alertmanager")]
    alertmanager: PathBuf,
}

const ENGINEER: &str = "+14155550001";
// Every engineer presses 1 (`PRESS_1`): calls are short, so the live-call
// cap does not hide the dial rate.

fn roster() -> String {
    format!(
        r#"
timezone: UTC
people:
  oncall: {{ language: en-US, phones: [{{ number: "{ENGINEER}" }}] }}
policies:
  - name: default
    group_by: [systemname]
    group_wait_secs: 0
    steps:
      - targets: [person:oncall]
"#
    )
}

/// One team per system (`{prefix}000`, `{prefix}001`, …), each policy calling
/// its own engineers, one per step: several incidents for someone whose
/// phone is ringing would join their storm and be heard in one call (what
/// on-call people want), which is not the path the per-incident runs time.
/// Step `t`'s engineer of system `i` has the number `+1415{5+t}{i:06}`.
fn team_per_system(prefix: &str, systems: usize, steps: usize) -> String {
    let mut people = String::new();
    let mut policies = String::new();
    for i in 0..systems {
        policies.push_str(&format!(
            "  - name: {prefix}{i:03}\n    match: {{ systemname: {prefix}{i:03} }}\n    group_by: [systemname]\n    group_wait_secs: 0\n    steps:\n"
        ));
        for t in 0..steps {
            people.push_str(&format!(
                "  p{t}x{i:03}: {{ language: en-US, phones: [{{ number: \"{}\" }}] }}\n",
                team_phone(t, i)
            ));
            policies.push_str(&format!("      - targets: [person:p{t}x{i:03}]\n"));
        }
    }
    format!("timezone: UTC\npeople:\n{people}policies:\n{policies}")
}

/// The number of step `step`'s engineer of system `system` ([`team_per_system`]).
fn team_phone(step: usize, system: usize) -> String {
    format!("+1415{}{system:06}", 5 + step)
}

#[derive(Debug, Serialize)]
struct Target {
    name: String,
    target: String,
    measured: String,
    met: bool,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let args = Args::parse();
    let ringdown = match &args.ringdown {
        Some(p) => p.clone(),
        None => std::env::current_exe()?
            .parent()
            .context("executable directory")?
            .join("ringdown"),
    };
    if !ringdown.exists() {
        bail!(
            "{} not found: build it first (cargo build --release -p ringdown)",
            ringdown.display()
        );
    }
    std::fs::create_dir_all(&args.out)?;
    let mut report = json!({
        "machine": machine(),
        "started_at": chrono::Utc::now().to_rfc3339(),
        "ringdown": ringdown.display().to_string(),
    });
    let mut targets: Vec<Target> = Vec::new();
    let mut md = String::from("# ringdown benchmark\n\n");
    md.push_str(&format!(
        "Machine: {}\n\n",
        report["machine"]["summary"].as_str().unwrap_or("")
    ));

    if args.only.iter().any(|o| o == "latency") {
        eprintln!("== latency: alert → StartOutboundVoiceContact");
        let r = latency(&ringdown, args.latency_samples, args.max_live_calls).await?;
        targets.push(Target {
            name: "alert → StartOutboundVoiceContact p99".into(),
            target: "≤ 250 ms".into(),
            measured: format!("{:.0} ms", r["p99_ms"].as_f64().unwrap_or(f64::NAN)),
            met: r["p99_ms"].as_f64().is_some_and(|v| v <= 250.0),
        });
        md.push_str(&format!(
            "## Latency, alert → StartOutboundVoiceContact (group_wait 0)\n\n\
             {} samples, one new incident each, 600 ms apart: p50 **{:.0} ms**, p99 **{:.0} ms**, max {:.0} ms.\n\n",
            r["samples"], r["p50_ms"].as_f64().unwrap_or(f64::NAN), r["p99_ms"].as_f64().unwrap_or(f64::NAN), r["max_ms"].as_f64().unwrap_or(f64::NAN)
        ));
        report["latency"] = r;
    }
    for (key, systems) in [("storm3", 3usize), ("storm30", 30usize)] {
        if !args.only.iter().any(|o| o == key) {
            continue;
        }
        eprintln!("== storm: {} alerts over {systems} systems", args.alerts);
        let r = storm_run(
            &ringdown,
            args.alerts,
            systems,
            args.per_message,
            args.max_live_calls,
        )
        .await?;
        md.push_str(&storm_markdown(&r));
        push_storm_targets(&mut targets, &r, systems);
        report[key] = serde_json::to_value(&r)?;
    }
    if args.only.iter().any(|o| o == "realtime") {
        eprintln!("== 30 systems on Connect's real timing (calls of ~35 s, records 60-120 s late)");
        let r = real_timing_storm(&ringdown, args.max_live_calls, args.real_time_scale).await?;
        md.push_str(&real_timing_markdown(&r));
        targets.push(Target {
            name: "dial rate vs the binding limit while queued (30 systems, real timing)".into(),
            target: "≥ 95 %".into(),
            measured: r
                .dial_rate_vs_binding
                .map_or("n/a".into(), |v| format!("{:.1} %", v * 100.0)),
            met: r.dial_rate_vs_binding.is_some_and(|v| v >= 0.95),
        });
        targets.push(Target {
            name: "one call per incident, nobody else, no UNKNOWN (30 systems, real timing)".into(),
            target: "30 calls, 0 UNKNOWN".into(),
            measured: format!("{} calls, {} UNKNOWN", r.calls, r.unknown_outcomes),
            met: r.calls == 30 && r.one_call_per_incident && r.unknown_outcomes == 0,
        });
        report["realtime_storm30"] = serde_json::to_value(&r)?;
    }
    if args.only.iter().any(|o| o == "nextring") {
        let mut rows = Vec::new();
        for (label, drop) in [("contact events on", 0.0), ("contact events lost", 1.0)] {
            eprintln!("== call ended → next person's phone rings ({label})");
            let r = next_ring(
                &ringdown,
                args.next_ring_samples,
                drop,
                args.real_time_scale,
            )
            .await?;
            rows.push((label, r));
        }
        md.push_str(&next_ring_markdown(&rows));
        let on = &rows[0].1;
        targets.push(Target {
            name: "call ended → next person's phone rings, p99 (events on)".into(),
            target: "≤ 5 s".into(),
            measured: format!("{:.2} s", on.p99_secs),
            met: on.p99_secs <= 5.0,
        });
        let lost = &rows[1].1;
        targets.push(Target {
            name: "call ended → next person's phone rings, p99 (events lost)".into(),
            target: "≤ the record's lag (120 s)".into(),
            measured: format!("{:.1} s", lost.p99_secs),
            met: lost.p99_secs <= 120.0,
        });
        report["next_ring"] = json!({
            "events_on": rows[0].1,
            "events_lost": rows[1].1,
        });
    }
    if args.only.iter().any(|o| o == "alertmanager") {
        eprintln!("== side by side with Prometheus Alertmanager");
        let opts = ringdown_proof::alertmanager::CompareOptions {
            ringdown_bin: ringdown.clone(),
            alertmanager_bin: args.alertmanager.clone(),
            alerts: args.alerts,
            systems: 30,
            per_post: 100,
            concurrency: 4,
            work_dir: args.out.join("alertmanager"),
        };
        std::fs::create_dir_all(&opts.work_dir)?;
        let c = ringdown_proof::alertmanager::compare(&opts).await?;
        md.push_str("## Ingest side by side with Prometheus Alertmanager\n\n");
        md.push_str(&c.markdown());
        md.push('\n');
        report["alertmanager"] = serde_json::to_value(&c)?;
    }
    if let Some(core) = core_pipeline_figure() {
        report["core_pipeline"] = core;
    }
    md.push_str("## Targets\n\n| figure | target | measured | met |\n|---|---|---|---|\n");
    for t in &targets {
        md.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            t.name,
            t.target,
            t.measured,
            if t.met { "yes" } else { "**no**" }
        ));
    }
    report["targets"] = serde_json::to_value(&targets)?;
    report["finished_at"] = json!(chrono::Utc::now().to_rfc3339());
    std::fs::write(
        args.out.join("report.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    std::fs::write(args.out.join("report.md"), &md)?;
    println!("{md}");
    eprintln!(
        "wrote {} and {}",
        args.out.join("report.json").display(),
        args.out.join("report.md").display()
    );
    Ok(())
}

/// The machine the figures came from.
fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
            })
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines().next().map(|l| {
                l.split_whitespace()
                    .nth(1)
                    .unwrap_or("0")
                    .parse::<u64>()
                    .unwrap_or(0)
            })
        })
        .unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    json!({
        "cpu": cpu,
        "cores": cores,
        "memory_gib": (mem as f64 / 1024.0 / 1024.0 * 10.0).round() / 10.0,
        "kernel": kernel.trim(),
        "summary": format!("{cores} × {cpu}, {:.0} GiB, Linux {}", mem as f64 / 1024.0 / 1024.0, kernel.trim()),
    })
}

/// The criterion figure of the core pipeline, when `cargo bench` ran before.
fn core_pipeline_figure() -> Option<Value> {
    let p = PathBuf::from("target/criterion");
    if !p.exists() {
        return None;
    }
    let mut out = serde_json::Map::new();
    for entry in walk(&p) {
        if entry.ends_with("new/estimates.json") {
            let v: Value = serde_json::from_str(&std::fs::read_to_string(&entry).ok()?).ok()?;
            let name = entry
                .strip_prefix(&p)
                .ok()?
                .to_string_lossy()
                .trim_end_matches("/new/estimates.json")
                .to_string();
            out.insert(name, json!({"mean_ns": v["mean"]["point_estimate"]}));
        }
    }
    Some(Value::Object(out))
}

fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

async fn stage(
    name: &str,
    ringdown: &PathBuf,
    roster: &str,
    max_live_calls: usize,
) -> Result<Stage> {
    let mut opts = StageOptions::new(
        name,
        ringdown,
        roster,
        &format!("default: {PRESS_1}\npersonas: {{}}\n"),
    )
    .config(&format!(
        r#"
[aws.sqs]
wait_time_secs = 20
[dialer]
max_live_calls = {max_live_calls}
"#
    ));
    // Amazon Connect's default quotas, as connect-sim enforces them.
    opts.quotas = Quotas {
        max_concurrent_calls: max_live_calls,
        ..Quotas::default()
    };
    opts.time_scale = 20.0;
    Stage::start(opts)
        .await
        .context("moto is not running: use bench/run.sh")
}

/// Waits for the daemon's `/readyz`.
async fn ready(stage: &Stage, name: &str) -> Result<()> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        if let Some(addr) = stage.ops_addr(name) {
            if http_get(&addr, "/readyz")
                .await
                .is_ok_and(|(s, _)| s == 200)
            {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("daemon {name} not ready:\n{}", stage.log(name))
}

async fn http_get(addr: &str, path: &str) -> Result<(u16, String)> {
    let (status, body) = Http::new(addr.parse()?).get(path).await?;
    Ok((status.as_u16(), body))
}

/// Nearest-rank percentile, as the monthly report computes it; NaN for none.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    ringdown_core::report::percentile(sorted, p).unwrap_or(f64::NAN)
}

/// One alert at a time, each for a new system (so a new incident and a
/// call), spaced wider than the dial rate so the bucket never queues: the
/// time from SendMessage returning to connect-sim receiving the call.
async fn latency(ringdown: &PathBuf, samples: usize, max_live_calls: usize) -> Result<Value> {
    let mut stage = stage(
        "latency",
        ringdown,
        &team_per_system("lat", samples, 1),
        max_live_calls,
    )
    .await?;
    stage.spawn("a");
    ready(&stage, "a").await?;
    let mut sent_at: BTreeMap<String, i64> = BTreeMap::new();
    for i in 0..samples {
        let system = format!("lat{i:03}");
        stage
            .send(ringdown_proof::alerts::webhook(&system, i, 1, "firing"))
            .await;
        sent_at.insert(system, chrono::Utc::now().timestamp_millis());
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while stage.sim.calls().len() < samples && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let incidents = stage.incidents().await;
    let system_of: BTreeMap<String, String> = incidents
        .iter()
        .map(|i| (i.id.clone(), i.group_key.clone()))
        .collect();
    let mut lat: Vec<f64> = Vec::new();
    for c in stage.sim.calls() {
        let Some(inc) = c.attributes.get("rd_incident") else {
            continue;
        };
        let Some(key) = system_of.get(inc) else {
            continue;
        };
        let Some(system) = sent_at.keys().find(|s| key.contains(s.as_str())) else {
            continue;
        };
        lat.push((c.initiated_unix_ms - sent_at[system]) as f64);
    }
    if lat.len() < samples {
        bail!("only {} of {samples} calls were placed", lat.len());
    }
    lat.sort_by(|a, b| a.total_cmp(b));
    stage.stop("a");
    Ok(json!({
        "samples": lat.len(),
        "p50_ms": percentile(&lat, 50.0),
        "p90_ms": percentile(&lat, 90.0),
        "p99_ms": percentile(&lat, 99.0),
        "max_ms": lat.last(),
        "min_ms": lat.first(),
    }))
}

#[cfg(test)]
mod tests {
    use super::queued_dial_rate;

    #[test]
    fn only_calls_that_waited_count_towards_the_dial_rate() {
        // Four burst calls, then three calls queued 500 ms apart, then a
        // call for an incident that opened long after: not queued.
        let calls = [
            (0, 0),
            (10, 0),
            (20, 0),
            (30, 0),
            (530, 0),
            (1030, 0),
            (1530, 0),
            (9000, 8990),
        ];
        assert_eq!(queued_dial_rate(&calls, 4), Some(2.0));
        assert_eq!(queued_dial_rate(&calls[..6], 4), None);
    }
}

#[derive(Debug, Serialize)]
struct StormResult {
    alerts: usize,
    systems: usize,
    messages: usize,
    alerts_per_message: usize,
    /// Connect's concurrent-call quota and ringdown's live-call cap.
    max_live_calls: usize,
    /// Sending the storm into SQS (SendMessageBatch, 4 senders).
    send_secs: f64,
    /// First SendMessageBatch to the first call reaching Connect.
    time_to_first_call_ms: f64,
    /// First SendMessageBatch until every alert is in an incident.
    all_grouped_secs: f64,
    alerts_per_sec: f64,
    calls: usize,
    /// Calls per second while calls were waiting to be placed (see
    /// `queued_dial_rate`).
    dial_rate_per_sec: Option<f64>,
    quota_per_sec: f64,
    dial_rate_vs_quota: Option<f64>,
    throttles: u64,
    connect_errors: BTreeMap<String, u64>,
    peak_live_calls: usize,
    sqs_requests: f64,
    dynamodb_requests: f64,
    kinesis_requests: f64,
    aws_requests_per_alert: f64,
    idle_rss_bytes: u64,
    peak_rss_bytes: u64,
    peak_rss_kernel_bytes: u64,
    cpu_secs: f64,
    alerts_accounted: usize,
    queue_left: u64,
    dlq: u64,
}

async fn storm_run(
    ringdown: &PathBuf,
    alerts: usize,
    systems: usize,
    per_message: usize,
    max_live_calls: usize,
) -> Result<StormResult> {
    let mut stage = stage(
        &format!("storm{systems}"),
        ringdown,
        &roster(),
        max_live_calls,
    )
    .await?;
    stage.spawn("a");
    ready(&stage, "a").await?;
    let pid = stage.pid("a").context("daemon pid")?;
    // Idle: settled after start-up, long-polling an empty queue.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let idle_rss = proc_status_bytes(pid, "VmRSS").unwrap_or(0);
    let cpu0 = cpu_time(pid).unwrap_or_default();
    let addr = stage.ops_addr("a").context("metrics address")?;
    let before = http_get(&addr, "/metrics").await?.1;
    let sampler = RssSampler::start(pid);
    let bodies = storm(alerts, systems, per_message);
    let messages = bodies.len();
    let t0 = Instant::now();
    let t0_ms = chrono::Utc::now().timestamp_millis();
    let sqs = stage.sqs();
    let queue = stage.report.queue_url.clone();
    let mut senders = tokio::task::JoinSet::new();
    for part in split(bodies, 4) {
        let sqs = sqs.clone();
        let queue = queue.clone();
        senders.spawn(async move {
            ringdown_proof::stage::send_batch(&sqs, &queue, &part).await;
        });
    }
    while let Some(r) = senders.join_next().await {
        r?;
    }
    let send_secs = t0.elapsed().as_secs_f64();
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut grouped_at = None;
    loop {
        let incs = stage.incidents().await;
        let n: usize = incs.iter().map(|i| i.firing.len()).sum();
        if n >= alerts && incs.len() >= systems {
            grouped_at = Some(t0.elapsed());
            break;
        }
        if Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let Some(grouped) = grouped_at else {
        bail!(
            "the storm was not grouped within 10 minutes:\n{}",
            stage.log("a")
        );
    };
    let after = http_get(&addr, "/metrics").await?.1;
    // Every call goes out (30 systems at 2/s take ~15 s).
    let deadline = Instant::now() + Duration::from_secs(120);
    while stage.sim.calls().len() < systems && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let peak_rss = sampler.peak();
    let hwm = proc_status_bytes(pid, "VmHWM").unwrap_or(0);
    let cpu = cpu_time(pid).unwrap_or_default().saturating_sub(cpu0);
    let opened: BTreeMap<String, i64> = stage
        .incidents()
        .await
        .iter()
        .map(|i| (i.id.clone(), i.opened_at.timestamp_millis()))
        .collect();
    // (placed, incident opened), in the order placed.
    let mut calls: Vec<(i64, i64)> = stage
        .sim
        .calls()
        .iter()
        .map(|c| {
            let inc = c.attributes.get("rd_incident").cloned().unwrap_or_default();
            (c.initiated_unix_ms, opened.get(&inc).copied().unwrap_or(0))
        })
        .collect();
    calls.sort();
    let times: Vec<i64> = calls.iter().map(|c| c.0).collect();
    let quotas = Quotas::default();
    let dial_rate = queued_dial_rate(&calls, 4);
    let delta = |svc: &str| {
        metric_sum(&after, "ringdown_aws_requests_total", &[("service", svc)]).unwrap_or(0.0)
            - metric_sum(&before, "ringdown_aws_requests_total", &[("service", svc)]).unwrap_or(0.0)
    };
    let (sqs_n, ddb_n, kin_n) = (delta("sqs"), delta("dynamodb"), delta("kinesis"));
    let errors = stage.sim.errors();
    let throttles = [
        "TooManyRequestsException",
        "LimitExceededException",
        "ThrottlingException",
    ]
    .iter()
    .map(|k| errors.get(*k).copied().unwrap_or(0))
    .sum();
    let incs = stage.incidents().await;
    let accounted: usize = incs.iter().map(|i| i.firing.len()).sum();
    let queue_left = stage.queue_depth(&stage.report.queue_url).await;
    let dlq = stage.queue_depth(&stage.report.dlq_url).await;
    stage.stop("a");
    Ok(StormResult {
        alerts,
        systems,
        messages,
        alerts_per_message: per_message,
        max_live_calls,
        send_secs,
        time_to_first_call_ms: times.first().map_or(f64::NAN, |t| (t - t0_ms) as f64),
        all_grouped_secs: grouped.as_secs_f64(),
        alerts_per_sec: alerts as f64 / grouped.as_secs_f64(),
        calls: times.len(),
        dial_rate_per_sec: dial_rate,
        quota_per_sec: quotas.rate_per_sec,
        dial_rate_vs_quota: dial_rate.map(|r| r / quotas.rate_per_sec),
        throttles,
        connect_errors: errors,
        peak_live_calls: stage.sim.peak_live_calls(),
        sqs_requests: sqs_n,
        dynamodb_requests: ddb_n,
        kinesis_requests: kin_n,
        aws_requests_per_alert: (sqs_n + ddb_n) / alerts as f64,
        idle_rss_bytes: idle_rss,
        peak_rss_bytes: peak_rss,
        peak_rss_kernel_bytes: hwm,
        cpu_secs: cpu.as_secs_f64(),
        alerts_accounted: accounted,
        queue_left,
        dlq,
    })
}

/// Calls per second while calls were queued: call `i` was queued when its
/// incident had opened before call `i - 1` went out (it waited behind it).
/// Over every run of queued calls, calls / time since the call before the
/// run; the first `burst` calls are left out (the bucket starts full, which
/// would flatter the rate). `None` when no call ever waited.
fn queued_dial_rate(calls: &[(i64, i64)], burst: usize) -> Option<f64> {
    let (mut n, mut span_ms) = (0usize, 0i64);
    for i in burst.max(1)..calls.len() {
        if calls[i].1 <= calls[i - 1].0 {
            n += 1;
            span_ms += calls[i].0 - calls[i - 1].0;
        }
    }
    (n >= 3 && span_ms > 0).then(|| n as f64 / (span_ms as f64 / 1000.0))
}

fn split(v: Vec<String>, n: usize) -> Vec<Vec<String>> {
    let mut parts: Vec<Vec<String>> = vec![Vec::new(); n];
    for (i, chunk) in v.chunks(10).enumerate() {
        parts[i % n].extend_from_slice(chunk);
    }
    parts
}

fn mib(b: u64) -> f64 {
    b as f64 / 1024.0 / 1024.0
}

fn storm_markdown(r: &StormResult) -> String {
    format!(
        "## Storm: {} alerts over {} systems\n\n\
         {} SQS messages of {} alerts; live-call cap {}. \
         Sent in {:.1} s; every alert grouped after **{:.1} s** ({:.0} alerts/s end to end); \
         first call after **{:.0} ms**; {} calls.\n\n\
         | figure | value |\n|---|---|\n\
         | dial rate while queued | {} (quota {:.1}/s) |\n\
         | throttles from Connect | {} |\n\
         | peak live calls | {} |\n\
         | SQS + DynamoDB requests | {:.0} + {:.0} = **{:.3} per alert** (Kinesis {:.0}) |\n\
         | RSS idle / peak (sampled) / peak (kernel) | {:.1} / {:.1} / {:.1} MiB |\n\
         | CPU time | {:.2} s |\n\
         | alerts accounted for | {} of {} (queue left {}, DLQ {}) |\n\n",
        r.alerts,
        r.systems,
        r.messages,
        r.alerts_per_message,
        r.max_live_calls,
        r.send_secs,
        r.all_grouped_secs,
        r.alerts_per_sec,
        r.time_to_first_call_ms,
        r.calls,
        r.dial_rate_per_sec
            .map_or("n/a (no queue)".to_string(), |v| format!("{v:.2}/s")),
        r.quota_per_sec,
        r.throttles,
        r.peak_live_calls,
        r.sqs_requests,
        r.dynamodb_requests,
        r.aws_requests_per_alert,
        r.kinesis_requests,
        mib(r.idle_rss_bytes),
        mib(r.peak_rss_bytes),
        mib(r.peak_rss_kernel_bytes),
        r.cpu_secs,
        r.alerts_accounted,
        r.alerts,
        r.queue_left,
        r.dlq
    )
}

fn push_storm_targets(t: &mut Vec<Target>, r: &StormResult, systems: usize) {
    let name = |s: &str| format!("{s} ({systems} systems)");
    if let Some(v) = r.dial_rate_vs_quota {
        t.push(Target {
            name: name("dial rate vs quota while queued"),
            target: "≥ 95 %".into(),
            measured: format!("{:.1} %", v * 100.0),
            met: v >= 0.95,
        });
    }
    t.push(Target {
        name: name("throttles received"),
        target: "0".into(),
        measured: r.throttles.to_string(),
        met: r.throttles == 0,
    });
    t.push(Target {
        name: name("AWS requests per alert (SQS + DynamoDB)"),
        target: "≤ 0.3".into(),
        measured: format!("{:.3}", r.aws_requests_per_alert),
        met: r.aws_requests_per_alert <= 0.3,
    });
    t.push(Target {
        name: name("peak RSS"),
        target: "≤ 64 MB".into(),
        measured: format!(
            "{:.1} MiB",
            mib(r.peak_rss_bytes.max(r.peak_rss_kernel_bytes))
        ),
        met: r.peak_rss_bytes.max(r.peak_rss_kernel_bytes) <= 64 * 1024 * 1024,
    });
    t.push(Target {
        name: name("idle RSS"),
        target: "≤ 20 MiB".into(),
        measured: format!("{:.1} MiB", mib(r.idle_rss_bytes)),
        met: r.idle_rss_bytes <= 20 * 1024 * 1024,
    });
    t.push(Target {
        name: name("every alert accounted for"),
        target: format!("{}", r.alerts),
        measured: format!(
            "{} (queue {}, DLQ {})",
            r.alerts_accounted, r.queue_left, r.dlq
        ),
        met: r.alerts_accounted == r.alerts && r.queue_left == 0 && r.dlq == 0,
    });
}

/// One engineer per system, each with a policy of their own: a storm over
/// 30 systems calls 30 different people, each once.
fn roster_per_system(systems: usize) -> (String, Vec<String>) {
    let mut people = String::new();
    let mut policies = String::new();
    let mut numbers = Vec::new();
    for i in 0..systems {
        let number = format!("+1415556{i:04}");
        people.push_str(&format!(
            "  eng{i:02}: {{ language: en-US, phones: [{{ number: \"{number}\" }}] }}\n"
        ));
        policies.push_str(&format!(
            "  - name: sys{i:02}\n    match: {{ systemname: sys{i:02} }}\n    group_by: [systemname]\n    group_wait_secs: 0\n    steps:\n      - targets: [person:eng{i:02}]\n      - targets: [person:backup]\n"
        ));
        numbers.push(number);
    }
    let yaml = format!(
        "timezone: UTC\npeople:\n{people}  backup: {{ language: en-US, phones: [{{ number: \"+14155559999\" }}] }}\npolicies:\n{policies}"
    );
    (yaml, numbers)
}

#[derive(Debug, Serialize)]
struct RealTimingStorm {
    systems: usize,
    time_scale: f64,
    max_live_calls: usize,
    calls: usize,
    one_call_per_incident: bool,
    nobody_else_rung: bool,
    unknown_outcomes: usize,
    /// Mean length of a call as Connect saw it (placed → disconnected), s.
    mean_call_secs: f64,
    /// min(API quota, live calls ÷ call length), calls per second.
    binding_limit_per_sec: f64,
    binding_limit_is: String,
    dial_rate_per_sec: Option<f64>,
    dial_rate_vs_binding: Option<f64>,
    peak_live_calls: usize,
    throttles: u64,
    contact_events_dropped: usize,
    /// First alert sent → last incident acknowledged, s.
    all_acknowledged_secs: f64,
    /// A call ends → the call waiting for its slot reaches Connect: the
    /// k-th queued call against the k-th call end, seconds (p50, p90, max).
    slot_refill_secs: [f64; 3],
}

/// 30 systems fail at once; every first engineer answers after ~20 s and
/// presses 1 (calls of ~35 s); 10 live calls; contact records 60-120 s
/// late and Connect's default share of contact events lost.
async fn real_timing_storm(
    ringdown: &PathBuf,
    max_live_calls: usize,
    time_scale: f64,
) -> Result<RealTimingStorm> {
    let systems = 30;
    let (roster, numbers) = roster_per_system(systems);
    let answers = r#"{ answer_after_secs: 20, keys: [{key: "5", delay_secs: 1}, {key: "1", delay_secs: 1}] }"#;
    let mut opts = StageOptions::new(
        "realtime",
        ringdown,
        &roster,
        &format!("default: {answers}\npersonas: {{}}\n"),
    )
    .config(&format!(
        "[aws.sqs]\nwait_time_secs = 20\n[dialer]\nmax_live_calls = {max_live_calls}\n"
    ));
    opts.quotas = Quotas {
        max_concurrent_calls: max_live_calls,
        ..Quotas::default()
    };
    opts.time_scale = time_scale;
    opts.event_drop_probability = connect_sim::ContactEvents::default().drop_probability;
    let mut stage = Stage::start(opts)
        .await
        .context("moto is not running: use bench/run.sh")?;
    stage.spawn("a");
    ready(&stage, "a").await?;
    let bodies: Vec<String> = (0..systems)
        .map(|i| ringdown_proof::alerts::webhook(&format!("sys{i:02}"), 0, 1, "firing"))
        .collect();
    let t0 = Instant::now();
    stage.send_batch(bodies).await;
    let deadline = Instant::now() + Duration::from_secs_f64(900.0 / time_scale.clamp(0.05, 1.0));
    loop {
        let p = stage.phases().await;
        if p.len() == systems
            && p.iter()
                .all(|p| *p == ringdown_core::escalation::Phase::Acknowledged)
        {
            break;
        }
        if Instant::now() > deadline {
            bail!("the real-timing storm did not finish:\n{}", stage.log("a"));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let all_acked = t0.elapsed().as_secs_f64();
    let calls = stage.sim.calls();
    let incs = stage.incidents().await;
    let opened: BTreeMap<String, i64> = incs
        .iter()
        .map(|i| (i.id.clone(), i.opened_at.timestamp_millis()))
        .collect();
    let per_incident: std::collections::BTreeSet<String> = calls
        .iter()
        .filter_map(|c| c.attributes.get("rd_incident").cloned())
        .collect();
    let unknown = incs
        .iter()
        .flat_map(|i| ringdown_proof::alerts::outcomes(i))
        .filter(|o| *o == "UNKNOWN")
        .count();
    let lengths: Vec<f64> = calls
        .iter()
        .filter_map(|c| {
            c.ended_unix_ms
                .map(|e| (e - c.initiated_unix_ms) as f64 / 1000.0)
        })
        .collect();
    let mean_call = lengths.iter().sum::<f64>() / lengths.len().max(1) as f64;
    let quota = Quotas::default().rate_per_sec;
    let by_live = max_live_calls as f64 / mean_call;
    let (binding, binding_is) = if by_live < quota {
        (
            by_live,
            format!("{max_live_calls} live calls ÷ {mean_call:.1} s"),
        )
    } else {
        (quota, format!("API quota {quota}/s"))
    };
    let mut placed: Vec<(i64, i64)> = calls
        .iter()
        .map(|c| {
            let inc = c.attributes.get("rd_incident").cloned().unwrap_or_default();
            (c.initiated_unix_ms, opened.get(&inc).copied().unwrap_or(0))
        })
        .collect();
    placed.sort();
    // The first `max_live_calls` calls fill the empty slots at the quota's
    // pace; from then on every call waited for a slot.
    let dial_rate = queued_dial_rate(&placed, max_live_calls);
    let mut ends: Vec<i64> = calls.iter().filter_map(|c| c.ended_unix_ms).collect();
    ends.sort();
    let mut refill: Vec<f64> = placed
        .iter()
        .skip(max_live_calls)
        .zip(ends.iter())
        .map(|((start, _), end)| (start - end) as f64 / 1000.0)
        .collect();
    refill.sort_by(|a, b| a.total_cmp(b));
    let errors = stage.sim.errors();
    let throttles = errors.values().sum();
    let r = RealTimingStorm {
        systems,
        time_scale,
        max_live_calls,
        calls: calls.len(),
        one_call_per_incident: per_incident.len() == calls.len(),
        nobody_else_rung: calls
            .iter()
            .all(|c| numbers.contains(&c.destination_phone_number)),
        unknown_outcomes: unknown,
        mean_call_secs: mean_call,
        binding_limit_per_sec: binding,
        binding_limit_is: binding_is,
        dial_rate_per_sec: dial_rate,
        dial_rate_vs_binding: dial_rate.map(|d| d / binding),
        peak_live_calls: stage.sim.peak_live_calls(),
        throttles,
        contact_events_dropped: stage.sim.dropped_events(),
        all_acknowledged_secs: all_acked,
        slot_refill_secs: [
            percentile(&refill, 50.0),
            percentile(&refill, 90.0),
            refill.last().copied().unwrap_or(f64::NAN),
        ],
    };
    stage.stop("a");
    Ok(r)
}

fn real_timing_markdown(r: &RealTimingStorm) -> String {
    format!(
        "## 30 systems on Connect's real timing\n\n\
         Every first engineer answers after 20 s and presses 1 (calls of **{:.1} s** on average); \
         {} live calls; contact records 60-120 s after each call; {} contact events lost \
         (Connect's are best effort); time scale {}.\n\n\
         | figure | value |\n|---|---|\n\
         | calls | {} ({}one per incident, {}nobody else rung) |\n\
         | UNKNOWN outcomes | {} |\n\
         | binding limit | {:.3}/s ({}) |\n\
         | dial rate while calls waited for a slot | {} |\n\
         | share of the binding limit | {} |\n\
         | peak live calls / throttles | {} / {} |\n\
         | a call ends → the next waiting call reaches Connect (p50 / p90 / max) | {:.2} / {:.2} / {:.2} s |\n\
         | first alert → all 30 acknowledged | {:.1} s |\n\n",
        r.mean_call_secs,
        r.max_live_calls,
        r.contact_events_dropped,
        r.time_scale,
        r.calls,
        if r.one_call_per_incident { "" } else { "NOT " },
        if r.nobody_else_rung { "" } else { "NOT: someone else was " },
        r.unknown_outcomes,
        r.binding_limit_per_sec,
        r.binding_limit_is,
        r.dial_rate_per_sec.map_or("n/a".into(), |v| format!("{v:.3}/s")),
        r.dial_rate_vs_binding.map_or("n/a".into(), |v| format!("**{:.1} %**", v * 100.0)),
        r.peak_live_calls,
        r.throttles,
        r.slot_refill_secs[0],
        r.slot_refill_secs[1],
        r.slot_refill_secs[2],
        r.all_acknowledged_secs
    )
}

#[derive(Debug, Serialize)]
struct NextRing {
    samples: usize,
    event_drop_probability: f64,
    time_scale: f64,
    p50_secs: f64,
    p90_secs: f64,
    p99_secs: f64,
    max_secs: f64,
}

/// Incidents whose first engineer's phone goes to voicemail and whose
/// second presses 1: the time from the first call's end (as Connect saw
/// it) to the second call reaching Connect.
async fn next_ring(
    ringdown: &PathBuf,
    samples: usize,
    event_drop: f64,
    time_scale: f64,
) -> Result<NextRing> {
    let roster = team_per_system("nr", samples, 2);
    let first: Vec<String> = (0..samples).map(|i| team_phone(0, i)).collect();
    let second: Vec<String> = (0..samples).map(|i| team_phone(1, i)).collect();
    let voicemails: String = first
        .iter()
        .map(|n| format!("  \"{n}\": {{ voicemail: {{ answer_after_secs: 3 }} }}\n"))
        .collect();
    let personas = format!("default: {PRESS_1}\npersonas:\n{voicemails}");
    let mut opts = StageOptions::new(
        if event_drop > 0.5 {
            "nextring-lost"
        } else {
            "nextring-on"
        },
        ringdown,
        &roster,
        &personas,
    )
    .config("[aws.sqs]\nwait_time_secs = 20\n[dialer]\nmax_live_calls = 30\n");
    opts.quotas = Quotas {
        max_concurrent_calls: 30,
        ..Quotas::default()
    };
    opts.time_scale = time_scale;
    opts.event_drop_probability = event_drop;
    let mut stage = Stage::start(opts)
        .await
        .context("moto is not running: use bench/run.sh")?;
    stage.spawn("a");
    ready(&stage, "a").await?;
    for i in 0..samples {
        stage
            .send(ringdown_proof::alerts::webhook(
                &format!("nr{i:03}"),
                0,
                1,
                "firing",
            ))
            .await;
        // Wider than the dial rate, so no call waits for the bucket.
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    let deadline = Instant::now() + Duration::from_secs_f64(600.0 / time_scale.clamp(0.05, 1.0));
    while stage
        .sim
        .calls()
        .iter()
        .filter(|c| second.contains(&c.destination_phone_number))
        .count()
        < samples
    {
        if Instant::now() > deadline {
            bail!(
                "not every incident reached its second engineer:\n{}",
                stage.log("a")
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let calls = stage.sim.calls();
    let mut gaps: Vec<f64> = Vec::new();
    for c in calls
        .iter()
        .filter(|c| first.contains(&c.destination_phone_number))
    {
        let inc = &c.attributes["rd_incident"];
        let next = calls.iter().find(|n| {
            second.contains(&n.destination_phone_number) && &n.attributes["rd_incident"] == inc
        });
        if let (Some(end), Some(next)) = (c.ended_unix_ms, next) {
            gaps.push((next.initiated_unix_ms - end) as f64 / 1000.0 * time_scale);
        }
    }
    gaps.sort_by(|a, b| a.total_cmp(b));
    stage.stop("a");
    Ok(NextRing {
        samples: gaps.len(),
        event_drop_probability: event_drop,
        time_scale,
        p50_secs: percentile(&gaps, 50.0),
        p90_secs: percentile(&gaps, 90.0),
        p99_secs: percentile(&gaps, 99.0),
        max_secs: gaps.last().copied().unwrap_or(f64::NAN),
    })
}

fn next_ring_markdown(rows: &[(&str, NextRing)]) -> String {
    let mut md = String::from(
        "## Call ended → next person's phone rings\n\n\
         The first engineer's phone goes to voicemail, the second presses 1; from the first \
         call's end (as Connect saw it) to the second call reaching Connect. Contact records \
         arrive 60-120 s after a call.\n\n\
         | contact events | samples | p50 | p90 | p99 | max |\n|---|---|---|---|---|---|\n",
    );
    for (label, r) in rows {
        md.push_str(&format!(
            "| {label} | {} | {:.2} s | {:.2} s | **{:.2} s** | {:.2} s |\n",
            r.samples, r.p50_secs, r.p90_secs, r.p99_secs, r.max_secs
        ));
    }
    md.push('\n');
    md
}
