//! `millrace bench --server ADDR`: the same load through the TCP protocol,
//! one client connection per producer on a small tokio runtime.

use super::{claim, new_histogram, report, BenchArgs, ProducerResult, LATENCY_MAX_US};
use crate::cli::GlobalArgs;
use crate::error::{CliError, CliResult};
use crate::target::{client_options, remote_error, resolve_server};
use millrace::Record;
use millrace_server::Client;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[expect(
    clippy::too_many_lines,
    reason = "debt: the remote load generator; to split like `bench::run`"
)]
pub fn run(global: &GlobalArgs, args: BenchArgs) -> CliResult<()> {
    let server = global.server.as_deref().unwrap_or_default();
    let addr = resolve_server(server)?;
    let partitions = args.partitions.unwrap_or(args.producers);
    let record_bytes =
        usize::try_from(args.record_bytes).map_err(|_| CliError::usage("--record-bytes is too large"))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::new(format!("cannot start the I/O runtime: {e}")))?;
    let options = client_options(global)?;
    let admin = runtime
        .block_on(Client::connect(addr, options.clone()))
        .map_err(|e| remote_error(addr, e))?;
    let durability = args.durability.to_string();
    let record_bytes_max = (record_bytes + 1024).to_string();
    runtime
        .block_on(admin.create_topic(
            &args.topic,
            partitions,
            &[
                ("durability", durability.as_str()),
                ("record_bytes_max", record_bytes_max.as_str()),
            ],
        ))
        .map_err(|e| {
            remote_error(addr, e).with_hint("pass another --topic, or delete it with `millrace topic delete`")
        })?;
    let stop = Arc::new(AtomicBool::new(false));
    let claimed = Arc::new(AtomicU64::new(0));
    let batch_records = u64::from(args.batch_records);
    let started = Instant::now();
    let deadline = started + args.duration;
    // One client per connection; a client's clones share its connection.
    let connections = args.connections.unwrap_or(args.producers).min(args.producers);
    let mut clients = Vec::new();
    for _ in 0..connections {
        let client = runtime
            .block_on(Client::connect(addr, options.clone()))
            .map_err(|e| remote_error(addr, e))?;
        clients.push(client);
    }
    let mut tasks = Vec::new();
    for (producer, client) in (0..args.producers).zip(clients.iter().cycle()) {
        let topic = args.topic.clone();
        let stop = stop.clone();
        let claimed = claimed.clone();
        let count = args.count;
        let client = client.clone();
        let partition = producer % partitions;
        tasks.push(runtime.spawn(async move {
            let mut histogram = new_histogram()?;
            let value = vec![b'x'; record_bytes];
            let mut records = 0u64;
            let mut batches = 0u64;
            while !stop.load(Ordering::Relaxed) {
                if count.is_none() && Instant::now() >= deadline {
                    break;
                }
                let Some(n) = claim(count, &claimed, batch_records) else {
                    break;
                };
                let batch: Vec<Record> = (0..n).map(|_| Record::new(value.clone())).collect();
                let t = Instant::now();
                client
                    .produce(&topic, partition, batch)
                    .await
                    .map_err(|e| remote_error(addr, e))?;
                let _ = histogram.record((t.elapsed().as_micros() as u64).clamp(1, LATENCY_MAX_US));
                records += n;
                batches += 1;
            }
            Ok::<ProducerResult, CliError>(ProducerResult {
                records,
                batches,
                histogram,
            })
        }));
    }
    let mut histogram = new_histogram()?;
    let mut records = 0u64;
    let mut batches = 0u64;
    let mut first_error = None;
    for task in tasks {
        match runtime.block_on(task) {
            Ok(Ok(r)) => {
                records += r.records;
                batches += r.batches;
                let _ = histogram.add(&r.histogram);
            }
            Ok(Err(e)) => {
                stop.store(true, Ordering::Relaxed);
                first_error.get_or_insert(e);
            }
            Err(_) => {
                first_error.get_or_insert(CliError::new("a producer task failed"));
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64().max(1e-9);
    let mut read = None;
    if first_error.is_none() && args.read {
        let t = Instant::now();
        let mut read_records = 0u64;
        for p in 0..partitions {
            let mut offset = 0u64;
            loop {
                let fetched = runtime
                    .block_on(admin.fetch(&args.topic, p, offset, Duration::ZERO))
                    .map_err(|e| remote_error(addr, e))?;
                read_records += fetched.records.len() as u64;
                if fetched.next_offset <= offset || fetched.next_offset >= fetched.high_watermark {
                    break;
                }
                offset = fetched.next_offset;
            }
        }
        read = Some((read_records, t.elapsed().as_secs_f64().max(1e-9)));
    }
    if !args.keep || first_error.is_some() {
        let _ = runtime.block_on(admin.delete_topic(&args.topic));
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    report(global, &args, partitions, records, batches, elapsed, &histogram, read)
}
