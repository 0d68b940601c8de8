//! `ringdown dlq list|redrive`: what is on the dead-letter queue, and
//! sending it back. Operator tooling, like `bootstrap.rs`: run with an
//! operator's credentials, not the daemon's task role.
//!
//! A message lands on the DLQ either because it can never be parsed
//! (ringdown copies it there with `ringdown_reason` and `ringdown_error`
//! attributes) or because its queue's redrive policy moved it after too many
//! receives (no ringdown attributes: it was received and never finished, e.g.
//! during a long store outage). The second kind is worth sending back once
//! the cause is fixed.

use std::collections::HashMap;

use aws_sdk_sqs::types::{MessageAttributeValue, MessageSystemAttributeName};
use aws_sdk_sqs::Client;
use serde::Serialize;

use crate::clients::count_request;
use crate::AwsError;

const SERVICE: &str = "sqs";

/// One dead-lettered message, as `dlq list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeadLetter {
    pub message_id: String,
    /// ringdown's reason (`invalid_json`, …), or none when the queue's
    /// redrive policy moved it.
    pub reason: Option<String>,
    pub error: Option<String>,
    /// When it was first sent, Unix milliseconds.
    pub sent_at_ms: Option<i64>,
    /// The first 200 characters of its body.
    pub body_preview: String,
}

fn attr(m: &aws_sdk_sqs::types::Message, k: &str) -> Option<String> {
    m.message_attributes()
        .and_then(|a| a.get(k))
        .and_then(|v| v.string_value())
        .map(str::to_string)
}

/// Up to `max` messages of the DLQ. They are only looked at: each becomes
/// visible again to other readers a few seconds later.
pub async fn list(client: &Client, dlq_url: &str, max: usize) -> Result<Vec<DeadLetter>, AwsError> {
    let mut out: Vec<DeadLetter> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    while out.len() < max {
        count_request(SERVICE, "ReceiveMessage");
        let r = client
            .receive_message()
            .queue_url(dlq_url)
            .max_number_of_messages(10)
            .visibility_timeout(5)
            .wait_time_seconds(1)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(SERVICE, "ReceiveMessage", e))?;
        let msgs = r.messages.unwrap_or_default();
        if msgs.is_empty() {
            break;
        }
        let mut new = 0;
        for m in &msgs {
            let id = m.message_id().unwrap_or_default().to_string();
            if !seen.insert(id.clone()) {
                continue;
            }
            new += 1;
            out.push(DeadLetter {
                message_id: id,
                reason: attr(m, "ringdown_reason"),
                error: attr(m, "ringdown_error"),
                sent_at_ms: m
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::SentTimestamp))
                    .and_then(|v| v.parse().ok()),
                body_preview: m.body().unwrap_or_default().chars().take(200).collect(),
            });
        }
        if new == 0 {
            break;
        }
    }
    out.truncate(max);
    Ok(out)
}

/// Moves up to `max` messages from the DLQ back to the alert queue, each
/// sent before it is deleted (a crash in between leaves a copy on both, and
/// ringdown ingests an alert twice harmlessly). With `include_unparseable`,
/// messages ringdown could not parse go back too (to fail again unless
/// ringdown was updated). Returns how many moved.
pub async fn redrive(
    client: &Client,
    dlq_url: &str,
    queue_url: &str,
    max: usize,
    include_unparseable: bool,
) -> Result<usize, AwsError> {
    let mut moved = 0;
    let mut skipped = std::collections::HashSet::new();
    while moved < max {
        count_request(SERVICE, "ReceiveMessage");
        let r = client
            .receive_message()
            .queue_url(dlq_url)
            .max_number_of_messages(10)
            .visibility_timeout(30)
            .wait_time_seconds(1)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(SERVICE, "ReceiveMessage", e))?;
        let msgs = r.messages.unwrap_or_default();
        if msgs.is_empty()
            || msgs
                .iter()
                .all(|m| skipped.contains(m.message_id().unwrap_or_default()))
        {
            break;
        }
        for m in msgs {
            if moved >= max {
                break;
            }
            let id = m.message_id().unwrap_or_default().to_string();
            if attr(&m, "ringdown_reason").is_some() && !include_unparseable {
                skipped.insert(id);
                continue;
            }
            // The sender's own attributes go back; ringdown's reasons do not.
            let attrs: HashMap<String, MessageAttributeValue> = m
                .message_attributes()
                .map(|a| {
                    a.iter()
                        .filter(|(k, _)| !k.starts_with("ringdown_"))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect()
                })
                .unwrap_or_default();
            count_request(SERVICE, "SendMessage");
            client
                .send_message()
                .queue_url(queue_url)
                .message_body(m.body().unwrap_or_default())
                .set_message_attributes((!attrs.is_empty()).then_some(attrs))
                .send()
                .await
                .map_err(|e| AwsError::from_sdk(SERVICE, "SendMessage", e))?;
            if let Some(h) = m.receipt_handle() {
                count_request(SERVICE, "DeleteMessage");
                client
                    .delete_message()
                    .queue_url(dlq_url)
                    .receipt_handle(h)
                    .send()
                    .await
                    .map_err(|e| AwsError::from_sdk(SERVICE, "DeleteMessage", e))?;
            }
            moved += 1;
        }
    }
    Ok(moved)
}
