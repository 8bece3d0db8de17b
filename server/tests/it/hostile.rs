//! Bad and hostile clients over loopback: oversize length prefix (4 GiB),
//! truncated frames, malformed bodies, unknown opcodes, requests before the
//! handshake, wrong versions, slowloris, idle clients, and a connection flood
//! beyond the limit. Each test also checks that another client is served
//! meanwhile and afterwards: the server stays up.

use crate::common;

use std::time::{Duration, Instant};

use common::{hello_frame, start_server, Raw};
use millrace_server::connection::HELLO_FRAME_BYTES_MAX;
use millrace_server::error_code::ErrorCode;
use millrace_server::frame::{encode_frame, FrameHeader, FRAME_BYTES_MAX_DEFAULT};
use millrace_server::messages::*;
use tokio::io::AsyncWriteExt;

async fn expect_fatal(raw: &mut Raw, code: ErrorCode) -> (u16, u32, Vec<u64>) {
    let (frame, result) = raw.response().await.expect("an error frame before close");
    let error = result.expect_err("an error");
    assert_eq!(error.code, code, "{error}");
    assert!(raw.is_closed().await, "connection closed after {code:?}");
    (frame.header.opcode, frame.header.request_id, error.details)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_gib_length_prefix_is_refused_before_allocation() {
    let server = start_server(|_| {}).await;
    let healthy = server.client().await;
    let mut raw = Raw::connect(server.addr()).await;
    // Length 0xFFFF_FFFF, then a little of a header; nothing else is ever sent.
    raw.send(&[0xff, 0xff, 0xff, 0xff, 0x01, 0x00]).await;
    let (opcode, request_id, details) = expect_fatal(&mut raw, ErrorCode::FrameTooLarge).await;
    assert_eq!((opcode, request_id), (0, 0));
    // Before the handshake the limit is the Hello frame's.
    assert_eq!(details, vec![u64::from(u32::MAX), u64::from(HELLO_FRAME_BYTES_MAX)]);
    // Also after a handshake, and just one byte over the limit.
    let mut raw = Raw::hello(server.addr()).await;
    raw.send(&(FRAME_BYTES_MAX_DEFAULT + 1).to_le_bytes()).await;
    expect_fatal(&mut raw, ErrorCode::FrameTooLarge).await;
    // Below the 8-byte minimum.
    let mut raw = Raw::connect(server.addr()).await;
    raw.send(&3u32.to_le_bytes()).await;
    expect_fatal(&mut raw, ErrorCode::Malformed).await;
    healthy.ping().await.unwrap();
    assert_eq!(
        server
            .handle
            .metrics()
            .frames_malformed
            .load(std::sync::atomic::Ordering::Relaxed),
        3
    );
    server.handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_frames() {
    let server = start_server(|c| c.slow_client_timeout_ms = 300).await;
    let healthy = server.client().await;

    // 1. A frame cut off by the client closing: the server just closes.
    let mut raw = Raw::hello(server.addr()).await;
    let frame = encode_request(
        2,
        &Request::CreateTopic(CreateTopic {
            name: "t".into(),
            partitions: 1,
            config: vec![],
        }),
    );
    raw.send(&frame[..frame.len() - 3]).await;
    raw.stream.shutdown().await.unwrap();
    assert!(raw.frame().await.is_none());

    // 2. A frame cut off and then silence: slow-client timeout.
    let mut raw = Raw::hello(server.addr()).await;
    raw.send(&frame[..frame.len() - 3]).await;
    let started = Instant::now();
    expect_fatal(&mut raw, ErrorCode::Timeout).await;
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());

    // 3. A whole frame whose body is truncated (length field agrees with the
    //    bytes, the fields do not): Malformed, echoing the request id.
    let mut raw = Raw::hello(server.addr()).await;
    let body = frame[12..frame.len() - 3].to_vec();
    raw.send(&encode_frame(
        FrameHeader::request(Opcode::CreateTopic.code(), 77),
        &body,
    ))
    .await;
    let (opcode, request_id, _) = expect_fatal(&mut raw, ErrorCode::Malformed).await;
    assert_eq!((opcode, request_id), (Opcode::CreateTopic.code(), 77));

    // 4. Trailing garbage after a valid body.
    let mut raw = Raw::hello(server.addr()).await;
    raw.send(&encode_frame(FrameHeader::request(Opcode::Ping.code(), 5), &[1, 2, 3]))
        .await;
    expect_fatal(&mut raw, ErrorCode::Malformed).await;

    healthy.ping().await.unwrap();
    assert!(
        healthy.list_topics().await.unwrap().is_empty(),
        "the truncated create did nothing"
    );
    server.handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_opcode_bad_flags_no_handshake_bad_version() {
    let server = start_server(|_| {}).await;
    let healthy = server.client().await;

    let mut raw = Raw::hello(server.addr()).await;
    raw.send(&encode_frame(FrameHeader::request(0x7777, 9), b"whatever"))
        .await;
    let (opcode, request_id, details) = expect_fatal(&mut raw, ErrorCode::UnknownOpcode).await;
    assert_eq!((opcode, request_id, details), (0x7777, 9, vec![0x7777]));

    let mut raw = Raw::hello(server.addr()).await;
    raw.send(&encode_frame(
        FrameHeader {
            opcode: Opcode::Ping.code(),
            flags: 0x0100,
            request_id: 3,
        },
        &[],
    ))
    .await;
    expect_fatal(&mut raw, ErrorCode::Malformed).await;

    // A request before Hello.
    let mut raw = Raw::connect(server.addr()).await;
    raw.request(1, &Request::ListTopics).await;
    expect_fatal(&mut raw, ErrorCode::HandshakeRequired).await;

    // A Hello with a wrong magic.
    let mut raw = Raw::connect(server.addr()).await;
    let mut hello = hello_frame(1);
    hello[12] ^= 0xff;
    raw.send(&hello).await;
    expect_fatal(&mut raw, ErrorCode::Malformed).await;

    // Versions the server does not speak.
    let mut raw = Raw::connect(server.addr()).await;
    raw.request(
        1,
        &Request::Hello(Hello {
            version_min: 7,
            version_max: 9,
            client_name: "future".into(),
            token: None,
        }),
    )
    .await;
    let (_, _, details) = expect_fatal(&mut raw, ErrorCode::UnsupportedVersion).await;
    assert_eq!(details, vec![1, 1]);

    // A second Hello is an error but not fatal.
    let mut raw = Raw::hello(server.addr()).await;
    raw.send(&hello_frame(2)).await;
    let (_, result) = raw.response().await.unwrap();
    assert_eq!(result.unwrap_err().code, ErrorCode::InvalidInput);
    raw.request(3, &Request::Ping).await;
    assert_eq!(raw.response().await.unwrap().1, Ok(Response::Empty));

    healthy.ping().await.unwrap();
    server.handle.shutdown().await.unwrap();
}

/// A client that sends one byte every 200 ms is cut off at the slow-client
/// timeout; one that never says Hello at the handshake timeout; one that goes
/// quiet at the idle timeout. Another client sees normal latency throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_and_idle_clients_are_cut_off() {
    let server = start_server(|c| {
        c.slow_client_timeout_ms = 1_000;
        c.handshake_timeout_ms = 1_000;
        c.idle_timeout_ms = 1_500;
    })
    .await;
    let healthy = server.client().await;
    let addr = server.addr();

    let slow_frame = tokio::spawn(async move {
        let mut raw = Raw::hello(addr).await;
        let frame = encode_request(2, &Request::ListTopics);
        let started = Instant::now();
        for byte in frame.iter().cycle().take(100) {
            if raw.stream.write_all(std::slice::from_ref(byte)).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            if started.elapsed() > Duration::from_secs(6) {
                break;
            }
        }
        started.elapsed()
    });
    let slow_hello = tokio::spawn(async move {
        let mut raw = Raw::connect(addr).await;
        let started = Instant::now();
        raw.send(&hello_frame(1)[..5]).await;
        let (_, result) = raw.response().await.unwrap();
        (result.unwrap_err().code, started.elapsed())
    });
    let idle = tokio::spawn(async move {
        let mut raw = Raw::hello(addr).await;
        let started = Instant::now();
        let (_, result) = raw.response().await.unwrap();
        (result.unwrap_err().code, started.elapsed())
    });

    // Meanwhile the healthy client is served promptly.
    let mut worst = Duration::ZERO;
    for _ in 0..20 {
        let started = Instant::now();
        healthy.ping().await.unwrap();
        worst = worst.max(started.elapsed());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Generous bound: CI shares two cores with other test binaries.
    assert!(worst < Duration::from_millis(1_500), "healthy ping took {worst:?}");

    let slow_for = slow_frame.await.unwrap();
    assert!(slow_for < Duration::from_secs(4), "slowloris lasted {slow_for:?}");
    let (code, after) = slow_hello.await.unwrap();
    assert_eq!(code, ErrorCode::Timeout);
    assert!(after < Duration::from_secs(3), "{after:?}");
    let (code, after) = idle.await.unwrap();
    assert_eq!(code, ErrorCode::Timeout);
    assert!(
        after >= Duration::from_millis(1_000) && after < Duration::from_secs(4),
        "{after:?}"
    );
    // The healthy client was not idle: it pinged. Give it a fresh call after the others are gone.
    healthy.ping().await.unwrap();
    server.handle.shutdown().await.unwrap();
}

/// Connections beyond the limit get `TooManyConnections` and are closed; the
/// clients already connected are served, and new ones are accepted once the
/// flood is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_flood_beyond_the_limit() {
    let limit = 8;
    let server = start_server(|c| c.connections_max = limit).await;
    let healthy = server.client().await;
    let mut held = Vec::new();
    for _ in 1..limit {
        held.push(Raw::hello(server.addr()).await);
    }
    let mut refused = 0;
    for _ in 0..100 {
        let mut raw = Raw::connect(server.addr()).await;
        let _ = raw.stream.write_all(&hello_frame(1)).await;
        if let Some((frame, result)) = raw.response().await {
            assert_eq!(frame.header.request_id, 0);
            let error = result.unwrap_err();
            assert_eq!(error.code, ErrorCode::TooManyConnections);
            assert_eq!(error.details, vec![u64::from(limit)]);
        }
        assert!(raw.is_closed().await);
        refused += 1;
        if refused % 10 == 0 {
            healthy.ping().await.unwrap();
        }
    }
    assert_eq!(refused, 100);
    let rejected = server
        .handle
        .metrics()
        .connections_rejected
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(rejected, 100);
    drop(held);
    // Slots free up as the server notices the closes.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut raw = Raw::connect(server.addr()).await;
        raw.send(&hello_frame(1)).await;
        if let Some((_, Ok(Response::Hello(_)))) = raw.response().await {
            break;
        }
        assert!(Instant::now() < deadline, "slots were not released");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    healthy.ping().await.unwrap();
    server.handle.shutdown().await.unwrap();
}

/// A client that pipelines far more than the in-flight limit and never reads
/// is throttled by TCP back-pressure, then cut off by the slow-client
/// timeout; the server's buffering for it stays bounded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_that_never_reads_is_cut_off() {
    let server = start_server(|c| {
        c.in_flight_max = 4;
        c.slow_client_timeout_ms = 500;
    })
    .await;
    let healthy = server.client().await;
    healthy.create_topic("big", 1, &[]).await.unwrap();
    healthy
        .produce("big", 0, vec![millrace::Record::new(vec![7u8; 512 * 1024])])
        .await
        .unwrap();
    let mut raw = Raw::hello(server.addr()).await;
    let fetch = Request::Fetch(Fetch {
        topic: "big".into(),
        partition: 0,
        position: Position::Offset(0),
        max_bytes: 1 << 20,
        max_records: 0,
        isolation: Isolation::ReadCommitted,
        max_wait_ms: 0,
    });
    let mut burst = Vec::new();
    for id in 0..64u32 {
        encode_request_into(&mut burst, id + 2, &fetch);
    }
    // Write without reading: the server must stop reading and time the client out.
    let started = Instant::now();
    let write = tokio::time::timeout(Duration::from_secs(10), raw.stream.write_all(&burst)).await;
    assert!(
        write.is_ok(),
        "write neither finished nor failed: no back-pressure resolution"
    );
    healthy.ping().await.unwrap();
    // Now the socket is closed by the server (reset, since unread responses are dropped).
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let open = server
        .handle
        .metrics()
        .connections_open
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(open, 1, "only the healthy client remains after {:?}", started.elapsed());
    server.handle.shutdown().await.unwrap();
}

