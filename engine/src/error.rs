//! Typed errors. Corruption is never a string: it names the file and the byte
//! position, and says what was wrong with a `CorruptionKind`.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

/// The engine's result type: [`Error`] unless another is named.
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
    Topic {
        /// The topic's name.
        topic: String,
    },
    /// One partition of a topic that otherwise opened.
    Partition {
        /// The topic's name.
        topic: String,
        /// The partition that failed to open.
        partition: u32,
    },
}

impl std::fmt::Display for DamagedScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DamagedScope::Topic { topic } => write!(f, "topic {topic:?}"),
            DamagedScope::Partition { topic, partition } => write!(f, "partition {partition} of topic {topic:?}"),
        }
    }
}

/// Every error the engine returns. Typed, with structured fields; each
/// variant says when it happens, whether retrying the same call can succeed
/// ([`Error::is_retriable`]) and what to do instead. [`Error::code`] is its
/// stable number (the wire protocol's error code).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O error from the operating system. On a write or fsync the store
    /// is poisoned (later writes return [`Error::Poisoned`]). Not retriable:
    /// reopen the store; recovery decides from the bytes on disk.
    #[error("I/O error during {op} on {path}: {source}")]
    Io {
        /// What the engine was doing (`"fsync segment"`, `"read index"`, ...).
        op: &'static str,
        /// The file or directory it was doing it to.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// Durable data failed its checks (not a torn tail, which recovery cuts
    /// by itself). Not retriable: `millrace check` reports, `millrace repair`
    /// truncates with a backup.
    #[error("corruption in {segment} at byte {position}: {kind:?}; run `millrace check` for a report, `millrace repair` to truncate explicitly")]
    Corruption {
        /// The damaged file.
        segment: PathBuf,
        /// Byte position of the first invalid batch or entry in it.
        position: u64,
        /// What was wrong there.
        kind: CorruptionKind,
    },
    /// A bad argument, name, option or size, refused before anything was
    /// written (also a transaction past its timeout). Not retriable
    /// unchanged: fix the input (begin a new transaction).
    #[error("invalid input: {what}: {detail}")]
    InvalidInput {
        /// Which input.
        what: &'static str,
        /// What is wrong with it, and the limit where there is one.
        detail: String,
    },
    /// A write or fsync failed earlier; every write is refused until the
    /// store is reopened ([`Store::poison_cause`](crate::Store::poison_cause)
    /// says what failed). Not retriable: reopen.
    #[error("store is poisoned after a failed write or fsync; reopen it (restart the server) to recover; what failed, where and what to do: the log, `millrace stats --server`, the metric millrace_store_poison_info")]
    Poisoned,
    /// The store's byte quota, or the topic's (`topic` is then set), would
    /// be exceeded; nothing was written. Retriable once retention or a
    /// deleted topic freed space, or the quota was raised.
    #[error("{}", quota_message(topic.as_deref(), *used_bytes, *requested_bytes, *quota_bytes))]
    QuotaExceeded {
        /// `StoreOptions::quota_bytes`, or the topic's `quota_bytes`.
        quota_bytes: u64,
        /// Bytes of segment files now (of the store, or of the topic).
        used_bytes: u64,
        /// Bytes the refused write needed.
        requested_bytes: u64,
        /// The topic whose own quota (`TopicConfig::quota_bytes`) refused
        /// the write; `None` for the store's quota.
        topic: Option<String>,
    },
    /// Another process (or another open in this one) holds the data
    /// directory for writing. Retriable once it closed it; to look inside
    /// meanwhile use [`Store::open_read_only`](crate::Store::open_read_only).
    #[error("data directory {path} is locked by another process{}", match .pid { Some(p) => format!(" (pid {p})"), None => String::new() })]
    Locked {
        /// The data directory.
        path: PathBuf,
        /// The holder's pid, as it wrote it into the `LOCK` file.
        pid: Option<u32>,
    },
    /// No topic of that name. Not retriable: create it first.
    #[error("topic {0:?} does not exist")]
    TopicNotFound(String),
    /// `create_topic` of a name that exists. Not retriable; where "exists
    /// already" is fine (a service creating its topics at start), treat it
    /// as success.
    #[error("topic {0:?} already exists")]
    TopicExists(String),
    /// The topic has fewer partitions. Not retriable.
    #[error("partition {partition} does not exist in topic {topic:?}")]
    PartitionNotFound {
        /// The topic's name.
        topic: String,
        /// The partition asked for.
        partition: u32,
    },
    /// A read below the log start (retention removed it) or past the end.
    /// Not retriable unchanged: read from `start` (or wait for `end` to grow).
    #[error("offset {requested} is out of range [{start}, {end}]")]
    OffsetOutOfRange {
        /// The offset asked for.
        requested: u64,
        /// The partition's first offset.
        start: u64,
        /// The partition's next offset (one past the last record).
        end: u64,
    },
    /// A newer instance of the producer (a later `init` of its name) exists:
    /// this one is a zombie. Not retriable: stop this instance.
    #[error("producer {producer_id} epoch {epoch} is fenced by epoch {current_epoch}")]
    Fenced {
        /// The producer's id.
        producer_id: u64,
        /// The epoch of the refused call.
        epoch: u16,
        /// The producer's current epoch.
        current_epoch: u16,
    },
    /// A batch's sequence does not continue the partition's (a gap, or a
    /// retry older than the dedup window). Not retriable: re-init the
    /// producer and resume from its `last_sequences`.
    #[error("out of order sequence: expected {expected}, got {got}")]
    OutOfOrderSequence {
        /// The sequence the partition expects next.
        expected: u32,
        /// The sequence the batch carried.
        got: u32,
    },
    /// The producer id was never registered or has expired
    /// (`StoreOptions::producer_idle_expiry`). Not retriable: init again.
    #[error("unknown producer {producer_id} (expired or never initialised); call init_producer again")]
    UnknownProducer {
        /// The id the call carried.
        producer_id: u64,
    },
    /// The store was closed. Not retriable: open it again.
    #[error("the store is closed")]
    Closed,
    /// A request on a topic or partition that failed to open: `source` is
    /// the error its open returned (it names the damaged file). The rest of
    /// the store is open and serves. Not retriable: `millrace check`, then
    /// `millrace repair`.
    #[error("{scope} is unavailable, it failed to open: {source}")]
    Damaged {
        /// The topic or partition that failed to open.
        scope: DamagedScope,
        /// The error its open returned.
        #[source]
        source: Arc<Error>,
    },
    /// The data directory was written by a newer version of the format.
    /// Nothing was changed. Not retriable: run a newer millrace.
    #[error(
        "{path} holds store format {found:?}, newer than this build reads ({supported}); upgrade millrace to open it"
    )]
    FormatTooNew {
        /// The `MILLRACE` format file.
        path: PathBuf,
        /// What it says.
        found: String,
        /// The newest format this build reads.
        supported: u32,
    },
    /// An offset reset of a group that committed or polled recently.
    /// Retriable once its consumers stopped (or force the reset).
    #[error("group {group:?} committed offsets or polled {idle_ms} ms ago and looks active; stop its consumers first (or force the reset)")]
    GroupActive {
        /// The group.
        group: String,
        /// How long ago it was last active.
        idle_ms: u64,
    },
    /// A write found the device full before any byte of its batch reached
    /// the file (the zeros an `Always` partition writes ahead of its data):
    /// nothing of the batch exists and the store is *not* poisoned.
    /// Retriable: free space, then send the same batch again.
    #[error("no space left for {path} ({requested_bytes} bytes): nothing of the batch was written and the store stays writable; free space on the device (retention, delete a topic) and retry")]
    NoSpace {
        /// The segment file the batch was for.
        path: PathBuf,
        /// Bytes the batch needed.
        requested_bytes: u64,
    },
    /// A commit would add a consumer group past `StoreOptions::groups_max`.
    #[error("group {group:?} would be group number {} and the store keeps at most {groups_max}; delete unused groups (`millrace offsets delete`) or raise the limit", groups_max + 1)]
    GroupLimit {
        /// The group the commit would have added.
        group: String,
        /// The limit.
        groups_max: u64,
    },
    /// A record broke a rule of its topic's contract whose action is
    /// `reject` (contract/check.rs): nothing of the request was appended.
    /// Not retriable unchanged: fix the record (or the contract).
    #[error("record {index} of the request to {topic}/{partition} breaks rule {rule:?} of the topic's contract (version {contract_version}) at {}: {message}; nothing of the request was appended", if path.is_empty() { "the value" } else { path.as_str() })]
    ContractViolation {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
        /// Index of the (first) refused record in the request.
        index: usize,
        /// The rule broken.
        rule: String,
        /// Where in the record (a JSON pointer into the value, `""` for the
        /// whole value, `key...` for the key).
        path: String,
        /// What is wrong.
        message: String,
        /// The version of the contract that judged.
        contract_version: u32,
    },
    /// A symbolic link inside the data directory (a topic or partition
    /// directory, a segment, `LOCK`, ...): never followed, so that the store
    /// cannot be made to write, truncate or lock a file outside it. `path`
    /// is the link; remove it (or put the file it points to in its place).
    #[error("{path} is a symbolic link (met during {op}), and nothing inside a data directory may be one: it is not followed; replace it with the file or directory itself")]
    SymlinkRefused {
        /// What the store was doing when it met the link.
        op: &'static str,
        /// The link.
        path: PathBuf,
    },
    /// `Store::open` on a path where it may neither open nor create a store.
    /// Not retriable: name the store's directory, or an empty or new one.
    #[error("{path} is not a millrace data directory: {problem}")]
    NotADataDir {
        /// The path given.
        path: PathBuf,
        /// Why it was refused.
        problem: DataDirProblem,
    },
    /// A write, delete or commit named a topic, group or producer that is
    /// the store's own (`__*`, design/format.md "Names"): only the operation
    /// that owns it writes it (offset commits, transactions, the DLQ, resets,
    /// redrive, replay). Nothing was written.
    #[error("{what} {name:?} is internal to the store (names starting with `__`): only the operation that owns it writes it")]
    InternalName {
        /// `topic`, `group` or `producer`.
        what: &'static str,
        /// The name refused.
        name: String,
    },
    /// The schema registry holds no schema with this id (never registered,
    /// or every version naming it was deleted for good).
    #[error("schema {id} not found")]
    SchemaNotFound {
        /// The id asked for.
        id: u32,
    },
    /// The schema registry holds no (undeleted) version of this subject.
    #[error("subject {subject:?} not found")]
    SubjectNotFound {
        /// The subject asked for.
        subject: String,
    },
    /// The subject exists but has no (undeleted) version with this number;
    /// for a permanent delete, the version was not soft-deleted first.
    #[error("version {version} of subject {subject:?} not found{}", if *not_soft_deleted { " among the soft-deleted versions: soft-delete it before deleting it permanently" } else { "" })]
    VersionNotFound {
        /// The subject.
        subject: String,
        /// The version asked for.
        version: u32,
        /// True when a permanent delete named a version that is not soft-deleted.
        not_soft_deleted: bool,
    },
    /// A schema registration (or a contract's schema change) that breaks
    /// the subject's compatibility level; nothing was registered. `messages`
    /// says what each earlier version could not read or be read by.
    #[error("schema being registered is incompatible with an earlier schema for subject {subject:?}: {}", messages.join("; "))]
    IncompatibleSchema {
        /// The subject.
        subject: String,
        /// One line per reason.
        messages: Vec<String>,
    },
    /// A schema that does not parse or compile as its type, or of a type
    /// the registry does not take (Protobuf); nothing was registered.
    #[error("invalid {schema_type} schema: {reason}")]
    InvalidSchema {
        /// The type it was given as (`AVRO`, `JSON`, `PROTOBUF`).
        schema_type: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

/// Why a path is refused as a data directory: a store is opened where its
/// `MILLRACE` marker (or its `topics/` directory) is, and created only in an
/// empty or missing directory whose parent exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataDirProblem {
    /// The directory is missing and so is its parent (only the last level is created).
    MissingParent {
        /// The missing parent directory.
        parent: PathBuf,
    },
    /// The path exists and is not a directory.
    NotADirectory,
    /// The directory holds entries and none of a store's: `count` of them,
    /// the first few named in `examples`.
    NotEmpty {
        /// How many entries it holds.
        count: usize,
        /// The first few of their names.
        examples: Vec<String>,
    },
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

    /// True when the same call, unchanged, may succeed later: the condition
    /// is outside the request and passes (space freed, a lock released, a
    /// group stopped). Retry with a backoff. Every other error needs
    /// something changed first: the input, a new producer instance, a
    /// reopen (after [`Error::Poisoned`], [`Error::Io`]) or a repair; each
    /// variant's documentation says which.
    ///
    /// ```
    /// use millrace::Error;
    /// assert!(Error::NoSpace { path: "seg".into(), requested_bytes: 1 }.is_retriable());
    /// assert!(!Error::Poisoned.is_retriable());
    /// ```
    pub fn is_retriable(&self) -> bool {
        match self {
            Error::QuotaExceeded { .. } | Error::Locked { .. } | Error::GroupActive { .. } | Error::NoSpace { .. } => {
                true
            }
            Error::Io { .. }
            | Error::Corruption { .. }
            | Error::InvalidInput { .. }
            | Error::Poisoned
            | Error::TopicNotFound(_)
            | Error::TopicExists(_)
            | Error::PartitionNotFound { .. }
            | Error::OffsetOutOfRange { .. }
            | Error::Fenced { .. }
            | Error::OutOfOrderSequence { .. }
            | Error::UnknownProducer { .. }
            | Error::Closed
            | Error::Damaged { .. }
            | Error::FormatTooNew { .. }
            | Error::NotADataDir { .. }
            | Error::SymlinkRefused { .. }
            | Error::InternalName { .. }
            | Error::GroupLimit { .. }
            | Error::SchemaNotFound { .. }
            | Error::SubjectNotFound { .. }
            | Error::VersionNotFound { .. }
            | Error::IncompatibleSchema { .. }
            | Error::InvalidSchema { .. }
            | Error::ContractViolation { .. } => false,
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
            Error::InternalName { .. } => 18,
            // As the error the open of the damaged part returned (no new wire code).
            Error::Damaged { source, .. } => source.code(),
            Error::FormatTooNew { .. } => 3,
            Error::GroupLimit { .. } => 19,
            Error::SchemaNotFound { .. } => 21,
            Error::SubjectNotFound { .. } => 22,
            Error::VersionNotFound { .. } => 23,
            Error::IncompatibleSchema { .. } => 24,
            Error::InvalidSchema { .. } => 25,
            // An I/O refusal at open (no new wire code).
            Error::SymlinkRefused { .. } => 1,
            Error::ContractViolation { .. } => 30,
        }
    }
}

/// [`Error::QuotaExceeded`]'s text: which quota, the figures, and the remedy.
fn quota_message(topic: Option<&str>, used: u64, requested: u64, quota: u64) -> String {
    match topic {
        None => format!(
            "store byte quota exceeded: {used} used + {requested} requested > {quota} quota; \
             free space (retention, delete a topic) or raise the quota"
        ),
        Some(topic) => format!(
            "topic {topic:?} byte quota exceeded: {used} used + {requested} requested > {quota} quota \
             (quota_bytes of topic {topic}); free space (retention) or raise it with \
             `millrace topic alter {topic} --quota-bytes N`"
        ),
    }
}
