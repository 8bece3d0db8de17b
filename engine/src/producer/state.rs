// Over 600 lines (942 before its unit tests): one state machine, kept whole and I/O-free so that loom checks it (tests/loom_producer.rs).
//! The idempotent-producer state machine (design/semantics.md, "Producer
//! state machine"), kept free of I/O so that loom can check it
//! (`tests/loom_producer.rs`):
//!
//! - [`ProducerEpochs`]: the store-wide registry of issued producer ids and
//!   their current epoch, behind one `crate::sync::Mutex`.
//! - [`ProducerTable`]: one partition's per-producer sequence state (the last
//!   N batches of every producer), owned by the partition's writer lock.
//! - [`admit`]: the decision for one append, run under the writer lock.
//!
//! Fencing argument: `init_producer` bumps the epoch in [`ProducerEpochs`]
//! *before* it takes any partition's writer lock to read the last sequence;
//! an append checks the epoch *under* that writer lock. So an append of the
//! old epoch either completes before the new instance reads the partition
//! (and the new instance sees its sequence) or is fenced.

use crate::codec::{Decoder, Encoder};
use crate::error::{Error, Result};
use crate::log::batch::ProducerStamp;
use crate::sync::Mutex;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Upper bound of the configurable de-duplication window, in batches.
pub const DEDUP_BATCHES_MAX: u32 = 1000;
/// Upper bound on registered producers (a registry larger than this is refused).
pub const PRODUCERS_MAX: usize = 100_000;
/// Upper bound on a producer name, in bytes.
pub const PRODUCER_NAME_BYTES_MAX: usize = 255;

/// Producer ids are drawn from `0..2^63` (they fit an `i64` wherever one
/// is printed or stored signed); design/format.md, "Producer registry".
pub const PRODUCER_ID_MASK: u64 = (1 << 63) - 1;
/// Draws before `init` gives up on finding an unused id: with 2^63 ids and
/// at most [`PRODUCERS_MAX`] in use, only a broken random source repeats
/// used ids this often.
const ID_DRAWS_MAX: usize = 64;

/// Name prefix of anonymous producers ([`ProducerEpochs::register_anonymous`]):
/// internal (`__`), so no client's `init_producer` can name one; the id
/// follows in 16 hex digits.
pub const ANONYMOUS_PREFIX: &str = "__anonymous.";

const SNAPSHOT_MAGIC: u32 = u32::from_le_bytes(*b"MRPS");
/// Version 1: each batch (base_sequence, record_count, base_offset). Version
/// 2 (written when a batch holds fewer records than it numbers: a split
/// batch, design/contracts.md "Idempotent batches") adds `appended` per batch.
const SNAPSHOT_VERSION: u16 = 1;
const SNAPSHOT_VERSION_SPLIT: u16 = 2;

/// A batch a producer wrote, remembered to answer retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CachedBatch {
    pub base_sequence: u32,
    /// Records the producer sent (the sequences the batch numbers).
    pub record_count: u32,
    pub base_offset: u64,
    /// Records of it in the log at `base_offset..`: `record_count`, or fewer
    /// for a batch whose other records the topic's contract sent to its DLQ.
    pub appended: u32,
}

impl CachedBatch {
    /// Sequence of the batch's last record (sequences wrap at 2^32).
    pub fn last_sequence(&self) -> u32 {
        self.base_sequence.wrapping_add(self.record_count.saturating_sub(1))
    }

    /// Offset just past its records in the log.
    pub fn next_offset(&self) -> u64 {
        self.base_offset.saturating_add(u64::from(self.appended))
    }
}

/// One producer's state in one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionProducer {
    /// Epoch of the last batch written.
    pub epoch: u16,
    /// Append time of the last batch written (ms since the Unix epoch).
    pub last_append_ms: i64,
    /// The last batches written, oldest first; never empty.
    pub batches: VecDeque<CachedBatch>,
}

impl PartitionProducer {
    pub fn last_sequence(&self) -> Option<u32> {
        self.batches.back().map(CachedBatch::last_sequence)
    }
}

/// What an append from a producer should do (defined by the log's seam).
pub use crate::log::dedup::Admission;

/// Per-partition producer state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerTable {
    entries: BTreeMap<u64, PartitionProducer>,
    window: usize,
}

