//! Wall-clock time for the engine, injected so the demo and the fire drill can
//! run whole escalations on a virtual clock, and so production can run on a
//! clock that never steps ([`SteadyClock`]).

use chrono::{DateTime, Utc};
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;
use tracing::{info, warn};

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// The machine's clock as it is, steps included. Production uses
/// [`SteadyClock`], which follows this one without its steps.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// The wall clock with its steps smoothed out: production's clock.
///
/// # Why
///
/// The engine's timers (the next escalation step, a call's outcome timeout,
/// `group_wait`, the pause between repeats) are absolute wall-clock deadlines,
/// kept in memory and in the store and compared with [`Clock::now`]. When the
/// system clock *steps* — an NTP step, a VM resuming, an operator's
/// `date -s` — every deadline moves with it:
///
/// - a step **backward** by an hour makes every timer fire an hour late: an
///   engineer who did not pick up is not escalated past for an hour;
/// - a step **forward** by an hour makes every timer fire at once: an outcome
///   timeout expires while the phone is still ringing, so the next engineer is
///   called although the first could still press 1, and steps are skipped.
///
/// # How
///
/// `SteadyClock` is anchored to the system clock when it is created and from
/// then on advances with the monotonic clock, *slewing* toward the system
/// clock like chrony does: it runs at most [`SLEW`](Self::SLEW) (10 %) faster
/// or slower than real time — between 1/1.1 and 1.1 seconds per real second —
/// until it agrees with the system clock again. It never goes backwards. A
/// timer of length *d* therefore fires between *d*/1.1 and 1.1·*d* of real
/// time after it was set, whatever the system clock does: never more than
/// 10 % late, never more than ~9 % early. Without steps it equals the system
/// clock (the ordinary, sub-second NTP slewing of the system clock is followed
/// within one read).
///
/// A step larger than [`STEP_THRESHOLD`](Self::STEP_THRESHOLD) (2 s) is logged
/// once, with its size, when it is first seen, and counted
/// (`ringdown_clock_steps_total`); the gauge `ringdown_clock_offset_seconds`
/// is the system clock minus this clock (positive: this clock is behind).
///
/// # Trade-off
///
/// A step is absorbed gradually: an hour forward over 10 h, an hour backward
/// over 11 h. Meanwhile
/// - this clock differs from the system clock by the unabsorbed part of the
///   step, so the timestamps it stamps (incident history, `opened_at`,
///   silences made from the keypad) may be off from the system clock — and
///   from the real time, if the step was a correction — by that much;
/// - replicas whose system clocks did not step (or that started after the
///   step) disagree with this one by as much, which matters for how soon they
///   take over this replica's incidents (`takeover_after`).
///
/// The monotonic clock is tokio's (`CLOCK_MONOTONIC` on Linux), which does
/// not count time the machine was suspended: time spent suspended counts as a
/// forward step of the wall clock and is absorbed the same way.
pub struct SteadyClock {
    wall: Box<dyn Fn() -> DateTime<Utc> + Send + Sync>,
    mono: Box<dyn Fn() -> Instant + Send + Sync>,
    state: Mutex<SteadyState>,
}

#[derive(Debug)]
struct SteadyState {
    /// The monotonic clock at the last read.
    mono: Instant,
    /// The wall clock at the last read (ns since the epoch).
    wall: i128,
    /// This clock at the last read (ns since the epoch).
    steady: i128,
    /// A step was seen and is not absorbed yet.
    absorbing: bool,
    /// Steps seen since the start.
    steps: u64,
}

const NANOS: i128 = 1_000_000_000;
/// `SLEW` in parts per million, for exact integer arithmetic.
const SLEW_PPM: i128 = 100_000;
const MILLION: i128 = 1_000_000;
/// Within this of the system clock, a step counts as absorbed.
const ABSORBED: i128 = NANOS / 1000;

fn to_nanos(t: DateTime<Utc>) -> i128 {
    i128::from(t.timestamp()) * NANOS + i128::from(t.timestamp_subsec_nanos())
}

fn from_nanos(n: i128) -> Option<DateTime<Utc>> {
    let secs = i64::try_from(n.div_euclid(NANOS)).ok()?;
    DateTime::from_timestamp(secs, n.rem_euclid(NANOS) as u32)
}

fn secs(n: i128) -> f64 {
    n as f64 / NANOS as f64
}

