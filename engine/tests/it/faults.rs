//! Proves the poisoning and recovery contract under I/O faults: a Storage wrapper
//! around FsStorage (tests/common) fails the Nth write_all_at / sync_data /
//! sync_dir / set_len with EIO, ENOSPC or a short write, for every N a short
//! workload (appends on two partitions, automatic and explicit rolls, flushes,
//! close) reaches, in `Always` and `Os` mode. After each fault the failing call
//! returns the I/O error, nothing after it is acknowledged or made visible, every
//! later write is `Poisoned`, the store names the cause (file, error kind), and a reopen on the plain file system holds exactly
//! the acknowledged appends (plus, at most, the one in-doubt batch whole), with
//! dense offsets. The one exception: ENOSPC (or a short write) on the zeros an
//! `Always` partition writes ahead of a batch refuses that batch with
//! `NoSpace`, poisons nothing, and the workload goes on. Faults during recovery itself propagate as `Error::Io` and a
//! later clean open still recovers.

use crate::common;

use common::{log_path, read_partition, scratch_dir, segment_bases, FaultKind, FaultOp, FaultyStorage, FAULT_OPS};
use millrace::{Durability, Error, Record, Store, StoreOptions, StoredRecord, TopicConfig};
use std::path::Path;
use std::sync::Arc;

const TOPIC: &str = "f";
const PARTITIONS: u32 = 2;

fn options(durability: Durability) -> StoreOptions {
    StoreOptions {
        durability,
        background: false,
        ..StoreOptions::default()
    }
}

fn topic_config() -> TopicConfig {
    TopicConfig {
        partitions: PARTITIONS,
        segment_bytes: 4096,
        index_interval_bytes: 512,
        ..TopicConfig::default()
    }
}

#[derive(Debug, Clone, Copy)]
enum Step {
    Append { partition: u32, seed: usize },
    Roll { partition: u32 },
    Flush,
}

/// ~2 rolls per partition by size, plus explicit rolls and flushes.
fn workload() -> Vec<Step> {
    let mut steps = Vec::new();
    for i in 0..22 {
        steps.push(Step::Append {
            partition: (i % 2) as u32,
            seed: i,
        });
        if i % 9 == 8 {
            steps.push(Step::Roll {
                partition: (i % 2) as u32,
            });
        }
        if i % 7 == 6 {
            steps.push(Step::Flush);
        }
    }
    steps
}

fn records(seed: usize) -> Vec<Record> {
    (0..seed % 3 + 1)
        .map(|j| {
            // Never zero bytes: a torn write over an `Always` partition's
            // preallocated zeros must not complete a batch by accident (a
            // batch ending in zeros would be whole on disk after writing
            // only its first half: in doubt, and allowed to come back).
            Record::new(vec![1 + ((seed * 7 + j) % 255) as u8; 150 + (seed * 31 + j * 17) % 200])
                .with_key(format!("{seed}-{j}").into_bytes())
                .with_timestamp(seed as i64)
        })
        .collect()
}

fn same(got: &[StoredRecord], want: &[Record]) -> bool {
    got.len() == want.len()
        && got
            .iter()
            .zip(want)
            .enumerate()
            .all(|(i, (g, w))| g.offset == i as u64 && g.value == w.value && g.key == w.key)
}

/// What one run acknowledged, and the batch whose append failed (if any).
#[derive(Debug, Default)]
struct Model {
    acked: Vec<Vec<Record>>,
    in_doubt: Option<(u32, Vec<Record>)>,
}

#[derive(Debug, Clone, Copy)]
struct Plan {
    op: FaultOp,
    nth: u64,
    kind: FaultKind,
}

