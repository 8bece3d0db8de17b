// Over 600 lines: a compiled contract's compile, its verdict (fast check, then the reference path) and its observe share private state; fast/ and window.rs hold the parts that split out.
//! A contract compiled into the [`RecordCheck`] the append paths ask:
//! Confluent framing and schema id, the payload decoded and validated
//! against its registered schema, the per-field rules on the decoded value;
//! and, after the append, the windowed rules and freshness.

use crate::clock::now_ms;
use crate::contract::check::{Action, Kept, RecordCheck, RecordView, Verdict, Violation};
use crate::contract::fast;
use crate::contract::model::{
    invalid, pointer_tokens, threshold_count, threshold_seconds, ContractFile, Framing, SlaKind,
};
use crate::contract::rules::{self, FieldRule, MESSAGE_BYTES_MAX};
use crate::contract::schemas::{
    Cache, Compiled, SchemaSource, AVRO_ALLOCATION_BYTES_MAX, AVRO_DEEP_STACK_BYTES, AVRO_RECURSIVE_BYTES_MAX,
};
use crate::contract::window::{Freshness, WindowMeasure, WindowRule};
use crate::error::Result;
use crate::Record;
use serde_json::{Map, Value};
use std::sync::Arc;

/// Most schema errors reported for one record.
const SCHEMA_ERRORS_MAX: usize = 8;
/// Deepest value judged (serde_json's own parse limit for JSON).
const JSON_NESTING_MAX: usize = 128;

/// The key or the value side's schema check.
#[derive(Debug)]
struct SideCheck {
    /// `""` for the value, `key` for the key: the prefix of violation paths.
    path: &'static str,
    subject: String,
    framing: Framing,
    action: Action,
}

/// A side's compiled schema and its payload after the framing, or the
/// broken rule and its message.
type Resolved<'b> = std::result::Result<(Arc<Compiled>, &'b [u8]), (&'static str, String)>;

/// A compiled contract: the topic's [`RecordCheck`].
#[derive(Debug)]
pub struct CompiledContract {
    topic: String,
    version: u32,
    file: ContractFile,
    key: Option<SideCheck>,
    value: Option<SideCheck>,
    rules: Vec<FieldRule>,
    /// The rules' names resolved for the fast check of a contract without
    /// a value schema (a schema's plan resolves them itself, in `cache`).
    rule_names: fast::Names,
    /// The top-level fields the windowed rules and freshness name, resolved
    /// for `observe` without a value schema; `None`: some name a nested
    /// field (or too many), and `observe` decodes whole values.
    picks: Option<fast::Names>,
    windows: Vec<WindowRule>,
    freshness: Option<Freshness>,
    dlq_depth: (Option<u64>, Option<u64>),
    source: Arc<dyn SchemaSource>,
    cache: Cache,
}

/// What a contract measured (the windowed rules and freshness), for status and metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct ContractMeasures {
    /// The topic.
    pub topic: String,
    /// The contract version in force.
    pub version: u32,
    /// The newest record's append (or event) time seen, ms since the Unix epoch.
    pub newest_ms: Option<i64>,
    /// Freshness warn and error thresholds, seconds.
    pub freshness_seconds: (Option<u64>, Option<u64>),
    /// DLQ depth warn and error thresholds, records.
    pub dlq_depth: (Option<u64>, Option<u64>),
    /// The windowed rules.
    pub windows: Vec<WindowMeasure>,
}

fn violation(rule: &str, path: String, message: String, action: Action) -> Violation {
    let mut message = message;
    if message.len() > MESSAGE_BYTES_MAX {
        let mut cut = MESSAGE_BYTES_MAX;
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message.truncate(cut);
    }
    Violation {
        rule: rule.to_string(),
        path,
        message,
        action,
    }
}

