//! The service layer: what serving a store takes whatever the protocol front.
//!
//! A front (the native protocol's [`crate::server::handler`]; a second one,
//! such as a Kafka front, the same way) decodes its requests, calls a
//! [`Service`] method with engine types, and encodes the engine result or the
//! [`ServiceError`] its own way. The service holds everything a front must
//! not copy: the permission checks that depend on the principal (groups,
//! producers, admin-only topics), the limits on requests, the one decision
//! of which appends still owe an fsync ([`Appended`]) and the wait for it
//! ([`crate::server::durable`]), long polls, and the engine calls.
//!
//! What a service method never does: read or write bytes of a protocol, or
//! name a wire type. Per-opcode permissions stay with the front that knows
//! its opcodes ([`crate::auth::PERMISSIONS`] for the native one).

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use millrace::{AppendRecord, PendingAppend, ProducerAppend, Store, TopicConfig};

use crate::metrics::ServerMetrics;

/// Headroom kept in a response frame for the fixed fields of a fetch response.
pub const FETCH_RESPONSE_OVERHEAD_BYTES: u32 = 1024;
/// Long polls wake at least this often to notice a shutdown.
const LONG_POLL_SLICE: Duration = Duration::from_millis(100);
/// Longest reset actor the engine records.
const ACTOR_BYTES_MAX: usize = 255;
/// Open transactions one connection may hold.
pub const TRANSACTIONS_PER_CONNECTION_MAX: usize = 16;
/// The most entries one DLQ listing may ask for.
pub const DLQ_LIST_RECORDS_MAX: u32 = 10_000;
/// Entries one offset commit (in a transaction or not) may carry.
pub const OFFSET_COMMIT_ENTRIES_MAX: usize = 1000;
/// A connection keeps its fetch encoding buffer between fetches up to this
/// capacity (a 4 MiB fetch reuses it; a rare larger one is freed after use).
const FETCH_BUFFER_KEEP_BYTES: usize = 8 * 1024 * 1024;

/// Why the service refused or failed a request. A front maps each to its
/// own error codes (the native one in `server::convert`).
#[derive(Debug)]
pub enum ServiceError {
    /// The engine's error, as it returned it.
    Engine(millrace::Error),
    /// A request outside the server's limits or otherwise malformed.
    InvalidInput(String),
    /// The principal may not do this.
    PermissionDenied(String),
    /// A bug or a lost worker on the server's side.
    Internal(String),
    /// A commit would take the token's reach past its `groups_max`
    /// ([`crate::group_budget`]; the store's own `groups_max` answers
    /// [`millrace::Error::GroupLimit`] instead).
    TokenGroupLimit {
        /// The token's name (`None`: anonymous).
        token: Option<String>,
        /// The group the commit would have added.
        group: String,
        /// The token's limit.
        groups_max: u64,
    },
}

impl From<millrace::Error> for ServiceError {
    fn from(error: millrace::Error) -> Self {
        ServiceError::Engine(error)
    }
}

pub type ServiceResult<T> = Result<T, ServiceError>;

fn invalid(message: impl Into<String>) -> ServiceError {
    ServiceError::InvalidInput(message.into())
}

fn producer_denied() -> ServiceError {
    ServiceError::PermissionDenied("the producer belongs to another token; init a producer of your own".into())
}

fn unknown_transaction(transaction_id: u64) -> ServiceError {
    invalid(format!(
        "transaction {transaction_id} is not open on this connection (transactions are connection-scoped)"
    ))
}

mod dlq;
mod fetch;
mod group_describe;
mod internal_topics;
mod kafka_cluster;
mod kafka_fetch;
mod kafka_groups;
mod kafka_producers;
mod kafka_txn;
mod offsets;
mod registry;
mod session;
mod status;
mod txn;

pub use dlq::RecordFailure;
pub use fetch::{
    fetch_response_bytes, record_bytes_fetchable_max, stored_record_bytes_max, FetchFrom, FetchQuery, FetchScanners,
    FetchSink,
};
pub use group_describe::may_describe_group;
pub use internal_topics::{may_commit_position_on, may_read_topic, read_needs_admin};
pub use kafka_groups::{LiveGroups, LiveMember};
pub use kafka_txn::{KAFKA_EPOCH_MAX, KAFKA_TRANSACTIONAL_PREFIX};
pub use registry::RegistryAccess;
pub use session::Session;
pub use status::{ServerInfo, STATUS_DLQ_ENTRIES_MAX};