impl SteadyClock {
    /// Fastest and slowest rate relative to real time: this clock runs
    /// between `1/(1 + SLEW)` and `1 + SLEW` seconds per real second while
    /// catching up with a stepped system clock.
    pub const SLEW: f64 = SLEW_PPM as f64 / MILLION as f64;
    /// A jump of the system clock against the monotonic clock larger than
    /// this between two reads is reported as a step.
    pub const STEP_THRESHOLD: Duration = Duration::from_secs(2);

    /// The system clock (`Utc::now`) without its steps, on tokio's monotonic
    /// clock.
    pub fn new() -> SteadyClock {
        SteadyClock::with_wall(Utc::now)
    }

    /// Follows `wall` instead of the system clock (tests make it step), on
    /// tokio's monotonic clock, which a paused runtime controls.
    pub fn with_wall(wall: impl Fn() -> DateTime<Utc> + Send + Sync + 'static) -> SteadyClock {
        SteadyClock::with_sources(wall, Instant::now)
    }

    /// Follows `wall`, advancing with `mono`. Anchored to `wall` now.
    pub fn with_sources(
        wall: impl Fn() -> DateTime<Utc> + Send + Sync + 'static,
        mono: impl Fn() -> Instant + Send + Sync + 'static,
    ) -> SteadyClock {
        let now = to_nanos(wall());
        let state = SteadyState {
            mono: mono(),
            wall: now,
            steady: now,
            absorbing: false,
            steps: 0,
        };
        SteadyClock {
            wall: Box::new(wall),
            mono: Box::new(mono),
            state: Mutex::new(state),
        }
    }

    /// The system clock minus this clock, as of now (positive: this clock is
    /// behind, absorbing a forward step).
    pub fn offset(&self) -> chrono::Duration {
        let steady = self.now();
        let wall = self.state.lock().unwrap_or_else(|e| e.into_inner()).wall;
        chrono::Duration::nanoseconds((wall - to_nanos(steady)) as i64)
    }
}

impl Default for SteadyClock {
    fn default() -> Self {
        SteadyClock::new()
    }
}

impl std::fmt::Debug for SteadyClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SteadyClock")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl Clock for SteadyClock {
    fn now(&self) -> DateTime<Utc> {
        // Both sources are read under the lock, so reads from several threads
        // are seen in one order and the clock stays monotonic.
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let mono = (self.mono)();
        let wall_time = (self.wall)();
        let wall = to_nanos(wall_time);
        let real = i128::try_from(mono.saturating_duration_since(s.mono).as_nanos())
            .unwrap_or(i128::MAX / 4);
        let step = (wall - s.wall) - real;
        if step.abs() > Self::STEP_THRESHOLD.as_nanos() as i128 {
            s.steps += 1;
            s.absorbing = true;
            let offset = wall - (s.steady + real);
            let absorb = if offset >= 0 {
                offset * MILLION / SLEW_PPM
            } else {
                -offset * (MILLION + SLEW_PPM) / SLEW_PPM
            };
            warn!(
                step_seconds = secs(step),
                offset_seconds = secs(offset),
                absorb_seconds = secs(absorb).round(),
                "the system clock stepped; ringdown's clock follows it gradually \
                 (at most 10 % faster or slower than real time) so that escalation \
                 timers neither fire at once nor stall"
            );
            metrics::counter!("ringdown_clock_steps_total").increment(1);
        }
        // Free-running at real time, then pulled toward the wall clock by at
        // most SLEW of the real time elapsed (slower: 1 - 1/(1 + SLEW)).
        let free = s.steady + real;
        let faster = real * SLEW_PPM / MILLION;
        let slower = real * SLEW_PPM / (MILLION + SLEW_PPM);
        let next = free + (wall - free).clamp(-slower, faster);
        let steady = match from_nanos(next) {
            Some(t) => {
                s.steady = next;
                t
            }
            // Out of chrono's range: only a broken wall source gets here.
            None => from_nanos(s.steady).unwrap_or(wall_time),
        };
        if mono > s.mono {
            s.mono = mono;
        }
        s.wall = wall;
        let offset = wall - s.steady;
        metrics::gauge!("ringdown_clock_offset_seconds").set(secs(offset));
        if s.absorbing && offset.abs() < ABSORBED {
            s.absorbing = false;
            info!("the system clock step is absorbed: ringdown's clock agrees with it again");
        }
        steady
    }
}

