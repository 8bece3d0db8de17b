//! Hostile batches get typed errors, never a panic: bad CRC, truncation at
//! every byte, lengths and counts beyond the bytes, legacy magic, control
//! batches from a producer, more than one batch, and a compression bomb per
//! codec (stopped at the limit).

use millrace_server::kafka::records::{
    compress, decompress, produce_batch, Compression, RecordsError, BATCH_HEADER_BYTES, ZSTD_WINDOW_BYTES_MAX,
};

use super::*;

/// Re-seal a batch after editing it: recompute the CRC-32C over attributes..end.
fn reseal(bytes: &mut [u8]) {
    let crc = crc32c_of(&bytes[21..]);
    bytes[17..21].copy_from_slice(&crc.to_be_bytes());
}

fn crc32c_of(bytes: &[u8]) -> u32 {
    // Bitwise CRC-32C (Castagnoli, reflected 0x82F63B78): an independent
    // implementation of the checksum the batch carries.
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

fn all_records(bytes: &[u8]) -> Result<usize, RecordsError> {
    let batch = produce_batch(bytes)?;
    let mut scratch = Vec::new();
    let mut n = 0;
    for r in batch.records(&mut scratch, 1 << 20)? {
        r?;
        n += 1;
    }
    Ok(n)
}

#[test]
fn crc_mismatch_is_corrupt_message() {
    let mut bytes = encode_theirs(&sample_records(), Compression::None, false);
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    let error = produce_batch(&bytes).unwrap_err();
    assert!(
        matches!(error, RecordsError::CorruptMessage { base_offset: 0, .. }),
        "{error}"
    );
    assert_eq!(error.kafka_code(), 2);
}

#[test]
fn truncation_at_every_byte_is_a_typed_error() {
    for codec in Compression::ALL {
        let bytes = encode_theirs(&sample_records()[..2], codec, false);
        for cut in 0..bytes.len() {
            let error = all_records(&bytes[..cut]).unwrap_err();
            assert!(
                matches!(
                    error,
                    RecordsError::Truncated { .. }
                        | RecordsError::BadBatchLength { .. }
                        | RecordsError::BatchCount { found: 0 }
                ),
                "{codec:?} cut at {cut}: {error:?}"
            );
        }
        assert_eq!(all_records(&bytes), Ok(2));
    }
}

#[test]
fn truncated_records_inside_a_valid_crc_are_typed_errors() {
    // Cut the records section and fix up length and CRC so that only the
    // record parser sees the damage.
    let full = encode_theirs(&sample_records()[..2], Compression::None, false);
    for cut in BATCH_HEADER_BYTES..full.len() {
        let mut bytes = full[..cut].to_vec();
        let length = (cut - 12) as i32;
        bytes[8..12].copy_from_slice(&length.to_be_bytes());
        reseal(&mut bytes);
        let error = all_records(&bytes).unwrap_err();
        assert!(
            matches!(
                error,
                RecordsError::Truncated { .. }
                    | RecordsError::BadRecordCount { .. }
                    | RecordsError::RecordLengthMismatch { .. }
                    | RecordsError::InvalidLength { .. }
            ),
            "cut at {cut}: {error:?}"
        );
    }
}

#[test]
fn huge_record_count_is_refused_before_reading() {
    let mut bytes = encode_theirs(&sample_records()[..1], Compression::None, false);
    for count in [i32::MAX, 1 << 20, -1, i32::MIN] {
        bytes[57..61].copy_from_slice(&count.to_be_bytes());
        bytes[23..27].copy_from_slice(&count.wrapping_sub(1).to_be_bytes());
        reseal(&mut bytes);
        let batch = RecordBatch::parse(&bytes, 0).unwrap().0;
        let mut scratch = Vec::new();
        let error = batch.records(&mut scratch, 1 << 20).unwrap_err();
        assert!(
            matches!(error, RecordsError::BadRecordCount { .. }),
            "{count}: {error:?}"
        );
    }
}

#[test]
fn batch_length_beyond_the_bytes_or_negative_is_bad_batch_length() {
    let full = encode_theirs(&sample_records()[..1], Compression::None, false);
    for length in [i32::MAX, -1, 0, 48, full.len() as i32] {
        let mut bytes = full.clone();
        bytes[8..12].copy_from_slice(&length.to_be_bytes());
        let error = RecordBatch::parse(&bytes, 0).unwrap_err();
        assert!(
            matches!(error, RecordsError::BadBatchLength { .. }),
            "{length}: {error:?}"
        );
    }
}

/// A one-record uncompressed batch whose record body is `body` (after the
/// record length), sealed with a correct CRC.
fn batch_with_record_body(body: &[u8]) -> Vec<u8> {
    let mut bytes = encode_theirs(&sample_records()[1..2], Compression::None, false);
    bytes.truncate(BATCH_HEADER_BYTES);
    // Record length as a zigzag varint (< 64 bytes here).
    bytes.push((body.len() as u8) << 1);
    bytes.extend_from_slice(body);
    let length = (bytes.len() - 12) as i32;
    bytes[8..12].copy_from_slice(&length.to_be_bytes());
    reseal(&mut bytes);
    bytes
}

#[test]
fn negative_lengths_other_than_minus_one_are_invalid() {
    // attributes 0, timestamp delta 0, offset delta 0, then the field under test.
    let minus_two = 0x03; // zigzag -2
    let cases: [(&str, Vec<u8>); 4] = [
        ("key", vec![0, 0, 0, minus_two, 0x00, 0x00]),
        ("value", vec![0, 0, 0, 0x00, minus_two, 0x00]),
        ("header count", vec![0, 0, 0, 0x00, 0x00, 0x01]),
        // One header whose key length is -1 (header keys are not nullable).
        ("header key", vec![0, 0, 0, 0x00, 0x00, 0x02, 0x01, 0x00]),
    ];
    for (field, body) in cases {
        let bytes = batch_with_record_body(&body);
        let error = all_records(&bytes).unwrap_err();
        assert!(
            matches!(error, RecordsError::InvalidLength { field: f, .. } if f == field),
            "{field}: {error:?}"
        );
    }
    // A well-formed body parses (the helper itself is sound).
    assert_eq!(
        all_records(&batch_with_record_body(&[0, 0, 0, 0x01, 0x00, 0x00])),
        Ok(1)
    );
}

#[test]
fn header_count_beyond_the_record_is_refused() {
    // header count 1_000_000 in a record of 7 bytes.
    let body = [0, 0, 0, 0x01, 0x00, 0x80, 0x89, 0x7a];
    let error = all_records(&batch_with_record_body(&body)).unwrap_err();
    assert!(
        matches!(
            error,
            RecordsError::InvalidLength {
                field: "header count",
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn legacy_magic_is_unsupported_magic() {
    for magic in [0i8, 1, 3, -1] {
        let mut bytes = encode_theirs(&sample_records()[..1], Compression::None, false);
        bytes[16] = magic as u8;
        let error = produce_batch(&bytes).unwrap_err();
        assert_eq!(error, RecordsError::UnsupportedMagic { magic });
        assert_eq!(error.kafka_code(), 87);
    }
    // Even a 17-byte legacy message set prefix is recognised as such.
    let mut legacy = vec![0u8; 17];
    legacy[16] = 1;
    assert_eq!(
        produce_batch(&legacy).unwrap_err(),
        RecordsError::UnsupportedMagic { magic: 1 }
    );
}

#[test]
fn produce_rules_are_enforced() {
    let one = encode_theirs(&sample_records()[..1], Compression::None, false);
    // Control batch.
    let mut control = one.clone();
    control[22] |= 1 << 5;
    reseal(&mut control);
    assert_eq!(
        produce_batch(&control).unwrap_err(),
        RecordsError::ControlBatchFromProducer
    );
    // Two batches in one partition's records.
    let mut two = one.clone();
    two.extend_from_slice(&one);
    assert_eq!(produce_batch(&two).unwrap_err(), RecordsError::BatchCount { found: 2 });
    assert_eq!(produce_batch(&[]).unwrap_err(), RecordsError::BatchCount { found: 0 });
    // Last offset delta inconsistent with the count.
    let mut delta = one.clone();
    delta[23..27].copy_from_slice(&5i32.to_be_bytes());
    reseal(&mut delta);
    assert!(matches!(
        produce_batch(&delta).unwrap_err(),
        RecordsError::LastOffsetDeltaMismatch {
            last_offset_delta: 5,
            count: 1
        }
    ));
    // Producer id with a negative sequence.
    let mut sequence = one.clone();
    sequence[53..57].copy_from_slice(&(-1i32).to_be_bytes());
    reseal(&mut sequence);
    assert!(matches!(
        produce_batch(&sequence).unwrap_err(),
        RecordsError::InvalidSequence { .. }
    ));
    // Unknown compression code.
    let mut codec = one.clone();
    codec[22] |= 5;
    reseal(&mut codec);
    assert_eq!(
        produce_batch(&codec).unwrap_err(),
        RecordsError::UnsupportedCompression { code: 5 }
    );
    // Trailing bytes after the announced records.
    let records = sample_records();
    let mut trailing = encode_theirs(&records[..2], Compression::None, false);
    trailing[57..61].copy_from_slice(&1i32.to_be_bytes());
    trailing[23..27].copy_from_slice(&0i32.to_be_bytes());
    reseal(&mut trailing);
    assert!(matches!(
        all_records(&trailing).unwrap_err(),
        RecordsError::TrailingBytes { count: 1, .. }
    ));
}

/// 64 MiB of zeros compressed by each codec: a bomb for a 1 MiB limit.
fn bomb(codec: Compression) -> Vec<u8> {
    let zeros = vec![0u8; 64 << 20];
    let mut out = Vec::new();
    compress(codec, &zeros, &mut out).unwrap();
    out
}

#[test]
fn a_bomb_per_codec_stops_at_the_limit() {
    let limit = 1 << 20;
    for codec in [
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let bomb = bomb(codec);
        assert!(bomb.len() < 4 << 20, "{codec:?} bomb is {} bytes", bomb.len());
        let mut out = Vec::new();
        let error = decompress(codec, &bomb, &mut out, limit).unwrap_err();
        assert!(
            matches!(error, RecordsError::DecompressedTooLarge { limit: l, .. } if l <= limit),
            "{codec:?}: {error:?}"
        );
        assert!(
            out.capacity() <= 2 * limit + 64 * 1024,
            "{codec:?} grew to {}",
            out.capacity()
        );
        assert_eq!(error.kafka_code(), 10);
        // Under a limit that fits, the same bytes decompress.
        let mut out = Vec::new();
        decompress(codec, &bomb, &mut out, 64 << 20).unwrap();
        assert_eq!(out.len(), 64 << 20);
    }
}

#[test]
fn raw_snappy_claiming_more_than_the_limit_is_refused_before_allocating() {
    // A raw snappy block whose preamble claims 2^31 bytes.
    let claim = [0x80, 0x80, 0x80, 0x80, 0x08, 0x00];
    let mut out = Vec::new();
    let error = decompress(Compression::Snappy, &claim, &mut out, 1 << 20).unwrap_err();
    assert!(matches!(error, RecordsError::DecompressedTooLarge { .. }), "{error:?}");
    assert_eq!(out.capacity(), 0);
}

#[test]
fn zstd_frame_with_a_huge_window_is_refused_before_decoding() {
    // Magic, descriptor (no single segment, no checksum, no dict), window
    // descriptor exponent 20 (1 GiB).
    let frame = [0x28, 0xb5, 0x2f, 0xfd, 0x00, 20 << 3, 0, 0, 0];
    let mut out = Vec::new();
    let error = decompress(Compression::Zstd, &frame, &mut out, 1 << 20).unwrap_err();
    assert!(
        matches!(error, RecordsError::ZstdWindowTooLarge { max, .. } if max == ZSTD_WINDOW_BYTES_MAX),
        "{error:?}"
    );
}

#[test]
fn garbage_per_codec_is_compressed_data_invalid() {
    let garbage: Vec<u8> = (0..200u32).map(|i| (i * 37 % 251) as u8).collect();
    for codec in [
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let mut out = Vec::new();
        let error = decompress(codec, &garbage, &mut out, 1 << 20).unwrap_err();
        assert!(
            matches!(error, RecordsError::CompressedDataInvalid { .. }),
            "{codec:?}: {error:?}"
        );
    }
}
