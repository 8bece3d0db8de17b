//! Server counters and the Prometheus text exposition (engine metrics plus
//! connection, request, latency and error counters).

// Over 600 lines: one Prometheus exposition (engine, fronts, pipeline, contracts); splitting the contract series out is an open item.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Duration;

use millrace::metrics::FSYNC_BUCKETS_US;
use millrace::MetricsSnapshot;

use crate::error_code::ErrorCode;
use crate::messages::{Opcode, Stat};

/// Upper bounds (microseconds) of the request latency buckets.
pub const LATENCY_BUCKETS_US: [u64; 14] = [
    50,
    100,
    250,
    500,
    1_000,
    2_500,
    5_000,
    10_000,
    25_000,
    50_000,
    100_000,
    500_000,
    1_000_000,
    u64::MAX,
];

#[derive(Debug, Default)]
struct OpcodeMetrics {
    requests: AtomicU64,
    latency_micros_total: AtomicU64,
    latency_buckets: [AtomicU64; LATENCY_BUCKETS_US.len()],
}

#[derive(Debug)]
pub struct ServerMetrics {
    pub connections_open: AtomicU64,
    pub connections_accepted: AtomicU64,
    pub connections_rejected: AtomicU64,
    pub frames_malformed: AtomicU64,
    pub request_bytes: AtomicU64,
    pub response_bytes: AtomicU64,
    /// Times the server gave memory back after a quiet spell.
    pub idle_memory_releases: AtomicU64,
    /// `Hello`s refused for a missing or unknown token (with their back-off).
    pub failed_authentications: crate::auth::FailedAuthentications,
    /// Fetches whose response waited for `response_buffered_bytes_max`.
    pub fetches_waiting_for_budget: AtomicU64,
    /// Per-group and per-topic series the last scrape left out
    /// (`metrics_series_max`), and their sum over every scrape.
    series_dropped_last: AtomicU64,
    series_dropped_total: AtomicU64,
    per_opcode: Vec<OpcodeMetrics>,
    errors: Mutex<BTreeMap<u16, u64>>,
    /// The Kafka front's series (`millrace_kafka_*`).
    pub kafka: crate::kafka::front::metrics::KafkaMetrics,
    /// Series of what runs beside the server in-process (`[[mirror]]`).
    pub extra: ExtraSeries,
}

/// Renderers of series from outside the server (the mirrors `millrace
/// serve` runs): each appends its Prometheus text to every scrape.
#[derive(Default)]
pub struct ExtraSeries(Mutex<Vec<Box<dyn Fn() -> String + Send + Sync>>>);

impl std::fmt::Debug for ExtraSeries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ExtraSeries")
    }
}

impl ExtraSeries {
    /// Add a renderer.
    pub fn add(&self, render: Box<dyn Fn() -> String + Send + Sync>) {
        if let Ok(mut list) = self.0.lock() {
            list.push(render);
        }
    }

    /// Every renderer's text, in the order they were added.
    pub fn render(&self) -> String {
        self.0
            .lock()
            .map(|list| list.iter().map(|render| render()).collect())
            .unwrap_or_default()
    }
}

impl Default for ServerMetrics {
    fn default() -> Self {
        ServerMetrics {
            connections_open: AtomicU64::new(0),
            connections_accepted: AtomicU64::new(0),
            connections_rejected: AtomicU64::new(0),
            frames_malformed: AtomicU64::new(0),
            request_bytes: AtomicU64::new(0),
            response_bytes: AtomicU64::new(0),
            idle_memory_releases: AtomicU64::new(0),
            failed_authentications: crate::auth::FailedAuthentications::default(),
            fetches_waiting_for_budget: AtomicU64::new(0),
            series_dropped_last: AtomicU64::new(0),
            series_dropped_total: AtomicU64::new(0),
            per_opcode: Opcode::ALL.iter().map(|_| OpcodeMetrics::default()).collect(),
            errors: Mutex::new(BTreeMap::new()),
            kafka: crate::kafka::front::metrics::KafkaMetrics::default(),
            extra: ExtraSeries::default(),
        }
    }
}

