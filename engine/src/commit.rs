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
//!
//! Waiters park on one of two condition variables, by the sync that will
//! cover them: the running one (its snapshot covers their target, or it has
//! no snapshot yet) or the next one (syncs alternate between the two). When a
//! sync ends it wakes everyone it covered and only one of the others, who
//! leads the next sync; the rest sleep on until that sync, which covers them
//! (they wrote before it started), ends. Waking every waiter after every
//! sync cost each uncovered one a wake-up and a sleep for nothing.

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
    /// Syncs started; the running one (if `syncing`) has this number.
    generation: u64,
    /// The running sync's snapshot of the written offset, once taken.
    upto: Option<u64>,
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
    /// Waiters of the syncs with even and odd `generation`.
    even: Condvar,
    odd: Condvar,
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
                ..GateState::default()
            }),
            marks: Mutex::new(Marks {
                written: initial,
                synced: initial,
            }),
            even: Condvar::new(),
            odd: Condvar::new(),
        }
    }

    fn notify_all(&self) {
        self.even.notify_all();
        self.odd.notify_all();
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
        // Rare (a roll): wake everyone, covered or not, to re-check.
        self.notify_all();
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
                // The running sync covers us unless its snapshot, already
                // taken, stops short of our target; then the next one will.
                let next = matches!(state.upto, Some(upto) if upto < target);
                let parity = (state.generation + u64::from(next)) % 2;
                self.condvar(parity).wait(&mut state);
                continue;
            }
            state.syncing = true;
            state.generation += 1;
            state.upto = None;
            drop(state);
            settle();
            let upto = self.marks.lock().written;
            self.state.lock().upto = Some(upto.offset);
            let result = sync();
            state = self.state.lock();
            state.syncing = false;
            state.upto = None;
            let parity = state.generation % 2;
            match result {
                Ok(()) => {
                    if upto.offset >= state.synced.offset {
                        state.synced = upto;
                        self.marks.lock().synced = upto;
                    }
                    // Everyone this sync covered, and one of the others to
                    // lead the next sync (which covers the rest of them).
                    self.condvar(parity).notify_all();
                    self.condvar(parity + 1).notify_one();
                }
                Err(e) => {
                    state.failed = true;
                    self.notify_all();
                    return Err(SyncFailure::Failed(e));
                }
            }
        }
    }

    /// Fail every current and future waiter (used when the store is poisoned elsewhere).
    pub fn fail(&self) {
        self.state.lock().failed = true;
        self.notify_all();
    }

    fn condvar(&self, parity: u64) -> &Condvar {
        if parity.is_multiple_of(2) {
            &self.even
        } else {
            &self.odd
        }
    }
}
