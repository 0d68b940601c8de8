use super::*;
use ringdown_core::storm::{self, MemberCommand, StormMember};

/// The longest wait between tries of a storm effect the store refuses.
const STORM_RETRY_MAX: Duration = Duration::from_secs(5);

impl Engine {
    /// After a start: finishes what a crash cut short between a storm and
    /// its members (each step is idempotent): members the storm lists that
    /// do not know it yet join, members of an acknowledged storm are
    /// acknowledged, and members that closed are struck off the storm.
    pub(super) async fn resync_storms(&self, open: &[StoredIncident]) {
        let mut work = Vec::new();
        for s in open.iter() {
            let Some(storm) = &s.storm else {
                continue;
            };
            let mut unacked = Vec::new();
            for m in storm.open_members() {
                match open.iter().find(|i| i.id == m.id) {
                    Some(inc) => {
                        if inc.member_of.as_deref() != Some(s.id.as_str()) {
                            work.push(Effect::JoinStorm {
                                incident_id: m.id.clone(),
                                person: storm.person.clone(),
                                with: None,
                            });
                        }
                        if s.phase == ringdown_core::escalation::Phase::Acknowledged
                            && inc.phase != ringdown_core::escalation::Phase::Acknowledged
                        {
                            unacked.push(m.id.clone());
                        }
                    }
                    None => {
                        if let Ok(Some(closed)) = self.inner.store.load_incident(&m.id).await {
                            work.push(Effect::ToStorm {
                                storm_id: s.id.clone(),
                                note: storm::StormNote::Closed {
                                    member_id: m.id.clone(),
                                    phase: closed.phase,
                                },
                            });
                        }
                    }
                }
            }
            if !unacked.is_empty() {
                work.push(Effect::ForMembers {
                    storm_id: s.id.clone(),
                    members: unacked,
                    command: MemberCommand::Acknowledge {
                        by: s.acked_by.clone().unwrap_or_default(),
                    },
                });
            }
        }
        if !work.is_empty() {
            info!(
                updates = work.len(),
                "finishing storm updates a restart interrupted"
            );
            self.spawn_storm_work(work);
        }
    }

    /// Runs storm effects in a task of their own, in order.
    pub(super) fn spawn_storm_work(&self, work: Vec<Effect>) {
        let engine = self.clone();
        // Boxed as `Send`: the work applies decisions that may spawn more
        // (a recursive future the compiler cannot size otherwise).
        let fut: std::pin::Pin<Box<dyn Future<Output = ()> + Send>> = Box::pin(async move {
            for e in work {
                engine.storm_effect(e).await;
            }
        });
        self.inner.tracker.spawn(fut);
    }

    /// Executes a storm effect (see `ringdown_core::storm`), retrying a
    /// store that is away for as long as the process runs: a note lost
    /// here would leave a storm waiting for an outcome that came, or a
    /// member ringing on its own. A stop mid-way leaves it to the next
    /// start (`resync_storms`); a join the incident asks for again itself
    /// (`storm_pending`).
    pub(super) async fn storm_effect(&self, effect: Effect) {
        let mut wait = Duration::from_millis(200);
        for attempt in 0u32.. {
            let done = match &effect {
                Effect::JoinStorm {
                    incident_id,
                    person,
                    with,
                } => {
                    self.join_storm_queued(incident_id, person, with.as_deref())
                        .await
                }
                Effect::ToStorm { storm_id, note } => self
                    .apply(storm_id, Event::FromMember(note.clone()))
                    .await
                    .map(|_| ()),
                Effect::ForMembers {
                    storm_id,
                    members,
                    command,
                } => self.command_members(storm_id, members, command).await,
                _ => Ok(()),
            };
            match done {
                Ok(()) => return,
                Err(e) if self.inner.tracker.is_closed() => {
                    warn!(error = %e, effect = ?effect, "storm update not done before stopping; the next start finishes it");
                    return;
                }
                Err(e) => {
                    warn!(error = %e, attempt, "storm update failed; retrying");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(STORM_RETRY_MAX);
                }
            }
        }
    }