fn opcode_index(opcode: Opcode) -> Option<usize> {
    Opcode::ALL.iter().position(|o| *o == opcode)
}

impl ServerMetrics {
    pub fn record_request(&self, opcode: Opcode, latency: Duration) {
        let Some(m) = opcode_index(opcode).and_then(|i| self.per_opcode.get(i)) else {
            return;
        };
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        m.requests.fetch_add(1, Relaxed);
        m.latency_micros_total.fetch_add(micros, Relaxed);
        let bucket = LATENCY_BUCKETS_US
            .iter()
            .position(|b| micros <= *b)
            .unwrap_or(LATENCY_BUCKETS_US.len() - 1);
        if let Some(b) = m.latency_buckets.get(bucket) {
            b.fetch_add(1, Relaxed);
        }
    }

    /// Grows with every request or response byte and every accepted
    /// connection: unchanged over a period means the server was idle.
    pub fn activity(&self) -> u64 {
        self.request_bytes.load(Relaxed) + self.response_bytes.load(Relaxed) + self.connections_accepted.load(Relaxed)
    }

    /// A scrape left `dropped` series out.
    pub fn note_series_dropped(&self, dropped: u64) {
        self.series_dropped_last.store(dropped, Relaxed);
        self.series_dropped_total.fetch_add(dropped, Relaxed);
    }

    pub fn record_error(&self, code: ErrorCode) {
        let mut errors = self.errors.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        *errors.entry(code.code()).or_insert(0) += 1;
    }

    /// Counters for the `Stats` response.
    pub fn stats(&self, engine: &MetricsSnapshot) -> Vec<Stat> {
        let stat = |name: &str, value: u64| Stat {
            name: name.to_string(),
            value,
        };
        let mut out = vec![
            stat("millrace_append_batches_total", engine.append_batches),
            stat("millrace_append_records_total", engine.append_records),
            stat("millrace_append_bytes_total", engine.append_bytes),
            stat("millrace_fetch_records_total", engine.fetch_records),
            stat("millrace_fetch_bytes_total", engine.fetch_bytes),
            stat("millrace_read_batches_verified_total", engine.read_batches_verified),
            stat("millrace_read_batches_resumed_total", engine.read_batches_resumed),
            stat("millrace_fsyncs_total", engine.fsyncs),
            stat("millrace_fsync_micros_total", engine.fsync_micros_total),
            stat("millrace_segments_rolled_total", engine.segments_rolled),
            stat("millrace_segments_deleted_total", engine.segments_deleted),
            stat("millrace_quota_rejections_total", engine.quota_rejections),
            stat("millrace_torn_tails_truncated_total", engine.torn_tails_truncated),
            stat("millrace_offset_holes_total", engine.offset_holes),
            stat(
                "millrace_transaction_parts_unapplied_total",
                engine.transaction_parts_unapplied,
            ),
            stat(
                "millrace_derived_metadata_rejected_total",
                engine.derived_metadata_rejected,
            ),
            stat("millrace_group_commit_spins_total", engine.group_commit_spins),
            stat(
                "millrace_group_commit_spin_handoffs_total",
                engine.group_commit_spin_handoffs,
            ),
            stat("millrace_no_space_rejections_total", engine.no_space_rejections),
            stat("millrace_store_poisoned", u64::from(engine.poisoned.is_some())),
            stat("millrace_used_bytes", engine.used_bytes),
            stat("millrace_server_connections_open", self.connections_open.load(Relaxed)),
            stat(
                "millrace_server_connections_accepted_total",
                self.connections_accepted.load(Relaxed),
            ),
            stat(
                "millrace_server_connections_rejected_total",
                self.connections_rejected.load(Relaxed),
            ),
            stat(
                "millrace_server_frames_malformed_total",
                self.frames_malformed.load(Relaxed),
            ),
            stat("millrace_server_request_bytes_total", self.request_bytes.load(Relaxed)),
            stat(
                "millrace_server_response_bytes_total",
                self.response_bytes.load(Relaxed),
            ),
            stat(
                "millrace_server_idle_memory_releases_total",
                self.idle_memory_releases.load(Relaxed),
            ),
            stat(
                "millrace_server_authentication_failures_total",
                self.failed_authentications.total.load(Relaxed),
            ),
            stat(
                "millrace_server_fetches_waiting_for_budget_total",
                self.fetches_waiting_for_budget.load(Relaxed),
            ),
            stat(METRICS_SERIES_DROPPED, self.series_dropped_last.load(Relaxed)),
            stat(
                "millrace_metrics_series_dropped_total",
                self.series_dropped_total.load(Relaxed),
            ),
        ];
        if let Some(quota) = engine.quota_bytes {
            out.push(stat("millrace_quota_bytes", quota));
        }
        if let Some(cause) = &engine.poisoned {
            out.push(stat("millrace_store_poisoned_timestamp_ms", cause.at_unix_ms));
            out.push(stat(&poison_info_name(cause), 1));
        }
        out
    }

