use super::*;

impl Engine {
    /// Ingests alerts on a named policy, bypassing `match` (heartbeats name
    /// their policy explicitly).
    pub(super) async fn ingest_on_policy(
        &self,
        roster: &Roster,
        policy: &str,
        alerts: Vec<Alert>,
    ) -> Result<Option<String>, EngineError> {
        let Some(p) = roster.policy(policy) else {
            return Ok(None);
        };
        let Some(first) = alerts.first() else {
            return Ok(None);
        };
        let r = ringdown_core::grouping::route_on(p, &first.labels);
        self.ingest_group(roster, &r.group_key, policy, &r.group_labels, alerts)
            .await
    }

    pub(super) async fn ingest_group(
        &self,
        roster: &Roster,
        group_key: &str,
        policy: &str,
        group_labels: &ringdown_core::Labels,
        alerts: Vec<Alert>,
    ) -> Result<Option<String>, EngineError> {
        for attempt in 0..MAX_RETRIES {
            let cached = if attempt == 0 {
                self.cache().open_for_group(group_key)
            } else {
                None
            };
            let open = match cached {
                Some(inc) => Some(inc),
                None => {
                    let found = self.inner.store.open_incident_for_group(group_key).await?;
                    if let Some(inc) = &found {
                        self.cache().remember(inc);
                    }
                    found
                }
            };
            if let Some(open) = open {
                match self.apply(&open.id, Event::Alerts(alerts.clone())).await? {
                    Some(inc) if inc.id == open.id => return Ok(Some(inc.id)),
                    _ => continue,
                }
            }
            if alerts.iter().all(|a| a.status == Status::Resolved) {
                return Ok(None);
            }
            let Some(policy) = roster.policy(policy) else {
                return Ok(None);
            };
            let now = self.now();
            let id = self.new_incident_id(group_key, now);
            let fresh = Incident::open(&id, group_key, policy, group_labels.clone(), now);
            let silences = self.silences();
            let ctx = Context {
                roster,
                silences: &silences,
                settings: &self.inner.settings.escalation,
            };
            let (inc, effects) = decide(&fresh, Event::Alerts(alerts.clone()), &ctx, now);
            match self.inner.store.create_incident(&inc).await? {
                Created::Created(stored) => {
                    self.cache().remember(&stored);
                    info!(incident = %stored.id, group = %group_key, alerts = alerts.len(), "incident opened");
                    metrics::counter!("ringdown_incidents_opened_total").increment(1);
                    self.execute(&stored, effects).await;
                    return Ok(Some(stored.id));
                }
                Created::Exists(_) => continue,
            }
        }
        Err(EngineError::Contended(group_key.to_string()))
    }
}

#[async_trait]
impl Ingest for Engine {
    /// One cheap read of the store, and a roster to route by.
    async fn ready(&self) -> Result<(), IngestError> {
        self.inner.store.load_roster().await?;
        if self.roster().is_none() {
            return Err(IngestError::NoRoster);
        }
        Ok(())
    }

    /// Routes, silences and groups a batch; one incident write per group.
    async fn ingest(&self, alerts: Vec<Alert>) -> Result<IngestReport, IngestError> {
        let Some(roster) = self.roster() else {
            return Err(IngestError::NoRoster);
        };
        let silences = self.silences();
        let now = self.now().timestamp();
        let mut report: Vec<Option<AlertDisposition>> = vec![None; alerts.len()];
        // group key -> (policy, group labels, alert indices)
        let mut groups: BTreeMap<String, (String, ringdown_core::Labels, Vec<usize>)> =
            BTreeMap::new();
        let mut beats = BTreeSet::new();
        for (i, alert) in alerts.iter().enumerate() {
            metrics::counter!("ringdown_alerts_received_total", "source" => alert.source.as_str())
                .increment(1);
            if let Some(h) = ringdown_core::heartbeat::renewed_by(&roster, alert) {
                beats.insert(h.name.clone());
                report[i] = Some(AlertDisposition::Heartbeat {
                    fingerprint: alert.fingerprint.clone(),
                    name: h.name.clone(),
                });
                continue;
            }
            let Some(r) = route(&roster, alert) else {
                metrics::counter!("ringdown_alerts_unrouted_total").increment(1);
                warn!(fingerprint = %alert.fingerprint, labels = ?alert.labels, "no policy matches this alert; add a catch-all policy (match: {{}})");
                report[i] = Some(AlertDisposition::Unrouted {
                    fingerprint: alert.fingerprint.clone(),
                });
                continue;
            };
            if alert.status == Status::Firing {
                if let Some(s) = silences.active_match_alert(&alert.labels, &alert.fingerprint, now)
                {
                    metrics::counter!("ringdown_alerts_silenced_total").increment(1);
                    report[i] = Some(AlertDisposition::Silenced {
                        fingerprint: alert.fingerprint.clone(),
                        silence_id: s.id.clone(),
                    });
                    continue;
                }
            }
            groups
                .entry(r.group_key)
                .or_insert_with(|| (r.policy.name.clone(), r.group_labels, Vec::new()))
                .2
                .push(i);
        }
        if !beats.is_empty() {
            self.renew_heartbeats(&roster, beats).await?;
        }
        for (key, (policy, labels, idx)) in groups {
            let batch: Vec<Alert> = idx.iter().map(|i| alerts[*i].clone()).collect();
            let result = self
                .ingest_group(&roster, &key, &policy, &labels, batch)
                .await
                .map_err(|e| match e {
                    EngineError::Store(s) => IngestError::Store(s),
                    EngineError::Contended(k) => IngestError::Store(StoreError::Conflict(k)),
                })?;
            for i in idx {
                let fingerprint = alerts[i].fingerprint.clone();
                report[i] = Some(match &result {
                    Some(id) => {
                        metrics::counter!("ringdown_alerts_grouped_total").increment(1);
                        AlertDisposition::Grouped {
                            fingerprint,
                            incident_id: id.clone(),
                        }
                    }
                    None => AlertDisposition::ResolvedNoIncident { fingerprint },
                });
            }
        }
        Ok(IngestReport {
            alerts: report.into_iter().flatten().collect(),
        })
    }
}
