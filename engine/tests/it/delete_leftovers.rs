//! A topic delete cut by a power failure at every storage call, on a store
//! that records its topic changes (`__config_changes`): after the reopen,
//! before anything else, nothing of the deleted topic is left: no committed
//! offset on it or its DLQ, no redrive mark of its DLQ in `__redriven`, no
//! failure count in `__attempts` (design/durability.md, "Topic configuration
//! changes": the open's roll-forward of a delete whose directory and DLQ are
//! gone); another topic's offsets, marks and counts are all kept; and a
//! topic created again under the name starts clean: its first failure is
//! counted 1, its first dead letter (DLQ offset 0) is not marked redriven,
//! and it is redriven exactly once. At least one cut must fall after the
//! DLQ went and before the marks and counts were forgotten, so that the
//! roll-forward is what the checks see.
use millrace::dlq::{FailOutcome, RedriveOptions};
use millrace::testing::sim::{FaultPlan, SimStorage};
use millrace::{ProducerId, ReadOptions, Record, Store, StoreOptions, TopicConfig};
use std::sync::Arc;

const DATA: &str = "/data";
const DOOMED: &str = "doomed";
const KEPT: &str = "kept";

fn options() -> StoreOptions {
    StoreOptions {
        background: false,
        ..StoreOptions::default()
    }
}

fn open(storage: &SimStorage) -> millrace::Result<Store> {
    Store::open_with_storage(DATA, options(), Arc::new(storage.clone()))
}

fn fail(store: &Store, producer: ProducerId, topic: &str, offset: u64, max_attempts: u32) -> FailOutcome {
    let record = store.read(topic, 0, offset, ReadOptions::default()).unwrap().records[0].clone();
    store
        .fail_record(producer, "g", topic, 0, &record, "s", "E", "bad", max_attempts)
        .unwrap()
}

/// `topic` with two records: the first dead-lettered and redriven (a mark),
/// the second failed once of five (a count); group `g` committed on the
/// topic and on its DLQ.
fn with_bookkeeping(store: &Store, producer: ProducerId, topic: &str) {
    store.create_topic(topic, TopicConfig::with_partitions(1)).unwrap();
    store
        .append(topic, 0, &[Record::new("first"), Record::new("second")])
        .unwrap();
    assert!(matches!(
        fail(store, producer, topic, 0, 1),
        FailOutcome::DeadLettered { dlq_offset: 0, .. }
    ));
    let report = store.dlq_redrive(topic, &RedriveOptions::default()).unwrap();
    assert_eq!(report.redriven.len(), 1);
    assert!(matches!(fail(store, producer, topic, 1, 5), FailOutcome::Retry(a) if a.count == 1));
    store.commit_offset("g", topic, 0, 2, b"").unwrap();
    store.commit_offset("g", &format!("__dlq.{topic}"), 0, 1, b"").unwrap();
}

fn setup(storage: &SimStorage) {
    let store = open(storage).unwrap();
    let producer = store.init_producer("p").unwrap().id();
    with_bookkeeping(&store, producer, KEPT);
    // The first alter creates `__config_changes`: the delete is recorded.
    store
        .alter_topic(KEPT, &[("retention_ms".to_string(), "none".to_string())], false)
        .unwrap();
    with_bookkeeping(&store, producer, DOOMED);
    store.close().unwrap();
}

fn workload(storage: &SimStorage) -> millrace::Result<()> {
    let store = open(storage)?;
    store.delete_topic(DOOMED)?;
    store.close()
}

/// Whether a record of internal log `topic` (from its start) holds `needle`.
fn log_mentions(store: &Store, topic: &str, needle: &[u8]) -> bool {
    let Ok(described) = store.describe_topic(topic) else {
        return false;
    };
    let mut offset = described.partitions[0].log_start_offset;
    loop {
        let Ok(read) = store.read(topic, 0, offset, ReadOptions::default()) else {
            return false;
        };
        if read.records.is_empty() {
            return false;
        }
        if read
            .records
            .iter()
            .any(|r| r.value.windows(needle.len()).any(|w| w == needle))
        {
            return true;
        }
        offset = read.next_offset;
    }
}

