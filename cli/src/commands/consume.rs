//! `millrace consume`: read records from a topic's partitions, from a chosen
//! position, and optionally follow new ones (waiting on the store's notifier,
//! never polling).

use crate::cli::GlobalArgs;
use crate::error::{exit, CliError, CliResult};
use crate::output;
use crate::parse;
use crate::target::Target;
use clap::{Args, ValueEnum};
use millrace::clock::now_ms;
use millrace::StoredRecord;
use serde_json::json;
use std::io::{self, Write};
use std::time::{Duration, Instant};

/// Records per read call.
const READ_RECORDS_MAX: usize = 5_000;
/// How long one wait for new data lasts before re-checking every partition.
const FOLLOW_WAIT: Duration = Duration::from_millis(500);

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum OutputFormat {
    /// `partition:offset  time  key  value  headers` per line.
    Text,
    /// The value only, one per line.
    Value,
    /// One JSON object per line (JSON Lines).
    Json,
}

#[derive(Debug, Args)]
#[command(after_help = "Start position (per partition; default --from-earliest):
  --from-earliest   the log start
  --from-latest     the end: only records appended from now on (use with --follow)
  --offset N        offset N (clamped into the partition's range, with a warning)
  --from-time TIME  first record with timestamp >= TIME (RFC 3339)
  --since DURATION  same, TIME = now - DURATION (e.g. 1h30m, PT15M)
With --group and no start flag: the group's committed offset (else earliest).

--follow waits for new records without polling. Offline, a store that a server
or an embedding process holds open is read as its durable data was when the
command started (nothing is locked or changed), so --follow is refused there:
follow a live topic with --server ADDR.

Examples:
  millrace consume orders
  millrace consume orders --partition 0 --offset 100 --max-records 10
  millrace consume orders --since 1h --format json
  millrace consume orders --group billing -n 100
  millrace consume orders --from-latest --follow")]
pub struct ConsumeArgs {
    /// Topic to read.
    topic: String,
    /// Read only this partition (default: all).
    #[arg(long, short = 'p')]
    partition: Option<u32>,
    /// Start at each partition's log start.
    #[arg(long, group = "start")]
    from_earliest: bool,
    /// Start at each partition's end.
    #[arg(long, group = "start")]
    from_latest: bool,
    /// Start at this offset.
    #[arg(long, group = "start", value_name = "N")]
    offset: Option<u64>,
    /// Start at the first record at or after this time (RFC 3339 or ms).
    #[arg(long, group = "start", value_parser = parse::time_ms, value_name = "TIME")]
    from_time: Option<i64>,
    /// Start this long ago (e.g. 1h30m, PT15M).
    #[arg(long, group = "start", value_parser = parse::duration, value_name = "DURATION")]
    since: Option<Duration>,
    /// Consumer group: start at its committed offsets (when no start flag is
    /// given) and commit what was printed.
    #[arg(long, short = 'g')]
    group: Option<String>,
    /// With --group, do not commit offsets.
    #[arg(long, requires = "group")]
    no_commit: bool,
    /// Stop after this many records.
    #[arg(long, short = 'n', value_name = "N")]
    max_records: Option<u64>,
    /// Keep waiting for new records (stop with Ctrl-C).
    #[arg(long, short = 'f')]
    follow: bool,
    /// With --follow, stop after no new record arrived for this long.
    #[arg(long, value_parser = parse::duration, value_name = "DURATION", requires = "follow")]
    idle_timeout: Option<Duration>,
    /// Output format (--json means json).
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    format: OutputFormat,
}

/// The first offset to read in `partition`.
fn start_offset(target: &Target, args: &ConsumeArgs, partition: u32) -> CliResult<u64> {
    let (start, end) = target.offsets(&args.topic, partition)?;
    let explicit = args.from_earliest
        || args.from_latest
        || args.offset.is_some()
        || args.from_time.is_some()
        || args.since.is_some();
    if let (Some(group), false) = (&args.group, explicit) {
        if let Some(committed) = target.committed_offset(group, &args.topic, partition)? {
            if committed > end {
                // Never clamped to the end: records appended there would
                // take offsets below what the group read and be skipped.
                eprintln!(
                    "warning: group {group}: committed offset {committed} of partition {partition} is past the log end {end} (records it read are no longer in the log); reading from {committed}"
                );
                return Ok(committed);
            }
            return Ok(committed.max(start));
        }
    }
    let time = match (args.from_time, args.since) {
        (Some(t), _) => Some(t),
        (None, Some(d)) => Some(now_ms().saturating_sub(d.as_millis() as i64)),
        (None, None) => None,
    };
    if let Some(t) = time {
        return Ok(target.offset_for_time(&args.topic, partition, t)?.unwrap_or(end));
    }
    if args.from_latest {
        return Ok(end);
    }
    if let Some(offset) = args.offset {
        let clamped = offset.clamp(start, end);
        if clamped != offset {
            eprintln!(
                "warning: offset {offset} is outside partition {partition}'s range [{start}, {end}]; starting at {clamped}"
            );
        }
        return Ok(clamped);
    }
    Ok(start)
}

fn write_record(out: &mut dyn Write, format: OutputFormat, partition: u32, r: &StoredRecord) -> io::Result<()> {
    match format {
        OutputFormat::Value => {
            out.write_all(&r.value)?;
            out.write_all(b"\n")
        }
        OutputFormat::Text => {
            let key = r.key.as_deref().map_or("-".to_string(), output::bytes_text);
            let headers: Vec<String> = r
                .headers_opt()
                .map(|(n, v)| format!("{n}={}", output::nullable_text(v)))
                .collect();
            write!(
                out,
                "{partition}:{}\t{}\t{key}\t{}",
                r.offset,
                output::time(r.timestamp_ms),
                output::nullable_text(r.value_opt())
            )?;
            if !headers.is_empty() {
                write!(out, "\t{}", headers.join(","))?;
            }
            writeln!(out)
        }
        OutputFormat::Json => {
            let headers: serde_json::Map<String, serde_json::Value> = r
                .headers_opt()
                .map(|(n, v)| (n.to_string(), output::nullable_json(v)))
                .collect();
            let value = json!({
                "partition": partition,
                "offset": r.offset,
                "timestamp": output::time(r.timestamp_ms),
                "timestamp_ms": r.timestamp_ms,
                "key": r.key.as_deref().map(output::bytes_json),
                "value": output::nullable_json(r.value_opt()),
                "headers": headers,
            });
            serde_json::to_writer(&mut *out, &value).map_err(io::Error::from)?;
            writeln!(out)
        }
    }
}

#[expect(
    clippy::too_many_lines,
    reason = "debt: the consume loop with its output formats; to split"
)]
pub fn run(global: &GlobalArgs, args: ConsumeArgs) -> CliResult<()> {
    let format = if global.json { OutputFormat::Json } else { args.format };
    // Only a group that commits writes to the store; every other consume
    // reads without changing the data directory.
    let commits = args.group.is_some() && !args.no_commit;
    let target = if commits {
        Target::open(global)?
    } else {
        Target::open_read_only(global)?
    };
    if let (true, Target::Local(store)) = (args.follow, &target) {
        if store.is_live_view() {
            return Err(CliError::new(format!(
                "{} is held open by another process: offline, consume reads its durable records as they were when it \
                 started and cannot follow new ones",
                store.path().display()
            ))
            .with_hint("follow a live topic through its server with `--server ADDR`"));
        }
    }
    let count = target.partition_count(&args.topic)?;
    let partitions = crate::target::selected_partitions(&args.topic, count, args.partition)?;
    let mut positions: Vec<(u32, u64)> = Vec::with_capacity(partitions.len());
    for p in partitions {
        positions.push((p, start_offset(&target, &args, p)?));
    }
    // A group's offset past the log end is committed again only once the
    // group has read past it (`committable`): never lowered to the end.
    let unread_past_end: Vec<(u32, u64)> = {
        let mut past = Vec::new();
        for (p, position) in &positions {
            if *position > target.offsets(&args.topic, *p)?.1 {
                past.push((*p, *position));
            }
        }
        past
    };
    let committable = |positions: &[(u32, u64)]| -> Vec<(u32, u64)> {
        positions
            .iter()
            .filter(|position| !unread_past_end.contains(position))
            .copied()
            .collect()
    };
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let mut printed: u64 = 0;
    let limit = args.max_records.unwrap_or(u64::MAX);
    let mut last_data = Instant::now();
    // Online, an idle follower long-polls each partition in turn.
    let partition_count = positions.len().max(1) as u32;
    let long_poll = (FOLLOW_WAIT / partition_count).max(Duration::from_millis(50));
    let mut idle = false;
    // A partition whose read reached damage: its records before the damage
    // were printed (and are committed); it is read no further, the other
    // partitions are, and the command then exits with the damage (3).
    let mut damaged: Vec<(u32, CliError)> = Vec::new();
    'outer: loop {
        let generation = target.generation();
        let mut progressed = false;
        for (partition, position) in positions.iter_mut() {
            if damaged.iter().any(|(p, _)| p == partition) {
                continue;
            }
            loop {
                let remaining = limit.saturating_sub(printed);
                if remaining == 0 {
                    break 'outer;
                }
                let max_records = READ_RECORDS_MAX.min(usize::try_from(remaining).unwrap_or(usize::MAX));
                let wait = (idle && target.is_remote()).then_some(long_poll);
                let result = match target.read(&args.topic, *partition, *position, max_records, wait) {
                    Ok(r) => r,
                    Err(e) if e.code == exit::CORRUPTION => {
                        eprintln!("error: partition {partition}, offset {}: {}", *position, e.message);
                        damaged.push((*partition, e));
                        break;
                    }
                    Err(e) => {
                        // Retention may have deleted what we were about to read.
                        let (start, end) = target.offsets(&args.topic, *partition)?;
                        if *position > end {
                            // A group committed past the end: nothing to read yet.
                            break;
                        }
                        if *position >= start {
                            return Err(e);
                        }
                        eprintln!(
                            "warning: partition {partition}: offsets below {start} were deleted by retention; skipping from {} to {start}",
                            *position
                        );
                        *position = start;
                        continue;
                    }
                };
                for record in &result.records {
                    write_record(&mut out, format, *partition, record)?;
                    printed += 1;
                }
                let moved = result.next_offset > *position;
                *position = result.next_offset;
                if !moved {
                    break;
                }
                progressed = true;
            }
        }
        out.flush()?;
        if let (Some(group), false, true) = (&args.group, args.no_commit, progressed) {
            target.commit_offsets(group, &args.topic, &committable(&positions))?;
        }
        if progressed {
            last_data = Instant::now();
            idle = false;
            continue;
        }
        if !args.follow || damaged.len() == positions.len() {
            break;
        }
        if args.idle_timeout.is_some_and(|timeout| last_data.elapsed() >= timeout) {
            break;
        }
        idle = true;
        target.wait_any(generation, Instant::now() + FOLLOW_WAIT);
    }
    out.flush()?;
    drop(out);
    if let (Some(group), false) = (&args.group, args.no_commit) {
        target.commit_offsets(group, &args.topic, &committable(&positions))?;
    }
    target.close()?;
    let Some((_, first)) = damaged.first() else {
        return Ok(());
    };
    let partitions: Vec<String> = damaged.iter().map(|(p, _)| p.to_string()).collect();
    Err(CliError {
        message: format!(
            "partition {} could not be read past the damage reported above; the records before it were printed{}",
            partitions.join(", "),
            if args.group.is_some() && !args.no_commit {
                " and committed"
            } else {
                ""
            }
        ),
        hint: first.hint.clone(),
        code: exit::CORRUPTION,
    })
}
