//! The transaction coordinator's state: per producer id, the transactional
//! id, epoch and timeout it was initialised with in this server run, and its
//! open transaction (the engine's `Transaction`, the partitions and groups
//! added to it, the sequences of its batches).

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::kafka::front::errors;

/// Partitions one transaction may add (each `AddPartitionsToTxn` is bounded
/// by its frame; their sum by this).
pub(super) const PARTITIONS_PER_TRANSACTION_MAX: usize = 10_000;
/// Groups one transaction may add (`AddOffsetsToTxn`).
pub(super) const GROUPS_PER_TRANSACTION_MAX: usize = 100;
/// Batches per partition whose sequences a retry is recognised by (Kafka's
/// `max.in.flight.requests.per.connection` limit for idempotence).
const RECENT_BATCHES: usize = 5;
/// Kafka's sequences are `int32` and wrap from `i32::MAX` to 0.
const SEQUENCE_MODULUS: i64 = 1 << 31;

/// The code a producer whose transaction this server no longer holds gets
/// (initialised before a restart, or its transaction timed out): the
/// clients abort (librdkafka, kafka-python on Produce) or fail fatally
/// (kafka-python on the coordinator APIs) and init again.
pub(super) const LOST: i16 = errors::INVALID_PRODUCER_ID_MAPPING;

/// Transactional producers initialised since the server started, by
/// producer id. Bounded by the producer registry (one entry per producer id
/// a transactional id was registered with).
#[derive(Debug, Default)]
pub(crate) struct Coordinator {
    producers: Mutex<HashMap<u64, Arc<Mutex<TxnProducer>>>>,
}

impl Coordinator {
    fn map(&self) -> MutexGuard<'_, HashMap<u64, Arc<Mutex<TxnProducer>>>> {
        self.producers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The entry of `producer_id`, if initialised in this run.
    pub(super) fn get(&self, producer_id: u64) -> Option<Arc<Mutex<TxnProducer>>> {
        self.map().get(&producer_id).cloned()
    }

    /// `producer_id` starts `epoch` (InitProducerId, or an abort of a
    /// transaction this run never saw): any open transaction of an older
    /// epoch is dropped (aborted: nothing of it was written).
    pub(super) fn install(&self, producer_id: u64, transactional_id: &str, epoch: u16, timeout: Duration) {
        let entry = {
            let mut map = self.map();
            // A transactional id whose epochs ran out moved to a new producer
            // id: the old id's entry (and its open transaction) goes.
            map.retain(|id, entry| {
                *id == producer_id
                    || entry
                        .try_lock()
                        .map_or(true, |p| p.transactional_id != transactional_id)
            });
            map.entry(producer_id).or_default().clone()
        };
        let mut producer = lock(&entry);
        *producer = TxnProducer {
            transactional_id: transactional_id.to_string(),
            epoch,
            timeout,
            state: State::Ready,
            last_end: None,
        };
    }

    /// Drops the open transactions past their timeout (their memory; the
    /// producers find out on their next request).
    pub(super) fn expire(&self, now: Instant) {
        let entries: Vec<_> = self.map().values().cloned().collect();
        for entry in entries {
            if let Ok(mut producer) = entry.try_lock() {
                producer.expire(now);
            }
        }
    }
}

pub(super) fn lock(entry: &Mutex<TxnProducer>) -> MutexGuard<'_, TxnProducer> {
    entry.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One transactional producer as initialised in this server run.
#[derive(Debug, Default)]
pub(super) struct TxnProducer {
    pub transactional_id: String,
    pub epoch: u16,
    /// Its `transaction.timeout.ms`.
    pub timeout: Duration,
    pub state: State,
    /// How its last transaction ended (`Some(true)`: committed): a retried
    /// EndTxn of the same outcome is answered NONE again.
    pub last_end: Option<bool>,
}

impl TxnProducer {
    /// Past its deadline, an open transaction is aborted: only EndTxn(abort)
    /// ends it.
    pub fn expire(&mut self, now: Instant) {
        if let State::Open(open) = &self.state {
            if now >= open.deadline {
                self.state = State::AbortOnly { code: LOST };
            }
        }
    }
}

