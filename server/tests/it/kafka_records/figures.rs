//! Figures, not a test of speed (nothing is asserted about time): decode +
//! map onto engine records of 1,000 × 1 KiB records, uncompressed and per
//! codec, against a memcpy of the same (uncompressed) bytes in the same run.
//! `cargo test --release -p millrace-server --test it -- --ignored --nocapture kafka_records::figures`

use std::hint::black_box;
use std::time::{Duration, Instant};

use millrace_server::kafka::records::{produce_batch, to_engine_records};

use super::*;

const ROUNDS: u32 = 200;

fn time(mut f: impl FnMut()) -> Duration {
    f();
    let started = Instant::now();
    for _ in 0..ROUNDS {
        f();
    }
    started.elapsed() / ROUNDS
}

#[test]
#[ignore = "prints figures; run with --ignored --nocapture"]
fn decode_and_map_1000_records_of_1_kib() {
    // Compressible like typical JSON-ish payloads: words from a small vocabulary.
    let words: [&[u8]; 8] = [
        b"alpha ",
        b"beta ",
        b"gamma ",
        b"delta ",
        b"{\"id\":",
        b"42,",
        b"\"x\"}",
        b"name ",
    ];
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let records: Vec<Plain> = (0..1000)
        .map(|i| {
            let mut value = Vec::with_capacity(1024);
            while value.len() < 1024 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                value.extend_from_slice(words[(state % 8) as usize]);
            }
            value.truncate(1024);
            Plain {
                timestamp_delta: i,
                key: Some(format!("key-{i}").into_bytes()),
                value: Some(value),
                headers: vec![("trace".into(), Some(b"0123456789abcdef".to_vec()))],
            }
        })
        .collect();
    let plain = encode_ours(&records, Compression::None, false);
    let mut copy = vec![0u8; plain.len()];
    let memcpy = time(|| {
        copy.copy_from_slice(black_box(&plain));
        black_box(&copy);
    });
    println!(
        "memcpy of {} bytes: {:?} ({:.1} ns/record)",
        plain.len(),
        memcpy,
        memcpy.as_nanos() as f64 / 1000.0
    );
    for codec in Compression::ALL {
        let bytes = encode_ours(&records, codec, false);
        let mut scratch = Vec::new();
        let mut out = Vec::with_capacity(1000);
        let decode = time(|| {
            out.clear();
            let batch = produce_batch(black_box(&bytes)).unwrap();
            to_engine_records(&batch, &mut scratch, 4 << 20, &mut out).unwrap();
            black_box(&out);
        });
        println!(
            "{codec:?}: batch {} bytes, decode+map {:?} ({:.1} ns/record), {:.1} × memcpy",
            bytes.len(),
            decode,
            decode.as_nanos() as f64 / 1000.0,
            decode.as_secs_f64() / memcpy.as_secs_f64()
        );
    }
}
