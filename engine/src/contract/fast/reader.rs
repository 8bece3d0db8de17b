//! The fast check's own JSON reader for the common shape of a record: a
//! top object whose strings have no escapes, whose integers have at most
//! 18 digits and whose containers nest at most [`DEPTH_MAX`] deep. String
//! bodies are scanned 16 bytes at a time (SSE2, part of every x86_64; a
//! scalar loop elsewhere), where serde_json's reader goes 8 at a time and
//! dispatches each token through serde's visitor calls.
//!
//! It answers `Some(verdict)` only for a document in that shape, read
//! with serde_json's grammar (whitespace, literals, number syntax, no
//! trailing commas or text); the verdict is then the one
//! [`super::json_passes`]'s serde_json path gives (the same
//! key-by-key judgement, as `Top` makes it). Anything else (an escape, a
//! control byte, a long integer, deep nesting, a syntax error) is `None`:
//! the serde_json path reads it, so acceptance stays serde_json's. A float
//! is read here, but its text is handed to serde_json's own number parser,
//! so it rounds (and is refused out of range) as there.

use super::{pick, rules_pass, Field, JsonPlan, Names, Num, Scalar};
use crate::contract::rules::FieldRule;
use serde_json::{Map, Value};

/// Containers nested deeper than this (the top object is 1) are left to
/// serde_json (its limit is 128).
const DEPTH_MAX: u32 = 32;

/// Integers with more digits may not fit a `u64`: left to serde_json.
const DIGITS_MAX: usize = 18;

/// The position of the first byte at or after `from` that ends a plain
/// string body (`"`, `\` or a control byte below 0x20), `bytes.len()` if none.
#[inline]
fn special(bytes: &[u8], from: usize) -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        special_sse2(bytes, from)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        special_scalar(bytes, from)
    }
}

/// [`special`] a byte at a time.
#[inline]
fn special_scalar(bytes: &[u8], from: usize) -> usize {
    bytes
        .get(from..)
        .and_then(|rest| rest.iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20))
        .map_or(bytes.len(), |i| from + i)
}

/// [`special`] 16 bytes at a time; the last under 16 bytes of `bytes` a
/// byte at a time.
#[cfg(target_arch = "x86_64")]
#[inline]
#[expect(
    unsafe_code,
    reason = "SSE2 intrinsics: an unaligned 16-byte load and byte compares, which std marks unsafe"
)]
fn special_sse2(bytes: &[u8], from: usize) -> usize {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
    };
    let mut i = from;
    while i.checked_add(16).is_some_and(|end| end <= bytes.len()) {
        // SAFETY: `i + 16 <= bytes.len()` (checked above), so the 16 bytes
        // read start inside `bytes` and end at or before its end;
        // `_mm_loadu_si128` has no alignment requirement; SSE2, the only
        // target feature these need, is part of the x86_64 baseline.
        let mask = unsafe {
            let chunk = _mm_loadu_si128(bytes.as_ptr().add(i).cast());
            let is_quote = _mm_cmpeq_epi8(chunk, _mm_set1_epi8(b'"' as i8));
            let is_backslash = _mm_cmpeq_epi8(chunk, _mm_set1_epi8(b'\\' as i8));
            // b <= 0x1f (unsigned) exactly when min(b, 0x1f) == b.
            let is_control = _mm_cmpeq_epi8(_mm_min_epu8(chunk, _mm_set1_epi8(0x1f)), chunk);
            _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(is_quote, is_backslash), is_control))
        };
        if mask != 0 {
            return i + mask.trailing_zeros() as usize;
        }
        i += 16;
    }
    special_scalar(bytes, i)
}

