//! Request bodies ("Requests and responses" in `design/protocol.md`), each
//! with its encoder and decoder side by side.

use millrace::Record;

use super::offsets::{PartitionOffset, ResetTarget};
use super::types::{read_list, write_list, ConfigEntry, Isolation, Position, ProducerStamp, Wire};
use crate::wire::{DecodeError, DecodeResult, Reader, Writer};

/// "MLRC" as bytes 4D 4C 52 43, read little-endian.
pub const HELLO_MAGIC: u32 = u32::from_le_bytes(*b"MLRC");
/// Protocol versions this build speaks.
pub const PROTOCOL_VERSION_MIN: u16 = 1;
pub const PROTOCOL_VERSION_MAX: u16 = 1;
pub const CLIENT_NAME_BYTES_MAX: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    pub version_min: u16,
    pub version_max: u16,
    pub client_name: String,
    pub token: Option<Vec<u8>>,
}

impl Wire for Hello {
    const BYTES_MIN: usize = 4 + 2 + 2 + 4 + 1;
    fn encode(&self, w: &mut Writer) {
        w.u32(HELLO_MAGIC);
        w.u16(self.version_min);
        w.u16(self.version_max);
        w.string(&self.client_name);
        w.option(self.token.as_ref(), |w, t| w.bytes(t));
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        let magic = r.u32("hello.magic")?;
        if magic != HELLO_MAGIC {
            return Err(DecodeError::InvalidValue {
                field: "hello.magic",
                detail: format!("{magic:#010x} is not \"MLRC\""),
            });
        }
        let hello = Hello {
            version_min: r.u16("hello.version_min")?,
            version_max: r.u16("hello.version_max")?,
            client_name: r.string("hello.client_name")?,
            token: r.option("hello.token", |r| r.bytes("hello.token"))?,
        };
        if hello.client_name.len() > CLIENT_NAME_BYTES_MAX {
            return Err(DecodeError::InvalidValue {
                field: "hello.client_name",
                detail: format!("{} bytes, at most {CLIENT_NAME_BYTES_MAX}", hello.client_name.len()),
            });
        }
        Ok(hello)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateTopic {
    pub name: String,
    pub partitions: u32,
    pub config: Vec<ConfigEntry>,
}

impl Wire for CreateTopic {
    const BYTES_MIN: usize = 4 + 4 + 4;
    fn encode(&self, w: &mut Writer) {
        w.string(&self.name);
        w.u32(self.partitions);
        write_list(w, &self.config);
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(CreateTopic {
            name: r.string("create_topic.name")?,
            partitions: r.u32("create_topic.partitions")?,
            config: read_list(r, "create_topic.config")?,
        })
    }
}

/// `AlterTopic`: change some keys of a topic's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterTopic {
    pub name: String,
    /// The keys to change (the others keep their value).
    pub config: Vec<ConfigEntry>,
    /// Validate and answer, change nothing.
    pub dry_run: bool,
}

impl Wire for AlterTopic {
    const BYTES_MIN: usize = 4 + 4 + 1;
    fn encode(&self, w: &mut Writer) {
        w.string(&self.name);
        write_list(w, &self.config);
        w.bool(self.dry_run);
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(AlterTopic {
            name: r.string("alter_topic.name")?,
            config: read_list(r, "alter_topic.config")?,
            dry_run: r.bool("alter_topic.dry_run")?,
        })
    }
}

/// The answer to `AlterTopic`: every key before and after, as stored
/// (`durability` unresolved: `default` is the server's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicAltered {
    pub before: Vec<ConfigEntry>,
    pub after: Vec<ConfigEntry>,
}

impl Wire for TopicAltered {
    const BYTES_MIN: usize = 4 + 4;
    fn encode(&self, w: &mut Writer) {
        write_list(w, &self.before);
        write_list(w, &self.after);
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(TopicAltered {
            before: read_list(r, "topic_altered.before")?,
            after: read_list(r, "topic_altered.after")?,
        })
    }
}

/// A body that is just a topic name (DeleteTopic, DescribeTopic).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicName {
    pub name: String,
}

