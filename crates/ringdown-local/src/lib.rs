//! ringdown's embedded default: no AWS account needed.
//!
//! - [`store::SqliteStore`]: the durable state in one SQLite file (WAL mode),
//!   the same records as the DynamoDB tables of the AWS deployment.
//! - [`http`]: the HTTP ingest endpoint (`POST /v1/alerts`, `GET /healthz`);
//!   concurrent requests are ingested as one batch ([`batch::Batched`]).
//! - [`simdial::SimDialer`]: phones simulated by running the real contact flows
//!   through connect-flow's interpreter against scripted callers.
//! - [`notify::FileNotifier`]: the fallback channel as a log and a file.

pub mod batch;
pub mod http;
pub mod notify;
pub mod simdial;
pub mod store;

pub use http::{has_token, router, router_with, same_secret, serve, HttpLimits};
pub use notify::FileNotifier;
pub use simdial::{SimCall, SimDialer};
pub use store::SqliteStore;
