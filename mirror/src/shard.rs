// Over 600 lines: one shard's session loop, batching, commit and edge recording share the session state; splitting it is a refactor of its own.
//! One mirror shard: producers on the target and the partitions whose
//! hash falls to it. A session initialises its producers (fencing an
//! earlier instance), reads the progress, then loops: discover partitions,
//! send a batch in a transaction with its progress records, commit, and
//! record the positions on the edge (retention floors). Exactly once, two
//! transactional producers (lanes) take turns: once batch n's records are
//! acknowledged, batch n+1 is read and sent on one while batch n's commit
//! is in flight on the other, and n+1 is committed only after n's commit
//! succeeded (design/mirror.md, "Two lanes, one order"). A transaction that fails with an abortable error is aborted
//! (with the batch sent behind it) and sent again within the session, from
//! the committed positions (these producers still own the target's
//! progress: nobody moved it). Any other failure, or three abortable ones
//! in a row, ends the session; the shard backs off and starts a new one,
//! which resumes from what the target committed.

use crate::config::{MirrorConfig, Mode};
use crate::error::{MirrorError, Result};
use crate::registry::{RegistryUrl, Translator};
use crate::stats::{encode_counters, partition_lag, MirrorStats};
use crate::target::{self, MirrorProducer};
use millrace::batch::RecordView;
use millrace::{Isolation, ReadOptions, Scanner, Store};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, Producer};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often a session looks for new partitions, operator drops and lag.
const REFRESH: Duration = Duration::from_secs(1);
/// Longest wait for new records before looking again.
const IDLE_WAIT: Duration = Duration::from_millis(100);
/// Longest a waiting shard takes to see that it is stopped (the idle wait
/// and back-offs wait this long at a time): a stop used to wait for the
/// rest of a 100 ms idle wait, which `--exit-when-caught-up` always did.
const STOP_CHECK: Duration = Duration::from_millis(10);
/// Most often a failing shard records its counters and last error on the
/// edge (for `mirror status`).
const ERRORS_RECORD_EVERY: Duration = Duration::from_secs(5);
/// Abortable failures in a row a session retries before it ends.
const ABORTS_IN_SESSION_MAX: u32 = 3;

/// What [`Shard::send_batch`] did.
enum Sent {
    /// Delivered this many records (0: nothing to send).
    Records(u64),
    /// The transaction failed with an abortable error and was aborted;
    /// every source is back at its committed position.
    Aborted(MirrorError),
}
/// Exactly once: how often delivered positions are recorded on the edge
/// while records keep coming (and at once when the mirror is idle or stops).
/// They are a retention floor there, not the truth (the target's progress
/// is), and each record is an fsync of `__offsets`: once per transaction
/// it cost as much as the transaction.
const RECORD_EVERY: Duration = Duration::from_millis(250);

pub(crate) struct Shard {
    pub config: Arc<MirrorConfig>,
    pub shard: u32,
    pub store: Store,
    pub stats: Arc<MirrorStats>,
    pub stop: Arc<AtomicBool>,
    pub selection: regex::Regex,
}

/// A source partition being mirrored.
struct Source {
    target: String,
    /// Delivered (committed) up to here.
    position: u64,
    /// Read up to here (ahead of `position` while a batch is in flight).
    read: u64,
    scanner: Scanner,
}

/// A commit's thread: how long its two steps took, or why it failed.
type Commit = JoinHandle<std::result::Result<(Duration, Duration), KafkaError>>;

/// A batch whose transaction is sent and whose commit runs on its own
/// thread (exactly once), to be settled before the next batch commits.
struct Pending {
    lane: usize,
    moved: Vec<((String, u32), u64)>,
    records: u64,
    bytes: u64,
    /// The commit: how long its two steps took (waiting for the
    /// deliveries, then `commit_transaction`, the EndTxn round trip), or why
    /// it failed.
    commit: Commit,
    /// Signalled once the commit succeeded (dropped unsent if it failed):
    /// the next batch's commit thread waits for it before its EndTxn.
    committed: Option<std::sync::mpsc::Receiver<()>>,
}

/// A batch read from the sources and queued on a producer.
struct Filled {
    /// Its transaction is begun (exactly once).
    open: bool,
    failed: Option<MirrorError>,
    moved: Vec<((String, u32), u64)>,
    records: u64,
    bytes: u64,
}

/// One session's state.
struct Session {
    /// Lane 0's producer (the only one at least once).
    producer: Arc<MirrorProducer>,
    /// Lane 1's producer (exactly once).
    second: Option<Arc<MirrorProducer>>,
    /// The lane of the next batch.
    lane: usize,
    /// The previous batch's commit, in flight on the other lane.
    pending: Option<Pending>,
    progress: BTreeMap<(String, u32), u64>,
    sources: BTreeMap<(String, u32), Source>,
    verified: BTreeSet<String>,
    refreshed: Option<Instant>,
    next_send: Instant,
    rotate: usize,
    /// Schema-id translation (`--registry-to`), its cache per session.
    translator: Option<Translator>,
    /// Delivered positions not yet recorded on the edge, and when the last were.
    unrecorded: BTreeMap<(String, u32), u64>,
    recorded_at: Instant,
}

