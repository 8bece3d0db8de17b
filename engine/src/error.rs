//! Typed errors. Corruption is never a string: it names the file and the byte
//! position, and says what was wrong with a `CorruptionKind`.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What was found wrong at a corrupt position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CorruptionKind {
    /// Batch magic bytes did not match.
    BadMagic,
    /// Unknown batch format version.
    BadVersion,
    /// Batch length field out of bounds.
    BadLength,
    /// CRC over the batch did not match.
    ChecksumMismatch,
    /// Batch base offset did not continue the partition's dense offsets, or
    /// its offsets would pass `u64::MAX`.
    OffsetGap,
    /// A record inside a CRC-valid batch did not parse.
    BadRecord,
    /// A metadata file failed its checksum or did not parse.
    BadMetadata,
    /// An index file did not match its segment.
    BadIndex,
    /// A transaction commit record (or a part of it) that recovery cannot
    /// apply: skipped at open; `repair` moves `__transactions`' log start
    /// past it, keeping a backup.
    UnappliableTransaction,
}

/// The part of a store that failed to open while the rest of it did
/// (design/durability.md, "Damage is confined").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DamagedScope {
    /// The whole topic (its `topic.meta` could not be read).
    Topic { topic: String },
    /// One partition of a topic that otherwise opened.
    Partition { topic: String, partition: u32 },
}

impl std::fmt::Display for DamagedScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DamagedScope::Topic { topic } => write!(f, "topic {topic:?}"),
            DamagedScope::Partition { topic, partition } => write!(f, "partition {partition} of topic {topic:?}"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("I/O error during {op} on {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("corruption in {segment} at byte {position}: {kind:?}; run `millrace check` for a report, `millrace repair` to truncate explicitly")]
    Corruption {
        segment: PathBuf,
        position: u64,
        kind: CorruptionKind,
    },
    #[error("invalid input: {what}: {detail}")]
    InvalidInput { what: &'static str, detail: String },
    #[error("store is poisoned after a failed write or fsync; reopen it (restart the server) to recover; what failed, where and what to do: the log, `millrace stats --server`, the metric millrace_store_poison_info")]
    Poisoned,
    #[error("store byte quota exceeded: {used_bytes} used + {requested_bytes} requested > {quota_bytes} quota; free space (retention, delete a topic) or raise the quota")]
    QuotaExceeded {
        quota_bytes: u64,
        used_bytes: u64,
        requested_bytes: u64,
    },
    #[error("data directory {path} is locked by another process{}", match .pid { Some(p) => format!(" (pid {p})"), None => String::new() })]
    Locked { path: PathBuf, pid: Option<u32> },
    #[error("topic {0:?} does not exist")]
    TopicNotFound(String),
    #[error("topic {0:?} already exists")]
    TopicExists(String),
    #[error("partition {partition} does not exist in topic {topic:?}")]
    PartitionNotFound { topic: String, partition: u32 },
    #[error("offset {requested} is out of range [{start}, {end}]")]
    OffsetOutOfRange { requested: u64, start: u64, end: u64 },
    #[error("producer {producer_id} epoch {epoch} is fenced by epoch {current_epoch}")]
    Fenced {
        producer_id: u64,
        epoch: u16,
        current_epoch: u16,
    },
    #[error("out of order sequence: expected {expected}, got {got}")]
    OutOfOrderSequence { expected: u32, got: u32 },
    #[error("unknown producer {producer_id} (expired or never initialised); call init_producer again")]
    UnknownProducer { producer_id: u64 },
    #[error("the store is closed")]
    Closed,
    /// A request on a topic or partition that failed to open: `source` is
    /// the error its open returned (it names the damaged file). The rest of
    /// the store is open and serves.
    #[error("{scope} is unavailable, it failed to open: {source}")]
    Damaged {
        scope: DamagedScope,
        #[source]
        source: Arc<Error>,
    },
    #[error(
        "{path} holds store format {found:?}, newer than this build reads ({supported}); upgrade millrace to open it"
    )]
    FormatTooNew {
        path: PathBuf,
        found: String,
        supported: u32,
    },
    #[error("group {group:?} committed offsets or polled {idle_ms} ms ago and looks active; stop its consumers first (or force the reset)")]
    GroupActive { group: String, idle_ms: u64 },
    /// A write found the device full before any byte of its batch reached
    /// the file (the zeros an `Always` partition writes ahead of its data):
    /// nothing of the batch exists and the store is *not* poisoned.
    #[error("no space left for {path} ({requested_bytes} bytes): nothing of the batch was written and the store stays writable; free space on the device (retention, delete a topic) and retry")]
    NoSpace { path: PathBuf, requested_bytes: u64 },
    /// A commit would add a consumer group past `StoreOptions::groups_max`.
    #[error("group {group:?} would be group number {} and the store keeps at most {groups_max}; delete unused groups (`millrace offsets delete`) or raise the limit", groups_max + 1)]
    GroupLimit { group: String, groups_max: u64 },
    /// A symbolic link inside the data directory (a topic or partition
    /// directory, a segment, `LOCK`, ...): never followed, so that the store
    /// cannot be made to write, truncate or lock a file outside it. `path`
    /// is the link; remove it (or put the file it points to in its place).
    #[error("{path} is a symbolic link (met during {op}), and nothing inside a data directory may be one: it is not followed; replace it with the file or directory itself")]
    SymlinkRefused { op: &'static str, path: PathBuf },
    /// `Store::open` on a path where it may neither open nor create a store.
    #[error("{path} is not a millrace data directory: {problem}")]
    NotADataDir { path: PathBuf, problem: DataDirProblem },
}

/// Why a path is refused as a data directory: a store is opened where its
/// `MILLRACE` marker (or its `topics/` directory) is, and created only in an
/// empty or missing directory whose parent exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataDirProblem {
    /// The directory is missing and so is its parent (only the last level is created).
    MissingParent { parent: PathBuf },
    /// The path exists and is not a directory.
    NotADirectory,
    /// The directory holds entries and none of a store's: `count` of them,
    /// the first few named in `examples`.
    NotEmpty { count: usize, examples: Vec<String> },
}

