//! Proves the Kafka record batch decoders (millrace_server::kafka::records)
//! allocate in proportion to the bytes given and the decompression limit,
//! never to what a batch claims: a record count of `i32::MAX` is refused
//! with no allocation (uncompressed; compressed, after decompressing the
//! few bytes there are), a bomb per codec costs at most the limit (plus the
//! codec's constant working memory), a batch of the most records its bytes
//! can hold maps onto engine records within 14 bytes per input byte, and
//! onto borrowed ones (the plain produce's) without a copy of any value; and
//! replays `fuzz/corpus/kafka_records` through the fuzz target's check
//! within its allocation bound. Measured with `millrace_tests::alloc_track`.

use std::path::Path;

use millrace_server::kafka::records::fuzz::{allocation_bound_bytes, check};
use millrace_server::kafka::records::{
    compress, decompress, produce_batch, produced_records, to_engine_records, Attributes, BatchFields, BatchWriter,
    Compression, ProducedRecord, RecordBatch, RecordsError,
};
use millrace_tests::alloc_track::measure;

fn batch_of(values: &[&[u8]], codec: Compression) -> Vec<u8> {
    let mut out = Vec::new();
    let fields = BatchFields {
        base_offset: 0,
        partition_leader_epoch: -1,
        attributes: Attributes::default(),
        base_timestamp: 1_000,
        producer_id: -1,
        producer_epoch: -1,
        base_sequence: -1,
    };
    let mut writer = BatchWriter::begin(&mut out, fields);
    for (i, value) in values.iter().enumerate() {
        writer.record(i as i32, 0, None, Some(value), std::iter::empty).unwrap();
    }
    writer.finish(codec).unwrap();
    out
}

fn reseal(bytes: &mut [u8]) {
    let crc = crc32c_bitwise(&bytes[21..]);
    bytes[17..21].copy_from_slice(&crc.to_be_bytes());
}

fn crc32c_bitwise(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn huge_record_count_is_refused_without_allocating() {
    for codec in [Compression::None, Compression::Gzip] {
        let mut bytes = batch_of(&[b"x"], codec);
        bytes[57..61].copy_from_slice(&i32::MAX.to_be_bytes());
        reseal(&mut bytes);
        let (batch, _) = RecordBatch::parse(&bytes, 0).unwrap();
        let mut scratch = Vec::with_capacity(4096);
        let (result, stats) = measure(|| batch.records(&mut scratch, 1 << 20).map(|_| ()));
        assert!(matches!(result, Err(RecordsError::BadRecordCount { .. })), "{result:?}");
        // Uncompressed: nothing. Compressed: the records must be decompressed
        // before their bytes are known, so the gzip decoder's state (a
        // constant ~76 KiB) and the one record's bytes, no more.
        let bound = if codec == Compression::None { 0 } else { 128 * 1024 };
        assert!(stats.peak_bytes <= bound, "{codec:?}: {stats:?}");
    }
}

#[test]
fn a_bomb_per_codec_costs_the_limit_not_its_claim() {
    let limit = 1 << 20;
    let zeros = vec![0u8; 128 << 20];
    for codec in [
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let mut bomb = Vec::new();
        compress(codec, &zeros, &mut bomb).unwrap();
        let (result, stats) = measure(|| {
            let mut out = Vec::new();
            decompress(codec, &bomb, &mut out, limit)
        });
        assert!(
            matches!(result, Err(RecordsError::DecompressedTooLarge { .. })),
            "{codec:?}: {result:?}"
        );
        // Output at most twice the limit (growth by doubling), plus the
        // codec's working memory (our lz4 bombs use 64 KiB blocks).
        let bound = 2 * limit + (9 << 20);
        assert!(
            stats.peak_bytes <= bound,
            "{codec:?} bomb of {} bytes: {stats:?}",
            bomb.len()
        );
        eprintln!(
            "{codec:?}: bomb of {} bytes (128 MiB of zeros) peaked at {} bytes",
            bomb.len(),
            stats.peak_bytes
        );
    }
}

#[test]
fn the_most_records_a_batch_can_hold_map_within_a_constant_per_byte() {
    // 100_000 empty records: 7 bytes each, the minimum.
    let values: Vec<&[u8]> = vec![b""; 100_000];
    let bytes = batch_of(&values, Compression::None);
    let batch = produce_batch(&bytes).unwrap();
    let (result, stats) = measure(|| {
        let mut engine = Vec::new();
        to_engine_records(&batch, &mut Vec::new(), 1 << 20, &mut engine).map(|()| engine.len())
    });
    assert_eq!(result, Ok(100_000));
    assert!(stats.peak_bytes <= 14 * bytes.len(), "{} bytes: {stats:?}", bytes.len());
}

#[test]
fn borrowed_records_map_without_copying_a_value() {
    // 1,000 values of 1 KiB: the owned mapping copies all of them.
    let value = [7u8; 1024];
    let values: Vec<&[u8]> = vec![&value; 1000];
    let bytes = batch_of(&values, Compression::None);
    let batch = produce_batch(&bytes).unwrap();
    let (borrowed, borrowed_stats) = measure(|| {
        let mut out = Vec::new();
        produced_records(&batch, &mut Vec::new(), 1 << 20, &mut out).map(|()| out.len())
    });
    let (owned, owned_stats) = measure(|| {
        let mut out = Vec::new();
        to_engine_records(&batch, &mut Vec::new(), 1 << 20, &mut out).map(|()| out.len())
    });
    assert_eq!((borrowed, owned), (Ok(1000), Ok(1000)));
    // The list of views, nothing more.
    let list = 1000 * std::mem::size_of::<ProducedRecord>();
    assert!(borrowed_stats.peak_bytes <= list, "{borrowed_stats:?}, list {list}");
    assert!(owned_stats.peak_bytes >= 1000 * value.len(), "{owned_stats:?}");
}

#[test]
fn kafka_records_corpus_replays_within_the_allocation_bound() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/kafka_records");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 10, "{} has {} files", dir.display(), files.len());
    for path in files {
        let data = std::fs::read(&path).unwrap();
        let ((), stats) = measure(|| check(&data));
        assert!(
            stats.peak_bytes <= allocation_bound_bytes(&data),
            "{}: {stats:?} above {}",
            path.display(),
            allocation_bound_bytes(&data)
        );
    }
}
