//! Terminal behaviour under a real pseudo-terminal, made with `script` from
//! util-linux: `consume --follow` prints records produced while it waits and
//! exits on its idle timeout; progress bars (bench, check) are drawn on a terminal and
//! never when output is piped. Skipped (with a message) where `script` is
//! missing.

use crate::common;

use common::{millrace, stdout_of, Server};
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

fn script_available() -> bool {
    let ok = Command::new("script")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("skipping: `script` (util-linux) is not installed");
    }
    ok
}

/// Run `command` (a shell command line) under a pseudo-terminal.
fn under_pty(command: &str) -> std::process::Child {
    Command::new("script")
        .args(["-q", "-e", "-c", command, "/dev/null"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn bin() -> String {
    assert_cmd::cargo::cargo_bin("millrace").display().to_string()
}

#[test]
fn consume_follow_on_a_terminal() {
    if !script_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"), &[]);
    server.millrace().args(["topic", "create", "t"]).assert().success();
    server
        .millrace()
        .args(["produce", "t"])
        .write_stdin("before\n")
        .assert()
        .success();
    let mut child = under_pty(&format!(
        "{} --server {} consume t --follow --idle-timeout 3s",
        bin(),
        server.addr
    ));
    std::thread::sleep(Duration::from_millis(800));
    server
        .millrace()
        .args(["produce", "t", "--key", "k"])
        .write_stdin("during\n")
        .assert()
        .success();
    let status = child.wait().unwrap();
    let mut out = String::new();
    child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    assert!(status.success(), "{out}");
    let lines: Vec<&str> = out.lines().map(|l| l.trim_end_matches('\r')).collect();
    assert_eq!(lines.len(), 2, "{out:?}");
    assert!(
        lines[0].starts_with("0:0\t") && lines[0].ends_with("\t-\tbefore"),
        "{out:?}"
    );
    assert!(
        lines[1].starts_with("0:1\t") && lines[1].ends_with("\tk\tduring"),
        "{out:?}"
    );
}

#[test]
fn progress_bar_only_on_a_terminal() {
    if !script_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut child = under_pty(&format!("{} --data {} bench --duration 1500ms", bin(), data.display()));
    let status = child.wait().unwrap();
    let mut out = String::new();
    child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    assert!(status.success(), "{out}");
    assert!(
        out.contains("appending [") && out.contains("=>"),
        "no progress bar drawn: {out:?}"
    );
    assert!(out.contains("records/s"), "{out:?}");
    // Piped: the same command draws no bar, stdout has only the report.
    let piped = stdout_of(millrace(&data).args(["bench", "--duration", "300ms"]));
    assert!(!piped.contains("appending ["), "{piped:?}");
    // `check` draws its byte-progress bar on a terminal only.
    let mut child = under_pty(&format!("{} --data {} check", bin(), data.display()));
    let status = child.wait().unwrap();
    let mut out = String::new();
    child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    assert!(status.success(), "{out}");
    assert!(out.contains("checking ["), "no check progress bar: {out:?}");
    let output = millrace(&data).args(["check"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains('\u{1b}') && !stderr.contains("checking ["),
        "{stderr:?}"
    );
}
