//! `check`'s dry run of the roll-forward of interrupted topic deletes
//! (design/durability.md, "Topic configuration changes"): for each topic
//! whose last `__config_changes` record is a delete, what the next open
//! would still remove: the topic's directory (the whole delete), its DLQ, or
//! the committed offsets kept on it or its DLQ. Each is reported as
//! recoverable (the open finishes it by itself); a store whose deletes all
//! finished reports nothing.

use super::transactions::{read_start_offset, segments};
use super::*;
use crate::catalog::changes::{decode_change, ConfigChangeKind, CONFIG_CHANGES_TOPIC};
use crate::consumer::offsets::OFFSETS_TOPIC;
use crate::pipeline::dlq::dlq_topic_name;
use std::collections::{BTreeMap, BTreeSet};

/// Where a topic's last config change record is: (its kind, segment file,
/// byte position of its batch, offset).
type LastChange = (ConfigChangeKind, PathBuf, u64, u64);

pub(super) fn check_interrupted_deletes(storage: &dyn Storage, path: &Path, report: &mut CheckReport) -> Result<()> {
    let topics_dir = path.join(TOPICS_DIR);
    let Some(last) = last_changes(
        storage,
        &topics_dir.join(CONFIG_CHANGES_TOPIC).join(partition_dir_name(0)),
    )?
    else {
        return Ok(());
    };
    let mut leftover_offsets: Vec<(String, PathBuf, u64, u64)> = Vec::new();
    let mut names: BTreeSet<String> = BTreeSet::new();
    for (topic, (kind, log, position, offset)) in last {
        if kind != ConfigChangeKind::Delete {
            continue;
        }
        let dlq = dlq_topic_name(&topic);
        let what = if is_dir(storage, &topics_dir.join(&topic))? {
            "its directory is still here: the next open finishes the delete (its DLQ and committed offsets go with it)"
                .to_string()
        } else if is_dir(storage, &topics_dir.join(&dlq))? {
            format!("its DLQ {dlq} is still here: the next open deletes it and forgets the committed offsets on both")
        } else {
            names.insert(dlq);
            names.insert(topic.clone());
            leftover_offsets.push((topic, log, position, offset));
            continue;
        };
        report.problems.push(Problem {
            path: log,
            position,
            kind: CorruptionKind::BadRecord,
            severity: Severity::Recoverable,
            detail: format!("topic {topic:?} is deleted (config change record at offset {offset}) but {what}"),
        });
    }
    if leftover_offsets.is_empty() {
        return Ok(());
    }
    let offsets_dir = topics_dir.join(OFFSETS_TOPIC).join(partition_dir_name(0));
    let kept = committed_positions(storage, &offsets_dir, &names)?;
    for (topic, log, position, offset) in leftover_offsets {
        let dlq = dlq_topic_name(&topic);
        let on: Vec<&(String, String, u32)> = kept.iter().filter(|(_, t, _)| *t == topic || *t == dlq).collect();
        if on.is_empty() {
            continue;
        }
        let groups: BTreeSet<&str> = on.iter().map(|(g, _, _)| g.as_str()).collect();
        report.problems.push(Problem {
            path: log,
            position,
            kind: CorruptionKind::BadRecord,
            severity: Severity::Recoverable,
            detail: format!(
                "topic {topic:?} is deleted (config change record at offset {offset}) but {} committed offsets of group(s) {} are still kept on it or its DLQ: the next open forgets them",
                on.len(),
                groups.into_iter().collect::<Vec<_>>().join(", ")
            ),
        });
    }
    Ok(())
}

/// Each topic's last config change record, as the open reads the log
/// (from its log start); `None` when there is no log, or when a record does
/// not decode (the open then finishes nothing and says so; the record is
/// reported by the partition check if its batch is bad).
fn last_changes(storage: &dyn Storage, dir: &Path) -> Result<Option<BTreeMap<String, LastChange>>> {
    if !is_dir(storage, dir)? {
        return Ok(None);
    }
    let start = read_start_offset(storage, dir);
    let mut last: BTreeMap<String, LastChange> = BTreeMap::new();
    let mut undecodable = false;
    for (base, log) in segments(storage, dir)? {
        let scan = scan_log(storage, &log, base, true, &mut |_| {}, &mut |position, _, records| {
            for r in records.into_iter().filter(|r| r.offset >= start) {
                match decode_change(&r.value) {
                    Some(change) => {
                        last.insert(change.topic, (change.kind, log.clone(), position, r.offset));
                    }
                    None => undecodable = true,
                }
            }
            !undecodable
        })?;
        if undecodable || scan.invalid.is_some() {
            break;
        }
    }
    Ok((!undecodable).then_some(last))
}

/// The (group, topic, partition) positions with a commit kept in
/// `__offsets` (from its log start) on one of `topics`.
fn committed_positions(
    storage: &dyn Storage,
    dir: &Path,
    topics: &BTreeSet<String>,
) -> Result<BTreeSet<(String, String, u32)>> {
    let mut kept = BTreeSet::new();
    if !is_dir(storage, dir)? {
        return Ok(kept);
    }
    let start = read_start_offset(storage, dir);
    for (base, log) in segments(storage, dir)? {
        let scan = scan_log(storage, &log, base, true, &mut |_| {}, &mut |_, _, records| {
            for r in records.into_iter().filter(|r| r.offset >= start) {
                if let Some((key, _)) = crate::consumer::offsets::decode(&r.value) {
                    if topics.contains(&key.1) {
                        kept.insert(key);
                    }
                }
            }
            true
        })?;
        if scan.invalid.is_some() {
            break;
        }
    }
    Ok(kept)
}
