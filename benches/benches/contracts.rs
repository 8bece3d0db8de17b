//! Validated produce, embedded (issue 22, "Figures"): batched appends of
//! 1 KiB records in Confluent's framing (magic byte 0, schema id, payload)
//! to a topic whose contract checks the framing, the payload against its
//! registered schema (10 fields) and 5 per-field rules, against the same
//! appends to a topic without a contract, in the same run. JSON Schema and
//! Avro. The target: validated ≥ 0.7 × unvalidated.
//!
//! Each round runs the four cases (JSON and Avro, with and without the
//! contract) one after the other, the order rotated per round; the ratio is
//! taken within a round (paired), and the table gives each case's median and
//! the ratios' median, minimum and maximum. CPU µs/record is this process's
//! CPU time (all threads) over the records; *check µs/record* the time the
//! checks took (`Checks::adherence`, the `millrace_contract_validation_seconds`
//! sum).
//!
//! Run: `cargo bench -p millrace-benches --bench contracts`
//! Environment (all optional):
//! - `MILLRACE_BENCH_DIR`: where data goes (default: the system temp dir)
//! - `MILLRACE_BENCH_LABEL`: result file name (default `contracts`)
//! - `MILLRACE_BENCH_RESULTS_DIR`: where the result files go (default
//!   `benches/results/<UTC date>-contracts/`)
//! - `MILLRACE_BENCH_CASE_SECONDS`: seconds per case and round (default 3)
//! - `MILLRACE_BENCH_ROUNDS`: rounds (default 5)
//! - `MILLRACE_BENCH_BATCH`: records per append (default 1000)
//! - `MILLRACE_BENCH_CHECK_RECORDS`: checks per run of the check-alone
//!   table (fast check against the reference path; default 200000)
//! - `MILLRACE_BENCH_DURABILITY`: the topics' durability (default `os`:
//!   the CPU-bound case, where a check's cost shows the most)
//! - `MILLRACE_BENCH_WINDOWED`: `1` adds windowed rules (uniqueness,
//!   completeness) and an event-time freshness SLA to the contract
//!   (`contract_records::contract_windowed`; default `0`: without)

#![expect(
    clippy::unwrap_used,
    reason = "benchmark harness: any failure should abort the run loudly"
)]

use millrace::contract::ApplyRequest;
use millrace::schema::SchemaType;
use millrace::{Durability, Record, Store, StoreOptions, TopicConfig};
use millrace_benches::baseline;
use millrace_benches::contract_records::{self as records, AVRO_SCHEMA, JSON_SCHEMA};
use millrace_benches::report::{ratio, si, Table};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Json,
    Avro,
}

#[derive(Debug, Clone, Copy)]
struct Case {
    kind: Kind,
    validated: bool,
}

impl Case {
    fn name(self) -> String {
        format!(
            "{} {}",
            match self.kind {
                Kind::Json => "JSON",
                Kind::Avro => "Avro",
            },
            if self.validated { "validated" } else { "plain" }
        )
    }

    fn topic(self) -> &'static str {
        match (self.kind, self.validated) {
            (Kind::Json, true) => "json-contract",
            (Kind::Json, false) => "json-plain",
            (Kind::Avro, true) => "avro-contract",
            (Kind::Avro, false) => "avro-plain",
        }
    }
}

const CASES: [Case; 4] = [
    Case {
        kind: Kind::Json,
        validated: false,
    },
    Case {
        kind: Kind::Json,
        validated: true,
    },
    Case {
        kind: Kind::Avro,
        validated: false,
    },
    Case {
        kind: Kind::Avro,
        validated: true,
    },
];

#[derive(Debug, Clone, Copy, Default)]
struct Measure {
    records: u64,
    wall: Duration,
    cpu: Duration,
    check_seconds: f64,
}

impl Measure {
    fn per_second(&self) -> f64 {
        self.records as f64 / self.wall.as_secs_f64()
    }

    fn cpu_us(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e6 / self.records as f64
    }

    fn check_us(&self) -> f64 {
        self.check_seconds * 1e6 / self.records as f64
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values.get(n / 2).copied().unwrap_or(f64::NAN),
        n => {
            (values.get(n / 2 - 1).copied().unwrap_or(f64::NAN) + values.get(n / 2).copied().unwrap_or(f64::NAN)) / 2.0
        }
    }
}

fn check_seconds(store: &Store, topic: &str) -> f64 {
    store
        .record_checks()
        .adherence(topic)
        .map_or(0.0, |a| a.validation_seconds_total)
}

