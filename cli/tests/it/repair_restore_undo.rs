//! `repair restore DIR` undoes `rebuild-metadata` and `forget-transaction`
//! too (issue 23): the repair records in its manifest what those change
//! (a `copy` of each file before it is rewritten or removed, a `create` of
//! each file it or the forget's open adds), and the restore puts back
//! byte-identical files, `check` then reporting what it reported before the
//! repair; kill -9 of the restore at every write, then a rerun, ends the same.

use crate::common::{self, millrace};
use crate::repair_gap_restore::{
    a_second_restore_is_refused, backup_dir, json_any, rebase, restore_killed_before_write, store_files,
};
use std::path::Path;

/// `check`'s problems with the data directory's path replaced.
fn problems(data: &Path) -> String {
    json_any(millrace(data).args(["--json", "check"]))["problems"]
        .to_string()
        .replace(data.to_str().unwrap(), "DATA")
}

/// Repairs a copy of `template` (`action` must be among what the repair
/// did), then restores it, killed before its n-th write for n = 1, 2, ...
/// and run again, until a restore runs through: every time the store's
/// files end byte-identical to `template`'s and `check` reports the same.
fn repair_and_restore_killed_at_every_write(tmp: &Path, template: &Path, action: &str) {
    let damaged = store_files(template);
    let before = problems(template);
    assert_ne!(before, "[]", "the template is damaged");
    let mut n = 1;
    loop {
        let data = tmp.join(format!("data-{n}"));
        common::copy_dir(template, &data);
        let repair = json_any(millrace(&data).args(["--json", "repair", "--yes"]));
        assert!(repair.to_string().contains(action), "{repair}");
        assert_eq!(problems(&data), "[]", "repaired");
        let backup = backup_dir(&data);
        let manifest = std::fs::read_to_string(backup.join("repair.manifest")).unwrap();
        assert!(!manifest.contains("unrestorable"), "{manifest}");
        let finished = restore_killed_before_write(&data, &backup, n, || {});
        assert_eq!(store_files(&data), rebase(&damaged, template, &data), "write {n}");
        assert_eq!(
            problems(&data).replace(data.to_str().unwrap(), "DATA"),
            before.replace(template.to_str().unwrap(), "DATA"),
            "write {n}"
        );
        a_second_restore_is_refused(&data, &backup);
        if finished {
            assert!(n > 3, "the hook killed nothing");
            break;
        }
        n += 1;
    }
}

/// Damaged metadata of every kind repair rewrites or moves: the store
/// marker and a `topic.meta` (rewritten), `cluster.id` and a `start.offset`
/// (moved out). (The `start.offset` is in another topic than the damaged
/// `topic.meta`: `check` looks into no partition of a topic whose
/// `topic.meta` it cannot read.)
#[test]
fn restore_undoes_rebuild_metadata_byte_for_byte_also_after_kill_9() {
    let tmp = tempfile::tempdir().unwrap();
    let template = tmp.path().join("template");
    millrace(&template)
        .args(["topic", "create", "t", "--partitions", "2"])
        .assert()
        .success();
    millrace(&template)
        .args(["produce", "t"])
        .write_stdin("a\nb\nc\n")
        .assert()
        .success();
    millrace(&template).args(["topic", "create", "u"]).assert().success();
    std::fs::write(template.join("MILLRACE"), b"not a store marker\n").unwrap();
    std::fs::write(template.join("topics/u/topic.meta"), b"partitions = many\x00\xff").unwrap();
    std::fs::write(template.join("topics/t/00001/start.offset"), b"twelve\n").unwrap();
    assert!(template.join("cluster.id").is_file());
    std::fs::write(template.join("cluster.id"), b"x").unwrap();
    repair_and_restore_killed_at_every_write(tmp.path(), &template, "rebuild-metadata");
}

/// A transaction commit record whose target topic is gone: the repair opens
/// the store (which creates `cluster.id`) and forgets the record (a new
/// `start.offset` for `__transactions`); the restore removes both.
#[test]
fn restore_undoes_forget_transaction_byte_for_byte_also_after_kill_9() {
    let tmp = tempfile::tempdir().unwrap();
    let template = tmp.path().join("template");
    common::copy_fixture("unappliable-transaction", &template);
    std::fs::remove_dir_all(template.join("topics/b")).unwrap();
    repair_and_restore_killed_at_every_write(tmp.path(), &template, "forget-transaction");
}
