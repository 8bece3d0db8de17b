//! Contracts through the public API: a contract file parsed (errors name
//! their line), compiled into the topic's `RecordCheck` and judged on
//! records (per-field rules, Confluent framing, schema ids and subjects,
//! JSON Schema and Avro payloads, tombstones), windowed measures and
//! freshness after `observe`, and applied contracts kept in `__contracts`:
//! versioned, audited, installed again at open, a damaged one costing only
//! its topic.

use crate::common;
use millrace::contract::check::{Action, RecordCheck};
use millrace::contract::{compile, parse, ApplyRequest, FixedSchemas, SchemaKind, CONTRACTS_TOPIC};
use millrace::{Error, Record, Store, StoreOptions, TopicConfig};
use std::sync::Arc;

const HEAD: &str = "apiVersion: v3.0.0\nkind: DataContract\nid: urn:orders\nversion: 1.0.0\nstatus: active\nowner: payments\ntopic: orders\n";

const RULES: &str = "properties:
  - name: id
    required: true
    logicalType: string
    format: uuid
  - name: amount
    required: true
    logicalType: number
    minimum: 0
    maximum: 1000
    action: dlq
  - name: currency
    enum: [EUR, USD]
    action: warn
  - name: customer
    logicalType: object
    properties:
      - name: email
        format: email
        pattern: '@example\\.com$'
";

fn contract(extra: &str) -> String {
    format!("{HEAD}{extra}")
}

fn rules_of(check: &dyn RecordCheck, value: &str) -> Vec<(String, String, Action)> {
    check
        .check(0, &Record::new(value))
        .violations
        .into_iter()
        .map(|v| (v.rule, v.path, v.action))
        .collect()
}

#[test]
fn a_bad_contract_file_names_its_line_and_what_is_wrong() {
    let e = parse(&contract("properties:\n  - name: id\n    requird: true\n")).unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, Error::InvalidInput { what: "contract", .. }), "{text}");
    assert!(text.contains("line 10") && text.contains("requird"), "{text}");
    let e = parse(&contract("properties:\n  - name: a\n    minimum: 5\n    maximum: 1\n")).unwrap_err();
    assert!(e.to_string().contains("minimum 5 is above maximum 1"), "{e}");
    let e = parse(&contract("properties:\n  - name: a\n    pattern: '(a'\n")).unwrap_err();
    assert!(e.to_string().contains("pattern"), "{e}");
    let e = parse(&contract(
        "quality:\n  - name: q\n    type: uniqueness\n    field: /id\n    window: {records: 10}\n    action: reject\n",
    ))
    .unwrap_err();
    assert!(e.to_string().contains("never refuse"), "{e}");
    let huge = format!("{}{}", contract(""), "# x\n".repeat(300_000));
    assert!(parse(&huge).unwrap_err().to_string().contains("at most"));
}

