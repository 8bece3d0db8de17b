//! The per-input check of the cargo-fuzz target `kafka_records`
//! (fuzz/fuzz_targets/kafka_records.rs), replayed over its corpus by
//! tests/tests/it/kafka_records_alloc.rs: decode every batch of a `records`
//! field, decompress with a limit, re-encode what decoded and decode that
//! again (same records), and run the produce path (rules + engine mapping).
//! Panics (the fuzzer's finding) when an invariant breaks; the caller
//! measures allocation against [`allocation_bound_bytes`].

use super::{produce_batch, to_engine_records, Attributes, BatchFields, BatchWriter, Batches, Compression, Record};

/// Bytes of decompressed records the check allows: chosen by the first input
/// byte (1 KiB .. 256 KiB) so the fuzzer reaches the limit often.
pub fn limit_of(data: &[u8]) -> usize {
    1024 << (data.first().copied().unwrap_or(0) % 9)
}

/// The most a check of `data` may allocate: a constant per codec's working
/// memory (lz4 frame buffers ≤ 3 × 4 MiB + 64 KiB, the zstd window ≤ 8 MiB,
/// and their decoder tables), plus a small multiple of the input and of the
/// decompression limit (the decompressed records, one engine record per 7
/// bytes of records, the re-encoded copy).
pub fn allocation_bound_bytes(data: &[u8]) -> usize {
    (14 << 20) + 64 * (limit_of(data) + data.len())
}

/// One owned record, for comparing decodes.
type Owned = (
    i64,
    i32,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    Vec<(String, Option<Vec<u8>>)>,
);

fn owned(record: &Record<'_>) -> Owned {
    (
        record.timestamp_delta,
        record.offset_delta,
        record.key.map(<[u8]>::to_vec),
        record.value.map(<[u8]>::to_vec),
        record
            .headers
            .iter()
            .map(|(k, v)| (k.to_owned(), v.map(<[u8]>::to_vec)))
            .collect(),
    )
}

/// Check one input (first byte: the limit; the rest: a `records` field).
pub fn check(data: &[u8]) {
    let limit = limit_of(data);
    let records_field = data.get(1..).unwrap_or_default();
    let mut scratch = Vec::new();
    for batch in Batches::new(records_field).take(16) {
        let Ok(batch) = batch else { break };
        let Ok(records) = batch.records(&mut scratch, limit) else {
            continue;
        };
        let decoded: Result<Vec<Owned>, _> = records.map(|r| r.map(|r| owned(&r))).collect();
        assert!(scratch.len() <= limit, "decompressed past the limit");
        let Ok(decoded) = decoded else { continue };
        let header = batch.header;
        let codec = header.attributes.compression().unwrap_or(Compression::None);
        let mut again = Vec::new();
        let fields = BatchFields {
            base_offset: header.base_offset,
            partition_leader_epoch: header.partition_leader_epoch,
            attributes: Attributes(header.attributes.0 & !0x07),
            base_timestamp: header.base_timestamp,
            producer_id: header.producer_id,
            producer_epoch: header.producer_epoch,
            base_sequence: header.base_sequence,
        };
        let mut writer = BatchWriter::begin(&mut again, fields);
        let mut encodable = true;
        for (timestamp_delta, offset_delta, key, value, headers) in &decoded {
            let written = writer.record(
                *offset_delta,
                *timestamp_delta,
                key.as_deref(),
                value.as_deref(),
                || headers.iter().map(|(k, v)| (k.as_str(), v.as_deref())),
            );
            // Only a timestamp overflowing base + delta is refused on encode.
            encodable &= written.is_ok();
        }
        if !encodable || writer.finish(codec).is_err() {
            continue;
        }
        let (reparsed, rest) = super::RecordBatch::parse(&again, 0).expect("our encoding parses");
        assert!(rest.is_empty(), "our encoding has trailing bytes");
        let mut scratch_again = Vec::new();
        let redecoded: Vec<Owned> = reparsed
            .records(&mut scratch_again, usize::MAX)
            .expect("our encoding's records")
            .map(|r| owned(&r.expect("our encoding's record")))
            .collect();
        assert_eq!(redecoded, decoded, "re-encoded records differ");
    }
    if let Ok(batch) = produce_batch(records_field) {
        let mut engine = Vec::new();
        let _ = to_engine_records(&batch, &mut scratch, limit, &mut engine);
    }
}
