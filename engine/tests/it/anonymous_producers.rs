//! Anonymous producers and capped epochs (issue 21: Kafka's `InitProducerId`
//! without a transactional id hands out a new producer per session, and
//! Kafka epochs are `int16`), through the public API: each registration is a
//! new id below 2^63 at epoch 0, durable like a named one, with its
//! sequences and retries rebuilt from the log after a reopen; owners are
//! kept; the idle expiry forgets one; a producer out of epochs moves to a
//! new id and its previous instance is fenced.

use crate::common;

use millrace::producer_state::ANONYMOUS_PREFIX;
use millrace::{Durability, Error, ProducerStamp, Record, Store, StoreOptions, TopicConfig};
use std::collections::BTreeSet;
use std::time::Duration;

fn options() -> StoreOptions {
    StoreOptions {
        durability: Durability::Always,
        background: false,
        ..StoreOptions::default()
    }
}

/// Named and anonymous producers idle `expiry` are forgotten by a
/// maintenance round every 10 ms.
fn expiring_store(path: &std::path::Path, expiry: Duration) -> Store {
    let options = StoreOptions {
        producer_idle_expiry: expiry,
        anonymous_producer_idle_expiry: expiry,
        background: true,
        maintenance_interval: Duration::from_millis(10),
        ..options()
    };
    Store::open(path, options).unwrap()
}