/// A written append: acknowledged, or still owed its fsync (an `Always`
/// topic). The one place that decides which: [`Appended::from_pending`].
#[derive(Debug)]
pub enum Appended {
    Acknowledged(ProducerAppend),
    /// Wait with [`Service::acknowledged`] (off the request path) or
    /// [`PendingAppend::wait`] (where blocking is allowed).
    Owed(PendingAppend),
}

impl Appended {
    /// Owed exactly when the engine says the append waits for an fsync
    /// ([`PendingAppend::needs_wait`]: the partition is `Always`).
    fn from_pending(pending: PendingAppend) -> ServiceResult<Appended> {
        if pending.needs_wait() {
            return Ok(Appended::Owed(pending));
        }
        Ok(Appended::Acknowledged(pending.wait()?))
    }

    /// Block until acknowledged.
    pub fn wait(self) -> ServiceResult<ProducerAppend> {
        match self {
            Appended::Acknowledged(append) => Ok(append),
            Appended::Owed(pending) => Ok(pending.wait()?),
        }
    }
}

/// What every request shares: the store and the server's limits and
/// bookkeeping.
#[derive(Debug)]
pub struct Service {
    pub store: Store,
    pub metrics: Arc<ServerMetrics>,
    pub frame_bytes_max: u32,
    pub fetch_wait_max_ms: u32,
    pub shutting_down: Arc<AtomicBool>,
    /// Tokens' `groups_max` ([`crate::group_budget`]).
    pub group_budget: crate::group_budget::GroupBudget,
    /// Groups with live members of the Kafka front's coordinator: resets
    /// and deletes refuse them ([`kafka_groups`]).
    pub kafka_groups: LiveGroups,
    /// Start time and listeners, for `Status` ([`ServerInfo`]).
    pub info: ServerInfo,
}

#[cfg(test)]
impl Service {
    /// A service over `store` with the default limits, for the fronts' unit
    /// tests (one place that knows every field).
    pub(crate) fn for_tests(store: Store) -> Service {
        Service {
            store,
            metrics: Arc::default(),
            frame_bytes_max: 16 * 1024 * 1024,
            fetch_wait_max_ms: 5000,
            shutting_down: Arc::default(),
            group_budget: crate::group_budget::GroupBudget::default(),
            kafka_groups: LiveGroups::default(),
            info: ServerInfo::now(),
        }
    }
}

impl Service {
    pub fn list_topics(&self) -> Vec<String> {
        let mut topics = self.store.list_topics();
        topics.sort();
        topics
    }

    /// User topics after `after` (all when `None`), in byte order.
    pub fn topics_after(&self, after: Option<&str>) -> Vec<String> {
        let mut topics = self.list_topics();
        topics.retain(|t| after.is_none_or(|a| t.as_str() > a));
        topics
    }

    /// The store's counters and gauges.
    pub fn store_metrics(&self) -> millrace::MetricsSnapshot {
        self.store.metrics()
    }

    /// A partition's `[log start, high watermark)`.
    pub fn offsets(&self, topic: &str, partition: u32) -> ServiceResult<(u64, u64)> {
        Ok(self.store.offsets(topic, partition)?)
    }

    /// The first offset whose record's timestamp is at or after
    /// `timestamp_ms`; `None` when every record is older.
    pub fn offset_for_time(&self, topic: &str, partition: u32, timestamp_ms: i64) -> ServiceResult<Option<u64>> {
        Ok(self.store.offset_for_time(topic, partition, timestamp_ms)?)
    }

    pub fn describe_topic(&self, topic: &str) -> ServiceResult<millrace::TopicDescription> {
        Ok(self.store.describe_topic(topic)?)
    }

