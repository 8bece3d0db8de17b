//! Reviewed reset plans: `offsets reset ... --export FILE` writes the plan
//! (JSON, or CSV when FILE ends in `.csv`, as kafka-consumer-groups
//! exports), and `offsets reset --from-file FILE --execute` applies exactly
//! it, after checking that nothing it relied on changed: the group's
//! committed offsets are still the plan's `current`, and every new offset
//! is still in its partition's `[log start, log end]`.

use crate::error::{CliError, CliResult};
use crate::target::Target;
use millrace::{PartitionLag, PlannedReset, ResetPlan, ResetScope, ResetTarget};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;

/// How `offsets reset` plans or applies one reset: (backend, group, scopes,
/// target, dry run, force).
pub type ResetFn = fn(&Target, &str, &[ResetScope], ResetTarget, bool, bool) -> CliResult<ResetPlan>;

/// Largest plan file read (a plan of every partition of a large group fits).
const PLAN_BYTES_MAX: u64 = 64 * 1024 * 1024;

/// One partition of a plan read back: where the group was when it was
/// made (`None`: nothing committed, or a CSV that does not say) and where
/// it moves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanEntry {
    pub topic: String,
    pub partition: u32,
    pub current: Option<u64>,
    pub new: u64,
}

/// A plan read from a file.
#[derive(Debug, Clone)]
pub struct PlanFile {
    /// `None`: a Kafka CSV of `topic,partition,offset` lines (the group is `--group`).
    pub group: Option<String>,
    /// Whether each entry says where the group was (then it is checked).
    pub has_current: bool,
    pub entries: Vec<PlanEntry>,
}

fn is_csv(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv"))
}

/// Write `plan` to `path` (JSON, or CSV by extension), replacing the file.
pub fn export(plan: &ResetPlan, path: &Path) -> CliResult<()> {
    let text = if is_csv(path) {
        let mut text = String::from("group,topic,partition,current,new\n");
        for e in &plan.entries {
            text.push_str(&format!(
                "{},{},{},{},{}\n",
                plan.group,
                e.topic,
                e.partition,
                e.current.map_or(String::new(), |c| c.to_string()),
                e.new
            ));
        }
        text
    } else {
        let entries: Vec<serde_json::Value> = plan.entries.iter().map(entry_json).collect();
        let value = json!({
            "version": 1,
            "group": plan.group,
            "target": plan.target.to_string(),
            "planned_at_ms": plan.planned_at_ms,
            "entries": entries,
        });
        format!("{}\n", serde_json::to_string_pretty(&value)?)
    };
    std::fs::write(path, text).map_err(|e| CliError::new(format!("cannot write the plan to {}: {e}", path.display())))
}

fn entry_json(e: &PlannedReset) -> serde_json::Value {
    json!({
        "topic": e.topic,
        "partition": e.partition,
        "current": e.current,
        "new": e.new,
        "log_start_offset": e.log_start_offset,
        "high_watermark": e.high_watermark,
    })
}

fn bad(path: &Path, what: impl std::fmt::Display) -> CliError {
    CliError::new(format!("plan file {}: {what}", path.display()))
        .with_hint("write one with `millrace offsets reset ... --export FILE` (JSON, or CSV for a .csv name)")
}

/// Read a plan written by [`export`] (JSON or CSV), or a Kafka CSV of
/// `topic,partition,offset` or `group,topic,partition,offset` lines.
pub fn read(path: &Path) -> CliResult<PlanFile> {
    let len = std::fs::metadata(path).map_err(|e| bad(path, e))?.len();
    if len > PLAN_BYTES_MAX {
        return Err(bad(
            path,
            format!("{len} bytes, more than the {PLAN_BYTES_MAX} a plan may have"),
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|e| bad(path, e))?;
    let plan = if text.trim_start().starts_with('{') {
        read_json(path, &text)?
    } else {
        read_csv(path, &text)?
    };
    if plan.entries.is_empty() {
        return Err(bad(path, "no partitions in the plan"));
    }
    Ok(plan)
}

fn read_json(path: &Path, text: &str) -> CliResult<PlanFile> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| bad(path, e))?;
    let group = value
        .get("group")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| bad(path, "no \"group\""))?
        .to_string();
    let rows = value
        .get("entries")
        .and_then(serde_json::Value::as_array)
        .ok_or_else(|| bad(path, "no \"entries\" list"))?;
    let mut entries = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        let field = |name: &str| bad(path, format!("entry {i}: missing or invalid \"{name}\""));
        let current = match &row["current"] {
            serde_json::Value::Null => None,
            v => Some(v.as_u64().ok_or_else(|| field("current"))?),
        };
        entries.push(PlanEntry {
            topic: row["topic"].as_str().ok_or_else(|| field("topic"))?.to_string(),
            partition: row["partition"]
                .as_u64()
                .and_then(|p| u32::try_from(p).ok())
                .ok_or_else(|| field("partition"))?,
            current,
            new: row["new"].as_u64().ok_or_else(|| field("new"))?,
        });
    }
    Ok(PlanFile {
        group: Some(group),
        has_current: true,
        entries,
    })
}