/// Pipelined requests larger in total than the connection's buffer budget are
/// all answered, in order: the budget throttles reading, it never deadlocks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buffer_budget_throttles_without_deadlock() {
    let server = start_server(|c| {
        c.frame_bytes_max = 8 * 1024;
        c.connection_buffered_bytes_max = 8 * 1024;
        c.buffered_bytes_max = 16 * 1024;
    })
    .await;
    let healthy = server.client().await;
    healthy.create_topic("b", 1, &[]).await.unwrap();
    let mut raw = Raw::hello(server.addr()).await;
    let produce = Request::Produce(Produce {
        topic: "b".into(),
        partition: 0,
        producer: None,
        records: vec![millrace::Record::new(vec![1u8; 4 * 1024])],
    });
    let mut burst = Vec::new();
    for id in 0..50u32 {
        encode_request_into(&mut burst, id + 2, &produce);
    }
    // 200 KiB of requests against an 8 KiB budget: the server reads as
    // answers free the budget; the answers are small, so nothing blocks.
    tokio::time::timeout(Duration::from_secs(20), raw.send(&burst))
        .await
        .expect("the server keeps reading as it answers");
    for id in 0..50u32 {
        let (frame, result) = raw.response().await.unwrap();
        assert_eq!(frame.header.request_id, id + 2);
        let Ok(Response::Produced(produced)) = result else {
            panic!("{result:?}")
        };
        assert_eq!(produced.base_offset, u64::from(id));
    }
    healthy.ping().await.unwrap();
    server.handle.shutdown().await.unwrap();
}

