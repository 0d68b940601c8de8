//! Any text into `Roster::from_yaml`, then every question the daemon asks a
//! roster, at ordinary and extreme instants.
//!
//! Asserts: parsing is `Ok` or a non-empty list of non-empty messages, and
//! deterministic; on `Ok`, for every policy and step, at a fixed time (and at
//! the ends of chrono's range, and in a DST gap): `resolve_step` names each
//! person once, only known people, and any phone it picks is one of that
//! person's valid E.164 numbers; `plan` is every step × attempt × target of
//! the matching policy, in order; `policy_for` returns a policy whose matchers
//! all match; `on_call` picks a member or an override's person; a day's
//! `next_handoffs` starts at the start and is in time order.
#![no_main]

use chrono::{DateTime, Datelike, Duration, TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use ringdown_core::matcher::all_match;
use ringdown_core::phone::validate_e164;
use ringdown_core::roster::{Roster, MAX_HANDOFFS};
use ringdown_core::Labels;
use std::collections::BTreeSet;

fn times() -> [DateTime<Utc>; 5] {
    [
        // A Japanese public holiday (Labour Thanksgiving Day), 10:00 in Tokyo.
        Utc.with_ymd_and_hms(2026, 11, 23, 1, 0, 0).unwrap(),
        // Inside New York's spring-forward gap (02:30 local does not exist).
        Utc.with_ymd_and_hms(2026, 3, 8, 7, 30, 0).unwrap(),
        Utc.with_ymd_and_hms(2026, 11, 4, 3, 0, 0).unwrap(),
        DateTime::<Utc>::MIN_UTC,
        DateTime::<Utc>::MAX_UTC,
    ]
}

fn check(r: &Roster) {
    let mut label_sets: Vec<Labels> = vec![Labels::new()];
    label_sets.extend(r.heartbeats.iter().map(|h| h.labels.clone()));
    for h in &r.heartbeats {
        assert!(r.policy(&h.policy).is_some(), "heartbeat {} policy", h.name);
    }
    for now in times() {
        for p in &r.policies {
            for i in 0..=p.steps.len() {
                let targets = r.resolve_step(p, i, now);
                let people: BTreeSet<&str> = targets.iter().map(|t| t.person.as_str()).collect();
                assert_eq!(people.len(), targets.len(), "a person twice in a step");
                if i == p.steps.len() {
                    assert!(targets.is_empty(), "a step past the end");
                }
                for t in &targets {
                    let person = r.person(&t.person).expect("only known people");
                    assert!(!t.reason.is_empty());
                    if let Some(n) = &t.phone {
                        assert!(validate_e164(n).is_ok(), "{n}");
                        assert!(person.phones.iter().any(|ph| ph.number == *n));
                    }
                }
            }
        }
        for labels in &label_sets {
            let plan = r.plan(labels, now);
            assert_eq!(plan, r.plan(labels, now), "plan is not deterministic");
            match r.policy_for(labels) {
                None => assert!(plan.is_empty()),
                Some(p) => {
                    assert!(all_match(&p.matchers, labels));
                    let mut want = Vec::new();
                    for (i, s) in p.steps.iter().enumerate() {
                        let targets = r.resolve_step(p, i, now);
                        for attempt in 1..=s.attempts {
                            for t in &targets {
                                want.push((i as u32 + 1, attempt, t.person.clone()));
                            }
                        }
                    }
                    let got: Vec<_> = plan
                        .iter()
                        .map(|e| (e.step, e.attempt, e.person.clone()))
                        .collect();
                    assert_eq!(got, want);
                }
            }
        }
        for (name, rot) in &r.rotations {
            let (person, why) = r.on_call(name, now).expect("a known rotation");
            assert!(!why.is_empty());
            assert!(
                rot.members.contains(&person) || rot.overrides.iter().any(|o| o.person == person),
                "{person} is not in rotation {name}"
            );
            let to = now.checked_add_signed(Duration::days(1)).unwrap_or(now);
            let h = r.next_handoffs(name, now, to);
            assert!(h.len() <= MAX_HANDOFFS);
            assert!(
                h.windows(2).all(|w| w[0].at < w[1].at),
                "handoffs out of order"
            );
            if let (Some(first), 1..=9998) = (h.first(), now.year()) {
                assert_eq!(first.at, now, "a schedule starts at its start");
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    let first = Roster::from_yaml(src);
    match &first {
        Err(e) => {
            assert!(!e.0.is_empty(), "an error without a message");
            assert!(e.0.iter().all(|m| !m.trim().is_empty()));
            let again = Roster::from_yaml(src).expect_err("deterministic");
            assert_eq!(e.0, again.0);
        }
        Ok(r) => {
            assert_eq!(
                Some(r),
                Roster::from_yaml(src).ok().as_ref(),
                "deterministic"
            );
            check(r);
        }
    }
});
