//! JSON Schema compatibility, conservative: `reader` reads what `writer`
//! wrote when every instance valid under `writer` is valid under `reader`.
//! The checker proves that keyword by keyword (type, enum/const,
//! properties/required/additionalProperties, items, numeric and length
//! bounds, pattern and format, local `$ref`s, anyOf/oneOf/allOf); anything
//! it cannot prove (an unknown keyword in the reader, a non-local `$ref`, a
//! recursion past its depth or step budget) is incompatible, with the
//! reason. Writer keywords it does not model only narrow what the writer
//! writes, so leaving them out keeps the proof sound.

use serde_json::{Map, Value};

/// Deepest nesting followed (a recursive `$ref` ends here).
const DEPTH_MAX: usize = 64;
/// Schema nodes visited per check at most.
const STEPS_MAX: usize = 100_000;
/// Reasons reported per check at most.
const MESSAGES_MAX: usize = 50;

/// Keywords that never constrain an instance.
const ANNOTATIONS: [&str; 18] = [
    "$schema",
    "$id",
    "id",
    "$anchor",
    "$dynamicAnchor",
    "$comment",
    "$defs",
    "definitions",
    "title",
    "description",
    "default",
    "examples",
    "deprecated",
    "readOnly",
    "writeOnly",
    "contentMediaType",
    "contentEncoding",
    "$vocabulary",
];

/// Keywords the checker reasons about (besides the annotations).
const MODELLED: [&str; 26] = [
    "type",
    "enum",
    "const",
    "properties",
    "required",
    "additionalProperties",
    "patternProperties",
    "items",
    "minItems",
    "maxItems",
    "uniqueItems",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minLength",
    "maxLength",
    "pattern",
    "format",
    "minProperties",
    "maxProperties",
    "anyOf",
    "oneOf",
    "allOf",
    "$ref",
];

/// Keywords whose meaning depends on their siblings: a reader using one is
/// proven only by a writer node equal to it as a whole.
const ENTANGLED: [&str; 5] = [
    "unevaluatedProperties",
    "unevaluatedItems",
    "additionalItems",
    "prefixItems",
    "$dynamicRef",
];

const TYPES: [&str; 7] = ["null", "boolean", "object", "array", "number", "integer", "string"];

/// Why `reader` cannot read everything `writer` admits (empty: it can).
pub(super) fn cannot_read(writer: &Value, reader: &Value) -> Vec<String> {
    let mut checker = Checker {
        writer_root: writer,
        reader_root: reader,
        steps: 0,
    };
    let mut messages = checker.subset(writer, reader, "#", 0);
    messages.dedup();
    messages.truncate(MESSAGES_MAX);
    messages
}

/// A writer schema with some of its keywords left out (what it admits
/// then is a superset of what it admits whole), without copying it.
#[derive(Clone, Copy)]
struct Writer<'a> {
    value: &'a Value,
    /// Keywords left out, from `SKIPPABLE`.
    skipped: [bool; 3],
}

const SKIPPABLE: [&str; 3] = ["anyOf", "oneOf", "allOf"];

impl<'a> Writer<'a> {
    fn whole(value: &'a Value) -> Writer<'a> {
        Writer {
            value,
            skipped: [false; 3],
        }
    }

    fn without(self, key: &str) -> Writer<'a> {
        let mut skipped = self.skipped;
        for (i, k) in SKIPPABLE.iter().enumerate() {
            if *k == key {
                if let Some(s) = skipped.get_mut(i) {
                    *s = true;
                }
            }
        }
        Writer {
            value: self.value,
            skipped,
        }
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        let skipped = SKIPPABLE.iter().zip(self.skipped).any(|(k, s)| s && *k == key);
        if skipped {
            return None;
        }
        self.value.get(key)
    }
}

struct Checker<'a> {
    writer_root: &'a Value,
    reader_root: &'a Value,
    steps: usize,
}

/// True for a schema every instance passes (`true`, `{}` or annotations only).
fn vacuous(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::Object(m) => m.keys().all(|k| ANNOTATIONS.contains(&k.as_str())),
        _ => false,
    }
}

