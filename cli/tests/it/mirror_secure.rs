//! The mirror to a target that requires SASL/PLAIN, and TLS: a second
//! `millrace serve` whose Kafka front logs clients in with its tokens
//! (design/kafka.md), the target's librdkafka properties given with
//! `--to-config` (the command) or `to_config` (`[[mirror]]` in serve).
//!
//! - A wrong password: `mirror status` says authentication failed, nothing
//!   is lost, no log line or status shows the password; with the right one
//!   everything drains, once, in order.
//! - SASL_SSL with a test CA through `[[mirror]]`; a config file holding a
//!   mirror password must be private to its owner, as one with tokens.

use crate::common::{self, kafka, write_private, Server};
use crate::mirror_e2e::{append, mirror_cmd, PARTITIONS};
use crate::mirror_serve::{check_target_with, edge_config, produce_all, start_central, wait_drained};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

const TOKENS: &str = "[[tokens]]\nname = \"admin\"\ntoken = \"admin-token-0123456789\"\npermissions = [\"admin\"]\n";
const PASSWORD: &str = "admin-token-0123456789";
const WRONG: &str = "wrong-secret-9876543210";

fn status_json(edge: &Path) -> serde_json::Value {
    common::json_of(common::millrace(edge).args(["--json", "mirror", "status", "--name", "central"]))
}

fn sasl_flags(password: &str) -> Vec<String> {
    [
        "security.protocol=SASL_PLAINTEXT".to_string(),
        "sasl.mechanism=PLAIN".to_string(),
        "sasl.username=admin".to_string(),
        format!("sasl.password={password}"),
    ]
    .into_iter()
    .flat_map(|property| ["--to-config".to_string(), property])
    .collect()
}

/// `millrace mirror` to `kafka` with `flags`; its stderr lines on a channel.
fn spawn_mirror(edge: &Path, kafka: &str, flags: &[String]) -> (std::process::Child, mpsc::Receiver<String>) {
    let mut args: Vec<&str> = vec!["--name", "central"];
    args.extend(flags.iter().map(String::as_str));
    let mut child = mirror_cmd(edge, kafka, &args).spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (lines, received) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                return;
            }
        }
    });
    (child, received)
}

/// Lines from `lines` until one contains `what` (collected into `log`).
fn wait_line(lines: &mpsc::Receiver<String>, what: &str, log: &mut String) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => {
                log.push_str(&line);
                log.push('\n');
                if line.contains(what) {
                    return;
                }
            }
            Err(e) => panic!("no line with {what:?} ({e}): {log}"),
        }
    }
}

