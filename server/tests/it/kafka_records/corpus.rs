//! The seed corpus of the fuzz target `kafka_records`
//! (fuzz/corpus/kafka_records: first byte the decompression limit selector,
//! then a `records` field). Regenerate with
//! `cargo test --release -p millrace-server --test it -- --ignored kafka_records::corpus::write_seed_corpus`.
//! Origins: batches encoded by the kafka-protocol crate (every codec, plain
//! and transactional), by ours (duplicate and null headers), two batches in
//! one field, a legacy magic 1 prefix, truncations, and a 1 MiB-of-zeros
//! bomb per codec.

use std::path::Path;

use millrace_server::kafka::records::compress;

use super::*;

#[test]
#[ignore = "writes the seed corpus into fuzz/corpus/kafka_records"]
fn write_seed_corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/kafka_records");
    std::fs::create_dir_all(&dir).unwrap();
    let mut seeds: Vec<(String, Vec<u8>)> = Vec::new();
    let small = sample_records()[..2].to_vec();
    let mut dupes = small.clone();
    dupes[0].headers = vec![("h".into(), Some(b"1".to_vec())), ("h".into(), None)];
    for codec in Compression::ALL {
        let name = format!("{codec:?}").to_lowercase();
        seeds.push((format!("theirs-{name}"), encode_theirs(&small, codec, false)));
        seeds.push((format!("theirs-{name}-txn"), encode_theirs(&small, codec, true)));
        seeds.push((format!("ours-{name}-dupes"), encode_ours(&dupes, codec, false)));
        if codec != Compression::None {
            // A batch whose records are 1 MiB of zeros compressed: a small bomb.
            let mut bomb = encode_ours(&small[..1], Compression::None, false);
            bomb.truncate(61);
            let mut payload = Vec::new();
            compress(codec, &vec![0u8; 1 << 20], &mut payload).unwrap();
            bomb.extend_from_slice(&payload);
            bomb[22] = codec.code();
            let length = (bomb.len() - 12) as i32;
            bomb[8..12].copy_from_slice(&length.to_be_bytes());
            let crc = crc32c::crc32c(&bomb[21..]);
            bomb[17..21].copy_from_slice(&crc.to_be_bytes());
            seeds.push((format!("bomb-{name}"), bomb));
        }
    }
    let one = encode_theirs(&small, Compression::None, false);
    let mut two = one.clone();
    two.extend_from_slice(&encode_theirs(&small, Compression::Snappy, false));
    seeds.push(("two-batches".into(), two));
    let mut legacy = one.clone();
    legacy[16] = 1;
    seeds.push(("legacy-magic".into(), legacy));
    seeds.push(("truncated-header".into(), one[..40].to_vec()));
    seeds.push(("truncated-records".into(), one[..one.len() - 3].to_vec()));
    for (name, bytes) in seeds {
        // Limit selector 8: 256 KiB (the bombs exceed it), 4: 16 KiB.
        for selector in [8u8, 4] {
            let mut data = vec![selector];
            data.extend_from_slice(&bytes);
            std::fs::write(dir.join(format!("{name}-limit{selector}")), data).unwrap();
        }
    }
}
