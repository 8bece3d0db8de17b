//! `millrace topic history [TOPIC]`: the store's durable record of topic
//! creations, configuration changes and deletions (`__config_changes`,
//! `Store::config_history`; through a server its `ConfigHistoryPage`), with
//! who asked, when, and each key's old and new value.

use crate::cli::GlobalArgs;
use crate::error::CliResult;
use crate::output::{self, Table};
use crate::target::Target;
use clap::Args;
use serde_json::json;

pub const AFTER_HELP: &str = "Every create, alter and delete of a topic is recorded before it is made,
in the same engine call and atomically with it: after a crash the store has
both the change and its record, or neither. Through a server the actor is
the session's token@peer; offline, the user and the command.

Examples:
  millrace topic history orders
  millrace topic history --json
  millrace --server 127.0.0.1:7878 topic history orders";

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Topic name (default: every topic, deleted ones included).
    topic: Option<String>,
}

fn shown(value: Option<&String>) -> String {
    value.map_or_else(|| "-".to_string(), Clone::clone)
}

pub fn run(global: &GlobalArgs, args: HistoryArgs) -> CliResult<()> {
    let target = Target::open_read_only(global)?;
    let history = target.config_history(args.topic.as_deref());
    target.close()?;
    let history = history?;
    if global.json {
        let rows: Vec<serde_json::Value> = history
            .iter()
            .map(|e| {
                let keys: Vec<serde_json::Value> = e
                    .keys
                    .iter()
                    .map(|k| json!({"key": k.key, "old": k.old, "new": k.new}))
                    .collect();
                json!({"at": output::time(e.at_ms), "at_ms": e.at_ms, "actor": e.actor, "topic": e.topic, "change": e.kind, "keys": keys})
            })
            .collect();
        output::print_json(&json!({ "topic": args.topic, "changes": rows }))?;
        return Ok(());
    }
    if history.is_empty() {
        match &args.topic {
            Some(topic) => println!("no configuration change of topic {topic} recorded"),
            None => println!("no topic configuration change recorded"),
        }
        return Ok(());
    }
    let mut table = Table::new(&["AT", "TOPIC", "CHANGE", "KEY", "OLD", "NEW", "BY"]);
    for e in &history {
        let at = output::time(e.at_ms);
        if e.keys.is_empty() {
            let row = [&at, &e.topic, &e.kind, "-", "-", "-", &e.actor];
            table.row(row.iter().map(ToString::to_string).collect());
        }
        for k in &e.keys {
            table.row(vec![
                at.clone(),
                e.topic.clone(),
                e.kind.clone(),
                k.key.clone(),
                shown(k.old.as_ref()),
                format!("-> {}", shown(k.new.as_ref())),
                e.actor.clone(),
            ]);
        }
    }
    table.print()?;
    Ok(())
}
