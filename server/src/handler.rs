//! Executes one decoded request against the engine. Blocking: the connection
//! runs it on tokio's blocking pool. Requests the engine cannot serve yet
//! answer `Unsupported` (see "Opcodes" in `design/protocol.md`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use millrace::{ReadOptions, Store, TopicConfig};

use crate::error_code::{ErrorCode, WireError};
use crate::messages::{
    ConfigEntry, CreateTopic, Fetch, Isolation, Opcode, PartitionInfo, Position, Produce, Produced, ProducerInit,
    ProducerSequence, Request, Response, TopicDescription,
};
use crate::metrics::ServerMetrics;

/// Headroom kept in a frame for the fixed fields of a fetch response.
pub const FETCH_RESPONSE_OVERHEAD_BYTES: u32 = 1024;
/// Long polls wake at least this often to notice a shutdown.
const LONG_POLL_SLICE: Duration = Duration::from_millis(100);

/// What every request handler shares.
#[derive(Debug)]
pub struct Context {
    pub store: Store,
    pub metrics: Arc<ServerMetrics>,
    pub frame_bytes_max: u32,
    pub fetch_wait_max_ms: u32,
    pub shutting_down: Arc<AtomicBool>,
}

fn engine(error: millrace::Error) -> WireError {
    WireError::from(&error)
}

fn invalid(message: impl Into<String>) -> WireError {
    WireError::new(ErrorCode::InvalidInput, message)
}

pub fn unsupported(opcode: Opcode) -> WireError {
    WireError::new(
        ErrorCode::Unsupported,
        format!("{opcode:?} is not implemented by this server's engine yet"),
    )
    .with_details(vec![u64::from(opcode.code())])
}

/// Execute `request`. `Hello` is handled by the connection, never here.
pub fn handle(context: &Context, request: Request) -> Result<Response, WireError> {
    let store = &context.store;
    match request {
        Request::Ping => Ok(Response::Empty),
        Request::CreateTopic(create) => {
            let config = topic_config(&create)?;
            store.create_topic(&create.name, config).map_err(engine)?;
            Ok(Response::Empty)
        }
        Request::DeleteTopic(topic) => {
            store.delete_topic(&topic.name).map_err(engine)?;
            Ok(Response::Empty)
        }
        Request::ListTopics => {
            let mut topics = store.list_topics();
            topics.sort();
            Ok(Response::Topics(topics))
        }
        Request::DescribeTopic(topic) => {
            let description = store.describe_topic(&topic.name).map_err(engine)?;
            Ok(Response::TopicDescription(TopicDescription {
                name: description.name,
                partitions: description
                    .partitions
                    .iter()
                    .map(|p| PartitionInfo {
                        partition: p.partition,
                        start_offset: p.log_start_offset,
                        end_offset: p.high_watermark,
                        bytes: p.bytes,
                    })
                    .collect(),
                config: config_entries(&description.config, description.durability),
            }))
        }
        Request::InitProducer(init) => init_producer(store, &init.name),
        Request::Produce(produce) => self::produce(store, produce),
        Request::Fetch(fetch) => self::fetch(context, fetch),
        Request::Stats => Ok(Response::Stats(context.metrics.stats(&store.metrics()))),
        Request::Flush => {
            store.flush().map_err(engine)?;
            Ok(Response::Empty)
        }
        Request::Hello(_) => Err(invalid("Hello is only valid as the first frame")),
        other @ (Request::CommitOffsets(_)
        | Request::FetchOffsets(_)
        | Request::ResetOffsets(_)
        | Request::Lag(_)
        | Request::TxnBegin(_)
        | Request::TxnAppend(_)
        | Request::TxnCommitOffsets(_)
        | Request::TxnDeadLetter(_)
        | Request::TxnCommit(_)
        | Request::TxnAbort(_)
        | Request::DlqList(_)
        | Request::DlqRedrive(_)
        | Request::DlqPurge(_)) => Err(unsupported(other.opcode())),
    }
}

fn produce(store: &Store, produce: Produce) -> Result<Response, WireError> {
    if produce.records.is_empty() {
        return Err(invalid("produce: records must not be empty"));
    }
    let produced = match produce.producer {
        None => {
            let info = store
                .append(&produce.topic, produce.partition, &produce.records)
                .map_err(engine)?;
            Produced {
                base_offset: info.base_offset,
                next_offset: info.next_offset,
                duplicate: false,
            }
        }
        Some(stamp) => {
            let stamp = millrace::ProducerStamp {
                producer_id: stamp.producer_id,
                epoch: stamp.epoch,
                base_sequence: stamp.base_sequence,
            };
            let append = store
                .append_sequenced(&produce.topic, produce.partition, &produce.records, stamp)
                .map_err(engine)?;
            Produced {
                base_offset: append.base_offset,
                next_offset: append.next_offset,
                duplicate: append.duplicate,
            }
        }
    };
    Ok(Response::Produced(produced))
}

fn init_producer(store: &Store, name: &str) -> Result<Response, WireError> {
    let session = store.init_producer(name).map_err(engine)?;
    let sequences = session
        .last_sequences
        .keys()
        .map(|(topic, partition)| ProducerSequence {
            topic: topic.clone(),
            partition: *partition,
            next_sequence: session.next_sequence(topic, *partition),
        })
        .collect();
    Ok(Response::ProducerInit(ProducerInit {
        producer_id: session.producer_id,
        epoch: session.epoch,
        sequences,
    }))
}