/// Run the workload with at most one fault; check everything up to and after
/// the reopen. Returns the number of calls of each op the run made, and
/// whether an append was refused with `NoSpace`.
fn run(durability: Durability, plan: Option<Plan>) -> ([u64; FAULT_OPS.len()], bool) {
    let what = format!("{durability:?} {plan:?}");
    let dir = scratch_dir();
    let storage = FaultyStorage::default();
    let store = Store::open_with_storage(dir.path(), options(durability), Arc::new(storage.clone())).unwrap();
    store.create_topic(TOPIC, topic_config()).unwrap();
    match plan {
        Some(p) => storage.arm(p.op, p.nth, p.kind),
        None => storage.count_only(),
    }
    let mut model = Model {
        acked: vec![Vec::new(); PARTITIONS as usize],
        in_doubt: None,
    };
    let mut failed = false;
    // A full device met by the zeros an `Always` partition writes ahead of
    // a batch: that batch is refused with `NoSpace`, nothing is poisoned.
    let mut refused = false;
    for step in workload() {
        let result = match step {
            Step::Append { partition, seed } => store.append(TOPIC, partition, &records(seed)).map(|info| {
                let acked = &mut model.acked[partition as usize];
                assert_eq!(info.base_offset, acked.len() as u64, "{what}: dense offsets");
                acked.extend(records(seed));
            }),
            Step::Roll { partition } => store.roll(TOPIC, partition),
            Step::Flush => store.flush(),
        };
        match (failed, result) {
            (false, Ok(())) => {}
            (false, Err(Error::NoSpace { .. })) => {
                let fired = storage.fired();
                assert!(
                    matches!(&fired, Some(f) if f.op == FaultOp::Write
                        && matches!(f.kind, FaultKind::Enospc | FaultKind::ShortWrite)
                        && f.path.extension().is_some_and(|e| e == "log")),
                    "{what}: {step:?}: NoSpace only for a full device on a segment write, fault {fired:?}"
                );
                assert!(
                    matches!(step, Step::Append { .. }) && durability == Durability::Always,
                    "{what}: {step:?}: NoSpace only from the zeros of an Always append"
                );
                assert!(!store.is_poisoned(), "{what}: NoSpace leaves the store writable");
                assert!(store.poison_cause().is_none(), "{what}");
                assert_eq!(store.metrics().no_space_rejections, 1, "{what}: counted");
                refused = true;
            }
            (false, Err(e)) => {
                assert!(
                    matches!(e, Error::Io { .. }),
                    "{what}: {step:?}: the failing call returns the I/O error, got {e:?}"
                );
                assert!(storage.fired().is_some(), "{what}: error without a fault: {e}");
                assert!(store.is_poisoned(), "{what}: a failed write or fsync poisons");
                let cause = store
                    .poison_cause()
                    .unwrap_or_else(|| panic!("{what}: a poisoned store keeps its cause"));
                assert_eq!(
                    store.metrics().poisoned.as_ref(),
                    Some(&cause),
                    "{what}: metrics show the cause"
                );
                let fault = storage.fired().unwrap();
                assert!(
                    cause.path == fault.path
                        || cause.path.with_extension("tmp") == fault.path
                        || cause.path.parent() == Some(fault.path.as_path()),
                    "{what}: the cause names the failing file (or the file an atomic replace was writing, whose temporary file or directory failed): {cause:?}, {fault:?}"
                );
                if matches!(fault.kind, FaultKind::Enospc | FaultKind::ShortWrite) {
                    assert_eq!(
                        cause.kind,
                        std::io::ErrorKind::StorageFull,
                        "{what}: the cause's error kind"
                    );
                    assert!(cause.advice().contains("free space"), "{what}: {}", cause.advice());
                }
                if let Step::Append { partition, seed } = step {
                    model.in_doubt = Some((partition, records(seed)));
                }
                failed = true;
            }
            // Flushing what is already durable, or rolling an empty segment,
            // writes nothing; the visibility check below still applies.
            (true, Ok(())) if matches!(step, Step::Flush | Step::Roll { .. }) => {}
            (true, result) => {
                assert!(
                    matches!(result, Err(Error::Poisoned)),
                    "{what}: {step:?} after the fault must be Poisoned, got {result:?}"
                );
            }
        }
        // Nothing unacknowledged is visible before the reopen.
        for p in 0..PARTITIONS {
            let visible = read_partition(&store, TOPIC, p);
            assert!(
                same(&visible, &model.acked[p as usize]),
                "{what}: visible != acknowledged on {p}"
            );
        }
    }
    if !failed {
        if let Err(e) = store.clone().close() {
            assert!(matches!(e, Error::Io { .. }), "{what}: close: {e:?}");
            failed = true;
        }
    }
    let fired = storage.fired();
    assert_eq!(
        fired.is_some(),
        failed || refused,
        "{what}: a fault fired ({fired:?}) iff a call failed or was refused"
    );
    let counts = FAULT_OPS.map(|op| storage.count(op));
    drop(store);

    // Reopen on the plain file system: recovery decides from the bytes on disk.
    let store = Store::open(dir.path(), options(durability)).unwrap_or_else(|e| panic!("{what}: reopen: {e}"));
    for p in 0..PARTITIONS {
        let got = read_partition(&store, TOPIC, p);
        let acked = &model.acked[p as usize];
        let mut with_doubt = acked.clone();
        let doubtful = match &model.in_doubt {
            Some((dp, batch)) if *dp == p => {
                with_doubt.extend(batch.iter().cloned());
                // A log write that failed wrote nothing or a torn prefix: that
                // batch cannot come back. After an index write or an fsync
                // failed, the whole batch is in the page cache and may.
                !fired
                    .as_ref()
                    .is_some_and(|f| f.op == FaultOp::Write && f.path.extension().is_some_and(|e| e == "log"))
            }
            _ => false,
        };
        assert!(
            same(&got, acked) || (doubtful && same(&got, &with_doubt)),
            "{what}: partition {p}: {} records after reopen, {} acknowledged, in doubt: {:?} (fault {fired:?})",
            got.len(),
            acked.len(),
            model.in_doubt.as_ref().map(|(dp, b)| (dp, b.len()))
        );
        let info = store.append(TOPIC, p, &records(99)).unwrap();
        assert_eq!(info.base_offset, got.len() as u64, "{what}: appends continue densely");
    }
    (counts, refused)
}

