//! [`SnsNotifier`]: the fallback channel on AWS. When phoning people failed
//! (every step and repeat exhausted) or an operator must fix something (a
//! refused destination number), the incident is published to an SNS topic
//! whose subscriptions (SMS, e-mail, chat webhooks) reach humans another way.
//!
//! The message is JSON (incident id, title, phase, reason, the first alert
//! titles) with a short ASCII `Subject` for e-mail, and a `kind` message
//! attribute (`fallback` | `operator`) that subscriptions can filter on.
//! Phone numbers never leave unmasked: the roster's numbers are not in the
//! message at all, and any number inside the free-text reason is masked.

use async_trait::async_trait;
use aws_sdk_sns::types::MessageAttributeValue;
use aws_sdk_sns::Client;
use ringdown_core::escalation::Incident;
use ringdown_core::phone::mask;
use ringdown_engine::Notifier;
use serde_json::json;

use crate::clients::count_request;
use crate::AwsError;

const SERVICE: &str = "sns";

/// SNS subjects must be under 100 characters.
const SUBJECT_MAX: usize = 99;
/// Alert titles included in the message.
const SAMPLE_TITLES: usize = 5;

/// Publishes fallback and operator notices to one SNS topic.
#[derive(Debug, Clone)]
pub struct SnsNotifier {
    client: Client,
    topic_arn: String,
}

impl SnsNotifier {
    pub fn new(client: Client, topic_arn: impl Into<String>) -> SnsNotifier {
        SnsNotifier {
            client,
            topic_arn: topic_arn.into(),
        }
    }

    /// Publishes one notice; returns the SNS message id.
    pub async fn publish(
        &self,
        kind: NoticeKind,
        incident: &Incident,
        text: &str,
    ) -> Result<String, AwsError> {
        let body = notice_message(kind, incident, text);
        count_request(SERVICE, "Publish");
        let kind_attr = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(kind.as_str())
            .build()
            .map_err(|e| AwsError::InvalidData(format!("sns message attribute: {e}")))?;
        let out = self
            .client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(subject(kind, incident))
            .message(body.to_string())
            .message_attributes("kind", kind_attr)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(SERVICE, "Publish", e))?;
        Ok(out.message_id.unwrap_or_default())
    }
}

/// Why a notice is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeKind {
    /// Nobody could be reached: humans must pick the incident up.
    Fallback,
    /// Something needs fixing by an operator (e.g. a refused number).
    Operator,
}

impl NoticeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::Fallback => "fallback",
            NoticeKind::Operator => "operator",
        }
    }
}

#[async_trait]
impl Notifier for SnsNotifier {
    async fn fallback(&self, incident: &Incident, reason: &str) -> Result<(), String> {
        self.publish(NoticeKind::Fallback, incident, reason)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    async fn operator_alert(&self, incident: &Incident, message: &str) -> Result<(), String> {
        self.publish(NoticeKind::Operator, incident, message)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// The JSON body of a notice. Holds no roster data (so no phone numbers);
/// numbers inside `text` are masked.
pub fn notice_message(kind: NoticeKind, incident: &Incident, text: &str) -> serde_json::Value {
    let alerts: Vec<_> = incident
        .samples
        .iter()
        .take(SAMPLE_TITLES)
        .map(|s| json!({"title": mask_phone_numbers(&s.title), "status": s.status}))
        .collect();
    json!({
        "kind": kind.as_str(),
        "incident_id": incident.id,
        "title": mask_phone_numbers(&incident.title()),
        "phase": incident.phase.as_str(),
        "reason": mask_phone_numbers(text),
        "group_key": incident.group_key,
        "policy": incident.policy,
        "opened_at": incident.opened_at.to_rfc3339(),
        "alerts_received": incident.alerts_received,
        "calls_placed": incident.calls_placed,
        "alerts": alerts,
    })
}

/// `[ringdown fallback] <incident> <title>`: printable ASCII only (SNS
/// rejects anything else in a subject, and Japanese titles are common — the
/// full title is in the message), one line, under 100 characters.
pub fn subject(kind: NoticeKind, incident: &Incident) -> String {
    let raw = format!(
        "[ringdown {}] {} {}",
        kind.as_str(),
        incident.id,
        mask_phone_numbers(&incident.title())
    );
    let mut out = String::with_capacity(SUBJECT_MAX);
    let mut last_space = false;
    for c in raw.chars() {
        let c = if c.is_ascii_graphic() { c } else { ' ' };
        if c == ' ' {
            if last_space {
                continue;
            }
            last_space = true;
        } else {
            last_space = false;
        }
        if out.len() >= SUBJECT_MAX {
            break;
        }
        out.push(c);
    }
    out.trim_end().to_string()
}

/// Masks anything in free text that looks like a phone number: `+` and 8 or
/// more digits (spaces and dashes allowed between them), or 10–11 digits
/// starting with `0` (a domestic number such as `090-1234-5678`). Ids and
/// timestamps (`20250301-020000`) do not start with `0` and stay readable.
pub fn mask_phone_numbers(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let plus = chars[i] == '+';
        if plus || chars[i].is_ascii_digit() {
            // Extent of the candidate: digits with single separators.
            let mut j = if plus { i + 1 } else { i };
            let mut digits = String::new();
            while j < chars.len() {
                if chars[j].is_ascii_digit() {
                    digits.push(chars[j]);
                    j += 1;
                } else if matches!(chars[j], ' ' | '-')
                    && j + 1 < chars.len()
                    && chars[j + 1].is_ascii_digit()
                    && !digits.is_empty()
                {
                    j += 1;
                } else {
                    break;
                }
            }
            let number = (plus && digits.len() >= 8)
                || (!plus && digits.starts_with('0') && (10..=11).contains(&digits.len()));
            let preceded_by_word = i > 0 && chars[i - 1].is_alphanumeric();
            if number && !preceded_by_word {
                let e164 = if plus {
                    format!("+{digits}")
                } else {
                    digits.clone()
                };
                out.push_str(&mask(&e164));
                i = j;
                continue;
            }
            // Not a number: copy the digit run unchanged.
            let end = if j > i { j } else { i + 1 };
            out.extend(&chars[i..end]);
            i = end;
            continue;
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_in_text_are_masked() {
        let m = mask_phone_numbers("DestinationNotAllowed for +819012345678 (alice)");
        assert!(!m.contains("9012345678"), "{m}");
        assert!(m.contains("5678"), "{m}");
        let m = mask_phone_numbers("call 090-1234-5678 now");
        assert!(!m.contains("1234"), "{m}");
        let m = mask_phone_numbers("+81 90 1234 5678");
        assert!(!m.contains("1234"), "{m}");
        // Ordinary numbers stay.
        assert_eq!(
            mask_phone_numbers("step 2 of 3, 502 errors, id 20250301-020000"),
            "step 2 of 3, 502 errors, id 20250301-020000"
        );
    }
}
