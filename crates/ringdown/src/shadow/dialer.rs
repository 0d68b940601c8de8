//! The dialer and notifier of a shadow run: they phone nobody and post
//! nowhere, and write what they would have done to the shadow log.

use super::log::{Entry, ShadowLog, WouldCall, WouldNotice, NOT_DIALLED};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ringdown_core::escalation::{CallRequest, Incident};
use ringdown_core::outcome::classify;
use ringdown_core::phone::mask_once;
use ringdown_engine::{
    CancellationToken, Clock, DialError, Dialer, Notifier, OutcomeReport, Store,
};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tracing::{info, warn};

/// A would-be call's position in its policy, read off its id
/// (`{incident}-p{pass}s{step}a{attempt}t{target}r{retry}`, step and
/// attempt counted from 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Position {
    pass: u32,
    step: u32,
    attempt: u32,
    target: usize,
}

impl Position {
    fn of(incident_id: &str, call_id: &str) -> Option<Position> {
        let rest = call_id.strip_prefix(incident_id)?.strip_prefix("-p")?;
        let (pass, rest) = rest.split_once('s')?;
        let (step, rest) = rest.split_once('a')?;
        let (attempt, rest) = rest.split_once('t')?;
        let (target, _retry) = rest.split_once('r')?;
        Some(Position {
            pass: pass.parse().ok()?,
            step: step.parse().ok()?,
            attempt: attempt.parse().ok()?,
            target: target.parse().ok()?,
        })
    }
}

/// Places no call: records it in the shadow log, answers with a contact id
/// of its own (`shadow-<call id>`), and after the ring time reports that
/// nobody answered (`SHADOW_NOT_DIALLED`), so the escalation goes on as it
/// would if nobody picked up.
pub struct ShadowDialer {
    log: Arc<ShadowLog>,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    /// How long a call rings before it ends unanswered (real time).
    ring: Duration,
    outcomes: mpsc::UnboundedSender<OutcomeReport>,
    /// Calls whose end this process has a timer for.
    ringing: Arc<Mutex<HashSet<String>>>,
    /// Contacts hung up (their incident closed): no end is reported.
    stopped: Arc<Mutex<HashSet<String>>>,
    /// The display names of the stored roster, by person, with its version.
    names: Mutex<Option<(u64, HashMap<String, String>)>>,
}

impl ShadowDialer {
    pub fn new(
        log: Arc<ShadowLog>,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        ring: Duration,
        outcomes: mpsc::UnboundedSender<OutcomeReport>,
    ) -> ShadowDialer {
        ShadowDialer {
            log,
            store,
            clock,
            ring,
            outcomes,
            ringing: Arc::default(),
            stopped: Arc::default(),
            names: Mutex::new(None),
        }
    }

    pub fn contact_id(call_id: &str) -> String {
        format!("shadow-{call_id}")
    }

    /// The display name of `person` in the roster in force, if it has one
    /// other than the id.
    async fn name_of(&self, person: &str) -> Option<String> {
        let doc = self.store.load_roster().await.ok().flatten()?;
        let mut names = self.names.lock().expect("names lock");
        if names.as_ref().map(|(v, _)| *v) != Some(doc.version) {
            let roster = ringdown_core::roster::Roster::from_yaml(&doc.yaml).ok()?;
            let by_id = roster
                .people
                .values()
                .filter(|p| p.name != p.id)
                .map(|p| (p.id.clone(), p.name.clone()))
                .collect();
            *names = Some((doc.version, by_id));
        }
        names.as_ref().and_then(|(_, n)| n.get(person).cloned())
    }

    /// The log line for `req`: who, which number (masked), for what, and
    /// why, from the call's id and its incident as stored.
    async fn describe(&self, req: &CallRequest) -> WouldCall {
        let pos = Position::of(&req.incident_id, &req.call_id).unwrap_or_default();
        let incident = match self.store.load_incident(&req.incident_id).await {
            Ok(i) => i.map(|s| s.incident),
            Err(e) => {
                warn!(incident = %req.incident_id, error = %e, "shadow run: cannot read the incident to say why");
                None
            }
        };
        let reason = incident
            .as_ref()
            .and_then(|i| i.round.get(pos.target))
            .filter(|t| t.person == req.person)
            .map(|t| t.reason.clone())
            .unwrap_or_else(|| format!("person:{}", req.person));
        let repeat = if pos.pass > 0 {
            format!(" (repeat {})", pos.pass)
        } else {
            String::new()
        };
        WouldCall {
            at: self.clock.now(),
            incident_id: req.incident_id.clone(),
            call_id: req.call_id.clone(),
            person: req.person.clone(),
            name: self.name_of(&req.person).await,
            phone: mask_once(&req.phone),
            alert: incident.as_ref().map(Incident::title).unwrap_or_default(),
            labels: incident.map(|i| i.common_labels).unwrap_or_default(),
            step: pos.step,
            attempt: pos.attempt,
            pass: pos.pass,
            why: format!(
                "step {} attempt {}{repeat}: {reason}",
                pos.step, pos.attempt
            ),
        }
    }

