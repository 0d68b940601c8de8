use super::*;

impl Engine {
    /// Re-arms every open incident after a start: timers for due work and a
    /// re-issue of calls that were decided but may never have reached Connect.
    pub async fn recover(&self) -> Result<usize, EngineError> {
        let all = self
            .inner
            .store
            .list_incidents(&IncidentFilter::default())
            .await?;
        // Notices raised before a crash (or whose channel was down) go out
        // now, closed incidents' included.
        for inc in all.iter().filter(|i| !i.outbox.is_empty()) {
            for n in &inc.outbox {
                self.spawn_notice(inc.incident.clone(), n.id.clone(), 0);
            }
        }
        let open: Vec<StoredIncident> = all.into_iter().filter(|i| !i.phase.is_closed()).collect();
        for inc in &open {
            // Who is on a call or was just rung, for the storm rule.
            self.cache().remember(inc);
        }
        self.resync_storms(&open).await;
        let me = self.inner.settings.instance.as_str();
        for inc in &open {
            // Whoever owns it, a call in flight may have had its contact
            // record read and lost by the process that died: look it up if
            // no record comes. (Cheap: one request, only for late records.)
            self.watch_call_in_flight(inc);
        }
        for inc in open
            .iter()
            .filter(|i| i.owner.as_deref().is_none_or(|o| o == me))
        {
            if let Some(at) = inc.wake_at() {
                self.schedule(at, &inc.id);
            }
            self.reissue_unplaced(inc);
        }
        Ok(open.len())
    }

    /// Places `inc`'s call again when its contact id is unknown: it waited
    /// in line at a process that died, or that process died between dialling
    /// and storing the contact id (then the dialer asks Connect first).
    pub(super) fn reissue_unplaced(&self, inc: &StoredIncident) {
        for call in inc.calls() {
            if call.contact_id.is_none() {
                info!(incident = %inc.id, call = %call.call_id, dialled = call.dialled_at.is_some(), "re-issuing a call whose contact is not known");
                self.spawn_call(call.request.clone());
            }
        }
    }

    /// Has the dialer follow `inc`'s placed call, whose outcome this process
    /// would otherwise only learn from a contact record that may never come
    /// (read and lost by a replica that died, or dropped).
    pub(super) fn watch_call_in_flight(&self, inc: &Incident) {
        for call in inc.calls() {
            if let Some(contact) = &call.contact_id {
                let dialled_at = call.dialled_at.unwrap_or(call.placed_at);
                self.inner
                    .dialer
                    .watch(&inc.id, &call.call_id, contact, dialled_at);
            }
        }
    }

    pub(super) async fn run_due(&self) {
        let now = self.now();
        let due: Vec<String> = {
            let mut wakes = self.inner.wakes.lock().expect("wakes");
            let mut due = Vec::new();
            while let Some(first) = wakes.first().cloned() {
                if first.0 > now {
                    break;
                }
                wakes.pop_first();
                if !due.contains(&first.1) {
                    due.push(first.1);
                }
            }
            due
        };
        for id in due {
            if !self.flush_held_outcomes(&id).await {
                self.schedule(now + chrono::Duration::seconds(1), &id);
                continue;
            }
            if let Err(e) = self.apply(&id, Event::Tick).await {
                error!(incident = %id, error = %e, "tick failed");
            }
        }
    }

    pub(super) async fn sweep(&self) {
        match self.inner.store.due_incidents(self.now(), 100).await {
            Ok(ids) => {
                for id in ids {
                    if self
                        .inner
                        .unreadable
                        .lock()
                        .expect("unreadable")
                        .contains(&id)
                    {
                        continue;
                    }
                    if !self.flush_held_outcomes(&id).await {
                        continue;
                    }
                    match self.apply_as(&id, Event::Tick, true).await {
                        Ok(_) => {}
                        Err(EngineError::Store(e @ StoreError::Undecodable { .. })) => {
                            // Said once, then left to the release that wrote it.
                            error!(incident = %id, error = %e, "an incident this release cannot read is left alone");
                            self.inner.unreadable.lock().expect("unreadable").insert(id);
                        }
                        Err(e) => error!(incident = %id, error = %e, "tick failed"),
                    }
                }
            }
            Err(e) => warn!(error = %e, "sweep for due incidents failed"),
        }
    }

