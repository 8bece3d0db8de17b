//! Proves exactly-once appends of an idempotent producer across kill -9: a
//! child process (`src/bin/crash_producer.rs`) resumes from `init_producer`,
//! retries its last batch across the crash and some batches within a run,
//! and prints each acknowledged batch; this test SIGKILLs it at random
//! moments (also during start-up and recovery), reopens the store and checks
//! that each partition holds sequences 0, 1, 2, ... exactly once and in
//! order, that every acknowledged sequence is at its acknowledged offset, and
//! that nothing seen before is lost, and that the consumer group's committed
//! offsets (committed by the child after each batch, through many offset-log
//! compactions) are at least the last acknowledged commit; finally it lets a
//! child run to the end and checks every sequence up to the total appears
//! exactly once.
//!
//! `MILLRACE_PRODUCER_KILL_CYCLES` (default 25) sets the cycles,
//! `MILLRACE_PRODUCER_KILL_SEED` replays a run (the seed is printed).

use millrace::{Durability, ReadOptions, Store, StoreOptions};
use millrace_tests::kill9::Victim;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TOPIC: &str = "eos";
const PARTITIONS: u32 = 2;
/// Sequences per partition the final run must reach.
const TOTAL: u32 = 20_000;
const READY_TIMEOUT: Duration = Duration::from_secs(30);
const FINISH_TIMEOUT: Duration = Duration::from_secs(120);

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|v| {
        v.parse()
            .unwrap_or_else(|e| panic!("{name}={v:?} is not a number: {e}"))
    })
}

fn spawn(dir: &Path, seed: u64) -> Victim {
    let mut command = Command::new(env!("CARGO_BIN_EXE_crash_producer"));
    command
        .arg(dir)
        .arg(seed.to_string())
        .arg(TOTAL.to_string())
        .stdin(Stdio::piped());
    Victim::spawn(command)
}

/// (partition, sequence) → offset of every acknowledged batch.
type Acks = BTreeMap<(u32, u32), u64>;
/// partition → highest acknowledged committed offset of the consumer group.
type Commits = BTreeMap<u32, u64>;

const GROUP: &str = "eos-consumer";

fn record_line(line: &str, acks: &mut Acks, commits: &mut Commits) {
    let fields: Vec<&str> = line.split(' ').collect();
    match fields.as_slice() {
        ["ACK", p, s, o] => {
            let key = (p.parse().expect("partition"), s.parse().expect("sequence"));
            let offset: u64 = o.parse().expect("offset");
            if let Some(previous) = acks.insert(key, offset) {
                assert_eq!(previous, offset, "sequence {key:?} acknowledged at two offsets");
            }
        }
        ["COMMIT", p, o] => {
            let offset: u64 = o.parse().expect("offset");
            let entry = commits.entry(p.parse().expect("partition")).or_default();
            *entry = (*entry).max(offset);
        }
        _ => {}
    }
}

fn options() -> StoreOptions {
    StoreOptions {
        durability: Durability::Always,
        background: false,
        ..StoreOptions::default()
    }
}

/// Reopen and check: dense sequences, acknowledged offsets, nothing lost.
/// Returns the number of sequences per partition.
fn check(dir: &Path, acks: &Acks, commits: &Commits, previous: &[u32], cycle: u32) -> Vec<u32> {
    let store = Store::open(dir, options()).unwrap_or_else(|e| panic!("cycle {cycle}: reopen: {e}"));
    if !store.list_topics().iter().any(|t| t == TOPIC) {
        assert!(acks.is_empty(), "cycle {cycle}: topic lost after acknowledgements");
        return vec![0; PARTITIONS as usize];
    }
    let mut counts = Vec::new();
    for partition in 0..PARTITIONS {
        let (start, end) = store.offsets(TOPIC, partition).expect("offsets");
        assert_eq!(start, 0);
        let mut offset = 0;
        let mut sequence = 0u32;
        while offset < end {
            let read = store
                .read(TOPIC, partition, offset, ReadOptions::default())
                .expect("read");
            for record in &read.records {
                let expected = format!("p{partition}-s{sequence}");
                assert_eq!(
                    String::from_utf8_lossy(&record.value),
                    expected,
                    "cycle {cycle}: partition {partition} offset {} holds the wrong sequence (duplicate or gap)",
                    record.offset
                );
                if let Some(acked) = acks.get(&(partition, sequence)) {
                    assert_eq!(*acked, record.offset, "cycle {cycle}: {partition}/{sequence} moved");
                }
                sequence += 1;
            }
            offset = read.next_offset;
        }
        for ((p, s), _) in acks.range((partition, 0)..(partition + 1, 0)) {
            assert!(*s < sequence, "cycle {cycle}: acknowledged {p}/{s} is missing");
        }
        // The group's committed offset survived: at least the last one
        // acknowledged, at most the log end (a later, unacknowledged commit
        // may also have made it).
        let committed = store.committed(GROUP, TOPIC, partition).expect("committed");
        if let Some(acked) = commits.get(&partition) {
            let committed =
                committed.unwrap_or_else(|| panic!("cycle {cycle}: acknowledged commit of partition {partition} lost"));
            assert!(
                committed.offset >= *acked && committed.offset <= end,
                "cycle {cycle}: partition {partition} committed {} (acknowledged {acked}, log end {end})",
                committed.offset
            );
            // Its metadata is the sequence of the batch just before it.
            let metadata = String::from_utf8(committed.metadata).expect("metadata");
            let sequence_before: u32 = metadata.parse().expect("metadata is a sequence");
            // A commit follows its batch's flushed ACK line, so the batch is known.
            let batch_offset = acks.get(&(partition, sequence_before)).unwrap_or_else(|| {
                panic!("cycle {cycle}: committed past unacknowledged {partition}/{sequence_before}")
            });
            assert_eq!(
                batch_offset + 1,
                committed.offset,
                "cycle {cycle}: commit metadata and offset disagree"
            );
        }
        let before = previous.get(partition as usize).copied().unwrap_or(0);
        assert!(sequence >= before, "cycle {cycle}: partition {partition} shrank");
        counts.push(sequence);
    }
    store.close().expect("close");
    counts
}