    async fn command_members(
        &self,
        storm_id: &str,
        members: &[String],
        command: &MemberCommand,
    ) -> Result<(), EngineError> {
        let event = command.event();
        for m in members {
            // A member the storm lists may not know it yet (a stop between
            // the two writes): it joins first, so it never acts on its own.
            let knows = self
                .load_cached(m)
                .await?
                .is_some_and(|i| i.member_of.as_deref() == Some(storm_id));
            if !knows {
                let join = Event::JoinStorm {
                    storm_id: storm_id.to_string(),
                };
                self.apply(m, join).await?;
            }
            self.apply(m, event.clone()).await?;
        }
        Ok(())
    }

    async fn load_cached(&self, id: &str) -> Result<Option<StoredIncident>, EngineError> {
        if let Some(inc) = self.cache().by_id.get(id).cloned() {
            return Ok(Some(inc));
        }
        Ok(self.inner.store.load_incident(id).await?)
    }

    /// Puts `incident_id` into `person`'s storm. Without an open storm, one
    /// is formed (the store's one open incident per group key makes it one
    /// per person, whichever replica gets there first) with the incidents
    /// crowding the person's phone, earliest first; the storm walks the
    /// policy of the first.
    /// Incidents joining `person`'s storm one by one (each from its own
    /// decision) join together: whoever holds the person's turn takes every
    /// join queued meanwhile, so thirty systems failing at once write the
    /// storm once, and their own records in one commit, instead of thirty
    /// times each after the other.
    async fn join_storm_queued(
        &self,
        incident_id: &str,
        person: &str,
        with: Option<&str>,
    ) -> Result<(), EngineError> {
        if with.is_some() {
            // Another replica's call holds the phone: joined on its own.
            return self
                .join_storm(&[incident_id.to_string()], person, with)
                .await;
        }
        let queue = self
            .inner
            .storm_joins
            .lock()
            .expect("storm joins")
            .entry(person.to_string())
            .or_default()
            .clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let seq = queue.push(incident_id.to_string(), tx);
        let turn = queue.turn.lock().await;
        if let Some(taken) = queue.take_if_queued(seq) {
            let (ids, answers): (Vec<String>, Vec<_>) = taken.into_iter().unzip();
            let done = self.join_storm(&ids, person, None).await;
            for answer in answers {
                let _ = answer.send(done.clone());
            }
        }
        drop(turn);
        {
            let mut joins = self.inner.storm_joins.lock().expect("storm joins");
            if Arc::strong_count(&queue) == 2 {
                joins.remove(person);
            }
        }
        rx.await.unwrap_or_else(|_| {
            Err(EngineError::Store(StoreError::Backend {
                message: "the storm join carrying this incident was interrupted".into(),
                retryable: true,
                source: None,
            }))
        })
    }

