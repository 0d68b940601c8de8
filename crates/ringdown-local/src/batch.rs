//! Concurrent POSTs ingested as one batch.
//!
//! In a storm every POST carries alerts of the same groups, and each group's
//! write rewrites its incident's whole record (whose firing set grows with
//! the storm). Ingested one request at a time, four concurrent requests
//! meant four writes of each record and, as each request's groups finished
//! at different commits, several commits per request. [`Batched`] gives the
//! requests that arrive while a batch is being written to the next batch,
//! whole: one intake for all of them, one write per group, one commit; then
//! each request gets the dispositions of its own alerts. A batch is what one
//! request carrying all those alerts would have been, in arrival order.
//!
//! Senders that post concurrently wait for their answers and post again,
//! so without more they fall into cohorts: while one cohort's batch is
//! written, the other's requests queue, and each batch carries half of
//! them. When recent traffic had more requests in flight than are queued,
//! the next batch waits for the rest, at most [`MAX_LINGER`] (as
//! PostgreSQL's `commit_delay` does when other transactions are active).
//!
//! Every request still returns only after the commit holding its alerts (the
//! batch's `ingest` returned), and a failed batch fails each of its
//! requests, which the senders retry.

use async_trait::async_trait;
use ringdown_core::Alert;
use ringdown_engine::{Ingest, IngestError, IngestReport, StoreError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{oneshot, Notify};

type Answer = Result<IngestReport, IngestError>;

/// Alerts per batch, at most (more wait for the next): a batch of requests
/// as large as the HTTP limits allow would keep the first of them waiting.
pub const MAX_BATCH_ALERTS: usize = 20_000;

/// The longest a batch waits for requests that recent traffic says are on
/// their way: a few times a loopback round trip, nothing beside a call.
pub const MAX_LINGER: Duration = Duration::from_micros(500);

/// Batches over which the peak of requests in flight is remembered.
const PEAK_WINDOW: u32 = 64;

struct Queued {
    seq: u64,
    alerts: Vec<Alert>,
    answer: oneshot::Sender<Answer>,
}

#[derive(Default)]
struct State {
    seq: u64,
    queue: Vec<Queued>,
    /// Requests inside `ingest` now (queued or in the batch being written).
    in_flight: usize,
    /// The most in flight at once, this window and the one before.
    peak: usize,
    peak_before: usize,
    batches_in_window: u32,
}

/// An [`Ingest`] that batches concurrent calls (see the module's docs).
pub struct Batched {
    inner: Arc<dyn Ingest>,
    /// Held while a batch is written: first come, first served.
    turn: Arc<tokio::sync::Mutex<()>>,
    state: Mutex<State>,
    queued: Notify,
}

impl Batched {
    pub fn new(inner: Arc<dyn Ingest>) -> Batched {
        Batched {
            inner,
            turn: Arc::new(tokio::sync::Mutex::new(())),
            state: Mutex::new(State::default()),
            queued: Notify::new(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether request `seq`'s alerts are still queued (no batch took them).
    fn queued(&self, seq: u64) -> bool {
        self.state().queue.iter().any(|q| q.seq == seq)
    }

    /// Waits (at most [`MAX_LINGER`]) until as many requests are queued as
    /// recent traffic had in flight.
    async fn linger(&self) {
        let deadline = tokio::time::Instant::now() + MAX_LINGER;
        loop {
            let notified = self.queued.notified();
            {
                let s = self.state();
                if s.queue.len() >= s.peak.max(s.peak_before) {
                    return;
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return;
            }
        }
    }

    /// The next batch: the queued requests, oldest first, up to
    /// [`MAX_BATCH_ALERTS`].
    fn take_batch(&self) -> Vec<Queued> {
        let mut s = self.state();
        s.batches_in_window += 1;
        if s.batches_in_window >= PEAK_WINDOW {
            s.batches_in_window = 0;
            s.peak_before = s.peak;
            s.peak = 0;
        }
        let mut n = 0;
        let end = s
            .queue
            .iter()
            .position(|q| {
                n += q.alerts.len();
                n > MAX_BATCH_ALERTS
            })
            .unwrap_or(s.queue.len())
            .max(1);
        s.queue.drain(..end).collect()
    }
}

/// Counts a request out of `in_flight` however `ingest` ends.
struct InFlight<'a>(&'a Batched);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.state().in_flight -= 1;
    }
}

#[async_trait]
impl Ingest for Batched {
    async fn ready(&self) -> Result<(), IngestError> {
        self.inner.ready().await
    }

    async fn ingest(&self, alerts: Vec<Alert>) -> Answer {
        let (tx, rx) = oneshot::channel();
        let seq = {
            let mut s = self.state();
            s.seq += 1;
            let seq = s.seq;
            s.queue.push(Queued {
                seq,
                alerts,
                answer: tx,
            });
            s.in_flight += 1;
            s.peak = s.peak.max(s.in_flight);
            seq
        };
        let _counted = InFlight(self);
        self.queued.notify_waiters();
        let turn = self.turn.clone().lock_owned().await;
        // Unless a batch before took this request's alerts, it leads the
        // next batch.
        if self.queued(seq) {
            self.linger().await;
            let batch = self.take_batch();
            let mut all = Vec::with_capacity(batch.iter().map(|q| q.alerts.len()).sum());
            let mut waiting = Vec::with_capacity(batch.len());
            for q in batch {
                waiting.push((q.alerts.len(), q.answer));
                all.extend(q.alerts);
            }
            metrics::histogram!("ringdown_ingest_batch_requests").record(waiting.len() as f64);
            // The batch is written to the end even if this request goes
            // away (its client hung up): the others in it wait for it.
            let inner = self.inner.clone();
            tokio::spawn(async move {
                let answer = inner.ingest(all).await;
                drop(turn);
                answer_each(answer, waiting);
            });
        } else {
            drop(turn);
        }
        rx.await.unwrap_or_else(|_| Err(interrupted()))
    }
}

/// Each request's share of a batch's answer: the dispositions of its own
/// alerts, in the order of its body (the batch's are in arrival order); the
/// batch's error for each when it failed.
fn answer_each(answer: Answer, waiting: Vec<(usize, oneshot::Sender<Answer>)>) {
    match answer {
        Ok(report) => {
            let mut rest = report.alerts.into_iter();
            for (n, tx) in waiting {
                let alerts = rest.by_ref().take(n).collect();
                let _ = tx.send(Ok(IngestReport { alerts }));
            }
        }
        Err(e) => {
            for (_, tx) in waiting {
                let _ = tx.send(Err(e.clone()));
            }
        }
    }
}

fn interrupted() -> IngestError {
    IngestError::Store(StoreError::Backend {
        message: "the batch carrying these alerts was interrupted before its commit".into(),
        retryable: true,
        source: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringdown_engine::AlertDisposition;

    /// An ingest that writes a batch only when the test lets it.
    struct Gated {
        batches: Mutex<Vec<Vec<String>>>,
        gate: tokio::sync::Semaphore,
        fail: bool,
    }

    impl Default for Gated {
        fn default() -> Self {
            Gated {
                batches: Mutex::default(),
                gate: tokio::sync::Semaphore::new(0),
                fail: false,
            }
        }
    }

    #[async_trait]
    impl Ingest for Gated {
        async fn ingest(&self, alerts: Vec<Alert>) -> Answer {
            let n = {
                let mut b = self.batches.lock().unwrap();
                b.push(alerts.iter().map(|a| a.fingerprint.clone()).collect());
                b.len()
            };
            self.gate.acquire().await.unwrap().forget();
            if self.fail {
                return Err(IngestError::Store(StoreError::Backend {
                    message: "disk full".into(),
                    retryable: true,
                    source: None,
                }));
            }
            let alerts = alerts
                .iter()
                .map(|a| AlertDisposition::Grouped {
                    fingerprint: a.fingerprint.clone(),
                    incident_id: format!("batch-{n}"),
                })
                .collect();
            Ok(IngestReport { alerts })
        }
    }

    fn alerts(system: &str, n: usize) -> Vec<Alert> {
        let body: Vec<String> = (0..n)
            .map(|i| {
                format!(
                    r#"{{"labels": {{"alertname": "Down", "system": "{system}", "i": "{i}"}}}}"#
                )
            })
            .collect();
        ringdown_core::parse::parse(format!("[{}]", body.join(",")).as_bytes()).unwrap()
    }

    fn fingerprints(answer: &Answer) -> Vec<(String, String)> {
        answer
            .as_ref()
            .unwrap()
            .alerts
            .iter()
            .map(|d| match d {
                AlertDisposition::Grouped {
                    fingerprint,
                    incident_id,
                } => (fingerprint.clone(), incident_id.clone()),
                other => panic!("{other:?}"),
            })
            .collect()
    }

    /// Lets the tasks spawned so far run up to their next wait.
    async fn settle() {
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
    }

    type Posted = tokio::task::JoinHandle<Answer>;

    /// Posts `n` alerts of `system`, from a task of its own.
    fn post(batched: &Arc<Batched>, system: &'static str, n: usize) -> Posted {
        let b = batched.clone();
        tokio::spawn(async move { b.ingest(alerts(system, n)).await })
    }

    /// web's request is being written alone when `others` come, one alert
    /// each.
    async fn others_behind_web(batched: &Arc<Batched>, others: [&'static str; 2]) -> [Posted; 3] {
        let web = post(batched, "web", 1);
        settle().await;
        let [a, b] = others.map(|system| post(batched, system, 1));
        settle().await;
        [web, a, b]
    }

    #[tokio::test(start_paused = true)]
    async fn requests_posted_while_a_batch_is_written_go_together_into_the_next_each_answered_with_its_own_alerts(
    ) {
        let fake = Arc::new(Gated::default());
        let batched = Arc::new(Batched::new(fake.clone()));
        let first = post(&batched, "web", 2);
        settle().await;
        let (db, queue, cache) = (
            post(&batched, "db", 1),
            post(&batched, "queue", 3),
            post(&batched, "cache", 2),
        );
        settle().await;
        assert_eq!(fake.batches.lock().unwrap().len(), 1, "the others wait");
        fake.gate.add_permits(2);
        let first = first.await.unwrap();
        let (db, queue, cache) = (
            db.await.unwrap(),
            queue.await.unwrap(),
            cache.await.unwrap(),
        );
        let batches = fake.batches.lock().unwrap().clone();
        assert_eq!(
            batches.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![2, 6],
            "one batch for the three that came meanwhile"
        );
        let own = |answer: &Answer, system: &str, n: usize| {
            let want: Vec<String> = alerts(system, n)
                .into_iter()
                .map(|a| a.fingerprint)
                .collect();
            let got: Vec<String> = fingerprints(answer).into_iter().map(|(f, _)| f).collect();
            assert_eq!(got, want, "{system} hears of its own alerts, in its order");
        };
        own(&first, "web", 2);
        own(&db, "db", 1);
        own(&queue, "queue", 3);
        own(&cache, "cache", 2);
        assert!(fingerprints(&queue).iter().all(|(_, inc)| inc == "batch-2"));
        assert_eq!(
            batches[1][..1],
            alerts("db", 1)
                .into_iter()
                .map(|a| a.fingerprint)
                .collect::<Vec<_>>()[..],
            "arrival order"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_batch_that_fails_fails_every_request_in_it_and_each_may_retry() {
        let fake = Arc::new(Gated {
            fail: true,
            ..Default::default()
        });
        let batched = Arc::new(Batched::new(fake.clone()));
        let [first, a, b] = others_behind_web(&batched, ["db", "queue"]).await;
        fake.gate.add_permits(2);
        for answer in [first.await.unwrap(), a.await.unwrap(), b.await.unwrap()] {
            match answer {
                Err(IngestError::Store(StoreError::Backend {
                    retryable: true, ..
                })) => {}
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(fake.batches.lock().unwrap().len(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_sender_hanging_up_mid_batch_does_not_lose_the_others_in_it() {
        let fake = Arc::new(Gated::default());
        let batched = Arc::new(Batched::new(fake.clone()));
        let [first, leader, other] = others_behind_web(&batched, ["db", "queue"]).await;
        fake.gate.add_permits(1);
        first.await.unwrap().unwrap();
        // The second batch (db, queue) is being written, led by db's request.
        tokio::time::sleep(MAX_LINGER).await;
        settle().await;
        assert_eq!(fake.batches.lock().unwrap().len(), 2);
        leader.abort();
        fake.gate.add_permits(1);
        let other = other.await.unwrap();
        assert_eq!(
            fingerprints(&other).len(),
            1,
            "queue's alert was written and answered"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_lone_sender_is_never_held_back() {
        let fake = Arc::new(Gated::default());
        fake.gate.add_permits(10);
        let batched = Batched::new(fake.clone());
        let started = tokio::time::Instant::now();
        for system in ["web", "db", "queue"] {
            batched.ingest(alerts(system, 1)).await.unwrap();
        }
        assert_eq!(started.elapsed(), Duration::ZERO, "no waiting for others");
        assert_eq!(fake.batches.lock().unwrap().len(), 3);
    }
}