impl Session {
    /// The producer of `lane` (lane 0's when there is no second).
    fn lane(&self, lane: usize) -> &Arc<MirrorProducer> {
        match (lane, &self.second) {
            (1, Some(second)) => second,
            _ => &self.producer,
        }
    }
}

impl Shard {
    /// Run sessions until stopped (or the store closes).
    pub(crate) fn run(&self) {
        let mut backoff = self.config.backoff_min;
        let mut errors_recorded: Option<Instant> = None;
        while !self.stopped() {
            let began = Instant::now();
            let error = match self.session() {
                Err(MirrorError::Stopped | MirrorError::Store(millrace::Error::Closed)) => return,
                Err(e) => e,
                Ok(()) => return,
            };
            self.stats.set_connected(false);
            // librdkafka's own report (e.g. "SASL authentication error")
            // explains a session error that is often a bare timeout.
            let message = match self.stats.take_client_error() {
                Some(why) => format!("{error} (the connection said: {why})"),
                None => error.to_string(),
            };
            tracing::warn!(mirror = %self.config.name, shard = self.shard, error = %message, ?backoff, "mirror session ended; starting again after a back-off");
            self.stats.error(&error_code(&error), message);
            if errors_recorded.is_none_or(|at| at.elapsed() >= ERRORS_RECORD_EVERY) {
                self.record_counters();
                errors_recorded = Some(Instant::now());
            }
            if began.elapsed() > self.config.backoff_max {
                backoff = self.config.backoff_min;
            }
            self.sleep(backoff);
            backoff = (backoff * 2).min(self.config.backoff_max);
        }
    }

