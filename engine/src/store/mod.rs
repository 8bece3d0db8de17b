//! The facade: `Store` opens the data directory (the catalog, catalog/),
//! and is the one type that knows every feature: it holds their state
//! (transaction coordinator, DLQ attempts, offsets table), recovers
//! transactions at open, and forwards appends and reads to the partition the
//! catalog finds. The features add their public methods to `Store` from
//! their own modules (producer/, consumer/, pipeline/).

use crate::batch::{ProducerStamp, Record};
use crate::catalog::maintenance;
use crate::catalog::{Catalog, FloorSource, FORMAT_FILE};
use crate::clock::now_ms;
use crate::config::{Durability, StoreOptions, TopicConfig};
use crate::error::{DamagedScope, Error, Result};
use crate::io::{FsStorage, Storage};
use crate::log::partition::{AppendInfo, Isolation, Partition, PartitionInfo, ReadBatch, ReadOptions, ReadResult};
use crate::metrics::{Metrics, MetricsSnapshot};
use crate::notify::Notifier;
use crate::producer::ProducerAppend;
use crate::producer_registry::ProducerRegistry;
use crate::sync::{AtomicU64, Ordering};
use parking_lot::{Condvar, Mutex};
use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

// Transitional aliases for code written against the former layout, removed
// after the renovation merge.
pub(crate) use crate::catalog::{check_format, format_text, Topic};
pub(crate) use crate::shared::Shared;

/// What [`Store::scan_with_marks`] returns besides the visited records: the
/// same offsets as the fields of [`ReadResult`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanMarks {
    /// Where to read next (past any control batches that were skipped).
    pub next_offset: u64,
    /// Offset just past the last visible record.
    pub high_watermark: u64,
    /// Offset below which no transaction is open.
    pub last_stable_offset: u64,
    /// The partition's first offset.
    pub log_start_offset: u64,
}

/// How many times [`Store::open_read_only`] opens a store a writer holds
/// before it returns the error (a race with the writer does not repeat; damage does).
pub const READ_ONLY_LIVE_ATTEMPTS: u32 = 3;

/// Largest `StoreOptions::group_commit_spin` accepted.
pub const GROUP_COMMIT_SPIN_MAX: std::time::Duration = std::time::Duration::from_millis(10);

/// A topic's configuration and per-partition numbers.
#[derive(Debug, Clone)]
pub struct TopicDescription {
    /// The topic's name.
    pub name: String,
    /// Its configuration.
    pub config: TopicConfig,
    /// Its effective durability (its own, or the store's default).
    pub durability: Durability,
    /// The partitions that opened (all unless `damaged_partitions` has some).
    pub partitions: Vec<PartitionInfo>,
    /// Partitions that failed to open, with the error every request on them answers.
    pub damaged_partitions: Vec<(u32, Arc<Error>)>,
}

/// A topic or partition that failed to open while the rest of the store did
/// ([`Store::damaged`]).
#[derive(Debug, Clone)]
pub struct Damage {
    /// The topic or partition.
    pub scope: DamagedScope,
    /// The error its open returned (it names the file).
    pub error: Arc<Error>,
}

struct StoreInner {
    /// The data directory: topics, partitions, the directory lock.
    catalog: Arc<Catalog>,
    /// Shared with the maintenance thread, which must not hold the store
    /// itself while it sleeps (the last `Store` dropped must close at once).
    stop: maintenance::Stop,
    background: Mutex<Option<JoinHandle<()>>>,
    /// Transaction commits (pipeline/txn.rs); its lock is also the one under
    /// which a log start moves.
    coordinator: Arc<crate::txn::Coordinator>,
    /// Failure counts for the DLQ (pipeline/dlq).
    attempts: crate::dlq::AttemptTable,
    /// Committed consumer offsets (consumer/offsets.rs).
    offsets: crate::offset_table::OffsetTable,
}

impl std::fmt::Debug for StoreInner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.catalog.path)
            .finish_non_exhaustive()
    }
}

