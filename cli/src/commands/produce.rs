//! `millrace produce`: append records read from stdin or a file.

use crate::cli::GlobalArgs;
use crate::error::{CliError, CliResult};
use crate::output;
use crate::parse;
use crate::target::Target;
use clap::{Args, ValueEnum};
use millrace::batch::HEADER_SIZE;
use millrace::Record;
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader};
use std::path::PathBuf;

/// Append a batch once it holds this many bytes, whatever `--batch-records` says.
const BATCH_BYTES_TARGET: usize = 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum InputFormat {
    /// Each line is one record's value.
    Lines,
    /// Each line is a JSON object: {"value": .., "key": .., "headers": {..}, "timestamp": .., "partition": ..}.
    Json,
}

#[derive(Debug, Args)]
#[command(after_help = "Input formats:
  lines  each line is a value (empty lines are skipped); --key-separator splits
         `key<SEP>value` lines
  json   JSON Lines, one object per line:
           {\"value\": \"text or any JSON\", \"key\": \"k\", \"headers\": {\"h\": \"v\"},
            \"timestamp\": \"2026-11-25T18:00:00Z\" or ms, \"partition\": 0}
         only \"value\" is required; a non-string value is stored as its JSON text,
         except null: a null value (a tombstone); a header may be null too

Partitioning: --partition, else the record's \"partition\", else a hash of the
key, else round robin per batch.

Examples:
  echo hello | millrace produce greetings
  printf 'user1:login\\nuser2:logout\\n' | millrace produce events --key-separator :
  millrace produce orders --format json --file orders.jsonl --header source=import
  millrace produce orders --partition 2 --key k1 --timestamp 2026-11-25T18:00:00Z < values.txt")]
pub struct ProduceArgs {
    /// Topic to append to (create it first with `millrace topic create`).
    topic: String,
    /// Read from this file instead of stdin.
    #[arg(long, short = 'f', value_name = "PATH")]
    file: Option<PathBuf>,
    /// How to read the input.
    #[arg(long, value_enum, default_value_t = InputFormat::Lines)]
    format: InputFormat,
    /// Append every record to this partition.
    #[arg(long, short = 'p')]
    partition: Option<u32>,
    /// Key for every record (lines format).
    #[arg(long, short = 'k')]
    key: Option<String>,
    /// Split each line at the first SEP into key and value (lines format).
    #[arg(long, value_name = "SEP", conflicts_with = "key")]
    key_separator: Option<String>,
    /// Header added to every record, `name=value`; repeat for more.
    #[arg(long = "header", short = 'H', value_parser = parse::header, value_name = "NAME=VALUE")]
    headers: Vec<(String, Vec<u8>)>,
    /// Timestamp of every record: RFC 3339 or ms since the epoch (default: append time).
    #[arg(long, value_parser = parse::time_ms, value_name = "TIME")]
    timestamp: Option<i64>,
    /// Records per appended batch.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    batch_records: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonRecord {
    value: serde_json::Value,
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, Option<String>>,
    #[serde(default)]
    timestamp: Option<serde_json::Value>,
    #[serde(default)]
    partition: Option<u32>,
}

/// Where records went, per partition.
#[derive(Debug, Default, Clone, Copy)]
struct Landed {
    records: u64,
    first_offset: Option<u64>,
    next_offset: u64,
}

/// Records of one partition not appended yet.
#[derive(Debug, Default)]
struct Pending {
    records: Vec<Record>,
    /// Encoded bytes of `records` (without the batch header).
    bytes: usize,
    /// Input line of the first record.
    first_line: u64,
}

/// Groups records into batches per partition, each within the topic's batch
/// limit, and remembers where the appended ones landed. Input is appended in
/// order: when something fails, the error names the first input line not
/// appended and every offset range already appended (`stopped_at`).
struct Batcher<'a> {
    target: &'a Target,
    topic: &'a str,
    batch_records: usize,
    /// The topic's largest batch, header included.
    batch_bytes_max: usize,
    pending: BTreeMap<u32, Pending>,
    landed: BTreeMap<u32, Landed>,
}

