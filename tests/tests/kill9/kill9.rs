//! Proves that `Always` appends survive kill -9: a child process
//! (`src/bin/crash_appender.rs`) appends from several threads and prints each
//! acknowledged batch; this test SIGKILLs it at random moments (also during its
//! start-up and recovery), reopens the store and checks that every acknowledged
//! record is present exactly once at its acknowledged offset with identical
//! bytes, that offsets are dense from 0, that no record id appears twice, that
//! every record in the log (acknowledged or not) has the exact bytes derived
//! from its id, and that nothing seen at one reopen is missing or changed at
//! the next; then it restarts the child on the same directory.
//!
//! A second test shows the checker fails on a missing, changed, lost or
//! duplicated record. `MILLRACE_KILL_CYCLES` (default 50) sets the cycles,
//! `MILLRACE_KILL_SEED` replays a run (the seed is printed at the start).
//! A third runs `MILLRACE_KILL_SPIN_CYCLES` (default 12) cycles with 32
//! appender threads, so that group-commit waiters are killed mid-spin.

use millrace::{ReadOptions, Store, StoredRecord};
use millrace_tests::crash::{
    batch_checksum, fnv64, make_record, payload, store_options, Ack, RecordId, SplitMix64, PARTITIONS,
    PAYLOAD_HASH_HEADER, TOPIC,
};
use millrace_tests::kill9::Victim;
use std::collections::HashSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const APPENDER_THREADS: u32 = 4;
/// Enough threads on `PARTITIONS` partitions that group commits cover 8 or
/// more appends, where waiters spin before they sleep.
const SPINNING_APPENDER_THREADS: u32 = 32;
const READY_TIMEOUT: Duration = Duration::from_secs(30);

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|v| {
        v.parse()
            .unwrap_or_else(|e| panic!("{name}={v:?} is not a number: {e}"))
    })
}

/// One record as found in the log at the last reopen: its id and content hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seen {
    id: RecordId,
    checksum: u64,
}

fn record_checksum(r: &StoredRecord) -> u64 {
    batch_checksum([(r.key.as_deref(), r.value.as_slice(), r.headers.as_slice())])
}

fn record_id(record: &StoredRecord, cycle: u32) -> RecordId {
    let key = record.key.as_deref().unwrap_or_default();
    std::str::from_utf8(key)
        .ok()
        .and_then(RecordId::parse)
        .unwrap_or_else(|| {
            panic!(
                "cycle {cycle}: record at offset {} has no valid id: {key:?}",
                record.offset
            )
        })
}

fn spawn_appender(dir: &Path, run: u32, seed: u64, threads: u32) -> Victim {
    let mut command = Command::new(env!("CARGO_BIN_EXE_crash_appender"));
    command
        .arg(dir)
        .arg(run.to_string())
        .arg(seed.to_string())
        .arg(threads.to_string())
        .stdin(Stdio::piped());
    Victim::spawn(command)
}

/// SIGKILL the child, reap it and return every complete line it printed.
fn kill_appender(appender: Victim, run: u32) -> Vec<String> {
    let ended = appender.kill();
    assert!(
        ended.killed(),
        "run {run}: the child must die by our SIGKILL, not exit by itself ({}); its stderr:\n{}",
        ended.status,
        ended.stderr
    );
    ended.lines
}

/// Wait for `READY` (the store is open and the topic exists); collect lines.
fn wait_ready(appender: &Victim, lines: &mut Vec<String>, run: u32) {
    if appender
        .wait_for_line(READY_TIMEOUT, |line| line == "READY", lines)
        .is_none()
    {
        panic!("run {run}: no READY from crash_appender");
    }
}

#[derive(Debug, Clone, Default)]
struct Checker {
    /// Every batch acknowledged in any run so far.
    acked: Vec<Ack>,
    /// The log of each partition at the previous reopen.
    previous: Vec<Vec<Seen>>,
    /// Segments in the topic at the last reopen.
    segments: usize,
    /// Group-commit waits that spun, and that saw their hand-off while
    /// spinning, summed over the children's last reports.
    spins: u64,
    spin_handoffs: u64,
}

