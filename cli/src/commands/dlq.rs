//! `millrace dlq list|show|redrive|purge`: inspect and act on a topic's
//! dead-letter partition (engine `dlq` module).

mod fail;

use crate::cli::GlobalArgs;
use crate::error::{CliError, CliResult};
use crate::output::{self, Table};
use crate::parse;
use crate::target::{Remote, Target};
use clap::{Args, Subcommand};
use millrace::clock::now_ms;
use millrace::dlq::{DlqEntry, DlqFilter, DlqStats, RedriveOptions, RedriveReport};
use millrace_server::messages as wire;
use serde_json::json;
use std::time::Duration;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  millrace dlq list orders
  millrace dlq list orders --error ParseError --since 1h
  millrace dlq show orders 12
  millrace dlq fail orders --group billing --partition 0 --offset 41 --error ParseError --message 'bad total'
  millrace dlq redrive orders                  # dry run: what would be redriven
  millrace dlq redrive orders --execute --rate 100
  millrace dlq redrive orders --restart --redrive-cap 5 --execute
  millrace dlq purge orders --up-to 40 --yes")]
pub struct DlqArgs {
    #[command(subcommand)]
    command: DlqCommand,
}

#[derive(Debug, Subcommand)]
enum DlqCommand {
    /// Dead-lettered records of a topic with their provenance, plus depth and age.
    #[command(after_help = "Examples:
  millrace dlq list orders
  millrace dlq list orders --source-partition 2 --since 2026-11-25T00:00:00Z --limit 20 --json")]
    List(ListArgs),
    /// One dead-lettered record in full: provenance, key, value, headers.
    #[command(after_help = "Examples:
  millrace dlq show orders 12
  millrace dlq show orders 12 --json")]
    Show {
        /// Source topic whose DLQ to read.
        topic: String,
        /// Offset in the DLQ (from `dlq list`).
        dlq_offset: u64,
    },
    /// Move one record into the DLQ by hand (a poison record a consumer cannot pass).
    #[command(after_help = "The same atomic path as a consumer's `fail_record`: the DLQ record
(with its provenance: group, stage, error, attempts) and, when the record is
the group's next one, the group's commit past it are written in one
transaction. The commit never moves backwards: a group already past the
record keeps its offset, and one still before it moves on by its own commits.
A record the group already dead-lettered is not added again (the answer names
its DLQ offset). The stage records who did it (default: manual, by $USER).

Examples:
  millrace dlq fail orders --group billing --partition 0 --offset 41 --error ParseError --message 'total is not a number'
  millrace --server 127.0.0.1:7878 dlq fail orders -g billing -p 2 --offset 7 --error Poison --message 'crashes the decoder' --json")]
    Fail(fail::FailArgs),
    /// Re-append DLQ records to their source topic (or --to); dry run unless --execute.
    #[command(
        after_help = "Exactly once and resumable: each re-appended record is marked redriven, and
the progress committed, in the same transaction as the record, so running it
twice, again after an interruption, or from a lower offset appends nothing
twice. Ctrl-C stops it between two transactions (exit code 130): the same
command resumes. A record redriven --redrive-cap times already stays in the DLQ (loop
guard) and the progress moves past it: after raising the cap, --restart (or
--from-offset) goes over those records again. `dlq list` marks redriven
records; they no longer count in the depth.

Examples:
  millrace dlq redrive orders
  millrace dlq redrive orders --execute --rate 200 --max-records 1000
  millrace dlq redrive orders --to orders-retry --execute
  millrace dlq redrive orders --restart --redrive-cap 5 --execute
  millrace dlq redrive orders --from-offset 120 --execute"
    )]
    Redrive(RedriveArgs),
    /// Delete DLQ records below an offset (needs --yes).
    #[command(after_help = "Examples:
  millrace dlq purge orders --up-to 40 --yes")]
    Purge {
        /// Source topic whose DLQ to purge.
        topic: String,
        /// Delete DLQ records with offsets below this.
        #[arg(long, value_name = "DLQ_OFFSET")]
        up_to: u64,
        /// Confirm: the records are deleted for good.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Args)]
struct ListArgs {
    /// Source topic whose DLQ to list.
    topic: String,
    /// Error class or message contains this text.
    #[arg(long, value_name = "TEXT")]
    error: Option<String>,
    /// Only records from this source partition.
    #[arg(long, value_name = "P")]
    source_partition: Option<u32>,
    /// Last failure at or after: RFC 3339 time, or a duration back from now (1h30m).
    #[arg(long, value_name = "TIME|DURATION")]
    since: Option<String>,
    /// Last failure before this RFC 3339 time.
    #[arg(long, value_parser = parse::time_ms, value_name = "TIME")]
    until: Option<i64>,
    /// Start at this DLQ offset.
    #[arg(long, value_name = "N")]
    from_offset: Option<u64>,
    /// At most this many records.
    #[arg(long, default_value_t = 100)]
    limit: usize,
}

#[derive(Debug, Args)]
struct RedriveArgs {
    /// Source topic whose DLQ to redrive.
    topic: String,
    /// Append to this topic instead of each record's source topic.
    #[arg(long, value_name = "TOPIC")]
    to: Option<String>,
    /// At most this many records per second.
    #[arg(long, value_name = "PER_SECOND")]
    rate: Option<u32>,
    /// Stop after this many records (run again to resume).
    #[arg(long, value_name = "N")]
    max_records: Option<u64>,
    /// Leave records already redriven this many times in the DLQ.
    #[arg(long, default_value_t = 3)]
    redrive_cap: u32,
    /// Start at this DLQ offset instead of where the last run stopped.
    #[arg(long, value_name = "DLQ_OFFSET", conflicts_with = "restart")]
    from_offset: Option<u64>,
    /// Start at the beginning of the DLQ (records already redriven are skipped).
    #[arg(long)]
    restart: bool,
    /// Apply (default: dry run).
    #[arg(long)]
    execute: bool,
}

/// RFC 3339 / ms, or a duration back from now.
fn since_ms(text: &str) -> CliResult<i64> {
    if let Ok(ms) = parse::time_ms(text) {
        return Ok(ms);
    }
    parse::duration(text)
        .map(|d: Duration| now_ms().saturating_sub(d.as_millis() as i64))
        .map_err(|_| {
            CliError::usage(format!(
                "--since {text:?}: give an RFC 3339 time or a duration like 1h30m"
            ))
        })
}

/// The source offset of a dead letter; `None` for a record that never had
/// one (a contract sent it to the DLQ as it was produced:
/// `dlq::NO_SOURCE_OFFSET`, u64::MAX in its header).
fn source_offset(offset: u64) -> Option<u64> {
    (offset != millrace::dlq::NO_SOURCE_OFFSET).then_some(offset)
}

fn entry_json(e: &DlqEntry, full: bool) -> serde_json::Value {
    let l = &e.letter;
    let mut value = json!({
        "dlq_offset": e.dlq_offset,
        "source": {"topic": l.source_topic, "partition": l.source_partition, "offset": source_offset(l.source_offset)},
        "group": l.group,
        "stage": l.stage,
        "error_class": l.error_class,
        "error_message": l.error_message,
        "attempts": l.attempts,
        "first_failure": output::time(l.first_failure_ms),
        "last_failure": output::time(l.last_failure_ms),
        "redrive_count": l.redrive_count,
        "redriven": e.redriven.as_ref().map(|m| json!({
            "topic": m.topic,
            "partition": m.partition,
            "at": output::time(m.redriven_at_ms),
        })),
    });
    if full {
        let headers: serde_json::Map<String, serde_json::Value> = l
            .record
            .headers_opt()
            .map(|(n, v)| (n.to_string(), output::nullable_json(v)))
            .collect();
        if let Some(map) = value.as_object_mut() {
            map.insert("key".into(), json!(l.record.key.as_deref().map(output::bytes_json)));
            map.insert("value".into(), output::nullable_json(l.record.value_opt()));
            map.insert("headers".into(), json!(headers));
            map.insert("timestamp".into(), json!(l.record.timestamp_ms.map(output::time)));
        }
    }
    value
}

/// List through the server: (stats, entries).
fn remote_list(remote: &Remote, topic: &str, filter: &DlqFilter) -> CliResult<(DlqStats, Vec<DlqEntry>)> {
    let request = wire::Request::DlqList(wire::DlqList {
        topic: topic.to_string(),
        from_offset: filter.from_offset.unwrap_or(0),
        max_records: filter.limit.map_or(0, |l| u32::try_from(l).unwrap_or(u32::MAX)),
        error_contains: filter.error_contains.clone(),
        source_partition: filter.source_partition,
        since_ms: filter.since_ms,
        until_ms: filter.until_ms,
    });
    match remote.request(request)? {
        wire::Response::DlqListing(listing) => Ok((
            DlqStats {
                depth: listing.depth,
                start_offset: listing.start_offset,
                end_offset: listing.end_offset,
                oldest_age_ms: listing.oldest_age_ms,
            },
            listing.entries,
        )),
        other => Err(remote.unexpected(&other)),
    }
}

fn list(target: &Target, topic: &str, filter: &DlqFilter) -> CliResult<(DlqStats, Vec<DlqEntry>)> {
    match (target.local(), target.remote()) {
        (Some(store), _) => Ok((store.dlq_stats(topic)?, store.dlq_list(topic, filter)?)),
        (None, Some(remote)) => remote_list(remote, topic, filter),
        (None, None) => Err(CliError::new("no store and no server")),
    }
}

fn redrive(target: &Target, topic: &str, options: &RedriveOptions) -> CliResult<RedriveReport> {
    match (target.local(), target.remote()) {
        (Some(store), _) => Ok(store.dlq_redrive(topic, options)?),
        (None, Some(remote)) => {
            let request = wire::Request::DlqRedrive(wire::DlqRedrive {
                topic: topic.to_string(),
                target_topic: options.target_topic.clone(),
                max_records: options.max_records,
                rate_per_second: options.rate_per_second.unwrap_or(0),
                redrive_cap: options.redrive_cap,
                dry_run: options.dry_run,
                from_offset: options.from_offset,
            });
            match remote.request(request)? {
                wire::Response::Redrive(r) => Ok(RedriveReport {
                    resumed_from: r.resumed_from,
                    next_offset: r.next_offset,
                    redriven: r
                        .redriven
                        .into_iter()
                        .map(|x| (x.dlq_offset, x.topic, x.partition))
                        .collect(),
                    capped: r.capped,
                    refused: r.refused.into_iter().map(|x| (x.dlq_offset, x.reason)).collect(),
                }),
                other => Err(remote.unexpected(&other)),
            }
        }
        (None, None) => Err(CliError::new("no store and no server")),
    }
}

/// Purge; returns the DLQ's new start offset.
fn purge(target: &Target, topic: &str, up_to: u64) -> CliResult<u64> {
    match (target.local(), target.remote()) {
        (Some(store), _) => Ok(store.dlq_purge(topic, up_to)?),
        (None, Some(remote)) => {
            let request = wire::Request::DlqPurge(wire::DlqPurge {
                topic: topic.to_string(),
                up_to_offset: up_to,
            });
            match remote.request(request)? {
                wire::Response::Purged(start) => Ok(start),
                other => Err(remote.unexpected(&other)),
            }
        }
        (None, None) => Err(CliError::new("no store and no server")),
    }
}

pub fn run(global: &GlobalArgs, args: DlqArgs) -> CliResult<()> {
    match args.command {
        DlqCommand::List(list) => run_list(global, list),
        DlqCommand::Show { topic, dlq_offset } => run_show(global, &topic, dlq_offset),
        DlqCommand::Fail(args) => fail::run(global, args),
        DlqCommand::Redrive(redrive) => run_redrive(global, redrive),
        DlqCommand::Purge { topic, up_to, yes } => run_purge(global, &topic, up_to, yes),
    }
}

fn run_list(global: &GlobalArgs, args: ListArgs) -> CliResult<()> {
    let filter = DlqFilter {
        error_contains: args.error.clone(),
        source_partition: args.source_partition,
        since_ms: args.since.as_deref().map(since_ms).transpose()?,
        until_ms: args.until,
        from_offset: args.from_offset,
        limit: Some(args.limit),
    };
    let target = Target::open(global)?;
    let (stats, entries) = list(&target, &args.topic, &filter)?;
    target.close()?;
    if global.json {
        let rows: Vec<serde_json::Value> = entries.iter().map(|e| entry_json(e, false)).collect();
        output::print_json(&json!({
            "topic": args.topic,
            "depth": stats.depth,
            "start_offset": stats.start_offset,
            "end_offset": stats.end_offset,
            "oldest_age_ms": stats.oldest_age_ms,
            "records": rows,
        }))?;
        return Ok(());
    }
    println!(
        "DLQ of {}: {} record{} not yet redriven, offsets {}..{}, oldest {}",
        args.topic,
        stats.depth,
        if stats.depth == 1 { "" } else { "s" },
        stats.start_offset,
        stats.end_offset,
        stats.oldest_age_ms.map_or("-".to_string(), |ms| format!(
            "{} ago",
            output::duration_ms(Some((ms.max(0) as u64 / 1000) * 1000))
        ))
    );
    if entries.is_empty() {
        println!("no matching records");
        return Ok(());
    }
    let mut table = Table::new(&[
        "DLQ OFFSET",
        "SOURCE",
        "GROUP",
        "STAGE",
        "ATTEMPTS",
        "REDRIVES",
        "LAST FAILURE",
        "REDRIVEN TO",
        "ERROR",
    ]);
    for e in &entries {
        let l = &e.letter;
        table.row(vec![
            e.dlq_offset.to_string(),
            format!(
                "{}/{}@{}",
                l.source_topic,
                l.source_partition,
                source_offset(l.source_offset).map_or_else(|| "-".to_string(), |o| o.to_string())
            ),
            l.group.clone(),
            l.stage.clone(),
            l.attempts.to_string(),
            l.redrive_count.to_string(),
            output::time(l.last_failure_ms),
            e.redriven
                .as_ref()
                .map_or("-".to_string(), |m| format!("{}/{}", m.topic, m.partition)),
            format!("{}: {}", l.error_class, l.error_message),
        ]);
    }
    table.print()?;
    Ok(())
}

fn run_show(global: &GlobalArgs, topic: &str, dlq_offset: u64) -> CliResult<()> {
    let target = Target::open(global)?;
    let entry = match target.local() {
        Some(store) => store.dlq_get(topic, dlq_offset)?,
        None => {
            let filter = DlqFilter {
                from_offset: Some(dlq_offset),
                limit: Some(1),
                ..DlqFilter::default()
            };
            list(&target, topic, &filter)?
                .1
                .into_iter()
                .find(|e| e.dlq_offset == dlq_offset)
        }
    };
    target.close()?;
    let Some(e) = entry else {
        return Err(
            CliError::new(format!("no DLQ record at offset {dlq_offset} of topic {topic:?}"))
                .with_hint(format!("list them with `millrace dlq list {topic}`")),
        );
    };
    if global.json {
        output::print_json(&entry_json(&e, true))?;
        return Ok(());
    }
    let l = &e.letter;
    println!("dlq offset:     {}", e.dlq_offset);
    match source_offset(l.source_offset) {
        Some(offset) => println!(
            "source:         {} partition {} offset {offset}",
            l.source_topic, l.source_partition
        ),
        None => println!(
            "source:         {} partition {} (no offset: refused before it was appended)",
            l.source_topic, l.source_partition
        ),
    }
    println!("group:          {}", l.group);
    println!("stage:          {}", l.stage);
    println!("error:          {}: {}", l.error_class, l.error_message);
    println!("attempts:       {}", l.attempts);
    println!("first failure:  {}", output::time(l.first_failure_ms));
    println!("last failure:   {}", output::time(l.last_failure_ms));
    println!("redriven:       {} times", l.redrive_count);
    if let Some(m) = &e.redriven {
        println!(
            "redriven to:    {} partition {} at {} (no longer in the depth)",
            m.topic,
            m.partition,
            output::time(m.redriven_at_ms)
        );
    }
    println!(
        "timestamp:      {}",
        l.record.timestamp_ms.map_or("-".to_string(), output::time)
    );
    println!(
        "key:            {}",
        l.record.key.as_deref().map_or("-".to_string(), output::bytes_text)
    );
    for (n, v) in l.record.headers_opt() {
        println!("header:         {n}={}", output::nullable_text(v));
    }
    println!("value:          {}", output::nullable_text(l.record.value_opt()));
    Ok(())
}

/// Records an executing redrive asks for per call when no rate is set:
/// between calls it looks for Ctrl-C.
const REDRIVE_CHUNK_RECORDS: u64 = 1000;

/// Run an executing redrive in chunks (about a second's worth at `--rate`,
/// else [`REDRIVE_CHUNK_RECORDS`]), each resuming at the last one's next
/// offset, until the DLQ's end, `--max-records`, or a Ctrl-C between two
/// chunks (`true`: interrupted). Every record is redriven in a transaction
/// with the progress, so a stop between chunks (or a kill anywhere) resumes
/// exactly once. A dry run is one call: it commits no progress.
fn redrive_in_chunks(target: &Target, topic: &str, options: &RedriveOptions) -> CliResult<(RedriveReport, bool)> {
    if options.dry_run {
        return Ok((redrive(target, topic, options)?, false));
    }
    crate::interrupt::watch();
    let chunk = options
        .rate_per_second
        .filter(|r| *r > 0)
        .map_or(REDRIVE_CHUNK_RECORDS, u64::from);
    let mut left = options.max_records;
    let mut from = options.from_offset;
    let mut total: Option<RedriveReport> = None;
    loop {
        let want = left.map_or(chunk, |l| l.min(chunk));
        let part = redrive(
            target,
            topic,
            &RedriveOptions {
                max_records: Some(want),
                from_offset: from,
                ..options.clone()
            },
        )?;
        // Every record looked at is redriven, capped or refused.
        let considered = (part.redriven.len() + part.capped.len() + part.refused.len()) as u64;
        from = Some(part.next_offset);
        left = left.map(|l| l.saturating_sub(considered));
        let next = part.next_offset;
        match total.as_mut() {
            None => total = Some(part),
            Some(total) => {
                total.next_offset = next;
                total.redriven.extend(part.redriven);
                total.capped.extend(part.capped);
                total.refused.extend(part.refused);
            }
        }
        let finished = considered < want || left == Some(0);
        if finished || crate::interrupt::requested() {
            return Ok((total.unwrap_or_default(), !finished));
        }
    }
}

fn run_redrive(global: &GlobalArgs, args: RedriveArgs) -> CliResult<()> {
    let target = Target::open(global)?;
    let (report, interrupted) = redrive_in_chunks(
        &target,
        &args.topic,
        &RedriveOptions {
            target_topic: args.to.clone(),
            dry_run: !args.execute,
            rate_per_second: args.rate,
            max_records: args.max_records,
            redrive_cap: args.redrive_cap,
            from_offset: if args.restart { Some(0) } else { args.from_offset },
            ..RedriveOptions::default()
        },
    )?;
    target.close()?;
    if interrupted {
        return Err(CliError {
            message: format!(
                "interrupted: redriven {} record{} of the DLQ of {} (DLQ offsets {}..{}); {} left at the redrive cap, {} refused",
                report.redriven.len(),
                if report.redriven.len() == 1 { "" } else { "s" },
                args.topic,
                report.resumed_from,
                report.next_offset,
                report.capped.len(),
                report.refused.len(),
            ),
            hint: Some(
                "each record is redriven in one transaction with the progress: run the same command again to resume, exactly once"
                    .into(),
            ),
            code: crate::error::exit::INTERRUPTED,
        });
    }
    if global.json {
        let redriven: Vec<serde_json::Value> = report
            .redriven
            .iter()
            .map(|(o, t, p)| json!({"dlq_offset": o, "topic": t, "partition": p}))
            .collect();
        let refused: Vec<serde_json::Value> = report
            .refused
            .iter()
            .map(|(o, why)| json!({"dlq_offset": o, "reason": why}))
            .collect();
        output::print_json(&json!({
            "applied": args.execute,
            "resumed_from": report.resumed_from,
            "next_offset": report.next_offset,
            "redriven": redriven,
            "capped": report.capped,
            "refused": refused,
        }))?;
        return Ok(());
    }
    let verb = if args.execute { "redriven" } else { "would redrive" };
    if !report.redriven.is_empty() {
        let mut table = Table::new(&["DLQ OFFSET", "TO TOPIC", "PARTITION"]);
        for (o, t, p) in &report.redriven {
            table.row(vec![o.to_string(), t.clone(), p.to_string()]);
        }
        table.print()?;
    }
    println!(
        "{verb} {} record{} (DLQ offsets {}..{}); {} left in the DLQ at the redrive cap{}",
        report.redriven.len(),
        if report.redriven.len() == 1 { "" } else { "s" },
        report.resumed_from,
        report.next_offset,
        report.capped.len(),
        if report.capped.is_empty() {
            String::new()
        } else {
            format!(
                " ({})",
                report.capped.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
            )
        }
    );
    if !report.refused.is_empty() {
        println!(
            "{} record{} left in the DLQ: the contract of today refuses {}",
            report.refused.len(),
            if report.refused.len() == 1 { "" } else { "s" },
            if report.refused.len() == 1 { "it" } else { "them" }
        );
        let mut table = Table::new(&["DLQ OFFSET", "REFUSED BECAUSE"]);
        for (o, why) in &report.refused {
            table.row(vec![o.to_string(), why.clone()]);
        }
        table.print()?;
    }
    if !args.execute {
        println!("dry run: nothing changed; re-run with --execute to redrive");
    }
    Ok(())
}

fn run_purge(global: &GlobalArgs, topic: &str, up_to: u64, yes: bool) -> CliResult<()> {
    let target = Target::open(global)?;
    let (stats, _) = list(
        &target,
        topic,
        &DlqFilter {
            limit: Some(1),
            ..DlqFilter::default()
        },
    )?;
    if !yes {
        let doomed = up_to.clamp(stats.start_offset, stats.end_offset) - stats.start_offset;
        return Err(CliError::usage(format!(
            "refusing to delete {doomed} DLQ record{} of {topic:?} without confirmation",
            if doomed == 1 { "" } else { "s" }
        ))
        .with_hint(format!("re-run as `millrace dlq purge {topic} --up-to {up_to} --yes`")));
    }
    let start = purge(&target, topic, up_to)?;
    target.close()?;
    let removed = start.saturating_sub(stats.start_offset);
    if global.json {
        output::print_json(&json!({"topic": topic, "removed": removed, "start_offset": start}))?;
    } else {
        println!(
            "purged {removed} DLQ record{} of {topic}; the DLQ now starts at offset {start}",
            if removed == 1 { "" } else { "s" }
        );
    }
    Ok(())
}
