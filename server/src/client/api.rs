//! Typed client calls for consumer groups, resets, transactions, failed
//! records and the DLQ (the requests of issues 3 and 4), and a [`Consumer`]
//! that polls from committed offsets. Topic/produce/fetch calls are in
//! `client.rs`.

use std::collections::HashMap;
use std::time::Duration;

use millrace::{Record, StoredRecord};

use crate::client::{Client, ClientError};
use crate::handler::OFFSET_COMMIT_ENTRIES_MAX;
use crate::messages::{
    CommitOffsets, CommittedOffset, DlqList, DlqListing, DlqPurge, DlqRedrive, FailRecord, Fetch, Isolation,
    PartitionLag, PartitionOffset, Position, RecordFailed, RedriveReport, Request, ResetAuditEntry, ResetOffsets,
    ResetPlan, Response, TxnAppend, TxnBegin, TxnCommitOffsets, TxnCommitted, TxnDeadLetter, TxnEnd,
};

fn unexpected(response: Response) -> ClientError {
    ClientError::Protocol(format!("unexpected response {response:?}"))
}

impl Client {
    /// Commit `(topic, partition, next offset to read)` for `group`.
    pub async fn commit_offsets(&self, group: &str, offsets: &[(&str, u32, u64)]) -> Result<(), ClientError> {
        let request = Request::CommitOffsets(CommitOffsets {
            group: group.to_string(),
            offsets: offsets
                .iter()
                .map(|(topic, partition, offset)| PartitionOffset {
                    topic: topic.to_string(),
                    partition: *partition,
                    offset: *offset,
                    metadata: Vec::new(),
                })
                .collect(),
        });
        match self.call(request).await? {
            Response::Empty => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// A group's committed offsets (of `topic`, or all), however many:
    /// walks `FetchOffsetsPage` ([`Client::committed_offset_pages`]).
    pub async fn committed_offsets(
        &self,
        group: &str,
        topic: Option<&str>,
    ) -> Result<Vec<CommittedOffset>, ClientError> {
        self.committed_offset_pages(group, topic).all().await
    }

    /// A group's lag (on every partition of `topic`, or on every partition
    /// it committed to), however many: walks `LagPage` ([`Client::lag_pages`]).
    pub async fn lag(&self, group: &str, topic: Option<&str>) -> Result<Vec<PartitionLag>, ClientError> {
        self.lag_pages(group, topic).all().await
    }

    pub async fn reset_offsets(&self, reset: ResetOffsets) -> Result<ResetPlan, ClientError> {
        match self.call(Request::ResetOffsets(reset)).await? {
            Response::ResetPlan(plan) => Ok(plan),
            other => Err(unexpected(other)),
        }
    }

    /// Applied offset resets, oldest first; `group` = only that group;
    /// however many: walks `ResetAuditPage` ([`Client::reset_audit_pages`]).
    pub async fn reset_audit(&self, group: Option<&str>) -> Result<Vec<ResetAuditEntry>, ClientError> {
        self.reset_audit_pages(group).all().await
    }

    /// Every recorded topic config change (of `topic`, or of every topic),
    /// oldest first, however many: walks `ConfigHistoryPage`.
    pub async fn config_history(
        &self,
        topic: Option<&str>,
    ) -> Result<Vec<crate::messages::ConfigHistoryEntry>, ClientError> {
        let mut entries = Vec::new();
        let mut after = None;
        loop {
            let page = crate::messages::ConfigHistoryPage {
                topic: topic.map(str::to_string),
                after,
                limit: 0,
            };
            let paged = match self.call(Request::ConfigHistoryPage(page)).await? {
                Response::ConfigHistoryPage(paged) => paged,
                other => return Err(unexpected(other)),
            };
            entries.extend(paged.entries);
            match paged.next_after {
                Some(next) if after.is_none_or(|a| next > a) => after = Some(next),
                Some(next) => {
                    return Err(ClientError::Protocol(format!(
                        "the config history cursor {next} does not move on"
                    )))
                }
                None => return Ok(entries),
            }
        }
    }

    /// Every consumer group with committed offsets (internal `__` groups
    /// included), however many: walks `ListGroupsPage` ([`Client::group_pages`]).
    pub async fn list_groups(&self) -> Result<Vec<String>, ClientError> {
        self.group_pages().all().await
    }

    pub async fn fail_record(&self, fail: FailRecord) -> Result<RecordFailed, ClientError> {
        match self.call(Request::FailRecord(fail)).await? {
            Response::RecordFailed(failed) => Ok(failed),
            other => Err(unexpected(other)),
        }
    }

    pub async fn dlq_list(&self, list: DlqList) -> Result<DlqListing, ClientError> {
        match self.call(Request::DlqList(list)).await? {
            Response::DlqListing(listing) => Ok(listing),
            other => Err(unexpected(other)),
        }
    }

    pub async fn dlq_redrive(&self, redrive: DlqRedrive) -> Result<RedriveReport, ClientError> {
        match self.call(Request::DlqRedrive(redrive)).await? {
            Response::Redrive(report) => Ok(report),
            other => Err(unexpected(other)),
        }
    }

    /// Remove DLQ records of `topic` below `up_to_offset`; returns how many.
    pub async fn dlq_purge(&self, topic: &str, up_to_offset: u64) -> Result<u64, ClientError> {
        let request = Request::DlqPurge(DlqPurge {
            topic: topic.to_string(),
            up_to_offset,
        });
        match self.call(request).await? {
            Response::Purged(purged) => Ok(purged),
            other => Err(unexpected(other)),
        }
    }

    /// Begin a transaction for a registered producer (see [`crate::Producer`]).
    /// It lives on this client's current connection: if the connection is
    /// lost, the server aborts it and its calls fail.
    pub async fn begin_transaction(&self, producer_id: u64, epoch: u16) -> Result<Transaction, ClientError> {
        match self.call(Request::TxnBegin(TxnBegin { producer_id, epoch })).await? {
            Response::TxnBegun(begun) => Ok(Transaction {
                client: self.clone(),
                transaction_id: begun.transaction_id,
            }),
            other => Err(unexpected(other)),
        }
    }
}

/// An open transaction on the server. Dropping it without `commit` leaves it
/// open until the connection closes (then the server aborts it).
#[derive(Debug)]
pub struct Transaction {
    client: Client,
    transaction_id: u64,
}

impl Transaction {
    pub fn id(&self) -> u64 {
        self.transaction_id
    }

    async fn call_empty(&self, request: Request) -> Result<(), ClientError> {
        match self.client.call(request).await? {
            Response::Empty => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    pub async fn append(&self, topic: &str, partition: u32, records: Vec<Record>) -> Result<(), ClientError> {
        self.call_empty(Request::TxnAppend(TxnAppend {
            transaction_id: self.transaction_id,
            topic: topic.to_string(),
            partition,
            records,
        }))
        .await
    }

    pub async fn commit_offsets(&self, group: &str, offsets: &[(&str, u32, u64)]) -> Result<(), ClientError> {
        self.call_empty(Request::TxnCommitOffsets(TxnCommitOffsets {
            transaction_id: self.transaction_id,
            group: group.to_string(),
            offsets: offsets
                .iter()
                .map(|(topic, partition, offset)| PartitionOffset {
                    topic: topic.to_string(),
                    partition: *partition,
                    offset: *offset,
                    metadata: Vec::new(),
                })
                .collect(),
        }))
        .await
    }

    /// Dead-letter a record with the transaction. `letter.transaction_id` is
    /// overwritten with this transaction's id.
    pub async fn dead_letter(&self, mut letter: TxnDeadLetter) -> Result<(), ClientError> {
        letter.transaction_id = self.transaction_id;
        self.call_empty(Request::TxnDeadLetter(letter)).await
    }

    pub async fn commit(self) -> Result<TxnCommitted, ClientError> {
        match self
            .client
            .call(Request::TxnCommit(TxnEnd {
                transaction_id: self.transaction_id,
            }))
            .await?
        {
            Response::TxnCommitted(committed) => Ok(committed),
            other => Err(unexpected(other)),
        }
    }

    pub async fn abort(self) -> Result<(), ClientError> {
        self.call_empty(Request::TxnAbort(TxnEnd {
            transaction_id: self.transaction_id,
        }))
        .await
    }
}

/// Where a consumer starts on a partition its group has no offset for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartFrom {
    #[default]
    Earliest,
    Latest,
}

#[derive(Debug, Clone)]
pub struct ConsumerOptions {
    pub max_bytes: u32,
    /// How long one `poll` waits for a first record.
    pub max_wait: Duration,
    pub isolation: Isolation,
    pub start_from: StartFrom,
}

impl Default for ConsumerOptions {
    fn default() -> Self {
        ConsumerOptions {
            max_bytes: 1024 * 1024,
            max_wait: Duration::from_millis(500),
            isolation: Isolation::ReadCommitted,
            start_from: StartFrom::Earliest,
        }
    }
}

/// A group member reading assigned partitions from the group's committed
/// offsets. Give it a client of its own: a long poll holds up later requests
/// on the same connection.
#[derive(Debug)]
pub struct Consumer {
    client: Client,
    group: String,
    assignments: Vec<(String, u32)>,
    positions: HashMap<(String, u32), u64>,
    next_assignment: usize,
    options: ConsumerOptions,
}

impl Consumer {
    /// Resume each partition at the group's committed offset, or per `start_from`.
    pub async fn subscribe(
        client: Client,
        group: &str,
        assignments: Vec<(String, u32)>,
        options: ConsumerOptions,
    ) -> Result<Consumer, ClientError> {
        let committed = client.committed_offsets(group, None).await?;
        let mut positions = HashMap::new();
        // Described once per topic, not once per partition.
        let mut descriptions: HashMap<String, crate::messages::TopicDescription> = HashMap::new();
        for (topic, partition) in &assignments {
            let found = committed
                .iter()
                .find(|c| &c.topic == topic && c.partition == *partition)
                .map(|c| c.offset);
            let position = match found {
                Some(offset) => offset,
                None => {
                    if !descriptions.contains_key(topic) {
                        descriptions.insert(topic.clone(), client.describe_topic(topic).await?);
                    }
                    let info = descriptions
                        .get(topic)
                        .ok_or_else(|| ClientError::Protocol(format!("{topic} was not described")))?
                        .partitions
                        .iter()
                        .find(|p| p.partition == *partition)
                        .ok_or_else(|| ClientError::Protocol(format!("{topic} has no partition {partition}")))?;
                    match options.start_from {
                        StartFrom::Earliest => info.start_offset,
                        StartFrom::Latest => info.end_offset,
                    }
                }
            };
            positions.insert((topic.clone(), *partition), position);
        }
        Ok(Consumer {
            client,
            group: group.to_string(),
            assignments,
            positions,
            next_assignment: 0,
            options,
        })
    }

    pub fn position(&self, topic: &str, partition: u32) -> Option<u64> {
        self.positions.get(&(topic.to_string(), partition)).copied()
    }

    /// Move the read position (committed by the next `commit`).
    pub fn seek(&mut self, topic: &str, partition: u32, offset: u64) {
        self.positions.insert((topic.to_string(), partition), offset);
    }

    /// Records from the next assigned partition that has any, waiting up to
    /// `max_wait` on one partition if none has. Advances the positions.
    pub async fn poll(&mut self) -> Result<Vec<(String, u32, StoredRecord)>, ClientError> {
        let count = self.assignments.len();
        for round in 0..=count {
            let Some((topic, partition)) = self
                .assignments
                .get((self.next_assignment + round) % count.max(1))
                .cloned()
            else {
                return Ok(Vec::new());
            };
            // The last round long-polls; the first ones only look.
            let max_wait = if round == count {
                self.options.max_wait
            } else {
                Duration::ZERO
            };
            let key = (topic.clone(), partition);
            let offset = self.positions.get(&key).copied().unwrap_or(0);
            let fetched = self
                .client
                .fetch_with(Fetch {
                    topic: topic.clone(),
                    partition,
                    position: Position::Offset(offset),
                    max_bytes: self.options.max_bytes,
                    max_records: 0,
                    isolation: self.options.isolation,
                    max_wait_ms: u32::try_from(max_wait.as_millis()).unwrap_or(u32::MAX),
                })
                .await?;
            self.positions.insert(key, fetched.next_offset.max(offset));
            if !fetched.records.is_empty() {
                self.next_assignment = (self.next_assignment + round + 1) % count.max(1);
                return Ok(fetched
                    .records
                    .into_iter()
                    .map(|r| (topic.clone(), partition, r))
                    .collect());
            }
        }
        Ok(Vec::new())
    }

    /// Commit the current positions (the next offsets to read): one request
    /// (all or none) per [`OFFSET_COMMIT_ENTRIES_MAX`] partitions.
    pub async fn commit(&self) -> Result<(), ClientError> {
        let offsets: Vec<(&str, u32, u64)> = self
            .positions
            .iter()
            .map(|((topic, partition), offset)| (topic.as_str(), *partition, *offset))
            .collect();
        for chunk in offsets.chunks(OFFSET_COMMIT_ENTRIES_MAX) {
            self.client.commit_offsets(&self.group, chunk).await?;
        }
        Ok(())
    }
}
