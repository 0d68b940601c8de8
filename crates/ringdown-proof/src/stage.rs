//! One isolated AWS world on the emulators, with real daemons on it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use connect_sim::{
    load_flow, ContactEvents, ContactSearch, CtrFaults, EventBridgeConfig, KinesisConfig,
    PersonaBook, Quotas, SecsRange, SimConfig, SimServer, DEFAULT_CTR_LAG,
};
use ringdown_aws::bootstrap::{bootstrap_with, BootstrapOptions, BootstrapReport, ResourceNames};
use ringdown_aws::clients::test_sdk_config;
use ringdown_aws::dynamodb::DynamoStore;
use ringdown_core::escalation::{Incident, Phase};
use ringdown_engine::{IncidentFilter, Store, StoredIncident};

use crate::http::Http;
use crate::process::ChildGuard;

/// moto's URL from `RINGDOWN_TEST_MOTO_URL` (`eval "$(tests/emulators.sh
/// start)"`). Without it a test is skipped loudly, or fails when
/// `RINGDOWN_REQUIRE_EMULATORS=1` (as in the README's test command).
pub fn moto_url(test: &str) -> Option<String> {
    match std::env::var("RINGDOWN_TEST_MOTO_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            if std::env::var("RINGDOWN_REQUIRE_EMULATORS").as_deref() == Ok("1") {
                panic!(
                    "{test}: RINGDOWN_REQUIRE_EMULATORS=1 but RINGDOWN_TEST_MOTO_URL is not set"
                );
            }
            eprintln!("\n!!!!!!!! {test}: SKIPPED: needs moto (eval \"$(tests/emulators.sh start)\") !!!!!!!!\n");
            None
        }
    }
}

/// How a stage is set up.
#[derive(Debug, Clone)]
pub struct StageOptions {
    /// Short name: resource prefixes and the scratch directory carry it.
    pub name: String,
    /// The `ringdown` executable the daemons run.
    pub binary: PathBuf,
    pub roster_yaml: String,
    /// connect-sim personas: who answers, who presses what.
    pub personas_yaml: String,
    pub ctr_faults: CtrFaults,
    /// When contact records arrive after their call, simulated seconds:
    /// Amazon Connect's one to two minutes unless a test says otherwise.
    pub ctr_lag: SecsRange,
    /// Share of Amazon Connect's contact events that never arrive (they are
    /// best effort); 1.0 turns them off.
    pub event_drop_probability: f64,
    /// Simulated call seconds per real second; the daemons' expectations
    /// (`[connect] time_scale`) are scaled alike.
    pub time_scale: f64,
    /// Connect's quotas as connect-sim enforces them.
    pub quotas: Quotas,
    /// Merged over the generated daemon configuration (same TOML shape as
    /// `ringdown.toml`), e.g. `[dialer] rate_per_sec = 5`.
    pub config_overrides: toml::Table,
}

impl StageOptions {
    pub fn new(
        name: &str,
        binary: impl Into<PathBuf>,
        roster_yaml: &str,
        personas_yaml: &str,
    ) -> Self {
        StageOptions {
            name: name.to_string(),
            binary: binary.into(),
            roster_yaml: roster_yaml.to_string(),
            personas_yaml: personas_yaml.to_string(),
            ctr_faults: CtrFaults::default(),
            ctr_lag: DEFAULT_CTR_LAG,
            event_drop_probability: 0.1,
            time_scale: 20.0,
            quotas: Quotas::default(),
            config_overrides: toml::Table::new(),
        }
    }

    /// Adds `toml` (a fragment of `ringdown.toml`) to the overrides.
    pub fn config(mut self, toml_fragment: &str) -> Self {
        let t: toml::Table = toml_fragment.parse().expect("valid TOML fragment");
        merge(&mut self.config_overrides, t);
        self
    }
}

fn merge(into: &mut toml::Table, from: toml::Table) {
    for (k, v) in from {
        match (into.get_mut(&k), v) {
            (Some(toml::Value::Table(a)), toml::Value::Table(b)) => merge(a, b),
            (_, v) => {
                into.insert(k, v);
            }
        }
    }
}

