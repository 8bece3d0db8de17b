//! The schema registry and the contract audit log under simulated power
//! loss (`millrace::testing::sim`): a workload of registrations (two
//! subjects, a schema shared by both, new versions), soft and hard deletes,
//! a rewrite of `__schemas` (compaction) and contract applies and a removal
//! runs on the simulated disk; the power is cut at every storage call of it
//! in turn (three disk seeds each, so torn unsynced writes land
//! differently), the store is reopened from what the disk kept, and checked
//! against what the workload was told before the cut:
//! - every acknowledged version is there with its id and schema (hidden only
//!   by an acknowledged soft delete, gone only by a hard delete), an id names
//!   one schema;
//! - a schema registered after the cut gets an id no schema had before and
//!   a version above every version the subject ever gave out (never reused,
//!   also across the hard delete and the compaction);
//! - the audit log holds versions 1, 2, ... each acknowledged change at its
//!   version, at most one change more (the one the cut interrupted).

use millrace::contract::ApplyRequest;
use millrace::schema::{Compatibility, SchemaType};
use millrace::testing::sim::{FaultPlan, SimStorage};
use millrace::{Durability, Store, StoreOptions, TopicConfig};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

const DATA: &str = "/data";
const TOPIC: &str = "orders";
const FIRST: &str = "orders-value";
const SECOND: &str = "audit-value";

fn options() -> StoreOptions {
    StoreOptions {
        durability: Durability::Always,
        background: false,
        ..StoreOptions::default()
    }
}

fn schema(name: &str) -> String {
    format!(r#"{{"type":"record","name":"{name}","fields":[{{"name":"f","type":"string"}}]}}"#)
}

fn contract(change: u32) -> String {
    format!(
        "apiVersion: v3.0.0\nkind: DataContract\nid: urn:orders\nversion: 1.0.{change}\nstatus: active\n\
         owner: payments\ntopic: {TOPIC}\ndescription: change {change}\nproperties:\n  - name: n\n    \
         required: true\n    logicalType: integer\n    action: dlq\n"
    )
}

/// What the workload was told, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ack {
    Registered {
        subject: &'static str,
        version: u32,
        id: u32,
        name: &'static str,
    },
    SoftDeleted {
        subject: &'static str,
        version: u32,
    },
    HardDeleted {
        subject: &'static str,
        version: u32,
    },
    Compacted,
    Contract {
        version: u32,
        text: String,
    },
    ContractRemoved {
        version: u32,
    },
}

/// The workload: each acknowledged step is pushed to `acks` before the next starts.
fn workload(storage: &SimStorage, acks: &mut Vec<Ack>) -> millrace::Result<()> {
    let store = Store::open_with_storage(DATA, options(), Arc::new(storage.clone()))?;
    let registry = store.schemas();
    let register = |acks: &mut Vec<Ack>, subject: &'static str, name: &'static str| {
        let v = registry.register(subject, SchemaType::Avro, &schema(name))?;
        acks.push(Ack::Registered {
            subject,
            version: v.version,
            id: v.id,
            name,
        });
        millrace::Result::Ok(())
    };
    let apply = |acks: &mut Vec<Ack>, change: u32| {
        let text = contract(change);
        let report = store.contracts().apply(&ApplyRequest {
            text: &text,
            actor: "power-cut test",
            dry_run: false,
            force: false,
        })?;
        acks.push(Ack::Contract {
            version: report.version,
            text,
        });
        millrace::Result::Ok(())
    };
    register(acks, FIRST, "A")?;
    register(acks, FIRST, "B")?;
    apply(acks, 1)?;
    register(acks, SECOND, "A")?;
    registry.delete_version(FIRST, Some(1), false)?;
    acks.push(Ack::SoftDeleted {
        subject: FIRST,
        version: 1,
    });
    registry.delete_version(FIRST, Some(1), true)?;
    acks.push(Ack::HardDeleted {
        subject: FIRST,
        version: 1,
    });
    register(acks, FIRST, "C")?;
    apply(acks, 2)?;
    registry.compact()?;
    acks.push(Ack::Compacted);
    register(acks, SECOND, "D")?;
    if let Some(version) = store.contracts().remove(TOPIC, "power-cut test")? {
        acks.push(Ack::ContractRemoved { version });
    }
    apply(acks, 3)?;
    registry.delete_version(SECOND, Some(1), false)?;
    acks.push(Ack::SoftDeleted {
        subject: SECOND,
        version: 1,
    });
    register(acks, FIRST, "E")?;
    store.close()
}