impl ProducerTable {
    /// `window`: batches remembered per producer (1..=DEDUP_BATCHES_MAX).
    pub fn new(window: u32) -> Self {
        assert!(
            (1..=DEDUP_BATCHES_MAX).contains(&window),
            "dedup window {window} outside 1..={DEDUP_BATCHES_MAX}"
        );
        ProducerTable {
            entries: BTreeMap::new(),
            window: window as usize,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get(&self, producer_id: u64) -> Option<&PartitionProducer> {
        self.entries.get(&producer_id)
    }

    pub fn last_sequence(&self, producer_id: u64) -> Option<u32> {
        self.entries
            .get(&producer_id)
            .and_then(PartitionProducer::last_sequence)
    }

    /// The last sequence a batch of `epoch` continues from: as
    /// [`ProducerTable::last_sequence`], but `None` (start at 0) when the
    /// producer's sequences restart with each epoch (`restarts`: an
    /// anonymous producer, whose client bumps its own epoch, Kafka's
    /// KIP-360) and its state here is of an older epoch.
    pub fn last_sequence_at(&self, producer_id: u64, epoch: u16, restarts: bool) -> Option<u32> {
        let entry = self.entries.get(&producer_id)?;
        if restarts && epoch > entry.epoch {
            return None;
        }
        entry.last_sequence()
    }

    /// Sequence check only (the epoch was checked against the registry).
    /// Sequences continue across epochs (a named producer resumes where its
    /// previous instance stopped).
    pub fn check(&self, stamp: ProducerStamp, record_count: u32) -> Result<Admission> {
        self.check_with(stamp, record_count, false)
    }

    /// [`ProducerTable::check`]; with `restarts` (an anonymous producer) a
    /// batch of a newer epoch than this partition saw starts that epoch's
    /// sequences at 0, as Kafka's idempotent producers do after a bump:
    /// sequence 0 is appended, any other is out of order. A retry of the
    /// older epoch stays fenced.
    pub fn check_with(&self, stamp: ProducerStamp, record_count: u32, restarts: bool) -> Result<Admission> {
        let Some(entry) = self.entries.get(&stamp.producer_id) else {
            return if stamp.base_sequence == 0 {
                Ok(Admission::Append)
            } else {
                Err(Error::OutOfOrderSequence {
                    expected: 0,
                    got: stamp.base_sequence,
                })
            };
        };
        if stamp.epoch < entry.epoch {
            return Err(Error::Fenced {
                producer_id: stamp.producer_id,
                epoch: stamp.epoch,
                current_epoch: entry.epoch,
            });
        }
        if restarts && stamp.epoch > entry.epoch {
            return if stamp.base_sequence == 0 {
                Ok(Admission::Append)
            } else {
                Err(Error::OutOfOrderSequence {
                    expected: 0,
                    got: stamp.base_sequence,
                })
            };
        }
        let expected = entry.last_sequence().map_or(0, |s| s.wrapping_add(1));
        if stamp.base_sequence == expected {
            return Ok(Admission::Append);
        }
        // Newest first: after an epoch restart the window may still hold an
        // older epoch's batch with the same sequences; the retry is of the
        // newer one.
        let cached = entry
            .batches
            .iter()
            .rev()
            .find(|b| b.base_sequence == stamp.base_sequence && b.record_count == record_count);
        match cached {
            Some(b) => Ok(Admission::Duplicate {
                base_offset: b.base_offset,
                next_offset: b.next_offset(),
            }),
            None => Err(Error::OutOfOrderSequence {
                expected,
                got: stamp.base_sequence,
            }),
        }
    }

    /// The offsets of the batch `stamp` retries, if this partition remembers
    /// it at the same epoch (a duplicate); no decision on anything else.
    pub fn remembered(&self, stamp: ProducerStamp, record_count: u32) -> Option<(u64, u64)> {
        if self.entries.get(&stamp.producer_id)?.epoch != stamp.epoch {
            return None;
        }
        match self.check_with(stamp, record_count, false) {
            Ok(Admission::Duplicate {
                base_offset,
                next_offset,
            }) => Some((base_offset, next_offset)),
            _ => None,
        }
    }

    /// Remember a batch that was written (at append, or replayed at open).
    pub fn record(&mut self, stamp: ProducerStamp, base_offset: u64, record_count: u32, append_ms: i64) {
        self.push(stamp, base_offset, record_count, record_count, append_ms);
    }

    /// Remember a batch of `record_count` sequences of which `appended`
    /// records are in the log at `base_offset..` (the others went to the
    /// topic's DLQ). Already remembered (the same epoch, first sequence and
    /// count): nothing changes (recovery registers the last commit's claims
    /// again).
    pub fn record_split(
        &mut self,
        stamp: ProducerStamp,
        base_offset: u64,
        record_count: u32,
        appended: u32,
        append_ms: i64,
    ) {
        let known = self.entries.get(&stamp.producer_id).is_some_and(|e| {
            e.epoch == stamp.epoch
                && e.batches
                    .iter()
                    .any(|b| b.base_sequence == stamp.base_sequence && b.record_count == record_count)
        });
        if !known {
            self.push(stamp, base_offset, record_count, appended, append_ms);
        }
    }

    fn push(&mut self, stamp: ProducerStamp, base_offset: u64, record_count: u32, appended: u32, append_ms: i64) {
        let entry = self
            .entries
            .entry(stamp.producer_id)
            .or_insert_with(|| PartitionProducer {
                epoch: stamp.epoch,
                last_append_ms: append_ms,
                batches: VecDeque::new(),
            });
        entry.epoch = entry.epoch.max(stamp.epoch);
        entry.last_append_ms = entry.last_append_ms.max(append_ms);
        entry.batches.push_back(CachedBatch {
            base_sequence: stamp.base_sequence,
            record_count,
            base_offset,
            appended,
        });
        while entry.batches.len() > self.window {
            entry.batches.pop_front();
        }
    }

    /// Keep only the producers `keep` accepts (expired ones are dropped).
    pub fn retain(&mut self, mut keep: impl FnMut(u64) -> bool) {
        self.entries.retain(|id, _| keep(*id));
    }

    pub fn iter(&self) -> impl Iterator<Item = (u64, &PartitionProducer)> {
        self.entries.iter().map(|(id, e)| (*id, e))
    }

    /// Snapshot file contents for the state as of `offset` (the log end).
    pub fn encode_snapshot(&self, offset: u64) -> Vec<u8> {
        let split = self
            .entries
            .values()
            .any(|entry| entry.batches.iter().any(|b| b.appended != b.record_count));
        let version = if split {
            SNAPSHOT_VERSION_SPLIT
        } else {
            SNAPSHOT_VERSION
        };
        let mut e = Encoder::new();
        e.u32(SNAPSHOT_MAGIC).u16(version).u64(offset);
        e.u32(self.entries.len() as u32);
        for (id, entry) in &self.entries {
            e.u64(*id).u16(entry.epoch).i64(entry.last_append_ms);
            e.u16(entry.batches.len() as u16);
            for b in &entry.batches {
                e.u32(b.base_sequence).u32(b.record_count).u64(b.base_offset);
                if split {
                    e.u32(b.appended);
                }
            }
        }
        e.seal_with_crc()
    }

    /// Does every remembered batch end at or before `offset` (the log end
    /// a snapshot is valid at), after the one before it? A snapshot that
    /// passes its CRC but remembers batches at or past its own offset
    /// disagrees with the log it describes.
    pub fn batches_end_by(&self, offset: u64) -> bool {
        self.entries.values().all(|producer| {
            let mut previous_end = 0u64;
            producer.batches.iter().all(|b| {
                let end = b.base_offset.checked_add(u64::from(b.appended));
                let ok = b.record_count > 0
                    && b.appended <= b.record_count
                    && b.base_offset >= previous_end
                    && end.is_some_and(|e| e <= offset);
                previous_end = end.unwrap_or(u64::MAX);
                ok
            })
        })
    }

    /// Parse a snapshot; `None` if it is not a valid snapshot.
    pub fn decode_snapshot(bytes: &[u8], window: u32) -> Option<(u64, ProducerTable)> {
        let mut d = Decoder::with_crc(bytes)?;
        if d.u32()? != SNAPSHOT_MAGIC {
            return None;
        }
        let split = match d.u16()? {
            SNAPSHOT_VERSION => false,
            SNAPSHOT_VERSION_SPLIT => true,
            _ => return None,
        };
        let batch_bytes = if split { 20 } else { 16 };
        let offset = d.u64()?;
        let count = d.u32()?;
        let mut table = ProducerTable::new(window);
        for _ in 0..count {
            let id = d.u64()?;
            let epoch = d.u16()?;
            let last_append_ms = d.i64()?;
            let batch_count = d.u16()?;
            if usize::from(batch_count) > d.remaining() / batch_bytes || batch_count == 0 {
                return None;
            }
            let mut batches = VecDeque::with_capacity(usize::from(batch_count));
            for _ in 0..batch_count {
                let (base_sequence, record_count, base_offset) = (d.u32()?, d.u32()?, d.u64()?);
                let appended = if split { d.u32()? } else { record_count };
                // A batch never appended more records than it numbered.
                if appended > record_count {
                    return None;
                }
                batches.push_back(CachedBatch {
                    base_sequence,
                    record_count,
                    base_offset,
                    appended,
                });
            }
            while batches.len() > table.window {
                batches.pop_front();
            }
            table.entries.insert(
                id,
                PartitionProducer {
                    epoch,
                    last_append_ms,
                    batches,
                },
            );
        }
        d.is_empty().then_some((offset, table))
    }
}

/// What [`ProducerEpochs::readmit_anonymous`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readmission {
    /// The id is registered again, anonymous, at the epoch asked for.
    Readmitted,
    /// Not an expired anonymous id that may come back at that epoch.
    Refused,
    /// The owner holds its most live anonymous producers (or the registry
    /// is full).
    Full,
}

/// A registered producer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryEntry {
    pub name: String,
    pub epoch: u16,
    /// Last init or append seen (ms since the Unix epoch).
    pub last_active_ms: i64,
    /// The principal that registered (or first used) it; empty = unknown (a
    /// producer registered without an owner, or by a version-1 registry).
    pub owner: String,
}

