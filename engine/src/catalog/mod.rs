//! The catalog: the data directory as a set of topics and their partitions.
//! It opens the directory (marker, lock, `topics/`), loads every topic,
//! finds a partition by name and number, creates and deletes topic
//! directories atomically ([`topics`]) and runs the maintenance thread
//! ([`maintenance`]). It knows no feature: the facade (`store.rs`) tells it
//! which topic holds the committed offsets it opens first and hands it the
//! lock under which a log start may move.
//!
//! Layering: the catalog sits on the log (`Partition`, `Shared`) and the
//! storage seam; the features (producers, consumers, transactions, DLQ) sit
//! on it.

pub(crate) mod applying;
pub(crate) mod changes;
pub(crate) mod internal;
pub(crate) mod maintenance;
pub(crate) mod topics;

use crate::config::{Durability, StoreOptions, TopicConfig};
use crate::error::{CorruptionKind, DamagedScope, Error, Result};
use crate::io::checked::IoContext;
use crate::io::{read_all, write_atomic, Storage};
use crate::log::context::LogContext;
use crate::log::partition::Partition;
use crate::sync::Ordering;
use parking_lot::{Mutex, RwLock};
use std::any::Any;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

// The directory's names and its marker are the layout's (transitional
// re-exports of the names once defined here).
pub(crate) use crate::layout::{
    check_format, partition_dir_name, FormatMarker, CREATING_SUFFIX, DELETING_SUFFIX, FORMAT_FILE, TOPICS_DIR,
    TOPIC_META,
};
use crate::layout::{format_text, FORMAT_PLAIN};

/// Held while the store-wide commit lock is ([`Catalog::lock_commits`]).
pub(crate) type CommitGuard<'a> = parking_lot::MutexGuard<'a, ()>;

/// Committed offset floors: the offset each (topic, partition) continues at
/// or above when it opens (`Partition::open`).
pub(crate) type Floors = BTreeMap<(String, u32), u64>;

/// What the floors' topic gives at open: the committed-offset floors, and
/// the retention floors (per partition, the smallest position of the
/// mirrors, `__mirror.<name>` groups: retention by age or size deletes no
/// segment holding a record at or above it, `Partition::enforce_retention`).
#[derive(Debug, Default)]
pub(crate) struct OpenFloors {
    pub committed: Floors,
    pub retention: Floors,
}

