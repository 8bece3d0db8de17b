//! `millrace serve`: run the TCP protocol server (`millrace_server::serve`)
//! until SIGTERM or SIGINT.

use crate::cli::GlobalArgs;
use crate::error::{CliError, CliResult};
use crate::parse;
use clap::Args;
use millrace_server::ServerConfig;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Args)]
#[command(
    after_help = "Settings come from the defaults, then the --config TOML file (unknown keys
are rejected), then these flags. Stops gracefully on SIGTERM or Ctrl-C:
in-flight requests finish, data is fsync'd, the directory lock is released.
Logs go to stderr; set the level with RUST_LOG (e.g. RUST_LOG=debug).

Authentication: tokens are configured only in the --config file ([[tokens]]
with name, token, permissions, groups and groups_max); --token and MILLRACE_TOKEN are
for client commands and are refused here. The start-up line says whether
auth and TLS are on. A --listen address that is not loopback is refused
without tokens or without TLS unless --insecure (or `insecure = true`).

Examples:
  millrace serve
  millrace serve --listen 127.0.0.1:7878 --data /var/lib/millrace --metrics-listen 127.0.0.1:7879
  millrace serve --config /etc/millrace.toml
  millrace serve --durability interval:100 --quota-bytes 20GiB --no-metrics
  millrace serve --kafka-listen 127.0.0.1:9093 --kafka-auto-create-topics
  millrace serve --kafka-listen off"
)]
pub struct ServeArgs {
    /// TOML configuration file (keys as in ServerConfig: listen, data_dir, tokens, ...).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Protocol listener address [default: 127.0.0.1:7878].
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Prometheus metrics listener (GET /metrics) [default: 127.0.0.1:7879].
    #[arg(long, value_name = "ADDR", conflicts_with = "no_metrics")]
    metrics_listen: Option<SocketAddr>,
    /// Do not serve metrics.
    #[arg(long)]
    no_metrics: bool,
    /// Store default durability: always | os | interval:<ms>.
    #[arg(long, value_parser = parse::durability)]
    durability: Option<millrace::Durability>,
    /// Store-wide byte quota (e.g. 20GiB); appends past it are refused.
    #[arg(long, value_parser = parse::bytes, value_name = "SIZE")]
    quota_bytes: Option<u64>,
    /// Serve TLS with this PEM certificate chain (with --tls-key).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Listen on a non-loopback address even without tokens or without TLS.
    #[arg(long)]
    insecure: bool,
    /// Kafka protocol listener address, or `off` [default: 127.0.0.1:9092].
    #[arg(long, value_name = "ADDR|off", value_parser = parse_address_or_off)]
    kafka_listen: Option<KafkaListen>,
    /// HOST:PORT Kafka clients are told to connect to (Metadata) [default:
    /// the bound --kafka-listen address].
    #[arg(long, value_name = "HOST:PORT", value_parser = millrace_server::kafka::front::config::parse_host_port)]
    kafka_advertised: Option<(String, u16)>,
    /// Create a topic the first time a Kafka client's Metadata names it.
    #[arg(long)]
    kafka_auto_create_topics: bool,
    /// Partitions of a topic created by --kafka-auto-create-topics [default: 1].
    #[arg(long, value_name = "N", requires = "kafka_auto_create_topics")]
    kafka_auto_create_partitions: Option<u32>,
    /// Most live idempotent producer ids per token (InitProducerId without a
    /// transactional id) [default: 10000].
    #[arg(long, value_name = "N")]
    kafka_anonymous_producers_max: Option<u32>,
    /// An idle idempotent producer id is forgotten after this long (Kafka's
    /// producer.id.expiration.ms) [default: 86400000, 1 day].
    #[arg(long, value_name = "MS")]
    kafka_producer_id_expiration_ms: Option<u64>,
}

/// `--kafka-listen`: an address, or `None` for `off`.
#[derive(Debug, Clone, Copy)]
struct KafkaListen(Option<SocketAddr>);

fn parse_address_or_off(text: &str) -> Result<KafkaListen, String> {
    if text == "off" {
        return Ok(KafkaListen(None));
    }
    text.parse()
        .map(|addr| KafkaListen(Some(addr)))
        .map_err(|e| format!("{e}; expected host:port (an IP address) or `off`"))
}

