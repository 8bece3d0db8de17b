//! Opening a partition: its segments, the last one's recovered tail
//! (`log::recovery`), the log start and a hole after lost offsets.

use super::*;
use crate::metrics::Metrics;

impl Partition {
    /// Create the directory of a new, empty partition (the caller fsyncs parents).
    pub fn create_files(storage: &dyn Storage, dir: &Path) -> Result<()> {
        storage.create_dir_all(dir).at("create partition dir", dir)?;
        Segment::create(storage, dir, 0, now_ms())?;
        storage.sync_dir(dir).at("fsync dir", dir)
    }

    /// Open and recover a partition. Only the last segment's tail after its last
    /// valid index entry is scanned; see the recovery table in design/durability.md.
    #[expect(
        clippy::too_many_arguments,
        reason = "debt: the recovery inputs of one partition, to become a parameter struct"
    )]
    #[expect(
        clippy::too_many_lines,
        reason = "debt: partition open and recovery; moves to log::recovery (issue 20)"
    )]
    pub fn open(
        storage: Arc<dyn Storage>,
        dir: PathBuf,
        topic: &str,
        id: u32,
        config: TopicConfig,
        durability: Durability,
        recovery: RecoveryMode,
        context: Arc<LogContext>,
        topic_bytes: Arc<AtomicU64>,
        committed_floor: u64,
    ) -> Result<Partition> {
        let now = now_ms();
        let names = storage.list_dir(&dir).at("list partition", &dir)?;
        // Entries found now may exist only in the page cache (a process crash
        // before their directory fsync): make them durable before relying on them.
        storage.sync_dir(&dir).at("fsync dir", &dir)?;
        let mut bases: Vec<u64> = names.iter().filter_map(|n| parse_log_name(n)).collect();
        bases.sort_unstable();
        if bases.is_empty() {
            Segment::create(storage.as_ref(), &dir, 0, now)?;
            storage.sync_dir(&dir).at("fsync dir", &dir)?;
            bases.push(0);
        }
        let interval = config.index_interval_bytes;
        let mut segments: Vec<Arc<Segment>> = Vec::with_capacity(bases.len());
        let (last_base, sealed_bases) = match bases.split_last() {
            Some((last, rest)) => (*last, rest),
            None => return Err(Error::invalid("partition", "no segments")),
        };
        for (base, next_base) in sealed_bases.iter().zip(bases.iter().skip(1)) {
            let segment = Segment::open_sealed(
                storage.as_ref(),
                &dir,
                *base,
                *next_base,
                interval,
                now,
                &context.metrics,
            )?;
            segments.push(Arc::new(segment));
        }
        let last = Arc::new(recover_last(
            storage.as_ref(),
            &dir,
            last_base,
            interval,
            recovery,
            now,
            &context,
        )?);
        // Segments must continue each other's offsets.
        let mut expected: Option<u64> = None;
        for s in segments.iter().chain(std::iter::once(&last)) {
            if let Some(e) = expected {
                // A gap is corruption unless recorded as a hole (`continue_at_floor`).
                let hole = s.base_offset > e && storage.exists(&dir.join(segment::hole_name(s.base_offset)));
                if s.base_offset != e && !hole {
                    return Err(Error::corruption(&s.log_path, 0, CorruptionKind::OffsetGap));
                }
            }
            expected = Some(s.state.lock().next_offset);
        }
        segments.push(last.clone());
        let (mut next_offset, mut written_len) = {
            let state = last.state.lock();
            (state.next_offset, state.written_len)
        };
        let mut last = last;
        if next_offset < committed_floor {
            last = continue_at_floor(
                storage.as_ref(),
                &dir,
                &mut segments,
                (next_offset, committed_floor),
                now,
            )?;
            context.metrics.offset_holes.fetch_add(1, Ordering::Relaxed);
            (next_offset, written_len) = (committed_floor, 0);
        }
        let bytes: u64 = segments.iter().map(|s| s.state.lock().written_len).sum();
        context.used_bytes.fetch_add(bytes, Ordering::Relaxed);
        topic_bytes.fetch_add(bytes, Ordering::Relaxed);
        let first_base = segments.first().map_or(0, |s| s.base_offset);
        let persisted_start = read_start_offset(storage.as_ref(), &dir)?;
        let start = start_offset_at_open(
            storage.as_ref(),
            &dir,
            persisted_start,
            first_base,
            next_offset,
            durability,
            &context.metrics,
        )?;
        let producers = context
            .dedup
            .open_table(storage.as_ref(), &dir, &segments, next_offset, &context.metrics)?;
        // Everything recovered is durable: the tail was just fsync'd.
        let mark = Mark {
            offset: next_offset,
            segment_base: last.base_offset,
            position: written_len,
        };
        // Live from here: a failed write or fsync of any of its files
        // poisons the store (io/checked.rs); recovery's above did not.
        let gate = Arc::new(SyncGate::new(mark));
        let failure: Arc<dyn FailureSink> = Arc::new(PoisonOnFailure {
            context: context.clone(),
            gate: gate.clone(),
        });
        for segment in &segments {
            segment.arm(&failure);
        }
        Ok(Partition {
            topic: topic.to_string(),
            id,
            dir,
            storage,
            config: Mutex::new(Arc::new(config)),
            durability: AtomicU64::new(encode_durability(durability)),
            always_upto: AtomicU64::new(0),
            context,
            topic_bytes,
            writer: Mutex::new(Writer {
                active: last,
                next_offset,
                scratch: Vec::new(),
                producers,
                snapshot_offset: 0,
                snapshot_at: Instant::now(),
            }),
            segments: Mutex::new(Arc::new(segments)),
            gate,
            failure,
            high_watermark: AtomicU64::new(next_offset),
            start_offset: AtomicU64::new(start),
            retention_floor: AtomicU64::new(NO_RETENTION_FLOOR),
            last_flush: Mutex::new(Instant::now()),
            holds: crate::log::stable::StableOffset::new(),
            appending: AtomicU64::new(0),
            pending: Mutex::new(Pending::default()),
            pending_write: Mutex::new(Vec::new()),
            entered: AtomicU64::new(0),
            entered_at_snapshot: AtomicU64::new(0),
            entered_at_sync_end: AtomicU64::new(0),
            covered_by_last_sync: AtomicU64::new(0),
            recent_fsync_us: AtomicU64::new(0),
            gathering: Mutex::new(None),
        })
    }
}

