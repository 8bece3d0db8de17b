//! The Kafka front's series on the server's Prometheus endpoint (listed in
//! `design/kafka.md`, "Listener and cluster APIs"). Kafka connections are
//! counted in the server-wide `millrace_server_connections_*` series too
//! (they share `connections_max`); these say which of them are Kafka's.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

use crate::kafka::protocol::ApiKey;

/// The error label of a request that closed its connection (malformed,
/// unknown API or version, before SASL, not served).
pub const CLOSED: i16 = i16::MIN;

/// Counters of the Kafka front.
#[derive(Debug, Default)]
pub struct KafkaMetrics {
    pub connections_open: AtomicU64,
    pub connections_accepted: AtomicU64,
    pub connections_rejected: AtomicU64,
    pub request_bytes: AtomicU64,
    pub response_bytes: AtomicU64,
    /// Producer ids handed out by InitProducerId without a transactional id.
    pub producer_ids_issued: AtomicU64,
    /// Such InitProducerIds refused past `anonymous_producers_max` (and
    /// expired ids not taken back for the same reason).
    pub producer_ids_refused: AtomicU64,
    /// Expired producer ids taken back at their client's bumped epoch.
    pub producer_ids_readmitted: AtomicU64,
    /// Live producer ids moved to the epoch their client bumped to.
    pub producer_epochs_bumped: AtomicU64,
    /// Requests by API key (an unknown key counts under its number).
    requests: Mutex<BTreeMap<i16, u64>>,
    /// Errors by API key and Kafka error code ([`CLOSED`]: the request closed
    /// its connection).
    errors: Mutex<BTreeMap<(i16, i16), u64>>,
}

fn api_name(key: i16) -> String {
    ApiKey::from_i16(key).map_or_else(|| format!("unknown_{key}"), |api| format!("{api:?}"))
}

impl KafkaMetrics {
    pub fn record_request(&self, api_key: i16) {
        let api_key = if ApiKey::from_i16(api_key).is_some() {
            api_key
        } else {
            -1
        };
        let mut requests = self.requests.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        *requests.entry(api_key).or_insert(0) += 1;
    }

    /// One error answered (or, with [`CLOSED`], a connection closed) for a
    /// request of `api_key`. Unknown keys are counted under one label, so a
    /// hostile client cannot grow the series.
    pub fn record_error(&self, api_key: i16, code: i16) {
        let api_key = if ApiKey::from_i16(api_key).is_some() {
            api_key
        } else {
            -1
        };
        let mut errors = self.errors.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        *errors.entry((api_key, code)).or_insert(0) += 1;
    }

    /// Requests seen of `api_key` (tests, `Stats`).
    pub fn requests(&self, api_key: i16) -> u64 {
        let requests = self.requests.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        requests.get(&api_key).copied().unwrap_or(0)
    }

    /// Appends the Kafka series in Prometheus text format 0.0.4.
    pub fn render(&self, out: &mut String) {
        let scalars = [
            ("millrace_kafka_connections_open", "gauge", &self.connections_open),
            (
                "millrace_kafka_connections_accepted_total",
                "counter",
                &self.connections_accepted,
            ),
            (
                "millrace_kafka_connections_rejected_total",
                "counter",
                &self.connections_rejected,
            ),
            ("millrace_kafka_request_bytes_total", "counter", &self.request_bytes),
            ("millrace_kafka_response_bytes_total", "counter", &self.response_bytes),
            (
                "millrace_kafka_producer_ids_issued_total",
                "counter",
                &self.producer_ids_issued,
            ),
            (
                "millrace_kafka_producer_ids_refused_total",
                "counter",
                &self.producer_ids_refused,
            ),
            (
                "millrace_kafka_producer_ids_readmitted_total",
                "counter",
                &self.producer_ids_readmitted,
            ),
            (
                "millrace_kafka_producer_epochs_bumped_total",
                "counter",
                &self.producer_epochs_bumped,
            ),
        ];
        for (name, kind, value) in scalars {
            let _ = writeln!(out, "# TYPE {name} {kind}");
            let _ = writeln!(out, "{name} {}", value.load(Relaxed));
        }
        let _ = writeln!(out, "# TYPE millrace_kafka_requests_total counter");
        let requests = self.requests.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        for (key, count) in requests.iter() {
            let _ = writeln!(
                out,
                "millrace_kafka_requests_total{{api=\"{}\"}} {count}",
                api_name(*key)
            );
        }
        drop(requests);
        let _ = writeln!(out, "# TYPE millrace_kafka_errors_total counter");
        let errors = self.errors.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        for ((key, code), count) in errors.iter() {
            let code = if *code == CLOSED {
                "closed".to_string()
            } else {
                code.to_string()
            };
            let _ = writeln!(
                out,
                "millrace_kafka_errors_total{{api=\"{}\",code=\"{code}\"}} {count}",
                api_name(*key)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_per_api_series_and_bounds_unknown_keys() {
        let metrics = KafkaMetrics::default();
        metrics.record_request(ApiKey::Metadata.code());
        metrics.record_request(ApiKey::Metadata.code());
        metrics.record_error(ApiKey::CreateTopics.code(), 38);
        metrics.record_error(999, CLOSED);
        metrics.record_error(998, CLOSED);
        let mut out = String::new();
        metrics.render(&mut out);
        assert!(
            out.contains("millrace_kafka_requests_total{api=\"Metadata\"} 2"),
            "{out}"
        );
        assert!(
            out.contains("millrace_kafka_errors_total{api=\"CreateTopics\",code=\"38\"} 1"),
            "{out}"
        );
        assert!(
            out.contains("millrace_kafka_errors_total{api=\"unknown_-1\",code=\"closed\"} 2"),
            "{out}"
        );
    }
}
