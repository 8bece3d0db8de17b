//! The commands of `millrace contract` and `millrace schema` on a store
//! ([`run`]): the one implementation behind both the CLI on a data
//! directory and the `ContractQuery`/`ContractChange` opcodes of a running
//! server. Each answers the JSON document the command's `--json` prints;
//! validation, compatibility checks and the audit records are the engine's
//! (`Store::contracts`, `Store::schemas`), never repeated here.

use millrace::contract::{ApplyRequest, ContractEntry, ContractStatus, SlaLevel};
use millrace::schema::{Compatibility, SchemaRegistry, SchemaType, SubjectVersion};
use millrace::{Error, Result, Store};
use serde_json::{json, Value};

use crate::messages::{ContractCommand, SchemaVersion};

fn invalid(what: &'static str, detail: impl Into<String>) -> Error {
    Error::InvalidInput {
        what,
        detail: detail.into(),
    }
}

/// An RFC 3339 time with milliseconds (as the CLI prints times).
pub fn time(ms: i64) -> String {
    match chrono::DateTime::from_timestamp_millis(ms) {
        Some(t) => t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        None => format!("{ms}ms"),
    }
}

impl crate::server::service::Service {
    /// Run a contract or schema command on the server's store: the
    /// `ContractQuery`/`ContractChange` opcodes ([`run`]).
    pub fn contract_command(&self, command: &ContractCommand) -> Result<Value> {
        run(&self.store, command)
    }

    /// One page of the contract audit, at most `room` bytes ([`history_page`]).
    pub fn contract_history_page(
        &self,
        topic: Option<&str>,
        after: Option<u64>,
        limit: u32,
        room: usize,
    ) -> Result<Value> {
        history_page(&self.store, topic, after, limit, room)
    }
}

/// Run `command` on `store`. A missing contract answers `null` (`show`) or
/// `"removed_version": null` (`remove`): the caller words that refusal.
pub fn run(store: &Store, command: &ContractCommand) -> Result<Value> {
    match command {
        ContractCommand::Apply {
            text,
            dry_run,
            force,
            actor,
        } => apply(store, text, *dry_run, *force, actor),
        ContractCommand::Remove { topic, actor } => {
            let removed = store.contracts().remove(topic, actor)?;
            Ok(json!({"topic": topic, "removed_version": removed}))
        }
        ContractCommand::Show { topic, version } => Ok(store
            .contracts()
            .show(topic, *version)?
            .map_or(Value::Null, |e| entry_json(&e))),
        ContractCommand::Status { topic } => {
            let all = store.contract_status(topic.as_deref())?;
            let worst = all.iter().map(ContractStatus::worst).max().unwrap_or(SlaLevel::Unknown);
            Ok(json!({
                "topics": all
                    .iter()
                    .map(|s| status_json(s, store.record_checks().adherence(&s.topic)))
                    .collect::<Vec<_>>(),
                "level": worst.as_str(),
            }))
        }
        ContractCommand::History { topic } => {
            let entries = store.contracts().history(topic.as_deref())?;
            Ok(json!(entries.iter().map(|(_, e)| entry_json(e)).collect::<Vec<_>>()))
        }
        ContractCommand::HistoryPage { topic, after, limit } => {
            history_page(store, topic.as_deref(), *after, *limit, usize::MAX)
        }
        schema => run_schema(&store.schemas(), schema),
    }
}

/// Most entries of a `history_page` (also what `limit` 0 means).
pub const HISTORY_PAGE_ENTRIES_MAX: u32 = 1000;

/// One page of the contract history: the entries whose offset in
/// `__contracts` is above `after`, oldest first, at most `limit` (0 =
/// [`HISTORY_PAGE_ENTRIES_MAX`]), stopping before the entry that would take
/// the page's JSON past `room` bytes (the first entry is always included).
/// `next_after` is the last entry's offset when more may follow, else null.
pub fn history_page(store: &Store, topic: Option<&str>, after: Option<u64>, limit: u32, room: usize) -> Result<Value> {
    let limit = match limit {
        0 => HISTORY_PAGE_ENTRIES_MAX,
        1..=HISTORY_PAGE_ENTRIES_MAX => limit,
        _ => {
            return Err(invalid(
                "limit",
                format!("{limit} entries: at most {HISTORY_PAGE_ENTRIES_MAX} (0 = {HISTORY_PAGE_ENTRIES_MAX})"),
            ))
        }
    };
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    // `{"entries":[],"next_after":18446744073709551615}`
    let mut used = 48usize;
    let mut entries = Vec::new();
    let mut last = None;
    let mut next_after = None;
    for (offset, entry) in store.contracts().history(topic)? {
        if after.is_some_and(|a| offset <= a) {
            continue;
        }
        let value = entry_json(&entry);
        let size = value.to_string().len() + 1;
        if entries.len() >= limit || (!entries.is_empty() && used.saturating_add(size) > room) {
            next_after = last;
            break;
        }
        used = used.saturating_add(size);
        entries.push(value);
        last = Some(offset);
    }
    Ok(json!({"entries": entries, "next_after": next_after}))
}

