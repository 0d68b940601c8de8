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
                } => self.join_storm(incident_id, person, with.as_deref()).await,
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
    async fn join_storm(
        &self,
        incident_id: &str,
        person: &str,
        with: Option<&str>,
    ) -> Result<(), EngineError> {
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
            let Some(me) = self.load_cached(incident_id).await? else {
                return Ok(());
            };
            if me.phase.is_closed() {
                return Ok(());
            }
            joining.push(me);
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
            for inc in &joining {
                let event = Event::JoinStorm {
                    storm_id: storm_id.clone(),
                };
                self.apply(&inc.id, event).await?;
            }
            metrics::counter!("ringdown_storm_members_total").increment(joining.len() as u64);
            return Ok(());
        }
        Err(EngineError::Contended(key))
    }
}
