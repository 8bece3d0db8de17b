//! `millrace replay`: copy an offset or time range of a topic into another
//! topic (backfill, reprocessing). Exactly once and resumable: each batch is
//! appended to the destination in one transaction with the commit of the
//! job's progress (the offset of the group `__replay.<name>` on the source),
//! so an interrupted run, resumed, copies every record once. The copied
//! records name their job, so the destination is a second anchor of that
//! progress: a rerun after the commit was lost (a repair of `__offsets`)
//! still copies every record once (see `anchor`).

mod anchor;

use crate::cli::GlobalArgs;
use crate::error::{exit, CliError, CliResult};
use crate::interrupt;
use crate::output;
use crate::parse;
use crate::target::Target;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use millrace::clock::now_ms;
use millrace::Record;
use serde_json::json;
use std::time::{Duration, Instant};

/// Header added to every copied record: `<topic>/<partition>@<offset>` of the original.
pub const SOURCE_HEADER: &str = "millrace.replay.source";

#[derive(Debug, Args)]
#[command(
    after_help = "Range (per source partition): from --from-offset / --from-time / --since
(default: the log start) up to --to-offset / --to-time (default: the end as of
the start of the run). Records keep key, value, headers and timestamp, plus a
`millrace.replay.source` header. With equal partition counts a record keeps
its partition number; otherwise keyed records are hashed and the rest go to
source partition modulo the destination's count.

Range notation is half-open, [from, to), as everywhere: --from-offset is
copied, --to-offset is not; an empty or reversed range is a usage error.

Interrupted (Ctrl-C stops after the batch under way and says how far it got,
exit 130)? Run the same command again: it resumes where the last committed
batch ended (progress is stored as the job's consumer group, committed in the
same transaction as the copied records, and in a `millrace.replay.job` header
on each copied record: if a repair of `__offsets` loses the commit, the rerun
resumes after the last record the destination holds). --restart starts the
range over (copies again).

Examples:
  millrace replay orders orders-backfill
  millrace replay orders orders-v2 --from-time 2026-11-25T00:00:00Z --to-time 2026-11-25T12:00:00Z
  millrace replay orders orders-reprocess --since 1h --rate 5000
  millrace replay orders copy --partition 2 --from-offset 100 --to-offset 200 --name p2-fix"
)]
pub struct ReplayArgs {
    /// Topic to copy from.
    source: String,
    /// Topic to copy into (must exist).
    destination: String,
    /// Only this source partition.
    #[arg(long, short = 'p')]
    partition: Option<u32>,
    /// First offset to copy (half-open range: copied).
    #[arg(long, value_name = "N", group = "from")]
    from_offset: Option<u64>,
    /// First record at or after this time (RFC 3339 or ms).
    #[arg(long, value_parser = parse::time_ms, value_name = "TIME", group = "from")]
    from_time: Option<i64>,
    /// From this long ago (e.g. 1h30m).
    #[arg(long, value_parser = parse::duration, value_name = "DURATION", group = "from")]
    since: Option<Duration>,
    /// Stop before this offset (half-open range: not copied).
    #[arg(long, value_name = "N", group = "to")]
    to_offset: Option<u64>,
    /// Stop before the first record at or after this time.
    #[arg(long, value_parser = parse::time_ms, value_name = "TIME", group = "to")]
    to_time: Option<i64>,
    /// Job name: progress is kept under it (default: SOURCE-to-DESTINATION).
    #[arg(long)]
    name: Option<String>,
    /// At most this many records per second.
    #[arg(long, value_name = "PER_SECOND", value_parser = clap::value_parser!(u32).range(1..))]
    rate: Option<u32>,
    /// Records per transaction.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    batch_records: u32,
    /// Stop after copying this many records (run again to continue).
    #[arg(long, value_name = "N")]
    max_records: Option<u64>,
    /// Ignore earlier progress of this job and copy the range again.
    #[arg(long)]
    restart: bool,
}