    /// Prometheus text exposition format 0.0.4.
    pub fn render_prometheus(&self, engine: &MetricsSnapshot) -> String {
        let mut out = String::new();
        for s in self.stats(engine) {
            let kind = if s.name.ends_with("_total") { "counter" } else { "gauge" };
            let family = s.name.split('{').next().unwrap_or_default();
            let _ = writeln!(out, "# TYPE {family} {kind}");
            let _ = writeln!(out, "{} {}", s.name, s.value);
        }
        // fsync latency histogram from the engine.
        let _ = writeln!(out, "# TYPE millrace_fsync_seconds histogram");
        let mut cumulative = 0u64;
        for (bound, count) in FSYNC_BUCKETS_US.iter().zip(&engine.fsync_buckets) {
            cumulative += count;
            let _ = writeln!(
                out,
                "millrace_fsync_seconds_bucket{{le=\"{}\"}} {cumulative}",
                le(*bound)
            );
        }
        let _ = writeln!(
            out,
            "millrace_fsync_seconds_sum {}",
            engine.fsync_micros_total as f64 / 1e6
        );
        let _ = writeln!(out, "millrace_fsync_seconds_count {}", engine.fsyncs);
        // Request latency per opcode.
        let _ = writeln!(out, "# TYPE millrace_server_request_seconds histogram");
        for (opcode, m) in Opcode::ALL.iter().zip(&self.per_opcode) {
            let count = m.requests.load(Relaxed);
            if count == 0 {
                continue;
            }
            let mut cumulative = 0u64;
            for (bound, bucket) in LATENCY_BUCKETS_US.iter().zip(&m.latency_buckets) {
                cumulative += bucket.load(Relaxed);
                let _ = writeln!(
                    out,
                    "millrace_server_request_seconds_bucket{{opcode=\"{opcode:?}\",le=\"{}\"}} {cumulative}",
                    le(*bound)
                );
            }
            let _ = writeln!(
                out,
                "millrace_server_request_seconds_sum{{opcode=\"{opcode:?}\"}} {}",
                m.latency_micros_total.load(Relaxed) as f64 / 1e6
            );
            let _ = writeln!(
                out,
                "millrace_server_request_seconds_count{{opcode=\"{opcode:?}\"}} {count}"
            );
        }
        let _ = writeln!(out, "# TYPE millrace_server_errors_total counter");
        let errors = self.errors.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        for (code, count) in errors.iter() {
            let name = format!("{:?}", ErrorCode::from_code(*code));
            let _ = writeln!(
                out,
                "millrace_server_errors_total{{code=\"{code}\",name=\"{name}\"}} {count}"
            );
        }
        drop(errors);
        self.kafka.render(&mut out);
        out
    }
}

/// Series the last scrape left out past `metrics_series_max` (a gauge).
pub const METRICS_SERIES_DROPPED: &str = "millrace_metrics_series_dropped";

