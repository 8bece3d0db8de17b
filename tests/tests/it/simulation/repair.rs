//! `repair` as an operation of the seeded simulation (issue 18): a store of
//! acknowledged (`Always`) records over several segments, a segment damaged
//! at random (a flipped byte, a truncation, a deletion), then the operator's
//! `repair --yes` (`millrace::inspect::Inspector`, the code the CLI runs)
//! through the simulated disk with the power cut at a seed-chosen storage
//! call of the repair, a reboot, the repair run again to completion, and the
//! checks: `check` afterwards finds no corruption and the store opens; every
//! acknowledged record outside what the repair's plan or outcome reported as
//! taken out is there once, at its offset, with its bytes; no offset is
//! handed out twice (appends after the repair continue above every offset
//! ever acknowledged, across the hole the repair leaves). A second test
//! injects EIO, ENOSPC, a short write or a failed fsync at each write and
//! sync of a repair: it fails with a typed error, a rerun finishes, and after
//! a power cut nothing is lost.

use millrace::inspect::{CheckReport, Inspector};
use millrace::storage::sim::{is_simulated_power_loss, FaultPlan, SimRng, SimStorage};
use millrace::storage::{OpenMode, Storage};
use millrace::{Error, ReadOptions, Record, Store, StoreOptions, TopicConfig};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const DATA_DIR: &str = "/millrace-data";
const BACKUP_DIR: &str = "/millrace-data/repair-backup";
const TOPIC: &str = "t";
/// Batches appended before the damage (each one `Always` append).
const BATCHES_MAX: u64 = 40;
const RECORDS_PER_BATCH_MAX: u64 = 4;

fn options() -> StoreOptions {
    StoreOptions {
        background: false,
        ..StoreOptions::default()
    }
}

fn partition_dir() -> PathBuf {
    Path::new(DATA_DIR).join("topics").join(TOPIC).join("00000")
}

fn arc(storage: &SimStorage) -> Arc<dyn Storage> {
    Arc::new(storage.clone())
}

fn is_power_loss(error: &Error) -> bool {
    matches!(error, Error::Io { source, .. } if is_simulated_power_loss(source))
}

/// How the segment is damaged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Damage {
    Flip,
    Truncate,
    Delete,
}

/// The store as built and damaged by a seed: the acknowledged records
/// (offset → value) and the damage done.
struct Built {
    storage: SimStorage,
    acknowledged: BTreeMap<u64, Vec<u8>>,
    damage: String,
}

/// Build the store of `seed` (deterministic: the same seed builds the same
/// store with the same sequence of storage calls) and damage it.
fn build(seed: u64) -> Result<Built, String> {
    let mut rng = SimRng::new(seed ^ 0x5EED_4E9A_1400_0000);
    let storage = SimStorage::new(seed, FaultPlan::none());
    storage
        .create_dir_all_durable(Path::new(DATA_DIR))
        .map_err(|e| format!("setup: {e}"))?;
    let store = Store::open_with_storage(DATA_DIR, options(), arc(&storage)).map_err(|e| format!("open: {e}"))?;
    let config = TopicConfig {
        segment_bytes: 4096,
        index_interval_bytes: 256,
        ..TopicConfig::default()
    };
    store.create_topic(TOPIC, config).map_err(|e| format!("create: {e}"))?;
    let mut acknowledged = BTreeMap::new();
    let batches = 4 + rng.below(BATCHES_MAX);
    for batch in 0..batches {
        let count = 1 + rng.below(RECORDS_PER_BATCH_MAX);
        let records: Vec<Record> = (0..count)
            .map(|r| Record::new(format!("s{seed}-b{batch}-r{r}-{}", "x".repeat(rng.below(120) as usize))))
            .collect();
        let at = store.append(TOPIC, 0, &records).map_err(|e| format!("append: {e}"))?;
        for (i, record) in records.iter().enumerate() {
            acknowledged.insert(at.base_offset + i as u64, record.value.clone());
        }
        if rng.chance(1, 8) {
            store.roll(TOPIC, 0).map_err(|e| format!("roll: {e}"))?;
        }
    }
    store.close().map_err(|e| format!("close: {e}"))?;
    let storage = storage.power_cut();
    let dir = partition_dir();
    let segments: Vec<String> = storage
        .list_dir(&dir)
        .map_err(|e| format!("list: {e}"))?
        .into_iter()
        .filter(|n| n.ends_with(".log"))
        .collect();
    let name = segments[rng.below(segments.len() as u64) as usize].clone();
    let path = dir.join(&name);
    let file = storage
        .open(&path, OpenMode::Existing)
        .map_err(|e| format!("open {name}: {e}"))?;
    let len = file.len().map_err(|e| format!("len: {e}"))?;
    let mut kind = [Damage::Flip, Damage::Truncate, Damage::Delete][rng.below(3) as usize];
    // Deleting the first of several segments is what retention does: no
    // durable evidence tells the two apart (design/durability.md), so the
    // simulation empties it instead (which leaves a gap).
    let first_of_several = segments.len() > 1 && segments.first() == Some(&name);
    if kind == Damage::Delete && first_of_several {
        kind = Damage::Truncate;
    }
    let len = if first_of_several && kind == Damage::Truncate {
        1
    } else {
        len
    };
    let damage = match kind {
        Damage::Flip if len > 0 => {
            let at = rng.below(len);
            let mut byte = [0u8];
            file.read_at(&mut byte, at).map_err(|e| format!("read: {e}"))?;
            file.write_all_at(&[byte[0] ^ (1 << rng.below(8))], at)
                .and_then(|()| file.sync_data())
                .map_err(|e| format!("flip: {e}"))?;
            format!("flip byte {at} of {name}")
        }
        Damage::Truncate if len > 0 => {
            let to = rng.below(len);
            file.set_len(to)
                .and_then(|()| file.sync_data())
                .map_err(|e| format!("truncate: {e}"))?;
            format!("truncate {name} from {len} to {to} bytes")
        }
        _ => {
            drop(file);
            storage
                .remove_file(&path)
                .and_then(|()| storage.sync_dir(&dir))
                .map_err(|e| format!("delete: {e}"))?;
            format!("delete {name}")
        }
    };
    Ok(Built {
        storage,
        acknowledged,
        damage,
    })
}

