//! `millrace status --server ADDR`: is the server healthy? Its version,
//! uptime, data directory and listeners, and what makes it unhealthy: a
//! poisoned (read-only) store and why, damaged topics, disk quota use, DLQ
//! depths over a threshold, contract SLA breaches. Exit 0 when healthy, 1
//! when not (or unreachable): usable as a container health check.

use crate::cli::GlobalArgs;
use crate::error::{exit, CliError, CliResult};
use crate::output;
use crate::target::Target;
use clap::Args;
use serde_json::json;

#[derive(Debug, Args)]
#[command(
    after_help = "Unhealthy (exit 1) when: the store is poisoned (every write fails until the
server restarts), a topic or partition failed to open, the disk quota (or a
topic's own --quota-bytes) is used at or above --quota-max-percent, a topic's DLQ holds --dlq-threshold records
or more, or a topic's contract is at its error level (freshness or DLQ depth
past the contract's error threshold, or a contract that failed to load). A
server that cannot be reached is an error (exit 1) too.

Examples:
  millrace status --server 127.0.0.1:7878
  millrace status --server 127.0.0.1:7878 --json
  millrace status --server db1:7878 --dlq-threshold 100   # a container health check"
)]
pub struct StatusArgs {
    /// A topic whose DLQ holds this many records or more is unhealthy.
    #[arg(long, value_name = "N", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    dlq_threshold: u64,
    /// Disk quota use (percent of the server's quota, or of a topic's own) at which it is unhealthy.
    #[arg(long, value_name = "PCT", default_value_t = 95, value_parser = clap::value_parser!(u64).range(1..=100))]
    quota_max_percent: u64,
}

/// The server's answer, read.
struct Status {
    entries: Vec<(String, String)>,
}

impl Status {
    fn get(&self, key: &str) -> Option<&str> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    fn number(&self, key: &str) -> Option<u64> {
        self.get(key).and_then(|v| v.parse().ok())
    }

    /// `(suffix, value)` of every entry named `prefix<suffix>`.
    fn with_prefix<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.entries
            .iter()
            .filter_map(move |(k, v)| k.strip_prefix(prefix).map(|rest| (rest, v.as_str())))
    }

    fn quota_percent(&self) -> Option<f64> {
        let quota = self.number("quota_bytes").filter(|q| *q > 0)?;
        Some(self.number("used_bytes").unwrap_or(0) as f64 * 100.0 / quota as f64)
    }

    /// `(topic, used, quota)` of every topic with its own quota.
    fn topic_quotas(&self) -> Vec<(&str, u64, u64)> {
        self.with_prefix("topic_quota.")
            .filter_map(|(topic, value)| {
                let (used, quota) = value.split_once('/')?;
                Some((topic, used.parse().ok()?, quota.parse().ok()?))
            })
            .collect()
    }

    /// What makes the server unhealthy under these thresholds.
    fn problems(&self, args: &StatusArgs) -> Vec<String> {
        let mut problems = Vec::new();
        if self.get("poisoned") == Some("true") {
            problems.push(format!(
                "store poisoned (read-only until restarted): {}",
                self.get("poison_cause").unwrap_or("cause unknown")
            ));
        }
        if let Some(damaged) = self.number("damaged").filter(|d| *d > 0) {
            problems.push(format!(
                "{damaged} topic(s) or partition(s) failed to open (run `millrace check` on the data directory)"
            ));
        }
        if let Some(percent) = self.quota_percent().filter(|p| *p >= args.quota_max_percent as f64) {
            problems.push(format!(
                "disk quota {percent:.1}% used (at or above {}%)",
                args.quota_max_percent
            ));
        }
        for (topic, used, quota) in self.topic_quotas() {
            let percent = used as f64 * 100.0 / quota.max(1) as f64;
            if percent >= args.quota_max_percent as f64 {
                problems.push(format!(
                    "topic {topic} quota {percent:.1}% used (at or above {}%; raise it with `millrace topic alter {topic} --quota-bytes N`)",
                    args.quota_max_percent
                ));
            }
        }
        for (topic, depth) in self.with_prefix("dlq_depth.") {
            if depth.parse::<u64>().is_ok_and(|d| d >= args.dlq_threshold) {
                problems.push(format!(
                    "DLQ of topic {topic} holds {depth} records (threshold {})",
                    args.dlq_threshold
                ));
            }
        }
        for (topic, breach) in self.with_prefix("contract_sla_breach.") {
            problems.push(format!("contract SLA breached on topic {topic}: {breach}"));
        }
        problems
    }
}

