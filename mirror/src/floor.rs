//! The retention floor from the mirror's start, whether or not the target
//! was ever reached: every selected partition without a recorded position
//! gets one at its log start, so retention deletes nothing the mirror has
//! not delivered (the quota refuses new appends instead). The shards' own
//! sessions record positions too, but only once they reach the target: a
//! mirror whose link is down from the start would otherwise hold no floor.
//! [`hold`] runs when the mirror starts and then every second (a topic
//! created while the link is down gets its floor within a second).

use crate::config::MirrorConfig;
use crate::error::Result;
use crate::stats::{encode_counters, MirrorStats};
use millrace::Store;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often the floor keeper looks for partitions without a position.
const EVERY: Duration = Duration::from_secs(1);

/// Record the log start as mirror `config.name`'s position on every
/// selected partition that has none. Returns how many were recorded.
pub(crate) fn hold(
    store: &Store,
    config: &MirrorConfig,
    selection: &regex::Regex,
    stats: &MirrorStats,
) -> Result<usize> {
    let groups = store.consumer_groups();
    let held: BTreeSet<(String, u32)> = groups
        .mirror_positions(&config.name)?
        .into_iter()
        .map(|(key, _)| key)
        .collect();
    let mut missing = Vec::new();
    for topic in store.list_all_topics() {
        if !config.selects(selection, &topic) {
            continue;
        }
        let Ok(description) = store.describe_topic(&topic) else {
            continue;
        };
        for partition in 0..description.config.partitions {
            if held.contains(&(topic.clone(), partition)) {
                continue;
            }
            match store.offsets(&topic, partition) {
                Ok((start, _)) => missing.push((topic.clone(), partition, start)),
                // Deleted meanwhile: nothing to hold.
                Err(millrace::Error::TopicNotFound(_) | millrace::Error::PartitionNotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    if missing.is_empty() {
        return Ok(0);
    }
    groups.commit_mirror_positions(&config.name, &missing, &encode_counters(&stats.counters()))?;
    tracing::info!(mirror = %config.name, partitions = missing.len(), "mirror positions recorded at the log start (retention floors before delivery)");
    Ok(missing.len())
}

/// The floor keeper's thread body: [`hold`] every second until stopped or
/// the store closes. Failures are logged and tried again.
pub(crate) fn keep(
    store: &Store,
    config: &MirrorConfig,
    selection: &regex::Regex,
    stats: &MirrorStats,
    stop: &Arc<AtomicBool>,
) {
    let mut next = Instant::now() + EVERY;
    while !stop.load(Ordering::Acquire) {
        let left = next.saturating_duration_since(Instant::now());
        if !left.is_zero() {
            // `Mirror::stop` unparks this thread: it ends at once.
            std::thread::park_timeout(left);
            continue;
        }
        next = Instant::now() + EVERY;
        match hold(store, config, selection, stats) {
            Ok(_) => {}
            Err(crate::MirrorError::Store(millrace::Error::Closed)) => return,
            Err(e) => {
                tracing::warn!(mirror = %config.name, error = %e, "mirror retention floors not recorded; trying again");
            }
        }
    }
}
