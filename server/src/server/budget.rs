//! A server-wide byte budget with first-fit admission: a reservation that
//! fits in what is free is granted at once, even while a larger one waits.
//! (A fair semaphore would queue a 12-byte `Ping` behind a 16 MiB frame that
//! a hostile client never completes, for the whole slow-client timeout.)
//! A large reservation may wait while small ones come and go; small ones are
//! answered quickly, so it gets its turn as soon as they leave room. And a
//! large reservation leaves a share of the budget free
//! ([`ByteBudget::large_keep_free`]), so that large frames a client never
//! completes cannot take the room of small requests (a `Hello`, a `Ping`).

use std::sync::Arc;

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

#[derive(Debug)]
pub struct ByteBudget {
    bytes: Arc<Semaphore>,
    /// Reservations above [`SMALL_BYTES_MAX`] leave this many bytes free.
    large_keep_free: usize,
    /// Notified whenever bytes are given back.
    released: Notify,
}

/// Bytes held in a [`ByteBudget`] until dropped.
#[derive(Debug)]
pub struct BytePermit {
    permit: Option<OwnedSemaphorePermit>,
    budget: Arc<ByteBudget>,
}

impl Drop for BytePermit {
    fn drop(&mut self) {
        drop(self.permit.take());
        self.budget.released.notify_waiters();
    }
}

/// Reservations of at most this many bytes are small: they may use the
/// whole budget.
pub const SMALL_BYTES_MAX: u32 = 64 * 1024;

impl ByteBudget {
    /// A budget of `bytes`, whose largest reservation is `largest` bytes (at
    /// most `bytes`): large reservations leave a sixteenth of it free, as
    /// much as still lets the largest one in.
    pub fn new(bytes: u32, largest: u32) -> Arc<Self> {
        let large_keep_free = (bytes.saturating_sub(largest)).min(bytes / 16) as usize;
        Arc::new(ByteBudget {
            bytes: Arc::new(Semaphore::new(bytes as usize)),
            large_keep_free,
            released: Notify::new(),
        })
    }

    /// Bytes large reservations leave free for small ones.
    pub fn large_keep_free(&self) -> usize {
        self.large_keep_free
    }

    /// Bytes free now.
    pub fn available(&self) -> usize {
        self.bytes.available_permits()
    }

    /// `bytes` now, if they are free.
    pub fn try_reserve(self: &Arc<Self>, bytes: u32) -> Option<BytePermit> {
        if bytes > SMALL_BYTES_MAX && self.available() < bytes as usize + self.large_keep_free {
            return None;
        }
        let permit = self.bytes.clone().try_acquire_many_owned(bytes.max(1)).ok()?;
        Some(BytePermit {
            permit: Some(permit),
            budget: self.clone(),
        })
    }

    /// Wait until `bytes` are free (at most the budget's size, or this waits
    /// forever: callers bound requests by `frame_bytes_max`, which every
    /// budget is at least).
    pub async fn reserve(self: &Arc<Self>, bytes: u32) -> BytePermit {
        loop {
            let released = self.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            if let Some(permit) = self.try_reserve(bytes) {
                return permit;
            }
            released.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_small_reservation_passes_a_large_waiting_one() {
        let budget = ByteBudget::new(100, 100);
        let held = budget.try_reserve(60).unwrap();
        let large = tokio::spawn({
            let budget = budget.clone();
            async move { budget.reserve(80).await }
        });
        tokio::task::yield_now().await;
        // First fit: 30 bytes are free now, although 80 are waited for.
        let small = budget.try_reserve(30).unwrap();
        assert!(budget.try_reserve(20).is_none());
        drop(small);
        drop(held);
        let large = tokio::time::timeout(std::time::Duration::from_secs(5), large)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(budget.available(), 20);
        drop(large);
        assert_eq!(budget.available(), 100);
    }
}

#[cfg(test)]
mod keep_free_tests {
    use super::*;

    #[test]
    fn large_reservations_leave_room_for_small_ones() {
        let mib = 1024 * 1024;
        let budget = ByteBudget::new(16 * mib, 4 * mib);
        assert_eq!(budget.large_keep_free(), mib as usize);
        let held: Vec<_> = (0..3).map(|_| budget.try_reserve(4 * mib).unwrap()).collect();
        // A fourth large one would leave less than the share free.
        assert!(budget.try_reserve(4 * mib).is_none());
        let small = budget.try_reserve(SMALL_BYTES_MAX).unwrap();
        drop(small);
        drop(held);
        assert_eq!(budget.available(), 16 * mib as usize);
    }
}