/// Per-group lag and per-topic DLQ gauges, read from the engine at scrape
/// time, at most `series_max` series of them (lag first, in group order,
/// then DLQ depth and age by topic); returns the text and how many series
/// were left out (committed offsets and DLQ depths not shown). The cost is
/// linear in the groups and topics, and past the cap only counts entries.
pub fn render_pipeline_gauges(store: &millrace::Store, series_max: usize) -> (String, u64) {
    let mut out = String::new();
    let mut shown = 0usize;
    let mut dropped = 0u64;
    let _ = writeln!(out, "# TYPE millrace_consumer_lag gauge");
    let mut failed = 0u64;
    match store.groups() {
        Ok(groups) => {
            for group in groups {
                if shown >= series_max {
                    // Past the cap: count what is left out, without the lag work.
                    match store.group_offsets(&group) {
                        Ok(entries) => dropped += entries.len() as u64,
                        Err(_) => failed += 1,
                    }
                    continue;
                }
                match store.consumer_lag(&group) {
                    Ok(lags) => {
                        for lag in lags {
                            if shown >= series_max {
                                dropped += 1;
                                continue;
                            }
                            shown += 1;
                            let _ = writeln!(
                                out,
                                "millrace_consumer_lag{{group=\"{}\",topic=\"{}\",partition=\"{}\"}} {}",
                                escape(&group),
                                escape(&lag.topic),
                                lag.partition,
                                lag.lag
                            );
                        }
                    }
                    Err(_) => failed += 1,
                }
            }
        }
        Err(_) => failed += 1,
    }
    let _ = writeln!(out, "# TYPE millrace_dlq_depth gauge");
    let mut ages = String::new();
    for topic in store.list_topics() {
        if shown >= series_max {
            dropped += 1;
            continue;
        }
        match store.dlq_stats(&topic) {
            Ok(stats) => {
                shown += 1;
                let _ = writeln!(
                    out,
                    "millrace_dlq_depth{{topic=\"{}\"}} {}",
                    escape(&topic),
                    stats.depth
                );
                if let Some(age_ms) = stats.oldest_age_ms {
                    // An age goes with its depth (not counted apart).
                    let _ = writeln!(
                        ages,
                        "millrace_dlq_oldest_age_seconds{{topic=\"{}\"}} {}",
                        escape(&topic),
                        age_ms as f64 / 1e3
                    );
                }
            }
            Err(_) => failed += 1,
        }
    }
    let _ = writeln!(out, "# TYPE millrace_dlq_oldest_age_seconds gauge");
    out.push_str(&ages);
    let (contract, _, contract_dropped) = render_contract_adherence(store, series_max.saturating_sub(shown));
    out.push_str(&contract);
    dropped += contract_dropped;
    match store.contract_status(None) {
        Ok(statuses) => render_contract_gauges(&statuses, &mut out),
        Err(_) => failed += 1,
    }
    let _ = writeln!(out, "# TYPE millrace_metrics_read_errors gauge");
    let _ = writeln!(out, "millrace_metrics_read_errors {failed}");
    (out, dropped)
}