/// A cursor over the document.
struct Reader<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    #[inline]
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    /// JSON's whitespace, as serde_json skips it.
    #[inline]
    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    /// Whitespace, then `byte`.
    #[inline]
    fn expect(&mut self, byte: u8) -> Option<()> {
        self.skip_ws();
        (self.peek()? == byte).then(|| self.pos += 1)
    }

    /// After whitespace and an opening quote: the string's text up to its
    /// closing quote (`None` at an escape, a control byte or no end).
    #[inline]
    fn string(&mut self) -> Option<&'a str> {
        self.expect(b'"')?;
        let start = self.pos;
        let end = special(self.bytes, start);
        if self.bytes.get(end) != Some(&b'"') {
            return None;
        }
        self.pos = end + 1;
        self.text.get(start..end)
    }

    /// Whitespace, then `,` (`Some(true)`: another member follows) or `close`.
    #[inline]
    fn next_member(&mut self, close: u8) -> Option<bool> {
        self.skip_ws();
        let byte = self.peek()?;
        self.pos += 1;
        match byte {
            b',' => Some(true),
            b if b == close => Some(false),
            _ => None,
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.pos.checked_add(word.len())?;
        (self.bytes.get(self.pos..end)? == word).then(|| self.pos = end)
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        self.pos - start
    }

    /// A number as serde_json reads it (`-0` a float, as there).
    fn number(&mut self) -> Option<Num> {
        let start = self.pos;
        let negative = self.peek() == Some(b'-');
        if negative {
            self.pos += 1;
        }
        let int_start = self.pos;
        let digits = self.digits();
        let int = self.bytes.get(int_start..self.pos)?;
        // No digits, a leading zero or (perhaps) more than a u64.
        if digits == 0 || digits > DIGITS_MAX || (digits > 1 && int.first() == Some(&b'0')) {
            return None;
        }
        if let Some(b'.' | b'e' | b'E') = self.peek() {
            if self.peek() == Some(b'.') {
                self.pos += 1;
                if self.digits() == 0 {
                    return None;
                }
            }
            if let Some(b'e' | b'E') = self.peek() {
                self.pos += 1;
                if let Some(b'+' | b'-') = self.peek() {
                    self.pos += 1;
                }
                if self.digits() == 0 {
                    return None;
                }
            }
            // serde_json's own float parser (and its out-of-range error).
            let f: f64 = serde_json::from_str(self.text.get(start..self.pos)?).ok()?;
            return Some(Num::F(f));
        }
        let significand = int.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
        Some(match (negative, significand) {
            (false, n) => Num::U(n),
            (true, 0) => Num::F(-0.0),
            // At most 18 digits: fits an i64.
            (true, n) => Num::I(-i64::try_from(n).ok()?),
        })
    }

    /// After whitespace, a value: scalars in full, containers read and
    /// told by kind; `depth`: the containers it is in.
    fn value(&mut self, depth: u32) -> Option<Scalar<'a>> {
        self.skip_ws();
        match self.peek()? {
            b'"' => self.string().map(Scalar::Str),
            b'{' => {
                self.pos += 1;
                self.skip_object(depth + 1).map(|()| Scalar::Object)
            }
            b'[' => {
                self.pos += 1;
                self.skip_array(depth + 1).map(|()| Scalar::Array)
            }
            b't' => self.literal(b"true").map(|()| Scalar::Bool(true)),
            b'f' => self.literal(b"false").map(|()| Scalar::Bool(false)),
            b'n' => self.literal(b"null").map(|()| Scalar::Null),
            b'-' | b'0'..=b'9' => self.number().map(Scalar::Num),
            _ => None,
        }
    }

    /// The rest of an object after its `{`.
    fn skip_object(&mut self, depth: u32) -> Option<()> {
        if depth > DEPTH_MAX {
            return None;
        }
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Some(());
        }
        loop {
            self.string()?;
            self.expect(b':')?;
            self.value(depth)?;
            if !self.next_member(b'}')? {
                return Some(());
            }
        }
    }

    /// The rest of an array after its `[`.
    fn skip_array(&mut self, depth: u32) -> Option<()> {
        if depth > DEPTH_MAX {
            return None;
        }
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Some(());
        }
        loop {
            self.value(depth)?;
            if !self.next_member(b']')? {
                return Some(());
            }
        }
    }
}

