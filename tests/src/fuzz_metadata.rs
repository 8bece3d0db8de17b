//! The per-input check of the `metadata_open` fuzz target, shared with
//! `tests/it/fuzz_corpus.rs`, which replays `fuzz/corpus/metadata_open` in CI.
//!
//! `segment_recovery` covers the segments; this covers every other file a
//! store reads when it opens, and the internal records it decodes then:
//! `topic.meta`, `producers.registry`, a producer snapshot
//! (`<offset>.producers`), a segment index, `start.offset`, and the value of
//! a record in `__offsets`, `__transactions` (whose records carry whole
//! batches), `__attempts` and `__offset_resets`. The first input byte picks
//! the file ([`Target`]); the rest replaces it, once as given and once with
//! the format's checksum appended (so mutations reach the parser behind the
//! CRC). Then `Store::open` must return `Ok` or an error, never panic and
//! never allocate more than [`allocation_bound_bytes`]; a store that opened
//! must answer reads of everything it decoded, take an append, close and
//! open again with the same committed offsets.

use crate::alloc_track::{self, AllocationStats};
use crate::fuzz_checks::{collect_files, fuzz_store_options as store_options, scratch_dir};
use millrace::batch::{self, BatchHeader};
use millrace::{Error, ReadOptions, Record, ResetRequest, ResetScope, ResetTarget, Store, TopicConfig};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const TOPIC: &str = "meta";
const GROUP: &str = "g";

/// Which file of the store the fuzzed bytes replace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    TopicMeta,
    ProducerRegistry,
    ProducerSnapshot,
    Index,
    StartOffset,
    OffsetCommit,
    TransactionCommit,
    Attempts,
    ResetAudit,
}

impl Target {
    pub const ALL: [Target; 9] = [
        Target::TopicMeta,
        Target::ProducerRegistry,
        Target::ProducerSnapshot,
        Target::Index,
        Target::StartOffset,
        Target::OffsetCommit,
        Target::TransactionCommit,
        Target::Attempts,
        Target::ResetAudit,
    ];

    /// The target an input's first byte selects.
    pub fn of(selector: u8) -> Target {
        let index = usize::from(selector) % Target::ALL.len();
        Target::ALL.get(index).copied().unwrap_or(Target::TopicMeta)
    }

    /// The selector byte of this target.
    pub fn selector(self) -> u8 {
        Target::ALL.iter().position(|t| *t == self).unwrap_or(0) as u8
    }

    /// The internal topic whose first record's value this target replaces.
    fn internal_topic(self) -> Option<&'static str> {
        match self {
            Target::OffsetCommit => Some("__offsets"),
            Target::TransactionCommit => Some("__transactions"),
            Target::Attempts => Some("__attempts"),
            Target::ResetAudit => Some("__offset_resets"),
            _ => None,
        }
    }

    /// `payload` with the checksum this target's format ends in.
    fn with_checksum(self, payload: &[u8]) -> Option<Vec<u8>> {
        let crc = crc32fast::hash(payload);
        match self {
            Target::TopicMeta => {
                let mut fixed = payload.to_vec();
                fixed.extend_from_slice(format!("crc32={crc:08x}\n").as_bytes());
                Some(fixed)
            }
            Target::Index | Target::StartOffset => None,
            _ => {
                let mut fixed = payload.to_vec();
                fixed.extend_from_slice(&crc.to_le_bytes());
                Some(fixed)
            }
        }
    }

    /// The template's own bytes for this target with the checksum taken off
    /// (so [`Target::with_checksum`] gives the file back): the seed inputs.
    fn template_payload(self) -> Vec<u8> {
        let Some(bytes) = template().current(self) else {
            return Vec::new();
        };
        match self {
            Target::TopicMeta => {
                let text = String::from_utf8_lossy(&bytes);
                let end = text.rfind("crc32=").unwrap_or(text.len());
                text.get(..end).unwrap_or_default().as_bytes().to_vec()
            }
            Target::Index | Target::StartOffset => bytes,
            _ => bytes.get(..bytes.len().saturating_sub(4)).unwrap_or_default().to_vec(),
        }
    }
}

