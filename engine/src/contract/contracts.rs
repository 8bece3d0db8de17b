//! The contracts feature's handle ([`crate::Store::contracts`]): apply and
//! remove a topic's contract (each a record of `__contracts`, the audit
//! log), its history, the contracts in force (compiled and installed into
//! the store's [`Checks`] at open and on apply), and what they measured.

use crate::catalog::OpenCatalog;
use crate::clock::now_ms;
use crate::contract::check::{Action, Checks, RecordCheck, Verdict, Violation};
use crate::contract::compiled::{compile, CompiledContract};
use crate::contract::entry::{ContractEntry, CONTRACTS_TOPIC};
use crate::contract::model::{self, ContractFile};
use crate::contract::schemas::SchemaSource;
use crate::error::{CorruptionKind, Error, Result};
use crate::log::batch::Record;
use crate::log::partition::{Isolation, ReadOptions};
use crate::sync::{Mutex, RwLock};
use std::collections::HashMap;
use std::sync::Arc;

/// A record of `__contracts` at its offset: the entry, or the key of one that does not decode.
type RawEntry = (u64, std::result::Result<ContractEntry, Option<String>>);

/// Longest actor name recorded.
pub const ACTOR_BYTES_MAX: usize = 255;

/// The contracts of one store: in force, and the ones that failed to load.
#[derive(Debug, Default)]
pub(crate) struct ContractState {
    /// Serializes applies and removals (version numbers, the audit's order).
    apply: Mutex<()>,
    /// The compiled contract of each topic that has one.
    installed: RwLock<HashMap<String, Arc<CompiledContract>>>,
    /// Topics whose contract failed to load, with the reason.
    failed: RwLock<HashMap<String, String>>,
}

/// An apply of a contract file ([`Contracts::apply`]).
#[derive(Debug, Clone, Copy)]
pub struct ApplyRequest<'a> {
    /// The contract file (YAML).
    pub text: &'a str,
    /// Who applies it (recorded in the audit log), 1..=255 bytes.
    pub actor: &'a str,
    /// Check and report only; change nothing.
    pub dry_run: bool,
    /// Apply even if a schema change breaks the contract's compatibility.
    pub force: bool,
}

/// A subject's schema change since the contract's previous version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaChange {
    /// The subject.
    pub subject: String,
    /// The version the previous contract version was applied with.
    pub from_version: u32,
    /// The subject's latest version now.
    pub to_version: u32,
    /// The compatibility the contract promises (Confluent's spelling).
    pub compatibility: String,
    /// Whether the registry found the change compatible.
    pub compatible: bool,
    /// Its reasons when not.
    pub messages: Vec<String>,
}

/// What an apply did (or would do: a dry run).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyReport {
    /// The topic.
    pub topic: String,
    /// The version it made (would make) current.
    pub version: u32,
    /// The version it replaced.
    pub previous: Option<u32>,
    /// The file is the current version's, byte for byte: nothing was recorded.
    pub unchanged: bool,
    /// Written to `__contracts` and installed (false for a dry run and an unchanged file).
    pub applied: bool,
    /// Applied although a schema change broke compatibility.
    pub forced: bool,
    /// The schema changes checked.
    pub schema_changes: Vec<SchemaChange>,
}

/// The contract feature of one store. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Contracts {
    catalog: Arc<OpenCatalog>,
    state: Arc<ContractState>,
    checks: Arc<Checks>,
    source: Arc<dyn SchemaSource>,
}

/// The check installed for a topic whose contract failed to load: every
/// record is refused, naming why (never let through unchecked).
#[derive(Debug)]
struct Unloadable {
    reason: String,
}

impl RecordCheck for Unloadable {
    fn check(&self, _: u32, _: &Record) -> Verdict {
        Verdict {
            contract_version: 0,
            violations: vec![Violation {
                rule: "contract".to_string(),
                path: String::new(),
                message: self.reason.clone(),
                action: Action::Reject,
            }],
        }
    }
}

fn check_actor(actor: &str) -> Result<()> {
    if actor.is_empty() || actor.len() > ACTOR_BYTES_MAX {
        return Err(Error::invalid("actor", format!("1 to {ACTOR_BYTES_MAX} bytes")));
    }
    Ok(())
}