/// A running stage. Dropping it kills its daemons (their guards do).
pub struct Stage {
    pub dir: PathBuf,
    pub moto: String,
    pub sdk: SdkConfig,
    pub report: BootstrapReport,
    pub store: DynamoStore,
    pub sim: SimServer,
    pub config: PathBuf,
    binary: PathBuf,
    daemons: BTreeMap<String, ChildGuard>,
}

impl Stage {
    /// Creates the AWS resources in moto, starts connect-sim and writes the
    /// daemons' configuration. `None` when moto is not there (see
    /// [`moto_url`]).
    pub async fn start(opts: StageOptions) -> Option<Stage> {
        let moto = moto_url(&opts.name)?;
        let tag = format!("{:x}", rand_u32());
        let prefix = format!(
            "{}{tag}-",
            opts.name
                .chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .take(12)
                .collect::<String>()
        );
        let sdk = test_sdk_config(&moto);
        let names = ResourceNames::from_prefix(&prefix);
        // Each stage its own Connect instance, so its contact-event rule
        // takes its own events only (stages share one moto).
        let instance_id = format!(
            "{:08x}-0000-4000-8000-{:012x}",
            rand_u32(),
            u64::from(rand_u32())
        );
        let sim_defaults = SimConfig::default();
        let instance_arn = format!(
            "arn:aws:connect:{}:{}:instance/{instance_id}",
            sim_defaults.region, sim_defaults.account_id
        );
        let report = bootstrap_with(
            &sdk,
            &names,
            &BootstrapOptions {
                connect_instance_arn: Some(instance_arn),
                ..BootstrapOptions::default()
            },
        )
        .await
        .expect("bootstrap on moto");
        let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut flows = BTreeMap::new();
        for lang in ["ja-JP", "en-US"] {
            let f = load_flow(
                &repo.join(format!("contact-flows/ringdown-{lang}.json")),
                true,
            )
            .expect("contact flow loads");
            flows.insert(format!("ringdown-{lang}"), f);
        }
        let sim = SimServer::start(
            SimConfig {
                flows,
                personas: PersonaBook::from_yaml(&opts.personas_yaml).expect("personas"),
                time_scale: opts.time_scale,
                quotas: opts.quotas.clone(),
                allow_list: vec!["+".into()],
                kinesis: Some(KinesisConfig {
                    endpoint: Some(moto.clone()),
                    stream: names.ctr_stream.clone(),
                    region: "us-east-1".into(),
                    default_credentials: false,
                }),
                ctr_faults: opts.ctr_faults.clone(),
                ctr_lag: opts.ctr_lag,
                contact_events: ContactEvents {
                    eventbridge: Some(EventBridgeConfig {
                        endpoint: Some(moto.clone()),
                        region: "us-east-1".into(),
                        bus: "default".into(),
                        default_credentials: false,
                    }),
                    drop_probability: opts.event_drop_probability,
                    ..ContactEvents::default()
                },
                // As an administrator sets the instance up for ringdown.
                contact_search: ContactSearch {
                    searchable_attributes: vec!["rd_call".into()],
                    ..ContactSearch::default()
                },
                instance_id,
                ..sim_defaults
            },
            "127.0.0.1:0".parse().unwrap(),
        )
        .await
        .expect("connect-sim starts");
        let dir = std::env::temp_dir().join(format!("ringdown-stage-{}-{tag}", opts.name));
        std::fs::create_dir_all(&dir).unwrap();
        let roster_path = dir.join("roster.yaml");
        std::fs::write(&roster_path, &opts.roster_yaml).unwrap();
        let config = dir.join("ringdown.toml");
        let base = format!(
            r#"roster_file = {roster:?}
[http]
listen = "127.0.0.1:0"
[ops]
listen = "127.0.0.1:0"
[aws]
region = "us-east-1"
table_prefix = "{prefix}"
topic_arn = "{topic}"
source_phone_number = "+81335550000"
connect_instance_id = "{instance}"
[aws.connect_flow_ids]
ja-JP = "ringdown-ja-JP"
en-US = "ringdown-en-US"
[aws.sqs]
wait_time_secs = 1
visibility_timeout_secs = 20
[connect]
ctr_poll_interval_ms = 200
lease_ttl_secs = 6
time_scale = {time_scale}
[fallback]
file = {fallback:?}
"#,
            roster = roster_path.to_str().unwrap(),
            topic = report.fallback_topic_arn,
            instance = sim.instance_id(),
            fallback = dir.join("fallback.jsonl").to_str().unwrap(),
            time_scale = opts.time_scale,
        );
        let mut table: toml::Table = base.parse().expect("generated config is TOML");
        merge(&mut table, opts.config_overrides.clone());
        std::fs::write(&config, toml::to_string(&table).unwrap()).unwrap();
        let store = DynamoStore::from_conf(&sdk, &prefix);
        Some(Stage {
            dir,
            moto,
            sdk,
            report,
            store,
            sim,
            config,
            binary: opts.binary,
            daemons: BTreeMap::new(),
        })
    }

