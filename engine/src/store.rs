//! The store: a locked data directory of topics, and the background thread
//! that runs interval flushes, age-based rolls and retention.

use crate::batch::{ProducerStamp, Record};
use crate::config::{Durability, StoreOptions, TopicConfig};
use crate::error::{CorruptionKind, DamagedScope, Error, Result};
use crate::metrics::{Metrics, MetricsSnapshot};
use crate::notify::Notifier;
use crate::clock::now_ms;
use crate::partition::{AppendInfo, Isolation, Partition, PartitionInfo, ReadBatch, ReadOptions, ReadResult};
use crate::producer::ProducerAppend;
use crate::producer_registry::ProducerRegistry;
use crate::storage::{read_all, write_atomic, FsStorage, Storage};
use crate::sync::{AtomicU64, Ordering};
use parking_lot::{Condvar, Mutex, RwLock};
use std::any::Any;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const FORMAT_FILE: &str = "MILLRACE";
const FORMAT_PREFIX: &str = "millrace-store-format ";
/// The store format this build reads and writes (design/format.md).
pub(crate) const FORMAT_VERSION: u32 = 1;
const FORMAT_TEXT: &str = "millrace-store-format 1\n";
const TOPICS_DIR: &str = "topics";
const TOPIC_META: &str = "topic.meta";
const CREATING_SUFFIX: &str = ".creating";
const DELETING_SUFFIX: &str = ".deleting";

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

/// State shared by every partition of a store.
#[derive(Debug)]
pub(crate) struct Shared {
    poison: crate::poison::Poison,
    /// Set by [`Store::close`] (under the commit and admin locks, before it
    /// takes each partition's writer lock): from then on every handle answers
    /// `Error::Closed` and nothing writes to the directory, whose lock is
    /// released.
    closed: crate::sync::AtomicBool,
    pub used_bytes: AtomicU64,
    quota_bytes: Option<u64>,
    pub notifier: Notifier,
    pub metrics: Metrics,
    /// Producer ids and epochs (producer_registry.rs).
    pub producers: ProducerRegistry,
    /// `StoreOptions::group_commit_spin`.
    pub group_commit_spin: std::time::Duration,
}

impl Shared {
    /// Poison the store because of `cause` (the first one is kept: see poison.rs).
    pub fn poison(&self, cause: &Error) {
        self.poison.set(cause);
    }
    pub fn is_poisoned(&self) -> bool {
        self.poison.is_set()
    }
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
    /// `Closed` after [`Store::close`], `Poisoned` after a failed write, else Ok.
    pub fn check_writable(&self) -> Result<()> {
        if self.is_closed() {
            return Err(Error::Closed);
        }
        if self.is_poisoned() {
            return Err(Error::Poisoned);
        }
        Ok(())
    }
    /// Reserve quota for `bytes` about to be written.
    pub fn reserve(&self, bytes: u64) -> Result<()> {
        let used = self.used_bytes.fetch_add(bytes, Ordering::AcqRel);
        if let Some(quota) = self.quota_bytes {
            if used + bytes > quota {
                self.used_bytes.fetch_sub(bytes, Ordering::AcqRel);
                self.metrics.quota_rejections.fetch_add(1, Ordering::Relaxed);
                return Err(Error::QuotaExceeded {
                    quota_bytes: quota,
                    used_bytes: used,
                    requested_bytes: bytes,
                });
            }
        }
        Ok(())
    }
    pub fn release(&self, bytes: u64) {
        self.used_bytes.fetch_sub(bytes, Ordering::AcqRel);
    }
}

#[derive(Debug)]
pub(crate) struct Topic {
    pub name: String,
    pub config: TopicConfig,
    pub dir: PathBuf,
    /// The partitions that opened, sorted by id (all of them unless
    /// `damaged` has entries).
    pub partitions: Vec<Arc<Partition>>,
    /// Partitions that failed to open, with the error their open returned.
    pub damaged: BTreeMap<u32, Arc<Error>>,
}

