//! `millrace stats`: store-wide and per-topic numbers.

use crate::cli::GlobalArgs;
use crate::data;
use crate::error::CliResult;
use crate::output::{self, Table};
use clap::Args;
use serde_json::json;
use std::collections::BTreeMap;

#[derive(Debug, Args)]
#[command(
    after_help = "With --watch the numbers are taken again every SECS seconds until Ctrl-C
(or --count snapshots): on a terminal the screen is redrawn; otherwise (a
pipe, a file) each snapshot is printed after the previous one, under a line
`--- snapshot N at TIME` (with --json: one JSON document per snapshot).
Each topic then also shows what was appended since the previous snapshot
(APPENDED: records, from the end offsets, so retention does not count)
and its rate (RATE, records/s over the time between the two); `-` in the
first snapshot and for a topic new since the previous one. With --json:
`appended` and `records_per_second` per topic (null there).

Examples:
  millrace stats
  millrace stats --data /var/lib/millrace --json
  millrace --server 127.0.0.1:7878 stats --watch 2"
)]
pub struct StatsArgs {
    /// Refresh every SECS seconds until Ctrl-C (a live view).
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=86_400))]
    watch: Option<u64>,
    /// With --watch: stop after N snapshots.
    #[arg(long, value_name = "N", requires = "watch", value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,
}

/// What one snapshot saw, for the next one's rates: when, and each
/// topic's end offsets summed over its partitions.
struct Taken {
    at: std::time::Instant,
    ends: BTreeMap<String, u64>,
}

/// With `--watch`: the snapshot before this one, if any.
struct Watch<'a> {
    previous: Option<&'a Taken>,
}

impl Watch<'_> {
    /// Records appended to `topic` (end offsets `end` now) since the
    /// previous snapshot, and their rate; `None` in the first snapshot or
    /// for a topic it did not have. A topic deleted and re-created since
    /// counts from 0.
    fn since(&self, topic: &str, end: u64, now: std::time::Instant) -> Option<(u64, f64)> {
        let previous = self.previous?;
        let before = *previous.ends.get(topic)?;
        let appended = if end >= before { end - before } else { end };
        let seconds = now.duration_since(previous.at).as_secs_f64();
        Some((appended, if seconds > 0.0 { appended as f64 / seconds } else { 0.0 }))
    }

    fn json(&self, topic: &str, end: u64, now: std::time::Instant) -> (serde_json::Value, serde_json::Value) {
        match self.since(topic, end, now) {
            Some((appended, rate)) => (json!(appended), json!(rate)),
            None => (serde_json::Value::Null, serde_json::Value::Null),
        }
    }

    /// The APPENDED and RATE cells.
    fn cells(&self, topic: &str, end: u64, now: std::time::Instant) -> [String; 2] {
        let seconds = self
            .previous
            .map_or(0.0, |previous| now.duration_since(previous.at).as_secs_f64());
        match self.since(topic, end, now) {
            Some((appended, _)) => [appended.to_string(), output::rate(appended, seconds)],
            None => ["-".to_string(), "-".to_string()],
        }
    }
}

pub fn run(global: &GlobalArgs, args: StatsArgs) -> CliResult<()> {
    let Some(secs) = args.watch else {
        return snapshot(global, None).map(|_| ());
    };
    let mut previous: Option<Taken> = None;
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let mut taken = 0u64;
    loop {
        taken += 1;
        if terminal {
            // Clear the screen and home the cursor: the view redrawn in place.
            print!("\x1b[2J\x1b[H");
        }
        if !global.json {
            println!(
                "--- snapshot {taken} at {} (every {secs}s; Ctrl-C stops)",
                output::time(chrono::Utc::now().timestamp_millis())
            );
        }
        let watch = Watch {
            previous: previous.as_ref(),
        };
        previous = Some(snapshot(global, Some(&watch))?);
        std::io::Write::flush(&mut std::io::stdout())?;
        if args.count.is_some_and(|count| taken >= count) {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_secs(secs));
    }
}

