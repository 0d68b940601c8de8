//! Storms, told as the night goes: a line breaks, thirty systems alert, and
//! the engineer on call gets one call about it.
//!
//! `Town` plays the shell over many incidents at once: it keeps the
//! [`Lines`] up to date from every incident it saves and executes the storm
//! effects (`JoinStorm`, `ToStorm`, `ForMembers`) the way the engine does.

use chrono::{DateTime, Duration, TimeZone, Utc};
use ringdown_core::escalation::{
    decide, CallRequest, Context, Effect, Event, HistoryKind, Incident, Phase, Settings,
};
use ringdown_core::grouping::route;
use ringdown_core::outcome::Outcome;
use ringdown_core::roster::Roster;
use ringdown_core::silence::{Silence, SilenceIndex};
use ringdown_core::storm::{self, Lines, StormMember};
use ringdown_core::{Alert, Status};
use std::collections::{BTreeMap, VecDeque};

const ROSTER: &str = r#"
timezone: Asia/Tokyo
people:
  alice: { name: Alice, language: en-US, phones: [{ number: "+819011110001" }] }
  bob:   { name: Bob, language: en-US, phones: [{ number: "+819011110002" }] }
storm: { min_incidents: 2, window_secs: 600, coalesce_secs: 180 }
policies:
  - name: default
    match: {}
    group_by: [systemname]
    group_wait_secs: 0
    steps:
      - { targets: [person:alice], attempts: 1 }
      - { targets: [person:bob], attempts: 1 }
"#;

/// Tuesday 2026-11-24 03:00 JST.
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 18, 0, 0).unwrap()
}

fn alert(system: &str, name: &str, status: Status) -> Alert {
    Alert::with_labels([("systemname", system), ("alertname", name)], status)
}

struct Town {
    roster: Roster,
    silences: SilenceIndex,
    settings: Settings,
    lines: Lines,
    now: DateTime<Utc>,
    incidents: BTreeMap<String, Incident>,
    /// Open incident by group key.
    groups: BTreeMap<String, String>,
    /// Every call placed, in order.
    calls: Vec<CallRequest>,
    /// Calls ringing now (dialled and accepted at once).
    live: Vec<CallRequest>,
    created_silences: Vec<Silence>,
    next_id: u32,
}

impl Town {
    fn new() -> Town {
        Town::with_roster(ROSTER)
    }

    fn with_roster(yaml: &str) -> Town {
        Town {
            roster: Roster::from_yaml(yaml).unwrap_or_else(|e| panic!("{:?}", e.0)),
            silences: SilenceIndex::default(),
            settings: Settings::default(),
            lines: Lines::new(),
            now: t0(),
            incidents: BTreeMap::new(),
            groups: BTreeMap::new(),
            calls: Vec::new(),
            live: Vec::new(),
            created_silences: Vec::new(),
            next_id: 0,
        }
    }

    /// An alert arrives: it goes to its group's open incident or opens one.
    fn alert(&mut self, a: Alert) -> String {
        let r = route(&self.roster, &a).expect("routed");
        let id = match self.groups.get(&r.group_key) {
            Some(id) => id.clone(),
            None => {
                self.next_id += 1;
                let id = format!("inc-{}", self.next_id);
                let inc = Incident::open(
                    &id,
                    &r.group_key,
                    r.policy,
                    r.group_labels.clone(),
                    self.now,
                );
                self.groups.insert(r.group_key.clone(), id.clone());
                self.incidents.insert(id.clone(), inc);
                id
            }
        };
        self.send(&id, Event::Alerts(vec![a]));
        // The shell's timer: a due incident is ticked at once.
        self.advance(0);
        id
    }