/// Compile `file` as version `version` of its topic's contract, reading schemas from `source`.
pub fn compile(file: ContractFile, version: u32, source: Arc<dyn SchemaSource>) -> Result<CompiledContract> {
    apache_avro::util::max_allocation_bytes(AVRO_ALLOCATION_BYTES_MAX);
    let side = |path: &'static str, default_subject: String, s: &Option<crate::contract::model::SideSchema>| {
        s.as_ref().map(|s| SideCheck {
            path,
            subject: s.subject.clone().unwrap_or(default_subject),
            framing: s.framing.unwrap_or(Framing::Required),
            action: s.action.map_or(Action::Reject, Action::from),
        })
    };
    let key = side("key", format!("{}-key", file.topic), &file.schema.key);
    let value = side("", format!("{}-value", file.topic), &file.schema.value);
    let rules = rules::compile(&file.properties, "", "")?;
    let windows = file
        .quality
        .iter()
        .map(|q| Ok(WindowRule::new(q, pointer_tokens("quality field", &q.field)?)))
        .collect::<Result<Vec<_>>>()?;
    let mut freshness = None;
    let mut dlq_depth = (None, None);
    for sla in &file.sla_properties {
        match sla.property {
            SlaKind::Freshness => {
                let tokens = sla
                    .element
                    .as_deref()
                    .map(|e| pointer_tokens("element", e))
                    .transpose()?;
                freshness = Some(Freshness::new(
                    tokens,
                    sla.warn.as_ref().map(threshold_seconds).transpose()?,
                    sla.error.as_ref().map(threshold_seconds).transpose()?,
                ));
            }
            SlaKind::DlqDepth => {
                dlq_depth = (
                    sla.warn.as_ref().map(threshold_count).transpose()?,
                    sla.error.as_ref().map(threshold_count).transpose()?,
                );
            }
        }
    }
    if version == 0 {
        return Err(invalid("contract versions start at 1"));
    }
    let names: Vec<&str> = rules.iter().map(FieldRule::name).collect();
    let picked = picked_fields(&windows, freshness.as_ref());
    let pick_list: Vec<&str> = picked.iter().flatten().map(String::as_str).collect();
    let rule_names = fast::Names::with_picks(&[], &names, &pick_list);
    let picks = picked.is_some().then(|| fast::Names::new(&[], &pick_list));
    let cache = Cache::for_rules(
        names.iter().map(|n| (*n).to_string()).collect(),
        picked.unwrap_or_default(),
    );
    Ok(CompiledContract {
        topic: file.topic.clone(),
        version,
        file,
        key,
        value,
        rules,
        rule_names,
        picks,
        windows,
        freshness,
        dlq_depth,
        source,
        cache,
    })
}

impl CompiledContract {
    /// The topic it governs.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Its version in the store.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The file it was compiled from.
    pub fn file(&self) -> &ContractFile {
        &self.file
    }

    /// The freshness SLA's event-time field, if it has one (`None`: append time).
    pub(crate) fn event_time_tokens(&self) -> Option<&[String]> {
        self.freshness.as_ref().and_then(|f| f.tokens.as_deref())
    }

    /// Seed the freshness measure with the log's newest record time.
    pub(crate) fn saw_newest(&self, at_ms: i64) {
        if let Some(f) = &self.freshness {
            f.saw(at_ms);
        }
    }

    /// What the windowed rules and freshness measured.
    pub fn measures(&self) -> ContractMeasures {
        ContractMeasures {
            topic: self.topic.clone(),
            version: self.version,
            newest_ms: self.freshness.as_ref().and_then(Freshness::newest_ms),
            freshness_seconds: self
                .freshness
                .as_ref()
                .map_or((None, None), |f| (f.warn_seconds, f.error_seconds)),
            dlq_depth: self.dlq_depth,
            windows: self.windows.iter().map(WindowRule::measure).collect(),
        }
    }

    /// Whether there is anything to decode for after an append.
    fn observes_values(&self) -> bool {
        !self.windows.is_empty() || self.event_time_tokens().is_some()
    }

    /// Decode the value of `record` (its framing, schema and payload
    /// checked), adding what is broken to `out`. `None` when there is no
    /// JSON form to judge (a tombstone, Protobuf, broken framing).
    pub(crate) fn decode_value(&self, record: RecordView<'_>, out: &mut Vec<Violation>) -> Option<Value> {
        let value = record.value?;
        match &self.value {
            Some(side) => self.decode_side(side, value, out),
            None if !self.rules.is_empty() || self.observes_values() => match serde_json::from_slice::<Value>(value) {
                Ok(v) => Some(v),
                Err(e) => {
                    out.push(violation(
                        "schema",
                        String::new(),
                        format!("the value is not JSON: {e}"),
                        Action::Reject,
                    ));
                    None
                }
            },
            None => None,
        }
    }

