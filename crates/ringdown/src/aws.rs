//! `ringdown run` on AWS: SQS in, DynamoDB state, Amazon Connect calls,
//! Kinesis contact records, SNS fallback. Same engine as the embedded default.

use crate::commands::user;
use crate::config::Config;
use crate::daemon::{apply_roster, Mode};
use anyhow::{Context, Result};
use ringdown_aws::bootstrap::ResourceNames;
use ringdown_aws::clients::{client, sdk_config, AwsSettings};
use ringdown_aws::connect::{
    run_fallback, ConnectDialer, ConnectSettings, FallbackSettings, PendingCalls,
};
use ringdown_aws::contact_events::{ContactEventReader, ContactEventSettings};
use ringdown_aws::dynamodb::DynamoStore;
use ringdown_aws::kinesis::{CtrReader, CtrReaderSettings};
use ringdown_aws::service_time::ServiceTime;
use ringdown_aws::sns::SnsNotifier;
use ringdown_aws::sqs::{queue_url_or, NoticeQueue, SqsSource};
use ringdown_engine::gate::{bucket, CallGate};
use ringdown_engine::LeaseStore;
use ringdown_engine::{Clock, Dialer, Engine, EngineSettings, Ingest, Notifier, SteadyClock};
use ringdown_local::FileNotifier;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

/// Where the operations endpoints listen on AWS unless `[ops] listen` says.
const OPS_LISTEN: std::net::SocketAddr =
    std::net::SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 9096);

/// A name unique to this process: host name and process id.
pub fn default_instance_name() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "ringdown".into());
    format!("{host}-{}", std::process::id())
}

