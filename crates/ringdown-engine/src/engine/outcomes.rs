use super::*;

impl Engine {
    /// Feeds a finished call's outcome to its incident.
    pub async fn on_outcome(&self, report: OutcomeReport) -> Result<(), EngineError> {
        info!(
            incident = %report.incident_id, call = %report.call_id, contact = %report.contact_id,
            outcome = report.outcome.as_str(), reason = report.disconnect_reason.as_deref().unwrap_or("-"),
            "call ended"
        );
        metrics::counter!("ringdown_call_outcomes_total", "outcome" => report.outcome.as_str())
            .increment(1);
        self.inner.gate.release(&report.call_id);
        self.store_outcome(report).await
    }

    /// Applies an outcome to its incident; on failure the outcome is kept
    /// and tried again (1 s, doubling to 30 s) until the store takes it.
    pub(super) async fn on_outcome_or_retry(&self, report: OutcomeReport, failures: u32) {
        let result = if failures == 0 {
            self.on_outcome(report.clone()).await
        } else {
            self.store_outcome(report.clone()).await
        };
        if let Err(e) = result {
            let wait = Duration::from_secs(1u64 << failures.min(5)).min(Duration::from_secs(30));
            error!(
                incident = %report.incident_id, call = %report.call_id, error = %e,
                retry_in_s = wait.as_secs(), "could not apply call outcome; will retry"
            );
            let at = self.now() + chrono::Duration::from_std(wait).unwrap_or_default();
            self.inner.outcome_retries.hold(at, failures + 1, report);
        }
    }

    pub(super) async fn retry_outcomes(&self) {
        let now = self.now();
        for held in self.inner.outcome_retries.take_due(now) {
            self.on_outcome_or_retry(held.item, held.failures).await;
        }
    }

    /// Applies the outcomes held for `incident_id` now, before its timers:
    /// an outcome timeout must never be decided while the outcome itself
    /// waits in the retry list (the store was away when it came). False
    /// when some could still not be stored; the timer then waits too.
    pub(super) async fn flush_held_outcomes(&self, incident_id: &str) -> bool {
        let held: Vec<HeldOutcome> = self
            .inner
            .outcome_retries
            .take_where(|h| h.item.incident_id == incident_id);
        let mut all_stored = true;
        for HeldOutcome {
            failures,
            item: report,
            ..
        } in held
        {
            if self.store_outcome(report.clone()).await.is_err() {
                all_stored = false;
                let at = self.now() + chrono::Duration::seconds(1);
                self.inner.outcome_retries.hold(at, failures + 1, report);
            }
        }
        all_stored
    }

    pub(super) async fn store_outcome(&self, report: OutcomeReport) -> Result<(), EngineError> {
        let applied = report.applied.clone();
        self.store_outcome_once(report).await?;
        applied.confirm();
        Ok(())
    }

    pub(super) async fn store_outcome_once(
        &self,
        report: OutcomeReport,
    ) -> Result<(), EngineError> {
        let existing = self
            .inner
            .store
            .contacts_for_incident(&report.incident_id)
            .await?;
        if let Some(mut row) = existing
            .into_iter()
            .find(|r| r.contact_id == report.contact_id)
        {
            row.ended_at = Some(report.ended_at);
            row.outcome = Some(report.outcome);
            row.disconnect_reason = report.disconnect_reason.clone();
            self.inner.store.record_contact(&row).await?;
        }
        self.apply(
            &report.incident_id,
            Event::CallEnded {
                call_id: report.call_id,
                outcome: report.outcome,
                disconnect_reason: report.disconnect_reason,
            },
        )
        .await?;
        Ok(())
    }
}
