//! Ctrl-C stops `millrace produce` between two records (issue 23:
//! "interrupted long commands print what was done and how to resume"): a
//! producer fed through a pipe, interrupted once two batches are visible,
//! then fed on until it stops, exits 130, appends exactly the lines before
//! the one it names, and names the `tail -n +N` that appends the rest.

use std::io::Write;
use std::process::Stdio;

use crate::common::Server;
use crate::consume_produce_ops::sigint;

/// The values of topic `t`, in order.
fn values(server: &Server) -> Vec<String> {
    let output = server
        .millrace()
        .args(["consume", "t", "--format", "value"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Write `lines` more numbered lines; false once the pipe is closed.
fn feed(stdin: &mut std::process::ChildStdin, written: &mut u64, lines: u64) -> bool {
    for _ in 0..lines {
        *written += 1;
        if writeln!(stdin, "line-{written}").is_err() {
            return false;
        }
    }
    stdin.flush().is_ok()
}

#[test]
fn an_interrupted_produce_appends_what_it_read_and_names_the_line_to_resume_from() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"), &[]);
    server.millrace().args(["topic", "create", "t"]).assert().success();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("millrace"))
        .args(["--server", &server.addr, "produce", "t", "--batch-records", "10"])
        .env_remove("MILLRACE_TOKEN")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut written = 0u64;
    assert!(feed(&mut stdin, &mut written, 25));
    // Two batches appended: it is in its reading loop, Ctrl-C is watched.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while values(&server).len() < 20 {
        assert!(std::time::Instant::now() < deadline, "the first batches never arrived");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    sigint(&child);
    // It notices between two records: feed it until it stops.
    while child.try_wait().unwrap().is_none() && written < 1_000_000 {
        if !feed(&mut stdin, &mut written, 1) {
            break;
        }
    }
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    let line: u64 = stderr
        .split("input line ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no input line named: {stderr}"));
    assert!(line > 25, "{stderr}");
    assert!(
        stderr.contains("interrupted") && stderr.contains("the lines after it were not appended"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("tail -n +{line} FILE | millrace produce t")),
        "{stderr}"
    );
    let expected: Vec<String> = (1..line).map(|i| format!("line-{i}")).collect();
    assert_eq!(values(&server), expected, "exactly the lines before line {line}");
    assert!(server.stop());
}
