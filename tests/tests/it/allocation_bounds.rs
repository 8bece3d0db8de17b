//! Proves the batch decoders allocate in proportion to the bytes they are
//! given, never to what a header claims: a header claiming a 64 MiB batch
//! (`BATCH_BYTES_MAX`), more than 64 MiB, or `u32::MAX` records is rejected
//! before any allocation; a header whose record count is the most its length
//! allows costs at most one `StoredRecord` per 22 bytes; decoded records take
//! at most ~8 bytes per input byte; and recovering a segment whose last header
//! claims 64 MiB allocates well under 1 MiB. Measured with the counting
//! allocator of `millrace_tests::alloc_track` (per thread, peak bytes live),
//! installed in `main.rs`.

use millrace::batch::{self, BatchHeader, BATCH_BYTES_MAX, HEADER_SIZE};
use millrace::{CorruptionKind, Record, StoredRecord};
use millrace_tests::alloc_track::measure;
use millrace_tests::fuzz_checks::check_segment_recovery;

/// Per record: length u32, timestamp i64, key length i32, value length u32,
/// header count u16 (design/format.md, "Record").
const RECORD_BYTES_MIN: usize = 22;

fn one_batch(records: &[Record]) -> Vec<u8> {
    let mut out = Vec::new();
    batch::encode(&mut out, 0, records, 1_000, None, 0, 0);
    out
}

/// A copy of a valid batch's header with `length` and `record_count` replaced
/// (CRC left stale: only the header bounds are under test).
fn header_claiming(length: u32, record_count: u32) -> Vec<u8> {
    let mut header = one_batch(&[Record::new(Vec::new())]);
    header.truncate(HEADER_SIZE);
    header[4..8].copy_from_slice(&length.to_le_bytes());
    header[24..28].copy_from_slice(&record_count.to_le_bytes());
    header
}

#[test]
fn huge_claimed_length_is_rejected_before_allocation() {
    for (length, record_count) in [
        (BATCH_BYTES_MAX, 1),
        (BATCH_BYTES_MAX, (BATCH_BYTES_MAX - 64) / 22),
        (BATCH_BYTES_MAX + 1, 1),
        (u32::MAX, 1),
    ] {
        let bytes = header_claiming(length, record_count);
        let (result, stats) = measure(|| batch::verify(&bytes));
        assert_eq!(result, Err(CorruptionKind::BadLength), "length {length}");
        assert_eq!(
            stats.peak_bytes, 0,
            "verify allocated for a {length}-byte claim: {stats:?}"
        );
    }
}

#[test]
fn huge_claimed_record_count_is_rejected_before_allocation() {
    let length = (HEADER_SIZE + 4 * RECORD_BYTES_MIN) as u32;
    for record_count in [5, 1 << 20, u32::MAX] {
        let bytes = header_claiming(length, record_count);
        let (result, stats) = measure(|| BatchHeader::parse(&bytes));
        assert_eq!(result, Err(CorruptionKind::BadLength), "record count {record_count}");
        assert_eq!(stats.peak_bytes, 0);
    }
    // Four minimal records fit in that length: the count is accepted.
    assert!(BatchHeader::parse(&header_claiming(length, 4)).is_ok());
}

#[test]
fn largest_record_count_costs_one_stored_record_per_22_bytes() {
    let records = 10_000usize;
    let length = HEADER_SIZE + records * RECORD_BYTES_MIN;
    // A header claiming as many records as the length allows, over a body of
    // zeros (the first record length, 0, is invalid).
    let mut bytes = header_claiming(length as u32, records as u32);
    bytes.resize(length, 0);
    let header = BatchHeader::parse(&bytes).expect("the count is within the length bound");
    let (result, stats) = measure(|| batch::decode_records(&bytes, &header));
    assert_eq!(result, Err(CorruptionKind::BadRecord));
    let bound = records * std::mem::size_of::<StoredRecord>();
    assert!(stats.peak_bytes <= bound, "{stats:?} > {bound}");
    eprintln!(
        "record vector for {records} claimed records in {length} bytes: {} bytes ({:.1} per input byte)",
        stats.peak_bytes,
        stats.peak_bytes as f64 / length as f64
    );
}

#[test]
fn decoded_records_take_at_most_8_bytes_per_input_byte() {
    // The densest decoded form: a record of many empty headers (6 input bytes
    // each, one `(String, Vec<u8>)` of 48 bytes decoded).
    let mut record = Record::new(Vec::new()).with_timestamp(1);
    record.headers = vec![(String::new(), Vec::new()); 10_000];
    let many_headers = one_batch(&[record]);
    // Many minimal records (22 input bytes each, one `StoredRecord` decoded).
    let minimal: Vec<Record> = (0..10_000).map(|_| Record::new(Vec::new()).with_timestamp(1)).collect();
    let many_records = one_batch(&minimal);
    for (what, bytes) in [("many headers", many_headers), ("many records", many_records)] {
        let header = batch::verify(&bytes).expect("valid batch");
        let (result, stats) = measure(|| batch::decode_records(&bytes, &header).map(|r| r.len()));
        assert!(result.is_ok(), "{what}: {result:?}");
        let per_byte = stats.peak_bytes as f64 / bytes.len() as f64;
        eprintln!(
            "{what}: {} input bytes decode into {} bytes ({per_byte:.1} per input byte)",
            bytes.len(),
            stats.peak_bytes
        );
        assert!(per_byte <= 8.5, "{what}: {per_byte:.1} bytes per input byte");
    }
}

#[test]
fn recovery_of_a_header_claiming_64_mib_allocates_under_1_mib() {
    let mut segment = one_batch(&[Record::new(b"durable".to_vec()).with_timestamp(1)]);
    segment.extend(header_claiming(BATCH_BYTES_MAX, 1));
    // Opens (the claim is a torn tail), reads, appends, reopens: see fuzz_checks.
    let stats = check_segment_recovery(&segment);
    eprintln!(
        "recovery of a {}-byte segment claiming 64 MiB: {stats:?}",
        segment.len()
    );
    assert!(stats.peak_bytes < 1024 * 1024, "{stats:?}");
}