fn kinds_for(op: FaultOp) -> &'static [FaultKind] {
    match op {
        FaultOp::Write => &[FaultKind::Eio, FaultKind::Enospc, FaultKind::ShortWrite],
        _ => &[FaultKind::Eio, FaultKind::Enospc],
    }
}

fn every_fault(durability: Durability) {
    let (counts, _) = run(durability, None);
    assert!(
        counts[0] > 20 && counts[1] > 0,
        "{durability:?}: workload makes calls: {counts:?}"
    );
    let mut runs = 0;
    let mut refusals = 0;
    for (slot, op) in FAULT_OPS.iter().enumerate() {
        for nth in 0..counts[slot] {
            for kind in kinds_for(*op) {
                let (_, refused) = run(
                    durability,
                    Some(Plan {
                        op: *op,
                        nth,
                        kind: *kind,
                    }),
                );
                runs += 1;
                refusals += usize::from(refused);
            }
        }
    }
    eprintln!("{durability:?}: {runs} fault runs over call counts {counts:?} (write, sync_data, sync_dir, set_len), {refusals} refused with NoSpace");
    // Every `Always` append writes zeros ahead (4 KiB segments): a full
    // device there must have been met, and refused without poisoning.
    assert_eq!(
        refusals > 0,
        durability == Durability::Always,
        "{durability:?}: {refusals} NoSpace refusals"
    );
}

#[test]
fn every_fault_in_always_mode() {
    every_fault(Durability::Always);
}

#[test]
fn every_fault_in_os_mode() {
    every_fault(Durability::Os);
}

// ---------------------------------------------------------------------------
// Faults during recovery: I/O errors propagate; a later clean open recovers.
// ---------------------------------------------------------------------------

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else if entry.file_name() != "LOCK" {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
fn faults_during_recovery_propagate_and_a_clean_open_recovers() {
    // A store that needs every kind of repair: a torn tail to truncate and
    // fsync, a sealed segment index to rebuild, a last index to rewrite.
    let fixture = scratch_dir();
    let mut acked = vec![Vec::new(); PARTITIONS as usize];
    {
        let store = Store::open(fixture.path(), options(Durability::Always)).unwrap();
        store.create_topic(TOPIC, topic_config()).unwrap();
        for i in 0..20 {
            let p = i % 2;
            store.append(TOPIC, p as u32, &records(i)).unwrap();
            acked[p].extend(records(i));
        }
        store.close().unwrap();
    }
    for p in 0..PARTITIONS {
        let bases = segment_bases(fixture.path(), TOPIC, p);
        assert!(bases.len() >= 2, "rolled: {bases:?}");
        let last = log_path(fixture.path(), TOPIC, p, *bases.last().unwrap());
        let mut bytes = std::fs::read(&last).unwrap();
        bytes.extend_from_slice(&[0xAB; 100]);
        std::fs::write(&last, bytes).unwrap();
        let sealed_index = common::index_path(fixture.path(), TOPIC, p, bases[0]);
        std::fs::remove_file(sealed_index).unwrap();
    }

    let open_counting = |plan: Option<Plan>| -> ([u64; FAULT_OPS.len()], bool) {
        let dir = scratch_dir();
        copy_dir(fixture.path(), dir.path());
        let storage = FaultyStorage::default();
        match plan {
            Some(p) => storage.arm(p.op, p.nth, p.kind),
            None => storage.count_only(),
        }
        let result = Store::open_with_storage(dir.path(), options(Durability::Always), Arc::new(storage.clone()));
        let counts = FAULT_OPS.map(|op| storage.count(op));
        let fired = storage.fired();
        match (&result, &fired) {
            (Ok(_), None) => {}
            (Err(Error::Io { .. }), Some(_)) => {}
            (other, fired) => panic!("{plan:?}: open returned {other:?} with fault {fired:?}"),
        }
        drop(result);
        let store = Store::open(dir.path(), options(Durability::Always)).unwrap_or_else(|e| panic!("{plan:?}: {e}"));
        for p in 0..PARTITIONS {
            let got = read_partition(&store, TOPIC, p);
            assert!(same(&got, &acked[p as usize]), "{plan:?}: partition {p} after recovery");
        }
        (counts, fired.is_some())
    };

    let (counts, _) = open_counting(None);
    assert!(
        counts[0] > 0 && counts[1] > 0 && counts[3] > 0,
        "recovery writes, syncs and truncates: {counts:?}"
    );
    for (slot, op) in FAULT_OPS.iter().enumerate() {
        for nth in 0..counts[slot] {
            for kind in kinds_for(*op) {
                let (_, fired) = open_counting(Some(Plan {
                    op: *op,
                    nth,
                    kind: *kind,
                }));
                assert!(fired, "{op:?} #{nth} was reached");
            }
        }
    }
}
