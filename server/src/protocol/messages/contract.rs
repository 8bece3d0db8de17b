//! `ContractQuery` (0x0080) and `ContractChange` (0x0081): the data
//! contracts and the schema registry of a running server, the commands of
//! `millrace contract` and `millrace schema` (design/protocol.md,
//! "ContractQuery, ContractChange"). The request carries one
//! [`ContractCommand`] as a JSON document; the answer is the JSON document
//! the command's `--json` output prints. The server runs the same engine
//! calls as the CLI on a data directory (`millrace_server::contract_admin`),
//! so both paths validate, check compatibility and audit alike.

use serde::{Deserialize, Serialize};

use super::types::Wire;
use crate::wire::{DecodeError, DecodeResult, Reader, Writer, STRING_MIN};

/// A schema version named on the command line: `latest` or a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SchemaVersion {
    Latest,
    Number(u32),
}

impl SchemaVersion {
    /// `None` for `latest`.
    pub fn number(self) -> Option<u32> {
        match self {
            SchemaVersion::Latest => None,
            SchemaVersion::Number(v) => Some(v),
        }
    }
}

/// One contract or schema registry command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case", deny_unknown_fields)]
pub enum ContractCommand {
    /// Apply a contract file (a new version, audited; refused if a schema
    /// change breaks the promised compatibility, unless `force`).
    Apply {
        text: String,
        dry_run: bool,
        force: bool,
        /// Who asks (the server records its token and peer before it).
        actor: String,
    },
    /// Remove a topic's contract (audited).
    Remove { topic: String, actor: String },
    /// A topic's contract as applied: the one in force, or `version`.
    Show { topic: String, version: Option<u32> },
    /// Adherence per topic (or one topic).
    Status { topic: Option<String> },
    /// Every apply and removal, oldest first (or one topic's).
    History { topic: Option<String> },
    /// One page of `History`: the entries whose offset in `__contracts` is
    /// above `after` (absent: from the first), at most `limit` (0 = 1000),
    /// cut to fit in a frame; answers `{"entries": [...], "next_after": N}`
    /// (`next_after` null on the last page).
    HistoryPage {
        topic: Option<String>,
        after: Option<u64>,
        limit: u32,
    },
    /// Register a schema under a subject.
    SchemaRegister {
        subject: String,
        schema_type: String,
        schema: String,
    },
    /// Subjects with their latest version.
    SchemaList { deleted: bool },
    /// A subject's version (default the latest), or a schema by id.
    SchemaShow {
        subject: Option<String>,
        version: Option<SchemaVersion>,
        id: Option<u32>,
    },
    /// Whether a schema passes the subject's compatibility level.
    SchemaCheck {
        subject: String,
        schema_type: String,
        schema: String,
        version: Option<SchemaVersion>,
    },
    /// Soft-delete (or with `permanent`, remove) a subject's versions or one.
    SchemaDelete {
        subject: String,
        version: Option<SchemaVersion>,
        permanent: bool,
    },
    /// A compatibility level: shown, or set, or cleared.
    SchemaConfig {
        subject: Option<String>,
        set: Option<String>,
        clear: bool,
    },
}

impl ContractCommand {
    /// Whether it changes anything (then it goes as `ContractChange`, which
    /// needs the admin permission; the others as `ContractQuery`).
    pub fn changes(&self) -> bool {
        match self {
            ContractCommand::Apply { .. }
            | ContractCommand::Remove { .. }
            | ContractCommand::SchemaRegister { .. }
            | ContractCommand::SchemaDelete { .. } => true,
            ContractCommand::SchemaConfig { set, clear, .. } => set.is_some() || *clear,
            ContractCommand::Show { .. }
            | ContractCommand::Status { .. }
            | ContractCommand::History { .. }
            | ContractCommand::HistoryPage { .. }
            | ContractCommand::SchemaList { .. }
            | ContractCommand::SchemaShow { .. }
            | ContractCommand::SchemaCheck { .. } => false,
        }
    }
}

/// The body of `ContractQuery` and `ContractChange`: `command: string`, a
/// [`ContractCommand`] as JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContractCall {
    pub command: ContractCommand,
}

impl Wire for ContractCall {
    const BYTES_MIN: usize = STRING_MIN;
    fn encode(&self, w: &mut Writer) {
        // A derived `Serialize` of strings, numbers and bools cannot fail.
        let text = serde_json::to_string(&self.command).unwrap_or_default();
        w.string(&text);
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        let text = r.string("command")?;
        let command = serde_json::from_str(&text).map_err(|e| DecodeError::InvalidValue {
            field: "command",
            detail: e.to_string(),
        })?;
        Ok(ContractCall { command })
    }
}
