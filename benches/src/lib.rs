//! Support code shared by the engine benchmark (`benches/engine.rs`) and the
//! peer comparison (`compare/`): baselines measured in the same run (disk and
//! memory), latency statistics, and result tables written as markdown and CSV.

pub mod baseline;
pub mod report;
pub mod stats;
