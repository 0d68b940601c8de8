//! Core pipeline throughput (target: ≥ 200,000 alerts/s on one core):
//! parse + fingerprint + silence match against 1,000 silences + grouping
//! (routing to a policy of a realistic roster and collecting fingerprints per
//! group key), as the worker does for every message it receives.
//!
//! `cargo bench -p ringdown-core --bench pipeline`; throughput is in alerts.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ringdown_core::grouping::route;
use ringdown_core::matcher::Matcher;
use ringdown_core::parse::parse;
use ringdown_core::roster::Roster;
use ringdown_core::silence::{Silence, SilenceIndex};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::hint::black_box;
use std::time::Duration;

// The allocator the daemon runs with (see crates/ringdown/src/main.rs): a
// third of the parse was glibc's malloc and free.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

const NOW: i64 = 1_714_564_800; // 2024-05-01T12:00:00Z
const MESSAGES: usize = 20;
const ALERTS_PER_MESSAGE: usize = 50;
const SILENCES: usize = 1_000;

const SYSTEMS: [&str; 3] = ["web", "db", "api"];
const ALERTNAMES: [&str; 8] = [
    "HighLatency",
    "HighErrorRate",
    "InstanceDown",
    "DiskFull",
    "CPUSaturated",
    "MemoryPressure",
    "ReplicationLag",
    "CertificateExpiry",
];

