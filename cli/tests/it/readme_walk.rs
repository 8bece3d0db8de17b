//! README.md, "First contact": the ten-line walk (serve, topic create,
//! produce, consume with a group, a record failed into the DLQ, inspected,
//! redriven, read again) runs line by line through `sh` with the built
//! binary first on PATH, and each line prints what the README says. Only
//! the addresses change: a free port, the Kafka and metrics listeners off,
//! so that the test runs beside the others.

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
