//! The blocking client (`BlockingClient`) against a server: produces
//! (records encoded where they are) read back by the async client, the
//! server's errors as `ClientError::Server` on a connection that stays
//! usable, and a new connection after the server dropped the old one.

use crate::common::start_server;

use millrace::Record;
use millrace_server::error_code::ErrorCode;
use millrace_server::messages::{Request, Response};
use millrace_server::{BlockingClient, ClientError, ClientOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocking_client_produces_gets_errors_and_reconnects() {
    // Idle connections are closed after 200 ms: the blocking client's
    // connection is dropped under it between two calls.
    let server = start_server(|config| config.idle_timeout_ms = 200).await;
    let client = server.client().await;
    client.create_topic("t", 1, &[("durability", "always")]).await.unwrap();
    let addr = server.addr();
    let mut keyed = Record::new(b"two".to_vec());
    keyed.key = Some(b"k".to_vec());
    keyed.headers.push(("h".into(), b"v".to_vec()));
    let batch = vec![keyed, Record::new(b"three".to_vec())];
    let outcome = tokio::task::spawn_blocking(move || {
        let mut blocking = BlockingClient::connect(addr, ClientOptions::default()).unwrap();
        assert!(blocking.server_hello().is_some());
        let first = blocking.produce("t", 0, &[Record::new(b"one".to_vec())]).unwrap();
        assert_eq!((first.base_offset, first.next_offset), (0, 1));
        let second = blocking.produce("t", 0, &batch).unwrap();
        assert_eq!((second.base_offset, second.next_offset), (1, 3));
        assert!(matches!(blocking.call(&Request::Ping).unwrap(), Response::Empty));
        // A refused request is the server's answer; the connection goes on.
        let missing = blocking.produce("missing", 0, &batch).unwrap_err();
        assert_eq!(missing.code(), Some(ErrorCode::TopicNotFound), "{missing}");
        let third = blocking.produce("t", 0, &[Record::new(b"four".to_vec())]).unwrap();
        assert_eq!(third.base_offset, 3);
        // Past the idle timeout (and the server's linger) the connection is
        // gone: the next call fails, the one after it reconnects.
        std::thread::sleep(std::time::Duration::from_millis(1_500));
        let dropped = blocking.produce("t", 0, &[Record::new(b"lost".to_vec())]);
        let after = blocking.produce("t", 0, &[Record::new(b"five".to_vec())]).unwrap();
        (dropped, after)
    })
    .await
    .unwrap();
    let (dropped, after) = outcome;
    assert!(
        matches!(
            dropped,
            Err(ClientError::Server(_) | ClientError::Io { .. } | ClientError::Disconnected)
        ),
        "{dropped:?}"
    );
    assert_eq!(after.base_offset, 4);
    let fetched = client.fetch("t", 0, 0, std::time::Duration::ZERO).await.unwrap();
    let values: Vec<&[u8]> = fetched.records.iter().map(|r| r.value.as_slice()).collect();
    assert_eq!(values, [&b"one"[..], b"two", b"three", b"four", b"five"]);
    let keyed = &fetched.records[1];
    assert_eq!(keyed.key.as_deref(), Some(&b"k"[..]));
    assert_eq!(keyed.headers, vec![("h".to_string(), b"v".to_vec())]);
}
