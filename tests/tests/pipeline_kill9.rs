//! The exactly-once order service under kill -9 (issue 25): ingest through a
//! named idempotent producer with an at-least-once upstream → a
//! consume-transform-produce stage that validates, dead-letters in its
//! transactions and aborts some of them → a capped DLQ redrive that sends
//! failed orders back to the input, where they pass or fail again until the
//! cap. The three run as threads of one child process (`pipeline_stage`,
//! written only against the public API) killed with SIGKILL at random points
//! and restarted, 50 times by default (MILLRACE_PIPELINE_CYCLES,
//! MILLRACE_PIPELINE_ORDERS, MILLRACE_PIPELINE_SEED for a long run); then it
//! runs to completion. The child checks from inside that no partial
//! transaction is ever visible and every retried ingest batch is a
//! duplicate. At the end, against the model in `millrace_tests::pipeline`:
//! every acknowledged ingest batch is at its acknowledged offset; the input
//! holds every order exactly once as ingested and each redriven copy exactly
//! once; every order that passes is exactly once in its output (from the copy
//! that passed); every failed copy is exactly once in the DLQ, every DLQ
//! record but the capped ones is marked redriven, and the DLQ's depth is
//! exactly the invalid orders.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "test code: a panic is a failure"
)]

use millrace::dlq::{header, DlqFilter};
use millrace::{Producer, ReadOptions, Store, StoreOptions, StoredRecord, TopicConfig};
use millrace_tests::pipeline::{
    dead_letters, dlq_records, input_records, kind, output_topic, parse_u64, passes, redrives, Kind, DLQ, GROUP,
    INGEST_PRODUCER, INPUT, OUTPUTS, REDRIVE_CAP,
};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A bound on one run of the service (a hang fails the test); the default
/// run takes under a minute here.
const RUN_TO_COMPLETION_MAX: Duration = Duration::from_secs(900);

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn read_all(store: &Store, topic: &str) -> Vec<StoredRecord> {
    let mut out = Vec::new();
    let Ok((mut offset, end)) = store.offsets(topic, 0) else {
        return out;
    };
    while offset < end {
        let options = ReadOptions {
            max_bytes: 8 << 20,
            max_records: 100_000,
        };
        let r = store.read(topic, 0, offset, options).unwrap();
        out.extend(r.records);
        if r.next_offset <= offset {
            break;
        }
        offset = r.next_offset;
    }
    out
}

fn header_u64(record: &StoredRecord, name: &str) -> Option<u64> {
    record.header(name).and_then(parse_u64)
}

fn redrive_count(record: &StoredRecord) -> u32 {
    header_u64(record, header::REDRIVE_COUNT).map_or(0, |n| u32::try_from(n).unwrap())
}

