//! Proves the Kafka request decoder (`millrace_server::kafka::protocol`)
//! allocates in proportion to the frame it is given, never to what a count
//! claims: counts of `i32::MAX` (plain and nested) are refused before any
//! allocation of their elements; a frame of zeros read as the most elements its bytes can
//! hold costs at most 16 bytes per input byte; and every file of
//! `fuzz/corpus/kafka_request` passes the fuzz target's check within the same
//! bound. Measured with `millrace_tests::alloc_track` (per thread, peak live
//! bytes).

use std::path::{Path, PathBuf};

use millrace_server::kafka::protocol::fuzz_check::kafka_request;
use millrace_server::kafka::protocol::header::RequestHeader;
use millrace_server::kafka::protocol::sample::Sampler;
use millrace_server::kafka::protocol::{decode_request, encode_request, sample_request, ApiKey, SUPPORTED_APIS};
use millrace_tests::alloc_track::measure;

/// Peak bytes a decode may hold per frame byte (a `Vec` element is at most
/// ~10 times its fewest wire bytes: a Fetch topic is 56 bytes in memory for 6
/// on the wire), plus a constant.
fn bound(frame_bytes: usize) -> usize {
    16 * frame_bytes + 1024
}

fn frame(api: ApiKey, version: i16, body: &[u8]) -> Vec<u8> {
    let header = RequestHeader {
        api_key: api.code(),
        api_version: version,
        correlation_id: 1,
        client_id: Some("alloc"),
    };
    let mut frame = Vec::new();
    header.write(&mut frame, api.request_header_version(version)).unwrap();
    frame.extend_from_slice(body);
    frame
}

#[test]
fn claimed_counts_are_refused_before_allocation() {
    let max = i32::MAX.to_be_bytes();
    let mut produce_nested = Vec::new();
    produce_nested.extend_from_slice(&(-1i16).to_be_bytes());
    produce_nested.extend_from_slice(&1i16.to_be_bytes());
    produce_nested.extend_from_slice(&0i32.to_be_bytes());
    produce_nested.extend_from_slice(&1i32.to_be_bytes());
    produce_nested.extend_from_slice(&[0, 0]);
    produce_nested.extend_from_slice(&max);
    let cases: Vec<(ApiKey, i16, Vec<u8>)> = vec![
        (ApiKey::Metadata, 1, max.to_vec()),
        (ApiKey::Produce, 3, produce_nested),
        (ApiKey::DescribeGroups, 0, max.to_vec()),
        (ApiKey::SaslAuthenticate, 0, max.to_vec()),
        (ApiKey::AlterConfigs, 0, max.to_vec()),
        (ApiKey::IncrementalAlterConfigs, 0, max.to_vec()),
    ];
    for (api, version, body) in cases {
        let frame = frame(api, version, &body);
        let (result, stats) = measure(|| decode_request(&frame).is_err());
        assert!(result, "{api:?} v{version} decoded");
        // At most the one honestly counted outer element (Produce's topic,
        // 56 bytes) before the claimed inner count is refused.
        assert!(stats.peak_bytes <= 64, "{api:?} v{version}: {stats:?}");
    }
}

/// A body of zeros is, for most APIs, the largest number of empty elements
/// a count may claim: the worst case of honest counts.
#[test]
fn the_most_elements_a_frame_holds_cost_a_bounded_multiple_of_it() {
    for api in SUPPORTED_APIS {
        for version in api.served_min..=api.advertised_max {
            for body_bytes in [64usize, 4096, 65_536] {
                // Every count at the most the remaining zeros allow is what
                // a count of 0x7fffffff is cut down to by the bound; a body
                // of zeros with a leading count of n / 4 claims them.
                let mut body = vec![0u8; body_bytes];
                let count = (body_bytes / 8) as i32;
                if let Some(prefix) = body.get_mut(..4) {
                    prefix.copy_from_slice(&count.to_be_bytes());
                }
                let frame = frame(api.key, version, &body);
                let (_, stats) = measure(|| decode_request(&frame).is_ok());
                assert!(
                    stats.peak_bytes <= bound(frame.len()),
                    "{:?} v{version}, {} bytes: {stats:?}",
                    api.key,
                    frame.len()
                );
            }
        }
    }
}

/// Valid requests of every API decode within the bound too.
#[test]
fn sample_requests_decode_within_the_bound() {
    for api in SUPPORTED_APIS {
        for version in api.served_min..=api.advertised_max {
            for seed in 0..16 {
                let request = sample_request(api.key, &mut Sampler::new(seed, true), version);
                let header = RequestHeader {
                    api_key: api.key.code(),
                    api_version: version,
                    correlation_id: 5,
                    client_id: None,
                };
                let mut frame = Vec::new();
                encode_request(&mut frame, &header, &request).unwrap();
                let (decoded, stats) = measure(|| decode_request(&frame).is_ok());
                assert!(decoded);
                assert!(
                    stats.peak_bytes <= bound(frame.len()),
                    "{:?} v{version}: {stats:?}",
                    api.key
                );
            }
        }
    }
}

fn corpus_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/kafka_request");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn replay_kafka_request_corpus_within_the_bound() {
    let files = corpus_files();
    assert!(
        files.len() >= 23,
        "only {} kafka_request corpus files: seeds missing?",
        files.len()
    );
    for path in files {
        let bytes = std::fs::read(&path).unwrap();
        let ((), stats) = measure(|| kafka_request(&bytes));
        // The check also encodes an answer (an empty response is a few
        // dozen bytes; the ApiVersions fallback ~150).
        assert!(
            stats.peak_bytes <= bound(bytes.len()) + 4096,
            "{}: {} bytes, {stats:?}",
            path.display(),
            bytes.len()
        );
    }
}

/// Regenerates the seeds: one sample request of every API at every served
/// version, the refused Produce v2, an ApiVersions v3 (KIP-511) and a few
/// hostile frames: `cargo test --release -p millrace-tests --test it
/// kafka_allocation::write_seed_corpus -- --ignored`.
#[test]
#[ignore]
fn write_seed_corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/kafka_request");
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: String, bytes: &[u8]| std::fs::write(dir.join(name), bytes).unwrap();
    for api in SUPPORTED_APIS {
        for version in api.advertised_min..=api.advertised_max {
            let request = sample_request(api.key, &mut Sampler::new(version as u64 + 1, true), version);
            let header = RequestHeader {
                api_key: api.key.code(),
                api_version: version,
                correlation_id: 1,
                client_id: Some("seed"),
            };
            let mut frame = Vec::new();
            encode_request(&mut frame, &header, &request).unwrap();
            write(format!("seed-{:?}-v{version}", api.key), &frame);
        }
    }
    let mut api_versions_v3 = frame(ApiKey::ApiVersions, 3, &[]);
    api_versions_v3.extend_from_slice(&[
        11, b'l', b'i', b'b', b'r', b'd', b'k', b'a', b'f', b'k', b'a', 6, b'2', b'.', b'0', b'.', b'2', 0,
    ]);
    write("seed-ApiVersions-v3-kip511".into(), &api_versions_v3);
    write(
        "seed-metadata-huge-count".into(),
        &frame(ApiKey::Metadata, 1, &i32::MAX.to_be_bytes()),
    );
    write("seed-unknown-api".into(), &[0, 99, 0, 0, 0, 0, 0, 1, 0, 0]);
}
