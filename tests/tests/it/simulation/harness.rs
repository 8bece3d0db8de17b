//! The seeded power-loss simulation: one seed = one workload of store
//! operations on a [`SimStorage`], a power cut at a seed-chosen storage call
//! (optionally after an injected EIO, ENOSPC, short write or failed fsync, and
//! optionally a second power cut during recovery), a reopen, and a check of
//! what survived against a plain model. Shared by `tests/simulation.rs` and
//! the negative control in `tests/negative-control` (included by path, so the
//! negative control can build the engine with a different feature set).
//!
//! Everything is derived from the seed: the workload, the crash point, the
//! faults and every choice the simulated disk makes at the power cut. A
//! failure prints its seed and the trace of operations; replay it with
//! `MILLRACE_SIM_SEED=<seed> cargo test --release -p millrace-tests --test it simulation::replay -- --nocapture`
//! (plus `MILLRACE_SIM_SCENARIO=<scenario>` for a seed of a known bug).

use millrace::storage::Storage;
use millrace::testing::sim::{is_simulated_power_loss, FaultPlan, SimRng, SimStorage};
use millrace::{Durability, Error, Producer, ReadOptions, Record, Store, StoreOptions, TopicConfig};
use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

pub const DATA_DIR: &str = "/millrace-data";

/// The topics every workload creates: one per durability mode, and an
/// `Always` topic without retention for producers, transactions and offsets.
struct TopicSpec {
    name: &'static str,
    durability: Durability,
    partitions: u32,
    retention_bytes: Option<u64>,
}

const TOPICS: [TopicSpec; 4] = [
    TopicSpec {
        name: "always",
        durability: Durability::Always,
        partitions: 2,
        retention_bytes: Some(12 * 1024),
    },
    TopicSpec {
        name: "interval",
        // Long enough never to fire on its own: flushes are explicit ops.
        durability: Durability::Interval { ms: 3_600_000 },
        partitions: 1,
        retention_bytes: None,
    },
    TopicSpec {
        name: "os",
        durability: Durability::Os,
        partitions: 1,
        retention_bytes: Some(8 * 1024),
    },
    TopicSpec {
        name: "txn",
        durability: Durability::Always,
        partitions: 2,
        retention_bytes: None,
    },
];

/// Small segments so that workloads roll and retention deletes.
const SEGMENT_BYTES: u64 = 4096;
const OPS_MIN: u64 = 20;
const OPS_SPREAD: u64 = 40;
const VALUE_BYTES_MAX: u64 = 700;
const RECORDS_PER_BATCH_MAX: u64 = 4;
/// Upper bound for a crash point inside recovery (calls of one open).
const RECOVERY_CALLS_MAX: u64 = 200;
/// Transactions and offset commits go to the `txn` topic (`Always`, so
/// acknowledged records are durable and a redo after a crash keeps offsets;
/// no retention, see `Scenarios::truncate_transactions`).
const TRANSACTION_TOPIC: usize = 3;
const GROUP: &str = "sim-group";
const PRODUCER: &str = "sim-producer";
/// The idempotent producer, which sends to the `txn` topic too.
const IDEMPOTENT_PRODUCER: &str = "sim-idempotent";

#[derive(Debug, Clone, Copy)]
enum Op {
    Append {
        topic: usize,
        partition: u32,
        records: u64,
        value_bytes: u64,
    },
    Flush,
    Roll {
        topic: usize,
        partition: u32,
    },
    Retention,
    TruncatePrefix {
        topic: usize,
        partition: u32,
        percent: u64,
    },
    Read {
        topic: usize,
        partition: u32,
    },
    /// Close the store and open it again (the process lives on).
    Reopen,
    /// A kill -9 and a reopen (the page cache survives); with
    /// `Scenarios::process_crash` off, a power cut and a reboot instead.
    ProcessCrash,
    /// A transaction over partitions of the `txn` topic (bit 0: partition
    /// 0, bit 1: partition 1), optionally with an offset commit.
    Transaction {
        parts: u32,
        records: u64,
        value_bytes: u64,
        offset_percent: Option<u64>,
    },
    /// A send of the idempotent producer to a partition of the `txn` topic.
    Send {
        partition: u32,
        records: u64,
        value_bytes: u64,
    },
    /// A plain offset commit for a partition of the `txn` topic.
    CommitOffset {
        partition: u32,
        percent: u64,
    },
    /// Operator action (`Scenarios::operator_actions`): commit the group's
    /// offset at the end of partition 0, delete the topic (not `txn`) and
    /// create it again under the same name: a new incarnation, empty, that
    /// inherits no committed offset.
    DeleteRecreate {
        topic: usize,
    },
    /// Operator action: the group fails the record at its committed offset
    /// of a `txn` partition (one attempt): the record moves to the DLQ and the
    /// group's offset moves past it, never back.
    FailRecord {
        partition: u32,
    },
    /// Operator action: redrive the `txn` topic's DLQ (each dead letter back
    /// to its partition, in one transaction with its mark and progress).
    Redrive,
    /// Operator action on the topic `DLQ_SCRATCH_TOPIC` (outside the model):
    /// create it if missing, append a record and dead-letter it, then
    /// optionally redrive the DLQ and optionally delete the topic, so that
    /// later ops dead-letter into a new incarnation whose DLQ offsets restart
    /// at 0. Each dead letter of the current incarnation must be counted in
    /// the depth, listed unmarked and redriven (`Run::dlq_scratch`).
    DlqScratch {
        redrive: bool,
        delete: bool,
    },
}

/// The topic of `Op::DlqScratch`; not in `TOPICS`, so the model checks of
/// the other topics never see it.
const DLQ_SCRATCH_TOPIC: &str = "dlq-scratch";

fn pick_partition(rng: &mut SimRng) -> (usize, u32) {
    let topic = rng.below(TOPICS.len() as u64) as usize;
    let partitions = TOPICS.get(topic).map_or(1, |t| t.partitions);
    (topic, rng.below(u64::from(partitions)) as u32)
}

/// Records and value sizes of a transaction whose parts are larger than the
/// `txn` topic's batch limit (`SEGMENT_BYTES`): each part is applied as
/// several batches.
const OVERSIZED_RECORDS_MIN: u64 = 8;
const OVERSIZED_VALUE_BYTES_MIN: u64 = 500;

/// With `Scenarios::operator_actions`, about one op in four becomes an
/// operator action or a transaction with oversized parts. Draws from `rng`
/// only when the scenario is on, so every other seed's workload is unchanged.
fn operator_op(rng: &mut SimRng, op: Op) -> Op {
    match rng.below(100) {
        0..=3 => Op::DeleteRecreate {
            topic: rng.below(TRANSACTION_TOPIC as u64) as usize,
        },
        4..=5 => Op::DlqScratch {
            redrive: rng.chance(2, 3),
            delete: rng.chance(1, 2),
        },
        6..=10 => Op::FailRecord {
            partition: rng.below(2) as u32,
        },
        11..=13 => Op::Redrive,
        14..=23 => Op::Transaction {
            parts: 1 + rng.below(3) as u32,
            records: OVERSIZED_RECORDS_MIN + rng.below(OVERSIZED_RECORDS_MIN),
            value_bytes: OVERSIZED_VALUE_BYTES_MIN + rng.below(VALUE_BYTES_MAX - OVERSIZED_VALUE_BYTES_MIN + 1),
            offset_percent: rng.chance(1, 2).then(|| rng.below(101)),
        },
        _ => op,
    }
}

fn workload(rng: &mut SimRng, scenarios: Scenarios) -> Vec<Op> {
    let count = OPS_MIN + rng.below(OPS_SPREAD);
    (0..count)
        .map(|_| {
            let op = base_op(rng);
            if scenarios.operator_actions {
                operator_op(rng, op)
            } else {
                op
            }
        })
        .collect()
}

