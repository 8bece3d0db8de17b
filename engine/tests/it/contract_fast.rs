//! The fast check (per-record rules and schema judged without a DOM,
//! `engine/src/contract/fast/`) against the reference path it stands in
//! for (`CompiledContract::check_reference`: the value decoded into a
//! `serde_json::Value`, validated, judged), over generated JSON Schemas,
//! flat Avro schemas, contracts and records, valid and broken: the fast
//! check never passes a record the reference finds anything wrong with,
//! verdicts and messages are the same, and the fast check does pass most
//! valid records (it is not vacuous). The same for what `observe` decodes
//! for the windowed rules and freshness (only the top-level fields they
//! name, `engine/src/contract/fast/pick.rs`, or what the check's reader
//! kept of them, `RecordCheck::check_views` then `observe_views`): the
//! measures equal those of the same contract whose extra rule reads the
//! whole value.
//! `PROPTEST_CASES` (default 256) sets the number of cases per property.

use millrace::contract::check::{RecordCheck, RecordView};
use millrace::contract::{compile, parse, CompiledContract, FixedSchemas, SchemaKind};
use millrace::Record;
use proptest::prelude::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

const NAMES: [&str; 5] = ["a", "b", "c", "d", "e"];

fn framed(id: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0];
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// A property of a contract: its rules as YAML lines.
fn rule() -> impl Strategy<Value = Option<String>> {
    let lines = (
        any::<bool>(),
        prop::sample::select(vec![
            "", "string", "integer", "number", "boolean", "object", "array", "date",
        ]),
        prop::sample::select(vec!["", "[EUR, USD]", "[1, 2.0]", "[true]"]),
        prop::sample::select(vec!["", "0", "2.5", "-1"]),
        prop::sample::select(vec!["", "10", "100000"]),
        prop::sample::select(vec!["", "1", "3"]),
        prop::sample::select(vec!["", "'^[a-z]+$'", "'@example\\.com$'"]),
        prop::sample::select(vec!["", "uuid", "email", "date-time", "date"]),
        prop::sample::select(vec!["reject", "dlq", "warn"]),
    )
        .prop_map(|(required, ty, en, min, max, len, pattern, format, action)| {
            let mut s = String::new();
            if required {
                s.push_str("    required: true\n");
            }
            for (key, value) in [
                ("logicalType", ty),
                ("enum", en),
                ("minimum", min),
                ("maximum", max),
                ("maxLength", len),
                ("pattern", pattern),
                ("format", format),
            ] {
                if !value.is_empty() {
                    s.push_str(&format!("    {key}: {value}\n"));
                }
            }
            s.push_str(&format!("    action: {action}\n"));
            s
        });
    prop::option::of(lines)
}

/// The contract's text: a value side (framing required) if `schema`, and rules.
fn contract(schema: bool, rules: &[Option<String>]) -> String {
    let mut s = String::from(
        "apiVersion: v3.0.0\nkind: DataContract\nid: urn:t\nversion: 1.0.0\nstatus: active\nowner: o\ntopic: t\n",
    );
    if schema {
        s.push_str("schema:\n  value:\n    framing: required\n    action: dlq\n");
    }
    if rules.iter().any(Option::is_some) {
        s.push_str("properties:\n");
        for (name, lines) in NAMES.iter().zip(rules) {
            if let Some(lines) = lines {
                s.push_str(&format!("  - name: {name}\n{lines}"));
            }
        }
    }
    s
}

/// A property of a JSON Schema.
fn json_property() -> impl Strategy<Value = Option<String>> {
    let keywords = (
        prop::sample::select(vec![
            "", "string", "integer", "number", "boolean", "null", "object", "array",
        ]),
        prop::sample::select(vec!["", "[\"EUR\",\"USD\"]", "[\"EUR\",1]"]),
        prop::sample::select(vec!["", "0", "2.5", "-1", "9007199254740993"]),
        prop::sample::select(vec!["", "10", "100000"]),
        prop::sample::select(vec!["", "1", "3"]),
        prop::sample::select(vec![
            "",
            "\"pattern\":\"^[a-z]+$\"",
            "\"title\":\"t\"",
            "\"format\":\"email\"",
        ]),
    )
        .prop_map(|(ty, en, min, max, len, extra)| {
            let mut parts = Vec::new();
            for (key, value) in [
                (
                    "type",
                    if ty.is_empty() {
                        String::new()
                    } else {
                        format!("\"{ty}\"")
                    },
                ),
                ("enum", en.to_string()),
                ("minimum", min.to_string()),
                ("maximum", max.to_string()),
                ("minLength", len.to_string()),
                ("maxLength", if len.is_empty() { String::new() } else { "4".into() }),
            ] {
                if !value.is_empty() {
                    parts.push(format!("\"{key}\":{value}"));
                }
            }
            if !extra.is_empty() {
                parts.push(extra.to_string());
            }
            format!("{{{}}}", parts.join(","))
        });
    prop::option::of(keywords)
}

