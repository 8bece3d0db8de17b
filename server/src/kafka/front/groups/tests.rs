//! The group handlers through `dispatch::handle`, with requests and
//! responses encoded by the front's own codec.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::kafka::front::{handle, Conn, Front, KafkaConfig};
use crate::kafka::protocol::{
    decode_request, decode_response_body, encode_request, messages, Request, RequestHeader, Response,
};
use crate::server::service::Service;

/// A front over a fresh store (the directory lives as long as the front).
pub(super) struct Fixture {
    pub front: Front,
    _dir: tempfile::TempDir,
}

pub(super) fn fixture(config: KafkaConfig) -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = millrace::Store::open(dir.path(), millrace::StoreOptions::default()).expect("store");
    let service = Service {
        store,
        metrics: Arc::default(),
        frame_bytes_max: 1 << 20,
        fetch_wait_max_ms: 1000,
        shutting_down: Arc::default(),
        syncer: crate::server::durable::Syncer::start().expect("syncer"),
        group_budget: crate::server::group_budget::GroupBudget::default(),
    };
    Fixture {
        front: Front::new(Arc::new(service), config),
        _dir: dir,
    }
}

pub(super) fn conn() -> Conn {
    Conn::new(SocketAddr::from(([127, 0, 0, 1], 40000)))
}

/// Sends `request` at `version` through the dispatch table; the response
/// frame's body, decoded, is handed to `check`.
pub(super) fn call<T>(
    front: &Front,
    conn: &mut Conn,
    version: i16,
    request: &Request<'_>,
    check: impl FnOnce(Response<'_>) -> T,
) -> T {
    let header = RequestHeader {
        api_key: request.api_key() as i16,
        api_version: version,
        correlation_id: 7,
        client_id: Some("test-client"),
    };
    let mut frame = Vec::new();
    encode_request(&mut frame, &header, request).expect("encode request");
    let (header, decoded) = decode_request(&frame).expect("decode request");
    let mut out = Vec::new();
    handle(front, conn, &header, decoded, &mut out).expect("handled");
    let api = request.api_key();
    // size (4), correlation id (4), then the body (header v0: no tagged fields
    // at the non-flexible versions served).
    assert!(out.len() >= 8, "a response frame");
    assert_eq!(&out[4..8], &7i32.to_be_bytes());
    let body = &out[8..];
    check(decode_response_body(api, body, version).expect("decode response"))
}

#[test]
fn find_coordinator_answers_this_node_for_groups_and_transactions() {
    let config = KafkaConfig {
        advertised: Some(("broker.example".into(), 19092)),
        node_id: 3,
        ..KafkaConfig::default()
    };
    let fixture = fixture(config);
    let mut conn = conn();
    for version in 0..=2 {
        for key_type in [0, 1] {
            if version == 0 && key_type == 1 {
                continue;
            }
            let request = Request::FindCoordinator(messages::groups::FindCoordinatorRequest {
                key: "g",
                key_type,
                ..Default::default()
            });
            call(&fixture.front, &mut conn, version, &request, |response| {
                let Response::FindCoordinator(r) = response else {
                    panic!("{response:?}")
                };
                assert_eq!(r.error_code, 0);
                assert_eq!((r.node_id, r.host, r.port), (3, "broker.example", 19092));
            });
        }
    }
    let request = Request::FindCoordinator(messages::groups::FindCoordinatorRequest {
        key: "g",
        key_type: 2,
        ..Default::default()
    });
    call(&fixture.front, &mut conn, 1, &request, |response| {
        let Response::FindCoordinator(r) = response else {
            panic!("{response:?}")
        };
        assert_eq!(r.error_code, crate::kafka::front::errors::INVALID_REQUEST);
    });
}

#[test]
fn find_coordinator_without_advertised_answers_the_listen_address() {
    let config = KafkaConfig {
        listen: Some(SocketAddr::from(([127, 0, 0, 1], 29092))),
        ..KafkaConfig::default()
    };
    let fixture = fixture(config);
    let request = Request::FindCoordinator(messages::groups::FindCoordinatorRequest {
        key: "g",
        ..Default::default()
    });
    call(&fixture.front, &mut conn(), 2, &request, |response| {
        let Response::FindCoordinator(r) = response else {
            panic!("{response:?}")
        };
        assert_eq!((r.error_code, r.node_id, r.host, r.port), (0, 0, "127.0.0.1", 29092));
    });
}