fn base_op(rng: &mut SimRng) -> Op {
    {
        {
            let (topic, partition) = pick_partition(rng);
            match rng.below(100) {
                0..=59 => Op::Append {
                    topic,
                    partition,
                    records: 1 + rng.below(RECORDS_PER_BATCH_MAX),
                    value_bytes: rng.below(VALUE_BYTES_MAX + 1),
                },
                60..=65 => Op::Flush,
                66..=71 => Op::Roll { topic, partition },
                72..=76 => Op::Retention,
                77..=79 => Op::TruncatePrefix {
                    topic,
                    partition,
                    percent: rng.below(101),
                },
                80..=84 => Op::Read { topic, partition },
                85..=88 => Op::Reopen,
                89..=91 => Op::ProcessCrash,
                92..=94 => Op::Send {
                    partition: rng.below(2) as u32,
                    records: 1 + rng.below(RECORDS_PER_BATCH_MAX),
                    value_bytes: rng.below(VALUE_BYTES_MAX + 1),
                },
                95..=97 => Op::Transaction {
                    parts: 1 + rng.below(3) as u32,
                    records: 1 + rng.below(RECORDS_PER_BATCH_MAX),
                    value_bytes: rng.below(VALUE_BYTES_MAX + 1),
                    offset_percent: rng.chance(1, 2).then(|| rng.below(101)),
                },
                _ => Op::CommitOffset {
                    partition: rng.below(2) as u32,
                    percent: rng.below(101),
                },
            }
        }
    }
}

/// What the model knows about one partition.
#[derive(Debug, Default, Clone)]
struct PartitionModel {
    /// Value of every record ever appended and not lost, by offset.
    log: Vec<Vec<u8>>,
    /// Offsets just past each batch of `log` (and 0).
    batch_ends: BTreeSet<u64>,
    /// A batch whose append failed: it may or may not have been written.
    pending: Vec<Vec<u8>>,
    /// Records below this survive a power cut: acknowledged in `Always` mode,
    /// or covered by a successful flush or roll in any mode.
    acked_end: u64,
    /// Records below this were visible to readers in a mode that promises
    /// visible means durable (`Always`, `Interval`).
    visible_end: u64,
    /// A start offset made durable by a successful `truncate_prefix`.
    truncated_start: u64,
    /// The transaction the pending batch belongs to, if any.
    pending_transaction: Option<u64>,
    /// The group's committed offset for this partition: acknowledged, and a
    /// failed commit that may or may not have landed.
    committed_offset: Option<u64>,
    pending_offset: Option<u64>,
    /// Batches of the idempotent producer in `log`: base offset, records.
    producer_batches: Vec<(u64, u64)>,
    /// The pending batch is the idempotent producer's.
    pending_send: bool,
}

#[derive(Debug, Default)]
struct TopicModel {
    /// `Some(true)` created, `Some(false)` creation failed (may exist), `None` never tried.
    created: Option<bool>,
    partitions: Vec<PartitionModel>,
    /// Times the topic was deleted (and created again): offsets restart at 0
    /// in each incarnation.
    incarnation: u64,
    /// A delete was started and did not return Ok: the topic may be gone.
    delete_in_doubt: bool,
}

impl TopicModel {
    /// The topic is gone: a later creation is a new, empty incarnation.
    fn forget(&mut self, partitions: u32) {
        self.created = None;
        self.incarnation += 1;
        self.delete_in_doubt = false;
        self.partitions = vec![PartitionModel::default(); partitions as usize];
        for partition in &mut self.partitions {
            partition.batch_ends.insert(0);
        }
    }
}

/// Which scenarios a run includes. Each switch turns on a scenario that once
/// exposed an engine bug (see `tests/simulation.rs`); the default run mixes
/// them by seed. [`Scenarios::CI`] turns them all off: crashes are power
/// cuts, index entries are written only at seal and the `txn` topic is never
/// truncated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scenarios {
    /// `ProcessCrash` ops kill the process (the page cache survives) and
    /// reopen; when false they cut the power and reboot instead.
    pub process_crash: bool,
    /// After an injected fault the store is reopened in the same boot (the
    /// page cache survives); when false the power is cut and the machine
    /// reboots first.
    pub reopen_after_fault: bool,
    /// Index entries every 512 bytes, so the unsynced tail of a segment has
    /// some; when false, only sealing writes an index entry.
    pub dense_index: bool,
    /// `TruncatePrefix` ops also move the start of the `txn` topic (past
    /// committed transaction parts); when false they skip it.
    pub truncate_transactions: bool,
    /// Operator actions in the workload: topic delete and re-create, and
    /// transactions whose parts exceed the batch limit (split into several
    /// batches). Off in every other scenario, so their seeds are unchanged.
    pub operator_actions: bool,
}

impl Scenarios {
    /// Plain power cuts: every other scenario off.
    pub const CI: Scenarios = Scenarios {
        process_crash: false,
        reopen_after_fault: false,
        dense_index: false,
        truncate_transactions: false,
        operator_actions: false,
    };
    pub const PROCESS_CRASH: Scenarios = Scenarios {
        process_crash: true,
        ..Scenarios::CI
    };
    pub const REOPEN_AFTER_FAULT: Scenarios = Scenarios {
        reopen_after_fault: true,
        ..Scenarios::CI
    };
    pub const DENSE_INDEX: Scenarios = Scenarios {
        dense_index: true,
        ..Scenarios::CI
    };
    pub const TRUNCATE_TRANSACTIONS: Scenarios = Scenarios {
        truncate_transactions: true,
        ..Scenarios::CI
    };
    pub const OPERATOR_ACTIONS: Scenarios = Scenarios {
        operator_actions: true,
        ..Scenarios::CI
    };
}

/// A seed whose run broke the model: what, and the trace that led there.
#[derive(Debug)]
pub struct Failure {
    pub seed: u64,
    pub message: String,
    pub trace: Vec<String>,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "seed {}: {}", self.seed, self.message)?;
        writeln!(
            f,
            "replay: MILLRACE_SIM_SEED={} cargo test --release -p millrace-tests --test it simulation::replay -- --nocapture",
            self.seed
        )?;
        for line in &self.trace {
            writeln!(f, "  {line}")?;
        }
        Ok(())
    }
}

/// Counters of one seed's run.
#[derive(Debug, Default, Clone)]
pub struct Outcome {
    /// Storage calls of the fault-free run (the crash point ranges over them).
    pub calls: u64,
    /// The power failed inside the workload (not after it).
    pub crashed_in_workload: bool,
    pub acknowledged_records: u64,
    pub injected_fault_hit: bool,
    /// Topics deleted and created again (`Scenarios::operator_actions`).
    pub topics_recreated: u64,
    /// Records moved to the DLQ and back.
    pub redriven: u64,
    /// Committed transactions with a part larger than the batch limit.
    pub oversized_transactions: u64,
    pub trace: Vec<String>,
}

fn is_power_loss(error: &Error) -> bool {
    matches!(error, Error::Io { source, .. } if is_simulated_power_loss(source))
}

/// Whether a failed operation must leave the store poisoned: a failed write
/// or fsync of a partition's data. (Creating an internal topic on first use
/// can fail without poisoning: topic creation is atomic and leaves nothing.)
fn must_poison(what: &str, error: &Error) -> bool {
    match what {
        "append" | "flush" | "roll" => true,
        "transaction commit" | "commit_offset" => {
            matches!(error, Error::Poisoned)
                || matches!(error, Error::Io { op, .. } if *op == "append" || *op == "fsync segment")
        }
        _ => false,
    }
}

fn value(seed: u64, batch: u64, record: u64, bytes: u64) -> Vec<u8> {
    let mut value = format!("s{seed}b{batch}r{record}:").into_bytes();
    let mut rng = SimRng::new(seed ^ batch.rotate_left(20) ^ record);
    let mut tail = vec![0u8; bytes as usize];
    rng.fill_bytes(&mut tail);
    value.extend_from_slice(&tail);
    value
}

fn topic_config(spec: &TopicSpec, scenarios: Scenarios) -> TopicConfig {
    TopicConfig {
        partitions: spec.partitions,
        durability: Some(spec.durability),
        segment_bytes: SEGMENT_BYTES,
        retention_bytes: spec.retention_bytes,
        index_interval_bytes: if scenarios.dense_index {
            512
        } else {
            SEGMENT_BYTES as u32
        },
        ..TopicConfig::default()
    }
}

struct Run {
    seed: u64,
    scenarios: Scenarios,
    /// The crash point, counted over all boots of this run.
    crash_at_call: Option<u64>,
    /// Storage calls made by earlier boots.
    calls_before: u64,
    /// Writes, data syncs and directory syncs of the first boot (injected
    /// faults other than the crash fire only in the first boot).
    first_boot: Option<Counts>,
    storage: SimStorage,
    store: Option<Store>,
    topics: Vec<TopicModel>,
    trace: Vec<String>,
    batches: u64,
    acknowledged_records: u64,
    fault_hit: bool,
    /// The transactional producer's id and epoch in the current process.
    producer: Option<(u64, u16)>,
    /// The idempotent producer of the current process (holds a store clone).
    idempotent: Option<Producer>,
    /// Pending transactions settled by the last reconcile: id, parts found.
    settled_transactions: Vec<(u64, bool)>,
    /// Every durably acknowledged record ever seen, by (topic, incarnation,
    /// partition, offset): an offset is never handed out again for a
    /// different record of the same incarnation, whatever the model forgets.
    ledger: std::collections::BTreeMap<(usize, u64, u32, u64), Vec<u8>>,
    topics_recreated: u64,
    oversized_transactions: u64,
    /// Values of records moved to the DLQ: a redrive appends them again, so
    /// they may be in a partition more than once.
    dead_lettered: BTreeSet<Vec<u8>>,
    redriven: u64,
}