fn key_hash(key: &[u8]) -> u64 {
    key.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

struct Range {
    partition: u32,
    start: u64,
    end: u64,
}

/// Where a resumed job continues on one source partition: after its commit
/// and after what the destination holds of the job's latest generation,
/// whichever is further; a commit of an earlier generation (before a
/// `--restart`) is no progress of this one.
fn resume_at(commit: Option<(u64, u64)>, anchor: &anchor::Anchor, partition: u32) -> Option<u64> {
    let copied = anchor.copied_until.get(&partition).copied();
    let commit = commit.filter(|(_, generation)| anchor.generation.is_none_or(|g| *generation >= g));
    match commit {
        // The destination's records are of an older pass than the commit.
        Some((offset, generation)) if anchor.generation.is_some_and(|g| generation > g) => Some(offset),
        Some((offset, _)) => Some(copied.map_or(offset, |c| c.max(offset))),
        None => copied,
    }
}

/// The generation this run copies under: the latest one the job's commits
/// or the destination know, one more with `--restart`.
fn run_generation(commits: &[Option<(u64, u64)>], anchor: &anchor::Anchor, restart: bool) -> u64 {
    let known = commits.iter().flatten().map(|(_, g)| *g).chain(anchor.generation).max();
    match (known, restart) {
        (Some(g), true) => g + 1,
        (Some(g), false) => g,
        (None, _) => 0,
    }
}

fn plan(store: &Target, args: &ReplayArgs, group: &str, name: &str) -> CliResult<(Vec<Range>, u64)> {
    let count = store.partition_count(&args.source)?;
    let partitions = crate::target::selected_partitions(&args.source, count, args.partition)?;
    let from_time = args
        .from_time
        .or(args.since.map(|d| now_ms().saturating_sub(d.as_millis() as i64)));
    let same_layout = store.partition_count(&args.destination)? == count;
    let anchor = anchor::find(store, &args.destination, name, &args.source, &partitions, same_layout)?;
    let mut commits = Vec::new();
    for p in &partitions {
        commits.push(
            store
                .committed_with_metadata(group, &args.source, *p)?
                .map(|(offset, metadata)| (offset, anchor::generation_of_metadata(&metadata))),
        );
    }
    let generation = run_generation(&commits, &anchor, args.restart);
    let mut ranges = Vec::new();
    for (p, commit) in partitions.into_iter().zip(commits) {
        let (log_start, high_watermark) = store.offsets(&args.source, p)?;
        let mut start = match (args.from_offset, from_time) {
            (Some(o), _) => o.clamp(log_start, high_watermark),
            (None, Some(t)) => store.offset_for_time(&args.source, p, t)?.unwrap_or(high_watermark),
            (None, None) => log_start,
        };
        let end = match (args.to_offset, args.to_time) {
            (Some(o), _) => o.min(high_watermark),
            (None, Some(t)) => store.offset_for_time(&args.source, p, t)?.unwrap_or(high_watermark),
            (None, None) => high_watermark,
        };
        if !args.restart {
            if let Some(done) = resume_at(commit, &anchor, p) {
                start = start.max(done);
            }
        }
        ranges.push(Range {
            partition: p,
            start: start.min(end),
            end,
        });
    }
    Ok((ranges, generation))
}

#[expect(
    clippy::too_many_lines,
    reason = "debt: the replay loop; to split into plan and copy"
)]
pub fn run(global: &GlobalArgs, args: ReplayArgs) -> CliResult<()> {
    if args.source == args.destination {
        return Err(CliError::usage(
            "source and destination are the same topic; replay copies into another topic",
        ));
    }
    parse::half_open(
        ("--from-offset", args.from_offset),
        ("--to-offset", args.to_offset),
        |o| o.to_string(),
    )
    .and_then(|()| {
        parse::half_open(
            ("--from-time", args.from_time),
            ("--to-time", args.to_time),
            output::time,
        )
    })
    .map_err(CliError::usage)?;
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| format!("{}-to-{}", args.source, args.destination));
    let group = millrace::names::replay_group(&name);
    let store = Target::open(global)?;
    let destination_partitions = store.partition_count(&args.destination)?;
    let (ranges, generation) = plan(&store, &args, &group, &name)?;
    let job_header = anchor::job_header_value(&name, generation);
    let commit_metadata = anchor::generation_metadata(generation);
    let total: u64 = ranges.iter().map(|r| r.end - r.start).sum();
    let limit = args.max_records.unwrap_or(u64::MAX).min(total);
    if total == 0 {
        store.close()?;
        if global.json {
            output::print_json(&json!({"job": name, "copied": 0, "remaining": 0}))?;
        } else {
            println!(
                "nothing to replay: the range is empty or job {name:?} already copied it (--restart copies again)"
            );
        }
        return Ok(());
    }
    let producer = store.init_producer(&group)?;
    interrupt::watch();
    let mut interrupted = false;
    let bar = ProgressBar::new(limit);
    if let Ok(style) = ProgressStyle::with_template("replaying [{wide_bar}] {pos}/{len} records ({per_sec}, {eta})") {
        bar.set_style(style.progress_chars("=> "));
    }
    let started = Instant::now();
    let mut copied = 0u64;
    let same_layout = destination_partitions == store.partition_count(&args.source)?;
    'ranges: for range in &ranges {
        let mut position = range.start;
        while position < range.end {
            if copied >= limit {
                break 'ranges;
            }
            if interrupt::requested() {
                interrupted = true;
                break 'ranges;
            }
            let want = u64::from(args.batch_records)
                .min(range.end - position)
                .min(limit - copied);
            let read = store.read(
                &args.source,
                range.partition,
                position,
                usize::try_from(want).unwrap_or(usize::MAX),
                None,
            )?;
            let records: Vec<_> = read.records.iter().filter(|r| r.offset < range.end).collect();
            let next = read.next_offset.min(range.end);
            if next <= position {
                break;
            }
            let mut by_partition: std::collections::BTreeMap<u32, Vec<Record>> = Default::default();
            for r in &records {
                let target = if same_layout {
                    range.partition
                } else {
                    match &r.key {
                        Some(key) => (key_hash(key) % u64::from(destination_partitions)) as u32,
                        None => range.partition % destination_partitions,
                    }
                };
                let mut record = r.to_record();
                record.headers.push((
                    SOURCE_HEADER.to_string(),
                    format!("{}/{}@{}", args.source, range.partition, r.offset).into_bytes(),
                ));
                record
                    .headers
                    .push((anchor::JOB_HEADER.to_string(), job_header.clone()));
                by_partition.entry(target).or_default().push(record);
            }
            let batches: Vec<(u32, Vec<Record>)> = by_partition.into_iter().collect();
            store.commit_transaction(
                producer,
                &args.destination,
                &batches,
                &group,
                (&args.source, range.partition, next),
                &commit_metadata,
            )?;
            copied += records.len() as u64;
            position = next;
            bar.set_position(copied);
            if let Some(rate) = args.rate {
                let due = Duration::from_secs_f64(copied as f64 / f64::from(rate));
                if let Some(wait) = due.checked_sub(started.elapsed()) {
                    std::thread::sleep(wait);
                }
            }
        }
    }
    bar.finish_and_clear();
    store.close()?;
    let seconds = started.elapsed().as_secs_f64();
    let remaining = total - copied;
    if interrupted {
        return Err(CliError {
            message: format!(
                "interrupted: replayed {copied} record{} from {} into {} ({}); {remaining} remain",
                if copied == 1 { "" } else { "s" },
                args.source,
                args.destination,
                output::rate(copied, seconds)
            ),
            hint: Some(
                "every copied batch is committed with the job's progress: run the same command again to resume, exactly once"
                    .into(),
            ),
            code: exit::INTERRUPTED,
        });
    }
    if global.json {
        output::print_json(&json!({"job": name, "copied": copied, "remaining": remaining, "seconds": seconds}))?;
    } else {
        println!(
            "replayed {copied} record{} from {} into {} in {seconds:.2} s ({}){}",
            if copied == 1 { "" } else { "s" },
            args.source,
            args.destination,
            output::rate(copied, seconds),
            if remaining > 0 {
                format!("; {remaining} remain: run the same command again to continue")
            } else {
                String::new()
            }
        );
    }
    Ok(())
}