impl RegistryEntry {
    /// Registered without a name ([`ProducerEpochs::register_anonymous`]).
    pub fn is_anonymous(&self) -> bool {
        self.name.starts_with(ANONYMOUS_PREFIX)
    }
}

/// The registry's contents: what the registry file holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryState {
    /// Registry versions 1 and 2 issued ids in sequence: every id below this
    /// may have been issued (and may still be in the log, or in the hands of
    /// a client that will retry), so a drawn id is never below it. 0 for a
    /// store that never had a version-1 or -2 registry.
    pub sequential_ids_end: u64,
    pub entries: BTreeMap<u64, RegistryEntry>,
}

impl RegistryState {
    fn id_of(&self, name: &str) -> Option<u64> {
        self.entries.iter().find(|(_, e)| e.name == name).map(|(id, _)| *id)
    }
}

/// The store-wide registry of producer ids and epochs (in memory; the caller
/// supplies persistence to [`ProducerEpochs::init`]).
///
/// Invariant: an id is never reused for a different producer while anything
/// refers to it. A new id is drawn at random (from the caller's source: the
/// operating system's CSPRNG, or the simulation's seed) until it is outside
/// every registered id, every id the log holds (partitions' producer state and
/// the transaction log, noted at open by [`ProducerEpochs::note_id_in_log`],
/// whatever the registry file says) and the ids issued in sequence by older
/// registries (`RegistryState::sequential_ids_end`).
#[derive(Debug)]
pub struct ProducerEpochs {
    state: Mutex<RegistryState>,
    /// Ids found in the log at open; lock order: `state`, then this.
    ids_in_log: Mutex<BTreeSet<u64>>,
    /// Anonymous ids this process forgot (expired), taken back by
    /// [`ProducerEpochs::readmit_anonymous`] whatever else is known of them.
    /// Lock order: `state`, then this.
    forgotten_anonymous: Mutex<BTreeSet<u64>>,
    /// Ids known to be named producers' although no longer registered: the
    /// transaction log's (noted at open) and the ids named producers moved
    /// away from (retired). [`ProducerEpochs::readmit_anonymous`] never
    /// takes them back. Lock order: `state`, then this.
    named_ids: Mutex<BTreeSet<u64>>,
    expiry_ms: i64,
    /// The idle expiry of anonymous producers ([`ANONYMOUS_PREFIX`]).
    anonymous_expiry_ms: i64,
}

impl ProducerEpochs {
    pub fn new(state: RegistryState, expiry_ms: i64) -> Self {
        ProducerEpochs {
            state: Mutex::new(state),
            ids_in_log: Mutex::new(BTreeSet::new()),
            forgotten_anonymous: Mutex::new(BTreeSet::new()),
            named_ids: Mutex::new(BTreeSet::new()),
            expiry_ms,
            anonymous_expiry_ms: expiry_ms,
        }
    }

    /// The same registry with anonymous producers expiring after
    /// `anonymous_expiry_ms` of idleness (Kafka's
    /// `producer.id.expiration.ms`) instead of the named ones' expiry.
    #[must_use]
    pub fn with_anonymous_expiry(mut self, anonymous_expiry_ms: i64) -> Self {
        self.anonymous_expiry_ms = anonymous_expiry_ms;
        self
    }

    /// The idle expiry of `entry`: anonymous producers have their own.
    fn expiry_of(&self, entry: &RegistryEntry) -> i64 {
        if entry.is_anonymous() {
            self.anonymous_expiry_ms
        } else {
            self.expiry_ms
        }
    }

    /// A new id for a producer (see the invariant on [`ProducerEpochs`]):
    /// the first draw in `0..2^63` that nothing uses.
    /// `retiring`: an id just taken out of `state` that must not come back.
    fn unused_id(
        &self,
        state: &RegistryState,
        mut draw_id: impl FnMut() -> Result<u64>,
        retiring: Option<u64>,
    ) -> Result<u64> {
        let in_log = self.ids_in_log.lock();
        for _ in 0..ID_DRAWS_MAX {
            let id = draw_id()? & PRODUCER_ID_MASK;
            if id >= state.sequential_ids_end
                && !state.entries.contains_key(&id)
                && !in_log.contains(&id)
                && retiring != Some(id)
            {
                return Ok(id);
            }
        }
        Err(Error::invalid(
            "producer id",
            format!("{ID_DRAWS_MAX} random draws were all ids in use: the random source repeats itself"),
        ))
    }

