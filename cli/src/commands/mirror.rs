//! `millrace mirror`: mirror the data directory's topics into a Kafka
//! cluster (the `millrace-mirror` crate, design/mirror.md); `mirror status`
//! and the operator's `mirror drop-unmirrored`. Built with the cli's
//! `mirror` feature (librdkafka); `[[mirror]]` sections of `serve`'s
//! configuration run the same in-process ([`start_configured`]).

use crate::cli::GlobalArgs;
use crate::error::{CliError, CliResult};
use crate::parse;
use clap::{Args, Subcommand};
use millrace_mirror::{Mirror, MirrorConfig, Mode};
use millrace_server::server::mirror_config::MirrorSection;
use std::time::Duration;

#[derive(Debug, Args)]
#[command(
    args_conflicts_with_subcommands = true,
    after_help = "Runs until SIGTERM or Ctrl-C (or, with --exit-when-caught-up, until every
selected partition is delivered). Exactly once by default: each Kafka
transaction carries a batch and the progress record of each partition in it
(topic --progress-topic on the target); a restart resumes from that progress.
The mirror's position is a retention floor on the edge: retention never
deletes an undelivered record; at the quota, producers get the quota error.

Examples:
  millrace mirror --data /var/lib/millrace --to kafka1:9092,kafka2:9092 --prefix edge7.
  millrace mirror --to central:9092 --topics 'orders|payments|__dlq\\..*' --edge-id edge7
  millrace mirror status --name default
  millrace mirror drop-unmirrored --topic orders --partition 0 --to 120000 --actor ops --yes"
)]
pub struct MirrorArgs {
    #[command(subcommand)]
    command: Option<MirrorCommand>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Subcommand)]
enum MirrorCommand {
    /// Positions, lag (records and seconds) per partition, and counters.
    Status(StatusArgs),
    /// Let the mirror skip undelivered records below an offset (audited).
    DropUnmirrored(DropArgs),
}

#[derive(Debug, Args)]
struct RunArgs {
    /// Target bootstrap servers (host:port[,host:port...]).
    #[arg(long, value_name = "BOOTSTRAP")]
    to: Option<String>,
    /// Topics to mirror: a regular expression matched against the whole
    /// name [default: every user topic]; DLQs (`__dlq.<topic>`) when it
    /// selects them.
    #[arg(long, value_name = "REGEX")]
    topics: Option<String>,
    /// Prefix of the target topic names.
    #[arg(long, value_name = "P", default_value = "")]
    prefix: String,
    /// This edge's id (transactional ids, progress keys, provenance headers)
    /// [default: the host name].
    #[arg(long, value_name = "ID")]
    edge_id: Option<String>,
    /// The mirror's name: its positions are the group `__mirror.<name>`.
    #[arg(long, default_value = "default")]
    name: String,
    /// exactly-once (transactions) or at-least-once (idempotent producer;
    /// a crash may send a batch twice: dedupe with the provenance headers).
    #[arg(long, default_value = "exactly-once")]
    mode: Mode,
    /// Producers (and transactional ids), each for a share of the partitions.
    #[arg(long, default_value_t = 1)]
    shards: u32,
    /// Exactly once: transactional producers per shard taking turns, 1 or
    /// 2 (2: a batch is sent while the one before commits, for a link with
    /// latency; 1 spends less CPU when the target is near).
    #[arg(long, default_value_t = 2)]
    lanes: u32,
    /// Most key and value bytes sent per second (e.g. 10MiB).
    #[arg(long, value_parser = parse::bytes, value_name = "SIZE")]
    rate_limit: Option<u64>,
    /// Progress topic on the target.
    #[arg(long, default_value = millrace_mirror::PROGRESS_TOPIC_DEFAULT)]
    progress_topic: String,
    /// Do not create missing target topics (or the progress topic).
    #[arg(long)]
    no_create_topics: bool,
    /// Most records per transaction.
    #[arg(long, default_value_t = 5_000)]
    batch_records: usize,
    /// Most key and value bytes per transaction [default: 768KiB, which
    /// any Millrace target takes; at most 24MiB].
    #[arg(long, value_parser = parse::bytes, value_name = "SIZE")]
    batch_bytes: Option<u64>,
    /// A librdkafka property of the connections to the target (repeatable):
    /// security.protocol=SASL_SSL, sasl.mechanism=PLAIN, sasl.username=U,
    /// sasl.password=P, ssl.ca.location=FILE, producer tuning. Secret values
    /// are never printed, but a command line is visible to other local
    /// users (ps): prefer a private config file's [[mirror]] to_config.
    #[arg(long = "to-config", visible_alias = "kafka", value_name = "KEY=VALUE")]
    to_config: Vec<String>,
    /// Central schema registry (http://[user:password@]host:port): keys and
    /// values in Confluent wire format get its schema ids (registered under
    /// `<target topic>-value` / `-key`).
    #[arg(long, value_name = "URL")]
    registry_to: Option<String>,
    /// Stop once every selected partition is delivered up to its end.
    #[arg(long)]
    exit_when_caught_up: bool,
}

