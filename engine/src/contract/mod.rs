//! Data contracts (issue 22): what a topic's records must look like, and the
//! seam through which the append paths ask.
//!
//! `check` is the seam: the append paths (embedded, native protocol, Kafka
//! front, CLI produce, replay, DLQ redrive) look up the topic's
//! [`check::RecordCheck`] in the store's [`check::Checks`] and act on each
//! record's [`check::Verdict`]; the contracts feature compiles a contract
//! into a `RecordCheck` and installs it. Neither side names the other.
//!
//! The feature: `model` (the contract file, parsed and bounded), `rules`
//! and `formats` (per-field rules on a decoded value), `schemas` (the
//! registry calls a contract makes, compiled validators), `compiled` (a
//! contract as a `RecordCheck`), `fast` (the check without a DOM that
//! `compiled` asks first; the `serde_json::Value` path is its reference),
//! `window` (windowed rules and freshness).

/// The seam (a leaf module, so that the catalog can hold the checks without
/// importing the contracts feature).
pub use crate::record_check as check;
pub mod compiled;
pub mod contracts;
pub mod entry;
mod fast;
mod formats;
#[doc(hidden)]
pub mod fuzz;
pub mod model;
mod rules;
pub mod schemas;
pub mod status;
pub mod window;

pub use compiled::{compile, CompiledContract, ContractMeasures};
pub use contracts::{ApplyReport, ApplyRequest, Contracts, SchemaChange};
pub use entry::{ContractEntry, CONTRACTS_TOPIC};
pub use model::{parse, ContractFile};
pub use schemas::{FixedSchemas, SchemaKind, SchemaSource, SchemaText};
pub use status::{ContractStatus, SlaLevel};
pub use window::WindowMeasure;