impl Contracts {
    pub(crate) fn new(
        catalog: Arc<OpenCatalog>,
        state: Arc<ContractState>,
        checks: Arc<Checks>,
        source: Arc<dyn SchemaSource>,
    ) -> Contracts {
        Contracts {
            catalog,
            state,
            checks,
            source,
        }
    }

    /// Every record of `__contracts` with its offset, oldest first; a record
    /// that does not decode is `Err` with its offset and key.
    fn entries(&self) -> Result<Vec<RawEntry>> {
        let Some(partition) = self.catalog.internal_log(CONTRACTS_TOPIC)? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        let mut offset = partition.start_offset();
        let end = partition.high_watermark();
        while offset < end {
            let read = partition.read(offset, ReadOptions::default(), Isolation::ReadUncommitted)?;
            for record in &read.records {
                let entry = ContractEntry::decode(&record.value).ok_or_else(|| {
                    record
                        .key
                        .as_deref()
                        .and_then(|k| std::str::from_utf8(k).ok())
                        .map(str::to_string)
                });
                out.push((record.offset, entry));
            }
            if read.next_offset <= offset {
                break;
            }
            offset = read.next_offset;
        }
        Ok(out)
    }

    /// Read `__contracts` and install the latest version of each topic's
    /// contract. A record that does not decode, or a file that no longer
    /// compiles, costs only its topic's contract: that topic refuses every
    /// record, naming the damage, until a contract is applied again.
    pub(crate) fn load(&self) -> Result<()> {
        let mut latest: HashMap<String, std::result::Result<ContractEntry, String>> = HashMap::new();
        let entries = match self.entries() {
            Ok(entries) => entries,
            Err(e) => {
                // Which topics have a contract is unknown: said by status, never fatal to the open.
                let reason = format!("{CONTRACTS_TOPIC} could not be read, no contract is in force: {e}");
                tracing::error!("{reason}");
                self.state.failed.write().insert(CONTRACTS_TOPIC.to_string(), reason);
                return Ok(());
            }
        };
        for (offset, entry) in entries {
            match entry {
                Ok(e) => {
                    latest.insert(e.topic.clone(), Ok(e));
                }
                Err(Some(topic)) => {
                    let reason = format!(
                        "the contract of topic {topic:?} could not be loaded: record {offset} of {CONTRACTS_TOPIC} is damaged; apply the contract again"
                    );
                    tracing::error!(topic = %topic, offset, "{reason}");
                    latest.insert(topic, Err(reason));
                }
                Err(None) => {
                    tracing::error!(
                        offset,
                        "record {offset} of {CONTRACTS_TOPIC} is damaged and names no topic; skipped"
                    );
                }
            }
        }
        for (topic, entry) in latest {
            match entry {
                Ok(e) if e.removed => {}
                Ok(e) => {
                    let compiled = model::parse(&e.text).and_then(|file| self.compile_seeded(file, e.version));
                    match compiled {
                        Ok(c) => self.install(&topic, Some(c)),
                        Err(err) => self.install_unloadable(
                            &topic,
                            format!(
                                "the contract of topic {topic:?} (version {}) could not be loaded: {err}",
                                e.version
                            ),
                        ),
                    }
                }
                Err(reason) => self.install_unloadable(&topic, reason),
            }
        }
        Ok(())
    }

    fn install(&self, topic: &str, contract: Option<Arc<CompiledContract>>) {
        self.state.failed.write().remove(topic);
        match contract {
            Some(c) => {
                self.checks.set(topic, Some(c.clone() as Arc<dyn RecordCheck>));
                self.state.installed.write().insert(topic.to_string(), c);
            }
            None => {
                self.checks.set(topic, None);
                self.state.installed.write().remove(topic);
            }
        }
    }

    fn install_unloadable(&self, topic: &str, reason: String) {
        self.state.installed.write().remove(topic);
        self.checks
            .set(topic, Some(Arc::new(Unloadable { reason: reason.clone() })));
        self.state.failed.write().insert(topic.to_string(), reason);
    }

    /// Compile `file` and seed its freshness with the log's newest record.
    fn compile_seeded(&self, file: ContractFile, version: u32) -> Result<Arc<CompiledContract>> {
        let compiled = Arc::new(compile(file, version, self.source.clone())?);
        if let Ok(topic) = self.catalog.topic(compiled.topic()) {
            for p in &topic.partitions {
                if let Some(at) = newest_time(p, &compiled) {
                    compiled.saw_newest(at);
                }
            }
        }
        Ok(compiled)
    }

