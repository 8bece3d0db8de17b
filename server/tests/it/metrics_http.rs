//! The metrics port as a bounded HTTP server (issue 27, item 6), through a
//! real server: idle sockets do not keep a scrape out; a configured bearer
//! token is required; per-group and per-topic series stop at
//! `metrics_series_max` and `millrace_metrics_series_dropped` says how many
//! were left out; the port speaks TLS when `metrics_tls` is on.

use crate::common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{scrape, start_server};
use millrace::Record;
use millrace_server::tls::ClientTls;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// A guard against a hang, not a timing assertion.
const HANG: Duration = Duration::from_secs(30);

async fn get<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, headers: &str) -> String {
    let request = format!("GET /metrics HTTP/1.1\r\nHost: x\r\n{headers}\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut text = Vec::new();
    let _ = stream.read_to_end(&mut text).await;
    String::from_utf8_lossy(&text).into_owned()
}

async fn get_plain(addr: SocketAddr, headers: &str) -> String {
    tokio::time::timeout(HANG, async {
        get(TcpStream::connect(addr).await.unwrap(), headers).await
    })
    .await
    .expect("the scrape is answered")
}

fn value_of(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("{name} missing from {text}"))
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_do_not_keep_a_scrape_out() {
    let server = start_server(|_| {}).await;
    let addr = server.handle.metrics_addr().unwrap();
    let mut idle = Vec::new();
    for _ in 0..12 {
        idle.push(TcpStream::connect(addr).await.unwrap());
    }
    // Half a request head on some of them, nothing on the others.
    for stream in idle.iter_mut().take(4) {
        stream.write_all(b"GET /metr").await.unwrap();
    }
    let text = get_plain(addr, "").await;
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    assert!(text.contains("millrace_server_connections_open"), "{text}");
    drop(idle);
    server.handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_bearer_token_is_required() {
    let token = "metrics-token-0123456789";
    let server = start_server(|c| c.metrics_token = Some(token.into())).await;
    let addr = server.handle.metrics_addr().unwrap();
    let refused = get_plain(addr, "").await;
    assert!(refused.starts_with("HTTP/1.1 401"), "{refused}");
    assert!(!refused.contains("millrace_"), "{refused}");
    let wrong = get_plain(addr, "Authorization: Bearer metrics-token-0123456780\r\n").await;
    assert!(wrong.starts_with("HTTP/1.1 401"), "{wrong}");
    let basic = get_plain(addr, &format!("Authorization: Basic {token}\r\n")).await;
    assert!(basic.starts_with("HTTP/1.1 401"), "{basic}");
    let served = get_plain(addr, &format!("Authorization: Bearer {token}\r\n")).await;
    assert!(served.starts_with("HTTP/1.1 200 OK"), "{served}");
    assert!(served.contains("millrace_append_records_total"), "{served}");
    server.handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn series_past_the_cap_are_dropped_and_counted() {
    let server = start_server(|c| c.metrics_series_max = 10).await;
    let client = server.client().await;
    client.create_topic("t", 2, &[]).await.unwrap();
    client.produce("t", 0, vec![Record::new(b"x".to_vec())]).await.unwrap();
    let groups = 30;
    for g in 0..groups {
        client
            .commit_offsets(&format!("group-{g:02}"), &[("t", 0, 0), ("t", 1, 0)])
            .await
            .unwrap();
    }
    let text = scrape(&server).await;
    let lag = text.lines().filter(|l| l.starts_with("millrace_consumer_lag{")).count();
    let dlq = text.lines().filter(|l| l.starts_with("millrace_dlq_depth{")).count();
    assert_eq!(lag + dlq, 10, "{text}");
    // 60 lag series (30 groups × 2 partitions) and one DLQ depth (topic t).
    assert_eq!(
        value_of(&text, "millrace_metrics_series_dropped"),
        60 + 1 - 10,
        "{text}"
    );
    assert!(text.contains("group=\"group-00\""), "{text}");
    assert!(!text.contains("group=\"group-29\""), "{text}");
    server.handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_port_speaks_tls_when_asked() {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert_pem, key_pem) = (certified.cert.pem(), certified.key_pair.serialize_pem());
    let pem_dir = tempfile::tempdir().unwrap();
    let cert_path = pem_dir.path().join("cert.pem");
    let key_path = pem_dir.path().join("key.pem");
    std::fs::write(&cert_path, &cert_pem).unwrap();
    std::fs::write(&key_path, &key_pem).unwrap();
    let server = start_server(|c| {
        c.tls_cert_path = Some(cert_path.clone());
        c.tls_key_path = Some(key_path.clone());
        c.metrics_tls = true;
    })
    .await;
    let addr = server.handle.metrics_addr().unwrap();
    let (connector, name) = ClientTls {
        root_certificates_pem: cert_pem.as_bytes().to_vec(),
        server_name: "localhost".into(),
    }
    .connector()
    .unwrap();
    let text = tokio::time::timeout(HANG, async {
        let tls = connector
            .connect(name, TcpStream::connect(addr).await.unwrap())
            .await
            .unwrap();
        get(tls, "").await
    })
    .await
    .unwrap();
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    // Plain HTTP on the TLS port is not served.
    let plain = get_plain(addr, "").await;
    assert!(!plain.contains("millrace_"), "{plain}");
    server.handle.shutdown().await.unwrap();
}
