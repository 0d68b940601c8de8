//! The embedded stack across steps of the system clock, on a virtual clock.
//!
//! The "system clock" here is tokio's paused clock plus a jump the scenario
//! sets mid-run. Production's [`SteadyClock`] follows it; the old behaviour
//! (what `SystemClock` does against a real stepping clock) is a clock that
//! *is* that jumping source. The phones ring on tokio's clock, which never
//! jumps, exactly as real phones ignore the server's clock. Times asserted are
//! virtual seconds since the alert, observed once a second.

use super::*;
use crate::demo::webhook;
use crate::virtual_run::VirtualRun;
use chrono::{DateTime, Utc};
use ringdown_core::escalation::{HistoryKind, Incident, Phase};
use ringdown_core::outcome::Outcome;
use ringdown_engine::{IncidentFilter, SteadyClock, TokioClock};
use ringdown_engine::{Ingest, Store};
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;
use tokio::time::Instant;

const HOUR: i64 = 3600;

/// The machine's wall clock in these scenarios: tokio's clock plus a jump.
#[derive(Clone)]
struct JumpingWall {
    tokio: TokioClock,
    jump_secs: Arc<AtomicI64>,
}

impl JumpingWall {
    fn new() -> JumpingWall {
        JumpingWall {
            tokio: TokioClock::starting_at(crate::demo::demo_start()),
            jump_secs: Arc::default(),
        }
    }

    fn now(&self) -> DateTime<Utc> {
        self.tokio.now() + chrono::Duration::seconds(self.jump_secs.load(Ordering::SeqCst))
    }

    /// Steps the wall clock by `secs` (an NTP step, `date -s`).
    fn jump(&self, secs: i64) {
        self.jump_secs.fetch_add(secs, Ordering::SeqCst);
    }

    /// Production's clock, following this wall clock.
    fn steady(&self) -> Arc<dyn Clock> {
        let wall = self.clone();
        Arc::new(SteadyClock::with_wall(move || wall.now()))
    }

    /// The old behaviour: a clock that steps with the wall clock.
    fn stepping(&self) -> Arc<dyn Clock> {
        Arc::new(Stepping(self.clone()))
    }
}

struct Stepping(JumpingWall);

impl Clock for Stepping {
    fn now(&self) -> DateTime<Utc> {
        self.0.now()
    }
}

/// A running stack and the calls it placed: (who, virtual seconds after the
/// alert).
struct Watch {
    run: VirtualRun,
    t0: Instant,
    calls: Vec<(String, u64)>,
}

impl Watch {
    async fn start(roster: &str, first: &str, second: &str, clock: Arc<dyn Clock>) -> Watch {
        let personas = format!(
            "default: never_answers\npersonas:\n  \"+81300000001\": {first}\n  \"+81300000002\": {second}\n"
        );
        let run = VirtualRun::start_with_clock(
            roster,
            PersonaBook::from_yaml(&personas).unwrap(),
            Vec::new(),
            clock,
        )
        .await
        .unwrap();
        Watch {
            run,
            t0: Instant::now(),
            calls: Vec::new(),
        }
    }

    async fn alert(&mut self) {
        let alerts = ringdown_core::parse::parse(webhook("web", 0, 1).as_bytes()).unwrap();
        self.t0 = Instant::now();
        self.run.stack.engine.ingest(alerts).await.unwrap();
    }

    fn elapsed(&self) -> u64 {
        (Instant::now() - self.t0).as_secs()
    }

