//! Property: whatever records are encoded (any codec, duplicate header keys,
//! null keys, values and header values), ours decodes them back unchanged,
//! and the batch re-encodes to the same bytes.

use proptest::prelude::*;

use super::*;

fn plain() -> impl Strategy<Value = Plain> {
    let bytes = || proptest::collection::vec(any::<u8>(), 0..64);
    (
        any::<i64>().prop_map(|t| t >> 2),
        proptest::option::of(bytes()),
        proptest::option::of(bytes()),
        proptest::collection::vec(("[a-c]{0,3}", proptest::option::of(bytes())), 0..4),
    )
        .prop_map(|(timestamp_delta, key, value, headers)| Plain {
            timestamp_delta,
            key,
            value,
            headers,
        })
}

fn codec() -> impl Strategy<Value = Compression> {
    proptest::sample::select(Compression::ALL.to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn encode_then_decode_gives_the_records_back(records in proptest::collection::vec(plain(), 1..20), codec in codec(), transactional in any::<bool>()) {
        // Deltas must not overflow the base timestamp.
        let records: Vec<Plain> = records;
        let bytes = encode_ours(&records, codec, transactional);
        let (batch, decoded) = decode_ours(&bytes);
        prop_assert_eq!(&decoded, &records);
        prop_assert_eq!(batch.header.attributes.compression(), Ok(codec));
        prop_assert_eq!(batch.header.record_count as usize, records.len());
        // Re-encoding the decoded records gives the same bytes.
        prop_assert_eq!(encode_ours(&decoded, codec, transactional), bytes);
    }
}
