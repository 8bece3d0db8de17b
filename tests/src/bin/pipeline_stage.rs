//! Child process for tests/tests/pipeline_kill9.rs: the whole order service
//! of issue 25, written as an embedder would with the public API, three
//! threads over one `Store` (the model of orders: `millrace_tests::pipeline`):
//!
//! - **ingest**: appends orders `0..ORDERS` to `in/0` in batches of
//!   `INGEST_BATCH` through the named idempotent producer `ingest`
//!   (`Producer::init` resumes its sequences). Its upstream is at least once:
//!   the source position it resumes from (`UPSTREAM_FILE`, written every
//!   third acknowledged batch) lags the log, so after a restart it sends the
//!   batches since that position again, with their original sequences, and
//!   each must come back as a duplicate. Prints `ACK <first id> <count>
//!   <base offset> <duplicate>` per acknowledged batch.
//! - **stage**: a `Consumer` of group `stage` polls `in/0` up to five
//!   records at a time; per record it writes a transformed record to `out-a`
//!   (even ids) or `out-b` (odd ids), or fails it with
//!   `Transaction::fail_record` (`MAX_ATTEMPTS` 2: the first failure is a
//!   `Retry`, the batch is aborted and processed again; the second
//!   dead-letters it in the transaction), in a transaction begun by
//!   `Consumer::begin_transaction`, which commits the consumer's position
//!   with it. Every eleventh transaction is aborted once first: the abort
//!   rewinds the consumer.
//! - **redrive**: `Store::dlq_redrive` of `in` with `redrive_cap` 2, a few
//!   records per call, in a loop: redriven copies go back to `in` with their
//!   redrive count, and the stage fails them again or lets them pass
//!   according to the model.
//!
//! A reader thread checks the read-committed outputs for partial
//! transactions. Any broken promise seen from inside (a partial
//! transaction, a retried batch not recognised as a duplicate, a lost
//! acknowledged batch, a record dead-lettered twice) prints `VIOLATION` and
//! exits with code 2; a panic exits with code 101. Exits 0 (after `DONE`)
//! once the input, the DLQ and the redrive reached the model's end state.
//!
//! Usage: `pipeline_stage <data-dir> <orders> <upstream-file>`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "test child process: a panic is a test failure"
)]

use millrace::dlq::{header, Failure, RedriveOptions};
use millrace::txn::TransactionFailOutcome;
use millrace::{Consumer, ConsumerOptions, Isolation, Producer, ReadOptions, Record, Store, StoreOptions};
use millrace_tests::pipeline::{
    dlq_records, input_records, output_topic, parse_u64, passes, DLQ, GROUP, INGEST_BATCH, INGEST_PRODUCER, INPUT,
    MAX_ATTEMPTS, REDRIVE_CAP,
};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Outputs are released in the order __dlq.in, out-a, out-b, and read in
/// the reverse order by the reader thread.
const READ_ORDER: [&str; 3] = ["out-b", "out-a", DLQ];
/// Records per poll at most, so per stage transaction.
const BATCH: usize = 5;
/// Pause between two ingest batches.
const INGEST_PAUSE_MS: u64 = 40;