/// Runs the AWS daemon until `shutdown` completes: stops receiving, finishes
/// in-flight work, releases shard leases. A shadow run (`mode`) has no
/// Amazon Connect side (no dialer, no contact-record or contact-event
/// reader) and no fallback topic; SQS and DynamoDB are used as usual.
pub async fn run(
    cfg: Config,
    aws: AwsSettings,
    mode: Mode,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let sdk = sdk_config(&aws).await;
    let names = ResourceNames::from_prefix(&aws.table_prefix);
    let instance = cfg
        .instance_name
        .clone()
        .unwrap_or_else(default_instance_name);
    // Replicas compare the times they write (due times, dialling times,
    // lease expiries), so they keep AWS's time, read off DynamoDB's
    // answers, not each machine's own (see `service_time`).
    let service_time = ServiceTime::new();
    let store = Arc::new(DynamoStore::from_conf_timed(
        &sdk,
        &aws.table_prefix,
        &service_time,
    ));
    apply_roster(store.as_ref(), cfg.roster_file.as_deref()).await?;
    if let Some(offset) = service_time.offset() {
        info!(
            local_minus_aws_secs = -offset.num_milliseconds() as f64 / 1000.0,
            "keeping AWS's time"
        );
    }
    // Anchored once AWS's answers have set the offset, and without steps:
    // an NTP step or a resumed VM must neither fire every escalation timer
    // at once nor stall them (see `SteadyClock`).
    let clock: Arc<dyn Clock> = {
        let t = service_time.clone();
        Arc::new(SteadyClock::with_wall(move || t.now()))
    };

    let settings = EngineSettings {
        escalation: cfg.escalation.settings(cfg.connect.time_scale),
        max_live_calls: cfg.dialer.max_live_calls,
        takeover_after: Duration::from_secs(cfg.escalation.takeover_after_secs),
        instance: instance.clone(),
        ..EngineSettings::default()
    };
    let timing = settings.escalation.call_timing.clone();
    let max_hold = settings.max_call_hold();
    let gate = Arc::new(CallGate::new(
        bucket(cfg.dialer.rate_per_sec, cfg.dialer.burst),
        cfg.dialer.max_live_calls,
        max_hold,
    ));
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    // Amazon Connect and the calls it is followed on, when people are phoned.
    let mut connect = None;
    let mut shadow = None;
    let (dialer, notifier): (Arc<dyn Dialer>, Arc<dyn Notifier>) = match &mode {
        Mode::Live => {
            let pending = Arc::new(PendingCalls::with_clock(clock.clone()));
            let connect_settings = connect_settings(&cfg, &aws);
            let dialer = Arc::new(
                ConnectDialer::new(
                    client(&sdk),
                    connect_settings,
                    gate.bucket(),
                    pending.clone(),
                )
                .map_err(|e| user(e.to_string()))?,
            );
            let notifier: Arc<dyn Notifier> = match &aws.topic_arn {
                Some(arn) => Arc::new(SnsNotifier::new(client(&sdk), arn.clone())),
                None => {
                    info!(
                        "aws.topic_arn is not set: the fallback channel is the log and {:?}",
                        cfg.fallback.file
                    );
                    Arc::new(FileNotifier::new(cfg.fallback.file.clone(), clock.clone()))
                }
            };
            connect = Some((dialer.clone(), pending));
            (dialer, notifier)
        }
        Mode::Shadow(path) => {
            let s = crate::shadow::Shadow::start(
                path,
                store.clone(),
                clock.clone(),
                &timing,
                &instance,
                tx.clone(),
            )
            .await?;
            let parts: (Arc<dyn Dialer>, Arc<dyn Notifier>) =
                (s.dialer.clone(), s.notifier.clone());
            shadow = Some(s);
            parts
        }
    };
    let engine = Engine::new(
        store.clone(),
        dialer,
        notifier,
        clock.clone(),
        gate,
        rx,
        settings,
    );
    // Replicas tell each other whose phone is on a call.
    engine.share_lines(store.clone() as Arc<dyn LeaseStore>);
    let sqs = client(&sdk);
    let queue = queue_url_or(&sqs, aws.queue_url.as_deref(), &names.alert_queue)
        .await
        .with_context(|| {
            format!(
                "finding queue {} (set it in [aws], or run `ringdown aws bootstrap`)",
                names.alert_queue
            )
        })?;
    let dlq = queue_url_or(&sqs, aws.dlq_url.as_deref(), &names.alert_dlq)
        .await
        .ok();
    let source = SqsSource::new(sqs.clone(), queue.clone(), dlq, aws.sqs.clone());

    let token = CancellationToken::new();
    {
        let stop = token.clone();
        tokio::spawn(async move {
            shutdown.await;
            stop.cancel();
        });
    }
    info!(instance = %instance, queue = %queue, "ringdown is running on AWS");
    let ingest: Arc<dyn Ingest> = Arc::new(engine.clone());
    let sqs_task = {
        let t = token.clone();
        tokio::spawn(async move { source.run(ingest, t).await })
    };
    // How calls end: the contact records, the contact events, and asking
    // Connect about a call whose outcome is late.
    let mut readers = Vec::new();
    if let Some((dialer, pending)) = connect {
        let events = aws.contact_events_queue_url.as_deref();
        let events_queue = match queue_url_or(&sqs, events, &names.contact_events_queue).await {
            Ok(u) => Some(u),
            Err(e) => {
                warn!(error = %e, queue = %names.contact_events_queue, "no contact-event queue: each outcome waits for its contact record (one to two minutes after the call); run `ringdown aws bootstrap` to get outcomes within seconds");
                None
            }
        };
        let ctr = CtrReader::new(
            client(&sdk),
            store.clone() as Arc<dyn LeaseStore>,
            CtrReaderSettings {
                stream_name: aws
                    .stream_name
                    .clone()
                    .unwrap_or_else(|| names.ctr_stream.clone()),
                lease_ttl_secs: cfg.connect.lease_ttl_secs,
                poll_interval_ms: cfg.connect.ctr_poll_interval_ms,
                owner: instance.clone(),
                ..CtrReaderSettings::default()
            },
            tx.clone(),
            pending.clone(),
        )
        .with_clock(clock.clone());
        let t = token.clone();
        readers.push(tokio::spawn(async move {
            if let Err(e) = ctr.run(t.cancelled()).await {
                error!(error = %e, "contact-record reader stopped");
            }
        }));
        if let Some(url) = events_queue {
            let reader = ContactEventReader::new(
                NoticeQueue::new(sqs.clone(), url),
                dialer.clone(),
                pending.clone(),
                tx.clone(),
                ContactEventSettings {
                    wait_time_secs: aws.sqs.wait_time_secs,
                    ..ContactEventSettings::default()
                },
            );
            let t = token.clone();
            readers.push(tokio::spawn(async move { reader.run(t.cancelled()).await }));
        }
        // Connect is asked about a call whose outcome has not come once it
        // would usually be over (its contact event may be lost), then now
        // and then until shortly before the engine's outcome deadline.
        let std = |d: chrono::Duration| d.to_std().unwrap_or_default();
        let fallback = FallbackSettings {
            after: std(timing.probe_after()),
            interval: std(timing.probe_every()).max(Duration::from_millis(20)),
            give_up_after: std(timing.record_overdue_after())
                + std(timing.real_secs(timing.lookup_grace_secs)) * 9 / 10,
            ..FallbackSettings::default()
        };
        let t = token.clone();
        readers.push(tokio::spawn(run_fallback(
            dialer,
            pending,
            tx,
            fallback,
            async move { t.cancelled().await },
        )));
    }
    // The operations endpoints stay apart from the ingest on AWS: a load
    // balancer's health check must not reach /v1/alerts.
    let http_tasks =
        crate::daemon::serve_http(&cfg, engine.clone(), Some(OPS_LISTEN), token.clone()).await?;
    let engine_task = {
        let e = engine.clone();
        let t = token.clone();
        tokio::spawn(async move { e.run(t.cancelled()).await })
    };
    // On shutdown every loop stops taking new work at once; each then
    // finishes what it holds: the SQS batch in flight is ingested and
    // deleted, calls being placed complete, the reader releases its leases.
    sqs_task.await?;
    engine_task.await??;
    for t in readers {
        t.await?;
    }
    for t in http_tasks {
        t.await??;
    }
    if let Some(shadow) = shadow {
        shadow.stopped();
    }
    info!("ringdown stopped");
    Ok(())
}