impl std::fmt::Display for DataDirProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DataDirProblem::MissingParent { parent } => write!(
                f,
                "it does not exist and neither does its parent {}; create the parent first",
                parent.display()
            ),
            DataDirProblem::NotADirectory => write!(f, "it exists and is not a directory"),
            DataDirProblem::NotEmpty { count, examples } => write!(
                f,
                "it holds {count} entries ({}{}) and no MILLRACE marker; a store is created only in an empty or missing directory",
                examples.join(", "),
                if *count > examples.len() { ", ..." } else { "" }
            ),
        }
    }
}

impl Error {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        if let Some(link) = crate::storage::symlink_in(&source) {
            return Error::SymlinkRefused {
                op,
                path: link.to_path_buf(),
            };
        }
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn invalid(what: &'static str, detail: impl Into<String>) -> Self {
        Error::InvalidInput {
            what,
            detail: detail.into(),
        }
    }

    pub(crate) fn corruption(segment: impl Into<PathBuf>, position: u64, kind: CorruptionKind) -> Self {
        Error::Corruption {
            segment: segment.into(),
            position,
            kind,
        }
    }

    /// A stable numeric code per variant, used by the wire protocol and exit codes.
    pub fn code(&self) -> u16 {
        match self {
            Error::Io { .. } => 1,
            Error::Corruption { .. } => 2,
            Error::InvalidInput { .. } => 3,
            Error::Poisoned => 4,
            Error::QuotaExceeded { .. } => 5,
            Error::Locked { .. } => 6,
            Error::TopicNotFound(_) => 7,
            Error::TopicExists(_) => 8,
            Error::PartitionNotFound { .. } => 9,
            Error::OffsetOutOfRange { .. } => 10,
            Error::Fenced { .. } => 11,
            Error::OutOfOrderSequence { .. } => 12,
            Error::UnknownProducer { .. } => 13,
            Error::Closed => 14,
            Error::GroupActive { .. } => 15,
            Error::NoSpace { .. } => 16,
            Error::NotADataDir { .. } => 17,
            // As the error the open of the damaged part returned (no new wire code).
            Error::Damaged { source, .. } => source.code(),
            Error::FormatTooNew { .. } => 3,
            Error::GroupLimit { .. } => 18,
            // An I/O refusal at open (no new wire code).
            Error::SymlinkRefused { .. } => 1,
        }
    }
}