    fn send(&mut self, id: &str, event: Event) {
        let mut queue = VecDeque::from([(id.to_string(), event)]);
        while let Some((id, event)) = queue.pop_front() {
            let Some(current) = self.incidents.get(&id).cloned() else {
                continue;
            };
            let ctx = Context {
                roster: &self.roster,
                silences: &self.silences,
                settings: &self.settings,
                lines: &self.lines,
            };
            let (inc, effects) = decide(&current, event, &ctx, self.now);
            self.lines.observe(&inc);
            self.incidents.insert(id.clone(), inc.clone());
            for e in effects {
                match e {
                    Effect::PlaceCall(req) => {
                        self.calls.push(req.clone());
                        self.live.push(req.clone());
                        queue.push_back((
                            id.clone(),
                            Event::Dialing {
                                call_id: req.call_id.clone(),
                            },
                        ));
                        queue.push_back((
                            id.clone(),
                            Event::CallPlaced {
                                call_id: req.call_id.clone(),
                                contact_id: format!("contact-{}", req.call_id),
                            },
                        ));
                    }
                    Effect::StopCall { call_id, .. } => self.live.retain(|c| c.call_id != call_id),
                    Effect::CreateSilence(s) => {
                        self.created_silences.push(s.clone());
                        let mut all: Vec<Silence> = self.silences.iter().cloned().collect();
                        all.push(s);
                        self.silences = SilenceIndex::new(all);
                    }
                    Effect::ReleaseGroup { group_key } => {
                        if self.groups.get(&group_key) == Some(&inc.id) {
                            self.groups.remove(&group_key);
                        }
                    }
                    Effect::JoinStorm {
                        incident_id,
                        person,
                        ..
                    } => self.join_storm(&incident_id, &person, &mut queue),
                    Effect::ToStorm { storm_id, note } => {
                        queue.push_back((storm_id, Event::FromMember(note)))
                    }
                    Effect::ForMembers {
                        members, command, ..
                    } => {
                        for m in members {
                            let event = command.event();
                            queue.push_back((m, event));
                        }
                    }
                    Effect::WakeAt { .. }
                    | Effect::Fallback { .. }
                    | Effect::OperatorAlert { .. } => {}
                }
            }
        }
    }

    /// What the engine does for `Effect::JoinStorm`.
    fn join_storm(&mut self, id: &str, person: &str, queue: &mut VecDeque<(String, Event)>) {
        let key = storm::group_key(person);
        let existing = self.groups.get(&key).cloned();
        let mut joining = Vec::new();
        let storm_id = match existing {
            Some(s) => s,
            None => {
                // Those already on the person's phone first, earliest first.
                joining = self
                    .lines
                    .storm_peers(person, id, &self.roster.storm, self.now);
                joining.sort_by_key(|m| self.incidents[m].opened_at);
                let first = &self.incidents[&joining[0]];
                let policy = self.roster.policy(&first.policy).expect("policy");
                self.next_id += 1;
                let sid = format!("storm-{}", self.next_id);
                let s = Incident::open_storm(&sid, person, policy, self.now);
                self.groups.insert(key, sid.clone());
                self.lines.observe(&s);
                self.incidents.insert(sid.clone(), s);
                sid
            }
        };
        joining.push(id.to_string());
        let members: Vec<StormMember> = joining
            .iter()
            .map(|m| {
                let inc = &self.incidents[m];
                let adopted = inc
                    .calls()
                    .find(|c| c.person == person)
                    .map(|c| c.call_id.clone());
                StormMember::of(inc, adopted, self.now)
            })
            .collect();
        queue.push_back((storm_id.clone(), Event::MembersJoined(members)));
        for m in joining {
            queue.push_back((
                m,
                Event::JoinStorm {
                    storm_id: storm_id.clone(),
                },
            ));
        }
    }

    /// The phone of the live call to `person` ends with `outcome`.
    fn answer(&mut self, person: &str, outcome: Outcome) {
        let i = self
            .live
            .iter()
            .position(|c| c.person == person)
            .unwrap_or_else(|| panic!("{person}'s phone is not ringing"));
        let call = self.live.remove(i);
        self.now += Duration::seconds(40);
        self.send(
            &call.incident_id,
            Event::CallEnded {
                call_id: call.call_id,
                outcome,
                disconnect_reason: Some("CONTACT_FLOW_DISCONNECT".into()),
            },
        );
    }

