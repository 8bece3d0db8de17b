//! Loom model of the fencing race between two epochs of one producer: the
//! old instance (epoch 0) appends its next batch while a restarted instance
//! runs `init_producer` (bump the epoch in `ProducerEpochs`, then read the
//! partition's last sequence under the writer lock) and appends from there.
//! The state machine is the engine's own (`millrace::producer_state`:
//! `ProducerEpochs`, `ProducerTable`, `admit`) behind `millrace::sync` locks;
//! only the log bytes are a Vec. Proves, for every interleaving: the old
//! append is either fenced or seen by the new instance; the new instance's
//! append is always the next sequence (never mistaken for a duplicate of a
//! zombie write); every sequence is in the log exactly once, in order. A
//! negative control (reading the sequence before bumping the epoch) shows
//! the model catches the race.
//! Run: `RUSTFLAGS="--cfg loom" cargo test -p millrace --test loom_producer --release`
//! (use a separate CARGO_TARGET_DIR).

#![cfg(loom)]
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use loom::sync::Arc;
use loom::thread;
use millrace::producer_state::{admit, Admission, ProducerEpochs, ProducerTable, RegistryState};
use millrace::sync::Mutex;
use millrace::{Error, ProducerStamp};

/// A partition reduced to its writer lock: producer state and the log
/// (epoch, sequence) of every batch written.
struct Partition {
    writer: Mutex<(ProducerTable, Vec<(u16, u32)>)>,
}

impl Partition {
    /// The engine's append path (`Partition::append_inner`): admit, write, record.
    fn append(&self, epochs: &ProducerEpochs, stamp: ProducerStamp) -> Result<Admission, Error> {
        let mut guard = self.writer.lock();
        let (table, log) = &mut *guard;
        let admission = admit(table, epochs, stamp, 1, 0)?;
        if admission == Admission::Append {
            let offset = log.len() as u64;
            log.push((stamp.epoch, stamp.base_sequence));
            table.record(stamp, offset, 1, 0);
        }
        Ok(admission)
    }

    fn last_sequence(&self, producer_id: u64) -> Option<u32> {
        self.writer.lock().0.last_sequence(producer_id)
    }
}

fn stamp(producer_id: u64, epoch: u16, base_sequence: u32) -> ProducerStamp {
    ProducerStamp {
        producer_id,
        epoch,
        base_sequence,
    }
}

/// Epoch 0 has written sequence 0; returns the shared state.
fn setup() -> (Arc<ProducerEpochs>, Arc<Partition>, u64) {
    let epochs = Arc::new(ProducerEpochs::new(RegistryState::default(), i64::MAX));
    let (id, epoch) = epochs.init("p", 0, || Ok(7), |_| Ok(())).unwrap();
    assert_eq!(epoch, 0);
    let partition = Arc::new(Partition {
        writer: Mutex::new((ProducerTable::new(5), Vec::new())),
    });
    partition.append(&epochs, stamp(id, 0, 0)).unwrap();
    (epochs, partition, id)
}

fn race(bump_before_read: bool) {
    loom::model(move || {
        let (epochs, partition, id) = setup();
        let zombie = {
            let (epochs, partition) = (epochs.clone(), partition.clone());
            thread::spawn(move || partition.append(&epochs, stamp(id, 0, 1)))
        };
        // The restarted instance: init_producer, then resume.
        let last = if bump_before_read {
            let (_, epoch) = epochs.init("p", 0, || Ok(7), |_| Ok(())).unwrap();
            assert_eq!(epoch, 1);
            partition.last_sequence(id)
        } else {
            let last = partition.last_sequence(id);
            epochs.init("p", 0, || Ok(7), |_| Ok(())).unwrap();
            last
        };
        let resume = last.map_or(0, |s| s + 1);
        let mine = partition.append(&epochs, stamp(id, 1, resume));
        let zombie = zombie.join().unwrap();

        match &zombie {
            Ok(Admission::Append) => assert_eq!(last, Some(1), "the new instance missed a zombie write"),
            Err(Error::Fenced { current_epoch: 1, .. }) => assert_eq!(last, Some(0)),
            other => panic!("zombie append: {other:?}"),
        }
        assert_eq!(
            mine.unwrap(),
            Admission::Append,
            "the new instance's batch was not appended"
        );
        let log = partition.writer.lock().1.clone();
        let sequences: Vec<u32> = log.iter().map(|(_, s)| *s).collect();
        let expected: Vec<u32> = (0..log.len() as u32).collect();
        assert_eq!(sequences, expected, "every sequence once, in order: {log:?}");
        // Nothing of the old epoch after the new epoch's first batch.
        let first_new = log.iter().position(|(e, _)| *e == 1).unwrap();
        assert!(log[first_new..].iter().all(|(e, _)| *e == 1), "{log:?}");
    });
}

#[test]
fn old_epoch_is_fenced_or_counted() {
    race(true);
}

/// Negative control: reading the last sequence before the epoch bump lets a
/// zombie write slip in between, and the new instance's batch is then taken
/// for a retry of it.
#[test]
#[should_panic(expected = "the new instance missed a zombie write")]
fn reading_before_the_bump_loses_the_race() {
    race(false);
}

/// Two appends of the same epoch racing (a producer that retries on another
/// thread): the batch is written once, the other attempt is a duplicate.
#[test]
fn concurrent_retry_is_written_once() {
    loom::model(|| {
        let (epochs, partition, id) = setup();
        let other = {
            let (epochs, partition) = (epochs.clone(), partition.clone());
            thread::spawn(move || partition.append(&epochs, stamp(id, 0, 1)).unwrap())
        };
        let here = partition.append(&epochs, stamp(id, 0, 1)).unwrap();
        let there = other.join().unwrap();
        let mut outcomes = [here, there];
        outcomes.sort_by_key(|a| matches!(a, Admission::Duplicate { .. }));
        assert_eq!(outcomes[0], Admission::Append);
        assert!(matches!(outcomes[1], Admission::Duplicate { base_offset: 1, .. }));
        assert_eq!(partition.writer.lock().1, [(0, 0), (0, 1)]);
    });
}
