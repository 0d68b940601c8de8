//! Escalation scenarios, told the way an on-call engineer would tell them.

use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::prelude::*;
use ringdown_core::escalation::{
    decide, Context, Effect, Event, HistoryKind, Incident, Phase, RejectKind, Settings,
};
use ringdown_core::grouping::route;
use ringdown_core::matcher::Matcher;
use ringdown_core::outcome::Outcome;
use ringdown_core::roster::Roster;
use ringdown_core::silence::{Silence, SilenceIndex};
use ringdown_core::storm::Lines;
use ringdown_core::{Alert, Labels, Source, Status};

const ROSTER: &str = r#"
timezone: Asia/Tokyo
calendars:
  jp-business:
    weekdays: [mon, tue, wed, thu, fri]
    holidays: jp
people:
  alice:
    name: Alice
    language: en-US
    phones: [{ number: "+819011110001" }]
  bob:
    name: Bob
    phones: [{ number: "+819011110002" }]
  carol:
    name: Carol
    phones: [{ number: "+819011110003" }]
  dave:
    name: Dave
    phones: [{ number: "+819011110004" }]
    only: { calendar: jp-business }
policies:
  - name: db
    match: { team: db }
    group_by: [systemname]
    group_wait_secs: 0
    repeat: 0
    steps:
      - targets: [person:dave, person:carol]
        attempts: 1
  - name: default
    match: {}
    group_by: [systemname]
    group_wait_secs: 30
    repeat: 1
    steps:
      - targets: [person:alice]
        attempts: 2
        retry_after_secs: 120
      - targets: [person:bob, person:carol]
        attempts: 1
"#;

fn roster() -> Roster {
    Roster::from_yaml(ROSTER).unwrap_or_else(|e| panic!("test roster is valid: {:?}", e.0))
}

/// Tuesday 2026-11-24 03:00 JST: a normal night.
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 18, 0, 0).unwrap()
}

fn alert(system: &str, name: &str, status: Status) -> Alert {
    Alert::with_labels([("systemname", system), ("alertname", name)], status)
}

/// A tiny world: one incident, a clock, the calls placed.
struct World {
    roster: Roster,
    silences: SilenceIndex,
    settings: Settings,
    now: DateTime<Utc>,
    inc: Incident,
    calls: Vec<(DateTime<Utc>, String, String)>,
    effects: Vec<Effect>,
    /// Play the shell: a placed call is dialled and accepted at once.
    /// Off: calls wait in line (no live-call slot) until the test says.
    auto_dial: bool,
}

impl World {
    fn new(alerts: Vec<Alert>) -> World {
        Self::with_roster(roster(), alerts)
    }

    fn with_roster(roster: Roster, alerts: Vec<Alert>) -> World {
        Self::starting(roster, t0(), alerts)
    }

    fn starting(roster: Roster, now: DateTime<Utc>, alerts: Vec<Alert>) -> World {
        let r = route(&roster, &alerts[0]).expect("routed");
        let inc = Incident::open("inc-1", &r.group_key, r.policy, r.group_labels.clone(), now);
        let mut w = World {
            silences: SilenceIndex::default(),
            settings: Settings::default(),
            now,
            inc,
            calls: Vec::new(),
            effects: Vec::new(),
            auto_dial: true,
            roster,
        };
        w.send(Event::Alerts(alerts));
        w
    }

    fn send(&mut self, event: Event) {
        let ctx = Context {
            roster: &self.roster,
            silences: &self.silences,
            settings: &self.settings,
            lines: &Lines::new(),
        };
        let (inc, effects) = decide(&self.inc, event, &ctx, self.now);
        let mut placed = Vec::new();
        for e in &effects {
            if let Effect::PlaceCall(req) = e {
                self.calls
                    .push((self.now, req.person.clone(), req.call_id.clone()));
                placed.push(req.call_id.clone());
            }
        }
        self.inc = inc;
        self.effects.extend(effects);
        if self.auto_dial {
            for call_id in placed {
                self.dial(&call_id);
            }
        }
    }

    /// What the shell does once the call has a slot: dial, and Connect accepts.
    fn dial(&mut self, call_id: &str) {
        self.send(Event::Dialing {
            call_id: call_id.to_string(),
        });
        self.send(Event::CallPlaced {
            call_id: call_id.to_string(),
            contact_id: format!("contact-{call_id}"),
        });
    }

    /// Advances the clock to the incident's next action and ticks.
    fn wait(&mut self) {
        if let Some(at) = self.inc.next_action_at {
            self.now = self.now.max(at);
        }
        self.send(Event::Tick);
    }

    fn answer(&mut self, outcome: Outcome, reason: &str) {
        let call = self.inc.call.clone().expect("a call is in flight");
        self.now += Duration::seconds(40);
        self.send(Event::CallEnded {
            call_id: call.call_id,
            outcome,
            disconnect_reason: Some(reason.to_string()),
        });
    }

    fn called(&self) -> Vec<&str> {
        self.calls.iter().map(|(_, p, _)| p.as_str()).collect()
    }
}

fn web_alert() -> Alert {
    alert("web", "HighLatency", Status::Firing)
}

#[test]
fn nobody_is_called_before_group_wait() {
    let mut w = World::new(vec![web_alert()]);
    assert_eq!(w.inc.phase, Phase::Grouping);
    w.now += Duration::seconds(29);
    w.send(Event::Tick);
    assert!(w.calls.is_empty());
    w.wait();
    assert_eq!(w.called(), ["alice"]);
    assert_eq!(w.calls[0].0, t0() + Duration::seconds(30));
}

#[test]
fn first_engineer_presses_1_and_nobody_else_is_called() {
    let mut w = World::new(vec![web_alert()]);
    w.wait();
    w.answer(Outcome::Acknowledged, "CONTACT_FLOW_DISCONNECT");
    assert_eq!(w.inc.phase, Phase::Acknowledged);
    assert_eq!(w.inc.acked_by.as_deref(), Some("alice"));
    for _ in 0..10 {
        w.now += Duration::hours(1);
        w.send(Event::Tick);
    }
    w.send(Event::Alerts(vec![alert("web", "Another", Status::Firing)]));
    assert_eq!(
        w.called(),
        ["alice"],
        "an acknowledged incident never calls again"
    );
}

