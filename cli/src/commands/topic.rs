//! `millrace topic create|list|describe|delete` (`alter`: topic_alter.rs,
//! `history`: topic_history.rs).

use crate::cli::GlobalArgs;
use crate::error::{CliError, CliResult};
use crate::output::{self, Table};
use crate::parse;
use crate::target::{DamageRow, Target, TopicInfo};
use clap::{Args, Subcommand};
use millrace::{Durability, TimestampType, TopicConfig};
use serde_json::json;
use std::time::Duration;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  millrace topic create orders --partitions 3 --retention 7d --durability interval:100
  millrace topic list
  millrace topic describe orders --json
  millrace topic alter orders --retention 30d --dry-run
  millrace topic history orders
  millrace topic delete orders --yes")]
pub struct TopicArgs {
    #[command(subcommand)]
    command: TopicCommand,
}

#[derive(Debug, Subcommand)]
enum TopicCommand {
    /// Create a topic.
    #[command(after_help = "Examples:
  millrace topic create orders
  millrace topic create sensors --partitions 8 --retention 1h30m --retention-bytes 10GiB
  millrace topic create audit --durability always --segment-bytes 256MiB --segment-age 1d
  millrace topic create clicks --timestamp-type log-append")]
    Create(CreateArgs),
    /// List topics with their partitions, records and size.
    #[command(after_help = "Examples:
  millrace topic list
  millrace topic list --json")]
    List,
    /// Show a topic's configuration and per-partition offsets.
    #[command(after_help = "Examples:
  millrace topic describe orders
  millrace topic describe orders --json")]
    Describe {
        /// Topic name.
        topic: String,
    },
    /// Change a topic's retention, size limits, segment rolling or durability (--dry-run shows the diff).
    #[command(after_help = super::topic_alter::AFTER_HELP)]
    Alter(super::topic_alter::AlterArgs),
    /// Who created, altered or deleted a topic, when, and each key's old and new value.
    #[command(after_help = super::topic_history::AFTER_HELP)]
    History(super::topic_history::HistoryArgs),
    /// Delete a topic and all its records (needs --yes).
    #[command(after_help = "Examples:
  millrace topic delete orders --yes")]
    Delete {
        /// Topic name.
        topic: String,
        /// Confirm: the topic's records are deleted for good.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Args)]
struct CreateArgs {
    /// Topic name: 1 to 200 of A-Z a-z 0-9 . _ -
    topic: String,
    /// Number of partitions.
    #[arg(long, short = 'p', default_value_t = 1)]
    partitions: u32,
    /// always | os | interval:<ms> (default: the store's, `always`).
    #[arg(long, value_parser = parse::durability)]
    durability: Option<Durability>,
    /// Roll segments at this size (e.g. 64MiB).
    #[arg(long, value_parser = parse::bytes, value_name = "SIZE")]
    segment_bytes: Option<u64>,
    /// Roll segments once this old (e.g. 1d, PT6H).
    #[arg(long, value_parser = parse::duration, value_name = "DURATION")]
    segment_age: Option<Duration>,
    /// Delete sealed segments whose records are all older than this (e.g. 7d).
    #[arg(long, value_parser = parse::duration, value_name = "DURATION")]
    retention: Option<Duration>,
    /// Keep at most this many bytes per partition (whole segments deleted).
    #[arg(long, value_parser = parse::bytes, value_name = "SIZE")]
    retention_bytes: Option<u64>,
    /// Largest accepted record (encoded), e.g. 1MiB.
    #[arg(long, value_parser = parse::bytes, value_name = "SIZE")]
    record_bytes_max: Option<u64>,
    /// Bytes of log between sparse index entries.
    #[arg(long, value_parser = parse::bytes, value_name = "SIZE")]
    index_interval_bytes: Option<u64>,
    /// Send records refused by validation to the topic's DLQ instead of
    /// failing the append, for appends that route (a program embedding the
    /// engine: `Store::append_routed`; a server's Produce never routes).
    #[arg(long)]
    route_invalid_to_dlq: bool,
    /// Which time records carry: `create` (the producer's, default) or
    /// `log-append` (the time the server appended them, whatever the
    /// producer gave: Kafka's `message.timestamp.type=LogAppendTime`).
    #[arg(long, value_parser = parse_timestamp_type, value_name = "create|log-append", default_value = "create")]
    timestamp_type: TimestampType,
    /// The topic's byte quota over all its partitions (e.g. 10GiB): an
    /// append that would pass it is refused, nothing written (default: none,
    /// only the store's `--quota`).
    #[arg(long, value_parser = parse::bytes, value_name = "SIZE")]
    quota_bytes: Option<u64>,
}

/// `create` or `log-append` (Kafka's `CreateTime`/`LogAppendTime` too).
pub fn parse_timestamp_type(text: &str) -> Result<TimestampType, String> {
    TimestampType::parse(text).ok_or_else(|| format!("{text:?}: expected `create` or `log-append`"))
}

pub fn run(global: &GlobalArgs, args: TopicArgs) -> CliResult<()> {
    match args.command {
        TopicCommand::Create(create) => run_create(global, create),
        TopicCommand::List => run_list(global),
        TopicCommand::Describe { topic } => run_describe(global, &topic),
        TopicCommand::Delete { topic, yes } => run_delete(global, &topic, yes),
        TopicCommand::Alter(alter) => super::topic_alter::run(global, alter),
        TopicCommand::History(history) => super::topic_history::run(global, history),
    }
}

fn to_u32(what: &str, value: u64) -> CliResult<u32> {
    u32::try_from(value).map_err(|_| CliError::usage(format!("--{what} {value} is too large (at most {})", u32::MAX)))
}

fn run_create(global: &GlobalArgs, args: CreateArgs) -> CliResult<()> {
    let defaults = TopicConfig::default();
    let config = TopicConfig {
        partitions: args.partitions,
        durability: args.durability,
        segment_bytes: args.segment_bytes.unwrap_or(defaults.segment_bytes),
        segment_age_ms: args.segment_age.map(|d| d.as_millis() as u64),
        retention_ms: args.retention.map(|d| d.as_millis() as u64),
        retention_bytes: args.retention_bytes,
        record_bytes_max: match args.record_bytes_max {
            Some(v) => to_u32("record-bytes-max", v)?,
            None => defaults.record_bytes_max,
        },
        index_interval_bytes: match args.index_interval_bytes {
            Some(v) => to_u32("index-interval-bytes", v)?,
            None => defaults.index_interval_bytes,
        },
        route_invalid_to_dlq: args.route_invalid_to_dlq,
        timestamp_type: args.timestamp_type,
        quota_bytes: args.quota_bytes,
    };
    // Check before creating the data directory, so a typo leaves nothing behind.
    millrace::names::validate_topic_name(&args.topic).map_err(|e| CliError::usage(e.to_string()))?;
    config.validate().map_err(|e| CliError::usage(e.to_string()))?;
    let target = Target::open_or_create(global)?;
    target.create_topic(&args.topic, config)?;
    let description = target.describe(&args.topic)?;
    target.close()?;
    if global.json {
        output::print_json(&description_json(&description))?;
    } else {
        println!(
            "created topic {} with {} partition{} (durability {})",
            description.name,
            description.config.partitions,
            if description.config.partitions == 1 { "" } else { "s" },
            description.durability
        );
    }
    Ok(())
}

fn records(d: &TopicInfo) -> u64 {
    d.records()
}

/// One line per topic or partition that failed to open: (topic, partition,
/// error). Over a server, the command's last request ([`Target::damaged`]).
fn damage_rows(target: &Target, unreadable: Vec<(String, String)>) -> CliResult<Vec<(String, Option<u32>, String)>> {
    let mut rows: Vec<(String, Option<u32>, String)> = target
        .damaged(None)?
        .into_iter()
        .map(|d| (d.topic, d.partition, d.error))
        .collect();
    rows.extend(unreadable.into_iter().map(|(topic, error)| (topic, None, error)));
    Ok(rows)
}

fn run_list(global: &GlobalArgs) -> CliResult<()> {
    let target = Target::open_read_only(global)?;
    let mut descriptions = Vec::new();
    let mut unreadable = Vec::new();
    for name in target.list_topics()? {
        match target.describe(&name) {
            Ok(d) => descriptions.push(d),
            // One topic's damage (its DLQ, say) does not hide the others.
            Err(e) if !target.is_remote() => unreadable.push((name, e.message)),
            Err(e) => return Err(e),
        }
    }
    let damaged = damage_rows(&target, unreadable)?;
    if target.is_remote() {
        // A server's DescribeTopic lists only the partitions that opened.
        for d in &mut descriptions {
            let rows = damaged.iter().map(|(topic, partition, error)| DamageRow {
                topic: topic.clone(),
                partition: *partition,
                error: error.clone(),
            });
            d.add_damage(rows.collect());
        }
    }
    target.close()?;
    if global.json {
        let topics: Vec<serde_json::Value> = descriptions.iter().map(description_json).collect();
        let damaged: Vec<serde_json::Value> = damaged
            .iter()
            .map(|(topic, partition, error)| json!({"topic": topic, "partition": partition, "error": error}))
            .collect();
        output::print_json(&json!({ "topics": topics, "damaged": damaged }))?;
        return Ok(());
    }
    if !damaged.is_empty() {
        // After the table (or alone): what failed to open, with its error.
        let print_damage = || {
            for (topic, partition, error) in &damaged {
                match partition {
                    Some(p) => println!("damaged: topic {topic} partition {p}: {error}"),
                    None => println!("damaged: topic {topic}: {error}"),
                }
            }
            println!("run `millrace check` for a report and `millrace repair` for the repair plan");
        };
        if descriptions.is_empty() {
            print_damage();
            return Ok(());
        }
        print_list_table(&descriptions)?;
        print_damage();
        return Ok(());
    }
    if descriptions.is_empty() {
        println!("no topics; create one with `millrace topic create NAME`");
        return Ok(());
    }
    print_list_table(&descriptions)
}

fn print_list_table(descriptions: &[TopicInfo]) -> CliResult<()> {
    let mut table = Table::new(&[
        "TOPIC",
        "PARTITIONS",
        "RECORDS",
        "SIZE",
        "DLQ",
        "DURABILITY",
        "RETENTION",
    ]);
    for d in descriptions {
        let bytes: u64 = d.partitions.iter().map(|p| p.bytes).sum();
        table.row(vec![
            d.name.clone(),
            d.config.partitions.to_string(),
            records(d).to_string(),
            output::bytes(bytes),
            d.dlq_depth.to_string(),
            d.durability.to_string(),
            retention_text(&d.config),
        ]);
    }
    table.print()?;
    Ok(())
}

fn retention_text(config: &TopicConfig) -> String {
    match (config.retention_ms, config.retention_bytes) {
        (None, None) => "forever".to_string(),
        (Some(ms), None) => output::duration_ms(Some(ms)),
        (None, Some(b)) => output::bytes(b),
        (Some(ms), Some(b)) => format!("{} or {}", output::duration_ms(Some(ms)), output::bytes(b)),
    }
}

/// The topic's bytes on disk against its `quota_bytes`: `1.0 MiB of 4.0 MiB (25%)`.
pub fn quota_text(d: &TopicInfo, quota: u64) -> String {
    let used: u64 = d.partitions.iter().map(|p| p.bytes).sum();
    format!(
        "{} of {} ({}%)",
        output::bytes(used),
        output::bytes(quota),
        used.saturating_mul(100) / quota.max(1)
    )
}

pub fn description_json(d: &TopicInfo) -> serde_json::Value {
    let partitions: Vec<serde_json::Value> = d
        .partitions
        .iter()
        .map(|p| {
            json!({
                "partition": p.partition,
                "start_offset": p.start_offset,
                "end_offset": p.end_offset,
                "records": p.end_offset.saturating_sub(p.start_offset),
                "segments": p.segments,
                "bytes": p.bytes,
            })
        })
        .collect();
    let c = &d.config;
    json!({
        "topic": d.name,
        "partitions": c.partitions,
        "durability": d.durability.to_string(),
        "config": config_json(c),
        "records": records(d),
        "bytes": d.partitions.iter().map(|p| p.bytes).sum::<u64>(),
        "dlq_depth": d.dlq_depth,
        "damaged_partitions": d.damaged.iter().map(|(p, e)| json!({"partition": p, "error": e})).collect::<Vec<_>>(),
        "partition_info": partitions,
    })
}

/// A topic's config as JSON, one field per key of the engine's table
/// (`TopicConfig::entries`, so a new key shows without a change here): a
/// number or boolean as such, the key's "not set" spelling (`default`,
/// `none`) as null, any other text as a string.
fn config_json(config: &TopicConfig) -> serde_json::Value {
    let fields = config.entries().into_iter().map(|(key, text)| {
        let value = serde_json::from_str(&text).unwrap_or_else(|_| {
            let absent = millrace::config::topic_config_key(key).and_then(|k| k.absent);
            if absent == Some(text.as_str()) {
                serde_json::Value::Null
            } else {
                serde_json::Value::String(text)
            }
        });
        (key.to_string(), value)
    });
    serde_json::Value::Object(fields.collect())
}

fn run_describe(global: &GlobalArgs, topic: &str) -> CliResult<()> {
    let target = Target::open_read_only(global)?;
    let mut d = target.describe(topic)?;
    let target_remote = target.is_remote();
    if target_remote {
        // The last request: an older server closes the connection on it.
        d.add_damage(target.damaged(Some(topic))?);
    }
    target.close()?;
    if global.json {
        output::print_json(&description_json(&d))?;
        return damaged_partitions_error(&d);
    }
    let c = &d.config;
    println!("topic:                {}", d.name);
    println!("partitions:           {}", c.partitions);
    println!(
        "durability:           {}{}",
        d.durability,
        if c.durability.is_none() && !target_remote {
            " (store default)"
        } else {
            ""
        }
    );
    println!("segment size:         {}", output::bytes(c.segment_bytes));
    println!("segment age:          {}", output::duration_ms(c.segment_age_ms));
    println!("retention:            {}", retention_text(c));
    println!("record size max:      {}", output::bytes(u64::from(c.record_bytes_max)));
    println!(
        "index interval:       {}",
        output::bytes(u64::from(c.index_interval_bytes))
    );
    if c.route_invalid_to_dlq {
        println!("invalid records:      to the DLQ (appends that route)");
    }
    if c.timestamp_type == TimestampType::LogAppend {
        println!("timestamps:           log-append (the append time)");
    }
    if let Some(quota) = c.quota_bytes {
        println!("quota:                {}", quota_text(&d, quota));
    }
    println!("records:              {}", records(&d));
    println!(
        "dead letters:         {}{}",
        d.dlq_depth,
        if d.dlq_depth > 0 {
            format!(" (see `millrace dlq list {}`)", d.name)
        } else {
            String::new()
        }
    );
    println!();
    let mut table = Table::new(&["PARTITION", "START", "END", "RECORDS", "SEGMENTS", "SIZE"]);
    for p in &d.partitions {
        table.row(vec![
            p.partition.to_string(),
            p.start_offset.to_string(),
            p.end_offset.to_string(),
            p.end_offset.saturating_sub(p.start_offset).to_string(),
            p.segments.map_or("-".to_string(), |s| s.to_string()),
            output::bytes(p.bytes),
        ]);
    }
    for (p, error) in &d.damaged {
        table.row(vec![
            p.to_string(),
            "-".into(),
            "-".into(),
            "-".into(),
            "-".into(),
            format!("damaged: {error}"),
        ]);
    }
    table.print()?;
    damaged_partitions_error(&d)
}

/// Exit 3 (after the description) when partitions of the topic failed to open.
fn damaged_partitions_error(d: &TopicInfo) -> CliResult<()> {
    if d.damaged.is_empty() {
        return Ok(());
    }
    Err(CliError {
        code: crate::error::exit::CORRUPTION,
        ..CliError::new(format!(
            "{} partition(s) of topic {} failed to open",
            d.damaged.len(),
            d.name
        ))
        .with_hint("run `millrace check` for a report and `millrace repair` for the repair plan")
    })
}

fn run_delete(global: &GlobalArgs, topic: &str, yes: bool) -> CliResult<()> {
    let target = Target::open(global)?;
    // A topic that failed to open: deleting it is the operator's other way out.
    let (what, done) = if target.whole_topic_damaged(topic) {
        (
            format!("damaged topic {topic:?}"),
            format!("deleted damaged topic {topic}"),
        )
    } else {
        let records = records(&target.describe(topic)?);
        (
            format!("topic {topic:?} ({records} records)"),
            format!("deleted topic {topic} ({records} records)"),
        )
    };
    if !yes {
        return Err(
            CliError::usage(format!("refusing to delete {what} without confirmation"))
                .with_hint(format!("re-run as `millrace topic delete {topic} --yes`")),
        );
    }
    target.delete_topic(topic)?;
    target.close()?;
    if global.json {
        output::print_json(&json!({ "topic": topic, "deleted": true }))?;
    } else {
        println!("{done}");
    }
    Ok(())
}
