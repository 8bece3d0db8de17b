//! Millrace: an embedded log-structured pipeline storage engine.
//!
//! A [`Store`] is a data directory of topics; a topic has partitions; a
//! partition is an append-only log of CRC-checked batches of [`Record`]s,
//! each at a dense `u64` offset. On top of the log: idempotent [`Producer`]s
//! (retries are appended once), consumer groups ([`Consumer`], committed
//! offsets), [transactions](txn::Transaction) that append to several
//! partitions and commit a group's offsets atomically, and a dead-letter
//! queue per topic ([`dlq`]). Each feature has a handle on the store
//! ([`Store::producers`], [`Store::consumer_groups`], [`Store::transactions`],
//! [`Store::dlq`]); `Store`'s methods for a feature are forwards to it.
//! Everything is a blocking call on the caller's thread; a `Store` is cheap
//! to clone and shared between threads.
//!
//! # A durable queue
//!
//! ```
//! use millrace::{Consumer, ConsumerOptions, Producer, Record, Store, StoreOptions, TopicConfig};
//! use std::time::Duration;
//!
//! # let dir = tempfile::tempdir()?;
//! # let path = dir.path().join("data");
//! let store = Store::open(&path, StoreOptions::default())?; // Durability::Always
//! match store.create_topic("jobs", TopicConfig::with_partitions(1)) {
//!     Ok(()) | Err(millrace::Error::TopicExists(_)) => {}
//!     Err(e) => return Err(e.into()),
//! }
//!
//! // Producer: a named, idempotent producer. `send` returns once the batch
//! // is durable; sending the same records again after an error is a retry,
//! // appended once.
//! let mut producer = Producer::init(&store, "job-submitter")?;
//! producer.send("jobs", 0, &[Record::new("resize 1.png"), Record::new("resize 2.png")])?;
//!
//! // Consumer: a group resumes from its committed offsets.
//! let mut consumer = Consumer::new(&store, "workers", ConsumerOptions::default())?;
//! consumer.subscribe(&["jobs"])?;
//! let jobs = consumer.poll(Duration::from_millis(100))?;
//! assert_eq!(jobs.len(), 2);
//! for job in &jobs {
//!     println!("{}", String::from_utf8_lossy(&job.record.value)); // do the work
//! }
//! consumer.commit()?; // at-least-once: a crash before this delivers the jobs again
//! store.close()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # A pipeline stage: consume, transform, produce, dead-letter
//!
//! Exactly once from an input topic to an output topic: the outputs, the
//! dead letters and the group's next offset are committed in **one**
//! transaction, so after a crash either all of a batch's effects exist or
//! none do, and the group resumes right after the last committed batch
//! (design/semantics.md, "Transactions"). A record the stage cannot process
//! goes to the input's DLQ (`__dlq.<topic>`) in the same transaction, with
//! its provenance. On any error, abort and rewind the consumer to the
//! committed offset: the next poll delivers the batch again.
//!
//! ```
//! use millrace::dlq::Failure;
//! use millrace::{Consumer, ConsumerOptions, Producer, Record, Store, StoreOptions, TopicConfig};
//! use std::time::Duration;
//!
//! # let dir = tempfile::tempdir()?;
//! let store = Store::open(dir.path().join("data"), StoreOptions::default())?;
//! store.create_topic("orders", TopicConfig::with_partitions(1))?;
//! store.create_topic("valid-orders", TopicConfig::with_partitions(1))?;
//! let mut ingest = Producer::init(&store, "ingest")?;
//! ingest.send("orders", 0, &[Record::new("12"), Record::new("not a number"), Record::new("30")])?;
//!
//! let stage = Producer::init(&store, "validate")?; // one name per stage instance
//! let mut consumer = Consumer::new(&store, "validate", ConsumerOptions::default())?;
//! consumer.assign(&[("orders", 0)])?;
//! loop {
//!     let batch = consumer.poll(Duration::from_millis(100))?;
//!     let Some(last) = batch.last() else { break };
//!     let next_offset = last.record.offset + 1;
//!     let mut txn = store.begin_transaction(stage.id())?;
//!     let mut staged = Ok(());
//!     for consumed in &batch {
//!         let value = String::from_utf8_lossy(&consumed.record.value).into_owned();
//!         staged = match value.parse::<u64>() {
//!             Ok(amount) => txn.append("valid-orders", 0, &[Record::new(format!("{}", amount * 100))]),
//!             Err(e) => {
//!                 let message = e.to_string();
//!                 txn.dead_letter("validate", consumed, &Failure::new("parse", "ParseIntError", &message))
//!             }
//!         };
//!         if staged.is_err() {
//!             break;
//!         }
//!     }
//!     let committed = staged
//!         .and_then(|()| txn.commit_offset("validate", "orders", 0, next_offset, b""))
//!         .and_then(|()| txn.commit());
//!     if let Err(e) = committed {
//!         // Nothing of the batch was applied: deliver it again (or stop).
//!         let resume = consumer.committed("orders", 0)?.unwrap_or(0);
//!         consumer.seek("orders", 0, resume)?;
//!         if !e.is_retriable() {
//!             return Err(e.into());
//!         }
//!     }
//! }
//! assert_eq!(store.offsets("valid-orders", 0)?, (0, 2));
//! assert_eq!(store.dlq_stats("orders")?.depth, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Redrive: dead letters back to their topic
//!
//! Once the cause is fixed, [`Store::dlq_redrive`] appends each dead letter
//! again to its source topic (or `target_topic`), exactly once: its redrive
//! mark and the run's progress are committed in the same transaction, so a
//! second or resumed run appends nothing twice. A record that came back to
//! the DLQ `redrive_cap` times stays there.
//!
//! ```
//! use millrace::dlq::{DlqFilter, RedriveOptions};
//! use millrace::{Store, StoreOptions, TopicConfig};
//!
//! # let dir = tempfile::tempdir()?;
//! # let store = Store::open(dir.path().join("data"), StoreOptions::default())?;
//! # store.create_topic("orders", TopicConfig::with_partitions(1))?;
//! # let producer = millrace::Producer::init(&store, "stage")?;
//! # store.append("orders", 0, &[millrace::Record::new("x")])?;
//! # let mut consumer = millrace::Consumer::new(&store, "g", millrace::ConsumerOptions::default())?;
//! # consumer.assign(&[("orders", 0)])?;
//! # let polled = consumer.poll(std::time::Duration::from_millis(100))?;
//! # let mut txn = store.begin_transaction(producer.id())?;
//! # txn.dead_letter("g", &polled[0], &millrace::dlq::Failure::new("parse", "E", "bad"))?;
//! # txn.commit()?;
//! for entry in store.dlq_list("orders", &DlqFilter::default())? {
//!     println!(
//!         "{}: {} from offset {} ({})",
//!         entry.dlq_offset, entry.letter.error_class, entry.letter.source_offset, entry.letter.error_message
//!     );
//! }
//! let report = store.dlq_redrive("orders", &RedriveOptions { redrive_cap: 3, ..RedriveOptions::default() })?;
//! assert_eq!(report.redriven.len(), 1);
//! // Run again: already redriven, nothing appended twice.
//! let again = store.dlq_redrive("orders", &RedriveOptions::default())?;
//! assert!(again.redriven.is_empty());
//! assert_eq!(store.offsets("orders", 0)?, (0, 2)); // the record, and its one redriven copy
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Runnable versions of the three: `engine/examples/queue.rs`,
//! `pipeline_stage.rs` and `dlq_redrive.rs` (`cargo run -p millrace --example queue`).
//!
//! # Errors: what to retry
//!
//! Every call returns [`Result`] with a typed [`Error`]; corruption is never a
//! string (it names the file and the byte). [`Error::is_retriable`] says
//! whether the same call may succeed later unchanged (`NoSpace`,
//! `QuotaExceeded` after space is freed, `Locked` once the other process is
//! gone, `GroupActive` once the group stopped); each variant's documentation
//! says what to do. After a failed write or fsync the store is *poisoned*:
//! every later write returns [`Error::Poisoned`] until it is reopened, and
//! recovery decides from the bytes on disk (fsync is never retried).
//!
//! # Durability
//!
//! Each topic has a [`Durability`] mode (default [`Durability::Always`]):
//!
//! | mode | after a process crash | after a power cut |
//! |---|---|---|
//! | `Always` | every acknowledged record is there | every acknowledged record is there (acknowledged after the fdatasync covering it) |
//! | `Interval { ms }` | every acknowledged record is there | the last `ms` of acknowledged records may be lost, never one a reader has seen |
//! | `Os` | every acknowledged record is there | anything not in a sealed segment may be lost |
//!
//! Readers see a record only once it is durable under its mode. Recovery at
//! open cuts only a torn tail (keeping a backup); corruption anywhere else
//! is reported with its file and position and confined to its partition
//! ([`Store::damaged`]), never cut silently. The fsync order of each commit
//! path and the recovery decision table: `design/durability.md` in the
//! repository.
//!
//! # The exactly-once recipe
//!
//! - **Ingest**: one [`Producer`] name per source, and a deterministic
//!   mapping from input to sequence: [`Producer::init`] resumes after the
//!   last durable sequence per partition, so a restarted ingester skips what
//!   the store has and sends the rest. A retried `send` is appended once.
//! - **Stages**: consume, then put the outputs, the dead letters and
//!   [`commit_offset`](txn::Transaction::commit_offset) in one
//!   [`Transaction`](txn::Transaction); consumers downstream read with
//!   [`Isolation::ReadCommitted`] (the default). On abort or error, seek the
//!   consumer back to its committed offset.
//! - **DLQ**: dead-letter inside the stage's transaction; redrive with a cap.
//!
//! Where it stops (a producer that loses its own bookkeeping, retries older
//! than the dedup window, producer expiry after `producer_idle_expiry`,
//! `Interval`/`Os` power cuts): `design/semantics.md`, "What exactly-once
//! means here, and where it stops".
//!
//! # Limits
//!
//! Checked and refused with [`Error::InvalidInput`], never clamped: a batch
//! at most [`batch::BATCH_BYTES_MAX`] (64 MiB) and the topic's
//! `record_bytes_max`; a transaction at most
//! [`txn::TRANSACTION_BYTES_MAX`]; at most [`config::PARTITIONS_MAX`]
//! partitions per topic; segments of [`config::SEGMENT_BYTES_MIN`] to
//! [`config::SEGMENT_BYTES_MAX`]; group names up to
//! [`offset_table::GROUP_BYTES_MAX`] bytes with commit metadata up to
//! [`offset_table::METADATA_BYTES_MAX`]; producer names up to 255 bytes;
//! names starting with `__` are the store's own topics. One process opens a
//! data directory for writing at a time ([`Error::Locked`]). Byte layouts:
//! `design/format.md`.
//!
//! # Using it from async code (tokio)
//!
//! The API blocks: an `Always` append waits for an fdatasync (milliseconds),
//! [`Consumer::poll`] and [`Store::wait_for`] wait for records. Never call
//! it on an async executor thread. Either wrap each call in
//! `tokio::task::spawn_blocking` (clone the `Store` into the closure:
//! `let s = store.clone(); spawn_blocking(move || s.append("events", 0, &records)).await?`),
//! or give the store work a dedicated thread fed by a channel, which also
//! keeps a [`Consumer`] or [`Producer`] on one thread. With tokio, the
//! request channel is `tokio::sync::mpsc` and the reply a
//! `tokio::sync::oneshot` awaited by the task; the shape, with std channels:
//!
//! ```
//! use millrace::{AppendInfo, Record, Store, StoreOptions, TopicConfig};
//! use std::sync::mpsc;
//!
//! # let dir = tempfile::tempdir()?;
//! let store = Store::open(dir.path().join("data"), StoreOptions::default())?;
//! store.create_topic("events", TopicConfig::with_partitions(1))?;
//! type Reply = mpsc::Sender<millrace::Result<AppendInfo>>;
//! let (requests, inbox) = mpsc::channel::<(Vec<Record>, Reply)>();
//! let writer = store.clone();
//! let thread = std::thread::spawn(move || {
//!     for (records, reply) in inbox {
//!         let _ = reply.send(writer.append("events", 0, &records));
//!     }
//! });
//! // In an async task: send, then await the reply instead of blocking on it.
//! let (reply, answer) = mpsc::channel();
//! requests.send((vec![Record::new("clicked")], reply))?;
//! assert_eq!(answer.recv()??.base_offset, 0);
//! drop(requests);
//! thread.join().expect("writer thread");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Logging
//!
//! The engine reports what it decided on its own (a torn tail cut into a
//! backup, a partition that failed to open, a poisoned store, an index
//! rebuilt) through the [`tracing`](https://docs.rs/tracing) crate, at
//! `warn` and `error` level. Nothing is printed unless the application
//! installs a subscriber, e.g. `tracing_subscriber::fmt().init()`; without
//! one these warnings are lost.
//!
//! # Inspecting a running store
//!
//! [`Store::open_read_only`] (and the `millrace check`, `consume`, `stats`,
//! `offsets show`, `topic list|describe` commands built on it) works on a
//! directory another process holds open: it takes no lock then, reads only
//! the durable data, and changes nothing (see its documentation).