/// Offsets a repair (its dry-run plan, its outcome, or the hole it leaves)
/// reported as taken out of service.
#[derive(Default)]
struct Reported {
    ranges: Vec<(u64, u64)>,
}

impl Reported {
    fn add(&mut self, range: Option<(u64, u64)>) {
        self.ranges.extend(range.filter(|(from, to)| from < to));
    }
    fn covers(&self, offset: u64) -> bool {
        self.ranges.iter().any(|(from, to)| (*from..*to).contains(&offset))
    }
}

/// The operator's dry run: what each action of `check`'s report would take out.
fn dry_run(inspector: &Inspector, report: &CheckReport, reported: &mut Reported) -> Result<(), Error> {
    trace(format!("check: {:?}", report.problems));
    for action in millrace::inspect::repair_actions(report) {
        let plan = inspector.plan(Path::new(DATA_DIR), &action);
        trace(format!("plan {action:?}: {plan:?}"));
        if let Some(plan) = plan? {
            reported.add(plan.offsets_dropped);
            reported.add(Some((plan.kept_end, plan.continues_at)));
        }
    }
    Ok(())
}

/// `repair --yes` through `storage`, adding what it reports to `reported`.
fn repair(storage: &SimStorage, reported: &mut Reported) -> Result<millrace::inspect::RepairRun, Error> {
    let inspector = Inspector::new(arc(storage));
    trace(format!("files: {:?}", storage.files().keys().collect::<Vec<_>>()));
    let run = inspector.repair(Path::new(DATA_DIR), Path::new(BACKUP_DIR));
    trace(format!("repair: {run:?}"));
    let run = run?;
    for (_, outcome) in &run.applied {
        reported.add(outcome.offsets_dropped);
    }
    Ok(run)
}

/// `MILLRACE_SIM_REPAIR_TRACE=1`: print every step (with one seed).
fn trace(line: String) {
    if std::env::var_os("MILLRACE_SIM_REPAIR_TRACE").is_some() {
        eprintln!("  {line}");
    }
}