fn json_schema() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(json_property(), 5),
        prop::collection::vec(any::<bool>(), 5),
        prop::sample::select(vec!["", "true", "false"]),
        any::<bool>(),
    )
        .prop_map(|(properties, required, additional, typed)| {
            let props: Vec<String> = NAMES
                .iter()
                .zip(&properties)
                .filter_map(|(n, p)| p.as_ref().map(|p| format!("\"{n}\":{p}")))
                .collect();
            let required: Vec<String> = NAMES
                .iter()
                .zip(&required)
                .filter(|(_, r)| **r)
                .map(|(n, _)| format!("\"{n}\""))
                .collect();
            let mut parts = vec![
                format!("\"properties\":{{{}}}", props.join(",")),
                format!("\"required\":[{}]", required.join(",")),
            ];
            if typed {
                parts.push("\"type\":\"object\"".into());
            }
            if !additional.is_empty() {
                parts.push(format!("\"additionalProperties\":{additional}"));
            }
            format!("{{{}}}", parts.join(","))
        })
}

fn json_value() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "null",
            "true",
            "false",
            "1.0",
            "-0.0",
            "1e3",
            "2.5",
            "-1",
            "9007199254740993",
            "18446744073709551615",
            "-9223372036854775808",
            "1e400",
            "\"EUR\"",
            "\"USD\"",
            "\"\"",
            "\"abc\"",
            "\"abcdef\"",
            "\"h\u{e9}llo\"",
            "\"\\u00e9t\\u00e9\"",
            "\"123e4567-e89b-12d3-a456-426614174000\"",
            "\"a@example.com\"",
            "\"2026-12-07T10:00:00Z\"",
            "\"2026-12-07\"",
            "{}",
            "{\"k\":[1,{\"x\":null}]}",
            "[]",
            "[1,2,3]",
            // The fast check's own reader (`fast/reader.rs`) leaves these
            // to serde_json, or must read them exactly as it does.
            "-0",
            "0",
            "01",
            "1.",
            "1e",
            "-",
            "1E+2",
            "1e-400",
            "123456789012345678",
            "1234567890123456789",
            "123456789012345678901234567890",
            "\"a\\\"b\"",
            "\"\\ud800\"",
            "\"\\q\"",
            "\"a\u{1}b\"",
            "\"a\tb\"",
            "\"0123456789abcdef0123456789abcdef\\n\"",
            "\"0123456789abcdef0123456789abc\u{1f}\"",
            "\"EUR",
            "[1,]",
            "{\"k\":1,}",
            "[1 2]",
            " \t\r\n true ",
        ])
        .prop_map(str::to_string),
        (0usize..150).prop_map(|n| format!("{}{}", "[".repeat(n), "]".repeat(n))),
        "[ -~\u{e9}]{0,40}".prop_map(|s| format!("\"{s}\"")),
        (-5i64..200).prop_map(|n| n.to_string()),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| f.to_string()),
    ]
}

/// A JSON record: an object of named fields (repeats and an escaped key
/// included), sometimes broken.
fn json_record() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::collection::vec(
            (
                prop::sample::select(vec!["a", "b", "c", "d", "e", "x", "\\u0061"]),
                json_value(),
            ),
            0..7,
        ),
        0u8..12,
        any::<prop::sample::Index>(),
    )
        .prop_map(|(fields, mangle, at)| {
            let body: Vec<String> = fields.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
            let mut text = format!("{{{}}}", body.join(",")).into_bytes();
            match mangle {
                0 => {
                    let cut = at.index(text.len());
                    text.truncate(cut);
                }
                1 => text.extend_from_slice(b" x"),
                2 => text = [b"[", text.as_slice(), b"]"].concat(),
                3 => text.insert(at.index(text.len() + 1), 0xff),
                _ => {}
            }
            text
        })
}

fn agree(check: &CompiledContract, record: &Record, passed: &AtomicUsize) {
    let verdict = millrace::contract::check::RecordCheck::check(check, 0, record);
    let reference = check.check_reference(record);
    if check.fast_passes(record) {
        assert!(
            reference.violations.is_empty(),
            "fast passed what the reference breaks: {reference:?}"
        );
        passed.fetch_add(1, Ordering::Relaxed);
    }
    assert_eq!(verdict, reference);
}

