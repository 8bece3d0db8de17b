//! `PendingAppend::acknowledgement`, the async wait for an `Always`
//! append's fsync (what the server awaits instead of blocking a thread):
//! a wait polled while another's group fsync runs parks its task's waker in
//! the group commit, and the end of that fsync wakes it directly, with the
//! acknowledgement when the fsync covered its batch (no fsync of its own),
//! with the failure when the fsync failed (the store is poisoned), or with
//! the turn to lead the next fsync when its batch came too late; a wait
//! dropped with that turn passes it on. Each test runs a hook inside the
//! leader's fsync (`FaultyStorage::during_next_segment_sync`) so that the
//! other waits are polled exactly while it runs.

use crate::common;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use common::{scratch_dir, FaultKind, FaultOp, FaultyStorage};
use millrace::{Durability, Error, PendingAppend, Record, Store, StoreOptions, TopicConfig, WaitDurable};

/// A waker that counts its wake-ups.
#[derive(Default)]
struct Counted(AtomicUsize);

impl Wake for Counted {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A wait and the waker it is polled with.
struct Task {
    wait: WaitDurable,
    woken: Arc<Counted>,
}

impl Task {
    fn new(pending: PendingAppend) -> Task {
        Task {
            wait: pending.acknowledgement(),
            woken: Arc::default(),
        }
    }

    fn poll(&mut self) -> Poll<millrace::Result<millrace::ProducerAppend>> {
        let waker = Waker::from(self.woken.clone());
        Pin::new(&mut self.wait).poll(&mut Context::from_waker(&waker))
    }

