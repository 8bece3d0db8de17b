//! An idempotent producer over the client: every batch carries (producer id,
//! epoch, sequence); a batch whose response was lost (connection cut, timeout)
//! is re-sent with the *same* sequence on a new connection, and the engine
//! answers a retry of an appended batch with the original offsets and
//! `duplicate = true`. So each record is in the log once, end to end through
//! dropped connections. See issue 3 and `design/semantics.md`.

use std::collections::HashMap;
use std::time::Duration;

use millrace::Record;

use crate::client::{Client, ClientError};
use crate::messages::{InitProducer, Produce, Produced, ProducerStamp, Request, Response};

#[derive(Debug, Clone)]
pub struct ProducerOptions {
    /// Re-sends of one batch after a lost response (connection or timeout).
    pub retries_max: u32,
    pub retry_backoff_initial: Duration,
    pub retry_backoff_max: Duration,
}

impl Default for ProducerOptions {
    fn default() -> Self {
        ProducerOptions {
            retries_max: 10,
            retry_backoff_initial: Duration::from_millis(20),
            retry_backoff_max: Duration::from_secs(1),
        }
    }
}

/// One instance of a named producer. Creating it fences earlier instances
/// with the same name (their sends fail with `Fenced`).
#[derive(Debug)]
pub struct Producer {
    client: Client,
    name: String,
    producer_id: u64,
    epoch: u16,
    next_sequences: HashMap<(String, u32), u32>,
    options: ProducerOptions,
}

/// Whether an error means "the request may not have reached the engine, or
/// its answer was lost": safe to re-send with the same sequence.
fn is_lost_response(error: &ClientError) -> bool {
    match error {
        ClientError::Disconnected | ClientError::Io { .. } | ClientError::Timeout(_) => true,
        ClientError::Server(error) => error.code.is_retriable(),
        ClientError::Protocol(_) => false,
    }
}

impl Producer {
    /// Register `name` (or start its next epoch) and learn where each
    /// partition resumes.
    pub async fn init(client: Client, name: &str, options: ProducerOptions) -> Result<Producer, ClientError> {
        let response = client
            .call(Request::InitProducer(InitProducer { name: name.to_string() }))
            .await?;
        let Response::ProducerInit(init) = response else {
            return Err(ClientError::Protocol(format!("unexpected response {response:?}")));
        };
        Ok(Producer {
            client,
            name: name.to_string(),
            producer_id: init.producer_id,
            epoch: init.epoch,
            next_sequences: init
                .sequences
                .into_iter()
                .map(|s| ((s.topic, s.partition), s.next_sequence))
                .collect(),
            options,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn producer_id(&self) -> u64 {
        self.producer_id
    }
    pub fn epoch(&self) -> u16 {
        self.epoch
    }

    /// The sequence the next batch to `(topic, partition)` carries.
    pub fn next_sequence(&self, topic: &str, partition: u32) -> u32 {
        self.next_sequences
            .get(&(topic.to_string(), partition))
            .copied()
            .unwrap_or(0)
    }

    /// Append `records` as one batch, exactly once: retried with the same
    /// sequence while the outcome is unknown. `duplicate` in the result says a
    /// retry found the batch already appended.
    pub async fn send(&mut self, topic: &str, partition: u32, records: Vec<Record>) -> Result<Produced, ClientError> {
        let base_sequence = self.next_sequence(topic, partition);
        let count = u32::try_from(records.len())
            .map_err(|_| ClientError::Protocol("more than 2^32 records in one batch".into()))?;
        let request = Request::Produce(Produce {
            topic: topic.to_string(),
            partition,
            producer: Some(ProducerStamp {
                producer_id: self.producer_id,
                epoch: self.epoch,
                base_sequence,
            }),
            records,
        });
        let mut backoff = self.options.retry_backoff_initial;
        let mut attempt = 0;
        loop {
            match self.client.call(request.clone()).await {
                Ok(Response::Produced(produced)) => {
                    self.next_sequences
                        .insert((topic.to_string(), partition), base_sequence.wrapping_add(count));
                    return Ok(produced);
                }
                Ok(other) => return Err(ClientError::Protocol(format!("unexpected response {other:?}"))),
                Err(error) if is_lost_response(&error) && attempt < self.options.retries_max => {
                    attempt += 1;
                    tracing::debug!(%error, attempt, base_sequence, "produce outcome unknown; re-sending");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(self.options.retry_backoff_max);
                }
                Err(error) => return Err(error),
            }
        }
    }
}