    /// One virtual second; notes the calls placed in it.
    async fn tick(&mut self) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let at = self.elapsed();
        let placed = self.run.stack.dialer.calls();
        for c in &placed[self.calls.len()..] {
            self.calls.push((c.person.clone(), at));
        }
    }

    async fn run_for(&mut self, secs: u64) {
        for _ in 0..secs {
            self.tick().await;
        }
    }

    async fn incident(&self) -> Incident {
        self.run
            .stack
            .store
            .incidents(&IncidentFilter::default())
            .await
            .unwrap()
            .remove(0)
    }

    /// Runs until the first engineer's call has ended unanswered and the
    /// retry timer is set; returns when that was.
    async fn until_first_missed(&mut self) -> u64 {
        while self.incident().await.phase != Phase::Waiting {
            assert!(self.elapsed() < 600, "the first call never ended");
            self.tick().await;
        }
        self.elapsed()
    }

    async fn finish(self) -> (Vec<(String, u64)>, Incident) {
        let inc = self.incident().await;
        self.run.stop().await.unwrap();
        (self.calls, inc)
    }
}

/// The outcome the incident recorded for `person`'s first call.
fn outcome_of(inc: &Incident, person: &str) -> Option<Outcome> {
    inc.history.iter().find_map(|h| match &h.kind {
        HistoryKind::CallOutcome {
            person: p, outcome, ..
        } if p == person => Some(*outcome),
        _ => None,
    })
}

fn who(calls: &[(String, u64)]) -> Vec<&str> {
    calls.iter().map(|(p, _)| p.as_str()).collect()
}

/// One attempt on the first engineer, then the second. Outcome timeout: the
/// default 300 s.
const ONE_EACH: &str = r#"
timezone: Asia/Tokyo
people:
  first:  { phones: [{ number: "+81300000001" }] }
  second: { phones: [{ number: "+81300000002" }] }
policies:
  - name: default
    group_by: [systemname]
    group_wait_secs: 0
    steps:
      - targets: [person:first]
      - targets: [person:second]
"#;

/// Two attempts on the first engineer 300 s apart, then the second.
const RETRY_300: &str = r#"
timezone: Asia/Tokyo
people:
  first:  { phones: [{ number: "+81300000001" }] }
  second: { phones: [{ number: "+81300000002" }] }
policies:
  - name: default
    group_by: [systemname]
    group_wait_secs: 0
    steps:
      - targets: [person:first]
        attempts: 2
        retry_after_secs: 300
      - targets: [person:second]
"#;

/// Lets it ring 20 s, then listens and presses 1.
const SLOW_PRESS_1: &str =
    "{ answer_after_secs: 20, keys: [{key: \"5\", delay_secs: 1}, {key: \"1\", delay_secs: 1}] }";
const PRESS_1: &str =
    "{ answer_after_secs: 2, keys: [{key: \"5\", delay_secs: 1}, {key: \"1\", delay_secs: 1}] }";

/// Alert, then the wall clock jumps an hour ahead 10 s later, while the first
/// engineer's phone is still ringing (she picks up at 20 s).
async fn forward_jump_while_ringing(wall: &JumpingWall, clock: Arc<dyn Clock>) -> Watch {
    let mut w = Watch::start(ONE_EACH, SLOW_PRESS_1, PRESS_1, clock).await;
    w.alert().await;
    w.run_for(10).await;
    assert_eq!(w.calls, [("first".to_string(), 1)]);
    assert_eq!(w.incident().await.phase, Phase::Calling, "still ringing");
    wall.jump(HOUR);
    w.run_for(30 * 60).await;
    w
}

#[tokio::test(start_paused = true)]
async fn the_wall_clock_jumps_forward_an_hour_while_the_first_engineers_phone_rings_she_presses_1_and_nobody_else_is_called(
) {
    let wall = JumpingWall::new();
    let w = forward_jump_while_ringing(&wall, wall.steady()).await;
    let (calls, inc) = w.finish().await;
    assert_eq!(calls, [("first".to_string(), 1)]);
    assert_eq!(outcome_of(&inc, "first"), Some(Outcome::Acknowledged));
    assert_eq!(inc.phase, Phase::Acknowledged);
    assert_eq!(inc.acked_by.as_deref(), Some("first"));
}