/// One view of the numbers, offline or through the server; with `watch`,
/// each topic's appends since the previous one.
fn snapshot(global: &GlobalArgs, watch: Option<&Watch<'_>>) -> CliResult<Taken> {
    if global.server.is_some() {
        return run_remote(global, watch);
    }
    let store = data::open_read_only(global)?;
    let now = std::time::Instant::now();
    let mut descriptions = Vec::new();
    for name in store.list_all_topics() {
        descriptions.push(store.describe_topic(&name)?);
    }
    let metrics = store.metrics();
    let earlier_poison = store.earlier_poison();
    store.close()?;
    let mut total_records = 0u64;
    let mut total_segments = 0usize;
    let mut total_partitions = 0usize;
    let mut rows: Vec<TopicRow> = Vec::new();
    for d in &descriptions {
        let records: u64 = d
            .partitions
            .iter()
            .map(|p| p.high_watermark.saturating_sub(p.log_start_offset))
            .sum();
        let segments: usize = d.partitions.iter().map(|p| p.segments).sum();
        let bytes: u64 = d.partitions.iter().map(|p| p.bytes).sum();
        total_records += records;
        total_segments += segments;
        total_partitions += d.partitions.len();
        let end: u64 = d.partitions.iter().map(|p| p.high_watermark).sum();
        rows.push((d.name.clone(), d.partitions.len(), records, segments, bytes, end));
    }
    let taken = Taken {
        at: now,
        ends: rows.iter().map(|row| (row.0.clone(), row.5)).collect(),
    };
    if global.json {
        let topics: Vec<serde_json::Value> = rows
            .iter()
            .map(|(name, partitions, records, segments, bytes, end)| {
                let mut topic = json!({"topic": name, "partitions": partitions, "records": records, "segments": segments, "bytes": bytes});
                add_rate_json(&mut topic, watch, name, *end, now);
                topic
            })
            .collect();
        output::print_json(&json!({
            "data_dir": global.data().display().to_string(),
            "topics": descriptions.len(),
            "partitions": total_partitions,
            "segments": total_segments,
            "records": total_records,
            "used_bytes": metrics.used_bytes,
            "quota_bytes": metrics.quota_bytes,
            "torn_tails_truncated_on_open": metrics.torn_tails_truncated,
            "offset_holes_on_open": metrics.offset_holes,
            "transaction_parts_unapplied_on_open": metrics.transaction_parts_unapplied,
            "poisoned": metrics.poisoned.as_ref().map(|cause| Poison::from_cause(cause).json()),
            "poisoned_earlier": earlier_poison.as_ref().map(|cause| Poison::from_cause(cause).json()),
            "per_topic": topics,
        }))?;
        return Ok(taken);
    }
    if let Some(cause) = &metrics.poisoned {
        Poison::from_cause(cause).print();
    }
    if let Some(cause) = &earlier_poison {
        Poison::from_cause(cause).print_earlier();
    }
    println!("data directory:  {}", global.data().display());
    println!("topics:          {}", descriptions.len());
    println!("partitions:      {total_partitions}");
    println!("segments:        {total_segments}");
    println!("records:         {total_records}");
    println!("used:            {}", output::bytes(metrics.used_bytes));
    println!(
        "quota:           {}",
        metrics.quota_bytes.map_or("none".to_string(), output::bytes)
    );
    if metrics.torn_tails_truncated > 0 {
        println!("torn tails truncated on open: {}", metrics.torn_tails_truncated);
    }
    if metrics.offset_holes > 0 {
        println!("partitions continued past a hole on open: {}", metrics.offset_holes);
    }
    if metrics.transaction_parts_unapplied > 0 {
        println!(
            "transaction parts not applied on open: {} (see `millrace check`)",
            metrics.transaction_parts_unapplied
        );
    }
    print_topics(rows, watch, now)?;
    Ok(taken)
}

/// One offline topic's row: name, partitions, records, segments, bytes, and
/// its end offsets summed.
type TopicRow = (String, usize, u64, usize, u64, u64);

/// The offline per-topic table (none without topics).
fn print_topics(rows: Vec<TopicRow>, watch: Option<&Watch<'_>>, now: std::time::Instant) -> CliResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    println!();
    let mut table = Table::new(&with_rate_headers(
        &["TOPIC", "PARTITIONS", "RECORDS", "SEGMENTS", "SIZE"],
        watch,
    ));
    for (name, partitions, records, segments, bytes, end) in rows {
        let mut row = vec![
            name.clone(),
            partitions.to_string(),
            records.to_string(),
            segments.to_string(),
            output::bytes(bytes),
        ];
        if let Some(watch) = watch {
            row.extend(watch.cells(&name, end, now));
        }
        table.row(row);
    }
    Ok(table.print()?)
}

/// A table's headers, with APPENDED and RATE when watching.
fn with_rate_headers(headers: &[&'static str], watch: Option<&Watch<'_>>) -> Vec<&'static str> {
    let mut headers = headers.to_vec();
    if watch.is_some() {
        headers.extend(["APPENDED", "RATE"]);
    }
    headers
}

/// `appended` and `records_per_second` into a topic's JSON, when watching.
fn add_rate_json(
    topic: &mut serde_json::Value,
    watch: Option<&Watch<'_>>,
    name: &str,
    end: u64,
    now: std::time::Instant,
) {
    let (Some(watch), Some(object)) = (watch, topic.as_object_mut()) else {
        return;
    };
    let (appended, rate) = watch.json(name, end, now);
    object.insert("appended".to_string(), appended);
    object.insert("records_per_second".to_string(), rate);
}