/// `base` with windowed rules on `/a` (uniqueness), `/b` and `/x`
/// (completeness) and an event-time freshness SLA on `/c`; with `whole`,
/// one more rule on the whole value (so `observe` decodes all of it).
fn windowed(base: &str, whole: bool) -> String {
    let mut s = format!(
        "{base}quality:
  - name: unique-a
    type: uniqueness
    field: /a
    window: {{records: 1000}}
  - name: b-complete
    type: completeness
    field: /b
    window: {{seconds: 3600}}
  - name: x-complete
    type: completeness
    field: /x
    window: {{records: 1000}}
"
    );
    if whole {
        s.push_str("  - name: whole\n    type: completeness\n    field: ''\n    window: {records: 1000}\n");
    }
    s.push_str("slaProperties:\n  - property: freshness\n    warn: 5m\n    error: 1h\n    element: /c\n");
    s
}

/// Observe `records` with the fields picked, with the fields the check's
/// reader kept (checked first, as the append paths do) and with the whole
/// value decoded: equal measures.
fn observe_agrees(base: &str, schemas: &FixedSchemas, records: &[Record]) {
    let (Ok(named), Ok(all)) = (parse(&windowed(base, false)), parse(&windowed(base, true))) else {
        return;
    };
    let kept = compile(named.clone(), 1, Arc::new(schemas.clone())).unwrap();
    let named = compile(named, 1, Arc::new(schemas.clone())).unwrap();
    let all = compile(all, 1, Arc::new(schemas.clone())).unwrap();
    named.observe(0, 0, records);
    all.observe(0, 0, records);
    let views: Vec<RecordView<'_>> = records.iter().map(RecordView::of).collect();
    let what = kept.check_views(0, &views, &mut |_, _| {});
    assert!(
        what.is_some(),
        "windowed rules on top-level fields: the check keeps them"
    );
    kept.observe_views(0, 0, &views, what.as_ref());
    let (a, b, c) = (named.measures(), all.measures(), kept.measures());
    assert_eq!(a.windows[..], b.windows[..3]);
    assert_eq!(a.newest_ms, b.newest_ms);
    assert_eq!(c.windows[..], b.windows[..3]);
    assert_eq!(c.newest_ms, b.newest_ms);
}

static JSON_PASSED: AtomicUsize = AtomicUsize::new(0);
static AVRO_PASSED: AtomicUsize = AtomicUsize::new(0);

proptest! {
    #[test]
    fn json_records_get_the_reference_verdict(
        schema in json_schema(),
        with_schema in any::<bool>(),
        rules in prop::collection::vec(rule(), 5),
        records in prop::collection::vec(json_record(), 1..12),
    ) {
        let file = contract(with_schema, &rules);
        let Ok(file) = parse(&file) else { return Ok(()) };
        let schemas = FixedSchemas::default().with("t-value", 1, SchemaKind::Json, &schema);
        let check = compile(file, 1, Arc::new(schemas.clone())).unwrap();
        let records: Vec<Record> = records
            .into_iter()
            .map(|payload| Record::new(if with_schema { framed(1, &payload) } else { payload }))
            .collect();
        for record in &records {
            agree(&check, record, &JSON_PASSED);
        }
        observe_agrees(&contract(with_schema, &rules), &schemas, &records);
    }
}