    /// Record the counters (and the last error) on the edge while no
    /// transaction commits, so that `mirror status` shows why: one of this
    /// shard's positions is recorded again, unchanged, with them.
    fn record_counters(&self) {
        let groups = self.store.consumer_groups();
        let Ok(positions) = groups.mirror_positions(&self.config.name) else {
            return;
        };
        let mine: Vec<(String, u32, u64)> = positions
            .into_iter()
            .filter(|((topic, partition), _)| {
                self.config.selects(&self.selection, topic) && self.config.shard_of(topic, *partition) == self.shard
            })
            .map(|((topic, partition), committed)| (topic, partition, committed.offset))
            .take(1)
            .collect();
        if mine.is_empty() {
            return;
        }
        if let Err(e) =
            groups.commit_mirror_positions(&self.config.name, &mine, &encode_counters(&self.stats.counters()))
        {
            tracing::debug!(mirror = %self.config.name, error = %e, "mirror counters not recorded");
        }
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    /// Wait up to [`IDLE_WAIT`] for records past `generation`, waking early
    /// when stopped.
    fn idle(&self, generation: u64) {
        let until = Instant::now() + IDLE_WAIT;
        while !self.stopped() {
            let now = Instant::now();
            if now >= until || self.store.wait_any(generation, until.min(now + STOP_CHECK)) {
                return;
            }
        }
    }

    /// Sleep up to `d`, waking early when stopped.
    fn sleep(&self, d: Duration) {
        let until = Instant::now() + d;
        while !self.stopped() {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            std::thread::sleep(left.min(STOP_CHECK));
        }
    }

    fn session(&self) -> Result<()> {
        let began = Instant::now();
        // Both lanes are initialised (each fencing an earlier instance and
        // aborting its open transaction) before the progress is read; lane
        // 1 on a thread of its own, and the progress topic and this shard's
        // target topics checked (and created) on a third, all at once (each
        // is a few round trips, a topic creation tens of milliseconds).
        let (producer, second, (created, verified)) = std::thread::scope(|scope| {
            let second = (self.config.mode == Mode::ExactlyOnce)
                .then(|| scope.spawn(|| target::producer(&self.config, self.shard, 1, self.stats.clone())));
            let topics = scope.spawn(|| self.prepare_topics());
            let first = target::producer(&self.config, self.shard, 0, self.stats.clone());
            let panicked = |what: &str| MirrorError::Target(format!("the {what} thread panicked"));
            let second = match second.map(std::thread::ScopedJoinHandle::join) {
                None => Ok(None),
                Some(Ok(second)) => second.map(Some),
                Some(Err(_)) => Err(panicked("producer")),
            };
            let topics = topics.join().map_err(|_| panicked("topic"))?;
            let first = first?;
            // With one lane, lane 1 was initialised only to fence an
            // earlier instance's lane 1 (and abort its open transaction).
            let second = second?.filter(|_| self.config.lanes >= 2);
            Ok::<_, MirrorError>((Arc::new(first), second.map(Arc::new), topics?))
        })?;
        let initialised = began.elapsed();
        // A progress topic this session just created holds no progress:
        // reading it would only cost a client's start.
        let progress = match self.config.mode {
            Mode::ExactlyOnce if !created => target::read_progress(&self.config)?,
            Mode::ExactlyOnce | Mode::AtLeastOnce => BTreeMap::new(),
        };
        tracing::debug!(
            mirror = %self.config.name,
            shard = self.shard,
            producers_and_progress_topic_us = initialised.as_micros(),
            progress_read_us = (began.elapsed() - initialised).as_micros(),
            "session initialised"
        );
        self.stats.set_connected(true);
        tracing::info!(mirror = %self.config.name, shard = self.shard, mode = %self.config.mode, partitions_with_progress = progress.len(), "mirror session started");
        let mut session = Session {
            producer,
            second,
            lane: 0,
            pending: None,
            progress,
            sources: BTreeMap::new(),
            verified,
            refreshed: None,
            next_send: Instant::now(),
            rotate: 0,
            translator: match &self.config.registry_to {
                Some(url) => Some(Translator::new(RegistryUrl::parse(url)?, self.config.request_timeout)),
                None => None,
            },
            unrecorded: BTreeMap::new(),
            recorded_at: Instant::now(),
        };
        let result = self.run_session(&mut session);
        // A commit still in flight ends before the producers go.
        if let Err((lane, error)) = self.settle(&mut session) {
            tracing::debug!(mirror = %self.config.name, shard = self.shard, %error, "the last transaction of the session did not commit");
            let _ = session.lane(lane).abort_transaction(self.config.request_timeout);
        }
        // No commit is in flight (settled above): the producers close on a
        // thread of their own (each waits up to 100 ms for its polling
        // thread), so a stop or the next session does not wait for them.
        target::drop_aside((session.producer, session.second));
        tracing::debug!(mirror = %self.config.name, shard = self.shard, "session ended");
        result
    }

    fn run_session(&self, session: &mut Session) -> Result<()> {
        let mut aborts_in_a_row = 0;
        loop {
            if self.stopped() {
                if let Err((lane, error)) = self.settle(session) {
                    let _ = self.abort(session, &[lane], error);
                }
                self.record(session)?;
                return Err(MirrorError::Stopped);
            }
            let generation = self.store.generation();
            match self.step(session)? {
                Sent::Records(0) => {
                    self.record(session)?;
                    self.idle(generation);
                }
                Sent::Records(_) => aborts_in_a_row = 0,
                Sent::Aborted(error) => {
                    aborts_in_a_row += 1;
                    if aborts_in_a_row >= ABORTS_IN_SESSION_MAX {
                        return Err(error);
                    }
                    tracing::warn!(mirror = %self.config.name, shard = self.shard, error = %error, "transaction aborted; sending again from the committed positions");
                    self.stats.error(&error_code(&error), error.to_string());
                    self.sleep(self.config.backoff_min);
                }
            }
        }
    }

    /// Refresh when it is due (after the commit in flight settled: a
    /// refresh may move positions), then send a batch.
    fn step(&self, session: &mut Session) -> Result<Sent> {
        if session.refreshed.is_none_or(|at| at.elapsed() >= REFRESH) {
            if let Err((lane, error)) = self.settle(session) {
                return self.abort(session, &[lane], error);
            }
            self.refresh(session)?;
            session.refreshed = Some(Instant::now());
        }
        self.send_batch(session)
    }

    /// At a session's start: the progress topic exists (exactly once;
    /// `true` when this call created it) and so do the target topics of
    /// this shard's partitions (returned: `Session::verified`), through
    /// one admin client.
    fn prepare_topics(&self) -> Result<(bool, BTreeSet<String>)> {
        let began = Instant::now();
        let admin = target::Admin::new(&self.config)?;
        let created = self.config.mode == Mode::ExactlyOnce && self.ensure_progress_topic(&admin)?;
        let mut verified = BTreeSet::new();
        for topic in self.store.list_all_topics() {
            if !self.config.selects(&self.selection, &topic) {
                continue;
            }
            let Ok(description) = self.store.describe_topic(&topic) else {
                continue;
            };
            let count = description.config.partitions;
            if (0..count).any(|p| self.config.shard_of(&topic, p) == self.shard) {
                let target_topic = self.config.target_topic(&topic);
                self.ensure_target_topic(&admin, &target_topic, count)?;
                verified.insert(target_topic);
            }
        }
        tracing::debug!(mirror = %self.config.name, shard = self.shard, progress_topic_created = created, target_topics = verified.len(), us = began.elapsed().as_micros(), "topics prepared");
        Ok((created, verified))
    }

    /// The progress topic exists; whether this call created it (an
    /// existing one answers `TopicAlreadyExists`: not created here).
    fn ensure_progress_topic(&self, admin: &target::Admin) -> Result<bool> {
        let topic = &self.config.progress_topic;
        if admin.partition_count(topic, self.config.request_timeout)?.is_some() {
            return Ok(false);
        }
        if !self.config.create_topics {
            return Err(MirrorError::Target(format!(
                "progress topic {topic} does not exist; create it (compacted) or allow the mirror to"
            )));
        }
        admin.create_topic(&self.config, topic, 1, true)
    }

    /// Find this shard's partitions, pick up where each stands, follow
    /// operator drops, and measure the lag.
    fn refresh(&self, session: &mut Session) -> Result<()> {
        let groups = self.store.consumer_groups();
        let edge: BTreeMap<(String, u32), u64> = groups
            .mirror_positions(&self.config.name)?
            .into_iter()
            .map(|(key, committed)| (key, committed.offset))
            .collect();
        let mut new_positions = Vec::new();
        for topic in self.store.list_all_topics() {
            if !self.config.selects(&self.selection, &topic) {
                continue;
            }
            let Ok(description) = self.store.describe_topic(&topic) else {
                continue;
            };
            let count = description.config.partitions;
            for partition in 0..count {
                if self.config.shard_of(&topic, partition) != self.shard {
                    continue;
                }
                let key = (topic.clone(), partition);
                if let Some(source) = session.sources.get_mut(&key) {
                    // An operator's drop moved the edge position ahead, or
                    // the records were deleted: skip to what is left.
                    let (start, _) = self.store.offsets(&topic, partition)?;
                    let floor = edge.get(&key).copied().unwrap_or(0).max(start);
                    if floor > source.position {
                        self.skip(&key, source, floor);
                    }
                    continue;
                }
                let target_topic = self.config.target_topic(&topic);
                self.verify_target(session, &target_topic, count)?;
                let (start, high) = self.store.offsets(&topic, partition)?;
                let from_target = session.progress.get(&key).copied().unwrap_or(0);
                let from_edge = edge.get(&key).copied().unwrap_or(0);
                let mut position = from_target.max(from_edge);
                if position > high {
                    tracing::error!(mirror = %self.config.name, topic, partition, position, high, "the target's progress is past the edge's log end (an edge restored from an older copy?): nothing is sent until the edge passes it");
                }
                let scanner = self
                    .store
                    .scanner(&topic, partition, position, Isolation::ReadCommitted)?;
                let mut source = Source {
                    target: target_topic,
                    position,
                    read: position,
                    scanner,
                };
                if start > position {
                    self.skip(&key, &mut source, start);
                    position = start;
                }
                let recorded = position.min(high);
                if edge.get(&key) != Some(&recorded) {
                    new_positions.push((topic.clone(), partition, recorded));
                }
                session.sources.insert(key, source);
            }
        }
        if !new_positions.is_empty() {
            groups.commit_mirror_positions(
                &self.config.name,
                &new_positions,
                &encode_counters(&self.stats.counters()),
            )?;
        }
        let mut lag = Vec::with_capacity(session.sources.len());
        for ((topic, partition), source) in &session.sources {
            if let Ok(l) = partition_lag(&self.store, topic, *partition, source.position) {
                lag.push(l);
            }
        }
        self.stats.set_lag(lag);
        Ok(())
    }

    fn skip(&self, (topic, partition): &(String, u32), source: &mut Source, to: u64) {
        let dropped = to - source.position;
        tracing::warn!(mirror = %self.config.name, topic, partition, from = source.position, to, "records dropped unmirrored (gone from the edge)");
        self.stats.dropped(dropped);
        source.position = to;
        source.read = to;
        source.scanner.seek(to);
    }

    /// The target topic exists (created if allowed) with at least `count`
    /// partitions: a topic that appeared on the edge during the session
    /// (those there at its start were checked by [`Shard::prepare_topics`]).
    fn verify_target(&self, session: &mut Session, topic: &str, count: u32) -> Result<()> {
        if session.verified.contains(topic) {
            return Ok(());
        }
        let admin = target::Admin::new(&self.config)?;
        self.ensure_target_topic(&admin, topic, count)?;
        session.verified.insert(topic.to_string());
        Ok(())
    }

    /// `topic` exists on the target (created if allowed) with at least
    /// `count` partitions.
    fn ensure_target_topic(&self, admin: &target::Admin, topic: &str, count: u32) -> Result<()> {
        let timeout = self.config.request_timeout;
        let began = Instant::now();
        let mut existing = admin.partition_count(topic, timeout)?;
        if existing.is_none() && self.config.create_topics {
            admin.create_topic(&self.config, topic, count, false)?;
            existing = admin.partition_count(topic, timeout)?;
        }
        tracing::debug!(mirror = %self.config.name, shard = self.shard, topic, us = began.elapsed().as_micros(), "target topic verified");
        match existing {
            Some(n) if n >= count => Ok(()),
            Some(n) => Err(MirrorError::Target(format!(
                "topic {topic} has {n} partitions, its source {count}: partitions map 1:1; add partitions on the target"
            ))),
            None => Err(MirrorError::Target(format!(
                "topic {topic} does not exist on the target; create it with {count} partitions or allow the mirror to"
            ))),
        }
    }

    /// Send what is there, up to the batch limits, in one transaction with
    /// its progress records. Exactly once, the transaction's commit is left
    /// running on its lane (settled before the next batch commits, or when
    /// the session idles, refreshes or ends); at least once, the batch is
    /// acknowledged and its positions recorded before this returns.
    /// Returns the records sent.
    fn send_batch(&self, session: &mut Session) -> Result<Sent> {
        self.pace(session);
        // The batch in flight on the other lane must be in the target's
        // logs (every record acknowledged) before this one's first record
        // is sent: a Kafka broker writes a partition in the order records
        // arrive and read-committed consumers read in offset order, so
        // records of this batch sent earlier would come before the other's
        // (its commit, the EndTxn round trip, still overlaps this batch).
        // If the acknowledgements do not come, wait for its commit's outcome.
        if let Some(pending) = &session.pending {
            let other = session.lane(pending.lane).clone();
            if wait_delivered(&other, self.config.request_timeout * 3).is_err() {
                if let Err((lane, e)) = self.settle(session) {
                    return self.abort(session, &[lane], e);
                }
            }
        }
        let lane = session.lane;
        let producer = session.lane(lane).clone();
        let began = Instant::now();
        let filled = self.fill(session, &producer)?;
        let Filled {
            mut open,
            failed,
            moved,
            records,
            bytes,
        } = filled;
        if self.config.mode == Mode::AtLeastOnce {
            if moved.is_empty() && failed.is_none() {
                return Ok(Sent::Records(0));
            }
            let result = match failed {
                Some(e) => Err(e),
                None => self.acknowledge(&producer).map_err(MirrorError::from),
            };
            if let Err(e) = result {
                return self.abort(session, &[], e);
            }
            self.delivered(session, moved, records, bytes)?;
            return Ok(Sent::Records(records));
        }
        if moved.is_empty() && failed.is_none() {
            if open {
                producer.abort_transaction(self.config.request_timeout)?;
            }
            if let Err((lane, e)) = self.settle(session) {
                return self.abort(session, &[lane], e);
            }
            return Ok(Sent::Records(0));
        }
        let sent = match failed {
            Some(e) => Err(e),
            None => self
                .send_progress(&producer, &moved, &mut open)
                .map_err(MirrorError::from),
        };
        let filled_at = Instant::now();
        if let Err(e) = sent {
            // The previous batch's commit (the other lane) settles first.
            if let Err((previous, pe)) = self.settle(session) {
                let lanes: &[usize] = if open { &[previous, lane] } else { &[previous] };
                return self.abort(session, lanes, pe);
            }
            let lanes: &[usize] = if open { &[lane] } else { &[] };
            return self.abort(session, lanes, e);
        }
        // This batch's commit starts now on a thread of its own, but its
        // EndTxn goes only once the previous batch's commit (the other
        // lane) has succeeded: that thread waits for the previous one's
        // signal, so the EndTxns follow each other without a round through
        // this thread (0.9 ms a transaction at load 8, of ~5).
        let after = session.pending.as_mut().and_then(|p| p.committed.take());
        let (commit, committed) = self.start_commit(producer, after);
        let commit = match commit {
            Ok(handle) => handle,
            Err(e) => {
                let error = MirrorError::Config(format!("cannot start a mirror thread: {e}"));
                if let Err((previous, pe)) = self.settle(session) {
                    return self.abort(session, &[previous, lane], pe);
                }
                return self.abort(session, &[lane], error);
            }
        };
        let next = Pending {
            lane,
            moved,
            records,
            bytes,
            commit,
            committed: Some(committed),
        };
        if let Err((previous, e)) = self.settle(session) {
            // This batch's commit did not start (the previous one failed),
            // or it ran (only when the previous commit succeeded and its
            // positions could not be recorded: the edge store closed); the
            // session ends then, and aborting a committed lane fails, which
            // ends it too. Either way it is over before the lanes abort.
            let _ = next.commit.join();
            return self.abort(session, &[previous, lane], e);
        }
        tracing::debug!(
            mirror = %self.config.name,
            shard = self.shard,
            lane,
            records,
            fill_us = filled_at.duration_since(began).as_micros(),
            waited_for_previous_commit_us = filled_at.elapsed().as_micros(),
            "batch sent; its commit started"
        );
        session.pending = Some(next);
        session.lane = if session.second.is_some() { 1 - lane } else { 0 };
        // One lane: the next batch goes on this producer, after this commit.
        if session.second.is_none() {
            if let Err((lane, e)) = self.settle(session) {
                return self.abort(session, &[lane], e);
            }
        }
        Ok(Sent::Records(records))
    }

    /// Start the commit of `producer`'s transaction on a thread of its
    /// own: once `after` (the previous commit's) is signalled, wait for
    /// every record's acknowledgement, then `commit_transaction`; the
    /// receiver returned is signalled when it succeeded.
    fn start_commit(
        &self,
        producer: Arc<MirrorProducer>,
        after: Option<std::sync::mpsc::Receiver<()>>,
    ) -> (std::io::Result<Commit>, std::sync::mpsc::Receiver<()>) {
        let (signal, committed) = std::sync::mpsc::sync_channel::<()>(1);
        let timeout = self.config.request_timeout * 3;
        let commit = std::thread::Builder::new()
            .name(format!("millrace-mirror-{}-commit", self.shard))
            .spawn(move || {
                if let Some(after) = after {
                    // The previous commit failed (its signal dropped unsent):
                    // this one must not commit.
                    after.recv().map_err(|_| KafkaError::Canceled)?;
                }
                let began = Instant::now();
                wait_delivered(&producer, timeout)?;
                let delivered = Instant::now();
                producer.commit_transaction(timeout)?;
                let _ = signal.send(());
                Ok((delivered - began, delivered.elapsed()))
            });
        (commit, committed)
    }

    /// Read up to the batch limits from the sources (taking turns which
    /// comes first) and queue the records on `producer`, beginning its
    /// transaction (exactly once) at the first. A failure to queue stops
    /// the batch (`failed`); a source that cannot be read ends the session.
    fn fill(&self, session: &mut Session, producer: &MirrorProducer) -> Result<Filled> {
        let config = &self.config;
        let mut budget_records = config.batch_records;
        let mut budget_bytes = self.batch_bytes();
        let exactly_once = config.mode == Mode::ExactlyOnce;
        let mut filled = Filled {
            open: false,
            failed: None,
            moved: Vec::new(),
            records: 0,
            bytes: 0,
        };
        let keys: Vec<(String, u32)> = session.sources.keys().cloned().collect();
        let n = keys.len().max(1);
        session.rotate = (session.rotate + 1) % n;
        for i in 0..keys.len() {
            if budget_records == 0 || budget_bytes == 0 || filled.failed.is_some() {
                break;
            }
            let Some(key) = keys.get((session.rotate + i) % n) else {
                continue;
            };
            let Some(source) = session.sources.get_mut(key) else {
                continue;
            };
            let translator = &mut session.translator;
            let store = &self.store;
            let partition = i32::try_from(key.1).unwrap_or(i32::MAX);
            let edge = config.edge_id.as_bytes();
            let (mut count, mut size) = (0u64, 0usize);
            let target = source.target.as_str();
            let (open, failed) = (&mut filled.open, &mut filled.failed);
            let next = match source.scanner.scan(
                ReadOptions {
                    max_records: budget_records,
                    max_bytes: budget_bytes,
                },
                |r| {
                    if failed.is_some() {
                        return;
                    }
                    if exactly_once && !*open {
                        if let Err(e) = producer.begin_transaction() {
                            *failed = Some(e.into());
                            return;
                        }
                        *open = true;
                    }
                    let translated = match translator.as_mut().map(|t| translate(t, store, &r, target, key)) {
                        Some(Err(e)) => return *failed = Some(e),
                        Some(Ok(translated)) => translated,
                        None => (None, None),
                    };
                    size += r.value.len() + r.key.map_or(0, <[u8]>::len);
                    count += 1;
                    if let Err(e) = send(producer, mirrored(&r, &translated, target, partition, edge)) {
                        *failed = Some(e.into());
                    }
                },
            ) {
                Ok(next) => next,
                Err(millrace::Error::TopicNotFound(_) | millrace::Error::PartitionNotFound { .. }) => {
                    // Deleted on the edge: forget it (a topic created again
                    // under the name is found by the next refresh).
                    session.sources.remove(key);
                    continue;
                }
                Err(e) => {
                    if filled.open {
                        let _ = producer.abort_transaction(config.request_timeout);
                    }
                    return Err(e.into());
                }
            };
            // A progress record only for a source this batch moved: one
            // that read nothing new past the batch in flight needs none (that
            // batch's commit carries its position, and commits before this
            // one); before, the batch after the last one was an empty
            // transaction with that progress record again.
            if next > source.read {
                filled.moved.push((key.clone(), next));
                source.read = next;
            }
            filled.records += count;
            filled.bytes += size as u64;
            budget_records = budget_records.saturating_sub(usize::try_from(count).unwrap_or(usize::MAX));
            budget_bytes = budget_bytes.saturating_sub(size);
        }
        Ok(filled)
    }

    /// Wait for the commit in flight (if any); once it succeeded, its
    /// positions are delivered. On failure: the lane whose transaction is
    /// left to abort, and why.
    fn settle(&self, session: &mut Session) -> std::result::Result<(), (usize, MirrorError)> {
        let Some(pending) = session.pending.take() else {
            return Ok(());
        };
        let lane = pending.lane;
        let waited = Instant::now();
        let (acknowledged, end_txn) = match pending.commit.join() {
            Ok(Ok(took)) => took,
            Ok(Err(e)) => return Err((lane, e.into())),
            Err(_) => return Err((lane, MirrorError::Target("the commit thread panicked".to_string()))),
        };
        tracing::debug!(
            mirror = %self.config.name,
            shard = self.shard,
            lane,
            records = pending.records,
            commit_us = (acknowledged + end_txn).as_micros(),
            delivered_us = acknowledged.as_micros(),
            end_txn_us = end_txn.as_micros(),
            joined_after_us = waited.elapsed().as_micros(),
            "transaction committed"
        );
        self.delivered(session, pending.moved, pending.records, pending.bytes)
            .map_err(|e| (lane, e))
    }

    /// A batch failed with `error`: abort the transactions of `lanes`; an
    /// abortable error is sent again in this session, from the committed
    /// positions; anything else ends the session, and the next one starts
    /// from what the target holds.
    fn abort(&self, session: &mut Session, lanes: &[usize], error: MirrorError) -> Result<Sent> {
        self.stats.aborted();
        let mut aborted = true;
        for lane in lanes {
            aborted &= session
                .lane(*lane)
                .abort_transaction(self.config.request_timeout)
                .is_ok();
        }
        if !(aborted && abortable(&error)) {
            return Err(error);
        }
        // Every source read ahead of its committed position: back to it.
        for source in session.sources.values_mut() {
            source.scanner.seek(source.position);
            source.read = source.position;
        }
        session.lane = 0;
        Ok(Sent::Aborted(error))
    }

    /// Most key and value bytes of one batch: the configured limit, and at
    /// most one second's worth under a rate limit.
    fn batch_bytes(&self) -> usize {
        let config = &self.config;
        if config.rate_limit_bytes > 0 {
            config
                .batch_bytes
                .min(usize::try_from(config.rate_limit_bytes).unwrap_or(usize::MAX))
        } else {
            config.batch_bytes
        }
    }

    /// After a commit (or all acknowledgements): the new positions, in
    /// memory and on the edge.
    fn delivered(
        &self,
        session: &mut Session,
        moved: Vec<((String, u32), u64)>,
        records: u64,
        bytes: u64,
    ) -> Result<()> {
        let config = &self.config;
        for (key, next) in &moved {
            if let Some(source) = session.sources.get_mut(key) {
                source.position = *next;
            }
            if config.mode == Mode::ExactlyOnce {
                session.progress.insert(key.clone(), *next);
            }
        }
        self.stats.delivered(records, bytes);
        session.next_send = session.next_send.max(Instant::now()) + self.pace_for(bytes);
        session.unrecorded.extend(moved);
        // At least once, the edge's positions are the truth: at once.
        if config.mode == Mode::AtLeastOnce || session.recorded_at.elapsed() >= RECORD_EVERY {
            self.record(session)?;
        }
        Ok(())
    }

    /// Record the delivered positions on the edge (retention floors).
    fn record(&self, session: &mut Session) -> Result<()> {
        if session.unrecorded.is_empty() {
            return Ok(());
        }
        let config = &self.config;
        let positions: Vec<(String, u32, u64)> = std::mem::take(&mut session.unrecorded)
            .into_iter()
            .map(|((t, p), next)| (t, p, next))
            .collect();
        session.recorded_at = Instant::now();
        // In exactly-once mode the edge's copy of the positions is a
        // retention floor, never the truth (the target's progress is): a
        // failure here loses nothing.
        match self.store.consumer_groups().commit_mirror_positions(
            &config.name,
            &positions,
            &encode_counters(&self.stats.counters()),
        ) {
            Ok(()) => Ok(()),
            Err(millrace::Error::Closed) => Err(MirrorError::Store(millrace::Error::Closed)),
            Err(e) => {
                tracing::warn!(mirror = %config.name, error = %e, "mirror positions not recorded on the edge (retention keeps older records a while longer)");
                Ok(())
            }
        }
    }

    /// Exactly once: queue the progress records of the batch (beginning its
    /// transaction if no record did: the sources moved past records that
    /// are not delivered, such as aborted ones).
    fn send_progress(
        &self,
        producer: &MirrorProducer,
        moved: &[((String, u32), u64)],
        open: &mut bool,
    ) -> std::result::Result<(), KafkaError> {
        if !*open {
            producer.begin_transaction()?;
            *open = true;
        }
        for ((topic, partition), next) in moved {
            let key = target::progress_key(&self.config.edge_id, topic, *partition);
            let value = next.to_string();
            let record = BaseRecord::<[u8], [u8]>::to(&self.config.progress_topic)
                .partition(0)
                .key(key.as_bytes())
                .payload(value.as_bytes());
            send(producer, record)?;
        }
        Ok(())
    }

    /// At least once: every record of the batch acknowledged.
    fn acknowledge(&self, producer: &MirrorProducer) -> std::result::Result<(), KafkaError> {
        let errors_before = self.stats.counters().errors.values().sum::<u64>();
        wait_delivered(producer, self.config.request_timeout * 3)?;
        let errors_after = self.stats.counters().errors.values().sum::<u64>();
        if errors_after > errors_before {
            return Err(KafkaError::MessageProduction(RDKafkaErrorCode::Fail));
        }
        Ok(())
    }

    /// Wait until the rate limit allows the next batch.
    fn pace(&self, session: &Session) {
        let wait = session.next_send.saturating_duration_since(Instant::now());
        if !wait.is_zero() {
            self.sleep(wait);
        }
    }

    fn pace_for(&self, bytes: u64) -> Duration {
        match self.config.rate_limit_bytes {
            0 => Duration::ZERO,
            rate => Duration::from_secs_f64(bytes as f64 / rate as f64),
        }
    }
}

/// A record's key and value with their schema ids translated to the
/// central registry (`None`: unchanged, not in wire format or null).
type Translated = (Option<Vec<u8>>, Option<Vec<u8>>);

/// The metrics label of a session's error.
fn error_code(error: &MirrorError) -> String {
    match error {
        MirrorError::Kafka(e) => e
            .rdkafka_error_code()
            .map_or_else(|| "client".to_string(), |c| format!("{c:?}")),
        MirrorError::Store(_) => "edge_store".to_string(),
        MirrorError::Target(_) => "target".to_string(),
        MirrorError::Schema(_) => "schema".to_string(),
        MirrorError::Config(_) | MirrorError::Stopped => "config".to_string(),
    }
}

/// May the session abort the transaction and send again with the same
/// producer? Yes for an abortable transaction error and a failed delivery;
/// a fatal error (fenced: another instance took over), a schema the edge
/// does not know, anything else ends the session.
fn abortable(error: &MirrorError) -> bool {
    match error {
        MirrorError::Kafka(KafkaError::Transaction(e)) => e.txn_requires_abort() && !e.is_fatal(),
        MirrorError::Kafka(KafkaError::MessageProduction(_)) => true,
        _ => false,
    }
}

fn translate(
    translator: &mut Translator,
    store: &Store,
    r: &RecordView<'_>,
    target: &str,
    (topic, partition): &(String, u32),
) -> Result<Translated> {
    let at = format!("record {topic}/{partition} offset {}", r.offset);
    let key = match r.key {
        Some(k) => translator.translate(store, &format!("{target}-key"), k, &at)?,
        None => None,
    };
    let value = if r.is_null_value() {
        None
    } else {
        translator.translate(store, &format!("{target}-value"), r.value, &at)?
    };
    Ok((key, value))
}

/// The target record of a source record: same partition, key, value (null
/// kept; both with their schema ids translated if `translated` says so),
/// headers and timestamp, plus the provenance headers.
fn mirrored<'a>(
    r: &RecordView<'a>,
    translated: &'a Translated,
    target: &'a str,
    partition: i32,
    edge: &[u8],
) -> BaseRecord<'a, [u8], [u8]> {
    let offset = r.offset.to_string();
    let mut headers = OwnedHeaders::new_with_capacity(2);
    for (name, value) in r.headers_opt() {
        headers = headers.insert(Header { key: name, value });
    }
    headers = headers
        .insert(Header {
            key: "millrace.edge",
            value: Some(edge),
        })
        .insert(Header {
            key: "millrace.source.offset",
            value: Some(offset.as_bytes()),
        });
    let mut record = BaseRecord::<[u8], [u8]>::to(target)
        .partition(partition)
        .timestamp(r.timestamp_ms)
        .headers(headers);
    if let Some(k) = translated.0.as_deref().or(r.key) {
        record = record.key(k);
    }
    if !r.is_null_value() {
        record = record.payload(translated.1.as_deref().unwrap_or(r.value));
    }
    record
}

/// Wait until every queued record is delivered (or failed) and its report
/// served. Not `Producer::flush`: on a `ThreadedProducer` its own poll
/// waits up to 100 ms for an event the polling thread takes first, which
/// made every transaction last at least 100 ms (rdkafka 0.39's
/// `BaseProducer::flush`, also called by `commit_transaction`; with nothing
/// in flight it returns at once).
fn wait_delivered(producer: &MirrorProducer, timeout: Duration) -> std::result::Result<(), KafkaError> {
    let deadline = Instant::now() + timeout;
    while producer.in_flight_count() > 0 {
        if Instant::now() >= deadline {
            return Err(KafkaError::Flush(RDKafkaErrorCode::OperationTimedOut));
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    Ok(())
}

/// Queue one record, waiting while the producer's queue is full.
fn send(producer: &MirrorProducer, mut record: BaseRecord<'_, [u8], [u8]>) -> std::result::Result<(), KafkaError> {
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                record = back;
                std::thread::sleep(Duration::from_millis(1));
            }
            Err((e, _)) => return Err(e),
        }
    }
}