fn apply(store: &Store, text: &str, dry_run: bool, force: bool, actor: &str) -> Result<Value> {
    let report = store.contracts().apply(&ApplyRequest {
        text,
        actor,
        dry_run,
        force,
    })?;
    let changes: Vec<Value> = report
        .schema_changes
        .iter()
        .map(|c| {
            json!({"subject": c.subject, "from_version": c.from_version, "to_version": c.to_version,
                   "compatibility": c.compatibility, "compatible": c.compatible, "messages": c.messages})
        })
        .collect();
    Ok(json!({
        "topic": report.topic, "version": report.version, "previous": report.previous,
        "applied": report.applied, "unchanged": report.unchanged, "dry_run": dry_run,
        "forced": report.forced, "schema_changes": changes,
    }))
}

/// An audit entry (an apply or a removal) as JSON.
pub fn entry_json(e: &ContractEntry) -> Value {
    json!({
        "topic": e.topic, "version": e.version, "previous": e.previous, "at": time(e.at_ms),
        "actor": e.actor, "forced": e.forced, "removed": e.removed,
        "pinned": e.pinned.iter().map(|(s, v)| json!({"subject": s, "version": v})).collect::<Vec<_>>(),
        "text": e.text,
    })
}

/// What the append paths of this process counted for a topic since the
/// store opened (`null` before its first checked record): records by result,
/// the share that broke no rule, and violations by rule and action.
fn adherence_json(a: Option<millrace::record_check::AdherenceSnapshot>) -> Value {
    let Some(a) = a else {
        return Value::Null;
    };
    let violations: Vec<Value> = a
        .violations
        .iter()
        .map(|(rule, action, count)| json!({"rule": rule, "action": action.as_str(), "count": count}))
        .collect();
    json!({
        "records": a.records(), "valid": a.valid, "warn": a.warned, "dlq": a.dead_lettered, "reject": a.rejected,
        "valid_ratio": a.adherence_ratio(), "violations": violations,
    })
}

fn status_json(s: &ContractStatus, adherence: Option<millrace::record_check::AdherenceSnapshot>) -> Value {
    let windows: Vec<Value> = s
        .windows
        .iter()
        .map(|w| {
            json!({"rule": w.rule, "kind": w.kind, "duplicates_total": w.duplicates_total,
                   "completeness_ratio": w.completeness_ratio, "threshold": w.threshold, "breached": w.breached})
        })
        .collect();
    json!({
        "topic": s.topic, "version": s.version, "owner": s.owner, "load_error": s.load_error,
        "applied_at": s.entry.as_ref().map(|e| time(e.at_ms)),
        "applied_by": s.entry.as_ref().map(|e| e.actor.clone()),
        "forced": s.entry.as_ref().is_some_and(|e| e.forced),
        "freshness": {"age_seconds": s.freshness_age_seconds, "warn_seconds": s.freshness_thresholds.0,
                      "error_seconds": s.freshness_thresholds.1, "level": s.freshness.as_str()},
        "dlq": {"depth": s.dlq_depth, "warn": s.dlq_thresholds.0, "error": s.dlq_thresholds.1, "level": s.dlq.as_str()},
        "windows": windows,
        "adherence": adherence_json(adherence),
        "level": s.worst().as_str(),
    })
}

fn version_json(v: &SubjectVersion) -> Value {
    json!({"subject": v.subject, "version": v.version, "id": v.id, "schemaType": v.schema_type.name(), "schema": v.schema})
}

fn schema_type(name: &str) -> Result<SchemaType> {
    SchemaType::from_name(name).ok_or_else(|| invalid("schemaType", format!("{name:?}: AVRO, JSON or PROTOBUF")))
}