fn has_ref(v: &Value, budget: &mut usize) -> bool {
    if *budget == 0 {
        return true;
    }
    *budget -= 1;
    match v {
        Value::Object(m) => m
            .iter()
            .any(|(k, v)| k == "$ref" || k == "$dynamicRef" || has_ref(v, budget)),
        Value::Array(a) => a.iter().any(|v| has_ref(v, budget)),
        _ => false,
    }
}

/// Equal, and meaning the same in both documents (no `$ref` inside, whose
/// target could differ between them).
fn same(a: &Value, b: &Value) -> bool {
    let mut budget = STEPS_MAX;
    a == b && !has_ref(a, &mut budget)
}

/// A schema's keywords: a reader node, or a writer node with some left out.
trait Keywords<'a>: Copy {
    fn key(self, key: &str) -> Option<&'a Value>;
}

impl<'a> Keywords<'a> for &'a Value {
    fn key(self, key: &str) -> Option<&'a Value> {
        self.get(key)
    }
}

impl<'a> Keywords<'a> for Writer<'a> {
    fn key(self, key: &str) -> Option<&'a Value> {
        self.get(key)
    }
}

fn type_set<'a>(v: impl Keywords<'a>) -> Option<Vec<&'a str>> {
    match v.key("type")? {
        Value::String(t) => Some(vec![t.as_str()]),
        Value::Array(ts) => Some(ts.iter().filter_map(Value::as_str).collect()),
        _ => Some(Vec::new()),
    }
}

fn type_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Object(_) => "object",
        Value::Array(_) => "array",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
    }
}

/// The values a schema admits, if it lists them (`enum`, `const`).
fn listed<'a>(v: impl Keywords<'a>) -> Option<Vec<&'a Value>> {
    if let Some(c) = v.key("const") {
        return Some(vec![c]);
    }
    v.key("enum").and_then(Value::as_array).map(|a| a.iter().collect())
}

/// A bound: its value and whether it is exclusive.
type Bound = (f64, bool);

/// The tighter of `inclusive_key` and `exclusive_key` (a number, or the
/// draft-4 boolean that makes the inclusive one exclusive); `lower` says
/// which side tighter is.
fn bound<'a>(v: impl Keywords<'a>, inclusive_key: &str, exclusive_key: &str, lower: bool) -> Option<Bound> {
    let inclusive = v.key(inclusive_key).and_then(Value::as_f64);
    let exclusive = v.key(exclusive_key);
    let mut bound = inclusive.map(|m| (m, exclusive == Some(&Value::Bool(true))));
    if let Some(e) = exclusive.and_then(Value::as_f64) {
        bound = Some(match bound {
            Some((m, _)) if (lower && m > e) || (!lower && m < e) => (m, false),
            _ => (e, true),
        });
    }
    bound
}

fn count<'a>(v: impl Keywords<'a>, key: &str) -> Option<u64> {
    v.key(key).and_then(Value::as_u64)
}

