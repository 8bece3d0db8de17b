//! A pipelining producer for one synchronous thread, over the
//! [`BlockingClient`]'s connection: [`BlockingProducer::send`] writes a
//! `Produce` and returns without waiting for its answer, up to `window`
//! requests in flight; once the window is full, a send first reads the
//! oldest answer and hands it back. One `read` takes in every answer that
//! has arrived, so with a full window the thread sleeps and wakes about once
//! per `read` instead of once per request (design/performance.md, issue 26).
//!
//! Answers come back in the order of the sends (design/protocol.md,
//! "Connection lifecycle", step 5), each with its request id; a refusal by
//! the server (`TopicNotFound`, `NoSpace`, ...) is that answer's `Err` and
//! the connection goes on. A failed connection (an I/O error, a timeout, a
//! frame it cannot read) is dropped with every request in flight on it: the
//! call returns the error, [`BlockingProducer::in_flight`] is 0 after it,
//! and those requests may or may not have been appended (as for any request
//! whose answer was lost; an idempotent producer re-sends with its
//! sequence). The next send opens a new connection, with the
//! [`ClientOptions`](super::ClientOptions)' backoff and attempts.

use std::collections::VecDeque;

use millrace::Record;

use super::blocking::BlockingClient;
use super::connection::ClientError;
use crate::error_code::WireError;
use crate::messages::Produced;

/// The most requests one producer keeps in flight: the protocol's highest
/// `in_flight_max`. Past the server's own `in_flight_max` a request is not
/// refused, it waits in TCP until the server reads it.
pub const WINDOW_MAX: usize = 1000;

/// The answer to one [`BlockingProducer::send`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProduceAnswer {
    pub request_id: u32,
    /// The offsets the records got, or the server's refusal (nothing of that
    /// request was appended).
    pub result: Result<Produced, WireError>,
}

/// See the module documentation.
#[derive(Debug)]
pub struct BlockingProducer {
    client: BlockingClient,
    window: usize,
    /// Request ids written and not yet answered, oldest first; at most `window`.
    in_flight: VecDeque<u32>,
}

impl BlockingProducer {
    /// A producer keeping at most `window` requests in flight on `client`'s
    /// connection (1 is the client's own one request at a time). A window of
    /// 0 or above [`WINDOW_MAX`] is refused (`InvalidInput`).
    pub fn new(client: BlockingClient, window: usize) -> Result<BlockingProducer, ClientError> {
        if !(1..=WINDOW_MAX).contains(&window) {
            return Err(ClientError::Io {
                addr: client.addr(),
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("a producer's window is 1 ..= {WINDOW_MAX} requests, not {window}"),
                ),
            });
        }
        Ok(BlockingProducer {
            client,
            window,
            in_flight: VecDeque::with_capacity(window),
        })
    }

    /// Requests written whose answers were not handed back yet.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Append `records` to one partition (the topic's durability): write the
    /// request (records encoded where they are) and return. With the window
    /// full, first wait for the oldest answer and return it; `None` when no
    /// answer was read. An error means the connection failed: if it failed
    /// while waiting for that answer, this request was not written.
    pub fn send(
        &mut self,
        topic: &str,
        partition: u32,
        records: &[Record],
    ) -> Result<Option<ProduceAnswer>, ClientError> {
        let answer = if self.in_flight.len() >= self.window {
            self.receive()?
        } else {
            None
        };
        match self.client.produce_write(topic, partition, records) {
            Ok(request_id) => self.in_flight.push_back(request_id),
            Err(error) => {
                // The connection is gone with whatever was in flight on it.
                self.in_flight.clear();
                return Err(error);
            }
        }
        Ok(answer)
    }

    /// Wait for the oldest answer in flight; `None` when nothing is.
    pub fn receive(&mut self) -> Result<Option<ProduceAnswer>, ClientError> {
        let Some(&request_id) = self.in_flight.front() else {
            return Ok(None);
        };
        match self.client.produce_read(request_id) {
            Ok(result) => {
                self.in_flight.pop_front();
                Ok(Some(ProduceAnswer { request_id, result }))
            }
            Err(error) => {
                self.in_flight.clear();
                Err(error)
            }
        }
    }

    /// Wait for every answer in flight, handing each to `each` in order.
    pub fn flush(&mut self, mut each: impl FnMut(ProduceAnswer)) -> Result<(), ClientError> {
        while let Some(answer) = self.receive()? {
            each(answer);
        }
        Ok(())
    }

    /// The client back, for requests of other kinds. Answers still in
    /// flight are given up: their connection is closed (the next call opens
    /// a new one), and those requests may or may not have been appended.
    pub fn into_client(mut self) -> BlockingClient {
        if !self.in_flight.is_empty() {
            self.client.disconnect();
        }
        self.client
    }
}
