//! Wall-clock time for the engine, injected so the demo and the fire drill can
//! run whole escalations on a virtual clock.

use chrono::{DateTime, Utc};

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// The machine's clock: production.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
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
