use super::*;

impl Engine {
    /// Delivers a notice of the incident's outbox, then takes it out of the
    /// outbox; a notice the channel refused is tried again (5 s, doubling to
    /// 5 min) until it is taken, across restarts (the outbox is stored).
    pub(super) fn spawn_notice(&self, inc: Incident, notice_id: String, failures: u32) {
        let engine = self.clone();
        self.inner.tracker.spawn(async move {
            engine.deliver_notice(inc, notice_id, failures).await;
        });
    }

    pub(super) async fn deliver_notice(&self, inc: Incident, notice_id: String, failures: u32) {
        let Some(notice) = inc.outbox.iter().find(|n| n.id == notice_id).cloned() else {
            return;
        };
        let kind = match notice.kind {
            NoticeKind::Fallback => "fallback",
            NoticeKind::OperatorAlert => "operator_alert",
        };
        let sent = match notice.kind {
            NoticeKind::Fallback => self.inner.notifier.fallback(&inc, &notice.text).await,
            NoticeKind::OperatorAlert => {
                self.inner.notifier.operator_alert(&inc, &notice.text).await
            }
        };
        match sent {
            Ok(()) => {
                metrics::counter!("ringdown_notices_total", "kind" => kind, "result" => "delivered")
                    .increment(1);
                let delivered = Event::NoticeDelivered {
                    id: notice_id.clone(),
                };
                if let Err(e) = self.apply(&inc.id, delivered).await {
                    // Delivered but still in the outbox: sent once more later
                    // (at least once beats never).
                    warn!(incident = %inc.id, notice = %notice_id, error = %e, "could not clear a delivered notice");
                }
            }
            Err(e) => {
                metrics::counter!("ringdown_notices_total", "kind" => kind, "result" => "failed")
                    .increment(1);
                let wait =
                    Duration::from_secs(5u64 << failures.min(6)).min(Duration::from_secs(300));
                error!(incident = %inc.id, notice = %notice_id, kind, error = %e, retry_in_s = wait.as_secs(), "the notice channel failed; the notice is kept and sent again");
                let at = self.now() + chrono::Duration::from_std(wait).unwrap_or_default();
                let held = NoticeRef {
                    incident_id: inc.id.clone(),
                    notice_id,
                };
                self.inner.notice_retries.hold(at, failures + 1, held);
            }
        }
    }

    /// Notices whose retry time has come, sent again from the stored outbox.
    pub(super) async fn retry_notices(&self) {
        let now = self.now();
        for held in self.inner.notice_retries.take_due(now) {
            let failures = held.failures;
            let NoticeRef {
                incident_id,
                notice_id,
            } = held.item;
            match self.inner.store.load_incident(&incident_id).await {
                Ok(Some(inc)) => self.spawn_notice(inc.incident, notice_id, failures),
                Ok(None) => {}
                Err(e) => {
                    warn!(incident = %incident_id, error = %e, "could not read the incident of a pending notice; trying later");
                    let at = now + chrono::Duration::seconds(5);
                    let held = NoticeRef {
                        incident_id,
                        notice_id,
                    };
                    self.inner.notice_retries.hold(at, failures, held);
                }
            }
        }
    }
}
