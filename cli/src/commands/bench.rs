//! `millrace bench`: a built-in load generator against a data directory.
//! N producer threads append fixed-size records in batches for a duration or
//! a record count; prints throughput and per-batch append latency percentiles
//! (hdrhistogram), then optionally reads everything back. Ctrl-C stops the
//! run between two batches: it reports what it measured until then, marked
//! interrupted, and exits 130.

use crate::cli::GlobalArgs;
use crate::data;
use crate::error::{exit, CliError, CliResult};
use crate::interrupt;
use crate::output;
use crate::parse;
use clap::Args;
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};
use millrace::{Durability, ReadOptions, Record, TopicConfig};
use serde_json::json;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Latencies above this (µs) are clamped into the top bucket.
pub(crate) const LATENCY_MAX_US: u64 = 60_000_000;

#[path = "bench_remote.rs"]
mod remote;

#[derive(Debug, Args)]
#[command(after_help = "The topic is created for the run and deleted afterwards unless --keep.
Ctrl-C ends the run early: the figures of what was appended (and read back)
until then are printed, marked interrupted, and the exit code is 130.
Latency is per appended batch, from the call to its acknowledgement under
the durability mode (so `always` includes the fdatasync, shared by
concurrent producers through group commit).

With --server the load goes through the TCP protocol: one connection per
producer, or the producers spread over --connections connections (their
requests then pipelined on each). One or two producers without
--connections (and without TLS) are each a thread on the blocking client;
otherwise the producers are tasks of the async client on two threads.

Examples:
  millrace bench --data /tmp/bench-data
  millrace --server 127.0.0.1:7878 bench --producers 4 --duration 10s
  millrace --server 127.0.0.1:7878 bench --producers 16 --connections 1 --batch-records 1
  millrace bench --producers 16 --durability always --duration 10s
  millrace bench --record-bytes 1024 --batch-records 1000 --count 1000000 --durability os --read
  millrace bench --json")]
pub struct BenchArgs {
    /// Topic to create for the run.
    #[arg(long, default_value = "millrace-bench")]
    pub(crate) topic: String,
    /// Concurrent producer threads.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub(crate) producers: u32,
    /// With --server: connections the producers share, round robin
    /// (default: one per producer).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub(crate) connections: Option<u32>,
    /// Partitions of the topic (default: one per producer).
    #[arg(long)]
    pub(crate) partitions: Option<u32>,
    /// Value size of each record.
    #[arg(long, value_parser = parse::bytes, default_value = "100", value_name = "SIZE")]
    pub(crate) record_bytes: u64,
    /// Records per appended batch.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub(crate) batch_records: u32,
    /// How long to append (ignored with --count).
    #[arg(long, value_parser = parse::duration, default_value = "5s", value_name = "DURATION")]
    pub(crate) duration: Duration,
    /// Append this many records in total instead of running for --duration.
    #[arg(long, value_name = "N")]
    pub(crate) count: Option<u64>,
    /// always | os | interval:<ms>
    #[arg(long, value_parser = parse::durability, default_value = "always")]
    pub(crate) durability: Durability,
    /// Read every record back afterwards and report read throughput.
    #[arg(long)]
    pub(crate) read: bool,
    /// Keep the topic after the run.
    #[arg(long)]
    pub(crate) keep: bool,
}

pub(crate) struct ProducerResult {
    pub(crate) records: u64,
    pub(crate) batches: u64,
    pub(crate) histogram: Histogram<u64>,
}

/// How many records the next batch holds: with `--count` (`count`), claimed
/// up front from the producers' shared tally so that the total is exact
/// (`None` once it is reached); without, a whole batch.
pub(crate) fn claim(count: Option<u64>, claimed: &AtomicU64, batch_records: u64) -> Option<u64> {
    match count {
        Some(total) => {
            let from = claimed.fetch_add(batch_records, Ordering::Relaxed);
            (from < total).then(|| batch_records.min(total - from))
        }
        None => Some(batch_records),
    }
}

/// What one run measured, on either backend.
pub(crate) struct Measured {
    pub(crate) partitions: u32,
    pub(crate) records: u64,
    pub(crate) batches: u64,
    /// Seconds of appending.
    pub(crate) elapsed: f64,
    pub(crate) histogram: Histogram<u64>,
    /// Records read back and the seconds it took (`--read`).
    pub(crate) read: Option<(u64, f64)>,
    /// Ctrl-C ended the run (or its read-back) early.
    pub(crate) interrupted: bool,
}

