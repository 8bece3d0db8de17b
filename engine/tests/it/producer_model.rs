//! Proves exactly-once appends from idempotent producers: proptest generates
//! random sequences of Send / Retry (one of the last 8 batches, with the
//! current epoch) / Gap / Restart (init_producer again: new epoch, resume
//! from the returned sequences) / Zombie (an append from the previous epoch)
//! / Roll / Reopen / Crash (a simulated power cut on `testing::sim`) for two
//! producers interleaving on a two-partition topic with 4 KiB segments (so
//! producer-state snapshots are written and used). Every answer is checked
//! against a model, and each partition's log must equal the model's
//! exactly-once sequence after every step. Always mode: every acknowledged
//! batch survives the power cut. Cases: 64 by default, `PROPTEST_CASES`
//! overrides.

use crate::common;

use millrace::testing::sim::{FaultPlan, SimStorage};
use millrace::{Durability, Error, ProducerStamp, Record, Store, StoreOptions, TopicConfig};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

const DATA_DIR: &str = "/producer-model";
const PARTITIONS: u32 = 2;
const PRODUCERS: usize = 2;
const WINDOW: usize = 5;

#[derive(Debug, Clone)]
enum Op {
    Send {
        producer: usize,
        partition: u32,
        records: u8,
    },
    Retry {
        producer: usize,
        partition: u32,
        back: usize,
    },
    Gap {
        producer: usize,
        partition: u32,
    },
    Restart {
        producer: usize,
    },
    Zombie {
        producer: usize,
        partition: u32,
    },
    Roll {
        partition: u32,
    },
    Reopen,
    Crash,
}

fn op() -> impl Strategy<Value = Op> {
    let producer = 0..PRODUCERS;
    let partition = 0..PARTITIONS;
    prop_oneof![
        8 => (producer.clone(), partition.clone(), 1u8..=3).prop_map(|(producer, partition, records)| Op::Send { producer, partition, records }),
        4 => (producer.clone(), partition.clone(), 0usize..8).prop_map(|(producer, partition, back)| Op::Retry { producer, partition, back }),
        1 => (producer.clone(), partition.clone()).prop_map(|(producer, partition)| Op::Gap { producer, partition }),
        2 => producer.clone().prop_map(|producer| Op::Restart { producer }),
        1 => (producer, partition.clone()).prop_map(|(producer, partition)| Op::Zombie { producer, partition }),
        1 => partition.prop_map(|partition| Op::Roll { partition }),
        1 => Just(Op::Reopen),
        1 => Just(Op::Crash),
    ]
}

/// A batch a producer appended: (base sequence, record count, base offset).
type Sent = (u32, u32, u64);

#[derive(Debug, Default)]
struct ModelProducer {
    id: u64,
    epoch: u16,
    /// Per partition: every batch appended, oldest first (across epochs).
    sent: BTreeMap<u32, Vec<Sent>>,
}

impl ModelProducer {
    fn next_sequence(&self, partition: u32) -> u32 {
        self.sent
            .get(&partition)
            .and_then(|s| s.last())
            .map_or(0, |(base, count, _)| base + count)
    }
    fn stamp(&self, epoch: u16, base_sequence: u32) -> ProducerStamp {
        ProducerStamp {
            producer_id: self.id,
            epoch,
            base_sequence,
        }
    }
}

fn options() -> StoreOptions {
    StoreOptions {
        durability: Durability::Always,
        background: false,
        ..StoreOptions::default()
    }
}

fn open(storage: &SimStorage) -> Store {
    Store::open_with_storage(DATA_DIR, options(), Arc::new(storage.clone())).unwrap()
}

fn batch(name: &str, partition: u32, base_sequence: u32, count: u32) -> Vec<Record> {
    (0..count)
        // ~200 bytes per record so that 4 KiB segments roll often.
        .map(|i| Record::new(format!("{name}/{partition}/{}/{}", base_sequence + i, "x".repeat(180)).into_bytes()))
        .collect()
}

fn log_values(store: &Store, partition: u32) -> Vec<Vec<u8>> {
    common::read_partition(store, "t", partition)
        .into_iter()
        .map(|r| r.value)
        .collect()
}

