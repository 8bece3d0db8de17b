//! README.md, "First contact": the ten-line walk (serve, topic create,
//! produce, consume with a group, a record failed into the DLQ, inspected,
//! redriven, read again) runs line by line through `sh` with the built
//! binary first on PATH, and each line prints what the README says. Only
//! the addresses change: a free port, the Kafka and metrics listeners off,
//! so that the test runs beside the others. And "A data contract": the
//! contract file and its five lines, from `contract apply` to the record in
//! the DLQ.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The walk's server, stopped (SIGTERM, then SIGKILL) when the test ends.
struct Stopped(std::process::Child);

impl Drop for Stopped {
    fn drop(&mut self) {
        let pid = self.0.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while let Ok(None) = self.0.try_wait() {
            if Instant::now() > deadline {
                let _ = self.0.kill();
                let _ = self.0.wait();
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The walk's lines: the first `sh` block after "### First contact".
fn walk() -> Vec<String> {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md")).unwrap();
    let section = readme
        .split("### First contact")
        .nth(1)
        .expect("a First contact section");
    let block = section.split("```sh\n").nth(1).unwrap().split("```").next().unwrap();
    block.lines().map(str::to_string).collect()
}

fn path_env() -> String {
    let binary = assert_cmd::cargo::cargo_bin("millrace");
    format!(
        "{}:{}",
        binary.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

#[test]
fn the_first_contact_walk_runs_as_written() {
    let lines = walk();
    assert!(lines.len() <= 10, "the walk is ten lines at most: {lines:?}");
    let tmp = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut server = None;
    let mut env: Vec<(String, String)> = Vec::new();
    let mut outputs: Vec<(String, Output)> = Vec::new();
    for line in &lines {
        if let Some(serve) = line.strip_suffix(" &") {
            assert!(serve.starts_with("millrace serve"), "{line}");
            let command = format!("exec {serve} --listen {addr} --kafka-listen off --registry-listen off --no-metrics");
            server = Some(Stopped(
                Command::new("sh")
                    .args(["-c", &command])
                    .current_dir(tmp.path())
                    .env("PATH", path_env())
                    .env_remove("MILLRACE_DATA")
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap(),
            ));
            let deadline = Instant::now() + Duration::from_secs(20);
            while std::net::TcpStream::connect(&addr).is_err() {
                assert!(Instant::now() < deadline, "the walk's server did not start");
                std::thread::sleep(Duration::from_millis(50));
            }
            continue;
        }
        if let Some(assignment) = line.strip_prefix("export ") {
            let (name, value) = assignment.split_once('=').unwrap();
            assert_eq!(value, "127.0.0.1:7878", "{line}");
            env.push((name.to_string(), addr.clone()));
            continue;
        }
        let output = Command::new("sh")
            .args(["-c", line])
            .current_dir(tmp.path())
            .env("PATH", path_env())
            .env_remove("MILLRACE_DATA")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .unwrap();
        assert!(output.status.success(), "README line failed: {line}\n{output:?}");
        outputs.push((line.clone(), output));
    }
    assert!(server.is_some(), "the walk starts a server");
    let stdout = |prefix: &str, nth: usize| -> String {
        let (_, output) = outputs
            .iter()
            .filter(|(line, _)| line.starts_with(prefix))
            .nth(nth)
            .unwrap_or_else(|| panic!("no line {prefix}"));
        String::from_utf8_lossy(&output.stdout).to_string()
    };
    assert_eq!(
        stdout("millrace consume", 0),
        "0 o1 {\"total\": 42}\n1 o2 {\"total\": oops}\n2 o3 {\"total\": 7}\n"
    );
    assert!(stdout("millrace dlq fail", 0).contains("in the DLQ of orders at offset 0"));
    let listed = stdout("millrace dlq list", 0);
    assert!(
        listed.contains("1 record not yet redriven") && listed.contains("ParseError: total is not a number"),
        "{listed}"
    );
    let shown = stdout("millrace dlq show", 0);
    assert!(
        shown.contains("orders partition 0 offset 1") && shown.contains("{\"total\": oops}"),
        "{shown}"
    );
    assert!(stdout("millrace dlq redrive", 0).contains("redriven 1 record"));
    assert_eq!(stdout("millrace consume", 1), "3 o2 {\"total\": oops}\n");
}

/// A fenced block of `lang` in README.md's section `heading`: its lines.
fn block(heading: &str, lang: &str) -> Vec<String> {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md")).unwrap();
    let section = readme.split(heading).nth(1).expect("the section");
    let fence = format!("```{lang}\n");
    let block = section.split(&fence).nth(1).unwrap().split("```").next().unwrap();
    block.lines().map(str::to_string).collect()
}

/// README.md, "A data contract": the contract file and the five lines, run
/// line by line through `sh` with the built binary first on PATH; the
/// valid record is in the topic, the one breaking the rule in the DLQ.
#[test]
fn the_contract_walk_runs_as_written() {
    let contract = block("### A data contract", "yaml");
    let lines = block("### A data contract", "sh");
    assert_eq!(lines.len(), 5, "five lines: {lines:?}");
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("payments.yaml"), contract.join("\n") + "\n").unwrap();
    let mut env: Vec<(String, String)> = Vec::new();
    let mut outputs = Vec::new();
    for line in &lines {
        if let Some(assignment) = line.strip_prefix("export ") {
            let (name, value) = assignment.split_once('=').unwrap();
            env.push((name.to_string(), value.to_string()));
            continue;
        }
        let output = Command::new("sh")
            .args(["-c", line])
            .current_dir(tmp.path())
            .env("PATH", path_env())
            .env_remove("MILLRACE_DATA")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .unwrap();
        assert!(output.status.success(), "README line failed: {line}\n{output:?}");
        outputs.push(output);
    }
    let produced = String::from_utf8_lossy(&outputs[2].stderr).to_string();
    assert!(produced.contains("1 of them went to the DLQ"), "{produced}");
    let listed = String::from_utf8_lossy(&outputs[3].stdout).to_string();
    assert!(
        listed.contains("1 record not yet redriven")
            && listed.contains("payments/0@-")
            && listed.contains("contract.amount.maximum")
            && listed.contains("/amount is 1200"),
        "{listed}"
    );
    let consumed = Command::new(assert_cmd::cargo::cargo_bin("millrace"))
        .args(["consume", "payments", "--format", "%o %s\n"])
        .current_dir(tmp.path())
        .env("MILLRACE_DATA", "./pay-data")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&consumed.stdout), "0 {\"amount\": 12}\n");
}
