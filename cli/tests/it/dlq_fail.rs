//! `millrace dlq fail`: a record moved into the DLQ by hand, offline and
//! through the server, on the same atomic path as a consumer's
//! `fail_record`: the group's commit moves past the record only when it is
//! the group's next one, never backwards; a record dead-lettered already is
//! not added again.

use crate::common;

use common::{json_of, millrace, stdout_of, store_with_topic, Server};

fn fail(cmd: &mut assert_cmd::Command, offset: u64) -> serde_json::Value {
    json_of(cmd.args([
        "--json",
        "dlq",
        "fail",
        "in",
        "--group",
        "g",
        "--partition",
        "0",
        "--offset",
        &offset.to_string(),
        "--error",
        "Poison",
        "--message",
        "crashes the decoder",
    ]))
}

#[test]
fn moves_a_record_by_hand_and_never_moves_the_commit_back() {
    let (_tmp, data) = store_with_topic("in", 1);
    millrace(&data)
        .args(["produce", "in"])
        .write_stdin("r0\nr1\nr2\nr3\nr4\n")
        .assert()
        .success();
    stdout_of(millrace(&data).args(["consume", "in", "--group", "g", "-n", "2"]));
    // The group's next record: dead-lettered and the commit moves past it.
    let first = fail(&mut millrace(&data), 2);
    assert_eq!(first["dlq_offset"], 0, "{first}");
    assert_eq!(first["committed"], 3, "{first}");
    // Not the next one (3 is unprocessed): the commit stays.
    let later = fail(&mut millrace(&data), 4);
    assert_eq!(
        (later["dlq_offset"].as_u64(), later["committed"].as_u64()),
        (Some(1), Some(3)),
        "{later}"
    );
    // Behind the commit: never moved backwards.
    let behind = fail(&mut millrace(&data), 0);
    assert_eq!(
        (behind["dlq_offset"].as_u64(), behind["committed"].as_u64()),
        (Some(2), Some(3)),
        "{behind}"
    );
    // Again: the DLQ record it has, nothing added.
    let again = fail(&mut millrace(&data), 2);
    assert_eq!(again["dlq_offset"], 0, "{again}");
    let listed = json_of(millrace(&data).args(["--json", "dlq", "list", "in"]));
    assert_eq!(listed["depth"], 3, "{listed}");
    let record = &listed["records"][0];
    assert_eq!(record["source"]["offset"], 2, "{listed}");
    assert_eq!(record["group"], "g");
    assert_eq!(record["error_class"], "Poison");
    assert_eq!(record["error_message"], "crashes the decoder");
    assert!(record["stage"].as_str().unwrap().starts_with("manual (by "), "{listed}");
    let shown = json_of(millrace(&data).args(["--json", "dlq", "show", "in", "0"]));
    assert_eq!(shown["value"], "r2");
    // A record that is not there.
    let missing = millrace(&data)
        .args([
            "dlq",
            "fail",
            "in",
            "-g",
            "g",
            "-p",
            "0",
            "--offset",
            "99",
            "--error",
            "E",
            "--message",
            "m",
        ])
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&missing.get_output().stderr).to_string();
    assert!(stderr.contains("offset 99 is out of range"), "{stderr}");
    // Usage: every coordinate is required.
    millrace(&data)
        .args([
            "dlq",
            "fail",
            "in",
            "-g",
            "g",
            "--offset",
            "1",
            "--error",
            "E",
            "--message",
            "m",
        ])
        .assert()
        .code(2);
}

#[test]
fn through_the_server() {
    let (_tmp, data) = store_with_topic("in", 1);
    millrace(&data)
        .args(["produce", "in"])
        .write_stdin("r0\nr1\n")
        .assert()
        .success();
    let server = Server::start(&data, &[]);
    let failed = fail(&mut server.millrace(), 0);
    assert_eq!(
        (failed["dlq_offset"].as_u64(), failed["committed"].as_u64()),
        (Some(0), Some(1)),
        "{failed}"
    );
    let listed = json_of(server.millrace().args(["--json", "dlq", "list", "in"]));
    assert_eq!(listed["depth"], 1, "{listed}");
    assert_eq!(listed["records"][0]["error_class"], "Poison", "{listed}");
    let again = fail(&mut server.millrace(), 0);
    assert_eq!(again["dlq_offset"], 0, "{again}");
    assert!(server.stop());
}

/// Ctrl-C during `dlq redrive --execute` stops it between two transactions
/// (exit 130, what it did and how to resume); the same command then
/// finishes, and every dead letter is redriven exactly once.
#[test]
fn redrive_interrupted_by_ctrl_c_resumes_exactly_once() {
    let (_tmp, data) = store_with_topic("in", 1);
    let input: String = (0..12).map(|i| format!("r{i}\n")).collect();
    millrace(&data)
        .args(["produce", "in"])
        .write_stdin(input)
        .assert()
        .success();
    for offset in 0..12 {
        fail(&mut millrace(&data), offset);
    }
    // Two records a second: a chunk of two per transaction, then a pause.
    let redrive = || {
        std::process::Command::new(assert_cmd::cargo::cargo_bin("millrace"))
            .arg("--data")
            .arg(&data)
            .args(["dlq", "redrive", "in", "--execute", "--rate", "2"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let redriven_count = || {
        // The source topic holds the 12 originals, then the redriven copies.
        stdout_of(millrace(&data).args(["consume", "in", "--format", "value"]))
            .lines()
            .count()
            .saturating_sub(12)
    };
    let mut child = redrive();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        // The poll below opens the store read-only (a shared lock): a
        // redrive starting at that instant finds it locked and exits; it
        // resumes exactly where it stopped, so start it again.
        if child.try_wait().unwrap().is_some() {
            let output = child.wait_with_output().unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr).to_string();
            assert!(
                stderr.contains("is locked by another process"),
                "redrive exited: {output:?}"
            );
            child = redrive();
        }
        if redriven_count() > 0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "redrive moved nothing");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(stderr.contains("interrupted: redriven"), "{stderr}");
    assert!(stderr.contains("run the same command again to resume"), "{stderr}");
    let stopped_at = redriven_count();
    assert!(stopped_at < 12, "the interrupt came after the whole DLQ: {stopped_at}");
    stdout_of(millrace(&data).args(["dlq", "redrive", "in", "--execute"]));
    let values: Vec<String> = stdout_of(millrace(&data).args(["consume", "in", "--format", "value"]))
        .lines()
        .map(str::to_string)
        .collect();
    let mut redriven: Vec<String> = values.get(12..).unwrap_or_default().to_vec();
    redriven.sort();
    let mut expected: Vec<String> = (0..12).map(|i| format!("r{i}")).collect();
    expected.sort();
    assert_eq!(redriven, expected, "each dead letter redriven exactly once");
    let listed = json_of(millrace(&data).args(["--json", "dlq", "list", "in"]));
    assert_eq!(listed["depth"], 0, "{listed}");
}
