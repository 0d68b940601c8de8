use super::*;

impl Engine {
    /// Raises a missed-heartbeat alert for every heartbeat silent for longer
    /// than it promised, clears ones whose beats came back through another
    /// replica, and arms ones never seen (`heartbeat::check` decides).
    pub async fn check_heartbeats(&self) {
        use ringdown_core::heartbeat::{check, Check};
        let Some(roster) = self.roster() else { return };
        let now = self.now();
        for h in &roster.heartbeats {
            let last = match self.inner.store.heartbeat_last_seen(&h.name).await {
                Ok(last) => last,
                Err(e) => {
                    warn!(heartbeat = %h.name, error = %e, "could not read heartbeat");
                    continue;
                }
            };
            let raised = self.inner.missed.lock().expect("missed").contains(&h.name);
            match check(h, last, raised, now) {
                Check::Arm => {
                    if let Err(e) = self.inner.store.heartbeat_seen(&h.name, now).await {
                        warn!(heartbeat = %h.name, error = %e, "could not arm heartbeat");
                    }
                }
                Check::Raise(alert) => {
                    error!(heartbeat = %h.name, last_seen = ?last, "heartbeat missed: the alerting path may be down");
                    metrics::counter!("ringdown_heartbeats_missed_total").increment(1);
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
                }
                Check::Clear(alert) => self.clear_missed(&roster, h, alert).await,
                Check::Nothing => {}
            }
        }
    }

    pub(super) async fn clear_missed(
        &self,
        roster: &Roster,
        h: &ringdown_core::roster::Heartbeat,
        alert: Alert,
    ) {
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
            let raised = self.inner.missed.lock().expect("missed").contains(&name);
            if ringdown_core::heartbeat::beat_ends_miss(h, prev, raised, now) {
                let alert = ringdown_core::heartbeat::missed_alert(
                    h,
                    Status::Resolved,
                    prev.unwrap_or(now),
                );
                self.clear_missed(roster, h, alert).await;
            }
        }
        Ok(())
    }
}
