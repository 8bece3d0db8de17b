//! Issue 23, reading and writing data through the binary: `consume` last N
//! (`--tail N`, `--offset -N`), half-open end bounds, kcat-style and named
//! templates, escaped text output (`--raw` to opt out), Ctrl-C with a resume
//! hint; `produce` binary-safe input (`-D`, `-K`, `--value-encoding`) and
//! `consume --format json` read back by `produce --format json`.

use crate::common;

use common::{millrace, stdout_of, store_with_topic, Server};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;

/// Topic `t` (one partition) with values v0..v4, keys k0..k4, timestamps
/// 1000, 2000, ..., 5000 ms.
fn five() -> (tempfile::TempDir, std::path::PathBuf) {
    let (tmp, data) = store_with_topic("t", 1);
    let input: String = (0..5)
        .map(|i| {
            format!(
                "{{\"value\": \"v{i}\", \"key\": \"k{i}\", \"timestamp\": {}}}\n",
                (i + 1) * 1000
            )
        })
        .collect();
    millrace(&data)
        .args(["produce", "t", "--format", "json"])
        .write_stdin(input)
        .assert()
        .success();
    (tmp, data)
}

fn values(data: &Path, args: &[&str]) -> Vec<String> {
    stdout_of(millrace(data).args(["consume", "t", "--format", "value"]).args(args))
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn last_n_with_tail_or_a_negative_offset() {
    let (_tmp, data) = five();
    assert_eq!(values(&data, &["--tail", "2"]), ["v3", "v4"]);
    // Accepted without `--` or `=`.
    assert_eq!(values(&data, &["--offset", "-2"]), ["v3", "v4"]);
    assert_eq!(
        values(&data, &["--offset", "-9"]).len(),
        5,
        "more than the log: all of it"
    );
    assert_eq!(values(&data, &["--tail", "0"]), Vec::<String>::new());
    millrace(&data)
        .args(["consume", "t", "--tail", "2", "--offset", "1"])
        .assert()
        .code(2);
}

#[test]
fn end_bounds_are_half_open() {
    let (_tmp, data) = five();
    assert_eq!(values(&data, &["--offset", "1", "--to-offset", "3"]), ["v1", "v2"]);
    assert_eq!(values(&data, &["--to-offset", "0"]), Vec::<String>::new());
    // Stops before the first record at or after the time: v2 has 3000 ms.
    assert_eq!(values(&data, &["--to-time", "1970-01-01T00:00:03Z"]), ["v0", "v1"]);
    assert_eq!(
        values(&data, &["--from-time", "2000", "--to-time", "4000"]),
        ["v1", "v2"]
    );
    assert_eq!(values(&data, &["--tail", "3", "--until-now"]), ["v2", "v3", "v4"]);
    // A group commits only what was printed: the bound, not the log end.
    stdout_of(millrace(&data).args(["consume", "t", "--group", "g", "--to-offset", "2"]));
    assert_eq!(values(&data, &["--group", "g"]), ["v2", "v3", "v4"]);
    // --until-now has nothing to wait for.
    millrace(&data)
        .args(["consume", "t", "--until-now", "--follow"])
        .assert()
        .code(2);
}

#[test]
fn follow_ends_at_the_end_bound() {
    let (_tmp, data) = five();
    let server = Server::start(&data, &[]);
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("millrace"))
        .args(["--server", &server.addr, "consume", "t", "--follow", "--to-offset", "7"])
        .args(["--format", "value"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    server
        .millrace()
        .args(["produce", "t"])
        .write_stdin("v5\nv6\nv7\nv8\n")
        .assert()
        .success();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("consume --follow --to-offset 7 did not end at offset 7");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{output:?}");
    let printed = String::from_utf8(output.stdout).unwrap();
    assert_eq!(printed, "v0\nv1\nv2\nv3\nv4\nv5\nv6\n");
}

#[test]
fn templates_in_kcat_and_named_style() {
    let (_tmp, data) = five();
    millrace(&data)
        .args(["produce", "t", "-H", "h=x", "-K", ":"])
        .write_stdin("k5:v5\n")
        .assert()
        .success();
    let kcat = stdout_of(millrace(&data).args([
        "consume",
        "t",
        "--tail",
        "2",
        "--format",
        "%k|%s|%o|%p|%t|%h|%K|%S|%%\\n",
    ]));
    let named = stdout_of(millrace(&data).args([
        "consume",
        "t",
        "--tail",
        "2",
        "--format",
        "{key}|{value}|{offset}|{partition}|{topic}|{headers}|{key_size}|{value_size}|%%\\n",
    ]));
    assert_eq!(kcat, "k4|v4|4|0|t||2|2|%\nk5|v5|5|0|t|h=x|2|2|%\n");
    assert_eq!(named, kcat);
    // The issue's own example: `%v` is the value as `%s` is.
    let example = stdout_of(millrace(&data).args(["consume", "t", "--tail", "1", "--format", "%k %v %o %T\\n"]));
    assert!(example.starts_with("k5 v5 5 "), "{example}");
    // kcat's -f is --format here (-f is --follow): the help says so.
    let help = stdout_of(millrace(&data).args(["consume", "--help"]));
    assert!(help.contains("here -f is --follow"), "{help}");
    let times = stdout_of(millrace(&data).args(["consume", "t", "--to-offset", "1", "--format", "%T {timestamp}\\n"]));
    assert_eq!(times, "1000 1970-01-01T00:00:01.000Z\n");
    let bad = millrace(&data)
        .args(["consume", "t", "--format", "%q"])
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&bad.get_output().stderr).to_string();
    assert!(stderr.contains("unknown placeholder %q"), "{stderr}");
}

/// A record whose key, value and header carry an escape sequence, a newline
/// and bytes that are not UTF-8.
fn hostile() -> (tempfile::TempDir, std::path::PathBuf, Vec<u8>) {
    let (tmp, data) = store_with_topic("t", 1);
    let value = b"red\x1b[31m\nline\xff\xfe\\".to_vec();
    let hex: String = value.iter().map(|b| format!("{b:02x}")).collect();
    millrace(&data)
        .args(["produce", "t", "--format", "json"])
        .write_stdin(format!(
            "{{\"value\": {{\"hex\": \"{hex}\"}}, \"key\": \"k\\u001b]0;x\\u0007\", \"headers\": {{\"h\": {{\"hex\": \"{hex}\"}}}}}}\n"
        ))
        .assert()
        .success();
    (tmp, data, value)
}

#[test]
fn text_output_escapes_control_characters_and_bytes() {
    let (_tmp, data, value) = hostile();
    for format in ["text", "value", "%k %s %h\\n"] {
        let output = millrace(&data)
            .args(["consume", "t", "--format", format])
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        let text = String::from_utf8(output.stdout).expect("escaped output is UTF-8");
        let body = text.strip_suffix('\n').unwrap();
        assert!(
            !body.chars().any(|c| c.is_control() && c != '\t'),
            "{format}: a control character reached the terminal: {text:?}"
        );
        assert!(body.contains(r"red\u{1b}[31m\nline\xff\xfe\\"), "{format}: {text:?}");
    }
    let text = stdout_of(millrace(&data).args(["consume", "t"]));
    assert!(text.contains(r"k\u{1b}]0;x\u{7}"), "the key is escaped: {text:?}");
    // --raw: the bytes as stored.
    let raw = millrace(&data)
        .args(["consume", "t", "--format", "value", "--raw"])
        .output()
        .unwrap();
    assert_eq!(raw.stdout, [value.as_slice(), b"\n"].concat());
    let raw = millrace(&data)
        .args(["consume", "t", "--format", "%s", "--raw"])
        .output()
        .unwrap();
    assert_eq!(raw.stdout, value);
}

#[test]
fn produce_binary_safe_input() {
    let (_tmp, data) = store_with_topic("t", 1);
    // kcat's -D with a NUL delimiter: values holding newlines, an empty one.
    millrace(&data)
        .args(["produce", "t", "-D", "\\0"])
        .write_stdin(&b"a\nb\0\0c\xff"[..])
        .assert()
        .success();
    millrace(&data)
        .args([
            "produce",
            "t",
            "-K",
            ":",
            "--value-encoding",
            "base64",
            "--key-encoding",
            "hex",
        ])
        .write_stdin("00ff:AP8K\n")
        .assert()
        .success();
    millrace(&data)
        .args(["produce", "t", "--value-encoding", "hex"])
        .write_stdin("1b5b\n")
        .assert()
        .success();
    let out = stdout_of(millrace(&data).args(["consume", "t", "--format", "json"]));
    let records: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let values: Vec<&serde_json::Value> = records.iter().map(|r| &r["value"]).collect();
    assert_eq!(
        values,
        [
            &serde_json::json!("a\nb"),
            &serde_json::json!(""),
            &serde_json::json!({"hex": "63ff"}),
            &serde_json::json!({"hex": "00ff0a"}),
            &serde_json::json!("\u{1b}["),
        ]
    );
    assert_eq!(records[3]["key"], serde_json::json!({"hex": "00ff"}));
    // A bad encoding names the record and appends nothing of it.
    let bad = millrace(&data)
        .args(["produce", "t", "--value-encoding", "hex"])
        .write_stdin("00\nzz\n")
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&bad.get_output().stderr).to_string();
    assert!(stderr.contains("input record 2: value: not hex"), "{stderr}");
}

