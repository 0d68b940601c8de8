//! AWS's time, learnt from the `Date` header of its answers.
//!
//! Replicas compare timestamps another replica wrote: an incident's due time
//! (is its owner overdue, so take it over?), a call's dialling time (is its
//! outcome late?), a shard lease's expiry (may I read this shard?). With the
//! system clocks alone, a replica whose clock runs 30 s ahead finds every
//! peer overdue 30 s early: it takes over incidents their live owner is
//! driving, times calls out early and rings the next engineer, and steals
//! shard leases that are being renewed.
//!
//! So on AWS every replica keeps AWS's time instead: each DynamoDB answer
//! carries the service's clock in its `Date` header (whole seconds), and the
//! request's send and receive times bound where the local clock stood when
//! the service stamped it. The offset (AWS minus local) is the intersection
//! of those bounds over the answers seen, which narrows to about the round
//! trip within a few answers, whatever the seconds' phase. [`ServiceTime::now`]
//! is the local clock plus that offset; the engine's `SteadyClock` follows it
//! without steps. Replicas then agree within a second or so, however far
//! apart their own clocks are.

use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::{
    BeforeDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_smithy_types::config_bag::{Storable, StoreReplace};
use chrono::{DateTime, Utc};
use tracing::{info, warn};

/// An offset this large is reported: the machine's clock is not kept.
const REPORT_MS: i64 = 2_000;
/// Clocks drift; known bounds widen by this much per second since the last
/// answer (100 ppm, a poor crystal), so an old, narrow bound never excludes
/// the truth.
const DRIFT_PER_SEC_MS: f64 = 0.1;

#[derive(Debug, Clone, Copy)]
struct Bounds {
    /// The offset (AWS minus local, ms) is within `lo..=hi`.
    lo: i64,
    hi: i64,
    at: std::time::Instant,
}

/// The offset between this machine's clock and AWS's, as its answers show.
#[derive(Debug, Default)]
pub struct ServiceTime {
    bounds: Mutex<Option<Bounds>>,
    /// The offset last reported, so a change is said once.
    reported_ms: Mutex<Option<i64>>,
}

impl ServiceTime {
    pub fn new() -> Arc<ServiceTime> {
        Arc::new(ServiceTime::default())
    }

    /// One answer: the request left at `sent`, its answer came at
    /// `received` (both on this machine's clock), and the service stamped
    /// it `date` (whole seconds: the service's clock read `date` to
    /// `date + 1 s` when it answered).
    pub fn observe(&self, sent: DateTime<Utc>, received: DateTime<Utc>, date: DateTime<Utc>) {
        let date = date.timestamp_millis();
        let sample = (
            date - received.timestamp_millis(),
            date + 1_000 - sent.timestamp_millis(),
        );
        if sample.0 > sample.1 {
            return; // received before sent: the local clock stepped meanwhile
        }
        let now = std::time::Instant::now();
        let mut bounds = self.bounds.lock().expect("service time");
        let next = match *bounds {
            Some(b) => {
                let widen = (now.duration_since(b.at).as_secs_f64() * DRIFT_PER_SEC_MS) as i64;
                let (lo, hi) = ((b.lo - widen).max(sample.0), (b.hi + widen).min(sample.1));
                if lo <= hi {
                    (lo, hi)
                } else {
                    // Disjoint: one of the clocks stepped. Start again.
                    sample
                }
            }
            None => sample,
        };
        *bounds = Some(Bounds {
            lo: next.0,
            hi: next.1,
            at: now,
        });
        drop(bounds);
        self.report((next.0 + next.1) / 2);
    }

    fn report(&self, offset_ms: i64) {
        metrics::gauge!("ringdown_aws_clock_offset_seconds").set(-offset_ms as f64 / 1000.0);
        let mut reported = self.reported_ms.lock().expect("service time");
        let changed = match *reported {
            None => offset_ms.abs() >= REPORT_MS,
            Some(before) => (offset_ms - before).abs() >= REPORT_MS,
        };
        if changed {
            let ahead = -offset_ms as f64 / 1000.0;
            if offset_ms.abs() >= REPORT_MS {
                warn!(
                    local_minus_aws_secs = ahead,
                    "this machine's clock disagrees with AWS's; ringdown keeps AWS's time so replicas agree (check the machine's time synchronisation)"
                );
            } else {
                info!(
                    local_minus_aws_secs = ahead,
                    "this machine's clock agrees with AWS's again"
                );
            }
            *reported = Some(offset_ms);
        }
    }

    /// AWS minus this machine's clock, once an answer was seen.
    pub fn offset(&self) -> Option<chrono::Duration> {
        let b = (*self.bounds.lock().expect("service time"))?;
        Some(chrono::Duration::milliseconds((b.lo + b.hi) / 2))
    }

    /// AWS's time now: the system clock plus the offset (none known yet:
    /// the system clock).
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.offset().unwrap_or_default()
    }

    /// The interceptor that feeds this from a client's answers.
    pub fn probe(self: &Arc<Self>) -> DateProbe {
        DateProbe(self.clone())
    }
}

/// When this attempt's request left (local clock).
#[derive(Debug, Clone, Copy)]
struct SentAt(DateTime<Utc>);

impl Storable for SentAt {
    type Storer = StoreReplace<Self>;
}

/// Reads the `Date` header of every answer a client gets into a
/// [`ServiceTime`].
#[derive(Debug, Clone)]
pub struct DateProbe(Arc<ServiceTime>);

impl Intercept for DateProbe {
    fn name(&self) -> &'static str {
        "ringdown-service-time"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state().store_put(SentAt(Utc::now()));
        Ok(())
    }

    fn read_before_deserialization(
        &self,
        context: &BeforeDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let received = Utc::now();
        let date = context
            .response()
            .headers()
            .get("date")
            .and_then(|d| DateTime::parse_from_rfc2822(d).ok());
        if let (Some(SentAt(sent)), Some(date)) = (cfg.load::<SentAt>(), date) {
            self.0.observe(*sent, received, date.with_timezone(&Utc));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_796_000_000_000 + ms).unwrap()
    }

    #[test]
    fn answers_narrow_the_offset_to_the_round_trip() {
        // This machine runs 30.4 s behind AWS; round trips take 40 ms.
        let t = ServiceTime::default();
        assert_eq!(t.offset(), None);
        let aws = |local: i64| at(local + 30_400);
        for k in 0..20 {
            let sent = k * 1_370; // answers at every phase of AWS's seconds
            let stamped = aws(sent + 20);
            let whole = DateTime::from_timestamp(stamped.timestamp(), 0).unwrap();
            t.observe(at(sent), at(sent + 40), whole);
        }
        let off = t.offset().unwrap().num_milliseconds();
        assert!((off - 30_400).abs() <= 40, "{off}");
    }

    #[test]
    fn a_step_of_the_local_clock_starts_the_estimate_again() {
        let t = ServiceTime::default();
        t.observe(at(0), at(10), at(0));
        let before = t.offset().unwrap().num_milliseconds();
        assert!((-10..=1_000).contains(&before), "{before}");
        // The local clock jumped 60 s ahead: AWS says the same time.
        t.observe(at(60_000), at(60_010), at(1_000));
        let after = t.offset().unwrap().num_milliseconds();
        assert!((-60_010..=-58_000).contains(&after), "{after}");
    }
}