/// After the repair finished: `check` finds no corruption, the store opens,
/// every acknowledged record not reported is there once at its offset, and
/// new appends get offsets above every offset ever acknowledged.
fn verify(storage: &SimStorage, built: &Built, reported: &Reported) -> Result<(), String> {
    let report = Inspector::new(arc(storage))
        .check(Path::new(DATA_DIR))
        .map_err(|e| format!("check after repair: {e}"))?;
    if report.corruption_found() {
        return Err(format!("check after repair finds corruption: {:?}", report.problems));
    }
    let store =
        Store::open_with_storage(DATA_DIR, options(), arc(storage)).map_err(|e| format!("open after repair: {e}"))?;
    let mut seen: BTreeMap<Vec<u8>, u64> = BTreeMap::new();
    let mut offset = match store.read(TOPIC, 0, 0, ReadOptions::default()) {
        Err(Error::OffsetOutOfRange { start, .. }) => start,
        _ => 0,
    };
    loop {
        let read = store
            .read(TOPIC, 0, offset, ReadOptions::default())
            .map_err(|e| format!("read at {offset} after repair: {e}"))?;
        for record in &read.records {
            if let Some(first) = seen.insert(record.value.clone(), record.offset) {
                return Err(format!("record at {} is also at {first}", record.offset));
            }
        }
        if read.next_offset <= offset || read.next_offset >= read.high_watermark {
            break;
        }
        offset = read.next_offset;
    }
    for (offset, value) in &built.acknowledged {
        match seen.get(value) {
            Some(at) if at == offset => {}
            Some(at) => return Err(format!("acknowledged record {offset} is at {at}")),
            None if reported.covers(*offset) => {}
            None => return Err(format!("acknowledged record {offset} lost, and no repair reported it")),
        }
    }
    let last_acknowledged = built.acknowledged.keys().next_back().copied().unwrap_or(0);
    let at = store
        .append(TOPIC, 0, &[Record::new("after-repair")])
        .map_err(|e| format!("append after repair: {e}"))?;
    if !built.acknowledged.is_empty() && at.base_offset <= last_acknowledged {
        return Err(format!(
            "offset {} handed out again after the repair (acknowledged up to {last_acknowledged})",
            at.base_offset
        ));
    }
    store.close().map_err(|e| format!("close after repair: {e}"))
}

/// What one seed did.
pub struct RepairSeed {
    pub interrupted: bool,
    pub cut_while_writing: bool,
    pub repaired: bool,
}

/// Build, damage, repair with a power cut at a seed-chosen call of the
/// repair, reboot, repair again, verify.
pub fn run_repair_seed(seed: u64) -> Result<RepairSeed, String> {
    let fail = |built: &Built, message: String| format!("seed {seed} ({}): {message}", built.damage);
    // A trial on an identical store counts the calls of the check and of
    // the repair, so that the crash point falls inside the repair.
    let trial = build(seed)?;
    let trial_boot = trial.storage.power_cut();
    let inspector = Inspector::new(arc(&trial_boot));
    let report = inspector
        .check(Path::new(DATA_DIR))
        .map_err(|e| fail(&trial, format!("check: {e}")))?;
    let mut reported = Reported::default();
    dry_run(&inspector, &report, &mut reported).map_err(|e| fail(&trial, format!("plan: {e}")))?;
    let before_repair = trial_boot.calls();
    repair(&trial_boot, &mut reported).map_err(|e| fail(&trial, format!("repair: {e}")))?;
    let repair_calls = trial_boot.calls() - before_repair;
    let repaired = report.corruption_found();

    trace(format!("seed {seed}: trial done"));
    let built = build(seed)?;
    trace(format!(
        "acknowledged: {:?}",
        built.acknowledged.keys().collect::<Vec<_>>()
    ));
    let mut rng = SimRng::new(seed ^ 0xC0FF_EE00);
    let crash_at = before_repair + rng.below(repair_calls + 1);
    let boot = built
        .storage
        .power_cut_with_plan(FaultPlan::none().crash_at_call(crash_at));
    let inspector = Inspector::new(arc(&boot));
    let mut reported = Reported::default();
    let report = inspector
        .check(Path::new(DATA_DIR))
        .map_err(|e| fail(&built, format!("check: {e}")))?;
    dry_run(&inspector, &report, &mut reported).map_err(|e| fail(&built, format!("plan: {e}")))?;
    let interrupted = match repair(&boot, &mut reported) {
        Ok(_) => false,
        Err(e) if is_power_loss(&e) => true,
        Err(e) => return Err(fail(&built, format!("repair failed: {e}"))),
    };
    // The checks only read: a write or directory fsync means the cut came
    // while the repair was changing the directory.
    let cut_while_writing = interrupted && boot.writes() + boot.syncs_dir() > 0;
    let boot = boot.power_cut();
    // The operator runs the repair again (after a dry run) to completion.
    let inspector = Inspector::new(arc(&boot));
    let report = inspector
        .check(Path::new(DATA_DIR))
        .map_err(|e| fail(&built, format!("check after the cut: {e}")))?;
    dry_run(&inspector, &report, &mut reported).map_err(|e| fail(&built, format!("plan after the cut: {e}")))?;
    let run = repair(&boot, &mut reported).map_err(|e| fail(&built, format!("repair after the cut: {e}")))?;
    if !run.manual.is_empty() {
        return Err(fail(&built, format!("repair left manual actions: {:?}", run.manual)));
    }
    let boot = boot.power_cut();
    verify(&boot, &built, &reported).map_err(|e| fail(&built, format!("crash at call {crash_at}: {e}")))?;
    Ok(RepairSeed {
        interrupted,
        cut_while_writing,
        repaired,
    })
}