    fn wakes(&self) -> usize {
        self.woken.0.load(Ordering::SeqCst)
    }
}

fn open(dir: &std::path::Path, storage: &FaultyStorage) -> Store {
    let options = StoreOptions {
        durability: Durability::Always,
        ..StoreOptions::default()
    };
    let store = Store::open_with_storage(dir, options, Arc::new(storage.clone())).unwrap();
    store.create_topic("t", TopicConfig::with_partitions(1)).unwrap();
    store
}

fn pending(store: &Store, value: &[u8]) -> PendingAppend {
    store
        .append_pending("t", 0, &[Record::new(value.to_vec())], None)
        .unwrap()
}

fn visible(store: &Store) -> u64 {
    store.offsets("t", 0).unwrap().1
}

/// Tasks polled inside the leader's fsync, handed back to the test.
type Parked = Arc<Mutex<Vec<Task>>>;

/// During the next segment fsync: poll a wait for each of `tasks` (a new
/// append when `append` says so, else the given pending one) and keep it.
fn poll_during_sync(storage: &FaultyStorage, tasks: Vec<Task>) -> Parked {
    let parked: Parked = Arc::default();
    let keep = parked.clone();
    storage.during_next_segment_sync(move || {
        for mut task in tasks {
            assert!(task.poll().is_pending(), "a sync is running: the wait parks");
            keep.lock().unwrap().push(task);
        }
    });
    parked
}

#[test]
fn a_parked_wait_is_woken_by_the_fsync_that_covers_it() {
    let dir = scratch_dir();
    let storage = FaultyStorage::default();
    let store = open(dir.path(), &storage);
    let mut leader = Task::new(pending(&store, b"a"));
    let covered = Task::new(pending(&store, b"b"));
    let parked = poll_during_sync(&storage, vec![covered]);
    storage.count_only();
    // The leader's fsync covers both batches (both written before it).
    assert_eq!(leader.poll().map(|r| r.unwrap().next_offset), Poll::Ready(1));
    assert_eq!(storage.count(FaultOp::SyncData), 1);
    let mut covered = parked.lock().unwrap().pop().expect("polled during the fsync");
    assert_eq!(covered.wakes(), 1, "the end of the fsync woke the parked task");
    let acked = covered.poll().map(|r| r.unwrap());
    assert_eq!(acked.map(|a| (a.base_offset, a.next_offset)), Poll::Ready((1, 2)));
    assert_eq!(storage.count(FaultOp::SyncData), 1, "covered: no fsync of its own");
    assert_eq!(visible(&store), 2);
}

#[test]
fn a_parked_wait_is_woken_with_the_failure_of_the_fsync() {
    let dir = scratch_dir();
    let storage = FaultyStorage::default();
    let store = open(dir.path(), &storage);
    store.append("t", 0, &[Record::new(b"acked".to_vec())]).unwrap();
    let mut leader = Task::new(pending(&store, b"a"));
    let parked = poll_during_sync(&storage, vec![Task::new(pending(&store, b"b"))]);
    storage.arm(FaultOp::SyncData, 0, FaultKind::Eio);
    assert!(matches!(leader.poll(), Poll::Ready(Err(Error::Io { .. }))));
    let mut other = parked.lock().unwrap().pop().expect("polled during the fsync");
    assert_eq!(other.wakes(), 1, "the failed fsync woke the parked task");
    assert!(
        matches!(other.poll(), Poll::Ready(Err(Error::Poisoned))),
        "nothing is acknowledged after a failed fsync"
    );
    assert!(store.is_poisoned());
    assert_eq!(visible(&store), 1, "the unacknowledged batches never became visible");
}

#[test]
fn a_wait_dropped_with_the_turn_to_lead_passes_it_on() {
    let dir = scratch_dir();
    let storage = FaultyStorage::default();
    let store = open(dir.path(), &storage);
    let mut leader = Task::new(pending(&store, b"a"));
    // Appended while the leader's fsync runs: after its snapshot, so not
    // covered by it; each parks.
    let parked: Parked = Arc::default();
    let (keep, during) = (parked.clone(), store.clone());
    storage.during_next_segment_sync(move || {
        for value in [b"b", b"c"] {
            let mut task = Task::new(pending(&during, value));
            assert!(task.poll().is_pending(), "a sync is running: the wait parks");
            keep.lock().unwrap().push(task);
        }
    });
    assert!(leader.poll().is_ready());
    let mut tasks = std::mem::take(&mut *parked.lock().unwrap());
    let mut last = tasks.pop().expect("c");
    let next_leader = tasks.pop().expect("b");
    assert_eq!(
        next_leader.wakes(),
        1,
        "the first uncovered wait is handed the next turn"
    );
    assert_eq!(last.wakes(), 0, "the other sleeps on");
    assert_eq!(visible(&store), 1);
    // The connection of `b` closes: its wait is dropped unfinished.
    drop(next_leader);
    assert_eq!(last.wakes(), 1, "the turn passed on to the other waiter");
    storage.count_only();
    // It leads, and first gathers: the last fsync covered one produce,
    // which does not come back. The caller's timer ends the gathering.
    if last.poll().is_pending() {
        assert!(last.wait.is_gathering());
        last.wait.stop_gathering();
    }
    let acked = last.poll().map(|r| r.unwrap().next_offset);
    assert_eq!(acked, Poll::Ready(3), "it led the fsync that covers both batches");
    assert_eq!(storage.count(FaultOp::SyncData), 1);
    assert_eq!(visible(&store), 3);
}

#[test]
fn a_wait_with_no_fsync_running_leads_one_when_polled() {
    let dir = scratch_dir();
    let storage = FaultyStorage::default();
    let store = open(dir.path(), &storage);
    let mut task = Task::new(pending(&store, b"a"));
    storage.count_only();
    assert_eq!(task.poll().map(|r| r.unwrap().next_offset), Poll::Ready(1));
    assert_eq!(storage.count(FaultOp::SyncData), 1);
    assert_eq!(task.wakes(), 0, "led its own fsync: never parked");
    // Not `Always`: acknowledged on the first poll, without an fsync.
    store
        .create_topic(
            "os",
            TopicConfig {
                durability: Some(Durability::Os),
                ..TopicConfig::with_partitions(1)
            },
        )
        .unwrap();
    let os = store
        .append_pending("os", 0, &[Record::new(b"x".to_vec())], None)
        .unwrap();
    storage.count_only();
    assert_eq!(Task::new(os).poll().map(|r| r.unwrap().next_offset), Poll::Ready(1));
    assert_eq!(storage.count(FaultOp::SyncData), 0);
}

/// Two appends covered by one fsync, then a third whose wait leads the next
/// fsync and, expecting the two back, gathers: `Pending`, its task asleep
/// until a wait parks behind it. Returns the end of its batch (its `next_offset`) and that wait; `None` when the
/// leader did not wait (the thread was preempted past the gathering's idle
/// limit between the two looks).
fn gathering_leader(store: &Store) -> Option<(u64, Task)> {
    gathering_leader_after(store, 2)
}

/// As [`gathering_leader`], after `covered` appends covered by one fsync.
fn gathering_leader_after(store: &Store, covered: usize) -> Option<(u64, Task)> {
    let mut tasks: Vec<Task> = (0..covered).map(|_| Task::new(pending(store, b"a"))).collect();
    let mut end = 0;
    for (i, task) in tasks.iter_mut().enumerate() {
        match task.poll() {
            Poll::Ready(Ok(acked)) => end = acked.next_offset,
            other => panic!("wait {i}: led or covered by the first fsync: {other:?}"),
        }
    }
    let mut leader = Task::new(pending(store, b"c"));
    match leader.poll() {
        Poll::Pending => {
            assert!(leader.wait.is_gathering());
            assert_eq!(leader.wakes(), 0, "asleep until an arrival");
            Some((end + 1, leader))
        }
        Poll::Ready(result) => {
            result.unwrap();
            None
        }
    }
}

/// Issue 26: a gathering leader is woken once for the appenders it expects,
/// not at each arrival (each wake-up is a task poll, often on the other
/// runtime worker).
#[test]
fn an_async_leader_is_woken_once_for_the_appenders_it_expects() {
    let dir = scratch_dir();
    let storage = FaultyStorage::default();
    let store = open(dir.path(), &storage);
    // The last fsync covered four: the leader is one of them back, and
    // waits for the three others.
    let (end, mut leader) = (0..100)
        .find_map(|_| gathering_leader_after(&store, 4))
        .expect("a leader that expects four appenders back waits for them");
    let mut back: Vec<Task> = Vec::new();
    for i in 0..2 {
        let mut task = Task::new(pending(&store, b"d"));
        assert!(task.poll().is_pending(), "arrival {i} parks behind the leader");
        back.push(task);
        if leader.wakes() > 0 {
            // Past the gathering's time bound (a preempted thread): the
            // arrival woke it to sync; nothing more to check here.
            assert!(leader.poll().is_ready());
            return;
        }
    }
    let mut last = Task::new(pending(&store, b"e"));
    assert!(last.poll().is_pending());
    assert_eq!(leader.wakes(), 1, "the third arrival woke the leader, once");
    storage.count_only();
    assert_eq!(leader.poll().map(|r| r.unwrap().next_offset), Poll::Ready(end));
    assert_eq!(storage.count(FaultOp::SyncData), 1, "one fsync for the four");
    back.push(last);
    for task in &mut back {
        assert_eq!(task.wakes(), 1, "the leader's fsync covered it");
        assert!(matches!(task.poll(), Poll::Ready(Ok(_))));
    }
    assert_eq!(visible(&store), end + 3);
}

#[test]
fn an_async_leader_gathers_the_appenders_the_last_fsync_acknowledged() {
    let dir = scratch_dir();
    let storage = FaultyStorage::default();
    let store = open(dir.path(), &storage);
    let (end, mut leader) = (0..100)
        .find_map(|_| gathering_leader(&store))
        .expect("a leader that expects two appenders back waits for them");
    // One of the two comes back: its wait parks behind the settling leader.
    let mut back = Task::new(pending(&store, b"d"));
    assert!(back.poll().is_pending(), "the leader holds the turn: the wait parks");
    assert_eq!(back.wakes(), 0);
    assert_eq!(leader.wakes(), 1, "the arrival woke the gathering leader");
    storage.count_only();
    // The second comes back: the leader syncs both with its own batch.
    let mut last = Task::new(pending(&store, b"e"));
    assert!(last.poll().is_pending());
    assert_eq!(leader.poll().map(|r| r.unwrap().next_offset), Poll::Ready(end));
    assert_eq!(storage.count(FaultOp::SyncData), 1, "one fsync for the three");
    for task in [&mut back, &mut last] {
        assert_eq!(task.wakes(), 1, "the leader's fsync covered it");
        assert!(matches!(task.poll(), Poll::Ready(Ok(_))));
    }
    assert_eq!(storage.count(FaultOp::SyncData), 1);
    assert_eq!(visible(&store), end + 2);
}

#[test]
fn a_wait_dropped_while_it_gathers_passes_the_turn_on() {
    let dir = scratch_dir();
    let storage = FaultyStorage::default();
    let store = open(dir.path(), &storage);
    let (end, leader) = (0..100)
        .find_map(|_| gathering_leader(&store))
        .expect("a leader that expects two appenders back waits for them");
    let mut other = Task::new(pending(&store, b"d"));
    assert!(other.poll().is_pending(), "the leader holds the turn: the wait parks");
    // The leader's connection closes before it synced.
    drop(leader);
    assert_eq!(other.wakes(), 1, "the turn passed on to the parked wait");
    storage.count_only();
    let acked = other.poll().map(|r| r.unwrap().next_offset);
    assert_eq!(acked, Poll::Ready(end + 1), "it led the fsync that covers both batches");
    assert_eq!(storage.count(FaultOp::SyncData), 1);
    assert_eq!(visible(&store), end + 1);
}

#[test]
fn a_gathering_leader_stopped_by_its_callers_timer_syncs_what_was_written() {
    let dir = scratch_dir();
    let storage = FaultyStorage::default();
    let store = open(dir.path(), &storage);
    let (end, mut leader) = (0..100)
        .find_map(|_| gathering_leader(&store))
        .expect("a leader that expects two appenders back waits for them");
    // Nobody comes back (the producers stopped): the caller's timer fires.
    storage.count_only();
    leader.wait.stop_gathering();
    assert_eq!(leader.poll().map(|r| r.unwrap().next_offset), Poll::Ready(end));
    assert_eq!(storage.count(FaultOp::SyncData), 1);
    assert_eq!(visible(&store), end);
}
