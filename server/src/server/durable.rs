//! Waiting for `Always` acknowledgements off the request path, the one wait
//! of both fronts.
//!
//! A produce to an `Always` topic is written on the connection's task
//! ([`millrace::Store::append_pending`]: a `write(2)` into the page cache) and
//! its acknowledgement, the fsync that covers it, is awaited here as the
//! engine's future ([`millrace::PendingAppend::acknowledgement`]): the task
//! parks in the partition's group commit and the fsync that covers its batch
//! wakes it directly, with no thread blocked per request and no hand-off to a
//! syncer or blocking-pool thread and back. When no fsync runs on the
//! partition, the polling task leads one itself, on its runtime worker (as a
//! lone producer's wait would): it writes the pending batches and
//! fdatasyncs, and while it does the other producers' waits park and are
//! covered by the next group fsync. A failed fsync wakes every parked wait
//! with the engine's error (the store is poisoned: nothing later is
//! acknowledged). A wait abandoned (a connection closed, a Kafka produce's
//! `timeout_ms` passed) leaves the gate, passing on a turn to lead it had
//! been handed; its batch is covered by the next fsync.
//!
//! A wait that leads an fsync first gathers: it holds the turn until as
//! many produces as the last fsync covered have come back (each wakes it),
//! so sixteen producers share one fsync instead of two alternating halves.
//! The engine has no timer; here one ends a gathering that nobody comes back
//! to (a producer stopped) after [`GATHER_TIMEOUT`].

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use millrace::{ProducerAppend, WaitDurable};

use crate::server::service::{Appended, ServiceError, ServiceResult};

/// Longest a leading wait gathers when no produce comes back to wake it
/// (the engine's own bound, 200 µs, is checked at each arrival). Tokio's
/// timer ticks in milliseconds.
const GATHER_TIMEOUT: Duration = Duration::from_millis(1);

/// The timer of one task's gathering waits: armed when one of them starts
/// gathering, fired ends them all.
struct Gather {
    timer: Pin<Box<tokio::time::Sleep>>,
    armed: bool,
}

impl Gather {
    fn new() -> Self {
        Gather {
            timer: Box::pin(tokio::time::sleep(GATHER_TIMEOUT)),
            armed: false,
        }
    }

    /// Poll `wait`; while it gathers, also the timer, which when it fires
    /// ends the gathering (and `wait` is polled again at once).
    fn poll(&mut self, wait: &mut WaitDurable, cx: &mut Context<'_>) -> Poll<millrace::Result<ProducerAppend>> {
        loop {
            if let Poll::Ready(result) = Pin::new(&mut *wait).poll(cx) {
                return Poll::Ready(result);
            }
            if !wait.is_gathering() {
                return Poll::Pending;
            }
            if !self.armed {
                self.timer.as_mut().reset(tokio::time::Instant::now() + GATHER_TIMEOUT);
                self.armed = true;
            }
            if self.timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.armed = false;
            wait.stop_gathering();
        }
    }
}

/// Until `appended` is acknowledged, or its fsync failed (the engine's error).
pub async fn acknowledged(appended: Appended) -> ServiceResult<ProducerAppend> {
    match appended {
        Appended::Acknowledged(append) => Ok(append),
        Appended::Owed(pending) => {
            let mut wait = pending.acknowledgement();
            // The timer is made only for a wait that gathers.
            let mut gather: Option<Gather> = None;
            std::future::poll_fn(|cx| {
                match Pin::new(&mut wait).poll(cx) {
                    Poll::Ready(result) => return Poll::Ready(result),
                    Poll::Pending if !wait.is_gathering() => return Poll::Pending,
                    Poll::Pending => {}
                }
                gather.get_or_insert_with(Gather::new).poll(&mut wait, cx)
            })
            .await
            .map_err(ServiceError::Engine)
        }
    }
}

/// One owed acknowledgement of [`acknowledged_all`], under the caller's key.
enum Wait {
    Waiting(WaitDurable),
    Done(ServiceResult<ProducerAppend>),
}

/// Until every one of `appended` is acknowledged (or failed), or until
/// `deadline`: each under its key, `None` when not acknowledged by then
/// (its batch is left to the next fsync). The waits run concurrently in
/// the calling task (a request's partitions sync in parallel where other
/// tasks lead their syncs, and one after the other where this task leads
/// them), without a task or thread of their own.
pub async fn acknowledged_all<K>(
    appended: Vec<(K, Appended)>,
    deadline: Option<Instant>,
) -> Vec<(K, Option<ServiceResult<ProducerAppend>>)> {
    let mut waits: Vec<(K, Wait)> = appended
        .into_iter()
        .map(|(key, appended)| {
            let wait = match appended {
                Appended::Acknowledged(append) => Wait::Done(Ok(append)),
                Appended::Owed(pending) => Wait::Waiting(pending.acknowledgement()),
            };
            (key, wait)
        })
        .collect();
    let mut gather: Option<Gather> = None;
    let all = std::future::poll_fn(|cx| {
        let mut waiting = false;
        for (_, wait) in &mut waits {
            if let Wait::Waiting(future) = wait {
                let polled = match Pin::new(&mut *future).poll(cx) {
                    Poll::Pending if future.is_gathering() => gather.get_or_insert_with(Gather::new).poll(future, cx),
                    polled => polled,
                };
                match polled {
                    Poll::Ready(result) => *wait = Wait::Done(result.map_err(ServiceError::Engine)),
                    Poll::Pending => waiting = true,
                }
            }
        }
        if waiting {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    });
    match deadline {
        Some(deadline) => {
            // Timed out: those still waiting are answered `None` below.
            let _ = tokio::time::timeout_at(deadline.into(), all).await;
        }
        None => all.await,
    }
    waits
        .into_iter()
        .map(|(key, wait)| match wait {
            Wait::Done(result) => (key, Some(result)),
            Wait::Waiting(_) => (key, None),
        })
        .collect()
}
