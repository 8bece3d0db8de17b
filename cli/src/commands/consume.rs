//! `millrace consume`: read records from a topic's partitions, from a chosen
//! position, and optionally follow new ones (waiting on the store's notifier,
//! never polling).

mod template;

use crate::cli::GlobalArgs;
use crate::error::{exit, CliError, CliResult};
use crate::interrupt;
use crate::output;
use crate::parse;
use crate::target::Target;
use clap::Args;
use millrace::clock::now_ms;
use millrace::StoredRecord;
use serde_json::json;
use std::io::{self, Write};
use std::time::{Duration, Instant};
use template::Template;

/// Records per read call.
const READ_RECORDS_MAX: usize = 5_000;
/// How long one wait for new data lasts before re-checking every partition.
const FOLLOW_WAIT: Duration = Duration::from_millis(500);

/// How records are printed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum OutputFormat {
    /// `partition:offset  time  key  value  headers` per line.
    Text,
    /// The value only, one per line.
    Value,
    /// One JSON object per line (JSON Lines).
    Json,
    /// A kcat-style template.
    Template(Template),
}

/// `text`, `value`, `json`, or a template (anything with `%`, `{` or `\`).
fn output_format(text: &str) -> Result<OutputFormat, String> {
    match text {
        "text" => Ok(OutputFormat::Text),
        "value" => Ok(OutputFormat::Value),
        "json" => Ok(OutputFormat::Json),
        t if t.contains(['%', '{', '\\']) => Template::parse(t).map(OutputFormat::Template),
        other => Err(format!(
            "{other:?} is neither text, value, json nor a template (e.g. '%k %s\\n' or '{{key}} {{value}}\\n')"
        )),
    }
}

#[derive(Debug, Args)]
#[command(
    after_help = "Range: half-open per partition, [start, end): the start is read, the end
