//! The shadow run: ringdown beside the paging tool in use, before cutting
//! over.
//!
//! `ringdown run --shadow` runs the daemon as it would run for real (ingest,
//! grouping, silences, roster, escalation, store) with a dialer that phones
//! nobody and a notifier that posts nowhere: each would-be call and notice
//! is a line of the shadow log (`log.rs`), and every call ends unanswered
//! after the ring time, so the log shows the whole path ringdown would take
//! if nobody answered (`dialer.rs`). `ringdown report --shadow FILE
//! --compare OLD.csv` sets that log beside the old tool's notifications
//! (`compare.rs` pairs them, `report.rs` reads the files and renders).

pub mod compare;
pub mod dialer;
pub mod log;
pub mod report;

pub use dialer::{ShadowDialer, ShadowNotifier};
pub use log::ShadowLog;

use crate::commands::user;
use anyhow::Result;
use ringdown_core::escalation::CallTiming;
use ringdown_engine::{Clock, OutcomeReport, Store};
use std::path::Path;
use std::sync::Arc;
use tokio::sync::mpsc;

/// What a shadow run has instead of phones and a fallback channel.
pub struct Shadow {
    pub dialer: Arc<ShadowDialer>,
    pub notifier: Arc<ShadowNotifier>,
    log: Arc<ShadowLog>,
    clock: Arc<dyn Clock>,
    instance: String,
}

/// How far back a store is searched for calls a paging ringdown placed.
const PAGING_LOOKBACK_DAYS: i64 = 30;

impl Shadow {
    /// Opens the shadow log at `path` and records the start. Refuses a
    /// store on which a ringdown that phones people placed calls lately:
    /// a shadow run there would take that ringdown's alerts and incidents
    /// and place no call for them. `timing` gives the ring time after
    /// which each would-be call ends unanswered, reported on `outcomes`.
    pub async fn start(
        path: &Path,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        timing: &CallTiming,
        instance: &str,
        outcomes: mpsc::UnboundedSender<OutcomeReport>,
    ) -> Result<Shadow> {
        let now = clock.now();
        let since = now - chrono::Duration::days(PAGING_LOOKBACK_DAYS);
        let calls = store
            .contacts_between(since, now + chrono::Duration::days(1))
            .await?;
        if let Some(c) = calls
            .iter()
            .rev()
            .find(|c| !c.contact_id.starts_with("shadow-"))
        {
            return Err(user(format!(
                "the store holds calls placed by a ringdown that phones people (the latest {}, \
                 incident {}): a shadow run on it would take that ringdown's alerts and place no \
                 call for them. Give the shadow run a store of its own ([store] sqlite_path, or \
                 [aws] table_prefix)",
                c.placed_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                c.incident_id
            )));
        }
        let log = Arc::new(ShadowLog::open(path).map_err(|e| {
            user(format!(
                "cannot open the shadow log {}: {e}",
                path.display()
            ))
        })?);
        let ring = timing
            .real_secs(timing.ring_secs)
            .to_std()
            .unwrap_or_default();
        log.append(&log::Entry::Started {
            at: now,
            instance: instance.to_string(),
        })
        .map_err(|e| {
            user(format!(
                "cannot write the shadow log {}: {e}",
                path.display()
            ))
        })?;
        tracing::info!(
            "shadow run: nobody will be called; would-be calls go to {}",
            path.display()
        );
        Ok(Shadow {
            dialer: Arc::new(ShadowDialer::new(
                log.clone(),
                store,
                clock.clone(),
                ring,
                outcomes,
            )),
            notifier: Arc::new(ShadowNotifier::new(log.clone(), clock.clone())),
            log,
            clock,
            instance: instance.to_string(),
        })
    }

    /// Records a clean stop: notifications after it are outside the run.
    pub fn stopped(&self) {
        let stop = log::Entry::Stopped {
            at: self.clock.now(),
            instance: self.instance.clone(),
        };
        if let Err(e) = self.log.append(&stop) {
            tracing::warn!(error = %e, "cannot record the stop in the shadow log");
        }
        tracing::info!(
            "shadow run stopped; compare with `ringdown report --shadow {} --compare OLD.csv`",
            self.log.path().display()
        );
    }
}
