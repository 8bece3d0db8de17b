//! Proves the consumer-offset table is a durable map with bounded log size:
//! proptest generates random sequences of Commit (one offset), CommitMany (one
//! batch over several partitions), Burst (hundreds of commits, crossing the
//! automatic compaction threshold), Compact, Reset (an applied offset reset),
//! Reopen and Crash (a simulated power cut on `testing::sim`) and checks, after
//! every step, that every committed offset equals a plain map's, and that the
//! readable offsets log never holds more than `2 × keys + 1024 + 1` records.
//! Always mode: every acknowledged commit survives the power cut. Cases: 32 by
//! default, `PROPTEST_CASES` overrides.

use millrace::offset_table::OFFSETS_TOPIC;
use millrace::testing::sim::{FaultPlan, SimStorage};
use millrace::{Durability, Record, ResetRequest, ResetScope, ResetTarget, Store, StoreOptions, TopicConfig};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

const DATA_DIR: &str = "/offsets-model";
const PARTITIONS: u32 = 3;
const GROUPS: [&str; 3] = ["a", "b", "c"];
/// Records per partition of the topic the offsets point into.
const RECORDS: u64 = 50;

#[derive(Debug, Clone)]
enum Op {
    Commit { group: usize, partition: u32, offset: u64 },
    CommitMany { group: usize, offsets: Vec<(u32, u64)> },
    Burst { group: usize, count: u32 },
    Compact,
    Reset { group: usize, offset: u64 },
    Reopen,
    Crash,
}

fn op() -> impl Strategy<Value = Op> {
    let group = 0..GROUPS.len();
    prop_oneof![
        8 => (group.clone(), 0..PARTITIONS, 0..=RECORDS).prop_map(|(group, partition, offset)| Op::Commit { group, partition, offset }),
        3 => (group.clone(), prop::collection::vec((0..PARTITIONS, 0..=RECORDS), 1..4)).prop_map(|(group, offsets)| Op::CommitMany { group, offsets }),
        1 => (group.clone(), 100u32..1200).prop_map(|(group, count)| Op::Burst { group, count }),
        1 => Just(Op::Compact),
        1 => (group, 0..=RECORDS + 20).prop_map(|(group, offset)| Op::Reset { group, offset }),
        1 => Just(Op::Reopen),
        2 => Just(Op::Crash),
    ]
}

fn open(storage: &SimStorage) -> Store {
    let options = StoreOptions {
        durability: Durability::Always,
        background: false,
        ..StoreOptions::default()
    };
    Store::open_with_storage(DATA_DIR, options, Arc::new(storage.clone())).unwrap()
}

type Model = BTreeMap<(usize, u32), u64>;

fn check(store: &Store, model: &Model) -> Result<(), TestCaseError> {
    for (g, group) in GROUPS.iter().enumerate() {
        for partition in 0..PARTITIONS {
            let got = store.committed_offset(group, "t", partition).unwrap();
            prop_assert_eq!(got, model.get(&(g, partition)).copied(), "{}/{}", group, partition);
        }
    }
    if let Ok((start, end)) = store.offsets(OFFSETS_TOPIC, 0) {
        prop_assert!(
            end - start <= 2 * model.len() as u64 + 1024 + 1,
            "offsets log holds {} records for {} keys",
            end - start,
            model.len()
        );
    }
    Ok(())
}

fn run(seed: u64, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut storage = SimStorage::new(seed, FaultPlan::none());
    storage.create_dir_all_durable(Path::new(DATA_DIR)).unwrap();
    let mut store = open(&storage);
    store
        .create_topic("t", TopicConfig::with_partitions(PARTITIONS))
        .unwrap();
    for partition in 0..PARTITIONS {
        let records: Vec<Record> = (0..RECORDS).map(|i| Record::new(i.to_le_bytes().to_vec())).collect();
        store.append("t", partition, &records).unwrap();
    }
    let mut model = Model::new();
    for op in ops {
        match op {
            Op::Commit {
                group,
                partition,
                offset,
            } => {
                store
                    .commit_offset(GROUPS[group], "t", partition, offset, b"m")
                    .unwrap();
                model.insert((group, partition), offset);
            }
            Op::CommitMany { group, offsets } => {
                let commits: Vec<(String, u32, u64, Vec<u8>)> = offsets
                    .iter()
                    .map(|(p, o)| ("t".to_string(), *p, *o, Vec::new()))
                    .collect();
                store.commit_offsets(GROUPS[group], &commits).unwrap();
                for (p, o) in offsets {
                    model.insert((group, p), o);
                }
            }
            Op::Burst { group, count } => {
                for i in 0..count {
                    let (partition, offset) = (i % PARTITIONS, u64::from(i) % (RECORDS + 1));
                    store.commit_offset(GROUPS[group], "t", partition, offset, b"").unwrap();
                    model.insert((group, partition), offset);
                }
            }
            Op::Compact => {
                let kept = store.compact_offsets().unwrap();
                prop_assert_eq!(kept, model.len() as u64);
            }
            Op::Reset { group, offset } => {
                let plan = store
                    .reset_offsets(&ResetRequest {
                        group: GROUPS[group].to_string(),
                        scopes: vec![ResetScope::Topic("t".to_string())],
                        target: ResetTarget::Offset(offset),
                        dry_run: false,
                        actor: "model".to_string(),
                        force: true,
                    })
                    .unwrap();
                for entry in plan.entries {
                    prop_assert_eq!(entry.new, offset.min(RECORDS));
                    model.insert((group, entry.partition), entry.new);
                }
            }
            Op::Reopen => {
                drop(store);
                store = open(&storage);
            }
            Op::Crash => {
                let survivor = storage.power_cut();
                drop(store);
                storage = survivor;
                store = open(&storage);
            }
        }
        check(&store, &model)?;
    }
    Ok(())
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn committed_offsets_equal_the_model(seed in any::<u64>(), ops in prop::collection::vec(op(), 1..40)) {
        run(seed, ops)?;
    }
}
