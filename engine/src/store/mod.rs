//! The facade: `Store` opens the data directory (the catalog, catalog/),
//! and is the one type that knows every feature: it holds their state
//! (producer registry, transaction coordinator, DLQ attempts, offsets
//! table), recovers transactions at open, forwards appends and reads to the
//! partition the catalog finds, and hands out each feature's handle
//! (`producers()`, `consumer_groups()`, `transactions()`, `dlq(topic)`),
//! which takes the catalog and that feature's state, never `Store`.
//! `Store`'s methods for a feature are one-line forwards to its handle, in
//! `store/<feature>.rs`.

pub(crate) mod cluster_id;
mod contracts;
mod data;
mod groups;
mod pipeline;
mod producers;
mod schemas;
mod topics;

pub use data::{PendingAppend, ScanMarks, WaitDurable};
pub use topics::{Damage, TopicDescription, EMBEDDED_ACTOR};

use crate::catalog::{Catalog, FloorSource, OpenCatalog, Topic, FORMAT_FILE};
use crate::clock::now_ms;
use crate::config::{Durability, StoreOptions, TopicConfig};
use crate::error::{DamagedScope, Error, Result};
use crate::io::{FsStorage, Storage};
use crate::log::batch::{ProducerStamp, Record};
use crate::log::context::LogContext;
use crate::log::partition::{AppendInfo, Isolation, Partition, PartitionInfo, ReadBatch, ReadOptions, ReadResult};
use crate::metrics::{Metrics, MetricsSnapshot};
use crate::notify::Notifier;
use crate::producer::registry::ProducerRegistry;
use crate::producer::ProducerAppend;
use crate::sync::{AtomicU64, Ordering};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How many times [`Store::open_read_only`] opens a store a writer holds
/// before it returns the error (a race with the writer does not repeat; damage does).
pub const READ_ONLY_LIVE_ATTEMPTS: u32 = 3;

/// Largest `StoreOptions::group_commit_spin` accepted.
pub const GROUP_COMMIT_SPIN_MAX: std::time::Duration = std::time::Duration::from_millis(10);