type Check = Result<(), String>;

fn options() -> StoreOptions {
    StoreOptions {
        background: false,
        ..StoreOptions::default()
    }
}

impl Run {
    fn new(seed: u64, scenarios: Scenarios, plan: FaultPlan) -> Result<Run, String> {
        let crash_at_call = plan.crash_at_call;
        let storage = SimStorage::new(seed, plan);
        storage
            .create_dir_all_durable(Path::new(DATA_DIR))
            .map_err(|e| format!("setup: {e}"))?;
        Ok(Run {
            seed,
            scenarios,
            crash_at_call,
            calls_before: 0,
            first_boot: None,
            storage,
            store: None,
            topics: TOPICS.iter().map(|_| TopicModel::default()).collect(),
            trace: Vec::new(),
            batches: 0,
            acknowledged_records: 0,
            fault_hit: false,
            producer: None,
            idempotent: None,
            settled_transactions: Vec::new(),
            ledger: std::collections::BTreeMap::new(),
            topics_recreated: 0,
            oversized_transactions: 0,
            dead_lettered: BTreeSet::new(),
            redriven: 0,
        })
    }

    fn counts(&self) -> Counts {
        let first = self.first_boot.unwrap_or(Counts {
            calls: 0,
            writes: self.storage.writes(),
            syncs_data: self.storage.syncs_data(),
            syncs_dir: self.storage.syncs_dir(),
        });
        Counts {
            calls: self.calls_before + self.storage.calls(),
            ..first
        }
    }

    fn open(&mut self) -> Result<Store, Error> {
        let storage: Arc<dyn Storage> = Arc::new(self.storage.clone());
        Store::open_with_storage(DATA_DIR, options(), storage)
    }

    fn partition_mut(&mut self, topic: usize, partition: u32) -> Option<&mut PartitionModel> {
        self.topics.get_mut(topic)?.partitions.get_mut(partition as usize)
    }

    /// Run the workload until it ends or the power fails. `Err` = model broken.
    fn execute(&mut self, ops: &[Op]) -> Check {
        match self.open() {
            Ok(store) => self.store = Some(store),
            Err(e) => return self.after_error("open", &e),
        }
        for (index, spec) in TOPICS.iter().enumerate() {
            if self.storage.is_crashed() {
                return Ok(());
            }
            let config = topic_config(spec, self.scenarios);
            let Some(store) = self.store.as_ref() else {
                return Ok(());
            };
            let result = store.create_topic(spec.name, config);
            self.trace.push(format!("create_topic {} -> {result:?}", spec.name));
            let model = self.topics.get_mut(index).ok_or("topic index")?;
            model.created = Some(result.is_ok());
            model.partitions = vec![PartitionModel::default(); spec.partitions as usize];
            for partition in &mut model.partitions {
                partition.batch_ends.insert(0);
            }
            if result.is_err() && !self.storage.is_crashed() {
                // A failed creation may have left the topic on disk: reopen to find out.
                self.fault_hit = true;
                if self.scenarios.reopen_after_fault {
                    self.reopen()?;
                } else {
                    self.reboot()?;
                }
            }
        }
        if !self.storage.is_crashed() {
            self.init_producer()?;
        }
        for op in ops {
            if self.storage.is_crashed() {
                break;
            }
            self.step(*op)?;
        }
        Ok(())
    }