is not (as in `replay`).
Start (default --from-earliest):
  --from-earliest   the log start
  --from-latest     the end: only records appended from now on (use with --follow)
  --offset N        offset N (clamped into the partition's range, with a warning);
                    --offset -N: the last N records, as --tail N
  --tail N          the last N records of each partition
  --from-time TIME  first record with timestamp >= TIME (RFC 3339, e.g. 2026-11-25T18:00:00Z)
  --since DURATION  same, TIME = now - DURATION (e.g. 90s, 1h30m, 7d, PT15M)
With --group and no start flag: the group's committed offset (else earliest).
End (default: the end at the time of each read; with --follow, none):
  --to-offset N     stop before offset N
  --to-time TIME    stop before the first record with timestamp >= TIME
  --until-now       stop at each partition's end as of the command's start
A partition that reached its end is read no further; the command ends when
every partition has (with --follow too).

Output (--format): text (default), value, json, or a template as kcat's -f
(here -f is --follow, as in tail -f: kcat's `-f '%k %s\\n'` is `--format '%k %s\\n'`):
  %k {key}, %s or %v {value}, %o {offset}, %p {partition}, %t {topic},
  %T {timestamp_ms}, {timestamp} (RFC 3339), %h {headers} (name=value,...),
  %K {key_size}, %S {value_size}; %% {{ }} print % { }; \\n \\t \\r \\\\ \\0.
  No newline is added: end the template with \\n.
In text, value and template output, control characters and backslashes are
escaped (\\n, \\t, \\u{1b}, \\\\) and bytes that are not UTF-8 printed as \\xNN,
so a record can neither add lines nor drive the terminal; --raw prints the
bytes as stored (binary-safe with `--format value --raw` or a template).
--format json keeps every byte: a key, value or header value that is not
UTF-8 is {\"hex\": \"...\"}; `millrace produce --format json` reads it back.

--follow waits for new records without polling. Offline, a store that a server
or an embedding process holds open is read as its durable data was when the
command started (nothing is locked or changed), so --follow is refused there:
follow a live topic with --server ADDR.
Ctrl-C stops after the batch being printed: the command says how far each
partition was read (and committed, with --group) and how to resume; exit 130.

Examples:
  millrace consume orders
  millrace consume orders --partition 0 --offset 100 --to-offset 110
  millrace consume orders --tail 5
  millrace consume orders --offset -5 --format '%k %s %o %T\\n'
  millrace consume orders --since 1h --until-now --format '{timestamp} {key} {value}\\n'
  millrace consume orders --from-time 2026-11-25T00:00:00Z --to-time 2026-11-26T00:00:00Z
  millrace consume orders --since 1h --format json
  millrace consume orders --group billing -n 100
  millrace consume orders --from-latest --follow"
)]
pub struct ConsumeArgs {
    /// Topic to read.
    topic: String,
    /// Read only this partition (default: all).
    #[arg(long, short = 'p', value_name = "P")]
    partition: Option<u32>,
    /// Start at each partition's log start.
    #[arg(long, group = "start")]
    from_earliest: bool,
    /// Start at each partition's end.
    #[arg(long, group = "start")]
    from_latest: bool,
    /// Start at this offset; -N: the last N records of each partition.
    #[arg(long, group = "start", value_name = "N", allow_negative_numbers = true)]
    offset: Option<i64>,
    /// Start at the last N records of each partition.
    #[arg(long, group = "start", value_name = "N")]
    tail: Option<u64>,
    /// Start at the first record at or after this time (RFC 3339 or ms).
    #[arg(long, group = "start", value_parser = parse::time_ms, value_name = "TIME")]
    from_time: Option<i64>,
    /// Start this long ago (e.g. 1h30m, 7d, PT15M).
    #[arg(long, group = "start", value_parser = parse::duration, value_name = "DURATION")]
    since: Option<Duration>,
    /// Stop before this offset (half-open: offset N is not printed).
    #[arg(long, group = "end", value_name = "N")]
    to_offset: Option<u64>,
    /// Stop before the first record at or after this time (RFC 3339 or ms).
    #[arg(long, group = "end", value_parser = parse::time_ms, value_name = "TIME")]
    to_time: Option<i64>,
    /// Stop at each partition's end as of the command's start.
    #[arg(long, group = "end", conflicts_with = "follow")]
    until_now: bool,
    /// Consumer group: start at its committed offsets (when no start flag is
    /// given) and commit what was printed.
    #[arg(long, short = 'g', value_name = "GROUP")]
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
    /// Output: text, value, json (as --json) or a template ('%k %s\n', '{key} {value}\n').
    #[arg(long, value_parser = output_format, default_value = "text", value_name = "FORMAT")]
    format: OutputFormat,
    /// Print keys, values and headers as stored, without escaping (text, value, template).
    #[arg(long)]
    raw: bool,
}

/// The first offset to read in `partition`.
fn start_offset(target: &Target, args: &ConsumeArgs, partition: u32) -> CliResult<u64> {
    let (start, end) = target.offsets(&args.topic, partition)?;
    let explicit = args.from_earliest
        || args.from_latest
        || args.offset.is_some()
        || args.tail.is_some()
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
    let tail = match args.offset {
        Some(offset) if offset < 0 => Some(offset.unsigned_abs()),
        _ => args.tail,
    };
    if let Some(n) = tail {
        return Ok(end.saturating_sub(n).max(start));
    }
    if let Some(offset) = args.offset.and_then(|o| u64::try_from(o).ok()) {
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

/// How one record is printed: the format, the topic (for templates) and
/// whether bytes are printed raw.
struct Printer<'a> {
    format: &'a OutputFormat,
    topic: &'a str,
    raw: bool,
}

impl Printer<'_> {
    /// Bytes escaped (`output::bytes_text`), or as stored with --raw.
    fn put(&self, out: &mut dyn Write, value: &[u8]) -> io::Result<()> {
        if self.raw {
            out.write_all(value)
        } else {
            out.write_all(output::bytes_text(value).as_bytes())
        }
    }

    /// A value that may be null: `(null)` for null, else as [`Printer::put`].
    fn put_nullable(&self, out: &mut dyn Write, value: Option<&[u8]>) -> io::Result<()> {
        match value {
            Some(value) => self.put(out, value),
            None => out.write_all(b"(null)"),
        }
    }

    fn write(&self, out: &mut dyn Write, partition: u32, r: &StoredRecord) -> io::Result<()> {
        match self.format {
            OutputFormat::Value => {
                self.put_nullable(out, r.value_opt())?;
                out.write_all(b"\n")
            }
            OutputFormat::Template(template) => template.write(out, self.topic, partition, r, self.raw),
            OutputFormat::Text => {
                write!(out, "{partition}:{}\t{}\t", r.offset, output::time(r.timestamp_ms))?;
                match &r.key {
                    Some(key) => self.put(out, key)?,
                    None => out.write_all(b"-")?,
                }
                out.write_all(b"\t")?;
                self.put_nullable(out, r.value_opt())?;
                for (i, (name, value)) in r.headers_opt().enumerate() {
                    out.write_all(if i == 0 { b"\t" } else { b"," })?;
                    self.put(out, name.as_bytes())?;
                    out.write_all(b"=")?;
                    self.put_nullable(out, value)?;
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
}

/// Where reading a partition stops: before `offset`, or before the first
/// record at or after `time` (half-open).
#[derive(Debug, Clone, Copy)]
struct End {
    offset: Option<u64>,
    time: Option<i64>,
}

impl End {
    /// True if `r` is past the end (not printed).
    fn excludes(&self, r: &StoredRecord) -> bool {
        self.offset.is_some_and(|o| r.offset >= o) || self.time.is_some_and(|t| r.timestamp_ms >= t)
    }
}

/// Each selected partition's end bound (none: read to the end).
fn end_bounds(target: &Target, args: &ConsumeArgs, partitions: &[u32]) -> CliResult<Vec<End>> {
    let mut ends = Vec::with_capacity(partitions.len());
    for p in partitions {
        let offset = if args.until_now {
            Some(target.offsets(&args.topic, *p)?.1)
        } else {
            args.to_offset
        };
        ends.push(End {
            offset,
            time: args.to_time,
        });
    }
    Ok(ends)
}

#[expect(
    clippy::too_many_lines,
    reason = "debt: the consume loop with its output formats; to split"
)]
pub fn run(global: &GlobalArgs, args: ConsumeArgs) -> CliResult<()> {
    let format = if global.json {
        OutputFormat::Json
    } else {
        args.format.clone()
    };
    let printer = Printer {
        format: &format,
        topic: &args.topic,
        raw: args.raw,
    };
    check_range(&args)?;
    interrupt::watch();
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
    let ends = end_bounds(&target, &args, &partitions)?;
    let mut positions: Vec<(u32, u64)> = Vec::with_capacity(partitions.len());
    for p in partitions {
        positions.push((p, start_offset(&target, &args, p)?));
    }
    // Partitions read up to their end bound (never read again).
    let mut finished: Vec<bool> = positions
        .iter()
        .zip(&ends)
        .map(|((_, position), end)| end.offset.is_some_and(|o| *position >= o))
        .collect();
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
    let mut interrupted = false;
    'outer: loop {
        let generation = target.generation();
        let mut progressed = false;
        for (i, (partition, position)) in positions.iter_mut().enumerate() {
            if damaged.iter().any(|(p, _)| p == partition) {
                continue;
            }
            let end = ends.get(i).copied().unwrap_or(End {
                offset: None,
                time: None,
            });
            loop {
                if finished.get(i).copied().unwrap_or(true) {
                    break;
                }
                if interrupt::requested() {
                    interrupted = true;
                    break 'outer;
                }
                let remaining = limit.saturating_sub(printed);
                if remaining == 0 {
                    break 'outer;
                }
                // Offsets below the bound hold at most that many records.
                let bounded = end
                    .offset
                    .map_or(remaining, |o| remaining.min(o.saturating_sub(*position).max(1)));
                let max_records = READ_RECORDS_MAX.min(usize::try_from(bounded).unwrap_or(usize::MAX));
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
                let mut reached_end = None;
                for record in &result.records {
                    if end.excludes(record) {
                        reached_end = Some(record.offset);
                        break;
                    }
                    printer.write(&mut out, *partition, record)?;
                    printed += 1;
                }
                let next = reached_end.unwrap_or(result.next_offset);
                let moved = next > *position;
                *position = next;
                if reached_end.is_some() || end.offset.is_some_and(|o| next >= o) {
                    if let Some(done) = finished.get_mut(i) {
                        *done = true;
                    }
                }
                if moved {
                    progressed = true;
                }
                if !moved || reached_end.is_some() {
                    break;
                }
            }
        }
        out.flush()?;
        if let (Some(group), false, true) = (&args.group, args.no_commit, progressed) {
            target.commit_offsets(group, &args.topic, &committable(&positions))?;
        }
        let all_done = positions
            .iter()
            .zip(&finished)
            .all(|((p, _), done)| *done || damaged.iter().any(|(q, _)| q == p));
        if all_done {
            break;
        }
        if progressed {
            last_data = Instant::now();
            idle = false;
            continue;
        }
        if !args.follow || interrupt::requested() {
            interrupted = interrupt::requested();
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
    if interrupted {
        return Err(interrupted_error(&args, printed, &positions));
    }
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

/// A start past the end bound is a usage error (half-open: `--offset 5
/// --to-offset 5` is empty), as in `replay`.
fn check_range(args: &ConsumeArgs) -> CliResult<()> {
    let offset = args.offset.and_then(|o| u64::try_from(o).ok());
    parse::half_open(("--offset", offset), ("--to-offset", args.to_offset), |o| o.to_string())
        .and_then(|()| {
            parse::half_open(
                ("--from-time", args.from_time),
                ("--to-time", args.to_time),
                output::time,
            )
        })
        .map_err(CliError::usage)
}

/// Ctrl-C: what was printed, where each partition stopped, how to resume.
fn interrupted_error(args: &ConsumeArgs, printed: u64, positions: &[(u32, u64)]) -> CliError {
    let at: Vec<String> = positions
        .iter()
        .map(|(p, o)| format!("partition {p} at offset {o}"))
        .collect();
    let committed = args.group.is_some() && !args.no_commit;
    let hint = match (&args.group, committed, positions) {
        (Some(group), true, _) => format!(
            "the positions are committed for group {group:?}: `millrace consume {} --group {group}` resumes there",
            args.topic
        ),
        (_, _, [(p, o)]) => format!(
            "resume with `millrace consume {} --partition {p} --offset {o}`",
            args.topic
        ),
        _ => format!(
            "resume each partition with `millrace consume {} --partition P --offset N` (positions above)",
            args.topic
        ),
    };
    CliError {
        message: format!(
            "interrupted: printed {printed} record{}; read up to {} (the next record to read){}",
            if printed == 1 { "" } else { "s" },
            at.join(", "),
            if committed { ", committed" } else { "" }
        ),
        hint: Some(hint),
        code: exit::INTERRUPTED,
    }
}