/// Whether the disk (before any open) has neither the topic's directory nor
/// its DLQ's, while `__redriven` or `__attempts` still holds its name.
fn bookkeeping_left_on_disk(storage: &SimStorage) -> bool {
    let files = storage.files();
    let under = |dir: &str| {
        files
            .keys()
            .any(|p| p.to_string_lossy().contains(&format!("/topics/{dir}/")))
    };
    let mentions = files.iter().any(|(path, bytes)| {
        let path = path.to_string_lossy();
        (path.contains("/topics/__redriven/") || path.contains("/topics/__attempts/"))
            && bytes.windows(DOOMED.len()).any(|w| w == DOOMED.as_bytes())
    });
    !under(DOOMED) && !under(&format!("__dlq.{DOOMED}")) && mentions
}

fn check_nothing_left(store: &Store, what: &str) {
    let offsets = store.group_offsets("g").unwrap();
    assert!(
        offsets.iter().all(|((topic, _), _)| !topic.contains(DOOMED)),
        "{what}: offsets left: {offsets:?}"
    );
    assert_eq!(offsets.len(), 2, "{what}: the other topic's offsets kept: {offsets:?}");
    assert!(
        !log_mentions(store, "__redriven", DOOMED.as_bytes()),
        "{what}: redrive marks left"
    );
    assert!(
        !log_mentions(store, "__attempts", DOOMED.as_bytes()),
        "{what}: failure counts left"
    );
    assert!(
        log_mentions(store, "__redriven", KEPT.as_bytes()),
        "{what}: the other topic's marks kept"
    );
    assert!(
        log_mentions(store, "__attempts", KEPT.as_bytes()),
        "{what}: the other topic's counts kept"
    );
}

fn check_new_incarnation(store: &Store, what: &str) {
    let producer = store.init_producer("p").unwrap().id();
    store.create_topic(DOOMED, TopicConfig::with_partitions(1)).unwrap();
    assert_eq!(store.committed_offset("g", DOOMED, 0).unwrap(), None, "{what}");
    store.append(DOOMED, 0, &[Record::new("new")]).unwrap();
    assert!(
        matches!(fail(store, producer, DOOMED, 0, 2), FailOutcome::Retry(a) if a.count == 1),
        "{what}: the first failure of the new topic counts 1"
    );
    assert!(matches!(
        fail(store, producer, DOOMED, 0, 2),
        FailOutcome::DeadLettered { dlq_offset: 0, .. }
    ));
    let listed = store.dlq_list(DOOMED, &Default::default()).unwrap();
    assert_eq!(listed.len(), 1, "{what}");
    assert!(
        listed[0].redriven.is_none(),
        "{what}: the new dead letter is not marked redriven"
    );
    let first = store.dlq_redrive(DOOMED, &RedriveOptions::default()).unwrap();
    assert_eq!(first.redriven.len(), 1, "{what}: {first:?}");
    let again = store
        .dlq_redrive(
            DOOMED,
            &RedriveOptions {
                from_offset: Some(0),
                ..RedriveOptions::default()
            },
        )
        .unwrap();
    assert!(again.redriven.is_empty(), "{what}: redriven twice: {again:?}");
    // The other topic's count went on from where it was.
    assert!(
        matches!(fail(store, producer, KEPT, 1, 5), FailOutcome::Retry(a) if a.count == 2),
        "{what}"
    );
}

#[test]
fn a_power_cut_at_each_call_of_a_topic_delete_leaves_nothing_of_the_topic_after_the_reopen() {
    let counting = SimStorage::new(0, FaultPlan::none());
    setup(&counting);
    let counting = counting.power_cut();
    workload(&counting).unwrap();
    let calls = counting.calls();
    let mut left_on_disk = 0;
    for crash_at in 0..=calls {
        let what = format!("power cut at call {crash_at} of {calls}");
        let fresh = SimStorage::new(crash_at, FaultPlan::none());
        setup(&fresh);
        let storage = fresh.power_cut_with_plan(FaultPlan::none().crash_at_call(crash_at));
        let _ = workload(&storage);
        let image = storage.power_cut();
        if bookkeeping_left_on_disk(&image) {
            left_on_disk += 1;
        }
        let store = open(&image).unwrap_or_else(|e| panic!("{what}: {e}"));
        if store.list_topics().iter().any(|t| t == DOOMED) {
            // Cut before the delete's record: the topic is whole; delete it now.
            store.delete_topic(DOOMED).unwrap();
        } else {
            check_nothing_left(&store, &what);
        }
        check_new_incarnation(&store, &what);
        store.close().unwrap();
    }
    assert!(
        left_on_disk > 0,
        "no cut fell after the DLQ went and before its marks and counts were forgotten"
    );
}