fn run(seed: u64, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut storage = SimStorage::new(seed, FaultPlan::none());
    storage.create_dir_all_durable(Path::new(DATA_DIR)).unwrap();
    let mut store = open(&storage);
    store
        .create_topic(
            "t",
            TopicConfig {
                partitions: PARTITIONS,
                segment_bytes: 4096,
                index_interval_bytes: 512,
                ..TopicConfig::default()
            },
        )
        .unwrap();
    let names: Vec<String> = (0..PRODUCERS).map(|i| format!("producer-{i}")).collect();
    let mut producers: Vec<ModelProducer> = Vec::new();
    for name in &names {
        let session = store.init_producer(name).unwrap();
        prop_assert_eq!(session.epoch, 0);
        producers.push(ModelProducer {
            id: session.producer_id,
            ..ModelProducer::default()
        });
    }
    let mut logs: Vec<Vec<Vec<u8>>> = vec![Vec::new(); PARTITIONS as usize];

    for op in ops {
        match op {
            Op::Send {
                producer,
                partition,
                records,
            } => {
                let p = &mut producers[producer];
                let sequence = p.next_sequence(partition);
                let batch = batch(&names[producer], partition, sequence, u32::from(records));
                let log = &mut logs[partition as usize];
                let got = store
                    .append_sequenced("t", partition, &batch, p.stamp(p.epoch, sequence))
                    .unwrap();
                prop_assert!(!got.duplicate);
                prop_assert_eq!(got.base_offset, log.len() as u64);
                p.sent
                    .entry(partition)
                    .or_default()
                    .push((sequence, u32::from(records), got.base_offset));
                log.extend(batch.into_iter().map(|r| r.value));
            }
            Op::Retry {
                producer,
                partition,
                back,
            } => {
                let p = &producers[producer];
                let sent = p.sent.get(&partition).cloned().unwrap_or_default();
                let Some(&(base, count, offset)) = sent.iter().rev().nth(back) else {
                    continue;
                };
                let result = store.append_sequenced(
                    "t",
                    partition,
                    &batch(&names[producer], partition, base, count),
                    p.stamp(p.epoch, base),
                );
                if back < WINDOW {
                    let got = result.unwrap();
                    prop_assert!(got.duplicate);
                    prop_assert_eq!((got.base_offset, got.next_offset), (offset, offset + u64::from(count)));
                } else {
                    match result {
                        Err(Error::OutOfOrderSequence { expected, got }) => {
                            prop_assert_eq!((expected, got), (p.next_sequence(partition), base));
                        }
                        other => prop_assert!(false, "retry beyond the window: {:?}", other),
                    }
                }
            }
            Op::Gap { producer, partition } => {
                let p = &producers[producer];
                let expected = p.next_sequence(partition);
                let result = store.append_sequenced(
                    "t",
                    partition,
                    &batch(&names[producer], partition, expected + 1, 1),
                    p.stamp(p.epoch, expected + 1),
                );
                match result {
                    Err(Error::OutOfOrderSequence { expected: e, got }) => {
                        prop_assert_eq!((e, got), (expected, expected + 1))
                    }
                    other => prop_assert!(false, "gap: {:?}", other),
                }
            }
            Op::Restart { producer } => {
                let session = store.init_producer(&names[producer]).unwrap();
                let p = &mut producers[producer];
                prop_assert_eq!(session.producer_id, p.id);
                prop_assert_eq!(session.epoch, p.epoch + 1);
                p.epoch = session.epoch;
                for partition in 0..PARTITIONS {
                    prop_assert_eq!(session.next_sequence("t", partition), p.next_sequence(partition));
                }
            }
            Op::Zombie { producer, partition } => {
                let p = &producers[producer];
                if p.epoch == 0 {
                    continue;
                }
                let sequence = p.next_sequence(partition);
                let result = store.append_sequenced(
                    "t",
                    partition,
                    &batch(&names[producer], partition, sequence, 1),
                    p.stamp(p.epoch - 1, sequence),
                );
                let fenced = matches!(result, Err(Error::Fenced { current_epoch, .. }) if current_epoch == p.epoch);
                prop_assert!(fenced, "zombie append: {:?}", result);
            }
            Op::Roll { partition } => store.roll("t", partition).unwrap(),
            Op::Reopen => {
                drop(store);
                store = open(&storage);
            }
            Op::Crash => {
                // Cut power under the open store, then let the dead store go.
                let survivor = storage.power_cut();
                drop(store);
                storage = survivor;
                store = open(&storage);
            }
        }
        for partition in 0..PARTITIONS {
            prop_assert_eq!(&log_values(&store, partition), &logs[partition as usize]);
        }
    }
    Ok(())
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn log_equals_the_exactly_once_model(seed in any::<u64>(), ops in prop::collection::vec(op(), 1..80)) {
        run(seed, ops)?;
    }
}
