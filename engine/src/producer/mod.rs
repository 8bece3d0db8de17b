//! Exactly-once producers: [`Producers`] (`Store::producers`: registration,
//! sequenced appends), and the
//! [`Producer`] handle that numbers batches itself. Semantics, state machine
//! and error table in design/semantics.md.

pub(crate) mod dedup;
pub(crate) mod registry;
pub(crate) mod snapshot;
#[doc(hidden)]
pub mod state;

use crate::catalog::Catalog;
use crate::catalog::{CommitGuard, OpenCatalog, Topic};
use crate::clock::now_ms;
use crate::error::Error;
use crate::error::Result;
use crate::log::batch::{ProducerStamp, Record};
use crate::log::partition::Partition;
use registry::ProducerRegistry;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Which producer instance writes: a registered producer id and the epoch
/// [`Store::init_producer`](crate::Store::init_producer) gave this instance. Every call that writes as a
/// producer ([`Store::begin_transaction`](crate::Store::begin_transaction), [`Store::fail_record`](crate::Store::fail_record)) takes one;
/// get it from [`ProducerSession::id`] or [`Producer::id`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProducerId {
    /// The producer id the registry assigned to the name.
    pub id: u64,
    /// The instance's epoch: a later `init_producer` of the name fences it.
    pub epoch: u16,
}

impl ProducerId {
    /// A producer id and epoch as received from elsewhere (e.g. the wire).
    pub fn new(id: u64, epoch: u16) -> ProducerId {
        ProducerId { id, epoch }
    }
}

/// A producer instance: its id, its (new) epoch, and where it left off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerSession {
    /// The producer's name.
    pub name: String,
    /// Its id (stable across epochs).
    pub producer_id: u64,
    /// This session's epoch; a later `init_producer` of the name fences it.
    pub epoch: u16,
    /// Last sequence written per (topic, partition), durable on return. A
    /// restarted producer resumes each partition at `last + 1` (wrapping);
    /// a partition not listed starts at 0.
    pub last_sequences: BTreeMap<(String, u32), u32>,
}

impl ProducerSession {
    /// This instance's identity, for transactions and `fail_record`.
    pub fn id(&self) -> ProducerId {
        ProducerId::new(self.producer_id, self.epoch)
    }

    /// The sequence the next batch to `(topic, partition)` must carry.
    pub fn next_sequence(&self, topic: &str, partition: u32) -> u32 {
        self.last_sequences
            .get(&(topic.to_string(), partition))
            .map_or(0, |s| s.wrapping_add(1))
    }

    /// The stamp of a batch starting at `base_sequence`.
    pub fn stamp(&self, base_sequence: u32) -> ProducerStamp {
        ProducerStamp {
            producer_id: self.producer_id,
            epoch: self.epoch,
            base_sequence,
        }
    }
}

/// Where a sequenced append landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerAppend {
    /// Offset of the batch's first record.
    pub base_offset: u64,
    /// Offset just past the batch.
    pub next_offset: u64,
    /// The batch was a retry of one already in the log: nothing was written
    /// and the offsets are those of the original.
    pub duplicate: bool,
    /// The append time of a log-append-time topic's batch written by this
    /// call (`AppendInfo::log_append_time_ms`).
    pub log_append_time_ms: Option<i64>,
}

/// The producer feature of one store ([`Store::producers`](crate::Store::producers)):
/// registration (names, ids, epochs, owners) and sequenced appends. Cheap
/// to clone; like every handle it keeps the store open while it lives.
#[derive(Debug, Clone)]
pub struct Producers {
    catalog: Arc<OpenCatalog>,
    registry: Arc<ProducerRegistry>,
    /// Appends a sequenced batch judged by its topic's contract, splitting
    /// it between the topic and its DLQ (the pipeline, handed in by the
    /// store); without it a `dlq` verdict refuses the batch whole.
    splitter: Option<Arc<dyn SplitAppend>>,
}

/// The seam through which a sequenced append meets its topic's contract
/// when some records go to the DLQ: implemented by the pipeline
/// (transactions), which this feature does not import.
pub(crate) trait SplitAppend: std::fmt::Debug + Send + Sync {
    /// [`Producers::append_sequenced`]: judged; records with a `dlq`
    /// verdict go to the topic's DLQ in one transaction with the others,
    /// which claims the batch's sequences.
    fn append_sequenced_judged(
        &self,
        topic: &str,
        partition: u32,
        records: &[Record],
        stamp: ProducerStamp,
    ) -> Result<ProducerAppend>;
}

