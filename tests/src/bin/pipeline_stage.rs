//! Child process for tests/tests/pipeline_kill9.rs: one exactly-once
//! consume-transform-produce stage, written as an embedder would with the
//! public API. A `Consumer` of group `stage` polls `in/0` five records at a
//! time; per input record the stage writes a transformed record to `out-a`
//! (even ids) or `out-b` (odd ids), or fails it with
//! `Transaction::fail_record` (ids divisible by 7: dead-lettered at the first
//! attempt), in a transaction begun by `Consumer::begin_transaction`, which
//! commits the consumer's position with it. Every eleventh batch is aborted
//! once before it is committed: the abort rewinds the consumer. A reader thread
//! checks read-committed outputs for partial transactions and exits with code
//! 2 on any. Exits 0 when the whole input is consumed.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "test child process: a panic is a test failure"
)]

use millrace::dlq::Failure;
use millrace::txn::TransactionFailOutcome;
use millrace::{Consumer, ConsumerOptions, Isolation, ReadOptions, Record, Store, StoreOptions};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

const GROUP: &str = "stage";
const READ_ORDER: [&str; 3] = ["out-b", "out-a", "__dlq.in"];
/// Records per poll, so per transaction: a transaction's id is the offset
/// of its first input record, a multiple of this.
const BATCH: u64 = 5;

fn header_u64(headers: &[(String, Vec<u8>)], name: &str) -> u64 {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .and_then(|(_, v)| std::str::from_utf8(v).ok()?.parse().ok())
        .expect("header present")
}

/// Per transaction id: how many records are visible in each output, and how
/// many each output should have (known once an output record of it is seen:
/// a dead letter is the input record itself, and carries no counts).
fn snapshot(store: &Store) -> BTreeMap<u64, ([u64; 3], Option<[u64; 3]>)> {
    let mut txns: BTreeMap<u64, ([u64; 3], Option<[u64; 3]>)> = BTreeMap::new();
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
                if *topic == "__dlq.in" {
                    let source = header_u64(&rec.headers, millrace::dlq::header::SOURCE_OFFSET);
                    txns.entry(source / BATCH * BATCH).or_default().0[i] += 1;
                    continue;
                }
                let entry = txns.entry(header_u64(&rec.headers, "txn")).or_default();
                entry.0[i] += 1;
                entry.1 = Some([
                    header_u64(&rec.headers, "n.out-b"),
                    header_u64(&rec.headers, "n.out-a"),
                    header_u64(&rec.headers, "n.dlq"),
                ]);
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
            let Some(want) = want else { continue };
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
    let producer = store.init_producer("stage").expect("init producer").id();
    let options = ConsumerOptions {
        poll_records_max: BATCH as usize,
        ..ConsumerOptions::default()
    };
    let mut consumer = Consumer::new(&store, GROUP, options).expect("consumer");
    consumer.assign(&[("in", 0)]).expect("assign");
    // Every eleventh batch is aborted once first: the consumer must deliver
    // it again (an abort rewinds it), or its records go missing.
    let mut aborted = BTreeSet::new();
    loop {
        let from = consumer.position("in", 0).expect("position");
        if from >= input_end {
            println!("DONE");
            std::process::exit(0);
        }
        let batch = consumer.poll(Duration::from_millis(100)).expect("poll");
        if batch.is_empty() {
            continue;
        }
        let ids: Vec<u64> = batch
            .iter()
            .map(|r| std::str::from_utf8(&r.record.value).unwrap().parse().unwrap())
            .collect();
        assert_eq!(
            batch.first().map(|r| r.record.offset),
            Some(from),
            "delivered from the position"
        );
        let count = |f: &dyn Fn(u64) -> bool| ids.iter().filter(|id| f(**id)).count() as u64;
        let dead = |id: u64| id.is_multiple_of(7);
        let n_dlq = count(&|id| dead(id));
        let n_a = count(&|id| !dead(id) && id % 2 == 0);
        let n_b = count(&|id| !dead(id) && id % 2 == 1);
        let mut txn = consumer.begin_transaction(producer).expect("begin");
        for (consumed, id) in batch.iter().zip(&ids) {
            if dead(*id) {
                let message = format!("id {id}");
                let failure = Failure::new("transform", "DivisibleBySeven", &message);
                match txn.fail_record(GROUP, consumed, &failure, 1).expect("fail record") {
                    TransactionFailOutcome::DeadLettered(_) => {}
                    other => panic!("id {id}: {other:?}"),
                }
            } else {
                let out = Record::new(format!("{id}:transformed").into_bytes())
                    .with_header("id", id.to_string().into_bytes())
                    .with_header("txn", from.to_string().into_bytes())
                    .with_header("n.out-a", n_a.to_string().into_bytes())
                    .with_header("n.out-b", n_b.to_string().into_bytes())
                    .with_header("n.dlq", n_dlq.to_string().into_bytes());
                let topic = if id % 2 == 0 { "out-a" } else { "out-b" };
                txn.append(topic, 0, &[out]).expect("append");
            }
        }
        if (from / BATCH).is_multiple_of(11) && aborted.insert(from) {
            txn.abort();
            continue;
        }
        txn.commit().expect("commit");
    }
}
