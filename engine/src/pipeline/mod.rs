//! The pipeline features built on the log and the offsets: transactions
//! ([`txn`]) and the dead-letter queue ([`dlq`]). Public as `millrace::txn`
//! and `millrace::dlq`.

pub mod dlq;
pub mod txn;
