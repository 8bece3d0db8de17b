//! The order model of the pipeline kill -9 test, shared by the service child
//! (`src/bin/pipeline_stage.rs`) and the parent (`tests/pipeline_kill9.rs`).
//!
//! Order `id` is ingested once into [`INPUT`] (value: the id in decimal). The
//! stage decides per copy it consumes, from the id and the copy's redrive
//! count (header `dlq.redrive_count`, 0 for the ingested copy), whether the
//! order passes validation; a failing copy is dead-lettered, and the redrive
//! re-appends it to [`INPUT`] until the cap. So the whole run has one
//! expected end state, computed here.

/// The topic the ingest appends orders to (and redrive re-appends to).
pub const INPUT: &str = "in";
/// The stage's outputs: even ids, odd ids.
pub const OUTPUTS: [&str; 2] = ["out-a", "out-b"];
/// The DLQ of [`INPUT`].
pub const DLQ: &str = "__dlq.in";
/// The stage's consumer group.
pub const GROUP: &str = "stage";
/// The ingest's named idempotent producer.
pub const INGEST_PRODUCER: &str = "ingest";
/// Orders per ingest batch; batch `b` holds ids `b*INGEST_BATCH..` and
/// carries producer sequence `b*INGEST_BATCH` (sequence = order id).
pub const INGEST_BATCH: u64 = 10;
/// A DLQ record redriven this many times stays in the DLQ.
pub const REDRIVE_CAP: u32 = 2;
/// Failures of one copy before the stage dead-letters it (the first one is
/// a `Retry`: the stage aborts and processes the batch again).
pub const MAX_ATTEMPTS: u32 = 2;

/// What validation makes of an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Passes at once.
    Valid,
    /// Fails until a copy redriven this many times arrives (≤ [`REDRIVE_CAP`]).
    PassesAfterRedrives(u32),
    /// Always fails: after the cap it stays in the DLQ.
    Invalid,
}

const _: () = assert!(REDRIVE_CAP >= 2, "the model has orders that pass at the second redrive");

/// The kind of order `id`.
pub fn kind(id: u64) -> Kind {
    match id % 7 {
        0 => Kind::Invalid,
        3 => Kind::PassesAfterRedrives(1),
        5 => Kind::PassesAfterRedrives(2),
        _ => Kind::Valid,
    }
}

/// Does the copy of `id` redriven `redrive_count` times pass validation?
pub fn passes(id: u64, redrive_count: u32) -> bool {
    match kind(id) {
        Kind::Valid => true,
        Kind::PassesAfterRedrives(n) => redrive_count >= n,
        Kind::Invalid => false,
    }
}

/// How many redriven copies of `id` the input ends with (copies with
/// redrive count `1..=redrives(id)`).
pub fn redrives(id: u64) -> u32 {
    match kind(id) {
        Kind::Valid => 0,
        Kind::PassesAfterRedrives(n) => n,
        Kind::Invalid => REDRIVE_CAP,
    }
}

/// How many DLQ records `id` ends with (redrive counts `0..dead_letters(id)`);
/// all redriven but the last one of an `Invalid` order.
pub fn dead_letters(id: u64) -> u32 {
    match kind(id) {
        Kind::Valid => 0,
        Kind::PassesAfterRedrives(n) => n,
        Kind::Invalid => REDRIVE_CAP + 1,
    }
}

/// The output an order that passes lands in.
pub fn output_topic(id: u64) -> &'static str {
    if id.is_multiple_of(2) {
        OUTPUTS[0]
    } else {
        OUTPUTS[1]
    }
}

/// Records [`INPUT`] holds once `orders` orders went through the whole service.
pub fn input_records(orders: u64) -> u64 {
    (0..orders).map(|id| 1 + u64::from(redrives(id))).sum()
}

/// Records [`DLQ`] holds at the end.
pub fn dlq_records(orders: u64) -> u64 {
    (0..orders).map(|id| u64::from(dead_letters(id))).sum()
}

/// Parse a decimal header or value.
pub fn parse_u64(bytes: &[u8]) -> Option<u64> {
    std::str::from_utf8(bytes).ok()?.parse().ok()
}