#[test]
fn voicemail_then_retry_after_then_next_step_where_bob_presses_1() {
    let mut w = World::new(vec![web_alert()]);
    w.wait();
    // Alice's phone goes to voicemail: nobody presses a key at the guard.
    w.answer(Outcome::Unreachable, "CONTACT_FLOW_DISCONNECT");
    assert_eq!(w.inc.phase, Phase::Waiting);
    let retry_at = w.inc.next_action_at.unwrap();
    assert_eq!(retry_at, w.now + Duration::seconds(120), "retry_after_secs");
    w.wait();
    assert_eq!(w.called(), ["alice", "alice"]);
    w.answer(Outcome::Unreachable, "TELECOM_UNANSWERED");
    // Step 1 exhausted (2 attempts): step 2 starts at once with Bob.
    assert_eq!(w.called(), ["alice", "alice", "bob"]);
    w.answer(Outcome::Acknowledged, "CONTACT_FLOW_DISCONNECT");
    assert_eq!(w.inc.phase, Phase::Acknowledged);
    assert_eq!(
        w.called(),
        ["alice", "alice", "bob"],
        "Carol is never woken"
    );
}

#[test]
fn pressing_2_passes_the_call_to_the_next_person_at_once() {
    let mut w = World::new(vec![web_alert()]);
    w.wait();
    w.answer(Outcome::Unreachable, "CONTACT_FLOW_DISCONNECT");
    w.wait();
    w.answer(Outcome::HungUp, "CUSTOMER_DISCONNECT");
    w.answer(Outcome::Declined, "CONTACT_FLOW_DISCONNECT");
    assert_eq!(w.called(), ["alice", "alice", "bob", "carol"]);
    assert_eq!(w.calls[3].0, w.now, "no wait after a decline");
}

#[test]
fn pressing_9_silences_the_scope_and_closes_the_incident() {
    let mut w = World::new(vec![web_alert()]);
    w.wait();
    w.answer(Outcome::Silenced { hours: 2 }, "CONTACT_FLOW_DISCONNECT");
    assert_eq!(w.inc.phase, Phase::Silenced);
    let silence = w
        .effects
        .iter()
        .find_map(|e| match e {
            Effect::CreateSilence(s) => Some(s.clone()),
            _ => None,
        })
        .expect("a silence is created");
    assert_eq!(silence.ends_at - silence.starts_at, 2 * 3600);
    assert_eq!(
        silence.matchers,
        vec![Matcher::equal("systemname", "web").unwrap()]
    );
    assert!(
        silence.created_by.contains("+81******0001"),
        "{}",
        silence.created_by
    );
    assert!(w
        .effects
        .iter()
        .any(|e| matches!(e, Effect::ReleaseGroup { .. })));
    // A later alert of the same system opens a new incident that is silenced.
    let later = World::with_silences_at(
        w.now,
        vec![silence.clone()],
        vec![alert("web", "Other", Status::Firing)],
    );
    assert!(later.calls.is_empty());
    assert_eq!(later.inc.phase, Phase::Suppressed);
}

impl World {
    fn with_silences(silences: Vec<Silence>, alerts: Vec<Alert>) -> World {
        Self::with_silences_at(t0(), silences, alerts)
    }

    fn with_silences_at(start: DateTime<Utc>, silences: Vec<Silence>, alerts: Vec<Alert>) -> World {
        let mut w = World::starting(roster(), start, alerts);
        w.silences = SilenceIndex::new(silences);
        w.wait();
        w
    }
}

#[test]
fn a_silence_that_ends_while_still_firing_lets_the_calls_resume() {
    let s = Silence {
        id: "s1".into(),
        matchers: vec![Matcher::equal("systemname", "web").unwrap()],
        starts_at: t0().timestamp() - 10,
        ends_at: t0().timestamp() + 3600,
        created_by: "cli:sre".into(),
        reason: "maintenance".into(),
    };
    let mut w = World::with_silences(vec![s], vec![web_alert()]);
    assert_eq!(w.inc.phase, Phase::Suppressed);
    assert_eq!(w.inc.next_action_at, Some(t0() + Duration::seconds(3600)));
    w.wait();
    assert_eq!(w.called(), ["alice"], "calls resume when the silence ends");
}

#[test]
fn alert_resolves_before_anyone_acknowledges_and_the_pending_call_is_cancelled() {
    let mut w = World::new(vec![web_alert()]);
    w.wait();
    w.answer(Outcome::Unreachable, "CONTACT_FLOW_DISCONNECT");
    assert_eq!(w.inc.phase, Phase::Waiting);
    w.send(Event::Alerts(vec![alert(
        "web",
        "HighLatency",
        Status::Resolved,
    )]));
    assert_eq!(w.inc.phase, Phase::Resolved);
    w.now += Duration::hours(3);
    w.send(Event::Tick);
    assert_eq!(w.called(), ["alice"]);
}

#[test]
fn resolving_during_a_call_hangs_it_up() {
    let mut w = World::new(vec![web_alert()]);
    w.wait();
    w.send(Event::CallPlaced {
        call_id: w.inc.call.clone().unwrap().call_id,
        contact_id: "contact-1".into(),
    });
    w.send(Event::Alerts(vec![alert(
        "web",
        "HighLatency",
        Status::Resolved,
    )]));
    assert!(w
        .effects
        .iter()
        .any(|e| matches!(e, Effect::StopCall { contact_id: Some(c), .. } if c == "contact-1")));
}

