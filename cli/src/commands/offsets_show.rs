//! `millrace offsets show`: every group with its state, topics, lag and
//! last commit; or one group's partitions.

use super::offsets::{group_lag, lag_table, list_groups, past_end, warn_past_end, ShowArgs};
use crate::cli::GlobalArgs;
use crate::error::{CliError, CliResult};
use crate::output::{self, Table};
use crate::target::{GroupActivity, Target};
use serde_json::json;

/// One group of the all-groups view.
struct GroupRow {
    group: String,
    topics: Vec<String>,
    partitions: usize,
    lag: u64,
    last_commit_ms: Option<i64>,
}

fn state_text(state: Option<&GroupActivity>) -> String {
    match state {
        None => "unknown".to_string(),
        Some(s) if s.kafka_members && s.members_total > 0 => {
            let count = s.members_total;
            let noun = if count == 1 { "member" } else { "members" };
            format!("active ({count} Kafka {noun})")
        }
        Some(s) => s.state().to_string(),
    }
}

/// The Kafka members' distinct `client@host`, for the all-groups view.
fn clients_text(state: Option<&GroupActivity>) -> String {
    let Some(members) = state.and_then(|s| s.members.as_ref()) else {
        return "-".to_string();
    };
    let mut clients: Vec<String> = members
        .iter()
        .map(|m| format!("{}@{}", m.client_id, m.client_host))
        .collect();
    clients.sort();
    clients.dedup();
    if clients.is_empty() {
        "-".to_string()
    } else {
        clients.join(",")
    }
}

fn state_json(state: Option<&GroupActivity>) -> serde_json::Value {
    match state {
        Some(s) => {
            let members = s.members.as_ref().map(|members| {
                members
                    .iter()
                    .map(|m| json!({"member_id": m.member_id, "client_id": m.client_id, "client_host": m.client_host}))
                    .collect::<Vec<_>>()
            });
            json!({"state": s.state(), "active": s.active, "kafka_members": s.kafka_members, "idle_ms": s.idle_ms, "members": members, "members_total": s.members_total})
        }
        None => json!({"state": "unknown"}),
    }
}

/// One row per Kafka member of the group (nothing when it has none).
fn print_members(state: Option<&GroupActivity>) -> CliResult<()> {
    let Some(state) = state else { return Ok(()) };
    let Some(members) = state.members.as_ref().filter(|m| !m.is_empty()) else {
        return Ok(());
    };
    let mut table = Table::new(&["MEMBER", "CLIENT", "HOST"]);
    for m in members {
        table.row(vec![m.member_id.clone(), m.client_id.clone(), m.client_host.clone()]);
    }
    table.print()?;
    let shown = u32::try_from(members.len()).unwrap_or(u32::MAX);
    if state.members_total > shown {
        println!("... and {} more members", state.members_total - shown);
    }
    Ok(())
}

pub(super) fn run(global: &GlobalArgs, args: ShowArgs) -> CliResult<()> {
    let target = Target::open_read_only(global)?;
    let Some(group) = args.group else {
        return all_groups(global, target);
    };
    let (lags, commit_times) = group_lag(&target, &group, args.topic.as_deref())?;
    // The last request: an older server closes the connection on it.
    let state = target.group_states(std::slice::from_ref(&group))?;
    target.close()?;
    let state = state.as_ref().and_then(|s| s.first());
    if let Some(refusal) = state.and_then(|s| s.refused.as_ref()) {
        return Err(CliError::new(refusal.clone()).with_hint(
            "a token sees a group's state and members only for groups its `groups` patterns cover; \
             use a token configured for the group",
        ));
    }
    let last_commit = commit_times.values().max().copied();
    warn_past_end(&group, &lags);
    if global.json {
        let partitions: Vec<serde_json::Value> = lags
            .iter()
            .map(|l| json!({"topic": l.topic, "partition": l.partition, "committed": l.committed, "committed_past_end": past_end(l), "log_start_offset": l.log_start_offset, "high_watermark": l.high_watermark, "lag": l.lag}))
            .collect();
        let mut value = json!({"group": group, "partitions": partitions, "lag": lags.iter().map(|l| l.lag).sum::<u64>(), "last_commit": last_commit.map(output::time)});
        if let (Some(object), serde_json::Value::Object(extra)) = (value.as_object_mut(), state_json(state)) {
            object.extend(extra);
        }
        output::print_json(&value)?;
    } else if lags.is_empty() {
        println!("group {group} has no committed offsets; pass --topic to see a topic's partitions anyway");
        print_members(state)?;
    } else {
        lag_table(&lags, &commit_times).print()?;
        println!(
            "group {group}: {}, last commit {}",
            state_text(state),
            last_commit.map_or_else(|| "-".to_string(), output::time)
        );
        print_members(state)?;
    }
    Ok(())
}

fn all_groups(global: &GlobalArgs, target: Target) -> CliResult<()> {
    let mut rows = Vec::new();
    for group in list_groups(&target)? {
        let (lags, commit_times) = group_lag(&target, &group, None)?;
        let mut topics: Vec<String> = lags.iter().map(|l| l.topic.clone()).collect();
        topics.dedup();
        rows.push(GroupRow {
            group,
            topics,
            partitions: lags.len(),
            lag: lags.iter().map(|l| l.lag).sum::<u64>(),
            last_commit_ms: commit_times.values().max().copied(),
        });
    }
    let names: Vec<String> = rows.iter().map(|r| r.group.clone()).collect();
    // The last request: an older server closes the connection on it.
    let mut states = target.group_states(&names)?;
    target.close()?;
    // A server leaves the groups this token may not describe out of its
    // listing; an older one listed them and refuses to describe them: they
    // are left out here too (counted in `hidden`), as a Kafka ListGroups
    // leaves them out.
    let mut hidden = 0usize;
    if let Some(all) = states.take() {
        let (kept_rows, kept_states): (Vec<GroupRow>, Vec<GroupActivity>) = rows
            .into_iter()
            .zip(all)
            .filter(|(_, state)| state.refused.is_none())
            .unzip();
        hidden = names.len() - kept_rows.len();
        rows = kept_rows;
        states = Some(kept_states);
    }
    if hidden > 0 && !global.json {
        eprintln!(
            "{hidden} group{} not shown: outside the token's `groups` patterns",
            if hidden == 1 { "" } else { "s" }
        );
    }
    let state = |i: usize| states.as_ref().and_then(|s| s.get(i));
    if global.json {
        let groups: Vec<serde_json::Value> = rows
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let mut value = json!({"group": r.group, "topics": r.topics, "partitions": r.partitions, "lag": r.lag, "last_commit": r.last_commit_ms.map(output::time)});
                if let (Some(object), serde_json::Value::Object(extra)) = (value.as_object_mut(), state_json(state(i))) {
                    object.extend(extra);
                }
                value
            })
            .collect();
        output::print_json(&json!({ "groups": groups, "hidden_groups": hidden }))?;
    } else if rows.is_empty() {
        println!("no consumer group has committed offsets");
    } else {
        let mut table = Table::new(&[
            "GROUP",
            "STATE",
            "TOPICS",
            "PARTITIONS",
            "LAG",
            "LAST COMMIT",
            "CLIENTS",
        ]);
        for (i, r) in rows.into_iter().enumerate() {
            table.row(vec![
                r.group,
                state_text(state(i)),
                r.topics.join(","),
                r.partitions.to_string(),
                r.lag.to_string(),
                r.last_commit_ms.map_or_else(|| "-".to_string(), output::time),
                clients_text(state(i)),
            ]);
        }
        table.print()?;
    }
    Ok(())
}
