//! Reader wake-up: a generation counter bumped whenever new data becomes
//! visible anywhere in the store, so consumers wait instead of polling.
//! Model-checked with loom in `tests/loom.rs`.

use crate::sync::{wait_timeout, Condvar, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
pub struct Notifier {
    generation: Mutex<u64>,
    condvar: Condvar,
}

impl Notifier {
    pub fn new() -> Self {
        Notifier {
            generation: Mutex::new(0),
            condvar: Condvar::new(),
        }
    }

    /// Current generation: read it *before* checking for data, then wait on it.
    pub fn generation(&self) -> u64 {
        *self.generation.lock()
    }

    /// Something became visible.
    pub fn notify(&self) {
        *self.generation.lock() += 1;
        self.condvar.notify_all();
    }

    /// Wait until the generation moves past `seen`, or the deadline passes.
    /// Returns true if it moved.
    pub fn wait_past(&self, seen: u64, deadline: Instant) -> bool {
        let mut generation = self.generation.lock();
        while *generation == seen {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            let timeout: Duration = deadline - now;
            wait_timeout(&self.condvar, &mut generation, timeout);
        }
        true
    }
}