#[test]
fn a_storm_of_requests_within_a_minute_is_one_line_of_the_timeline() {
    let mut w = World::new(vec![web_alert()]);
    for i in 0..99 {
        w.now += Duration::milliseconds(300);
        w.send(Event::Alerts(vec![alert(
            "web",
            &format!("Err{i}"),
            Status::Firing,
        )]));
    }
    let alerts: Vec<&HistoryKind> = w
        .inc
        .history
        .iter()
        .map(|h| &h.kind)
        .filter(|k| matches!(k, HistoryKind::Alerts { .. }))
        .collect();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let HistoryKind::Alerts { firing, titles, .. } = alerts[0] else {
        unreachable!()
    };
    assert_eq!((*firing, titles.len()), (100, 3));
    // A minute later, a new line; after a call, a new line.
    w.now += Duration::seconds(61);
    w.send(Event::Alerts(vec![alert("web", "Late", Status::Firing)]));
    w.wait();
    w.send(Event::Alerts(vec![alert("web", "Later", Status::Resolved)]));
    let kinds: Vec<&HistoryKind> = w.inc.history.iter().map(|h| &h.kind).collect();
    let n = kinds
        .iter()
        .filter(|k| matches!(k, HistoryKind::Alerts { .. }))
        .count();
    assert_eq!(n, 3, "{kinds:?}");
    assert_eq!(w.inc.alerts_received, 102);
}

#[test]
fn incident_resolves_only_when_all_its_alerts_resolve() {
    let mut w = World::new(vec![web_alert(), alert("web", "Errors", Status::Firing)]);
    w.send(Event::Alerts(vec![alert(
        "web",
        "Errors",
        Status::Resolved,
    )]));
    assert_eq!(w.inc.phase, Phase::Grouping);
    w.send(Event::Alerts(vec![alert(
        "web",
        "HighLatency",
        Status::Resolved,
    )]));
    assert_eq!(w.inc.phase, Phase::Resolved);
}

#[test]
fn telecom_failures_back_off_then_flag_the_number_and_move_on() {
    let mut w = World::new(vec![web_alert()]);
    w.wait();
    w.answer(Outcome::CallFailed, "TELECOM_PROBLEM");
    assert_eq!(w.inc.phase, Phase::Waiting);
    assert_eq!(w.inc.next_action_at, Some(w.now + Duration::seconds(30)));
    w.wait();
    assert_eq!(w.called(), ["alice", "alice"]);
    assert_ne!(w.calls[0].2, w.calls[1].2, "a retry is a new call id");
    w.answer(Outcome::CallFailed, "TELECOM_PROBLEM");
    assert!(w.inc.history.iter().any(|h| matches!(
        &h.kind,
        ringdown_core::escalation::HistoryKind::NumberFlagged { .. }
    )));
    // Round of step 1 over: retry_after, then Alice's second attempt.
    w.wait();
    assert_eq!(w.called(), ["alice", "alice", "alice"]);
}

#[test]
fn a_number_connect_refuses_alerts_the_operator_and_calls_the_next_person_now() {
    let mut w = World::new(vec![web_alert()]);
    w.wait();
    w.answer(Outcome::Unreachable, "TELECOM_UNANSWERED");
    w.wait();
    w.answer(Outcome::Unreachable, "TELECOM_UNANSWERED");
    let bob_call = w.inc.call.clone().unwrap();
    assert_eq!(bob_call.person, "bob");
    w.send(Event::CallRejected {
        call_id: bob_call.call_id,
        kind: RejectKind::Misconfigured,
        message: "DestinationNotAllowed".into(),
    });
    assert!(w
        .effects
        .iter()
        .any(|e| matches!(e, Effect::OperatorAlert { .. })));
    assert_eq!(w.called(), ["alice", "alice", "bob", "carol"]);
}

#[test]
fn nobody_answers_repeat_then_fallback() {
    let mut w = World::new(vec![web_alert()]);
    w.wait();
    for _ in 0..20 {
        if w.inc.phase.is_closed() {
            break;
        }
        if w.inc.call.is_some() {
            w.answer(Outcome::Unreachable, "CONTACT_FLOW_DISCONNECT");
        } else {
            w.wait();
        }
    }
    assert_eq!(w.inc.phase, Phase::Exhausted);
    // Two passes (repeat: 1) over [alice x2, bob, carol].
    assert_eq!(
        w.called(),
        ["alice", "alice", "bob", "carol", "alice", "alice", "bob", "carol"]
    );
    assert!(w
        .effects
        .iter()
        .any(|e| matches!(e, Effect::Fallback { .. })));
}

#[test]
fn a_duplicate_contact_record_changes_nothing() {
    let mut w = World::new(vec![web_alert()]);
    w.wait();
    let call = w.inc.call.clone().unwrap();
    w.answer(Outcome::Unreachable, "CONTACT_FLOW_DISCONNECT");
    let before = w.inc.clone();
    w.send(Event::CallEnded {
        call_id: call.call_id,
        outcome: Outcome::Unreachable,
        disconnect_reason: None,
    });
    assert_eq!(w.inc.cursor, before.cursor);
    assert_eq!(w.calls.len(), 1);
}

#[test]
fn no_outcome_by_the_deadline_counts_as_unreachable_and_the_deadline_is_what_the_call_can_last() {
    let mut w = World::new(vec![web_alert()]);
    w.wait();
    let placed = w.now;
    let request = &w.inc.call.as_ref().unwrap().request;
    let chars = request.message.chars().count() + request.list.chars().count();
    w.wait();
    // 60 s of ringing + 180 s of flow + the message and the list (key 3)
    // at 150 ms a character +
    // 120 s of contact-record lag + 120 s to ask Connect.
    let expected = Duration::milliseconds(((60 + 180 + 120 + 120) * 1000 + chars * 150) as i64);
    assert_eq!(w.now, placed + expected);
    assert!(w.inc.call.is_none());
    assert_eq!(
        w.inc.phase,
        Phase::Waiting,
        "Alice's next attempt after retry_after"
    );
    assert!(w.inc.history.iter().any(|h| matches!(
        &h.kind,
        HistoryKind::CallOutcome {
            outcome: Outcome::Unknown,
            ..
        }
    )));
}

#[test]
fn an_acknowledgement_that_comes_after_the_deadline_still_stops_the_escalation() {
    let mut w = World::new(vec![web_alert()]);
    w.wait();
    let alice_call = w.inc.call.clone().unwrap().call_id;
    // Her contact record and event were lost; the deadline passes; the
    // escalation moves on to Alice's next attempt ...
    w.wait();
    assert!(w.inc.call.is_none());
    // ... and then the record arrives: she had pressed 1.
    w.now += Duration::seconds(30);
    w.send(Event::CallEnded {
        call_id: alice_call,
        outcome: Outcome::Acknowledged,
        disconnect_reason: Some("CONTACT_FLOW_DISCONNECT".into()),
    });
    assert_eq!(w.inc.phase, Phase::Acknowledged);
    assert_eq!(w.inc.acked_by.as_deref(), Some("alice"));
    for _ in 0..5 {
        w.wait();
    }
    assert_eq!(w.called(), ["alice"], "nobody else is woken");
}