impl Producers {
    /// The producer feature over `catalog`, with the store's registry.
    pub(crate) fn new(catalog: Arc<OpenCatalog>, registry: Arc<ProducerRegistry>) -> Producers {
        Producers {
            catalog,
            registry,
            splitter: None,
        }
    }

    /// With the seam that splits a sequenced batch by its topic's contract.
    pub(crate) fn with_splitter(mut self, splitter: Arc<dyn SplitAppend>) -> Producers {
        self.splitter = Some(splitter);
        self
    }

    fn producer_registry(&self) -> &ProducerRegistry {
        &self.registry
    }

    fn lock_commits(&self) -> CommitGuard<'_> {
        self.catalog.lock_commits()
    }

    fn check_writable(&self) -> Result<()> {
        self.catalog.check_writable()
    }

    fn list_all_topics(&self) -> Vec<String> {
        self.catalog.names()
    }

    fn topic(&self, name: &str) -> Result<Arc<Topic>> {
        self.catalog.topic(name)
    }

    fn partition(&self, topic: &str, partition: u32) -> Result<Arc<Partition>> {
        self.catalog.partition(topic, partition)
    }

    /// `Fenced` if a newer epoch of the producer exists, `UnknownProducer` if none.
    pub(crate) fn check_producer_epoch(&self, producer_id: u64, epoch: u16) -> Result<()> {
        match self.registry.epochs.current_epoch(producer_id) {
            None => Err(Error::UnknownProducer { producer_id }),
            Some(current) if current != epoch => Err(Error::Fenced {
                producer_id,
                epoch,
                current_epoch: current,
            }),
            Some(_) => Ok(()),
        }
    }

    /// Register `name` (1..=255 bytes) or, if registered, start its next epoch:
    /// the previous instance is fenced (its appends fail with `Fenced`) from
    /// the moment this returns. Durable on return. See design/semantics.md.
    /// Names starting with `__` belong to the store's own jobs (`InternalName`;
    /// a replay job's producer: [`Producers::init_replay_producer`]).
    pub fn init_producer(&self, name: &str) -> Result<ProducerSession> {
        crate::names::validate_producer_name(name)?;
        self.init_producer_internal(name)
    }

    /// The producer of `millrace replay`'s job `job` (named like its group,
    /// `__replay.<job>`): the job appends its copies and commits its progress
    /// in transactions of this producer
    /// ([`crate::txn::Transaction::commit_replay_progress`]).
    pub fn init_replay_producer(&self, job: &str) -> Result<ProducerSession> {
        let name = crate::names::replay_group(job);
        crate::names::check_group_length(&name)?;
        self.init_producer_internal(&name)
    }

    /// [`Producers::init_producer`] of any name, for the operations that own internal ones.
    pub(crate) fn init_producer_internal(&self, name: &str) -> Result<ProducerSession> {
        let registry = &self.producer_registry();
        // Bump the epoch under the transaction commit lock: a transaction of
        // the old epoch either reached its commit point (and is applied)
        // before this returns, or fails with `Fenced` (txn.rs).
        let (producer_id, epoch) = {
            let _commits = self.lock_commits();
            // Under the commit lock, which `Store::close` takes to close: no
            // registry write after the directory lock is released.
            self.check_writable()?;
            registry.init(name, now_ms())?
        };
        self.producer_session(name, producer_id, epoch)
    }

    /// [`Producers::init_producer`] on behalf of `owner` (1..=255 bytes, e.g. the
    /// principal a server authenticated): a new producer belongs to `owner`,
    /// one without an owner (registered by [`Producers::init_producer`] or by a
    /// store before owners were recorded) is claimed by it, and one that
    /// belongs to another owner is left untouched: `Ok(None)`, no epoch is
    /// bumped and nobody is fenced.
    pub fn init_producer_as(&self, name: &str, owner: &str) -> Result<Option<ProducerSession>> {
        crate::names::validate_producer_name(name)?;
        let registry = &self.producer_registry();
        let registered = {
            let _commits = self.lock_commits();
            registry.init_as(name, owner, now_ms())?
        };
        match registered {
            Some((producer_id, epoch)) => self.producer_session(name, producer_id, epoch).map(Some),
            None => Ok(None),
        }
    }

    /// Register a new producer without a name, for a client that asks for a
    /// fresh producer per session (Kafka's `InitProducerId` without a
    /// transactional id): a new id (below 2^63, never one the registry or
    /// the log holds), epoch 0, owned by `owner` (`None`: nobody, as
    /// [`Producers::init_producer`]), registered as
    /// [`state::ANONYMOUS_PREFIX`] and the id in hex. Durable on return;
    /// nothing can init it again (it has no name a client can give), and the
    /// anonymous idle expiry (`StoreOptions::anonymous_producer_idle_expiry`)
    /// forgets it, whatever the partitions remember of it. Its sequences
    /// start at 0 in every partition. Uncapped: see
    /// [`Producers::init_anonymous_capped`].
    pub fn init_anonymous(&self, owner: Option<&str>) -> Result<ProducerSession> {
        self.init_anonymous_capped(owner, usize::MAX)?
            .ok_or_else(|| Error::invalid("producers", "no room for another anonymous producer".to_string()))
    }

    /// [`Producers::init_anonymous`], unless `owner` already has `live_max`
    /// anonymous producers active within the anonymous idle expiry: then
    /// `Ok(None)` and nothing is registered (a client that registers one per
    /// connection in a loop cannot grow the registry past the cap).
    pub fn init_anonymous_capped(&self, owner: Option<&str>, live_max: usize) -> Result<Option<ProducerSession>> {
        let registered = {
            let _commits = self.lock_commits();
            self.check_writable()?;
            self.producer_registry().register_anonymous(owner, live_max, now_ms())?
        };
        Ok(registered.map(|producer_id| ProducerSession {
            name: format!("{}{producer_id:016x}", state::ANONYMOUS_PREFIX),
            producer_id,
            epoch: 0,
            last_sequences: BTreeMap::new(),
        }))
    }

    /// Anonymous producers active within the anonymous idle expiry: those
    /// of `owner` (`None`: without an owner), and of every owner.
    pub fn anonymous_live(&self, owner: Option<&str>) -> (usize, usize) {
        self.producer_registry().epochs.anonymous_live(owner, now_ms())
    }

    /// [`Producers::init_producer_as`] (or, with `owner` `None`,
    /// [`Producers::init_producer`]) with epochs at most `epoch_max`: a
    /// producer already at `epoch_max` moves to a new id at epoch 0 instead
    /// (its previous instance then fails with `UnknownProducer`, and its
    /// sequences start again at 0). Kafka's epochs are `int16`: a Kafka
    /// front passes `i16::MAX as u16`. `Ok(None)`: another owner's.
    pub fn init_producer_capped(
        &self,
        name: &str,
        owner: Option<&str>,
        epoch_max: u16,
    ) -> Result<Option<ProducerSession>> {
        crate::names::validate_producer_name(name)?;
        let registered = {
            let _commits = self.lock_commits();
            self.check_writable()?;
            self.producer_registry().init_capped(name, owner, epoch_max, now_ms())?
        };
        match registered {
            Some((producer_id, epoch)) => self.producer_session(name, producer_id, epoch).map(Some),
            None => Ok(None),
        }
    }

    /// The sequence of the last record `producer_id` wrote to
    /// `topic`/`partition` that the partition remembers (`None`: none; its
    /// next batch there starts at 0). A front that numbers sequences
    /// differently from the engine (Kafka's wrap at 2^31) maps them near it.
    pub fn last_sequence(&self, producer_id: u64, topic: &str, partition: u32) -> Result<Option<u32>> {
        Ok(self.partition(topic, partition)?.producer_last_sequence(producer_id))
    }

    /// The last sequence a batch of `producer_id` at `epoch` continues from
    /// in `topic`/`partition`: as [`Producers::last_sequence`], but `None`
    /// (start at 0) for an anonymous producer whose state there is of an
    /// older epoch (its sequences restart with each epoch:
    /// [`Producers::readmit_anonymous`]).
    pub fn last_sequence_at(&self, producer_id: u64, epoch: u16, topic: &str, partition: u32) -> Result<Option<u32>> {
        Ok(self
            .partition(topic, partition)?
            .producer_last_sequence_at(producer_id, epoch))
    }

    /// Take back an anonymous producer id that expired, at `epoch` (1 or
    /// more, above any epoch the registry still holds for it), owned by
    /// `owner`: Kafka's idempotent producer told UNKNOWN_PRODUCER_ID bumps
    /// its own epoch and starts again at sequence 0 in every partition
    /// (librdkafka; KIP-360), and Kafka accepts it. Durable on return. In
    /// each partition its batches at `epoch` start at sequence 0 (a partition
    /// that saw a newer epoch fences them; retries of older epochs stay
    /// fenced). `Refused`: a live id, a named one, another owner's, an
    /// epoch not above the registered one, or epoch 0 (a late retry of the
    /// first epoch never comes back as a new producer); `Full`: `owner` has
    /// `live_max` live anonymous producers. See
    /// [`state::ProducerEpochs::readmit_anonymous`].
    pub fn readmit_anonymous(
        &self,
        producer_id: u64,
        epoch: u16,
        owner: Option<&str>,
        live_max: usize,
    ) -> Result<state::Readmission> {
        let _commits = self.lock_commits();
        self.check_writable()?;
        self.producer_registry()
            .readmit_anonymous(producer_id, epoch, owner, live_max, now_ms())
    }

    /// A live anonymous producer's client bumped its own epoch to `epoch`
    /// and starts again at sequence 0 in every partition (librdkafka after
    /// requests in flight timed out; Kafka accepts it for a
    /// non-transactional id). True when the id moved to `epoch` (durable on
    /// return; older epochs fenced from then on); false when it is not a
    /// live anonymous id of `owner` below `epoch`. See
    /// [`state::ProducerEpochs::bump_anonymous`].
    pub fn bump_anonymous(&self, producer_id: u64, epoch: u16, owner: Option<&str>) -> Result<bool> {
        let _commits = self.lock_commits();
        self.check_writable()?;
        self.producer_registry()
            .bump_anonymous(producer_id, epoch, owner, now_ms())
    }

    /// Is `producer_id` registered and active within its idle expiry?
    pub fn is_live(&self, producer_id: u64) -> bool {
        self.producer_registry().epochs.is_live(producer_id, now_ms())
    }

    /// May `owner` append, begin transactions or fail records with
    /// `producer_id`? True when it owns the producer, when the id is not
    /// registered (the call then fails with `UnknownProducer` as usual), and
    /// when the producer has no owner yet: `owner` then claims it (durably,
    /// before this returns). False when another owner registered it.
    pub fn producer_usable_by(&self, producer_id: u64, owner: &str) -> Result<bool> {
        self.producer_registry().usable_by(producer_id, owner)
    }

    /// The owner recorded for `producer_id`: `Some("")` when it has none,
    /// `None` when the id is not registered. Read only; see
    /// [`Producers::producer_usable_by`] to check and claim.
    pub fn producer_owner(&self, producer_id: u64) -> Option<String> {
        self.producer_registry().epochs.owner(producer_id)
    }

    fn producer_session(&self, name: &str, producer_id: u64, epoch: u16) -> Result<ProducerSession> {
        let mut last_sequences = BTreeMap::new();
        for topic_name in self.list_all_topics() {
            let Ok(topic) = self.topic(&topic_name) else { continue };
            for partition in &topic.partitions {
                // Read under the partition's writer lock: any append of the
                // old epoch either is counted here or is fenced.
                if let Some(last) = partition.producer_last_sequence(producer_id) {
                    partition.flush()?;
                    last_sequences.insert((topic_name.clone(), partition.id), last);
                }
            }
        }
        Ok(ProducerSession {
            name: name.to_string(),
            producer_id,
            epoch,
            last_sequences,
        })
    }

    /// Append `records` as one batch from a registered producer. The batch's
    /// first record has sequence `stamp.base_sequence`; the next batch to this
    /// partition must start at `base_sequence + records.len()`.
    ///
    /// Errors: `Fenced` (an older epoch), `OutOfOrderSequence` (a gap, or a
    /// retry older than the de-duplication window), `UnknownProducer`
    /// (expired or never registered), plus every error of [`Store::append`](crate::Store::append).
    pub fn append_sequenced(
        &self,
        topic: &str,
        partition: u32,
        records: &[Record],
        stamp: ProducerStamp,
    ) -> Result<ProducerAppend> {
        crate::names::refuse_internal_topic(topic)?;
        if let Some(splitter) = &self.splitter {
            return splitter.append_sequenced_judged(topic, partition, records, stamp);
        }
        // Without the pipeline: a `reject` refuses the batch, and so does a
        // `dlq` (`record_check::judge_unsplittable`).
        // A retry answered as a duplicate is not counted again.
        let judge = crate::record_check::judge_unsplittable(&self.catalog.checks, topic, partition, records)?;
        let appended = self.append_sequenced_with_flags(topic, partition, records, stamp, 0)?;
        if let (Some((judge, tally)), false) = (&judge, appended.duplicate) {
            judge.count(tally);
            if !records.is_empty() {
                judge.observe(partition, appended.base_offset, records);
            }
        }
        Ok(appended)
    }

    /// As [`Producers::append_sequenced`] with batch flags (transactions).
    pub(crate) fn append_sequenced_with_flags(
        &self,
        topic: &str,
        partition: u32,
        records: &[Record],
        stamp: ProducerStamp,
        flags: u16,
    ) -> Result<ProducerAppend> {
        let (info, duplicate) = self
            .partition(topic, partition)?
            .append_sequenced(records, stamp, flags)?;
        Ok(ProducerAppend {
            base_offset: info.base_offset,
            next_offset: info.next_offset,
            duplicate,
            log_append_time_ms: info.log_append_time_ms,
        })
    }

    /// The name a producer id is registered under (`None` if expired or never registered).
    pub(crate) fn producer_name(&self, producer_id: u64) -> Option<String> {
        self.producer_registry().epochs.name_of(producer_id)
    }

    /// The current epoch of a registered producer id.
    pub fn producer_epoch(&self, producer_id: u64) -> Option<u16> {
        self.producer_registry().epochs.current_epoch(producer_id)
    }
}