/// A client waiting for a slow answer (a long poll longer than the idle
/// timeout) is not idle: it gets its answer, not a timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_for_an_answer_is_not_idle() {
    let server = start_server(|c| c.idle_timeout_ms = 300).await;
    let client = server.client().await;
    client.create_topic("w", 1, &[]).await.unwrap();
    let started = Instant::now();
    let fetched = client.fetch("w", 0, 0, Duration::from_millis(1_000)).await.unwrap();
    assert!(fetched.records.is_empty());
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    client.ping().await.unwrap();
    let accepted = server
        .handle
        .metrics()
        .connections_accepted
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(accepted, 1, "the client never had to reconnect");
    server.handle.shutdown().await.unwrap();
}

/// The idle timeout counts from a connection's last request, however many
/// came before and whatever deadline the connection's timer was armed at: a
/// client that pings past the handshake timeout and past three idle timeouts
/// counted from its start is cut off one idle timeout after its last ping,
/// not before (the reader moves its one timer to the deadline when it fires
/// early).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_idle_timeout_counts_from_the_last_request() {
    let server = start_server(|c| {
        c.handshake_timeout_ms = 300;
        c.idle_timeout_ms = 500;
    })
    .await;
    let mut raw = Raw::hello(server.addr()).await;
    let started = Instant::now();
    for request_id in 2..10 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        raw.request(request_id, &Request::Ping).await;
        let (frame, result) = raw.response().await.expect("a pinging client is not idle");
        assert_eq!(frame.header.request_id, request_id);
        assert!(result.is_ok(), "{result:?}");
    }
    let quiet = Instant::now();
    assert!(quiet - started >= Duration::from_millis(1_600));
    let (_, result) = raw.response().await.expect("the timeout error");
    assert_eq!(result.unwrap_err().code, ErrorCode::Timeout);
    let after = quiet.elapsed();
    assert!(
        after >= Duration::from_millis(450) && after < Duration::from_secs(4),
        "cut off {after:?} after the last ping"
    );
    server.handle.shutdown().await.unwrap();
}