fn run_case(store: &Store, case: Case, batch: &[Record], seconds: u64) -> Measure {
    let topic = case.topic();
    let checks_before = check_seconds(store, topic);
    let cpu_before = process_cpu();
    let started = Instant::now();
    let mut appended = 0u64;
    while started.elapsed() < Duration::from_secs(seconds) {
        let info = store.append(topic, 0, batch).unwrap();
        assert_eq!(
            info.next_offset - info.base_offset,
            batch.len() as u64,
            "{}: every record is valid, none dead-lettered",
            case.name()
        );
        appended += batch.len() as u64;
    }
    Measure {
        records: appended,
        wall: started.elapsed(),
        cpu: process_cpu() - cpu_before,
        check_seconds: check_seconds(store, topic) - checks_before,
    }
}

#[expect(clippy::too_many_lines, reason = "the benchmark plan, read top to bottom")]
fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("contracts benchmark: run it with `cargo bench -p millrace-benches --bench contracts`");
        return;
    }
    let base = std::env::var_os("MILLRACE_BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from);
    let dir = base.join(format!("millrace-contract-bench-{}", std::process::id()));
    let label = std::env::var("MILLRACE_BENCH_LABEL").unwrap_or_else(|_| "contracts".into());
    let seconds = env_u64("MILLRACE_BENCH_CASE_SECONDS", 3);
    let rounds = env_u64("MILLRACE_BENCH_ROUNDS", 5);
    let batch_records = env_u64("MILLRACE_BENCH_BATCH", 1000);
    let durability_name = std::env::var("MILLRACE_BENCH_DURABILITY").unwrap_or_else(|_| "os".into());
    let durability = Durability::parse(&durability_name).unwrap();
    let windowed = env_u64("MILLRACE_BENCH_WINDOWED", 0) == 1;
    std::fs::create_dir_all(&dir).unwrap();
    let machine = baseline::machine_description(&dir);
    let load_before = baseline::load_average();
    eprintln!("machine: {machine}; load {load_before}");

    let store = Store::open(&dir, StoreOptions::default()).unwrap();
    for case in CASES {
        store
            .create_topic(
                case.topic(),
                TopicConfig {
                    durability: Some(durability),
                    ..TopicConfig::default()
                },
            )
            .unwrap();
    }
    let json_id = store
        .schemas()
        .register("json-contract-value", SchemaType::Json, JSON_SCHEMA)
        .unwrap()
        .id;
    let avro_id = store
        .schemas()
        .register("avro-contract-value", SchemaType::Avro, AVRO_SCHEMA)
        .unwrap()
        .id;
    for topic in ["json-contract", "avro-contract"] {
        store
            .contracts()
            .apply(&ApplyRequest {
                text: &if windowed {
                    records::contract_windowed(topic)
                } else {
                    records::contract(topic)
                },
                actor: "bench",
                dry_run: false,
                force: false,
            })
            .unwrap();
    }
    let batch_of = |kind: Kind| -> Vec<Record> {
        (0..batch_records)
            .map(|n| match kind {
                Kind::Json => Record::new(records::framed(json_id, &records::json_payload(n))),
                Kind::Avro => Record::new(records::framed(avro_id, &records::avro_payload(n))),
            })
            .collect()
    };
    let json_batch = batch_of(Kind::Json);
    let avro_batch = batch_of(Kind::Avro);
    let batch_for = |case: Case| match case.kind {
        Kind::Json => &json_batch,
        Kind::Avro => &avro_batch,
    };
    // Warm up: every case once (schemas compiled, segments created).
    for case in CASES {
        store.append(case.topic(), 0, batch_for(case)).unwrap();
    }

    let check_only = check_alone(json_id, avro_id, &json_batch, &avro_batch);

    let mut measures: Vec<Vec<Measure>> = vec![Vec::new(); CASES.len()];
    for round in 0..rounds {
        for i in 0..CASES.len() {
            let index = (i + round as usize) % CASES.len();
            let case = *CASES.get(index).unwrap();
            let m = run_case(&store, case, batch_for(case), seconds);
            eprintln!(
                "round {round} {}: {} records/s, {:.2} CPU µs/record, {:.2} check µs/record",
                case.name(),
                si(m.per_second()),
                m.cpu_us(),
                m.check_us()
            );
            measures.get_mut(index).unwrap().push(m);
        }
    }
    for case in CASES.iter().filter(|c| c.validated) {
        let adherence = store.record_checks().adherence(case.topic()).unwrap();
        assert_eq!(
            adherence.records(),
            adherence.valid,
            "{}: every record met the contract: {adherence:?}",
            case.name()
        );
    }
    drop(store);
    let load_after = baseline::load_average();
    std::fs::remove_dir_all(&dir).ok();

    let mut cases = Table::new(
        "Cases (median of the rounds)",
        &[
            "case",
            "records",
            "records/s",
            "payload MB/s",
            "CPU µs/record",
            "check µs/record",
        ],
    );
    for (case, ms) in CASES.iter().zip(&measures) {
        let column = |f: fn(&Measure) -> f64| median(&mut ms.iter().map(f).collect::<Vec<_>>());
        cases.push(vec![
            case.name(),
            ms.iter().map(|m| m.records).sum::<u64>().to_string(),
            si(column(Measure::per_second)),
            si(column(Measure::per_second) * records::PAYLOAD_BYTES as f64 / 1e6),
            format!("{:.2}", column(Measure::cpu_us)),
            format!("{:.2}", column(Measure::check_us)),
        ]);
    }
    let mut ratios = Table::new(
        "Validated ÷ plain, paired per round (target ≥ 0.7×)",
        &[
            "records",
            "median",
            "min",
            "max",
            "per round",
            "CPU µs/record added (median)",
            "met",
        ],
    );
    for (kind, plain, validated) in [(Kind::Json, 0usize, 1usize), (Kind::Avro, 2, 3)] {
        let (Some(plain), Some(validated)) = (measures.get(plain), measures.get(validated)) else {
            continue;
        };
        let mut per_round: Vec<f64> = plain
            .iter()
            .zip(validated)
            .map(|(p, v)| v.per_second() / p.per_second())
            .collect();
        let shown: Vec<String> = per_round.iter().map(|r| format!("{r:.2}")).collect();
        let mut added: Vec<f64> = plain
            .iter()
            .zip(validated)
            .map(|(p, v)| v.cpu_us() - p.cpu_us())
            .collect();
        let med = median(&mut per_round);
        ratios.push(vec![
            format!("{kind:?}"),
            ratio(med),
            ratio(per_round.first().copied().unwrap_or(f64::NAN)),
            ratio(per_round.last().copied().unwrap_or(f64::NAN)),
            shown.join(" / "),
            format!("{:.2}", median(&mut added)),
            if med >= 0.7 { "yes".into() } else { "**no**".into() },
        ]);
    }

    let mut markdown = String::new();
    markdown.push_str(&format!("## Validated produce, embedded `{label}`\n\n"));
    markdown.push_str(&format!("- machine: {machine}\n"));
    markdown.push_str(&format!(
        "- load average (1 min) before/after: {load_before} / {load_after}\n"
    ));
    markdown.push_str(&format!(
        "- command: `cargo bench -p millrace-benches --bench contracts` ({rounds} rounds of {seconds} s per case, \
         batches of {batch_records} records, durability `{durability_name}`)\n"
    ));
    markdown.push_str(&format!(
        "- records: {} B payload + 5 B framing, 10 fields; contract: framing required, the payload against \
         the registered schema, 5 per-field rules (uuid, bounds, enum, pattern, date-time), action `dlq`{}\n\n",
        records::PAYLOAD_BYTES,
        if windowed {
            "; windowed rules (uniqueness of order_id over 10,000 records, completeness of email over 1 h) \
             and freshness of created_at"
        } else {
            ""
        }
    ));
    for table in [&ratios, &cases, &check_only] {
        markdown.push_str(&table.markdown());
        markdown.push('\n');
    }
    let out_dir = std::env::var_os("MILLRACE_BENCH_RESULTS_DIR").map_or_else(
        || {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("results")
                .join(format!("{}-contracts", baseline::utc_date()))
        },
        PathBuf::from,
    );
    std::fs::create_dir_all(&out_dir).unwrap();
    std::fs::write(out_dir.join(format!("{label}.md")), &markdown).unwrap();
    std::fs::write(out_dir.join(format!("{label}-cases.csv")), cases.csv()).unwrap();
    std::fs::write(out_dir.join(format!("{label}-ratios.csv")), ratios.csv()).unwrap();
    println!("{markdown}");
    eprintln!("wrote {}", out_dir.join(format!("{label}.md")).display());
}