/// The configuration `serve` would run with.
fn config(global: &GlobalArgs, args: &ServeArgs) -> CliResult<ServerConfig> {
    let mut config = match &args.config {
        Some(path) => ServerConfig::load(path).map_err(|e| {
            CliError::new(e.to_string()).with_hint("fix the file, or see the accepted keys in design/protocol.md")
        })?,
        // As a file without a [kafka] table: the Kafka front on its default address.
        None => ServerConfig {
            kafka: millrace_server::kafka::front::KafkaConfig::default(),
            ..ServerConfig::default()
        },
    };
    if let Some(data) = &global.data {
        config.data_dir = data.clone();
    }
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if let Some(metrics) = args.metrics_listen {
        config.metrics_listen = Some(metrics);
    }
    if args.no_metrics {
        config.metrics_listen = None;
    }
    if let Some(durability) = args.durability {
        config.durability = durability.to_string();
    }
    if args.quota_bytes.is_some() {
        config.quota_bytes = args.quota_bytes;
    }
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        config.tls_cert_path = Some(cert.clone());
        config.tls_key_path = Some(key.clone());
    }
    if args.insecure {
        config.insecure = true;
    }
    if let Some(KafkaListen(listen)) = args.kafka_listen {
        config.kafka.listen = listen;
    }
    if let Some(advertised) = &args.kafka_advertised {
        config.kafka.advertised = Some(advertised.clone());
    }
    if args.kafka_auto_create_topics {
        config.kafka.auto_create_topics = true;
    }
    if let Some(partitions) = args.kafka_auto_create_partitions {
        config.kafka.auto_create_partitions = partitions;
    }
    if let Some(max) = args.kafka_anonymous_producers_max {
        config.kafka.anonymous_producers_max = max;
    }
    if let Some(ms) = args.kafka_producer_id_expiration_ms {
        config.kafka.producer_id_expiration_ms = ms;
    }
    config.validate().map_err(|e| CliError::usage(e.to_string()))?;
    Ok(config)
}

pub fn run(global: &GlobalArgs, args: ServeArgs) -> CliResult<()> {
    if global.server.is_some() {
        return Err(CliError::usage("`serve` runs a server; it does not take --server"));
    }
    if global.token.is_some() {
        // A token here would look like it configures authentication; it
        // would not. Refuse rather than serve without the auth one expects.
        return Err(CliError::usage(
            "`serve` does not take --token or MILLRACE_TOKEN (they are for client commands); \
             configure tokens as [[tokens]] in the --config file, and unset MILLRACE_TOKEN to start the server",
        ));
    }
    let config = config(global, &args)?;
    crate::output::init_logging("info");
    // The banner comes once the store is open and the ports are bound:
    // before that, "serving" would be a promise the start may still break.
    let data_dir = config.data_dir.clone();
    let security = config.security_summary();
    if security.contains("INSECURE") {
        eprintln!(
            "WARNING: --insecure: {} is reachable from other hosts and this server has {security}",
            config.listen
        );
    }
    let banner = move |handle: &millrace_server::ServerHandle| {
        eprintln!(
            "millrace serving {} on {}{}{} ({security})",
            data_dir.display(),
            handle.local_addr(),
            handle.kafka_addr().map_or(String::new(), |k| format!(", Kafka on {k}")),
            handle
                .metrics_addr()
                .map_or(String::new(), |m| format!(", metrics on http://{m}/metrics"))
        );
    };
    millrace_server::serve(config, banner).map_err(|e| match e {
        millrace_server::ServeError::Store(engine) => CliError::from(engine),
        millrace_server::ServeError::Bind { addr, source } => {
            CliError::new(format!("cannot listen on {addr}: {source}"))
                .with_hint("another process uses that port; pick another with --listen (and --metrics-listen)")
        }
        millrace_server::ServeError::KafkaBind { addr, source } => {
            CliError::new(format!("cannot listen on {addr} for Kafka clients: {source}")).with_hint(
                "another process uses that port; pick another with --kafka-listen, or turn the Kafka front off with --kafka-listen off",
            )
        }
        other => CliError::new(other.to_string()),
    })?;
    eprintln!("millrace server stopped");
    Ok(())
}
