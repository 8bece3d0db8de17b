//! `millrace produce`: append records read from stdin or a file.

mod input;

use crate::cli::GlobalArgs;
use crate::error::{exit, CliError, CliResult};
use crate::interrupt;
use crate::output;
use crate::parse;
use crate::target::Target;
use clap::{Args, ValueEnum};
use input::{Encoding, Records};
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
    /// Each line (or piece between --delimiter) is one record's value.
    Lines,
    /// Each line is a JSON object: {"value": .., "key": .., "headers": {..}, "timestamp": .., "partition": ..}.
    Json,
}

#[derive(Debug, Args)]
#[command(after_help = "Input formats:
  lines  each line is a value (a \\r before the newline is dropped, empty lines
         are skipped); any bytes, not only UTF-8. With -D/--delimiter DELIM the
         input is split at DELIM instead, exactly (nothing dropped, an empty
         piece is an empty record; escapes \\n \\t \\r \\0 \\\\ \\xNN), as kcat's -D.
         -K/--key-separator SEP splits `key<SEP>value` (a record without SEP
         has no key). --value-encoding / --key-encoding base64|hex: the value
         (key) is written in that encoding and stored decoded.
  json   JSON Lines, one object per line:
           {\"value\": \"text or any JSON\", \"key\": \"k\", \"headers\": {\"h\": \"v\"},
            \"timestamp\": \"2026-11-25T18:00:00Z\" or ms, \"partition\": 0}
         only \"value\" is required; a non-string value is stored as its JSON text,
         except null: a null value (a tombstone), and an object with the single
         field \"hex\" or \"base64\": those bytes (a key or header value too), as
         `consume --format json` writes bytes that are not UTF-8. What `consume
         --format json` prints is read back unchanged (its \"offset\" is ignored,
         \"timestamp_ms\" is the timestamp): consume, then produce, copies records.

Partitioning: --partition, else the record's \"partition\", else a hash of the
key, else round robin per batch.

Ctrl-C (reading --file or a pipe) stops between two records: every record
read is appended, and it says which input line the rest starts at and how to
append it (exit 130); nothing is appended twice or skipped.

Examples:
  echo hello | millrace produce greetings
  printf 'user1:login\\nuser2:logout\\n' | millrace produce events -K :
  printf 'AP8=\\n' | millrace produce blobs --value-encoding base64
  find . -print0 | millrace produce paths -D '\\0'
  millrace consume orders --format json | millrace produce orders-copy --format json
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
    /// Split the input at DELIM instead of newlines, exactly (lines format; e.g. '\0', '\n--\n').
    #[arg(long, short = 'D', value_parser = input::delimiter, value_name = "DELIM")]
    delimiter: Option<input::Delimiter>,
    /// Append every record to this partition.
    #[arg(long, short = 'p', value_name = "P")]
    partition: Option<u32>,
    /// Key for every record (lines format; the default key in json).
    #[arg(long, short = 'k', value_name = "KEY")]
    key: Option<String>,
    /// Split each record at the first SEP into key and value (lines format).
    #[arg(long, short = 'K', value_name = "SEP", conflicts_with = "key")]
    key_separator: Option<String>,
    /// How each value is written in the input (lines format): text, base64 or hex.
    #[arg(long, value_enum, default_value_t = Encoding::Text, value_name = "ENCODING")]
    value_encoding: Encoding,
    /// How each key is written in the input (lines format, with -K): text, base64 or hex.
    #[arg(long, value_enum, default_value_t = Encoding::Text, value_name = "ENCODING")]
    key_encoding: Encoding,
    /// Header added to every record, `name=value`; repeat for more.
    #[arg(long = "header", short = 'H', value_parser = parse::header, value_name = "NAME=VALUE")]
    headers: Vec<(String, Vec<u8>)>,
    /// Timestamp of every record: RFC 3339 or ms since the epoch (default: append time).
    #[arg(long, value_parser = parse::time_ms, value_name = "TIME")]
    timestamp: Option<i64>,
    /// Records per appended batch.
    #[arg(long, default_value_t = 500, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    batch_records: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonRecord {
    value: serde_json::Value,
    #[serde(default)]
    key: Option<serde_json::Value>,
    #[serde(default)]
    headers: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    timestamp: Option<serde_json::Value>,
    /// As `consume --format json` writes it; wins over `timestamp`.
    #[serde(default)]
    timestamp_ms: Option<i64>,
    #[serde(default)]
    partition: Option<u32>,
    /// Written by `consume --format json`; not used (offsets are the log's).
    #[serde(default)]
    #[expect(
        dead_code,
        reason = "accepted so that consume's JSON Lines are read back; the log assigns offsets"
    )]
    offset: Option<serde_json::Value>,
}