fn next_random(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// One acknowledged ingest batch: (first order id, count, base offset).
type Ack = (u64, u64, u64);

struct Run {
    kills: u64,
    acks: Vec<Ack>,
}

fn run_service(data: &Path, upstream: &Path, orders: u64, cycles: u64, mut seed: u64) -> Run {
    let started = Instant::now();
    let mut run = Run {
        kills: 0,
        acks: Vec::new(),
    };
    let mut history: Vec<String> = Vec::new();
    for cycle in 0.. {
        let mut child = Command::new(env!("CARGO_BIN_EXE_pipeline_stage"))
            .arg(data)
            .arg(orders.to_string())
            .arg(upstream)
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn pipeline_stage");
        let stdout = child.stdout.take().unwrap();
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let lines = std::thread::spawn(move || {
            let mut lines = Vec::new();
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.starts_with("START") {
                    let _ = started_tx.send(());
                }
                lines.push(line);
            }
            lines
        });
        let killing = cycle < cycles;
        if killing {
            // One kill in five counts from the spawn, so that it often lands
            // in the open (recovery); the others from the service's start,
            // so that the run moves on and kills land in every phase of it.
            if cycle % 5 != 4 {
                let _ = started_rx.recv_timeout(Duration::from_secs(60));
            }
            let range = if cycle % 5 == 4 { 150 } else { 400 };
            std::thread::sleep(Duration::from_millis(next_random(&mut seed) % range));
            let _ = child.kill();
            run.kills += 1;
        }
        // The last run must finish; a hung service fails the test instead
        // of hanging it.
        let deadline = Instant::now() + RUN_TO_COMPLETION_MAX;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "cycle {cycle}: the service did not finish within {RUN_TO_COMPLETION_MAX:?}\n{}",
                    history.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let lines = lines.join().unwrap();
        let done = lines.iter().any(|l| l == "DONE");
        let summary: Vec<&String> = lines
            .iter()
            .filter(|l| !l.starts_with("ACK") && !l.starts_with("REDRIVE"))
            .collect();
        let count = |prefix: &str| lines.iter().filter(|l| l.starts_with(prefix)).count();
        history.push(format!(
            "cycle {cycle} killed={killing} {status:?} at {:.1} s: {} ACK, {} REDRIVE, {summary:?}",
            started.elapsed().as_secs_f64(),
            count("ACK"),
            count("REDRIVE")
        ));
        eprintln!("{}", history.last().unwrap());
        for line in &lines {
            let fields: Vec<&str> = line.split(' ').collect();
            if let ["ACK", first, count, base, _duplicate] = fields.as_slice() {
                run.acks
                    .push((first.parse().unwrap(), count.parse().unwrap(), base.parse().unwrap()));
            }
        }
        let violation = lines.iter().find(|l| l.starts_with("VIOLATION"));
        assert!(
            violation.is_none(),
            "cycle {cycle}: {violation:?}\n{}",
            history.join("\n")
        );
        // Killed, or finished before the kill: anything else (a panic, an
        // error exit) is a failure.
        let killed = killing && status.signal() == Some(9);
        assert!(
            killed || (status.success() && done),
            "cycle {cycle}: child exited with {status:?}\n{}",
            history.join("\n")
        );
        if !killing {
            break;
        }
    }
    run
}

