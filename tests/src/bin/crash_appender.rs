//! Child process of the kill -9 harness (`tests/kill9.rs`): appends to the
//! store at `<data-dir>` in `Always` mode from several threads, random record
//! sizes, some multi-record batches, small segments, and prints one `ACK` line
//! per acknowledged batch (see `millrace_tests::crash`), flushed at once, and
//! `SPINS <spins> <hand-offs>` when its group-commit spin counters move. Runs
//! until killed, until its standard input closes (the parent died), or for at
//! most `MAX_RUN` as a safety net.
//!
//! Usage: `crash_appender <data-dir> <run> <seed> <threads>`

use millrace::{Error, Store};
use millrace_tests::crash::{
    batch_checksum, make_record, store_options, topic_config, Ack, RecordId, SplitMix64, PARTITIONS,
    RECORDS_PER_BATCH_MAX, TOPIC, VALUE_BYTES_MAX,
};
use std::io::{Read, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

const MAX_RUN: Duration = Duration::from_secs(60);

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("crash_appender: {message}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let [_, dir, run, seed, threads] = args.as_slice() else {
        return Err("usage: crash_appender <data-dir> <run> <seed> <threads>".into());
    };
    let run: u32 = run.parse().map_err(|e| format!("run {run:?}: {e}"))?;
    let seed: u64 = seed.parse().map_err(|e| format!("seed {seed:?}: {e}"))?;
    let threads: u32 = threads.parse().map_err(|e| format!("threads {threads:?}: {e}"))?;

    // The parent holds our stdin open; EOF means it is gone, so stop appending.
    std::thread::spawn(|| {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
        std::process::exit(0);
    });

    let store = Store::open(dir, store_options()).map_err(|e| format!("open {dir}: {e}"))?;
    match store.create_topic(TOPIC, topic_config()) {
        Ok(()) | Err(Error::TopicExists(_)) => {}
        Err(e) => return Err(format!("create topic: {e}")),
    }
    print_line("READY")?;
    // How often group-commit waiters spun (`SPINS <spins> <hand-offs>` when
    // it changes): the parent checks that a run with many threads crashed
    // with spinning waiters, not only with sleeping ones.
    {
        let store = store.clone();
        std::thread::spawn(move || {
            let mut last = 0;
            loop {
                std::thread::sleep(Duration::from_millis(5));
                let metrics = store.metrics();
                if metrics.group_commit_spins != last {
                    last = metrics.group_commit_spins;
                    let line = format!(
                        "SPINS {} {}",
                        metrics.group_commit_spins, metrics.group_commit_spin_handoffs
                    );
                    if print_line(&line).is_err() {
                        return;
                    }
                }
            }
        });
    }

    let deadline = Instant::now() + MAX_RUN;
    let workers: Vec<_> = (0..threads)
        .map(|thread| {
            let store = store.clone();
            std::thread::spawn(move || append_loop(&store, run, thread, seed, deadline))
        })
        .collect();
    for worker in workers {
        worker.join().map_err(|_| "an appender thread panicked".to_string())??;
    }
    Ok(())
}

fn append_loop(store: &Store, run: u32, thread: u32, seed: u64, deadline: Instant) -> Result<(), String> {
    let mut rng = SplitMix64::new(seed ^ (u64::from(thread) << 32) ^ u64::from(run));
    let mut sequence = 0u64;
    while Instant::now() < deadline {
        let partition = rng.below(u64::from(PARTITIONS)) as u32;
        let count = if rng.below(4) == 0 {
            1 + rng.below(RECORDS_PER_BATCH_MAX as u64) as usize
        } else {
            1
        };
        let mut ids = Vec::with_capacity(count);
        let mut records = Vec::with_capacity(count);
        for _ in 0..count {
            let id = RecordId { run, thread, sequence };
            sequence += 1;
            let value_len = if rng.below(10) == 0 {
                rng.below(VALUE_BYTES_MAX as u64 + 1)
            } else {
                rng.below(200)
            };
            records.push(make_record(&id, value_len as usize));
            ids.push(id);
        }
        let info = store
            .append(TOPIC, partition, &records)
            .map_err(|e| format!("append to partition {partition}: {e}"))?;
        let checksum = batch_checksum(
            records
                .iter()
                .map(|r| (r.key.as_deref(), r.value.as_slice(), r.headers.as_slice())),
        );
        let ack = Ack {
            partition,
            base_offset: info.base_offset,
            record_count: count as u32,
            checksum,
            ids,
        };
        print_line(&ack.to_string())?;
    }
    Ok(())
}

/// Write one whole line and flush it before returning, so that every line the
/// parent sees complete was acknowledged before it was printed.
fn print_line(line: &str) -> Result<(), String> {
    let mut out = std::io::stdout().lock();
    let mut bytes = Vec::with_capacity(line.len() + 1);
    bytes.extend_from_slice(line.as_bytes());
    bytes.push(b'\n');
    out.write_all(&bytes)
        .and_then(|()| out.flush())
        .map_err(|e| format!("stdout: {e}"))
}