/// Bytes written as `{"hex": ".."}` or `{"base64": ".."}` (how `consume
/// --format json` writes what is not UTF-8); `None` for any other JSON.
fn encoded_bytes(value: &serde_json::Value) -> Option<Result<Vec<u8>, String>> {
    let object = value.as_object().filter(|o| o.len() == 1)?;
    let (encoding, text) = object.iter().next()?;
    let text = text.as_str()?;
    match encoding.as_str() {
        "hex" => Some(Encoding::Hex.decode(text.as_bytes())),
        "base64" => Some(Encoding::Base64.decode(text.as_bytes())),
        _ => None,
    }
}

/// A key or header value: a string, `{"hex"|"base64": ..}`, or null (`None`).
fn json_bytes(value: &serde_json::Value, what: &str) -> Result<Option<Vec<u8>>, String> {
    match value {
        serde_json::Value::Null => Ok(None),
        serde_json::Value::String(s) => Ok(Some(s.clone().into_bytes())),
        other => match encoded_bytes(other) {
            Some(bytes) => bytes.map(Some).map_err(|e| format!("{what}: {e}")),
            None => Err(format!(
                "{what} must be a string, {{\"hex\": \"..\"}}, {{\"base64\": \"..\"}} or null, not {other}"
            )),
        },
    }
}

/// Where records went, per partition.
#[derive(Debug, Default, Clone, Copy)]
struct Landed {
    records: u64,
    first_offset: Option<u64>,
    next_offset: u64,
    /// Records the topic's contract sent to its DLQ instead.
    dead_lettered: u64,
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
        landed.dead_lettered += count.saturating_sub(next_offset.saturating_sub(base_offset));
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

/// `line` split at the first `sep`.
fn split_once<'a>(line: &'a [u8], sep: &[u8]) -> Option<(&'a [u8], &'a [u8])> {
    if sep.is_empty() {
        return None;
    }
    let at = line.windows(sep.len()).position(|w| w == sep)?;
    Some((line.get(..at)?, line.get(at + sep.len()..)?))
}

