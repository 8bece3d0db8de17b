//! Millrace: an embedded log-structured pipeline storage engine.
//!
//! A [`Store`] is a data directory of topics; a topic has partitions; a
//! partition is a sequence of segments of CRC-checked batches. See
//! `design/format.md` and `design/durability.md`.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::indexing_slicing))]

pub mod batch;
#[doc(hidden)]
pub mod commit;
pub mod config;
pub mod consumer;
mod data_dir;
pub mod dlq;
pub mod error;
pub mod index;
pub mod inspect;
mod internal_codec;
mod lag;
pub mod metrics;
pub mod names;
#[doc(hidden)]
pub mod notify;
pub mod offset_table;
mod partition;
mod poison;
mod producer;
mod producer_registry;
mod producer_snapshot;
#[doc(hidden)]
pub mod producer_state;
mod reset;
mod scanner;
mod segment;
#[doc(hidden)]
pub mod stable;
pub mod storage;
mod store;
pub mod sync;
mod tail_cut;
pub mod txn;

pub use batch::{ProducerStamp, Record, StoredRecord};
pub use config::{Durability, RecoveryMode, StoreOptions, TopicConfig};
pub use consumer::{AutoOffsetReset, ConsumedRecord, Consumer, ConsumerOptions};
pub use error::{CorruptionKind, DamagedScope, DataDirProblem, Error, Result};
pub use lag::PartitionLag;
pub use metrics::MetricsSnapshot;
pub use partition::{AppendInfo, Isolation, PartitionInfo, ReadBatch, ReadOptions, ReadResult};
pub use poison::PoisonCause;
pub use producer::{Producer, ProducerAppend, ProducerSession};
pub use reset::{PlannedReset, ResetAuditEntry, ResetPlan, ResetRequest, ResetScope, ResetTarget, ResetWarning};
pub use scanner::Scanner;
pub use store::{Damage, PendingAppend, ScanMarks, Store, TopicDescription, GROUP_COMMIT_SPIN_MAX};