/// An open store: a data directory of topics, opened by one process for
/// writing at a time.
///
/// Open it with [`Store::open`] (creating it in an empty or missing
/// directory), create topics with [`Store::create_topic`], append with
/// [`Store::append`] (or a [`Producer`](crate::Producer), which makes retries
/// idempotent) and read with [`Store::read`], [`Store::scan`] (in place,
/// without copying) or a [`Consumer`](crate::Consumer) (group offsets).
///
/// ```
/// use millrace::{ReadOptions, Record, Store, StoreOptions, TopicConfig};
///
/// # let dir = tempfile::tempdir()?;
/// let store = Store::open(dir.path().join("data"), StoreOptions::default())?;
/// store.create_topic("events", TopicConfig::with_partitions(2))?;
/// let at = store.append("events", 1, &[Record::new("hello").with_key("k")])?;
/// // Durable on return (the topic's durability is `Always` by default).
/// let read = store.read("events", 1, at.base_offset, ReadOptions::default())?;
/// assert_eq!(read.records[0].value, b"hello");
/// assert_eq!(store.offsets("events", 1)?, (0, 1)); // (log start, next offset)
/// store.close()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Cheap to clone and `Send + Sync`: clones share one open store. It closes
/// (flushes, releases the lock) when the last clone is dropped or
/// [`Store::close`] is called. Every method blocks the calling thread (see
/// the crate documentation on async code).
#[derive(Debug, Clone)]
pub struct Store {
    inner: Arc<StoreInner>,
}

impl Store {
    /// Open (creating if needed) the store at `path` on the real file system.
    pub fn open(path: impl AsRef<Path>, options: StoreOptions) -> Result<Store> {
        Store::open_with_storage(path, options, Arc::new(FsStorage))
    }

    /// Open like [`Store::open`], but all or nothing: if a topic or
    /// partition fails to open, close the store and return the error its
    /// open returned (what `Store::open` did before damage was confined to
    /// its scope). For embedders that prefer to stop, and for tests of that
    /// error.
    pub fn open_strict(path: impl AsRef<Path>, options: StoreOptions) -> Result<Store> {
        let store = Store::open(path, options)?;
        let Some(first) = store.damaged().into_iter().next() else {
            return Ok(store);
        };
        // Closed (its maintenance thread joined) and dropped: the error is
        // then held only here.
        let _ = store.close();
        Err(Arc::try_unwrap(first.error).unwrap_or_else(|source| Error::Damaged {
            scope: first.scope,
            source,
        }))
    }

