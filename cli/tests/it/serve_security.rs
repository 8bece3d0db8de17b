//! `millrace serve` is honest about authentication: `--token` and
//! `MILLRACE_TOKEN` are refused (tokens come from the config file), the
//! start-up line says whether auth and TLS are on, a non-loopback listener
//! without tokens or TLS is refused unless `--insecure`; a client name sent
//! with a wrong token cannot forge a log line; an admin-only token can delete
//! topics and read stats; names clients chose are escaped in CLI tables.

use crate::common;

use common::{millrace, write_private, Server};
use predicates::prelude::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

#[test]
fn serve_refuses_a_token_flag_and_variable() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    millrace(&data)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--no-metrics",
            "--token",
            "serve-token-0123456789",
        ])
        .timeout(Duration::from_secs(20))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("[[tokens]]"));
    millrace(&data)
        .env("MILLRACE_TOKEN", "serve-token-0123456789")
        .args(["serve", "--listen", "127.0.0.1:0", "--no-metrics"])
        .timeout(Duration::from_secs(20))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("MILLRACE_TOKEN"));
}

#[test]
fn non_loopback_listen_needs_tokens_and_tls_or_insecure() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    millrace(&data)
        .args(["serve", "--listen", "0.0.0.0:0", "--no-metrics"])
        .timeout(Duration::from_secs(20))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--insecure").and(predicate::str::contains("millrace serving").not()));
    let config = tmp.path().join("tokens.toml");
    write_private(
        &config,
        "[[tokens]]\ntoken = \"admin-token-0123456789\"\npermissions = [\"admin\"]\n",
    );
    millrace(&data)
        .args([
            "serve",
            "--listen",
            "0.0.0.0:0",
            "--no-metrics",
            "--config",
            config.to_str().unwrap(),
        ])
        .timeout(Duration::from_secs(20))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no TLS"));
    let banner = first_banner_line(&data, &["--listen", "0.0.0.0:0", "--insecure"]);
    assert!(banner.contains("auth off, TLS off, INSECURE"), "{banner:?}");
}

/// Start `serve` with `extra` flags, return its first stderr line (the
/// banner, logs off), and stop it.
fn first_banner_line(data: &std::path::Path, extra: &[&str]) -> String {
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("millrace"))
        .arg("serve")
        .arg("--data")
        .arg(data)
        .args(["--no-metrics", "--kafka-listen", "off", "--registry-listen", "off"])
        .args(extra)
        .env_remove("MILLRACE_SERVER")
        .env_remove("MILLRACE_TOKEN")
        .env("RUST_LOG", "off")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut banner = String::new();
    BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut banner)
        .unwrap();
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    child.wait().unwrap();
    banner
}

#[test]
fn the_banner_says_whether_auth_and_tls_are_on() {
    let tmp = tempfile::tempdir().unwrap();
    let banner = first_banner_line(&tmp.path().join("a"), &["--listen", "127.0.0.1:0"]);
    assert!(banner.contains("(auth off, TLS off)"), "{banner:?}");
    let config = tmp.path().join("tokens.toml");
    write_private(
        &config,
        "[[tokens]]\ntoken = \"admin-token-0123456789\"\npermissions = [\"admin\"]\n",
    );
    let banner = first_banner_line(
        &tmp.path().join("b"),
        &["--listen", "127.0.0.1:0", "--config", config.to_str().unwrap()],
    );
    assert!(banner.contains("(auth on (1 token), TLS off)"), "{banner:?}");
}

#[test]
fn a_client_name_sent_with_a_wrong_token_cannot_forge_a_log_line() {
    use millrace_server::messages::{encode_request, Hello, Request, PROTOCOL_VERSION_MAX, PROTOCOL_VERSION_MIN};
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("tokens.toml");
    write_private(
        &config,
        "[[tokens]]\ntoken = \"admin-token-0123456789\"\npermissions = [\"admin\"]\n",
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("millrace"))
        .arg("serve")
        .arg("--data")
        .arg(tmp.path().join("data"))
        .args([
            "--listen",
            &addr,
            "--no-metrics",
            "--kafka-listen",
            "off",
            "--registry-listen",
            "off",
        ])
        .args(["--config", config.to_str().unwrap()])
        .env_remove("MILLRACE_SERVER")
        .env_remove("MILLRACE_TOKEN")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let mut banner = [0u8; 1];
    // Wait for the server (its banner's first byte), then say Hello with a hostile name.
    stderr.read_exact(&mut banner).unwrap();
    let hostile = "x\n2026-12-06T00:00:00Z  INFO FORGED admin logged in\x1b[2J\x1b[31m";
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    stream
        .write_all(&encode_request(
            1,
            &Request::Hello(Hello {
                version_min: PROTOCOL_VERSION_MIN,
                version_max: PROTOCOL_VERSION_MAX,
                client_name: hostile.into(),
                token: Some(b"wrong-token-0123456789".to_vec()),
            }),
        ))
        .unwrap();
    let mut answer = Vec::new();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = stream.read_to_end(&mut answer);
    assert!(!answer.is_empty(), "the server answers Unauthenticated");
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let mut log = Vec::new();
    stderr.read_to_end(&mut log).unwrap();
    child.wait().unwrap();
    let log = String::from_utf8_lossy(&log);
    assert!(log.contains("bad token"), "{log}");
    assert!(log.contains("FORGED"), "the name is logged, escaped: {log}");
    assert!(!log.lines().any(|l| l.starts_with("2026-12-06T00:00:00Z")), "{log}");
    assert!(!log.contains('\x1b'), "{log:?}");
}

#[test]
fn an_admin_only_token_deletes_topics_and_reads_stats() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("tokens.toml");
    write_private(
        &config,
        "[[tokens]]\ntoken = \"admin-token-0123456789\"\npermissions = [\"admin\"]\n",
    );
    let server = Server::start(&tmp.path().join("data"), &["--config", config.to_str().unwrap()]);
    let admin = |args: &[&str]| {
        let mut cmd = server.millrace();
        cmd.env("MILLRACE_TOKEN", "admin-token-0123456789").args(args);
        cmd
    };
    admin(&["topic", "create", "orders"]).assert().success();
    admin(&["produce", "orders"]).write_stdin("a\n").assert().success();
    admin(&["stats"]).assert().success();
    admin(&["topic", "delete", "orders", "--yes"]).assert().success();
    admin(&["topic", "list"])
        .assert()
        .success()
        .stdout(predicate::str::contains("orders").not());
}

#[test]
fn group_names_are_escaped_in_tables() {
    let (_tmp, data) = common::store_with_topic("t", 1);
    millrace(&data)
        .args(["produce", "t"])
        .write_stdin("a\nb\n")
        .assert()
        .success();
    let hostile = "g\nFORGED-ROW\x1b[31m";
    millrace(&data)
        .args(["consume", "t", "-g", hostile, "-n", "1"])
        .assert()
        .success();
    let out = millrace(&data)
        .args(["offsets", "show"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    assert!(out.contains("g\\nFORGED-ROW\\u{1b}[31m"), "{out}");
    assert!(!out.lines().any(|l| l.starts_with("FORGED-ROW")), "{out}");
    assert!(!out.contains('\x1b'), "{out:?}");
}
