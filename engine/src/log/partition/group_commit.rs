//! The partition's side of group commit: a leader gathers appenders,
//! writes the pending batches and fdatasyncs ([`crate::log::group_commit`]
//! holds the gate); interval flushes.

use super::*;

impl Partition {
    /// Wait until everything up to `offset` is durable, leading a group fsync if needed.
    pub(super) fn sync_to(&self, offset: u64, gather: bool) -> Result<()> {
        let metrics = &self.context.metrics;
        let outcome = |woken: bool| {
            metrics.group_commit_spins.fetch_add(1, Ordering::Relaxed);
            if woken {
                metrics.group_commit_spin_handoffs.fetch_add(1, Ordering::Relaxed);
            }
        };
        let spin = Spin {
            budget: if gather { self.spin_budget() } else { Duration::ZERO },
            outcome: &outcome,
        };
        let result = self
            .gate
            .wait_synced_settled(offset, spin, || self.settle(gather), || self.lead_sync());
        self.after_sync(result)
    }

    /// The async form of [`Partition::sync_to`] for an appender: `Pending`
    /// with `waker` parked in the gate until a sync covers `offset` or hands
    /// this wait the next turn to lead, which then runs on the polling
    /// thread. A leader gathers as an embedded appender's does (`settle`
    /// with `gather`), but across polls
    /// ([`crate::commit::SyncGate::poll_synced_gathering`]): between looks
    /// its task sleeps, woken by each wait that parks behind it, instead of
    /// spinning on the thread the connections it waits for need; the
    /// caller's timer ends a gathering nobody comes to (`stop_gathering`). A wait dropped
    /// before `Ready` gives `parked` back with [`Partition::abandon_durable`].
    pub(crate) fn poll_durable(&self, offset: u64, parked: &mut Parked, waker: &Waker) -> Poll<Result<()>> {
        if !self.owes_sync(offset) {
            return Poll::Ready(Ok(()));
        }
        let settled = || {
            let mut gathering = self.gathering.lock();
            let settling = gathering.get_or_insert_with(|| self.settle_start(true));
            let look = self.settled_look(settling);
            if look == Look::Sync {
                *gathering = None;
            }
            look
        };
        self.gate
            .poll_synced_gathering(
                offset,
                parked,
                waker,
                settled,
                || self.entered.load(Ordering::Acquire),
                || self.lead_sync(),
            )
            .map(|result| self.after_sync(result))
    }

    /// End the gathering of the wait that holds the turn to lead: its next
    /// look syncs (once the appenders mid-write finished). For a caller's
    /// timer: a gathering leader is woken only by arrivals.
    pub(crate) fn stop_gathering(&self) {
        if let Some(settling) = self.gathering.lock().as_mut() {
            settling.expected = 0;
        }
    }

    /// See [`Partition::poll_durable`].
    pub(crate) fn abandon_durable(&self, parked: &mut Parked) {
        if parked.is_leading() {
            // Before the turn passes on: the next leader settles afresh.
            *self.gathering.lock() = None;
        }
        self.gate.abandon(parked);
    }

    /// A group-commit leader's sync, with the counts the settle step and the
    /// spin budget read.
    fn lead_sync(&self) -> Result<()> {
        // What this sync covers: appends started before its snapshot.
        let entered = self.entered.load(Ordering::Acquire);
        let before = self.entered_at_snapshot.swap(entered, Ordering::AcqRel);
        self.covered_by_last_sync
            .store(entered.saturating_sub(before), Ordering::Release);
        let result = self.write_and_sync();
        self.entered_at_sync_end
            .store(self.entered.load(Ordering::Acquire), Ordering::Release);
        result
    }

    /// Publish what a wait's sync covered, or (it failed) leave the unsynced
    /// range to be written again.
    fn after_sync(&self, result: std::result::Result<Mark, SyncFailure<Error>>) -> Result<()> {
        match result {
            Ok(mark) => {
                self.publish(mark.offset);
                Ok(())
            }
            Err(SyncFailure::Failed(e)) => {
                // The checked file poisoned the store and failed the gate.
                let w = self.writer.lock();
                self.redirty_unsynced(&w.active);
                Err(e)
            }
            Err(SyncFailure::Poisoned) => Err(Error::Poisoned),
        }
    }

    /// How long a thread waiting for another's group fsync spins before it
    /// sleeps (`SyncGate::wait_synced_settled`): the time `SPIN_SYNCS` recent
    /// fsyncs take (a waiter that arrived during one sync is covered by the
    /// next). Not at all when that is over the store's `group_commit_spin`
    /// (a slow disk: a wake-up is small beside the wait, and the spinning
    /// would only burn CPU), nor when the last sync covered fewer than
    /// `SPIN_GROUP_MIN` appends (the wake-ups spinning saves are one per
    /// member of the group; a small group's are cheap).
    pub(super) fn spin_budget(&self) -> Duration {
        if self.covered_by_last_sync.load(Ordering::Relaxed) < SPIN_GROUP_MIN {
            return Duration::ZERO;
        }
        let expected = Duration::from_micros(self.recent_fsync_us.load(Ordering::Relaxed).saturating_mul(SPIN_SYNCS));
        if expected > self.context.group_commit_spin {
            Duration::ZERO
        } else {
            expected
        }
    }

