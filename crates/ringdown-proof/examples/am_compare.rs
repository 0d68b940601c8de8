//! Ingest side by side with Prometheus Alertmanager, once:
//!
//! ```text
//! apt-get install -y prometheus-alertmanager
//! cargo build --release -p ringdown
//! cargo run --release -p ringdown-proof --example am_compare [alerts systems per_post concurrency]
//! ```
//!
//! Prints the Markdown table, then the JSON of the whole comparison.

use ringdown_proof::alertmanager::{compare, CompareOptions};
use std::path::PathBuf;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    let arg = |i: usize, default: usize| args.get(i).copied().unwrap_or(default);
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let opts = CompareOptions {
        ringdown_bin: repo.join("target/release/ringdown"),
        alertmanager_bin: PathBuf::from("/usr/bin/prometheus-alertmanager"),
        alerts: arg(0, 10_000),
        systems: arg(1, 30),
        per_post: arg(2, 100),
        concurrency: arg(3, 4),
        work_dir: std::env::temp_dir().join(format!("ringdown-am-compare-{}", std::process::id())),
    };
    eprintln!("configs and logs in {}", opts.work_dir.display());
    let result = compare(&opts).await?;
    println!("{}", result.markdown());
    println!("{}", serde_json::to_string_pretty(&result)?);
    Ok(())
}
