//! The fast check's JSON scanner (`engine/src/contract/fast/scan.rs`,
//! reached through `millrace::contract::fuzz::json_acceptance`) against
//! `serde_json::from_slice::<Value>`, the reference path's parser: where the
//! scanner decides, it accepts and refuses exactly what serde_json does
//! (duplicate keys, escapes, surrogates, UTF-8, number forms and ranges,
//! nesting, trailing bytes), and it decides every ordinary document.
//! `PROPTEST_CASES` (default 256) sets the number of cases per property.

use millrace::contract::fuzz::json_acceptance;
use proptest::prelude::*;

fn serde_accepts(text: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(text).is_ok()
}

/// Asserts the scanner decides `text` (no deferral) as serde_json does.
fn decides_like_serde(text: &[u8]) {
    let reference = serde_accepts(text);
    assert_eq!(
        json_acceptance(text),
        Some(reference),
        "{:?} (serde_json accepts: {reference})",
        String::from_utf8_lossy(text)
    );
}

#[test]
fn the_scanner_accepts_and_refuses_what_serde_json_does() {
    let accepted: &[&[u8]] = &[
        br#"{}"#,
        b" \t\r\n{ } \n",
        br#"{"a":1,"a":2}"#,
        br#"{"a":[1,{"b":[]},"x"],"c":{"d":null}}"#,
        br#""\" \\ \/ \b \f \n \r \t \u00e9 \uD83D\uDE00 \u0000""#,
        "\"h\u{e9}llo \u{1F600}\"".as_bytes(),
        b"0",
        b"-0",
        b"-0.0",
        b"1.5e10",
        b"1E+2",
        b"1e-2",
        b"1e-400",
        b"-1e-99999999999",
        b"123.456",
        b"18446744073709551615",
        b"18446744073709551616",
        b"-9223372036854775808",
        b"-9223372036854775809",
        b"true",
        b"false",
        b"null",
        b"[]",
        b"[ 1 , 2 ]",
    ];
    for text in accepted {
        assert!(serde_accepts(text), "{:?}", String::from_utf8_lossy(text));
        decides_like_serde(text);
    }
    let refused: &[&[u8]] = &[
        b"",
        b" ",
        b"{",
        br#"{"a":1,}"#,
        br#"{"a" 1}"#,
        br#"{a:1}"#,
        br#"{"a":1}x"#,
        br#"{"a":1} {}"#,
        b"[1,]",
        b"[,1]",
        b"01",
        b"-",
        b"-a",
        b"1.",
        b".5",
        b"1.e5",
        b"1e",
        b"1e+",
        b"+1",
        b"1e400",
        b"tru",
        b"truex",
        b"nul",
        b"True",
        br#""\x""#,
        br#""\u12""#,
        br#""\u12G4""#,
        br#""\uD83D""#,
        br#""\uD83Dx""#,
        br#""\uD83D\n""#,
        br#""\uD83D\u0041""#,
        br#""\uDE00""#,
        b"\"a\x01\"",
        b"\"a\tb\"",
        b"\"\xff\"",
        b"\"\xc3\"",
        b"\"\xed\xa0\x80\"",
        b"\"abc",
        b"\xef\xbb\xbf{}",
        b"{}\x00",
        b"'a'",
        b"NaN",
        b"Infinity",
    ];
    for text in refused {
        assert!(!serde_accepts(text), "{:?}", String::from_utf8_lossy(text));
        decides_like_serde(text);
    }
}

#[test]
fn the_scanner_defers_only_on_deep_nesting_and_never_recurses() {
    // Numbers near the edge of f64's range are parsed, not deferred.
    for text in [
        &[b'1'; 400][..],
        &[b'1'; 308],
        b"1e301",
        b"1.7976931348623157e308",
        b"1.7976931348623159e308",
        b"-1e309",
        b"0e99999999999",
        b"0.0000001e310",
    ] {
        decides_like_serde(text);
    }
    // Nesting beyond its depth: deferred, and no stack is spent on it.
    let deep = [vec![b'['; 100_000], vec![b']'; 100_000]].concat();
    assert_eq!(json_acceptance(&deep), None);
    let nested = [vec![b'['; 100], vec![b']'; 100]].concat();
    decides_like_serde(&nested);
}

/// Pieces of JSON text, valid and broken.
fn piece() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::sample::select(vec![
            "{",
            "}",
            "[",
            "]",
            ",",
            ":",
            " ",
            "\n",
            "\"",
            "\"a\"",
            "\"a\":",
            "\\",
            "\\n",
            "\\\"",
            "\\u00e9",
            "\\uD83D\\uDE00",
            "\\uD83D",
            "\\uDE00",
            "\\u12",
            "\\q",
            "0",
            "-0",
            "01",
            "1.5",
            "1.",
            ".5",
            "1e5",
            "1E+2",
            "-1e-7",
            "1e",
            "-",
            "18446744073709551616",
            "-9223372036854775809",
            "true",
            "false",
            "null",
            "tru",
            "\u{e9}",
            "\u{1F600}",
            "\u{1}",
            "\t",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        prop::sample::select(vec![0x80u8, 0xC3, 0xED, 0xFF, 0x7F]).prop_map(|b| vec![b]),
    ]
}

/// A valid JSON value, nested a few levels.
fn json_value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        prop::sample::select(vec![
            "null",
            "true",
            "false",
            "0",
            "-0",
            "1.5",
            "-2.5e-3",
            "1E9",
            "\"\"",
            "\"abc\"",
            "\"\\u00e9\\n\"",
            "\"\\uD83D\\uDE00\"",
            "\"h\u{e9}llo\"",
        ])
        .prop_map(str::to_string),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| format!("{f:e}")),
        "[ -~]{0,40}".prop_map(|s| serde_json::to_string(&s).unwrap()),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec(("[a-c]{1,2}", inner), 0..6).prop_map(|v| {
                let members: Vec<String> = v.iter().map(|(k, x)| format!("\"{k}\" : {x}")).collect();
                format!("{{ {} }}", members.join(",\n"))
            }),
        ]
    })
}

proptest! {
    #[test]
    fn valid_documents_are_decided_and_accepted(value in json_value()) {
        prop_assert_eq!(json_acceptance(value.as_bytes()), Some(true), "{}", value);
    }

    #[test]
    fn mangled_documents_get_serde_jsons_acceptance(
        value in json_value(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0u8..3, piece()), 1..4),
    ) {
        let mut text = value.into_bytes();
        for (at, how, piece) in edits {
            let i = at.index(text.len() + 1);
            match how {
                0 => { text.splice(i..i, piece); }
                1 => text.truncate(i),
                _ => { text.drain(i..(i + piece.len()).min(text.len())); }
            }
        }
        if let Some(accepted) = json_acceptance(&text) {
            prop_assert_eq!(accepted, serde_accepts(&text), "{:?}", String::from_utf8_lossy(&text));
        }
    }

    #[test]
    fn pieces_get_serde_jsons_acceptance(pieces in prop::collection::vec(piece(), 1..12)) {
        let text = pieces.concat();
        if let Some(accepted) = json_acceptance(&text) {
            prop_assert_eq!(accepted, serde_accepts(&text), "{:?}", String::from_utf8_lossy(&text));
        }
    }
}
