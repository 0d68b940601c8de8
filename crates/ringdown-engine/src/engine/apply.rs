use super::*;

impl Engine {
    /// Applies `event` to incident `id`: load, decide, persist, then act.
    pub async fn apply(
        &self,
        id: &str,
        event: Event,
    ) -> Result<Option<StoredIncident>, EngineError> {
        self.apply_as(id, event, false).await
    }

    /// `from_sweep`: the tick comes from scanning the store rather than from
    /// this process's own timer, so an incident another live replica owns is
    /// left to it until it is overdue by `takeover_after`.
    pub(super) async fn apply_as(
        &self,
        id: &str,
        event: Event,
        from_sweep: bool,
    ) -> Result<Option<StoredIncident>, EngineError> {
        let Some(roster) = self.roster() else {
            warn!(incident = id, "no roster loaded; event deferred");
            return Ok(None);
        };
        let lock = self.lock_for(id);
        let mut guard = Some(lock.lock().await);
        // A sweep re-checks ownership against the store, so it never starts
        // from the cache.
        let mut trust_cache = !from_sweep;
        for _ in 0..MAX_RETRIES {
            let cached = trust_cache
                .then(|| self.cache().by_id.get(id).cloned())
                .flatten();
            let from_cache = cached.is_some();
            let current = match cached {
                Some(c) => c,
                None => match self.inner.store.load_incident(id).await? {
                    Some(c) => c,
                    None => return Ok(None),
                },
            };
            if current.phase.is_closed() && !matches!(event, Event::NoticeDelivered { .. }) {
                self.cache().forget(id);
                // Closed incidents never change (but for their outbox); the
                // caller must look elsewhere (a new incident of the group)
                // for where the event belongs.
                return Ok(None);
            }
            let now = self.now();
            if from_sweep && self.owned_by_live_peer(&current, now) {
                return Ok(Some(current));
            }
            let silences = self.silences();
            let (decided, effects) = {
                let cache = self.cache();
                let ctx = Context {
                    roster: &roster,
                    silences: &silences,
                    settings: &self.inner.settings.escalation,
                    lines: &cache.lines,
                };
                decide(&current, event.clone(), &ctx, now)
            };
            if decided == current.incident {
                if from_cache {
                    // Nothing to write, so no version check would catch a
                    // stale entry: confirm against the store.
                    trust_cache = false;
                    continue;
                }
                self.cache().remember(&current);
                return Ok(Some(current));
            }
            let mut next = StoredIncident {
                incident: decided,
                version: current.version,
                owner: current.owner.clone(),
            };
            let mut took_over = false;
            if next.owner.as_deref() != Some(self.inner.settings.instance.as_str()) {
                if let Some(prev) = &next.owner {
                    if from_sweep {
                        info!(incident = %id, previous = %prev, "its owner is overdue: taking over the incident");
                    } else {
                        info!(incident = %id, previous = %prev, "taking over the incident to apply an event");
                    }
                    took_over = true;
                }
                next.owner = Some(self.inner.settings.instance.clone());
            }
            // A silence is stored before the incident that created it: if it
            // cannot be, nothing is saved and the event is retried (an
            // outcome is held until the store takes it).
            let effects = self.pre_effects(effects).await?;
            // Only timers to set: the next event for this incident need not
            // wait for this one to reach the disk (its own effects will, and
            // its write lands after this one). Anything else keeps the order.
            let quiet = effects.iter().all(|e| matches!(e, Effect::WakeAt { .. }));
            match self.inner.store.save_incident_unsynced(&next).await {
                Ok((v, ticket)) => {
                    next.version = v;
                    self.cache().remember(&next);
                    if quiet {
                        guard.take();
                    }
                    if let Err(e) = self.inner.store.synced(ticket).await {
                        self.cache().forget(id);
                        return Err(e.into());
                    }
                    if took_over {
                        // Follow the call in flight, whoever placed it. Only
                        // an owner found overdue (a sweep) may have died with
                        // its call unplaced: then place it. Any other writer
                        // (an alert, an outcome) leaves the dialling to the
                        // live owner. A call this decision places is placed
                        // by `execute`.
                        self.watch_call_in_flight(&next);
                        let ids = |i: &Incident| -> Vec<String> {
                            i.calls().map(|c| c.call_id.clone()).collect()
                        };
                        let same_call = ids(&current) == ids(&next);
                        if from_sweep && same_call {
                            self.reissue_unplaced(&next);
                        }
                    }
                    self.release_finished_call(&current, &next);
                    // Someone will hear of it: its own call, or its storm's.
                    let heard = |i: &Incident| i.calls_placed > 0 || i.member_of.is_some();
                    if !heard(&current) && heard(&next) {
                        metrics::counter!("ringdown_incidents_notified_total").increment(1);
                    }
                    if current.acked_at.is_none() {
                        if let Some(acked) = next.acked_at {
                            metrics::counter!("ringdown_incidents_acked_total").increment(1);
                            let secs = (acked - next.opened_at).num_milliseconds() as f64 / 1000.0;
                            metrics::histogram!("ringdown_time_to_ack_seconds").record(secs);
                        }
                    }
                    self.execute(&next, effects).await;
                    if next.phase.is_closed() {
                        self.inner.locks.lock().expect("locks").remove(id);
                    }
                    drop(guard);
                    return Ok(Some(next));
                }
                Err(StoreError::Conflict(_)) => {
                    self.cache().forget(id);
                    trust_cache = false;
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(EngineError::Contended(id.to_string()))
    }

    /// Effects that must be durable before the incident is saved. A
    /// silence that cannot be stored after a few tries fails the decision.
    pub(super) async fn pre_effects(
        &self,
        effects: Vec<Effect>,
    ) -> Result<Vec<Effect>, StoreError> {
        let mut rest = Vec::with_capacity(effects.len());
        for e in effects {
            if let Effect::CreateSilence(s) = &e {
                let mut attempt = 0u32;
                loop {
                    match self.inner.store.put_silence(s).await {
                        Ok(()) => break,
                        Err(err) if attempt < 4 => {
                            warn!(silence = %s.id, attempt, error = %err, "could not store silence; retrying");
                            tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
                            attempt += 1;
                        }
                        Err(err) => {
                            error!(silence = %s.id, error = %err, "could not store the silence: the incident stays open and the outcome is tried again");
                            return Err(err);
                        }
                    }
                }
                info!(silence = %s.id, ends_at = s.ends_at, by = %s.created_by, "silence created");
                metrics::counter!("ringdown_silences_created_total").increment(1);
                if let Err(err) = self.reload_silences().await {
                    warn!(error = %err, "could not refresh silences");
                }
            } else {
                rest.push(e);
            }
        }
        Ok(rest)
    }

    pub(super) fn owned_by_live_peer(&self, inc: &StoredIncident, now: DateTime<Utc>) -> bool {
        let me = self.inner.settings.instance.as_str();
        let takeover =
            chrono::Duration::from_std(self.inner.settings.takeover_after).unwrap_or_default();
        match (&inc.owner, inc.wake_at()) {
            (Some(owner), Some(due)) if owner != me => now < due + takeover,
            _ => false,
        }
    }

    pub(super) fn release_finished_call(&self, before: &Incident, after: &Incident) {
        for old in before.calls() {
            if after.find_call(&old.call_id).is_none() {
                self.inner.gate.release(&old.call_id);
                self.cancel_dialing(&old.call_id);
                self.free_line(&old.person, &after.id, &old.call_id);
            }
        }
    }

    /// The person's phone is free for other replicas' calls (only if this
    /// call held it; a lost release expires, or the next caller finds the
    /// call over and frees it).
    fn free_line(&self, person: &str, incident: &str, call: &str) {
        let Some(leases) = self.inner.shared_lines.get().cloned() else {
            return;
        };
        let name = super::calls::line_lease(person);
        let owner = super::calls::line_owner(incident, call);
        self.inner.tracker.spawn(async move {
            if let Err(e) = leases.release(&name, &owner).await {
                warn!(line = %name, error = %e, "could not free the line; it expires");
            }
        });
    }

    /// The dialer stops retrying `call_id` (between requests).
    pub(super) fn cancel_dialing(&self, call_id: &str) {
        if let Some((_, t)) = self.inner.dialing.lock().expect("dialing").remove(call_id) {
            t.cancel();
        }
    }

    pub(super) async fn execute(&self, inc: &Incident, effects: Vec<Effect>) {
        let mut storm_work = Vec::new();
        for effect in effects {
            match effect {
                e @ (Effect::JoinStorm { .. }
                | Effect::ToStorm { .. }
                | Effect::ForMembers { .. }) => storm_work.push(e),
                Effect::PlaceCall(req) => self.spawn_call(req),
                Effect::StopCall {
                    call_id,
                    contact_id,
                } => {
                    self.inner.gate.release(&call_id);
                    self.cancel_dialing(&call_id);
                    if let Some(contact) = contact_id {
                        let dialer = self.inner.dialer.clone();
                        self.inner.tracker.spawn(async move {
                            if let Err(e) = dialer.stop(&contact).await {
                                warn!(call = %call_id, error = %e, "could not stop call");
                            }
                        });
                    }
                }
                Effect::CreateSilence(_) => {}
                Effect::WakeAt { at } => self.schedule(at, &inc.id),
                Effect::Fallback {
                    reason, notice_id, ..
                } => {
                    metrics::counter!("ringdown_fallbacks_total").increment(1);
                    warn!(incident = %inc.id, reason = %reason, "incident sent to the fallback channel");
                    self.spawn_notice(inc.clone(), notice_id, 0);
                }
                Effect::OperatorAlert {
                    message, notice_id, ..
                } => {
                    error!(incident = %inc.id, "{message}");
                    self.spawn_notice(inc.clone(), notice_id, 0);
                }
                Effect::ReleaseGroup { .. } => {
                    let phase = inc.phase.as_str();
                    metrics::counter!("ringdown_incidents_closed_total", "phase" => phase)
                        .increment(1);
                    info!(incident = %inc.id, phase, "incident closed");
                }
            }
        }
        if !storm_work.is_empty() {
            // Other incidents' decisions, taken after this one's lock is
            // released (a storm and its members write each other), in the
            // order this decision gave them.
            self.spawn_storm_work(storm_work);
        }
    }

    pub(super) fn schedule(&self, at: DateTime<Utc>, id: &str) {
        self.inner
            .wakes
            .lock()
            .expect("wakes")
            .insert((at, id.to_string()));
        self.inner.wake.notify_one();
    }
}