    /// Reports, `after` from now, that the call rang out unanswered.
    fn ring_out(&self, incident_id: &str, call_id: &str, after: Duration) {
        if !self
            .ringing
            .lock()
            .expect("ringing lock")
            .insert(call_id.to_string())
        {
            return;
        }
        let contact_id = Self::contact_id(call_id);
        let attributes: BTreeMap<String, String> = [
            ("rd_incident".to_string(), incident_id.to_string()),
            ("rd_call".to_string(), call_id.to_string()),
        ]
        .into();
        let report = OutcomeReport {
            incident_id: incident_id.to_string(),
            call_id: call_id.to_string(),
            outcome: classify(&attributes, Some(NOT_DIALLED)),
            disconnect_reason: Some(NOT_DIALLED.to_string()),
            attributes,
            contact_id,
            ended_at: self.clock.now(),
            applied: Default::default(),
        };
        let (ringing, stopped) = (self.ringing.clone(), self.stopped.clone());
        let (outcomes, clock) = (self.outcomes.clone(), self.clock.clone());
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            ringing
                .lock()
                .expect("ringing lock")
                .remove(&report.call_id);
            if stopped
                .lock()
                .expect("stopped lock")
                .contains(&report.contact_id)
            {
                return;
            }
            let _ = outcomes.send(OutcomeReport {
                ended_at: clock.now(),
                ..report
            });
        });
    }
}

#[async_trait]
impl Dialer for ShadowDialer {
    /// Nothing leaves this process, so a call placed before (by a process
    /// that died) is found in the log, not placed again.
    async fn place(
        &self,
        req: &CallRequest,
        _maybe_placed: bool,
        _cancel: &CancellationToken,
    ) -> Result<String, DialError> {
        if !self.log.has_call(&req.call_id) {
            let call = self.describe(req).await;
            info!(
                incident = %call.incident_id, call = %call.call_id, person = %call.person,
                phone = %call.phone, "shadow run: would call {} now ({}); nobody is called",
                call.person, call.why
            );
            self.log.append(&Entry::Call(call)).map_err(|e| {
                DialError::Unavailable(format!(
                    "cannot write the shadow log {}: {e}",
                    self.log.path().display()
                ))
            })?;
        }
        self.ring_out(&req.incident_id, &req.call_id, self.ring);
        Ok(Self::contact_id(&req.call_id))
    }

    async fn stop(&self, contact_id: &str) -> Result<(), DialError> {
        self.stopped
            .lock()
            .expect("stopped lock")
            .insert(contact_id.to_string());
        Ok(())
    }

    /// A call in flight found after a restart rings out where it would
    /// have, counted from its dialling.
    fn watch(&self, incident_id: &str, call_id: &str, contact_id: &str, dialled_at: DateTime<Utc>) {
        if contact_id != Self::contact_id(call_id) {
            warn!(incident = %incident_id, call = %call_id, contact = %contact_id, "a call placed by a ringdown that phones people is in flight: this shadow run will not learn its outcome");
            return;
        }
        let rung = (self.clock.now() - dialled_at).to_std().unwrap_or_default();
        self.ring_out(incident_id, call_id, self.ring.saturating_sub(rung));
    }
}

/// Posts nothing: each fallback or operator notice is a line of the shadow
/// log (and of the daemon's log).
pub struct ShadowNotifier {
    log: Arc<ShadowLog>,
    clock: Arc<dyn Clock>,
}

impl ShadowNotifier {
    pub fn new(log: Arc<ShadowLog>, clock: Arc<dyn Clock>) -> ShadowNotifier {
        ShadowNotifier { log, clock }
    }

