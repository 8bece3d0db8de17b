//! Group commit: appenders that need their data durable share one fdatasync.
//!
//! Each appender, after writing its batch, calls [`SyncGate::wait_synced`]
//! with the log position (offset) its batch ends at. If no fsync is running,
//! it becomes the leader: it snapshots the highest written position, releases
//! the lock, syncs, and publishes the snapshot as synced; every waiter whose
//! target the snapshot covers returns. Appenders that arrive while a sync runs
//! wait for it and then, if still uncovered, one of them leads the next sync.
//! A failed sync marks the gate failed for good: nothing is acknowledged after
//! it (the store is poisoned). Model-checked with loom in `tests/loom.rs`.

use crate::sync::{Condvar, Mutex};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Mark {
    /// Offset just past the last written batch.
    pub offset: u64,
    /// Segment holding `position`.
    pub segment_base: u64,
    /// Byte position just past the last written batch in that segment.
    pub position: u64,
}

#[derive(Debug, Default)]
struct GateState {
    synced: Mark,
    syncing: bool,
    failed: bool,
}

/// The written mark and a copy of the synced mark, behind their own small
/// lock: appenders record and read them on every append, and the gate's own
/// mutex is where a released group of waiters queues up after each fsync
/// (parking_lot hands it to them one at a time), so appenders do not wait
/// behind that queue. Lock order: `state`, then `marks`.
#[derive(Debug, Default)]
struct Marks {
    written: Mark,
    synced: Mark,
}

#[derive(Debug, Default)]
pub struct SyncGate {
    state: Mutex<GateState>,
    marks: Mutex<Marks>,
    condvar: Condvar,
}

/// Why a wait for durability did not succeed.
#[derive(Debug)]
pub enum SyncFailure<E> {
    /// This caller ran the fsync and it failed with this error.
    Failed(E),
    /// An earlier fsync failed; nothing more will be acknowledged.
    Poisoned,
}

impl SyncGate {
    pub fn new(initial: Mark) -> Self {
        SyncGate {
            state: Mutex::new(GateState {
                synced: initial,
                syncing: false,
                failed: false,
            }),
            marks: Mutex::new(Marks {
                written: initial,
                synced: initial,
            }),
            condvar: Condvar::new(),
        }
    }

    /// Record that bytes up to `mark` are written (called in write order).
    pub fn record_written(&self, mark: Mark) {
        let mut marks = self.marks.lock();
        debug_assert!(mark.offset >= marks.written.offset, "written marks go forward");
        marks.written = mark;
    }

    /// Everything known durable.
    pub fn synced(&self) -> Mark {
        self.marks.lock().synced
    }

    pub fn written(&self) -> Mark {
        self.marks.lock().written
    }

    /// Mark `mark` as durable without syncing (the caller synced, e.g. at a segment roll).
    pub fn record_synced(&self, mark: Mark) {
        let mut state = self.state.lock();
        if mark.offset >= state.synced.offset {
            state.synced = mark;
            self.marks.lock().synced = mark;
        }
        drop(state);
        self.condvar.notify_all();
    }

    /// Block until everything up to `target` offset is durable, running the
    /// sync ourselves when nobody else is. Returns the synced mark.
    pub fn wait_synced<E>(&self, target: u64, sync: impl FnMut() -> Result<(), E>) -> Result<Mark, SyncFailure<E>> {
        self.wait_synced_settled(target, || {}, sync)
    }

    /// As [`SyncGate::wait_synced`], but a leader first runs `settle` (with the
    /// gate unlocked, already marked as syncing) before it snapshots the
    /// written mark: the caller lets appenders that are mid-write finish, so
    /// that one fsync covers them too instead of leaving them a sync of their own.
    pub fn wait_synced_settled<E>(
        &self,
        target: u64,
        mut settle: impl FnMut(),
        mut sync: impl FnMut() -> Result<(), E>,
    ) -> Result<Mark, SyncFailure<E>> {
        let mut state = self.state.lock();
        loop {
            if state.failed {
                return Err(SyncFailure::Poisoned);
            }
            if state.synced.offset >= target {
                return Ok(state.synced);
            }
            if state.syncing {
                self.condvar.wait(&mut state);
                continue;
            }
            state.syncing = true;
            drop(state);
            settle();
            let upto = self.marks.lock().written;
            let result = sync();
            state = self.state.lock();
            state.syncing = false;
            match result {
                Ok(()) => {
                    if upto.offset >= state.synced.offset {
                        state.synced = upto;
                        self.marks.lock().synced = upto;
                    }
                    self.condvar.notify_all();
                }
                Err(e) => {
                    state.failed = true;
                    self.condvar.notify_all();
                    return Err(SyncFailure::Failed(e));
                }
            }
        }
    }

    /// Fail every current and future waiter (used when the store is poisoned elsewhere).
    pub fn fail(&self) {
        self.state.lock().failed = true;
        self.condvar.notify_all();
    }
}
