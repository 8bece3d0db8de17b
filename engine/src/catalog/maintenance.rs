//! The maintenance thread: interval flushes (every 2 ms while a topic is
//! `Interval`), and every `maintenance_interval` age-based rolls, retention,
//! producer snapshots, and the facade's chore (the expiry of idle
//! producers). It holds the catalog
//! only while it works (a `Weak` otherwise), so the last `Store` dropped
//! closes at once.

use super::Catalog;
use crate::clock::now_ms;
use crate::error::Result;
use crate::io::checked::IoContext;
use parking_lot::{Condvar, Mutex};
use std::path::Path;
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What the facade adds to each maintenance round, after the partitions'
/// own work (the expiry of idle producers: the catalog knows no feature).
pub(crate) type Chore = Box<dyn Fn(&Catalog) + Send>;

/// Set to stop the thread; shared with it so that it need not hold the store.
pub(crate) type Stop = Arc<(Mutex<bool>, Condvar)>;

/// Start the maintenance thread over `catalog`.
pub(crate) fn spawn(catalog: Weak<Catalog>, stop: Stop, chore: Chore) -> Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("millrace-maintenance".into())
        .spawn(move || maintenance_loop(catalog, stop, chore))
        .at("spawn maintenance thread", Path::new(""))
}

fn maintenance_loop(weak: Weak<Catalog>, stop: Stop, chore: Chore) {
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
            chore(&catalog);
            last_maintenance = now;
        }
    }
}