    fn step(&mut self, op: Op) -> Check {
        let Some(store) = self.store.clone() else {
            return self.reopen();
        };
        match op {
            Op::Append {
                topic,
                partition,
                records,
                value_bytes,
            } => {
                let spec = TOPICS.get(topic).ok_or("topic index")?;
                if self.topics.get(topic).and_then(|t| t.created) != Some(true) {
                    return Ok(());
                }
                let batch = self.batches;
                self.batches += 1;
                let values: Vec<Vec<u8>> = (0..records)
                    .map(|record| value(self.seed, batch, record, value_bytes))
                    .collect();
                let batch_records: Vec<Record> = values.iter().map(|v| Record::new(v.clone())).collect();
                let result = store.append(spec.name, partition, &batch_records);
                self.trace.push(format!(
                    "append {}/{partition} batch {batch} ({records} x {value_bytes} B) -> {result:?}",
                    spec.name
                ));
                let model = self.partition_mut(topic, partition).ok_or("partition index")?;
                match result {
                    Ok(info) => {
                        let expected = model.log.len() as u64;
                        if info.base_offset != expected || info.next_offset != expected + records {
                            return Err(format!(
                                "append {}/{partition} acknowledged at {}..{}, expected {expected}..{}",
                                spec.name,
                                info.base_offset,
                                info.next_offset,
                                expected + records
                            ));
                        }
                        model.log.extend(values);
                        model.batch_ends.insert(info.next_offset);
                        if spec.durability == Durability::Always {
                            model.acked_end = info.next_offset;
                            model.visible_end = info.next_offset;
                        }
                        self.acknowledged_records += records;
                        Ok(())
                    }
                    Err(e) => {
                        // A batch refused with NoSpace was never written: it
                        // must not come back (not in doubt).
                        if !matches!(e, Error::NoSpace { .. }) {
                            model.pending = values;
                        }
                        self.after_error("append", &e)
                    }
                }
            }
            Op::Flush => {
                let result = store.flush();
                self.trace.push(format!("flush -> {result:?}"));
                match result {
                    Ok(()) => {
                        for (topic, spec) in self.topics.iter_mut().zip(TOPICS.iter()) {
                            for partition in &mut topic.partitions {
                                partition.acked_end = partition.log.len() as u64;
                                if spec.durability != Durability::Os {
                                    partition.visible_end = partition.log.len() as u64;
                                }
                            }
                        }
                        Ok(())
                    }
                    Err(e) => self.after_error("flush", &e),
                }
            }
            Op::Roll { topic, partition } => {
                let spec = TOPICS.get(topic).ok_or("topic index")?;
                if self.topics.get(topic).and_then(|t| t.created) != Some(true) {
                    return Ok(());
                }
                let result = store.roll(spec.name, partition);
                self.trace.push(format!("roll {}/{partition} -> {result:?}", spec.name));
                match result {
                    Ok(()) => {
                        let model = self.partition_mut(topic, partition).ok_or("partition index")?;
                        model.acked_end = model.log.len() as u64;
                        if spec.durability != Durability::Os {
                            model.visible_end = model.log.len() as u64;
                        }
                        Ok(())
                    }
                    Err(e) => self.after_error("roll", &e),
                }
            }
            Op::Retention => {
                let result = store.enforce_retention();
                self.trace.push(format!("enforce_retention -> {result:?}"));
                match result {
                    Ok(_) => Ok(()),
                    Err(e) if is_power_loss(&e) => Ok(()),
                    // Not a write of data: the store need not be poisoned.
                    Err(_) => {
                        self.fault_hit = true;
                        if self.scenarios.reopen_after_fault {
                            self.reopen()
                        } else {
                            self.reboot()
                        }
                    }
                }
            }
            Op::TruncatePrefix {
                topic,
                partition,
                percent,
            } => {
                let spec = TOPICS.get(topic).ok_or("topic index")?;
                if self.topics.get(topic).and_then(|t| t.created) != Some(true)
                    || (topic == TRANSACTION_TOPIC && !self.scenarios.truncate_transactions)
                {
                    return Ok(());
                }
                let (start, end) = match store.offsets(spec.name, partition) {
                    Ok(offsets) => offsets,
                    Err(e) if is_power_loss(&e) => return Ok(()),
                    Err(e) => return Err(format!("offsets {}/{partition}: {e}", spec.name)),
                };
                let offset = start + (end - start) * percent / 100;
                let result = store.truncate_prefix(spec.name, partition, offset);
                self.trace.push(format!(
                    "truncate_prefix {}/{partition} to {offset} -> {result:?}",
                    spec.name
                ));
                match result {
                    Ok(_) => {
                        let model = self.partition_mut(topic, partition).ok_or("partition index")?;
                        model.truncated_start = model.truncated_start.max(offset);
                        Ok(())
                    }
                    Err(e) if is_power_loss(&e) => Ok(()),
                    Err(_) => {
                        self.fault_hit = true;
                        if self.scenarios.reopen_after_fault {
                            self.reopen()
                        } else {
                            self.reboot()
                        }
                    }
                }
            }
            Op::Read { topic, partition } => {
                if self.topics.get(topic).and_then(|t| t.created) != Some(true) {
                    return Ok(());
                }
                match self.check_partition(&store, topic, partition, false) {
                    Err(CheckError::Io(e)) if is_power_loss(&e) => Ok(()),
                    Err(CheckError::Io(e)) => Err(format!("read failed: {e}")),
                    Err(CheckError::Model(m)) => Err(m),
                    Ok(()) => Ok(()),
                }
            }
            Op::Transaction {
                parts,
                records,
                value_bytes,
                offset_percent,
            } => self.transaction(&store, parts, records, value_bytes, offset_percent),
            Op::Send {
                partition,
                records,
                value_bytes,
            } => {
                let spec = TOPICS.get(TRANSACTION_TOPIC).ok_or("topic index")?;
                let Some(mut producer) = self.idempotent.take() else {
                    return Ok(());
                };
                let batch = self.batches;
                self.batches += 1;
                let values: Vec<Vec<u8>> = (0..records)
                    .map(|record| value(self.seed, batch, record, value_bytes))
                    .collect();
                let batch_records: Vec<Record> = values.iter().map(|v| Record::new(v.clone())).collect();
                let sequence = producer.next_sequence(spec.name, partition);
                let result = producer.send(spec.name, partition, &batch_records);
                self.idempotent = Some(producer);
                self.trace.push(format!(
                    "send {}/{partition} batch {batch} sequence {sequence} ({records} x {value_bytes} B) -> {result:?}",
                    spec.name
                ));
                let model = self
                    .partition_mut(TRANSACTION_TOPIC, partition)
                    .ok_or("partition index")?;
                match result {
                    Ok(appended) => {
                        let expected = model.log.len() as u64;
                        if appended.duplicate
                            || appended.base_offset != expected
                            || appended.next_offset != expected + records
                        {
                            return Err(format!(
                                "send {}/{partition} batch {batch} -> {appended:?}, expected a new batch at {expected}",
                                spec.name
                            ));
                        }
                        model.log.extend(values);
                        model.batch_ends.insert(appended.next_offset);
                        model.acked_end = appended.next_offset;
                        model.visible_end = appended.next_offset;
                        model.producer_batches.push((appended.base_offset, records));
                        self.acknowledged_records += records;
                        Ok(())
                    }
                    Err(e) => {
                        if !matches!(e, Error::NoSpace { .. }) {
                            model.pending = values;
                            model.pending_send = true;
                        }
                        self.after_error("append", &e)
                    }
                }
            }
            Op::CommitOffset { partition, percent } => {
                let spec = TOPICS.get(TRANSACTION_TOPIC).ok_or("topic index")?;
                if self.topics.get(TRANSACTION_TOPIC).and_then(|t| t.created) != Some(true) {
                    return Ok(());
                }
                let model = self
                    .partition_mut(TRANSACTION_TOPIC, partition)
                    .ok_or("partition index")?;
                let previous = model.committed_offset.unwrap_or(0);
                let end = model.log.len() as u64;
                let offset = previous + end.saturating_sub(previous) * percent / 100;
                let result = store.commit_offset(GROUP, spec.name, partition, offset, b"");
                self.trace.push(format!(
                    "commit_offset {}/{partition} {offset} -> {result:?}",
                    spec.name
                ));
                let model = self
                    .partition_mut(TRANSACTION_TOPIC, partition)
                    .ok_or("partition index")?;
                match result {
                    Ok(()) => {
                        model.committed_offset = Some(offset);
                        Ok(())
                    }
                    Err(e) => {
                        model.pending_offset = Some(offset);
                        self.after_error("commit_offset", &e)
                    }
                }
            }
            Op::DeleteRecreate { topic } => self.delete_recreate(&store, topic),
            Op::FailRecord { partition } => self.fail_record(&store, partition),
            Op::Redrive => self.redrive(&store),
            Op::DlqScratch { redrive, delete } => self.dlq_scratch(&store, redrive, delete),
            Op::Reopen => {
                drop(store);
                let result = self.take_store().map(Store::close);
                self.trace.push(format!("close -> {result:?}"));
                match result {
                    Some(Err(e)) if is_power_loss(&e) => Ok(()),
                    Some(Err(_)) if !self.scenarios.reopen_after_fault => {
                        self.fault_hit = true;
                        self.reboot()
                    }
                    _ => self.reopen(),
                }
            }
            Op::ProcessCrash => {
                drop(store);
                if !self.scenarios.process_crash {
                    return self.reboot();
                }
                self.trace.push("process crash (kill -9)".to_string());
                let restarted = self.storage.restart();
                // Dropping the store now cannot reach the disk any more.
                drop(self.take_store());
                self.storage = restarted;
                self.open_and_reconcile()
            }
        }
    }

    /// One transaction: records to one or both `txn` partitions, maybe
    /// with an offset commit; all or nothing, durable on `Ok`.
    fn transaction(
        &mut self,
        store: &Store,
        parts: u32,
        records: u64,
        value_bytes: u64,
        offset_percent: Option<u64>,
    ) -> Check {
        let spec = TOPICS.get(TRANSACTION_TOPIC).ok_or("topic index")?;
        if self.topics.get(TRANSACTION_TOPIC).and_then(|t| t.created) != Some(true) {
            return Ok(());
        }
        let Some((producer_id, epoch)) = self.producer else {
            return Ok(());
        };
        let transaction_id = self.batches;
        let mut written: Vec<(u32, Vec<Vec<u8>>)> = Vec::new();
        for partition in (0..spec.partitions).filter(|p| parts & (1 << p) != 0) {
            let batch = self.batches;
            self.batches += 1;
            let values = (0..records)
                .map(|record| value(self.seed, batch, record, value_bytes))
                .collect();
            written.push((partition, values));
        }
        let offset = match (offset_percent, self.partition_mut(TRANSACTION_TOPIC, 0)) {
            (Some(percent), Some(model)) => {
                let previous = model.committed_offset.unwrap_or(0);
                let end = model.log.len() as u64;
                Some(previous + end.saturating_sub(previous) * percent / 100)
            }
            _ => None,
        };
        let mut transaction = match store.begin_transaction(millrace::ProducerId::new(producer_id, epoch)) {
            Ok(transaction) => transaction,
            Err(e) => {
                self.trace.push(format!("begin_transaction -> Err({e})"));
                return self.after_error("begin_transaction", &e);
            }
        };
        for (partition, values) in &written {
            let batch: Vec<Record> = values.iter().map(|v| Record::new(v.clone())).collect();
            transaction
                .append(spec.name, *partition, &batch)
                .map_err(|e| format!("transaction append: {e}"))?;
        }
        if let Some(offset) = offset {
            transaction
                .commit_offset(GROUP, spec.name, 0, offset, b"")
                .map_err(|e| format!("transaction commit_offset: {e}"))?;
        }
        let result = transaction.commit();
        self.trace.push(format!(
            "transaction {transaction_id} parts {:?} ({records} x {value_bytes} B) offset {offset:?} -> {result:?}",
            written.iter().map(|(p, _)| *p).collect::<Vec<_>>()
        ));
        match result {
            Ok(info) => {
                for (partition, values) in written {
                    let part = info
                        .parts
                        .iter()
                        .find(|part| part.topic == spec.name && part.partition == partition)
                        .ok_or_else(|| format!("transaction {transaction_id}: no part for partition {partition}"))?;
                    let model = self
                        .partition_mut(TRANSACTION_TOPIC, partition)
                        .ok_or("partition index")?;
                    let expected = model.log.len() as u64;
                    if part.base_offset != expected || part.next_offset != expected + records {
                        return Err(format!(
                            "transaction {transaction_id} part {partition} at {}..{}, expected {expected}..{}",
                            part.base_offset,
                            part.next_offset,
                            expected + records
                        ));
                    }
                    model.log.extend(values);
                    model.batch_ends.insert(part.next_offset);
                    model.acked_end = part.next_offset;
                    model.visible_end = part.next_offset;
                    self.acknowledged_records += records;
                }
                if let (Some(offset), Some(model)) = (offset, self.partition_mut(TRANSACTION_TOPIC, 0)) {
                    model.committed_offset = Some(offset);
                }
                if records * value_bytes > SEGMENT_BYTES {
                    self.oversized_transactions += 1;
                }
                Ok(())
            }
            Err(e) => {
                for (partition, values) in written {
                    let model = self
                        .partition_mut(TRANSACTION_TOPIC, partition)
                        .ok_or("partition index")?;
                    model.pending = values;
                    model.pending_transaction = Some(transaction_id);
                }
                if let (Some(offset), Some(model)) = (offset, self.partition_mut(TRANSACTION_TOPIC, 0)) {
                    model.pending_offset = Some(offset);
                }
                self.after_error("transaction commit", &e)
            }
        }
    }

