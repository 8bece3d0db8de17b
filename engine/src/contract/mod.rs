//! Data contracts (issue 22): what a topic's records must look like, and the
//! seam through which the append paths ask.
//!
//! `check` is the seam: the append paths (embedded, native protocol, Kafka
//! front, CLI produce, replay, DLQ redrive) look up the topic's
//! [`check::RecordCheck`] in the store's [`check::Checks`] and act on each
//! record's [`check::Verdict`]; the contracts feature compiles a contract
//! into a `RecordCheck` and installs it. Neither side names the other.

pub mod check;