    /// The compiled schema `bytes` (one side of a record) names and its
    /// payload after the framing, or the broken rule and its message.
    fn resolve<'b>(&self, side: &SideCheck, bytes: &'b [u8]) -> Resolved<'b> {
        let registry = |e: crate::error::Error| ("schema.registry", format!("the registry could not be read: {e}"));
        match (side.framing, framed_id(bytes)) {
            (Framing::Required | Framing::Optional, Some(id)) => {
                let Some(compiled) = self.cache.by_id(self.source.as_ref(), id).map_err(registry)? else {
                    return Err(("schema.id", format!("schema id {id} is not registered")));
                };
                let subjects = self.cache.subjects_of(self.source.as_ref(), id).map_err(registry)?;
                if !subjects.contains(&side.subject) {
                    let names: Vec<&str> = subjects.iter().map(String::as_str).take(8).collect();
                    return Err((
                        "schema.subject",
                        format!("schema id {id} is registered under {names:?}, not {:?}", side.subject),
                    ));
                }
                Ok((compiled, bytes.get(5..).unwrap_or_default()))
            }
            (Framing::Required, None) => {
                let what = if bytes.first() == Some(&0) {
                    "is too short for"
                } else {
                    "lacks"
                };
                Err((
                    "schema.framing",
                    format!(
                        "the {} {what} the schema registry framing (magic byte 0, 4-byte schema id)",
                        side_name(side)
                    ),
                ))
            }
            (Framing::Optional | Framing::None, _) => match self.cache.latest(self.source.as_ref(), &side.subject) {
                Err(e) => Err(registry(e)),
                Ok(None) => Err((
                    "schema.subject",
                    format!("subject {:?} has no registered schema", side.subject),
                )),
                Ok(Some((_, c))) => Ok((c, bytes)),
            },
        }
    }

    /// Whether one side of a record surely passes its schema check and
    /// `rules` (the fast check, `fast`); `false`: ask the reference path.
    /// `memo`: the schema a framed id of this side resolved to earlier in
    /// the same request (framing, registration and subject checked then),
    /// reused for the same id without asking the cache again.
    /// `keep`: as for [`fast::json_passes`].
    fn side_passes(
        &self,
        side: &SideCheck,
        bytes: &[u8],
        rules: &[FieldRule],
        memo: &mut Memo,
        keep: Option<&mut Option<Map<String, Value>>>,
    ) -> bool {
        self.with_side(side, bytes, memo, |compiled, body| match compiled {
            Compiled::Protobuf => true,
            Compiled::Json { plan: Some(plan), .. } => fast::json_passes(body, Some(plan), plan.names(), rules, keep),
            Compiled::Avro { plan: Some(plan), .. } => fast::avro_passes(body, plan, rules),
            Compiled::Json { plan: None, .. } | Compiled::Avro { plan: None, .. } | Compiled::Broken(_) => false,
        })
        .unwrap_or(false)
    }

    /// `f` of the compiled schema one side of a record names and its
    /// payload; `None` when that does not resolve (framing, id, subject,
    /// registry). `memo`: as for [`CompiledContract::side_passes`].
    fn with_side<R>(
        &self,
        side: &SideCheck,
        bytes: &[u8],
        memo: &mut Memo,
        f: impl FnOnce(&Compiled, &[u8]) -> R,
    ) -> Option<R> {
        let framed = match side.framing {
            Framing::Required | Framing::Optional => framed_id(bytes),
            Framing::None => None,
        };
        let resolved;
        let (compiled, body) = match (framed, memo.as_ref()) {
            (Some(id), Some((known, compiled))) if id == *known => {
                (compiled.as_ref(), bytes.get(5..).unwrap_or_default())
            }
            _ => {
                let Ok((compiled, body)) = self.resolve(side, bytes) else {
                    return None;
                };
                if let Some(id) = framed {
                    *memo = Some((id, compiled.clone()));
                }
                resolved = compiled;
                (resolved.as_ref(), body)
            }
        };
        Some(f(compiled, body))
    }

    /// The top-level fields of `record`'s value the windowed rules and
    /// freshness name, as an object, decoded without the rest of the value
    /// (`fast::json_pick`, `fast::avro_pick`); `None`: cannot tell, decode
    /// the whole value ([`CompiledContract::decode_value`]), which gives
    /// the same fields whenever this gives any.
    fn picked(&self, record: RecordView<'_>, memo: &mut Memo) -> Option<Value> {
        let picks = self.picks.as_ref()?;
        let value = record.value?;
        match &self.value {
            Some(side) => self
                .with_side(side, value, memo, |compiled, body| match compiled {
                    Compiled::Json { plan: Some(plan), .. } => fast::json_pick(body, Some(plan), plan.pick_names()),
                    Compiled::Avro { plan: Some(plan), .. } => fast::avro_pick(body, plan),
                    _ => None,
                })
                .flatten(),
            None => fast::json_pick(value, None, picks),
        }
    }

    /// Whether `record` surely breaks nothing: then its verdict has no
    /// violations, as [`CompiledContract::check_reference`] would find.
    /// `keep`: given `None`; a JSON value the reader passes leaves there
    /// its fields `observe` picks (as for [`fast::json_passes`]).
    fn passes(&self, record: RecordView<'_>, memos: &mut Memos, keep: Option<&mut Option<Map<String, Value>>>) -> bool {
        if let (Some(side), Some(key)) = (&self.key, record.key) {
            if !self.side_passes(side, key, &[], &mut memos.key, None) {
                return false;
            }
        }
        let Some(value) = record.value else {
            return true;
        };
        match &self.value {
            Some(side) => self.side_passes(side, value, &self.rules, &mut memos.value, keep),
            None if !self.rules.is_empty() || self.observes_values() => {
                fast::json_passes(value, None, &self.rule_names, &self.rules, keep)
            }
            None => true,
        }
    }

    /// The fast check alone (for the differential tests): `true` only if
    /// [`CompiledContract::check_reference`] finds no violation in `record`.
    #[doc(hidden)]
    pub fn fast_passes(&self, record: &Record) -> bool {
        self.passes(RecordView::of(record), &mut Memos::default(), None)
    }

    /// The verdict on `record`: the fast check first, the reference path
    /// for a record it cannot vouch for.
    /// `keep`: as for [`CompiledContract::passes`].
    fn judged(
        &self,
        record: RecordView<'_>,
        memos: &mut Memos,
        keep: Option<&mut Option<Map<String, Value>>>,
    ) -> Verdict {
        if self.passes(record, memos, keep) {
            return Verdict {
                contract_version: self.version,
                violations: Vec::new(),
            };
        }
        self.judged_reference(record)
    }

    /// The verdict on `record` by the reference path: the value decoded
    /// (a `serde_json::Value`), validated and judged. [`RecordCheck::check`]
    /// gives the same verdict, taking the fast check first; kept for the
    /// records the fast check cannot vouch for and as its reference in the
    /// differential tests.
    #[doc(hidden)]
    pub fn check_reference(&self, record: &Record) -> Verdict {
        self.judged_reference(RecordView::of(record))
    }

    /// [`CompiledContract::check_reference`] of a record's view.
    fn judged_reference(&self, record: RecordView<'_>) -> Verdict {
        let mut violations = Vec::new();
        if let (Some(side), Some(key)) = (&self.key, record.key) {
            self.decode_side(side, key, &mut violations);
        }
        if let Some(value) = self.decode_value(record, &mut violations) {
            rules::judge(&self.rules, &value, &mut violations);
        }
        Verdict {
            contract_version: self.version,
            violations,
        }
    }

    fn decode_side(&self, side: &SideCheck, bytes: &[u8], out: &mut Vec<Violation>) -> Option<Value> {
        let fail = |out: &mut Vec<Violation>, rule: &str, message: String| -> Option<Value> {
            out.push(violation(rule, side.path.to_string(), message, side.action));
            None
        };
        let (compiled, body) = match self.resolve(side, bytes) {
            Ok(found) => found,
            Err((rule, message)) => return fail(out, rule, message),
        };
        match compiled.as_ref() {
            Compiled::Broken(message) => {
                fail(out, "schema", message.clone());
                None
            }
            Compiled::Protobuf => None,
            Compiled::Json { validator, .. } => {
                let value: Value = match serde_json::from_slice(body) {
                    Ok(v) => v,
                    Err(e) => {
                        fail(out, "schema", format!("the {} is not JSON: {e}", side_name(side)));
                        return None;
                    }
                };
                // The valid record (the common case) takes the validator's
                // fast path; only an invalid one has its errors collected.
                if validator.is_valid(&value) {
                    return Some(value);
                }
                let before = out.len();
                for error in validator.iter_errors(&value).take(SCHEMA_ERRORS_MAX) {
                    let path = format!("{}{}", side.path, error.instance_path().as_str());
                    out.push(violation("schema", path, error.to_string(), side.action));
                }
                (out.len() == before).then_some(value)
            }
            Compiled::Avro {
                schema,
                recursive,
                deep,
                nesting,
                ..
            } => {
                // Without recursion a datum's JSON form nests at most one
                // level deeper than its schema: no need to measure it.
                let bounded = !*recursive && nesting.saturating_add(1) <= JSON_NESTING_MAX;
                if *recursive && body.len() > AVRO_RECURSIVE_BYTES_MAX {
                    return fail(
                        out,
                        "schema",
                        format!(
                            "{} bytes of a recursive Avro schema; at most {AVRO_RECURSIVE_BYTES_MAX} are decoded",
                            body.len()
                        ),
                    );
                }
                let decoded = if *deep {
                    std::thread::scope(|scope| {
                        std::thread::Builder::new()
                            .stack_size(AVRO_DEEP_STACK_BYTES)
                            .spawn_scoped(scope, || decode_avro(schema, body, bounded))
                            .map_err(|e| format!("no thread to decode on: {e}"))
                            .and_then(|t| t.join().unwrap_or_else(|_| Err("the decoder failed".into())))
                    })
                } else {
                    decode_avro(schema, body, bounded)
                };
                match decoded {
                    Ok(v) => Some(v),
                    Err(message) => fail(out, "schema", format!("the {}: {message}", side_name(side))),
                }
            }
        }
    }
}