fn violation(message: &str) -> ! {
    println!("VIOLATION {message}");
    let _ = std::io::stdout().flush();
    std::process::exit(2);
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn header_u64(record: &millrace::StoredRecord, name: &str) -> Option<u64> {
    record.header(name).and_then(parse_u64)
}

fn redrive_count(record: &millrace::StoredRecord) -> u32 {
    header_u64(record, header::REDRIVE_COUNT).map_or(0, |n| u32::try_from(n).unwrap())
}

fn main() {
    std::panic::set_hook(Box::new(|info| {
        eprintln!("pipeline_stage: {info}");
        std::process::exit(101);
    }));
    let args: Vec<String> = std::env::args().collect();
    let [_, dir, orders, upstream] = args.as_slice() else {
        panic!("usage: pipeline_stage <data-dir> <orders> <upstream-file>");
    };
    let orders: u64 = orders.parse().expect("orders");
    let upstream = PathBuf::from(upstream);
    let store = Store::open(dir, StoreOptions::default()).expect("open store");
    say(&format!(
        "START committed={:?} in={:?} out-a={:?} out-b={:?} dlq={:?}",
        store.committed_offset(GROUP, INPUT, 0),
        store.offsets(INPUT, 0),
        store.offsets("out-a", 0),
        store.offsets("out-b", 0),
        store.offsets(DLQ, 0),
    ));
    let reader = store.clone();
    std::thread::spawn(move || {
        let mut seen = Reader::default();
        loop {
            seen.check_no_partial_transaction(&reader);
            std::thread::sleep(Duration::from_millis(2));
        }
    });
    let threads = [
        std::thread::spawn({
            let store = store.clone();
            move || ingest(&store, orders, &upstream)
        }),
        std::thread::spawn({
            let store = store.clone();
            move || stage(&store, input_records(orders))
        }),
        std::thread::spawn({
            let store = store.clone();
            move || redrive(&store, dlq_records(orders))
        }),
    ];
    for thread in threads {
        thread.join().expect("thread");
    }
    say("DONE");
    std::process::exit(0);
}

/// The batch of orders starting at `first`.
fn orders_from(first: u64, orders: u64) -> Vec<Record> {
    (first..(first + INGEST_BATCH).min(orders))
        .map(|id| Record::new(id.to_string().into_bytes()).with_key(format!("order-{id}").into_bytes()))
        .collect()
}

fn ingest(store: &Store, orders: u64, upstream: &Path) {
    let mut producer = Producer::init(store, INGEST_PRODUCER).expect("init ingest producer");
    // Sequence = order id: the log says how many orders it holds.
    let durable = u64::from(producer.next_sequence(INPUT, 0));
    let resume = std::fs::read_to_string(upstream)
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(0);
    say(&format!("INGEST durable={durable} upstream={resume}"));
    if resume > durable || !(durable.is_multiple_of(INGEST_BATCH) || durable == orders) {
        violation(&format!(
            "ingest: the log holds {durable} orders, the upstream acknowledged {resume}"
        ));
    }
    let mut first = resume;
    let mut sent = 0u64;
    while first < orders {
        let records = orders_from(first, orders);
        let count = records.len() as u64;
        let appended = if first < durable {
            // The upstream delivers it again: a retry with its sequence.
            let stamp = producer.session().stamp(u32::try_from(first).unwrap());
            let appended = store.append_sequenced(INPUT, 0, &records, stamp).expect("resend");
            if !appended.duplicate {
                violation(&format!("ingest: the retry of orders {first}.. was appended again"));
            }
            appended
        } else {
            assert_eq!(u64::from(producer.next_sequence(INPUT, 0)), first);
            let appended = producer.send(INPUT, 0, &records).expect("send");
            if appended.duplicate {
                violation(&format!("ingest: new orders {first}.. reported as a duplicate"));
            }
            appended
        };
        say(&format!(
            "ACK {first} {count} {} {}",
            appended.base_offset, appended.duplicate
        ));
        first += count;
        sent += 1;
        if sent.is_multiple_of(3) || first == orders {
            // Acknowledge upstream (atomically: a torn file would resend
            // from 0, beyond the producer's de-duplication window).
            let tmp = upstream.with_extension("tmp");
            std::fs::write(&tmp, first.to_string()).expect("write upstream position");
            std::fs::rename(&tmp, upstream).expect("rename upstream position");
        }
        // An upstream that delivers at its own pace: the ingest stays busy
        // for a good part of the run, so that kills find it mid-batch.
        std::thread::sleep(Duration::from_millis(INGEST_PAUSE_MS));
    }
}

fn stage(store: &Store, input_total: u64) {
    let producer = Producer::init(store, GROUP).expect("init stage producer").id();
    let options = ConsumerOptions {
        poll_records_max: BATCH,
        ..ConsumerOptions::default()
    };
    let mut consumer = Consumer::new(store, GROUP, options).expect("consumer");
    consumer.assign(&[(INPUT, 0)]).expect("assign");
    // Every eleventh transaction is aborted once first: the consumer must
    // deliver its records again (an abort rewinds it), or they go missing.
    let mut aborted = BTreeSet::new();
    let mut transactions = 0u64;
    loop {
        let from = consumer.position(INPUT, 0).expect("position");
        if from >= input_total {
            return;
        }
        let batch = consumer.poll(Duration::from_millis(50)).expect("poll");
        if batch.is_empty() {
            continue;
        }
        assert_eq!(
            batch.first().map(|r| r.record.offset),
            Some(from),
            "delivered from the position"
        );
        let end = from + batch.len() as u64;
        let copies: Vec<(u64, u32)> = batch
            .iter()
            .map(|r| (parse_u64(&r.record.value).expect("order id"), redrive_count(&r.record)))
            .collect();
        let count = |f: &dyn Fn(u64, u32) -> bool| copies.iter().filter(|(id, rc)| f(*id, *rc)).count();
        let n_dlq = count(&|id, rc| !passes(id, rc));
        let n_a = count(&|id, rc| passes(id, rc) && output_topic(id) == "out-a");
        let n_b = count(&|id, rc| passes(id, rc) && output_topic(id) == "out-b");
        let mut txn = consumer.begin_transaction(producer).expect("begin");
        let mut retry = false;
        for (consumed, (id, rc)) in batch.iter().zip(&copies) {
            if passes(*id, *rc) {
                let out = Record::new(format!("{id}:transformed").into_bytes())
                    .with_header("id", id.to_string().into_bytes())
                    .with_header("rc", rc.to_string().into_bytes())
                    .with_header("txn", from.to_string().into_bytes())
                    .with_header("end", end.to_string().into_bytes())
                    .with_header("n.out-a", n_a.to_string().into_bytes())
                    .with_header("n.out-b", n_b.to_string().into_bytes())
                    .with_header("n.dlq", n_dlq.to_string().into_bytes());
                txn.append(output_topic(*id), 0, &[out]).expect("append");
                continue;
            }
            let message = format!("order {id} (redriven {rc} times)");
            let failure = Failure::new("validate", "InvalidOrder", &message);
            match txn
                .fail_record(GROUP, consumed, &failure, MAX_ATTEMPTS)
                .expect("fail record")
            {
                TransactionFailOutcome::DeadLettered(_) => {}
                TransactionFailOutcome::Retry(_) => retry = true,
                TransactionFailOutcome::AlreadyDeadLettered { dlq_offset } => violation(&format!(
                    "in offset {} already dead-lettered at {dlq_offset}, yet delivered again",
                    consumed.record.offset
                )),
            }
        }
        transactions += 1;
        if retry || (transactions.is_multiple_of(11) && aborted.insert(from)) {
            txn.abort();
            continue;
        }
        txn.commit().expect("commit");
    }
}

fn redrive(store: &Store, dlq_total: u64) {
    let options = RedriveOptions {
        redrive_cap: REDRIVE_CAP,
        batch_records: 3,
        max_records: Some(6),
        ..RedriveOptions::default()
    };
    loop {
        // Before the stage's first dead letter there is no DLQ: an empty report.
        let report = store.dlq_redrive(INPUT, &options).expect("redrive");
        if !report.redriven.is_empty() || !report.capped.is_empty() {
            say(&format!(
                "REDRIVE {}..{} redriven={} capped={}",
                report.resumed_from,
                report.next_offset,
                report.redriven.len(),
                report.capped.len()
            ));
        }
        if report.next_offset >= dlq_total {
            return;
        }
        if report.next_offset == report.resumed_from {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// One committed stage transaction as seen in the outputs.
#[derive(Default)]
struct Seen {
    /// Records visible per output, in `READ_ORDER`.
    counts: [usize; 3],
    /// What each output should hold (known from an output record).
    want: Option<[usize; 3]>,
    /// End of the transaction's input range.
    end: u64,
}

/// What the reader thread has seen so far: each pass reads on from where
/// the last one stopped, so its totals are what each output held when the
/// pass read it.
#[derive(Default)]
struct Reader {
    next: [u64; 3],
    txns: BTreeMap<u64, Seen>,
    /// Source offsets of dead letters not matched to a transaction yet.
    dead_letters: Vec<u64>,
}

impl Reader {
    /// Outputs are released in the order __dlq.in, out-a, out-b and read in
    /// the reverse order: once any part of a transaction is visible, every
    /// part in an output read after it must be complete.
    fn check_no_partial_transaction(&mut self, store: &Store) {
        for (i, topic) in READ_ORDER.iter().enumerate() {
            loop {
                let options = ReadOptions {
                    max_bytes: 8 << 20,
                    max_records: 100_000,
                };
                let from = self.next[i];
                let Ok(r) = store.read_with(topic, 0, from, options, Isolation::ReadCommitted) else {
                    break;
                };
                for rec in &r.records {
                    if *topic == DLQ {
                        self.dead_letters
                            .push(header_u64(rec, header::SOURCE_OFFSET).expect("source offset"));
                        continue;
                    }
                    let get = |name: &str| header_u64(rec, name).expect("stage header");
                    let entry = self.txns.entry(get("txn")).or_default();
                    entry.counts[i] += 1;
                    entry.end = get("end");
                    entry.want = Some([get("n.out-b"), get("n.out-a"), get("n.dlq")].map(|n| n as usize));
                }
                if r.next_offset <= from {
                    break;
                }
                self.next[i] = r.next_offset;
            }
        }
        let txns = &mut self.txns;
        // A dead letter belongs to the transaction whose input range holds it.
        self.dead_letters
            .retain(|source| match txns.range_mut(..=*source).next_back() {
                Some((_, seen)) if *source < seen.end => {
                    seen.counts[2] += 1;
                    false
                }
                _ => true,
            });
        for (txn, seen) in txns.iter() {
            let Some(want) = seen.want else { continue };
            let first = seen.counts.iter().position(|n| *n > 0).unwrap_or(3);
            for i in first..3 {
                if seen.counts[i] != want[i] {
                    violation(&format!("txn {txn}: saw {:?}, want {want:?}", seen.counts));
                }
            }
        }
    }
}