/// The contracts' adherence counters (`Checks::adherence_all`, contract/check.rs):
/// `millrace_contract_records_total{topic,result}` (result: valid, warn, dlq,
/// reject), `millrace_contract_violations_total{topic,rule,action}` and the
/// histogram `millrace_contract_validation_seconds{topic}`. At most
/// `series_max` topics; returns the text, the topics shown and those left out.
pub fn render_contract_adherence(store: &millrace::Store, series_max: usize) -> (String, usize, u64) {
    let all = store.record_checks().adherence_all();
    let (shown, left_out) = all.split_at(all.len().min(series_max));
    let mut records = String::from("# TYPE millrace_contract_records_total counter\n");
    let mut violations = String::from("# TYPE millrace_contract_violations_total counter\n");
    let mut seconds = String::from("# TYPE millrace_contract_validation_seconds histogram\n");
    for (topic, a) in shown {
        let topic = escape(topic);
        for (result, count) in a.by_result() {
            let _ = writeln!(
                records,
                "millrace_contract_records_total{{topic=\"{topic}\",result=\"{result}\"}} {count}"
            );
        }
        for (rule, action, count) in &a.violations {
            let _ = writeln!(
                violations,
                "millrace_contract_violations_total{{topic=\"{topic}\",rule=\"{}\",action=\"{}\"}} {count}",
                escape(rule),
                action.as_str()
            );
        }
        let mut cumulative = 0u64;
        for (bound, count) in millrace::contract::check::VALIDATION_BUCKETS_SECONDS
            .iter()
            .zip(&a.validation_buckets)
        {
            cumulative += count;
            let le = if bound.is_infinite() {
                "+Inf".to_string()
            } else {
                bound.to_string()
            };
            let _ = writeln!(
                seconds,
                "millrace_contract_validation_seconds_bucket{{topic=\"{topic}\",le=\"{le}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            seconds,
            "millrace_contract_validation_seconds_sum{{topic=\"{topic}\"}} {}",
            a.validation_seconds_total
        );
        let _ = writeln!(
            seconds,
            "millrace_contract_validation_seconds_count{{topic=\"{topic}\"}} {cumulative}"
        );
    }
    records.push_str(&violations);
    records.push_str(&seconds);
    (records, shown.len(), left_out.len() as u64)
}

/// The contracts' gauges (design/contracts.md "Rules"): freshness age, SLA
/// breaches per level (freshness, DLQ depth, a contract that failed to
/// load), the version in force, and the windowed rules' measures. One
/// series per topic with a contract, per level and per windowed rule: at
/// most 32 windowed rules per contract.
pub fn render_contract_gauges(statuses: &[millrace::contract::ContractStatus], out: &mut String) {
    use millrace::contract::SlaLevel;
    let _ = writeln!(out, "# TYPE millrace_contract_version gauge");
    for s in statuses {
        let _ = writeln!(
            out,
            "millrace_contract_version{{topic=\"{}\"}} {}",
            escape(&s.topic),
            s.version.unwrap_or(0)
        );
    }
    let _ = writeln!(out, "# TYPE millrace_contract_freshness_seconds gauge");
    for s in statuses {
        if let Some(age) = s.freshness_age_seconds {
            let _ = writeln!(
                out,
                "millrace_contract_freshness_seconds{{topic=\"{}\"}} {age}",
                escape(&s.topic)
            );
        }
    }
    let _ = writeln!(out, "# TYPE millrace_contract_sla_breached gauge");
    for s in statuses {
        let worst = s.freshness.max(s.dlq).max(if s.load_error.is_some() {
            SlaLevel::Error
        } else {
            SlaLevel::Unknown
        });
        for (level, at) in [("warn", SlaLevel::Warn), ("error", SlaLevel::Error)] {
            let _ = writeln!(
                out,
                "millrace_contract_sla_breached{{topic=\"{}\",level=\"{level}\"}} {}",
                escape(&s.topic),
                u8::from(worst >= at)
            );
        }
    }
    let _ = writeln!(out, "# TYPE millrace_contract_dlq_depth gauge");
    for s in statuses.iter().filter(|s| s.version.is_some()) {
        let _ = writeln!(
            out,
            "millrace_contract_dlq_depth{{topic=\"{}\"}} {}",
            escape(&s.topic),
            s.dlq_depth
        );
    }
    let _ = writeln!(out, "# TYPE millrace_contract_dlq_depth_threshold gauge");
    for s in statuses {
        let (warn, error) = s.dlq_thresholds;
        for (level, threshold) in [("warn", warn), ("error", error)] {
            if let Some(threshold) = threshold {
                let _ = writeln!(
                    out,
                    "millrace_contract_dlq_depth_threshold{{topic=\"{}\",level=\"{level}\"}} {threshold}",
                    escape(&s.topic)
                );
            }
        }
    }
    let _ = writeln!(out, "# TYPE millrace_contract_dlq_breached gauge");
    for s in statuses.iter().filter(|s| s.dlq != SlaLevel::Unknown) {
        for (level, at) in [("warn", SlaLevel::Warn), ("error", SlaLevel::Error)] {
            let _ = writeln!(
                out,
                "millrace_contract_dlq_breached{{topic=\"{}\",level=\"{level}\"}} {}",
                escape(&s.topic),
                u8::from(s.dlq >= at)
            );
        }
    }
    let _ = writeln!(out, "# TYPE millrace_contract_uniqueness_violations_total counter");
    for s in statuses {
        for w in s.windows.iter().filter(|w| w.kind == "uniqueness") {
            let _ = writeln!(
                out,
                "millrace_contract_uniqueness_violations_total{{topic=\"{}\",rule=\"{}\"}} {}",
                escape(&s.topic),
                escape(&w.rule),
                w.duplicates_total
            );
        }
    }
    let _ = writeln!(out, "# TYPE millrace_contract_completeness_ratio gauge");
    for s in statuses {
        for w in s.windows.iter().filter(|w| w.kind == "completeness") {
            if let Some(ratio) = w.completeness_ratio {
                let _ = writeln!(
                    out,
                    "millrace_contract_completeness_ratio{{topic=\"{}\",rule=\"{}\"}} {ratio}",
                    escape(&s.topic),
                    escape(&w.rule)
                );
            }
        }
    }
}

/// Name of the stat that says why the store is poisoned, Prometheus "info"
/// style (the strings are labels, the value is 1):
/// `millrace_store_poison_info{op="...",kind="...",path="...",error="...",advice="..."}`.
pub const POISON_INFO: &str = "millrace_store_poison_info";

fn poison_info_name(cause: &millrace::PoisonCause) -> String {
    format!(
        "{POISON_INFO}{{op=\"{}\",kind=\"{:?}\",path=\"{}\",error=\"{}\",advice=\"{}\"}}",
        escape(&cause.op),
        cause.kind,
        escape(&cause.path.display().to_string()),
        escape(&cause.error),
        escape(cause.advice())
    )
}

/// The labels of a stat named `family{name="value",...}` (escapes undone);
/// `None` if `name` is not of that family or does not parse.
pub fn stat_labels(name: &str, family: &str) -> Option<Vec<(String, String)>> {
    let mut rest = name.strip_prefix(family)?.strip_prefix('{')?.chars();
    let mut labels = Vec::new();
    loop {
        let mut key = String::new();
        loop {
            match rest.next()? {
                '}' if key.is_empty() => return rest.next().is_none().then_some(labels),
                '=' => break,
                c => key.push(c),
            }
        }
        if rest.next()? != '"' {
            return None;
        }
        let mut value = String::new();
        loop {
            match rest.next()? {
                '\\' => match rest.next()? {
                    'n' => value.push('\n'),
                    c => value.push(c),
                },
                '"' => break,
                c => value.push(c),
            }
        }
        labels.push((key, value));
        match rest.next()? {
            ',' => {}
            '}' => return rest.next().is_none().then_some(labels),
            _ => return None,
        }
    }
}

/// Label values: backslash, double quote and newline escaped (exposition format).
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn le(bound_us: u64) -> String {
    if bound_us == u64::MAX {
        "+Inf".into()
    } else {
        format!("{}", bound_us as f64 / 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poison_info_labels_round_trip_through_escaping() {
        let cause = millrace::PoisonCause {
            op: "fsync segment".into(),
            path: std::path::PathBuf::from("/d/a \"b\"\\c\nd.log"),
            kind: std::io::ErrorKind::StorageFull,
            error: "No space left on device (os error 28)".into(),
            at_unix_ms: 5,
        };
        let labels = stat_labels(&poison_info_name(&cause), POISON_INFO).unwrap();
        let get = |key: &str| labels.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
        assert_eq!(get("op"), Some("fsync segment"));
        assert_eq!(get("kind"), Some("StorageFull"));
        assert_eq!(get("path"), Some("/d/a \"b\"\\c\nd.log"));
        assert_eq!(get("error"), Some("No space left on device (os error 28)"));
        assert_eq!(get("advice"), Some(cause.advice()));
        assert_eq!(stat_labels("millrace_used_bytes", POISON_INFO), None);
        assert_eq!(stat_labels(&format!("{POISON_INFO}{{op=\"x\""), POISON_INFO), None);
    }
}