    /// Starts replica `name` (`ringdown run`), talking to AWS at moto.
    pub fn spawn(&mut self, name: &str) {
        let moto = self.moto.clone();
        self.spawn_via(name, &moto);
    }

    /// Starts replica `name` with its SQS, DynamoDB, Kinesis and SNS requests
    /// sent to `aws_endpoint` (a [`crate::FaultProxy`] in front of moto).
    pub fn spawn_via(&mut self, name: &str, aws_endpoint: &str) {
        self.spawn_with(name, aws_endpoint, &[]);
    }

    /// Starts replica `name` with extra environment, e.g.
    /// `AWS_ENDPOINT_URL_DYNAMODB` to send only DynamoDB through a proxy.
    pub fn spawn_with(&mut self, name: &str, aws_endpoint: &str, env: &[(&str, &str)]) {
        self.spawn_run(name, aws_endpoint, env, &[]);
    }

    /// Starts replica `name` with more arguments to `ringdown run`, e.g.
    /// `--shadow`.
    pub fn spawn_args(&mut self, name: &str, args: &[&str]) {
        let moto = self.moto.clone();
        self.spawn_run(name, &moto, &[], args);
    }

    fn spawn_run(&mut self, name: &str, aws_endpoint: &str, env: &[(&str, &str)], args: &[&str]) {
        let mut cmd = Command::new(&self.binary);
        cmd.args(["run", "--config", self.config.to_str().unwrap()])
            .args(args)
            .env("AWS_ENDPOINT_URL", aws_endpoint)
            .env("AWS_ENDPOINT_URL_CONNECT", self.sim.url())
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .env("RINGDOWN_INSTANCE_NAME", name)
            .env("RUST_LOG", "info")
            .envs(env.iter().copied());
        let log = self.dir.join(format!("{name}.log"));
        let child = ChildGuard::spawn_appending(name, &mut cmd, log).expect("ringdown runs");
        self.daemons.insert(name.to_string(), child);
    }

    pub fn pid(&self, name: &str) -> Option<u32> {
        self.daemons.get(name).map(ChildGuard::pid)
    }

