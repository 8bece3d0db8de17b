//! `millrace offsets show|reset|audit`: consumer group positions and lag, and
//! the operator's offset reset (dry run by default) with its audit log.

use crate::cli::GlobalArgs;
use crate::error::{CliError, CliResult};
use crate::output::{self, Table};
use crate::parse;
use crate::target::Target;
use clap::{Args, Subcommand};
use millrace::{
    PartitionLag, PlannedReset, ResetAuditEntry, ResetPlan, ResetRequest, ResetScope, ResetTarget, ResetWarning,
};
use millrace_server::messages as wire;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  millrace offsets show
  millrace offsets show --group billing --topic orders
  millrace offsets reset --group billing --topic orders --to-earliest
  millrace offsets reset --group billing --topic orders:0,2 --shift-by -100 --execute
  millrace offsets reset --group billing --all-topics --by-duration 1h30m --execute
  millrace offsets audit --group billing")]
pub struct OffsetsArgs {
    #[command(subcommand)]
    command: OffsetsCommand,
}

#[derive(Debug, Subcommand)]
enum OffsetsCommand {
    /// Committed offset, log end and lag per partition (or every group's total lag).
    #[command(after_help = "Examples:
  millrace offsets show                          # every group with its total lag
  millrace offsets show --group billing          # partitions the group committed
  millrace offsets show --group billing --topic orders --json")]
    Show(ShowArgs),
    /// Move a group's committed offsets (dry run unless --execute).
    #[command(after_help = "Targets (exactly one):
  --to-earliest          the log start
  --to-latest            the log end (skip everything unread)
  --to-offset N          offset N
  --shift-by N           committed offset + N (N may be negative)
  --to-datetime TIME     first record at or after TIME (RFC 3339)
  --by-duration DUR      first record at or after now - DUR (1h30m, PT15M)
A committed offset is a position: from the partition's log start to its log
end, both included (the end: nothing left to read). A target outside those is
clamped, with a warning in the plan. Without --execute only the plan (current -> new per partition) is
printed. Offline, the data directory lock guarantees no consumer of the group
is running; every applied reset is recorded (see `millrace offsets audit`).
Works online too (--server), as do `offsets audit` and listing every group.

Examples:
  millrace offsets reset --group billing --topic orders --to-datetime 2026-11-25T08:00:00Z
  millrace offsets reset --group billing --topic orders:1 --to-offset 42 --execute")]
    Reset(ResetArgs),
    /// Delete a group's committed offsets (or one topic's), audited (alias: `group delete`).
    #[command(after_help = DELETE_AFTER_HELP)]
    Delete(DeleteArgs),
    /// Applied resets, oldest first (who, when, from, to).
    #[command(after_help = "Examples:
  millrace offsets audit
  millrace offsets audit --group billing --json")]
    Audit {
        /// Only this group.
        #[arg(long)]
        group: Option<String>,
    },
}

const DELETE_AFTER_HELP: &str = "With --topic only the group's offsets on that topic go; its offsets on
other topics stay (the group stays listed). Without it every offset goes.
Refused while the group committed or polled in the last 30 s (its
consumers look active and would recreate it) unless --force. Each removed
offset is recorded in the reset audit (target `delete`, see `millrace offsets
audit`), with the actor: offline the user and pid, through --server the
token's name (the server's `DeleteGroup` needs an admin token). The store's
own `__*` groups are never deleted. `millrace group delete` and `millrace
offsets delete` are the same command.

Examples:
  millrace offsets delete --group old-billing
  millrace offsets delete --group billing --topic retired-orders
  millrace --server 127.0.0.1:7878 group delete --group old-billing --force";

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Consumer group to delete.
    #[arg(long, short = 'g')]
    group: String,
    /// Only the group's committed offsets on this topic (every partition);
    /// its offsets on other topics stay.
    #[arg(long, short = 't')]
    topic: Option<String>,
    /// Delete even if the group committed or polled in the last 30 s.
    #[arg(long)]
    force: bool,
}

/// `millrace group ...`: consumer groups by the name operators of other
/// tools look for (`kafka-consumer-groups --delete`, `rpk group delete`).
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  millrace group delete --group old-billing
  millrace offsets show                          # list the groups")]
pub struct GroupArgs {
    #[command(subcommand)]
    command: GroupCommand,
}

#[derive(Debug, Subcommand)]
enum GroupCommand {
    /// Delete a consumer group: every committed offset it has, audited (same as `offsets delete`).
    #[command(after_help = DELETE_AFTER_HELP)]
    Delete(DeleteArgs),
}

