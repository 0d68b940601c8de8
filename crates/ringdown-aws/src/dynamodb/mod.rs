//! [`DynamoStore`]: the engine's [`Store`] and the shard [`LeaseStore`] on
//! DynamoDB, with the same semantics as the embedded SQLite store
//! (`ringdown-local/src/store.rs`) — the same scenario tests run against both.
//!
//! Tables (names `{prefix}{table}`, key schemas in [`table_specs`]):
//!
//! | table | key | notes |
//! |---|---|---|
//! | `roster` | `kind` = `"roster"`, `version` (N) | every version kept; the latest is one Query (descending, limit 1) |
//! | `silences` | `id` | `starts_at`/`ends_at` epoch s, `ttl` = `ends_at` + 7 days (DynamoDB TTL clean-up), the whole silence as `json` |
//! | `incidents` | `id` | `group_key`, `phase`, `is_open`, `opened_at`/`next_action_at` (epoch ms), `version` (optimistic lock), the whole incident as `json` |
//! | `groups` | `group_key` | `incident_id` of the group's one open incident |
//! | `contacts` | `contact_id` | `incident_id`, `placed_at` (epoch ms), the row as `json` |
//! | `leases` | `name` | `owner`, `lease_until_ms`, `checkpoint` |
//!
//! Due incidents are found through the sparse index `due` on the incidents
//! table: only open incidents with a `next_action_at` carry its partition
//! key `due_pk = "open"`, so [`Store::due_incidents`] is one Query whose cost
//! grows with the number of due incidents, never with the table.
//!
//! One open incident per group across replicas is the `groups` table's
//! conditional put, written in the same transaction as the incident.
//!
//! Every read that a decision depends on is strongly consistent. Index
//! queries (`due`, `by_incident`) are eventually consistent by nature; the
//! engine reloads an incident (consistently) before acting on it, so a
//! stale index entry costs one read, never a wrong decision.

mod codec;
mod leases;
mod schema;
mod store;

pub use schema::*;
pub use store::DynamoStore;

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::scan::builders::ScanFluentBuilder;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, CancellationReason, Delete, Put, ReturnValue, TransactWriteItem,
};
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, SecondsFormat, Utc};
use ringdown_core::silence::Silence;
use ringdown_engine::StoredIncident;
use ringdown_engine::{ContactRow, Created, IncidentFilter, RosterDoc, Store, StoreError};
use serde::Serialize;

use crate::clients::count_request;
use crate::AwsError;
use ringdown_engine::{Lease, LeaseStore};

type Item = HashMap<String, AttributeValue>;
