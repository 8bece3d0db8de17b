//! The command line: global options and the list of commands. Each command's
//! own arguments are defined next to its implementation in `commands/`.

use crate::commands::{
    bench, check, completions, consume, contract, dlq, dump, offsets, produce, repair, replay, schema, serve, stats,
    status, topic,
};
use clap::{Args, Parser, Subcommand};
use std::path::{Path, PathBuf};

const AFTER_HELP: &str = "\
Modes:
  Offline (default): commands open the data directory given by --data
  (default ./millrace-data) directly. The directory is locked while a command
  runs, so offline commands refuse to run while a server holds it.
  Online: with --server ADDR (or MILLRACE_SERVER) topic, produce, consume,
  stats, offsets show/reset/audit/delete, group delete and dlq talk to a running `millrace serve`; the
  token comes from MILLRACE_TOKEN or --token; --tls-ca FILE turns on TLS.
  bench and replay run through the server too.
  check, dump and repair work offline.

Exit codes:
  0  success
  1  error (I/O, missing topic, locked data directory, bad input, ...)
  2  usage error (unknown flag, missing or invalid argument)
  3  corruption found (check, dump, repair, or a store that refuses to open)
  4  contract status: a contract's service level is breached at error level

Examples:
  millrace serve --listen 127.0.0.1:7878 --data ./millrace-data
  millrace --server 127.0.0.1:7878 topic list
  millrace topic create orders --partitions 3 --retention 7d
  printf 'a\\nb\\n' | millrace produce orders --key k1
  millrace consume orders --from-earliest --format json
  millrace check --data /var/lib/millrace
  millrace completions bash > /etc/bash_completion.d/millrace";

#[derive(Debug, Parser)]
#[command(
    name = "millrace",
    version,
    about = "Millrace: an embedded log-structured pipeline store, its server and admin tools",
    after_help = AFTER_HELP,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes, shown under their own heading in each
/// command's help, apart from the command's own.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Data directory to open when no server is given [default: ./millrace-data].
    #[arg(long, global = true, env = "MILLRACE_DATA", value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Run against a running server instead of a data directory (host:port).
    #[arg(long, global = true, env = "MILLRACE_SERVER", value_name = "ADDR")]
    pub server: Option<String>,
    /// Authentication token for --server (prefer the MILLRACE_TOKEN variable:
    /// a flag is visible in the process list).
    #[arg(
        long,
        global = true,
        env = "MILLRACE_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub token: Option<String>,
    /// Speak TLS to --server, trusting the PEM certificate(s) in FILE (the
    /// server's CA or its self-signed certificate).
    #[arg(long, global = true, env = "MILLRACE_TLS_CA", value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
    /// Name the server's certificate must carry [default: the host of --server].
    #[arg(
        long,
        global = true,
        env = "MILLRACE_TLS_SERVER_NAME",
        value_name = "NAME",
        requires = "tls_ca"
    )]
    pub tls_server_name: Option<String>,
    /// Print machine-readable JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
}

pub const DATA_DEFAULT: &str = "./millrace-data";

impl GlobalArgs {
    /// The data directory: --data, MILLRACE_DATA, or ./millrace-data.
    pub fn data(&self) -> &Path {
        self.data.as_deref().unwrap_or(Path::new(DATA_DEFAULT))
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the TCP protocol server on a data directory.
    Serve(serve::ServeArgs),
    /// Create, list, describe and delete topics.
    Topic(topic::TopicArgs),
    /// Append records (lines or JSON) from stdin or a file.
    Produce(produce::ProduceArgs),
    /// Read records from a topic, optionally following new ones.
    Consume(consume::ConsumeArgs),
    /// Consumer group offsets and lag; reset them (dry run by default).
    Offsets(offsets::OffsetsArgs),
    /// Consumer groups: delete one (the same as `offsets delete`).
    Group(offsets::GroupArgs),
    /// Copy a range of a topic into another, exactly once and resumable.
    Replay(replay::ReplayArgs),
    /// Dead-letter queues: list, show, fail (by hand), redrive, purge.
    Dlq(dlq::DlqArgs),
    /// Show store-wide and per-topic numbers (--watch SECS: a live view).
    Stats(stats::StatsArgs),
    /// The schema registry: register, list, show, check and delete schemas.
    Schema(schema::SchemaArgs),
    /// A running server's health: version, uptime, listeners, problems (exit 1 when unhealthy).
    Status(status::StatusArgs),
    /// Verify every CRC, record, offset and index of a data directory.
    Check(check::CheckArgs),
    /// Print the batches and records of one segment file.
    Dump(dump::DumpArgs),
    /// Truncate at reported corruption, after a backup (dry run unless --yes).
    Repair(repair::RepairArgs),
    /// Built-in load generator: throughput and latency percentiles.
    Bench(bench::BenchArgs),
    /// Print a shell completion script.
    Completions(completions::CompletionsArgs),
    /// Mirror topics into a Kafka cluster, exactly once (store-and-forward).
    #[cfg(feature = "mirror")]
    Mirror(crate::commands::mirror::MirrorArgs),
    /// Data contracts: apply, show, diff, status, history of a topic's contract.
    Contract(contract::ContractArgs),
}