struct StoreInner {
    /// The data directory: topics, partitions, the directory lock, the
    /// commit lock and the maintenance thread. The last holder (this, or a
    /// handle that keeps the store open) closes the store when dropped.
    catalog: Arc<OpenCatalog>,
    /// Producer ids, epochs and owners (producer/registry.rs), also behind
    /// the log context's producer seam.
    producers: Arc<ProducerRegistry>,
    /// Transaction commits (pipeline/txn).
    coordinator: Arc<crate::pipeline::txn::Coordinator>,
    /// Failure counts for the DLQ (pipeline/dlq).
    attempts: Arc<crate::pipeline::dlq::AttemptTable>,
    /// Committed consumer offsets (consumer/offsets.rs).
    offsets: Arc<crate::consumer::offsets::OffsetTable>,
    /// The contract checks in force, per topic (contract/check.rs): the
    /// append paths ask them, the contracts feature installs them.
    checks: Arc<crate::contract::check::Checks>,
    /// The contracts in force and the ones that failed to load (contract/contracts.rs).
    contracts: Arc<crate::contract::contracts::ContractState>,
    /// The schema registry's state (schema/), loaded from `__schemas` on first use.
    schemas: Arc<crate::schema::RegistryTable>,
    /// The data directory's cluster id (`cluster_id.rs`).
    cluster_id: [u8; 16],
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
    /// stays in this process's memory ([`crate::io::ReadOnlyStorage`]);
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
        crate::pipeline::txn::check_transaction_timeout(options.transaction_timeout, options.transaction_timeout_max)?;
        let context = |marker| {
            let producers = Arc::new(ProducerRegistry::open(storage.clone(), &path, &options)?);
            let context = Arc::new(LogContext {
                poison: crate::io::poison::Poison::new(&storage, &path),
                closed: crate::sync::AtomicBool::new(false),
                used_bytes: AtomicU64::new(0),
                quota_bytes: options.quota_bytes,
                notifier: Notifier::new(),
                metrics: Metrics::default(),
                group_commit_spin: options.group_commit_spin,
                dedup: Arc::new(crate::producer::dedup::RegistryDedup::new(producers.clone())),
                marker,
            });
            Ok((context, producers))
        };
        let floors = FloorSource {
            topic: crate::consumer::offsets::OFFSETS_TOPIC,
            read: crate::consumer::offsets::committed_floors,
        };
        let (catalog, producers) = Catalog::open(path.clone(), options.clone(), storage.clone(), context, floors)?;
        // An alter or create whose record was written and whose
        // `topic.meta` or directory was not is finished before anyone reads
        // the topic; a recorded delete once the store is open (below).
        let deletes = catalog.finish_config_changes()?;
        let catalog = Arc::new(OpenCatalog::new(Arc::new(catalog)));
        crate::producer::fold_activity(&producers, &catalog);
        let checks = catalog.checks.clone();
        let cluster_id = cluster_id::load_or_create(storage.as_ref(), &path)?;
        let inner = Arc::new(StoreInner {
            cluster_id,
            catalog,
            producers,
            coordinator: Arc::new(crate::pipeline::txn::Coordinator::default()),
            attempts: Arc::new(crate::pipeline::dlq::AttemptTable::default()),
            offsets: Arc::new(crate::consumer::offsets::OffsetTable::default()),
            checks,
            schemas: Arc::new(crate::schema::RegistryTable::default()),
            contracts: Arc::new(crate::contract::contracts::ContractState::default()),
        });
        // Finish a transaction whose commit point was reached before a crash,
        // before anyone can read.
        Store { inner: inner.clone() }.transactions().recover()?;
        // Install every topic's contract before the first append.
        Store { inner: inner.clone() }.contracts().load()?;
        Store { inner: inner.clone() }.finish_deletes(&deletes)?;
        inner.catalog.shared.poison.archive_earlier();
        if inner.catalog.options.background {
            let producers = inner.producers.clone();
            let chore = Box::new(move |catalog: &Catalog| crate::producer::expire_idle(&producers, catalog));
            inner.catalog.catalog().start_maintenance(chore)?;
        }
        Ok(Store { inner })
    }

    /// True for a [`Store::open_read_only`] of a directory that another
    /// process held open for writing: the view is its durable data as it was
    /// at the open, and does not follow the writer's later appends.
    pub fn is_live_view(&self) -> bool {
        self.inner.catalog.storage.is_live_view()
    }

    /// The contract checks in force, per topic: the seam between the append
    /// paths, which ask them, and the contracts feature, which installs them.
    pub fn record_checks(&self) -> &Arc<crate::contract::check::Checks> {
        &self.inner.checks
    }

    /// The data directory.
    pub fn path(&self) -> &Path {
        &self.inner.catalog.path
    }

    /// The data directory's cluster id, as Kafka writes one (22 characters
    /// of URL-safe base64): drawn once and kept in `cluster.id`, so it
    /// survives restarts and moves of the directory (design/format.md,
    /// "Cluster id").
    pub fn cluster_id(&self) -> String {
        cluster_id::to_text(&self.inner.cluster_id)
    }

    /// The options it was opened with.
    pub fn options(&self) -> &StoreOptions {
        &self.inner.catalog.options
    }

    /// The store-wide commit lock ([`Catalog::lock_commits`]).
    pub(crate) fn lock_commits(&self) -> crate::catalog::CommitGuard<'_> {
        self.inner.catalog.lock_commits()
    }

    /// `Closed` after [`Store::close`].
    pub(crate) fn check_open(&self) -> Result<()> {
        self.inner.catalog.check_open()
    }

    /// True after a failed write or fsync: every write fails until reopened.
    pub fn is_poisoned(&self) -> bool {
        self.inner.catalog.shared.is_poisoned()
    }

    /// What poisoned the store in an earlier run, as recorded then (best
    /// effort: a full device may have kept it from being written), until a
    /// writable open archives the record: this open's, if it is writable.
    pub fn earlier_poison(&self) -> Option<crate::PoisonCause> {
        self.inner.catalog.shared.poison.earlier()
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
        self.inner.catalog.shutdown()
    }

    /// Whether [`Store::close`] was called on this store (through any clone).
    pub fn is_closed(&self) -> bool {
        self.inner.catalog.shared.is_closed()
    }
}
