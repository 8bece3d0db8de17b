//! Where a data command runs: on a data directory opened in this process
//! (offline), or against a running server through `millrace_server::Client`
//! (`--server ADDR`). Commands see one small API either way: each method
//! has its two arms side by side, grouped by concept: here opening, closing
//! and the types both sides describe; `topics`, `records`, `groups`,
//! `transactions`; `remote` holds the connection and its errors.

use crate::cli::GlobalArgs;
use crate::data;
use crate::error::CliResult;
use millrace::{Durability, Store, StoredRecord, TopicConfig};

/// A topic as both backends can describe it.
#[derive(Debug, Clone)]
pub struct TopicInfo {
    pub name: String,
    pub config: TopicConfig,
    /// The durability in effect (the topic's or the store default).
    pub durability: Durability,
    pub partitions: Vec<PartitionNumbers>,
    /// Records in the topic's dead-letter partition.
    pub dlq_depth: u64,
    /// Partitions that failed to open, with their error (over a server:
    /// filled by [`Target::damaged`], the command's last request).
    pub damaged: Vec<(u32, String)>,
}

/// A topic (`partition` absent) or partition that failed to open.
#[derive(Debug, Clone)]
pub struct DamageRow {
    pub topic: String,
    pub partition: Option<u32>,
    pub error: String,
}

impl TopicInfo {
    /// Take the partitions of this topic among `rows` (a server's
    /// `DescribeDamage`, whose `DescribeTopic` lists only the partitions that
    /// opened): they count among the topic's partitions.
    pub fn add_damage(&mut self, rows: Vec<DamageRow>) {
        for row in rows {
            if let (true, Some(p)) = (row.topic == self.name, row.partition) {
                if !self.damaged.iter().any(|(q, _)| *q == p) {
                    self.damaged.push((p, row.error));
                }
            }
        }
        self.damaged.sort_by_key(|(p, _)| *p);
        let known = self.partitions.len() + self.damaged.len();
        self.config.partitions = self.config.partitions.max(u32::try_from(known).unwrap_or(u32::MAX));
    }
}

#[derive(Debug, Clone)]
pub struct PartitionNumbers {
    pub partition: u32,
    pub start_offset: u64,
    /// Offset just past the last visible record.
    pub end_offset: u64,
    /// Known offline only.
    pub segments: Option<usize>,
    pub bytes: u64,
}

impl TopicInfo {
    pub fn records(&self) -> u64 {
        self.partitions
            .iter()
            .map(|p| p.end_offset.saturating_sub(p.start_offset))
            .sum()
    }
}

/// What one read returned.
#[derive(Debug)]
pub struct ReadOutcome {
    pub records: Vec<StoredRecord>,
    pub next_offset: u64,
}

pub enum Target {
    Local(Store),
    Remote(Box<Remote>),
}

mod contract;
mod groups;
mod records;
mod remote;
mod topics;
mod transactions;

pub use contract::run_contract_command;
pub use groups::GroupActivity;
use remote::config_from_entries;
pub use remote::{client_options, remote_error, resolve_server, Remote};
pub use topics::selected_partitions;

impl Target {
    /// Connect to `--server`, or open `--data` (never creating it).
    pub fn open(global: &GlobalArgs) -> CliResult<Target> {
        match &global.server {
            Some(server) => Ok(Target::Remote(Box::new(Remote::connect(global, server)?))),
            None => Ok(Target::Local(data::open_existing(global)?)),
        }
    }

    /// Like `open`, for a command that only reads: offline, the data
    /// directory is not modified (`data::open_read_only`).
    pub fn open_read_only(global: &GlobalArgs) -> CliResult<Target> {
        match &global.server {
            Some(server) => Ok(Target::Remote(Box::new(Remote::connect(global, server)?))),
            None => Ok(Target::Local(data::open_read_only(global)?)),
        }
    }

    /// Like `open`, but creates the data directory offline.
    pub fn open_or_create(global: &GlobalArgs) -> CliResult<Target> {
        match &global.server {
            Some(server) => Ok(Target::Remote(Box::new(Remote::connect(global, server)?))),
            None => Ok(Target::Local(data::open_or_create(global, false)?)),
        }
    }

    /// The server connection, when online.
    pub fn remote(&self) -> Option<&Remote> {
        match self {
            Target::Local(_) => None,
            Target::Remote(r) => Some(r),
        }
    }

    /// The open store, when offline.
    pub fn local(&self) -> Option<&Store> {
        match self {
            Target::Local(store) => Some(store),
            Target::Remote(_) => None,
        }
    }

    pub fn is_remote(&self) -> bool {
        matches!(self, Target::Remote(_))
    }

    /// Server statistics (online) as name/value pairs.
    pub fn server_stats(&self) -> CliResult<Option<Vec<(String, u64)>>> {
        match self {
            Target::Local(_) => Ok(None),
            Target::Remote(r) => Ok(Some(
                r.call(r.client.stats())?
                    .into_iter()
                    .map(|s| (s.name, s.value))
                    .collect(),
            )),
        }
    }

    /// The server's `Status` pairs (online; `None` offline).
    pub fn server_status(&self) -> CliResult<Option<Vec<(String, String)>>> {
        match self {
            Target::Local(_) => Ok(None),
            Target::Remote(r) => Ok(Some(r.call(r.client.status())?)),
        }
    }

    pub fn close(self) -> CliResult<()> {
        match self {
            Target::Local(store) => Ok(store.close()?),
            Target::Remote(_) => Ok(()),
        }
    }
}
