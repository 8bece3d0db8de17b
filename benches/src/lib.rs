//! Support code shared by the engine benchmark (`benches/engine.rs`), the
//! validated-produce benchmark (`benches/contracts.rs`) and the peer
//! comparison (`compare/`): baselines measured in the same run (disk and
//! memory), latency statistics, the contract benchmark's records, and result
//! tables written as markdown and CSV.

pub mod baseline;
pub mod contract_records;
pub mod report;
pub mod stats;
