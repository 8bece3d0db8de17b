//! A replay job's second durable anchor: the destination itself.
//!
//! Each copied record carries `millrace.replay.job = <name>#<generation>`
//! next to its `millrace.replay.source` header, in the same transaction as
//! the job's offset commit. If the commit is lost (a repair of `__offsets`
//! takes it out), the destination still says how far the copy got: a rerun
//! resumes after the last source offset the job's latest generation copied,
//! so no record is copied twice. A generation is one `--restart` of the job
//! (the first run is 0; resumes keep it), so records of an earlier pass over
//! the range do not count as progress of a later one; the job's commits carry
//! their generation as metadata (`replay-generation=<n>`) for the same reason.
//!
//! Per destination partition the search walks back from the end in growing
//! windows and stops at the first record of an older generation, or once it
//! has seen every source partition that can land there: a destination that
//! holds mostly this job's records costs one window per partition.

use super::SOURCE_HEADER;
use crate::error::CliResult;
use crate::target::Target;
use std::collections::{BTreeMap, BTreeSet};

/// Header naming the job and generation that copied a record.
pub const JOB_HEADER: &str = "millrace.replay.job";
/// Prefix of the job's commit metadata.
const GENERATION_METADATA: &str = "replay-generation=";
/// First and largest window of the backward search, in records.
const WINDOW_FIRST: u64 = 512;
const WINDOW_MAX: u64 = 65_536;

pub fn job_header_value(job: &str, generation: u64) -> Vec<u8> {
    format!("{job}#{generation}").into_bytes()
}

pub fn generation_metadata(generation: u64) -> Vec<u8> {
    format!("{GENERATION_METADATA}{generation}").into_bytes()
}

/// The generation a commit's metadata names (0: a commit without one, made
/// before generations existed, or by a first run).
pub fn generation_of_metadata(metadata: &[u8]) -> u64 {
    std::str::from_utf8(metadata)
        .ok()
        .and_then(|m| m.strip_prefix(GENERATION_METADATA))
        .and_then(|g| g.parse().ok())
        .unwrap_or(0)
}

/// What the destination says of a job.
#[derive(Debug, Default)]
pub struct Anchor {
    /// The latest generation with records in the destination.
    pub generation: Option<u64>,
    /// Per source partition, the offset after the last record that
    /// generation copied.
    pub copied_until: BTreeMap<u32, u64>,
}

fn parse_job(value: &[u8], job: &str) -> Option<u64> {
    let text = std::str::from_utf8(value).ok()?;
    let (name, generation) = text.rsplit_once('#')?;
    (name == job).then(|| generation.parse().ok()).flatten()
}

fn parse_source(value: &[u8], source: &str) -> Option<(u32, u64)> {
    let text = std::str::from_utf8(value).ok()?;
    let (at, offset) = text.rsplit_once('@')?;
    let (topic, partition) = at.rsplit_once('/')?;
    (topic == source)
        .then(|| Some((partition.parse().ok()?, offset.parse().ok()?)))
        .flatten()
}

fn header<'a>(headers: &'a [(String, Vec<u8>)], name: &str) -> Option<&'a [u8]> {
    headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_slice())
}

/// What one destination partition says: the generation of the job's latest
/// record there and, for that generation, the offset after the last copied
/// record per source partition.
fn search_partition(
    store: &Target,
    destination: &str,
    partition: u32,
    job: &str,
    source: &str,
    wanted: &BTreeSet<u32>,
) -> CliResult<Option<(u64, BTreeMap<u32, u64>)>> {
    let (log_start, high_watermark) = store.offsets(destination, partition)?;
    let mut generation: Option<u64> = None;
    let mut copied_until: BTreeMap<u32, u64> = BTreeMap::new();
    let mut end = high_watermark;
    let mut window = WINDOW_FIRST;
    while end > log_start {
        let from = end.saturating_sub(window).max(log_start);
        let mut records = Vec::new();
        let mut position = from;
        while position < end {
            let want = usize::try_from(end - position).unwrap_or(usize::MAX);
            let read = store.read(destination, partition, position, want, None)?;
            records.extend(read.records.into_iter().filter(|r| r.offset < end));
            if read.next_offset <= position {
                break;
            }
            position = read.next_offset;
        }
        for record in records.iter().rev() {
            let Some(found) = header(&record.headers, JOB_HEADER).and_then(|v| parse_job(v, job)) else {
                continue;
            };
            if *generation.get_or_insert(found) != found {
                // An earlier generation: nothing older belongs to this one.
                return Ok(generation.map(|g| (g, copied_until)));
            }
            if let Some((p, offset)) = header(&record.headers, SOURCE_HEADER).and_then(|v| parse_source(v, source)) {
                let until = copied_until.entry(p).or_insert(0);
                *until = (*until).max(offset + 1);
            }
        }
        if !wanted.is_empty() && wanted.iter().all(|p| copied_until.contains_key(p)) {
            break;
        }
        end = from;
        window = (window * 2).min(WINDOW_MAX);
    }
    Ok(generation.map(|g| (g, copied_until)))
}

/// Search every destination partition the job's source partitions can land
/// in: with the same partition count a record keeps its partition number,
/// otherwise any.
pub fn find(
    store: &Target,
    destination: &str,
    job: &str,
    source: &str,
    source_partitions: &[u32],
    same_layout: bool,
) -> CliResult<Anchor> {
    let destination_partitions = store.partition_count(destination)?;
    let mut per_partition = Vec::new();
    for d in 0..destination_partitions {
        let wanted: BTreeSet<u32> = if same_layout {
            source_partitions.iter().copied().filter(|p| *p == d).collect()
        } else {
            source_partitions.iter().copied().collect()
        };
        if wanted.is_empty() {
            continue;
        }
        per_partition.extend(search_partition(store, destination, d, job, source, &wanted)?);
    }
    let generation = per_partition.iter().map(|(g, _)| *g).max();
    let mut copied_until: BTreeMap<u32, u64> = BTreeMap::new();
    for (g, found) in per_partition {
        if Some(g) != generation {
            continue;
        }
        for (p, until) in found {
            let entry = copied_until.entry(p).or_insert(0);
            *entry = (*entry).max(until);
        }
    }
    Ok(Anchor {
        generation,
        copied_until,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip() {
        assert_eq!(parse_job(&job_header_value("a#b", 3), "a#b"), Some(3));
        assert_eq!(parse_job(&job_header_value("a", 3), "b"), None);
        assert_eq!(parse_source(b"src/2@17", "src"), Some((2, 17)));
        assert_eq!(parse_source(b"other/2@17", "src"), None);
        assert_eq!(generation_of_metadata(&generation_metadata(5)), 5);
        assert_eq!(generation_of_metadata(b""), 0);
    }
}