#[test]
fn a_call_waiting_in_line_for_a_live_call_slot_never_times_out() {
    let mut w = World::new(vec![web_alert()]);
    w.auto_dial = false;
    w.wait();
    let call = w.inc.call.clone().expect("decided");
    // Half an hour in line behind a storm: re-confirmed every 30 s, never
    // an outcome, never a second person.
    for _ in 0..60 {
        w.wait();
    }
    assert_eq!(w.called(), ["alice"]);
    assert_eq!(w.inc.phase, Phase::Calling);
    assert_eq!(w.inc.call.as_ref().unwrap().call_id, call.call_id);
    // Dialled at last: the deadline runs from now.
    let dialled = w.now;
    w.dial(&call.call_id);
    let deadline = w.inc.next_action_at.unwrap();
    assert!(
        deadline - dialled > Duration::seconds(420),
        "{}",
        deadline - dialled
    );
    w.answer(Outcome::Acknowledged, "CONTACT_FLOW_DISCONNECT");
    assert_eq!(w.inc.phase, Phase::Acknowledged);
}

#[test]
fn a_dialled_call_whose_contact_id_never_came_is_placed_again_before_it_counts_as_unknown() {
    let mut w = World::new(vec![web_alert()]);
    w.auto_dial = false;
    w.wait();
    let call = w.inc.call.clone().unwrap();
    // The shell set out to dial and died before Connect's answer was stored.
    w.send(Event::Dialing {
        call_id: call.call_id.clone(),
    });
    w.wait();
    assert_eq!(
        w.called(),
        ["alice", "alice"],
        "the same call, placed again"
    );
    assert_eq!(w.calls[1].2, call.call_id, "same call id: same ClientToken");
    assert!(w.inc.call.as_ref().unwrap().dialled_at.is_none());
    // The second attempt dials, and again nothing is stored; the third too.
    w.send(Event::Dialing {
        call_id: call.call_id.clone(),
    });
    w.wait();
    w.send(Event::Dialing {
        call_id: call.call_id.clone(),
    });
    assert_eq!(w.inc.call.as_ref().unwrap().dial_attempts, 3);
    w.wait();
    // After the re-issues, the outcome counts as UNKNOWN and Alice's next
    // attempt is due after retry_after.
    assert!(w.inc.call.is_none());
    assert_eq!(w.inc.phase, Phase::Waiting);
}