#[test]
fn every_sequence_exactly_once_across_kill9() {
    let cycles = env_u64("MILLRACE_PRODUCER_KILL_CYCLES").unwrap_or(25) as u32;
    let seed = env_u64("MILLRACE_PRODUCER_KILL_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_nanos() as u64
    });
    println!("kill9_producer seed {seed} cycles {cycles}");
    // tmpfs when available: a process kill keeps the page cache either way,
    // and cheap fsyncs let the kills land deep into the run (through many
    // offset-log compactions). MILLRACE_TEST_ON_DISK=1 uses the temp dir.
    let shm = Path::new("/dev/shm");
    let dir = if std::env::var_os("MILLRACE_TEST_ON_DISK").is_none() && shm.is_dir() {
        tempfile::tempdir_in(shm).expect("temp dir in /dev/shm")
    } else {
        tempfile::tempdir().expect("temp dir")
    };
    let mut acks = Acks::new();
    let mut commits = Commits::new();
    let mut counts = vec![0; PARTITIONS as usize];
    let mut rng = seed;
    let mut epochs_seen = Vec::new();
    for cycle in 0..cycles {
        let child = spawn(dir.path(), rng);
        rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        // Sometimes kill during start-up/recovery, usually mid-stream.
        let ready = !rng.is_multiple_of(5);
        if ready {
            let line = child
                .next_line(READY_TIMEOUT)
                .unwrap_or_else(|e| panic!("cycle {cycle}: no READY: {e}"));
            let epoch = line
                .strip_prefix("READY ")
                .unwrap_or_else(|| panic!("cycle {cycle}: unexpected line before READY: {line}"));
            epochs_seen.push(epoch.parse::<u16>().expect("epoch"));
        }
        std::thread::sleep(Duration::from_millis(rng % 40));
        let ended = child.kill();
        // A child that finished on its own exits 0; anything else is a failure.
        assert!(
            ended.killed() || ended.status.success(),
            "cycle {cycle}: child failed: {}\n{}",
            ended.status,
            ended.stderr
        );
        for line in &ended.lines {
            record_line(line, &mut acks, &mut commits);
        }
        counts = check(dir.path(), &acks, &commits, &counts, cycle);
    }
    assert!(
        epochs_seen.windows(2).all(|w| w[0] < w[1]),
        "epochs grow: {epochs_seen:?}"
    );
    assert!(!acks.is_empty(), "the child acknowledged something");
    println!("after {cycles} kills: sequences per partition {counts:?}, epochs {epochs_seen:?}");

    // Resume to the end: every sequence up to TOTAL exactly once.
    let child = spawn(dir.path(), rng);
    let deadline = Instant::now() + FINISH_TIMEOUT;
    let mut done = false;
    while Instant::now() < deadline && !done {
        if let Ok(line) = child.next_line(Duration::from_millis(100)) {
            done = line == "DONE";
            record_line(&line, &mut acks, &mut commits);
        }
    }
    let ended = child.wait();
    assert!(
        done && ended.status.success(),
        "final run: {}\n{}",
        ended.status,
        ended.stderr
    );
    let counts = check(dir.path(), &acks, &commits, &counts, cycles);
    assert_eq!(counts, vec![TOTAL; PARTITIONS as usize]);
    println!(
        "kill9_producer: {} acknowledged batches checked over {cycles} kills",
        acks.len()
    );
}
