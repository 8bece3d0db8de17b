//! Response bodies (the fields after `status == 0`), encoder and decoder side by side.

use millrace::StoredRecord;

use super::types::{read_list, write_list, ConfigEntry, PartitionInfo, ProducerSequence, Wire};
use crate::wire::{DecodeResult, Reader, Writer};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelloResponse {
    pub version: u16,
    pub server_name: String,
    pub frame_bytes_max: u32,
    pub in_flight_max: u32,
}

impl Wire for HelloResponse {
    const BYTES_MIN: usize = 2 + 4 + 4 + 4;
    fn encode(&self, w: &mut Writer) {
        w.u16(self.version);
        w.string(&self.server_name);
        w.u32(self.frame_bytes_max);
        w.u32(self.in_flight_max);
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(HelloResponse {
            version: r.u16("hello.version")?,
            server_name: r.string("hello.server_name")?,
            frame_bytes_max: r.u32("hello.frame_bytes_max")?,
            in_flight_max: r.u32("hello.in_flight_max")?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicDescription {
    pub name: String,
    pub partitions: Vec<PartitionInfo>,
    pub config: Vec<super::types::ConfigEntry>,
}

impl Wire for TopicDescription {
    const BYTES_MIN: usize = 4 + 4 + 4;
    fn encode(&self, w: &mut Writer) {
        w.string(&self.name);
        write_list(w, &self.partitions);
        write_list::<ConfigEntry>(w, &self.config);
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(TopicDescription {
            name: r.string("describe.name")?,
            partitions: read_list(r, "describe.partitions")?,
            config: read_list(r, "describe.config")?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerInit {
    pub producer_id: u64,
    pub epoch: u16,
    pub sequences: Vec<ProducerSequence>,
}

impl Wire for ProducerInit {
    const BYTES_MIN: usize = 8 + 2 + 4;
    fn encode(&self, w: &mut Writer) {
        w.u64(self.producer_id);
        w.u16(self.epoch);
        write_list(w, &self.sequences);
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(ProducerInit {
            producer_id: r.u64("init.producer_id")?,
            epoch: r.u16("init.epoch")?,
            sequences: read_list(r, "init.sequences")?,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Produced {
    pub base_offset: u64,
    pub next_offset: u64,
    /// A retry of a batch already appended; offsets are the original ones.
    pub duplicate: bool,
}

impl Wire for Produced {
    const BYTES_MIN: usize = 8 + 8 + 1;
    fn encode(&self, w: &mut Writer) {
        w.u64(self.base_offset);
        w.u64(self.next_offset);
        w.bool(self.duplicate);
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(Produced {
            base_offset: r.u64("produced.base_offset")?,
            next_offset: r.u64("produced.next_offset")?,
            duplicate: r.bool("produced.duplicate")?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub next_offset: u64,
    pub high_watermark: u64,
    pub last_stable_offset: u64,
    pub records: Vec<StoredRecord>,
}

impl Wire for Fetched {
    const BYTES_MIN: usize = 8 + 8 + 8 + 4;
    fn encode(&self, w: &mut Writer) {
        w.u64(self.next_offset);
        w.u64(self.high_watermark);
        w.u64(self.last_stable_offset);
        write_list(w, &self.records);
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(Fetched {
            next_offset: r.u64("fetched.next_offset")?,
            high_watermark: r.u64("fetched.high_watermark")?,
            last_stable_offset: r.u64("fetched.last_stable_offset")?,
            records: read_list(r, "fetched.records")?,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxnBegun {
    pub transaction_id: u64,
}

impl Wire for TxnBegun {
    const BYTES_MIN: usize = 8;
    fn encode(&self, w: &mut Writer) {
        w.u64(self.transaction_id);
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(TxnBegun {
            transaction_id: r.u64("txn_begun.transaction_id")?,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxnAppended {
    pub base_offset: u64,
    pub next_offset: u64,
}

impl Wire for TxnAppended {
    const BYTES_MIN: usize = 8 + 8;
    fn encode(&self, w: &mut Writer) {
        w.u64(self.base_offset);
        w.u64(self.next_offset);
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(TxnAppended {
            base_offset: r.u64("txn_appended.base_offset")?,
            next_offset: r.u64("txn_appended.next_offset")?,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeadLettered {
    /// False: the attempt was counted, the record is not moved yet.
    pub dead_lettered: bool,
    pub attempts: u32,
}

impl Wire for DeadLettered {
    const BYTES_MIN: usize = 1 + 4;
    fn encode(&self, w: &mut Writer) {
        w.bool(self.dead_lettered);
        w.u32(self.attempts);
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(DeadLettered {
            dead_lettered: r.bool("dead_lettered")?,
            attempts: r.u32("dead_lettered.attempts")?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DlqListing {
    pub next_offset: u64,
    pub depth: u64,
    pub oldest_timestamp_ms: Option<i64>,
    pub records: Vec<StoredRecord>,
}

impl Wire for DlqListing {
    const BYTES_MIN: usize = 8 + 8 + 1 + 4;
    fn encode(&self, w: &mut Writer) {
        w.u64(self.next_offset);
        w.u64(self.depth);
        w.option(self.oldest_timestamp_ms.as_ref(), |w, t| w.i64(*t));
        write_list(w, &self.records);
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(DlqListing {
            next_offset: r.u64("dlq.next_offset")?,
            depth: r.u64("dlq.depth")?,
            oldest_timestamp_ms: r.option("dlq.oldest_timestamp_ms", |r| r.i64("dlq.oldest_timestamp_ms"))?,
            records: read_list(r, "dlq.records")?,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedriveReport {
    pub redriven: u64,
    pub skipped_loop_cap: u64,
    pub next_offset: u64,
}

impl Wire for RedriveReport {
    const BYTES_MIN: usize = 8 + 8 + 8;
    fn encode(&self, w: &mut Writer) {
        w.u64(self.redriven);
        w.u64(self.skipped_loop_cap);
        w.u64(self.next_offset);
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(RedriveReport {
            redriven: r.u64("redrive.redriven")?,
            skipped_loop_cap: r.u64("redrive.skipped_loop_cap")?,
            next_offset: r.u64("redrive.next_offset")?,
        })
    }
}
