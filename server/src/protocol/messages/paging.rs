//! Paged listings (`ListTopicsPage`, `ListGroupsPage`, `FetchOffsetsPage`,
//! `ResetAuditPage`, `LagPage`)
//! and `DeleteGroup`: "Paging" and their entries in `design/protocol.md`.

use super::offsets::{CommittedOffset, PartitionLag, ResetAuditEntry};
use super::types::{read_list, write_list, Wire};
use crate::wire::{DecodeResult, Reader, Writer, STRING_MIN};

/// A page of names (`ListTopicsPage`, `ListGroupsPage`): the names after
/// `after` in byte order, at most `limit` (0 = the server's default).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NamesPage {
    /// Absent = from the first name.
    pub after: Option<String>,
    pub limit: u32,
}

impl Wire for NamesPage {
    const BYTES_MIN: usize = 1 + 4;
    fn encode(&self, w: &mut Writer) {
        w.option(self.after.as_ref(), |w, a| w.string(a));
        w.u32(self.limit);
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(NamesPage {
            after: r.option("page.after", |r| r.string("page.after"))?,
            limit: r.u32("page.limit")?,
        })
    }
}

/// The answer to a [`NamesPage`]: `next_after` is the cursor of the next
/// page, absent when this page is the last.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NamesPaged {
    pub names: Vec<String>,
    pub next_after: Option<String>,
}

impl Wire for NamesPaged {
    const BYTES_MIN: usize = 4 + 1;
    fn encode(&self, w: &mut Writer) {
        write_list(w, &self.names);
        w.option(self.next_after.as_ref(), |w, a| w.string(a));
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(NamesPaged {
            names: read_list(r, "page.names")?,
            next_after: r.option("page.next_after", |r| r.string("page.next_after"))?,
        })
    }
}

/// A partition of a topic: the cursor of [`OffsetsPage`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PartitionKey {
    pub topic: String,
    pub partition: u32,
}

impl Wire for PartitionKey {
    const BYTES_MIN: usize = STRING_MIN + 4;
    fn encode(&self, w: &mut Writer) {
        w.string(&self.topic);
        w.u32(self.partition);
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(PartitionKey {
            topic: r.string("page.topic")?,
            partition: r.u32("page.partition")?,
        })
    }
}

/// A page of one group's partitions, in (topic, partition) order after
/// `after`: the request of both `FetchOffsetsPage` ([`OffsetsPage`]) and
/// `LagPage` ([`LagPage`]), which share its layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupPage {
    pub group: String,
    /// Absent = every topic of the group (for `LagPage`: every partition the
    /// group committed to); present = that topic (for `LagPage`: every
    /// partition of the topic).
    pub topic: Option<String>,
    /// Absent = from the first partition.
    pub after: Option<PartitionKey>,
    /// 0 = the server's default.
    pub limit: u32,
}

/// A page of a group's committed offsets (`FetchOffsetsPage`).
pub type OffsetsPage = GroupPage;

/// A page of a group's lag (`LagPage`).
pub type LagPage = GroupPage;

impl Wire for GroupPage {
    const BYTES_MIN: usize = STRING_MIN + 1 + 1 + 4;
    fn encode(&self, w: &mut Writer) {
        w.string(&self.group);
        w.option(self.topic.as_ref(), |w, t| w.string(t));
        w.option(self.after.as_ref(), |w, a| a.encode(w));
        w.u32(self.limit);
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(GroupPage {
            group: r.string("group")?,
            topic: r.option("topic", |r| r.string("topic"))?,
            after: r.option("page.after", PartitionKey::decode)?,
            limit: r.u32("page.limit")?,
        })
    }
}

/// The answer to an [`OffsetsPage`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OffsetsPaged {
    pub offsets: Vec<CommittedOffset>,
    pub next_after: Option<PartitionKey>,
}

impl Wire for OffsetsPaged {
    const BYTES_MIN: usize = 4 + 1;
    fn encode(&self, w: &mut Writer) {
        write_list(w, &self.offsets);
        w.option(self.next_after.as_ref(), |w, a| a.encode(w));
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(OffsetsPaged {
            offsets: read_list(r, "page.offsets")?,
            next_after: r.option("page.next_after", PartitionKey::decode)?,
        })
    }
}

/// Delete a consumer group (every committed offset it has), audited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteGroup {
    pub group: String,
    /// Delete even if the group committed or polled in the last 30 s.
    pub force: bool,
}

