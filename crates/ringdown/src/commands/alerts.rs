//! `ringdown alerts parse`: what ringdown makes of a message, without sending it anywhere.

use super::user;
use anyhow::{Context, Result};
use std::io::Read;
use std::process::ExitCode;

pub(super) fn read_input(file: &str) -> Result<Vec<u8>> {
    // Read one byte past the parser's limit so "too large" is reported by the
    // parser with its own message, without reading an unbounded stream.
    let limit = ringdown_core::parse::Limits::default().max_message_bytes as u64 + 1;
    let mut buf = Vec::new();
    if file == "-" {
        std::io::stdin()
            .take(limit)
            .read_to_end(&mut buf)
            .context("reading standard input")?;
    } else {
        std::fs::File::open(file)
            .map_err(|e| user(format!("cannot read {file}: {e}")))?
            .take(limit)
            .read_to_end(&mut buf)
            .map_err(|e| user(format!("cannot read {file}: {e}")))?;
    }
    Ok(buf)
}

pub(super) fn alerts_parse(file: &str) -> Result<ExitCode> {
    let bytes = read_input(file)?;
    let alerts = ringdown_core::parse::parse(&bytes)
        .map_err(|e| user(format!("{} ({})", e, e.reason_code())))?;
    println!("{}", serde_json::to_string_pretty(&alerts)?);
    Ok(ExitCode::SUCCESS)
}