fn wait_forgotten(store: &Store, producer_id: u64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while store.producer_epoch(producer_id).is_some() {
        assert!(std::time::Instant::now() < deadline, "never forgotten");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn records(n: usize, tag: &str) -> Vec<Record> {
    (0..n).map(|i| Record::new(format!("{tag}-{i}"))).collect()
}

fn stamp(producer_id: u64, epoch: u16, base_sequence: u32) -> ProducerStamp {
    ProducerStamp {
        producer_id,
        epoch,
        base_sequence,
    }
}

#[test]
fn each_anonymous_registration_is_a_new_durable_producer() {
    let dir = common::scratch_dir();
    let (first, offsets) = {
        let store = Store::open(dir.path(), options()).unwrap();
        store.create_topic("t", TopicConfig::default()).unwrap();
        let producers = store.producers();
        let sessions: Vec<_> = (0..20).map(|_| producers.init_anonymous(None).unwrap()).collect();
        let ids: BTreeSet<u64> = sessions.iter().map(|s| s.producer_id).collect();
        assert_eq!(ids.len(), sessions.len(), "every registration is a new id");
        for session in &sessions {
            assert!(session.producer_id < 1 << 63, "{:x}", session.producer_id);
            assert_eq!(session.epoch, 0);
            assert!(session.last_sequences.is_empty());
            assert_eq!(session.name, format!("{ANONYMOUS_PREFIX}{:016x}", session.producer_id));
            // No client can init (and so fence) an anonymous producer by its name.
            assert!(matches!(
                store.init_producer(&session.name),
                Err(Error::InternalName { .. })
            ));
        }
        let first = sessions[0].producer_id;
        let a = producers
            .append_sequenced("t", 0, &records(3, "a"), stamp(first, 0, 0))
            .unwrap();
        let b = producers
            .append_sequenced("t", 0, &records(2, "b"), stamp(first, 0, 3))
            .unwrap();
        assert_eq!(producers.last_sequence(first, "t", 0).unwrap(), Some(4));
        assert_eq!(producers.last_sequence(sessions[1].producer_id, "t", 0).unwrap(), None);
        (first, (a.base_offset, b.base_offset))
    };
    // Reopened: the registration and the partition's producer state are back.
    let store = Store::open(dir.path(), options()).unwrap();
    let producers = store.producers();
    assert_eq!(producers.producer_epoch(first), Some(0));
    assert_eq!(producers.last_sequence(first, "t", 0).unwrap(), Some(4));
    // Retries of both batches answer the original offsets; nothing is written.
    let retry_a = producers
        .append_sequenced("t", 0, &records(3, "a"), stamp(first, 0, 0))
        .unwrap();
    let retry_b = producers
        .append_sequenced("t", 0, &records(2, "b"), stamp(first, 0, 3))
        .unwrap();
    assert!(retry_a.duplicate && retry_b.duplicate);
    assert_eq!((retry_a.base_offset, retry_b.base_offset), offsets);
    // A gap is out of order; the next sequence appends.
    assert!(matches!(
        producers.append_sequenced("t", 0, &records(1, "c"), stamp(first, 0, 6)),
        Err(Error::OutOfOrderSequence { expected: 5, got: 6 })
    ));
    let next = producers
        .append_sequenced("t", 0, &records(1, "c"), stamp(first, 0, 5))
        .unwrap();
    assert!(!next.duplicate);
    assert_eq!(next.base_offset, offsets.1 + 2);
    assert_eq!(common::read_partition(&store, "t", 0).len(), 6);
    // A new registration after the reopen is again a new id.
    assert_ne!(producers.init_anonymous(None).unwrap().producer_id, first);
}

#[test]
fn an_anonymous_producer_belongs_to_its_owner() {
    let dir = common::scratch_dir();
    let store = Store::open(dir.path(), options()).unwrap();
    let producers = store.producers();
    let id = producers.init_anonymous(Some("ingest")).unwrap().producer_id;
    assert_eq!(producers.producer_owner(id).as_deref(), Some("ingest"));
    assert!(producers.producer_usable_by(id, "ingest").unwrap());
    assert!(!producers.producer_usable_by(id, "other").unwrap());
    drop(producers);
    store.close().unwrap();
    let store = Store::open(dir.path(), options()).unwrap();
    assert_eq!(store.producer_owner(id).as_deref(), Some("ingest"));
}

#[test]
fn an_idle_anonymous_producer_is_forgotten() {
    let dir = common::scratch_dir();
    let store = expiring_store(dir.path(), Duration::from_millis(100));
    store.create_topic("t", TopicConfig::default()).unwrap();
    let id = store.producers().init_anonymous(None).unwrap().producer_id;
    assert_eq!(store.producer_epoch(id), Some(0));
    wait_forgotten(&store, id);
    assert!(matches!(
        store.append_sequenced("t", 0, &records(1, "late"), stamp(id, 0, 0)),
        Err(Error::UnknownProducer { producer_id }) if producer_id == id
    ));
}

/// Kafka's epochs are `int16`: a producer at the cap gets a new id at epoch
/// 0 instead of a higher epoch, and its previous instance is fenced.
#[test]
fn a_producer_out_of_epochs_moves_to_a_new_id() {
    let dir = common::scratch_dir();
    let store = Store::open(dir.path(), options()).unwrap();
    store.create_topic("t", TopicConfig::default()).unwrap();
    let producers = store.producers();
    let init = || producers.init_producer_capped("txn", None, 2).unwrap().unwrap();
    let first = init();
    assert_eq!(first.epoch, 0);
    producers
        .append_sequenced("t", 0, &records(2, "e0"), first.stamp(0))
        .unwrap();
    assert_eq!((init().producer_id, init().epoch), (first.producer_id, 2));
    let at_cap = first.producer_id;
    producers
        .append_sequenced("t", 0, &records(1, "e2"), stamp(at_cap, 2, 2))
        .unwrap();
    let moved = init();
    assert_ne!(moved.producer_id, at_cap);
    assert!(moved.producer_id < 1 << 63);
    assert_eq!(moved.epoch, 0);
    assert_eq!(moved.next_sequence("t", 0), 0, "a new id starts its sequences at 0");
    // The instance at the cap is fenced: its id is gone.
    assert!(matches!(
        producers.append_sequenced("t", 0, &records(1, "zombie"), stamp(at_cap, 2, 3)),
        Err(Error::UnknownProducer { .. })
    ));
    assert!(matches!(
        store.begin_transaction(millrace::ProducerId::new(at_cap, 2)),
        Err(Error::UnknownProducer { .. })
    ));
    producers
        .append_sequenced("t", 0, &records(1, "new"), moved.stamp(0))
        .unwrap();
    // Durable: after a reopen the name is at the new id, and its next epoch follows.
    drop(producers);
    store.close().unwrap();
    let store = Store::open(dir.path(), options()).unwrap();
    let again = store.producers().init_producer_capped("txn", None, 2).unwrap().unwrap();
    assert_eq!((again.producer_id, again.epoch), (moved.producer_id, 1));
    assert_eq!(again.next_sequence("t", 0), 1);
    // The native cap (u16::MAX) still refuses past the last epoch rather than move.
    assert_eq!(
        store
            .producers()
            .init_producer_capped("other", Some("me"), u16::MAX)
            .unwrap()
            .unwrap()
            .epoch,
        0
    );
    assert!(store
        .producers()
        .init_producer_capped("other", Some("you"), u16::MAX)
        .unwrap()
        .is_none());
}

/// `init_anonymous_capped`: an owner with `live_max` live anonymous
/// producers gets `None` and nothing is registered; other owners keep
/// their own room; named producers do not count.
#[test]
fn anonymous_registrations_are_capped_per_owner() {
    let dir = common::scratch_dir();
    let store = Store::open(dir.path(), options()).unwrap();
    let producers = store.producers();
    store.init_producer("named").unwrap();
    for _ in 0..3 {
        assert!(producers.init_anonymous_capped(Some("a"), 3).unwrap().is_some());
    }
    assert!(producers.init_anonymous_capped(Some("a"), 3).unwrap().is_none());
    assert_eq!(producers.anonymous_live(Some("a")), (3, 3));
    assert!(producers.init_anonymous_capped(Some("b"), 3).unwrap().is_some());
    assert!(producers.init_anonymous_capped(None, 1).unwrap().is_some());
    assert!(producers.init_anonymous_capped(None, 1).unwrap().is_none());
    assert_eq!(producers.anonymous_live(None), (1, 5));
}

/// Anonymous producers expire after their own expiry, even with batches
/// in a partition (no name could resume them), while a named producer
/// with batches stays registered; a forgotten anonymous id frees its
/// owner's room.
#[test]
fn an_anonymous_producer_with_batches_is_forgotten_after_its_own_expiry() {
    let dir = common::scratch_dir();
    // Long enough for the appends below to land before it passes.
    let store = expiring_store(dir.path(), Duration::from_secs(2));
    store.create_topic("t", TopicConfig::default()).unwrap();
    let producers = store.producers();
    let anonymous = producers.init_anonymous_capped(None, 1).unwrap().unwrap().producer_id;
    let named = store.init_producer("named").unwrap();
    let (named, named_epoch) = (named.producer_id, named.epoch);
    producers
        .append_sequenced("t", 0, &records(2, "a"), stamp(anonymous, 0, 0))
        .unwrap();
    producers
        .append_sequenced("t", 0, &records(2, "n"), stamp(named, named_epoch, 0))
        .unwrap();
    assert!(producers.init_anonymous_capped(None, 1).unwrap().is_none());
    wait_forgotten(&store, anonymous);
    assert_eq!(
        store.producer_epoch(named),
        Some(named_epoch),
        "a named producer with batches stays"
    );
    assert!(matches!(
        producers.append_sequenced("t", 0, &records(1, "late"), stamp(anonymous, 0, 2)),
        Err(Error::UnknownProducer { producer_id }) if producer_id == anonymous
    ));
    let next = producers.init_anonymous_capped(None, 1).unwrap().unwrap().producer_id;
    assert_ne!(next, anonymous);
}

/// An expired anonymous id comes back at the epoch its client bumped to
/// (Kafka's idempotent producer told UNKNOWN_PRODUCER_ID bumps its own epoch
/// and starts again at sequence 0 in every partition): the new epoch's
/// first batch is appended even where the window holds an older batch with
/// the same sequences, its retries are answered with its own offsets, the
/// older epoch stays fenced, a late first-epoch batch never brings the id
/// back, and the state survives a reopen. Live, named and over-the-cap ids
/// are not taken back.
#[test]
fn an_expired_anonymous_id_comes_back_at_its_bumped_epoch_from_sequence_0() {
    use millrace::producer_state::Readmission;
    let dir = common::scratch_dir();
    let store = expiring_store(dir.path(), Duration::from_secs(3));
    store.create_topic("t", TopicConfig::with_partitions(2)).unwrap();
    let producers = store.producers();
    let anonymous = producers.init_anonymous_capped(None, 10).unwrap().unwrap().producer_id;
    let named = store.init_producer("named").unwrap();
    let (named, named_epoch) = (named.producer_id, named.epoch);
    producers
        .append_sequenced("t", 0, &records(3, "a"), stamp(anonymous, 0, 0))
        .unwrap();
    producers
        .append_sequenced("t", 1, &records(2, "a"), stamp(anonymous, 0, 0))
        .unwrap();
    producers
        .append_sequenced("t", 0, &records(1, "n"), stamp(named, named_epoch, 0))
        .unwrap();
    assert_eq!(
        producers.readmit_anonymous(anonymous, 1, None, 10).unwrap(),
        Readmission::Refused,
        "a live id is not taken over"
    );
    wait_forgotten(&store, anonymous);
    // A late retry of the first epoch: unknown, and it brings nothing back.
    assert!(matches!(
        producers.append_sequenced("t", 0, &records(3, "a"), stamp(anonymous, 0, 0)),
        Err(Error::UnknownProducer { .. })
    ));
    assert_eq!(
        producers.readmit_anonymous(anonymous, 0, None, 10).unwrap(),
        Readmission::Refused
    );
    assert_eq!(
        producers.readmit_anonymous(named, named_epoch + 1, None, 10).unwrap(),
        Readmission::Refused,
        "a named producer resumes by init, not by a bumped epoch"
    );
    assert_eq!(
        producers.readmit_anonymous(anonymous, 1, None, 0).unwrap(),
        Readmission::Full
    );
    assert_eq!(
        producers.readmit_anonymous(anonymous, 1, None, 10).unwrap(),
        Readmission::Readmitted
    );
    assert_eq!(store.producer_epoch(anonymous), Some(1));
    assert_eq!(
        producers.readmit_anonymous(anonymous, 2, None, 10).unwrap(),
        Readmission::Refused
    );
    // Partition 0 remembers epoch 0's batch at sequences 0..=2: the new
    // epoch starts at 0 there, as a new batch, not as its duplicate.
    assert_eq!(producers.last_sequence(anonymous, "t", 0).unwrap(), Some(2));
    assert_eq!(producers.last_sequence_at(anonymous, 1, "t", 0).unwrap(), None);
    let first = producers
        .append_sequenced("t", 0, &records(3, "b"), stamp(anonymous, 1, 0))
        .unwrap();
    assert!(!first.duplicate);
    assert_eq!(first.base_offset, 4);
    let retry = producers
        .append_sequenced("t", 0, &records(3, "b"), stamp(anonymous, 1, 0))
        .unwrap();
    assert!(retry.duplicate);
    assert_eq!(retry.base_offset, first.base_offset);
    assert!(matches!(
        producers.append_sequenced("t", 0, &records(1, "a"), stamp(anonymous, 0, 3)),
        Err(Error::Fenced { .. })
    ));
    assert_eq!(producers.last_sequence_at(anonymous, 1, "t", 0).unwrap(), Some(2));
    // Partition 1 too starts the new epoch at 0.
    assert!(matches!(
        producers.append_sequenced("t", 1, &records(1, "b"), stamp(anonymous, 1, 2)),
        Err(Error::OutOfOrderSequence { expected: 0, got: 2 })
    ));
    producers
        .append_sequenced("t", 1, &records(1, "b"), stamp(anonymous, 1, 0))
        .unwrap();
    producers
        .append_sequenced("t", 0, &records(1, "c"), stamp(anonymous, 1, 3))
        .unwrap();
    drop(producers);
    store.close().unwrap();

    let store = Store::open(dir.path(), options()).unwrap();
    let producers = store.producers();
    assert_eq!(store.producer_epoch(anonymous), Some(1), "taken back durably");
    let retry = producers
        .append_sequenced("t", 0, &records(1, "c"), stamp(anonymous, 1, 3))
        .unwrap();
    assert!(retry.duplicate);
    assert_eq!(retry.base_offset, 7);
    let next = producers
        .append_sequenced("t", 0, &records(1, "d"), stamp(anonymous, 1, 4))
        .unwrap();
    assert_eq!((next.duplicate, next.base_offset), (false, 8));
    let values: Vec<String> = store
        .read("t", 0, 0, millrace::ReadOptions::default())
        .unwrap()
        .records
        .iter()
        .map(|r| String::from_utf8_lossy(&r.value).into_owned())
        .collect();
    assert_eq!(values, ["a-0", "a-1", "a-2", "n-0", "b-0", "b-1", "b-2", "c-0", "d-0"]);
}

/// A live anonymous id whose client bumped its own epoch (librdkafka after
/// requests in flight timed out; KIP-360 on the client side) moves to that
/// epoch from sequence 0 in every partition, as Kafka accepts: its new
/// epoch's first batch is appended where the window holds the old epoch's
/// with the same sequences, retries of either epoch before the bump were
/// de-duplicated and the new epoch's are after it, the old epoch is fenced,
/// and the state survives a reopen. Only the owner's live anonymous id at a
/// newer epoch moves; a named producer's epoch moves by init only.
#[test]
fn a_live_anonymous_id_bumped_by_its_client_starts_its_new_epoch_at_sequence_0() {
    let dir = common::scratch_dir();
    let store = Store::open(dir.path(), options()).unwrap();
    store.create_topic("t", TopicConfig::with_partitions(2)).unwrap();
    let producers = store.producers();
    let anonymous = producers
        .init_anonymous_capped(Some("alice"), 10)
        .unwrap()
        .unwrap()
        .producer_id;
    let named = store.init_producer("named").unwrap();
    let first = producers
        .append_sequenced("t", 0, &records(3, "a"), stamp(anonymous, 0, 0))
        .unwrap();
    producers
        .append_sequenced("t", 1, &records(2, "a"), stamp(anonymous, 0, 0))
        .unwrap();
    let retry = producers
        .append_sequenced("t", 0, &records(3, "a"), stamp(anonymous, 0, 0))
        .unwrap();
    assert!(retry.duplicate && retry.base_offset == first.base_offset);
    assert!(
        !producers.bump_anonymous(anonymous, 1, Some("bob")).unwrap(),
        "another owner's"
    );
    assert!(
        !producers.bump_anonymous(anonymous, 0, Some("alice")).unwrap(),
        "not newer"
    );
    assert!(
        !producers
            .bump_anonymous(named.producer_id, named.epoch + 1, None)
            .unwrap(),
        "a named producer's epoch moves by init only"
    );
    assert_eq!(store.producer_epoch(named.producer_id), Some(named.epoch));
    assert!(producers.bump_anonymous(anonymous, 1, Some("alice")).unwrap());
    assert_eq!(store.producer_epoch(anonymous), Some(1));
    assert!(
        !producers.bump_anonymous(anonymous, 1, Some("alice")).unwrap(),
        "a second partition's batch at the same epoch finds it moved"
    );
    assert_eq!(producers.last_sequence_at(anonymous, 1, "t", 0).unwrap(), None);
    let bumped = producers
        .append_sequenced("t", 0, &records(2, "b"), stamp(anonymous, 1, 0))
        .unwrap();
    assert!(!bumped.duplicate);
    assert_eq!(bumped.base_offset, 3);
    let retry = producers
        .append_sequenced("t", 0, &records(2, "b"), stamp(anonymous, 1, 0))
        .unwrap();
    assert!(retry.duplicate && retry.base_offset == 3);
    assert!(matches!(
        producers.append_sequenced("t", 0, &records(1, "late"), stamp(anonymous, 0, 3)),
        Err(Error::Fenced { .. })
    ));
    producers
        .append_sequenced("t", 1, &records(1, "b"), stamp(anonymous, 1, 0))
        .unwrap();
    store.close().unwrap();
    let store = Store::open(dir.path(), options()).unwrap();
    let producers = store.producers();
    assert_eq!(store.producer_epoch(anonymous), Some(1));
    let retry = producers
        .append_sequenced("t", 0, &records(2, "b"), stamp(anonymous, 1, 0))
        .unwrap();
    assert!(retry.duplicate && retry.base_offset == 3, "{retry:?}");
    assert_eq!(store.offsets("t", 0).unwrap().1, 5);
    store.close().unwrap();
}

/// An anonymous id forgotten before a restart (and dropped from the
/// registry file by the next registration) comes back after it at its
/// client's bumped epoch from sequence 0, as in Kafka, with nothing
/// acknowledged before written twice; so does an id never seen (Kafka keeps
/// no record of the ids it issued either). A named producer's id the
/// transaction log holds never comes back as anonymous, even with the
/// registry file lost.
#[test]
fn an_anonymous_id_forgotten_before_a_restart_comes_back_at_its_bumped_epoch() {
    use millrace::producer_state::Readmission;
    let dir = common::scratch_dir();
    let store = expiring_store(dir.path(), Duration::from_secs(1));
    store.create_topic("t", TopicConfig::default()).unwrap();
    let producers = store.producers();
    let anonymous = producers.init_anonymous_capped(None, 10).unwrap().unwrap().producer_id;
    producers
        .append_sequenced("t", 0, &records(3, "a"), stamp(anonymous, 0, 0))
        .unwrap();
    wait_forgotten(&store, anonymous);
    // The next registration writes the file without the expired id.
    producers.init_anonymous_capped(None, 10).unwrap().unwrap();
    store.close().unwrap();
    let registry = std::fs::read(dir.path().join("producers.registry")).unwrap();
    let hex = format!("{ANONYMOUS_PREFIX}{anonymous:016x}");
    assert!(
        !registry.windows(hex.len()).any(|w| w == hex.as_bytes()),
        "the file no longer holds it"
    );
    let store = Store::open(dir.path(), options()).unwrap();
    store.create_topic("out", TopicConfig::default()).unwrap();
    let producers = store.producers();
    assert!(matches!(
        producers.append_sequenced("t", 0, &records(1, "a"), stamp(anonymous, 0, 3)),
        Err(Error::UnknownProducer { .. })
    ));
    assert_eq!(
        producers.readmit_anonymous(anonymous, 0, None, 10).unwrap(),
        Readmission::Refused,
        "a late retry of the first epoch is no new producer"
    );
    assert_eq!(
        producers.readmit_anonymous(anonymous, 1, None, 10).unwrap(),
        Readmission::Readmitted
    );
    let resent = producers
        .append_sequenced("t", 0, &records(2, "b"), stamp(anonymous, 1, 0))
        .unwrap();
    assert!(!resent.duplicate);
    let read = store.read("t", 0, 0, millrace::ReadOptions::default()).unwrap();
    let values: Vec<String> = read
        .records
        .iter()
        .map(|r| String::from_utf8(r.value.clone()).unwrap())
        .collect();
    assert_eq!(values, ["a-0", "a-1", "a-2", "b-0", "b-1"]);
    // A transactional producer's id, then the registry file lost.
    let named = store.init_producer("stage").unwrap();
    let mut txn = store.begin_transaction(named.id()).unwrap();
    txn.append("out", 0, &records(1, "x")).unwrap();
    txn.commit().unwrap();
    store.close().unwrap();
    std::fs::remove_file(dir.path().join("producers.registry")).unwrap();
    let store = Store::open(dir.path(), options()).unwrap();
    let producers = store.producers();
    assert_eq!(
        producers
            .readmit_anonymous(named.producer_id, named.epoch + 1, None, 10)
            .unwrap(),
        Readmission::Refused,
        "the transaction log's id is a named producer's"
    );
    assert_eq!(
        producers.readmit_anonymous(0x1234, 1, None, 10).unwrap(),
        Readmission::Readmitted,
        "an id never seen, as Kafka"
    );
    store.close().unwrap();
}