/// The old behaviour, kept to show the fix matters: on a clock that steps,
/// the same jump expires the first call's 300 s outcome timeout at the next
/// tick, the ringing call is stopped (her 1 is lost) and the second engineer
/// is called needlessly, seconds after the jump.
#[tokio::test(start_paused = true)]
async fn with_a_stepping_clock_the_same_forward_jump_places_a_needless_call() {
    let wall = JumpingWall::new();
    let w = forward_jump_while_ringing(&wall, wall.stepping()).await;
    let (calls, inc) = w.finish().await;
    assert_eq!(who(&calls), ["first", "second"]);
    let second_at = calls[1].1;
    assert!(
        (10..=16).contains(&second_at),
        "called at {second_at} s, right after the jump instead of 300 s after the first call"
    );
    // Her call was given up on as if it had timed out; her 1 never counted.
    assert_eq!(outcome_of(&inc, "first"), Some(Outcome::Unknown));
    assert_eq!(inc.phase, Phase::Acknowledged);
    assert_eq!(inc.acked_by.as_deref(), Some("second"));
}

/// Alert; once the first engineer's first call ended unanswered, the wall
/// clock jumps by `jump_secs`; then `play_secs` more. Returns the calls and
/// when the first call was missed.
async fn jump_after_a_miss(
    wall: &JumpingWall,
    clock: Arc<dyn Clock>,
    jump_secs: i64,
    play_secs: u64,
) -> (Vec<(String, u64)>, Incident, u64) {
    let mut w = Watch::start(RETRY_300, "never_answers", PRESS_1, clock).await;
    w.alert().await;
    let missed_at = w.until_first_missed().await;
    wall.jump(jump_secs);
    w.run_for(play_secs).await;
    let (calls, inc) = w.finish().await;
    (calls, inc, missed_at)
}

#[tokio::test(start_paused = true)]
async fn the_wall_clock_jumps_back_an_hour_after_the_first_engineer_misses_the_call_the_second_engineer_is_still_called_on_time(
) {
    // Without a jump: when each call is placed.
    let calm = JumpingWall::new();
    let (on_time, _, calm_missed_at) = jump_after_a_miss(&calm, calm.steady(), 0, 30 * 60).await;
    assert_eq!(who(&on_time), ["first", "first", "second"]);

    let wall = JumpingWall::new();
    let (calls, inc, missed_at) = jump_after_a_miss(&wall, wall.steady(), -HOUR, 30 * 60).await;
    assert_eq!(missed_at, calm_missed_at);
    assert_eq!(who(&calls), ["first", "first", "second"]);
    // The 300 s retry timer ran on a clock slowed to at most 10 % below real
    // time: at most 10 % late, and not early.
    let retry_gap = calls[1].1 - missed_at;
    let on_time_gap = on_time[1].1 - missed_at;
    assert!(
        retry_gap >= on_time_gap && retry_gap <= 330 + 1,
        "retried {retry_gap} s after the miss; without the jump {on_time_gap} s"
    );
    // And so the second engineer is called within 10 % of when she would
    // have been without the jump.
    let (second, second_on_time) = (calls[2].1, on_time[2].1);
    assert!(
        second >= second_on_time && second * 10 <= second_on_time * 11,
        "second engineer called at {second} s; without the jump at {second_on_time} s"
    );
    assert_eq!(inc.phase, Phase::Acknowledged);
    assert_eq!(inc.acked_by.as_deref(), Some("second"));
}

/// The old behaviour: on a stepping clock the same jump holds the retry, and
/// so the second engineer, back by a whole hour.
#[tokio::test(start_paused = true)]
async fn with_a_stepping_clock_the_same_backward_jump_delays_the_second_engineer_by_an_hour() {
    let wall = JumpingWall::new();
    let (calls, inc, missed_at) =
        jump_after_a_miss(&wall, wall.stepping(), -HOUR, 2 * 60 * 60).await;
    assert_eq!(who(&calls), ["first", "first", "second"]);
    let retry_gap = calls[1].1 - missed_at;
    assert!(
        retry_gap >= 3600 + 300,
        "retried {retry_gap} s after the miss"
    );
    assert_eq!(inc.acked_by.as_deref(), Some("second"));
}
