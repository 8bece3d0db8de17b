//! The exactly-once pipeline test: a consume-transform-produce stage (input →
//! two outputs + offset commit + DLQ, one transaction per step, written as an
//! embedder would: a `Consumer`, `Consumer::begin_transaction`,
//! `Transaction::fail_record`, and an abort of every eleventh batch that the
//! consumer must deliver again) runs in a
//! child process killed with SIGKILL at random points and restarted, at least
//! 50 times (MILLRACE_PIPELINE_CYCLES to change). At the end every input
//! record is reflected exactly once across the outputs and the DLQ, and the
//! child's read-committed reader never saw a partial transaction (it exits
//! with code 2 and prints VIOLATION if it does).
use millrace::{ReadOptions, Record, Store, StoreOptions, TopicConfig};
use millrace_tests::kill9::Victim;
use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

const INPUT: u64 = 3000;

fn ids(store: &Store, topic: &str) -> Vec<u64> {
    let mut out = Vec::new();
    let Ok((mut offset, end)) = store.offsets(topic, 0) else {
        return out;
    };
    while offset < end {
        let r = store
            .read(
                topic,
                0,
                offset,
                ReadOptions {
                    max_bytes: 8 << 20,
                    max_records: 100_000,
                },
            )
            .unwrap();
        for rec in &r.records {
            // An output record names its input in `id`; a dead letter is the
            // input record itself (its value is the id).
            let id = rec.header("id").unwrap_or(&rec.value);
            out.push(std::str::from_utf8(id).unwrap().parse().unwrap());
        }
        offset = r.next_offset;
    }
    out
}

fn next_random(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn consume_transform_produce_is_exactly_once_under_kill_9() {
    let cycles: u32 = std::env::var("MILLRACE_PIPELINE_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let mut seed: u64 = std::env::var("MILLRACE_PIPELINE_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed_1234);
    eprintln!("pipeline_kill9: {cycles} cycles, MILLRACE_PIPELINE_SEED={seed}");
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
        store.create_topic("in", TopicConfig::default()).unwrap();
        for out in ["out-a", "out-b"] {
            store.create_topic(out, TopicConfig::default()).unwrap();
        }
        let records: Vec<Record> = (0..INPUT).map(|i| Record::new(i.to_string().into_bytes())).collect();
        for chunk in records.chunks(500) {
            store.append("in", 0, chunk).unwrap();
        }
    }
    let started = Instant::now();
    let mut kills = 0;
    let mut finished = false;
    let mut violations = Vec::new();
    let mut history: Vec<String> = Vec::new();
    for cycle in 0.. {
        let mut command = Command::new(env!("CARGO_BIN_EXE_pipeline_stage"));
        command.arg(dir.path());
        let child = Victim::spawn(command);
        let killing = cycle < cycles;
        let ended = if killing {
            std::thread::sleep(Duration::from_millis(20 + next_random(&mut seed) % 120));
            kills += 1;
            child.kill()
        } else {
            child.wait()
        };
        let status = ended.status;
        let out = ended.lines.join("\n");
        history.push(format!("cycle {cycle} killed={killing}: {}", out.trim()));
        if out.contains("VIOLATION") {
            violations.push(format!("cycle {cycle}: {out}"));
            break;
        }
        if !killing || out.contains("DONE") {
            assert!(
                status.success() || killing,
                "cycle {cycle}: child failed: {status:?} {out}\n{}",
                ended.stderr
            );
            if out.contains("DONE") && !killing {
                finished = true;
                break;
            }
        }
        assert!(started.elapsed() < Duration::from_secs(600), "pipeline did not finish");
    }
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let mut seen: BTreeMap<u64, u32> = BTreeMap::new();
    for topic in ["out-a", "out-b", "__dlq.in"] {
        for id in ids(&store, topic) {
            *seen.entry(id).or_default() += 1;
        }
    }
    let duplicated: Vec<(&u64, &u32)> = seen.iter().filter(|(_, n)| **n != 1).collect();
    assert!(
        violations.is_empty(),
        "partial transaction seen: {violations:?}; duplicated {duplicated:?}"
    );
    drop(store);
    assert!(finished);
    assert!(kills >= cycles);
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    assert_eq!(store.committed_offset("stage", "in", 0).unwrap(), Some(INPUT));
    let mut seen: BTreeMap<u64, u32> = BTreeMap::new();
    for topic in ["out-a", "out-b", "__dlq.in"] {
        for id in ids(&store, topic) {
            *seen.entry(id).or_default() += 1;
            let expected = if id.is_multiple_of(7) {
                "__dlq.in"
            } else if id % 2 == 0 {
                "out-a"
            } else {
                "out-b"
            };
            assert_eq!(topic, expected, "id {id} in the wrong output");
        }
    }
    let missing: Vec<u64> = (0..INPUT).filter(|id| !seen.contains_key(id)).collect();
    let duplicated: Vec<(&u64, &u32)> = seen.iter().filter(|(_, n)| **n != 1).collect();
    assert!(missing.is_empty(), "missing ids: {missing:?}");
    assert!(duplicated.is_empty(), "duplicated ids: {duplicated:?}");
    eprintln!(
        "pipeline_kill9: {kills} kills, {INPUT} records exactly once, {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