    /// Register `name` or bump its epoch. `persist` must make the new state
    /// durable; it runs under the registry lock, before the epoch is
    /// published, so no append can use an epoch that a crash would forget.
    /// An expired name that is still registered (see
    /// [`ProducerEpochs::forget_expired`]) keeps its id: its next epoch
    /// resumes its sequences. A new name gets an unused id from `draw_id`
    /// (random `u64`s; see the invariant on [`ProducerEpochs`]).
    pub fn init(
        &self,
        name: &str,
        now_ms: i64,
        draw_id: impl FnMut() -> Result<u64>,
        persist: impl FnOnce(&RegistryState) -> Result<()>,
    ) -> Result<(u64, u16)> {
        self.init_as(name, None, now_ms, draw_id, persist)?
            .ok_or_else(|| Error::invalid("producer registry", "an ownerless init was refused"))
    }

    /// As [`ProducerEpochs::init`], on behalf of `owner`: a producer owned by
    /// another principal is left alone (`None`); one without an owner is
    /// claimed by `owner`; a new one is registered as `owner`'s. `owner`
    /// `None` (the embedding application, a server without authentication)
    /// may init any producer and leaves its owner as it was.
    pub fn init_as(
        &self,
        name: &str,
        owner: Option<&str>,
        now_ms: i64,
        draw_id: impl FnMut() -> Result<u64>,
        persist: impl FnOnce(&RegistryState) -> Result<()>,
    ) -> Result<Option<(u64, u16)>> {
        self.init_capped(name, owner, u16::MAX, now_ms, draw_id, persist)
    }

    /// As [`ProducerEpochs::init_as`], with epochs at most `epoch_max`
    /// (Kafka's are `int16`: 32767): a producer at `epoch_max` moves to a
    /// new unused id at epoch 0 (its sequences start again at 0) instead
    /// of a higher epoch, and its old id is forgotten: the previous
    /// instance's appends and transactions fail with `UnknownProducer`
    /// (fenced as surely as by an epoch), and the old id is never handed
    /// out again while the log holds it. With `u16::MAX` the last epoch is
    /// an error instead (the native producers' rule).
    pub fn init_capped(
        &self,
        name: &str,
        owner: Option<&str>,
        epoch_max: u16,
        now_ms: i64,
        draw_id: impl FnMut() -> Result<u64>,
        persist: impl FnOnce(&RegistryState) -> Result<()>,
    ) -> Result<Option<(u64, u16)>> {
        let mut state = self.state.lock();
        let mut next = state.clone();
        let mut retired = None;
        let (id, epoch) = match next.id_of(name) {
            Some(id) => {
                let entry = next
                    .entries
                    .get_mut(&id)
                    .ok_or_else(|| Error::invalid("producer registry", "entry vanished"))?;
                if let Some(owner) = owner {
                    if entry.owner.is_empty() {
                        entry.owner = owner.to_string();
                    } else if entry.owner != owner {
                        return Ok(None);
                    }
                }
                entry.last_active_ms = now_ms;
                match entry.epoch.checked_add(1).filter(|e| *e <= epoch_max) {
                    Some(epoch) => {
                        entry.epoch = epoch;
                        (id, epoch)
                    }
                    None if epoch_max < u16::MAX => {
                        // Out of epochs: the name moves to a new id.
                        let mut moved = next
                            .entries
                            .remove(&id)
                            .ok_or_else(|| Error::invalid("producer registry", "entry vanished"))?;
                        moved.epoch = 0;
                        let new_id = self.unused_id(&next, draw_id, Some(id))?;
                        next.entries.insert(new_id, moved);
                        retired = Some(id);
                        (new_id, 0)
                    }
                    None => {
                        return Err(Error::invalid(
                            "producer epoch",
                            format!("producer {name:?} has used all {} epochs", u16::MAX),
                        ))
                    }
                }
            }
            None => {
                let id = self.insert_new(&mut next, name.to_string(), owner, now_ms, draw_id)?;
                (id, 0)
            }
        };
        persist(&next)?;
        *state = next;
        if let Some(old) = retired {
            self.note_id_in_log(old);
            self.note_named_id(old);
        }
        Ok(Some((id, epoch)))
    }

    /// Register a producer without a name (Kafka's `InitProducerId` without
    /// a transactional id hands out a new producer per session): a new
    /// unused id at epoch 0, registered as `ANONYMOUS_PREFIX` and the id in
    /// hex, owned by `owner`. Durable (`persist`) before it is returned, like
    /// [`ProducerEpochs::init`]; forgotten by the anonymous idle expiry.
    /// `Ok(None)`: `owner` (`None`: the producers without an owner) already
    /// has `live_max` anonymous producers active within that expiry; nothing
    /// is registered.
    pub fn register_anonymous(
        &self,
        owner: Option<&str>,
        live_max: usize,
        now_ms: i64,
        draw_id: impl FnMut() -> Result<u64>,
        persist: impl FnOnce(&RegistryState) -> Result<()>,
    ) -> Result<Option<u64>> {
        let mut state = self.state.lock();
        let owner_name = owner.unwrap_or_default();
        let live = self.live_anonymous_of(&state, owner_name, now_ms);
        if live >= live_max {
            return Ok(None);
        }
        let mut next = state.clone();
        // Anonymous ids past their expiry leave the file with this write, not
        // only at the next maintenance round: the file holds the live ids and
        // the new one, whatever the round's timing. Their batches may still
        // be in a partition's state, so the ids stay barred from reuse.
        let expired: Vec<u64> = next
            .entries
            .iter()
            .filter(|(_, e)| e.is_anonymous() && now_ms.saturating_sub(e.last_active_ms) > self.expiry_of(e))
            .map(|(id, _)| *id)
            .collect();
        if !expired.is_empty() {
            next.entries.retain(|id, _| !expired.contains(id));
            self.forgotten_anonymous.lock().extend(expired.iter().copied());
            self.ids_in_log.lock().extend(expired);
        }
        let id = self.insert_new(&mut next, String::new(), owner, now_ms, draw_id)?;
        if let Some(entry) = next.entries.get_mut(&id) {
            entry.name = format!("{ANONYMOUS_PREFIX}{id:016x}");
        }
        persist(&next)?;
        *state = next;
        Ok(Some(id))
    }