#[test]
fn order_service_is_exactly_once_under_kill_9() {
    let cycles = env_or("MILLRACE_PIPELINE_CYCLES", 50);
    let orders = env_or("MILLRACE_PIPELINE_ORDERS", 1500);
    let seed = env_or("MILLRACE_PIPELINE_SEED", 0x5eed_1234);
    eprintln!("pipeline_kill9: {cycles} kills, {orders} orders, MILLRACE_PIPELINE_SEED={seed}");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let upstream = dir.path().join("upstream.pos");
    {
        let store = Store::open(&data, StoreOptions::default()).unwrap();
        for topic in [INPUT, OUTPUTS[0], OUTPUTS[1]] {
            store.create_topic(topic, TopicConfig::default()).unwrap();
        }
    }
    let started = Instant::now();
    let run = run_service(&data, &upstream, orders, cycles, seed);
    assert!(run.kills >= cycles);

    let store = Store::open(&data, StoreOptions::default()).unwrap();
    let input = read_all(&store, INPUT);

    // Every acknowledged ingest batch (fresh or a retry's duplicate) is at
    // the offset it was acknowledged at, as ingested.
    let at: BTreeMap<u64, &StoredRecord> = input.iter().map(|r| (r.offset, r)).collect();
    for (first, count, base) in &run.acks {
        for i in 0..*count {
            let record = at
                .get(&(base + i))
                .unwrap_or_else(|| panic!("acknowledged order {} at {} is gone", first + i, base + i));
            assert_eq!(parse_u64(&record.value), Some(first + i), "offset {}", base + i);
            assert_eq!(redrive_count(record), 0);
        }
    }
    assert!(
        run.acks.len() as u64 >= orders.div_ceil(10),
        "every batch acknowledged once at least"
    );

    // The input: each order once as ingested, and each redriven copy once.
    let mut copies: BTreeMap<(u64, u32), u32> = BTreeMap::new();
    for record in &input {
        let id = parse_u64(&record.value).unwrap();
        *copies.entry((id, redrive_count(record))).or_default() += 1;
    }
    let expected: BTreeMap<(u64, u32), u32> = (0..orders)
        .flat_map(|id| (0..=redrives(id)).map(move |rc| ((id, rc), 1)))
        .collect();
    let wrong: Vec<_> = copies
        .iter()
        .filter(|(k, n)| expected.get(k) != Some(n))
        .chain(expected.iter().filter(|(k, _)| !copies.contains_key(k)))
        .take(20)
        .collect();
    assert!(
        wrong.is_empty(),
        "input copies (order, redrive count) → count, wrong: {wrong:?}"
    );
    assert_eq!(input.len() as u64, input_records(orders));
    assert_eq!(
        store.committed_offset(GROUP, INPUT, 0).unwrap(),
        Some(input_records(orders))
    );
    let producer = Producer::init(&store, INGEST_PRODUCER).unwrap();
    assert_eq!(u64::from(producer.next_sequence(INPUT, 0)), orders);

    // The outputs: each order that passes, once, in its topic, from the
    // copy that passed.
    let mut outputs: BTreeMap<u64, u32> = BTreeMap::new();
    for topic in OUTPUTS {
        for record in read_all(&store, topic) {
            let id = header_u64(&record, "id").unwrap();
            let rc = u32::try_from(header_u64(&record, "rc").unwrap()).unwrap();
            assert_eq!(topic, output_topic(id), "order {id} in the wrong output");
            assert!(passes(id, rc), "order {id} passed at redrive count {rc}");
            assert!(rc == 0 || !passes(id, rc - 1), "order {id} passed late at {rc}");
            *outputs.entry(id).or_default() += 1;
        }
    }
    let wrong: Vec<(u64, u32)> = (0..orders)
        .map(|id| (id, outputs.get(&id).copied().unwrap_or(0)))
        .filter(|(id, n)| *n != u32::from(kind(*id) != Kind::Invalid))
        .take(20)
        .collect();
    assert!(wrong.is_empty(), "(order, times in the outputs), wrong: {wrong:?}");

    // The DLQ: each failed copy once; all redriven but the capped ones.
    let entries = store.dlq_list(INPUT, &DlqFilter::default()).unwrap();
    assert_eq!(entries.len() as u64, dlq_records(orders));
    let mut letters: BTreeMap<(u64, u32), u32> = BTreeMap::new();
    for entry in &entries {
        let id = parse_u64(&entry.letter.record.value).unwrap();
        let rc = entry.letter.redrive_count;
        *letters.entry((id, rc)).or_default() += 1;
        let capped = kind(id) == Kind::Invalid && rc == REDRIVE_CAP;
        assert_eq!(
            entry.redriven.is_none(),
            capped,
            "order {id} at redrive count {rc}: mark {:?}",
            entry.redriven
        );
        let source = at[&entry.letter.source_offset];
        assert_eq!((parse_u64(&source.value), redrive_count(source)), (Some(id), rc));
    }
    let expected: BTreeMap<(u64, u32), u32> = (0..orders)
        .flat_map(|id| (0..dead_letters(id)).map(move |rc| ((id, rc), 1)))
        .collect();
    assert_eq!(letters, expected, "DLQ (order, redrive count) → count");
    let invalid = (0..orders).filter(|id| kind(*id) == Kind::Invalid).count() as u64;
    assert_eq!(store.dlq_stats(INPUT).unwrap().depth, invalid);
    assert_eq!(store.offsets(DLQ, 0).unwrap().1, dlq_records(orders));
    eprintln!(
        "pipeline_kill9: {} kills, {orders} orders ({} input records, {} outputs, {} dead letters, {invalid} capped) exactly once, {:.1} s",
        run.kills,
        input.len(),
        outputs.len(),
        entries.len(),
        started.elapsed().as_secs_f64()
    );
}