/// After open: activity recorded in partitions (appends after the registry
/// was last written) counts towards the idle expiry.
pub(crate) fn fold_activity(registry: &ProducerRegistry, catalog: &Catalog) {
    for topic in catalog.topics() {
        for partition in &topic.partitions {
            for (producer_id, at_ms) in partition.producer_activity() {
                registry.epochs.note_activity(producer_id, at_ms);
                registry.epochs.note_id_in_log(producer_id);
            }
        }
    }
}

/// The maintenance round's expiry: forget producers idle past
/// `producer_idle_expiry` that have no batch left in any partition's
/// de-duplication state.
pub(crate) fn expire_idle(registry: &ProducerRegistry, catalog: &Catalog) {
    let with_state: std::collections::HashSet<u64> = catalog
        .partitions()
        .iter()
        .flat_map(|p| p.producer_activity())
        .map(|(id, _)| id)
        .collect();
    let forgotten = registry.epochs.forget_expired(now_ms(), |id| with_state.contains(&id));
    if forgotten > 0 {
        tracing::info!(forgotten, "expired producers without batches in the log forgotten");
    }
}

/// A producer handle that numbers its batches: `send` uses the next sequence
/// of the partition and advances it once the append is acknowledged (or
/// found to be a duplicate). After an error, `send` of the same records again
/// is a retry with the same sequence: appended once, never twice.
#[derive(Debug, Clone)]
pub struct Producer {
    producers: Producers,
    session: ProducerSession,
    next: BTreeMap<(String, u32), u32>,
}