#![warn(missing_docs)]

// First: rustdoc lists `Store`'s methods in module order, and the page should
// lead with opening, appending and reading (store.rs), not the DLQ (dlq.rs).
mod store;

mod catalog;
pub mod clock;
mod codec;
pub mod config;
pub mod consumer;
pub mod contract;
pub mod error;
pub mod inspect;
pub mod io;
mod layout;
mod log;
pub mod metrics;
pub mod names;
#[doc(hidden)]
pub mod notify;
mod pipeline;
mod producer;
#[doc(hidden)]
pub mod record_check; // public as `contract::check`
pub mod schema;
#[doc(hidden)]
pub mod sync;
#[cfg(feature = "testing")]
#[doc(hidden)]
pub mod testing;

// The features live in `producer/`, `consumer/` and `pipeline/`. The public
// paths `millrace::dlq`, `millrace::txn`, `millrace::offset_table` and
// `millrace::producer_state` stay.
pub use consumer::offsets as offset_table;
pub use pipeline::{dlq, txn};
#[doc(hidden)]
pub use producer::state as producer_state;
// The public paths of modules that live in io/ and log/.
pub use log::batch;
#[doc(hidden)]
pub use log::group_commit as commit;
pub use log::index;
#[doc(hidden)]
pub use log::stable;