/// [`super::json_passes`] for a document in this reader's shape
/// (`Some(verdict)`), `None` for the serde_json path to read it; `mask`:
/// [`super::rule_mask`]. With `keep`, a document that passes leaves there
/// the fields its names mark picked, as `fast::json_pick` would find them
/// (left `None` when one of them is a container: `observe` decodes it).
pub(super) fn json_passes(
    text: &str,
    plan: Option<&JsonPlan>,
    names: &Names,
    mask: u64,
    rules: &[FieldRule],
    keep: Option<&mut Option<Map<String, Value>>>,
) -> Option<bool> {
    let mut r = Reader {
        text,
        bytes: text.as_bytes(),
        pos: 0,
    };
    r.expect(b'{')?;
    let (mut seen_properties, mut seen_rules) = (0u64, 0u64);
    // The picked fields (`None` once one cannot be kept), only when asked.
    let mut kept = keep.is_some().then(Map::new);
    r.skip_ws();
    let mut more = if r.peek() == Some(b'}') {
        r.pos += 1;
        false
    } else {
        true
    };
    while more {
        let key = r.string()?;
        r.expect(b':')?;
        let (index, bits, picked) = names
            .get(key)
            .map_or((None, 0, false), |n| (n.property, n.bits & mask, n.picked));
        // The same judgement, in the same order, as `Top::visit_map`.
        let property = match (index, plan) {
            (Some(i), Some(plan)) => {
                if seen_properties & (1u64 << i) != 0 {
                    return Some(false);
                }
                seen_properties |= 1u64 << i;
                plan.properties.get(i)
            }
            (_, Some(plan)) if plan.closed => return Some(false),
            _ => None,
        };
        if seen_rules & bits != 0 {
            return Some(false);
        }
        seen_rules |= bits;
        let value = r.value(1)?;
        if (property.is_some() || bits != 0) && !(Field { property, rules, bits }).judge(value) {
            return Some(false);
        }
        if picked {
            // A repeated key (no plan property): the last one, as the decode keeps.
            kept = kept.and_then(|mut map| {
                map.insert(key.to_string(), pick::value_of(value)?);
                Some(map)
            });
        }
        more = r.next_member(b'}')?;
    }
    r.skip_ws();
    if r.pos != r.bytes.len() {
        return None;
    }
    let required_seen = plan.is_none_or(|plan| seen_properties & plan.required == plan.required);
    let passed = required_seen && rules_pass(rules, mask & !seen_rules, None);
    if let (true, Some(keep)) = (passed, keep) {
        *keep = kept;
    }
    Some(passed)
}

#[cfg(test)]
mod tests {
    use super::super::{json_passes_serde, rule_mask};
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn special_finds_the_first_quote_backslash_or_control_byte() {
        let text = b"0123456789abcdef0123456789ab\"cdef\\";
        assert_eq!(special(text, 0), 28);
        assert_eq!(special(text, 29), 33);
        assert_eq!(special(b"\xff\x80\x7f ~ abcdefghijklmnop\x1f", 0), 22);
        assert_eq!(special(b"no end here at all, not one", 3), 27);
        assert_eq!(special(b"", 0), 0);
    }