impl Wire for TopicName {
    const BYTES_MIN: usize = 4;
    fn encode(&self, w: &mut Writer) {
        w.string(&self.name);
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(TopicName {
            name: r.string("topic.name")?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitProducer {
    pub name: String,
}

impl Wire for InitProducer {
    const BYTES_MIN: usize = 4;
    fn encode(&self, w: &mut Writer) {
        w.string(&self.name);
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(InitProducer {
            name: r.string("init_producer.name")?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Produce {
    pub topic: String,
    pub partition: u32,
    pub producer: Option<ProducerStamp>,
    pub records: Vec<Record>,
}

impl Produce {
    /// The body of a `Produce` from borrowed parts (see `encode_produce_into`).
    pub(crate) fn encode_borrowed(
        w: &mut Writer,
        topic: &str,
        partition: u32,
        producer: Option<&ProducerStamp>,
        records: &[Record],
    ) {
        w.string(topic);
        w.u32(partition);
        w.option(producer, |w, p| p.encode(w));
        write_list(w, records);
    }
}

impl Wire for Produce {
    const BYTES_MIN: usize = 4 + 4 + 1 + 4;
    fn encode(&self, w: &mut Writer) {
        Produce::encode_borrowed(w, &self.topic, self.partition, self.producer.as_ref(), &self.records);
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(Produce {
            topic: r.string("produce.topic")?,
            partition: r.u32("produce.partition")?,
            producer: r.option("produce.producer", ProducerStamp::decode)?,
            records: read_list(r, "produce.records")?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetch {
    pub topic: String,
    pub partition: u32,
    pub position: Position,
    pub max_bytes: u32,
    /// 0 = no limit besides `max_bytes`.
    pub max_records: u32,
    pub isolation: Isolation,
    pub max_wait_ms: u32,
}

impl Wire for Fetch {
    const BYTES_MIN: usize = 4 + 4 + Position::BYTES_MIN + 4 + 4 + 1 + 4;
    fn encode(&self, w: &mut Writer) {
        w.string(&self.topic);
        w.u32(self.partition);
        self.position.encode(w);
        w.u32(self.max_bytes);
        w.u32(self.max_records);
        self.isolation.encode(w);
        w.u32(self.max_wait_ms);
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(Fetch {
            topic: r.string("fetch.topic")?,
            partition: r.u32("fetch.partition")?,
            position: Position::decode(r)?,
            max_bytes: r.u32("fetch.max_bytes")?,
            max_records: r.u32("fetch.max_records")?,
            isolation: Isolation::decode(r)?,
            max_wait_ms: r.u32("fetch.max_wait_ms")?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitOffsets {
    pub group: String,
    pub offsets: Vec<PartitionOffset>,
}

impl Wire for CommitOffsets {
    const BYTES_MIN: usize = 4 + 4;
    fn encode(&self, w: &mut Writer) {
        w.string(&self.group);
        write_list(w, &self.offsets);
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(CommitOffsets {
            group: r.string("commit_offsets.group")?,
            offsets: read_list(r, "commit_offsets.offsets")?,
        })
    }
}

/// A group and an optional topic filter (FetchOffsets, Lag).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupQuery {
    pub group: String,
    pub topic: Option<String>,
}

impl Wire for GroupQuery {
    const BYTES_MIN: usize = 4 + 1;
    fn encode(&self, w: &mut Writer) {
        w.string(&self.group);
        w.option(self.topic.as_ref(), |w, t| w.string(t));
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(GroupQuery {
            group: r.string("group")?,
            topic: r.option("topic", |r| r.string("topic"))?,
        })
    }
}

/// Read the offset reset audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetAudit {
    /// Absent = every group.
    pub group: Option<String>,
}

impl Wire for ResetAudit {
    const BYTES_MIN: usize = 1;
    fn encode(&self, w: &mut Writer) {
        w.option(self.group.as_ref(), |w, g| w.string(g));
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(ResetAudit {
            group: r.option("reset_audit.group", |r| r.string("reset_audit.group"))?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetOffsets {
    pub group: String,
    /// Absent = every partition the group has a committed offset for.
    pub topic: Option<String>,
    /// Empty = every partition of `topic`.
    pub partitions: Vec<u32>,
    pub target: ResetTarget,
    pub dry_run: bool,
    /// Apply even if the group looks active (`GroupActive` otherwise).
    pub force: bool,
}

impl Wire for ResetOffsets {
    const BYTES_MIN: usize = 4 + 1 + 4 + 1 + 1 + 1;
    fn encode(&self, w: &mut Writer) {
        w.string(&self.group);
        w.option(self.topic.as_ref(), |w, t| w.string(t));
        w.list(&self.partitions, |w, p| w.u32(*p));
        self.target.encode(w);
        w.bool(self.dry_run);
        w.bool(self.force);
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(ResetOffsets {
            group: r.string("reset.group")?,
            topic: r.option("reset.topic", |r| r.string("reset.topic"))?,
            partitions: r.list("reset.partitions", 4, |r| r.u32("reset.partition"))?,
            target: ResetTarget::decode(r)?,
            dry_run: r.bool("reset.dry_run")?,
            force: r.bool("reset.force")?,
        })
    }
}

/// Mark a consumed record failed (`Store::fail_record`): counts the attempt
/// durably; at `max_attempts` moves the record to the DLQ in one transaction
/// with the group's offset commit past it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailRecord {
    pub producer_id: u64,
    pub epoch: u16,
    pub group: String,
    pub topic: String,
    pub partition: u32,
    pub offset: u64,
    pub stage: String,
    pub error_class: String,
    pub error_message: String,
    pub max_attempts: u32,
}

impl Wire for FailRecord {
    const BYTES_MIN: usize = 8 + 2 + 4 + 4 + 4 + 8 + 4 + 4 + 4 + 4;
    fn encode(&self, w: &mut Writer) {
        w.u64(self.producer_id);
        w.u16(self.epoch);
        w.string(&self.group);
        w.string(&self.topic);
        w.u32(self.partition);
        w.u64(self.offset);
        w.string(&self.stage);
        w.string(&self.error_class);
        w.string(&self.error_message);
        w.u32(self.max_attempts);
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(FailRecord {
            producer_id: r.u64("fail.producer_id")?,
            epoch: r.u16("fail.epoch")?,
            group: r.string("fail.group")?,
            topic: r.string("fail.topic")?,
            partition: r.u32("fail.partition")?,
            offset: r.u64("fail.offset")?,
            stage: r.string("fail.stage")?,
            error_class: r.string("fail.error_class")?,
            error_message: r.string("fail.error_message")?,
            max_attempts: r.u32("fail.max_attempts")?,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxnBegin {
    pub producer_id: u64,
    pub epoch: u16,
}

impl Wire for TxnBegin {
    const BYTES_MIN: usize = 8 + 2;
    fn encode(&self, w: &mut Writer) {
        w.u64(self.producer_id);
        w.u16(self.epoch);
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(TxnBegin {
            producer_id: r.u64("txn_begin.producer_id")?,
            epoch: r.u16("txn_begin.epoch")?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnAppend {
    pub transaction_id: u64,
    pub topic: String,
    pub partition: u32,
    pub records: Vec<Record>,
}

impl Wire for TxnAppend {
    const BYTES_MIN: usize = 8 + 4 + 4 + 4;
    fn encode(&self, w: &mut Writer) {
        w.u64(self.transaction_id);
        w.string(&self.topic);
        w.u32(self.partition);
        write_list(w, &self.records);
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(TxnAppend {
            transaction_id: r.u64("txn_append.transaction_id")?,
            topic: r.string("txn_append.topic")?,
            partition: r.u32("txn_append.partition")?,
            records: read_list(r, "txn_append.records")?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnCommitOffsets {
    pub transaction_id: u64,
    pub group: String,
    pub offsets: Vec<PartitionOffset>,
}

impl Wire for TxnCommitOffsets {
    const BYTES_MIN: usize = 8 + 4 + 4;
    fn encode(&self, w: &mut Writer) {
        w.u64(self.transaction_id);
        w.string(&self.group);
        write_list(w, &self.offsets);
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(TxnCommitOffsets {
            transaction_id: r.u64("txn_commit_offsets.transaction_id")?,
            group: r.string("txn_commit_offsets.group")?,
            offsets: read_list(r, "txn_commit_offsets.offsets")?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnDeadLetter {
    pub transaction_id: u64,
    pub group: String,
    pub source_topic: String,
    pub source_partition: u32,
    pub source_offset: u64,
    pub stage: String,
    pub error_class: String,
    pub error_message: String,
    /// Failed attempts so far (provenance header).
    pub attempts: u32,
    pub record: Record,
}

impl Wire for TxnDeadLetter {
    const BYTES_MIN: usize = 8 + 4 + 4 + 4 + 8 + 4 + 4 + 4 + 4 + Record::BYTES_MIN;
    fn encode(&self, w: &mut Writer) {
        w.u64(self.transaction_id);
        w.string(&self.group);
        w.string(&self.source_topic);
        w.u32(self.source_partition);
        w.u64(self.source_offset);
        w.string(&self.stage);
        w.string(&self.error_class);
        w.string(&self.error_message);
        w.u32(self.attempts);
        self.record.encode(w);
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(TxnDeadLetter {
            transaction_id: r.u64("dead_letter.transaction_id")?,
            group: r.string("dead_letter.group")?,
            source_topic: r.string("dead_letter.source_topic")?,
            source_partition: r.u32("dead_letter.source_partition")?,
            source_offset: r.u64("dead_letter.source_offset")?,
            stage: r.string("dead_letter.stage")?,
            error_class: r.string("dead_letter.error_class")?,
            error_message: r.string("dead_letter.error_message")?,
            attempts: r.u32("dead_letter.attempts")?,
            record: Record::decode(r)?,
        })
    }
}

/// TxnCommit and TxnAbort.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxnEnd {
    pub transaction_id: u64,
}

impl Wire for TxnEnd {
    const BYTES_MIN: usize = 8;
    fn encode(&self, w: &mut Writer) {
        w.u64(self.transaction_id);
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(TxnEnd {
            transaction_id: r.u64("transaction_id")?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DlqList {
    pub topic: String,
    pub from_offset: u64,
    /// 0 = server default (100).
    pub max_records: u32,
    /// Error class or message contains this text.
    pub error_contains: Option<String>,
    pub source_partition: Option<u32>,
    /// Last failure at or after (ms since the epoch).
    pub since_ms: Option<i64>,
    /// Last failure before (ms since the epoch).
    pub until_ms: Option<i64>,
}

impl Wire for DlqList {
    const BYTES_MIN: usize = 4 + 8 + 4 + 1 + 1 + 1 + 1;
    fn encode(&self, w: &mut Writer) {
        w.string(&self.topic);
        w.u64(self.from_offset);
        w.u32(self.max_records);
        w.option(self.error_contains.as_ref(), |w, s| w.string(s));
        w.option(self.source_partition.as_ref(), |w, p| w.u32(*p));
        w.option(self.since_ms.as_ref(), |w, t| w.i64(*t));
        w.option(self.until_ms.as_ref(), |w, t| w.i64(*t));
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(DlqList {
            topic: r.string("dlq_list.topic")?,
            from_offset: r.u64("dlq_list.from_offset")?,
            max_records: r.u32("dlq_list.max_records")?,
            error_contains: r.option("dlq_list.error_contains", |r| r.string("dlq_list.error_contains"))?,
            source_partition: r.option("dlq_list.source_partition", |r| r.u32("dlq_list.source_partition"))?,
            since_ms: r.option("dlq_list.since_ms", |r| r.i64("dlq_list.since_ms"))?,
            until_ms: r.option("dlq_list.until_ms", |r| r.i64("dlq_list.until_ms"))?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DlqRedrive {
    pub topic: String,
    /// Absent = each record's source topic.
    pub target_topic: Option<String>,
    /// Stop after this many records (a later run resumes).
    pub max_records: Option<u64>,
    /// 0 = unlimited.
    pub rate_per_second: u32,
    /// A record already redriven this many times stays in the DLQ; 0 = server default (3).
    pub redrive_cap: u32,
    pub dry_run: bool,
    /// Start at this DLQ offset instead of the durable progress (0 = the
    /// whole DLQ again).
    pub from_offset: Option<u64>,
}

impl Wire for DlqRedrive {
    const BYTES_MIN: usize = 4 + 1 + 1 + 4 + 4 + 1 + 1;
    fn encode(&self, w: &mut Writer) {
        w.string(&self.topic);
        w.option(self.target_topic.as_ref(), |w, s| w.string(s));
        w.option(self.max_records.as_ref(), |w, n| w.u64(*n));
        w.u32(self.rate_per_second);
        w.u32(self.redrive_cap);
        w.bool(self.dry_run);
        w.option(self.from_offset.as_ref(), |w, n| w.u64(*n));
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(DlqRedrive {
            topic: r.string("redrive.topic")?,
            target_topic: r.option("redrive.target_topic", |r| r.string("redrive.target_topic"))?,
            max_records: r.option("redrive.max_records", |r| r.u64("redrive.max_records"))?,
            rate_per_second: r.u32("redrive.rate_per_second")?,
            redrive_cap: r.u32("redrive.redrive_cap")?,
            dry_run: r.bool("redrive.dry_run")?,
            from_offset: r.option("redrive.from_offset", |r| r.u64("redrive.from_offset"))?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DlqPurge {
    pub topic: String,
    pub up_to_offset: u64,
}

impl Wire for DlqPurge {
    const BYTES_MIN: usize = 4 + 8;
    fn encode(&self, w: &mut Writer) {
        w.string(&self.topic);
        w.u64(self.up_to_offset);
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(DlqPurge {
            topic: r.string("purge.topic")?,
            up_to_offset: r.u64("purge.up_to_offset")?,
        })
    }
}