    /// An operator deletes a topic and creates it again (same name, same
    /// config). The new incarnation must start empty and must not inherit the
    /// group's committed offset on the old one.
    fn delete_recreate(&mut self, store: &Store, topic: usize) -> Check {
        let spec = TOPICS.get(topic).ok_or("topic index")?;
        if topic == TRANSACTION_TOPIC || self.topics.get(topic).and_then(|t| t.created) != Some(true) {
            return Ok(());
        }
        let end = match store.offsets(spec.name, 0) {
            Ok((_, end)) => end,
            Err(e) if is_power_loss(&e) => return Ok(()),
            Err(e) => return Err(format!("offsets {}/0: {e}", spec.name)),
        };
        // Commit only what is durable: a commit past records a power cut then
        // loses makes the partition continue at the commit (a hole, which
        // this model does not follow).
        let end = end.min(self.partition_mut(topic, 0).map_or(0, |m| m.acked_end));
        if end > 0 {
            let result = store.commit_offset(GROUP, spec.name, 0, end, b"");
            self.trace
                .push(format!("commit_offset {}/0 {end} -> {result:?}", spec.name));
            if let Err(e) = result {
                return self.after_error("commit_offset", &e);
            }
        }
        if let Some(model) = self.topics.get_mut(topic) {
            model.delete_in_doubt = true;
        }
        let result = store.delete_topic(spec.name);
        self.trace.push(format!("delete_topic {} -> {result:?}", spec.name));
        match result {
            Ok(()) => {
                self.topics_recreated += 1;
                if let Some(model) = self.topics.get_mut(topic) {
                    model.forget(spec.partitions);
                }
            }
            Err(e) if is_power_loss(&e) || self.storage.is_crashed() => return Ok(()),
            Err(_) => return self.after_admin_fault(),
        }
        let result = store.create_topic(spec.name, topic_config(spec, self.scenarios));
        self.trace.push(format!("create_topic {} -> {result:?}", spec.name));
        if let Some(model) = self.topics.get_mut(topic) {
            model.created = Some(result.is_ok());
        }
        match result {
            Ok(()) => {
                let inherited = store.committed_offset(GROUP, spec.name, 0);
                match inherited {
                    Ok(None) => Ok(()),
                    Err(e) if is_power_loss(&e) => Ok(()),
                    other => Err(format!(
                        "re-created topic {} inherits the old incarnation's committed offset: {other:?}",
                        spec.name
                    )),
                }
            }
            Err(e) if is_power_loss(&e) || self.storage.is_crashed() => Ok(()),
            Err(_) => self.after_admin_fault(),
        }
    }

    /// The group fails the record at its committed offset of `txn`/`partition`
    /// with one attempt allowed: it is dead-lettered and the group's offset
    /// moves just past it (never back).
    fn fail_record(&mut self, store: &Store, partition: u32) -> Check {
        let spec = TOPICS.get(TRANSACTION_TOPIC).ok_or("topic index")?;
        if self.topics.get(TRANSACTION_TOPIC).and_then(|t| t.created) != Some(true) {
            return Ok(());
        }
        let Some(producer) = self.producer else {
            return Ok(());
        };
        let model = self
            .partition_mut(TRANSACTION_TOPIC, partition)
            .ok_or("partition index")?;
        let committed = model.committed_offset.unwrap_or(0);
        let Some(value) = model.log.get(committed as usize).cloned() else {
            return Ok(());
        };
        let advanced = committed + 1;
        let read = store.read(
            spec.name,
            partition,
            committed,
            ReadOptions {
                max_records: 1,
                ..ReadOptions::default()
            },
        );
        let record = match read {
            Ok(read) => match read.records.into_iter().next() {
                Some(record) if record.offset == committed && record.value == value => record,
                other => {
                    return Err(format!(
                        "fail_record: {}/{partition} at {committed} reads {other:?}, expected the model's record",
                        spec.name
                    ))
                }
            },
            Err(e) => return self.after_error("read", &e),
        };
        let result = store.fail_record(
            millrace::ProducerId::new(producer.0, producer.1),
            GROUP,
            spec.name,
            partition,
            &record,
            "sim",
            "SimError",
            "simulated processing failure",
            1,
        );
        self.trace.push(format!(
            "fail_record {}/{partition} offset {committed} -> {result:?}",
            spec.name
        ));
        self.dead_lettered.insert(value);
        let model = self
            .partition_mut(TRANSACTION_TOPIC, partition)
            .ok_or("partition index")?;
        match result {
            Ok(millrace::dlq::FailOutcome::DeadLettered { .. }) => {
                model.committed_offset = Some(advanced);
                Ok(())
            }
            Ok(other) => Err(format!("fail_record with one attempt allowed -> {other:?}")),
            Err(e) => {
                model.pending_offset = Some(advanced);
                self.after_error("fail_record", &e)
            }
        }
    }

    /// Redrive the `txn` DLQ. A dry run says what it will append where; the
    /// run appends exactly that, all in one transaction (all or nothing if
    /// it fails).
    fn redrive(&mut self, store: &Store) -> Check {
        let spec = TOPICS.get(TRANSACTION_TOPIC).ok_or("topic index")?;
        if self.topics.get(TRANSACTION_TOPIC).and_then(|t| t.created) != Some(true) {
            return Ok(());
        }
        let options = millrace::dlq::RedriveOptions::default();
        let plan = match store.dlq_redrive(
            spec.name,
            &millrace::dlq::RedriveOptions {
                dry_run: true,
                ..options.clone()
            },
        ) {
            Ok(plan) => plan,
            Err(e) => return self.after_error("redrive", &e),
        };
        // One transaction covers at most `batch_records` DLQ records read.
        if plan.redriven.is_empty() || plan.next_offset - plan.resumed_from > options.batch_records as u64 {
            return Ok(());
        }
        let mut values: Vec<(u32, Vec<u8>)> = Vec::new();
        for (dlq_offset, target, partition) in &plan.redriven {
            let entry = match store.dlq_get(spec.name, *dlq_offset) {
                Ok(Some(entry)) => entry,
                Ok(None) => {
                    return Err(format!(
                        "redrive plans DLQ offset {dlq_offset}, which dlq_get does not find"
                    ))
                }
                Err(e) => return self.after_error("redrive", &e),
            };
            if target != spec.name || !self.dead_lettered.contains(&entry.letter.record.value) {
                return Err(format!(
                    "redrive plans DLQ offset {dlq_offset} to {target}/{partition}, not a record the workload dead-lettered"
                ));
            }
            values.push((*partition, entry.letter.record.value));
        }
        let transaction_id = self.batches;
        self.batches += 1;
        for partition in 0..spec.partitions {
            let model = self
                .partition_mut(TRANSACTION_TOPIC, partition)
                .ok_or("partition index")?;
            let pending: Vec<Vec<u8>> = values
                .iter()
                .filter(|(p, _)| *p == partition)
                .map(|(_, v)| v.clone())
                .collect();
            if !pending.is_empty() {
                model.pending = pending;
                model.pending_transaction = Some(transaction_id);
            }
        }
        let result = store.dlq_redrive(spec.name, &options);
        self.trace.push(format!(
            "redrive {} transaction {transaction_id} ({} records) -> {result:?}",
            spec.name,
            values.len()
        ));
        match result {
            Ok(report) if report.redriven == plan.redriven => {
                self.redriven += values.len() as u64;
                for partition in 0..spec.partitions {
                    let model = self
                        .partition_mut(TRANSACTION_TOPIC, partition)
                        .ok_or("partition index")?;
                    if model.pending_transaction.take().is_none() {
                        continue;
                    }
                    let pending = std::mem::take(&mut model.pending);
                    model.log.extend(pending);
                    let end = model.log.len() as u64;
                    model.batch_ends.insert(end);
                    model.acked_end = end;
                    model.visible_end = end;
                }
                self.acknowledged_records += values.len() as u64;
                Ok(())
            }
            Ok(report) => Err(format!(
                "redrive did {:?}, its dry run planned {:?}",
                report.redriven, plan.redriven
            )),
            Err(e) => self.after_error("redrive", &e),
        }
    }

