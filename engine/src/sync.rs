//! Every lock, condition variable and atomic the engine shares between threads
//! goes through this facade, so `RUSTFLAGS="--cfg loom"` model-checks them.

#[cfg(not(loom))]
mod imp {
    pub use parking_lot::{Condvar, Mutex, MutexGuard, RwLock};
    pub use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    pub use std::sync::Arc;

    /// Wait on `condvar` for at most `timeout`; true if it timed out.
    pub fn wait_timeout<T>(condvar: &Condvar, guard: &mut MutexGuard<'_, T>, timeout: std::time::Duration) -> bool {
        condvar.wait_for(guard, timeout).timed_out()
    }

    /// Yield the CPU in a loop until `done` or `budget` has passed.
    pub fn spin_until(done: impl Fn() -> bool, budget: std::time::Duration) {
        let started = std::time::Instant::now();
        while !done() && started.elapsed() < budget {
            std::thread::yield_now();
        }
    }
}

#[cfg(loom)]
mod imp {
    pub use loom::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    pub use loom::sync::Arc;
    use std::ops::{Deref, DerefMut};

    /// parking_lot-shaped wrappers around loom's std-shaped primitives.
    #[derive(Debug, Default)]
    pub struct Mutex<T>(loom::sync::Mutex<T>);
    pub struct MutexGuard<'a, T>(Option<loom::sync::MutexGuard<'a, T>>);

    impl<T> Mutex<T> {
        pub fn new(value: T) -> Self {
            Mutex(loom::sync::Mutex::new(value))
        }
        #[expect(clippy::unwrap_used, reason = "loom mutexes are never poisoned in models")]
        pub fn lock(&self) -> MutexGuard<'_, T> {
            MutexGuard(Some(self.0.lock().unwrap()))
        }
    }
    impl<T> Deref for MutexGuard<'_, T> {
        type Target = T;
        #[expect(clippy::unwrap_used, reason = "guard is always present outside wait")]
        fn deref(&self) -> &T {
            self.0.as_ref().unwrap()
        }
    }
    impl<T> DerefMut for MutexGuard<'_, T> {
        #[expect(clippy::unwrap_used, reason = "guard is always present outside wait")]
        fn deref_mut(&mut self) -> &mut T {
            self.0.as_mut().unwrap()
        }
    }

    #[derive(Debug, Default)]
    pub struct Condvar(loom::sync::Condvar);
    impl Condvar {
        pub fn new() -> Self {
            Condvar(loom::sync::Condvar::new())
        }
        #[expect(clippy::unwrap_used, reason = "loom mutexes are never poisoned in models")]
        pub fn wait<T>(&self, guard: &mut MutexGuard<'_, T>) {
            let inner = guard.0.take().unwrap();
            guard.0 = Some(self.0.wait(inner).unwrap());
        }
        pub fn notify_all(&self) -> usize {
            self.0.notify_all();
            0
        }
        pub fn notify_one(&self) -> bool {
            self.0.notify_one();
            false
        }
    }

    /// loom has no timeouts: a timed wait is modelled as a plain wait, which is
    /// the worst case for liveness (a missed wake-up shows up as a deadlock).
    pub fn wait_timeout<T>(condvar: &Condvar, guard: &mut MutexGuard<'_, T>, _timeout: std::time::Duration) -> bool {
        condvar.wait(guard);
        false
    }

    /// One look and one yield: loom explores the interleavings around them
    /// (an unbounded loop would give it unboundedly many).
    pub fn spin_until(done: impl Fn() -> bool, _budget: std::time::Duration) {
        if !done() {
            loom::thread::yield_now();
        }
    }

    pub type RwLock<T> = parking_lot::RwLock<T>;
}

pub use imp::*;
