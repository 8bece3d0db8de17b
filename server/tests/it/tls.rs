//! TLS over loopback with a self-signed certificate (rcgen): a client that
//! trusts it is served; a plain-TCP client and a client trusting another
//! certificate are refused; the server carries on.

use crate::common;

use std::time::Duration;

use common::start_server;
use millrace::Record;
use millrace_server::tls::ClientTls;
use millrace_server::{Client, ClientOptions};

fn self_signed() -> (String, String) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    (certified.cert.pem(), certified.key_pair.serialize_pem())
}

fn options(root_pem: &str) -> ClientOptions {
    ClientOptions {
        tls: Some(ClientTls {
            root_certificates_pem: root_pem.as_bytes().to_vec(),
            server_name: "localhost".into(),
        }),
        connect_attempts_max: 1,
        connect_timeout: Duration::from_secs(3),
        ..ClientOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_clients_are_served_and_others_refused() {
    let (cert_pem, key_pem) = self_signed();
    let pem_dir = tempfile::tempdir().unwrap();
    let cert_path = pem_dir.path().join("cert.pem");
    let key_path = pem_dir.path().join("key.pem");
    std::fs::write(&cert_path, &cert_pem).unwrap();
    std::fs::write(&key_path, &key_pem).unwrap();
    let server = start_server(|c| {
        c.tls_cert_path = Some(cert_path.clone());
        c.tls_key_path = Some(key_path.clone());
    })
    .await;

    let client = Client::connect(server.addr(), options(&cert_pem)).await.unwrap();
    client.create_topic("secure", 1, &[]).await.unwrap();
    client
        .produce("secure", 0, vec![Record::new(b"secret".to_vec())])
        .await
        .unwrap();
    let fetched = client.fetch("secure", 0, 0, Duration::ZERO).await.unwrap();
    assert_eq!(fetched.records[0].value, b"secret");

    // Plain TCP against the TLS port: the handshake fails, the connection closes.
    let plain = Client::connect(
        server.addr(),
        ClientOptions {
            connect_attempts_max: 1,
            connect_timeout: Duration::from_secs(3),
            ..ClientOptions::default()
        },
    )
    .await;
    assert!(plain.is_err(), "plain client must not be served");

    // A client that trusts a different certificate refuses the server.
    let (other_pem, _) = self_signed();
    assert!(Client::connect(server.addr(), options(&other_pem)).await.is_err());

    client.ping().await.unwrap();
    server.handle.shutdown().await.unwrap();
}

/// A self-signed certificate with the CA flag, as `openssl req -x509` makes
/// it, works when the client trusts exactly it (pinned); a client trusting
/// another such certificate is still refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ca_flagged_self_signed_certificate_is_trusted_when_pinned() {
    let ca_flagged = || {
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let (cert_pem, key_pem) = ca_flagged();
    let pem_dir = tempfile::tempdir().unwrap();
    let cert_path = pem_dir.path().join("cert.pem");
    let key_path = pem_dir.path().join("key.pem");
    std::fs::write(&cert_path, &cert_pem).unwrap();
    std::fs::write(&key_path, &key_pem).unwrap();
    let server = start_server(|c| {
        c.tls_cert_path = Some(cert_path.clone());
        c.tls_key_path = Some(key_path.clone());
    })
    .await;
    let client = Client::connect(server.addr(), options(&cert_pem)).await.unwrap();
    client.ping().await.unwrap();
    let (other_pem, _) = ca_flagged();
    assert!(Client::connect(server.addr(), options(&other_pem)).await.is_err());
    server.handle.shutdown().await.unwrap();
}

#[test]
fn half_configured_tls_is_rejected() {
    let mut config = millrace_server::ServerConfig {
        tls_cert_path: Some("cert.pem".into()),
        ..millrace_server::ServerConfig::default()
    };
    assert!(config.validate().is_err());
    config.tls_key_path = Some("key.pem".into());
    assert!(config.validate().is_ok());
}