    /// The topics and partitions that failed to open: `topic`'s, or every
    /// topic's, in (topic, partition) order with a whole topic first.
    /// Internal topics' damage is listed only to admin tokens (reading an
    /// internal topic needs admin; `internal::denied` refuses naming one).
    pub fn damaged(&self, session: &Session, topic: Option<&str>) -> Vec<millrace::Damage> {
        let admin = session.principal.permissions.is_admin();
        let mut damage: Vec<millrace::Damage> = self
            .store
            .damaged()
            .into_iter()
            .filter(|d| {
                let name = damaged_topic(&d.scope);
                topic.is_none_or(|t| t == name) && (admin || !millrace::names::is_internal(name))
            })
            .collect();
        damage.sort_by(|a, b| damage_key(&a.scope).cmp(&damage_key(&b.scope)));
        damage
    }

    /// Create a topic whose records a fetch can return: a `record_bytes_max`
    /// above [`record_bytes_fetchable_max`] is refused when the client set
    /// it (`record_bytes_max_set`); otherwise the default is lowered to it.
    /// The creation is recorded in the store's config change log as asked
    /// for by `actor` (the session's token@peer).
    pub fn create_topic(
        &self,
        actor: &str,
        name: &str,
        mut config: TopicConfig,
        record_bytes_max_set: bool,
    ) -> ServiceResult<()> {
        let fetchable = record_bytes_fetchable_max(self.frame_bytes_max);
        if config.record_bytes_max > fetchable {
            if record_bytes_max_set {
                return Err(invalid(format!(
                    "topic config record_bytes_max = {} does not fit in a fetch response under the server's \
                     frame_bytes_max = {}: at most {fetchable}",
                    config.record_bytes_max, self.frame_bytes_max
                )));
            }
            config.record_bytes_max = fetchable;
        }
        Ok(self.store.create_topic_as(actor, name, config)?)
    }

    /// A new topic's configuration on this server: the engine's defaults,
    /// `record_bytes_max` lowered to what a fetch can return (as
    /// [`Service::create_topic`] does when the client leaves it unset).
    pub fn topic_defaults(&self) -> TopicConfig {
        let mut config = TopicConfig::default();
        config.record_bytes_max = config
            .record_bytes_max
            .min(record_bytes_fetchable_max(self.frame_bytes_max));
        config
    }

    /// Alter a topic's configuration (`Store::alter_topic`): a
    /// `record_bytes_max` a fetch could not return is refused, as at creation.
    /// Both fronts come here; an applied change is recorded in the store's
    /// config change log with `actor` (the session's token@peer), atomically
    /// with it (`Store::alter_topic_as`), and one that moved a key is also
    /// logged at info under the target `millrace::audit` with each key's old
    /// and new value.
    pub fn alter_topic(
        &self,
        actor: &str,
        name: &str,
        changes: &[(String, String)],
        dry_run: bool,
    ) -> ServiceResult<(TopicConfig, TopicConfig)> {
        let fetchable = record_bytes_fetchable_max(self.frame_bytes_max);
        for (key, value) in changes.iter().filter(|(key, _)| key == "record_bytes_max") {
            if value.parse::<u64>().is_ok_and(|v| v > u64::from(fetchable)) {
                return Err(invalid(format!(
                    "topic config {key} = {value} does not fit in a fetch response under the server's \
                     frame_bytes_max = {}: at most {fetchable}",
                    self.frame_bytes_max
                )));
            }
        }
        let (before, after) = self.store.alter_topic_as(actor, name, changes, dry_run)?;
        if !dry_run {
            let moved: Vec<String> = before
                .entries()
                .into_iter()
                .zip(after.entries())
                .filter(|((_, old), (_, new))| old != new)
                .map(|((key, old), (_, new))| format!("{key}: {old} -> {new}"))
                .collect();
            if !moved.is_empty() {
                tracing::info!(
                    target: "millrace::audit",
                    actor,
                    topic = name,
                    changes = %moved.join(", "),
                    "topic configuration altered"
                );
            }
        }
        Ok((before, after))
    }

    /// Delete a topic, recorded in the config change log as asked for by `actor`.
    pub fn delete_topic(&self, actor: &str, topic: &str) -> ServiceResult<()> {
        Ok(self.store.delete_topic_as(actor, topic)?)
    }

