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
//! Each waiter parks on its own slot (a small mutex and condition variable),
//! listed in the gate with its target. When a sync ends it first wakes one
//! waiter it did not cover, who leads the next sync, then hands every waiter
//! it covered the synced mark directly: they return without touching the
//! gate's lock. (A shared condition variable wakes its waiters one after
//! another through its mutex, each wake-up waiting for the previous waiter to
//! run; with sixteen appenders on two CPUs that chain, not the disk, set the
//! pace.) The others sleep on until a later sync covers them.
//!
//! An async waiter ([`SyncGate::poll_synced`]) takes the same part as a
//! thread: it leads a sync when none runs (on the polling thread, as a lone
//! appender's wait would), or it parks a slot that holds its task's
//! [`Waker`] instead of sleeping on the condition variable; a sync's end then
//! wakes the task directly. An abandoned wait ([`SyncGate::abandon`]) leaves
//! the gate and passes on a turn to lead that it may have been handed. An
//! async leader may also settle across polls
//! ([`SyncGate::poll_synced_gathering`]): it holds the turn, its task sleeps,
//! and each waiter that parks behind it wakes it to look again, so the
//! appenders it waits for run on the thread it would otherwise have held.
//!
//! A waiter may first spin for a bounded time (yielding the CPU each turn)
//! watching its slot's `woken` flag before it sleeps: when syncs are short,
//! it then sees its hand-off without a futex wake-up, and its CPU does not go
//! idle (on a virtual machine a halted vCPU takes tens of µs to wake). The
//! flag is only a hint: the slot's mutex and condition variable carry the
//! hand-off either way.

use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use crate::sync::{spin_until, Arc, AtomicBool, Condvar, Mutex, MutexGuard, Ordering};

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
    /// Parked waiters and their targets, in arrival order.
    waiters: Vec<(u64, Arc<Waiter>)>,
    /// The task of an async leader that is gathering
    /// ([`SyncGate::poll_synced_gathering`]), woken (to look again) by the
    /// waiter that parks behind it when as many have as it waits for or its
    /// gathering's time is up, and by a failure.
    gathering: Option<Gathering>,
}

/// A gathering leader's task and when a waiter parking behind it wakes it:
/// one wake-up per group instead of one per arrival (issue 26).
#[derive(Debug)]
struct Gathering {
    task: Waker,
    /// Wake once the caller's count of arrivals is this high.
    wake_at: u64,
    /// Or at the first park after this.
    until: Instant,
}

/// A settling leader's look ([`SyncGate::poll_synced_gathering`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Look {
    /// Sync now.
    Sync,
    /// Gather on: the first waiter that parks once the caller's count of
    /// arrivals (`arrivals` of [`SyncGate::poll_synced_gathering`]) reaches
    /// `wake_at`, or after `until`, wakes the leader to look again.
    Gather { wake_at: u64, until: Instant },
}

/// What a parked waiter is told when it is woken.
#[derive(Debug, Clone, Copy)]
enum Wake {
    /// A sync covered the target: return this synced mark.
    Covered(Mark),
    /// Look at the gate again (lead the next sync, or see a failure).
    Recheck,
}

/// What a parked waiter's slot holds.
#[derive(Debug, Default)]
struct Slot {
    wake: Option<Wake>,
    /// An async waiter's task, woken with the slot.
    task: Option<Waker>,
}

/// One parked waiter's slot.
#[derive(Debug, Default)]
struct Waiter {
    slot: Mutex<Slot>,
    condvar: Condvar,
    /// Set after `wake` is: a spinning waiter watches this, not the mutex.
    woken: AtomicBool,
}

/// How a waiter may spin before it sleeps.
#[derive(Clone, Copy)]
pub struct Spin<'a> {
    /// Longest spin; zero sleeps at once.
    pub budget: Duration,
    /// Told after each spin whether the hand-off came during it.
    pub outcome: &'a dyn Fn(bool),
}

impl Spin<'static> {
    /// Sleep at once.
    pub const NONE: Spin<'static> = Spin {
        budget: Duration::ZERO,
        outcome: &ignore,
    };
}

fn ignore(_: bool) {}

impl Waiter {
    fn wait(&self, spin: Spin<'_>) -> Wake {
        if !spin.budget.is_zero() {
            let woken = || self.woken.load(Ordering::Acquire);
            spin_until(woken, spin.budget);
            (spin.outcome)(woken());
        }
        let mut slot = self.slot.lock();
        loop {
            if let Some(w) = slot.wake {
                return w;
            }
            self.condvar.wait(&mut slot);
        }
    }

