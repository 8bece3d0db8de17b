//! The maintenance thread: interval flushes (every 2 ms while a topic is
//! `Interval`), and every `maintenance_interval` age-based rolls, retention,
//! producer snapshots and the expiry of idle producers. It holds the catalog
//! only while it works (a `Weak` otherwise), so the last `Store` dropped
//! closes at once.

use super::Catalog;
use crate::clock::now_ms;
use crate::error::{Error, Result};
use parking_lot::{Condvar, Mutex};
use std::path::PathBuf;
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Set to stop the thread; shared with it so that it need not hold the store.
pub(crate) type Stop = Arc<(Mutex<bool>, Condvar)>;

/// Start the maintenance thread over `catalog`.
pub(crate) fn spawn(catalog: Weak<Catalog>, stop: Stop) -> Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("millrace-maintenance".into())
        .spawn(move || maintenance_loop(catalog, stop))
        .map_err(|e| Error::io("spawn maintenance thread", PathBuf::new(), e))
}

fn maintenance_loop(weak: Weak<Catalog>, stop: Stop) {
    let mut last_maintenance = Instant::now();
    loop {
        let tick = {
            let Some(catalog) = weak.upgrade() else { return };
            if catalog.has_interval_topics() {
                Duration::from_millis(2)
            } else {
                catalog.options.maintenance_interval.min(Duration::from_millis(100))
            }
        };
        {
            let mut stopped = stop.0.lock();
            if *stopped {
                return;
            }
            stop.1.wait_for(&mut stopped, tick);
            if *stopped {
                return;
            }
        }
        let Some(catalog) = weak.upgrade() else { return };
        if catalog.shared.is_poisoned() {
            continue;
        }
        let now = Instant::now();
        let topics = catalog.topics();
        let maintenance_due = now.duration_since(last_maintenance) >= catalog.options.maintenance_interval;
        for topic in &topics {
            for p in &topic.partitions {
                if let Err(e) = p.flush_if_due(now) {
                    tracing::error!(topic = %topic.name, partition = p.id, error = %e, "interval flush failed");
                }
                if maintenance_due {
                    let wall = now_ms();
                    if let Err(e) = p
                        .roll_if_old(wall)
                        .and_then(|()| {
                            // The log start moves only under the commit lock:
                            // a commit never applies a part to a range
                            // retention is deleting.
                            let _commits = catalog.lock_commits();
                            p.enforce_retention(wall).map(|_| ())
                        })
                        .and_then(|()| p.snapshot_producers(false))
                    {
                        tracing::error!(topic = %topic.name, partition = p.id, error = %e, "maintenance failed");
                    }
                }
            }
        }
        if maintenance_due {
            let with_state: std::collections::HashSet<u64> = topics
                .iter()
                .flat_map(|topic| topic.partitions.iter())
                .flat_map(|p| p.producer_activity())
                .map(|(id, _)| id)
                .collect();
            let forgotten = catalog
                .shared
                .producers
                .epochs
                .forget_expired(now_ms(), |id| with_state.contains(&id));
            if forgotten > 0 {
                tracing::info!(forgotten, "expired producers without batches in the log forgotten");
            }
            last_maintenance = now;
        }
    }
}