/// Online: the server's counters and each topic's numbers.
fn run_remote(global: &GlobalArgs, watch: Option<&Watch<'_>>) -> CliResult<Taken> {
    let target = crate::target::Target::open(global)?;
    let now = std::time::Instant::now();
    let stats = target.server_stats()?.unwrap_or_default();
    let mut topics = Vec::new();
    for name in target.list_topics()? {
        topics.push(target.describe(&name)?);
    }
    target.close()?;
    let end = |t: &crate::target::TopicInfo| t.partitions.iter().map(|p| p.end_offset).sum::<u64>();
    let taken = Taken {
        at: now,
        ends: topics.iter().map(|t| (t.name.clone(), end(t))).collect(),
    };
    let poison = Poison::from_stats(&stats);
    if global.json {
        let counters: serde_json::Map<String, serde_json::Value> =
            stats.iter().map(|(n, v)| (n.clone(), json!(v))).collect();
        let per_topic: Vec<serde_json::Value> = topics
            .iter()
            .map(|t| {
                let mut topic = json!({"topic": t.name, "partitions": t.partitions.len(), "records": t.records(), "bytes": t.partitions.iter().map(|p| p.bytes).sum::<u64>()});
                add_rate_json(&mut topic, watch, &t.name, end(t), now);
                topic
            })
            .collect();
        output::print_json(
            &json!({"server": global.server, "poisoned": poison.as_ref().map(Poison::json), "stats": counters, "per_topic": per_topic}),
        )?;
        return Ok(taken);
    }
    if let Some(poison) = &poison {
        poison.print();
    }
    println!("server:          {}", global.server.as_deref().unwrap_or("-"));
    let mut table = Table::new(&["STAT", "VALUE"]);
    for (name, value) in stats {
        table.row(vec![name, value.to_string()]);
    }
    table.print()?;
    if !topics.is_empty() {
        println!();
        let mut table = Table::new(&with_rate_headers(&["TOPIC", "PARTITIONS", "RECORDS", "SIZE"], watch));
        for t in &topics {
            let mut row = vec![
                t.name.clone(),
                t.partitions.len().to_string(),
                t.records().to_string(),
                output::bytes(t.partitions.iter().map(|p| p.bytes).sum()),
            ];
            if let Some(watch) = watch {
                row.extend(watch.cells(&t.name, end(t), now));
            }
            table.row(row);
        }
        table.print()?;
    }
    Ok(taken)
}

/// Why the store is poisoned, from the engine (offline) or from the
/// server's `millrace_store_poison_info` stat (its labels).
struct Poison {
    op: String,
    path: String,
    kind: String,
    error: String,
    advice: String,
    at_unix_ms: Option<u64>,
}

impl Poison {
    fn from_cause(cause: &millrace::PoisonCause) -> Self {
        Poison {
            op: cause.op.clone(),
            path: cause.path.display().to_string(),
            kind: format!("{:?}", cause.kind),
            error: cause.error.clone(),
            advice: cause.advice().to_string(),
            at_unix_ms: Some(cause.at_unix_ms),
        }
    }

    /// `None` unless the server says it is poisoned; what it says of the cause.
    fn from_stats(stats: &[(String, u64)]) -> Option<Self> {
        let value = |name: &str| stats.iter().find(|(n, _)| n == name).map(|(_, v)| *v);
        if value("millrace_store_poisoned") != Some(1) {
            return None;
        }
        let labels = stats
            .iter()
            .find_map(|(name, _)| millrace_server::metrics::stat_labels(name, millrace_server::metrics::POISON_INFO))
            .unwrap_or_default();
        let label = |key: &str| {
            labels
                .iter()
                .find(|(k, _)| k == key)
                .map_or_else(|| "unknown".to_string(), |(_, v)| v.clone())
        };
        Some(Poison {
            op: label("op"),
            path: label("path"),
            kind: label("kind"),
            error: label("error"),
            advice: label("advice"),
            at_unix_ms: value("millrace_store_poisoned_timestamp_ms"),
        })
    }

    fn json(&self) -> serde_json::Value {
        json!({
            "op": self.op,
            "path": self.path,
            "kind": self.kind,
            "error": self.error,
            "advice": self.advice,
            "at_unix_ms": self.at_unix_ms,
        })
    }

    fn when(&self) -> String {
        self.at_unix_ms
            .and_then(|ms| chrono::DateTime::from_timestamp_millis(i64::try_from(ms).ok()?))
            .map_or_else(|| "unknown".to_string(), |t| t.to_rfc3339())
    }

    /// A poisoning an earlier run recorded (the store was reopened since).
    fn print_earlier(&self) {
        println!("POISONED IN AN EARLIER RUN: (shown until the next writable open)");
        println!(
            "  cause:         {} failed on {}: {} ({})",
            self.op, self.path, self.error, self.kind
        );
        println!("  at:            {}", self.when());
        println!("  what to do:    run `millrace check`; reopening keeps every acknowledged record");
        println!();
    }

    fn print(&self) {
        let when = self.when();
        println!("STORE POISONED:  every write fails until the store is reopened");
        println!(
            "  cause:         {} failed on {}: {} ({})",
            self.op, self.path, self.error, self.kind
        );
        println!("  since:         {when}");
        println!("  what to do:    {}", self.advice);
        println!();
    }
}