    /// An async waiter's look at its slot: the wake-up, or (none yet) the
    /// task's waker recorded for it.
    fn poll(&self, waker: &Waker) -> Option<Wake> {
        let mut slot = self.slot.lock();
        if slot.wake.is_none() && !slot.task.as_ref().is_some_and(|task| task.will_wake(waker)) {
            slot.task = Some(waker.clone());
        }
        slot.wake
    }

    fn wake(&self, wake: Wake) {
        let task = {
            let mut slot = self.slot.lock();
            slot.wake = Some(wake);
            slot.task.take()
        };
        self.woken.store(true, Ordering::Release);
        self.condvar.notify_one();
        if let Some(task) = task {
            task.wake();
        }
    }
}

/// An async waiter's place in the gate between polls
/// ([`SyncGate::poll_synced`]); give it back with [`SyncGate::abandon`] if
/// the wait is dropped before it completes.
#[derive(Debug, Default)]
pub struct Parked {
    waiter: Option<Arc<Waiter>>,
    /// This wait holds the turn to lead the next sync and is still settling
    /// ([`SyncGate::poll_synced_gathering`]): the gate shows a sync running.
    leading: bool,
}

impl Parked {
    /// Whether this wait holds the turn to lead and is still settling.
    pub fn is_leading(&self) -> bool {
        self.leading
    }
}

/// How a leader's sync ended for its own target.
enum Led<'a, E> {
    /// The sync covered the target.
    Covered(Mark),
    /// Not covered (written after the snapshot): look at the gate again.
    Again(MutexGuard<'a, GateState>),
    /// The sync failed.
    Failed(E),
}

/// The written mark and a copy of the synced mark, behind their own small
/// lock: appenders record and read them on every append, so they do not
/// queue behind the gate's mutex. Lock order: `state`, then `marks`.
#[derive(Debug, Default)]
struct Marks {
    written: Mark,
    synced: Mark,
}

#[derive(Debug, Default)]
pub struct SyncGate {
    state: Mutex<GateState>,
    marks: Mutex<Marks>,
}

/// Why a wait for durability did not succeed.
#[derive(Debug)]
pub enum SyncFailure<E> {
    /// This caller ran the fsync and it failed with this error.
    Failed(E),
    /// An earlier fsync failed; nothing more will be acknowledged.
    Poisoned,
}

/// Waiters to wake once the gate's lock is released: the next leader first.
struct Wakes {
    leader: Option<Arc<Waiter>>,
    covered: Vec<Arc<Waiter>>,
    mark: Mark,
}

impl Wakes {
    fn send(self) {
        if let Some(leader) = self.leader {
            leader.wake(Wake::Recheck);
        }
        for waiter in self.covered {
            waiter.wake(Wake::Covered(self.mark));
        }
    }
}

impl GateState {
    /// Take out the waiters the synced mark covers and, if no sync is running
    /// and some are left, one of them to lead the next sync.
    fn release(&mut self) -> Wakes {
        let synced = self.synced;
        let mut covered = Vec::new();
        self.waiters.retain(|(target, waiter)| {
            let done = *target <= synced.offset;
            if done {
                covered.push(waiter.clone());
            }
            !done
        });
        let leader = if self.syncing || self.waiters.is_empty() {
            None
        } else {
            Some(self.waiters.remove(0).1)
        };
        Wakes {
            leader,
            covered,
            mark: synced,
        }
    }