fn fetch(context: &Context, fetch: Fetch) -> Result<Response, WireError> {
    let store = &context.store;
    let max_bytes_allowed = context.frame_bytes_max.saturating_sub(FETCH_RESPONSE_OVERHEAD_BYTES);
    if fetch.max_bytes == 0 || fetch.max_bytes > max_bytes_allowed {
        return Err(invalid(format!(
            "fetch max_bytes {} must be in 1..={max_bytes_allowed} (frame_bytes_max - {FETCH_RESPONSE_OVERHEAD_BYTES})",
            fetch.max_bytes
        )));
    }
    if fetch.max_wait_ms > context.fetch_wait_max_ms {
        return Err(invalid(format!(
            "fetch max_wait_ms {} is above the server's fetch_wait_max_ms {}",
            fetch.max_wait_ms, context.fetch_wait_max_ms
        )));
    }
    let offset = match fetch.position {
        Position::Offset(offset) => offset,
        Position::Time(timestamp_ms) => {
            match store
                .offset_for_time(&fetch.topic, fetch.partition, timestamp_ms)
                .map_err(engine)?
            {
                Some(offset) => offset,
                // No record at or after that time yet: wait at the end.
                None => store.offsets(&fetch.topic, fetch.partition).map_err(engine)?.1,
            }
        }
    };
    let options = ReadOptions {
        max_bytes: fetch.max_bytes as usize,
        max_records: if fetch.max_records == 0 {
            usize::MAX
        } else {
            fetch.max_records as usize
        },
    };
    let isolation = match fetch.isolation {
        Isolation::ReadCommitted => millrace::Isolation::ReadCommitted,
        Isolation::ReadUncommitted => millrace::Isolation::ReadUncommitted,
    };
    let deadline = Instant::now() + Duration::from_millis(u64::from(fetch.max_wait_ms));
    loop {
        let result = store
            .read_with(&fetch.topic, fetch.partition, offset, options, isolation)
            .map_err(engine)?;
        let now = Instant::now();
        if !result.records.is_empty() || now >= deadline || context.shutting_down.load(Ordering::Relaxed) {
            return Ok(Response::Fetched(crate::messages::Fetched {
                next_offset: result.next_offset,
                high_watermark: result.high_watermark,
                last_stable_offset: result.last_stable_offset,
                records: result.records,
            }));
        }
        let wait_from = result.next_offset.max(offset);
        let slice = (deadline - now).min(LONG_POLL_SLICE);
        store
            .wait_for(&fetch.topic, fetch.partition, wait_from, slice)
            .map_err(engine)?;
    }
}

fn parse_u64(key: &str, value: &str) -> Result<u64, WireError> {
    value
        .parse()
        .map_err(|_| invalid(format!("topic config {key} = {value:?}: expected a decimal integer")))
}

fn parse_optional(key: &str, value: &str) -> Result<Option<u64>, WireError> {
    if value == "none" {
        Ok(None)
    } else {
        parse_u64(key, value).map(Some)
    }
}

/// Build a `TopicConfig` from wire key/value pairs; unknown keys are refused.
pub fn topic_config(create: &CreateTopic) -> Result<TopicConfig, WireError> {
    let mut config = TopicConfig::with_partitions(create.partitions);
    for ConfigEntry { key, value } in &create.config {
        match key.as_str() {
            "durability" => {
                config.durability = if value == "default" {
                    None
                } else {
                    Some(millrace::Durability::parse(value).map_err(engine)?)
                }
            }
            "segment_bytes" => config.segment_bytes = parse_u64(key, value)?,
            "segment_age_ms" => config.segment_age_ms = parse_optional(key, value)?,
            "retention_ms" => config.retention_ms = parse_optional(key, value)?,
            "retention_bytes" => config.retention_bytes = parse_optional(key, value)?,
            "record_bytes_max" => {
                config.record_bytes_max = u32::try_from(parse_u64(key, value)?)
                    .map_err(|_| invalid(format!("topic config record_bytes_max = {value}: too large")))?
            }
            "index_interval_bytes" => {
                config.index_interval_bytes = u32::try_from(parse_u64(key, value)?)
                    .map_err(|_| invalid(format!("topic config index_interval_bytes = {value}: too large")))?
            }
            other => {
                return Err(invalid(format!(
                    "unknown topic config key {other:?}; known: durability, segment_bytes, segment_age_ms, \
                     retention_ms, retention_bytes, record_bytes_max, index_interval_bytes"
                )))
            }
        }
    }
    Ok(config)
}

fn config_entries(config: &TopicConfig, durability: millrace::Durability) -> Vec<ConfigEntry> {
    let entry = |key: &str, value: String| ConfigEntry {
        key: key.to_string(),
        value,
    };
    let optional = |v: Option<u64>| v.map_or_else(|| "none".to_string(), |v| v.to_string());
    vec![
        entry("durability", durability.to_string()),
        entry("segment_bytes", config.segment_bytes.to_string()),
        entry("segment_age_ms", optional(config.segment_age_ms)),
        entry("retention_ms", optional(config.retention_ms)),
        entry("retention_bytes", optional(config.retention_bytes)),
        entry("record_bytes_max", config.record_bytes_max.to_string()),
        entry("index_interval_bytes", config.index_interval_bytes.to_string()),
    ]
}