/// Sockets that never say Hello fill only the pre-handshake budget
/// (`handshake_connections_max`), never the `connections_max` slots; one more
/// than the budget evicts the oldest of them (`TooManyConnections`, then
/// close), so a valid client still connects and works while they stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sockets_that_never_say_hello_do_not_lock_clients_out() {
    let budget = 8u32;
    let server = start_server(|c| {
        c.connections_max = 4;
        c.handshake_connections_max = budget;
        c.handshake_connections_per_address_max = budget;
        c.handshake_timeout_ms = 60_000;
    })
    .await;
    let accepted = || {
        server
            .handle
            .metrics()
            .connections_accepted
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    // More silent sockets than connection slots, exactly the handshake budget.
    let mut silent = Vec::new();
    for _ in 0..budget {
        silent.push(Raw::connect(server.addr()).await);
        // Admitted in this order: the first is the oldest.
        let deadline = Instant::now() + Duration::from_secs(5);
        while accepted() < silent.len() as u64 {
            assert!(Instant::now() < deadline, "server did not accept");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    // A valid client connects (evicting the oldest silent socket) and works.
    let client = tokio::time::timeout(Duration::from_secs(5), server.client())
        .await
        .expect("a valid client connects while silent sockets fill the handshake budget");
    client.create_topic("t", 1, &[]).await.unwrap();
    client
        .produce("t", 0, vec![millrace::Record::new(b"x".to_vec())])
        .await
        .unwrap();
    // The probe just above the budget: the oldest silent socket was told why.
    let mut oldest = silent.remove(0);
    let (opcode, request_id, details) = expect_fatal(&mut oldest, ErrorCode::TooManyConnections).await;
    assert_eq!((opcode, request_id, details), (0, 0, vec![u64::from(budget)]));
    // The other silent sockets are still open, and still hold no slot:
    // connections_max - 1 more clients get in.
    let mut clients = Vec::new();
    for _ in 1..4 {
        clients.push(Raw::hello(server.addr()).await);
    }
    // The fifth handshaken connection is over connections_max.
    let mut over = Raw::connect(server.addr()).await;
    over.send(&hello_frame(1)).await;
    let (_, _, details) = expect_fatal(&mut over, ErrorCode::TooManyConnections).await;
    assert_eq!(details, vec![4]);
    client.ping().await.unwrap();
    server.handle.shutdown().await.unwrap();
}

const MEMORY_CHILD_ENV: &str = "MILLRACE_HOSTILE_MEMORY_CHILD_DIR";
const MEMORY_FRAME_BYTES_MAX: u32 = 4 * 1024 * 1024;
const MEMORY_REQUEST_BUDGET: u32 = 16 * 1024 * 1024;
const MEMORY_RESPONSE_BUDGET: u32 = 16 * 1024 * 1024;

/// Not a test on its own: the server of
/// `half_sent_frames_and_slow_readers_stay_within_the_budgets`, in a child
/// process so that its resident set can be measured alone.
#[test]
#[ignore = "run as a child process by half_sent_frames_and_slow_readers_stay_within_the_budgets"]
fn memory_child_server() {
    let Ok(dir) = std::env::var(MEMORY_CHILD_ENV) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let config = millrace_server::ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            metrics_listen: None,
            data_dir: dir.into(),
            durability: "os".into(),
            frame_bytes_max: MEMORY_FRAME_BYTES_MAX,
            connection_buffered_bytes_max: 2 * MEMORY_FRAME_BYTES_MAX,
            buffered_bytes_max: MEMORY_REQUEST_BUDGET,
            response_buffered_bytes_max: MEMORY_RESPONSE_BUDGET,
            connections_max: 512,
            slow_client_timeout_ms: 120_000,
            memory_release_idle_ms: 0,
            ..millrace_server::ServerConfig::default()
        };
        let handle = millrace_server::server::start(config).await.unwrap();
        println!("LISTENING {}", handle.local_addr());
        handle.wait().await.unwrap();
    });
}