    /// Runs timers, outcome processing and periodic refreshes until `shutdown`
    /// completes; then waits for calls being placed to finish.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) -> Result<(), EngineError> {
        if let Err(e) = self.reload_roster().await {
            warn!(error = %e, "could not read the roster");
        }
        self.reload_silences().await?;
        self.recover().await?;
        let mut outcomes = self.inner.outcomes.lock().await;
        let mut last_sweep = tokio::time::Instant::now();
        let mut last_silences = tokio::time::Instant::now();
        let mut last_roster = tokio::time::Instant::now();
        let mut last_heartbeats = tokio::time::Instant::now();
        tokio::pin!(shutdown);
        loop {
            let next_wake = self
                .inner
                .wakes
                .lock()
                .expect("wakes")
                .first()
                .map(|(t, _)| *t);
            let sweep_at = self.now()
                + chrono::Duration::from_std(self.inner.settings.sweep_interval)
                    .unwrap_or_default();
            let next_retry = self.inner.outcome_retries.next_at();
            let next_notice = self.inner.notice_retries.next_at();
            let until = [next_wake, next_retry, next_notice]
                .into_iter()
                .flatten()
                .fold(sweep_at, |a, b| a.min(b));
            tokio::select! {
                _ = &mut shutdown => break,
                _ = sleep_until(self.inner.clock.as_ref(), until) => {}
                _ = self.inner.wake.notified() => {}
                report = outcomes.recv() => {
                    match report {
                        Some(r) => self.on_outcome_or_retry(r, 0).await,
                        None => {
                            // Every outcome sender is gone; keep running timers.
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                }
            }
            self.run_due().await;
            self.retry_outcomes().await;
            self.retry_notices().await;
            if last_sweep.elapsed() >= self.inner.settings.sweep_interval {
                last_sweep = tokio::time::Instant::now();
                self.sweep().await;
            }
            if last_silences.elapsed() >= self.inner.settings.silence_refresh {
                last_silences = tokio::time::Instant::now();
                if let Err(e) = self.reload_silences().await {
                    warn!(error = %e, "could not refresh silences");
                }
            }
            if last_heartbeats.elapsed() >= self.inner.settings.heartbeat_check {
                last_heartbeats = tokio::time::Instant::now();
                self.check_heartbeats().await;
            }
            if last_roster.elapsed() >= self.inner.settings.roster_refresh {
                last_roster = tokio::time::Instant::now();
                if let Err(e) = self.reload_roster().await {
                    warn!(error = %e, "could not refresh the roster");
                }
            }
        }
        info!("engine stopping: finishing calls in progress");
        self.inner.tracker.close();
        self.inner.tracker.wait().await;
        self.release_ownership().await;
        Ok(())
    }

    /// On a graceful stop, gives up ownership of open incidents so another
    /// replica picks them up at their due time instead of `takeover_after`
    /// later. Best effort: a conflict means someone else already moved on.
    pub(super) async fn release_ownership(&self) {
        let me = self.inner.settings.instance.as_str();
        let Ok(list) = self
            .inner
            .store
            .list_incidents(&IncidentFilter::default())
            .await
        else {
            return;
        };
        let mut released = 0;
        for mut inc in list
            .into_iter()
            .filter(|i| !i.phase.is_closed() && i.owner.as_deref() == Some(me))
        {
            inc.owner = None;
            if self.inner.store.save_incident(&inc).await.is_ok() {
                released += 1;
            }
        }
        if released > 0 {
            info!(released, "released ownership of open incidents");
        }
    }
}
