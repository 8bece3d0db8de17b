//! Waiting for `Always` acknowledgements off the request path.
//!
//! A produce to an `Always` topic is written on the connection's task
//! ([`millrace::Store::append_pending`]: a `write(2)` into the page cache) and
//! its acknowledgement, the fsync that covers it, is awaited here: a few
//! threads each take owed waits from their own queue and run them
//! ([`millrace::PendingAppend::wait`], the engine's group commit), and each
//! connection task awaits a oneshot (a wait with no other in progress on
//! its lane runs inline instead, as a lone producer's would). All waits of
//! one partition go to the same thread, which takes everything queued at
//! once: its first wait's fsync covers every batch written before it, and
//! the rest return without one. No thread is blocked per request, so with many producers the
//! server's CPU goes to requests rather than to waking a blocked thread per
//! producer after every fsync; partitions on different threads sync in
//! parallel.

use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};

use millrace::{PendingAppend, ProducerAppend};
use tokio::sync::oneshot;

use crate::server::service::{ServiceError, ServiceResult};

/// Threads running owed waits: more than one so that partitions sync in
/// parallel.
const THREADS: usize = 4;
/// Owed waits a thread takes from the queue at once.
const TAKE_MAX: usize = 256;

type Reply = oneshot::Sender<millrace::Result<ProducerAppend>>;

/// The queues of owed waits and their threads. Dropping the last handle
/// ends each thread once its queue is empty.
#[derive(Debug, Clone)]
pub struct Syncer {
    lanes: Vec<Arc<Lane>>,
}

/// One syncer thread's queue, and how many waits its partitions have in
/// progress (queued or waited inline).
#[derive(Debug)]
struct Lane {
    queue: mpsc::Sender<(PendingAppend, Reply)>,
    waiting: AtomicUsize,
}

/// Counts a wait in progress for as long as it lives (also when the
/// awaiting task is dropped).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Syncer {
    pub fn start() -> std::io::Result<Syncer> {
        let mut lanes = Vec::with_capacity(THREADS);
        for n in 0..THREADS {
            let (queue, owed) = mpsc::channel::<(PendingAppend, Reply)>();
            std::thread::Builder::new()
                .name(format!("millrace-sync-{n}"))
                .spawn(move || run(&owed))?;
            lanes.push(Arc::new(Lane {
                queue,
                waiting: AtomicUsize::new(0),
            }));
        }
        Ok(Syncer { lanes })
    }

    /// Wait, without blocking the caller's thread, until `pending` (an
    /// append to `topic`/`partition` that owes an fsync,
    /// [`crate::server::service::Appended::Owed`]) is acknowledged, or its
    /// fsync failed (the engine's error).
    pub async fn wait(&self, pending: PendingAppend, topic: &str, partition: u32) -> ServiceResult<ProducerAppend> {
        let lost = || ServiceError::Internal("fsync wait failed; see server log".into());
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        (topic, partition).hash(&mut hasher);
        let Some(lane) = self.lanes.get(hasher.finish() as usize % self.lanes.len().max(1)) else {
            return Err(lost());
        };
        let alone = lane.waiting.fetch_add(1, Ordering::AcqRel) == 0;
        let _counted = Waiting(&lane.waiting);
        if alone {
            // Nobody else waits on this lane: wait right here, without the
            // hand-off to a syncer thread and back (two thread wake-ups on a
            // lone producer's latency path).
            let waited = crate::server::blocking::run_blocking(move || pending.wait())
                .await
                .map_err(|_| lost())?;
            return waited.map_err(ServiceError::Engine);
        }
        let (reply, answer) = oneshot::channel();
        let waited = match lane.queue.send((pending, reply)) {
            Ok(()) => answer.await.map_err(|_| lost())?,
            // The threads are gone (not while a handle lives): wait on the blocking pool.
            Err(mpsc::SendError((pending, _))) => tokio::task::spawn_blocking(move || pending.wait())
                .await
                .map_err(|_| lost())?,
        };
        waited.map_err(ServiceError::Engine)
    }
}

fn run(owed: &mpsc::Receiver<(PendingAppend, Reply)>) {
    loop {
        let Ok(first) = owed.recv() else {
            return;
        };
        let batch: Vec<(PendingAppend, Reply)> = std::iter::once(first)
            .chain(owed.try_iter().take(TAKE_MAX - 1))
            .collect();
        // The first wait's fsync covers every batch written before it: the
        // later waits of the same partition return without another fsync.
        for (pending, reply) in batch {
            let _ = reply.send(pending.wait());
        }
    }
}