#[derive(Debug, Args)]
struct StatusArgs {
    /// The mirror's name.
    #[arg(long, default_value = "default")]
    name: String,
    /// JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct DropArgs {
    /// The mirror's name.
    #[arg(long, default_value = "default")]
    name: String,
    /// The mirrored topic whose undelivered records to skip.
    #[arg(long)]
    topic: String,
    /// The partition of --topic.
    #[arg(long)]
    partition: u32,
    /// The new position: records below it are never mirrored.
    #[arg(long, value_name = "OFFSET")]
    to: u64,
    /// Who asks (recorded in the reset audit).
    #[arg(long)]
    actor: String,
    /// Do it (without: say what would be dropped).
    #[arg(long)]
    yes: bool,
}

impl MirrorArgs {
    /// Whether this runs the mirror (no subcommand), which logs at info.
    pub fn runs_the_mirror(&self) -> bool {
        self.command.is_none()
    }
}

pub fn run(global: &GlobalArgs, args: MirrorArgs) -> CliResult<()> {
    if global.server.is_some() {
        return Err(CliError::usage(
            "`mirror` reads the data directory in-process (--data); to mirror a running server, add a [[mirror]] section to its configuration",
        ));
    }
    match args.command {
        Some(MirrorCommand::Status(s)) => status(global, &s),
        Some(MirrorCommand::DropUnmirrored(d)) => drop_unmirrored(global, &d),
        None => run_mirror(global, args.run),
    }
}

fn host_name() -> String {
    let raw = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .unwrap_or_default();
    let id: String = raw
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .take(100)
        .collect();
    if id.is_empty() {
        "edge".to_string()
    } else {
        id
    }
}

fn run_config(args: &RunArgs) -> CliResult<MirrorConfig> {
    let Some(to) = &args.to else {
        return Err(CliError::usage(
            "give the target with --to BOOTSTRAP (host:port[,host:port])",
        ));
    };
    let edge = args.edge_id.clone().unwrap_or_else(host_name);
    let mut config = MirrorConfig::new(&args.name, to, &edge);
    if let Some(topics) = &args.topics {
        config.topics.clone_from(topics);
    }
    config.prefix.clone_from(&args.prefix);
    config.mode = args.mode;
    config.shards = args.shards;
    config.lanes = args.lanes;
    config.rate_limit_bytes = args.rate_limit.unwrap_or(0);
    config.progress_topic.clone_from(&args.progress_topic);
    config.create_topics = !args.no_create_topics;
    config.batch_records = args.batch_records;
    if let Some(bytes) = args.batch_bytes {
        config.batch_bytes = usize::try_from(bytes).unwrap_or(usize::MAX);
    }
    config.registry_to.clone_from(&args.registry_to);
    for pair in &args.to_config {
        let Some((key, value)) = pair.split_once('=') else {
            // Not echoed: it may be a secret given without its key.
            return Err(CliError::usage("--to-config: expected KEY=VALUE"));
        };
        config.kafka.insert(key.trim().to_string(), value.to_string());
    }
    config.validate().map_err(|e| CliError::usage(e.to_string()))?;
    Ok(config)
}