#[test]
fn consume_json_is_read_back_by_produce_json() {
    let (_tmp, data) = store_with_topic("t", 2);
    millrace(&data)
        .args(["topic", "create", "copy", "--partitions", "2"])
        .assert()
        .success();
    let input = [
        r#"{"value": {"hex": "00ff0a1b"}, "key": {"hex": "fe"}, "headers": {"bin": {"base64": "AP8="}, "text": "x", "none": null}, "timestamp": "2026-01-02T03:04:05.678Z", "partition": 1}"#,
        r#"{"value": null, "key": "tomb", "timestamp": 42, "partition": 0}"#,
        r#"{"value": "plain \"text\"\n", "partition": 1}"#,
        r#"{"value": {"hex": ""}, "key": "", "headers": {"h": ""}, "partition": 0}"#,
    ]
    .join("\n");
    millrace(&data)
        .args(["produce", "t", "--format", "json"])
        .write_stdin(input)
        .assert()
        .success();
    let original = stdout_of(millrace(&data).args(["consume", "t", "--format", "json"]));
    assert_eq!(original.lines().count(), 4, "{original}");
    millrace(&data)
        .args(["produce", "copy", "--format", "json"])
        .write_stdin(original.clone())
        .assert()
        .success();
    let copied = stdout_of(millrace(&data).args(["consume", "copy", "--format", "json"]));
    assert_eq!(copied, original, "the round trip changed a record");
    assert!(original.contains(r#""value":{"hex":"00ff0a1b"}"#), "{original}");
    assert!(original.contains(r#""value":null"#), "{original}");
}

/// Ctrl-C to a child.
pub(crate) fn sigint(child: &std::process::Child) {
    let pid = child.id().to_string();
    let status = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn ctrl_c_says_what_was_read_and_how_to_resume() {
    let (_tmp, data) = five();
    for group in [false, true] {
        let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin("millrace"));
        command
            .arg("--data")
            .arg(&data)
            .args(["consume", "t", "--follow", "--format", "value"]);
        if group {
            command.args(["--group", "g"]);
        }
        let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        for i in 0..5 {
            assert_eq!(lines.next().unwrap().unwrap(), format!("v{i}"));
        }
        sigint(&child);
        let output = child.wait_with_output().unwrap();
        assert_eq!(output.status.code(), Some(130), "{output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr).to_string();
        assert!(
            stderr.contains("interrupted: printed 5 records; read up to partition 0 at offset 5"),
            "{stderr}"
        );
        if group {
            assert!(stderr.contains("committed for group \"g\""), "{stderr}");
            assert_eq!(values(&data, &["--group", "g"]), Vec::<String>::new(), "committed at 5");
        } else {
            assert!(
                stderr.contains("millrace consume t --partition 0 --offset 5"),
                "{stderr}"
            );
        }
    }
}

#[test]
fn replay_interrupted_by_ctrl_c_resumes_exactly_once() {
    let (_tmp, data) = store_with_topic("src", 1);
    millrace(&data).args(["topic", "create", "dst"]).assert().success();
    let input: String = (0..20).map(|i| format!("r{i}\n")).collect();
    millrace(&data)
        .args(["produce", "src"])
        .write_stdin(input)
        .assert()
        .success();
    let replay = || {
        std::process::Command::new(assert_cmd::cargo::cargo_bin("millrace"))
            .arg("--data")
            .arg(&data)
            .args(["replay", "src", "dst", "--rate", "5", "--batch-records", "1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut child = replay();
    // Once a record was copied, the command is in its loop.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        // The poll below opens the store read-only (a shared lock): a
        // replay starting at that instant finds it locked and exits. It
        // resumes exactly where it stopped, so start it again.
        if child.try_wait().unwrap().is_some() {
            let output = child.wait_with_output().unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr).to_string();
            assert!(
                stderr.contains("is locked by another process"),
                "replay exited: {output:?}"
            );
            child = replay();
        }
        let copied = millrace(&data)
            .args(["consume", "dst", "--format", "value"])
            .output()
            .unwrap();
        if !copied.stdout.is_empty() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "replay copied nothing");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    sigint(&child);
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(
        stderr.contains("interrupted: replayed") && stderr.contains("remain"),
        "{stderr}"
    );
    assert!(stderr.contains("run the same command again to resume"), "{stderr}");
    stdout_of(millrace(&data).args(["replay", "src", "dst"]));
    let mut copied: Vec<String> = stdout_of(millrace(&data).args(["consume", "dst", "--format", "value"]))
        .lines()
        .map(str::to_string)
        .collect();
    copied.sort();
    let mut expected: Vec<String> = (0..20).map(|i| format!("r{i}")).collect();
    expected.sort();
    assert_eq!(copied, expected, "each record copied exactly once");
}
