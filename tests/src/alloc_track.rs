//! A counting global allocator: per thread, the bytes live and the peak since
//! the last [`measure`] began. Install it in a binary with
//!
//! ```ignore
//! #[global_allocator]
//! static ALLOCATOR: millrace_tests::alloc_track::TrackingAllocator = millrace_tests::alloc_track::TrackingAllocator;
//! ```
//!
//! Counting is per thread so that tests running in parallel in one binary do
//! not see each other's allocations; the code measured must allocate on the
//! calling thread (stores opened with `background: false` do).

#![expect(
    unsafe_code,
    reason = "a global allocator is an unsafe trait; every method forwards to System"
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

thread_local! {
    static LIVE_BYTES: Cell<usize> = const { Cell::new(0) };
    static PEAK_BYTES: Cell<usize> = const { Cell::new(0) };
    static LARGEST_BYTES: Cell<usize> = const { Cell::new(0) };
}

/// Forwards to the system allocator and counts.
#[derive(Debug)]
pub struct TrackingAllocator;

fn note_alloc(size: usize) {
    // `try_with`: the thread-locals may be gone while a thread is torn down.
    let _ = LIVE_BYTES.try_with(|live| {
        let now = live.get().saturating_add(size);
        live.set(now);
        let _ = PEAK_BYTES.try_with(|peak| peak.set(peak.get().max(now)));
    });
    let _ = LARGEST_BYTES.try_with(|largest| largest.set(largest.get().max(size)));
}

fn note_free(size: usize) {
    let _ = LIVE_BYTES.try_with(|live| live.set(live.get().saturating_sub(size)));
}

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged; the bookkeeping only touches const-initialised thread-locals
// (no allocation, no destructors) and never fails.
unsafe impl GlobalAlloc for TrackingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_alloc(layout.size());
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_alloc(layout.size());
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note_free(layout.size());
        // SAFETY: forwarded unchanged.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_free(layout.size());
        note_alloc(new_size);
        // SAFETY: forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// What one [`measure`] saw on this thread.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct AllocationStats {
    /// Most bytes live at once, above what was live when the measure began.
    pub peak_bytes: usize,
    /// The largest single allocation request.
    pub largest_bytes: usize,
}

/// Run `f` and report its allocations on this thread.
pub fn measure<R>(f: impl FnOnce() -> R) -> (R, AllocationStats) {
    let base = LIVE_BYTES.with(Cell::get);
    let outer_peak = PEAK_BYTES.with(|p| p.replace(base));
    let outer_largest = LARGEST_BYTES.with(|l| l.replace(0));
    let result = f();
    let stats = AllocationStats {
        peak_bytes: PEAK_BYTES.with(Cell::get).saturating_sub(base),
        largest_bytes: LARGEST_BYTES.with(Cell::get),
    };
    // Restore the enclosing measure's view (measures may nest).
    PEAK_BYTES.with(|p| p.set(outer_peak.max(p.get())));
    LARGEST_BYTES.with(|l| l.set(outer_largest.max(l.get())));
    (result, stats)
}

/// True if [`TrackingAllocator`] is this binary's global allocator.
pub fn is_installed() -> bool {
    let (_, stats) = measure(|| std::hint::black_box(vec![0u8; 4096]));
    stats.largest_bytes >= 4096
}
