//! Amazon Connect contact events → outcomes within seconds of hang-up.
//!
//! A contact record reaches Kinesis one to two minutes after its call ended;
//! Connect's contact events (EventBridge source `aws.connect`, detail-type
//! "Amazon Connect Contact Event") arrive in near real time. An EventBridge
//! rule (made by `ringdown aws bootstrap` and `infra/`) sends every
//! `DISCONNECTED` event of an API-initiated contact to an SQS queue; this
//! reader takes each from there, asks Connect how the call ended
//! (DescribeContact: the attributes the flow set and the DisconnectReason;
//! events carry neither), and hands the outcome to the engine, which frees
//! the call's live-call slot and rings the next person at once.
//!
//! Events are best effort ("emitted on a best effort basis") and carry no
//! truth of their own: the contact record stays the record of truth and
//! the backstop when an event is lost. An outcome is applied once whichever
//! comes first, because the engine ignores an outcome for a call it no
//! longer waits on. A notice is deleted once its outcome is handed over; a
//! process that dies in between leaves the outcome to the contact record.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use ringdown_engine::OutcomeReport;
use serde_json::Value;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::connect::{ConnectDialer, PendingCalls};
use crate::sqs::{Notice, NoticeQueue};
use crate::AwsError;

/// EventBridge's `source` of Amazon Connect events.
pub const EVENT_SOURCE: &str = "aws.connect";
/// EventBridge's `detail-type` of contact events.
pub const EVENT_DETAIL_TYPE: &str = "Amazon Connect Contact Event";

/// The event pattern of the rule that feeds the queue: disconnects of
/// contacts started through the API (ringdown's calls; a contact centre on
/// the same instance sends others, which the rule leaves out), of one
/// instance when its ARN is known.
pub fn event_pattern(instance_arn: Option<&str>) -> Value {
    let mut p = serde_json::json!({
        "source": [EVENT_SOURCE],
        "detail-type": [EVENT_DETAIL_TYPE],
        "detail": {
            "eventType": ["DISCONNECTED"],
            "initiationMethod": ["API"],
        },
    });
    if let Some(arn) = instance_arn {
        p["detail"]["instanceArn"] = serde_json::json!([arn]);
    }
    p
}

/// The fields of a contact event ringdown reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactEvent {
    pub event_type: String,
    pub contact_id: String,
}

/// Parses one queue message (an EventBridge event). `None` for anything
/// that is not an Amazon Connect contact event.
pub fn parse_event(body: &str) -> Option<ContactEvent> {
    let v: Value = serde_json::from_str(body).ok()?;
    if v["source"] != EVENT_SOURCE || v["detail-type"] != EVENT_DETAIL_TYPE {
        return None;
    }
    let d = &v["detail"];
    Some(ContactEvent {
        event_type: d["eventType"].as_str()?.to_string(),
        contact_id: d["contactId"]
            .as_str()
            .filter(|s| !s.is_empty())?
            .to_string(),
    })
}

#[derive(Debug, Clone, PartialEq)]
pub struct ContactEventSettings {
    /// Long-poll wait per receive.
    pub wait_time_secs: u32,
    /// How long a received notice stays invisible: a notice whose look-up
    /// failed comes back after it.
    pub visibility_timeout_secs: u32,
    /// DescribeContact may not show the disconnect at the instant of the
    /// event: how often to ask again, and how long apart, before leaving
    /// the call to its contact record.
    pub describe_attempts: u32,
    pub describe_pause: Duration,
}

impl Default for ContactEventSettings {
    fn default() -> Self {
        ContactEventSettings {
            wait_time_secs: 20,
            visibility_timeout_secs: 30,
            describe_attempts: 3,
            describe_pause: Duration::from_millis(500),
        }
    }
}

/// Reads the contact-event queue until shut down.
pub struct ContactEventReader {
    queue: NoticeQueue,
    dialer: Arc<ConnectDialer>,
    pending: Arc<PendingCalls>,
    outcomes: mpsc::UnboundedSender<OutcomeReport>,
    settings: ContactEventSettings,
}