/// Kills the child server when dropped.
struct ChildServer(std::process::Child);

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn resident_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kib: u64 = line
        .trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap();
    kib * 1024
}

/// Many connections each send a header claiming a 4 MiB frame and 3.5 MiB of
/// its body, then stop; many others pipeline fetches of 3.5 MiB and never
/// read the answers. The server's resident set grows by at most
/// `buffered_bytes_max + response_buffered_bytes_max` plus a stated constant
/// (before requests counted from their length prefix, it grew by the sum of
/// the half-sent bodies: 168 MiB here), and a healthy client is served
/// throughout.
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_frames_and_slow_readers_stay_within_the_budgets() {
    use std::io::BufRead;
    use std::sync::Arc;
    /// Everything not in the two budgets: connections' small buffers and
    /// tasks, tokio and allocator overhead (80 connections here).
    const CONSTANT_BYTES: u64 = 24 * 1024 * 1024;
    const HALF_SENDERS: usize = 48;
    const SLOW_READERS: usize = 32;

    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            &millrace_tests::kill9::test_name(module_path!(), "memory_child_server"),
            "--nocapture",
            "--test-threads=1",
        ])
        .env(MEMORY_CHILD_ENV, dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let child = ChildServer(child);
    let pid = child.0.id();
    let mut lines = std::io::BufReader::new(stdout).lines();
    let addr: std::net::SocketAddr = loop {
        let line = lines.next().expect("child prints its address").unwrap();
        // The harness may print "test memory_child_server ... " first.
        if let Some((_, rest)) = line.split_once("LISTENING ") {
            break rest.trim().parse().unwrap();
        }
    };

    let healthy = millrace_server::Client::connect(addr, millrace_server::ClientOptions::default())
        .await
        .unwrap();
    healthy.create_topic("big", 1, &[]).await.unwrap();
    healthy.create_topic("small", 1, &[]).await.unwrap();
    for _ in 0..4 {
        healthy
            .produce("big", 0, vec![millrace::Record::new(vec![7u8; 900 * 1024])])
            .await
            .unwrap();
    }
    let fetch = Request::Fetch(Fetch {
        topic: "big".into(),
        partition: 0,
        position: Position::Offset(0),
        max_bytes: MEMORY_FRAME_BYTES_MAX - 1024,
        max_records: 0,
        isolation: Isolation::ReadCommitted,
        max_wait_ms: 0,
    });
    // Warm up: the segment's pages and one large fetch.
    let mut warm = Raw::hello(addr).await;
    warm.request(2, &fetch).await;
    let (_, result) = warm.response().await.unwrap();
    assert!(
        matches!(result, Ok(Response::Fetched(ref f)) if f.records.len() == 4),
        "{result:?}"
    );
    drop(warm);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let baseline = resident_bytes(pid);

    // Half-sent frames: a Produce header claiming the largest frame, most of
    // its body, then silence (the writes block once the server stops reading).
    let length = MEMORY_FRAME_BYTES_MAX - 4;
    let mut head = length.to_le_bytes().to_vec();
    head.extend_from_slice(&Opcode::Produce.code().to_le_bytes());
    head.extend_from_slice(&0u16.to_le_bytes());
    head.extend_from_slice(&2u32.to_le_bytes());
    head.extend(std::iter::repeat_n(0u8, 7 * 512 * 1024));
    let half_frame: Arc<Vec<u8>> = Arc::new(head);
    let mut held = Vec::new();
    for _ in 0..HALF_SENDERS {
        let mut raw = Raw::hello(addr).await;
        let bytes = half_frame.clone();
        held.push(tokio::spawn(async move {
            let _ = raw.stream.write_all(&bytes).await;
            std::future::pending::<()>().await;
            drop(raw);
        }));
    }
    // Slow readers: pipelined large fetches, never read.
    let mut burst = Vec::new();
    for id in 0..4u32 {
        encode_request_into(&mut burst, id + 2, &fetch);
    }
    let mut readers = Vec::new();
    for _ in 0..SLOW_READERS {
        let mut raw = Raw::hello(addr).await;
        raw.send(&burst).await;
        readers.push(raw);
    }

    // While all of them hold on, the resident set stays within the budgets.
    let bound = baseline + u64::from(MEMORY_REQUEST_BUDGET) + u64::from(MEMORY_RESPONSE_BUDGET) + CONSTANT_BYTES;
    let mut peak = 0;
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        peak = peak.max(resident_bytes(pid));
        let started = Instant::now();
        healthy.ping().await.unwrap();
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    }
    eprintln!(
        "server resident set: baseline {} MiB, peak {} MiB, bound {} MiB",
        baseline >> 20,
        peak >> 20,
        bound >> 20
    );
    assert!(
        peak <= bound,
        "server resident set {} MiB, baseline {} MiB, bound {} MiB",
        peak >> 20,
        baseline >> 20,
        bound >> 20
    );
    // The healthy client still produces and fetches (small records: the
    // slow readers hold most of the response budget until they time out).
    healthy
        .produce("small", 0, vec![millrace::Record::new(b"ok".to_vec())])
        .await
        .unwrap();
    let fetched = healthy.fetch("small", 0, 0, Duration::ZERO).await.unwrap();
    assert_eq!(fetched.records.len(), 1);
    for task in held {
        task.abort();
    }
    drop(readers);
    drop(child);
}