/// Check the reopened store against `acks`; `next`, the step the cut
/// interrupted, may or may not be there.
fn check(store: &Store, acks: &[Ack], next: Option<&Ack>, what: &str) {
    let registry = store.schemas();
    let mut ids: BTreeMap<u32, &str> = BTreeMap::new();
    let mut version_max: BTreeMap<&str, u32> = BTreeMap::new();
    for (i, ack) in acks.iter().enumerate() {
        let later = acks.get(i + 1..).unwrap_or_default();
        // The step the cut interrupted may have happened too: a delete of it
        // makes either state right.
        match ack {
            Ack::Registered {
                subject,
                version,
                id,
                name,
            } => {
                if let Some(other) = ids.insert(*id, name) {
                    assert_eq!(other, *name, "{what}: id {id} acknowledged for two schemas");
                }
                let max = version_max.entry(subject).or_default();
                *max = (*max).max(*version);
                let hard = later.contains(&Ack::HardDeleted {
                    subject,
                    version: *version,
                });
                let soft = later.contains(&Ack::SoftDeleted {
                    subject,
                    version: *version,
                });
                let hard_maybe = next
                    == Some(&Ack::HardDeleted {
                        subject,
                        version: *version,
                    });
                let soft_maybe = next
                    == Some(&Ack::SoftDeleted {
                        subject,
                        version: *version,
                    });
                let all = registry
                    .versions(subject, true)
                    .unwrap_or_else(|e| panic!("{what}: {e}"));
                if hard || (hard_maybe && !all.contains(version)) {
                    assert!(
                        !all.contains(version),
                        "{what}: {subject} v{version} hard-deleted, still there"
                    );
                    continue;
                }
                assert!(all.contains(version), "{what}: {subject} v{version} (id {id}) lost");
                let live = registry.versions(subject, false).unwrap_or_default().contains(version);
                if !soft_maybe {
                    assert_eq!(live, !soft, "{what}: {subject} v{version} soft-deleted {soft}");
                }
                let stored = registry
                    .by_id(*id)
                    .unwrap_or_else(|e| panic!("{what}: {e}"))
                    .unwrap_or_else(|| panic!("{what}: schema id {id} lost"));
                assert_eq!(stored.schema, schema(name), "{what}: id {id} names another schema");
                if live {
                    let found = registry.version(subject, Some(*version)).unwrap().unwrap();
                    assert_eq!(found.id, *id, "{what}: {subject} v{version} moved to another id");
                }
            }
            Ack::SoftDeleted { .. } | Ack::HardDeleted { .. } | Ack::Compacted | Ack::ContractRemoved { .. } => {}
            Ack::Contract { .. } => {}
        }
    }
    // Contracts: changes numbered 1..=n, each acknowledged change at its
    // version, at most one change more than acknowledged.
    let history = store
        .contracts()
        .history(Some(TOPIC))
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    // Applies and removals number 1, 2, ... (a removal has its own number
    // and names the version it removed as its previous).
    let versions: Vec<u32> = history.iter().map(|(_, e)| e.version).collect();
    let expected: Vec<u32> = (1..=versions.len() as u32).collect();
    assert_eq!(versions, expected, "{what}: contract versions");
    let acknowledged: Vec<&Ack> = acks
        .iter()
        .filter(|a| matches!(a, Ack::Contract { .. } | Ack::ContractRemoved { .. }))
        .collect();
    assert!(
        history.len() == acknowledged.len() || history.len() == acknowledged.len() + 1,
        "{what}: {} audit entries, {} acknowledged",
        history.len(),
        acknowledged.len()
    );
    for ack in acknowledged {
        match ack {
            Ack::Contract { version, text } => {
                let entry = history
                    .iter()
                    .find(|(_, e)| e.version == *version && !e.removed)
                    .unwrap();
                assert!(
                    !entry.1.removed && entry.1.text == *text,
                    "{what}: contract version {version}"
                );
            }
            Ack::ContractRemoved { version } => {
                assert!(
                    history.iter().any(|(_, e)| e.removed && e.previous == Some(*version)),
                    "{what}: the removal of version {version} is lost"
                );
            }
            _ => {}
        }
    }
    // Never reused: a new schema's id is new, its version above all given out.
    for subject in [FIRST, SECOND] {
        let fresh = registry
            .register(subject, SchemaType::Avro, &schema(&format!("Fresh{}", subject.len())))
            .unwrap_or_else(|e| panic!("{what}: register after the cut: {e}"));
        assert!(!ids.contains_key(&fresh.id), "{what}: id {} given out again", fresh.id);
        let max = version_max.get(subject).copied().unwrap_or(0);
        assert!(
            fresh.version > max,
            "{what}: {subject} version {} given out again (up to {max})",
            fresh.version
        );
        ids.insert(fresh.id, "fresh");
    }
}

#[test]
fn a_power_cut_at_any_call_keeps_registry_ids_versions_and_the_audit_log() {
    let setup = |storage: &SimStorage| {
        let store = Store::open_with_storage(DATA, options(), Arc::new(storage.clone())).unwrap();
        store.create_topic(TOPIC, TopicConfig::default()).unwrap();
        store.schemas().set_compatibility(None, Compatibility::None).unwrap();
        store.close().unwrap();
    };
    let fresh = SimStorage::new(0, FaultPlan::none());
    setup(&fresh);
    let counting = fresh.power_cut();
    let mut all = Vec::new();
    workload(&counting, &mut all).unwrap();
    let calls = counting.calls();
    assert_eq!(all.len(), 14, "{all:?}");
    let mut outcomes = BTreeSet::new();
    for crash_at in 0..=calls {
        for seed in 0..3 {
            let fresh = SimStorage::new(seed, FaultPlan::none());
            setup(&fresh);
            let storage = fresh.power_cut_with_plan(FaultPlan::none().crash_at_call(crash_at));
            let mut acks = Vec::new();
            let _ = workload(&storage, &mut acks);
            let image = storage.power_cut();
            let what = format!(
                "crash at call {crash_at} of {calls}, seed {seed}, after {} acknowledged steps",
                acks.len()
            );
            let store =
                Store::open_with_storage(DATA, options(), Arc::new(image)).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert!(store.damaged().is_empty(), "{what}: {:?}", store.damaged());
            check(&store, &acks, all.get(acks.len()), &what);
            store.close().unwrap();
            outcomes.insert(acks.len());
        }
    }
    // The cuts landed before, between and after the steps.
    assert!(outcomes.len() > 10, "acknowledged-step counts seen: {outcomes:?}");
}
