//! Figures, not a test of speed (nothing is asserted about time): decode +
//! map onto engine records of 1,000 × 1 KiB records, uncompressed and per
//! codec, against a memcpy of the same (uncompressed) bytes in the same run.
//! Also the produce path's mapping and engine encoding, owned records (the
//! transactional path's, and every produce's before issue 26's borrowed
//! append) against borrowed ones, in alternating rounds.
//! `cargo test --release -p millrace-server --test it -- --ignored --nocapture kafka_records::figures`

use std::hint::black_box;
use std::time::{Duration, Instant};

use millrace_server::kafka::records::{produce_batch, produced_records, to_engine_records};

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
    let records = records_of_1_kib();
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

/// 1,000 records of 1 KiB, a key and a header each, compressible like
/// typical JSON-ish payloads: words from a small vocabulary.
fn records_of_1_kib() -> Vec<Plain> {
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
    (0..1000)
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
        .collect()
}

/// Per produced record, ns (wall time: rounds of about a millisecond, owned
/// and borrowed in turns, so that the load of the moment weighs on both
/// alike; the per-round ratio is the figure): check the batch (its CRC-32C), map its records
/// (owned: a copy of every key, value and header; borrowed: views) and
/// encode them into an engine batch (its CRC-32), as `Partition::append`
/// does; owned and borrowed alternate, 200 rounds each, the median of the
/// per-round ratios printed with the medians.
#[test]
#[ignore = "prints figures; run with --ignored --nocapture"]
fn produce_path_owned_against_borrowed_records() {
    let bytes = encode_ours(&records_of_1_kib(), Compression::None, false);
    let time = millrace::batch::AppendTime {
        ms: 0,
        overrides: false,
    };
    let mut scratch = Vec::new();
    let mut engine_batch = Vec::with_capacity(2 << 20);
    let mut owned = Vec::with_capacity(1000);
    let mut one_round = |borrowed: bool| {
        let started = Instant::now();
        let batch = produce_batch(black_box(&bytes)).unwrap();
        engine_batch.clear();
        if borrowed {
            let mut records = Vec::new();
            produced_records(&batch, &mut scratch, 4 << 20, &mut records).unwrap();
            millrace::batch::encode_at(&mut engine_batch, 0, &records, time, None, 0, 0);
        } else {
            owned.clear();
            to_engine_records(&batch, &mut scratch, 4 << 20, &mut owned).unwrap();
            millrace::batch::encode_at(&mut engine_batch, 0, &owned, time, None, 0, 0);
        }
        black_box(&engine_batch);
        started.elapsed().as_nanos() as f64 / 1000.0
    };
    let (mut owned_ns, mut borrowed_ns, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..=ROUNDS {
        let first = round % 2 == 0;
        let a = one_round(first);
        let b = one_round(!first);
        let (o, b) = if first { (b, a) } else { (a, b) };
        if round > 0 {
            owned_ns.push(o);
            borrowed_ns.push(b);
            ratios.push(b / o);
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "per record: owned {:.1} ns, borrowed {:.1} ns; borrowed ÷ owned per round: median {:.2}",
        median(&mut owned_ns),
        median(&mut borrowed_ns),
        median(&mut ratios)
    );
}