    async fn join_storm(
        &self,
        incident_ids: &[String],
        person: &str,
        with: Option<&str>,
    ) -> Result<(), EngineError> {
        let Some(incident_id) = incident_ids.first().map(String::as_str) else {
            return Ok(());
        };
        let Some(roster) = self.roster() else {
            return Ok(());
        };
        let key = storm::group_key(person);
        for _ in 0..MAX_RETRIES {
            let mut joining: Vec<StoredIncident> = Vec::new();
            let storm_id = match self.inner.store.open_incident_for_group(&key).await? {
                Some(s) => s.incident.id,
                None => {
                    let now = self.now();
                    let mut peers =
                        self.cache()
                            .lines
                            .storm_peers(person, incident_id, &roster.storm, now);
                    // Another replica's call holding the phone: its incident
                    // forms the storm too (and the storm adopts that call).
                    if let Some(h) =
                        with.filter(|h| *h != incident_id && !peers.iter().any(|p| p == h))
                    {
                        peers.push(h.to_string());
                    }
                    for id in peers {
                        let inc = match self.load_cached(&id).await? {
                            // The holder is another replica's: read it fresh.
                            Some(_) if Some(id.as_str()) == with => {
                                self.inner.store.load_incident(&id).await?
                            }
                            other => other,
                        };
                        if let Some(inc) = inc {
                            if !inc.phase.is_closed()
                                && inc.phase != ringdown_core::escalation::Phase::Acknowledged
                                && inc.member_of.is_none()
                                && inc.storm.is_none()
                            {
                                joining.push(inc);
                            }
                        }
                    }
                    joining.sort_by(|a, b| a.opened_at.cmp(&b.opened_at).then(a.id.cmp(&b.id)));
                    let Some(me) = self.load_cached(incident_id).await? else {
                        return Ok(());
                    };
                    let first = joining.first().unwrap_or(&me);
                    let Some(policy) = roster.policy(&first.policy) else {
                        return Ok(());
                    };
                    let id = self.new_incident_id(&key, now);
                    let fresh = Incident::open_storm(&id, person, policy, now);
                    match self
                        .inner
                        .store
                        .create_incident(&StoredIncident::new(fresh))
                        .await?
                    {
                        Created::Created(stored) => {
                            self.cache().remember(&stored);
                            info!(storm = %stored.id, person, members = joining.len() + 1, "storm formed");
                            metrics::counter!("ringdown_storms_total").increment(1);
                            stored.incident.id
                        }
                        Created::Exists(_) => continue,
                    }
                }
            };
            for id in incident_ids {
                if joining.iter().any(|j| &j.id == id) {
                    continue;
                }
                match self.load_cached(id).await? {
                    Some(me) if !me.phase.is_closed() => joining.push(me),
                    _ => {}
                }
            }
            if joining.is_empty() {
                return Ok(());
            }
            let now = self.now();
            let members: Vec<StormMember> = joining
                .iter()
                .map(|inc| {
                    let adopted = inc
                        .calls()
                        .find(|c| c.person == person)
                        .map(|c| c.call_id.clone());
                    StormMember::of(inc, adopted, now)
                })
                .collect();
            // The storm lists its members before they stop calling: a
            // member the storm does not know would never hear its outcome.
            if self
                .apply(&storm_id, Event::MembersJoined(members))
                .await?
                .is_none()
            {
                // It closed meanwhile: form a new one.
                continue;
            }
            // Written together: the members' records share one commit.
            let joins = joining.iter().map(|inc| {
                let event = Event::JoinStorm {
                    storm_id: storm_id.clone(),
                };
                self.apply(&inc.id, event)
            });
            for joined in futures_util::future::join_all(joins).await {
                joined?;
            }
            metrics::counter!("ringdown_storm_members_total").increment(joining.len() as u64);
            return Ok(());
        }
        Err(EngineError::Contended(key))
    }
}

type Joined = Result<(), EngineError>;
/// A queued join: its number, the incident, where its answer goes.
type QueuedJoin = (u64, String, tokio::sync::oneshot::Sender<Joined>);

/// The joins waiting for one person's turn (see `join_storm_queued`).
#[derive(Default)]
pub(super) struct JoinQueue {
    turn: tokio::sync::Mutex<()>,
    pending: Mutex<(u64, Vec<QueuedJoin>)>,
}

impl JoinQueue {
    fn push(&self, id: String, answer: tokio::sync::oneshot::Sender<Joined>) -> u64 {
        let mut p = self.pending.lock().expect("join queue");
        p.0 += 1;
        let seq = p.0;
        p.1.push((seq, id, answer));
        seq
    }

    /// Every queued join, if `seq`'s is still among them.
    fn take_if_queued(
        &self,
        seq: u64,
    ) -> Option<Vec<(String, tokio::sync::oneshot::Sender<Joined>)>> {
        let mut p = self.pending.lock().expect("join queue");
        if !p.1.iter().any(|(s, _, _)| *s == seq) {
            return None;
        }
        Some(p.1.drain(..).map(|(_, id, tx)| (id, tx)).collect())
    }
}
