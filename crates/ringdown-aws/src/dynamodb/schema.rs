//! The tables, their keys and indexes: the one source of truth bootstrap,
//! the infrastructure templates and the store agree on.

use super::*;

pub(super) const SERVICE: &str = "dynamodb";

/// Sparse index of open incidents by `next_action_at`.
pub const DUE_INDEX: &str = "due";
/// Index of contacts by incident, in `placed_at` order.
pub const BY_INCIDENT_INDEX: &str = "by_incident";
/// The one `due_pk` value: every due-able incident shares one partition.
/// Fine at ringdown's scale (a handful of open incidents, even in a storm).
pub(super) const DUE_PK_OPEN: &str = "open";
/// Name prefix of heartbeat items in the `leases` table.
pub const HEARTBEAT_PREFIX: &str = "heartbeat/";
/// Name prefix of round-robin turn counters (one per policy) in the
/// `leases` table.
pub const TURN_PREFIX: &str = "turn/";
/// Silences stay this long after they end (for reports), then DynamoDB's
/// TTL deletes them.
pub const SILENCE_RETENTION_SECS: i64 = 7 * 24 * 3600;

/// Attribute type of a key attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum AttrKind {
    /// String.
    S,
    /// Number.
    N,
}

/// One key attribute (name and type).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct KeyAttr {
    pub name: &'static str,
    pub kind: AttrKind,
}

/// What a global secondary index copies from the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Projection {
    KeysOnly,
    All,
}

/// A global secondary index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IndexSpec {
    pub name: &'static str,
    pub hash_key: KeyAttr,
    pub range_key: Option<KeyAttr>,
    pub projection: Projection,
}

/// A table as ringdown uses it: keys, indexes, TTL attribute. Billing is
/// always on-demand (PAY_PER_REQUEST): the load is bursty (storms) and tiny
/// otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableSpec {
    /// The full table name (prefix included).
    pub name: String,
    pub hash_key: KeyAttr,
    pub range_key: Option<KeyAttr>,
    pub indexes: Vec<IndexSpec>,
    /// Attribute DynamoDB TTL deletes expired items by (epoch seconds).
    pub ttl_attribute: Option<&'static str>,
}

pub(super) const fn key(name: &'static str, kind: AttrKind) -> KeyAttr {
    KeyAttr { name, kind }
}

/// The DynamoDB tables of a deployment with table prefix `prefix`.
///
/// This is the single source of truth for table names, key schemas, indexes
/// and TTL: [`crate::bootstrap::bootstrap`] creates tables from it, the
/// infrastructure templates (`infra/`) must be generated from or checked
/// against it, and [`DynamoStore`] reads and writes exactly these keys.
pub fn table_specs(prefix: &str) -> Vec<TableSpec> {
    let t = TableNames::from_prefix(prefix);
    vec![
        TableSpec {
            name: t.roster,
            hash_key: key("kind", AttrKind::S),
            range_key: Some(key("version", AttrKind::N)),
            indexes: vec![],
            ttl_attribute: None,
        },
        TableSpec {
            name: t.silences,
            hash_key: key("id", AttrKind::S),
            range_key: None,
            indexes: vec![],
            ttl_attribute: Some("ttl"),
        },
        TableSpec {
            name: t.incidents,
            hash_key: key("id", AttrKind::S),
            range_key: None,
            indexes: vec![IndexSpec {
                name: DUE_INDEX,
                hash_key: key("due_pk", AttrKind::S),
                range_key: Some(key("next_action_at", AttrKind::N)),
                projection: Projection::KeysOnly,
            }],
            ttl_attribute: None,
        },
        TableSpec {
            name: t.groups,
            hash_key: key("group_key", AttrKind::S),
            range_key: None,
            indexes: vec![],
            ttl_attribute: None,
        },
        TableSpec {
            name: t.contacts,
            hash_key: key("contact_id", AttrKind::S),
            range_key: None,
            indexes: vec![IndexSpec {
                name: BY_INCIDENT_INDEX,
                hash_key: key("incident_id", AttrKind::S),
                range_key: Some(key("placed_at", AttrKind::N)),
                projection: Projection::All,
            }],
            ttl_attribute: None,
        },
        TableSpec {
            name: t.leases,
            hash_key: key("name", AttrKind::S),
            range_key: None,
            indexes: vec![],
            ttl_attribute: None,
        },
    ]
}

/// Full table names for a prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableNames {
    pub roster: String,
    pub silences: String,
    pub incidents: String,
    pub groups: String,
    pub contacts: String,
    pub leases: String,
}

impl TableNames {
    pub fn from_prefix(prefix: &str) -> TableNames {
        let n = |t: &str| format!("{prefix}{t}");
        TableNames {
            roster: n("roster"),
            silences: n("silences"),
            incidents: n("incidents"),
            groups: n("groups"),
            contacts: n("contacts"),
            leases: n("leases"),
        }
    }
}