    /// Ticks every incident due by `now`.
    fn advance(&mut self, secs: i64) {
        self.now += Duration::seconds(secs);
        let due: Vec<String> = self
            .incidents
            .values()
            .filter(|i| i.wake_at().is_some_and(|t| t <= self.now))
            .map(|i| i.id.clone())
            .collect();
        for id in due {
            self.send(&id, Event::Tick);
        }
    }

    fn called(&self) -> Vec<&str> {
        self.calls.iter().map(|c| c.person.as_str()).collect()
    }

    fn storms(&self) -> Vec<&Incident> {
        self.incidents
            .values()
            .filter(|i| i.storm.is_some())
            .collect()
    }

    fn members(&self) -> Vec<&Incident> {
        self.incidents
            .values()
            .filter(|i| i.member_of.is_some())
            .collect()
    }
}

/// Thirty systems behind one broken line, each alerting.
fn thirty_systems(town: &mut Town) {
    for i in 0..30 {
        town.alert(alert(&format!("sys{i:02}"), "Unreachable", Status::Firing));
    }
}

#[test]
fn thirty_systems_alert_at_once_and_alice_gets_one_call_and_one_key_acknowledges_them_all() {
    let mut town = Town::new();
    thirty_systems(&mut town);
    assert_eq!(town.called(), ["alice"], "one call, to the person on call");
    let storms = town.storms();
    assert_eq!(storms.len(), 1);
    assert_eq!(storms[0].storm.as_ref().unwrap().members.len(), 30);
    assert_eq!(town.members().len(), 30);

    town.answer("alice", Outcome::Acknowledged);
    town.advance(3600);
    assert_eq!(town.called(), ["alice"], "nobody else, nothing more");
    for m in town.members() {
        assert_eq!(m.phase, Phase::Acknowledged, "{} acknowledged", m.id);
        assert_eq!(m.acked_by.as_deref(), Some("alice"));
    }
    assert_eq!(town.storms()[0].phase, Phase::Acknowledged);
}

#[test]
fn the_first_call_goes_unanswered_and_the_storms_next_call_announces_every_system_and_the_newcomer()
{
    let mut town = Town::new();
    thirty_systems(&mut town);
    town.answer("alice", Outcome::Unreachable);
    // The storm walks the policy: bob next, with one message for all.
    assert_eq!(town.called(), ["alice", "bob"]);
    let msg = &town.calls[1].message;
    assert!(msg.contains("30 systems alerting since 03:00"), "{msg}");
    assert!(
        msg.contains("first alert: systemname sys00: Unreachable"),
        "{msg}"
    );
    assert!(msg.contains("systemname sys01: 1 alert"), "{msg}");
    assert!(
        msg.contains("systemname sys05: 1 alert") && !msg.contains("sys06"),
        "five systems by name: {msg}"
    );
    assert!(
        msg.contains("24 more systems, 24 alerts: press 3 to hear them all"),
        "{msg}"
    );
    assert!(town.calls[1].scope.contains("all 30 incidents"));
    // Pressing 3 reads every incident of the storm by title.
    let list = &town.calls[1].list;
    assert!(list.contains("The 30 incidents of this storm."), "{list}");
    for i in 0..30 {
        assert!(
            list.contains(&format!("systemname sys{i:02}: Unreachable.")),
            "{list}"
        );
    }

    // A system joins while bob's phone rings: no new call.
    town.alert(alert("late", "Unreachable", Status::Firing));
    assert_eq!(
        town.called(),
        ["alice", "bob"],
        "a member arriving mid-call rings nobody"
    );
    let storm = town.storms()[0].clone();
    assert_eq!(storm.storm.as_ref().unwrap().members.len(), 31);
    assert!(storm
        .history
        .iter()
        .any(|h| matches!(&h.kind, HistoryKind::MembersJoined { systems, .. } if systems == &["systemname late"])));

    town.answer("bob", Outcome::Acknowledged);
    assert!(town
        .members()
        .iter()
        .all(|m| m.phase == Phase::Acknowledged && m.acked_by.as_deref() == Some("bob")));
}

