//! The transaction answered at its commit point whose parts are still being
//! made durable (`Transaction::commit_at_commit_point`, design/durability.md
//! "Transactions"): at most one at a time. Every holder of the commit lock
//! but the next such commit waits for it first, so a log-start move, a topic
//! deletion, an epoch bump or close never overlaps a part being applied.

use parking_lot::{Condvar, Mutex};

/// Whether a commit's parts are being applied outside the commit lock.
#[derive(Debug, Default)]
pub(crate) struct Applying {
    busy: Mutex<bool>,
    idle: Condvar,
}

impl Applying {
    /// A commit's parts are written, their sync runs after the lock is
    /// released (called under the commit lock, when idle).
    pub(crate) fn start(&self) {
        *self.busy.lock() = true;
    }

    /// Its parts are durable and released (or the store is poisoned).
    pub(crate) fn finish(&self) {
        *self.busy.lock() = false;
        self.idle.notify_all();
    }

    /// Wait until no commit's parts are being applied.
    pub(crate) fn wait_idle(&self) {
        let mut busy = self.busy.lock();
        while *busy {
            self.idle.wait(&mut busy);
        }
    }
}
