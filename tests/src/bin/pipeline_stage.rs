//! Child process for tests/tests/pipeline_kill9.rs: one exactly-once
//! consume-transform-produce stage. Reads `in/0` from the committed offset of
//! group `stage`, and per input record writes a transformed record to `out-a`
//! (even ids) or `out-b` (odd ids), or dead-letters it (ids divisible by 7),
//! committing the group's offset in the same transaction. A reader thread
//! checks read-committed outputs for partial transactions and exits with code
//! 2 on any. Exits 0 when the whole input is consumed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "test child process: a panic is a test failure"
)]

use millrace::dlq::DeadLetter;
use millrace::{Isolation, ReadOptions, Record, Store, StoreOptions};
use std::collections::BTreeMap;
use std::time::Duration;

const GROUP: &str = "stage";
const READ_ORDER: [&str; 3] = ["out-b", "out-a", "__dlq.in"];

fn header_u64(headers: &[(String, Vec<u8>)], name: &str) -> u64 {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .and_then(|(_, v)| std::str::from_utf8(v).ok()?.parse().ok())
        .expect("header present")
}

/// Per transaction id: how many records are visible in each output, and how
/// many each output should have.
fn snapshot(store: &Store) -> BTreeMap<u64, ([u64; 3], [u64; 3])> {
    let mut txns: BTreeMap<u64, ([u64; 3], [u64; 3])> = BTreeMap::new();
    for (i, topic) in READ_ORDER.iter().enumerate() {
        let Ok((start, _)) = store.offsets(topic, 0) else {
            continue;
        };
        let mut offset = start;
        loop {
            let options = ReadOptions {
                max_bytes: 8 << 20,
                max_records: 100_000,
            };
            let Ok(r) = store.read_with(topic, 0, offset, options, Isolation::ReadCommitted) else {
                break;
            };
            for rec in &r.records {
                let entry = txns.entry(header_u64(&rec.headers, "txn")).or_default();
                entry.0[i] += 1;
                entry.1 = [
                    header_u64(&rec.headers, "n.out-b"),
                    header_u64(&rec.headers, "n.out-a"),
                    header_u64(&rec.headers, "n.dlq"),
                ];
            }
            if r.next_offset <= offset {
                break;
            }
            offset = r.next_offset;
        }
    }
    txns
}

fn main() {
    let dir = std::env::args().nth(1).expect("usage: pipeline_stage DIR");
    let store = Store::open(&dir, StoreOptions::default()).expect("open store");
    let (_, input_end) = store.offsets("in", 0).expect("input topic");
    println!(
        "START committed={:?} out-a={:?} out-b={:?} dlq={:?} txlog={:?}",
        store.committed_offset(GROUP, "in", 0),
        store.offsets("out-a", 0),
        store.offsets("out-b", 0),
        store.offsets("__dlq.in", 0),
        store.offsets("__transactions", 0)
    );
    let reader_store = store.clone();
    std::thread::spawn(move || loop {
        // Outputs are released in the order __dlq.in, out-a, out-b, and read in
        // the reverse order: once any part of a transaction is visible, every
        // part in an output read after it must be complete.
        for (txn, (seen, want)) in snapshot(&reader_store) {
            let first = seen.iter().position(|n| *n > 0).unwrap_or(3);
            for i in first..3 {
                if seen[i] != want[i] {
                    println!("VIOLATION txn {txn}: saw {seen:?}, want {want:?}");
                    std::process::exit(2);
                }
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    });
    let producer = store.init_producer("stage").expect("init producer");
    loop {
        let from = store.committed_offset(GROUP, "in", 0).expect("committed").unwrap_or(0);
        if from >= input_end {
            println!("DONE");
            std::process::exit(0);
        }
        let batch = store
            .read(
                "in",
                0,
                from,
                ReadOptions {
                    max_bytes: 1 << 20,
                    max_records: 5,
                },
            )
            .expect("read input");
        let ids: Vec<u64> = batch
            .records
            .iter()
            .map(|r| std::str::from_utf8(&r.value).unwrap().parse().unwrap())
            .collect();
        let count = |f: &dyn Fn(u64) -> bool| ids.iter().filter(|id| f(**id)).count() as u64;
        let dead = |id: u64| id.is_multiple_of(7);
        let n_dlq = count(&|id| dead(id));
        let n_a = count(&|id| !dead(id) && id % 2 == 0);
        let n_b = count(&|id| !dead(id) && id % 2 == 1);
        let mut txn = store
            .begin_transaction(producer.id())
            .expect("begin");
        for (rec, id) in batch.records.iter().zip(&ids) {
            let out = Record::new(format!("{id}:transformed").into_bytes())
                .with_header("id", id.to_string().into_bytes())
                .with_header("txn", from.to_string().into_bytes())
                .with_header("n.out-a", n_a.to_string().into_bytes())
                .with_header("n.out-b", n_b.to_string().into_bytes())
                .with_header("n.dlq", n_dlq.to_string().into_bytes());
            if dead(*id) {
                let letter = DeadLetter {
                    source_topic: "in".into(),
                    source_partition: 0,
                    source_offset: rec.offset,
                    group: GROUP.into(),
                    stage: "transform".into(),
                    error_class: "DivisibleBySeven".into(),
                    error_message: format!("id {id}"),
                    attempts: 1,
                    first_failure_ms: 0,
                    last_failure_ms: 0,
                    redrive_count: 0,
                    record: out,
                };
                txn.dead_letter(&letter).expect("dead letter");
            } else {
                let topic = if id % 2 == 0 { "out-a" } else { "out-b" };
                txn.append(topic, 0, &[out]).expect("append");
            }
        }
        txn.commit_offset(GROUP, "in", 0, batch.next_offset, b"")
            .expect("commit offset");
        txn.commit().expect("commit");
    }
}