/// The recovered log ends at `end`, below `floor`, an offset a group has
/// committed (so the partition's offsets reached it once): appending at
/// `end` would hand records offsets the group has read past, and it would
/// skip them. So the partition continues at `floor` (design/durability.md,
/// "Offsets are never handed out twice"): the hole marker `<floor>.hole` is made
/// durable, then the active segment is sealed (or removed when empty) and an
/// empty segment is created at `floor`. Offsets `[end, floor)` are a hole
/// that reads step over; every record below `end` stays readable. A crash in
/// between leaves the marker and the evidence, so the next open finishes.
/// Returns the new active segment (pushed onto `segments`).
fn continue_at_floor(
    storage: &dyn Storage,
    dir: &Path,
    segments: &mut Vec<Arc<Segment>>,
    (end, floor): (u64, u64),
    now: i64,
) -> Result<Arc<Segment>> {
    tracing::warn!(
        partition = %dir.display(),
        log_end = end,
        floor,
        "a consumer group committed offset {floor} but the log ends at {end} (records were cut or lost): \
         new records start at {floor}; offsets {end}..{floor} are a hole"
    );
    let marker = dir.join(segment::hole_name(floor));
    write_atomic(storage, &marker, format!("{end}\n").as_bytes()).at("write hole marker", &marker)?;
    if let Some(active) = segments.last().cloned() {
        if active.state.lock().written_len == 0 {
            for path in [&active.log_path, &active.index_path] {
                if storage.exists(path) {
                    storage.remove_file(path).at("remove empty segment", path)?;
                }
            }
            segments.pop();
        } else {
            active.seal()?;
        }
    }
    let fresh = Arc::new(Segment::create(storage, dir, floor, now)?);
    storage.sync_dir(dir).at("fsync dir", dir)?;
    segments.push(fresh.clone());
    Ok(fresh)
}

fn read_start_offset(storage: &dyn Storage, dir: &Path) -> Result<Option<u64>> {
    let path = dir.join(START_OFFSET_FILE);
    if !storage.exists(&path) {
        return Ok(None);
    }
    let bytes = crate::io::read_all(storage, &path, 64).at("read start offset", &path)?;
    let text = std::str::from_utf8(&bytes).map_err(|_| Error::corruption(&path, 0, CorruptionKind::BadMetadata))?;
    text.trim()
        .parse()
        .map(Some)
        .map_err(|_| Error::corruption(&path, 0, CorruptionKind::BadMetadata))
}

/// The log start at open: the larger of the first segment's base and the
/// persisted `start.offset`, which must lie in the log (at most its end).
/// One past the recovered end disagrees with the log (counted in
/// `derived_metadata_rejected`, warned, and the file rewritten before an
/// append can take an offset under it):
/// - under `Os`, `truncate_prefix` may have moved it past records a power
///   cut then took (the high watermark is published before the fsync): it is
///   lowered to the log end, as every record below it was truncated;
/// - under `Always` and `Interval` it was at most the durable high watermark
///   when written, so only damage (or an operator's cut of the tail below it)
///   puts it there: it is not believed, and the log starts at its first
///   segment, so that no acknowledged record is hidden.
fn start_offset_at_open(
    storage: &dyn Storage,
    dir: &Path,
    persisted: Option<u64>,
    first_base: u64,
    log_end: u64,
    durability: Durability,
    metrics: &Metrics,
) -> Result<u64> {
    let Some(persisted) = persisted.filter(|&persisted| persisted > log_end) else {
        return Ok(first_base.max(persisted.unwrap_or(0)).min(log_end));
    };
    let start = if durability == Durability::Os {
        log_end
    } else {
        first_base.min(log_end)
    };
    let path = dir.join(START_OFFSET_FILE);
    tracing::warn!(
        path = %path.display(),
        persisted,
        log_end,
        start,
        ?durability,
        "log start past the recovered log end: not believed"
    );
    metrics.derived_metadata_rejected.fetch_add(1, Ordering::Relaxed);
    write_atomic(storage, &path, format!("{start}\n").as_bytes()).at("write start offset", &path)?;
    Ok(start)
}
