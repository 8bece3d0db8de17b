//! A server's topic config goes through the engine's key table in the CLI:
//! `topic describe --server` against a server that answers a value the
//! table cannot parse (`segment_bytes = "lots"`) fails naming the key and
//! the value, instead of showing the default in its place; a key the CLI
//! does not know is skipped. The server here is a stand-in on a loopback
//! socket that speaks just enough of the native protocol (Hello,
//! DescribeTopic, DlqList, DescribeDamage) with the crate's own codec.

use std::io::{Read, Write};
use std::net::TcpListener;

use millrace_server::frame::FrameDecoder;
use millrace_server::messages::{
    decode_request, encode_response, ConfigEntry, DamageReport, DlqListing, HelloResponse, PartitionInfo, Request,
    Response, TopicDescription,
};
use predicates::prelude::*;

/// Serve one connection, answering `DescribeTopic` with `config`.
fn stand_in_server(config: Vec<ConfigEntry>) -> (String, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let thread = std::thread::spawn(move || {
        let (mut socket, _) = listener.accept().unwrap();
        let mut decoder = FrameDecoder::new(1 << 20);
        let mut buffer = [0u8; 4096];
        loop {
            let Ok(n) = socket.read(&mut buffer) else { return };
            if n == 0 {
                return;
            }
            decoder.feed(&buffer[..n]);
            while let Some(frame) = decoder.next_frame().unwrap() {
                let request = decode_request(&frame).unwrap();
                let response = match &request {
                    Request::Hello(_) => Response::Hello(HelloResponse {
                        version: 1,
                        server_name: "stand-in".into(),
                        frame_bytes_max: 1 << 20,
                        in_flight_max: 8,
                    }),
                    Request::DescribeTopic(topic) => Response::TopicDescription(TopicDescription {
                        name: topic.name.clone(),
                        partitions: vec![PartitionInfo {
                            partition: 0,
                            start_offset: 0,
                            end_offset: 0,
                            bytes: 0,
                        }],
                        config: config.clone(),
                    }),
                    Request::DlqList(_) => Response::DlqListing(DlqListing {
                        depth: 0,
                        start_offset: 0,
                        end_offset: 0,
                        oldest_age_ms: None,
                        entries: Vec::new(),
                    }),
                    Request::DescribeDamage(_) => Response::Damage(DamageReport::default()),
                    _ => Response::Empty,
                };
                let bytes = encode_response(request.opcode().code(), frame.header.request_id, &Ok(response));
                if socket.write_all(&bytes).is_err() {
                    return;
                }
            }
        }
    });
    (addr, thread)
}

fn entry(key: &str, value: &str) -> ConfigEntry {
    ConfigEntry {
        key: key.into(),
        value: value.into(),
    }
}

fn describe(addr: &str) -> assert_cmd::assert::Assert {
    assert_cmd::Command::cargo_bin("millrace")
        .unwrap()
        .args(["--server", addr, "topic", "describe", "orders", "--json"])
        .env_remove("MILLRACE_DATA")
        .env_remove("MILLRACE_TOKEN")
        .assert()
}

#[test]
fn a_bad_config_value_from_the_server_is_refused_not_defaulted() {
    let (addr, server) = stand_in_server(vec![entry("durability", "os"), entry("segment_bytes", "lots")]);
    describe(&addr)
        .code(1)
        .stderr(predicate::str::contains("segment_bytes").and(predicate::str::contains("lots")));
    server.join().unwrap();
}

#[test]
fn known_keys_are_read_and_unknown_ones_skipped() {
    let (addr, server) = stand_in_server(vec![
        entry("durability", "interval:50"),
        entry("segment_bytes", "8192"),
        entry("retention_ms", "60000"),
        entry("route_invalid_to_dlq", "true"),
        entry("a_key_from_a_newer_server", "whatever"),
    ]);
    let output = describe(&addr).success().get_output().stdout.clone();
    let json: serde_json::Value = serde_json::from_slice(&output).unwrap();
    assert_eq!(json["durability"], "interval:50");
    assert_eq!(json["config"]["segment_bytes"], 8192);
    assert_eq!(json["config"]["retention_ms"], 60_000);
    assert_eq!(json["config"]["route_invalid_to_dlq"], true);
    server.join().unwrap();
}