    /// Apply a contract file: parsed, compiled, its schema changes checked
    /// against the compatibility it promises (refused unless forced), then
    /// recorded in `__contracts` and installed. The same file again is no
    /// new version.
    pub fn apply(&self, request: &ApplyRequest<'_>) -> Result<ApplyReport> {
        check_actor(request.actor)?;
        let file = model::parse(request.text)?;
        crate::names::refuse_internal_topic(&file.topic)?;
        self.catalog.topic(&file.topic)?;
        let _apply = self.state.apply.lock();
        let current = self.latest_entry(&file.topic)?.filter(|e| !e.removed);
        let last_version = self.last_version(&file.topic)?;
        let version = last_version
            .checked_add(1)
            .ok_or_else(|| Error::invalid("contract", "too many versions"))?;
        let compiled = self.compile_seeded(file.clone(), version)?;
        let mut pinned = Vec::new();
        let mut schema_changes = Vec::new();
        for (side, default_subject) in [
            (&file.schema.key, format!("{}-key", file.topic)),
            (&file.schema.value, format!("{}-value", file.topic)),
        ] {
            let Some(side) = side else { continue };
            let subject = side.subject.clone().unwrap_or(default_subject);
            let Some((latest_version, latest)) = self.source.version(&subject, None)? else {
                continue;
            };
            pinned.push((subject.clone(), latest_version));
            let (Some(level), Some(before)) = (side.compatibility, current.as_ref()) else {
                continue;
            };
            let Some(&(_, from_version)) = before.pinned.iter().find(|(s, _)| *s == subject) else {
                continue;
            };
            if from_version == latest_version || level == model::CompatibilityLevel::None {
                continue;
            }
            let (compatible, messages) =
                self.source
                    .check_change(&subject, latest.kind, &latest.text, from_version, level)?;
            schema_changes.push(SchemaChange {
                subject,
                from_version,
                to_version: latest_version,
                compatibility: level.as_str().to_string(),
                compatible,
                messages,
            });
        }
        let forced = schema_changes.iter().any(|c| !c.compatible);
        if let (true, false, Some(first)) = (forced, request.force, schema_changes.iter().find(|c| !c.compatible)) {
            let messages = schema_changes
                .iter()
                .filter(|c| !c.compatible)
                .flat_map(|c| {
                    let head = format!(
                        "{} version {} -> {} breaks {} (apply with force to override)",
                        c.subject, c.from_version, c.to_version, c.compatibility
                    );
                    std::iter::once(head).chain(c.messages.iter().cloned())
                })
                .collect();
            return Err(Error::IncompatibleSchema {
                subject: first.subject.clone(),
                messages,
            });
        }
        let unchanged = current.as_ref().is_some_and(|c| c.text == request.text);
        let mut report = ApplyReport {
            topic: file.topic.clone(),
            version: if unchanged {
                current.as_ref().map_or(version, |c| c.version)
            } else {
                version
            },
            previous: current.as_ref().map(|c| c.version),
            unchanged,
            applied: false,
            forced,
            schema_changes,
        };
        if request.dry_run || unchanged {
            return Ok(report);
        }
        let entry = ContractEntry {
            topic: file.topic.clone(),
            version,
            previous: current.as_ref().map(|c| c.version),
            at_ms: now_ms(),
            actor: request.actor.to_string(),
            forced,
            removed: false,
            pinned,
            text: request.text.to_string(),
        };
        self.record(&entry)?;
        self.install(&file.topic, Some(compiled));
        tracing::info!(topic = %file.topic, version, actor = %request.actor, forced, "contract applied");
        report.applied = true;
        Ok(report)
    }

    /// Remove `topic`'s contract (recorded in `__contracts` under its own
    /// next number, the removed version as its `previous`: the audit's
    /// numbers only grow); the version removed, `None` if it had none.
    pub fn remove(&self, topic: &str, actor: &str) -> Result<Option<u32>> {
        check_actor(actor)?;
        let _apply = self.state.apply.lock();
        let Some(current) = self.latest_entry(topic)?.filter(|e| !e.removed) else {
            return Ok(None);
        };
        let number = self
            .last_version(topic)?
            .checked_add(1)
            .ok_or_else(|| Error::invalid("contract", "too many versions"))?;
        self.record(&ContractEntry {
            topic: topic.to_string(),
            version: number,
            previous: Some(current.version),
            at_ms: now_ms(),
            actor: actor.to_string(),
            forced: false,
            removed: true,
            pinned: Vec::new(),
            text: String::new(),
        })?;
        self.install(topic, None);
        Ok(Some(current.version))
    }