impl Topic {
    fn find_partition(&self, partition: u32) -> Option<&Arc<Partition>> {
        match self.partitions.get(partition as usize) {
            Some(p) if p.id == partition => Some(p),
            _ => self
                .partitions
                .binary_search_by_key(&partition, |p| p.id)
                .ok()
                .and_then(|i| self.partitions.get(i)),
        }
    }
}

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
    path: PathBuf,
    storage: Arc<dyn Storage>,
    options: StoreOptions,
    shared: Arc<Shared>,
    topics: RwLock<BTreeMap<String, Arc<Topic>>>,
    /// Topics whose `topic.meta` could not be read at open: every request on
    /// them answers `Error::Damaged`; `delete_topic` removes them.
    damaged_topics: RwLock<BTreeMap<String, Arc<Error>>>,
    /// Serialises topic creation and deletion.
    admin: Mutex<()>,
    /// Shared with the maintenance thread, which must not hold the store
    /// itself while it sleeps (the last `Store` dropped must close at once).
    stop: Arc<(Mutex<bool>, Condvar)>,
    background: Mutex<Option<JoinHandle<()>>>,
    lock: Mutex<Option<Box<dyn Any + Send + Sync>>>,
    /// Transaction commits (txn.rs).
    coordinator: crate::txn::Coordinator,
    /// Failure counts for the DLQ (dlq.rs).
    attempts: crate::dlq::AttemptTable,
    /// Committed consumer offsets (offset_table.rs).
    offsets: crate::offset_table::OffsetTable,
}