impl Checker<'_> {
    /// `target` of a local `$ref` in `root`.
    fn resolve<'v>(root: &'v Value, reference: &str) -> Result<&'v Value, String> {
        let Some(pointer) = reference.strip_prefix('#') else {
            return Err(format!("cannot prove: non-local $ref {reference:?}"));
        };
        if pointer.is_empty() {
            return Ok(root);
        }
        root.pointer(pointer)
            .ok_or_else(|| format!("cannot prove: $ref {reference:?} names nothing in its schema"))
    }

    /// Why some instance `w` admits is refused by `r` (empty: none is).
    fn subset(&mut self, w: &Value, r: &Value, path: &str, depth: usize) -> Vec<String> {
        self.subset_of(Writer::whole(w), r, path, depth)
    }

    fn subset_of(&mut self, w: Writer<'_>, r: &Value, path: &str, depth: usize) -> Vec<String> {
        self.steps += 1;
        if self.steps > STEPS_MAX {
            return vec![format!(
                "{path}: cannot prove: the schemas are too large to compare within the checker's budget"
            )];
        }
        if depth > DEPTH_MAX {
            return vec![format!(
                "{path}: cannot prove: nested deeper than {DEPTH_MAX} levels (a recursive $ref?)"
            )];
        }
        let whole = w.skipped == [false; 3];
        if vacuous(r) || *w.value == Value::Bool(false) || (whole && same(w.value, r)) {
            return Vec::new();
        }
        if *r == Value::Bool(false) {
            return vec![format!("{path}: the reader admits nothing here, the writer does")];
        }
        // The writer's `$ref` names a superset of what it admits (siblings only narrow it).
        if let Some(reference) = w.get("$ref").and_then(Value::as_str) {
            return match Self::resolve(self.writer_root, reference) {
                Ok(target) => self.subset(target, r, path, depth + 1),
                Err(e) => vec![format!("{path}: {e}")],
            };
        }
        if !(w.value.is_object() || w.value.is_boolean()) {
            return vec![format!("{path}: the writer schema is not an object or a boolean")];
        }
        let Some(rm) = r.as_object() else {
            return vec![format!("{path}: the reader schema is not an object or a boolean")];
        };
        // Writer alternatives: the writer without them admits more; failing
        // that, each alternative alone (a superset of its share).
        for key in ["anyOf", "oneOf"] {
            if let Some(branches) = w.get(key).and_then(Value::as_array) {
                let direct = self.subset_of(w.without(key), r, path, depth + 1);
                if direct.is_empty() {
                    return direct;
                }
                let mut messages = Vec::new();
                for (i, branch) in branches.iter().enumerate() {
                    messages.extend(self.subset(branch, r, &format!("{path}/{key}/{i}"), depth + 1));
                }
                return messages;
            }
        }
        if let Some(branches) = w.get("allOf").and_then(Value::as_array) {
            let direct = self.subset_of(w.without("allOf"), r, path, depth + 1);
            if direct.is_empty() || branches.iter().any(|b| self.subset(b, r, path, depth + 1).is_empty()) {
                return Vec::new();
            }
            return direct;
        }
        let mut messages = Vec::new();
        for (key, value) in rm {
            let key = key.as_str();
            if ANNOTATIONS.contains(&key) || MODELLED.contains(&key) {
                continue;
            }
            if ENTANGLED.contains(&key) {
                messages.push(format!(
                    "{path}: cannot prove: the reader's {key:?} depends on its other keywords and the two schemas differ here"
                ));
            } else if !w.get(key).is_some_and(|wv| same(wv, value)) {
                messages.push(format!(
                    "{path}: cannot prove: the reader's {key:?} is not the writer's"
                ));
            }
        }
        if let Some(reference) = rm.get("$ref").and_then(Value::as_str) {
            match Self::resolve(self.reader_root, reference) {
                Ok(target) => messages.extend(self.subset_of(w, target, path, depth + 1)),
                Err(e) => messages.push(format!("{path}: {e}")),
            }
        }
        if let Some(branches) = rm.get("allOf").and_then(Value::as_array) {
            for (i, branch) in branches.iter().enumerate() {
                messages.extend(self.subset_of(w, branch, &format!("{path}/allOf/{i}"), depth + 1));
            }
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(branches) = rm.get(key).and_then(Value::as_array) {
                messages.extend(self.alternatives(w, key, branches, path, depth));
            }
        }
        types_and_values(w, r, path, &mut messages);
        let writer_types = type_set(w);
        let writer_values = listed(w);
        let writes = |t: &str| match (&writer_types, &writer_values) {
            (Some(ts), _) => ts.contains(&t) || (t == "number" && ts.contains(&"integer")),
            (None, Some(values)) => values.iter().any(|v| type_of(v) == t),
            (None, None) => true,
        };
        if writes("number") || writes("integer") {
            numbers(w, r, path, &mut messages);
        }
        if writes("string") {
            strings(w, r, path, &mut messages);
        }
        if writes("array") {
            messages.extend(self.arrays(w, r, path, depth));
        }
        if writes("object") {
            messages.extend(self.objects(w, r, path, depth));
        }
        messages
    }

    fn alternatives(&mut self, w: Writer<'_>, key: &str, branches: &[Value], path: &str, depth: usize) -> Vec<String> {
        if w.get(key)
            .and_then(Value::as_array)
            .is_some_and(|wb| wb.len() == branches.len() && wb.iter().zip(branches).all(|(a, b)| same(a, b)))
        {
            return Vec::new();
        }
        // oneOf: one branch proven is enough only if no instance can pass two.
        if key == "oneOf" {
            let mut seen: Vec<&str> = Vec::new();
            for branch in branches {
                let Some(types) = type_set(branch) else {
                    return vec![format!(
                        "{path}: cannot prove: a branch of the reader's oneOf has no type"
                    )];
                };
                let overlaps = types.iter().any(|t| {
                    seen.contains(t)
                        || (*t == "number" && seen.contains(&"integer"))
                        || (*t == "integer" && seen.contains(&"number"))
                });
                if overlaps {
                    return vec![format!(
                        "{path}: cannot prove: the branches of the reader's oneOf overlap in type"
                    )];
                }
                seen.extend(types);
            }
        }
        let mut reasons = Vec::new();
        for (i, branch) in branches.iter().enumerate() {
            let found = self.subset_of(w, branch, &format!("{path}/{key}/{i}"), depth + 1);
            if found.is_empty() {
                return Vec::new();
            }
            reasons.extend(found);
        }
        let mut messages = vec![format!(
            "{path}: no branch of the reader's {key} admits everything the writer does"
        )];
        messages.extend(reasons);
        messages
    }

    fn arrays(&mut self, w: Writer<'_>, r: &Value, path: &str, depth: usize) -> Vec<String> {
        let mut messages = Vec::new();
        if let Some(ri) = r.get("items") {
            match (w.get("items"), ri) {
                (_, Value::Array(_)) | (Some(Value::Array(_)), _) => {
                    messages.push(format!("{path}: cannot prove: tuple items differ"));
                }
                (wi, ri) => {
                    let any = Value::Bool(true);
                    messages.extend(self.subset(wi.unwrap_or(&any), ri, &format!("{path}/items"), depth + 1));
                }
            }
        }
        at_least(w, r, "minItems", path, "fewer items", &mut messages);
        at_most(w, r, "maxItems", path, "more items", &mut messages);
        if r.get("uniqueItems") == Some(&Value::Bool(true)) && w.get("uniqueItems") != Some(&Value::Bool(true)) {
            messages.push(format!("{path}: the reader requires unique items, the writer does not"));
        }
        messages
    }

    fn objects(&mut self, w: Writer<'_>, r: &Value, path: &str, depth: usize) -> Vec<String> {
        let mut messages = Vec::new();
        let empty = Map::new();
        let any = Value::Bool(true);
        let wp = w.get("properties").and_then(Value::as_object).unwrap_or(&empty);
        let rp = r.get("properties").and_then(Value::as_object).unwrap_or(&empty);
        let wa = w.get("additionalProperties").unwrap_or(&any);
        let ra = r.get("additionalProperties").unwrap_or(&any);
        let (wpp, rpp) = (w.get("patternProperties"), r.get("patternProperties"));
        if wpp.is_some() || rpp.is_some() {
            let aligned = match (wpp, rpp) {
                (Some(a), Some(b)) => same(a, b) && wp.keys().eq(rp.keys()),
                _ => false,
            };
            if !aligned {
                return vec![format!("{path}: cannot prove: patternProperties differ")];
            }
        }
        if let Some(required) = r.get("required").and_then(Value::as_array) {
            let writer_required: Vec<&Value> = w
                .get("required")
                .and_then(Value::as_array)
                .map(|a| a.iter().collect())
                .unwrap_or_default();
            for name in required {
                if !writer_required.contains(&name) {
                    messages.push(format!(
                        "{path}: the reader requires property {name}, which the writer may leave out"
                    ));
                }
            }
        }
        for (name, rs) in rp {
            let ws = wp.get(name).unwrap_or(wa);
            messages.extend(self.subset(ws, rs, &format!("{path}/properties/{name}"), depth + 1));
        }
        if !vacuous(ra) {
            for (name, ws) in wp {
                if !rp.contains_key(name) {
                    messages.extend(self.subset(ws, ra, &format!("{path}/properties/{name}"), depth + 1));
                }
            }
            let found = self.subset(wa, ra, &format!("{path}/additionalProperties"), depth + 1);
            if !found.is_empty() {
                messages.push(format!(
                    "{path}: the writer's additionalProperties admits properties the reader's refuses (close the writer's content model, or open the reader's)"
                ));
                messages.extend(found);
            }
        }
        at_least(w, r, "minProperties", path, "fewer properties", &mut messages);
        at_most(w, r, "maxProperties", path, "more properties", &mut messages);
        messages
    }
}

