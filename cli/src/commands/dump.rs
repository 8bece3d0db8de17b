//! `millrace dump`: print the batches (and records) of one segment file.

use crate::cli::GlobalArgs;
use crate::error::{exit, CliResult};
use crate::output;
use clap::Args;
use millrace::inspect::{self, BatchDump};
use serde_json::json;
use std::io::{self, Write};
use std::path::PathBuf;

#[derive(Debug, Args)]
#[command(after_help = "Reads the file only and takes no lock, so it also works on a copy of a
segment or on a live one (whose tail may then look torn). Exits 3 if the scan
stops at an invalid batch before the end of the file.

Examples:
  millrace dump millrace-data/topics/orders/00000/00000000000000000000.log
  millrace dump SEGMENT.log --batches-only
  millrace dump SEGMENT.log --json --max-batches 10")]
pub struct DumpArgs {
    /// Segment log file (`<20 digits>.log`).
    segment: PathBuf,
    /// Print batch headers only, not records.
    #[arg(long)]
    batches_only: bool,
    /// Stop after this many batches.
    #[arg(long, value_name = "N")]
    max_batches: Option<u64>,
}

fn flags(b: &BatchDump) -> String {
    let mut flags = Vec::new();
    if b.header.is_transactional() {
        flags.push("transactional");
    }
    if b.header.is_control() {
        flags.push("control");
    }
    if flags.is_empty() {
        "-".to_string()
    } else {
        flags.join(",")
    }
}

fn batch_json(b: &BatchDump, with_records: bool) -> serde_json::Value {
    let h = &b.header;
    let records: Option<Vec<serde_json::Value>> = with_records.then(|| {
        b.records
            .iter()
            .map(|r| {
                let headers: serde_json::Map<String, serde_json::Value> = r
                    .headers_opt()
                    .map(|(n, v)| (n.to_string(), output::nullable_json(v)))
                    .collect();
                json!({
                    "offset": r.offset,
                    "timestamp": output::time(r.timestamp_ms),
                    "key": r.key.as_deref().map(output::bytes_json),
                    "value": output::nullable_json(r.value_opt()),
                    "headers": headers,
                })
            })
            .collect()
    });
    json!({
        "position": b.position,
        "length": h.length,
        "crc": format!("{:08x}", h.crc),
        "base_offset": h.base_offset,
        "last_offset": h.last_offset(),
        "record_count": h.record_count,
        "flags": flags(b),
        "first_timestamp": output::time(h.first_timestamp_ms),
        "max_timestamp": output::time(h.max_timestamp_ms),
        "producer": h.producer.map(|p| json!({"id": p.producer_id, "epoch": p.epoch, "base_sequence": p.base_sequence})),
        "synced_before": h.synced_before,
        "version": h.version,
        "records": records,
    })
}

pub fn run(global: &GlobalArgs, args: DumpArgs) -> CliResult<u8> {
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let mut batches = 0u64;
    let limit = args.max_batches.unwrap_or(u64::MAX);
    let mut write_error: Option<io::Error> = None;
    let mut json_batches = Vec::new();
    let with_records = !args.batches_only;
    let scan = inspect::dump_segment(&args.segment, |b| {
        batches += 1;
        if global.json {
            json_batches.push(batch_json(&b, with_records));
            return batches < limit;
        }
        let h = &b.header;
        let mut text = format!(
            "batch @{} offsets {}..{} records {} length {} crc {:08x} flags {} time {} to {} synced_before {}",
            b.position,
            h.base_offset,
            h.last_offset().saturating_add(1),
            h.record_count,
            h.length,
            h.crc,
            flags(&b),
            output::time(h.first_timestamp_ms),
            output::time(h.max_timestamp_ms),
            h.synced_before,
        );
        if let Some(p) = h.producer {
            text.push_str(&format!(
                " producer {}/{} seq {}",
                p.producer_id, p.epoch, p.base_sequence
            ));
        }
        text.push('\n');
        if with_records {
            for r in &b.records {
                text.push_str(&format!(
                    "  {} {} key={} value={}",
                    r.offset,
                    output::time(r.timestamp_ms),
                    r.key.as_deref().map_or("-".to_string(), output::bytes_text),
                    output::nullable_text(r.value_opt())
                ));
                for (n, v) in r.headers_opt() {
                    text.push_str(&format!(" {n}={}", output::nullable_text(v)));
                }
                text.push('\n');
            }
        }
        if let Err(e) = out.write_all(text.as_bytes()) {
            write_error = Some(e);
            return false;
        }
        batches < limit
    })?;
    if let Some(e) = write_error {
        return Err(e.into());
    }
    if global.json {
        let invalid = scan
            .invalid
            .as_ref()
            .map(|i| json!({"position": i.position, "kind": format!("{:?}", i.kind), "detail": i.detail}));
        serde_json::to_writer_pretty(
            &mut out,
            &json!({
                "segment": scan.path.display().to_string(),
                "base_offset": scan.base_offset,
                "file_bytes": scan.file_bytes,
                "valid_bytes": scan.valid_bytes,
                "next_offset": scan.next_offset,
                "batches": json_batches,
                "invalid": invalid,
            }),
        )?;
        writeln!(out)?;
    } else {
        writeln!(
            out,
            "{} batches, {} records, offsets {}..{}, {} of {} bytes valid",
            scan.batches, scan.records, scan.base_offset, scan.next_offset, scan.valid_bytes, scan.file_bytes
        )?;
    }
    out.flush()?;
    drop(out);
    if let Some(bad) = &scan.invalid {
        eprintln!(
            "invalid batch at byte {} of {}: {:?}: {}",
            bad.position,
            scan.path.display(),
            bad.kind,
            bad.detail
        );
        eprintln!(
            "hint: `millrace check` tells a torn tail from corruption; `millrace repair` truncates here after a backup"
        );
        return Ok(exit::CORRUPTION);
    }
    Ok(exit::OK)
}
