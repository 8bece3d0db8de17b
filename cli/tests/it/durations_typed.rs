//! Durations are shown the way they are typed (issue 23, "First contact"):
//! `topic describe`, `topic list` and the `topic alter` dry-run diff print
//! `7d`, `1d12h`, `1h30m` (not `7days`, `1day 12h`), and what they print is
//! accepted back by the flag it came from.

use crate::common::{millrace, stdout_of};

#[test]
fn durations_print_as_typed_and_are_accepted_back() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    millrace(&data)
        .args(["topic", "create", "orders", "--retention", "7d", "--segment-age", "90m"])
        .assert()
        .success();
    let described = stdout_of(millrace(&data).args(["topic", "describe", "orders"]));
    assert!(described.contains("retention:            7d\n"), "{described}");
    assert!(described.contains("segment age:          1h30m\n"), "{described}");
    let listed = stdout_of(millrace(&data).args(["topic", "list"]));
    assert!(listed.contains("7d"), "{listed}");
    let plan = stdout_of(millrace(&data).args(["topic", "alter", "orders", "--retention", "36h", "--dry-run"]));
    assert!(plan.contains("7d") && plan.contains("1d12h"), "{plan}");
    // The printed value, typed back, is the same duration.
    millrace(&data)
        .args(["topic", "alter", "orders", "--retention", "1d12h"])
        .assert()
        .success();
    let config = crate::common::json_of(millrace(&data).args(["--json", "topic", "describe", "orders"]));
    assert_eq!(config["config"]["retention_ms"], 36 * 3_600_000, "{config}");
}