fn run_mirror(global: &GlobalArgs, args: RunArgs) -> CliResult<()> {
    let config = run_config(&args)?;
    crate::output::init_logging("info");
    let store = crate::data::open_existing_background(global)?;
    let name = config.name.clone();
    let selection = config.selection().map_err(|e| CliError::usage(e.to_string()))?;
    let probe = config.clone();
    let mirror = Mirror::start(&store, config).map_err(|e| CliError::new(e.to_string()))?;
    eprintln!(
        "millrace mirror {name}: {} -> {} ({}, edge id {})",
        global.data().display(),
        probe.bootstrap,
        probe.mode,
        probe.edge_id
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::new(format!("runtime: {e}")))?;
    runtime.block_on(async {
        let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break,
                _ = async { match terminate.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => break,
                // Every 10 ms: `--exit-when-caught-up` ends sooner (its
                // check reads positions in memory: a few microseconds).
                () = tokio::time::sleep(Duration::from_millis(10)) => {
                    if mirror.is_finished() {
                        break;
                    }
                    if args.exit_when_caught_up && caught_up(&store, &probe, &selection) {
                        break;
                    }
                }
            }
        }
    });
    let counters = mirror.stats().counters();
    let last_error = mirror.stats().last_error();
    mirror.stop();
    store.close()?;
    eprintln!(
        "millrace mirror {name} stopped: {} records, {} bytes, {} transactions, {} aborted{}",
        counters.records,
        counters.bytes,
        counters.transactions,
        counters.aborts,
        last_error.map_or(String::new(), |e| format!("; last error: {e}"))
    );
    Ok(())
}

/// Every selected partition delivered to its last stable offset.
fn caught_up(store: &millrace::Store, config: &MirrorConfig, selection: &regex::Regex) -> bool {
    let Ok(positions) = store.consumer_groups().mirror_positions(&config.name) else {
        return false;
    };
    store
        .list_all_topics()
        .into_iter()
        .filter(|t| config.selects(selection, t))
        .all(|topic| {
            let Ok(d) = store.describe_topic(&topic) else {
                return true;
            };
            (0..d.config.partitions).all(|p| {
                let position = positions
                    .iter()
                    .find(|((t, q), _)| *t == topic && *q == p)
                    .map(|(_, c)| c.offset);
                match (
                    position,
                    millrace_mirror::partition_lag(store, &topic, p, position.unwrap_or(0)),
                ) {
                    (Some(_), Ok(lag)) => lag.lag_records == 0,
                    _ => false,
                }
            })
        })
}

fn status(global: &GlobalArgs, args: &StatusArgs) -> CliResult<()> {
    let store = crate::data::open_read_only(global)?;
    let status = millrace_mirror::status(&store, &args.name)?;
    if args.json {
        crate::output::print_json(&serde_json::to_value(&status)?)?;
        return Ok(());
    }
    if status.partitions.is_empty() {
        println!(
            "mirror {}: no recorded position (never ran on this data directory?)",
            args.name
        );
        return Ok(());
    }
    println!(
        "{:<30} {:>9} {:>14} {:>14} {:>12} {:>11}",
        "TOPIC", "PARTITION", "POSITION", "END", "LAG", "LAG-SECONDS"
    );
    for p in &status.partitions {
        println!(
            "{:<30} {:>9} {:>14} {:>14} {:>12} {:>11}",
            p.topic, p.partition, p.position, p.end, p.lag_records, p.lag_seconds
        );
    }
    let c = &status.counters;
    println!(
        "records mirrored {}, bytes {}, transactions {}, aborted {}, dropped unmirrored {}",
        c.records, c.bytes, c.transactions, c.aborts, c.dropped
    );
    for (code, n) in &c.errors {
        println!("errors {code}: {n}");
    }
    if let Some(error) = &c.last_error {
        let age = millrace::clock::now_ms().saturating_sub(c.last_error_at_ms) / 1000;
        println!("last error ({age} s ago): {}", millrace_server::text::escape(error));
    }
    Ok(())
}