    /// `Op::DlqScratch`: a dead letter of the scratch topic's current
    /// incarnation is never hidden by what an earlier incarnation's DLQ left
    /// (redrive marks, failure counts): it is listed unmarked, counted in the
    /// depth and redriven. Any failure stops the op (an injected fault or a
    /// power cut, handled as for the other ops).
    fn dlq_scratch(&mut self, store: &Store, redrive: bool, delete: bool) -> Check {
        let Some(producer) = self.producer else {
            return Ok(());
        };
        let producer = millrace::ProducerId::new(producer.0, producer.1);
        let topic = DLQ_SCRATCH_TOPIC;
        if !store.list_topics().iter().any(|t| t == topic) {
            let result = store.create_topic(topic, TopicConfig::with_partitions(1));
            self.trace.push(format!("create_topic {topic} -> {result:?}"));
            if let Err(e) = result {
                return self.after_scratch_error(&e);
            }
        }
        let value = format!("s{}scratch{}", self.seed, self.batches).into_bytes();
        self.batches += 1;
        let appended = store.append(topic, 0, &[Record::new(value.clone())]);
        self.trace.push(format!("append {topic}/0 -> {appended:?}"));
        let offset = match appended {
            Ok(info) => info.base_offset,
            Err(e) => return self.after_scratch_error(&e),
        };
        let record = match store.read(topic, 0, offset, ReadOptions::default()) {
            Ok(read) => match read.records.into_iter().next() {
                Some(record) if record.offset == offset && record.value == value => record,
                other => {
                    return Err(format!(
                        "{topic}/0 at {offset} reads {other:?}, not the record appended"
                    ))
                }
            },
            Err(e) => return self.after_scratch_error(&e),
        };
        let failed = store.fail_record(producer, GROUP, topic, 0, &record, "sim", "SimError", "scratch", 1);
        self.trace
            .push(format!("fail_record {topic}/0 offset {offset} -> {failed:?}"));
        let dlq_offset = match failed {
            Ok(millrace::dlq::FailOutcome::DeadLettered { dlq_offset, attempts }) => {
                if attempts.count != 1 {
                    return Err(format!(
                        "{topic}/0 offset {offset}: a new record counts {} failures (an older incarnation's?)",
                        attempts.count
                    ));
                }
                dlq_offset
            }
            Ok(other) => return Err(format!("fail_record with one attempt allowed -> {other:?}")),
            Err(e) => return self.after_scratch_error(&e),
        };
        let listed = match store.dlq_list(topic, &millrace::dlq::DlqFilter::default()) {
            Ok(listed) => listed,
            Err(e) => return self.after_scratch_error(&e),
        };
        match listed.iter().find(|e| e.dlq_offset == dlq_offset) {
            Some(entry) if entry.redriven.is_none() && entry.letter.record.value == value => {}
            other => {
                return Err(format!(
                    "the dead letter of {topic}/0 offset {offset} at DLQ offset {dlq_offset} is listed as {other:?}"
                ))
            }
        }
        let unmarked = listed.iter().filter(|e| e.redriven.is_none()).count() as u64;
        match store.dlq_stats(topic) {
            Ok(stats) if stats.depth == unmarked => {}
            Ok(stats) => {
                return Err(format!(
                    "DLQ of {topic}: depth {} but {unmarked} records not redriven",
                    stats.depth
                ))
            }
            Err(e) => return self.after_scratch_error(&e),
        }
        if redrive {
            let result = store.dlq_redrive(topic, &millrace::dlq::RedriveOptions::default());
            self.trace.push(format!("redrive {topic} -> {result:?}"));
            match result {
                Ok(report) if report.redriven.iter().any(|(o, _, _)| *o == dlq_offset) => {
                    self.redriven += 1;
                }
                Ok(report) => {
                    return Err(format!(
                        "redrive of {topic} skips the dead letter at DLQ offset {dlq_offset}: {report:?}"
                    ))
                }
                Err(e) => return self.after_scratch_error(&e),
            }
        }
        if delete {
            let result = store.delete_topic(topic);
            self.trace.push(format!("delete_topic {topic} -> {result:?}"));
            match result {
                Ok(()) => self.topics_recreated += 1,
                Err(e) => return self.after_scratch_error(&e),
            }
        }
        Ok(())
    }

    /// A failed step of `Op::DlqScratch`: only an injected fault (or a power
    /// cut) may fail it.
    fn after_scratch_error(&mut self, error: &Error) -> Check {
        self.after_error("dlq scratch", error)
    }

    /// An operation that writes no record failed by an injected fault: the
    /// store need not be poisoned; reopen (or reboot) and check.
    fn after_admin_fault(&mut self) -> Check {
        self.fault_hit = true;
        if self.scenarios.reopen_after_fault {
            self.reopen()
        } else {
            self.reboot()
        }
    }

    /// Take the store out of the run, dropping the producer's clone of it.
    fn take_store(&mut self) -> Option<Store> {
        self.idempotent = None;
        self.store.take()
    }

    /// Register (or start a new epoch of) the workload's producers. The
    /// idempotent producer resumes each partition at the sequence after its
    /// last record in the log: check that against the model.
    fn init_producer(&mut self) -> Check {
        let Some(store) = self.store.clone() else {
            return Ok(());
        };
        if self.topics.get(TRANSACTION_TOPIC).and_then(|t| t.created) == Some(true) {
            let result = Producer::init(&store, IDEMPOTENT_PRODUCER);
            let spec = TOPICS.get(TRANSACTION_TOPIC).ok_or("topic index")?;
            match result {
                Ok(producer) => {
                    for partition in 0..spec.partitions {
                        let model = self
                            .partition_mut(TRANSACTION_TOPIC, partition)
                            .ok_or("partition index")?;
                        let expected: u64 = model.producer_batches.iter().map(|(_, records)| records).sum();
                        let resumed = producer.next_sequence(spec.name, partition);
                        if u64::from(resumed) != expected {
                            return Err(format!(
                                "idempotent producer resumes {}/{partition} at sequence {resumed}, but the log holds \
                                 {expected} of its records ({:?})",
                                spec.name, model.producer_batches
                            ));
                        }
                    }
                    self.trace.push(format!("Producer::init -> epoch {}", producer.epoch()));
                    self.idempotent = Some(producer);
                }
                Err(e) => {
                    self.trace.push(format!("Producer::init -> Err({e})"));
                    if !is_power_loss(&e) {
                        self.fault_hit = true;
                    }
                }
            }
        }
        let result = store.init_producer(PRODUCER);
        self.trace.push(format!(
            "init_producer -> {:?}",
            result.as_ref().map(|s| (s.producer_id, s.epoch))
        ));
        self.producer = match result {
            Ok(session) => Some((session.producer_id, session.epoch)),
            Err(e) => {
                if !is_power_loss(&e) {
                    self.fault_hit = true;
                }
                None
            }
        };
        Ok(())
    }

    /// Cut the power now and boot the image, keeping the run's crash point.
    fn reboot(&mut self) -> Check {
        if self.storage.is_crashed() {
            return Ok(());
        }
        if self.first_boot.is_none() {
            self.first_boot = Some(self.counts());
        }
        self.calls_before += self.storage.calls();
        let plan = match self.crash_at_call {
            Some(crash) => FaultPlan::none().crash_at_call(crash.saturating_sub(self.calls_before)),
            None => FaultPlan::none(),
        };
        self.trace.push("power cut and reboot".to_string());
        let image = self.storage.power_cut_with_plan(plan);
        drop(self.take_store());
        self.storage = image;
        self.open_and_reconcile()
    }

