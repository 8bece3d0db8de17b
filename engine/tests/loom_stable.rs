//! Loom model of the last-stable-offset advance racing with readers: a
//! transaction holds its batch's offset before the batch can raise the high
//! watermark and releases it after; a concurrent read-committed reader must
//! never compute a last stable offset past the held batch while it is held.
//! Run: RUSTFLAGS="--cfg loom" cargo test -p millrace --release --test loom_stable
#![cfg(loom)]

use loom::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use loom::sync::Arc;
use millrace::stable::StableOffset;

#[test]
fn reader_never_passes_a_held_batch() {
    loom::model(|| {
        let stable = Arc::new(StableOffset::new());
        let high_watermark = Arc::new(AtomicU64::new(10));
        let released = Arc::new(AtomicBool::new(false));

        let writer = {
            let (stable, high_watermark, released) = (stable.clone(), high_watermark.clone(), released.clone());
            loom::thread::spawn(move || {
                // Offset 10 assigned under the writer lock: hold first.
                stable.hold(10);
                // Batch written and synced: the watermark passes it.
                high_watermark.store(11, Ordering::Release);
                // Every part of the transaction written: release.
                released.store(true, Ordering::Release);
                stable.release(10);
            })
        };
        let lso = stable.last_stable(&high_watermark);
        let was_released = released.load(Ordering::Acquire);
        // Seeing past the batch is only allowed once it was released.
        assert!(lso <= 10 || was_released, "reader saw a held batch: lso {lso}");
        assert!(lso <= 11);
        writer.join().unwrap();
        assert_eq!(stable.last_stable(&high_watermark), 11);
    });
}
