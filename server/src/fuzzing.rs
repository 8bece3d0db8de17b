//! Checks shared by the cargo-fuzz target `fuzz/fuzz_targets/frame_decode.rs`
//! and the corpus replay test `server/tests/it/fuzz_corpus.rs`, so that CI runs
//! exactly what the fuzzer runs.

use crate::error_code::ERROR_MESSAGE_BYTES_MAX;
use crate::frame::Frame;
use crate::frame::{FrameDecoder, FRAME_HEADER_BYTES, FRAME_LENGTH_BYTES};
use crate::messages::{
    decode_fetch_response_view, decode_incoming, decode_request, decode_response, encode_request, encode_response,
    Incoming, Opcode, Request, Response,
};

/// Small, so that the fuzzer reaches the too-large path often.
pub const FUZZ_FRAME_BYTES_MAX: u32 = 64 * 1024;

/// The first byte chooses the size of the chunks the rest is fed in. Panics
/// (the fuzzer's finding) if a decoded frame breaks the limit, a decoded
/// message does not re-encode to the same bytes (the encoding is canonical),
/// or the client's way of reading ([`FrameDecoder::read_buffer`], large
/// bodies read into their own buffers) decodes other frames than `feed`.
pub fn frame_decode(data: &[u8]) {
    let Some((&chunk, stream)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk).max(1);
    let mut decoder = FrameDecoder::new(FUZZ_FRAME_BYTES_MAX);
    let mut frames = Vec::new();
    let mut failure = None;
    'stream: for piece in stream.chunks(chunk) {
        decoder.feed(piece);
        assert!(
            decoder.buffered_bytes() <= stream.len(),
            "decoder holds more than it was fed"
        );
        loop {
            match decoder.next_frame() {
                Ok(Some(frame)) => {
                    check_frame(&frame);
                    frames.push(frame);
                }
                Ok(None) => break,
                Err(error) => {
                    failure = Some(error);
                    break 'stream;
                }
            }
        }
    }
    let (read_frames, read_failure) = decode_by_reads(stream, chunk);
    assert_eq!(read_frames, frames, "read_buffer and feed decode different frames");
    assert_eq!(read_failure, failure, "read_buffer and feed fail differently");
}

/// Decode `stream` as the client reads a socket: through `read_buffer`, in
/// reads of `chunk` bytes whatever `wanted` says (so reads run past a direct
/// body's end), with every body of 16 bytes or more read into its own buffer.
fn decode_by_reads(stream: &[u8], chunk: usize) -> (Vec<Frame>, Option<crate::frame::FrameError>) {
    let mut decoder = FrameDecoder::new(FUZZ_FRAME_BYTES_MAX).with_direct_body_min(16);
    let mut frames = Vec::new();
    for piece in stream.chunks(chunk) {
        decoder.read_buffer(piece.len()).extend_from_slice(piece);
        assert!(
            decoder.buffered_bytes() <= stream.len(),
            "decoder holds more than it was given"
        );
        loop {
            match decoder.next_frame() {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) => break,
                Err(error) => return (frames, Some(error)),
            }
        }
    }
    (frames, None)
}

/// The checks on one decoded frame.
fn check_frame(frame: &Frame) {
    assert!(
        frame.body.len() + FRAME_HEADER_BYTES - FRAME_LENGTH_BYTES <= FUZZ_FRAME_BYTES_MAX as usize,
        "frame above the limit was returned"
    );
    if let Ok(request) = decode_request(frame) {
        let again = encode_request(frame.header.request_id, &request);
        let body = again.get(FRAME_HEADER_BYTES..).unwrap_or_default();
        assert_eq!(body, frame.body.as_slice(), "request encoding is not canonical");
    }
    if frame.header.opcode == Opcode::Fetch.code() {
        fetched_view_agrees(frame);
    }
    if frame.header.opcode == Opcode::Produce.code() {
        produce_frame_agrees(frame);
    }
    if let Ok(result) = decode_response(frame) {
        let long_message = matches!(&result, Err(e) if e.message.len() > ERROR_MESSAGE_BYTES_MAX);
        if !long_message {
            let again = encode_response(frame.header.opcode, frame.header.request_id, &result);
            let body = again.get(FRAME_HEADER_BYTES..).unwrap_or_default();
            assert_eq!(body, frame.body.as_slice(), "response encoding is not canonical");
        }
    }
}

/// The native front's `Produce` that keeps its body (records appended
/// borrowed) accepts and refuses exactly what the owned decoder does, with
/// the same error, and reads the same records.
fn produce_frame_agrees(frame: &Frame) {
    match (decode_request(frame), decode_incoming(frame.clone())) {
        (Ok(Request::Produce(owned)), Ok(Incoming::Produce(borrowed))) => {
            assert_eq!(borrowed.into_produce(), Ok(owned), "borrowed and owned produce differ");
        }
        (Err(owned), Err(borrowed)) => assert_eq!(owned, borrowed, "borrowed and owned produce fail differently"),
        (owned, borrowed) => panic!("owned decoder {owned:?}, borrowed {borrowed:?}"),
    }
}

/// The in-place reading of a `Fetch` response accepts and refuses exactly
/// what the owned decoder does, and reads the same records.
fn fetched_view_agrees(frame: &Frame) {
    let owned = decode_response(frame);
    let view = decode_fetch_response_view(frame.clone());
    match (owned, view) {
        (Ok(Ok(Response::Fetched(fetched))), Ok(Ok(view))) => {
            assert_eq!(
                view.to_fetched(),
                fetched,
                "view and owned decoder read different records"
            );
        }
        (Ok(Err(owned)), Ok(Err(view))) => assert_eq!(owned, view, "view and owned decoder read different errors"),
        (Err(_), Err(_)) => {}
        (owned, view) => panic!(
            "owned decoder {owned:?}, view {:?}",
            view.map(|v| v.map(|v| v.to_fetched()))
        ),
    }
}