    /// An operation failed. Power loss ends the workload; any other error
    /// must have come from an injected fault, and data-path errors poison.
    fn after_error(&mut self, what: &str, error: &Error) -> Check {
        if is_power_loss(error) || self.storage.is_crashed() {
            return Ok(());
        }
        if !matches!(error, Error::Io { .. } | Error::Poisoned | Error::NoSpace { .. }) {
            return Err(format!("{what} failed without an injected fault: {error}"));
        }
        self.fault_hit = true;
        if let Some(store) = self.store.as_ref() {
            if matches!(error, Error::NoSpace { .. }) {
                // A full device met by the zeros ahead of an `Always` batch:
                // nothing of it was written and the store stays writable
                // (a transaction past its commit point poisons: txn.rs).
                if what == "append" && store.is_poisoned() {
                    return Err(format!("{what} refused with {error} but the store is poisoned"));
                }
            } else if must_poison(what, error) {
                if !store.is_poisoned() {
                    return Err(format!("{what} failed with {error} but the store is not poisoned"));
                }
                let probe = store.append("always", 0, &[Record::new(b"probe".to_vec())]);
                self.trace.push(format!("probe append after failure -> {probe:?}"));
                match probe {
                    Err(Error::Poisoned) => {}
                    Err(e) if is_power_loss(&e) => return Ok(()),
                    Err(Error::TopicNotFound(_)) => {}
                    other => return Err(format!("append after a failed {what} returned {other:?}, not Poisoned")),
                }
            }
        }
        if self.scenarios.reopen_after_fault {
            self.reopen()
        } else {
            self.reboot()
        }
    }

    /// Close and reopen the store on the same disk (the process lives on).
    fn reopen(&mut self) -> Check {
        if let Some(store) = self.take_store() {
            let result = store.close();
            self.trace.push(format!("close -> {result:?}"));
        }
        self.open_and_reconcile()
    }

    fn open_and_reconcile(&mut self) -> Check {
        if self.storage.is_crashed() {
            return Ok(());
        }
        // An injected fault may hit the first open; faults fire once, so retry once.
        let mut opened = self.open();
        if let Err(e) = &opened {
            self.trace.push(format!("open -> Err({e})"));
            if is_power_loss(e) || self.storage.is_crashed() {
                return Ok(());
            }
            self.fault_hit = true;
            opened = self.open();
        }
        match opened {
            Ok(store) => {
                self.trace.push("open -> Ok".to_string());
                let result = self.reconcile(&store);
                self.store = Some(store);
                self.producer = None;
                match result {
                    Err(CheckError::Io(e)) if is_power_loss(&e) => Ok(()),
                    Err(CheckError::Io(e)) => Err(format!("reading after reopen failed: {e}")),
                    Err(CheckError::Model(m)) => Err(m),
                    Ok(()) if self.storage.is_crashed() => Ok(()),
                    Ok(()) => self.init_producer(),
                }
            }
            Err(e) if is_power_loss(&e) || self.storage.is_crashed() => Ok(()),
            Err(e) => Err(format!("reopen failed: {e}")),
        }
    }

    /// After an open: every topic and partition against the model, then the
    /// model takes what was recovered.
    fn reconcile(&mut self, store: &Store) -> Result<(), CheckError> {
        let listed = store.list_topics();
        for (index, spec) in TOPICS.iter().enumerate() {
            let created = self.topics.get(index).and_then(|t| t.created);
            let exists = listed.iter().any(|name| name == spec.name);
            let delete_in_doubt = self.topics.get(index).is_some_and(|t| t.delete_in_doubt);
            if delete_in_doubt {
                match self.topics.get_mut(index) {
                    // The delete happened: a new incarnation may follow.
                    Some(topic) if !exists => {
                        topic.forget(spec.partitions);
                        continue;
                    }
                    // It did not: the old incarnation is there, whole.
                    Some(topic) => topic.delete_in_doubt = false,
                    None => {}
                }
            }
            match (created, exists) {
                (Some(true), false) => {
                    return Err(CheckError::Model(format!(
                        "topic {} was created but is gone",
                        spec.name
                    )));
                }
                (None, true) => {
                    return Err(CheckError::Model(format!(
                        "topic {} exists but was never created",
                        spec.name
                    )));
                }
                (_, false) => {
                    if let Some(topic) = self.topics.get_mut(index) {
                        topic.created = None;
                    }
                    continue;
                }
                (_, true) => {
                    if let Some(topic) = self.topics.get_mut(index) {
                        topic.created = Some(true);
                    }
                }
            }
            let partitions = store.partition_count(spec.name).map_err(CheckError::Io)?;
            if partitions != spec.partitions {
                return Err(CheckError::Model(format!(
                    "topic {} has {partitions} partitions, expected {}",
                    spec.name, spec.partitions
                )));
            }
            for partition in 0..spec.partitions {
                self.check_partition(store, index, partition, true)?;
            }
        }
        // A transaction whose commit failed is all there or not at all.
        let settled = std::mem::take(&mut self.settled_transactions);
        for (transaction, found) in &settled {
            if settled.iter().any(|(t, f)| t == transaction && f != found) {
                return Err(CheckError::Model(format!(
                    "transaction {transaction} is partly there after recovery: {settled:?}"
                )));
            }
        }
        Ok(())
    }

    /// Read a partition from its start to its high watermark and compare with
    /// the model. `recovered`: just opened, so a pending batch is settled.
    fn check_partition(
        &mut self,
        store: &Store,
        topic: usize,
        partition: u32,
        recovered: bool,
    ) -> Result<(), CheckError> {
        let spec = TOPICS.get(topic).ok_or_else(|| CheckError::model("topic index"))?;
        let name = spec.name;
        let (start, end) = store.offsets(name, partition).map_err(CheckError::Io)?;
        let mut records = Vec::new();
        let mut next = start;
        // Each read returns at least one record while next < end.
        for _ in 0..=(end - start) {
            if next >= end {
                break;
            }
            let result = store
                .read(name, partition, next, ReadOptions::default())
                .map_err(CheckError::Io)?;
            if result.next_offset <= next {
                return Err(CheckError::Model(format!(
                    "{name}/{partition}: read at {next} made no progress"
                )));
            }
            next = result.next_offset;
            records.extend(result.records);
        }
        let model = self
            .partition_mut(topic, partition)
            .ok_or_else(|| CheckError::model("partition index"))?;
        let where_ = format!("{name}/{partition} [{start}, {end})");
        // Records below a durable truncation point may be lost only if they
        // were never durable (then the start is clamped to the end).
        if start < model.truncated_start.min(end) {
            return Err(CheckError::Model(format!(
                "{where_}: start went back below the durable truncate_prefix offset {}",
                model.truncated_start
            )));
        }
        let written = model.log.len() as u64;
        let limit = written + model.pending.len() as u64;
        if end < model.acked_end {
            return Err(CheckError::Model(format!(
                "{where_}: acknowledged or flushed records lost: high watermark {end} < {}",
                model.acked_end
            )));
        }
        if end < model.visible_end {
            return Err(CheckError::Model(format!(
                "{where_}: records that were visible are lost: high watermark {end} < visible {} ({:?} mode promises visible means durable)",
                model.visible_end, spec.durability
            )));
        }
        if end > limit || (!recovered && end > written) {
            let extra: Vec<String> = records
                .iter()
                .filter(|r| r.offset >= written)
                .map(|r| {
                    format!(
                        "{}: {}",
                        r.offset,
                        String::from_utf8_lossy(r.value.get(..12).unwrap_or(&r.value))
                    )
                })
                .collect();
            return Err(CheckError::Model(format!(
                "{where_}: high watermark past everything written ({written} + {} pending); extra records {extra:?}",
                model.pending.len()
            )));
        }
        if !model.batch_ends.contains(&end) && end != limit {
            return Err(CheckError::Model(format!(
                "{where_}: high watermark {end} splits a batch"
            )));
        }
        if records.len() as u64 != end - start {
            return Err(CheckError::Model(format!(
                "{where_}: read {} records, offsets not dense",
                records.len()
            )));
        }
        for (expected_offset, record) in (start..end).zip(&records) {
            let expected = if expected_offset < written {
                model.log.get(expected_offset as usize)
            } else {
                model.pending.get((expected_offset - written) as usize)
            };
            if record.offset != expected_offset || Some(&record.value) != expected {
                return Err(CheckError::Model(format!(
                    "{where_}: offset {expected_offset} holds {:?} (offset {}), expected {:?}",
                    String::from_utf8_lossy(record.value.get(..16).unwrap_or(&record.value)),
                    record.offset,
                    expected.map(|v| String::from_utf8_lossy(v.get(..16).unwrap_or(v)).into_owned()),
                )));
            }
        }
        // Every durably acknowledged record read here enters the ledger; an
        // offset it holds never comes back with another record, and no
        // acknowledged record is there twice.
        let incarnation = self.topics.get(topic).map_or(0, |t| t.incarnation);
        let acked_end = self
            .partition_mut(topic, partition)
            .ok_or_else(|| CheckError::model("partition index"))?
            .acked_end;
        let ours = format!("s{}b", self.seed).into_bytes();
        let mut seen: BTreeSet<&[u8]> = BTreeSet::new();
        for record in &records {
            if record.value.starts_with(&ours)
                && !seen.insert(record.value.as_slice())
                && !self.dead_lettered.contains(&record.value)
            {
                return Err(CheckError::Model(format!(
                    "{where_}: record {:?} is there twice (again at offset {})",
                    String::from_utf8_lossy(record.value.get(..16).unwrap_or(&record.value)),
                    record.offset
                )));
            }
            if record.offset >= acked_end {
                continue;
            }
            let key = (topic, incarnation, partition, record.offset);
            match self.ledger.get(&key) {
                Some(earlier) if *earlier != record.value => {
                    return Err(CheckError::Model(format!(
                        "{where_}: offset {} handed out twice in incarnation {incarnation}: {:?} was acknowledged there, now {:?}",
                        record.offset,
                        String::from_utf8_lossy(earlier.get(..16).unwrap_or(earlier)),
                        String::from_utf8_lossy(record.value.get(..16).unwrap_or(&record.value)),
                    )));
                }
                Some(_) => {}
                None => {
                    self.ledger.insert(key, record.value.clone());
                }
            }
        }
        let model = self
            .partition_mut(topic, partition)
            .ok_or_else(|| CheckError::model("partition index"))?;
        let mut settled_transaction = None;
        if recovered {
            let settled = model.pending_transaction.take().map(|t| (t, end > written));
            if std::mem::take(&mut model.pending_send) && end > written {
                model.producer_batches.push((written, end - written));
            }
            model.producer_batches.retain(|(base, _)| *base < end);
            if end > written {
                let pending = std::mem::take(&mut model.pending);
                model.log.extend(pending);
                model.batch_ends.insert(end);
            } else {
                model.log.truncate(end as usize);
                model.batch_ends.retain(|e| *e <= end);
                model.pending.clear();
            }
            if topic == TRANSACTION_TOPIC {
                let committed = store.committed_offset(GROUP, name, partition).map_err(CheckError::Io)?;
                let acknowledged = model.committed_offset;
                let pending = model.pending_offset.take();
                if committed != acknowledged && (pending.is_none() || committed != pending) {
                    return Err(CheckError::Model(format!(
                        "{where_}: committed offset {committed:?}, expected {acknowledged:?} (or {pending:?}, whose commit failed)"
                    )));
                }
                model.committed_offset = committed;
            }
            settled_transaction = settled;
            model.acked_end = model.acked_end.min(end);
            // Records below a truncation point that were never durable may be
            // lost; the engine then clamps its start to the end.
            model.truncated_start = model.truncated_start.min(end);
        }
        if spec.durability != Durability::Os {
            model.visible_end = model.visible_end.max(end);
        }
        self.settled_transactions.extend(settled_transaction);
        Ok(())
    }