/// Where a producer's transaction is.
#[derive(Debug, Default)]
pub(super) enum State {
    /// None open: AddPartitionsToTxn or AddOffsetsToTxn begins one.
    #[default]
    Ready,
    /// Open: batches and offset commits are buffered in it.
    Open(Box<Open>),
    /// Dropped (an append failed with `code`, or it timed out): every
    /// request but EndTxn(abort) answers `code`.
    AbortOnly { code: i16 },
}

/// An open transaction.
#[derive(Debug)]
pub(super) struct Open {
    pub transaction: millrace::txn::Transaction,
    pub deadline: Instant,
    /// Added by AddPartitionsToTxn: a transactional batch must go to one.
    pub partitions: BTreeSet<(String, u32)>,
    /// Added by AddOffsetsToTxn: TxnOffsetCommit must name one.
    pub groups: BTreeSet<String>,
    /// New groups staged against the token's `groups_max`.
    pub staged_groups: BTreeSet<String>,
    /// Per partition, the batches appended (the engine does not track
    /// transactional batches' sequences).
    pub sequences: HashMap<(String, u32), Sequences>,
}

impl Open {
    pub fn new(transaction: millrace::txn::Transaction, timeout: Duration) -> Open {
        Open {
            transaction,
            deadline: Instant::now() + timeout,
            partitions: BTreeSet::new(),
            groups: BTreeSet::new(),
            staged_groups: BTreeSet::new(),
            sequences: HashMap::new(),
        }
    }
}

/// What a batch's sequence means for its partition in the transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Admission {
    /// Append it.
    Next,
    /// A retry of a batch already appended: answer success, append nothing.
    Duplicate,
    /// A gap or an older batch: OUT_OF_ORDER_SEQUENCE_NUMBER.
    OutOfOrder,
}

/// The last batches of one producer in one partition of the transaction.
#[derive(Debug, Default)]
pub(super) struct Sequences {
    /// (base sequence, record count), newest last.
    recent: VecDeque<(i32, i32)>,
}

impl Sequences {
    /// The first batch of a partition in a transaction may start anywhere
    /// (an aborted transaction's batches leave gaps the client does not
    /// replay); the next must continue it, modulo 2^31.
    pub fn admit(&self, base_sequence: i32, record_count: i32) -> Admission {
        if self.recent.contains(&(base_sequence, record_count)) {
            return Admission::Duplicate;
        }
        match self.recent.back() {
            None => Admission::Next,
            Some(&(base, count)) if next_sequence(base, count) == base_sequence => Admission::Next,
            Some(_) => Admission::OutOfOrder,
        }
    }

    pub fn record(&mut self, base_sequence: i32, record_count: i32) {
        if self.recent.len() == RECENT_BATCHES {
            self.recent.pop_front();
        }
        self.recent.push_back((base_sequence, record_count));
    }
}

/// The sequence after a batch of `count` records from `base`, wrapping from
/// `i32::MAX` to 0 as Kafka does.
fn next_sequence(base: i32, count: i32) -> i32 {
    let next = (i64::from(base) + i64::from(count)).rem_euclid(SEQUENCE_MODULUS);
    i32::try_from(next).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequences_continue_wrap_and_recognise_retries() {
        let mut sequences = Sequences::default();
        assert_eq!(
            sequences.admit(17, 3),
            Admission::Next,
            "the first batch starts anywhere"
        );
        sequences.record(17, 3);
        assert_eq!(sequences.admit(17, 3), Admission::Duplicate);
        assert_eq!(sequences.admit(21, 1), Admission::OutOfOrder, "a gap");
        assert_eq!(sequences.admit(19, 1), Admission::OutOfOrder, "inside the last batch");
        assert_eq!(sequences.admit(20, 2), Admission::Next);
        assert_eq!(next_sequence(i32::MAX - 1, 2), 0, "int32 wrap");
        assert_eq!(next_sequence(i32::MAX, 1), 0);
        let mut wrapping = Sequences::default();
        wrapping.record(i32::MAX - 1, 2);
        assert_eq!(wrapping.admit(0, 5), Admission::Next);
        for base in 0..RECENT_BATCHES {
            let base = i32::try_from(base).unwrap_or(0);
            sequences.record(20 + 2 * base, 2);
        }
        assert_eq!(sequences.admit(17, 3), Admission::OutOfOrder, "older than the window");
        assert_eq!(sequences.admit(20, 2), Admission::Duplicate);
    }
}