/// The faults of [`run_fault_seed`]: (name, plan) for the `index`th write or sync.
fn fault_plans(index: u64) -> [(&'static str, FaultPlan); 5] {
    [
        ("EIO at write", FaultPlan::none().eio_at_write(index)),
        ("ENOSPC at write", FaultPlan::none().enospc_at_write(index)),
        ("short write", FaultPlan::none().short_write_at(index)),
        ("failed fdatasync", FaultPlan::none().fail_sync_data_at(index)),
        ("failed directory fsync", FaultPlan::none().fail_sync_dir_at(index)),
    ]
}

/// For a damaged store of `seed`: inject each fault at each write and sync
/// a repair makes; the repair fails with a typed I/O error (never a panic,
/// never Ok), a rerun in the same boot finishes, and after a power cut and
/// a last repair nothing acknowledged and unreported is lost. Returns how
/// many faults hit.
pub fn run_fault_seed(seed: u64) -> Result<u64, String> {
    let trial = build(seed)?;
    let boot = trial.storage.power_cut();
    let (writes, syncs_data, syncs_dir) = (boot.writes(), boot.syncs_data(), boot.syncs_dir());
    repair(&boot, &mut Reported::default()).map_err(|e| format!("seed {seed}: trial repair: {e}"))?;
    let most = (boot.writes() - writes)
        .max(boot.syncs_data() - syncs_data)
        .max(boot.syncs_dir() - syncs_dir);
    let mut hits = 0;
    for index in 0..most {
        for (name, plan) in fault_plans(index) {
            let built = build(seed)?;
            let fail = |message: String| format!("seed {seed} ({}), {name} {index}: {message}", built.damage);
            // Counters start at 0 at each boot: the plan counts the repair's
            // calls (the check before it only reads).
            let boot = built.storage.power_cut_with_plan(plan.clone());
            let hit = |b: &SimStorage| {
                plan.fail_sync_data_at.is_some_and(|i| b.syncs_data() > i)
                    || plan.fail_sync_dir_at.is_some_and(|i| b.syncs_dir() > i)
                    || [plan.eio_at_write, plan.enospc_at_write, plan.short_write_at]
                        .iter()
                        .flatten()
                        .any(|i| b.writes() > *i)
            };
            let mut reported = Reported::default();
            let inspector = Inspector::new(arc(&boot));
            let report = inspector
                .check(Path::new(DATA_DIR))
                .map_err(|e| fail(format!("check: {e}")))?;
            dry_run(&inspector, &report, &mut reported).map_err(|e| fail(format!("plan: {e}")))?;
            if hit(&boot) {
                return Err(fail("the check and the plan wrote".into()));
            }
            match repair(&boot, &mut reported) {
                Ok(_) if hit(&boot) => return Err(fail("the repair went on past the fault".into())),
                Ok(_) => continue,
                Err(Error::Io { .. }) if hit(&boot) => hits += 1,
                Err(e) => return Err(fail(format!("failed with {e:?}, not the injected I/O error"))),
            }
            // A rerun in the same boot finishes.
            repair(&boot, &mut reported).map_err(|e| fail(format!("rerun: {e}")))?;
            // A power cut may take back what the failed call did not make
            // durable: the operator repairs again, then nothing is lost.
            let boot = boot.power_cut();
            let run = repair(&boot, &mut reported).map_err(|e| fail(format!("repair after the cut: {e}")))?;
            if !run.manual.is_empty() {
                return Err(fail(format!("manual actions left: {:?}", run.manual)));
            }
            verify(&boot.power_cut(), &built, &reported).map_err(fail)?;
        }
    }
    Ok(hits)
}
