//! What a mirror counts (records and bytes mirrored, transactions, aborts,
//! delivery errors by code, records dropped), its lag per partition, and
//! the two ways out: Prometheus text, and the counters kept with the
//! mirror's positions on the edge (the metadata of its `__mirror.<name>`
//! commits) so that `millrace mirror status` reads them from any process.

use millrace::{Isolation, ReadOptions, Store};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// The counters, cumulative over the mirror's life (restored from the
/// edge at start).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Records delivered (committed transactions, acknowledged batches).
    pub records: u64,
    /// Key and value bytes of those records.
    pub bytes: u64,
    /// Transactions committed (at-least-once: batches acknowledged).
    pub transactions: u64,
    /// Transactions aborted (or batches failed) and sent again.
    pub aborts: u64,
    /// Records the mirror never delivered because they were gone from the
    /// edge (an operator's "drop oldest unmirrored").
    pub dropped: u64,
    /// Delivery and transaction errors by Kafka error name.
    pub errors: BTreeMap<String, u64>,
    /// When these were recorded (ms since the Unix epoch).
    pub at_ms: i64,
    /// The last error a session ended with (or a delivery failed with),
    /// at most [`LAST_ERROR_CHARS`] characters; `None` once a transaction
    /// commits after it.
    #[serde(default)]
    pub last_error: Option<String>,
    /// When `last_error` happened (ms since the Unix epoch).
    #[serde(default)]
    pub last_error_at_ms: i64,
}

/// Longest last error kept with the counters (the metadata of a commit is
/// at most 4096 bytes).
pub const LAST_ERROR_CHARS: usize = 600;

/// One partition's lag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartitionLag {
    pub topic: String,
    pub partition: u32,
    /// The next source offset to deliver.
    pub position: u64,
    /// The edge's last stable offset (what read-committed readers see).
    pub end: u64,
    /// `end - position`.
    pub lag_records: u64,
    /// Age of the oldest undelivered record (0 when none).
    pub lag_seconds: u64,
}

/// A running mirror's live numbers.
#[derive(Debug, Default)]
pub struct MirrorStats {
    records: AtomicU64,
    bytes: AtomicU64,
    transactions: AtomicU64,
    aborts: AtomicU64,
    dropped: AtomicU64,
    errors: Mutex<BTreeMap<String, u64>>,
    lag: Mutex<BTreeMap<(String, u32), PartitionLag>>,
    last_error: Mutex<Option<(String, i64)>>,
    /// The last error librdkafka reported on its own (an authentication
    /// failure, a broker down) since [`MirrorStats::take_client_error`].
    client_error: Mutex<Option<String>>,
    connected: AtomicU64,
}

impl MirrorStats {
    /// Start from counters recorded earlier.
    pub fn restore(&self, c: &Counters) {
        self.records.store(c.records, Relaxed);
        self.bytes.store(c.bytes, Relaxed);
        self.transactions.store(c.transactions, Relaxed);
        self.aborts.store(c.aborts, Relaxed);
        self.dropped.store(c.dropped, Relaxed);
        *self.errors.lock() = c.errors.clone();
        *self.last_error.lock() = c.last_error.clone().map(|e| (e, c.last_error_at_ms));
    }

    pub(crate) fn delivered(&self, records: u64, bytes: u64) {
        *self.last_error.lock() = None;
        self.records.fetch_add(records, Relaxed);
        self.bytes.fetch_add(bytes, Relaxed);
        self.transactions.fetch_add(1, Relaxed);
    }

    pub(crate) fn aborted(&self) {
        self.aborts.fetch_add(1, Relaxed);
    }

    pub(crate) fn dropped(&self, records: u64) {
        self.dropped.fetch_add(records, Relaxed);
    }

    pub(crate) fn error(&self, code: &str, message: String) {
        *self.errors.lock().entry(code.to_string()).or_insert(0) += 1;
        let message: String = message.chars().take(LAST_ERROR_CHARS).collect();
        *self.last_error.lock() = Some((message, millrace::clock::now_ms()));
    }

    /// librdkafka reported an error outside any call (its error callback):
    /// counted by code; the first since the last [`Self::take_client_error`]
    /// is kept to explain the session's own error (the cause comes first: a
    /// refused login is followed by "all brokers down").
    pub(crate) fn client_error(&self, code: &str, message: String) {
        *self.errors.lock().entry(code.to_string()).or_insert(0) += 1;
        self.client_error.lock().get_or_insert(message);
    }

    /// The client error seen since the last call, if any.
    pub(crate) fn take_client_error(&self) -> Option<String> {
        self.client_error.lock().take()
    }

    pub(crate) fn set_connected(&self, connected: bool) {
        self.connected.store(u64::from(connected), Relaxed);
    }

    pub(crate) fn set_lag(&self, lag: Vec<PartitionLag>) {
        let mut map = self.lag.lock();
        for l in lag {
            map.insert((l.topic.clone(), l.partition), l);
        }
    }

    /// The counters now.
    pub fn counters(&self) -> Counters {
        let last_error = self.last_error.lock().clone();
        Counters {
            records: self.records.load(Relaxed),
            bytes: self.bytes.load(Relaxed),
            transactions: self.transactions.load(Relaxed),
            aborts: self.aborts.load(Relaxed),
            dropped: self.dropped.load(Relaxed),
            errors: self.errors.lock().clone(),
            at_ms: millrace::clock::now_ms(),
            last_error_at_ms: last_error.as_ref().map_or(0, |(_, at)| *at),
            last_error: last_error.map(|(e, _)| e),
        }
    }