/// An Avro datum of `schema` as JSON: every byte read, at most
/// [`JSON_NESTING_MAX`] levels deep (a deeper value is dropped here, on the
/// decoding thread's stack; `bounded`: the schema cannot nest that deep).
fn decode_avro(schema: &apache_avro::Schema, body: &[u8], bounded: bool) -> std::result::Result<Value, String> {
    let mut reader = body;
    let datum = apache_avro::reader::datum::GenericDatumReader::builder(schema)
        .build()
        .and_then(|r| r.read_value(&mut reader))
        .map_err(|e| format!("not a datum of its schema: {e}"))?;
    if !reader.is_empty() {
        return Err(format!("{} bytes follow the Avro datum", reader.len()));
    }
    let value = Value::try_from(datum).map_err(|e| format!("the datum has no JSON form: {e}"))?;
    if !bounded && nesting(&value) > JSON_NESTING_MAX {
        return Err(format!("the datum nests deeper than {JSON_NESTING_MAX} levels"));
    }
    Ok(value)
}

/// How deep `value` nests (iteratively: no recursion on a deep value).
fn nesting(value: &Value) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(value, 1usize)];
    while let Some((v, level)) = stack.pop() {
        deepest = deepest.max(level);
        match v {
            Value::Array(items) => stack.extend(items.iter().map(|i| (i, level + 1))),
            Value::Object(map) => stack.extend(map.values().map(|i| (i, level + 1))),
            _ => {}
        }
    }
    deepest
}