/// The reader's `type` and `enum`/`const` against what the writer may write.
fn types_and_values(w: Writer<'_>, r: &Value, path: &str, messages: &mut Vec<String>) {
    let writer_listed = listed(w);
    if let Some(reader_types) = type_set(r) {
        let written: Vec<&str> = match (type_set(w), &writer_listed) {
            (Some(ts), _) => ts,
            (None, Some(values)) => values.iter().map(|v| type_of(v)).collect(),
            (None, None) => TYPES.to_vec(),
        };
        for t in written {
            let read = reader_types.contains(&t) || (t == "integer" && reader_types.contains(&"number"));
            if !read {
                messages.push(format!(
                    "{path}: the writer may write {t}, the reader takes only {}",
                    reader_types.join(", ")
                ));
            }
        }
    }
    if let Some(reader_values) = listed(r) {
        match writer_listed {
            None => messages.push(format!(
                "{path}: the reader takes only listed values (enum/const), the writer lists none"
            )),
            Some(values) => {
                for v in values {
                    if !reader_values.contains(&v) {
                        messages.push(format!(
                            "{path}: the writer may write {v}, which the reader's enum/const lacks"
                        ));
                    }
                }
            }
        }
    }
}

fn numbers(w: Writer<'_>, r: &Value, path: &str, messages: &mut Vec<String>) {
    for (inclusive, exclusive, lower) in [
        ("minimum", "exclusiveMinimum", true),
        ("maximum", "exclusiveMaximum", false),
    ] {
        let Some((rv, rex)) = bound(r, inclusive, exclusive, lower) else {
            continue;
        };
        let proven = bound(w, inclusive, exclusive, lower).is_some_and(|(wv, wex)| {
            let inside = if lower { wv > rv } else { wv < rv };
            inside || (wv == rv && (!rex || wex))
        });
        if !proven {
            messages.push(format!(
                "{path}: the reader's {inclusive} bound {rv} refuses numbers the writer allows"
            ));
        }
    }
    if let Some(rm) = r.get("multipleOf").and_then(Value::as_f64) {
        let proven = w
            .get("multipleOf")
            .and_then(Value::as_f64)
            .is_some_and(|wm| rm > 0.0 && (wm / rm).fract() == 0.0);
        if !proven {
            messages.push(format!(
                "{path}: the reader requires multiples of {rm}, the writer does not"
            ));
        }
    }
}

