//! `ringdown`: thin entry point. Everything it runs lives in modules with a
//! `run(..)` that tests call directly.

mod actions;
#[cfg(feature = "aws")]
mod aws;
#[cfg(not(feature = "aws"))]
#[path = "aws_off.rs"]
mod aws;
mod cli;
mod commands;
mod config;
mod console;
mod contact_card;
mod daemon;
mod demo;
mod drill;
mod embedded;
mod import;
mod report;
mod schedule;
mod shadow;
mod timeline;
mod virtual_run;

use std::process::ExitCode;

// A storm is tens of small allocations per alert (label maps, strings):
// with glibc's malloc a third of the parse went to allocating and freeing,
// with mimalloc a tenth (docs/performance.md, "Core pipeline").
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = <cli::Cli as clap::Parser>::parse();
    match commands::dispatch(cli) {
        Ok(code) => code,
        Err(err) => {
            // Bad input from the user is exit 2 with one clear line; anything
            // else is exit 1 with the cause chain.
            if let Some(u) = err.downcast_ref::<commands::UserError>() {
                eprintln!("ringdown: {u}");
                ExitCode::from(2)
            } else {
                eprintln!("ringdown: {err:#}");
                ExitCode::from(1)
            }
        }
    }
}