/// The seed inputs: every target with the template's own file (valid once
/// the checksum is appended), and each truncated by half.
pub fn seed_inputs() -> Vec<(String, Vec<u8>)> {
    let mut seeds = Vec::new();
    for target in Target::ALL {
        let payload = target.template_payload();
        for (suffix, bytes) in [
            ("whole", payload.clone()),
            ("half", payload.get(..payload.len() / 2).unwrap_or_default().to_vec()),
        ] {
            let mut input = vec![target.selector()];
            input.extend_from_slice(&bytes);
            seeds.push((format!("{target:?}-{suffix}").to_lowercase(), input));
        }
    }
    seeds
}

/// A closed store that has every file and internal record the targets
/// replace, made once per process through the public API.
struct Template {
    files: Vec<(PathBuf, Vec<u8>)>,
}

impl Template {
    fn partition_dir(topic: &str) -> PathBuf {
        Path::new("topics").join(topic).join("00000")
    }

    /// Path (relative to the store) of the file `target` replaces: for the
    /// internal records, the segment of the internal topic's partition 0.
    fn path(&self, target: Target) -> Option<PathBuf> {
        let in_partition = |topic: &str, extension: &str| {
            let dir = Template::partition_dir(topic);
            self.files
                .iter()
                .map(|(path, _)| path)
                .find(|path| path.parent() == Some(dir.as_path()) && path.extension().is_some_and(|e| e == extension))
                .cloned()
        };
        match target {
            Target::TopicMeta => Some(Path::new("topics").join(TOPIC).join("topic.meta")),
            Target::ProducerRegistry => Some(PathBuf::from("producers.registry")),
            Target::ProducerSnapshot => in_partition(TOPIC, "producers"),
            Target::Index => in_partition(TOPIC, "index"),
            Target::StartOffset => Some(Template::partition_dir(TOPIC).join("start.offset")),
            internal => in_partition(internal.internal_topic()?, "log"),
        }
    }

    fn bytes(&self, path: &Path) -> Option<Vec<u8>> {
        self.files.iter().find(|(p, _)| p == path).map(|(_, b)| b.clone())
    }

    /// The template's content for `target`: the file, or the value of the
    /// first record of the internal topic's segment.
    fn current(&self, target: Target) -> Option<Vec<u8>> {
        let bytes = self.bytes(&self.path(target)?)?;
        if target.internal_topic().is_none() {
            return Some(bytes);
        }
        let header = BatchHeader::parse(&bytes).ok()?;
        let records = batch::decode_records(bytes.get(..header.length as usize)?, &header).ok()?;
        records.first().map(|r| r.value.clone())
    }
}

fn template() -> &'static Template {
    static TEMPLATE: OnceLock<Template> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let dir = scratch_dir();
        let store = Store::open(dir.path(), store_options()).expect("create template store");
        store
            .create_topic(
                TOPIC,
                TopicConfig {
                    partitions: 1,
                    index_interval_bytes: 64,
                    ..TopicConfig::default()
                },
            )
            .expect("create template topic");
        let mut producer = millrace::Producer::init(&store, "fuzz-producer").expect("producer");
        for n in 0..4u8 {
            producer
                .send(TOPIC, 0, &[Record::new(vec![n; 40]).with_key(vec![n])])
                .expect("idempotent append");
        }
        store.commit_offset(GROUP, TOPIC, 0, 2, b"meta").expect("commit offset");
        let session = producer.session().clone();
        let mut transaction = store.begin_transaction(session.id()).expect("begin transaction");
        transaction
            .append(TOPIC, 0, &[Record::new(b"in a transaction".to_vec())])
            .expect("transactional append");
        transaction
            .commit_offset("tx-group", TOPIC, 0, 3, b"")
            .expect("transactional commit");
        transaction.commit().expect("commit transaction");
        store.record_failure(GROUP, TOPIC, 0, 1).expect("record failure");
        store
            .reset_offsets(&ResetRequest {
                group: GROUP.to_string(),
                scopes: vec![ResetScope::Topic(TOPIC.to_string())],
                target: ResetTarget::Offset(1),
                dry_run: false,
                actor: "fuzz".to_string(),
                force: true,
            })
            .expect("reset offsets");
        store.truncate_prefix(TOPIC, 0, 1).expect("truncate prefix");
        store.close().expect("close template store");
        let mut files = Vec::new();
        collect_files(dir.path(), dir.path(), &mut files);
        let template = Template { files };
        for target in Target::ALL {
            assert!(
                template.current(target).is_some(),
                "template store has nothing for {target:?}: {:?}",
                template.files.iter().map(|(p, _)| p).collect::<Vec<_>>()
            );
        }
        template
    })
}