fn side_name(side: &SideCheck) -> &'static str {
    if side.path.is_empty() {
        "value"
    } else {
        "key"
    }
}

/// A framed record's schema id (magic byte 0, then 4 bytes big-endian).
/// The top-level fields the windowed rules and freshness name (each once),
/// if none names a nested field and they fit the fast check's bits.
fn picked_fields(windows: &[WindowRule], freshness: Option<&Freshness>) -> Option<Vec<String>> {
    let mut picked: Vec<String> = Vec::new();
    let event_time = freshness.and_then(|f| f.tokens.as_deref());
    for tokens in windows.iter().map(|w| w.tokens.as_slice()).chain(event_time) {
        let [name] = tokens else { return None };
        if !picked.contains(name) {
            picked.push(name.clone());
        }
    }
    (picked.len() <= fast::TRACKED_MAX).then_some(picked)
}

fn framed_id(bytes: &[u8]) -> Option<u32> {
    match (bytes.first(), bytes.get(1..5)) {
        (Some(0), Some(id)) => <[u8; 4]>::try_from(id).ok().map(u32::from_be_bytes),
        _ => None,
    }
}

/// What [`RecordCheck::check_views`] kept for `observe_views`: per record
/// of the request, its picked fields as an object (as
/// [`CompiledContract::picked`] would find them), `None` where the check's
/// reader did not keep them.
struct KeptPicks(Vec<Option<Value>>);

