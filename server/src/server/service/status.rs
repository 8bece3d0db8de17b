//! The server's health in one answer (`Status`, design/protocol.md): what
//! `millrace status --server ADDR` prints and judges. The service only
//! gathers name/value pairs; the front encodes them, the client decides
//! what is unhealthy (its thresholds).

use super::Service;
use std::time::Instant;

/// Most `dlq_depth.<topic>` entries one answer holds (then
/// `dlq_depth_truncated` is `true`): the deepest first.
pub const STATUS_DLQ_ENTRIES_MAX: usize = 1000;

/// What the server knows about itself from its start: when, and the
/// addresses it listens on (`native`, `kafka`, `metrics`, ...).
#[derive(Debug, Clone)]
pub struct ServerInfo {
    pub started: Instant,
    pub started_unix_ms: i64,
    /// (listener name, bound address), in the order they were bound.
    pub listeners: Vec<(String, String)>,
}

impl ServerInfo {
    /// Started now, listening nowhere yet.
    pub fn now() -> ServerInfo {
        ServerInfo {
            started: Instant::now(),
            started_unix_ms: millrace::clock::now_ms(),
            listeners: Vec::new(),
        }
    }

    /// Add a listener (`listen.<name>` in the answer).
    pub fn listening(mut self, name: &str, addr: Option<std::net::SocketAddr>) -> ServerInfo {
        if let Some(addr) = addr {
            self.listeners.push((name.to_string(), addr.to_string()));
        }
        self
    }
}

/// The topics whose contract reports a service level at its error level
/// (freshness or DLQ depth past the error threshold, or a contract that
/// failed to load), one `(topic, text)` each (design/contracts.md).
fn contract_sla_breaches(service: &Service) -> Vec<(String, String)> {
    use millrace::contract::SlaLevel;
    let Ok(statuses) = service.store.contract_status(None) else {
        return Vec::new();
    };
    statuses
        .into_iter()
        .filter(|s| s.worst() == SlaLevel::Error)
        .map(|s| {
            let mut what = Vec::new();
            if let Some(error) = &s.load_error {
                what.push(format!("the contract failed to load: {error}"));
            }
            if s.freshness == SlaLevel::Error {
                what.push(format!(
                    "freshness {}s past the error threshold {}s",
                    s.freshness_age_seconds.unwrap_or(0),
                    s.freshness_thresholds.1.unwrap_or(0)
                ));
            }
            if s.dlq == SlaLevel::Error {
                what.push(format!(
                    "DLQ depth {} past the error threshold {}",
                    s.dlq_depth,
                    s.dlq_thresholds.1.unwrap_or(0)
                ));
            }
            (s.topic, what.join("; "))
        })
        .collect()
}

impl Service {
    /// The `Status` pairs, in a fixed order (design/protocol.md, "Status").
    pub fn status(&self) -> Vec<(String, String)> {
        let info = &self.info;
        let mut out: Vec<(String, String)> = vec![
            ("version".into(), env!("CARGO_PKG_VERSION").into()),
            ("started_at_ms".into(), info.started_unix_ms.to_string()),
            ("uptime_ms".into(), info.started.elapsed().as_millis().to_string()),
            ("data_dir".into(), self.store.path().display().to_string()),
        ];
        for (name, addr) in &info.listeners {
            out.push((format!("listen.{name}"), addr.clone()));
        }
        let cause = self.store.poison_cause();
        out.push(("poisoned".into(), cause.is_some().to_string()));
        if let Some(cause) = cause {
            out.push((
                "poison_cause".into(),
                format!(
                    "{} failed on {}: {} ({:?})",
                    cause.op,
                    cause.path.display(),
                    cause.error,
                    cause.kind
                ),
            ));
            out.push(("poison_advice".into(), cause.advice().to_string()));
            out.push(("poisoned_at_ms".into(), cause.at_unix_ms.to_string()));
        }
        out.push(("used_bytes".into(), self.store.used_bytes().to_string()));
        out.push((
            "quota_bytes".into(),
            self.store
                .options()
                .quota_bytes
                .map_or_else(|| "none".to_string(), |q| q.to_string()),
        ));
        out.push(("damaged".into(), self.store.damaged().len().to_string()));
        let mut depths: Vec<(String, u64)> = self
            .store
            .list_topics()
            .into_iter()
            .filter_map(|topic| {
                let depth = self.store.dlq_stats(&topic).ok()?.depth;
                (depth > 0).then_some((topic, depth))
            })
            .collect();
        depths.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let truncated = depths.len() > STATUS_DLQ_ENTRIES_MAX;
        depths.truncate(STATUS_DLQ_ENTRIES_MAX);
        for (topic, depth) in depths {
            out.push((format!("dlq_depth.{topic}"), depth.to_string()));
        }
        out.push(("dlq_depth_truncated".into(), truncated.to_string()));
        for topic in self.store.list_topics() {
            let Ok(d) = self.store.describe_topic(&topic) else {
                continue;
            };
            if let Some(quota) = d.config.quota_bytes {
                let used: u64 = d.partitions.iter().map(|p| p.bytes).sum();
                out.push((format!("topic_quota.{topic}"), format!("{used}/{quota}")));
            }
        }
        for (topic, breach) in contract_sla_breaches(self) {
            out.push((format!("contract_sla_breach.{topic}"), breach));
        }
        out
    }
}