    fn record(&self, notice: &str, incident: &Incident, message: &str) -> Result<(), String> {
        info!(incident = %incident.id, "shadow run: would send a {notice} notice: {message}");
        self.log
            .append(&Entry::Notice(WouldNotice {
                at: self.clock.now(),
                incident_id: incident.id.clone(),
                notice: notice.to_string(),
                alert: incident.title(),
                message: message.to_string(),
            }))
            .map(|_| ())
            .map_err(|e| {
                format!(
                    "cannot write the shadow log {}: {e}",
                    self.log.path().display()
                )
            })
    }
}

#[async_trait]
impl Notifier for ShadowNotifier {
    async fn fallback(&self, incident: &Incident, reason: &str) -> Result<(), String> {
        self.record("fallback", incident, reason)
    }

    async fn operator_alert(&self, incident: &Incident, message: &str) -> Result<(), String> {
        self.record("operator", incident, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringdown_core::outcome::Outcome;
    use ringdown_core::Language;

    #[test]
    fn a_calls_position_is_read_off_its_id() {
        assert_eq!(
            Position::of("20261124-web-1", "20261124-web-1-p1s2a3t4r0"),
            Some(Position {
                pass: 1,
                step: 2,
                attempt: 3,
                target: 4
            })
        );
        assert_eq!(Position::of("inc", "other-p0s1a1t0r0"), None);
        assert_eq!(Position::of("inc", "inc-p0s1"), None);
    }

    fn request(call_id: &str) -> CallRequest {
        CallRequest {
            incident_id: "inc".into(),
            call_id: call_id.into(),
            person: "tanaka".into(),
            phone: "+819012340001".into(),
            phone_index: 0,
            language: Language::JaJp,
            message: "<speak>web</speak>".into(),
            scope: "systemname web".into(),
            list: "<speak>The alert of this incident. web.</speak>".into(),
        }
    }

    fn dialer(
        name: &str,
    ) -> (
        ShadowDialer,
        mpsc::UnboundedReceiver<OutcomeReport>,
        std::path::PathBuf,
    ) {
        let dir = std::env::temp_dir().join(format!("ringdown-shadowdial-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        let _ = std::fs::remove_file(&path);
        let (tx, rx) = mpsc::unbounded_channel();
        let clock = Arc::new(ringdown_engine::TokioClock::starting_at(
            crate::demo::demo_start(),
        ));
        let d = ShadowDialer::new(
            Arc::new(ShadowLog::open(&path).unwrap()),
            Arc::new(ringdown_local::SqliteStore::in_memory().unwrap()),
            clock,
            Duration::from_secs(60),
            tx,
        );
        (d, rx, path)
    }

    #[tokio::test(start_paused = true)]
    async fn a_shadow_call_rings_out_unanswered_after_the_ring_time_and_is_logged_masked() {
        let (d, mut rx, path) = dialer("ring.jsonl");
        let cancel = CancellationToken::new();
        let contact = d
            .place(&request("inc-p0s1a1t0r0"), false, &cancel)
            .await
            .unwrap();
        assert_eq!(contact, "shadow-inc-p0s1a1t0r0");
        // The same call again (re-issued): the same contact, one line, one end.
        d.place(&request("inc-p0s1a1t0r0"), true, &cancel)
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(59)).await;
        assert!(
            rx.try_recv().is_err(),
            "nobody hangs up before the ring time"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
        let end = rx.try_recv().unwrap();
        assert_eq!(end.outcome, Outcome::Unreachable);
        assert_eq!(end.disconnect_reason.as_deref(), Some(NOT_DIALLED));
        assert_eq!(end.contact_id, contact);
        assert_eq!(
            end.ended_at - crate::demo::demo_start(),
            chrono::Duration::seconds(60)
        );
        tokio::time::sleep(Duration::from_secs(120)).await;
        assert!(rx.try_recv().is_err(), "one end per call");
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(!text.contains("+819012340001"), "{text}");
        let entries = super::super::log::parse(&text, "ring").unwrap();
        let Entry::Call(c) = &entries[0] else {
            panic!("{entries:?}")
        };
        assert_eq!(
            (c.step, c.attempt, c.phone.as_str()),
            (1, 1, "+81******0001")
        );
        assert_eq!(c.why, "step 1 attempt 1: person:tanaka");
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_stopped_while_ringing_reports_no_end() {
        let (d, mut rx, _) = dialer("stop.jsonl");
        let contact = d
            .place(&request("inc-p0s1a1t0r0"), false, &CancellationToken::new())
            .await
            .unwrap();
        d.stop(&contact).await.unwrap();
        tokio::time::sleep(Duration::from_secs(120)).await;
        assert!(rx.try_recv().is_err());
    }
}