/// The storage seam under its former name: [`io`] (`millrace::storage::...` keeps working).
pub use io as storage;

pub use batch::{AppendRecord, Nulls, ProducerStamp, Record, StoredRecord};
pub use catalog::changes::{ConfigChange, ConfigChangeKind, KeyChange, CONFIG_ACTOR_BYTES_MAX, CONFIG_CHANGES_TOPIC};
pub use config::{Durability, RecoveryMode, StoreOptions, TimestampType, TopicConfig};
pub use consumer::lag::PartitionLag;
pub use consumer::reset::GROUP_ACTIVE_WINDOW;
pub use consumer::reset::{
    PlannedReset, ResetAuditEntry, ResetPlan, ResetRequest, ResetScope, ResetTarget, ResetWarning,
};
pub use consumer::scanner::Scanner;
pub use consumer::{AutoOffsetReset, ConsumedRecord, Consumer, ConsumerGroups, ConsumerOptions};
pub use error::{CorruptionKind, DamagedScope, DataDirProblem, Error, Result};
pub use io::poison::PoisonCause;
pub use log::partition::{AppendInfo, Isolation, PartitionInfo, ReadBatch, ReadOptions, ReadResult};
pub use metrics::MetricsSnapshot;
pub use producer::{Producer, ProducerAppend, ProducerId, ProducerSession};
pub use store::{
    Damage, PendingAppend, ScanMarks, Store, TopicDescription, WaitDurable, EMBEDDED_ACTOR, GROUP_COMMIT_SPIN_MAX,
    READ_ONLY_LIVE_ATTEMPTS,
};