    /// Anonymous producers of `owner` (`None`: without an owner) active
    /// within their expiry at `now_ms`, and of every owner.
    pub fn anonymous_live(&self, owner: Option<&str>, now_ms: i64) -> (usize, usize) {
        let state = self.state.lock();
        let owner_name = owner.unwrap_or_default();
        let mut counts = (0, 0);
        for e in state.entries.values() {
            if e.is_anonymous() && now_ms.saturating_sub(e.last_active_ms) <= self.expiry_of(e) {
                counts.1 += 1;
                if e.owner == owner_name {
                    counts.0 += 1;
                }
            }
        }
        counts
    }

    /// Anonymous producers of `owner_name` in `state` active within their
    /// expiry at `now_ms` (what the per-owner cap counts).
    fn live_anonymous_of(&self, state: &RegistryState, owner_name: &str, now_ms: i64) -> usize {
        state
            .entries
            .values()
            .filter(|e| {
                e.is_anonymous()
                    && e.owner == owner_name
                    && now_ms.saturating_sub(e.last_active_ms) <= self.expiry_of(e)
            })
            .count()
    }

    /// Add a new producer at epoch 0 under an unused id (named `name`).
    fn insert_new(
        &self,
        next: &mut RegistryState,
        name: String,
        owner: Option<&str>,
        now_ms: i64,
        draw_id: impl FnMut() -> Result<u64>,
    ) -> Result<u64> {
        if next.entries.len() >= PRODUCERS_MAX {
            return Err(Error::invalid(
                "producers",
                format!("{PRODUCERS_MAX} producers are registered; no room for another"),
            ));
        }
        let id = self.unused_id(next, draw_id, None)?;
        next.entries.insert(
            id,
            RegistryEntry {
                name,
                epoch: 0,
                last_active_ms: now_ms,
                owner: owner.unwrap_or_default().to_string(),
            },
        );
        Ok(id)
    }

    /// May `owner` use `producer_id`? Yes when it owns it, when the id is not
    /// registered (the append then fails with `UnknownProducer` as usual), and
    /// when it has no owner: then `owner` claims it (made durable by
    /// `persist`, under the registry lock, before this returns).
    pub fn usable_by(
        &self,
        producer_id: u64,
        owner: &str,
        persist: impl FnOnce(&RegistryState) -> Result<()>,
    ) -> Result<bool> {
        let mut state = self.state.lock();
        let Some(entry) = state.entries.get(&producer_id) else {
            return Ok(true);
        };
        if entry.owner == owner {
            return Ok(true);
        }
        if !entry.owner.is_empty() {
            return Ok(false);
        }
        let mut next = state.clone();
        if let Some(entry) = next.entries.get_mut(&producer_id) {
            entry.owner = owner.to_string();
        }
        persist(&next)?;
        *state = next;
        Ok(true)
    }

    /// Check an append's epoch against the registry and note the activity.
    /// `partition_last_ms`: the producer's last append to this partition, so
    /// activity survives a reopen even if the registry file is older.
    /// Returns whether the producer is anonymous (its sequences restart
    /// with each epoch: [`ProducerTable::check_with`]).
    pub fn admit_epoch(&self, stamp: ProducerStamp, now_ms: i64, partition_last_ms: Option<i64>) -> Result<bool> {
        let mut state = self.state.lock();
        let unknown = Error::UnknownProducer {
            producer_id: stamp.producer_id,
        };
        let Some(entry) = state.entries.get_mut(&stamp.producer_id) else {
            return Err(unknown);
        };
        let last = entry.last_active_ms.max(partition_last_ms.unwrap_or(i64::MIN));
        if now_ms.saturating_sub(last) > self.expiry_of(entry) {
            // Expired: this id appends no more, but the name keeps it (and
            // its sequences) for its next `init` (`forget_expired`).
            return Err(unknown);
        }
        if stamp.epoch < entry.epoch {
            return Err(Error::Fenced {
                producer_id: stamp.producer_id,
                epoch: stamp.epoch,
                current_epoch: entry.epoch,
            });
        }
        if stamp.epoch > entry.epoch {
            return Err(Error::invalid(
                "producer epoch",
                format!(
                    "epoch {} of producer {} was never issued (current {})",
                    stamp.epoch, stamp.producer_id, entry.epoch
                ),
            ));
        }
        entry.last_active_ms = last.max(now_ms);
        Ok(entry.is_anonymous())
    }

    /// Take back an anonymous producer id that expired (forgotten, or still
    /// registered but idle past its expiry) at `epoch`: what Kafka does for
    /// an idempotent producer that, told UNKNOWN_PRODUCER_ID, bumps its own
    /// epoch and starts again at sequence 0 (librdkafka; KIP-360). The id
    /// comes back anonymous, owned by `owner`, active now, durable
    /// (`persist`) before this returns; in each partition its sequences at
    /// the new epoch start at 0 ([`ProducerTable::check_with`]), and a
    /// batch of an epoch a partition saw after it is fenced there.
    ///
    /// An unregistered id comes back too, as Kafka keeps no state for an
    /// expired producer id either: one this process forgot, and one it
    /// never knew (forgotten before a restart: the registry file drops
    /// expired anonymous ids at the next registration, and the set of
    /// forgotten ids is in memory only), unless it is known to be a named
    /// producer's (the transaction log's, a retired one:
    /// [`ProducerEpochs::note_named_id`]) or is below `sequential_ids_end`
    /// (an older store's ids, issued to named producers too).
    ///
    /// Refused (nothing changes): epoch 0 (a client that bumped is at 1 or
    /// more: a late retry of the first epoch is not taken for a new
    /// producer), an id that is live, named, of another owner or at an
    /// epoch at or past `epoch`, an id outside `0..2^63`; `Full` when
    /// `owner` has `live_max` live anonymous producers. A live id's own
    /// bump is [`ProducerEpochs::bump_anonymous`].
    pub fn readmit_anonymous(
        &self,
        producer_id: u64,
        epoch: u16,
        owner: Option<&str>,
        live_max: usize,
        now_ms: i64,
        persist: impl FnOnce(&RegistryState) -> Result<()>,
    ) -> Result<Readmission> {
        if epoch == 0 || producer_id > PRODUCER_ID_MASK {
            return Ok(Readmission::Refused);
        }
        let mut state = self.state.lock();
        let owner_name = owner.unwrap_or_default();
        if let Some(entry) = state.entries.get(&producer_id) {
            let live = now_ms.saturating_sub(entry.last_active_ms) <= self.expiry_of(entry);
            let other_owner = owner.is_some() && !entry.owner.is_empty() && entry.owner != owner_name;
            if live || !entry.is_anonymous() || other_owner || entry.epoch >= epoch {
                return Ok(Readmission::Refused);
            }
        } else if !self.forgotten_anonymous.lock().contains(&producer_id)
            && (producer_id < state.sequential_ids_end || self.named_ids.lock().contains(&producer_id))
        {
            // A named producer's id (a retired one is fenced by moving).
            return Ok(Readmission::Refused);
        }
        let live = self.live_anonymous_of(&state, owner_name, now_ms);
        if live >= live_max {
            return Ok(Readmission::Full);
        }
        if !state.entries.contains_key(&producer_id) && state.entries.len() >= PRODUCERS_MAX {
            return Ok(Readmission::Full);
        }
        let mut next = state.clone();
        next.entries.insert(
            producer_id,
            RegistryEntry {
                name: format!("{ANONYMOUS_PREFIX}{producer_id:016x}"),
                epoch,
                last_active_ms: now_ms,
                owner: owner_name.to_string(),
            },
        );
        persist(&next)?;
        *state = next;
        self.forgotten_anonymous.lock().remove(&producer_id);
        Ok(Readmission::Readmitted)
    }