impl Wire for DeleteGroup {
    const BYTES_MIN: usize = STRING_MIN + 1;
    fn encode(&self, w: &mut Writer) {
        w.string(&self.group);
        w.bool(self.force);
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(DeleteGroup {
            group: r.string("group")?,
            force: r.bool("force")?,
        })
    }
}

/// Delete a consumer group's committed offsets on one topic, audited
/// (`DeleteGroupOffsets`); its offsets on other topics stay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteGroupOffsets {
    pub group: String,
    pub topic: String,
    /// Delete even if the group committed or polled in the last 30 s.
    pub force: bool,
}

impl Wire for DeleteGroupOffsets {
    const BYTES_MIN: usize = STRING_MIN + STRING_MIN + 1;
    fn encode(&self, w: &mut Writer) {
        w.string(&self.group);
        w.string(&self.topic);
        w.bool(self.force);
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(DeleteGroupOffsets {
            group: r.string("group")?,
            topic: r.string("topic")?,
            force: r.bool("force")?,
        })
    }
}

/// A page of the reset audit (`ResetAuditPage`): entries whose audit offset
/// is above `after`, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResetAuditPage {
    /// Absent = every group.
    pub group: Option<String>,
    /// The audit offset cursor (exclusive); absent = from the oldest entry.
    pub after: Option<u64>,
    /// 0 = the server's default.
    pub limit: u32,
}

impl Wire for ResetAuditPage {
    const BYTES_MIN: usize = 1 + 1 + 4;
    fn encode(&self, w: &mut Writer) {
        w.option(self.group.as_ref(), |w, g| w.string(g));
        w.option(self.after.as_ref(), |w, a| w.u64(*a));
        w.u32(self.limit);
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(ResetAuditPage {
            group: r.option("reset_audit.group", |r| r.string("reset_audit.group"))?,
            after: r.option("page.after", |r| r.u64("page.after"))?,
            limit: r.u32("page.limit")?,
        })
    }
}

/// The answer to a [`ResetAuditPage`]: `next_after` is the audit offset of
/// the page's last entry when another page follows.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResetAuditPaged {
    pub entries: Vec<ResetAuditEntry>,
    pub next_after: Option<u64>,
}

impl Wire for ResetAuditPaged {
    const BYTES_MIN: usize = 4 + 1;
    fn encode(&self, w: &mut Writer) {
        write_list(w, &self.entries);
        w.option(self.next_after.as_ref(), |w, a| w.u64(*a));
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(ResetAuditPaged {
            entries: read_list(r, "page.entries")?,
            next_after: r.option("page.next_after", |r| r.u64("page.next_after"))?,
        })
    }
}

/// The answer to a [`LagPage`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LagPaged {
    pub lags: Vec<PartitionLag>,
    pub next_after: Option<PartitionKey>,
}

impl Wire for LagPaged {
    const BYTES_MIN: usize = 4 + 1;
    fn encode(&self, w: &mut Writer) {
        write_list(w, &self.lags);
        w.option(self.next_after.as_ref(), |w, a| a.encode(w));
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(LagPaged {
            lags: read_list(r, "page.lags")?,
            next_after: r.option("page.next_after", PartitionKey::decode)?,
        })
    }
}

/// `DescribeGroups`: whether each group is in use now.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DescribeGroups {
    pub groups: Vec<String>,
}

impl Wire for DescribeGroups {
    const BYTES_MIN: usize = 4;
    fn encode(&self, w: &mut Writer) {
        write_list(w, &self.groups);
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(DescribeGroups {
            groups: read_list(r, "describe_groups.groups")?,
        })
    }
}

/// One group of a `DescribeGroups` answer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupState {
    pub group: String,
    /// Live Kafka members, or a commit or poll within the last 30 s.
    pub active: bool,
    /// Live members of the Kafka front's group coordinator.
    pub kafka_members: bool,
    /// Since the group's last commit or poll on this server (absent: none since it started).
    pub idle_ms: Option<u64>,
}

impl Wire for GroupState {
    const BYTES_MIN: usize = 4 + 1 + 1 + 1;
    fn encode(&self, w: &mut Writer) {
        w.string(&self.group);
        w.bool(self.active);
        w.bool(self.kafka_members);
        w.option(self.idle_ms.as_ref(), |w, ms| w.u64(*ms));
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(GroupState {
            group: r.string("group_state.group")?,
            active: r.bool("group_state.active")?,
            kafka_members: r.bool("group_state.kafka_members")?,
            idle_ms: r.option("group_state.idle_ms", |r| r.u64("group_state.idle_ms"))?,
        })
    }
}