/// The topic whose partition 0 gives the offset floors of every other
/// partition, opened first, and how to read them (the facade passes the
/// committed-offsets table's).
#[derive(Clone, Copy)]
pub(crate) struct FloorSource {
    pub topic: &'static str,
    pub read: fn(&Partition) -> OpenFloors,
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
    pub(crate) fn find_partition(&self, partition: u32) -> Option<&Arc<Partition>> {
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

/// The open data directory: its topics, the directory lock, and what every
/// partition shares.
pub(crate) struct Catalog {
    pub path: PathBuf,
    pub storage: Arc<dyn Storage>,
    pub options: StoreOptions,
    /// What every partition shares (poison, closed flag, quota, notifier,
    /// metrics, the producer seam), handed to `Partition::open`.
    pub shared: Arc<LogContext>,
    topics: RwLock<BTreeMap<String, Arc<Topic>>>,
    /// Topics whose `topic.meta` could not be read at open: every request on
    /// them answers `Error::Damaged`; `delete_topic` removes them.
    damaged_topics: RwLock<BTreeMap<String, Arc<Error>>>,
    /// Serialises topic creation and deletion.
    admin: Mutex<()>,
    /// The store-wide commit lock: transaction commits, producer epoch
    /// bumps, log-start moves (retention, truncation), topic deletion and
    /// close each run under it (taken before `admin` where both are held).
    commits: Mutex<()>,
    /// The commit answered at its commit point whose parts are still being
    /// made durable; `lock_commits` waits for it.
    applying: applying::Applying,
    /// The directory lock, released at close.
    lock: Mutex<Option<Box<dyn Any + Send + Sync>>>,
    /// Set to stop the maintenance thread.
    stop: maintenance::Stop,
    /// The maintenance thread, once started.
    background: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// The contract checks in force, per topic (contract/check.rs), here so
    /// that every append path (store, producers, transactions) reaches them.
    pub checks: Arc<crate::record_check::Checks>,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// The catalog as the store's handles hold it: the facade and every handle
/// that keeps the store open (producers, consumers, scanners, transactions)
/// hold an `Arc<OpenCatalog>`; the last one dropped closes the store on the
/// dropping thread ([`Catalog::shutdown`]). The maintenance thread holds the
/// catalog itself, weakly, so it never keeps the store open.
#[derive(Debug)]
pub(crate) struct OpenCatalog(Arc<Catalog>);

impl OpenCatalog {
    pub(crate) fn new(catalog: Arc<Catalog>) -> OpenCatalog {
        OpenCatalog(catalog)
    }

    /// The catalog itself (to start the maintenance thread over it).
    pub(crate) fn catalog(&self) -> &Arc<Catalog> {
        &self.0
    }
}

impl std::ops::Deref for OpenCatalog {
    type Target = Catalog;

    fn deref(&self) -> &Catalog {
        &self.0
    }
}

impl Drop for OpenCatalog {
    fn drop(&mut self) {
        if let Err(e) = self.0.shutdown() {
            tracing::error!(error = %e, "flush on close failed");
        }
    }
}

impl Catalog {
    /// Open the data directory at `path`: check or write its marker, take
    /// its lock, and load every topic (`floors.topic` first: every other
    /// partition continues at or above the offsets committed on it). A topic
    /// or partition that fails to open is confined to its scope
    /// ([`Catalog::damaged`]); an unfinished create or delete is finished.
    /// `make_context` builds what every partition shares (the store's
    /// marker among it) once the directory is locked and its marker checked, with whatever the caller builds
    /// beside it (the facade: the producer registry behind the context's
    /// producer seam), which is returned with the catalog.
    pub(crate) fn open<T>(
        path: PathBuf,
        options: StoreOptions,
        storage: Arc<dyn Storage>,
        make_context: impl FnOnce(FormatMarker) -> Result<(Arc<LogContext>, T)>,
        floors: FloorSource,
    ) -> Result<(Catalog, T)> {
        let format_path = path.join(FORMAT_FILE);
        crate::layout::prepare(storage.as_ref(), &path, &format_path)?;
        let lock = storage
            .lock_dir(&path)
            .at("lock data dir", &path)?
            .map_err(|pid| Error::Locked {
                path: path.clone(),
                pid,
            })?;
        let version = if storage.exists(&format_path) {
            let text = read_all(storage.as_ref(), &format_path, 256).at("read format", &format_path)?;
            check_format(&text, &format_path)?
        } else {
            write_atomic(storage.as_ref(), &format_path, format_text(FORMAT_PLAIN).as_bytes())
                .at("write format", &format_path)?;
            FORMAT_PLAIN
        };
        let marker = FormatMarker::new(storage.clone(), format_path, version);
        let topics_dir = path.join(TOPICS_DIR);
        // Directory entries seen now may exist only in the page cache (a
        // process crash before their directory fsync): make them durable.
        storage.sync_dir(&path).at("fsync dir", &path)?;
        if !storage.exists(&topics_dir) {
            storage
                .create_dir_all(&topics_dir)
                .at("create topics dir", &topics_dir)?;
            storage.sync_dir(&path).at("fsync dir", &path)?;
        }
        let (shared, beside) = make_context(marker)?;
        let mut topics = BTreeMap::new();
        let mut damaged_topics = BTreeMap::new();
        let mut names = storage.list_dir(&topics_dir).at("list topics", &topics_dir)?;
        // The floors' topic first: every other partition continues at or
        // above the offsets committed on it (`Partition::open`).
        names.sort_by_key(|name| name != floors.topic);
        let mut committed_floors = OpenFloors::default();
        storage.sync_dir(&topics_dir).at("fsync dir", &topics_dir)?;
        for name in names {
            let dir = topics_dir.join(&name);
            if name.ends_with(CREATING_SUFFIX) || name.ends_with(DELETING_SUFFIX) {
                // An interrupted create or delete: finish it by removing the directory.
                storage.remove_dir_all(&dir).at("remove unfinished topic", &dir)?;
                storage.sync_dir(&topics_dir).at("fsync dir", &topics_dir)?;
                continue;
            }
            storage.sync_dir(&dir).at("fsync dir", &dir)?;
            // Damage is confined to the topic (or partition, in load_topic)
            // that holds it: the rest of the store opens.
            match load_topic(&storage, &dir, &name, &options, &shared, &committed_floors) {
                Ok(topic) => {
                    if name == floors.topic {
                        // Partition 0 holds the commits; if it failed to open
                        // there is no floor (the open says so).
                        match topic.find_partition(0) {
                            Some(p) => committed_floors = (floors.read)(p),
                            None => tracing::warn!(
                                "committed offsets did not open: no partition continues at an offset floor"
                            ),
                        }
                    }
                    topics.insert(name, Arc::new(topic));
                }
                Err(e) if is_damage(&e) => {
                    if name == floors.topic {
                        tracing::warn!("committed offsets did not open: no partition continues at an offset floor");
                    }
                    tracing::error!(topic = %name, error = %e, "topic failed to open; the rest of the store opens without it");
                    damaged_topics.insert(name, Arc::new(e));
                }
                Err(e) => return Err(e),
            }
        }
        let catalog = Catalog {
            path,
            storage,
            options,
            shared,
            topics: RwLock::new(topics),
            damaged_topics: RwLock::new(damaged_topics),
            admin: Mutex::new(()),
            commits: Mutex::new(()),
            applying: applying::Applying::default(),
            lock: Mutex::new(Some(lock)),
            stop: Arc::new((Mutex::new(false), parking_lot::Condvar::new())),
            background: Mutex::new(None),
            checks: Arc::default(),
        };
        Ok((catalog, beside))
    }

    /// Start the maintenance thread (a store opened with `background`);
    /// `chore` is the facade's share of each maintenance round.
    pub(crate) fn start_maintenance(self: &Arc<Self>, chore: maintenance::Chore) -> Result<()> {
        let handle = maintenance::spawn(Arc::downgrade(self), self.stop.clone(), chore)?;
        *self.background.lock() = Some(handle);
        Ok(())
    }

    /// Flush, stop the maintenance thread and release the directory lock:
    /// [`crate::Store::close`], and the drop of the last [`OpenCatalog`]. Every later call answers `Error::Closed`; closing again
    /// does nothing more.
    pub(crate) fn shutdown(&self) -> Result<()> {
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
            let _commits = self.lock_commits();
            let _admin = self.lock_admin();
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
            for p in self.partitions() {
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
        self.unlock_dir();
        result
    }

    /// Every open topic, at this moment.
    pub(crate) fn topics(&self) -> Vec<Arc<Topic>> {
        self.topics.read().values().cloned().collect()
    }

    /// Every open partition, at this moment.
    pub(crate) fn partitions(&self) -> Vec<Arc<Partition>> {
        let topics = self.topics.read();
        topics
            .values()
            .flat_map(|topic| topic.partitions.iter().cloned())
            .collect()
    }

    /// Is any open topic flushed on an interval (the maintenance thread
    /// then ticks every 2 ms)?
    pub(crate) fn has_interval_topics(&self) -> bool {
        self.topics.read().values().any(|t| {
            t.partitions
                .first()
                .is_some_and(|p| matches!(p.durability(), Durability::Interval { .. }))
        })
    }

    /// Does a topic called `name` exist (and open)?
    pub(crate) fn contains(&self, name: &str) -> bool {
        self.topics.read().contains_key(name)
    }

    /// Every topic name, the store's own included.
    pub(crate) fn names(&self) -> Vec<String> {
        self.topics.read().keys().cloned().collect()
    }

    pub(crate) fn topic(&self, name: &str) -> Result<Arc<Topic>> {
        self.check_open()?;
        if let Some(topic) = self.topics.read().get(name) {
            return Ok(topic.clone());
        }
        match self.damaged_topics.read().get(name) {
            Some(error) => Err(Error::Damaged {
                scope: DamagedScope::Topic {
                    topic: name.to_string(),
                },
                source: error.clone(),
            }),
            None => Err(Error::TopicNotFound(name.to_string())),
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

    /// Partition 0 of internal topic `topic`, or `None` if the topic does not
    /// exist yet.
    pub(crate) fn internal_log(&self, topic: &str) -> Result<Option<Arc<Partition>>> {
        match self.partition(topic, 0) {
            Ok(p) => Ok(Some(p)),
            Err(Error::TopicNotFound(_) | Error::PartitionNotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Topics and partitions that failed to open, with the error each answers.
    pub(crate) fn damaged(&self) -> Vec<(DamagedScope, Arc<Error>)> {
        let mut damage: Vec<(DamagedScope, Arc<Error>)> = self
            .damaged_topics
            .read()
            .iter()
            .map(|(topic, error)| (DamagedScope::Topic { topic: topic.clone() }, error.clone()))
            .collect();
        for topic in self.topics.read().values() {
            for (partition, error) in &topic.damaged {
                let scope = DamagedScope::Partition {
                    topic: topic.name.clone(),
                    partition: *partition,
                };
                damage.push((scope, error.clone()));
            }
        }
        damage
    }

    /// A topic's effective durability: its own, or the store's default
    /// (the mode its partitions write under now).
    pub(crate) fn durability(&self, topic: &Topic) -> Durability {
        match topic.partitions.first() {
            Some(p) => p.durability(),
            None => topic.config.durability.unwrap_or(self.options.durability),
        }
    }

    pub(crate) fn check_writable(&self) -> Result<()> {
        self.shared.check_writable()
    }

    pub(crate) fn check_open(&self) -> Result<()> {
        if self.shared.is_closed() {
            return Err(Error::Closed);
        }
        Ok(())
    }

    /// Serialises topic creation, deletion and close.
    pub(crate) fn lock_admin(&self) -> parking_lot::MutexGuard<'_, ()> {
        self.admin.lock()
    }

    /// The store-wide commit lock (see the field): a transaction commit
    /// never applies a part to a range a log-start move is deleting, and a
    /// transaction of a fenced epoch either committed before the bump or
    /// fails with `Fenced`.
    /// Taken, it waits for the parts of a commit answered at its commit
    /// point to be applied ([`applying`]): under it, every commit record in
    /// `__transactions` is applied.
    pub(crate) fn lock_commits(&self) -> CommitGuard<'_> {
        let guard = self.commits.lock();
        self.applying.wait_idle();
        guard
    }

    /// The commit lock without waiting for the parts of the commit before
    /// (`Transaction::commit_at_commit_point`, which writes its commit
    /// record while they are synced and waits for them before its own parts).
    pub(crate) fn lock_commits_overlapping(&self) -> CommitGuard<'_> {
        self.commits.lock()
    }

    /// Move `__transactions`' log start past every commit record, under the
    /// commit lock (which [`Catalog::lock_commits`] takes only once every
    /// record is applied), so that open never applies one again: before a
    /// topic is deleted (a part must not land in a topic created later under
    /// the same name) and before a group's offsets are deleted (an offset
    /// commit must not bring the group back). Not on a poisoned store, where
    /// the last records may be partly applied: the next open finishes them
    /// first. Returns the new log start if it moved.
    pub(crate) fn forget_applied_commits(&self, _commits: &CommitGuard<'_>) -> Result<Option<u64>> {
        if self.shared.is_poisoned() {
            return Ok(None);
        }
        // No log, or one that failed to open (damaged): nothing to move, and
        // the deletion goes ahead, as a topic deletion always did. Its
        // pending records wait for the log's repair (`recover`), and the
        // first open after it may still apply their offset commits.
        let Ok(log) = self.partition(crate::names::TRANSACTIONS_TOPIC, 0) else {
            return Ok(None);
        };
        let end = log.high_watermark();
        if log.start_offset() >= end {
            return Ok(None);
        }
        log.truncate_prefix(end)?;
        Ok(Some(end))
    }

    /// The commit whose parts are applied outside the commit lock.
    pub(crate) fn applying(&self) -> &applying::Applying {
        &self.applying
    }

    /// Release the directory lock (at close, after the last flush).
    pub(crate) fn unlock_dir(&self) {
        self.lock.lock().take();
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

fn load_topic(
    storage: &Arc<dyn Storage>,
    dir: &Path,
    name: &str,
    options: &StoreOptions,
    shared: &Arc<LogContext>,
    floors: &OpenFloors,
) -> Result<Topic> {
    let meta_path = dir.join(TOPIC_META);
    let bytes = read_all(storage.as_ref(), &meta_path, 64 * 1024).at("read topic meta", &meta_path)?;
    let config = TopicConfig::decode(&bytes, &meta_path)?;
    // A partition directory past the count: the file is wrong (a plausible
    // value with a valid checksum); opening with fewer partitions would hide
    // records without a word.
    for entry in storage.list_dir(dir).at("list topic", dir)? {
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
    // What the topic's `quota_bytes` counts, shared by its partitions.
    let topic_bytes = Arc::new(crate::sync::AtomicU64::new(0));
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
            topic_bytes.clone(),
            floors.committed.get(&(name.to_string(), p)).copied().unwrap_or(0),
        ) {
            Ok(partition) => {
                partition.set_retention_floor(floors.retention.get(&(name.to_string(), p)).copied());
                partitions.push(Arc::new(partition));
            }
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