    /// A live anonymous producer's client bumped its own epoch and starts
    /// again at sequence 0: librdkafka's idempotent producer does so after
    /// requests in flight timed out (KIP-360 on the client side, no
    /// InitProducerId), and Kafka accepts a newer epoch of a
    /// non-transactional producer id from sequence 0. The id moves to
    /// `epoch`, active now, durable (`persist`) before this returns; in each
    /// partition its batches at `epoch` start at sequence 0
    /// ([`ProducerTable::check_with`]) and the older epochs are fenced from
    /// then on. False (nothing changes) unless the id is registered,
    /// anonymous, live, not another owner's and at an epoch below `epoch`
    /// (an expired id: [`ProducerEpochs::readmit_anonymous`]; a named
    /// producer's epoch moves through `init` only).
    pub fn bump_anonymous(
        &self,
        producer_id: u64,
        epoch: u16,
        owner: Option<&str>,
        now_ms: i64,
        persist: impl FnOnce(&RegistryState) -> Result<()>,
    ) -> Result<bool> {
        let mut state = self.state.lock();
        let Some(entry) = state.entries.get(&producer_id) else {
            return Ok(false);
        };
        let live = now_ms.saturating_sub(entry.last_active_ms) <= self.expiry_of(entry);
        let other_owner = owner.is_some_and(|owner| !entry.owner.is_empty() && entry.owner != owner);
        if !live || !entry.is_anonymous() || other_owner || entry.epoch >= epoch {
            return Ok(false);
        }
        let mut next = state.clone();
        if let Some(entry) = next.entries.get_mut(&producer_id) {
            entry.epoch = epoch;
            entry.last_active_ms = now_ms;
        }
        persist(&next)?;
        *state = next;
        Ok(true)
    }

    /// Is `producer_id` registered as an anonymous producer?
    pub fn is_anonymous(&self, producer_id: u64) -> bool {
        self.state
            .lock()
            .entries
            .get(&producer_id)
            .is_some_and(RegistryEntry::is_anonymous)
    }

    /// Forget every producer idle longer than the expiry whose id no
    /// partition holds state for (`has_state`): its batches are gone from
    /// the log, so nothing of its position can be lost. A name whose batches
    /// are still there stays registered, expired (its appends answer
    /// `UnknownProducer`), until its next `init` resumes it with its id and
    /// sequences. Maintenance thread; the registry file keeps forgotten
    /// entries until the next `init`, and on reopen they are found idle
    /// again. An anonymous producer has no name to resume: it is forgotten
    /// once idle past its expiry whatever the partitions hold (their state
    /// of it goes with it, and its id stays out of reach of new producers).
    /// Returns how many were forgotten.
    pub fn forget_expired(&self, now_ms: i64, has_state: impl Fn(u64) -> bool) -> usize {
        let mut state = self.state.lock();
        let before = state.entries.len();
        let mut still_in_log = Vec::new();
        let mut anonymous = Vec::new();
        state.entries.retain(|id, e| {
            if now_ms.saturating_sub(e.last_active_ms) <= self.expiry_of(e) {
                return true;
            }
            let held = has_state(*id);
            if e.is_anonymous() {
                anonymous.push(*id);
            }
            if held && e.is_anonymous() {
                still_in_log.push(*id);
                return false;
            }
            held
        });
        if !anonymous.is_empty() {
            self.forgotten_anonymous.lock().extend(anonymous);
        }
        if !still_in_log.is_empty() {
            self.ids_in_log.lock().extend(still_in_log);
        }
        before - state.entries.len()
    }

    /// Is `producer_id` registered and active within the expiry at `now_ms`?
    pub fn is_live(&self, producer_id: u64, now_ms: i64) -> bool {
        self.state
            .lock()
            .entries
            .get(&producer_id)
            .is_some_and(|e| now_ms.saturating_sub(e.last_active_ms) <= self.expiry_of(e))
    }

    /// Is `producer_id` registered (not expired or never issued)?
    pub fn knows(&self, producer_id: u64) -> bool {
        self.state.lock().entries.contains_key(&producer_id)
    }

    /// Fold activity found in a partition's state into the registry (at open).
    pub fn note_activity(&self, producer_id: u64, at_ms: i64) {
        if let Some(entry) = self.state.lock().entries.get_mut(&producer_id) {
            entry.last_active_ms = entry.last_active_ms.max(at_ms);
        }
    }

    /// Never hand out `producer_id` to a new producer: the log holds it (at
    /// open: every id a partition or the transaction log remembers, whatever
    /// the registry file said).
    pub fn note_id_in_log(&self, producer_id: u64) {
        self.ids_in_log.lock().insert(producer_id);
    }

