//! Replays every file of `fuzz/corpus/frame_decode` through the same check the
//! cargo-fuzz target runs, so CI keeps every past finding and seed green
//! without nightly or libFuzzer.

use std::path::PathBuf;

use millrace::Record;
use millrace_server::error_code::{ErrorCode, WireError};
use millrace_server::fuzzing::frame_decode;
use millrace_server::messages::*;

fn corpus_dir() -> PathBuf {
    corpus("frame_decode")
}

fn corpus(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target)
}

fn replay(target: &str, check: fn(&[u8])) {
    let mut replayed = 0;
    let mut paths: Vec<PathBuf> = std::fs::read_dir(corpus(target))
        .expect("corpus directory exists")
        .map(|entry| entry.expect("dir entry").path())
        .filter(|path| path.is_file())
        .collect();
    paths.sort();
    for path in paths {
        let data = std::fs::read(&path).expect("read corpus file");
        eprintln!("{target}: {}", path.display());
        check(&data);
        replayed += 1;
    }
    assert!(replayed >= 8, "only {replayed} {target} corpus files: seeds missing?");
}

#[test]
fn replay_frame_decode_corpus() {
    replay("frame_decode", frame_decode);
}

#[test]
fn replay_server_stream_corpus() {
    replay("server_stream", millrace_server::fuzzing::server_stream);
}

/// Regenerates the seed files: `cargo test -p millrace-server --test it fuzz_corpus:: -- --ignored`.
#[test]
#[ignore]
fn write_seed_corpus() {
    let requests = [
        Request::Hello(Hello {
            version_min: 1,
            version_max: 1,
            client_name: "seed".into(),
            token: Some(b"secret".to_vec()),
        }),
        Request::Ping,
        Request::CreateTopic(CreateTopic {
            name: "events".into(),
            partitions: 4,
            config: vec![ConfigEntry {
                key: "retention_ms".into(),
                value: "60000".into(),
            }],
        }),
        Request::Produce(Produce {
            topic: "events".into(),
            partition: 1,
            producer: Some(ProducerStamp {
                producer_id: 7,
                epoch: 2,
                base_sequence: 10,
            }),
            records: vec![
                Record::new(b"v".to_vec())
                    .with_key(b"k".to_vec())
                    .with_header("h", b"x".to_vec()),
                Record::new(Vec::new()).with_timestamp(1_700_000_000_000),
            ],
        }),
        Request::Fetch(Fetch {
            topic: "events".into(),
            partition: 0,
            position: Position::Time(1_700_000_000_000),
            max_bytes: 1 << 20,
            max_records: 100,
            isolation: Isolation::ReadUncommitted,
            max_wait_ms: 500,
        }),
        Request::ResetOffsets(ResetOffsets {
            group: "g".into(),
            topic: Some("events".into()),
            partitions: vec![0, 2],
            target: ResetTarget::ShiftBy(-5),
            dry_run: true,
            force: false,
        }),
        Request::TxnDeadLetter(TxnDeadLetter {
            transaction_id: 3,
            group: "g".into(),
            source_topic: "in".into(),
            source_partition: 0,
            source_offset: 9,
            stage: "transform".into(),
            error_class: "parse".into(),
            error_message: "bad".into(),
            attempts: 3,
            record: Record::new(b"payload".to_vec()),
        }),
        Request::DlqRedrive(DlqRedrive {
            topic: "events".into(),
            target_topic: Some("retry".into()),
            max_records: Some(100),
            rate_per_second: 10,
            redrive_cap: 3,
            dry_run: false,
            from_offset: None,
        }),
    ];
    let dir = corpus_dir();
    std::fs::create_dir_all(&dir).expect("mkdir");
    let mut pipelined = vec![0u8];
    for (i, request) in requests.iter().enumerate() {
        let frame = encode_request(i as u32 + 1, request);
        pipelined.extend_from_slice(&frame);
        let mut seed = vec![(i * 7 + 1) as u8];
        seed.extend_from_slice(&frame);
        std::fs::write(dir.join(format!("request-{:02}-{:?}", i, request.opcode())), seed).expect("write");
    }
    std::fs::write(dir.join("pipelined-all"), pipelined).expect("write");
    let responses = [
        (
            Opcode::Fetch,
            Ok(Response::Fetched(Fetched {
                next_offset: 2,
                high_watermark: 2,
                last_stable_offset: 2,
                records: vec![millrace::StoredRecord {
                    offset: 1,
                    timestamp_ms: 5,
                    key: None,
                    value: b"x".to_vec(),
                    headers: vec![],
                    nulls: millrace::Nulls::default(),
                }],
            })),
        ),
        (
            Opcode::Produce,
            Err(WireError::new(ErrorCode::Fenced, "fenced").with_details(vec![7, 1, 2])),
        ),
    ];
    for (i, (opcode, result)) in responses.iter().enumerate() {
        let mut seed = vec![3u8];
        seed.extend_from_slice(&encode_response(opcode.code(), 1, result));
        std::fs::write(dir.join(format!("response-{i:02}-{opcode:?}")), seed).expect("write");
    }
    // Hostile shapes: 4 GiB length prefix, a too-short length, a truncated frame.
    std::fs::write(dir.join("oversize-prefix"), [1u8, 0xff, 0xff, 0xff, 0xff, 1, 0]).expect("write");
    std::fs::write(dir.join("short-length"), [4u8, 3, 0, 0, 0, 1, 0, 0, 0]).expect("write");
    std::fs::write(
        dir.join("truncated"),
        [64u8, 0x20, 0, 0, 0, 0x21, 0, 0, 0, 1, 0, 0, 0, 6, 0],
    )
    .expect("write");
}