impl std::fmt::Debug for StoreInner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
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
            let storage = Arc::new(crate::storage::ReadOnlyStorage::default());
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
        let format_path = path.join(FORMAT_FILE);
        crate::data_dir::prepare(storage.as_ref(), &path, &format_path)?;
        let lock = storage
            .lock_dir(&path)
            .map_err(|e| Error::io("lock data dir", &path, e))?
            .map_err(|pid| Error::Locked {
                path: path.clone(),
                pid,
            })?;
        if storage.exists(&format_path) {
            let text =
                read_all(storage.as_ref(), &format_path, 256).map_err(|e| Error::io("read format", &format_path, e))?;
            check_format(&text, &format_path)?;
        } else {
            write_atomic(storage.as_ref(), &format_path, FORMAT_TEXT.as_bytes())
                .map_err(|e| Error::io("write format", &format_path, e))?;
        }
        let topics_dir = path.join(TOPICS_DIR);
        // Directory entries seen now may exist only in the page cache (a
        // process crash before their directory fsync): make them durable.
        storage.sync_dir(&path).map_err(|e| Error::io("fsync dir", &path, e))?;
        if !storage.exists(&topics_dir) {
            storage
                .create_dir_all(&topics_dir)
                .map_err(|e| Error::io("create topics dir", &topics_dir, e))?;
            storage.sync_dir(&path).map_err(|e| Error::io("fsync dir", &path, e))?;
        }
        let shared = Arc::new(Shared {
            poison: crate::poison::Poison::new(&storage, &path),
            closed: crate::sync::AtomicBool::new(false),
            used_bytes: AtomicU64::new(0),
            quota_bytes: options.quota_bytes,
            notifier: Notifier::new(),
            metrics: Metrics::default(),
            producers: ProducerRegistry::open(storage.clone(), &path, &options)?,
            group_commit_spin: options.group_commit_spin,
        });
        let mut topics = BTreeMap::new();
        let mut damaged_topics = BTreeMap::new();
        let mut names = storage
            .list_dir(&topics_dir)
            .map_err(|e| Error::io("list topics", &topics_dir, e))?;
        // `__offsets` first: every other partition continues at or above
        // the offsets committed on it (`Partition::open`).
        names.sort_by_key(|name| name != crate::offset_table::OFFSETS_TOPIC);
        let mut floors = BTreeMap::new();
        storage
            .sync_dir(&topics_dir)
            .map_err(|e| Error::io("fsync dir", &topics_dir, e))?;
        for name in names {
            let dir = topics_dir.join(&name);
            if name.ends_with(CREATING_SUFFIX) || name.ends_with(DELETING_SUFFIX) {
                // An interrupted create or delete: finish it by removing the directory.
                storage
                    .remove_dir_all(&dir)
                    .map_err(|e| Error::io("remove unfinished topic", &dir, e))?;
                storage
                    .sync_dir(&topics_dir)
                    .map_err(|e| Error::io("fsync dir", &topics_dir, e))?;
                continue;
            }
            storage.sync_dir(&dir).map_err(|e| Error::io("fsync dir", &dir, e))?;
            // Damage is confined to the topic (or partition, in load_topic)
            // that holds it: the rest of the store opens.
            match load_topic(&storage, &dir, &name, &options, &shared, &floors) {
                Ok(topic) => {
                    if name == crate::offset_table::OFFSETS_TOPIC {
                        // Partition 0 holds the commits; if it failed to open
                        // there is no floor (the open says so).
                        match topic.find_partition(0) {
                            Some(p) => floors = crate::offset_table::committed_floors(p),
                            None => tracing::warn!(
                                "committed offsets did not open: no partition continues at an offset floor"
                            ),
                        }
                    }
                    topics.insert(name, Arc::new(topic));
                }
                Err(e) if is_damage(&e) => {
                    if name == crate::offset_table::OFFSETS_TOPIC {
                        tracing::warn!("committed offsets did not open: no partition continues at an offset floor");
                    }
                    tracing::error!(topic = %name, error = %e, "topic failed to open; the rest of the store opens without it");
                    damaged_topics.insert(name, Arc::new(e));
                }
                Err(e) => return Err(e),
            }
        }
        crate::producer::fold_activity(&shared, topics.values());
        let inner = Arc::new(StoreInner {
            path,
            storage,
            options,
            shared,
            topics: RwLock::new(topics),
            damaged_topics: RwLock::new(damaged_topics),
            admin: Mutex::new(()),
            stop: Arc::new((Mutex::new(false), Condvar::new())),
            background: Mutex::new(None),
            lock: Mutex::new(Some(lock)),
            coordinator: crate::txn::Coordinator::default(),
            attempts: crate::dlq::AttemptTable::default(),
            offsets: crate::offset_table::OffsetTable::default(),
        });
        // Finish a transaction whose commit point was reached before a crash,
        // before anyone can read.
        crate::txn::recover(&Store { inner: inner.clone() })?;
        inner.shared.poison.archive_earlier();
        if inner.options.background {
            let weak = Arc::downgrade(&inner);
            let stop = inner.stop.clone();
            let handle = std::thread::Builder::new()
                .name("millrace-maintenance".into())
                .spawn(move || maintenance_loop(weak, stop))
                .map_err(|e| Error::io("spawn maintenance thread", PathBuf::new(), e))?;
            *inner.background.lock() = Some(handle);
        }
        Ok(Store { inner })
    }

    /// True for a [`Store::open_read_only`] of a directory that another
    /// process held open for writing: the view is its durable data as it was
    /// at the open, and does not follow the writer's later appends.
    pub fn is_live_view(&self) -> bool {
        self.inner.storage.is_live_view()
    }

    /// The data directory.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The options it was opened with.
    pub fn options(&self) -> &StoreOptions {
        &self.inner.options
    }

    #[allow(dead_code, reason = "used by internal-topic modules")]
    pub(crate) fn storage(&self) -> &Arc<dyn Storage> {
        &self.inner.storage
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.inner.shared
    }

    pub(crate) fn coordinator(&self) -> &crate::txn::Coordinator {
        &self.inner.coordinator
    }

    pub(crate) fn inner_metrics(&self) -> &Metrics {
        &self.inner.shared.metrics
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
            self.inner.options.transaction_timeout,
        ))
    }

    /// `Fenced` if a newer epoch of the producer exists, `UnknownProducer` if none.
    pub(crate) fn check_producer_epoch(&self, producer_id: u64, epoch: u16) -> Result<()> {
        match self.inner.shared.producers.epochs.current_epoch(producer_id) {
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
            if self.inner.topics.read().contains_key(name) {
                return Err(Error::TopicExists(name.to_string()));
            }
            // Left by a delete that crashed before forgetting them (or by a
            // version that did not): a new topic inherits nothing. Before the
            // admin lock: the offset table may create `__offsets` under it.
            self.forget_topic_dependents(name)?;
        }
        let _admin = self.inner.admin.lock();
        if self.inner.topics.read().contains_key(name) {
            return Err(Error::TopicExists(name.to_string()));
        }
        if let Some(error) = self.inner.damaged_topics.read().get(name) {
            return Err(Error::Damaged {
                scope: DamagedScope::Topic {
                    topic: name.to_string(),
                },
                source: error.clone(),
            });
        }
        self.check_writable()?;
        let storage = self.inner.storage.as_ref();
        let topics_dir = self.inner.path.join(TOPICS_DIR);
        let staging = topics_dir.join(format!("{name}{CREATING_SUFFIX}"));
        let io = |op, path: &Path| {
            let path = path.to_path_buf();
            move |e| Error::io(op, path, e)
        };
        if storage.exists(&staging) {
            storage
                .remove_dir_all(&staging)
                .map_err(io("remove staging", &staging))?;
        }
        storage
            .create_dir_all(&staging)
            .map_err(io("create topic dir", &staging))?;
        for p in 0..config.partitions {
            Partition::create_files(storage, &staging.join(partition_dir_name(p)))?;
        }
        let meta = staging.join(TOPIC_META);
        write_atomic(storage, &meta, &config.encode()).map_err(io("write topic meta", &meta))?;
        let dir = topics_dir.join(name);
        storage.rename(&staging, &dir).map_err(io("rename topic dir", &dir))?;
        storage.sync_dir(&topics_dir).map_err(io("fsync dir", &topics_dir))?;
        let no_floors = BTreeMap::new();
        let topic = load_topic(
            &self.inner.storage,
            &dir,
            name,
            &self.inner.options,
            &self.inner.shared,
            &no_floors,
        )?;
        self.inner.topics.write().insert(name.to_string(), Arc::new(topic));
        Ok(())
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
        if self.inner.topics.read().contains_key(&dlq) {
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
        let _admin = self.inner.admin.lock();
        let topics_dir = self.inner.path.join(TOPICS_DIR);
        let removed = self.inner.topics.write().remove(name);
        let (dir, partitions) = match removed {
            Some(topic) => (topic.dir.clone(), topic.partitions.clone()),
            // A topic that failed to open can still be deleted (the way out
            // for damage an operator does not want to repair).
            None => match self.inner.damaged_topics.write().remove(name) {
                Some(_) => (topics_dir.join(name), Vec::new()),
                None => return Err(Error::TopicNotFound(name.to_string())),
            },
        };
        let storage = self.inner.storage.as_ref();
        let doomed = topics_dir.join(format!("{name}{DELETING_SUFFIX}"));
        storage
            .rename(&dir, &doomed)
            .map_err(|e| Error::io("rename topic dir", &doomed, e))?;
        storage
            .sync_dir(&topics_dir)
            .map_err(|e| Error::io("fsync dir", &topics_dir, e))?;
        storage
            .remove_dir_all(&doomed)
            .map_err(|e| Error::io("remove topic dir", &doomed, e))?;
        storage
            .sync_dir(&topics_dir)
            .map_err(|e| Error::io("fsync dir", &topics_dir, e))?;
        for p in &partitions {
            self.inner.shared.release(p.info().bytes);
        }
        Ok(())
    }

    /// Names of user topics (internal `__` topics are listed by `list_all_topics`).
    pub fn list_topics(&self) -> Vec<String> {
        self.inner
            .topics
            .read()
            .keys()
            .filter(|n| !crate::names::is_internal(n))
            .cloned()
            .collect()
    }

    /// Every topic, the store's own (`__offsets`, `__dlq.*`, ...) included.
    pub fn list_all_topics(&self) -> Vec<String> {
        self.inner.topics.read().keys().cloned().collect()
    }

    /// Topics and partitions that failed to open (the rest of the store
    /// did), with the error each answers; empty for an undamaged store.
    pub fn damaged(&self) -> Vec<Damage> {
        let mut damage: Vec<Damage> = self
            .inner
            .damaged_topics
            .read()
            .iter()
            .map(|(topic, error)| Damage {
                scope: DamagedScope::Topic { topic: topic.clone() },
                error: error.clone(),
            })
            .collect();
        for topic in self.inner.topics.read().values() {
            for (partition, error) in &topic.damaged {
                damage.push(Damage {
                    scope: DamagedScope::Partition {
                        topic: topic.name.clone(),
                        partition: *partition,
                    },
                    error: error.clone(),
                });
            }
        }
        damage
    }

    pub(crate) fn topic(&self, name: &str) -> Result<Arc<Topic>> {
        self.check_open()?;
        if let Some(topic) = self.inner.topics.read().get(name) {
            return Ok(topic.clone());
        }
        match self.inner.damaged_topics.read().get(name) {
            Some(error) => Err(Error::Damaged {
                scope: DamagedScope::Topic {
                    topic: name.to_string(),
                },
                source: error.clone(),
            }),
            None => Err(Error::TopicNotFound(name.to_string())),
        }
    }

    /// Partition 0 of an internal topic, `None` while the topic does not
    /// exist yet. A damaged one is an error, never read as empty: an empty
    /// read would forget committed offsets, attempts or dead letters.
    pub(crate) fn internal_log(&self, topic: &str) -> Result<Option<Arc<Partition>>> {
        match self.partition(topic, 0) {
            Ok(p) => Ok(Some(p)),
            Err(Error::TopicNotFound(_) | Error::PartitionNotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub(crate) fn partition(&self, topic: &str, partition: u32) -> Result<Arc<Partition>> {
        let t = self.topic(topic)?;
        if let Some(p) = t.find_partition(partition) {
            return Ok(p.clone());
        }
        match t.damaged.get(&partition) {
            Some(error) => Err(Error::Damaged {
                scope: DamagedScope::Partition {
                    topic: topic.to_string(),
                    partition,
                },
                source: error.clone(),
            }),
            None => Err(Error::PartitionNotFound {
                topic: topic.to_string(),
                partition,
            }),
        }
    }

    /// A topic's configuration and per-partition numbers.
    pub fn describe_topic(&self, name: &str) -> Result<TopicDescription> {
        let topic = self.topic(name)?;
        Ok(TopicDescription {
            name: topic.name.clone(),
            config: topic.config.clone(),
            durability: topic.config.durability.unwrap_or(self.inner.options.durability),
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
        self.inner.shared.check_writable()
    }

    /// `Closed` after [`Store::close`].
    pub(crate) fn check_open(&self) -> Result<()> {
        if self.inner.shared.is_closed() {
            return Err(Error::Closed);
        }
        Ok(())
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
        Ok(self
            .topic(topic)?
            .config
            .durability
            .unwrap_or(self.inner.options.durability))
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
            let seen = self.inner.shared.notifier.generation();
            if p.last_stable_offset() > offset {
                return Ok(true);
            }
            if !self.inner.shared.notifier.wait_past(seen, deadline) {
                return Ok(p.last_stable_offset() > offset);
            }
        }
    }

    /// The store-wide change notifier (consumers wait on it across partitions).
    pub fn wait_any(&self, seen_generation: u64, deadline: Instant) -> bool {
        self.inner.shared.notifier.wait_past(seen_generation, deadline)
    }

    /// A counter that moves whenever records become visible anywhere (for [`Store::wait_any`]).
    pub fn generation(&self) -> u64 {
        self.inner.shared.notifier.generation()
    }

    /// Make everything written so far durable and visible, in every mode.
    pub fn flush(&self) -> Result<()> {
        self.check_open()?;
        for topic in self.inner.topics.read().values() {
            for p in &topic.partitions {
                p.flush()?;
            }
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
        let topics: Vec<Arc<Topic>> = self.inner.topics.read().values().cloned().collect();
        topics
            .iter()
            .flat_map(|topic| topic.partitions.iter())
            .map(|p| f(p))
            .sum()
    }

    /// Seal the active segment of a partition (tests and admin).
    pub fn roll(&self, topic: &str, partition: u32) -> Result<()> {
        self.partition(topic, partition)?.roll_now()
    }

    /// Delete sealed segments beyond retention everywhere. Returns segments deleted.
    pub fn enforce_retention(&self) -> Result<usize> {
        let now = now_ms();
        let mut deleted = 0;
        let topics: Vec<Arc<Topic>> = self.inner.topics.read().values().cloned().collect();
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
        self.inner.shared.is_poisoned()
    }

    /// What poisoned the store in an earlier run, as recorded then (best
    /// effort: a full device may have kept it from being written), until a
    /// writable open archives the record: this open's, if it is writable.
    pub fn earlier_poison(&self) -> Option<crate::PoisonCause> {
        self.inner.shared.poison.earlier()
    }

    /// What poisoned the store, where and when (`None` while it is writable).
    pub fn poison_cause(&self) -> Option<crate::PoisonCause> {
        self.inner.shared.poison.cause()
    }

    /// Bytes of segment and index files now.
    pub fn used_bytes(&self) -> u64 {
        self.inner.shared.used_bytes.load(Ordering::Acquire)
    }

    /// The engine's counters now.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.inner
            .shared
            .metrics
            .snapshot(self.used_bytes(), self.inner.options.quota_bytes, self.poison_cause())
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
        self.inner.shared.is_closed()
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
            let _admin = self.admin.lock();
            if self.shared.closed.swap(true, Ordering::AcqRel) {
                // Closed before: flushed then, and the lock may be another
                // process's by now.
                return Ok(());
            }
        }
        let result = if self.shared.is_poisoned() {
            Ok(())
        } else {
            let mut result = Ok(());
            for topic in self.topics.read().values() {
                for p in &topic.partitions {
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
            }
            result
        };
        self.lock.lock().take();
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

fn maintenance_loop(weak: Weak<StoreInner>, stop: Arc<(Mutex<bool>, Condvar)>) {
    let mut last_maintenance = Instant::now();
    loop {
        let tick = {
            let Some(inner) = weak.upgrade() else { return };
            let interval_topics = inner.topics.read().values().any(|t| {
                t.partitions
                    .first()
                    .is_some_and(|p| matches!(p.durability, Durability::Interval { .. }))
            });
            if interval_topics {
                Duration::from_millis(2)
            } else {
                inner.options.maintenance_interval.min(Duration::from_millis(100))
            }
        };
        {
            let mut stopped = stop.0.lock();
            if *stopped {
                return;
            }
            stop.1.wait_for(&mut stopped, tick);
            if *stopped {
                return;
            }
        }
        let Some(inner) = weak.upgrade() else { return };
        if inner.shared.is_poisoned() {
            continue;
        }
        let now = Instant::now();
        let topics: Vec<Arc<Topic>> = inner.topics.read().values().cloned().collect();
        let maintenance_due = now.duration_since(last_maintenance) >= inner.options.maintenance_interval;
        for topic in &topics {
            for p in &topic.partitions {
                if let Err(e) = p.flush_if_due(now) {
                    tracing::error!(topic = %topic.name, partition = p.id, error = %e, "interval flush failed");
                }
                if maintenance_due {
                    let wall = now_ms();
                    if let Err(e) = p
                        .roll_if_old(wall)
                        .and_then(|()| {
                            let _commits = inner.coordinator.lock_commits();
                            p.enforce_retention(wall).map(|_| ())
                        })
                        .and_then(|()| p.snapshot_producers(false))
                    {
                        tracing::error!(topic = %topic.name, partition = p.id, error = %e, "maintenance failed");
                    }
                }
            }
        }
        if maintenance_due {
            let with_state: std::collections::HashSet<u64> = topics
                .iter()
                .flat_map(|topic| topic.partitions.iter())
                .flat_map(|p| p.producer_activity())
                .map(|(id, _)| id)
                .collect();
            let forgotten = inner
                .shared
                .producers
                .epochs
                .forget_expired(now_ms(), |id| with_state.contains(&id));
            if forgotten > 0 {
                tracing::info!(forgotten, "expired producers without batches in the log forgotten");
            }
            last_maintenance = now;
        }
    }
}

/// Is an open error damage of the files of one topic or partition (confined
/// to it), rather than a failing device or system (EIO, ENOSPC, EMFILE: the
/// whole open fails, as for any other I/O error)? A missing file is damage.
fn is_damage(error: &Error) -> bool {
    match error {
        Error::Corruption { .. } => true,
        Error::Io { source, .. } => source.kind() == std::io::ErrorKind::NotFound,
        _ => false,
    }
}

/// Accept the `MILLRACE` marker of a store this build can open: a newer
/// format asks for an upgrade, anything else that is not the marker is a
/// damaged file (`millrace repair` rewrites it).
pub(crate) fn check_format(text: &[u8], path: &Path) -> Result<()> {
    if text == FORMAT_TEXT.as_bytes() {
        return Ok(());
    }
    let version = std::str::from_utf8(text)
        .ok()
        .and_then(|t| t.strip_prefix(FORMAT_PREFIX))
        .and_then(|t| t.strip_suffix('\n'))
        .and_then(|v| v.parse::<u32>().ok().filter(|_| v.bytes().all(|b| b.is_ascii_digit())));
    match version {
        Some(v) if v > FORMAT_VERSION => Err(Error::FormatTooNew {
            path: path.to_path_buf(),
            found: v.to_string(),
            supported: FORMAT_VERSION,
        }),
        _ => Err(Error::corruption(path, 0, CorruptionKind::BadMetadata)),
    }
}

/// The exact bytes of the `MILLRACE` marker this build writes.
pub(crate) fn format_text() -> &'static str {
    FORMAT_TEXT
}

pub(crate) fn partition_dir_name(partition: u32) -> String {
    format!("{partition:05}")
}

fn load_topic(
    storage: &Arc<dyn Storage>,
    dir: &Path,
    name: &str,
    options: &StoreOptions,
    shared: &Arc<Shared>,
    committed_floors: &BTreeMap<(String, u32), u64>,
) -> Result<Topic> {
    let meta_path = dir.join(TOPIC_META);
    let bytes =
        read_all(storage.as_ref(), &meta_path, 64 * 1024).map_err(|e| Error::io("read topic meta", &meta_path, e))?;
    let config = TopicConfig::decode(&bytes, &meta_path)?;
    // A partition directory past the count: the file is wrong (a plausible
    // value with a valid checksum); opening with fewer partitions would hide
    // records without a word.
    for entry in storage.list_dir(dir).map_err(|e| Error::io("list topic", dir, e))? {
        let partition = (entry.len() == 5 && entry.bytes().all(|b| b.is_ascii_digit()))
            .then(|| entry.parse::<u32>().ok())
            .flatten();
        if partition.is_some_and(|p| p >= config.partitions) {
            return Err(Error::corruption(&meta_path, 0, CorruptionKind::BadMetadata));
        }
    }
    let durability = config.durability.unwrap_or(options.durability);
    let mut partitions = Vec::with_capacity(config.partitions as usize);
    let mut damaged = BTreeMap::new();
    for p in 0..config.partitions {
        let pdir = dir.join(partition_dir_name(p));
        match Partition::open(
            storage.clone(),
            pdir,
            name,
            p,
            config.clone(),
            durability,
            options.recovery,
            shared.clone(),
            committed_floors.get(&(name.to_string(), p)).copied().unwrap_or(0),
        ) {
            Ok(partition) => partitions.push(Arc::new(partition)),
            // Confined to this partition: the topic's other partitions open.
            Err(e) if is_damage(&e) => {
                tracing::error!(topic = %name, partition = p, error = %e, "partition failed to open; the rest of the store opens without it");
                damaged.insert(p, Arc::new(e));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(Topic {
        name: name.to_string(),
        config,
        dir: dir.to_path_buf(),
        partitions,
        damaged,
    })
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