pub fn run_group(global: &GlobalArgs, args: GroupArgs) -> CliResult<()> {
    match args.command {
        GroupCommand::Delete(delete) => run_delete(global, &delete),
    }
}

#[derive(Debug, Args)]
pub(super) struct ShowArgs {
    /// Consumer group (default: list every group).
    #[arg(long, short = 'g')]
    pub(super) group: Option<String>,
    /// Every partition of this topic, committed or not (needs --group).
    #[arg(long, short = 't', requires = "group")]
    pub(super) topic: Option<String>,
}

#[derive(Debug, Args)]
struct ResetArgs {
    /// Consumer group to move (with --from-file: the plan's, checked if given).
    #[arg(long, short = 'g', required_unless_present = "from_file")]
    group: Option<String>,
    /// `TOPIC` or `TOPIC:P,P,...`; repeat for more topics.
    #[arg(
        long = "topic",
        short = 't',
        value_name = "TOPIC[:PARTITIONS]",
        required_unless_present_any = ["all_topics", "from_file"]
    )]
    topics: Vec<String>,
    /// Every partition the group has committed offsets for.
    #[arg(long, conflicts_with = "topics")]
    all_topics: bool,
    /// Target: each partition's log start.
    #[arg(long, group = "target")]
    to_earliest: bool,
    /// Target: each partition's log end (skip everything unread).
    #[arg(long, group = "target")]
    to_latest: bool,
    /// Target: offset N (clamped into each partition's range).
    #[arg(long, group = "target", value_name = "N")]
    to_offset: Option<u64>,
    /// Target: the committed offset + N (N may be negative: --shift-by -10).
    #[arg(long, group = "target", value_name = "N", allow_negative_numbers = true)]
    shift_by: Option<i64>,
    /// Target: the first record at or after TIME (RFC 3339, e.g. 2026-11-25T08:00:00Z, or ms).
    #[arg(long, group = "target", value_parser = parse::time_ms, value_name = "TIME")]
    to_datetime: Option<i64>,
    /// Target: the first record at or after now - DURATION (e.g. 1h30m, 7d, PT15M).
    #[arg(long, group = "target", value_parser = parse::duration, value_name = "DURATION")]
    by_duration: Option<Duration>,
    /// Where the group is now (nothing committed: the log start); with
    /// --export, a plan that pins today's positions.
    #[arg(long, group = "target")]
    to_current: bool,
    /// Apply the plan (default: dry run).
    #[arg(long)]
    execute: bool,
    /// Apply even if the group committed or polled in the last 30 s (its
    /// consumers look active and would overwrite the reset). Offline, the
    /// directory lock already rules out other processes.
    #[arg(long)]
    force: bool,
    /// Also write the plan to FILE (JSON; CSV when FILE ends in .csv), for
    /// review and `--from-file FILE --execute`.
    #[arg(long, value_name = "FILE", conflicts_with = "from_file")]
    export: Option<std::path::PathBuf>,
    /// Apply exactly the plan in FILE (from --export, or a kafka-consumer-groups
    /// CSV), refused if the group's offsets or the partitions changed since.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["target", "topics", "all_topics"])]
    from_file: Option<std::path::PathBuf>,
}

fn parse_scope(text: &str) -> CliResult<ResetScope> {
    match text.split_once(':') {
        None => Ok(ResetScope::Topic(text.to_string())),
        Some((topic, list)) => {
            let partitions = list
                .split(',')
                .map(|p| {
                    p.trim().parse::<u32>().map_err(|_| {
                        CliError::usage(format!(
                            "--topic {text}: {p:?} is not a partition number; write TOPIC:0,2"
                        ))
                    })
                })
                .collect::<CliResult<Vec<u32>>>()?;
            Ok(ResetScope::Partitions {
                topic: topic.to_string(),
                partitions,
            })
        }
    }
}

fn target(args: &ResetArgs) -> CliResult<ResetTarget> {
    Ok(if args.to_earliest {
        ResetTarget::Earliest
    } else if args.to_latest {
        ResetTarget::Latest
    } else if let Some(o) = args.to_offset {
        ResetTarget::Offset(o)
    } else if let Some(n) = args.shift_by {
        ResetTarget::ShiftBy(n)
    } else if let Some(t) = args.to_datetime {
        ResetTarget::DateTime { timestamp_ms: t }
    } else if let Some(d) = args.by_duration {
        ResetTarget::ByDuration(d)
    } else if args.to_current {
        ResetTarget::ShiftBy(0)
    } else {
        return Err(CliError::usage(
            "say where to: --to-earliest, --to-latest, --to-offset, --shift-by, --to-datetime, --by-duration, \
             --to-current (or --from-file FILE)",
        ));
    })
}