    /// The lag of every partition last measured.
    pub fn lag(&self) -> Vec<PartitionLag> {
        self.lag.lock().values().cloned().collect()
    }

    /// The last error, if any.
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().as_ref().map(|(e, _)| e.clone())
    }

    /// Prometheus text of mirror `name`.
    pub fn render_prometheus(&self, name: &str) -> String {
        let c = self.counters();
        let mut out = String::new();
        let name = escape(name);
        for (metric, help, value) in [
            (
                "millrace_mirror_records_total",
                "Records delivered to the target.",
                c.records,
            ),
            (
                "millrace_mirror_bytes_total",
                "Key and value bytes delivered to the target.",
                c.bytes,
            ),
            (
                "millrace_mirror_transactions_total",
                "Transactions committed on the target.",
                c.transactions,
            ),
            (
                "millrace_mirror_transaction_aborts_total",
                "Transactions aborted and sent again.",
                c.aborts,
            ),
            (
                "millrace_mirror_dropped_records_total",
                "Records dropped unmirrored by the operator.",
                c.dropped,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {metric} {help}\n# TYPE {metric} counter\n{metric}{{mirror=\"{name}\"}} {value}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP millrace_mirror_connected Whether the mirror's producer is initialised on the target.\n# TYPE millrace_mirror_connected gauge\nmillrace_mirror_connected{{mirror=\"{name}\"}} {}",
            self.connected.load(Relaxed)
        );
        let _ = writeln!(out, "# HELP millrace_mirror_errors_total Delivery and transaction errors by code.\n# TYPE millrace_mirror_errors_total counter");
        for (code, n) in &c.errors {
            let _ = writeln!(
                out,
                "millrace_mirror_errors_total{{mirror=\"{name}\",code=\"{}\"}} {n}",
                escape(code)
            );
        }
        let _ = writeln!(
            out,
            "# HELP millrace_mirror_lag_records Records not yet delivered.\n# TYPE millrace_mirror_lag_records gauge"
        );
        let lag = self.lag();
        for l in &lag {
            let _ = writeln!(
                out,
                "millrace_mirror_lag_records{{mirror=\"{name}\",topic=\"{}\",partition=\"{}\"}} {}",
                escape(&l.topic),
                l.partition,
                l.lag_records
            );
        }
        let _ = writeln!(out, "# HELP millrace_mirror_lag_seconds Age of the oldest record not yet delivered.\n# TYPE millrace_mirror_lag_seconds gauge");
        for l in &lag {
            let _ = writeln!(
                out,
                "millrace_mirror_lag_seconds{{mirror=\"{name}\",topic=\"{}\",partition=\"{}\"}} {}",
                escape(&l.topic),
                l.partition,
                l.lag_seconds
            );
        }
        out
    }
}

fn escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// The counters as kept with the positions (JSON, well under the 4096
/// bytes of metadata a commit carries: error names are few).
pub(crate) fn encode_counters(c: &Counters) -> Vec<u8> {
    let mut bytes = serde_json::to_vec(c).unwrap_or_default();
    if bytes.len() > millrace::offset_table::METADATA_BYTES_MAX {
        let trimmed = Counters {
            errors: BTreeMap::new(),
            last_error: c.last_error.as_ref().map(|e| e.chars().take(200).collect()),
            ..c.clone()
        };
        bytes = serde_json::to_vec(&trimmed).unwrap_or_default();
    }
    bytes
}

/// What `millrace mirror status` shows: the positions recorded on the edge
/// and the lag they leave, and the newest counters recorded with them.
#[derive(Debug, Clone, Serialize)]
pub struct MirrorStatus {
    pub mirror: String,
    pub partitions: Vec<PartitionLag>,
    pub counters: Counters,
}

/// Mirror `mirror`'s status from the edge store alone.
pub fn status(store: &Store, mirror: &str) -> millrace::Result<MirrorStatus> {
    let positions = store.consumer_groups().mirror_positions(mirror)?;
    let mut counters = Counters::default();
    let mut partitions = Vec::new();
    for ((topic, partition), committed) in positions {
        if let Ok(c) = serde_json::from_slice::<Counters>(&committed.metadata) {
            if c.at_ms >= counters.at_ms {
                counters = c;
            }
        }
        match partition_lag(store, &topic, partition, committed.offset) {
            Ok(lag) => partitions.push(lag),
            Err(millrace::Error::TopicNotFound(_) | millrace::Error::PartitionNotFound { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(MirrorStatus {
        mirror: mirror.to_string(),
        partitions,
        counters,
    })
}

/// The lag of one partition at `position`: records up to the last stable
/// offset, and the age of the record at `position`.
pub fn partition_lag(store: &Store, topic: &str, partition: u32, position: u64) -> millrace::Result<PartitionLag> {
    let (start, _) = store.offsets(topic, partition)?;
    let mut oldest = None;
    let marks = store.scan_with_marks(
        topic,
        partition,
        position.max(start),
        ReadOptions {
            max_records: 1,
            max_bytes: 1,
        },
        Isolation::ReadCommitted,
        |r| oldest = Some(r.timestamp_ms),
    )?;
    let end = marks.last_stable_offset;
    let lag_seconds = oldest.filter(|_| position < end).map_or(0, |ts| {
        u64::try_from(millrace::clock::now_ms().saturating_sub(ts) / 1000).unwrap_or(0)
    });
    Ok(PartitionLag {
        topic: topic.to_string(),
        partition,
        position,
        end,
        lag_records: end.saturating_sub(position),
        lag_seconds,
    })
}
