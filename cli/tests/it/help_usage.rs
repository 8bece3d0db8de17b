//! Issue 23, first contact: usage errors exit 2 with a message, whatever
//! the command (a list of bad invocations).

use crate::common;

use common::{millrace, store_with_topic};

#[test]
fn usage_errors_exit_2_with_a_message() {
    let (_tmp, data) = store_with_topic("t", 1);
    millrace(&data).args(["topic", "create", "u"]).assert().success();
    let bad: &[&[&str]] = &[
        &["replay", "t", "u", "--from-offset", "10", "--to-offset", "5"],
        &["replay", "t", "u", "--from-offset", "5", "--to-offset", "5"],
        &[
            "replay",
            "t",
            "u",
            "--from-time",
            "2026-01-02T00:00:00Z",
            "--to-time",
            "2026-01-01T00:00:00Z",
        ],
        &["replay", "t", "t"],
        &["replay", "t", "u", "--rate", "0"],
        &["consume", "t", "--offset", "10", "--to-offset", "5"],
        &["consume", "t", "--tail", "1", "--from-earliest"],
        &["consume", "t", "--to-offset", "1", "--to-time", "5"],
        &["consume", "t", "--format", "xml"],
        &["consume", "t", "--tail", "-1"],
        &["consume", "t", "--since", "soon"],
        &["produce", "t", "--format", "json", "--value-encoding", "hex"],
        &["produce", "t", "--value-encoding", "rot13"],
        &["produce", "t", "-D", ""],
        &["dlq", "purge", "t", "--up-to", "1"],
        &["dlq", "list", "t", "--since", "soon"],
        &["dlq", "fail", "t", "--group", "g", "--partition", "0", "--offset", "0"],
        &["offsets", "reset", "--group", "g", "--topic", "t"],
        &["topic", "create"],
        &["consume"],
        &["no-such-command"],
        &["consume", "t", "--no-such-flag"],
    ];
    for args in bad {
        let output = millrace(&data).args(*args).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr).to_string();
        assert_eq!(output.status.code(), Some(2), "millrace {args:?}: {output:?}");
        assert!(stderr.contains("error"), "millrace {args:?}: no message: {stderr}");
        assert!(output.stdout.is_empty(), "millrace {args:?} printed {output:?}");
    }
    let output = millrace(&data)
        .args(["replay", "t", "u", "--from-offset", "10", "--to-offset", "5"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(
        stderr.contains("empty range") && stderr.contains("half-open"),
        "{stderr}"
    );
}