/// Limits agree by construction: the largest record a topic accepts fits in
/// a fetch response, whatever its shape (a plain value, or the most headers,
/// which cost the most on the wire); a `record_bytes_max` that would not fit
/// is refused at CreateTopic naming the keys (the probe just above the
/// limit, and the original case of `record_bytes_max = frame_bytes_max`,
/// whose records were acknowledged and then never fetchable). A fetch with
/// the largest `max_bytes` stops before a record that would take the
/// response past the frame, instead of failing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn largest_accepted_record_is_fetchable() {
    use millrace::Record;
    use millrace_server::handler::record_bytes_fetchable_max;
    let frame = 1024 * 1024;
    let server = start_server(|c| c.frame_bytes_max = frame).await;
    let client = server.client().await;
    let fetchable = record_bytes_fetchable_max(frame);
    for over in [fetchable + 1, frame] {
        let error = client
            .create_topic("over", 1, &[("record_bytes_max", &over.to_string())])
            .await
            .unwrap_err();
        let millrace_server::ClientError::Server(error) = error else {
            panic!("{error:?}")
        };
        assert_eq!(error.code, ErrorCode::InvalidInput);
        assert!(
            error.message.contains("record_bytes_max") && error.message.contains("frame_bytes_max"),
            "{}",
            error.message
        );
    }
    // Without the key, the topic's default is the largest that fits.
    client.create_topic("default", 1, &[]).await.unwrap();
    let described = client.describe_topic("default").await.unwrap();
    assert!(described
        .config
        .iter()
        .any(|e| e.key == "record_bytes_max" && e.value == fetchable.to_string()));

    client
        .create_topic("max", 1, &[("record_bytes_max", &fetchable.to_string())])
        .await
        .unwrap();
    let limit = fetchable as usize;
    let keyed = Record::new(Vec::new()).with_key(Vec::new());
    let plain = Record::new(vec![1u8; limit - keyed.encoded_len()]).with_key(Vec::new());
    assert_eq!(plain.encoded_len(), limit);
    let mut headed = Record::new(Vec::new()).with_key(Vec::new());
    for _ in 0..u16::MAX {
        headed = headed.with_header("", Vec::new());
    }
    headed.value = vec![2u8; limit - headed.encoded_len()];
    assert_eq!(headed.encoded_len(), limit);
    // One byte more is refused by the topic.
    let mut too_big = plain.clone();
    too_big.value.push(0);
    assert!(client.produce("max", 0, vec![too_big]).await.is_err());

    let small: Vec<Record> = (0..40).map(|_| Record::new(vec![3u8; 16 * 1024])).collect();
    client.produce("max", 0, small).await.unwrap();
    client.produce("max", 0, vec![plain.clone()]).await.unwrap();
    client.produce("max", 0, vec![headed.clone()]).await.unwrap();
    let mut offset = 0;
    let mut fetched = Vec::new();
    while fetched.len() < 42 {
        let answer = client
            .fetch_with(Fetch {
                topic: "max".into(),
                partition: 0,
                position: Position::Offset(offset),
                max_bytes: frame - 1024,
                max_records: 0,
                isolation: Isolation::ReadCommitted,
                max_wait_ms: 0,
            })
            .await
            .expect("every accepted record is fetchable");
        assert!(!answer.records.is_empty());
        offset = answer.next_offset;
        fetched.extend(answer.records);
    }
    assert_eq!(fetched[40].value, plain.value);
    assert_eq!(fetched[41].value, headed.value);
    assert_eq!(fetched[41].headers.len(), usize::from(u16::MAX));
    server.handle.shutdown().await.unwrap();
}