#[test]
fn the_fast_check_passes_valid_json_and_avro_records() {
    let schema = r#"{"type":"object","properties":{"a":{"type":"string","enum":["EUR","USD"]},"b":{"type":"integer","minimum":0}},"required":["a","b"],"additionalProperties":false}"#;
    let schemas = FixedSchemas::default().with("t-value", 1, SchemaKind::Json, schema);
    let rules = [
        Some("    required: true\n    pattern: '^[A-Z]+$'\n".to_string()),
        None,
        None,
        None,
        None,
    ];
    let check = compile(parse(&contract(true, &rules)).unwrap(), 1, Arc::new(schemas)).unwrap();
    let good = Record::new(framed(1, br#"{"b":5,"a":"EUR"}"#));
    assert!(check.fast_passes(&good));
    assert!(check.check_reference(&good).violations.is_empty());
    for bad in [
        &br#"{"b":5,"a":"GBP"}"#[..],
        br#"{"b":-1,"a":"EUR"}"#,
        br#"{"b":5,"a":"EUR","z":1}"#,
        br#"{"b":5}"#,
        br#"{"b":5,"a":"EUR","a":"USD"}"#,
        br#"{"b":5,"a":"EUR"} x"#,
    ] {
        let record = Record::new(framed(1, bad));
        assert!(!check.fast_passes(&record), "{}", String::from_utf8_lossy(bad));
        let verdict = millrace::contract::check::RecordCheck::check(&check, 0, &record);
        assert_eq!(verdict, check.check_reference(&record));
    }
    // A duplicate key is left to the reference, which keeps the last one.
    let dup = Record::new(framed(1, br#"{"b":5,"a":"GBP","a":"EUR"}"#));
    assert!(check.check_reference(&dup).violations.is_empty());

    let avro =
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"string"},{"name":"b","type":["null","long"]}]}"#;
    let schemas = FixedSchemas::default().with("t-value", 2, SchemaKind::Avro, avro);
    let check = compile(parse(&contract(true, &rules)).unwrap(), 1, Arc::new(schemas)).unwrap();
    let good = Record::new(framed(2, &[6, b'E', b'U', b'R', 2, 10]));
    assert!(check.fast_passes(&good));
    assert!(check.check_reference(&good).violations.is_empty());
    let lower = Record::new(framed(2, &[6, b'e', b'u', b'r', 0]));
    assert!(!check.fast_passes(&lower));
    assert_eq!(check.check_reference(&lower).violations[0].rule, "a.pattern");
}

/// An Avro field type and a value of it (Avro binary), sometimes broken.
fn avro_field() -> impl Strategy<Value = (&'static str, Vec<u8>)> {
    let long = |n: i64| {
        let mut z = ((n << 1) ^ (n >> 63)) as u64;
        let mut out = Vec::new();
        loop {
            let byte = (z & 0x7f) as u8;
            z >>= 7;
            if z == 0 {
                out.push(byte);
                return out;
            }
            out.push(byte | 0x80);
        }
    };
    let string = move |s: &str| [long(s.len() as i64), s.as_bytes().to_vec()].concat();
    prop_oneof![
        Just(("\"null\"", Vec::new())),
        prop::sample::select(vec![0u8, 1, 2]).prop_map(|b| ("\"boolean\"", vec![b])),
        prop_oneof![(-5i64..200), any::<i64>()].prop_map(move |n| ("\"int\"", long(n))),
        prop_oneof![(-5i64..200), any::<i64>()].prop_map(move |n| ("\"long\"", long(n))),
        any::<f32>().prop_map(|f| ("\"float\"", f.to_le_bytes().to_vec())),
        prop_oneof![Just(2.5f64), Just(1.0), Just(f64::NAN), any::<f64>()]
            .prop_map(|f| ("\"double\"", f.to_le_bytes().to_vec())),
        prop::sample::select(vec!["EUR", "abc", "", "a@example.com", "2026-12-07", "h\u{e9}"])
            .prop_map(move |s| ("\"string\"", string(s))),
        Just(("\"string\"", vec![4, 0xff, 0xfe])),
        Just(("\"bytes\"", vec![4, 1, 2])),
        prop::sample::select(vec!["EUR", "xyz"])
            .prop_map(move |s| ("[\"null\",\"string\"]", [vec![2], string(s)].concat())),
        Just(("[\"null\",\"string\"]", vec![0])),
        Just(("[\"null\",\"string\"]", vec![4])),
        (0i64..20).prop_map(move |n| ("[\"null\",\"long\"]", [vec![2], long(n)].concat())),
    ]
}

proptest! {
    #[test]
    fn avro_records_get_the_reference_verdict(
        fields in prop::collection::vec(avro_field(), 1..6),
        rules in prop::collection::vec(rule(), 5),
        mangle in 0u8..8,
        at in any::<prop::sample::Index>(),
    ) {
        let Ok(file) = parse(&contract(true, &rules)) else { return Ok(()) };
        let declared: Vec<String> = NAMES
            .iter()
            .zip(&fields)
            .map(|(n, (ty, _))| format!("{{\"name\":\"{n}\",\"type\":{ty}}}"))
            .collect();
        let schema = format!("{{\"type\":\"record\",\"name\":\"R\",\"fields\":[{}]}}", declared.join(","));
        let schemas = FixedSchemas::default().with("t-value", 3, SchemaKind::Avro, &schema);
        let check = compile(file, 1, Arc::new(schemas.clone())).unwrap();
        let mut datum: Vec<u8> = fields.iter().flat_map(|(_, v)| v.clone()).collect();
        match mangle {
            0 => {
                let cut = at.index(datum.len().max(1));
                datum.truncate(cut);
            }
            1 => datum.push(0),
            _ => {}
        }
        let record = Record::new(framed(3, &datum));
        agree(&check, &record, &AVRO_PASSED);
        observe_agrees(&contract(true, &rules), &schemas, &[record.clone(), record]);
    }
}

#[test]
fn the_generated_cases_pass_the_fast_check_often_enough_to_mean_something() {
    // Run after (or alongside) the properties above in the same binary:
    // give them a fixed, small run of their own to count on.
    let passed = |f: fn()| {
        f();
    };
    passed(json_records_get_the_reference_verdict);
    passed(avro_records_get_the_reference_verdict);
    assert!(
        JSON_PASSED.load(Ordering::Relaxed) > 10,
        "{}",
        JSON_PASSED.load(Ordering::Relaxed)
    );
    assert!(
        AVRO_PASSED.load(Ordering::Relaxed) > 10,
        "{}",
        AVRO_PASSED.load(Ordering::Relaxed)
    );
}