    /// Take out every waiter, to look at the gate again (after a failure).
    fn release_all(&mut self) -> Vec<Arc<Waiter>> {
        self.waiters.drain(..).map(|(_, waiter)| waiter).collect()
    }
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
        let wakes = state.release();
        drop(state);
        wakes.send();
    }

    /// Block until everything up to `target` offset is durable, running the
    /// sync ourselves when nobody else is. Returns the synced mark.
    pub fn wait_synced<E>(&self, target: u64, sync: impl FnMut() -> Result<(), E>) -> Result<Mark, SyncFailure<E>> {
        self.wait_synced_settled(target, Spin::NONE, || {}, sync)
    }

    /// As [`SyncGate::wait_synced`], but a leader first runs `settle` (with the
    /// gate unlocked, already marked as syncing) before it snapshots the
    /// written mark: the caller lets appenders that are mid-write finish, so
    /// that one fsync covers them too instead of leaving them a sync of their own.
    /// A waiter spins (yielding) for up to `spin` before it sleeps.
    pub fn wait_synced_settled<E>(
        &self,
        target: u64,
        spin: Spin<'_>,
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
                let waiter = Arc::new(Waiter::default());
                state.waiters.push((target, waiter.clone()));
                drop(state);
                if let Wake::Covered(mark) = waiter.wait(spin) {
                    return Ok(mark);
                }
                state = self.state.lock();
                continue;
            }
            match self.lead(state, target, &mut settle, &mut sync) {
                Led::Covered(mark) => return Ok(mark),
                Led::Again(again) => state = again,
                Led::Failed(e) => return Err(SyncFailure::Failed(e)),
            }
        }
    }

    /// Run one sync as its leader (`state` shows none running): settle,
    /// snapshot the written mark, sync, publish, hand the covered waiters
    /// their mark and the next turn to lead to an uncovered one.
    fn lead<'a, E>(
        &'a self,
        mut state: MutexGuard<'a, GateState>,
        target: u64,
        settle: &mut impl FnMut(),
        sync: &mut impl FnMut() -> Result<(), E>,
    ) -> Led<'a, E> {
        state.syncing = true;
        drop(state);
        settle();
        self.finish_lead(target, sync)
    }

    /// The rest of a leader's turn once it has settled (the gate shows a
    /// sync running): snapshot the written mark, sync, publish, hand the
    /// covered waiters their mark and the next turn to an uncovered one.
    fn finish_lead<E>(&self, target: u64, sync: &mut impl FnMut() -> Result<(), E>) -> Led<'_, E> {
        let upto = self.marks.lock().written;
        let result = sync();
        let mut state = self.state.lock();
        state.syncing = false;
        match result {
            Ok(()) => {
                if upto.offset >= state.synced.offset {
                    state.synced = upto;
                    self.marks.lock().synced = upto;
                }
                let synced = state.synced;
                let wakes = state.release();
                drop(state);
                wakes.send();
                // Covered by its own sync (it wrote before the snapshot):
                // acknowledged even if a later sync fails meanwhile.
                if synced.offset >= target {
                    return Led::Covered(synced);
                }
                Led::Again(self.state.lock())
            }
            Err(e) => {
                state.failed = true;
                let waiters = state.release_all();
                drop(state);
                for waiter in waiters {
                    waiter.wake(Wake::Recheck);
                }
                Led::Failed(e)
            }
        }
    }

    /// The async form of [`SyncGate::wait_synced_settled`] (no spinning):
    /// `Ready` once everything up to `target` is durable (or the sync
    /// failed), else `Pending` with `waker` parked in the gate, woken when a
    /// sync covers the target or hands this waiter the next turn to lead.
    /// A poll that finds no sync running leads one here, on the polling
    /// thread (`settle` and `sync` run as for a thread's wait). `parked`
    /// carries the registration from one poll to the next; a wait dropped
    /// before `Ready` must give it back with [`SyncGate::abandon`].
    pub fn poll_synced<E>(
        &self,
        target: u64,
        parked: &mut Parked,
        waker: &Waker,
        mut settle: impl FnMut(),
        sync: impl FnMut() -> Result<(), E>,
    ) -> Poll<Result<Mark, SyncFailure<E>>> {
        let settled = || {
            settle();
            Look::Sync
        };
        self.poll_synced_gathering(target, parked, waker, settled, || 0, sync)
    }

    /// As [`SyncGate::poll_synced`], but a leader settles across polls
    /// instead of on the polling thread: `settled` takes one look
    /// ([`Look::Sync`] when the leader should sync now). Until it says so,
    /// the wait holds the turn to lead (the gate shows a sync running, so
    /// other waits park behind it) and returns `Pending`; the first wait
    /// that parks behind it once `arrivals` (the caller's count of appenders
    /// that came, read as a wait parks) reached the look's `wake_at`, or
    /// after its `until` (and a failure), wakes its task to look again:
    /// once per group, where a thread's settle would have spun on the
    /// thread the appenders need. Nothing else wakes it:
    /// the caller bounds the gathering with a timer of its own
    /// ([`Parked::is_leading`]; the store's `WaitDurable::stop_gathering`).
    /// A wait dropped while it holds the turn must be given back with
    /// [`SyncGate::abandon`], which passes the turn on.
    pub fn poll_synced_gathering<E>(
        &self,
        target: u64,
        parked: &mut Parked,
        waker: &Waker,
        mut settled: impl FnMut() -> Look,
        arrivals: impl Fn() -> u64,
        mut sync: impl FnMut() -> Result<(), E>,
    ) -> Poll<Result<Mark, SyncFailure<E>>> {
        let mut state = if parked.leading {
            if !self.settled_or_registered(&mut settled, waker) {
                return Poll::Pending;
            }
            parked.leading = false;
            let mut state = self.state.lock();
            if state.failed {
                // Failed while it gathered: it does not sync.
                state.syncing = false;
                state.gathering = None;
                return Poll::Ready(Err(SyncFailure::Poisoned));
            }
            drop(state);
            match self.finish_lead(target, &mut sync) {
                Led::Covered(mark) => return Poll::Ready(Ok(mark)),
                Led::Again(again) => again,
                Led::Failed(e) => return Poll::Ready(Err(SyncFailure::Failed(e))),
            }
        } else {
            if let Some(waiter) = &parked.waiter {
                match waiter.poll(waker) {
                    None => return Poll::Pending,
                    Some(Wake::Covered(mark)) => {
                        parked.waiter = None;
                        return Poll::Ready(Ok(mark));
                    }
                    // Out of the gate's list: look at the gate again below.
                    Some(Wake::Recheck) => parked.waiter = None,
                }
            }
            self.state.lock()
        };
        loop {
            if state.failed {
                return Poll::Ready(Err(SyncFailure::Poisoned));
            }
            if state.synced.offset >= target {
                return Poll::Ready(Ok(state.synced));
            }
            if state.syncing {
                let waiter = Arc::new(Waiter::default());
                waiter.slot.lock().task = Some(waker.clone());
                state.waiters.push((target, waiter.clone()));
                parked.waiter = Some(waiter);
                // An arrival: a gathering leader looks again once as many
                // came as it waits for, or its time is up.
                let due = state
                    .gathering
                    .as_ref()
                    .is_some_and(|g| arrivals() >= g.wake_at || Instant::now() >= g.until);
                let gathering = if due { state.gathering.take() } else { None };
                drop(state);
                if let Some(leader) = gathering {
                    leader.task.wake();
                }
                return Poll::Pending;
            }
            state.syncing = true;
            drop(state);
            if !self.settled_or_registered(&mut settled, waker) {
                parked.leading = true;
                return Poll::Pending;
            }
            match self.finish_lead(target, &mut sync) {
                Led::Covered(mark) => return Poll::Ready(Ok(mark)),
                Led::Again(again) => state = again,
                Led::Failed(e) => return Poll::Ready(Err(SyncFailure::Failed(e))),
            }
        }
    }

    /// A gathering leader's look: true when it should sync now; else its
    /// task is registered to be woken by the first waiter that parks once
    /// the arrivals reached the look's `wake_at` (or after its `until`),
    /// looked at again under the gate's lock, so an arrival in between is
    /// not missed (an appender counts its arrival before its wait parks).
    fn settled_or_registered(&self, settled: &mut impl FnMut() -> Look, waker: &Waker) -> bool {
        if settled() == Look::Sync {
            return true;
        }
        let mut state = self.state.lock();
        let look = settled();
        let Look::Gather { wake_at, until } = look else {
            state.gathering = None;
            return true;
        };
        if state.failed {
            state.gathering = None;
            return true;
        }
        match &mut state.gathering {
            Some(gathering) if gathering.task.will_wake(waker) => {
                gathering.wake_at = wake_at;
                gathering.until = until;
            }
            slot => {
                *slot = Some(Gathering {
                    task: waker.clone(),
                    wake_at,
                    until,
                });
            }
        }
        false
    }

    /// Give back an async wait's registration ([`SyncGate::poll_synced`])
    /// when the wait is dropped unfinished: out of the gate's list, and if
    /// it had been handed the next turn to lead (or may have been: it is no
    /// longer listed), that turn goes to the next waiter, so the others do
    /// not sleep with nobody to lead their sync.
    pub fn abandon(&self, parked: &mut Parked) {
        if std::mem::take(&mut parked.leading) {
            // It held the turn to lead and had not synced: the gate shows no
            // sync running again, and the turn goes to the first waiter.
            let mut state = self.state.lock();
            state.syncing = false;
            state.gathering = None;
            if state.failed {
                return;
            }
            let wakes = state.release();
            drop(state);
            wakes.send();
            return;
        }
        let Some(waiter) = parked.waiter.take() else {
            return;
        };
        let mut state = self.state.lock();
        let listed = state.waiters.len();
        state.waiters.retain(|(_, listed)| !Arc::ptr_eq(listed, &waiter));
        if state.waiters.len() < listed || state.failed {
            return;
        }
        let wakes = state.release();
        drop(state);
        wakes.send();
    }

    /// Fail every current and future waiter (used when the store is poisoned elsewhere).
    pub fn fail(&self) {
        let mut state = self.state.lock();
        state.failed = true;
        let waiters = state.release_all();
        let gathering = state.gathering.take();
        drop(state);
        if let Some(leader) = gathering {
            leader.task.wake();
        }
        for waiter in waiters {
            waiter.wake(Wake::Recheck);
        }
    }
}