impl Batcher<'_> {
    fn push(&mut self, partition: u32, record: Record, line: u64) -> CliResult<()> {
        let len = record.encoded_len();
        let full = self
            .pending
            .get(&partition)
            .is_some_and(|p| !p.records.is_empty() && HEADER_SIZE + p.bytes + len > self.batch_bytes_max);
        if full {
            self.flush_partition(partition)?;
        }
        let pending = self.pending.entry(partition).or_default();
        if pending.records.is_empty() {
            pending.first_line = line;
        }
        pending.bytes += len;
        pending.records.push(record);
        if pending.records.len() >= self.batch_records || pending.bytes >= BATCH_BYTES_TARGET {
            self.flush_partition(partition)?;
        }
        Ok(())
    }

    fn flush_partition(&mut self, partition: u32) -> CliResult<()> {
        let Some(pending) = self.pending.remove(&partition) else {
            return Ok(());
        };
        if pending.records.is_empty() {
            return Ok(());
        }
        let count = pending.records.len() as u64;
        let (base_offset, next_offset) = match self.target.append(self.topic, partition, pending.records) {
            Ok(offsets) => offsets,
            Err(e) => {
                let first = self
                    .pending
                    .values()
                    .filter(|p| !p.records.is_empty())
                    .map(|p| p.first_line)
                    .fold(pending.first_line, u64::min);
                return Err(self.stopped_at(e, first));
            }
        };
        let landed = self.landed.entry(partition).or_default();
        landed.records += count;
        landed.first_offset.get_or_insert(base_offset);
        landed.next_offset = next_offset;
        Ok(())
    }

    fn flush_all(&mut self) -> CliResult<()> {
        let partitions: Vec<u32> = self.pending.keys().copied().collect();
        for p in partitions {
            self.flush_partition(p)?;
        }
        Ok(())
    }

    /// `e` with what was and was not appended: nothing from input `line`
    /// on (except records already in the ranges listed, when the topic has
    /// several partitions), and every range appended before it.
    fn stopped_at(&self, mut e: CliError, line: u64) -> CliError {
        let ranges: Vec<String> = self
            .landed
            .iter()
            .map(|(p, l)| {
                format!(
                    "partition {p} offsets {}..{}",
                    l.first_offset.unwrap_or(l.next_offset),
                    l.next_offset
                )
            })
            .collect();
        let appended = if ranges.is_empty() {
            "nothing of this input was appended".to_string()
        } else {
            format!("appended before it: {}", ranges.join(", "))
        };
        e.message = format!(
            "{}\ninput line {line} and the lines after it were not appended{}; {appended}",
            e.message,
            if self.landed.len() > 1 {
                " (unless in the ranges below)"
            } else {
                ""
            }
        );
        if e.hint.is_none() {
            e.hint = Some(format!(
                "fix the cause and append the rest from line {line} (e.g. `tail -n +{line} FILE | millrace produce {}`)",
                self.topic
            ));
        }
        e
    }
}

/// FNV-1a: a stable key hash, so a key always lands on the same partition.
fn key_hash(key: &[u8]) -> u64 {
    key.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn json_record(line: &str, line_number: u64, headers: &[(String, Vec<u8>)]) -> CliResult<(Record, Option<u32>)> {
    let bad = |e: String| {
        CliError::new(format!("input line {line_number}: {e}"))
            .with_hint("each line must be a JSON object like {\"value\": \"...\", \"key\": \"...\"}; see `millrace produce --help`")
    };
    let parsed: JsonRecord = serde_json::from_str(line).map_err(|e| bad(e.to_string()))?;
    let mut record = match parsed.value {
        serde_json::Value::Null => Record::tombstone(),
        serde_json::Value::String(s) => Record::new(s),
        other => Record::new(other.to_string()),
    };
    record.key = parsed.key.map(String::into_bytes);
    record.headers = headers.to_vec();
    for (name, value) in parsed.headers {
        record = match value {
            Some(value) => record.with_header(name, value),
            None => record.with_null_header(name),
        };
    }
    record.timestamp_ms = match parsed.timestamp {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::Number(n)) => Some(
            n.as_i64()
                .ok_or_else(|| bad(format!("timestamp {n} is not an integer of ms")))?,
        ),
        Some(serde_json::Value::String(s)) => Some(parse::time_ms(&s).map_err(bad)?),
        Some(other) => return Err(bad(format!("timestamp {other} is neither RFC 3339 text nor ms"))),
    };
    Ok((record, parsed.partition))
}

/// One input line as (partition, record), `None` for an empty line, or why
/// it cannot be appended (checked against the topic's limits here, so that a
/// bad line is found before its batch is sent).
fn parse_line(
    args: &ProduceArgs,
    line: io::Result<String>,
    line_number: u64,
    partitions: u32,
    round_robin: u32,
    config: &millrace::TopicConfig,
) -> CliResult<Option<(u32, Record)>> {
    let line = line.map_err(|e| CliError::new(format!("reading input line {line_number}: {e}")))?;
    let line = line.strip_suffix('\r').unwrap_or(&line);
    if line.is_empty() {
        return Ok(None);
    }
    let (mut record, wanted) = match args.format {
        InputFormat::Json => json_record(line, line_number, &args.headers)?,
        InputFormat::Lines => {
            let (key, value) = match &args.key_separator {
                Some(sep) => match line.split_once(sep.as_str()) {
                    Some((k, v)) => (Some(k.as_bytes().to_vec()), v),
                    None => (None, line),
                },
                None => (args.key.as_ref().map(|k| k.as_bytes().to_vec()), line),
            };
            let mut record = Record::new(value.as_bytes().to_vec());
            record.key = key;
            record.headers = args.headers.clone();
            (record, None)
        }
    };
    if record.timestamp_ms.is_none() {
        record.timestamp_ms = args.timestamp;
    }
    if args.format == InputFormat::Json && record.key.is_none() {
        record.key = args.key.as_ref().map(|k| k.as_bytes().to_vec());
    }
    let partition = match (args.partition, wanted, &record.key) {
        (Some(p), _, _) => p,
        (None, Some(p), _) if p < partitions => p,
        (None, Some(p), _) => {
            return Err(CliError::new(format!(
                "input line {line_number}: partition {p} does not exist in topic {:?} (it has {partitions})",
                args.topic
            )))
        }
        (None, None, Some(key)) => (key_hash(key) % u64::from(partitions)) as u32,
        (None, None, None) => round_robin,
    };
    millrace::batch::validate_topic_record(&record, config.record_bytes_max as usize, &args.topic)
        .map_err(|detail| CliError::new(format!("input line {line_number}: {detail}")))?;
    let alone = (HEADER_SIZE + record.encoded_len()) as u64;
    if alone > config.batch_bytes_max() {
        return Err(CliError::new(format!(
            "input line {line_number}: record of {alone} bytes with its batch header; at most {} per batch in topic {:?} (its segment size)",
            config.batch_bytes_max(),
            args.topic
        )));
    }
    Ok(Some((partition, record)))
}