/// The template with `target`'s file (or internal record) replaced by `bytes`.
fn store_image(target: Target, bytes: &[u8]) -> tempfile::TempDir {
    let template = template();
    let dir = scratch_dir();
    let replaced = template.path(target).expect("template has every target");
    for (relative, content) in &template.files {
        let path = dir.path().join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create image dir");
        }
        if relative != &replaced {
            std::fs::write(&path, content).expect("write image file");
        }
    }
    let path = dir.path().join(&replaced);
    if target.internal_topic().is_none() {
        std::fs::write(&path, bytes).expect("write fuzzed file");
        return dir;
    }
    // The internal partition becomes one valid batch: the template's first
    // batch with its first record's value replaced. Its index and producer
    // snapshots would describe the old bytes: they go (both are rebuilt).
    let segment = template.bytes(&replaced).expect("template segment");
    let header = BatchHeader::parse(&segment).expect("template batch");
    let first = segment.get(..header.length as usize).expect("template batch bytes");
    let mut records: Vec<Record> = batch::decode_records(first, &header)
        .expect("template records")
        .iter()
        .map(|r| r.to_record())
        .collect();
    if let Some(record) = records.first_mut() {
        record.value = bytes.to_vec();
    }
    let mut out = Vec::new();
    batch::encode(
        &mut out,
        header.base_offset,
        &records,
        header.max_timestamp_ms,
        header.producer,
        header.flags,
        0,
    );
    std::fs::write(&path, out).expect("write internal segment");
    if let Some(partition) = path.parent() {
        for entry in std::fs::read_dir(partition).expect("list internal partition") {
            let other = entry.expect("internal partition entry").path();
            if other.extension().is_some_and(|e| e == "index" || e == "producers") {
                std::fs::remove_file(other).expect("remove stale file");
            }
        }
    }
    dir
}

/// See the module documentation. Returns the allocation seen.
pub fn check_metadata_open(data: &[u8]) -> AllocationStats {
    crate::fuzz_checks::assert_tracking();
    template();
    let Some((&selector, payload)) = data.split_first() else {
        return AllocationStats::default();
    };
    let target = Target::of(selector);
    let ((), stats) = alloc_track::measure(|| {
        open_with(target, payload);
        if let Some(fixed) = target.with_checksum(payload) {
            open_with(target, &fixed);
        }
    });
    let bound = allocation_bound_bytes(data.len());
    assert!(
        stats.peak_bytes <= bound,
        "metadata_open: {} bytes live at peak for a {}-byte input, bound {bound} ({stats:?})",
        stats.peak_bytes,
        data.len()
    );
    stats
}

/// The allocation bound of [`check_metadata_open`]: the input-proportional
/// bound of the other checks plus what the store that opened spends on
/// the append the check makes, independent of the input: extending an
/// `Always` partition's preallocated tail writes 1 MiB of zeros from one
/// buffer (`PREALLOCATE_BYTES` in engine/src/partition.rs).
pub fn allocation_bound_bytes(input_bytes: usize) -> usize {
    const APPEND_FIXED_BYTES: usize = 1 << 20;
    crate::fuzz_checks::allocation_bound_bytes(input_bytes) + APPEND_FIXED_BYTES
}