impl Checker {
    /// Reopen the store and check it against everything acknowledged so far.
    fn check(&mut self, dir: &Path, cycle: u32) {
        let store = Store::open(dir, store_options()).unwrap_or_else(|e| panic!("cycle {cycle}: reopen: {e}"));
        if !store.list_topics().iter().any(|t| t == TOPIC) {
            // Killed before the topic was created: nothing can have been acknowledged.
            assert!(
                self.acked.is_empty(),
                "cycle {cycle}: topic lost after acknowledgements"
            );
            store.close().expect("close");
            return;
        }
        let mut ids = HashSet::new();
        let mut current = Vec::with_capacity(PARTITIONS as usize);
        for partition in 0..PARTITIONS {
            let log = read_partition(&store, partition, cycle);
            let mut seen = Vec::with_capacity(log.len());
            for record in &log {
                let id = record_id(record, cycle);
                assert!(
                    ids.insert(id),
                    "cycle {cycle}: record {id} is duplicated (again at partition {partition} offset {})",
                    record.offset
                );
                assert_eq!(
                    record.value,
                    payload(&id, record.value.len()),
                    "cycle {cycle}: bytes of {id} at partition {partition} offset {}",
                    record.offset
                );
                assert_eq!(
                    record.header(PAYLOAD_HASH_HEADER),
                    Some(&fnv64(&record.value).to_le_bytes()[..]),
                    "cycle {cycle}: header of {id}"
                );
                seen.push(Seen {
                    id,
                    checksum: record_checksum(record),
                });
            }
            let before = self.previous.get(partition as usize).map_or(&[][..], Vec::as_slice);
            assert!(
                seen.len() >= before.len() && seen.get(..before.len()) == Some(before),
                "cycle {cycle}: partition {partition} lost or changed records seen at the previous reopen \
                 ({} before, {} now)",
                before.len(),
                seen.len()
            );
            current.push((log, seen));
        }
        for ack in &self.acked {
            let (log, _) = current
                .get(ack.partition as usize)
                .unwrap_or_else(|| panic!("cycle {cycle}: acknowledged partition out of range: {ack}"));
            let start = ack.base_offset as usize;
            let batch = log
                .get(start..start + ack.record_count as usize)
                .unwrap_or_else(|| panic!("cycle {cycle}: acknowledged batch missing: {ack}"));
            let ids: Vec<RecordId> = batch.iter().map(|r| record_id(r, cycle)).collect();
            assert_eq!(ids, ack.ids, "cycle {cycle}: ids at the acknowledged offsets of {ack}");
            let checksum = batch_checksum(
                batch
                    .iter()
                    .map(|r| (r.key.as_deref(), r.value.as_slice(), r.headers.as_slice())),
            );
            assert_eq!(checksum, ack.checksum, "cycle {cycle}: content of {ack}");
        }
        self.previous = current.into_iter().map(|(_, seen)| seen).collect();
        self.segments = store
            .describe_topic(TOPIC)
            .expect("describe")
            .partitions
            .iter()
            .map(|p| p.segments)
            .sum();
        store.close().expect("close after check");
    }
}

/// All records of a partition, checking offsets are dense from 0 to the high watermark.
fn read_partition(store: &Store, partition: u32, cycle: u32) -> Vec<StoredRecord> {
    let (start, end) = store.offsets(TOPIC, partition).expect("offsets");
    assert_eq!(start, 0, "cycle {cycle}: partition {partition} start offset");
    let mut records = Vec::with_capacity(end as usize);
    let mut offset = 0;
    while offset < end {
        let result = store
            .read(
                TOPIC,
                partition,
                offset,
                ReadOptions {
                    max_bytes: 4 * 1024 * 1024,
                    max_records: 100_000,
                },
            )
            .unwrap_or_else(|e| panic!("cycle {cycle}: read partition {partition} at {offset}: {e}"));
        assert!(
            result.next_offset > offset,
            "cycle {cycle}: read at {offset} made no progress"
        );
        for record in result.records {
            assert_eq!(
                record.offset,
                records.len() as u64,
                "cycle {cycle}: partition {partition} offsets are not dense"
            );
            records.push(record);
        }
        offset = result.next_offset;
    }
    assert_eq!(
        records.len() as u64,
        end,
        "cycle {cycle}: partition {partition} record count"
    );
    records
}

/// When a cycle kills the child.
#[derive(Debug, Clone, Copy)]
enum Kill {
    /// This long after spawning: process start, lock, recovery, topic creation.
    DuringStartUp(Duration),
    /// This long after the child printed READY (store open, appending).
    AfterReady(Duration),
}

/// Start the child on `dir`, SIGKILL it as `kill` says, and note what it acknowledged.
fn run_cycle(dir: &Path, cycle: u32, seed: u64, kill: Kill, threads: u32, checker: &mut Checker) {
    let appender = spawn_appender(dir, cycle, seed, threads);
    let mut lines = Vec::new();
    match kill {
        Kill::DuringStartUp(delay) => std::thread::sleep(delay),
        Kill::AfterReady(delay) => {
            wait_ready(&appender, &mut lines, cycle);
            std::thread::sleep(delay);
        }
    }
    lines.extend(kill_appender(appender, cycle));
    let mut spins = (0, 0);
    for line in lines.iter().filter(|l| l.as_str() != "READY") {
        if let Some(counts) = line.strip_prefix("SPINS ") {
            let parsed: Vec<u64> = counts.split(' ').filter_map(|n| n.parse().ok()).collect();
            let [spun, handed] = parsed.as_slice() else {
                panic!("cycle {cycle}: bad line from child: {line:?}");
            };
            spins = (spins.0.max(*spun), spins.1.max(*handed));
            continue;
        }
        let ack = Ack::parse(line).unwrap_or_else(|| panic!("cycle {cycle}: bad line from child: {line:?}"));
        checker.acked.push(ack);
    }
    checker.spins += spins.0;
    checker.spin_handoffs += spins.1;
}

