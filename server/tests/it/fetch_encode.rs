//! Figures of the native fetch's encoding (issue 26, s14 rperf): records
//! encoded into a fetch response straight from the engine's views, measured
//! then encoded (`bytes_with` and `push`, as before) against encoded once
//! and taken back when past the cap (`push_within`).

use std::hint::black_box;
use std::time::Instant;

use millrace::{Isolation, ReadOptions, Record, Store, StoreOptions, TopicConfig};
use millrace_server::messages::FetchedEncoded;

/// 64 MiB of 1 KiB records (the comparison's scan row, smaller).
const RECORDS: u64 = 64 * 1024;
const ROUNDS: usize = 40;
/// The comparison's fetch: 4 MiB of records, less the frame's overhead.
const CAP: usize = (4 << 20) - 1024;

/// One pass over the partition, 4 MiB responses; µs of wall time.
fn encode_all(store: &Store, buffer: &mut Vec<u8>, once: bool) -> f64 {
    let started = Instant::now();
    let mut offset = 0;
    while offset < RECORDS {
        let mut encoded = FetchedEncoded::with_buffer(std::mem::take(buffer));
        let mut capped_at = None;
        let mut last = offset;
        let options = ReadOptions {
            max_bytes: 4 << 20,
            max_records: usize::MAX,
        };
        let next = store
            .scan("t", 0, offset, options, Isolation::ReadCommitted, |view| {
                if capped_at.is_some() {
                    return;
                }
                let taken = if once {
                    encoded.push_within(&view, CAP)
                } else if encoded.count > 0 && encoded.records.len() + FetchedEncoded::stored_len(&view) > CAP {
                    false
                } else {
                    encoded.push(&view);
                    true
                };
                if taken {
                    last = view.offset;
                } else {
                    capped_at = Some(last + 1);
                }
            })
            .unwrap();
        offset = capped_at.unwrap_or(next);
        black_box(&encoded.records);
        *buffer = encoded.records;
    }
    started.elapsed().as_secs_f64() * 1e6
}

/// Per record, ns (wall time; one pass of each kind in turns, the order
/// swapped every round, so that the load of the moment weighs on both
/// alike; the median of the per-round ratios is the figure). Both passes
/// include the engine's scan (CRC and record walk) of a mapped sealed
/// segment; only the encoding differs.
#[test]
#[ignore = "prints figures; run with --ignored --nocapture"]
fn fetch_encoding_measured_then_encoded_against_encoded_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        dir.path(),
        StoreOptions {
            durability: millrace::Durability::Os,
            ..StoreOptions::default()
        },
    )
    .unwrap();
    store.create_topic("t", TopicConfig::with_partitions(1)).unwrap();
    let batch: Vec<Record> = (0..1000).map(|_| Record::new(vec![7u8; 1024])).collect();
    let mut appended = 0;
    while appended < RECORDS {
        let n = (RECORDS - appended).min(1000) as usize;
        store.append("t", 0, &batch[..n]).unwrap();
        appended += n as u64;
    }
    store.roll("t", 0).unwrap();
    let mut buffer = Vec::new();
    encode_all(&store, &mut buffer, true);
    encode_all(&store, &mut buffer, false);
    let (mut before, mut after, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let first_once = round % 2 == 0;
        let a = encode_all(&store, &mut buffer, first_once);
        let b = encode_all(&store, &mut buffer, !first_once);
        let (twice, once) = if first_once { (b, a) } else { (a, b) };
        before.push(twice);
        after.push(once);
        ratios.push(once / twice);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let per_record = |us: f64| us * 1000.0 / RECORDS as f64;
    let (twice, once, ratio) = (median(&mut before), median(&mut after), median(&mut ratios));
    println!(
        "scan + encode per 1 KiB record: measured then encoded {:.1} ns, encoded once {:.1} ns; \
         once ÷ measured per round: median {ratio:.3} (p10 {:.3}, p90 {:.3})",
        per_record(twice),
        per_record(once),
        ratios[ROUNDS / 10],
        ratios[ROUNDS * 9 / 10],
    );
}
