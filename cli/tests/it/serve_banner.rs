//! `millrace serve` prints its "millrace serving" banner only once the store
//! is open and the ports are bound: a start that fails (port taken, a
//! directory that is not a store) prints no banner, and the banner of a
//! start that succeeds names the addresses actually bound (`--listen` port 0
//! becomes the real port), which answer at once.

use crate::common;

use common::millrace;
use predicates::prelude::*;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

#[test]
fn no_banner_when_the_port_is_taken() {
    let tmp = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    millrace(&tmp.path().join("data"))
        .args(["serve", "--listen", &addr, "--no-metrics"])
        .timeout(Duration::from_secs(30))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("cannot listen on").and(predicate::str::contains("millrace serving").not()));
}

#[test]
fn no_banner_when_the_metrics_port_is_taken() {
    let tmp = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    millrace(&tmp.path().join("data"))
        .args(["serve", "--listen", "127.0.0.1:0", "--metrics-listen", &addr])
        .timeout(Duration::from_secs(30))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("cannot listen on").and(predicate::str::contains("millrace serving").not()));
}

#[test]
fn no_banner_when_the_store_does_not_open() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("notes.txt"), "not a store\n").unwrap();
    millrace(tmp.path())
        .args(["serve", "--listen", "127.0.0.1:0", "--no-metrics"])
        .timeout(Duration::from_secs(30))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("millrace serving").not());
}

#[test]
fn the_banner_names_the_bound_addresses_which_answer() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("millrace"))
        .arg("serve")
        .arg("--data")
        .arg(&data)
        .args(["--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"])
        .args(["--kafka-listen", "127.0.0.1:0", "--registry-listen", "127.0.0.1:0"])
        .env_remove("MILLRACE_SERVER")
        .env_remove("MILLRACE_TOKEN")
        .env("RUST_LOG", "off")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The first line on stderr (logs are off) is the banner.
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut banner = String::new();
    stderr.read_line(&mut banner).unwrap();
    let fields: Vec<&str> = banner.split_whitespace().collect();
    // "millrace serving <dir> on <addr>, Kafka on <addr>, metrics on http://<addr>/metrics,
    // schema registry on http://<addr>"
    assert_eq!(fields.get(..2), Some(&["millrace", "serving"][..]), "{banner:?}");
    let listen = fields[4].trim_end_matches(',');
    assert_eq!(fields.get(5..7), Some(&["Kafka", "on"][..]), "{banner:?}");
    let kafka = fields[7].trim_end_matches(',');
    let metrics = fields[10]
        .trim_end_matches(',')
        .trim_start_matches("http://")
        .trim_end_matches("/metrics");
    assert_eq!(
        fields.get(11..14),
        Some(&["schema", "registry", "on"][..]),
        "{banner:?}"
    );
    let registry = fields[14].trim_start_matches("http://");
    for addr in [listen, kafka, metrics, registry] {
        let addr: std::net::SocketAddr = addr.parse().unwrap_or_else(|e| panic!("{addr:?} in {banner:?}: {e}"));
        assert_ne!(addr.port(), 0, "the banner names the bound port: {banner:?}");
        // Bound before the banner: the first connection succeeds.
        std::net::TcpStream::connect(addr).unwrap_or_else(|e| panic!("{addr} from {banner:?}: {e}"));
    }
    let mut cmd = assert_cmd::Command::cargo_bin("millrace").unwrap();
    cmd.args(["--server", listen, "topic", "list"])
        .env_remove("MILLRACE_TOKEN")
        .assert()
        .success();
    let pid = child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(child.wait().unwrap().success());
}