/// `cycles` kill -9 cycles of a child with `threads` appenders on one
/// directory, each followed by a full check; returns the checker.
fn kill_cycles(name: &str, cycles: u32, threads: u32) -> Checker {
    let seed = env_u64("MILLRACE_KILL_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    eprintln!("{name}: {cycles} cycles, {threads} threads, MILLRACE_KILL_SEED={seed}");
    let started = Instant::now();
    let mut rng = SplitMix64::new(seed);
    let dir = tempfile::tempdir().expect("temp dir");
    let mut checker = Checker::default();
    let mut early_kills = 0;
    for cycle in 0..cycles {
        let kill = if cycle > 0 && rng.below(8) == 0 {
            early_kills += 1;
            Kill::DuringStartUp(Duration::from_micros(rng.below(20_000)))
        } else {
            Kill::AfterReady(Duration::from_micros(5_000 + rng.below(200_000)))
        };
        run_cycle(dir.path(), cycle, rng.next_u64(), kill, threads, &mut checker);
        checker.check(dir.path(), cycle);
    }
    let total: usize = checker.previous.iter().map(Vec::len).sum();
    let acked: usize = checker.acked.iter().map(|a| a.record_count as usize).sum();
    eprintln!(
        "{name}: {cycles} cycles ({early_kills} during start-up) in {:.1} s; {} batches / {acked} records \
         acknowledged; {total} records in the log, {} segments; {} waits spun, {} saw their hand-off spinning",
        started.elapsed().as_secs_f64(),
        checker.acked.len(),
        checker.segments,
        checker.spins,
        checker.spin_handoffs
    );
    assert!(acked > 0, "no append was ever acknowledged");
    checker
}

#[test]
fn acknowledged_appends_survive_kill_9() {
    let cycles = env_u64("MILLRACE_KILL_CYCLES").unwrap_or(50) as u32;
    let checker = kill_cycles("kill9", cycles, APPENDER_THREADS);
    if cycles >= 20 {
        assert!(
            checker.segments > 3 * PARTITIONS as usize,
            "segments should roll many times: {}",
            checker.segments
        );
    }
}

/// The same with enough threads that group-commit waiters spin before they
/// sleep (`StoreOptions::group_commit_spin`): children are killed while
/// waiters spin, and the checks are the same.
#[test]
fn acknowledged_appends_survive_kill_9_with_spinning_waiters() {
    let cycles = env_u64("MILLRACE_KILL_SPIN_CYCLES").unwrap_or(12) as u32;
    let checker = kill_cycles("kill9 spinning", cycles, SPINNING_APPENDER_THREADS);
    assert!(
        checker.spin_handoffs > 0,
        "no group-commit waiter saw its hand-off while spinning ({} spun): the test did not test spinning",
        checker.spins
    );
}

/// The checker is not vacuous: it fails on an acknowledged batch that is
/// missing, on changed content, on a record lost since the previous reopen,
/// and on a duplicated record.
#[test]
fn checker_catches_lost_changed_and_duplicated_records() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut checker = Checker::default();
    run_cycle(
        dir.path(),
        0,
        42,
        Kill::AfterReady(Duration::from_millis(150)),
        APPENDER_THREADS,
        &mut checker,
    );
    checker.check(dir.path(), 0);
    let last = checker.acked.last().cloned().expect("some appends were acknowledged");
    let path = dir.path().to_path_buf();
    let fails = |checker: &Checker| {
        let mut checker = checker.clone();
        let path = path.clone();
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || checker.check(&path, 1))).is_err()
    };
    assert!(!fails(&checker), "an untouched store must pass");

    let mut missing = checker.clone();
    missing.acked.push(Ack {
        base_offset: last.base_offset + 1_000_000,
        ..last.clone()
    });
    assert!(fails(&missing), "an acknowledged batch past the log must be reported");

    let mut changed = checker.clone();
    changed.acked.push(Ack {
        checksum: last.checksum ^ 1,
        ..last.clone()
    });
    assert!(fails(&changed), "changed content must be reported");

    let mut lost = checker.clone();
    let first_id = lost.previous[0].first().map_or(last.ids[0], |s| s.id);
    lost.previous[0].push(Seen {
        id: RecordId {
            sequence: u64::MAX,
            ..first_id
        },
        checksum: 0,
    });
    assert!(fails(&lost), "a record seen before and gone now must be reported");

    // A replayed append: the same record (same id, same bytes) written again.
    let store = Store::open(dir.path(), store_options()).expect("open");
    let again = make_record(&last.ids[0], 10);
    store.append(TOPIC, last.partition, &[again]).expect("append duplicate");
    store.close().expect("close");
    assert!(fails(&checker), "a duplicated record must be reported");
}