/// Wait for `child` (killed after two minutes); whether it succeeded.
fn wait_exit(child: &mut std::process::Child) -> bool {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.success();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_sasl_target_with_a_wrong_password_shows_the_error_in_status_and_drains_once_fixed() {
    let central_data = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let tokens = tmp.path().join("central.toml");
    write_private(&tokens, TOKENS);
    let kafka = format!("127.0.0.1:{}", kafka::free_port());
    let _central = start_central(central_data.path(), &kafka, &["--config", tokens.to_str().unwrap()]);

    let edge = tmp.path().join("edge");
    common::millrace(&edge)
        .args(["topic", "create", "orders", "--partitions", &PARTITIONS.to_string()])
        .assert()
        .success();
    let mut sent: Vec<Vec<String>> = Vec::new();
    for p in 0..PARTITIONS {
        append(&edge, p, 20);
        sent.push((0..20).map(|o| format!("{p}-{o}")).collect());
    }

    // The wrong password: the mirror runs, backs off, and says why.
    let (mut child, lines) = spawn_mirror(&edge, &kafka, &sasl_flags(WRONG));
    let mut log = String::new();
    // Its banner: the store is open (a read-only open before could make it
    // exit Locked).
    wait_line(&lines, "millrace mirror central:", &mut log);
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        let status = status_json(&edge);
        let error = status["counters"]["last_error"]
            .as_str()
            .unwrap_or_default()
            .to_lowercase();
        if error.contains("authentication") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "no authentication error in mirror status: {status}"
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    let table = common::stdout_of(common::millrace(&edge).args(["mirror", "status", "--name", "central"]));
    assert!(table.contains("last error"), "{table}");
    let lag: u64 = status["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["lag_records"].as_u64().unwrap())
        .sum();
    assert_eq!(lag, 60, "nothing delivered, nothing lost: {status}");
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    assert!(wait_exit(&mut child), "the mirror stops on SIGTERM");
    while let Ok(line) = lines.recv_timeout(Duration::from_secs(5)) {
        log.push_str(&line);
        log.push('\n');
    }
    assert!(log.to_lowercase().contains("authentication"), "{log}");
    for shown in [&log, &table, &status.to_string()] {
        assert!(!shown.contains(WRONG), "the password is never shown: {shown}");
    }

    // The right one: everything drains, once, in order.
    let (mut child, lines) = spawn_mirror(&edge, &kafka, &{
        let mut flags = sasl_flags(PASSWORD);
        flags.push("--exit-when-caught-up".into());
        flags
    });
    assert!(wait_exit(&mut child), "the mirror delivers and exits");
    let log: String = lines.try_iter().collect::<Vec<_>>().join("\n");
    assert!(!log.contains(PASSWORD), "{log}");
    let sasl = [
        ("security.protocol", "SASL_PLAINTEXT"),
        ("sasl.mechanism", "PLAIN"),
        ("sasl.username", "admin"),
        ("sasl.password", PASSWORD),
    ];
    check_target_with(&kafka, &sent, "after the password was fixed", &sasl);
    let status = status_json(&edge);
    assert!(
        status["counters"]["last_error"].is_null(),
        "cleared by a commit: {status}"
    );
}

#[test]
fn a_mirror_section_reaches_a_sasl_ssl_target_with_a_test_ca_and_its_file_must_be_private() {
    let central_data = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let cert = tmp.path().join("cert.pem");
    let key = tmp.path().join("key.pem");
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    write_private(&key, &certified.key_pair.serialize_pem());
    let tokens = tmp.path().join("central.toml");
    write_private(&tokens, TOKENS);
    let kafka = format!("127.0.0.1:{}", kafka::free_port());
    let _central = start_central(
        central_data.path(),
        &kafka,
        &[
            "--config",
            tokens.to_str().unwrap(),
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );

    let edge_data = tmp.path().join("edge");
    common::millrace(&edge_data)
        .args(["topic", "create", "orders", "--partitions", &PARTITIONS.to_string()])
        .assert()
        .success();
    let config = edge_config(tmp.path(), &kafka);
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "to_config = {{ \"security.protocol\" = \"SASL_SSL\", \"sasl.mechanism\" = \"PLAIN\", \
         \"sasl.username\" = \"admin\", \"sasl.password\" = \"{PASSWORD}\", \
         \"ssl.ca.location\" = \"{}\", \"ssl.endpoint.identification.algorithm\" = \"none\" }}\n",
        cert.display()
    ));
    // Readable by others: refused, as a file with tokens is.
    std::fs::write(&config, &text).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    assert_cmd::Command::cargo_bin("millrace")
        .unwrap()
        .args([
            "serve",
            "--data",
            edge_data.to_str().unwrap(),
            "--config",
            config.to_str().unwrap(),
        ])
        .args([
            "--listen",
            "127.0.0.1:0",
            "--no-metrics",
            "--kafka-listen",
            "off",
            "--registry-listen",
            "off",
        ])
        .timeout(Duration::from_secs(30))
        .assert()
        .failure()
        .stderr(predicates::str::contains("chmod 600"));
    write_private(&config, &text);
    let edge = Server::start(&edge_data, &["--config", config.to_str().unwrap()]);

    let mut sent: Vec<Vec<String>> = Vec::new();
    for p in 0..PARTITIONS {
        let values: Vec<String> = (0..15).map(|i| format!("{p}-{i}")).collect();
        produce_all(&edge, p, &values);
        sent.push(values);
    }
    wait_drained(&edge_data, Duration::from_secs(90));
    let ca = cert.display().to_string();
    let secure = [
        ("security.protocol", "SASL_SSL"),
        ("sasl.mechanism", "PLAIN"),
        ("sasl.username", "admin"),
        ("sasl.password", PASSWORD),
        ("ssl.ca.location", ca.as_str()),
        ("ssl.endpoint.identification.algorithm", "none"),
    ];
    check_target_with(&kafka, &sent, "over SASL_SSL", &secure);
    let table = common::stdout_of(common::millrace(&edge_data).args(["mirror", "status", "--name", "central"]));
    assert!(!table.contains(PASSWORD), "{table}");
    drop(edge);
}
