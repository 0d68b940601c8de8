//! The call gate: one token bucket for the Connect API quota and a cap on live
//! calls, shared by every call site of the process, first come first served.
//!
//! Waiting happens here, in line, instead of at Amazon Connect: a storm of
//! incidents queues behind the bucket and is dialed at the quota's rate without
//! a single TooManyRequests. The bucket reads tokio's clock, so a paused
//! runtime (demo, drill, tests) advances it virtually like everything else.

use governor::clock::{Clock as GovClock, ReasonablyRealtime};
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// governor clock that follows tokio's (virtual or real) time.
#[derive(Debug, Clone)]
pub struct TokioGovClock {
    start: tokio::time::Instant,
}

impl Default for TokioGovClock {
    fn default() -> Self {
        TokioGovClock {
            start: tokio::time::Instant::now(),
        }
    }
}

impl GovClock for TokioGovClock {
    type Instant = Nanos;
    fn now(&self) -> Nanos {
        Nanos::from(tokio::time::Instant::now() - self.start)
    }
}

impl ReasonablyRealtime for TokioGovClock {}

pub type Bucket = RateLimiter<NotKeyed, InMemoryState, TokioGovClock, NoOpMiddleware<Nanos>>;

/// Builds the process-wide bucket: `rate_per_sec` sustained, `burst` at once.
pub fn bucket(rate_per_sec: u32, burst: u32) -> Arc<Bucket> {
    let rate = NonZeroU32::new(rate_per_sec.max(1)).expect("max(1) is non-zero");
    let burst = NonZeroU32::new(burst.max(1)).expect("max(1) is non-zero");
    Arc::new(RateLimiter::direct_with_clock(
        Quota::per_second(rate).allow_burst(burst),
        TokioGovClock::default(),
    ))
}

/// Waits for a token, in line with every other waiter of this bucket.
pub async fn take_token(bucket: &Bucket, line: &tokio::sync::Mutex<()>) {
    let _turn = line.lock().await;
    loop {
        match bucket.check() {
            Ok(()) => return,
            Err(not_until) => {
                let wait = not_until.wait_time_from(bucket_now(bucket));
                tokio::time::sleep(wait.max(std::time::Duration::from_millis(1))).await;
            }
        }
    }
}

/// Waits for a token without joining the line: for a request that cannot
/// wait its turn (the retry that reaches a ringing call through its
/// `ClientToken` before the call ends). It still takes a token, so the
/// rate holds; the line simply waits one token longer.
pub async fn take_token_ahead(bucket: &Bucket) {
    loop {
        match bucket.check() {
            Ok(()) => return,
            Err(not_until) => {
                let wait = not_until.wait_time_from(bucket_now(bucket));
                // Just before the line's head wakes for the same token.
                let early = wait.saturating_sub(std::time::Duration::from_millis(2));
                tokio::time::sleep(early.max(std::time::Duration::from_millis(1))).await;
            }
        }
    }
}

fn bucket_now(bucket: &Bucket) -> Nanos {
    bucket.clock().now()
}

/// Rate and live-call limits for placing calls.
pub struct CallGate {
    bucket: Arc<Bucket>,
    line: tokio::sync::Mutex<()>,
    live: Arc<Semaphore>,
    held: Mutex<HashMap<String, (OwnedSemaphorePermit, tokio::time::Instant)>>,
    max_live: usize,
    max_hold: std::time::Duration,
}

impl CallGate {
    /// `max_hold`: a slot whose release never came (the outcome was applied
    /// by another replica, or lost) is reclaimed after this long, so a lost
    /// event can never wedge the dialer.
    pub fn new(bucket: Arc<Bucket>, max_live_calls: usize, max_hold: std::time::Duration) -> Self {
        CallGate {
            bucket,
            line: tokio::sync::Mutex::new(()),
            live: Arc::new(Semaphore::new(max_live_calls.max(1))),
            held: Mutex::new(HashMap::new()),
            max_live: max_live_calls.max(1),
            max_hold,
        }
    }

    fn reclaim_stale(&self) {
        let now = tokio::time::Instant::now();
        self.held
            .lock()
            .expect("gate lock")
            .retain(|_, (_, since)| now.duration_since(*since) < self.max_hold);
    }