#[test]
fn a_business_days_only_person_is_skipped_on_a_holiday_and_the_next_target_follows() {
    // 2026-11-23 is Labour Thanksgiving Day; 10:00 JST.
    let holiday = Utc.with_ymd_and_hms(2026, 11, 23, 1, 0, 0).unwrap();
    let r = roster();
    let db_alert = {
        let mut a = alert("db1", "Down", Status::Firing);
        a.labels.insert("team".into(), "db".into());
        a
    };
    let route = route(&r, &db_alert).unwrap();
    let inc = Incident::open(
        "inc-db",
        &route.group_key,
        route.policy,
        route.group_labels.clone(),
        holiday,
    );
    let silences = SilenceIndex::default();
    let settings = Settings::default();
    let ctx = Context {
        roster: &r,
        silences: &silences,
        settings: &settings,
        lines: &Lines::new(),
    };
    let (inc, effects) = decide(&inc, Event::Alerts(vec![db_alert]), &ctx, holiday);
    let (inc, more) = decide(&inc, Event::Tick, &ctx, holiday);
    let calls: Vec<_> = effects
        .iter()
        .chain(more.iter())
        .filter_map(|e| match e {
            Effect::PlaceCall(c) => Some(c.person.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(calls, ["carol"]);
    let skipped = inc
        .history
        .iter()
        .find_map(|h| match &h.kind {
            ringdown_core::escalation::HistoryKind::Skipped { person, reason } => {
                Some((person.clone(), reason.clone()))
            }
            _ => None,
        })
        .expect("the skip is recorded");
    assert_eq!(skipped.0, "dave");
    assert!(!skipped.1.is_empty());
}

#[test]
fn the_call_reads_the_alert_in_the_persons_language_and_escapes_it() {
    let mut a = web_alert();
    a.annotations.insert(
        "summary".into(),
        "p99 <break time=\"60s\"/> & rising".into(),
    );
    let mut w = World::new(vec![a]);
    w.wait();
    let req = w
        .effects
        .iter()
        .find_map(|e| match e {
            Effect::PlaceCall(r) => Some(r.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(req.language, ringdown_core::Language::EnUs);
    assert!(!req.message.contains("<break"), "{}", req.message);
    assert!(req.message.contains("&amp;"), "{}", req.message);
    assert_eq!(req.call_id, w.inc.call.as_ref().unwrap().call_id);
}

// ---- properties -------------------------------------------------------------

#[derive(Debug, Clone)]
enum Step {
    Tick(u32),
    End(u8),
    Reject(bool),
    Resolve,
    Fire,
    Ack,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0u32..400).prop_map(Step::Tick),
        (0u8..8).prop_map(Step::End),
        any::<bool>().prop_map(Step::Reject),
        Just(Step::Resolve),
        Just(Step::Fire),
        Just(Step::Ack),
    ]
}

fn outcome_of(i: u8) -> Outcome {
    [
        Outcome::Acknowledged,
        Outcome::Silenced { hours: 2 },
        Outcome::Declined,
        Outcome::Unreachable,
        Outcome::HungUp,
        Outcome::CallFailed,
        Outcome::Unknown,
        Outcome::Unreachable,
    ][i as usize % 8]
}

fn run(steps: &[Step], silence_web: bool) -> (World, Vec<(Phase, usize, bool)>) {
    let mut w = World::new(vec![web_alert()]);
    if silence_web {
        w.silences = SilenceIndex::new(vec![Silence {
            id: "s".into(),
            matchers: vec![Matcher::equal("systemname", "web").unwrap()],
            starts_at: 0,
            ends_at: i64::MAX / 2,
            created_by: "t".into(),
            reason: "t".into(),
        }]);
    }
    let mut trace = Vec::new();
    for s in steps {
        let calls_before = w.calls.len();
        let phase_before = w.inc.phase;
        let had_call = w.inc.call.is_some();
        match s {
            Step::Tick(secs) => {
                w.now += Duration::seconds(i64::from(*secs));
                w.send(Event::Tick)
            }
            Step::End(o) => {
                if let Some(c) = w.inc.call.clone() {
                    w.send(Event::CallEnded {
                        call_id: c.call_id,
                        outcome: outcome_of(*o),
                        disconnect_reason: None,
                    })
                }
            }
            Step::Reject(m) => {
                if let Some(c) = w.inc.call.clone() {
                    w.send(Event::CallRejected {
                        call_id: c.call_id,
                        kind: if *m {
                            RejectKind::Misconfigured
                        } else {
                            RejectKind::Unavailable
                        },
                        message: "x".into(),
                    })
                }
            }
            Step::Resolve => w.send(Event::Alerts(vec![alert(
                "web",
                "HighLatency",
                Status::Resolved,
            )])),
            Step::Fire => w.send(Event::Alerts(vec![alert(
                "web",
                "HighLatency",
                Status::Firing,
            )])),
            Step::Ack => w.send(Event::Acknowledge { by: "cli".into() }),
        }
        let new_calls = w.calls.len() - calls_before;
        // Never two calls in flight: a new call only when none was in flight
        // after the previous outcome, at most one per event.
        assert!(new_calls <= 1, "one call per decision at most");
        trace.push((phase_before, new_calls, had_call));
    }
    (w, trace)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, .. ProptestConfig::default() })]

    #[test]
    fn never_a_call_after_ack_resolve_or_exhaustion(steps in prop::collection::vec(step(), 1..60)) {
        let (_w, trace) = run(&steps, false);
        for (phase_before, new_calls, _) in &trace {
            if matches!(phase_before, Phase::Acknowledged) || phase_before.is_closed() {
                prop_assert_eq!(*new_calls, 0, "call placed in phase {:?}", phase_before);
            }
        }
    }

    #[test]
    fn never_a_call_while_a_matching_silence_is_active(steps in prop::collection::vec(step(), 1..60)) {
        let (w, _) = run(&steps, true);
        prop_assert!(w.calls.is_empty());
    }

    #[test]
    fn never_two_calls_in_flight(steps in prop::collection::vec(step(), 1..60)) {
        use ringdown_core::escalation::HistoryKind;
        let (w, _) = run(&steps, false);
        // In the timeline, every placed call has its outcome before the next
        // call is placed.
        let mut open: Option<String> = None;
        for h in &w.inc.history {
            match &h.kind {
                HistoryKind::CallPlaced { call_id, .. } => {
                    prop_assert!(open.is_none(), "{} placed while {:?} in flight", call_id, open);
                    open = Some(call_id.clone());
                }
                HistoryKind::CallOutcome { call_id, .. } => {
                    prop_assert_eq!(open.as_ref(), Some(call_id));
                    open = None;
                }
                _ => {}
            }
        }
        let mut ids: Vec<_> = w.calls.iter().map(|c| c.2.clone()).collect();
        ids.sort();
        ids.dedup();
        prop_assert_eq!(ids.len(), w.calls.len(), "call ids never repeat");
    }

    #[test]
    fn attempts_never_exceed_the_policy(steps in prop::collection::vec(step(), 1..200)) {
        let (w, _) = run(&steps, false);
        // default policy: (repeat 1 + 1) passes x (alice x2 + bob + carol),
        // each call possibly retried once after a telecom failure.
        let per_pass = 2 + 1 + 1;
        let max = 2 * per_pass * w.settings.max_call_failures as usize;
        prop_assert!(w.calls.len() <= max, "{} calls", w.calls.len());
        let alice = w.calls.iter().filter(|c| c.1 == "alice").count();
        prop_assert!(alice <= 2 * 2 * w.settings.max_call_failures as usize);
    }

    #[test]
    fn the_same_inputs_give_the_same_plan(steps in prop::collection::vec(step(), 1..60)) {
        let (a, _) = run(&steps, false);
        let (b, _) = run(&steps, false);
        prop_assert_eq!(a.inc, b.inc);
        prop_assert_eq!(a.calls, b.calls);
        prop_assert_eq!(a.effects, b.effects);
    }
}

/// A catch-all policy without group labels (the default `group_by: []`),
/// alarms that share only their account and region.
const ACCOUNT_WIDE: &str = r#"
timezone: UTC
people:
  alice: { language: en-US, phones: [{ number: "+819011110001" }] }
policies:
  - name: everything
    group_wait_secs: 0
    steps:
      - targets: [person:alice]
"#;

fn alarm(name: &str) -> Alert {
    Alert::with_labels(
        [
            ("account", "123456789012"),
            ("region", "ap-northeast-1"),
            ("alertname", name),
        ],
        Status::Firing,
    )
}

#[test]
fn pressing_9_without_group_labels_silences_this_outages_alerts_and_not_the_whole_account() {
    let roster = Roster::from_yaml(ACCOUNT_WIDE).unwrap();
    let mut w = World::with_roster(roster, vec![alarm("DiskFull-db1"), alarm("DiskFull-db2")]);
    w.wait();
    assert_eq!(
        w.inc.call.as_ref().unwrap().request.scope,
        "the 2 alerts of this call",
        "the call says what 9 would silence"
    );
    w.answer(Outcome::Silenced { hours: 2 }, "CONTACT_FLOW_DISCONNECT");
    assert_eq!(w.inc.phase, Phase::Silenced);
    let silences: Vec<Silence> = w
        .effects
        .iter()
        .filter_map(|e| match e {
            Effect::CreateSilence(s) => Some(s.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(silences.len(), 2, "one per alert of the outage");
    let index = SilenceIndex::new(silences);
    let now = w.now.timestamp();
    for same in [alarm("DiskFull-db1"), alarm("DiskFull-db2")] {
        assert!(
            index
                .active_match_alert(&same.labels, &same.fingerprint, now)
                .is_some(),
            "the same alarm again is silenced"
        );
    }
    let other = alarm("PaymentsDown");
    assert!(
        index
            .active_match_alert(&other.labels, &other.fingerprint, now)
            .is_none(),
        "another alarm of the same account and region still pages"
    );
}

#[test]
fn a_group_label_no_matcher_can_name_never_widens_the_keypad_silence() {
    let mut labels = Labels::new();
    labels.insert("Instance Id".into(), "i-0abc".into());
    let mut inc = Incident::open("inc-9", "g", roster().policy("db").unwrap(), labels, t0());
    inc.firing.insert("00000000deadbeef".into());
    assert_eq!(
        ringdown_core::escalation::keypad_scope(&inc),
        Some(ringdown_core::escalation::KeypadScope::Alerts(vec![
            "00000000deadbeef".into()
        ])),
        "named by fingerprint, not by the labels left after dropping the bad one"
    );
}

/// Alert `i` of a large outage of system `web`.
fn instance(i: usize, status: Status) -> Alert {
    let mut a = alert("web", "HighLatency", status);
    a.labels.insert("instance".into(), format!("web-{i:05}"));
    a.fingerprint = ringdown_core::fingerprint::fingerprint(&a.labels);
    a
}

#[test]
fn an_outage_past_the_tracked_alerts_does_not_resolve_while_untracked_ones_may_still_fire() {
    // 5,010 alerts fire; the first 5,000 are tracked by fingerprint.
    let mut w = World::new((0..5010).map(|i| instance(i, Status::Firing)).collect());
    w.wait();
    w.answer(Outcome::Acknowledged, "CONTACT_FLOW_DISCONNECT");
    assert_eq!(w.inc.phase, Phase::Acknowledged);
    assert_eq!(w.inc.firing.len(), 5000);
    assert_eq!(w.inc.untracked_alerts, 10);

    // The tracked 5,000 resolve; the other ten are still firing.
    w.now += Duration::minutes(10);
    w.send(Event::Alerts(
        (0..5000).map(|i| instance(i, Status::Resolved)).collect(),
    ));
    assert_eq!(
        w.inc.phase,
        Phase::Acknowledged,
        "resolved with ten alerts still firing: the next notification would open a new incident and page from step 1"
    );
    let check = w.inc.resolve_check_at.expect("a resolve check is due");
    assert_eq!(w.inc.wake_at(), Some(check));

    // Alertmanager sends the ten again: now they are tracked, the check is off.
    w.now += Duration::minutes(5);
    w.send(Event::Alerts(
        (5000..5010).map(|i| instance(i, Status::Firing)).collect(),
    ));
    assert_eq!(w.inc.firing.len(), 10);
    assert_eq!(w.inc.resolve_check_at, None);
    assert_eq!(
        w.called(),
        ["alice"],
        "the acknowledgement held: nobody else rung"
    );

    // They resolve; the quiet period since the last untracked alert has
    // not passed, so the incident waits, then resolves at its check.
    w.send(Event::Alerts(
        (5000..5010)
            .map(|i| instance(i, Status::Resolved))
            .collect(),
    ));
    assert_eq!(w.inc.phase, Phase::Acknowledged);
    let check = w.inc.resolve_check_at.expect("a resolve check is due");
    assert_eq!(
        check,
        t0() + Duration::seconds(w.settings.untracked_quiet_secs as i64)
    );
    w.now = check;
    w.send(Event::Tick);
    assert_eq!(w.inc.phase, Phase::Resolved);
}

#[test]
fn an_outage_within_the_tracked_alerts_resolves_as_soon_as_they_do() {
    let mut w = World::new((0..100).map(|i| instance(i, Status::Firing)).collect());
    w.send(Event::Alerts(
        (0..100).map(|i| instance(i, Status::Resolved)).collect(),
    ));
    assert_eq!(w.inc.phase, Phase::Resolved);
    assert_eq!(w.inc.untracked_alerts, 0);
}

#[test]
fn an_incident_fed_huge_titles_and_labels_for_days_stays_small_enough_to_store() {
    // Runbooks pasted into summaries, a 3 KB label value, labels near the
    // parser's limits: every write must stay well under DynamoDB's 400 KB.
    let big_labels = |i: usize| -> Labels {
        let mut l: Labels = (0..128)
            .map(|k| {
                (
                    format!("label_{k:03}_{}", "n".repeat(200)),
                    "v".repeat(2000),
                )
            })
            .collect();
        l.insert("systemname".into(), format!("a{}", "x".repeat(3000)));
        l.insert("instance".into(), format!("i-{i}"));
        l
    };
    let wordy = |i: usize| -> Alert {
        let labels = big_labels(i);
        let mut annotations = Labels::new();
        annotations.insert(
            "summary".into(),
            format!("{i}: {}", "runbook \"step\" ".repeat(1200)),
        );
        Alert {
            fingerprint: ringdown_core::fingerprint::fingerprint(&labels),
            status: Status::Firing,
            labels,
            annotations,
            starts_at: None,
            ends_at: None,
            source: Source::Generic,
        }
    };
    let mut w = World::new(vec![wordy(0)]);
    let mut largest = 0;
    for batch in 0..150 {
        w.now += Duration::minutes(1);
        w.send(Event::Alerts(
            (0..20).map(|k| wordy(batch * 20 + k)).collect(),
        ));
        largest = largest.max(serde_json::to_vec(&w.inc).unwrap().len());
    }
    assert!(
        largest < 300_000,
        "largest stored incident: {largest} bytes"
    );
    assert!(w.inc.group_key.len() <= ringdown_core::grouping::MAX_GROUP_KEY_BYTES);
    assert!(
        w.inc.labels_omitted.len() > 10,
        "the labels past 16 KiB are named"
    );
    assert!(w.inc.history.len() > 20, "the recent timeline is kept");
    assert!(matches!(w.inc.history[0].kind, HistoryKind::Opened { .. }));
}

#[test]
fn a_silence_on_a_label_too_large_to_keep_never_silences_the_incident() {
    // The label was not kept whole, so ringdown cannot tell whether
    // `runbook!="…"` matches: it calls rather than guess.
    let mut a = web_alert();
    a.labels.insert("runbook".into(), "r".repeat(20_000));
    a.fingerprint = ringdown_core::fingerprint::fingerprint(&a.labels);
    let mut w = World::new(vec![a]);
    assert!(w.inc.labels_omitted.contains("runbook"));
    w.silences = SilenceIndex::new(vec![Silence {
        id: "s-1".into(),
        matchers: vec![Matcher::parse("runbook!=\"elsewhere\"").unwrap()],
        starts_at: t0().timestamp() - 60,
        ends_at: t0().timestamp() + 3600,
        created_by: "sre".into(),
        reason: "maintenance elsewhere".into(),
    }]);
    w.wait();
    assert_eq!(w.called(), ["alice"]);
}

// What people leaving PagerDuty, Opsgenie and Incident Manager expect:
// acknowledgements that time out, steps that ring everyone or take turns,
// and acting on an incident without the phone.

const LEAVERS: &str = r#"
timezone: Asia/Tokyo
people:
  alice: { language: en-US, phones: [{ number: "+819011110001" }] }
  bob:   { phones: [{ number: "+819011110002" }] }
  carol: { phones: [{ number: "+819011110003" }] }
policies:
  - name: default
    match: {}
    group_by: [systemname]
    group_wait_secs: 0
    ack_timeout_secs: 1800
    steps:
      - targets: [person:alice]
      - targets: [person:bob, person:carol]
        mode: all
        attempts: 2
        retry_after_secs: 60
      - targets: [person:alice, person:bob, person:carol]
        mode: round_robin
"#;

fn leavers() -> World {
    let roster = Roster::from_yaml(LEAVERS).unwrap_or_else(|e| panic!("{:?}", e.0));
    let mut w = World::with_roster(roster, vec![web_alert()]);
    w.wait();
    w
}

impl World {
    /// The call in flight to `person` ends with `outcome`.
    fn answer_as(&mut self, person: &str, outcome: Outcome) {
        let call = self
            .inc
            .calls()
            .find(|c| c.person == person)
            .unwrap_or_else(|| panic!("{person} is being called"))
            .clone();
        self.send(Event::CallEnded {
            call_id: call.call_id,
            outcome,
            disconnect_reason: Some("CONTACT_FLOW_DISCONNECT".into()),
        });
    }

    fn ringing(&self) -> Vec<String> {
        self.inc.calls().map(|c| c.person.clone()).collect()
    }

    fn stopped(&self) -> Vec<String> {
        self.inc
            .history
            .iter()
            .filter_map(|h| match &h.kind {
                HistoryKind::CallStopped { person, .. } => Some(person.clone()),
                _ => None,
            })
            .collect()
    }
}

#[test]
fn still_firing_30_minutes_after_the_acknowledgement_the_acker_is_rung_first_then_the_escalation_goes_on(
) {
    let mut w = leavers();
    w.answer(Outcome::Acknowledged, "CONTACT_FLOW_DISCONNECT");
    let acked_at = w.now;
    w.now += Duration::minutes(29);
    w.send(Event::Tick);
    assert_eq!(w.called(), ["alice"], "not before the timeout");
    w.wait();
    assert_eq!(w.now, acked_at + Duration::minutes(30));
    assert_eq!(w.called(), ["alice", "alice"], "the acker first");
    let reminder = w.inc.call.clone().expect("reminder call");
    assert!(
        reminder
            .request
            .message
            .contains("You acknowledged this 30 minutes ago and it is still firing."),
        "{}",
        reminder.request.message
    );
    assert_ne!(reminder.call_id, w.calls[0].2, "a call id of its own");
    // Alice does not answer this time: the escalation goes on.
    w.answer(Outcome::Unreachable, "CONTACT_FLOW_DISCONNECT");
    assert_eq!(w.called(), ["alice", "alice", "bob", "carol"]);
    w.answer_as("carol", Outcome::Acknowledged);
    assert_eq!(w.inc.phase, Phase::Acknowledged);
    assert_eq!(w.inc.acked_by.as_deref(), Some("carol"));
    assert_eq!(
        w.inc.next_action_at,
        Some(w.now + Duration::minutes(30)),
        "carol's acknowledgement starts the clock again"
    );
}

#[test]
fn the_reminded_engineer_presses_1_again_and_nobody_else_is_called() {
    let mut w = leavers();
    w.answer(Outcome::Acknowledged, "CONTACT_FLOW_DISCONNECT");
    w.wait();
    w.answer(Outcome::Acknowledged, "CONTACT_FLOW_DISCONNECT");
    assert_eq!(w.inc.phase, Phase::Acknowledged);
    assert_eq!(w.called(), ["alice", "alice"]);
    assert_eq!(w.inc.next_action_at, Some(w.now + Duration::minutes(30)));
}

#[test]
fn a_new_acknowledgement_restarts_the_clock_and_resolution_ends_it() {
    let mut w = leavers();
    w.answer(Outcome::Acknowledged, "CONTACT_FLOW_DISCONNECT");
    w.now += Duration::minutes(20);
    w.send(Event::Acknowledge { by: "alice".into() });
    assert_eq!(w.inc.next_action_at, Some(w.now + Duration::minutes(30)));
    w.now += Duration::minutes(29);
    w.send(Event::Tick);
    assert_eq!(w.called(), ["alice"]);
    w.send(Event::Alerts(vec![alert(
        "web",
        "HighLatency",
        Status::Resolved,
    )]));
    assert_eq!(w.inc.phase, Phase::Resolved);
    w.now += Duration::hours(2);
    w.send(Event::Tick);
    assert_eq!(w.called(), ["alice"], "no reminder after resolution");
}

#[test]
fn a_silence_covering_the_acknowledged_incident_ends_the_timeout() {
    let mut w = leavers();
    w.answer(Outcome::Acknowledged, "CONTACT_FLOW_DISCONNECT");
    w.silences = SilenceIndex::new(vec![Silence {
        id: "maintenance".into(),
        matchers: vec![Matcher::equal("systemname", "web").unwrap()],
        starts_at: w.now.timestamp(),
        ends_at: (w.now + Duration::hours(4)).timestamp(),
        created_by: "sre".into(),
        reason: "planned work".into(),
    }]);
    w.wait();
    assert_eq!(w.called(), ["alice"]);
    assert_eq!(w.inc.phase, Phase::Acknowledged);
    assert_eq!(w.inc.next_action_at, None);
}

#[test]
fn a_ring_all_step_rings_everyone_at_once_and_the_first_acknowledgement_hangs_up_the_others() {
    let mut w = leavers();
    w.answer(Outcome::Unreachable, "CONTACT_FLOW_DISCONNECT");
    assert_eq!(w.called(), ["alice", "bob", "carol"]);
    assert_eq!(w.calls[1].0, w.calls[2].0, "at once");
    assert_eq!(w.ringing(), ["bob", "carol"]);
    let bob_call = w.inc.call.clone().unwrap();
    w.answer_as("carol", Outcome::Acknowledged);
    assert_eq!(w.inc.phase, Phase::Acknowledged);
    assert_eq!(w.inc.acked_by.as_deref(), Some("carol"));
    assert!(w.effects.iter().any(|e| matches!(e,
        Effect::StopCall { call_id, contact_id: Some(_) } if *call_id == bob_call.call_id)));
    assert_eq!(w.stopped(), ["bob"]);
    // Bob's hung-up call reports in later: not an unanswered call.
    let before = w.inc.history.len();
    w.send(Event::CallEnded {
        call_id: bob_call.call_id,
        outcome: Outcome::Unreachable,
        disconnect_reason: Some("API".into()),
    });
    assert_eq!(w.inc.history.len(), before);
    assert_eq!(w.inc.phase, Phase::Acknowledged);
}

#[test]
fn when_nobody_in_a_ring_all_step_answers_the_round_waits_then_rings_all_again_then_the_next_step()
{
    let mut w = leavers();
    w.answer(Outcome::Unreachable, "CONTACT_FLOW_DISCONNECT");
    w.answer_as("bob", Outcome::Declined);
    assert_eq!(w.inc.phase, Phase::Calling, "carol's phone still rings");
    assert_eq!(w.called(), ["alice", "bob", "carol"]);
    w.answer_as("carol", Outcome::Unreachable);
    assert_eq!(w.inc.phase, Phase::Waiting);
    assert_eq!(w.inc.next_action_at, Some(w.now + Duration::seconds(60)));
    w.wait();
    assert_eq!(w.called(), ["alice", "bob", "carol", "bob", "carol"]);
    w.answer_as("carol", Outcome::CallFailed);
    w.answer_as("bob", Outcome::Unreachable);
    // Step 3 takes turns; this incident has turn 0: alice first.
    assert_eq!(w.ringing(), ["alice"]);
}

#[test]
fn round_robin_starts_each_new_incident_with_the_next_person() {
    let roster = Roster::from_yaml(LEAVERS).unwrap();
    let mut first = Vec::new();
    for turn in 0..4 {
        let mut w = World::with_roster(roster.clone(), vec![web_alert()]);
        w.inc.turn = turn;
        w.send(Event::Escalate { by: "test".into() });
        w.send(Event::Escalate { by: "test".into() });
        w.send(Event::Escalate { by: "test".into() });
        first.push(w.ringing()[0].clone());
        // Nobody answers: the rest of the step follows in turn.
        w.answer(Outcome::Unreachable, "CONTACT_FLOW_DISCONNECT");
        w.answer(Outcome::Unreachable, "CONTACT_FLOW_DISCONNECT");
        assert_eq!(w.called().len(), 1 + 2 + 3, "turn {turn}: {:?}", w.called());
    }
    assert_eq!(first, ["alice", "bob", "carol", "alice"]);
}

#[test]
fn an_acknowledgement_from_the_cli_stops_the_call_in_progress() {
    let mut w = leavers();
    let ringing = w.inc.call.clone().unwrap();
    w.send(Event::Acknowledge {
        by: "cli:bob".into(),
    });
    assert_eq!(w.inc.phase, Phase::Acknowledged);
    assert!(w.effects.iter().any(|e| matches!(e,
        Effect::StopCall { call_id, .. } if *call_id == ringing.call_id)));
    assert_eq!(w.stopped(), ["alice"]);
    assert!(w.inc.history.iter().any(|h| h.kind
        == HistoryKind::Acknowledged {
            by: "cli:bob".into()
        }));
}

#[test]
fn escalating_by_hand_hangs_up_and_rings_the_next_step_now() {
    let mut w = leavers();
    w.send(Event::Escalate {
        by: "cli:alice".into(),
    });
    assert_eq!(w.stopped(), ["alice"]);
    assert_eq!(w.ringing(), ["bob", "carol"]);
    // From an acknowledgement too: the acker wants help.
    w.answer_as("bob", Outcome::Acknowledged);
    w.send(Event::Escalate {
        by: "cli:bob".into(),
    });
    assert_eq!(w.inc.phase, Phase::Calling);
    assert_eq!(w.ringing(), ["alice"], "step 3, turn 0");
}

#[test]
fn resolving_by_hand_closes_a_firing_incident_and_silencing_by_hand_covers_its_scope() {
    let mut w = leavers();
    w.send(Event::Resolve {
        by: "cli:carol".into(),
    });
    assert_eq!(w.inc.phase, Phase::Resolved);
    assert_eq!(w.stopped(), ["alice"]);
    assert!(w.inc.history.iter().any(|h| h.kind
        == HistoryKind::ResolvedBy {
            by: "cli:carol".into()
        }));

    let mut w = leavers();
    w.send(Event::Silence {
        by: "cli:carol".into(),
        hours: 3,
    });
    assert_eq!(w.inc.phase, Phase::Silenced);
    let silence = w
        .effects
        .iter()
        .find_map(|e| match e {
            Effect::CreateSilence(s) => Some(s.clone()),
            _ => None,
        })
        .expect("a silence");
    assert_eq!(silence.created_by, "cli:carol");
    assert_eq!(silence.ends_at - silence.starts_at, 3 * 3600);
    assert_eq!(
        silence.matchers,
        vec![Matcher::equal("systemname", "web").unwrap()]
    );
}