fn drop_unmirrored(global: &GlobalArgs, args: &DropArgs) -> CliResult<()> {
    let store = crate::data::open_existing(global)?;
    let groups = store.consumer_groups();
    let current = groups
        .mirror_positions(&args.name)?
        .into_iter()
        .find(|((t, p), _)| *t == args.topic && *p == args.partition)
        .map(|(_, c)| c.offset);
    let from = current.unwrap_or(0);
    if args.to <= from {
        println!(
            "mirror {} is at {from} on {}/{}: nothing to drop",
            args.name, args.topic, args.partition
        );
        return Ok(());
    }
    if !args.yes {
        println!(
            "would drop {} unmirrored records of {}/{} (offsets {from}..{}) from mirror {}; run again with --yes",
            args.to - from,
            args.topic,
            args.partition,
            args.to,
            args.name
        );
        return Ok(());
    }
    groups.drop_unmirrored(&args.name, &args.topic, args.partition, args.to, &args.actor)?;
    println!(
        "mirror {} skips {}/{} offsets {from}..{} (recorded in the reset audit as drop-unmirrored by {})",
        args.name, args.topic, args.partition, args.to, args.actor
    );
    store.close()?;
    Ok(())
}

/// The `[[mirror]]` sections of `serve`'s configuration as mirror configs
/// (checked before the server starts).
pub fn configured(sections: &[MirrorSection]) -> CliResult<Vec<MirrorConfig>> {
    sections
        .iter()
        .map(|s| {
            let edge = s.edge_id.clone().unwrap_or_else(host_name);
            let mut config = MirrorConfig::new(&s.name, &s.to, &edge);
            if let Some(topics) = &s.topics {
                config.topics.clone_from(topics);
            }
            config.prefix.clone_from(&s.prefix);
            if let Some(mode) = &s.mode {
                config.mode = mode
                    .parse()
                    .map_err(|e: String| CliError::usage(format!("[[mirror]] {}: mode {e}", s.name)))?;
            }
            config.rate_limit_bytes = s.rate_limit_bytes;
            if let Some(topic) = &s.progress_topic {
                config.progress_topic.clone_from(topic);
            }
            config.kafka.clone_from(&s.to_config);
            if let Some(records) = s.batch_records {
                config.batch_records = records;
            }
            if let Some(lanes) = s.lanes {
                config.lanes = lanes;
            }
            if let Some(bytes) = s.batch_bytes {
                config.batch_bytes = usize::try_from(bytes).unwrap_or(usize::MAX);
            }
            config.registry_to.clone_from(&s.registry_to);
            config
                .validate()
                .map_err(|e| CliError::usage(format!("[[mirror]] {}: {e}", s.name)))?;
            Ok(config)
        })
        .collect()
}

/// Start the configured mirrors over the server's store, their series on
/// its metrics port.
pub fn start_configured(handle: &millrace_server::ServerHandle, configs: Vec<MirrorConfig>) -> Vec<Mirror> {
    let mut mirrors = Vec::new();
    for config in configs {
        let name = config.name.clone();
        match Mirror::start(handle.store(), config) {
            Ok(mirror) => {
                let stats = mirror.stats().clone();
                let series_name = name.clone();
                handle
                    .metrics()
                    .extra
                    .add(Box::new(move || stats.render_prometheus(&series_name)));
                eprintln!("millrace mirror {name} started");
                mirrors.push(mirror);
            }
            Err(e) => eprintln!("millrace mirror {name} did not start: {e}"),
        }
    }
    mirrors
}
