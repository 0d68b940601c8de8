//! The AWS mode in a build without it (the `aws` feature off): every way
//! into it says how to get a build that has it, and exits 2.

use crate::commands::user;
use crate::config::Config;
use crate::daemon::Mode;
use ringdown_aws::settings::AwsSettings;
use std::future::Future;

/// Why an AWS command or an `[aws]` section cannot work in this build.
pub fn missing() -> anyhow::Error {
    user(NOT_BUILT)
}

/// What `config check` and every command say of an `[aws]` section.
pub const NOT_BUILT: &str = "this ringdown was built without the AWS mode: build it with \
     `cargo build --release --features aws` (the container image has it), or remove the \
     [aws] section to run on the embedded default";

pub async fn run(
    _cfg: Config,
    _aws: AwsSettings,
    _mode: Mode,
    _shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    Err(missing())
}

pub async fn stop_contact(_cfg: &Config, _aws: &AwsSettings, _contact: &str) -> anyhow::Result<()> {
    Err(missing())
}