fn open_with(target: Target, bytes: &[u8]) {
    let image = store_image(target, bytes);
    let store = match Store::open_strict(image.path(), store_options()) {
        Ok(store) => store,
        Err(error) => {
            // Any error is an answer; it must say something.
            assert!(!error.to_string().is_empty(), "{target:?}: an error without a message");
            return;
        }
    };
    let before = exercise(&store, target);
    let appended = store.append(TOPIC, 0, &[Record::new(b"after".to_vec())]);
    store
        .close()
        .unwrap_or_else(|e| panic!("{target:?}: close after a successful open: {e}"));
    let reopened = Store::open_strict(image.path(), store_options())
        .unwrap_or_else(|e| panic!("{target:?}: a store that opened must open again after close: {e}"));
    let after = exercise(&reopened, target);
    assert_eq!(
        before.committed, after.committed,
        "{target:?}: committed offsets changed across close and reopen"
    );
    if let Ok(appended) = appended {
        let read = reopened
            .read(TOPIC, 0, appended.base_offset, ReadOptions::default())
            .unwrap_or_else(|e| panic!("{target:?}: read of the acknowledged append: {e}"));
        assert_eq!(
            read.records.first().map(|r| r.value.as_slice()),
            Some(&b"after"[..]),
            "{target:?}: the append acknowledged before close is gone"
        );
    }
    reopened
        .close()
        .unwrap_or_else(|e| panic!("{target:?}: close after reopen: {e}"));
}

/// What a store that opened reports; every call must answer without a panic.
struct Seen {
    committed: Vec<Option<u64>>,
}

fn exercise(store: &Store, target: Target) -> Seen {
    for topic in store.list_all_topics() {
        let Ok(partitions) = store.partition_count(&topic) else {
            continue;
        };
        for partition in 0..partitions.min(4) {
            if let Ok((start, _end)) = store.offsets(&topic, partition) {
                match store.read(&topic, partition, start, ReadOptions::default()) {
                    Ok(_) | Err(Error::Corruption { .. }) | Err(Error::OffsetOutOfRange { .. }) => {}
                    Err(e) => panic!("{target:?}: read of {topic}/{partition} from its start: {e}"),
                }
            }
        }
    }
    let _ = store.reset_audit(None);
    let _ = store.attempts(GROUP, TOPIC, 0, 1);
    let _ = store.groups();
    Seen {
        committed: [GROUP, "tx-group"]
            .iter()
            .map(|group| store.committed_offset(group, TOPIC, 0).ok().flatten())
            .collect(),
    }
}

/// What became of a store image: whether it opened, and whether the
/// internal tables it loads on first use (committed offsets, attempts, the
/// reset audit) then read without an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub opened: bool,
    pub tables_read: bool,
}

/// Open the store with `input`'s target replaced by the rest of `input`,
/// with the format's checksum appended if `checksum` (for tests that show
/// the check reaches both the accepting and the refusing paths).
pub fn outcome(input: &[u8], checksum: bool) -> Outcome {
    template();
    let refused = Outcome {
        opened: false,
        tables_read: false,
    };
    let Some((&selector, payload)) = input.split_first() else {
        return refused;
    };
    let target = Target::of(selector);
    let bytes = match (checksum, target.with_checksum(payload)) {
        (true, Some(fixed)) => fixed,
        _ => payload.to_vec(),
    };
    let image = store_image(target, &bytes);
    let Ok(store) = Store::open_strict(image.path(), store_options()) else {
        return refused;
    };
    let tables_read = [GROUP, "tx-group"]
        .iter()
        .all(|group| store.committed_offset(group, TOPIC, 0).is_ok())
        && store.attempts(GROUP, TOPIC, 0, 1).is_ok()
        && store.reset_audit(None).is_ok();
    Outcome {
        opened: store.close().is_ok(),
        tables_read,
    }
}