    /// The shared bucket, for other Connect API calls of the process.
    pub fn bucket(&self) -> Arc<Bucket> {
        self.bucket.clone()
    }

    /// Waits for a live-call slot, then for a token. The slot stays held for
    /// `call_id` until [`CallGate::release`].
    pub async fn admit(&self, call_id: &str) {
        if self.held.lock().expect("gate lock").contains_key(call_id) {
            // A re-issued request for a call we already hold a slot for.
            take_token(&self.bucket, &self.line).await;
            return;
        }
        self.reclaim_stale();
        let permit = loop {
            // Wake up now and then to reclaim slots whose release never came.
            match tokio::time::timeout(
                self.max_hold.max(std::time::Duration::from_secs(1)),
                self.live.clone().acquire_owned(),
            )
            .await
            {
                Ok(p) => break p.expect("the semaphore is never closed"),
                Err(_) => self.reclaim_stale(),
            }
        };
        take_token(&self.bucket, &self.line).await;
        self.held
            .lock()
            .expect("gate lock")
            .insert(call_id.to_string(), (permit, tokio::time::Instant::now()));
    }

    /// Frees the call's live slot (outcome known, rejected, or timed out).
    pub fn release(&self, call_id: &str) {
        self.held.lock().expect("gate lock").remove(call_id);
    }

    pub fn live_calls(&self) -> usize {
        self.max_live - self.live.available_permits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn twenty_calls_go_out_at_the_quota_rate_and_never_past_the_cap() {
        let gate = Arc::new(CallGate::new(
            bucket(2, 5),
            10,
            std::time::Duration::from_secs(600),
        ));
        let start = tokio::time::Instant::now();
        let mut handles = Vec::new();
        for i in 0..20 {
            let gate = gate.clone();
            handles.push(tokio::spawn(async move {
                gate.admit(&format!("c{i}")).await;
                let at = tokio::time::Instant::now() - start;
                // Each call lasts 3 s, then frees its slot.
                tokio::time::sleep(std::time::Duration::from_secs(3)).await;
                gate.release(&format!("c{i}"));
                at
            }));
        }
        let mut times = Vec::new();
        for h in handles {
            times.push(h.await.unwrap().as_secs_f64());
        }
        times.sort_by(|a, b| a.partial_cmp(b).unwrap());
        // Burst of 5 at t=0, then one every 0.5 s.
        assert!(times[..5].iter().all(|t| *t < 0.01), "{times:?}");
        for w in times[5..].windows(2) {
            assert!(w[1] - w[0] >= 0.49, "paced at 2/s: {times:?}");
        }
        assert_eq!(gate.live_calls(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn the_eleventh_live_call_waits_for_a_slot() {
        let gate = Arc::new(CallGate::new(
            bucket(1000, 1000),
            10,
            std::time::Duration::from_secs(600),
        ));
        for i in 0..10 {
            gate.admit(&format!("c{i}")).await;
        }
        assert_eq!(gate.live_calls(), 10);
        let g = gate.clone();
        let eleventh = tokio::spawn(async move { g.admit("c10").await });
        tokio::time::sleep(std::time::Duration::from_secs(60)).await;
        assert!(!eleventh.is_finished(), "no slot, no call");
        gate.release("c3");
        eleventh.await.unwrap();
        assert_eq!(gate.live_calls(), 10);
    }

    #[tokio::test(start_paused = true)]
    async fn a_slot_whose_release_never_comes_is_reclaimed_after_max_hold() {
        let gate = Arc::new(CallGate::new(
            bucket(1000, 1000),
            1,
            std::time::Duration::from_secs(300),
        ));
        gate.admit("lost").await;
        let g = gate.clone();
        let next = tokio::spawn(async move { g.admit("next").await });
        tokio::time::sleep(std::time::Duration::from_secs(200)).await;
        assert!(!next.is_finished());
        tokio::time::sleep(std::time::Duration::from_secs(400)).await;
        assert!(next.is_finished(), "the lost slot was reclaimed");
    }
}
