//! `millrace dlq fail`: move one record into the DLQ by hand, through the
//! engine's `fail_record` (offline) or the protocol's FailRecord (online).

use crate::cli::GlobalArgs;
use crate::error::{CliError, CliResult};
use crate::output;
use crate::target::Target;
use clap::Args;
use millrace_server::messages as wire;
use serde_json::json;

#[derive(Debug, Args)]
pub struct FailArgs {
    /// Topic of the record.
    topic: String,
    /// Consumer group that gives up on the record.
    #[arg(long, short = 'g', value_name = "GROUP")]
    group: String,
    /// Partition of the record.
    #[arg(long, short = 'p', value_name = "P")]
    partition: u32,
    /// Offset of the record.
    #[arg(long, value_name = "N")]
    offset: u64,
    /// Error class, as a consumer reports it (e.g. ParseError).
    #[arg(long, value_name = "CLASS")]
    error: String,
    /// Error message: why the record is moved.
    #[arg(long, value_name = "TEXT")]
    message: String,
    /// Pipeline stage to record [default: manual (by $USER)].
    #[arg(long, value_name = "STAGE")]
    stage: Option<String>,
}

/// The producer a by-hand `dlq fail` writes its transaction with.
const FAIL_PRODUCER: &str = "millrace-dlq-fail";

/// Dead-letter the record at `args.offset` with `max_attempts` 1; returns
/// its DLQ offset (an earlier one if the group dead-lettered it already).
fn fail(target: &Target, args: &FailArgs, stage: &str) -> CliResult<u64> {
    let (producer_id, epoch) = target.init_producer(FAIL_PRODUCER)?;
    match (target.local(), target.remote()) {
        (Some(store), _) => {
            let read = store.read(
                &args.topic,
                args.partition,
                args.offset,
                millrace::ReadOptions {
                    max_records: 1,
                    ..millrace::ReadOptions::default()
                },
            )?;
            let Some(record) = read.records.into_iter().find(|r| r.offset == args.offset) else {
                return Err(CliError::new(format!(
                    "no record at offset {} of {}/{} (deleted, not yet written, or a transaction marker)",
                    args.offset, args.topic, args.partition
                ))
                .with_hint(format!(
                    "see the partition's records with `millrace consume {} --partition {} --offset {} -n 5`",
                    args.topic, args.partition, args.offset
                )));
            };
            let outcome = store.fail_record(
                millrace::ProducerId::new(producer_id, epoch),
                &args.group,
                &args.topic,
                args.partition,
                &record,
                stage,
                &args.error,
                &args.message,
                1,
            )?;
            match outcome {
                millrace::dlq::FailOutcome::DeadLettered { dlq_offset, .. } => Ok(dlq_offset),
                millrace::dlq::FailOutcome::Retry(_) => Err(CliError::new("the record was not dead-lettered")),
            }
        }
        (None, Some(remote)) => {
            let request = wire::Request::FailRecord(wire::FailRecord {
                producer_id,
                epoch,
                group: args.group.clone(),
                topic: args.topic.clone(),
                partition: args.partition,
                offset: args.offset,
                stage: stage.to_string(),
                error_class: args.error.clone(),
                error_message: args.message.clone(),
                max_attempts: 1,
            });
            match remote.request(request)? {
                wire::Response::RecordFailed(failed) if failed.dead_lettered => Ok(failed.dlq_offset),
                wire::Response::RecordFailed(_) => Err(CliError::new("the record was not dead-lettered")),
                other => Err(remote.unexpected(&other)),
            }
        }
        (None, None) => Err(CliError::new("no store and no server")),
    }
}

pub fn run(global: &GlobalArgs, args: FailArgs) -> CliResult<()> {
    let stage = args.stage.clone().unwrap_or_else(|| {
        let (name, source) = crate::actor::login_name();
        match source {
            None => format!("manual (by {name})"),
            Some(source) => format!("manual (by {name}, {source})"),
        }
    });
    let target = Target::open(global)?;
    let dlq_offset = fail(&target, &args, &stage)?;
    let committed = target.committed_offset(&args.group, &args.topic, args.partition)?;
    target.close()?;
    if global.json {
        output::print_json(&json!({
            "topic": args.topic, "partition": args.partition, "offset": args.offset,
            "group": args.group, "dlq_offset": dlq_offset, "committed": committed,
        }))?;
    } else {
        println!(
            "{}/{}@{} is in the DLQ of {} at offset {dlq_offset}; group {} is committed at {}",
            args.topic,
            args.partition,
            args.offset,
            args.topic,
            args.group,
            committed.map_or("nothing".to_string(), |c| c.to_string())
        );
    }
    Ok(())
}