/// FNV-1a: a stable key hash, so a key always lands on the same partition.
fn key_hash(key: &[u8]) -> u64 {
    key.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn json_record(line: &[u8], line_number: u64, headers: &[(String, Vec<u8>)]) -> CliResult<(Record, Option<u32>)> {
    let bad = |e: String| {
        CliError::new(format!("input line {line_number}: {e}"))
            .with_hint("each line must be a JSON object like {\"value\": \"...\", \"key\": \"...\"}; see `millrace produce --help`")
    };
    let parsed: JsonRecord = serde_json::from_slice(line).map_err(|e| bad(e.to_string()))?;
    let mut record = match parsed.value {
        serde_json::Value::Null => Record::tombstone(),
        serde_json::Value::String(s) => Record::new(s),
        other => match encoded_bytes(&other) {
            Some(bytes) => Record::new(bytes.map_err(|e| bad(format!("value: {e}")))?),
            None => Record::new(other.to_string()),
        },
    };
    record.key = match &parsed.key {
        Some(key) => json_bytes(key, "key").map_err(bad)?,
        None => None,
    };
    record.headers = headers.to_vec();
    for (name, value) in parsed.headers {
        let what = format!("header {name:?}");
        record = match json_bytes(&value, &what).map_err(bad)? {
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
    if let Some(ms) = parsed.timestamp_ms {
        record.timestamp_ms = Some(ms);
    }
    Ok((record, parsed.partition))
}

/// One input line as (partition, record), `None` for an empty line, or why
/// it cannot be appended (checked against the topic's limits here, so that a
/// bad line is found before its batch is sent).
fn parse_line(
    args: &ProduceArgs,
    line: &[u8],
    line_number: u64,
    partitions: u32,
    round_robin: u32,
    config: &millrace::TopicConfig,
) -> CliResult<Option<(u32, Record)>> {
    if line.is_empty() && args.delimiter.is_none() {
        return Ok(None);
    }
    let (mut record, wanted) = match args.format {
        InputFormat::Json => json_record(line, line_number, &args.headers)?,
        InputFormat::Lines => {
            let decode = |encoding: Encoding, text: &[u8], what: &str| {
                encoding
                    .decode(text)
                    .map_err(|e| CliError::new(format!("input record {line_number}: {what}: {e}")))
            };
            let (key, value) = match &args.key_separator {
                Some(sep) => match split_once(line, sep.as_bytes()) {
                    Some((k, v)) => (Some(decode(args.key_encoding, k, "key")?), v),
                    None => (None, line),
                },
                None => (args.key.as_ref().map(|k| k.as_bytes().to_vec()), line),
            };
            let mut record = Record::new(decode(args.value_encoding, value, "value")?);
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

/// Ctrl-C: stopped before input line `line`; [`Batcher::stopped_at`] adds
/// what was appended.
fn interrupted(args: &ProduceArgs, line: u64) -> CliError {
    let source = args
        .file
        .as_ref()
        .map_or_else(|| "FILE".to_string(), |f| f.display().to_string());
    let hint = if args.delimiter.is_some() {
        format!(
            "append the rest of the input, from its record {line} on, with `millrace produce {}` (with the same flags)",
            args.topic
        )
    } else {
        format!(
            "append the rest with `tail -n +{line} {source} | millrace produce {}` (with the same flags)",
            args.topic
        )
    };
    CliError {
        message: "interrupted".to_string(),
        hint: Some(hint),
        code: exit::INTERRUPTED,
    }
}

pub fn run(global: &GlobalArgs, args: ProduceArgs) -> CliResult<()> {
    // Ctrl-C stops between two records (reading a terminal it would wait
    // for the next line typed: there it keeps its default).
    let interruptible = args.file.is_some() || !io::IsTerminal::is_terminal(&io::stdin());
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
    if args.format == InputFormat::Json
        && (args.delimiter.is_some() || args.value_encoding != Encoding::Text || args.key_encoding != Encoding::Text)
    {
        return Err(CliError::usage(
            "--delimiter, --value-encoding and --key-encoding apply to --format lines; in JSON Lines write bytes as {\"hex\": \"..\"} or {\"base64\": \"..\"}",
        ));
    }
    if interruptible {
        interrupt::watch();
    }
    let mut records = Records::new(input, args.delimiter.clone().map(|d| d.0));
    let mut line_number: u64 = 0;
    loop {
        line_number += 1;
        if interrupt::requested() {
            // Append what was read, so that what is appended is exactly a
            // prefix of the input, and say where the rest starts.
            batcher.flush_all()?;
            return Err(batcher.stopped_at(interrupted(&args, line_number), line_number));
        }
        let parsed = match records.next_record() {
            Ok(None) => break,
            Ok(Some(line)) => parse_line(&args, &line, line_number, partitions, round_robin, &config),
            Err(e) => Err(CliError::new(format!("reading input line {line_number}: {e}"))),
        };
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
    report(global, &args.topic, count, &landed)
}

/// What `produce` tells when it is done: per partition the offsets it took, and
/// how many records the topic's contract sent to the DLQ.
fn report(global: &GlobalArgs, topic: &str, count: u64, landed: &BTreeMap<u32, Landed>) -> CliResult<()> {
    if global.json {
        let per_partition: Vec<serde_json::Value> = landed
            .iter()
            .map(|(p, l)| json!({"partition": p, "records": l.records, "first_offset": l.first_offset, "next_offset": l.next_offset, "dead_lettered": l.dead_lettered}))
            .collect();
        output::print_json(&json!({"topic": topic, "records": count, "partitions": per_partition}))?;
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
            topic,
            if detail.is_empty() { "" } else { " (" },
            if detail.is_empty() {
                String::new()
            } else {
                format!("{})", detail.join(", "))
            }
        );
        let dead_lettered: u64 = landed.values().map(|l| l.dead_lettered).sum();
        if dead_lettered > 0 {
            eprintln!(
                "{dead_lettered} of them went to the DLQ by the topic's contract (see `millrace dlq list {}`)",
                topic
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines() {
        let (r, p) = json_record(
            br#"{"value": {"a": 1}, "key": "k", "headers": {"h": "v"}, "timestamp": "1970-01-01T00:00:01Z", "partition": 2}"#,
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
        assert!(json_record(br#"{"value": "v", "extra": 1}"#, 3, &[]).is_err());
        assert!(json_record(br#"{"key": "k"}"#, 3, &[]).is_err());
        assert!(json_record(b"not json", 3, &[]).is_err());
    }

    #[test]
    fn key_hash_is_stable() {
        assert_eq!(key_hash(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(key_hash(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
