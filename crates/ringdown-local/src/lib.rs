//! ringdown's embedded default: no AWS account needed.
//!
//! - [`store::SqliteStore`]: the durable state in one SQLite file (WAL mode),
//!   the same records as the DynamoDB tables of the AWS deployment.
//! - [`http`]: the HTTP ingest endpoint (`POST /v1/alerts`, `GET /healthz`).

pub mod http;
pub mod store;

pub use http::{router, router_with, serve, HttpLimits};
pub use store::SqliteStore;