impl Producer {
    /// `init_producer(name)` through `producers` and resume where the
    /// previous instance stopped ([`Producer::init`] from a store).
    pub fn init_with(producers: &Producers, name: &str) -> Result<Producer> {
        let session = producers.init_producer(name)?;
        let next = session
            .last_sequences
            .iter()
            .map(|(k, s)| (k.clone(), s.wrapping_add(1)))
            .collect();
        Ok(Producer {
            producers: producers.clone(),
            session,
            next,
        })
    }

    /// The session `init` returned (id, epoch, last sequences).
    pub fn session(&self) -> &ProducerSession {
        &self.session
    }

    /// This instance's identity, for transactions and `fail_record`.
    pub fn id(&self) -> ProducerId {
        self.session.id()
    }

    /// The producer's id (for [`Store::begin_transaction`](crate::Store::begin_transaction)).
    pub fn producer_id(&self) -> u64 {
        self.session.producer_id
    }

    /// The producer's epoch (for [`Store::begin_transaction`](crate::Store::begin_transaction)).
    pub fn epoch(&self) -> u16 {
        self.session.epoch
    }

    /// The sequence the next `send` to this partition will carry.
    pub fn next_sequence(&self, topic: &str, partition: u32) -> u32 {
        self.next.get(&(topic.to_string(), partition)).copied().unwrap_or(0)
    }

    /// Append `records` as the partition's next batch.
    pub fn send(&mut self, topic: &str, partition: u32, records: &[Record]) -> Result<ProducerAppend> {
        let key = (topic.to_string(), partition);
        let sequence = self.next.get(&key).copied().unwrap_or(0);
        let appended = self
            .producers
            .append_sequenced(topic, partition, records, self.session.stamp(sequence))?;
        self.next.insert(key, sequence.wrapping_add(records.len() as u32));
        Ok(appended)
    }
}