/// Wall-clock time that follows tokio's clock from a chosen starting moment.
/// Under a paused tokio runtime (`start_paused`) time only moves when every task
/// is idle, jumping to the next timer: a two-hour escalation plays in
/// milliseconds, deterministically, with the production code unchanged.
#[derive(Debug, Clone)]
pub struct TokioClock {
    base: DateTime<Utc>,
    start: tokio::time::Instant,
}

impl TokioClock {
    pub fn starting_at(base: DateTime<Utc>) -> Self {
        TokioClock {
            base,
            start: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = tokio::time::Instant::now() - self.start;
        self.base + chrono::Duration::from_std(elapsed).unwrap_or_default()
    }
}

/// Sleeps until `at` on `clock` (returns at once if it has passed).
pub async fn sleep_until(clock: &dyn Clock, at: DateTime<Utc>) {
    let wait = (at - clock.now()).to_std().unwrap_or_default();
    tokio::time::sleep(wait).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;
    use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
    use std::sync::Arc;

    const HOUR: i64 = 3600;

    fn base() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 18, 0, 0).unwrap()
    }

    /// A system clock that follows tokio's clock plus a jump we choose.
    #[derive(Clone)]
    struct Jumpy {
        tokio: TokioClock,
        jump_ms: Arc<AtomicI64>,
    }

    impl Jumpy {
        fn new() -> Jumpy {
            Jumpy {
                tokio: TokioClock::starting_at(base()),
                jump_ms: Arc::default(),
            }
        }
        fn now(&self) -> DateTime<Utc> {
            self.tokio.now() + chrono::Duration::milliseconds(self.jump_ms.load(Ordering::SeqCst))
        }
        fn step(&self, secs: i64) {
            self.jump_ms.fetch_add(secs * 1000, Ordering::SeqCst);
        }
        fn steady(&self) -> SteadyClock {
            let me = self.clone();
            SteadyClock::with_wall(move || me.now())
        }
    }

    fn steps(c: &SteadyClock) -> u64 {
        c.state.lock().unwrap().steps
    }

    fn ms(d: chrono::Duration) -> i64 {
        d.num_milliseconds()
    }

    #[tokio::test(start_paused = true)]
    async fn without_steps_it_equals_the_system_clock() {
        let wall = Jumpy::new();
        let steady = wall.steady();
        for secs in [0, 1, 5, 59, 3600, 1, 86_400] {
            tokio::time::advance(Duration::from_secs(secs)).await;
            tokio::time::advance(Duration::from_micros(1234)).await;
            assert_eq!(steady.now(), wall.now());
            assert_eq!(steady.offset(), chrono::Duration::zero());
        }
        assert_eq!(steps(&steady), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_small_adjustment_is_followed_without_being_called_a_step() {
        let wall = Jumpy::new();
        let steady = wall.steady();
        wall.step(1);
        tokio::time::advance(Duration::from_secs(20)).await;
        assert_eq!(steady.now(), wall.now(), "1 s is absorbed within 10 s");
        assert_eq!(steps(&steady), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_forward_step_is_absorbed_at_most_10_percent_faster_than_real_time() {
        let wall = Jumpy::new();
        let steady = wall.steady();
        tokio::time::advance(Duration::from_secs(60)).await;
        let before = steady.now();
        wall.step(HOUR);
        let mut prev = steady.now();
        assert_eq!(prev, before, "the step itself moves nothing");
        assert_eq!(steady.offset(), chrono::Duration::seconds(HOUR));
        assert_eq!(steps(&steady), 1);
        let mut real = 0;
        while steady.now() != wall.now() {
            tokio::time::advance(Duration::from_secs(10)).await;
            real += 10;
            let now = steady.now();
            let advanced = ms(now - prev);
            assert!(advanced <= 11_000, "{advanced} ms in 10 s");
            assert!(
                advanced >= 10_000,
                "catching up, never slower: {advanced} ms"
            );
            assert!(now <= wall.now(), "never ahead of the system clock");
            prev = now;
            assert!(real <= 11 * HOUR, "not caught up after {real} s");
        }
        // An hour at 0.1 s per second: 10 hours.
        assert_eq!(real, 10 * HOUR);
        assert_eq!(steps(&steady), 1, "logged once");
        tokio::time::advance(Duration::from_secs(30)).await;
        assert_eq!(steady.now(), wall.now());
    }

    #[tokio::test(start_paused = true)]
    async fn a_backward_step_never_turns_the_clock_back() {
        let wall = Jumpy::new();
        let steady = wall.steady();
        tokio::time::advance(Duration::from_secs(60)).await;
        let before = steady.now();
        wall.step(-HOUR);
        let mut prev = steady.now();
        assert_eq!(prev, before);
        assert_eq!(steady.offset(), chrono::Duration::seconds(-HOUR));
        let mut real = 0;
        while steady.now() != wall.now() {
            tokio::time::advance(Duration::from_secs(10)).await;
            real += 10;
            let now = steady.now();
            let advanced = ms(now - prev);
            assert!(
                advanced >= 9_000,
                "at least 0.9x real time: {advanced} ms in 10 s"
            );
            assert!(
                advanced <= 10_000,
                "slowing down, never faster: {advanced} ms"
            );
            assert!(now >= wall.now(), "never behind the system clock");
            prev = now;
            assert!(real <= 12 * HOUR, "not caught up after {real} s");
        }
        // An hour at 1 - 1/1.1 s per second: 11 hours.
        assert!((11 * HOUR - 10..=11 * HOUR + 10).contains(&real), "{real}");
        assert_eq!(steps(&steady), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn reads_in_the_same_instant_return_the_same_time() {
        let wall = Jumpy::new();
        let steady = wall.steady();
        wall.step(-HOUR);
        let a = steady.now();
        wall.step(2 * HOUR);
        let b = steady.now();
        assert_eq!(a, b, "no real time passed, so this clock did not move");
        assert_eq!(steps(&steady), 2, "each step is reported once");
    }

    #[derive(Debug, Clone)]
    enum Op {
        /// Real time passes (ms) and the clock is read.
        Elapse(u64),
        /// The system clock steps (ms, either way).
        Step(i64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (0u64..600_000).prop_map(Op::Elapse),
            1 => (-3 * HOUR * 1000..3 * HOUR * 1000).prop_map(Op::Step),
        ]
    }

    proptest! {
        #[test]
        fn monotonic_within_the_slew_bound_and_converging(ops in proptest::collection::vec(op(), 1..40)) {
            let origin = Instant::now();
            let mono_ns = Arc::new(AtomicU64::new(0));
            let jump_ms = Arc::new(AtomicI64::new(0));
            let (m, j) = (mono_ns.clone(), jump_ms.clone());
            let wall = move || {
                base()
                    + chrono::Duration::nanoseconds(m.load(Ordering::SeqCst) as i64)
                    + chrono::Duration::milliseconds(j.load(Ordering::SeqCst))
            };
            let m = mono_ns.clone();
            let clock = SteadyClock::with_sources(wall.clone(), move || {
                origin + Duration::from_nanos(m.load(Ordering::SeqCst))
            });
            let mut prev = clock.now();
            prop_assert_eq!(prev, base());
            for op in ops {
                match op {
                    Op::Step(ms) => {
                        let offset_before = to_nanos(wall()) - to_nanos(prev);
                        jump_ms.fetch_add(ms, Ordering::SeqCst);
                        let now = clock.now();
                        prop_assert_eq!(now, prev, "a step moves nothing by itself");
                        let offset = to_nanos(wall()) - to_nanos(now);
                        prop_assert_eq!(offset, offset_before + i128::from(ms) * 1_000_000);
                    }
                    Op::Elapse(ms) => {
                        let offset_before = to_nanos(wall()) - to_nanos(prev);
                        mono_ns.fetch_add(ms * 1_000_000, Ordering::SeqCst);
                        let now = clock.now();
                        let real = i128::from(ms) * 1_000_000;
                        let advanced = to_nanos(now) - to_nanos(prev);
                        prop_assert!(advanced >= 0, "went backwards by {advanced} ns");
                        prop_assert!(advanced * 11 >= real * 10 - 11, "{advanced} ns in {real} ns: slower than 1/1.1");
                        prop_assert!(advanced * 10 <= real * 11, "{advanced} ns in {real} ns: faster than 1.1");
                        // It only ever closes the gap, never overshoots.
                        let offset = to_nanos(wall()) - to_nanos(now);
                        prop_assert!(offset.abs() <= offset_before.abs());
                        prop_assert!(offset == 0 || offset.signum() == offset_before.signum());
                        prev = now;
                    }
                }
            }
            // Left alone, it agrees with the system clock again.
            for _ in 0..100_000 {
                if clock.now() == wall() {
                    break;
                }
                mono_ns.fetch_add(100 * 1_000_000_000, Ordering::SeqCst);
            }
            prop_assert_eq!(clock.now(), wall());
        }
    }
}