    /// `producer_id` is a named producer's (the transaction log holds it, at
    /// open; or a named producer moved away from it): never taken back as
    /// an anonymous one ([`ProducerEpochs::readmit_anonymous`]).
    pub fn note_named_id(&self, producer_id: u64) {
        self.named_ids.lock().insert(producer_id);
    }

    /// The owner of `producer_id` (empty: none); `None` if it is not registered.
    pub fn owner(&self, producer_id: u64) -> Option<String> {
        self.state.lock().entries.get(&producer_id).map(|e| e.owner.clone())
    }

    pub fn current_epoch(&self, producer_id: u64) -> Option<u16> {
        self.state.lock().entries.get(&producer_id).map(|e| e.epoch)
    }

    /// The name a producer id is registered under.
    pub fn name_of(&self, producer_id: u64) -> Option<String> {
        self.state.lock().entries.get(&producer_id).map(|e| e.name.clone())
    }

    pub fn snapshot(&self) -> RegistryState {
        self.state.lock().clone()
    }
}

/// Decide an append from a producer: the registry's epoch, then the
/// partition's sequences. Run with the partition's writer lock held (it
/// guards `table`); on `Append`, write the batch and then [`ProducerTable::record`] it.
pub fn admit(
    table: &ProducerTable,
    epochs: &ProducerEpochs,
    stamp: ProducerStamp,
    record_count: u32,
    now_ms: i64,
) -> Result<Admission> {
    let partition_last = table.get(stamp.producer_id).map(|e| e.last_append_ms);
    let restarts = epochs.admit_epoch(stamp, now_ms, partition_last)?;
    table.check_with(stamp, record_count, restarts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(epoch: u16, base_sequence: u32) -> ProducerStamp {
        ProducerStamp {
            producer_id: 0,
            epoch,
            base_sequence,
        }
    }

    #[test]
    fn sequence_decisions() {
        let epochs = ProducerEpochs::new(RegistryState::default(), 1_000);
        let (id, epoch) = epochs.init("p", 0, || Ok(0), |_| Ok(())).unwrap();
        assert_eq!((id, epoch), (0, 0));
        let mut table = ProducerTable::new(2);
        assert!(matches!(
            admit(&table, &epochs, stamp(0, 1), 1, 1),
            Err(Error::OutOfOrderSequence { expected: 0, got: 1 })
        ));
        assert_eq!(admit(&table, &epochs, stamp(0, 0), 3, 1).unwrap(), Admission::Append);
        table.record(stamp(0, 0), 10, 3, 1);
        assert_eq!(
            admit(&table, &epochs, stamp(0, 0), 3, 2).unwrap(),
            Admission::Duplicate {
                base_offset: 10,
                next_offset: 13
            }
        );
        assert!(matches!(
            admit(&table, &epochs, stamp(0, 4), 1, 2),
            Err(Error::OutOfOrderSequence { expected: 3, got: 4 })
        ));
        table.record(stamp(0, 3), 20, 1, 2);
        table.record(stamp(0, 4), 21, 1, 2);
        // Window of 2: the first batch is forgotten and its retry is a gap.
        assert!(matches!(
            admit(&table, &epochs, stamp(0, 0), 3, 2),
            Err(Error::OutOfOrderSequence { expected: 5, got: 0 })
        ));
        let (_, epoch) = epochs.init("p", 3, || Ok(0), |_| Ok(())).unwrap();
        assert_eq!(epoch, 1);
        assert!(matches!(
            admit(&table, &epochs, stamp(0, 5), 1, 3),
            Err(Error::Fenced { current_epoch: 1, .. })
        ));
        assert_eq!(admit(&table, &epochs, stamp(1, 5), 1, 3).unwrap(), Admission::Append);
        // Idle past expiry: unknown, but the name keeps its id: a new init
        // resumes it with the next epoch.
        assert!(matches!(
            admit(&table, &epochs, stamp(1, 5), 1, 5_000),
            Err(Error::UnknownProducer { producer_id: 0 })
        ));
        assert!(!epochs.is_live(0, 5_000));
        assert_eq!(epochs.init("p", 5_000, || Ok(0), |_| Ok(())).unwrap(), (0, 2));
        assert!(epochs.is_live(0, 5_000));
        // Forgotten only once expired and without state in any partition.
        assert_eq!(epochs.forget_expired(5_500, |_| false), 0);
        assert_eq!(epochs.forget_expired(6_001, |_| true), 0);
        assert!(epochs.knows(0));
        assert_eq!(epochs.forget_expired(6_001, |_| false), 1);
        assert!(!epochs.knows(0));
        assert_eq!(epochs.init("p", 6_002, || Ok(1), |_| Ok(())).unwrap(), (1, 0));
    }

    /// A new id is a draw that no registered producer, no id in the log and
    /// no sequentially issued id (below `sequential_ids_end`) uses; the top
    /// bit of a draw is dropped.
    #[test]
    fn drawn_ids_avoid_every_id_in_use() {
        let state = RegistryState {
            sequential_ids_end: 4,
            ..RegistryState::default()
        };
        let epochs = ProducerEpochs::new(state, 1_000);
        epochs.init("a", 0, || Ok(10), |_| Ok(())).unwrap();
        epochs.note_id_in_log(11);
        let mut draws = [3, 10, 11, (1 << 63) | 10, (1 << 63) | 12].into_iter();
        let (id, _) = epochs.init("b", 0, || Ok(draws.next().unwrap()), |_| Ok(())).unwrap();
        assert_eq!((id, draws.next()), (12, None));
        // A source that only repeats used ids is an error, not a loop.
        let err = epochs.init("c", 0, || Ok(10), |_| Ok(())).unwrap_err();
        assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
    }

    #[test]
    fn sequences_wrap() {
        let mut table = ProducerTable::new(5);
        table.record(stamp(0, u32::MAX - 1), 0, 2, 0);
        assert_eq!(table.last_sequence(0), Some(u32::MAX));
        assert_eq!(table.check(stamp(0, 0), 1).unwrap(), Admission::Append);
    }

    #[test]
    fn snapshot_roundtrip_and_rejects_damage() {
        let mut table = ProducerTable::new(3);
        for i in 0..5u32 {
            table.record(stamp(2, i * 2), u64::from(i) * 2, 2, 7);
        }
        table.record(
            ProducerStamp {
                producer_id: 9,
                epoch: 0,
                base_sequence: 0,
            },
            100,
            1,
            8,
        );
        let bytes = table.encode_snapshot(101);
        let (offset, back) = ProducerTable::decode_snapshot(&bytes, 3).unwrap();
        assert_eq!((offset, &back), (101, &table));
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x40;
            assert!(ProducerTable::decode_snapshot(&bad, 3).is_none(), "flip at {i}");
        }
    }

    #[test]
    fn a_split_batch_is_remembered_with_its_appended_records_and_snapshotted() {
        let mut table = ProducerTable::new(3);
        table.record(stamp(2, 0), 0, 2, 7);
        // Five sequences, three records in the log at 2..5.
        table.record_split(stamp(2, 2), 2, 5, 3, 8);
        table.record_split(stamp(2, 2), 2, 5, 3, 8);
        assert_eq!(table.get(0).map(|p| p.batches.len()), Some(2), "registered once");
        assert_eq!(table.last_sequence(0), Some(6));
        assert_eq!(
            table.check(stamp(2, 2), 5).unwrap(),
            Admission::Duplicate {
                base_offset: 2,
                next_offset: 5
            }
        );
        assert_eq!(table.check(stamp(2, 7), 1).unwrap(), Admission::Append);
        let bytes = table.encode_snapshot(5);
        assert_eq!(bytes.get(4..6), Some(&[2u8, 0][..]), "version 2");
        let (offset, back) = ProducerTable::decode_snapshot(&bytes, 3).unwrap();
        assert_eq!((offset, &back), (5, &table));
        assert!(back.batches_end_by(5));
    }

    #[test]
    fn a_registration_drops_expired_anonymous_ids_from_the_file() {
        let epochs = ProducerEpochs::new(RegistryState::default(), 1_000).with_anonymous_expiry(100);
        let mut next_id = 0;
        let mut draw = || {
            next_id += 1;
            Ok(next_id)
        };
        let mut written = 0;
        for _ in 0..3 {
            let got = epochs.register_anonymous(None, 3, 0, &mut draw, |s| {
                written = s.entries.len();
                Ok(())
            });
            assert!(got.unwrap().is_some());
        }
        assert_eq!(written, 3);
        assert_eq!(
            epochs.register_anonymous(None, 3, 50, &mut draw, |_| Ok(())).unwrap(),
            None
        );
        // Past the expiry, before any maintenance round: the next write holds the new id only.
        let id = epochs.register_anonymous(None, 3, 101, &mut draw, |s| {
            written = s.entries.len();
            Ok(())
        });
        let id = id.unwrap().unwrap();
        assert_eq!(written, 1);
        assert!(epochs.knows(id) && !epochs.knows(1));
        // The dropped ids are never handed out again.
        let mut replay = [1, 2, 3, 9].into_iter();
        let again = epochs.register_anonymous(None, 3, 101, || Ok(replay.next().unwrap_or(9)), |_| Ok(()));
        assert_eq!(again.unwrap(), Some(9));
    }

    /// An id still registered but idle past its expiry (no maintenance
    /// round yet) comes back at a newer epoch only, for its own owner; the
    /// partition then starts that epoch at sequence 0.
    #[test]
    fn an_expired_registered_anonymous_id_comes_back_at_a_newer_epoch() {
        let epochs = ProducerEpochs::new(RegistryState::default(), 1_000).with_anonymous_expiry(100);
        let id = epochs
            .register_anonymous(Some("alice"), 3, 0, || Ok(7), |_| Ok(()))
            .unwrap()
            .unwrap();
        let mut table = ProducerTable::new(5);
        let at = |epoch, base_sequence| ProducerStamp {
            producer_id: id,
            epoch,
            base_sequence,
        };
        assert_eq!(admit(&table, &epochs, at(0, 0), 2, 0).unwrap(), Admission::Append);
        table.record(at(0, 0), 0, 2, 0);
        assert_eq!(
            epochs
                .readmit_anonymous(id, 1, Some("alice"), 3, 50, |_| Ok(()))
                .unwrap(),
            Readmission::Refused,
            "live"
        );
        assert!(matches!(
            admit(&table, &epochs, at(0, 2), 1, 200),
            Err(Error::UnknownProducer { .. })
        ));
        assert_eq!(
            epochs
                .readmit_anonymous(id, 1, Some("bob"), 3, 200, |_| Ok(()))
                .unwrap(),
            Readmission::Refused,
            "another owner's"
        );
        assert_eq!(
            epochs
                .readmit_anonymous(id, 0, Some("alice"), 3, 200, |_| Ok(()))
                .unwrap(),
            Readmission::Refused,
            "not a newer epoch"
        );
        let mut persisted = None;
        let readmitted = epochs.readmit_anonymous(id, 1, Some("alice"), 3, 200, |s| {
            persisted = s.entries.get(&id).map(|e| (e.epoch, e.owner.clone(), e.is_anonymous()));
            Ok(())
        });
        assert_eq!(readmitted.unwrap(), Readmission::Readmitted);
        assert_eq!(persisted, Some((1, "alice".to_string(), true)));
        assert_eq!(table.last_sequence_at(id, 1, true), None);
        assert_eq!(table.last_sequence_at(id, 1, false), Some(1));
        // Sequence 0 of the new epoch is a new batch, not epoch 0's retry.
        assert_eq!(admit(&table, &epochs, at(1, 0), 2, 200).unwrap(), Admission::Append);
        assert!(matches!(
            admit(&table, &epochs, at(1, 1), 1, 200),
            Err(Error::OutOfOrderSequence { expected: 0, got: 1 })
        ));
        table.record(at(1, 0), 2, 2, 200);
        assert_eq!(
            admit(&table, &epochs, at(1, 0), 2, 200).unwrap(),
            Admission::Duplicate {
                base_offset: 2,
                next_offset: 4
            }
        );
        assert!(matches!(
            admit(&table, &epochs, at(0, 2), 1, 200),
            Err(Error::Fenced { .. })
        ));
        // A named producer's sequences go on across epochs.
        assert!(matches!(
            table.check(at(2, 0), 2),
            Ok(Admission::Duplicate { base_offset: 2, .. })
        ));
    }
}
