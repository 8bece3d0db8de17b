//! The records, schemas and contracts of the validated-produce benchmark
//! (issue 22, `benches/benches/contracts.rs`; `benches/contracts/server.py`
//! builds the same records in Python): 1 KiB order records of 10 fields in
//! Confluent's wire framing (magic byte 0, 4-byte big-endian schema id,
//! payload), as JSON and as Avro binary, and a contract of 5 rules on them.

/// A JSON Schema of the 10 fields, all required, no others.
pub const JSON_SCHEMA: &str = r#"{
  "type": "object",
  "properties": {
    "order_id": {"type": "string"},
    "customer_id": {"type": "integer", "minimum": 0},
    "email": {"type": "string"},
    "amount": {"type": "number"},
    "currency": {"type": "string"},
    "status": {"type": "string", "enum": ["new", "paid", "shipped"]},
    "created_at": {"type": "string"},
    "items": {"type": "integer"},
    "country": {"type": "string", "maxLength": 2},
    "note": {"type": "string"}
  },
  "required": ["order_id", "customer_id", "email", "amount", "currency", "status", "created_at", "items", "country", "note"],
  "additionalProperties": false
}"#;

/// The same 10 fields as an Avro record.
pub const AVRO_SCHEMA: &str = r#"{
  "type": "record", "name": "Order", "namespace": "bench",
  "fields": [
    {"name": "order_id", "type": "string"},
    {"name": "customer_id", "type": "long"},
    {"name": "email", "type": "string"},
    {"name": "amount", "type": "double"},
    {"name": "currency", "type": "string"},
    {"name": "status", "type": "string"},
    {"name": "created_at", "type": "string"},
    {"name": "items", "type": "int"},
    {"name": "country", "type": "string"},
    {"name": "note", "type": "string"}
  ]
}"#;

/// The contract of `topic` (its value subject `<topic>-value`, framing
/// required): 5 rules on 5 of the fields, each sending a breaking record
/// to the DLQ (the split path is armed; the benchmark's records all pass).
pub fn contract(topic: &str) -> String {
    format!(
        "apiVersion: v3.0.0
kind: DataContract
id: urn:bench:{topic}
version: 1.0.0
status: active
owner: bench
topic: {topic}
schema:
  value:
    framing: required
    action: dlq
properties:
  - name: order_id
    required: true
    format: uuid
    action: dlq
  - name: amount
    logicalType: number
    minimum: 0
    maximum: 100000
    action: dlq
  - name: currency
    enum: [EUR, USD, GBP]
    action: dlq
  - name: email
    pattern: '@example\\.com$'
    action: dlq
  - name: created_at
    format: date-time
    action: dlq
"
    )
}

/// [`contract`] with windowed rules and an event-time freshness SLA
/// (`MILLRACE_BENCH_WINDOWED=1` of the contracts bench): uniqueness of
/// `order_id` over 10,000 records, completeness of `email` over an hour,
/// freshness of `created_at`. They never refuse a record: what they cost is
/// `RecordCheck::observe` after each append.
pub fn contract_windowed(topic: &str) -> String {
    format!(
        "{}quality:
  - name: unique-order-id
    type: uniqueness
    field: /order_id
    window: {{records: 10000}}
  - name: email-complete
    type: completeness
    field: /email
    window: {{seconds: 3600}}
slaProperties:
  - property: freshness
    warn: 5m
    error: 1h
    element: /created_at
",
        contract(topic)
    )
}

/// Bytes of each record's payload (before the 5 bytes of framing).
pub const PAYLOAD_BYTES: usize = 1024;

/// The fields of record `n`, the note left to pad.
struct Order {
    order_id: String,
    customer_id: i64,
    email: String,
    amount: f64,
    currency: &'static str,
    status: &'static str,
    created_at: String,
    items: i32,
    country: &'static str,
}

/// Choice `n` (cyclically) of `choices`.
fn pick(choices: &[&'static str], n: u64) -> &'static str {
    let len = choices.len().max(1) as u64;
    choices.get((n % len) as usize).copied().unwrap_or_default()
}

fn order(n: u64) -> Order {
    Order {
        order_id: format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            n.wrapping_mul(2_654_435_761) & 0xffff_ffff,
            n & 0xffff,
            n % 0xfff,
            (n / 7) % 0xfff,
            n
        ),
        customer_id: (n % 100_000) as i64,
        email: format!("customer{}@example.com", n % 100_000),
        amount: (n % 100_000) as f64 / 100.0,
        currency: pick(&["EUR", "USD", "GBP"], n),
        status: pick(&["new", "paid", "shipped"], n),
        created_at: format!(
            "2026-12-07T{:02}:{:02}:{:02}.{:03}Z",
            n / 3600 % 24,
            n / 60 % 60,
            n % 60,
            n % 1000
        ),
        items: (n % 50) as i32 + 1,
        country: pick(&["DE", "FR", "US", "GB"], n),
    }
}

/// `payload` framed with schema id `id`.
pub fn framed(id: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + payload.len());
    out.push(0);
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// Record `n` as JSON text of [`PAYLOAD_BYTES`] bytes.
pub fn json_payload(n: u64) -> Vec<u8> {
    let o = order(n);
    let head = format!(
        r#"{{"order_id":"{}","customer_id":{},"email":"{}","amount":{:.2},"currency":"{}","status":"{}","created_at":"{}","items":{},"country":"{}","note":""#,
        o.order_id, o.customer_id, o.email, o.amount, o.currency, o.status, o.created_at, o.items, o.country
    );
    let mut text = head.into_bytes();
    let pad = PAYLOAD_BYTES.saturating_sub(text.len() + 2);
    text.extend(std::iter::repeat_n(b'n', pad));
    text.extend_from_slice(b"\"}");
    text
}

fn zigzag(n: i64, out: &mut Vec<u8>) {
    let mut v = ((n << 1) ^ (n >> 63)) as u64;
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn avro_string(s: &[u8], out: &mut Vec<u8>) {
    zigzag(s.len() as i64, out);
    out.extend_from_slice(s);
}

/// Record `n` as an Avro datum of [`AVRO_SCHEMA`] of [`PAYLOAD_BYTES`] bytes.
pub fn avro_payload(n: u64) -> Vec<u8> {
    let o = order(n);
    let mut out = Vec::with_capacity(PAYLOAD_BYTES);
    avro_string(o.order_id.as_bytes(), &mut out);
    zigzag(o.customer_id, &mut out);
    avro_string(o.email.as_bytes(), &mut out);
    out.extend_from_slice(&o.amount.to_le_bytes());
    avro_string(o.currency.as_bytes(), &mut out);
    avro_string(o.status.as_bytes(), &mut out);
    avro_string(o.created_at.as_bytes(), &mut out);
    zigzag(i64::from(o.items), &mut out);
    avro_string(o.country.as_bytes(), &mut out);
    // The note fills the datum to PAYLOAD_BYTES (its length prefix is 2
    // bytes for lengths 64..8191).
    let pad = PAYLOAD_BYTES.saturating_sub(out.len() + 2);
    avro_string(&vec![b'n'; pad], &mut out);
    out
}