/// A framed schema id and what it resolved to, for one side of a request's records.
type Memo = Option<(u32, Arc<Compiled>)>;

/// The key and the value side's [`Memo`].
#[derive(Default)]
struct Memos {
    key: Memo,
    value: Memo,
}

impl RecordCheck for CompiledContract {
    fn check(&self, _partition: u32, record: &Record) -> Verdict {
        self.judged(RecordView::of(record), &mut Memos::default(), None)
    }

    /// The records of a request share what their framed ids resolved to:
    /// a request's records are judged against the registry as it was at
    /// its first record (the cache answers for up to a second anyway).
    fn check_each(&self, _partition: u32, records: &[Record], verdict: &mut dyn FnMut(usize, Verdict)) {
        let mut memos = Memos::default();
        for (index, record) in records.iter().enumerate() {
            verdict(index, self.judged(RecordView::of(record), &mut memos, None));
        }
    }

    /// As [`RecordCheck::check_each`], on the records where they are.
    /// With windowed rules or freshness on top-level fields, the reader of
    /// a JSON value that passes keeps those fields ([`KeptPicks`]), so that
    /// `observe_views` does not read the value a second time.
    fn check_views(
        &self,
        _partition: u32,
        records: &[RecordView<'_>],
        verdict: &mut dyn FnMut(usize, Verdict),
    ) -> Option<Kept> {
        let mut memos = Memos::default();
        if self.picks.is_none() {
            for (index, record) in records.iter().enumerate() {
                verdict(index, self.judged(*record, &mut memos, None));
            }
            return None;
        }
        let mut kept = Vec::with_capacity(records.len());
        for (index, record) in records.iter().enumerate() {
            let mut keep = None;
            verdict(index, self.judged(*record, &mut memos, Some(&mut keep)));
            kept.push(keep.map(Value::Object));
        }
        Some(Kept::new(KeptPicks(kept)))
    }

    fn observe(&self, partition: u32, base_offset: u64, records: &[Record]) {
        let views: Vec<RecordView<'_>> = records.iter().map(RecordView::of).collect();
        self.observe_views(partition, base_offset, &views, None);
    }

    fn observe_views(&self, partition: u32, _base_offset: u64, records: &[RecordView<'_>], kept: Option<&Kept>) {
        let kept = kept
            .and_then(Kept::get::<KeptPicks>)
            .map(|k| k.0.as_slice())
            .filter(|k| k.len() == records.len());
        let now = now_ms();
        if !self.observes_values() {
            if let (Some(f), false) = (&self.freshness, records.is_empty()) {
                f.saw(now);
            }
            return;
        }
        // Decoded first, up to 256 at a time (bounded memory), so that each
        // windowed rule takes its lock once per 256 records, not per record.
        let mut ignored = Vec::new();
        let mut memo = None;
        for (at, chunk) in records.chunks(256).enumerate() {
            let mut values = Vec::with_capacity(chunk.len());
            for (i, record) in chunk.iter().enumerate() {
                let kept = kept.and_then(|k| k.get(at * 256 + i)).and_then(Option::as_ref);
                match kept.cloned().or_else(|| self.picked(*record, &mut memo)) {
                    Some(picked) => values.push(picked),
                    None => {
                        ignored.clear();
                        values.extend(self.decode_value(*record, &mut ignored));
                    }
                }
            }
            for w in &self.windows {
                w.observe(partition, now, &values);
            }
            if let Some(f) = &self.freshness {
                let newest = match f.tokens.as_deref() {
                    Some(tokens) => values.iter().filter_map(|v| Freshness::event_time(tokens, v)).max(),
                    None => (!values.is_empty()).then_some(now),
                };
                if let Some(t) = newest {
                    f.saw(t);
                }
            }
        }
    }
}
