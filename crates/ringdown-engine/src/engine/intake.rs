use super::*;
use ringdown_core::inhibit;
use ringdown_core::intake::{intake, opens_incident, Fate};

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
                self.cache().open_id_for_group(group_key)
            } else {
                None
            };
            let open = match cached {
                Some(id) => Some(id),
                None => {
                    let found = self.inner.store.open_incident_for_group(group_key).await?;
                    if let Some(inc) = &found {
                        self.cache().remember(inc);
                    }
                    found.map(|inc| inc.incident.id)
                }
            };
            if let Some(open) = open {
                match self.apply(&open, Event::Alerts(alerts.clone())).await? {
                    Some(inc) if inc.id == open => return Ok(Some(inc.incident.id)),
                    _ => continue,
                }
            }
            if !opens_incident(&alerts) {
                return Ok(None);
            }
            let Some(policy) = roster.policy(policy) else {
                return Ok(None);
            };
            let now = self.now();
            let id = self.new_incident_id(group_key, now);
            let mut fresh = Incident::open(&id, group_key, policy, group_labels.clone(), now);
            if policy.takes_turns() {
                fresh.turn = self.inner.store.next_turn(&policy.name).await?;
            }
            let silences = self.silences();
            let (inc, effects) = {
                let cache = self.cache();
                let ctx = Context {
                    roster,
                    silences: &silences,
                    settings: &self.inner.settings.escalation,
                    lines: &cache.lines,
                };
                decide(&fresh, Event::Alerts(alerts.clone()), &ctx, now)
            };
            match self
                .inner
                .store
                .create_incident(&StoredIncident::new(inc))
                .await?
            {
                Created::Created(stored) => {
                    self.cache().remember(&stored);
                    info!(incident = %stored.id, group = %group_key, alerts = alerts.len(), "incident opened");
                    metrics::counter!("ringdown_incidents_opened_total").increment(1);
                    self.execute(&stored, effects).await;
                    return Ok(Some(stored.incident.id));
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

    /// Routes, silences and groups a batch (the core decides each alert's
    /// fate); one incident write per group.
    async fn ingest(&self, alerts: Vec<Alert>) -> Result<IngestReport, IngestError> {
        let Some(roster) = self.roster() else {
            return Err(IngestError::NoRoster);
        };
        let silences = self.silences();
        let plan = intake(&roster, &silences, &alerts, self.now().timestamp());
        for (alert, fate) in alerts.iter().zip(&plan.fates) {
            metrics::counter!("ringdown_alerts_received_total", "source" => alert.source.as_str())
                .increment(1);
            match fate {
                Fate::Unrouted => {
                    metrics::counter!("ringdown_alerts_unrouted_total").increment(1);
                    warn!(fingerprint = %alert.fingerprint, labels = ?alert.labels, "no policy matches this alert; add a catch-all policy (match: {{}})");
                }
                Fate::Silenced { .. } => {
                    metrics::counter!("ringdown_alerts_silenced_total").increment(1)
                }
                Fate::Heartbeat { .. } | Fate::Grouped { .. } => {}
            }
        }
        if !plan.beats.is_empty() {
            self.renew_heartbeats(&roster, plan.beats.clone()).await?;
        }
        // Groups holding an alert that may inhibit others are written
        // first, so a source and its targets arriving in one batch behave
        // as if the source came first (a broken line reports itself).
        let rules = &roster.inhibit_rules;
        let sources_group = |g: &ringdown_core::intake::Group| {
            !rules.is_empty()
                && g.alerts
                    .iter()
                    .any(|i| inhibit::as_source(rules, &alerts[*i]).is_some())
        };
        let (first, then): (Vec<usize>, Vec<usize>) =
            (0..plan.groups.len()).partition(|g| sources_group(&plan.groups[*g]));
        let mut incidents: Vec<Option<String>> = vec![None; plan.groups.len()];
        let mut inhibited_by: Vec<Option<String>> = vec![None; alerts.len()];
        let mut batches: Vec<Vec<usize>> = plan.groups.iter().map(|g| g.alerts.clone()).collect();
        for round in [first, then] {
            if !rules.is_empty() {
                // The sources are read where the cache holds them (matching
                // is quick and waits on nothing), not copied per request.
                let cache = self.cache();
                let sources = || {
                    cache
                        .by_id
                        .values()
                        .flat_map(|inc| inc.sources.iter().map(|s| (inc.id.as_str(), s)))
                };
                if sources().next().is_some() {
                    for g in &round {
                        batches[*g].retain(|i| {
                            let by = inhibit::inhibitor(rules, &alerts[*i], sources());
                            inhibited_by[*i] = by.map(str::to_string);
                            by.is_none()
                        });
                    }
                }
            }
            // The groups are written together: their writes share one commit
            // on a store that commits in groups (the embedded SQLite file).
            let roster = &roster;
            let writes = round.iter().filter(|g| !batches[**g].is_empty()).map(|g| {
                let batch: Vec<Alert> = batches[*g].iter().map(|i| alerts[*i].clone()).collect();
                let r = &plan.groups[*g].route;
                async move {
                    let id = self
                        .ingest_group(roster, &r.group_key, &r.policy.name, &r.group_labels, batch)
                        .await?;
                    Ok::<_, EngineError>((*g, id))
                }
            });
            for done in futures_util::future::join_all(writes).await {
                let (g, id) = done.map_err(|e| match e {
                    EngineError::Store(s) => IngestError::Store(s),
                    EngineError::Contended(k) => IngestError::Contended(k),
                })?;
                incidents[g] = id;
            }
        }
        // Inhibited alerts are listed in their source's timeline.
        let mut by_source: std::collections::BTreeMap<&str, Vec<Alert>> = Default::default();
        for (i, by) in inhibited_by.iter().enumerate() {
            if let Some(src) = by {
                by_source
                    .entry(src.as_str())
                    .or_default()
                    .push(alerts[i].clone());
            }
        }
        for (src, list) in by_source {
            metrics::counter!("ringdown_alerts_inhibited_total").increment(list.len() as u64);
            self.apply(src, Event::Inhibited(list))
                .await
                .map_err(|e| match e {
                    EngineError::Store(s) => IngestError::Store(s),
                    EngineError::Contended(k) => IngestError::Contended(k),
                })?;
        }
        let dispositions = alerts
            .iter()
            .zip(plan.fates)
            .enumerate()
            .map(|(i, (alert, fate))| {
                let fingerprint = alert.fingerprint.clone();
                match fate {
                    Fate::Heartbeat { name } => AlertDisposition::Heartbeat { fingerprint, name },
                    Fate::Unrouted => AlertDisposition::Unrouted { fingerprint },
                    Fate::Silenced { silence_id } => AlertDisposition::Silenced {
                        fingerprint,
                        silence_id,
                    },
                    Fate::Grouped { .. } if inhibited_by[i].is_some() => {
                        AlertDisposition::Grouped {
                            fingerprint,
                            incident_id: inhibited_by[i].clone().unwrap_or_default(),
                        }
                    }
                    Fate::Grouped { group } => match &incidents[group] {
                        Some(id) => {
                            metrics::counter!("ringdown_alerts_grouped_total").increment(1);
                            AlertDisposition::Grouped {
                                fingerprint,
                                incident_id: id.clone(),
                            }
                        }
                        None => AlertDisposition::ResolvedNoIncident { fingerprint },
                    },
                }
            })
            .collect();
        Ok(IngestReport {
            alerts: dispositions,
        })
    }
}
