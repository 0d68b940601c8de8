use super::*;

impl Engine {
    /// Raises a missed-heartbeat alert for every heartbeat silent for longer
    /// than it promised (and clears ones whose beats came back through
    /// another replica). A heartbeat never seen is armed now, so a fresh
    /// deployment does not page before the first beat had a chance.
    pub async fn check_heartbeats(&self) {
        let Some(roster) = self.roster() else { return };
        let now = self.now();
        for h in &roster.heartbeats {
            let last = match self.inner.store.heartbeat_last_seen(&h.name).await {
                Ok(Some(t)) => t,
                Ok(None) => {
                    if let Err(e) = self.inner.store.heartbeat_seen(&h.name, now).await {
                        warn!(heartbeat = %h.name, error = %e, "could not arm heartbeat");
                    }
                    continue;
                }
                Err(e) => {
                    warn!(heartbeat = %h.name, error = %e, "could not read heartbeat");
                    continue;
                }
            };
            let overdue = ringdown_core::heartbeat::is_overdue(h, last, now);
            let known = self.inner.missed.lock().expect("missed").contains(&h.name);
            if overdue && !known {
                error!(heartbeat = %h.name, last_seen = %last, "heartbeat missed: the alerting path may be down");
                metrics::counter!("ringdown_heartbeats_missed_total").increment(1);
                let alert = ringdown_core::heartbeat::missed_alert(h, Status::Firing, last);
                match self.ingest_on_policy(&roster, &h.policy, vec![alert]).await {
                    Ok(_) => {
                        self.inner
                            .missed
                            .lock()
                            .expect("missed")
                            .insert(h.name.clone());
                    }
                    Err(e) => {
                        error!(heartbeat = %h.name, error = %e, "could not open the missed-heartbeat incident")
                    }
                }
            } else if !overdue && known {
                self.clear_missed(&roster, h, last).await;
            }
        }
    }

    pub(super) async fn clear_missed(
        &self,
        roster: &Roster,
        h: &ringdown_core::roster::Heartbeat,
        last: DateTime<Utc>,
    ) {
        let alert = ringdown_core::heartbeat::missed_alert(h, Status::Resolved, last);
        match self.ingest_on_policy(roster, &h.policy, vec![alert]).await {
            Ok(_) => {
                info!(heartbeat = %h.name, "heartbeat is back");
                self.inner.missed.lock().expect("missed").remove(&h.name);
            }
            Err(e) => {
                warn!(heartbeat = %h.name, error = %e, "could not clear the missed-heartbeat incident")
            }
        }
    }

    /// Records beats; a beat that ends a miss resolves its incident.
    pub(super) async fn renew_heartbeats(
        &self,
        roster: &Roster,
        names: BTreeSet<String>,
    ) -> Result<(), StoreError> {
        let now = self.now();
        for name in names {
            let Some(h) = roster.heartbeats.iter().find(|h| h.name == name) else {
                continue;
            };
            let prev = self.inner.store.heartbeat_last_seen(&name).await?;
            self.inner.store.heartbeat_seen(&name, now).await?;
            metrics::counter!("ringdown_heartbeats_received_total").increment(1);
            let was_missed = prev.is_some_and(|p| ringdown_core::heartbeat::is_overdue(h, p, now))
                || self.inner.missed.lock().expect("missed").contains(&name);
            if was_missed {
                self.clear_missed(roster, h, prev.unwrap_or(now)).await;
            }
        }
        Ok(())
    }
}
