//! Shared helpers of the loopback end-to-end tests: a server on an ephemeral
//! port over a temporary data directory, and a raw socket speaking frames.

use std::net::SocketAddr;
use std::time::Duration;

use millrace_server::config::ServerConfig;
use millrace_server::error_code::WireError;
use millrace_server::frame::{Frame, FrameDecoder, FRAME_BYTES_MAX_HIGHEST};
use millrace_server::messages::{
    decode_response, encode_request, Hello, Request, Response, PROTOCOL_VERSION_MAX, PROTOCOL_VERSION_MIN,
};
use millrace_server::server::{start, ServerHandle};
use millrace_server::{Client, ClientOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub struct TestServer {
    pub handle: ServerHandle,
    pub dir: tempfile::TempDir,
}

impl TestServer {
    pub fn addr(&self) -> SocketAddr {
        self.handle.local_addr()
    }

    pub async fn client(&self) -> Client {
        Client::connect(self.addr(), ClientOptions::default())
            .await
            .expect("client connects")
    }
}

/// A config for tests: ephemeral ports, fast timeouts.
pub fn test_config(dir: &std::path::Path) -> ServerConfig {
    ServerConfig {
        listen: "127.0.0.1:0".parse().expect("addr"),
        metrics_listen: Some("127.0.0.1:0".parse().expect("addr")),
        data_dir: dir.to_path_buf(),
        durability: "os".into(),
        slow_client_timeout_ms: 2_000,
        handshake_timeout_ms: 2_000,
        shutdown_grace_ms: 2_000,
        ..ServerConfig::default()
    }
}

pub async fn start_server(adjust: impl FnOnce(&mut ServerConfig)) -> TestServer {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = test_config(dir.path());
    adjust(&mut config);
    let handle = start(config).await.expect("server starts");
    TestServer { handle, dir }
}

/// A raw connection that sends and reads frames by hand.
pub struct Raw {
    pub stream: TcpStream,
    decoder: FrameDecoder,
}

impl Raw {
    pub async fn connect(addr: SocketAddr) -> Raw {
        Raw {
            stream: TcpStream::connect(addr).await.expect("connect"),
            decoder: FrameDecoder::new(FRAME_BYTES_MAX_HIGHEST),
        }
    }

    /// Connect and complete the handshake.
    pub async fn hello(addr: SocketAddr) -> Raw {
        let mut raw = Raw::connect(addr).await;
        raw.send(&hello_frame(1)).await;
        let (frame, result) = raw.response().await.expect("hello response");
        assert_eq!(frame.header.request_id, 1);
        assert!(matches!(result, Ok(Response::Hello(_))), "{result:?}");
        raw
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
    }

    pub async fn request(&mut self, request_id: u32, request: &Request) {
        self.send(&encode_request(request_id, request)).await;
    }

    /// The next frame, or `None` when the server closed the connection.
    pub async fn frame(&mut self) -> Option<Frame> {
        let mut buf = [0u8; 4096];
        loop {
            if let Some(frame) = self.decoder.next_frame().expect("server frames are valid") {
                return Some(frame);
            }
            let n = tokio::time::timeout(Duration::from_secs(10), self.stream.read(&mut buf))
                .await
                .expect("server answers or closes within 10 s")
                .unwrap_or(0);
            if n == 0 {
                return None;
            }
            self.decoder.feed(&buf[..n]);
        }
    }

    pub async fn response(&mut self) -> Option<(Frame, Result<Response, WireError>)> {
        let frame = self.frame().await?;
        let result = decode_response(&frame).expect("server responses decode");
        Some((frame, result))
    }

    /// True when the server closed the connection (EOF or reset) with no further frame.
    pub async fn is_closed(&mut self) -> bool {
        let mut buf = [0u8; 1024];
        matches!(
            tokio::time::timeout(Duration::from_secs(10), self.stream.read(&mut buf)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }
}

pub fn hello_frame(request_id: u32) -> Vec<u8> {
    encode_request(
        request_id,
        &Request::Hello(Hello {
            version_min: PROTOCOL_VERSION_MIN,
            version_max: PROTOCOL_VERSION_MAX,
            client_name: "test".into(),
            token: None,
        }),
    )
}

/// `GET /metrics` from the server's metrics endpoint.
pub async fn scrape(server: &TestServer) -> String {
    let addr = server.handle.metrics_addr().expect("metrics enabled");
    let mut stream = TcpStream::connect(addr).await.expect("connect metrics");
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut text = String::new();
    stream.read_to_string(&mut text).await.expect("read");
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    text
}

/// A test server with its Kafka front listening on a free loopback port
/// (configured further by `adjust`), and that port.
pub async fn kafka_server(adjust: impl FnOnce(&mut ServerConfig)) -> (TestServer, SocketAddr) {
    let server = start_server(|c| {
        c.kafka = millrace_server::kafka::front::KafkaConfig {
            listen: Some("127.0.0.1:0".parse().unwrap()),
            ..millrace_server::kafka::front::KafkaConfig::off()
        };
        adjust(c);
    })
    .await;
    let addr = server.handle.kafka_addr().expect("the Kafka front listens");
    (server, addr)
}

/// The value of the statistic `name` (panics when it is missing).
pub fn stat(stats: &[millrace_server::messages::Stat], name: &str) -> u64 {
    stats.iter().find(|s| s.name == name).map(|s| s.value).unwrap()
}