    /// At most `max` recorded topic config changes (of `topic`, or of every
    /// topic) above the log offset `after`, with their offsets.
    pub fn config_history_page(
        &self,
        topic: Option<&str>,
        after: Option<u64>,
        max: usize,
    ) -> ServiceResult<Vec<(u64, millrace::ConfigChange)>> {
        Ok(self.store.config_history_page(topic, after, max)?)
    }

    pub fn flush(&self) -> ServiceResult<()> {
        Ok(self.store.flush()?)
    }

    /// Register (or re-register, fencing the old epoch) a producer. A name
    /// under the replay prefix is a replay job's producer (the front checked
    /// the admin permission).
    pub fn init_producer(&self, session: &Session, name: &str) -> ServiceResult<millrace::ProducerSession> {
        let store = &self.store;
        Ok(
            match (
                name.strip_prefix(millrace::names::REPLAY_PREFIX),
                session.producer_owner(),
            ) {
                (Some(job), _) => store.init_replay_producer(job)?,
                (None, None) => store.init_producer(name)?,
                (None, Some(owner)) => store.init_producer_as(name, owner)?.ok_or_else(producer_denied)?,
            },
        )
    }

    /// Can [`Service::append`] run without blocking on the producer check
    /// (the producer, if any, is unregistered or already this principal's)?
    /// Otherwise it may write the producer registry: run it where blocking is
    /// allowed.
    pub fn may_append_inline(&self, session: &Session, producer_id: Option<u64>) -> bool {
        let (Some(producer_id), Some(owner)) = (producer_id, session.producer_owner()) else {
            return true;
        };
        self.store
            .producer_owner(producer_id)
            .is_none_or(|recorded| recorded == owner)
    }

    /// Write a batch. It comes back [`Appended::Owed`] when its
    /// acknowledgement waits for an fsync. `records` are owned or borrowed
    /// from the request ([`AppendRecord`]: the engine encodes them into its
    /// batch from where they are).
    pub fn append<R: AppendRecord>(
        &self,
        session: &Session,
        topic: &str,
        partition: u32,
        records: &[R],
        producer: Option<millrace::ProducerStamp>,
    ) -> ServiceResult<Appended> {
        if let Some(stamp) = producer {
            session.check_producer(&self.store, stamp.producer_id)?;
        }
        self.append_checked(topic, partition, records, producer)
    }

    /// [`Service::append`] after [`Service::may_append_inline`] said the
    /// producer check passes.
    pub fn append_inline<R: AppendRecord>(
        &self,
        topic: &str,
        partition: u32,
        records: &[R],
        producer: Option<millrace::ProducerStamp>,
    ) -> ServiceResult<Appended> {
        self.append_checked(topic, partition, records, producer)
    }

    fn append_checked<R: AppendRecord>(
        &self,
        topic: &str,
        partition: u32,
        records: &[R],
        producer: Option<millrace::ProducerStamp>,
    ) -> ServiceResult<Appended> {
        if records.is_empty() {
            return Err(invalid("produce: records must not be empty"));
        }
        let pending = self.store.append_pending(topic, partition, records, producer)?;
        Appended::from_pending(pending)
    }

    /// Wait, without blocking the caller's thread, until `appended` is
    /// acknowledged or its fsync failed ([`crate::durable`]).
    pub async fn acknowledged(&self, appended: Appended) -> ServiceResult<ProducerAppend> {
        crate::durable::acknowledged(appended).await
    }
}

/// The topic a damaged scope belongs to.
fn damaged_topic(scope: &millrace::DamagedScope) -> &str {
    match scope {
        millrace::DamagedScope::Topic { topic } | millrace::DamagedScope::Partition { topic, .. } => topic,
    }
}

/// (topic, partition) order, a whole topic before its partitions.
fn damage_key(scope: &millrace::DamagedScope) -> (&str, Option<u32>) {
    match scope {
        millrace::DamagedScope::Topic { topic } => (topic, None),
        millrace::DamagedScope::Partition { topic, partition } => (topic, Some(*partition)),
    }
}
