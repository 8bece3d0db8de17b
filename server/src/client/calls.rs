//! The [`Client`]'s typed calls for topics, produce, fetch, stats and
//! flush: each builds its request, sends it with [`Client::call`] and takes
//! its response apart (the consumer-group, transaction and DLQ calls are in
//! `api`, the listings in `listing`). The connection itself is in
//! `connection`.

use std::time::Duration;

use millrace::Record;

use super::connection::{Client, ClientError, Pending};
use crate::messages::{
    encode_produce_into, AlterTopic, ConfigEntry, CreateTopic, DamageReport, DescribeDamage, Fetch, Fetched, Isolation,
    Position, Produce, Produced, Request, Response, Stat, TopicAltered, TopicDescription, TopicName,
};

impl Client {
    pub(super) fn unexpected(response: Response) -> ClientError {
        ClientError::Protocol(format!("unexpected response {response:?}"))
    }

    pub(super) async fn call_empty(&self, request: Request) -> Result<(), ClientError> {
        match self.call(request).await? {
            Response::Empty => Ok(()),
            other => Err(Client::unexpected(other)),
        }
    }

    pub async fn ping(&self) -> Result<(), ClientError> {
        self.call_empty(Request::Ping).await
    }

    /// Create a topic; `config` pairs are the engine's `TopicConfig` keys.
    pub async fn create_topic(&self, name: &str, partitions: u32, config: &[(&str, &str)]) -> Result<(), ClientError> {
        self.call_empty(Request::CreateTopic(CreateTopic {
            name: name.to_string(),
            partitions,
            config: config
                .iter()
                .map(|(key, value)| ConfigEntry {
                    key: key.to_string(),
                    value: value.to_string(),
                })
                .collect(),
        }))
        .await
    }

    pub async fn delete_topic(&self, name: &str) -> Result<(), ClientError> {
        self.call_empty(Request::DeleteTopic(TopicName { name: name.to_string() }))
            .await
    }

    /// Every user topic, sorted, however many: walks `ListTopicsPage`
    /// ([`Client::topic_pages`]).
    pub async fn list_topics(&self) -> Result<Vec<String>, ClientError> {
        self.topic_pages().all().await
    }

    pub async fn describe_topic(&self, name: &str) -> Result<TopicDescription, ClientError> {
        match self
            .call(Request::DescribeTopic(TopicName { name: name.to_string() }))
            .await?
        {
            Response::TopicDescription(description) => Ok(description),
            other => Err(Client::unexpected(other)),
        }
    }

    /// The topics and partitions that failed to open (`DescribeDamage`):
    /// `topic`'s, or every topic's. A server older than this request
    /// answers `UnknownOpcode` and closes the connection: call it last.
    pub async fn describe_damage(&self, topic: Option<&str>) -> Result<DamageReport, ClientError> {
        match self
            .call(Request::DescribeDamage(DescribeDamage {
                topic: topic.map(str::to_string),
            }))
            .await?
        {
            Response::Damage(report) => Ok(report),
            other => Err(Client::unexpected(other)),
        }
    }

    /// Append `records` as one batch (not idempotent).
    pub async fn produce(&self, topic: &str, partition: u32, records: Vec<Record>) -> Result<Produced, ClientError> {
        match self
            .call(Request::Produce(Produce {
                topic: topic.to_string(),
                partition,
                producer: None,
                records,
            }))
            .await?
        {
            Response::Produced(produced) => Ok(produced),
            other => Err(Client::unexpected(other)),
        }
    }

    /// As [`Client::produce`], the records encoded where they are (no copy
    /// of them is made to build the request).
    pub async fn produce_from(&self, topic: &str, partition: u32, records: &[Record]) -> Result<Produced, ClientError> {
        let response = self
            .send_encoded(
                Duration::ZERO,
                |out, request_id| encode_produce_into(out, request_id, topic, partition, records),
                Pending::Decoded,
            )
            .await?;
        match response?.map_err(ClientError::Server)? {
            Response::Produced(produced) => Ok(produced),
            other => Err(Client::unexpected(other)),
        }
    }

    /// Fetch with every field given.
    pub async fn fetch_with(&self, fetch: Fetch) -> Result<Fetched, ClientError> {
        match self.call(Request::Fetch(fetch)).await? {
            Response::Fetched(fetched) => Ok(fetched),
            other => Err(Client::unexpected(other)),
        }
    }

    /// Fetch from `offset`, up to 1 MiB, waiting up to `max_wait` for a first record.
    pub async fn fetch(
        &self,
        topic: &str,
        partition: u32,
        offset: u64,
        max_wait: Duration,
    ) -> Result<Fetched, ClientError> {
        self.fetch_with(Fetch {
            topic: topic.to_string(),
            partition,
            position: Position::Offset(offset),
            max_bytes: 1024 * 1024,
            max_records: 0,
            isolation: Isolation::ReadCommitted,
            max_wait_ms: u32::try_from(max_wait.as_millis()).unwrap_or(u32::MAX),
        })
        .await
    }

    pub async fn stats(&self) -> Result<Vec<Stat>, ClientError> {
        match self.call(Request::Stats).await? {
            Response::Stats(stats) => Ok(stats),
            other => Err(Client::unexpected(other)),
        }
    }

    /// Change keys of a topic's configuration (`AlterTopic`; `dry_run`:
    /// validate only): every key before and after. A server older than
    /// this request answers `UnknownOpcode` and closes the connection.
    pub async fn alter_topic(
        &self,
        name: &str,
        config: &[(String, String)],
        dry_run: bool,
    ) -> Result<TopicAltered, ClientError> {
        let request = Request::AlterTopic(AlterTopic {
            name: name.to_string(),
            config: config
                .iter()
                .map(|(key, value)| ConfigEntry {
                    key: key.clone(),
                    value: value.clone(),
                })
                .collect(),
            dry_run,
        });
        match self.call(request).await? {
            Response::TopicAltered(altered) => Ok(altered),
            other => Err(Client::unexpected(other)),
        }
    }

    /// The server's health (`Status`): name/value pairs. A server older
    /// than this request answers `UnknownOpcode` and closes the connection.
    pub async fn status(&self) -> Result<Vec<(String, String)>, ClientError> {
        match self.call(Request::Status).await? {
            Response::Status(entries) => Ok(entries.into_iter().map(|e| (e.key, e.value)).collect()),
            other => Err(Client::unexpected(other)),
        }
    }

    pub async fn flush(&self) -> Result<(), ClientError> {
        self.call_empty(Request::Flush).await
    }
}