/// How the check-alone table calls the check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum How {
    /// `CompiledContract::check_reference` per record.
    Reference,
    /// `RecordCheck::check` per record.
    Record,
    /// `RecordCheck::check_each` per batch: what the append paths call.
    Request,
}

/// The check alone, outside any append: CPU µs per record of the fast
/// check, per record (`RecordCheck::check`) and per request of the bench's
/// batch (`RecordCheck::check_each`, as the append paths call it), and of
/// the reference path it stands in for (`CompiledContract::check_reference`,
/// a `serde_json::Value` per record), on the benchmark's records and
/// contracts, this thread's CPU time, alternating 3 times
/// (`MILLRACE_BENCH_CHECK_RECORDS` checks each, default 200000).
fn check_alone(json_id: u32, avro_id: u32, json: &[Record], avro: &[Record]) -> Table {
    use millrace::contract::check::RecordCheck;
    use millrace::contract::{compile, parse, FixedSchemas, SchemaKind};
    let n = env_u64("MILLRACE_BENCH_CHECK_RECORDS", 200_000);
    let mut table = Table::new(
        "The check alone (CPU µs/record, 3 alternating runs, median)",
        &[
            "records",
            "reference (Value)",
            "fast, per record",
            "fast, per request",
            "reference ÷ per request",
        ],
    );
    for (name, id, kind, schema, topic, batch) in [
        ("JSON", json_id, SchemaKind::Json, JSON_SCHEMA, "json-contract", json),
        ("Avro", avro_id, SchemaKind::Avro, AVRO_SCHEMA, "avro-contract", avro),
    ] {
        let schemas = FixedSchemas::default().with(&format!("{topic}-value"), id, kind, schema);
        let check = compile(
            parse(&records::contract(topic)).unwrap(),
            1,
            std::sync::Arc::new(schemas),
        )
        .unwrap();
        let time = |how: How| {
            let before = cpu_of(libc::RUSAGE_THREAD);
            let mut violations = 0;
            match how {
                How::Reference | How::Record => {
                    for record in batch.iter().cycle().take(n as usize) {
                        let verdict = if how == How::Reference {
                            check.check_reference(record)
                        } else {
                            check.check(0, record)
                        };
                        violations += verdict.violations.len();
                    }
                }
                How::Request => {
                    for _ in 0..(n as usize).div_ceil(batch.len()) {
                        check.check_each(0, batch, &mut |_, verdict| violations += verdict.violations.len());
                    }
                }
            }
            assert_eq!(violations, 0, "{name}: every record is valid");
            let records = match how {
                How::Request => (n as usize).div_ceil(batch.len()) * batch.len(),
                How::Reference | How::Record => n as usize,
            };
            (cpu_of(libc::RUSAGE_THREAD) - before).as_secs_f64() * 1e6 / records as f64
        };
        let (mut slow, mut fast, mut each) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..3 {
            slow.push(time(How::Reference));
            fast.push(time(How::Record));
            each.push(time(How::Request));
        }
        let (slow, fast, each) = (median(&mut slow), median(&mut fast), median(&mut each));
        eprintln!(
            "check alone {name}: reference {slow:.3} µs/record, fast {fast:.3} µs/record, per request {each:.3} µs/record"
        );
        table.push(vec![
            name.into(),
            format!("{slow:.3}"),
            format!("{fast:.3}"),
            format!("{each:.3}"),
            format!("{:.1}×", slow / each),
        ]);
    }
    table
}

/// CPU time (user + system) this process has used so far, all threads.
fn process_cpu() -> Duration {
    cpu_of(libc::RUSAGE_SELF)
}

/// CPU time (user + system) of `who`: `RUSAGE_SELF` (the process) or `RUSAGE_THREAD` (this thread).
#[expect(unsafe_code, reason = "getrusage is a C call")]
fn cpu_of(who: libc::c_int) -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: `usage` is a valid, writable `rusage`; getrusage writes only
    // into it and RUSAGE_SELF and RUSAGE_THREAD are always valid targets.
    let rc = unsafe { libc::getrusage(who, usage.as_mut_ptr()) };
    assert_eq!(rc, 0, "getrusage: {}", std::io::Error::last_os_error());
    // SAFETY: zero-initialised plain integers, and getrusage returned 0 (filled).
    let usage = unsafe { usage.assume_init() };
    let time = |t: libc::timeval| Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
    time(usage.ru_utime) + time(usage.ru_stime)
}
