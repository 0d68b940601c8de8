//! `ringdown aws bootstrap` and `ringdown dlq list|redrive`: operator tooling on AWS.

#[cfg(feature = "aws")]
use super::runtime;
use super::user;
use crate::config::Config;
use anyhow::Result;
use std::path::Path;
use std::process::ExitCode;

/// `ringdown aws bootstrap`: creates every AWS resource ringdown uses (queues,
/// topics, tables, stream, the contact-event rule) on the configured
/// endpoint, idempotently, and prints what exists.
pub fn aws_bootstrap(config: Option<&Path>) -> Result<ExitCode> {
    let cfg = Config::load(config)?;
    #[cfg(not(feature = "aws"))]
    {
        let _ = cfg;
        Err(crate::aws::missing())
    }
    #[cfg(feature = "aws")]
    bootstrap(cfg)
}

#[cfg(feature = "aws")]
fn bootstrap(cfg: Config) -> Result<ExitCode> {
    let aws = cfg.aws.clone().unwrap_or_default();
    runtime()?.block_on(async {
        let sdk = ringdown_aws::clients::sdk_config(&aws).await;
        let names = ringdown_aws::bootstrap::ResourceNames::from_prefix(&aws.table_prefix);
        // An instance given as its ARN narrows the contact-event rule to it.
        let opts = ringdown_aws::bootstrap::BootstrapOptions {
            connect_instance_arn: aws
                .connect_instance_id
                .clone()
                .filter(|id| id.starts_with("arn:")),
            ..Default::default()
        };
        let report = ringdown_aws::bootstrap::bootstrap_with(&sdk, &names, &opts).await?;
        println!("{}", serde_json::to_string_pretty(&report)?);
        Ok(ExitCode::SUCCESS)
    })
}

/// `ringdown dlq list|redrive` (AWS mode).
pub fn dlq(config: Option<&Path>, command: crate::cli::DlqCommand) -> Result<ExitCode> {
    let cfg = Config::load(config)?;
    let Some(aws) = cfg.aws.clone() else {
        return Err(user(
            "the dead-letter queue is part of the AWS mode (an [aws] section); the embedded \
             default answers an unparseable alert with HTTP 400 instead",
        ));
    };
    #[cfg(not(feature = "aws"))]
    {
        let _ = (aws, command);
        Err(crate::aws::missing())
    }
    #[cfg(feature = "aws")]
    dlq_on(aws, command)
}

#[cfg(feature = "aws")]
fn dlq_on(
    aws: ringdown_aws::settings::AwsSettings,
    command: crate::cli::DlqCommand,
) -> Result<ExitCode> {
    runtime()?.block_on(async {
        let sdk = ringdown_aws::clients::sdk_config(&aws).await;
        let sqs = ringdown_aws::clients::client(&sdk);
        let names = ringdown_aws::bootstrap::ResourceNames::from_prefix(&aws.table_prefix);
        let name = &names.alert_dlq;
        let dlq = ringdown_aws::sqs::queue_url_or(&sqs, aws.dlq_url.as_deref(), name)
            .await
            .map_err(|e| user(format!("finding queue {name}: {e} (set it in [aws])")))?;
        match command {
            crate::cli::DlqCommand::List { max, output } => {
                let list = ringdown_aws::dlq::list(&sqs, &dlq, max).await?;
                match output {
                    crate::cli::Output::Json => {
                        println!("{}", serde_json::to_string_pretty(&list)?)
                    }
                    crate::cli::Output::Text => {
                        if list.is_empty() {
                            println!("the dead-letter queue is empty");
                        }
                        for d in &list {
                            let when = d
                                .sent_at_ms
                                .and_then(chrono::DateTime::from_timestamp_millis)
                                .map(|t| t.to_rfc3339())
                                .unwrap_or_default();
                            println!(
                                "{}  {}  {}  {}",
                                d.message_id,
                                when,
                                d.reason
                                    .as_deref()
                                    .unwrap_or("moved by the queue (too many receives)"),
                                d.error.as_deref().unwrap_or("")
                            );
                        }
                    }
                }
            }
            crate::cli::DlqCommand::Redrive {
                max,
                include_unparseable,
            } => {
                let name = &names.alert_queue;
                let queue = ringdown_aws::sqs::queue_url_or(&sqs, aws.queue_url.as_deref(), name)
                    .await
                    .map_err(|e| user(format!("finding queue {name}: {e} (set it in [aws])")))?;
                let n = ringdown_aws::dlq::redrive(&sqs, &dlq, &queue, max, include_unparseable)
                    .await?;
                println!("{n} message(s) sent back to the alert queue");
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