    const SCHEMA: &str = r#"{"type":"object","properties":{
        "a":{"type":"string","enum":["EUR","USD"]},
        "b":{"type":"integer","minimum":0,"maximum":100},
        "c":{"type":"number","minimum":-1.5},
        "d":{"type":"string","maxLength":4},
        "e":{"type":"array"},
        "f":{"type":"null"},
        "g":{"type":"boolean"}},
        "required":["a","b"]}"#;

    /// A value: the shapes the reader reads, and those it must leave to serde_json.
    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::sample::select(vec![
                "null",
                "true",
                "false",
                "nul",
                "truex",
                "tru",
                "1",
                "0",
                "-0",
                "-",
                "01",
                "-01",
                "1.",
                "1.5",
                ".5",
                "1e3",
                "1E+2",
                "1e-400",
                "1e400",
                "-1.5e1",
                "2.5e",
                "100",
                "101",
                "-1",
                "-2",
                "123456789012345678",
                "1234567890123456789",
                "18446744073709551616",
                "-9223372036854775809",
                "\"EUR\"",
                "\"USD\"",
                "\"GBP\"",
                "\"abcd\"",
                "\"abcde\"",
                "\"h\u{e9}\u{e9}\"",
                "\"a\\\"b\"",
                "\"\\u0041\"",
                "\"\\ud800\"",
                "\"\\q\"",
                "\"a\u{1}b\"",
                "\"a\tb\"",
                "\"unterminated",
                "{}",
                "[]",
                "[1,]",
                "{\"k\":1,}",
                "{\"k\" 1}",
                "[1 2]",
                "{\"k\":[1,{\"x\":null}],\"k\":2}",
                "[\"0123456789abcdef0123456789\\n\"]",
                " \t\r\n1",
            ])
            .prop_map(str::to_string),
            (0usize..140).prop_map(|n| format!("{}{}", "[".repeat(n), "]".repeat(n))),
            (0usize..70).prop_map(|n| format!("{}1{}", "{\"x\":[".repeat(n), "]}".repeat(n))),
            "[ -~]{0,40}".prop_map(|s| format!("\"{s}\"")),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(|f| f.to_string()),
            any::<i64>().prop_map(|i| i.to_string()),
        ]
    }

    /// A document: an object of members, sometimes mangled at the byte level.
    fn document() -> impl Strategy<Value = Vec<u8>> {
        (
            prop::collection::vec(
                (
                    prop::sample::select(vec!["a", "b", "c", "d", "e", "f", "g", "x", "\\u0061"]),
                    value(),
                ),
                0..8,
            ),
            prop::sample::select(vec!["", " ", "\n\t ", "\u{b}"]),
            0u8..12,
            any::<prop::sample::Index>(),
            any::<u8>(),
        )
            .prop_map(|(members, ws, mangle, at, byte)| {
                let body: Vec<String> = members
                    .iter()
                    .map(|(k, v)| format!("{ws}\"{k}\"{ws}:{ws}{v}{ws}"))
                    .collect();
                let mut text = format!("{ws}{{{}}}{ws}", body.join(",")).into_bytes();
                let at = at.index(text.len() + 1);
                match mangle {
                    0 => text.truncate(at),
                    1 => text.insert(at, byte),
                    2 => text.insert(at, 0xff),
                    3 => text.extend_from_slice(b" x"),
                    4 => text = [b"[", text.as_slice(), b"]"].concat(),
                    _ => {}
                }
                text
            })
    }

    proptest! {
        #[test]
        fn the_scan_sixteen_wide_finds_what_the_byte_loop_finds(
            bytes in prop::collection::vec(prop_oneof![Just(b'"'), Just(b'\\'), 0u8..0x20, any::<u8>(), 0x20u8..0x7f], 0..80),
            from in 0usize..90,
        ) {
            prop_assert_eq!(special(&bytes, from), special_scalar(&bytes, from));
        }

        /// The reader's verdict, when it gives one, is the serde_json path's.
        #[test]
        fn the_reader_judges_as_the_serde_json_path(doc in document()) {
            let schema: serde_json::Value = serde_json::from_str(SCHEMA).unwrap();
            let plan = JsonPlan::compile(&schema, &[], &[]).unwrap();
            let mask = rule_mask(plan.names(), &[]).unwrap();
            let serde = json_passes_serde(&doc, Some(&plan), plan.names(), mask, &[]);
            if let Ok(text) = std::str::from_utf8(&doc) {
                if let Some(verdict) = json_passes(text, Some(&plan), plan.names(), mask, &[], None) {
                    prop_assert_eq!(verdict, serde, "{}", text);
                }
            }
        }
    }

    proptest! {
        /// With `keep`, a document the reader passes leaves there the
        /// fields `observe` picks, as `json_pick` (which `observe` would
        /// run otherwise) finds them: with the schema's plan and without.
        #[test]
        fn the_reader_keeps_what_json_pick_picks(doc in document(), with_plan in any::<bool>()) {
            let schema: serde_json::Value = serde_json::from_str(SCHEMA).unwrap();
            let picks = ["a", "c", "e", "x"];
            let plan = JsonPlan::compile(&schema, &[], &picks).unwrap();
            let bare = (Names::with_picks(&[], &[], &picks), Names::new(&[], &picks));
            let (plan, names, pick_names) = if with_plan {
                (Some(&plan), plan.names(), plan.pick_names())
            } else {
                (None, &bare.0, &bare.1)
            };
            let mask = rule_mask(names, &[]).unwrap();
            let Ok(text) = std::str::from_utf8(&doc) else { return Ok(()) };
            let mut keep = None;
            if json_passes(text, plan, names, mask, &[], Some(&mut keep)) == Some(true) {
                let picked = super::super::json_pick(&doc, plan, pick_names);
                prop_assert!(picked.is_some(), "{}", text);
                // Left `None` only when a picked field is a container.
                if let Some(kept) = keep {
                    prop_assert_eq!(Some(serde_json::Value::Object(kept)), picked, "{}", text);
                }
            } else {
                prop_assert!(keep.is_none(), "{}", text);
            }
        }
    }

    #[test]
    fn the_reader_keeps_the_picked_fields_of_a_plain_record() {
        let schema: serde_json::Value = serde_json::from_str(SCHEMA).unwrap();
        let plan = JsonPlan::compile(&schema, &[], &["a", "c", "x"]).unwrap();
        let mask = rule_mask(plan.names(), &[]).unwrap();
        let mut keep = None;
        let text = r#"{"a":"EUR","b":7,"c":-1.25,"x":"y","x":"z"}"#;
        assert_eq!(
            json_passes(text, Some(&plan), plan.names(), mask, &[], Some(&mut keep)),
            Some(true)
        );
        let expected = serde_json::json!({"a": "EUR", "c": -1.25, "x": "z"});
        assert_eq!(keep.map(serde_json::Value::Object), Some(expected));
    }

    #[test]
    fn the_reader_reads_plain_records_and_leaves_the_rest() {
        let schema: serde_json::Value = serde_json::from_str(SCHEMA).unwrap();
        let plan = JsonPlan::compile(&schema, &[], &[]).unwrap();
        let mask = rule_mask(plan.names(), &[]).unwrap();
        let read = |text: &str| json_passes(text, Some(&plan), plan.names(), mask, &[], None);
        let good = r#" {"a":"EUR", "b":7, "c":-1.25e0, "d":"ab", "e":[1,{"k":[]}], "f":null, "g":true, "x":"0123456789abcdef0123456789abcdef"} "#;
        assert_eq!(read(good), Some(true));
        assert_eq!(read(r#"{"a":"GBP","b":7}"#), Some(false));
        assert_eq!(read(r#"{"a":"EUR","b":101}"#), Some(false));
        assert_eq!(read(r#"{"a":"EUR"}"#), Some(false));
        assert_eq!(read(r#"{"a":"EUR","b":7,"c":-1.6}"#), Some(false));
        // Left to serde_json: an escape, a control byte, a long integer, syntax errors, deep nesting.
        assert_eq!(read(r#"{"a":"EUR","b":7,"x":"\n"}"#), None);
        assert_eq!(read("{\"a\":\"EUR\",\"b\":7,\"x\":\"\u{1}\"}"), None);
        assert_eq!(read(r#"{"a":"EUR","b":1234567890123456789}"#), None);
        assert_eq!(read(r#"{"a":"EUR","b":7,}"#), None);
        assert_eq!(read(r#"{"a":"EUR","b":07}"#), None);
        assert_eq!(read(r#"{"a":"EUR","b":7} x"#), None);
        let deep = format!(r#"{{"a":"EUR","b":7,"x":{}{}}}"#, "[".repeat(40), "]".repeat(40));
        assert_eq!(read(&deep), None);
        for text in [good, r#"{"a":"GBP","b":7}"#] {
            let serde = json_passes_serde(text.as_bytes(), Some(&plan), plan.names(), mask, &[]);
            assert_eq!(read(text), Some(serde));
        }
    }
}