/// A server refuses to start over a store whose limits disagree with its
/// own, naming the keys: a topic whose `record_bytes_max` does not fit in a
/// fetch response under `frame_bytes_max`, and a store whose producer
/// de-duplication window is smaller than `in_flight_max`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_start_refuses_inconsistent_limits() {
    let dir = tempfile::tempdir().unwrap();
    let store = millrace::Store::open(dir.path(), millrace::StoreOptions::default()).unwrap();
    store
        .create_topic(
            "wide",
            millrace::TopicConfig {
                record_bytes_max: 1024 * 1024,
                ..millrace::TopicConfig::with_partitions(1)
            },
        )
        .unwrap();
    store.close().unwrap();
    let mut config = common::test_config(dir.path());
    config.frame_bytes_max = 1024 * 1024;
    let error = millrace_server::server::start(config.clone())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("frame_bytes_max") && error.contains("record_bytes_max") && error.contains("wide"),
        "{error}"
    );
    // The window: an embedder's store with the default window of 5 batches.
    config.frame_bytes_max = 2 * 1024 * 1024;
    let store = millrace::Store::open(dir.path(), millrace::StoreOptions::default()).unwrap();
    let error = millrace_server::server::start_with_store(config.clone(), store)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("in_flight_max") && error.contains("producer_dedup_batches"),
        "{error}"
    );
    // The server opens its own store with a window of in_flight_max.
    let handle = millrace_server::server::start(config).await.unwrap();
    handle.shutdown().await.unwrap();
}