/// A server shared by every input of the `server_stream` fuzz target.
#[derive(Debug)]
pub struct LiveServer {
    pub runtime: tokio::runtime::Runtime,
    pub addr: std::net::SocketAddr,
    pub data_dir: std::path::PathBuf,
}

/// Token of the fuzz server: produce and consume, not admin (so inputs cannot
/// create topics without bound). Prepended `Hello`s carry it.
pub const FUZZ_TOKEN: &str = "fuzz-token-0123456789";
pub const FUZZ_TOPIC: &str = "fuzz";

static LIVE: std::sync::OnceLock<LiveServer> = std::sync::OnceLock::new();

/// Start (once per process) a server with small limits over a temporary data
/// directory with one topic.
pub fn live_server() -> &'static LiveServer {
    LIVE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("fuzz runtime");
        let data_dir = std::env::temp_dir().join(format!("millrace-fuzz-server-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&data_dir);
        let store = millrace::Store::open(
            &data_dir,
            millrace::StoreOptions {
                durability: millrace::Durability::Os,
                quota_bytes: Some(256 * 1024 * 1024),
                ..millrace::StoreOptions::default()
            },
        )
        .expect("fuzz store");
        store
            .create_topic(
                FUZZ_TOPIC,
                millrace::TopicConfig {
                    // Every record accepted fits in a fetch response.
                    record_bytes_max: crate::handler::record_bytes_fetchable_max(FUZZ_FRAME_BYTES_MAX),
                    ..millrace::TopicConfig::with_partitions(2)
                },
            )
            .expect("fuzz topic");
        let config = crate::config::ServerConfig {
            listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            metrics_listen: None,
            data_dir: data_dir.clone(),
            durability: "os".into(),
            frame_bytes_max: FUZZ_FRAME_BYTES_MAX,
            in_flight_max: 4,
            slow_client_timeout_ms: 200,
            handshake_timeout_ms: 200,
            idle_timeout_ms: 500,
            fetch_wait_max_ms: 50,
            tokens: vec![crate::config::TokenConfig {
                name: None,
                groups: Vec::new(),
                groups_max: None,
                token: FUZZ_TOKEN.into(),
                permissions: vec![crate::auth::Permission::Produce, crate::auth::Permission::Consume],
            }],
            ..crate::config::ServerConfig::default()
        };
        let handle = runtime
            .block_on(crate::server::start_with_store(config, store))
            .expect("fuzz server");
        let addr = handle.local_addr();
        // The server runs for the life of the process.
        std::mem::forget(handle);
        LiveServer {
            runtime,
            addr,
            data_dir,
        }
    })
}

/// Drive the live server with one arbitrary byte stream. An even first byte
/// prepends a valid `Hello` (with the token) so inputs reach the states after
/// the handshake. Panics if the server sends a frame that does not decode as
/// a response, or stops serving a well-behaved client afterwards.
pub fn server_stream(data: &[u8]) {
    use crate::messages::{encode_request, Hello, Request, Response};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let Some((&mode, stream)) = data.split_first() else {
        return;
    };
    let live = live_server();
    let hello = |request_id| {
        encode_request(
            request_id,
            &Request::Hello(Hello {
                version_min: 1,
                version_max: 1,
                client_name: "fuzz".into(),
                token: Some(FUZZ_TOKEN.as_bytes().to_vec()),
            }),
        )
    };
    let mut input = Vec::new();
    if mode % 2 == 0 {
        input.extend_from_slice(&hello(1));
    }
    input.extend_from_slice(stream);
    live.runtime.block_on(async {
        let timeout = std::time::Duration::from_secs(5);
        let mut socket = tokio::net::TcpStream::connect(live.addr).await.expect("connect");
        let _ = socket.write_all(&input).await;
        let _ = socket.shutdown().await;
        let mut decoder = FrameDecoder::new(crate::frame::FRAME_BYTES_MAX_HIGHEST);
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match tokio::time::timeout(timeout, socket.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => decoder.feed(buf.get(..n).unwrap_or_default()),
                Ok(_) => break,
                Err(_) => panic!("server neither answered nor closed within {timeout:?}"),
            }
            while let Some(frame) = decoder.next_frame().expect("server frames are well formed") {
                let _ = decode_response(&frame).expect("server responses decode");
            }
        }
        assert!(!decoder.is_mid_frame(), "server closed in the middle of a frame");
        // A well-behaved client is still served.
        let mut health = tokio::net::TcpStream::connect(live.addr).await.expect("connect");
        let mut hello_and_ping = hello(1);
        hello_and_ping.extend_from_slice(&encode_request(2, &Request::Ping));
        health.write_all(&hello_and_ping).await.expect("write");
        let mut decoder = FrameDecoder::new(crate::frame::FRAME_BYTES_MAX_HIGHEST);
        let mut answered = 0;
        while answered < 2 {
            let n = tokio::time::timeout(timeout, health.read(&mut buf))
                .await
                .expect("health check answered in time")
                .expect("health read");
            assert!(n > 0, "server closed a well-behaved connection");
            decoder.feed(buf.get(..n).unwrap_or_default());
            while let Some(frame) = decoder.next_frame().expect("frame") {
                let response = decode_response(&frame).expect("decodes");
                assert!(
                    matches!(response, Ok(Response::Hello(_)) | Ok(Response::Empty)),
                    "{response:?}"
                );
                answered += 1;
            }
        }
    });
}
