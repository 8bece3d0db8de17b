//! Offline `millrace stats` shows that the store was poisoned in an earlier
//! run: the engine records the first cause in `<data>/poisoned` when it
//! poisons the store (engine/tests/poison_record.rs proves that with a
//! failed fsync); here the record is planted in that format, `stats` (a
//! read-only open) shows it in the table and in `--json` as many times as it
//! runs, and the next writable open (`produce`) archives it, after which
//! `stats` no longer shows it.

#![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]

mod common;

use common::{json_of, millrace, stdout_of, store_with_topic};

#[test]
fn stats_shows_an_earlier_poisoning_until_a_writable_open() {
    let (_tmp, data) = store_with_topic("t", 1);
    std::fs::write(
        data.join("poisoned"),
        "op=fsync segment\npath=/srv/data/topics/t/00000/00000000000000000000.log\nkind=StorageFull\nerror=No space left on device (os error 28)\nat_unix_ms=1765000000000\n",
    )
    .unwrap();
    for _ in 0..2 {
        let table = stdout_of(millrace(&data).arg("stats"));
        assert!(table.contains("POISONED IN AN EARLIER RUN"), "{table}");
        assert!(
            table.contains(
                "fsync segment failed on /srv/data/topics/t/00000/00000000000000000000.log: No space left on device"
            ),
            "{table}"
        );
        assert!(table.contains("2025-12-06T05:46:40"), "{table}");
        let json = json_of(millrace(&data).args(["stats", "--json"]));
        assert_eq!(json["poisoned_earlier"]["op"], "fsync segment", "{json}");
        assert_eq!(json["poisoned_earlier"]["kind"], "StorageFull", "{json}");
        assert_eq!(json["poisoned_earlier"]["at_unix_ms"], 1_765_000_000_000u64, "{json}");
        assert!(json["poisoned"].is_null(), "{json}");
    }
    millrace(&data)
        .args(["produce", "t"])
        .write_stdin("x\n")
        .assert()
        .success();
    assert!(data.join("poisoned.previous").is_file());
    let table = stdout_of(millrace(&data).arg("stats"));
    assert!(!table.contains("POISONED"), "{table}");
    let json = json_of(millrace(&data).args(["stats", "--json"]));
    assert!(json["poisoned_earlier"].is_null(), "{json}");
}