    /// Group commit: before snapshotting what its fsync will cover, a leader
    /// waits (briefly, bounded) for appenders that are inside `append` to
    /// finish encoding, and for those the previous sync acknowledged to come
    /// back with their next batch, as long as they keep arriving: one fsync
    /// then covers them all. Without the second wait, sixteen appenders split
    /// into two groups that alternate between syncs, each fsync covering
    /// eight; with it, one covering sixteen, and the appenders write while no
    /// fsync runs instead of waiting for one that started without them. Only
    /// a leader that is itself such an appender (`Partition::append`) gathers.
    pub(super) fn settle(&self, gather: bool) {
        let mut settling = self.settle_start(gather);
        while !self.settled(&mut settling) {
            std::thread::yield_now();
        }
    }

    /// A leader's settling, begun now (see [`Partition::settle`]).
    pub(super) fn settle_start(&self, gather: bool) -> Settling {
        let started = Instant::now();
        Settling {
            started,
            expected: if gather {
                self.covered_by_last_sync.load(Ordering::Acquire)
            } else {
                0
            },
            base: self.entered_at_sync_end.load(Ordering::Acquire),
            arrived: self.entered.load(Ordering::Acquire),
            last_arrival: started,
        }
    }

    /// One look of a settling leader: true when it should sync now.
    pub(super) fn settled(&self, settling: &mut Settling) -> bool {
        let now = Instant::now();
        let writing = self.appending.load(Ordering::Acquire) > 0 && now - settling.started < SETTLE_MAX;
        let entered = self.entered.load(Ordering::Acquire);
        if entered != settling.arrived {
            settling.arrived = entered;
            settling.last_arrival = now;
        }
        let gathering = entered.saturating_sub(settling.base) < settling.expected
            && now - settling.started < GATHER_MAX
            && now - settling.last_arrival < GATHER_IDLE;
        !writing && !gathering
    }

    /// [`Partition::settled`] for an async leader: when it gathers on, the
    /// count of appends (`entered`) at which it has all it expects, and
    /// until when it gathers, so that the gate wakes it once for them
    /// rather than at each arrival. An appender still writing (counted,
    /// not parked yet) wakes it when it parks.
    pub(super) fn settled_look(&self, settling: &mut Settling) -> Look {
        if self.settled(settling) {
            return Look::Sync;
        }
        let all_back = settling.base.saturating_add(settling.expected);
        Look::Gather {
            wake_at: if settling.arrived >= all_back { 0 } else { all_back },
            until: settling.started + GATHER_MAX,
        }
    }

    /// A group-commit leader's sync: the pending batches, then the fdatasync.
    fn write_and_sync(&self) -> Result<()> {
        {
            // Without the writer lock: appenders go on appending meanwhile.
            let mut spare = self.pending_write.lock();
            let (position, segment) = {
                let mut pending = self.pending.lock();
                std::mem::swap(&mut pending.bytes, &mut *spare);
                (pending.position, pending.segment.take())
            };
            let result = match segment {
                Some(segment) if !spare.is_empty() => write_batches(&segment, &spare, position),
                _ => Ok(()),
            };
            spare.clear();
            result?;
        }
        let active = self.active_segment();
        if cfg!(feature = "test-skip-fsync") {
            return Ok(());
        }
        let started = Instant::now();
        let r = active.log.sync_data("fsync segment");
        let micros = started.elapsed().as_micros() as u64;
        self.context.metrics.record_fsync(micros);
        // One leader at a time per partition: no lost updates that matter.
        let recent = self.recent_fsync_us.load(Ordering::Relaxed);
        let average = if recent == 0 {
            micros
        } else {
            recent.saturating_mul(3).saturating_add(micros) / 4
        };
        self.recent_fsync_us.store(average, Ordering::Relaxed);
        r
    }

    /// After a failed fdatasync, Linux marks the unwritten pages clean: reads
    /// still return the new bytes but no later fsync writes them, so a reopen
    /// in the same boot would trust data a power cut then takes back. Write
    /// the unsynced range again (from the page cache) so that the fsync at
    /// the next open either makes it durable or fails. Best effort: the store
    /// is already poisoned.
    pub(super) fn redirty_unsynced(&self, active: &Segment) {
        let synced = self.gate.synced();
        let from = if synced.segment_base == active.base_offset {
            synced.position
        } else {
            0
        };
        let to = active.state.lock().flushed_len;
        rewrite_range(active.log.raw(), &active.log_path, from, to);
    }

    /// Make everything written durable and visible (interval flush, close).
    pub fn flush(&self) -> Result<()> {
        *self.last_flush.lock() = Instant::now();
        let written = self.gate.written();
        if self.gate.synced().offset < written.offset {
            self.sync_to(written.offset, false)?;
        }
        self.publish(written.offset);
        // The log is durable up to the synced mark: its index entries may now
        // reach the index file (so the next open scans only what follows).
        let synced = self.gate.synced();
        let active = self.active_segment();
        if synced.segment_base == active.base_offset {
            active.persist_index_upto(synced.position)?;
        }
        Ok(())
    }

    /// Interval-mode flush if due.
    pub fn flush_if_due(&self, now: Instant) -> Result<()> {
        if let Durability::Interval { ms } = self.durability() {
            let due = now.duration_since(*self.last_flush.lock()).as_millis() as u64 >= ms;
            if due {
                return self.flush();
            }
        }
        Ok(())
    }
}

/// A settling leader's state between looks ([`Partition::settled`]).
#[derive(Debug, Clone, Copy)]
pub(super) struct Settling {
    started: Instant,
    /// Appenders the last sync covered, to wait for (0: do not gather).
    expected: u64,
    /// `entered` when the last sync ended.
    base: u64,
    arrived: u64,
    last_arrival: Instant,
}
