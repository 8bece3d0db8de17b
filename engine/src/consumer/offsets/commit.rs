//! An offset commit as a transaction carries it (and as its commit record
//! stores it, design/format.md), and what it does to the offset there.

/// A consumer-offset commit carried by a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommit {
    /// The group.
    pub group: String,
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: u32,
    /// The next offset to read.
    pub offset: u64,
    /// Metadata stored with the offset.
    pub metadata: Vec<u8>,
    /// Set, or advance only.
    pub mode: OffsetCommitMode,
}

/// What an offset commit does to a committed offset that is already there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OffsetCommitMode {
    /// Replace it (a consumer's commit, a reset): it may move backwards.
    #[default]
    Set,
    /// Move it forward only: a committed offset at or past `offset` (and its
    /// metadata) stays. Decided under the offset table's lock when applied,
    /// and again when recovery re-applies the commit record, so no commit
    /// made in between is overwritten by a lower offset (`fail_record`).
    AdvanceOnly,
}