pub fn run(global: &GlobalArgs, args: StatusArgs) -> CliResult<u8> {
    if global.server.is_none() {
        return Err(
            CliError::usage("status asks a running server: give --server ADDR (or MILLRACE_SERVER)")
                .with_hint("offline, `millrace stats` and `millrace check` describe a data directory"),
        );
    }
    let target = Target::open(global)?;
    let Some(entries) = target.server_status()? else {
        return Err(CliError::new("status needs a server connection"));
    };
    target.close()?;
    let status = Status { entries };
    let problems = status.problems(&args);
    let healthy = problems.is_empty();
    if global.json {
        let listeners: serde_json::Map<String, serde_json::Value> = status
            .with_prefix("listen.")
            .map(|(name, addr)| (name.to_string(), json!(addr)))
            .collect();
        let depths: serde_json::Map<String, serde_json::Value> = status
            .with_prefix("dlq_depth.")
            .map(|(topic, depth)| (topic.to_string(), json!(depth.parse::<u64>().ok())))
            .collect();
        let quotas: serde_json::Map<String, serde_json::Value> = status
            .topic_quotas()
            .into_iter()
            .map(|(topic, used, quota)| (topic.to_string(), json!({"used_bytes": used, "quota_bytes": quota})))
            .collect();
        let breaches: serde_json::Map<String, serde_json::Value> = status
            .with_prefix("contract_sla_breach.")
            .map(|(topic, text)| (topic.to_string(), json!(text)))
            .collect();
        output::print_json(&json!({
            "server": global.server,
            "healthy": healthy,
            "problems": problems,
            "version": status.get("version"),
            "uptime_ms": status.number("uptime_ms"),
            "data_dir": status.get("data_dir"),
            "listeners": listeners,
            "poisoned": status.get("poisoned") == Some("true"),
            "poison_cause": status.get("poison_cause"),
            "poison_advice": status.get("poison_advice"),
            "damaged": status.number("damaged"),
            "used_bytes": status.number("used_bytes"),
            "quota_bytes": status.number("quota_bytes"),
            "quota_used_percent": status.quota_percent(),
            "dlq_depths": depths,
            "topic_quotas": quotas,
            "contract_sla_breaches": breaches,
        }))?;
    } else {
        print_text(global, &status, &problems);
    }
    Ok(if healthy { exit::OK } else { exit::ERROR })
}

fn print_text(global: &GlobalArgs, status: &Status, problems: &[String]) {
    println!(
        "server:     {} ({})",
        global.server.as_deref().unwrap_or("-"),
        if problems.is_empty() { "healthy" } else { "UNHEALTHY" }
    );
    println!("version:    {}", status.get("version").unwrap_or("unknown"));
    if let Some(uptime) = status.number("uptime_ms") {
        println!("uptime:     {}", output::duration_ms(Some(uptime - uptime % 1000)));
    }
    println!("data dir:   {}", status.get("data_dir").unwrap_or("unknown"));
    for (name, addr) in status.with_prefix("listen.") {
        println!("listening:  {name} {addr}");
    }
    let used = status.number("used_bytes").unwrap_or(0);
    match (status.number("quota_bytes"), status.quota_percent()) {
        (Some(quota), Some(percent)) => println!(
            "disk:       {} of {} quota ({percent:.1}%)",
            output::bytes(used),
            output::bytes(quota)
        ),
        _ => println!("disk:       {} (no quota)", output::bytes(used)),
    }
    for (topic, used, quota) in status.topic_quotas() {
        println!(
            "topic quota: {topic} {} of {} ({:.1}%)",
            output::bytes(used),
            output::bytes(quota),
            used as f64 * 100.0 / quota.max(1) as f64
        );
    }
    println!(
        "store:      {}",
        if status.get("poisoned") == Some("true") {
            "POISONED (read-only)"
        } else {
            "writable"
        }
    );
    if let Some(advice) = status.get("poison_advice") {
        println!("  what to do: {advice}");
    }
    let depths: Vec<(&str, &str)> = status.with_prefix("dlq_depth.").collect();
    if !depths.is_empty() {
        println!("dead letters:");
        for (topic, depth) in depths {
            println!("  {topic}: {depth}");
        }
    }
    for problem in problems {
        println!("problem:    {problem}");
    }
}