/// One Alertmanager v4 webhook as it arrives on the queue: a group of alerts
/// from one broken line, mostly firing, some resolved. With `fingerprints`
/// false the alerts carry none (as generic senders), so it is computed.
fn webhook(msg: usize, fingerprints: bool) -> Vec<u8> {
    let system = SYSTEMS[msg % SYSTEMS.len()];
    let alertname = ALERTNAMES[msg % ALERTNAMES.len()];
    let alerts: Vec<Value> = (0..ALERTS_PER_MESSAGE)
        .map(|i| {
            let n = msg * ALERTS_PER_MESSAGE + i;
            let resolved = i % 10 == 9;
            let mut a = json!({
                "status": if resolved { "resolved" } else { "firing" },
                "labels": {
                    "alertname": alertname,
                    "systemname": system,
                    "instance": format!("{system}-{n:04}.prod.internal:9100"),
                    "job": "node",
                    "severity": if i % 3 == 0 { "critical" } else { "warning" },
                    "namespace": "production",
                    "region": "ap-northeast-1",
                    "team": "platform",
                },
                "annotations": {
                    "summary": format!("{alertname} on {system}-{n:04}"),
                    "description": format!("{alertname}: value 97.3 above threshold 90 for 5m on {system}-{n:04}.prod.internal"),
                    "runbook_url": format!("https://runbooks.example.com/{alertname}"),
                },
                "startsAt": "2024-05-01T11:58:30.123456789Z",
                "endsAt": if resolved { "2024-05-01T12:00:00Z" } else { "0001-01-01T00:00:00Z" },
                "generatorURL": format!("http://prometheus-0:9090/graph?g0.expr=node_load1%7Binstance%3D%22{system}-{n:04}%22%7D&g0.tab=1"),
            });
            if fingerprints {
                a["fingerprint"] = json!(format!("{:016x}", 0x9e37_79b9_7f4a_7c15u64.wrapping_mul(n as u64 + 1)));
            }
            a
        })
        .collect();
    json!({
        "version": "4",
        "groupKey": format!("{{}}:{{alertname=\"{alertname}\", systemname=\"{system}\"}}"),
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "ringdown",
        "groupLabels": {"alertname": alertname, "systemname": system},
        "commonLabels": {"alertname": alertname, "systemname": system, "job": "node"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager-0:9093",
        "alerts": alerts,
    })
    .to_string()
    .into_bytes()
}

/// 1,000 silences as an SRE team accumulates them: most on one instance, some
/// on an alert per system (with a regex), a few regex-only, a third expired.
/// About one alert in fifty is silenced.
fn silences() -> Vec<Silence> {
    (0..SILENCES)
        .map(|i| {
            let system = SYSTEMS[i % SYSTEMS.len()];
            let m: Vec<String> = match i % 20 {
                0 => vec![
                    format!("instance=~\"batch-{i}-.*\""),
                    "severity!=info".into(),
                ],
                1 | 2 => vec![
                    format!("alertname={}", ALERTNAMES[i % ALERTNAMES.len()]),
                    format!("systemname={system}"),
                    format!("instance=~\"{system}-0{:03}.*\"", i % 1000),
                ],
                _ => vec![
                    format!(
                        "instance=\"{system}-{:04}.prod.internal:9100\"",
                        (i * 7) % 2000
                    ),
                    "job=node".into(),
                ],
            };
            let expired = i % 3 == 0;
            Silence {
                id: format!("s-{i}"),
                matchers: m.iter().map(|m| Matcher::parse(m).unwrap()).collect(),
                starts_at: NOW - 3600,
                ends_at: if expired {
                    NOW - 60
                } else {
                    NOW + 3600 + i as i64
                },
                created_by: "oncall@example.com".into(),
                reason: "maintenance".into(),
            }
        })
        .collect()
}

/// A roster as a team writes one: policies matched by system and severity,
/// grouped by system and alert name.
fn roster() -> Roster {
    Roster::from_yaml(
        r#"
timezone: Asia/Tokyo
people:
  alice: { phones: [{ number: "+819012345678" }] }
  bob:   { phones: [{ number: "+819012345679" }] }
policies:
  - name: databases
    match: { systemname: db }
    group_by: [systemname, alertname]
    steps: [{ targets: [person:alice] }, { targets: [person:bob] }]
  - name: critical
    match: { severity: critical }
    group_by: [systemname, alertname]
    steps: [{ targets: [person:bob] }, { targets: [person:alice] }]
  - name: default
    group_by: [systemname]
    steps: [{ targets: [person:alice] }]
"#,
    )
    .expect("bench roster")
}

/// The pipeline under test, per message: parse, fingerprint (inside parse),
/// silence check, and grouping of the alerts not silenced. Returns (alerts
/// seen, alerts silenced, groups).
fn pipeline_alerts(
    messages: &[Vec<u8>],
    silences: &SilenceIndex,
    roster: &Roster,
    now: i64,
) -> (usize, usize, usize) {
    let mut seen = 0;
    let mut silenced = 0;
    let mut groups: HashMap<String, Vec<String>> = HashMap::new();
    for body in messages {
        let alerts = parse(body).expect("bench payload parses");
        for alert in alerts {
            seen += 1;
            if silences.silenced_until(&alert.labels, now).is_some() {
                silenced += 1;
                continue;
            }
            if let Some(r) = route(roster, &alert) {
                groups
                    .entry(r.group_key)
                    .or_default()
                    .push(alert.fingerprint);
            }
        }
    }
    (seen, silenced, groups.len())
}

fn bench(c: &mut Criterion) {
    let index = SilenceIndex::new(silences());
    let roster = roster();
    let mut group =
        c.benchmark_group("parse + fingerprint + silence match against 1,000 silences + grouping");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for (name, fingerprints) in [
        ("alertmanager_webhook", true),
        ("no_sender_fingerprint", false),
    ] {
        let messages: Vec<Vec<u8>> = (0..MESSAGES).map(|m| webhook(m, fingerprints)).collect();
        let (seen, silenced, groups) = pipeline_alerts(&messages, &index, &roster, NOW);
        assert_eq!(seen, MESSAGES * ALERTS_PER_MESSAGE);
        assert!(groups >= SYSTEMS.len(), "{groups} groups");
        assert!(
            silenced > 0 && silenced < seen / 5,
            "silenced {silenced} of {seen}"
        );
        group.throughput(Throughput::Elements(seen as u64));
        group.bench_with_input(BenchmarkId::from_parameter(name), &messages, |b, msgs| {
            b.iter(|| pipeline_alerts(black_box(msgs), &index, &roster, NOW))
        });
    }
    // Breakdown of the same batch, to see where the time goes.
    let messages: Vec<Vec<u8>> = (0..MESSAGES).map(|m| webhook(m, true)).collect();
    let alerts: Vec<_> = messages.iter().flat_map(|m| parse(m).unwrap()).collect();
    group.throughput(Throughput::Elements(alerts.len() as u64));
    group.bench_function("parse_only", |b| {
        b.iter(|| {
            messages
                .iter()
                .map(|m| parse(black_box(m)).unwrap().len())
                .sum::<usize>()
        })
    });
    group.bench_function("silence_only", |b| {
        b.iter(|| {
            alerts
                .iter()
                .filter(|a| index.silenced_until(black_box(&a.labels), NOW).is_some())
                .count()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