    /// Power is cut (at the crash point, or now): take the image, maybe crash
    /// again during recovery, reopen and check everything.
    fn power_cut_and_check(&mut self, rng: &mut SimRng) -> Check {
        let image = if rng.chance(1, 4) {
            let crash = rng.below(RECOVERY_CALLS_MAX);
            self.trace
                .push(format!("power cut; reboot with a crash at recovery call {crash}"));
            let image = self.storage.power_cut_with_plan(FaultPlan::none().crash_at_call(crash));
            drop(self.take_store());
            self.storage = image.clone();
            match self.open() {
                Ok(store) => drop(store),
                Err(e) if is_power_loss(&e) => {}
                Err(e) => return Err(format!("open during recovery failed: {e}")),
            }
            image.power_cut()
        } else {
            self.trace.push("power cut".to_string());
            self.storage.power_cut()
        };
        drop(self.take_store());
        self.storage = image;
        let store = self.open().map_err(|e| format!("open after power cut failed: {e}"))?;
        self.trace.push("open after power cut -> Ok".to_string());
        let result = self.reconcile(&store);
        match result {
            Err(CheckError::Io(e)) => return Err(format!("reading after power cut failed: {e}")),
            Err(CheckError::Model(m)) => return Err(m),
            Ok(()) => {}
        }
        // The producers resume where the recovered log says they stopped.
        self.store = Some(store.clone());
        self.init_producer()?;
        drop(self.take_store());
        // The recovered store must accept appends that continue the offsets.
        for (index, spec) in TOPICS.iter().enumerate() {
            if self.topics.get(index).and_then(|t| t.created) != Some(true) {
                continue;
            }
            for partition in 0..spec.partitions {
                let expected = self.partition_mut(index, partition).map_or(0, |m| m.log.len() as u64);
                let result = store.append(spec.name, partition, &[Record::new(b"after".to_vec())]);
                match result {
                    Ok(info) if info.base_offset == expected => {}
                    other => {
                        return Err(format!(
                            "append to {}/{partition} after recovery -> {other:?}, expected base offset {expected}",
                            spec.name
                        ))
                    }
                }
            }
        }
        store.close().map_err(|e| format!("close after recovery failed: {e}"))
    }
}

enum CheckError {
    Io(Error),
    Model(String),
}

impl CheckError {
    fn model(what: &str) -> CheckError {
        CheckError::Model(format!("harness bug: bad {what}"))
    }
}

impl From<&str> for CheckError {
    fn from(what: &str) -> Self {
        CheckError::model(what)
    }
}

/// Storage calls of a whole run (all boots), and writes and syncs of its first boot.
#[derive(Debug, Clone, Copy)]
struct Counts {
    calls: u64,
    writes: u64,
    syncs_data: u64,
    syncs_dir: u64,
}

/// The fault-free run: how many storage calls, writes and syncs it makes.
fn measure(seed: u64, scenarios: Scenarios, ops: &[Op]) -> Result<Counts, Failure> {
    let mut run = Run::new(seed, scenarios, FaultPlan::none()).map_err(|message| Failure {
        seed,
        message,
        trace: Vec::new(),
    })?;
    let result = run.execute(ops);
    if let Some(store) = run.take_store() {
        let _ = store.close();
    }
    let counts = run.counts();
    result.map_err(|message| Failure {
        seed,
        message: format!("fault-free run: {message}"),
        trace: std::mem::take(&mut run.trace),
    })?;
    Ok(counts)
}

fn plan_for(rng: &mut SimRng, measured: &Counts) -> FaultPlan {
    let mut plan = FaultPlan::none().crash_at_call(rng.below(measured.calls + 1));
    if rng.chance(1, 3) {
        let writes = measured.writes.max(1);
        plan = match rng.below(5) {
            0 => plan.eio_at_write(rng.below(writes)),
            1 => plan.enospc_at_write(rng.below(writes)),
            2 => plan.short_write_at(rng.below(writes)),
            3 => plan.fail_sync_data_at(rng.below(measured.syncs_data.max(1))),
            _ => plan.fail_sync_dir_at(rng.below(measured.syncs_dir.max(1))),
        };
    }
    plan
}

/// Run one seed end to end.
pub fn run_seed(seed: u64, scenarios: Scenarios) -> Result<Outcome, Failure> {
    let mut rng = SimRng::new(seed);
    let ops = workload(&mut rng, scenarios);
    let measured = measure(seed, scenarios, &ops)?;
    let plan = plan_for(&mut rng, &measured);
    let mut run = Run::new(seed, scenarios, plan.clone()).map_err(|message| Failure {
        seed,
        message,
        trace: Vec::new(),
    })?;
    run.trace.push(format!(
        "{} ops, {} calls fault-free, plan {plan:?}",
        ops.len(),
        measured.calls
    ));
    let result = run.execute(&ops).and_then(|()| {
        let crashed = run.storage.is_crashed();
        run.trace.push(format!("workload ended (power failed: {crashed})"));
        run.power_cut_and_check(&mut rng)
    });
    let crashed_in_workload = plan.crash_at_call.is_some_and(|c| c < measured.calls);
    match result {
        Ok(()) => Ok(Outcome {
            calls: measured.calls,
            crashed_in_workload,
            acknowledged_records: run.acknowledged_records,
            injected_fault_hit: run.fault_hit,
            topics_recreated: run.topics_recreated,
            redriven: run.redriven,
            oversized_transactions: run.oversized_transactions,
            trace: std::mem::take(&mut run.trace),
        }),
        Err(message) => Err(Failure {
            seed,
            message,
            trace: std::mem::take(&mut run.trace),
        }),
    }
}
