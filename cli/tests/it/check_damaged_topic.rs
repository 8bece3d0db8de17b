//! `check` looks into the partitions of a topic whose `topic.meta` it
//! cannot believe (issue 23): over `damage_scope`'s fixture, `topic.meta` of
//! topic `a` flipped, truncated, deleted or replaced by a valid one naming
//! one partition of its two, each together with a corrupt batch in the last
//! segment of partition `a/1`. Through the binary: `check` exits 3 and names
//! both, the first at the topic's scope and the second at the partition's
//! (`--json` and text), `a/0` has no finding; the `repair` dry run plans
//! both fixes and `repair --yes` applies them in one run, after which
//! `check` is clean and every undamaged partition reads all its records.

use std::path::{Path, PathBuf};

use crate::damage_scope::{consume, fixture_copy, run, Damage, File};

/// The last segment of partition `a/1`.
fn a1_last_segment(data: &Path) -> PathBuf {
    let mut logs: Vec<PathBuf> = std::fs::read_dir(data.join("topics/a/00001"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    logs.sort();
    logs.pop().unwrap()
}

/// The ways `topic.meta` of `a` is damaged, by name.
fn meta_damages() -> Vec<(&'static str, Damage)> {
    let one_partition = millrace::TopicConfig {
        segment_bytes: 16 * 1024,
        index_interval_bytes: 1024,
        ..millrace::TopicConfig::default()
    }
    .encode();
    vec![
        ("flip", Damage::Flip),
        ("truncate", Damage::Truncate),
        ("delete", Damage::Delete),
        ("one partition of two", Damage::Replace(one_partition)),
    ]
}

fn json(stdout: &str, what: &str) -> serde_json::Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{what}: {e}: {stdout}"))
}

/// The problem `check --json` reports on `file`, if any.
fn problem_on<'a>(report: &'a serde_json::Value, file: &Path) -> Option<&'a serde_json::Value> {
    report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["file"] == file.display().to_string())
}

#[test]
fn check_names_a_damaged_topic_meta_and_each_partitions_own_damage_and_repair_fixes_both() {
    for (name, damage) in meta_damages() {
        let (_tmp, data) = fixture_copy();
        let meta = File::TopicMeta.path(&data);
        let segment = a1_last_segment(&data);
        damage.apply(&meta);
        // Inside the segment's first batch: later batches prove it was durable.
        Damage::FlipAt(40).apply(&segment);

        let check = run(&data, &["--json", "check"]);
        assert_eq!(check.code, 3, "{name}: check\n{}{}", check.stdout, check.stderr);
        let report = json(&check.stdout, name);
        let topic = problem_on(&report, &meta).unwrap_or_else(|| panic!("{name}: no topic.meta finding: {report:#}"));
        assert_eq!(topic["kind"], "BadMetadata", "{name}: {topic}");
        assert_eq!(topic["severity"], "corruption", "{name}: {topic}");
        assert_eq!(
            (&topic["scope"], &topic["topic"], &topic["partition"]),
            (&"topic".into(), &"a".into(), &serde_json::Value::Null),
            "{name}: {topic}"
        );
        let partition =
            problem_on(&report, &segment).unwrap_or_else(|| panic!("{name}: no finding in a/1: {report:#}"));
        assert_eq!(partition["severity"], "corruption", "{name}: {partition}");
        assert_eq!(partition["position"], 0, "{name}: the first batch is bad: {partition}");
        assert_eq!(
            (&partition["scope"], &partition["topic"], &partition["partition"]),
            (&"partition".into(), &"a".into(), &1.into()),
            "{name}: {partition}"
        );
        assert!(
            report["problems"]
                .as_array()
                .unwrap()
                .iter()
                .all(|p| !(p["topic"] == "a" && p["partition"] == 0)),
            "{name}: a/0 is undamaged: {report:#}"
        );
        let text = run(&data, &["check"]);
        assert_eq!(text.code, 3, "{name}");
        assert!(
            text.stdout.contains("corruption confined to: topic a, partition a/1"),
            "{name}: {}",
            text.stdout
        );

        // The dry run plans both fixes; --yes applies the same two.
        let plan = run(&data, &["--json", "repair"]);
        assert_eq!(plan.code, 3, "{name}: repair\n{}{}", plan.stdout, plan.stderr);
        let planned: Vec<(String, String)> = json(&plan.stdout, name)["actions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["action"].as_str().unwrap().to_string(),
                    a["file"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(
            planned,
            [
                ("rebuild-metadata".to_string(), meta.display().to_string()),
                ("truncate".to_string(), segment.display().to_string()),
            ],
            "{name}: {}",
            plan.stdout
        );
        let applied = run(&data, &["--json", "repair", "--yes"]);
        assert_eq!(
            applied.code, 0,
            "{name}: repair --yes\n{}{}",
            applied.stdout, applied.stderr
        );
        let done: Vec<String> = json(&applied.stdout, name)["actions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["action"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(done, ["rebuild-metadata", "truncate"], "{name}: {}", applied.stdout);
        let after = run(&data, &["check"]);
        assert_eq!(after.code, 0, "{name}: check after repair\n{}", after.stdout);
        // a/0 and b keep every record; a/1 opens again, cut at the damage
        // (its records past offset 100 start in the cut segment or later).
        assert_eq!(consume(&data, "a", 0).ok(), Some(600), "{name}");
        assert_eq!(consume(&data, "b", 0).ok(), Some(100), "{name}");
        let a1 = consume(&data, "a", 1).unwrap_or_else(|r| panic!("{name}: a/1 after repair: {}", r.stderr));
        assert!(a1 < 500, "{name}: a/1 was cut at its first bad batch: {a1}");
    }
}
