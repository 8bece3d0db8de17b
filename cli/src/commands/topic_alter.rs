//! `millrace topic alter TOPIC`: change a topic's retention, limits and
//! quota, segment rolling, durability or timestamp type, with a dry run showing the diff. The
//! store applies the whole change or none of it, durably
//! (`Store::alter_topic`; through a server its `AlterTopic`).

use crate::cli::GlobalArgs;
use crate::error::{CliError, CliResult};
use crate::output::{self, Table};
use crate::parse;
use crate::target::Target;
use clap::Args;
use millrace::TopicConfig;
use serde_json::json;

pub const AFTER_HELP: &str = "Each flag sets one key of the topic's configuration; the others keep their
value. The change is applied whole or not at all, and is durable when the
command returns (a crash leaves the old configuration or the new one).
Retention, limits, segment rolling and the timestamp type apply to the
next append, roll and retention pass (records already written keep their
timestamps); a durability change applies at once, to a running server
too: the switch fsyncs what was written before it, and every append
after it is acknowledged under the new mode. The partition count is
fixed at creation.
--quota-bytes bounds the whole topic's bytes on disk (appends past it are
refused, nothing written; retention still deletes as configured),
--retention-bytes bounds each partition by deleting old segments, and the
store's quota is `millrace serve --quota`.

Examples:
  millrace topic alter orders --retention 30d --dry-run
  millrace topic alter orders --record-bytes-max 4MiB
  millrace topic alter orders --retention none --retention-bytes 50GiB
  millrace topic alter clicks --timestamp-type log-append
  millrace topic alter clicks --quota-bytes 20GiB
  millrace --server 127.0.0.1:7878 topic alter orders --segment-age 1h";

#[derive(Debug, Args)]
pub struct AlterArgs {
    /// Topic name.
    topic: String,
    /// always | os | interval:<ms> | default (the store's); applies at the next open.
    #[arg(long, value_parser = durability_value, value_name = "MODE")]
    durability: Option<String>,
    /// Roll segments at this size (e.g. 64MiB).
    #[arg(long, value_parser = bytes_value, value_name = "SIZE")]
    segment_bytes: Option<String>,
    /// Roll segments once this old (e.g. 1d), or `none`.
    #[arg(long, value_parser = optional_duration_value, value_name = "DURATION|none")]
    segment_age: Option<String>,
    /// Delete sealed segments whose records are all older than this (e.g. 7d), or `none` (forever).
    #[arg(long, value_parser = optional_duration_value, value_name = "DURATION|none")]
    retention: Option<String>,
    /// Keep at most this many bytes per partition (e.g. 10GiB), or `none`.
    #[arg(long, value_parser = optional_bytes_value, value_name = "SIZE|none")]
    retention_bytes: Option<String>,
    /// Largest accepted record (encoded), e.g. 4MiB.
    #[arg(long, value_parser = bytes_value, value_name = "SIZE")]
    record_bytes_max: Option<String>,
    /// Bytes of log between sparse index entries.
    #[arg(long, value_parser = bytes_value, value_name = "SIZE")]
    index_interval_bytes: Option<String>,
    /// Send records refused by validation to the topic's DLQ (true|false),
    /// for appends that route (see `topic create --help`).
    #[arg(long, value_name = "BOOL", value_parser = clap::builder::BoolishValueParser::new())]
    route_invalid_to_dlq: Option<bool>,
    /// Which time the next records carry: `create` (the producer's) or
    /// `log-append` (the append time); records already written keep theirs.
    #[arg(long, value_parser = super::topic::parse_timestamp_type, value_name = "create|log-append")]
    timestamp_type: Option<millrace::TimestampType>,
    /// The topic's byte quota over all its partitions (e.g. 20GiB), or
    /// `none`: an append that would pass it is refused, nothing written.
    #[arg(long, value_parser = optional_bytes_value, value_name = "SIZE|none")]
    quota_bytes: Option<String>,
    /// Show the change (old -> new per key) and change nothing.
    #[arg(long)]
    dry_run: bool,
}

fn durability_value(text: &str) -> Result<String, String> {
    if text == "default" {
        return Ok(text.to_string());
    }
    parse::durability(text).map(|d| d.to_string())
}

