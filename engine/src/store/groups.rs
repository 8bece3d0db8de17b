//! The consumer-group feature's way in ([`Store::consumer_groups`]),
//! `Store`'s forwards to it, and [`Consumer::new`].

use super::*;
use crate::consumer::lag::PartitionLag;
use crate::consumer::offsets::CommittedOffset;
use crate::consumer::reset::{ResetAuditEntry, ResetPlan, ResetRequest};
use crate::consumer::{Consumer, ConsumerGroups, ConsumerOptions, TransactionSource};

impl Store {
    /// The consumer-group feature: committed offsets, resets and their
    /// audit, lag, group deletion. The methods below are forwards to it.
    pub fn consumer_groups(&self) -> ConsumerGroups {
        ConsumerGroups::new(self.inner.catalog.clone(), self.inner.offsets.clone())
    }

    /// [`ConsumerGroups::commit_offset`].
    pub fn commit_offset(&self, group: &str, topic: &str, partition: u32, offset: u64, metadata: &[u8]) -> Result<()> {
        self.consumer_groups()
            .commit_offset(group, topic, partition, offset, metadata)
    }

    /// [`ConsumerGroups::commit_offsets`].
    pub fn commit_offsets(&self, group: &str, commits: &[(String, u32, u64, Vec<u8>)]) -> Result<()> {
        self.consumer_groups().commit_offsets(group, commits)
    }

    /// [`ConsumerGroups::groups_page`].
    pub fn groups_page(&self, after: Option<&str>, limit: usize) -> Result<Vec<String>> {
        self.consumer_groups().groups_page(after, limit)
    }

    /// [`ConsumerGroups::delete_group`].
    pub fn delete_group(&self, group: &str, actor: &str, force: bool) -> Result<Vec<((String, u32), CommittedOffset)>> {
        self.consumer_groups().delete_group(group, actor, force)
    }

    /// [`ConsumerGroups::delete_group_offsets`].
    pub fn delete_group_offsets(
        &self,
        group: &str,
        topic: Option<&str>,
        actor: &str,
        force: bool,
    ) -> Result<Vec<((String, u32), CommittedOffset)>> {
        self.consumer_groups().delete_group_offsets(group, topic, actor, force)
    }

    /// [`ConsumerGroups::compact_offsets`].
    pub fn compact_offsets(&self) -> Result<u64> {
        self.consumer_groups().compact_offsets()
    }

    /// [`ConsumerGroups::committed_offset`].
    pub fn committed_offset(&self, group: &str, topic: &str, partition: u32) -> Result<Option<u64>> {
        self.consumer_groups().committed_offset(group, topic, partition)
    }

    /// [`ConsumerGroups::committed`].
    pub fn committed(&self, group: &str, topic: &str, partition: u32) -> Result<Option<CommittedOffset>> {
        self.consumer_groups().committed(group, topic, partition)
    }

    /// [`ConsumerGroups::group_offsets`].
    pub fn group_offsets(&self, group: &str) -> Result<Vec<((String, u32), CommittedOffset)>> {
        self.consumer_groups().group_offsets(group)
    }

    /// [`ConsumerGroups::groups`].
    pub fn groups(&self) -> Result<Vec<String>> {
        self.consumer_groups().groups()
    }

    /// [`ConsumerGroups::note_group_activity`].
    pub fn note_group_activity(&self, group: &str) {
        self.consumer_groups().note_group_activity(group);
    }

    /// [`ConsumerGroups::group_idle`].
    pub fn group_idle(&self, group: &str) -> Option<Duration> {
        self.consumer_groups().group_idle(group)
    }

    /// [`ConsumerGroups::reset_offsets`].
    pub fn reset_offsets(&self, request: &ResetRequest) -> Result<ResetPlan> {
        self.consumer_groups().reset_offsets(request)
    }

    /// [`ConsumerGroups::reset_audit`].
    pub fn reset_audit(&self, group: Option<&str>) -> Result<Vec<ResetAuditEntry>> {
        self.consumer_groups().reset_audit(group)
    }

    /// [`ConsumerGroups::reset_audit_page`].
    pub fn reset_audit_page(
        &self,
        group: Option<&str>,
        after: Option<u64>,
        max: usize,
    ) -> Result<Vec<(u64, ResetAuditEntry)>> {
        self.consumer_groups().reset_audit_page(group, after, max)
    }

    /// [`ConsumerGroups::consumer_lag`].
    pub fn consumer_lag(&self, group: &str) -> Result<Vec<PartitionLag>> {
        self.consumer_groups().consumer_lag(group)
    }

    /// [`ConsumerGroups::consumer_lag_for_topic`].
    pub fn consumer_lag_for_topic(&self, group: &str, topic: &str) -> Result<Vec<PartitionLag>> {
        self.consumer_groups().consumer_lag_for_topic(group, topic)
    }
}

impl Consumer {
    /// A consumer of group `group` (1..=255 bytes) with nothing assigned yet.
    pub fn new(store: &Store, group: &str, options: ConsumerOptions) -> Result<Consumer> {
        let transactions = TransactionSource(Arc::new(store.transactions()));
        Consumer::with_groups(store.consumer_groups(), transactions, group, options)
    }
}