fn strings(w: Writer<'_>, r: &Value, path: &str, messages: &mut Vec<String>) {
    at_least(w, r, "minLength", path, "shorter strings", messages);
    at_most(w, r, "maxLength", path, "longer strings", messages);
    for key in ["pattern", "format"] {
        if let Some(rv) = r.get(key) {
            if w.get(key) != Some(rv) {
                messages.push(format!("{path}: the reader's {key} {rv} is not the writer's"));
            }
        }
    }
}

/// The reader's lower count bound `key` against the writer's (absent: 0).
fn at_least(w: Writer<'_>, r: &Value, key: &str, path: &str, what: &str, messages: &mut Vec<String>) {
    if let Some(reader_min) = count(r, key) {
        if count(w, key).unwrap_or(0) < reader_min {
            messages.push(format!(
                "{path}: the reader requires {key} {reader_min}, the writer allows {what}"
            ));
        }
    }
}

/// The reader's upper count bound `key` against the writer's (absent: none).
fn at_most(w: Writer<'_>, r: &Value, key: &str, path: &str, what: &str, messages: &mut Vec<String>) {
    if let Some(reader_max) = count(r, key) {
        if count(w, key).is_none_or(|writer_max| writer_max > reader_max) {
            messages.push(format!(
                "{path}: the reader requires {key} {reader_max}, the writer allows {what}"
            ));
        }
    }
}