fn bytes_value(text: &str) -> Result<String, String> {
    parse::bytes(text).map(|b| b.to_string())
}

fn is_none(text: &str) -> bool {
    matches!(text, "none" | "forever" | "never" | "off")
}

fn optional_duration_value(text: &str) -> Result<String, String> {
    if is_none(text) {
        return Ok("none".to_string());
    }
    parse::duration(text).map(|d| d.as_millis().to_string())
}

fn optional_bytes_value(text: &str) -> Result<String, String> {
    if is_none(text) {
        return Ok("none".to_string());
    }
    bytes_value(text)
}

impl AlterArgs {
    /// The keys to change, as the engine's table spells them.
    fn changes(&self) -> Vec<(String, String)> {
        let keys = [
            ("durability", self.durability.clone()),
            ("segment_bytes", self.segment_bytes.clone()),
            ("segment_age_ms", self.segment_age.clone()),
            ("retention_ms", self.retention.clone()),
            ("retention_bytes", self.retention_bytes.clone()),
            ("record_bytes_max", self.record_bytes_max.clone()),
            ("index_interval_bytes", self.index_interval_bytes.clone()),
            ("route_invalid_to_dlq", self.route_invalid_to_dlq.map(|b| b.to_string())),
            ("timestamp_type", self.timestamp_type.map(|t| t.to_string())),
            ("quota_bytes", self.quota_bytes.clone()),
        ];
        keys.into_iter()
            .filter_map(|(key, value)| value.map(|v| (key.to_string(), v)))
            .collect()
    }
}

/// One changed key: (key, old, new), as text.
type Change = (&'static str, String, String);

fn diff(old: &TopicConfig, new: &TopicConfig) -> Vec<Change> {
    old.entries()
        .into_iter()
        .zip(new.entries())
        .filter(|((_, a), (_, b))| a != b)
        .map(|((key, a), (_, b))| (key, a, b))
        .collect()
}

/// A key's value as an operator reads it (`7d`, `64.0 MiB`, `none`).
fn shown(key: &str, value: &str) -> String {
    let Ok(n) = value.parse::<u64>() else {
        return value.to_string();
    };
    if key.ends_with("_ms") {
        output::duration_ms(Some(n))
    } else if key.ends_with("bytes") || key.ends_with("_max") {
        output::bytes(n)
    } else {
        value.to_string()
    }
}

pub fn run(global: &GlobalArgs, args: AlterArgs) -> CliResult<()> {
    let changes = args.changes();
    if changes.is_empty() {
        return Err(CliError::usage(format!(
            "nothing to alter on topic {:?}: give at least one setting",
            args.topic
        ))
        .with_hint("see `millrace topic alter --help` (e.g. --retention 7d, --record-bytes-max 4MiB)"));
    }
    let target = Target::open(global)?;
    let (old, new) = target.alter_topic(&args.topic, &changes, args.dry_run)?;
    target.close()?;
    let changed = diff(&old, &new);
    let durability_changed = changed.iter().any(|(key, _, _)| *key == "durability");
    if global.json {
        let rows: Vec<serde_json::Value> = changed
            .iter()
            .map(|(key, old, new)| json!({"key": key, "old": old, "new": new}))
            .collect();
        output::print_json(&json!({
            "topic": args.topic,
            "dry_run": args.dry_run,
            "applied": !args.dry_run && !changed.is_empty(),
            "changes": rows,
        }))?;
        return Ok(());
    }
    if changed.is_empty() {
        println!("topic {} already has this configuration: nothing changed", args.topic);
        return Ok(());
    }
    let mut table = Table::new(&["KEY", "OLD", "NEW"]);
    for (key, old, new) in &changed {
        table.row(vec![
            (*key).to_string(),
            shown(key, old),
            format!("-> {}", shown(key, new)),
        ]);
    }
    if args.dry_run {
        println!("dry run: would alter topic {}:", args.topic);
        table.print()?;
        println!("nothing changed; re-run without --dry-run to apply");
    } else {
        println!("altered topic {}:", args.topic);
        table.print()?;
    }
    if durability_changed && !args.dry_run {
        println!("durability switched: records written before are fsync'd, appends from now on are acknowledged under the new mode");
    }
    Ok(())
}