#[test]
fn alice_passes_the_storm_and_bob_is_called_about_all_of_it() {
    let mut town = Town::new();
    for i in 0..5 {
        town.alert(alert(&format!("sys{i}"), "Down", Status::Firing));
    }
    town.answer("alice", Outcome::Declined);
    assert_eq!(town.called(), ["alice", "bob"]);
    assert!(town.calls[1].message.contains("5 systems alerting"));
    town.answer("bob", Outcome::Acknowledged);
    town.advance(3600);
    assert_eq!(town.called(), ["alice", "bob"]);
    assert!(town
        .members()
        .iter()
        .all(|m| m.phase == Phase::Acknowledged));
}

#[test]
fn pressing_9_on_the_storms_call_silences_each_system_and_closes_every_member() {
    let mut town = Town::new();
    for i in 0..4 {
        town.alert(alert(&format!("sys{i}"), "Down", Status::Firing));
    }
    // alice's first call is sys0's own; she lets it ring out, and the
    // storm's call goes to bob, who silences the storm for 2 hours.
    town.answer("alice", Outcome::Unreachable);
    town.answer("bob", Outcome::Silenced { hours: 2 });
    assert_eq!(town.storms()[0].phase, Phase::Silenced);
    for m in town.members() {
        assert_eq!(m.phase, Phase::Silenced, "{}", m.id);
    }
    let mut scopes: Vec<String> = town
        .created_silences
        .iter()
        .map(|s| {
            s.matchers
                .iter()
                .map(|m| m.to_string())
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect();
    scopes.sort();
    assert_eq!(
        scopes,
        [
            "systemname=\"sys0\"",
            "systemname=\"sys1\"",
            "systemname=\"sys2\"",
            "systemname=\"sys3\""
        ]
    );
    // The silences hold: the same systems alerting again ring nobody.
    town.advance(60);
    town.alert(alert("sys2", "Down", Status::Firing));
    town.advance(3600);
    assert_eq!(town.called(), ["alice", "bob"]);
}

#[test]
fn members_resolving_never_ring_anyone_and_the_last_one_closes_the_storm() {
    let mut town = Town::new();
    for i in 0..3 {
        town.alert(alert(&format!("sys{i}"), "Down", Status::Firing));
    }
    town.answer("alice", Outcome::Acknowledged);
    for i in 0..3 {
        town.advance(60);
        town.alert(alert(&format!("sys{i}"), "Down", Status::Resolved));
        let storm = town.storms()[0];
        if i < 2 {
            assert_eq!(storm.phase, Phase::Acknowledged);
        } else {
            assert_eq!(storm.phase, Phase::Resolved, "the last member closed it");
        }
    }
    town.advance(3600);
    assert_eq!(town.called(), ["alice"]);
}

#[test]
fn a_storm_nobody_answers_ends_in_one_fallback_and_its_members_close_with_it() {
    let mut town = Town::new();
    for i in 0..3 {
        town.alert(alert(&format!("sys{i}"), "Down", Status::Firing));
    }
    town.answer("alice", Outcome::Unreachable);
    town.answer("bob", Outcome::Unreachable);
    let storm = town.storms()[0];
    assert_eq!(storm.phase, Phase::Exhausted);
    assert_eq!(storm.outbox.len(), 1, "one fallback notice for the storm");
    for m in town.members() {
        assert_eq!(m.phase, Phase::Exhausted);
        assert!(m.outbox.is_empty(), "members raise no notice of their own");
    }
    assert_eq!(town.called(), ["alice", "bob"]);
}

#[test]
fn a_new_outage_right_after_an_acknowledged_call_waits_out_the_coalesce_window_then_rings() {
    let mut town = Town::new();
    town.alert(alert("web", "Down", Status::Firing));
    town.answer("alice", Outcome::Acknowledged);
    // 40 s after the call: another system, unrelated; alice is working.
    town.alert(alert("db", "Down", Status::Firing));
    assert_eq!(town.called(), ["alice"], "not back to back");
    let db = town
        .incidents
        .values()
        .find(|i| i.group_key.contains("db"))
        .unwrap();
    assert!(db
        .history
        .iter()
        .any(|h| matches!(&h.kind, HistoryKind::LineBusy { person, .. } if person == "alice")));
    town.advance(100);
    assert_eq!(town.called(), ["alice"]);
    town.advance(60);
    assert_eq!(
        town.called(),
        ["alice", "alice"],
        "rung once the window passed"
    );
    assert!(
        town.storms().is_empty(),
        "an acknowledged incident forms no storm"
    );
}

#[test]
fn two_outages_ten_minutes_apart_are_two_calls() {
    let mut town = Town::new();
    town.alert(alert("web", "Down", Status::Firing));
    town.answer("alice", Outcome::Acknowledged);
    town.advance(700);
    town.alert(alert("db", "Down", Status::Firing));
    assert_eq!(town.called(), ["alice", "alice"]);
    assert!(town.storms().is_empty());
}

#[test]
fn a_line_down_alert_joining_the_storm_is_read_in_full_as_the_likely_cause() {
    let roster = ROSTER.replace(
        "policies:",
        "inhibit_rules:\n  - { source_matchers: ['alertname=LineDown'], target_matchers: ['severity=warning'], equal: [] }\npolicies:",
    );
    let mut town = Town::with_roster(&roster);
    for i in 0..3 {
        town.alert(alert(&format!("sys{i:02}"), "Unreachable", Status::Firing));
    }
    town.alert(alert("line", "LineDown", Status::Firing));
    assert_eq!(town.called(), ["alice"]);
    town.answer("alice", Outcome::Unreachable);
    assert_eq!(town.called(), ["alice", "bob"]);
    let msg = &town.calls[1].message;
    assert!(
        msg.contains("first alert: systemname sys00: Unreachable"),
        "{msg}"
    );
    assert!(
        msg.contains("A likely cause: systemname line: LineDown."),
        "the source is read in full: {msg}"
    );
    assert!(!msg.contains("systemname line: 1 alert"), "{msg}");
    assert!(msg.contains("systemname sys01: 1 alert"), "{msg}");
}

/// One decision, as the shell would take it.
fn decide_in(town: &Town, inc: &Incident, event: Event) -> (Incident, Vec<Effect>) {
    let ctx = Context {
        roster: &town.roster,
        silences: &town.silences,
        settings: &town.settings,
        lines: &town.lines,
    };
    decide(inc, event, &ctx, town.now)
}

/// `web` goes down: its incident decides to call alice (not dialled yet).
fn web_calls_alice(town: &Town) -> Incident {
    let a = alert("web", "Down", Status::Firing);
    let r = route(&town.roster, &a).unwrap();
    let inc = Incident::open(
        "inc-1",
        &r.group_key,
        r.policy,
        r.group_labels.clone(),
        town.now,
    );
    let (inc, _) = decide_in(town, &inc, Event::Alerts(vec![a]));
    let (inc, _) = decide_in(town, &inc, Event::Tick);
    assert!(inc.call.is_some(), "alice is called");
    inc
}

#[test]
fn another_replicas_call_holding_alices_phone_makes_this_call_step_back_and_join_her_storm() {
    let town = Town::new();
    let inc = web_calls_alice(&town);
    let call = inc.call.clone().unwrap().request;
    let policy = town.roster.policy(&inc.policy).unwrap();
    // Before it is dialled, the store says another replica's call (for
    // inc-9) holds alice's phone.
    let (inc, effects) = decide_in(
        &town,
        &inc,
        Event::LineTaken {
            call_id: call.call_id.clone(),
            holder: "inc-9".into(),
        },
    );
    assert!(inc.call.is_none(), "the call steps back, never dialled");
    assert_eq!(inc.calls_placed, 0);
    assert_eq!(inc.storm_pending.as_deref(), Some("alice"));
    assert!(effects.iter().any(|e| matches!(
        e,
        Effect::JoinStorm { person, with: Some(h), .. } if person == "alice" && h == "inc-9"
    )));
    assert!(matches!(
        inc.history.last().map(|h| &h.kind),
        Some(HistoryKind::LineBusy { person, .. }) if person == "alice"
    ));

    // A storm's own call waits for the line instead, and tries again.
    let storm = Incident::open_storm("storm-1", "alice", policy, town.now);
    let (storm, effects) = decide_in(
        &town,
        &storm,
        Event::MembersJoined(vec![StormMember::of(&inc, None, town.now)]),
    );
    assert!(
        storm.call.is_some(),
        "the storm calls alice at once: {effects:?}"
    );
    let call = storm.call.clone().unwrap().request;
    let (storm, effects) = decide_in(
        &town,
        &storm,
        Event::LineTaken {
            call_id: call.call_id,
            holder: "inc-9".into(),
        },
    );
    assert!(storm.call.is_none());
    assert!(!effects
        .iter()
        .any(|e| matches!(e, Effect::JoinStorm { .. })));
    assert_eq!(
        storm.next_action_at,
        Some(town.now + Duration::seconds(storm::BUSY_RECHECK_SECS)),
        "the storm tries alice again shortly"
    );
}

#[test]
fn a_call_answered_before_its_incident_learnt_of_the_storm_acknowledges_the_storm_at_the_join() {
    let town = Town::new();
    let inc = web_calls_alice(&town);
    let call_id = inc.call.as_ref().unwrap().call_id.clone();
    let policy = town.roster.policy(&inc.policy).unwrap();
    let (inc, _) = decide_in(
        &town,
        &inc,
        Event::Dialing {
            call_id: call_id.clone(),
        },
    );
    let (inc, _) = decide_in(
        &town,
        &inc,
        Event::CallPlaced {
            call_id: call_id.clone(),
            contact_id: "c-1".into(),
        },
    );
    // The storm forms and adopts alice's ringing call...
    let storm = Incident::open_storm("storm-1", "alice", policy, town.now);
    let (storm, _) = decide_in(
        &town,
        &storm,
        Event::MembersJoined(vec![StormMember::of(&inc, Some(call_id.clone()), town.now)]),
    );
    assert!(storm.call.is_none(), "the storm waits for the adopted call");
    // ...but alice's 1 reaches the incident before its join does.
    let (inc, _) = decide_in(
        &town,
        &inc,
        Event::CallEnded {
            call_id: call_id.clone(),
            outcome: Outcome::Acknowledged,
            disconnect_reason: Some("CONTACT_FLOW_DISCONNECT".into()),
        },
    );
    assert_eq!(inc.phase, Phase::Acknowledged);
    let (_, effects) = decide_in(
        &town,
        &inc,
        Event::JoinStorm {
            storm_id: "storm-1".into(),
        },
    );
    let note = effects
        .into_iter()
        .find_map(|e| match e {
            Effect::ToStorm { note, .. } => Some(note),
            _ => None,
        })
        .expect("the storm hears the outcome");
    let (storm, _) = decide_in(&town, &storm, Event::FromMember(note));
    assert_eq!(storm.phase, Phase::Acknowledged, "nobody else is called");
    assert_eq!(storm.acked_by.as_deref(), Some("alice"));
}