#[test]
fn per_field_rules_judge_a_json_value_with_paths_and_actions() {
    let check = compile(parse(&contract(RULES)).unwrap(), 1, Arc::new(FixedSchemas::default())).unwrap();
    let good = r#"{"id":"123e4567-e89b-12d3-a456-426614174000","amount":12.5,"currency":"EUR","customer":{"email":"a@example.com"}}"#;
    assert_eq!(rules_of(&check, good), vec![]);
    let bad = r#"{"id":"nope","amount":1001,"currency":"GBP","customer":{"email":"a@elsewhere.org"}}"#;
    assert_eq!(
        rules_of(&check, bad),
        vec![
            ("id.format".into(), "/id".into(), Action::Reject),
            ("amount.maximum".into(), "/amount".into(), Action::Dlq),
            ("currency.enum".into(), "/currency".into(), Action::Warn),
            (
                "customer.email.pattern".into(),
                "/customer/email".into(),
                Action::Reject
            ),
        ]
    );
    assert_eq!(
        rules_of(&check, r#"{"amount":"12"}"#),
        vec![
            ("id.required".into(), "/id".into(), Action::Reject),
            ("amount.type".into(), "/amount".into(), Action::Dlq),
        ]
    );
    let verdict = check.check(0, &Record::new("not json"));
    assert_eq!(verdict.contract_version, 1);
    assert_eq!(verdict.decisive().map(|v| v.rule.as_str()), Some("schema"));
    // A tombstone is never a violation.
    assert!(check.check(0, &Record::tombstone()).violations.is_empty());
    // Deep JSON is refused by the parser's depth limit, not by the stack.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert_eq!(rules_of(&check, &deep).len(), 1);
}

fn framed(id: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0];
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

#[test]
fn confluent_framing_schema_ids_and_subjects_are_checked() {
    let schema = r#"{"type":"object","properties":{"amount":{"type":"number","maximum":100}},"required":["amount"]}"#;
    let schemas = FixedSchemas::default()
        .with("orders-value", 7, SchemaKind::Json, schema)
        .with("payments-value", 8, SchemaKind::Json, r#"{"type":"object"}"#);
    let file = contract("schema:\n  value:\n    compatibility: BACKWARD\n    action: dlq\nproperties:\n  - name: amount\n    minimum: 1\n");
    let check = compile(parse(&file).unwrap(), 3, Arc::new(schemas)).unwrap();
    let judge = |bytes: Vec<u8>| -> Vec<(String, String)> {
        check
            .check(0, &Record::new(bytes))
            .violations
            .into_iter()
            .map(|v| {
                assert_eq!(v.action, Action::Dlq, "{v:?}");
                (v.rule, v.path)
            })
            .collect()
    };
    assert_eq!(judge(framed(7, br#"{"amount": 5}"#)), vec![]);
    assert_eq!(
        judge(br#"{"amount": 5}"#.to_vec()),
        vec![("schema.framing".into(), String::new())]
    );
    assert_eq!(judge(vec![0, 0, 7]), vec![("schema.framing".into(), String::new())]);
    assert_eq!(judge(framed(9, b"{}")), vec![("schema.id".into(), String::new())]);
    assert_eq!(judge(framed(8, b"{}")), vec![("schema.subject".into(), String::new())]);
    assert_eq!(
        judge(framed(7, br#"{"amount": 500}"#)),
        vec![("schema".into(), "/amount".into())]
    );
    assert_eq!(judge(framed(7, b"{]")), vec![("schema".into(), String::new())]);
    // Valid against the schema, broken by the contract's own rule (action reject by default).
    let v = check.check(0, &Record::new(framed(7, br#"{"amount": 0}"#))).violations;
    assert_eq!((v[0].rule.as_str(), v[0].action), ("amount.minimum", Action::Reject));
    assert!(check.check(0, &Record::tombstone()).violations.is_empty());

    // One request of records naming several ids, valid and not, in turns:
    // `check_each` (what the append paths call, which reuses what an id
    // resolved to for the request's later records) gives each record the
    // verdict `check` gives it alone.
    let request: Vec<Record> = [
        framed(7, br#"{"amount": 5}"#),
        framed(8, b"{}"),
        framed(7, br#"{"amount": 500}"#),
        framed(9, b"{}"),
        framed(7, br#"{"amount": 6}"#),
        br#"{"amount": 5}"#.to_vec(),
        framed(7, br#"{"amount": 0}"#),
        framed(8, b"{}"),
        framed(7, br#"{"amount": 7}"#),
    ]
    .into_iter()
    .map(Record::new)
    .collect();
    let mut each = Vec::new();
    check.check_each(0, &request, &mut |index, verdict| each.push((index, verdict)));
    let alone: Vec<_> = request.iter().map(|r| check.check(0, r)).enumerate().collect();
    assert_eq!(each, alone);
    let broken: Vec<usize> = each
        .iter()
        .filter(|(_, v)| !v.violations.is_empty())
        .map(|(i, _)| *i)
        .collect();
    assert_eq!(broken, vec![1, 2, 3, 5, 6, 7]);
}

#[test]
fn a_json_schema_with_a_remote_ref_is_never_fetched() {
    let schema = r#"{"$ref":"http://127.0.0.1:9/never.json"}"#;
    let schemas = FixedSchemas::default().with("orders-value", 1, SchemaKind::Json, schema);
    let check = compile(
        parse(&contract("schema:\n  value: {}\n")).unwrap(),
        1,
        Arc::new(schemas),
    )
    .unwrap();
    let v = check.check(0, &Record::new(framed(1, b"{}"))).violations;
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].rule, "schema");
}

/// Avro binary: a zigzag varint.
fn long(n: i64, out: &mut Vec<u8>) {
    let mut z = ((n << 1) ^ (n >> 63)) as u64;
    loop {
        let byte = (z & 0x7f) as u8;
        z >>= 7;
        if z == 0 {
            out.push(byte);
            break;
        }
        out.push(byte | 0x80);
    }
}

#[test]
fn avro_records_are_decoded_with_the_writer_schema_the_framing_names() {
    let schema =
        r#"{"type":"record","name":"Order","fields":[{"name":"id","type":"string"},{"name":"amount","type":"long"}]}"#;
    let schemas = FixedSchemas::default().with("orders-value", 42, SchemaKind::Avro, schema);
    let file = contract("schema:\n  value: {}\nproperties:\n  - name: amount\n    maximum: 10\n");
    let check = compile(parse(&file).unwrap(), 1, Arc::new(schemas)).unwrap();
    let datum = |id: &str, amount: i64| {
        let mut out = Vec::new();
        long(id.len() as i64, &mut out);
        out.extend_from_slice(id.as_bytes());
        long(amount, &mut out);
        framed(42, &out)
    };
    assert!(check.check(0, &Record::new(datum("a", 5))).violations.is_empty());
    let v = check.check(0, &Record::new(datum("a", 50))).violations;
    assert_eq!((v[0].rule.as_str(), v[0].path.as_str()), ("amount.maximum", "/amount"));
    let mut trailing = datum("a", 5);
    trailing.push(1);
    assert_eq!(check.check(0, &Record::new(trailing)).violations[0].rule, "schema");
    // A string length claiming far more than the record holds: an error, no allocation.
    let mut lying = framed(42, &[]);
    long(1 << 40, &mut lying);
    assert_eq!(check.check(0, &Record::new(lying)).violations[0].rule, "schema");
}

#[test]
fn windowed_rules_and_freshness_are_measured_after_the_append() {
    let file = contract(
        "quality:
  - name: unique-id
    type: uniqueness
    field: /id
    window: {records: 100}
  - name: email-complete
    type: completeness
    field: /email
    window: {seconds: 3600}
    mustBeGreaterOrEqualTo: 0.9
slaProperties:
  - property: freshness
    warn: 5m
    error: 1h
    element: /at
",
    );
    let check = compile(parse(&file).unwrap(), 1, Arc::new(FixedSchemas::default())).unwrap();
    let records: Vec<Record> = [
        r#"{"id":1,"email":"a@b.co","at":"2026-01-01T00:00:00Z"}"#,
        r#"{"id":2,"at":"2026-01-01T00:00:01Z"}"#,
        r#"{"id":1,"email":"c@d.co","at":1767225600500}"#,
    ]
    .iter()
    .map(|v| Record::new(*v))
    .collect();
    check.observe(0, 0, &records);
    let m = check.measures();
    assert_eq!(m.windows[0].duplicates_total, 1);
    assert!((m.windows[1].completeness_ratio.unwrap() - 2.0 / 3.0).abs() < 1e-9);
    assert!(m.windows[1].breached);
    assert_eq!(m.newest_ms, Some(1_767_225_601_000));
    assert_eq!(m.freshness_seconds, (Some(300), Some(3600)));
}

fn store_with_topics(path: &std::path::Path) -> Store {
    let store = Store::open(path, StoreOptions::default()).unwrap();
    for t in ["orders", "payments"] {
        store.create_topic(t, TopicConfig::with_partitions(1)).unwrap();
    }
    store
}

fn apply(store: &Store, text: &str) -> millrace::contract::ApplyReport {
    store
        .contracts()
        .apply(&ApplyRequest {
            text,
            actor: "alice",
            dry_run: false,
            force: false,
        })
        .unwrap()
}

#[test]
fn applied_contracts_are_versioned_audited_and_installed_again_at_open() {
    let dir = common::scratch_dir();
    let path = dir.path().join("data");
    let store = store_with_topics(&path);
    let v1 = contract(RULES);
    let report = apply(&store, &v1);
    assert_eq!((report.version, report.previous, report.applied), (1, None, true));
    // The same file again is no new version.
    let again = apply(&store, &v1);
    assert_eq!((again.version, again.unchanged, again.applied), (1, true, false));
    let v2 = v1.replace("maximum: 1000", "maximum: 10");
    let dry = store
        .contracts()
        .apply(&ApplyRequest {
            text: &v2,
            actor: "bob",
            dry_run: true,
            force: false,
        })
        .unwrap();
    assert_eq!((dry.version, dry.applied), (2, false));
    assert_eq!(store.contracts().history(Some("orders")).unwrap().len(), 1);
    apply(&store, &v2);
    let check = store.record_checks().get("orders").expect("installed");
    let verdict = check.check(
        0,
        &Record::new(r#"{"id":"123e4567-e89b-12d3-a456-426614174000","amount":11}"#),
    );
    assert_eq!(verdict.contract_version, 2);
    assert_eq!(verdict.action(), Some(Action::Dlq));
    assert!(store.record_checks().get("payments").is_none());
    // A contract for a topic that does not exist, or an internal one, is refused.
    let e = store
        .contracts()
        .apply(&ApplyRequest {
            text: &v1.replace("topic: orders", "topic: nowhere"),
            actor: "alice",
            dry_run: false,
            force: false,
        })
        .unwrap_err();
    assert!(matches!(e, Error::TopicNotFound(_)), "{e}");
    store.close().unwrap();

    let store = Store::open(&path, StoreOptions::default()).unwrap();
    let check = store.record_checks().get("orders").expect("installed at open");
    assert_eq!(check.check(0, &Record::new("{}")).contract_version, 2);
    let history = store.contracts().history(None).unwrap();
    let audit: Vec<(u32, Option<u32>, &str)> = history
        .iter()
        .map(|(_, e)| (e.version, e.previous, e.actor.as_str()))
        .collect();
    assert_eq!(audit, vec![(1, None, "alice"), (2, Some(1), "alice")]);
    assert_eq!(store.contracts().show("orders", Some(1)).unwrap().unwrap().text, v1);
    assert_eq!(store.contracts().show("orders", None).unwrap().unwrap().version, 2);
    // Removal: recorded, uninstalled, and stays removed after a reopen.
    assert_eq!(store.contracts().remove("orders", "carol").unwrap(), Some(2));
    assert!(store.record_checks().get("orders").is_none());
    store.close().unwrap();
    let store = Store::open(&path, StoreOptions::default()).unwrap();
    assert!(store.record_checks().get("orders").is_none());
    let history = store.contracts().history(Some("orders")).unwrap();
    let removal = &history.last().unwrap().1;
    assert!(removal.removed);
    // The removal has its own number; the version it removed is its previous.
    assert_eq!((removal.version, removal.previous), (3, Some(2)));
    // A new apply after a removal continues the numbering: the audit's
    // numbers strictly increase.
    assert_eq!(apply(&store, &v1).version, 4);
    let numbers: Vec<u32> = store
        .contracts()
        .history(Some("orders"))
        .unwrap()
        .iter()
        .map(|(_, e)| e.version)
        .collect();
    assert_eq!(numbers, vec![1, 2, 3, 4]);
    store.close().unwrap();
}

#[test]
fn a_damaged_contract_record_costs_only_its_topic_and_refuses_its_records() {
    let dir = common::scratch_dir();
    let path = dir.path().join("data");
    let store = store_with_topics(&path);
    apply(&store, &contract(RULES));
    apply(&store, &contract(RULES).replace("topic: orders", "topic: payments"));
    store.close().unwrap();
    // Forge the first record (orders): a valid batch whose contract no longer parses.
    let segment = common::log_path(&path, CONTRACTS_TOPIC, 0, 0);
    let mut bytes = std::fs::read(&segment).unwrap();
    let layout = common::batch_layout(&bytes);
    let (at, header) = layout[0];
    let end = at + header.length as usize;
    let needle = b"kind: DataContract";
    let found = bytes[at..end].windows(needle.len()).position(|w| w == needle).unwrap() + at;
    bytes[found + needle.len() - 1] = b'X';
    let crc = crc32fast::hash(&bytes[at + 12..end]);
    bytes[at + 8..at + 12].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&segment, &bytes).unwrap();

    let store = Store::open(&path, StoreOptions::default()).unwrap();
    assert!(store.damaged().is_empty(), "the store opened whole");
    let verdict = store
        .record_checks()
        .get("orders")
        .expect("a refusing check")
        .check(0, &Record::new("{}"));
    assert_eq!(verdict.action(), Some(Action::Reject));
    assert!(
        verdict.violations[0].message.contains("could not be loaded"),
        "{verdict:?}"
    );
    let payments = store
        .record_checks()
        .get("payments")
        .expect("the other topic's contract");
    assert_eq!(payments.check(0, &Record::new("{}")).contract_version, 1);
    let status = store.contract_status(None).unwrap();
    let orders = status.iter().find(|s| s.topic == "orders").unwrap();
    assert!(
        orders.load_error.as_deref().unwrap().contains("DataContracX"),
        "{orders:?}"
    );
    // Applying again heals it.
    assert_eq!(apply(&store, &contract(RULES)).version, 2);
    assert!(store.contract_status(Some("orders")).unwrap()[0].load_error.is_none());
    store.close().unwrap();
}

#[test]
fn appends_through_the_store_feed_the_windowed_measures_and_freshness() {
    let dir = common::scratch_dir();
    let store = store_with_topics(&dir.path().join("data"));
    apply(
        &store,
        &contract(
            "quality:
  - name: unique-id
    type: uniqueness
    field: /id
    window: {records: 10}
slaProperties:
  - property: freshness
    warn: 1m
",
        ),
    );
    let before = millrace::clock::now_ms();
    store
        .append(
            "orders",
            0,
            &[
                Record::new(r#"{"id":1}"#),
                Record::new(r#"{"id":2}"#),
                Record::new(r#"{"id":1}"#),
            ],
        )
        .unwrap();
    let measures = store.contracts().current("orders").unwrap().measures();
    assert_eq!(measures.windows[0].duplicates_total, 1);
    assert!(measures.newest_ms.unwrap() >= before);
    let status = store.contract_status(Some("orders")).unwrap();
    assert_eq!(status[0].freshness, millrace::contract::SlaLevel::Ok);
    store.close().unwrap();
}

/// A contract's compatibility is the contract's promise: an apply whose
/// schema change breaks it is refused even when the registry holds the
/// subject at NONE (so the registry let the schema in), and a transitive
/// level checks every earlier version, not only the one pinned.
#[test]
fn an_apply_is_checked_at_the_contracts_level_not_the_subjects() {
    use millrace::schema::{Compatibility, SchemaType};
    let dir = common::scratch_dir();
    let store = store_with_topics(&dir.path().join("data"));
    let registry = store.schemas();
    registry
        .set_compatibility(Some("orders-value"), Compatibility::None)
        .unwrap();
    let with_b = r#"{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"string"}},"required":["a"]}"#;
    registry.register("orders-value", SchemaType::Json, with_b).unwrap();
    let file = |level: &str| {
        contract(&format!(
            "schema:\n  value:\n    compatibility: {level}\n    action: dlq\n"
        ))
    };
    apply(&store, &file("BACKWARD"));
    // b required: data written without b cannot be read (not BACKWARD).
    let b_required =
        r#"{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"string"}},"required":["a","b"]}"#;
    registry.register("orders-value", SchemaType::Json, b_required).unwrap();
    let refused = store
        .contracts()
        .apply(&ApplyRequest {
            text: &file("BACKWARD").replace("1.0.0", "1.0.1"),
            actor: "alice",
            dry_run: false,
            force: false,
        })
        .unwrap_err();
    assert!(
        matches!(&refused, Error::IncompatibleSchema { subject, .. } if subject == "orders-value"),
        "{refused:?}"
    );
    let forced = store
        .contracts()
        .apply(&ApplyRequest {
            text: &file("BACKWARD").replace("1.0.0", "1.0.1"),
            actor: "alice",
            dry_run: false,
            force: true,
        })
        .unwrap();
    assert!(forced.forced && forced.applied, "{forced:?}");
    let change = forced.schema_changes.first().expect("one schema change");
    assert_eq!(
        (change.from_version, change.to_version, change.compatible),
        (1, 2, false)
    );
}