pub fn run(global: &GlobalArgs, args: ProduceArgs) -> CliResult<()> {
    let input: Box<dyn BufRead> = match &args.file {
        Some(path) => {
            Box::new(BufReader::new(std::fs::File::open(path).map_err(|e| {
                CliError::new(format!("cannot open input file {}: {e}", path.display()))
            })?))
        }
        None => {
            if io::IsTerminal::is_terminal(&io::stdin()) {
                eprintln!("reading records from the terminal, one per line; end with Ctrl-D");
            }
            Box::new(BufReader::new(io::stdin()))
        }
    };
    let target = Target::open(global)?;
    let config = target.describe(&args.topic)?.config;
    let partitions = config.partitions;
    if let Some(p) = args.partition {
        if p >= partitions {
            return Err(CliError::new(format!(
                "partition {p} does not exist in topic {:?} (it has {partitions})",
                args.topic
            )));
        }
    }
    let mut batcher = Batcher {
        target: &target,
        topic: &args.topic,
        batch_records: args.batch_records as usize,
        batch_bytes_max: usize::try_from(config.batch_bytes_max()).unwrap_or(usize::MAX),
        pending: BTreeMap::new(),
        landed: BTreeMap::new(),
    };
    let mut round_robin: u32 = 0;
    let mut count: u64 = 0;
    for (i, line) in input.lines().enumerate() {
        let line_number = i as u64 + 1;
        let parsed = parse_line(&args, line, line_number, partitions, round_robin, &config);
        let (partition, record) = match parsed {
            Ok(Some(parsed)) => parsed,
            Ok(None) => continue,
            Err(e) => {
                // Append every line before this one, so that what is
                // appended is exactly a prefix of the input.
                batcher.flush_all()?;
                return Err(batcher.stopped_at(e, line_number));
            }
        };
        batcher.push(partition, record, line_number)?;
        count += 1;
        if count.is_multiple_of(u64::from(args.batch_records)) {
            round_robin = (round_robin + 1) % partitions;
        }
    }
    batcher.flush_all()?;
    let landed = std::mem::take(&mut batcher.landed);
    target.close()?;
    if global.json {
        let per_partition: Vec<serde_json::Value> = landed
            .iter()
            .map(|(p, l)| json!({"partition": p, "records": l.records, "first_offset": l.first_offset, "next_offset": l.next_offset}))
            .collect();
        output::print_json(&json!({"topic": args.topic, "records": count, "partitions": per_partition}))?;
    } else {
        let detail: Vec<String> = landed
            .iter()
            .map(|(p, l)| {
                format!(
                    "partition {p}: offsets {}..{}",
                    l.first_offset.unwrap_or(l.next_offset),
                    l.next_offset
                )
            })
            .collect();
        eprintln!(
            "produced {count} record{} to {}{}{}",
            if count == 1 { "" } else { "s" },
            args.topic,
            if detail.is_empty() { "" } else { " (" },
            if detail.is_empty() {
                String::new()
            } else {
                format!("{})", detail.join(", "))
            }
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines() {
        let (r, p) = json_record(
            r#"{"value": {"a": 1}, "key": "k", "headers": {"h": "v"}, "timestamp": "1970-01-01T00:00:01Z", "partition": 2}"#,
            1,
            &[("x".into(), b"y".to_vec())],
        )
        .unwrap();
        assert_eq!(r.value, br#"{"a":1}"#.to_vec());
        assert_eq!(r.key.as_deref(), Some(&b"k"[..]));
        assert_eq!(
            r.headers,
            vec![("x".into(), b"y".to_vec()), ("h".into(), b"v".to_vec())]
        );
        assert_eq!(r.timestamp_ms, Some(1000));
        assert_eq!(p, Some(2));
        assert!(json_record(r#"{"value": "v", "extra": 1}"#, 3, &[]).is_err());
        assert!(json_record(r#"{"key": "k"}"#, 3, &[]).is_err());
        assert!(json_record("not json", 3, &[]).is_err());
    }

    #[test]
    fn key_hash_is_stable() {
        assert_eq!(key_hash(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(key_hash(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