fn warning_text(w: &ResetWarning) -> String {
    match w {
        ResetWarning::BelowLogStart { requested } => format!("{requested} below log start: clamped"),
        ResetWarning::AboveHighWatermark { requested } => format!("{requested} past log end: clamped"),
        ResetWarning::NoCommittedOffset => "nothing committed: shifted from log start".into(),
        ResetWarning::NoRecordAtOrAfter { timestamp_ms } => {
            format!(
                "no record at or after {}: moved to log end",
                output::time(*timestamp_ms)
            )
        }
    }
}

fn actor() -> String {
    crate::actor::offline_actor("millrace offsets reset")
}

fn plan_json(plan: &ResetPlan) -> serde_json::Value {
    let entries: Vec<serde_json::Value> = plan
        .entries
        .iter()
        .map(|e| {
            json!({
                "topic": e.topic, "partition": e.partition, "current": e.current, "new": e.new,
                "log_start_offset": e.log_start_offset, "high_watermark": e.high_watermark,
                "warnings": e.warnings.iter().map(warning_text).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({"group": plan.group, "target": plan.target.to_string(), "applied": plan.applied, "entries": entries})
}

/// A committed offset above the log end: records the group read are gone
/// from the log (or were never there). Its lag counts from the committed
/// offset (0), and the group reads on from there, never from the end.
pub(super) fn past_end(lag: &PartitionLag) -> bool {
    lag.committed.is_some_and(|c| c > lag.high_watermark)
}

/// Say, on stderr, each partition where the group committed past the end.
pub(super) fn warn_past_end(group: &str, lags: &[PartitionLag]) {
    for l in lags.iter().filter(|l| past_end(l)) {
        eprintln!(
            "warning: group {group}: committed offset {} of {}/{} is past the log end {}: records it read are no longer in the log; it reads on from offset {} (see `millrace check`)",
            l.committed.unwrap_or(0),
            l.topic,
            l.partition,
            l.high_watermark,
            l.committed.unwrap_or(0)
        );
    }
}

/// Commit time (ms) per (topic, partition).
pub(super) type CommitTimes = BTreeMap<(String, u32), i64>;

pub(super) fn lag_table(lags: &[PartitionLag], commit_times: &CommitTimes) -> Table {
    let mut table = Table::new(&["TOPIC", "PARTITION", "COMMITTED", "START", "END", "LAG", "COMMITTED AT"]);
    for l in lags {
        let at = commit_times
            .get(&(l.topic.clone(), l.partition))
            .map_or("-".to_string(), |ms| output::time(*ms));
        table.row(vec![
            l.topic.clone(),
            l.partition.to_string(),
            l.committed.map_or("-".to_string(), |c| {
                if past_end(l) {
                    format!("{c} (past end)")
                } else {
                    c.to_string()
                }
            }),
            l.log_start_offset.to_string(),
            l.high_watermark.to_string(),
            l.lag.to_string(),
            at,
        ]);
    }
    table
}

/// Every consumer group with committed offsets (internal `__` groups left
/// out), offline or through the server.
pub(super) fn list_groups(target: &Target) -> CliResult<Vec<String>> {
    Ok(target
        .list_groups()?
        .into_iter()
        .filter(|g| !millrace::names::is_internal(g))
        .collect())
}

/// The reset audit log, offline or through the server (page by page).
fn reset_audit(target: &Target, group: Option<&str>) -> CliResult<Vec<ResetAuditEntry>> {
    target.reset_audit(group)
}

/// Lag and commit times of a group, offline or through the server (page by page).
pub(super) fn group_lag(
    target: &Target,
    group: &str,
    topic: Option<&str>,
) -> CliResult<(Vec<PartitionLag>, CommitTimes)> {
    let lags = target.consumer_lag(group, topic)?;
    let times = target
        .group_offsets(group, topic)?
        .into_iter()
        .map(|(topic, partition, committed)| ((topic, partition), committed.commit_time_ms))
        .collect();
    Ok((lags, times))
}

fn wire_target(target: ResetTarget) -> wire::ResetTarget {
    match target {
        ResetTarget::Earliest => wire::ResetTarget::Earliest,
        ResetTarget::Latest => wire::ResetTarget::Latest,
        ResetTarget::Offset(o) => wire::ResetTarget::ToOffset(o),
        ResetTarget::ShiftBy(n) => wire::ResetTarget::ShiftBy(n),
        ResetTarget::DateTime { timestamp_ms } => wire::ResetTarget::ToTime(timestamp_ms),
        ResetTarget::ByDuration(d) => wire::ResetTarget::ByDuration(d.as_millis() as u64),
    }
}

fn engine_warning(w: &wire::ResetWarning) -> ResetWarning {
    match *w {
        wire::ResetWarning::BelowLogStart { requested } => ResetWarning::BelowLogStart {
            requested: i128::from(requested),
        },
        wire::ResetWarning::AboveHighWatermark { requested } => ResetWarning::AboveHighWatermark {
            requested: i128::from(requested),
        },
        wire::ResetWarning::NoCommittedOffset => ResetWarning::NoCommittedOffset,
        wire::ResetWarning::NoRecordAtOrAfter { timestamp_ms } => ResetWarning::NoRecordAtOrAfter { timestamp_ms },
    }
}

/// Plan (and unless `dry_run` apply) a reset through the server, one request per scope.
fn remote_reset(
    remote: &crate::target::Remote,
    group: &str,
    scopes: &[ResetScope],
    target: ResetTarget,
    dry_run: bool,
    force: bool,
) -> CliResult<ResetPlan> {
    let mut entries = Vec::new();
    for scope in scopes {
        let (topic, partitions) = match scope {
            ResetScope::Topic(t) => (Some(t.clone()), Vec::new()),
            ResetScope::Partitions { topic, partitions } => (Some(topic.clone()), partitions.clone()),
            ResetScope::AllCommitted => (None, Vec::new()),
        };
        let request = wire::Request::ResetOffsets(wire::ResetOffsets {
            group: group.to_string(),
            topic,
            partitions,
            target: wire_target(target),
            dry_run,
            force,
        });
        match remote.request(request)? {
            wire::Response::ResetPlan(plan) => entries.extend(plan.entries.into_iter().map(|e| PlannedReset {
                topic: e.topic,
                partition: e.partition,
                current: e.current,
                new: e.new_offset,
                log_start_offset: e.log_start_offset,
                high_watermark: e.high_watermark,
                warnings: e.warnings.iter().map(engine_warning).collect(),
            })),
            other => return Err(remote.unexpected(&other)),
        }
    }
    Ok(ResetPlan {
        group: group.to_string(),
        target,
        applied: !dry_run,
        planned_at_ms: chrono::Utc::now().timestamp_millis(),
        entries,
    })
}

pub fn run(global: &GlobalArgs, args: OffsetsArgs) -> CliResult<()> {
    match args.command {
        OffsetsCommand::Show(show) => super::offsets_show::run(global, show),
        OffsetsCommand::Reset(reset) => run_reset(global, reset),
        OffsetsCommand::Audit { group } => run_audit(global, group.as_deref()),
        OffsetsCommand::Delete(delete) => run_delete(global, &delete),
    }
}

fn run_delete(global: &GlobalArgs, args: &DeleteArgs) -> CliResult<()> {
    let (group, topic) = (args.group.as_str(), args.topic.as_deref());
    let target = Target::open(global)?;
    let removed = target.delete_group(group, topic, &actor(), args.force);
    target.close()?;
    let removed = removed?;
    if removed.is_empty() {
        let what = topic.map_or(String::new(), |t| format!(" on topic {t:?}"));
        return Err(CliError::new(format!("group {group:?} has no committed offsets{what}"))
            .with_hint(format!("see what it has with `millrace offsets show --group {group}`")));
    }
    if global.json {
        let entries: Vec<serde_json::Value> = removed
            .iter()
            .map(
                |(topic, partition, committed)| json!({"topic": topic, "partition": partition, "committed": committed}),
            )
            .collect();
        output::print_json(&json!({"group": group, "topic": topic, "deleted": entries}))?;
    } else {
        let plural = if removed.len() == 1 { "" } else { "s" };
        match topic {
            Some(topic) => println!(
                "deleted the offsets of group {group:?} on topic {topic:?}: {} committed offset{plural} removed (recorded in `millrace offsets audit`)",
                removed.len()
            ),
            None => println!(
                "deleted group {group:?}: {} committed offset{plural} removed (recorded in `millrace offsets audit`)",
                removed.len()
            ),
        }
    }
    Ok(())
}

fn run_reset(global: &GlobalArgs, args: ResetArgs) -> CliResult<()> {
    if let Some(file) = &args.from_file {
        let plan = crate::commands::offsets_plan::read(file)?;
        let backend = Target::open(global)?;
        let applied = crate::commands::offsets_plan::apply(
            &backend,
            args.group.as_deref(),
            &plan,
            (args.execute, args.force),
            reset,
        );
        backend.close()?;
        return print_plan(global, &applied?, Some(format!("the plan in {}", file.display())));
    }
    let target = target(&args)?;
    let group = args.group.clone().unwrap_or_default();
    let scopes = if args.all_topics {
        vec![ResetScope::AllCommitted]
    } else {
        args.topics
            .iter()
            .map(|t| parse_scope(t))
            .collect::<CliResult<Vec<_>>>()?
    };
    let backend = Target::open(global)?;
    let plan = reset(&backend, &group, &scopes, target, !args.execute, args.force);
    backend.close()?;
    let plan = plan?;
    if let Some(file) = &args.export {
        crate::commands::offsets_plan::export(&plan, file)?;
        if !global.json {
            println!("plan written to {}", file.display());
        }
    }
    print_plan(global, &plan, None)
}

/// Plan (and unless `dry_run` apply) a reset, offline or through the server.
pub(super) fn reset(
    backend: &Target,
    group: &str,
    scopes: &[ResetScope],
    target: ResetTarget,
    dry_run: bool,
    force: bool,
) -> CliResult<ResetPlan> {
    match (backend.local(), backend.remote()) {
        (Some(store), _) => Ok(store.reset_offsets(&ResetRequest {
            group: group.to_string(),
            scopes: scopes.to_vec(),
            target,
            dry_run,
            actor: actor(),
            force,
        })?),
        (None, Some(remote)) => remote_reset(remote, group, scopes, target, dry_run, force),
        (None, None) => Err(CliError::new("no store and no server")),
    }
}

/// The plan (`source`: where it came from, else its target).
fn print_plan(global: &GlobalArgs, plan: &ResetPlan, source: Option<String>) -> CliResult<()> {
    if global.json {
        output::print_json(&plan_json(plan))?;
        return Ok(());
    }
    if plan.entries.is_empty() {
        println!("nothing to reset: no partition matches");
        return Ok(());
    }
    let mut table = Table::new(&["TOPIC", "PARTITION", "CURRENT", "NEW", "START", "END", "NOTE"]);
    for e in &plan.entries {
        table.row(vec![
            e.topic.clone(),
            e.partition.to_string(),
            e.current.map_or("-".to_string(), |c| c.to_string()),
            e.new.to_string(),
            e.log_start_offset.to_string(),
            e.high_watermark.to_string(),
            e.warnings.iter().map(warning_text).collect::<Vec<_>>().join("; "),
        ]);
    }
    println!(
        "reset plan for group {} ({}):",
        plan.group,
        source.unwrap_or_else(|| plan.target.to_string())
    );
    table.print()?;
    if plan.applied {
        println!(
            "applied: {} partition offsets committed and recorded in the audit log",
            plan.entries.len()
        );
    } else {
        println!("dry run: nothing changed; re-run with --execute to apply");
    }
    Ok(())
}

fn run_audit(global: &GlobalArgs, group: Option<&str>) -> CliResult<()> {
    let target = Target::open_read_only(global)?;
    let entries = reset_audit(&target, group)?;
    target.close()?;
    if global.json {
        let rows: Vec<serde_json::Value> = entries
            .iter()
            .map(|e| json!({"at": output::time(e.at_ms), "actor": e.actor, "group": e.group, "target": e.target, "topic": e.topic, "partition": e.partition, "from": e.from, "to": e.to}))
            .collect();
        output::print_json(&json!({ "resets": rows }))?;
        return Ok(());
    }
    if entries.is_empty() {
        println!("no offset resets recorded");
        return Ok(());
    }
    let mut table = Table::new(&["AT", "GROUP", "TOPIC", "PARTITION", "FROM", "TO", "TARGET", "BY"]);
    for e in entries {
        table.row(vec![
            output::time(e.at_ms),
            e.group,
            e.topic,
            e.partition.to_string(),
            e.from.map_or("-".to_string(), |f| f.to_string()),
            e.to.to_string(),
            e.target,
            e.actor,
        ]);
    }
    table.print()?;
    Ok(())
}