/// `subject`'s version `version` (the latest for `None`), or
/// `VersionNotFound`; `SubjectNotFound` for a subject without versions.
fn found_version(registry: &SchemaRegistry, subject: &str, version: Option<u32>) -> Result<SubjectVersion> {
    registry.versions(subject, false)?;
    registry.version(subject, version)?.ok_or(Error::VersionNotFound {
        subject: subject.to_string(),
        version: version.unwrap_or_default(),
        not_soft_deleted: false,
    })
}

fn run_schema(registry: &SchemaRegistry, command: &ContractCommand) -> Result<Value> {
    Ok(match command {
        ContractCommand::SchemaRegister {
            subject,
            schema_type: kind,
            schema,
        } => {
            let registered = registry.register(subject, schema_type(kind)?, schema)?;
            json!({"subject": subject, "version": registered.version, "id": registered.id})
        }
        ContractCommand::SchemaList { deleted } => {
            let mut entries = Vec::new();
            for subject in registry.subjects(*deleted)? {
                let latest = registry.version(&subject, None)?;
                let mut entry = json!({"subject": subject, "latest": latest.as_ref().map(|v| v.version),
                    "id": latest.as_ref().map(|v| v.id), "schemaType": latest.as_ref().map(|v| v.schema_type.name())});
                if *deleted {
                    // The soft-deleted versions, each named (as Confluent's
                    // `GET /schemas?deleted=true` marks them).
                    let live = registry.versions(&subject, false).unwrap_or_default();
                    let soft: Vec<u32> = registry
                        .versions(&subject, true)?
                        .into_iter()
                        .filter(|v| !live.contains(v))
                        .collect();
                    if let Some(fields) = entry.as_object_mut() {
                        fields.insert("softDeleted".into(), json!(soft));
                    }
                }
                entries.push(entry);
            }
            json!(entries)
        }
        ContractCommand::SchemaShow { subject, version, id } => match (subject, id) {
            (_, Some(id)) => {
                let schema = registry.by_id(*id)?.ok_or(Error::SchemaNotFound { id: *id })?;
                json!({"id": id, "schemaType": schema.schema_type.name(), "schema": schema.schema, "subjects": registry.subjects_of(*id)?})
            }
            (Some(subject), None) => version_json(&found_version(
                registry,
                subject,
                version.and_then(SchemaVersion::number),
            )?),
            (None, None) => return Err(invalid("subject", "name a subject or an id")),
        },
        ContractCommand::SchemaCheck {
            subject,
            schema_type: kind,
            schema,
            version,
        } => {
            let against = match version {
                None => None,
                Some(v) => Some(found_version(registry, subject, v.number())?.version),
            };
            let report = registry.check_compatibility(subject, schema_type(kind)?, schema, against)?;
            let level = registry.compatibility(Some(subject))?;
            // Against one version the level's directions apply without its
            // transitivity: say so rather than name a check not made.
            let applied = if against.is_some() { level.against_one() } else { level };
            json!({"subject": subject, "level": level.name(), "applied": applied.name(),
                "checked": report.checked, "compatible": report.compatible, "messages": report.messages})
        }
        ContractCommand::SchemaDelete {
            subject,
            version,
            permanent,
        } => {
            let deleted = match version {
                None => registry.delete_subject(subject, *permanent)?,
                Some(v) => vec![registry.delete_version(subject, v.number(), *permanent)?],
            };
            json!({"subject": subject, "deleted": deleted, "permanent": permanent})
        }
        ContractCommand::SchemaConfig { subject, set, clear } => {
            if let Some(name) = set {
                let level = Compatibility::from_name(name).ok_or_else(|| {
                    invalid(
                        "compatibility",
                        format!("{name:?}: NONE, BACKWARD, BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL or FULL_TRANSITIVE"),
                    )
                })?;
                registry.set_compatibility(subject.as_deref(), level)?;
            } else if *clear {
                registry.clear_compatibility(subject.as_deref())?;
            }
            let level = registry.compatibility(subject.as_deref())?;
            let own = registry.configured_compatibility(subject.as_deref())?;
            json!({"subject": subject, "compatibility": level.name(), "set": own.is_some()})
        }
        ContractCommand::Apply { .. }
        | ContractCommand::Remove { .. }
        | ContractCommand::Show { .. }
        | ContractCommand::Status { .. }
        | ContractCommand::History { .. }
        | ContractCommand::HistoryPage { .. } => return Err(invalid("command", "not a schema command")),
    })
}
