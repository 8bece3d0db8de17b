//! `millrace mirror`: the edge store's topics into a Kafka cluster (Kafka,
//! Redpanda, or another Millrace's Kafka front), exactly once, with the
//! edge as store-and-forward buffer. See design/mirror.md.
//!
//! - Source: the edge [`Store`], read in-process, read-committed.
//! - Target: librdkafka (the `rdkafka` crate), an idempotent producer per
//!   shard in [`Mode::AtLeastOnce`]; in [`Mode::ExactlyOnce`] two
//!   transactional ones per shard taking turns (lanes, `transactional.id =
//!   millrace-mirror/<edge-id>/<shard>` and `.../<shard>/1`: a batch is
//!   sent while the one before commits; commits stay in order), whose
//!   every transaction carries a batch of records and, per partition in it, a progress record (key
//!   `<edge>/<topic>/<partition>`, value the next source offset, decimal)
//!   in the progress topic. A session reads that topic read-committed to
//!   its end after `init_transactions` and resumes exactly there.
//! - Store-and-forward: after each commit the positions are also recorded
//!   on the edge as mirror `<name>`'s positions (group `__mirror.<name>`),
//!   which are retention floors: the edge deletes no record it has not
//!   delivered; at the quota, producers get the quota error.
//!
//! This crate is the only one that links librdkafka: the engine and the
//! server never depend on it; the `millrace` binary does through its
//! `mirror` feature.

mod config;
mod error;
mod floor;
mod registry;
mod shard;
mod stats;
mod target;

pub use config::{MirrorConfig, Mode, PROGRESS_TOPIC_DEFAULT, TOPICS_DEFAULT};
pub use error::{MirrorError, Result};
pub use stats::{partition_lag, status, Counters, MirrorStats, MirrorStatus, PartitionLag};

use millrace::Store;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// A running mirror: one thread per shard. [`Mirror::stop`] ends it;
/// dropping it stops it too.
#[derive(Debug)]
pub struct Mirror {
    name: String,
    stats: Arc<MirrorStats>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    /// The floor keeper (`floor::keep`).
    floor: Option<JoinHandle<()>>,
}

impl Mirror {
    /// Start mirroring `store` as `config` says. The configuration is
    /// checked first; the target need not be reachable (the shards back
    /// off and retry). Before it returns, every selected partition holds
    /// its retention floor (a position at its log start if it had none),
    /// and a keeper thread gives one to each partition that appears later.
    pub fn start(store: &Store, config: MirrorConfig) -> Result<Mirror> {
        config.validate()?;
        let selection = config.selection()?;
        let stats = Arc::new(MirrorStats::default());
        stats.restore(&status(store, &config.name)?.counters);
        floor::hold(store, &config, &selection, &stats)?;
        let stop = Arc::new(AtomicBool::new(false));
        let config = Arc::new(config);
        let floor = {
            let (store, config, selection, stats, stop) = (
                store.clone(),
                config.clone(),
                selection.clone(),
                stats.clone(),
                stop.clone(),
            );
            std::thread::Builder::new()
                .name("millrace-mirror-floor".to_string())
                .spawn(move || floor::keep(&store, &config, &selection, &stats, &stop))
                .map_err(|e| MirrorError::Config(format!("cannot start a mirror thread: {e}")))?
        };
        let mut threads = Vec::new();
        for shard in 0..config.shards {
            let worker = shard::Shard {
                config: config.clone(),
                shard,
                store: store.clone(),
                stats: stats.clone(),
                stop: stop.clone(),
                selection: selection.clone(),
            };
            let spawned = std::thread::Builder::new()
                .name(format!("millrace-mirror-{shard}"))
                .spawn(move || worker.run());
            match spawned {
                Ok(handle) => threads.push(handle),
                Err(e) => {
                    stop.store(true, Ordering::Release);
                    for t in threads {
                        let _ = t.join();
                    }
                    let _ = floor.join();
                    return Err(MirrorError::Config(format!("cannot start a mirror thread: {e}")));
                }
            }
        }
        Ok(Mirror {
            name: config.name.clone(),
            stats,
            stop,
            threads,
            floor: Some(floor),
        })
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its live numbers.
    pub fn stats(&self) -> &Arc<MirrorStats> {
        &self.stats
    }

    /// Whether every shard has ended (stopped, or the store closed).
    pub fn is_finished(&self) -> bool {
        self.threads.iter().all(JoinHandle::is_finished)
    }

    /// Stop: each shard finishes (or aborts) its transaction and ends.
    pub fn stop(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = &self.floor {
            t.thread().unpark();
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        if let Some(t) = self.floor.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Mirror {
    fn drop(&mut self) {
        self.stop_now();
    }
}
