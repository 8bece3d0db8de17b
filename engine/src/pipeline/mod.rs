//! The pipeline features built on the log and the consumer groups:
//! transactions ([`txn`]) and the dead-letter queue ([`dlq`]), over one
//! [`context::Pipeline`]. Public as `millrace::txn` and `millrace::dlq`.

pub(crate) mod context;
pub mod dlq;
pub mod txn;
