//! One partition's log: CRC-checked batches in segments with sparse indexes,
//! group commit, recovery of the tail at open, retention. It knows no topics'
//! catalog and no feature (producers, consumers, transactions, DLQ): what it
//! needs of the store comes in a [`context::LogContext`], and the producer
//! feature is reached through the [`dedup`] seam it implements.

pub mod batch;
pub(crate) mod context;
pub(crate) mod dedup;
pub(crate) mod encoded;
#[doc(hidden)]
pub mod group_commit;
pub mod index;
pub(crate) mod partition;
pub(crate) mod record;
pub(crate) mod recovery;
pub(crate) mod scan;
pub(crate) mod segment;
#[doc(hidden)]
pub mod stable;
pub(crate) mod tail_cut;