/// How ringdown reaches Amazon Connect, from the configuration.
fn connect_settings(cfg: &Config, aws: &AwsSettings) -> ConnectSettings {
    ConnectSettings {
        instance_id: aws.connect_instance_id.clone().unwrap_or_default(),
        flow_id_ja: aws.connect_flow_ids.ja_jp.clone().unwrap_or_default(),
        flow_id_en: aws.connect_flow_ids.en_us.clone().unwrap_or_default(),
        source_phone_number: aws.source_phone_number.clone(),
        ring_timeout_secs: cfg.connect.ring_timeout_secs,
        max_retries: cfg.connect.max_retries,
        // Telephone time: a rehearsal's calls end sooner.
        unsure_retry_ms: ((ConnectSettings::default().unsure_retry_ms as f64
            / cfg.connect.time_scale.max(1.0))
        .round() as u64)
            .max(1),
        lookup_rate_per_sec: cfg.dialer.rate_per_sec,
        lookup_burst: cfg.dialer.burst,
        ..ConnectSettings::default()
    }
}

/// Hangs up contact `contact` (StopContact), outside the daemon: a call
/// `ringdown incident ack` stops when no daemon answered it.
pub async fn stop_contact(cfg: &Config, aws: &AwsSettings, contact: &str) -> Result<()> {
    let sdk = sdk_config(aws).await;
    let gate = CallGate::new(
        bucket(cfg.dialer.rate_per_sec, cfg.dialer.burst),
        1,
        Duration::from_secs(60),
    );
    let dialer = ConnectDialer::new(
        client(&sdk),
        connect_settings(cfg, aws),
        gate.bucket(),
        Arc::new(PendingCalls::new()),
    )
    .map_err(|e| user(e.to_string()))?;
    ringdown_engine::Dialer::stop(&dialer, contact)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))
}