    /// SIGKILL: no chance to finish anything.
    pub fn kill9(&mut self, name: &str) {
        if let Some(c) = self.daemons.remove(name) {
            c.kill9();
        }
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn stop(&mut self, name: &str) -> ExitStatus {
        let c = self.daemons.remove(name).expect("running");
        c.terminate().expect("the daemon takes SIGTERM")
    }

    /// Runs a `ringdown` command against this stage's store; its stdout.
    pub fn cli(&self, args: &[&str]) -> String {
        self.cli_with(args, &[])
    }

    /// [`Stage::cli`] with extra environment (`RINGDOWN_HTTP_TOKEN`).
    pub fn cli_with(&self, args: &[&str], env: &[(&str, &str)]) -> String {
        let out = Command::new(&self.binary)
            .args(args)
            .args(["--config", self.config.to_str().unwrap()])
            .envs(env.iter().copied())
            .env("AWS_ENDPOINT_URL_CONNECT", self.sim.url())
            .env("AWS_ENDPOINT_URL", &self.moto)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "ringdown {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// GET /metrics from daemon `name` (its address is in its log).
    pub async fn metrics_text(&self, name: &str) -> String {
        let addr = self
            .ops_addr(name)
            .expect("the daemon logs its health and metrics address");
        let (status, body) = Http::new(addr.parse().expect("ip:port"))
            .get("/metrics")
            .await
            .expect("GET /metrics");
        assert!(status.is_success(), "GET /metrics: {status}");
        body
    }

    /// `host:port` of daemon `name`'s health and metrics listener.
    pub fn ops_addr(&self, name: &str) -> Option<String> {
        self.log(name)
            .lines()
            .rev()
            .find_map(|l| l.split("health and metrics on http://").nth(1))
            .and_then(|r| r.split('/').next())
            .map(str::to_string)
    }

    /// The last `n` lines of every replica's log, each under its name.
    pub fn logs_tail(&self, n: usize) -> String {
        self.daemons
            .keys()
            .map(|d| format!("--- {d}\n{}", tail(&self.log(d), n)))
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(format!("{name}.log"))).unwrap_or_default()
    }

    /// Writes `record` to the contact-record stream, as Amazon Connect (or
    /// a contact centre sharing the instance) would.
    pub async fn put_contact_record(&self, partition_key: &str, record: &serde_json::Value) {
        aws_sdk_kinesis::Client::new(&self.sdk)
            .put_record()
            .stream_name(&self.report.stream_name)
            .partition_key(partition_key)
            .data(aws_sdk_kinesis::primitives::Blob::new(
                record.to_string().into_bytes(),
            ))
            .send()
            .await
            .expect("moto takes the record");
    }

    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.sdk)
    }

    pub async fn send(&self, body: String) {
        self.sqs()
            .send_message()
            .queue_url(&self.report.queue_url)
            .message_body(body)
            .send()
            .await
            .expect("SendMessage");
    }

    /// SendMessageBatch, ten at a time.
    pub async fn send_batch(&self, bodies: Vec<String>) {
        send_batch(&self.sqs(), &self.report.queue_url, &bodies).await;
    }

    /// Messages visible plus in flight on `queue_url` (the alert queue or
    /// the DLQ), as SQS counts them.
    pub async fn queue_depth(&self, queue_url: &str) -> u64 {
        use aws_sdk_sqs::types::QueueAttributeName as A;
        let out = self
            .sqs()
            .get_queue_attributes()
            .queue_url(queue_url)
            .attribute_names(A::ApproximateNumberOfMessages)
            .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .expect("GetQueueAttributes");
        let attrs = out.attributes().cloned().unwrap_or_default();
        [
            A::ApproximateNumberOfMessages,
            A::ApproximateNumberOfMessagesNotVisible,
        ]
        .iter()
        .filter_map(|a| attrs.get(a).and_then(|v| v.parse::<u64>().ok()))
        .sum()
    }

    pub async fn incidents(&self) -> Vec<Incident> {
        self.store
            .incidents(&IncidentFilter::default())
            .await
            .expect("list incidents")
    }

    /// The incidents with their versions and owners.
    pub async fn stored_incidents(&self) -> Vec<StoredIncident> {
        self.store
            .list_incidents(&IncidentFilter::default())
            .await
            .expect("list incidents")
    }

    pub async fn phases(&self) -> Vec<Phase> {
        self.incidents().await.iter().map(|i| i.phase).collect()
    }

    /// Destination numbers of every call connect-sim received, in order.
    pub fn destinations(&self) -> Vec<String> {
        self.sim
            .calls()
            .into_iter()
            .map(|c| c.destination_phone_number)
            .collect()
    }

    /// Polls until `check` holds; panics with the daemons' logs otherwise.
    pub async fn until<F, Fut>(&self, what: &str, timeout: Duration, check: F)
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if check().await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let logs = self.logs_tail(40);
        panic!(
            "timed out waiting for {what}\ncalls: {:?}\nincidents: {:?}\n{}",
            self.destinations(),
            self.incidents()
                .await
                .iter()
                .map(|i| (i.group_key.clone(), i.phase))
                .collect::<Vec<_>>(),
            logs
        );
    }
}

/// Sends `bodies` to `queue_url` with SendMessageBatch, ten at a time.
pub async fn send_batch(sqs: &aws_sdk_sqs::Client, queue_url: &str, bodies: &[String]) {
    for chunk in bodies.chunks(10) {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, b)| {
                aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(b)
                    .build()
                    .unwrap()
            })
            .collect::<Vec<_>>();
        sqs.send_message_batch()
            .queue_url(queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .expect("SendMessageBatch");
    }
}

/// The last `n` lines of `s`.
pub fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn rand_u32() -> u32 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    (t.subsec_nanos() ^ std::process::id().rotate_left(16)).wrapping_mul(2_654_435_761)
}
