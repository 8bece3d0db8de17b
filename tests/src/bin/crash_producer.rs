//! Child process of the producer kill -9 harness (`tests/kill9_producer.rs`):
//! an idempotent producer that resumes where the store says it stopped.
//!
//! On start it opens the store at `<data-dir>` (`Always` mode), runs
//! `init_producer` (fencing its killed predecessor) and, for every partition
//! where the store holds a last sequence, first re-sends that last batch — a
//! retry across the crash, which must come back as a duplicate at the
//! recorded offset. Then it appends one-record batches whose value is
//! `p<partition>-s<sequence>`, randomly re-sending a batch right after its
//! acknowledgement (a lost reply), until every partition reaches `<total>`
//! sequences. After each acknowledgement it commits the offset past the
//! batch for the consumer group `eos-consumer`. It prints `READY <epoch>`,
//! one `ACK <partition> <sequence> <offset>` line per acknowledged batch and
//! one `COMMIT <partition> <offset>` line per acknowledged commit (each
//! flushed before the next write), and `DONE` at the end.
//!
//! Usage: `crash_producer <data-dir> <seed> <total>`

use millrace::{Durability, Error, Producer, Record, Store, StoreOptions, TopicConfig};
use std::io::{Read, Write};
use std::process::ExitCode;

pub const TOPIC: &str = "eos";
pub const PARTITIONS: u32 = 2;
const PRODUCER: &str = "crash-producer";
const GROUP: &str = "eos-consumer";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("crash_producer: {message}");
            ExitCode::from(2)
        }
    }
}

fn value(partition: u32, sequence: u32) -> Vec<u8> {
    format!("p{partition}-s{sequence}").into_bytes()
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let [_, dir, seed, total] = args.as_slice() else {
        return Err("usage: crash_producer <data-dir> <seed> <total>".into());
    };
    let mut rng: u64 = seed.parse().map_err(|e| format!("seed {seed:?}: {e}"))?;
    let total: u32 = total.parse().map_err(|e| format!("total {total:?}: {e}"))?;
    // The parent holds our stdin open; EOF means it is gone.
    std::thread::spawn(|| {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
        std::process::exit(0);
    });

    let options = StoreOptions {
        durability: Durability::Always,
        background: false,
        ..StoreOptions::default()
    };
    let store = Store::open(dir, options).map_err(|e| format!("open {dir}: {e}"))?;
    let config = TopicConfig {
        partitions: PARTITIONS,
        segment_bytes: 4096,
        index_interval_bytes: 512,
        ..TopicConfig::default()
    };
    match store.create_topic(TOPIC, config) {
        Ok(()) | Err(Error::TopicExists(_)) => {}
        Err(e) => return Err(format!("create topic: {e}")),
    }
    let mut producer = Producer::init(&store, PRODUCER).map_err(|e| format!("init_producer: {e}"))?;
    let session = producer.session().clone();
    // Retry across the crash: the last batch the store holds is a duplicate.
    for ((topic, partition), last) in &session.last_sequences {
        let retry = store
            .append_sequenced(
                topic,
                *partition,
                &[Record::new(value(*partition, *last))],
                session.stamp(*last),
            )
            .map_err(|e| format!("retry of {topic}/{partition} sequence {last}: {e}"))?;
        if !retry.duplicate {
            return Err(format!(
                "retry of {topic}/{partition} sequence {last} was appended again"
            ));
        }
    }
    print_line(&format!("READY {}", session.epoch))?;

    loop {
        let open: Vec<u32> = (0..PARTITIONS)
            .filter(|p| producer.next_sequence(TOPIC, *p) < total)
            .collect();
        if open.is_empty() {
            break;
        }
        let partition = *open
            .get((next(&mut rng) % open.len() as u64) as usize)
            .ok_or("no partition")?;
        let sequence = producer.next_sequence(TOPIC, partition);
        let records = [Record::new(value(partition, sequence))];
        let appended = producer
            .send(TOPIC, partition, &records)
            .map_err(|e| format!("send {partition}/{sequence}: {e}"))?;
        if appended.duplicate {
            return Err(format!("first send of {partition}/{sequence} was a duplicate"));
        }
        print_line(&format!("ACK {partition} {sequence} {}", appended.base_offset))?;
        // A consumer group that has read up to here commits (the offsets log
        // is compacted every ~1000 commits, so kills land in compactions too).
        let next_offset = appended.next_offset;
        store
            .commit_offset(GROUP, TOPIC, partition, next_offset, sequence.to_string().as_bytes())
            .map_err(|e| format!("commit {partition}/{next_offset}: {e}"))?;
        print_line(&format!("COMMIT {partition} {next_offset}"))?;
        if next(&mut rng).is_multiple_of(4) {
            // The reply was "lost": send the same batch again.
            let again = store
                .append_sequenced(TOPIC, partition, &records, session.stamp(sequence))
                .map_err(|e| format!("retry {partition}/{sequence}: {e}"))?;
            if !again.duplicate || again.base_offset != appended.base_offset {
                return Err(format!("retry of {partition}/{sequence} gave {again:?}"));
            }
        }
    }
    print_line("DONE")?;
    store.close().map_err(|e| format!("close: {e}"))
}

/// splitmix64.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn print_line(line: &str) -> Result<(), String> {
    let mut out = std::io::stdout().lock();
    out.write_all(format!("{line}\n").as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| format!("stdout: {e}"))
}