fn read_csv(path: &Path, text: &str) -> CliResult<PlanFile> {
    let mut group: Option<String> = None;
    let mut has_current = false;
    let mut entries = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with("group,topic") || line.starts_with("topic,partition") {
            has_current |= line == "group,topic,partition,current,new";
            continue;
        }
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        let number = |text: &str, what: &str| {
            text.parse::<u64>()
                .map_err(|_| bad(path, format!("line {}: {what} {text:?} is not a number", i + 1)))
        };
        let (row_group, topic, partition, current, new) = match cells.as_slice() {
            [topic, partition, offset] => (None, *topic, *partition, None, *offset),
            [group, topic, partition, offset] => (Some(*group), *topic, *partition, None, *offset),
            [group, topic, partition, current, new] if has_current => {
                let current = if current.is_empty() {
                    None
                } else {
                    Some(number(current, "current offset")?)
                };
                (Some(*group), *topic, *partition, current, *new)
            }
            _ => {
                return Err(bad(
                    path,
                    format!(
                        "line {}: expected topic,partition,offset (or the exported columns)",
                        i + 1
                    ),
                ))
            }
        };
        if let Some(g) = row_group {
            match &group {
                Some(seen) if seen != g => {
                    return Err(bad(
                        path,
                        format!("line {}: a second group {g:?} (one group per plan)", i + 1),
                    ))
                }
                _ => group = Some(g.to_string()),
            }
        }
        entries.push(PlanEntry {
            topic: topic.to_string(),
            partition: u32::try_from(number(partition, "partition")?)
                .map_err(|_| bad(path, format!("line {}: partition {partition} is too large", i + 1)))?,
            current,
            new: number(new, "offset")?,
        });
    }
    Ok(PlanFile {
        group,
        has_current,
        entries,
    })
}

/// Check a plan read from a file against the group and its partitions now,
/// then (with --execute) apply each of its offsets, audited like any reset.
/// `(execute, force)` as `offsets reset` takes them; `reset` is its way
/// to plan or apply one reset.
pub fn apply(
    backend: &Target,
    given_group: Option<&str>,
    file: &PlanFile,
    (execute, force): (bool, bool),
    reset: ResetFn,
) -> CliResult<ResetPlan> {
    let group = match (&file.group, given_group) {
        (Some(planned), Some(given)) if planned != given => {
            return Err(CliError::new(format!(
                "the plan is for group {planned:?}, not {given:?}: refusing to apply it to another group"
            )))
        }
        (Some(group), _) => group.clone(),
        (None, Some(group)) => group.to_string(),
        (None, None) => return Err(CliError::usage("this plan file does not name its group: give --group")),
    };
    let mut now: BTreeMap<(String, u32), PartitionLag> = BTreeMap::new();
    let topics: std::collections::BTreeSet<&str> = file.entries.iter().map(|e| e.topic.as_str()).collect();
    for topic in topics {
        for lag in backend.consumer_lag(&group, Some(topic))? {
            now.insert((lag.topic.clone(), lag.partition), lag);
        }
    }
    let mut entries = Vec::new();
    for e in &file.entries {
        let unsafe_plan = |why: String| {
            CliError::new(format!(
                "refusing the plan for group {group}: {}/{}: {why}",
                e.topic, e.partition
            ))
            .with_hint("make a new plan (`millrace offsets reset ... --export FILE`) and review it")
        };
        let Some(lag) = now.get(&(e.topic.clone(), e.partition)) else {
            return Err(unsafe_plan("the partition does not exist now".into()));
        };
        if file.has_current && lag.committed != e.current {
            return Err(unsafe_plan(format!(
                "the group's committed offset is {} now, the plan was made at {} (the group moved since)",
                lag.committed.map_or("none".to_string(), |c| c.to_string()),
                e.current.map_or("none".to_string(), |c| c.to_string()),
            )));
        }
        if e.new < lag.log_start_offset || e.new > lag.high_watermark {
            return Err(unsafe_plan(format!(
                "offset {} is outside the partition's [{}, {}] now (records deleted, or the topic re-created)",
                e.new, lag.log_start_offset, lag.high_watermark
            )));
        }
        entries.push((e, lag));
    }
    let mut plan = ResetPlan {
        group: group.clone(),
        target: ResetTarget::ShiftBy(0),
        applied: execute,
        planned_at_ms: chrono::Utc::now().timestamp_millis(),
        entries: Vec::new(),
    };
    // The first applied offset checks that the group is not active; the
    // ones after it are this plan's own commits, which must not count as
    // activity.
    let mut force = force;
    for (e, lag) in entries {
        if execute {
            let scope = ResetScope::Partitions {
                topic: e.topic.clone(),
                partitions: vec![e.partition],
            };
            let applied = reset(backend, &group, &[scope], ResetTarget::Offset(e.new), false, force)?;
            force = true;
            plan.target = applied.target;
            plan.entries.extend(applied.entries);
        } else {
            plan.target = ResetTarget::Offset(e.new);
            plan.entries.push(PlannedReset {
                topic: e.topic.clone(),
                partition: e.partition,
                current: lag.committed,
                new: e.new,
                log_start_offset: lag.log_start_offset,
                high_watermark: lag.high_watermark,
                warnings: Vec::new(),
            });
        }
    }
    Ok(plan)
}