    /// Open the store at `path` for reading only, for offline tools that
    /// must not change the data directory: recovery runs as usual, but every
    /// change it makes (a torn tail cut, an index rebuilt, a snapshot written)
    /// stays in this process's memory ([`crate::storage::ReadOnlyStorage`]);
    /// nothing is written or truncated on disk. No background thread runs.
    /// Refuses a directory that is not a store (no `MILLRACE` file).
    ///
    /// The directory lock is taken shared, without writing the lock file:
    /// read-only opens do not exclude each other, and a writer cannot open
    /// the directory while one is open. A store that a writer holds open
    /// (another process embedding it, `millrace serve`) is inspected *live*:
    /// without a lock, and only its durable data (each file is fdatasync'd
    /// after its length is sampled, so what this view serves survives a power
    /// cut even under `Durability::Os`). The view is the store as it was at
    /// the open; it does not follow later appends. An open that races the
    /// writer (a segment deleted by retention meanwhile) is retried, at most
    /// [`READ_ONLY_LIVE_ATTEMPTS`] times in all; an error that remains is real.
    pub fn open_read_only(path: impl AsRef<Path>, options: StoreOptions) -> Result<Store> {
        let path = path.as_ref();
        if !path.join(FORMAT_FILE).is_file() {
            return Err(Error::invalid(
                "data directory",
                format!(
                    "{} is not a millrace data directory (no {FORMAT_FILE} file)",
                    path.display()
                ),
            ));
        }
        let options = StoreOptions {
            background: false,
            ..options
        };
        let mut attempt = 1;
        loop {
            let storage = Arc::new(crate::io::ReadOnlyStorage::default());
            match Store::open_with_storage(path, options.clone(), storage.clone()) {
                Err(e) if storage.is_live() && attempt < READ_ONLY_LIVE_ATTEMPTS => {
                    tracing::debug!(attempt, error = %e, "read-only open of a live store raced its writer; retrying");
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    /// Open through a given storage backend (fault injection, simulation).
    pub fn open_with_storage(
        path: impl AsRef<Path>,
        options: StoreOptions,
        storage: Arc<dyn Storage>,
    ) -> Result<Store> {
        let path = path.as_ref().to_path_buf();
        if options.group_commit_spin > GROUP_COMMIT_SPIN_MAX {
            return Err(Error::invalid(
                "group_commit_spin",
                format!(
                    "{:?} (at most {GROUP_COMMIT_SPIN_MAX:?}: past that a wake-up is small beside the wait)",
                    options.group_commit_spin
                ),
            ));
        }
        let shared = || {
            Ok(Arc::new(Shared {
                poison: crate::io::poison::Poison::new(),
                closed: crate::sync::AtomicBool::new(false),
                used_bytes: AtomicU64::new(0),
                quota_bytes: options.quota_bytes,
                notifier: Notifier::new(),
                metrics: Metrics::default(),
                producers: ProducerRegistry::open(storage.clone(), &path, &options)?,
                group_commit_spin: options.group_commit_spin,
            }))
        };
        let floors = FloorSource {
            topic: crate::offset_table::OFFSETS_TOPIC,
            read: crate::offset_table::committed_floors,
        };
        let catalog = Arc::new(Catalog::open(
            path.clone(),
            options.clone(),
            storage.clone(),
            shared,
            floors,
        )?);
        crate::producer::fold_activity(&catalog.shared, catalog.topics().iter());
        let inner = Arc::new(StoreInner {
            catalog,
            stop: Arc::new((Mutex::new(false), Condvar::new())),
            background: Mutex::new(None),
            coordinator: Arc::new(crate::txn::Coordinator::default()),
            attempts: crate::dlq::AttemptTable::default(),
            offsets: crate::offset_table::OffsetTable::default(),
        });
        // Finish a transaction whose commit point was reached before a crash,
        // before anyone can read.
        crate::txn::recover(&Store { inner: inner.clone() })?;
        if inner.catalog.options.background {
            let coordinator = inner.coordinator.clone();
            let under_lock: maintenance::UnderLogStartLock = Box::new(move |work| {
                let _commits = coordinator.lock_commits();
                work()
            });
            let handle = maintenance::spawn(Arc::downgrade(&inner.catalog), inner.stop.clone(), under_lock)?;
            *inner.background.lock() = Some(handle);
        }
        Ok(Store { inner })
    }

    /// True for a [`Store::open_read_only`] of a directory that another
    /// process held open for writing: the view is its durable data as it was
    /// at the open, and does not follow the writer's later appends.
    pub fn is_live_view(&self) -> bool {
        self.inner.catalog.storage.is_live_view()
    }

    /// The data directory.
    pub fn path(&self) -> &Path {
        &self.inner.catalog.path
    }

    /// The options it was opened with.
    pub fn options(&self) -> &StoreOptions {
        &self.inner.catalog.options
    }

    #[allow(dead_code, reason = "used by internal-topic modules")]
    pub(crate) fn storage(&self) -> &Arc<dyn Storage> {
        &self.inner.catalog.storage
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.inner.catalog.shared
    }

    pub(crate) fn coordinator(&self) -> &crate::txn::Coordinator {
        &self.inner.coordinator
    }

    pub(crate) fn inner_metrics(&self) -> &Metrics {
        &self.inner.catalog.shared.metrics
    }

    pub(crate) fn attempt_table(&self) -> &crate::dlq::AttemptTable {
        &self.inner.attempts
    }

    pub(crate) fn offset_table(&self) -> &crate::offset_table::OffsetTable {
        &self.inner.offsets
    }

    /// Begin a transaction for a registered producer (see txn.rs). Open
    /// transactions live in memory only: a crash, an abort, a re-initialised
    /// producer (new epoch) or the timeout discards them without a trace.
    pub fn begin_transaction(&self, producer: crate::ProducerId) -> Result<crate::txn::Transaction> {
        self.check_writable()?;
        self.check_producer_epoch(producer.id, producer.epoch)?;
        Ok(crate::txn::Transaction::new(
            self.clone(),
            producer.id,
            producer.epoch,
            self.inner.catalog.options.transaction_timeout,
        ))
    }

    /// `Fenced` if a newer epoch of the producer exists, `UnknownProducer` if none.
    pub(crate) fn check_producer_epoch(&self, producer_id: u64, epoch: u16) -> Result<()> {
        match self.inner.catalog.shared.producers.epochs.current_epoch(producer_id) {
            None => Err(Error::UnknownProducer { producer_id }),
            Some(current) if current != epoch => Err(Error::Fenced {
                producer_id,
                epoch,
                current_epoch: current,
            }),
            Some(_) => Ok(()),
        }
    }

    /// Create a topic with `config.partitions` partitions. Atomic: a crash
    /// leaves either no topic or the whole topic. The name follows
    /// [`crate::names::validate_topic_name`]: `__*` names are the store's own
    /// (`InternalName`), and names the data directory uses for itself are
    /// refused (`InvalidInput`).
    pub fn create_topic(&self, name: &str, config: TopicConfig) -> Result<()> {
        self.create_topic_inner(name, config, false)
    }

    pub(crate) fn create_topic_inner(&self, name: &str, config: TopicConfig, internal: bool) -> Result<()> {
        if internal {
            crate::names::validate_internal_topic_name(name)?;
        } else {
            crate::names::validate_topic_name(name)?;
        }
        config.validate()?;
        if !internal {
            if self.inner.catalog.contains(name) {
                return Err(Error::TopicExists(name.to_string()));
            }
            // Left by a delete that crashed before forgetting them (or by a
            // version that did not): a new topic inherits nothing. Before the
            // admin lock: the offset table may create `__offsets` under it.
            self.forget_topic_dependents(name)?;
        }
        self.inner.catalog.create_topic(name, config)
    }

    /// Delete a topic and all its data, with its DLQ (`__dlq.<topic>`) and
    /// every group's committed offsets on both: a topic created later under
    /// the same name starts with none of them. An internal topic (`__*`) is
    /// never deleted this way (`InternalName`): a DLQ goes with its topic or
    /// is purged (`dlq_purge`); damaged metadata is repaired (`millrace repair`).
    pub fn delete_topic(&self, name: &str) -> Result<()> {
        crate::names::refuse_internal_topic(name)?;
        self.delete_topic_files(name)?;
        self.forget_topic_dependents(name)
    }

    /// The DLQ of `name`, every committed offset on `name` or its DLQ, then
    /// the DLQ's redrive marks and the topic's failure counts.
    fn forget_topic_dependents(&self, name: &str) -> Result<()> {
        let dlq = crate::dlq::dlq_topic_name(name);
        if self.inner.catalog.contains(&dlq) {
            tracing::info!(topic = name, dlq = %dlq, "deleting the DLQ of a deleted topic");
            self.delete_topic_files(&dlq)?;
        }
        let forgotten = self.forget_topic_offsets(name)?;
        if forgotten > 0 {
            tracing::info!(
                topic = name,
                forgotten,
                "forgot the committed offsets of a deleted topic"
            );
        }
        self.forget_dlq_bookkeeping(name)
    }

    fn delete_topic_files(&self, name: &str) -> Result<()> {
        // Only a name the store listed (a directory of `topics/`) is deleted.
        match self.topic(name) {
            // A topic that failed to open can be deleted too (below).
            Ok(_) | Err(Error::Damaged { .. }) => {}
            Err(e) => return Err(e),
        }
        // The commit lock before the admin lock (`commit` may create
        // `__transactions` under both, in that order).
        let mut commits = self.coordinator().lock_commits();
        self.check_open()?;
        crate::txn::forget_applied(self, &mut commits)?;
        self.inner.catalog.remove_topic(name)
    }

    /// Names of user topics (internal `__` topics are listed by `list_all_topics`).
    pub fn list_topics(&self) -> Vec<String> {
        let mut names = self.inner.catalog.names();
        names.retain(|n| !crate::names::is_internal(n));
        names
    }

    /// Every topic, the store's own (`__offsets`, `__dlq.*`, ...) included.
    pub fn list_all_topics(&self) -> Vec<String> {
        self.inner.catalog.names()
    }

    /// Topics and partitions that failed to open (the rest of the store
    /// did), with the error each answers; empty for an undamaged store.
    pub fn damaged(&self) -> Vec<Damage> {
        let damaged = self.inner.catalog.damaged().into_iter();
        damaged.map(|(scope, error)| Damage { scope, error }).collect()
    }

    pub(crate) fn topic(&self, name: &str) -> Result<Arc<Topic>> {
        self.inner.catalog.topic(name)
    }

    /// Partition 0 of an internal topic, `None` while the topic does not
    /// exist yet. A damaged one is an error, never read as empty: an empty
    /// read would forget committed offsets, attempts or dead letters.
    pub(crate) fn internal_log(&self, topic: &str) -> Result<Option<Arc<Partition>>> {
        self.inner.catalog.internal_log(topic)
    }

    pub(crate) fn partition(&self, topic: &str, partition: u32) -> Result<Arc<Partition>> {
        self.inner.catalog.partition(topic, partition)
    }

    /// A topic's configuration and per-partition numbers.
    pub fn describe_topic(&self, name: &str) -> Result<TopicDescription> {
        let topic = self.topic(name)?;
        Ok(TopicDescription {
            name: topic.name.clone(),
            config: topic.config.clone(),
            durability: self.inner.catalog.durability(&topic),
            partitions: topic.partitions.iter().map(|p| p.info()).collect(),
            damaged_partitions: topic.damaged.iter().map(|(p, e)| (*p, e.clone())).collect(),
        })
    }

    /// Number of partitions of `topic`.
    pub fn partition_count(&self, topic: &str) -> Result<u32> {
        Ok(self.topic(topic)?.config.partitions)
    }

    /// `Closed` after [`Store::close`], `Poisoned` after a failed write.
    pub(crate) fn check_writable(&self) -> Result<()> {
        self.inner.catalog.check_writable()
    }

    /// `Closed` after [`Store::close`].
    pub(crate) fn check_open(&self) -> Result<()> {
        self.inner.catalog.check_open()
    }

    /// Append `records` as one batch; returns once acknowledged under the
    /// topic's durability mode. Internal topics (`__*`) are written only by
    /// the operations that own them (`InternalName`).
    pub fn append(&self, topic: &str, partition: u32, records: &[Record]) -> Result<AppendInfo> {
        crate::names::refuse_internal_topic(topic)?;
        self.partition(topic, partition)?.append(records, None, 0)
    }

    /// The explicitly internal write path: append `records` to an internal
    /// topic (`__*`) as they are, with no check that they are what the
    /// operation owning the topic would write. Recovery must confine what
    /// it finds there to that topic; this exists to test exactly that (a
    /// record an older version, a bug or damage left behind). Never for data.
    pub fn append_to_internal_topic(&self, topic: &str, partition: u32, records: &[Record]) -> Result<AppendInfo> {
        if !crate::names::is_internal(topic) {
            return Err(Error::invalid(
                "topic",
                format!("{topic:?} is not internal: use `append`"),
            ));
        }
        self.partition(topic, partition)?.append(records, None, 0)
    }

    /// Append with a producer stamp and batch flags (producers, transactions).
    #[allow(dead_code, reason = "used by producer and transaction modules")]
    pub(crate) fn append_raw(
        &self,
        topic: &str,
        partition: u32,
        records: &[Record],
        producer: Option<ProducerStamp>,
        flags: u16,
        check: impl FnOnce(u64) -> Result<()>,
    ) -> Result<AppendInfo> {
        self.partition(topic, partition)?
            .append_checked(records, producer, flags, check)
    }

    /// Read visible, committed records from `offset` (read-committed isolation).
    pub fn read(&self, topic: &str, partition: u32, offset: u64, options: ReadOptions) -> Result<ReadResult> {
        self.partition(topic, partition)?
            .read(offset, options, Isolation::ReadCommitted)
    }

    /// Read from `offset` with a chosen isolation level.
    pub fn read_with(
        &self,
        topic: &str,
        partition: u32,
        offset: u64,
        options: ReadOptions,
        isolation: Isolation,
    ) -> Result<ReadResult> {
        self.partition(topic, partition)?.read(offset, options, isolation)
    }

    /// Visit records from `offset` without copying them: `visit` gets views
    /// into the segment's bytes (memory-mapped once sealed). Same budgets,
    /// isolation and offsets as [`Store::read_with`]; returns the next offset.
    pub fn scan(
        &self,
        topic: &str,
        partition: u32,
        offset: u64,
        options: ReadOptions,
        isolation: Isolation,
        visit: impl FnMut(crate::batch::RecordView<'_>),
    ) -> Result<u64> {
        self.partition(topic, partition)?
            .scan(offset, options, isolation, visit)
    }

    /// [`Store::scan`], also returning the partition's marks as
    /// [`Store::read_with`] reports them (taken after the visit), so that a
    /// zero-copy reader can answer with the same numbers as `read_with`.
    pub fn scan_with_marks(
        &self,
        topic: &str,
        partition: u32,
        offset: u64,
        options: ReadOptions,
        isolation: Isolation,
        visit: impl FnMut(crate::batch::RecordView<'_>),
    ) -> Result<ScanMarks> {
        let p = self.partition(topic, partition)?;
        let next_offset = p.scan(offset, options, isolation, visit)?;
        Ok(ScanMarks {
            next_offset,
            high_watermark: p.high_watermark(),
            last_stable_offset: p.last_stable_offset(),
            log_start_offset: p.start_offset(),
        })
    }

    /// Write one batch without waiting for its acknowledgement, for callers
    /// that wait elsewhere (the server waits for `Always` fsyncs on its own
    /// threads instead of blocking one per request). With a `producer` stamp
    /// the batch is sequenced as by [`Store::append_sequenced`] (a retry
    /// returns the original's offsets and `duplicate`).
    ///
    /// The append is acknowledged only when [`PendingAppend::wait`] returns
    /// `Ok`: at once unless the topic is `Always`, else once an fsync covers
    /// the batch. Until then readers do not see it, and a crash may take it
    /// back; dropping the `PendingAppend` leaves it to the next fsync.
    pub fn append_pending(
        &self,
        topic: &str,
        partition: u32,
        records: &[Record],
        producer: Option<ProducerStamp>,
    ) -> Result<PendingAppend> {
        crate::names::refuse_internal_topic(topic)?;
        let p = self.partition(topic, partition)?;
        let (info, duplicate) = p.append_deferred(records, producer)?;
        Ok(PendingAppend {
            base_offset: info.base_offset,
            next_offset: info.next_offset,
            duplicate,
            partition: p.owes_sync().then_some(p),
        })
    }

    /// The durability mode appends to `topic` are acknowledged under (its own
    /// or the store's default). Cheap: no I/O, one map lookup.
    pub fn durability(&self, topic: &str) -> Result<Durability> {
        let topic = self.topic(topic)?;
        Ok(self.inner.catalog.durability(&topic))
    }

    /// Read whole batches (with headers, control batches included) up to `end`.
    pub fn read_batches(
        &self,
        topic: &str,
        partition: u32,
        offset: u64,
        options: ReadOptions,
        end: Option<u64>,
    ) -> Result<(Vec<ReadBatch>, u64)> {
        self.partition(topic, partition)?.read_batches(offset, options, end)
    }

    /// Earliest visible offset with a timestamp >= `timestamp_ms`, if any.
    pub fn offset_for_time(&self, topic: &str, partition: u32, timestamp_ms: i64) -> Result<Option<u64>> {
        self.partition(topic, partition)?.offset_for_time(timestamp_ms)
    }

    /// Offsets `[start, high watermark)` of a partition.
    pub fn offsets(&self, topic: &str, partition: u32) -> Result<(u64, u64)> {
        let p = self.partition(topic, partition)?;
        Ok((p.start_offset(), p.high_watermark()))
    }

    /// Block until the partition's high watermark passes `offset` or `timeout`
    /// elapses. Returns true if data past `offset` is visible.
    pub fn wait_for(&self, topic: &str, partition: u32, offset: u64, timeout: Duration) -> Result<bool> {
        let p = self.partition(topic, partition)?;
        let deadline = Instant::now() + timeout;
        loop {
            let seen = self.inner.catalog.shared.notifier.generation();
            if p.last_stable_offset() > offset {
                return Ok(true);
            }
            if !self.inner.catalog.shared.notifier.wait_past(seen, deadline) {
                return Ok(p.last_stable_offset() > offset);
            }
        }
    }

    /// The store-wide change notifier (consumers wait on it across partitions).
    pub fn wait_any(&self, seen_generation: u64, deadline: Instant) -> bool {
        self.inner.catalog.shared.notifier.wait_past(seen_generation, deadline)
    }

    /// A counter that moves whenever records become visible anywhere (for [`Store::wait_any`]).
    pub fn generation(&self) -> u64 {
        self.inner.catalog.shared.notifier.generation()
    }

    /// Make everything written so far durable and visible, in every mode.
    pub fn flush(&self) -> Result<()> {
        self.check_open()?;
        for p in self.inner.catalog.partitions() {
            p.flush()?;
        }
        Ok(())
    }

    /// Take the pages of memory-mapped sealed segments out of this process's
    /// resident set; returns the bytes of the maps released. Reads of sealed
    /// segments (`Scanner`, fetches) go through memory maps, and the pages
    /// they touched stay mapped, so the process's RSS grows with what was
    /// read. The pages stay in the page cache, which the kernel reclaims as
    /// usual; the next read maps each back in with a minor fault. For long
    /// running processes after a large read, while idle (`millrace serve`
    /// does it after a quiet period).
    pub fn release_mapped_pages(&self) -> u64 {
        self.sum_over_partitions(Partition::release_mapped_pages)
    }

    /// Drop the index entries of sealed segments from memory; returns the
    /// bytes freed. A sealed segment's sparse index (16 B per
    /// `index_interval_bytes` of log, 0.4 % of the data at the default 4 KiB)
    /// is loaded at open and kept for lookups, so it grows with the store;
    /// all of it is in the segment's index file, and the next lookup in a
    /// released segment reads it back (one read of the index file). For long
    /// running processes while idle (`millrace serve` does it after a quiet
    /// period, with [`Store::release_mapped_pages`]).
    pub fn release_sealed_indexes(&self) -> u64 {
        self.sum_over_partitions(Partition::release_sealed_indexes)
    }

    /// `f` of every partition of every topic (internal ones too), summed.
    fn sum_over_partitions(&self, f: impl Fn(&Partition) -> u64) -> u64 {
        self.inner.catalog.partitions().iter().map(|p| f(p)).sum()
    }

    /// Seal the active segment of a partition (tests and admin).
    pub fn roll(&self, topic: &str, partition: u32) -> Result<()> {
        self.partition(topic, partition)?.roll_now()
    }

    /// Delete sealed segments beyond retention everywhere. Returns segments deleted.
    pub fn enforce_retention(&self) -> Result<usize> {
        let now = now_ms();
        let mut deleted = 0;
        let topics = self.inner.catalog.topics();
        for topic in topics {
            for p in &topic.partitions {
                // The log start moves only under the commit lock (txn.rs, find_part).
                let _commits = self.coordinator().lock_commits();
                self.check_open()?;
                deleted += p.enforce_retention(now)?;
            }
        }
        Ok(deleted)
    }

    /// Make records below `offset` unreadable and delete segments wholly
    /// below it. Not for internal topics (`InternalName`): a DLQ is purged
    /// with `dlq_purge`, the others trim themselves.
    pub fn truncate_prefix(&self, topic: &str, partition: u32, offset: u64) -> Result<u64> {
        crate::names::refuse_internal_topic(topic)?;
        self.truncate_prefix_internal(topic, partition, offset)
    }

    /// [`Store::truncate_prefix`] of any topic, for the operations that own internal ones.
    pub(crate) fn truncate_prefix_internal(&self, topic: &str, partition: u32, offset: u64) -> Result<u64> {
        self.check_writable()?;
        let partition = self.partition(topic, partition)?;
        // The log start moves only under the commit lock (txn.rs, find_part).
        let _commits = self.coordinator().lock_commits();
        self.check_writable()?;
        partition.truncate_prefix(offset)
    }

    /// True after a failed write or fsync: every write fails until reopened.
    pub fn is_poisoned(&self) -> bool {
        self.inner.catalog.shared.is_poisoned()
    }

    /// What poisoned the store, where and when (`None` while it is writable).
    pub fn poison_cause(&self) -> Option<crate::PoisonCause> {
        self.inner.catalog.shared.poison.cause()
    }

    /// Bytes of segment and index files now.
    pub fn used_bytes(&self) -> u64 {
        self.inner.catalog.shared.used_bytes.load(Ordering::Acquire)
    }

    /// The engine's counters now.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.inner.catalog.shared.metrics.snapshot(
            self.used_bytes(),
            self.inner.catalog.options.quota_bytes,
            self.poison_cause(),
        )
    }

    /// Flush, stop the background thread and release the directory lock.
    ///
    /// Closes every handle of the store, not only this one: clones (and the
    /// `Producer`s, `Consumer`s, `Scanner`s and transactions holding one)
    /// answer `Error::Closed` from then on, so nothing writes to the
    /// directory once another process may own it. A write that began before
    /// `close` finishes (and is flushed) first; one that begins after it is
    /// refused. Closing again, or dropping the last clone, does nothing more.
    pub fn close(self) -> Result<()> {
        self.inner.shutdown()
    }

    /// Whether [`Store::close`] was called on this store (through any clone).
    pub fn is_closed(&self) -> bool {
        self.inner.catalog.shared.is_closed()
    }
}

impl StoreInner {
    fn shutdown(&self) -> Result<()> {
        *self.stop.0.lock() = true;
        self.stop.1.notify_all();
        if let Some(handle) = self.background.lock().take() {
            if handle.thread().id() != std::thread::current().id() {
                let _ = handle.join();
            }
        }
        {
            // Under the commit lock (producer registry writes, transaction
            // commits, log start moves) and the admin lock (topic create and
            // delete): those running finish first, later ones see `closed`.
            let _commits = self.coordinator.lock_commits();
            let _admin = self.catalog.lock_admin();
            if self.catalog.shared.closed.swap(true, Ordering::AcqRel) {
                // Closed before: flushed then, and the lock may be another
                // process's by now.
                return Ok(());
            }
        }
        let result = if self.catalog.shared.is_poisoned() {
            Ok(())
        } else {
            let mut result = Ok(());
            for p in self.catalog.partitions() {
                // Appends check `closed` under the writer lock: once it
                // was taken here, every append that got in is written.
                p.close_barrier();
                // Flushed first, so the snapshot is at a durable log end
                // and the next open replays nothing.
                // Then the preallocated zeros are cut, so that a closed
                // store's files end at their last batch.
                if let Err(e) = p
                    .flush()
                    .and_then(|()| p.snapshot_producers(true))
                    .and_then(|()| p.trim_preallocated())
                {
                    result = Err(e);
                }
            }
            result
        };
        self.catalog.unlock_dir();
        result
    }
}

impl Drop for StoreInner {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown() {
            tracing::error!(error = %e, "flush on close failed");
        }
    }
}

/// A batch written by [`Store::append_pending`] whose acknowledgement may
/// still be owed.
#[must_use = "an `Always` append is acknowledged only when `wait` returns Ok"]
#[derive(Debug)]
pub struct PendingAppend {
    /// Offset of the batch's first record.
    pub base_offset: u64,
    /// Offset just past the batch.
    pub next_offset: u64,
    /// A producer's retry: nothing was written, the offsets are the original's.
    pub duplicate: bool,
    /// `Some` while an fsync is owed (`Always`).
    partition: Option<Arc<Partition>>,
}

impl PendingAppend {
    /// Whether [`PendingAppend::wait`] may block (an `Always` topic).
    pub fn needs_wait(&self) -> bool {
        self.partition.is_some()
    }

    /// Block until the batch is acknowledged: under `Always` until an fsync
    /// covers it, leading or joining a group fsync. An error means it is not
    /// acknowledged (a failed fsync poisons the store, as for any append).
    pub fn wait(self) -> Result<ProducerAppend> {
        if let Some(partition) = &self.partition {
            partition.wait_durable(self.next_offset)?;
        }
        Ok(ProducerAppend {
            base_offset: self.base_offset,
            next_offset: self.next_offset,
            duplicate: self.duplicate,
        })
    }
}