impl ContactEventReader {
    pub fn new(
        queue: NoticeQueue,
        dialer: Arc<ConnectDialer>,
        pending: Arc<PendingCalls>,
        outcomes: mpsc::UnboundedSender<OutcomeReport>,
        settings: ContactEventSettings,
    ) -> ContactEventReader {
        ContactEventReader {
            queue,
            dialer,
            pending,
            outcomes,
            settings,
        }
    }

    pub async fn run(&self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        info!(queue = %self.queue.url(), "contact-event reader started");
        let mut pause = Duration::from_millis(200);
        loop {
            let received = tokio::select! {
                _ = &mut shutdown => break,
                r = self.queue.receive(self.settings.wait_time_secs, self.settings.visibility_timeout_secs) => r,
            };
            match received {
                Ok(notices) => {
                    pause = Duration::from_millis(200);
                    let mut done: Vec<&Notice> = Vec::with_capacity(notices.len());
                    for n in &notices {
                        if self.handle(n).await {
                            done.push(n);
                        }
                    }
                    self.queue.delete(&done).await;
                }
                Err(e) => {
                    warn!(error = %e, "contact-event receive failed; outcomes wait for contact records meanwhile");
                    tokio::select! {
                        _ = &mut shutdown => break,
                        _ = tokio::time::sleep(pause) => {}
                    }
                    pause = (pause * 2).min(Duration::from_secs(30));
                }
            }
        }
        info!("contact-event reader stopped");
    }

    /// True when the notice is dealt with (and may be deleted).
    async fn handle(&self, n: &Notice) -> bool {
        let Some(ev) = parse_event(&n.body) else {
            metrics::counter!("ringdown_contact_events_total", "result" => "ignored").increment(1);
            debug!("not a contact event; ignored");
            return true;
        };
        if ev.event_type != "DISCONNECTED" {
            metrics::counter!("ringdown_contact_events_total", "result" => "ignored").increment(1);
            return true;
        }
        match self.outcome(&ev.contact_id).await {
            Ok(Some(report)) => {
                metrics::counter!("ringdown_contact_events_total", "result" => "outcome")
                    .increment(1);
                self.pending.mark_done(&report.contact_id);
                debug!(contact = %report.contact_id, call = %report.call_id, outcome = report.outcome.as_str(), "outcome from a contact event");
                let _ = self.outcomes.send(report);
                true
            }
            Ok(None) => {
                // Not ringdown's contact, or Connect does not show the end yet:
                // the contact record settles it.
                metrics::counter!("ringdown_contact_events_total", "result" => "no_outcome")
                    .increment(1);
                true
            }
            Err(AwsError::NotFound { .. }) => {
                metrics::counter!("ringdown_contact_events_total", "result" => "no_outcome")
                    .increment(1);
                true
            }
            Err(e) => {
                metrics::counter!("ringdown_contact_events_total", "result" => "error")
                    .increment(1);
                warn!(contact = %ev.contact_id, error = %e, "could not read a disconnected contact; the event comes back later");
                false
            }
        }
    }

    async fn outcome(&self, contact_id: &str) -> Result<Option<OutcomeReport>, AwsError> {
        for attempt in 0..self.settings.describe_attempts.max(1) {
            if attempt > 0 {
                tokio::time::sleep(self.settings.describe_pause).await;
            }
            if let Some(r) = self.dialer.describe(contact_id).await? {
                return Ok(Some(r));
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contact_events_are_read_from_their_eventbridge_envelope() {
        let body = serde_json::json!({
            "version": "0", "id": "x", "detail-type": "Amazon Connect Contact Event",
            "source": "aws.connect", "account": "1", "time": "2026-12-05T00:00:00Z",
            "region": "us-east-1", "resources": [],
            "detail": {"eventType": "DISCONNECTED", "contactId": "c-1", "channel": "VOICE",
                       "initiationMethod": "API", "someFutureField": 1}
        })
        .to_string();
        assert_eq!(
            parse_event(&body),
            Some(ContactEvent {
                event_type: "DISCONNECTED".into(),
                contact_id: "c-1".into()
            })
        );
        assert_eq!(parse_event("not json"), None);
        assert_eq!(
            parse_event(&body.replace("aws.connect", "aws.ec2")),
            None,
            "another service's event"
        );
        assert_eq!(parse_event(&body.replace("\"c-1\"", "\"\"")), None);
    }
}