pub(crate) fn new_histogram() -> CliResult<Histogram<u64>> {
    Histogram::new_with_bounds(1, LATENCY_MAX_US, 3).map_err(|e| CliError::new(format!("histogram: {e}")))
}

#[expect(
    clippy::too_many_lines,
    reason = "debt: the load generator, set-up to report; to split"
)]
pub fn run(global: &GlobalArgs, args: BenchArgs) -> CliResult<()> {
    if global.server.is_some() {
        return remote::run(global, args);
    }
    if args.connections.is_some() {
        return Err(CliError::usage(
            "--connections needs --server (the embedded bench has no connections)",
        ));
    }
    let partitions = args.partitions.unwrap_or(args.producers);
    let record_bytes =
        usize::try_from(args.record_bytes).map_err(|_| CliError::usage("--record-bytes is too large"))?;
    let store = data::open_or_create(global, true)?;
    if store.list_all_topics().contains(&args.topic) {
        return Err(CliError::new(format!("topic {:?} already exists", args.topic))
            .with_hint("pass another --topic, or delete it with `millrace topic delete`"));
    }
    let config = TopicConfig {
        partitions,
        durability: Some(args.durability),
        segment_bytes: 256 * 1024 * 1024,
        record_bytes_max: u32::try_from(record_bytes + 1024).unwrap_or(u32::MAX),
        ..TopicConfig::default()
    };
    store
        .create_topic(&args.topic, config)
        .map_err(|e| CliError::from(e).with_hint("check --partitions, --record-bytes and --durability"))?;

    // From here Ctrl-C ends the run with a report (the topic is deleted as
    // after a whole run).
    interrupt::watch();
    let stop = Arc::new(AtomicBool::new(false));
    let appended = Arc::new(AtomicU64::new(0));
    let claimed = Arc::new(AtomicU64::new(0));
    let batch_records = u64::from(args.batch_records);
    let started = Instant::now();
    let mut handles = Vec::new();
    for producer in 0..args.producers {
        let store = store.clone();
        let topic = args.topic.clone();
        let stop = stop.clone();
        let appended = appended.clone();
        let claimed = claimed.clone();
        let count = args.count;
        let partition = producer % partitions;
        handles.push(std::thread::spawn(move || -> CliResult<ProducerResult> {
            let mut histogram = new_histogram()?;
            let value = vec![b'x'; record_bytes];
            let mut result_records = 0u64;
            let mut batches = 0u64;
            while !stop.load(Ordering::Relaxed) && !interrupt::requested() {
                let Some(n) = claim(count, &claimed, batch_records) else {
                    break;
                };
                let records: Vec<Record> = (0..n).map(|_| Record::new(value.clone())).collect();
                let t = Instant::now();
                store.append(&topic, partition, &records)?;
                let us = (t.elapsed().as_micros() as u64).clamp(1, LATENCY_MAX_US);
                let _ = histogram.record(us);
                result_records += n;
                batches += 1;
                appended.fetch_add(n, Ordering::Relaxed);
            }
            Ok(ProducerResult {
                records: result_records,
                batches,
                histogram,
            })
        }));
    }
    let bar = match args.count {
        Some(total) => ProgressBar::new(total),
        None => ProgressBar::new(args.duration.as_millis() as u64),
    };
    if let Ok(style) = ProgressStyle::with_template("appending [{wide_bar}] {msg}") {
        bar.set_style(style.progress_chars("=> "));
    }
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let done = appended.load(Ordering::Relaxed);
        let elapsed = started.elapsed();
        bar.set_message(format!("{done} records"));
        if interrupt::requested() {
            break;
        }
        match args.count {
            Some(total) => {
                bar.set_position(done);
                if done >= total || handles.iter().all(|h| h.is_finished()) {
                    break;
                }
            }
            None => {
                bar.set_position(elapsed.as_millis() as u64);
                if elapsed >= args.duration || handles.iter().all(|h| h.is_finished()) {
                    break;
                }
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let mut histogram = new_histogram()?;
    let mut records = 0u64;
    let mut batches = 0u64;
    let mut first_error = None;
    for handle in handles {
        match handle.join() {
            Ok(Ok(r)) => {
                records += r.records;
                batches += r.batches;
                let _ = histogram.add(&r.histogram);
            }
            Ok(Err(e)) => {
                first_error.get_or_insert(e);
            }
            Err(_) => {
                first_error.get_or_insert(CliError::new("a producer thread panicked"));
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64().max(1e-9);
    bar.finish_and_clear();
    if let Some(e) = first_error {
        let _ = store.delete_topic(&args.topic);
        return Err(e);
    }

    let mut read = None;
    if args.read && !interrupt::requested() {
        // Under `interval:MS` the last records become visible with the next
        // fsync; make them visible before the read is timed.
        store.flush()?;
        let t = Instant::now();
        let mut read_records = 0u64;
        for p in 0..partitions {
            let (mut offset, end) = store.offsets(&args.topic, p)?;
            while offset < end && !interrupt::requested() {
                let r = store.read(&args.topic, p, offset, ReadOptions::default())?;
                read_records += r.records.len() as u64;
                if r.next_offset <= offset {
                    break;
                }
                offset = r.next_offset;
            }
        }
        read = Some((read_records, t.elapsed().as_secs_f64().max(1e-9)));
    }
    if !args.keep {
        store.delete_topic(&args.topic)?;
    }
    store.close()?;

    let measured = Measured {
        partitions,
        records,
        batches,
        elapsed,
        histogram,
        read,
        interrupted: interrupt::requested(),
    };
    report(global, &args, &measured)
}

/// Print the results (both backends); after Ctrl-C, the error that exits 130
/// once they are printed.
pub(crate) fn report(global: &GlobalArgs, args: &BenchArgs, measured: &Measured) -> CliResult<()> {
    print_report(global, args, measured)?;
    if !measured.interrupted {
        return Ok(());
    }
    let planned = match args.count {
        Some(count) => format!("{count} records"),
        None => output::duration_ms(Some(u64::try_from(args.duration.as_millis()).unwrap_or(u64::MAX))),
    };
    Err(CliError {
        message: format!(
            "interrupted after {:.2} s of the {planned} asked for: the figures above cover the {} records \
             appended until then",
            measured.elapsed, measured.records
        ),
        hint: Some("run it again for a whole run (a shorter --duration or a --count bounds it)".to_string()),
        code: exit::INTERRUPTED,
    })
}

fn print_report(global: &GlobalArgs, args: &BenchArgs, measured: &Measured) -> CliResult<()> {
    let Measured {
        partitions,
        records,
        batches,
        elapsed,
        ref histogram,
        read,
        interrupted,
    } = *measured;
    let bytes = records * args.record_bytes;
    let q = |quantile: f64| histogram.value_at_quantile(quantile);
    if global.json {
        output::print_json(&json!({
            "producers": args.producers,
            "partitions": partitions,
            "record_bytes": args.record_bytes,
            "batch_records": args.batch_records,
            "durability": args.durability.to_string(),
            "records": records,
            "batches": batches,
            "seconds": elapsed,
            "records_per_second": records as f64 / elapsed,
            "bytes_per_second": bytes as f64 / elapsed,
            "append_latency_us": {
                "p50": q(0.5), "p90": q(0.9), "p99": q(0.99), "p999": q(0.999), "max": histogram.max(),
                "mean": histogram.mean(),
            },
            "read": read.map(|(n, s)| json!({"records": n, "seconds": s, "records_per_second": n as f64 / s})),
            "interrupted": interrupted,
        }))?;
        return Ok(());
    }
    println!(
        "bench{}{}: {} producer{}, {} partition{}, {} B records, {} per batch, durability {}",
        if interrupted { " (interrupted)" } else { "" },
        global
            .server
            .as_deref()
            .map_or(String::new(), |s| format!(" against {s}")),
        args.producers,
        if args.producers == 1 { "" } else { "s" },
        partitions,
        if partitions == 1 { "" } else { "s" },
        args.record_bytes,
        args.batch_records,
        args.durability
    );
    println!(
        "appended {records} records ({}) in {elapsed:.2} s: {}, {}/s, {}",
        output::bytes(bytes),
        output::rate(records, elapsed),
        output::bytes((bytes as f64 / elapsed) as u64),
        output::rate_of(batches, elapsed, "batches")
    );
    println!(
        "append latency per batch: p50 {} µs, p90 {} µs, p99 {} µs, p99.9 {} µs, max {} µs",
        q(0.5),
        q(0.9),
        q(0.99),
        q(0.999),
        histogram.max()
    );
    if let Some((n, s)) = read {
        println!(
            "read back {n} records in {s:.2} s: {}, {}/s",
            output::rate(n, s),
            output::bytes((n as f64 * args.record_bytes as f64 / s) as u64)
        );
    }
    Ok(())
}