    fn record(&self, entry: &ContractEntry) -> Result<()> {
        self.catalog.check_writable()?;
        self.catalog.ensure_internal_topic(CONTRACTS_TOPIC)?;
        let partition = self.catalog.partition(CONTRACTS_TOPIC, 0)?;
        partition.append(&[Record::new(entry.encode()).with_key(entry.topic.as_str())], None, 0)?;
        Ok(())
    }

    fn last_version(&self, topic: &str) -> Result<u32> {
        Ok(self
            .history(Some(topic))?
            .iter()
            .map(|(_, e)| e.version)
            .max()
            .unwrap_or(0))
    }

    fn latest_entry(&self, topic: &str) -> Result<Option<ContractEntry>> {
        Ok(self.history(Some(topic))?.pop().map(|(_, e)| e))
    }

    /// Every apply and removal, oldest first, with its offset in
    /// `__contracts` (of one topic, or all). A damaged record is an error
    /// naming it.
    pub fn history(&self, topic: Option<&str>) -> Result<Vec<(u64, ContractEntry)>> {
        let mut out = Vec::new();
        for (offset, entry) in self.entries()? {
            match entry {
                Ok(e) if topic.is_none_or(|t| t == e.topic) => out.push((offset, e)),
                Ok(_) => {}
                Err(key) if topic.is_none() || key.as_deref() == topic => {
                    let dir = self.catalog.partition(CONTRACTS_TOPIC, 0)?.dir.clone();
                    return Err(Error::corruption(dir, offset, CorruptionKind::BadRecord));
                }
                Err(_) => {}
            }
        }
        Ok(out)
    }

    /// Version `version` of `topic`'s contract as applied (`None`: the one in force).
    pub fn show(&self, topic: &str, version: Option<u32>) -> Result<Option<ContractEntry>> {
        let history = self.history(Some(topic))?;
        Ok(match version {
            Some(v) => history
                .into_iter()
                .map(|(_, e)| e)
                .find(|e| !e.removed && e.version == v),
            None => history.into_iter().last().map(|(_, e)| e).filter(|e| !e.removed),
        })
    }

    /// The compiled contract in force for `topic`.
    pub fn current(&self, topic: &str) -> Option<Arc<CompiledContract>> {
        self.state.installed.read().get(topic).cloned()
    }

    /// Every contract in force, by topic.
    pub fn installed(&self) -> Vec<Arc<CompiledContract>> {
        let mut all: Vec<_> = self.state.installed.read().values().cloned().collect();
        all.sort_by(|a, b| a.topic().cmp(b.topic()));
        all
    }

    /// Topics whose contract failed to load, with why (they refuse every record).
    pub fn load_errors(&self) -> Vec<(String, String)> {
        let mut all: Vec<_> = self
            .state
            .failed
            .read()
            .iter()
            .map(|(t, r)| (t.clone(), r.clone()))
            .collect();
        all.sort();
        all
    }

    /// The registry calls the contracts make.
    pub fn schema_source(&self) -> &Arc<dyn SchemaSource> {
        &self.source
    }
}

/// The newest time of `partition`'s last records, as `contract`'s freshness
/// measures it (the event-time field, or the append time).
pub(crate) fn newest_time(partition: &crate::log::partition::Partition, contract: &CompiledContract) -> Option<i64> {
    let end = partition.high_watermark();
    if end <= partition.start_offset() {
        return None;
    }
    let read = partition
        .read(end - 1, ReadOptions::default(), Isolation::ReadUncommitted)
        .ok()?;
    let mut newest = None;
    for stored in &read.records {
        let at = match contract.event_time_tokens() {
            None => Some(stored.timestamp_ms),
            Some(tokens) => {
                let record = Record {
                    key: None,
                    value: stored.value.clone(),
                    headers: Vec::new(),
                    timestamp_ms: Some(stored.timestamp_ms),
                    nulls: stored.nulls.clone(),
                };
                contract
                    .decode_value(crate::contract::check::RecordView::of(&record), &mut Vec::new())
                    .and_then(|v| crate::contract::window::Freshness::event_time(tokens, &v))
            }
        };
        newest = newest.max(at);
    }
    newest
}
