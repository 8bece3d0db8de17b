//! The last stable offset: where read-committed readers stop. A transaction's
//! batch is *held* from the moment its offset is assigned (under the writer
//! lock, before it is written) until every part of its transaction is written;
//! the last stable offset is the high watermark or the smallest held offset,
//! whichever is lower. Model-checked with loom in `tests/loom_stable.rs`.

use crate::sync::{AtomicU64, Mutex, Ordering};
use std::collections::BTreeMap;

#[derive(Debug, Default)]
pub struct StableOffset {
    holds: Mutex<BTreeMap<u64, u32>>,
}

impl StableOffset {
    pub fn new() -> Self {
        StableOffset {
            holds: Mutex::new(BTreeMap::new()),
        }
    }

    /// Hold readers below `offset`. Call before the batch at `offset` can
    /// become visible (i.e. before the high watermark can pass it).
    pub fn hold(&self, offset: u64) {
        *self.holds.lock().entry(offset).or_insert(0) += 1;
    }

    pub fn release(&self, offset: u64) {
        let mut holds = self.holds.lock();
        if let Some(count) = holds.get_mut(&offset) {
            *count -= 1;
            if *count == 0 {
                holds.remove(&offset);
            }
        }
    }

    /// Reads the watermark *before* the holds: a hold is registered before its
    /// batch can raise the watermark, so a watermark that covers a held batch
    /// implies the hold (or its release) is visible here.
    pub fn last_stable(&self, high_watermark: &AtomicU64) -> u64 {
        let high_watermark = high_watermark.load(Ordering::Acquire);
        let holds = self.holds.lock();
        holds
            .keys()
            .next()
            .map_or(high_watermark, |first| (*first).min(high_watermark))
    }
}
