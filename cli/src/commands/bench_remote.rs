//! `millrace bench --server ADDR`: the same load through the TCP protocol,
//! one connection per producer unless `--connections`. Up to
//! [`ASYNC_WORKERS`] producers are each a thread on the blocking client (one
//! request at a time, as a synchronous application produces: a response
//! wakes its thread once, in `read`). More producers, `--connections` or TLS:
//! the producers are tasks of a tokio runtime of [`ASYNC_WORKERS`] threads
//! on the async client (requests pipelined on shared connections), where one
//! runtime thread's wake-up serves every response that arrived meanwhile:
//! with 16 producers, 16 blocking threads cost the client 30–50 % more CPU
//! per record than the runtime's two (design/performance.md, issue 26).

use super::{claim, new_histogram, report, BenchArgs, Measured, ProducerResult, LATENCY_MAX_US};
use crate::cli::GlobalArgs;
use crate::error::{CliError, CliResult};
use crate::interrupt;
use crate::target::{client_options, remote_error, resolve_server};
use millrace::Record;
use millrace_server::{BlockingClient, Client, ClientOptions};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The async client's runtime threads, and the most producers run as
/// blocking threads.
const ASYNC_WORKERS: usize = 2;

/// What every producer of one run shares.
#[derive(Clone)]
struct Load {
    addr: SocketAddr,
    topic: String,
    partitions: u32,
    record_bytes: usize,
    batch_records: u64,
    count: Option<u64>,
    deadline: Instant,
    stop: Arc<AtomicBool>,
    claimed: Arc<AtomicU64>,
}

impl Load {
    /// One full batch of the run's records, built once per producer and
    /// sent from where it is ([`first`] for a short last batch).
    fn batch(&self) -> Vec<Record> {
        let record = Record::new(vec![b'x'; self.record_bytes]);
        (0..self.batch_records).map(|_| record.clone()).collect()
    }

    /// The next batch's size, or `None` when the run is over (or Ctrl-C
    /// ended it).
    fn next_batch(&self) -> Option<u64> {
        if self.stop.load(Ordering::Relaxed)
            || interrupt::requested()
            || (self.count.is_none() && Instant::now() >= self.deadline)
        {
            return None;
        }
        claim(self.count, &self.claimed, self.batch_records)
    }
}

pub fn run(global: &GlobalArgs, args: BenchArgs) -> CliResult<()> {
    let server = global.server.as_deref().unwrap_or_default();
    let addr = resolve_server(server)?;
    let partitions = args.partitions.unwrap_or(args.producers);
    let record_bytes =
        usize::try_from(args.record_bytes).map_err(|_| CliError::usage("--record-bytes is too large"))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(ASYNC_WORKERS)
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
    // From here Ctrl-C ends the run with a report (the topic is deleted as
    // after a whole run).
    interrupt::watch();
    let started = Instant::now();
    let load = Load {
        addr,
        topic: args.topic.clone(),
        partitions,
        record_bytes,
        batch_records: u64::from(args.batch_records),
        count: args.count,
        deadline: started + args.duration,
        stop: Arc::new(AtomicBool::new(false)),
        claimed: Arc::new(AtomicU64::new(0)),
    };
    let blocking = args.connections.is_none() && options.tls.is_none() && args.producers as usize <= ASYNC_WORKERS;
    let results = if blocking {
        blocking_producers(&load, &options, args.producers)
    } else {
        let connections = args.connections.unwrap_or(args.producers).min(args.producers);
        async_producers(&runtime, &load, &options, args.producers, connections)
    };
    let mut histogram = new_histogram()?;
    let mut records = 0u64;
    let mut batches = 0u64;
    let mut first_error = None;
    for result in results {
        match result {
            Ok(r) => {
                records += r.records;
                batches += r.batches;
                let _ = histogram.add(&r.histogram);
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64().max(1e-9);
    let mut read = None;
    if first_error.is_none() && args.read && !interrupt::requested() {
        read = Some(read_back(&runtime, &admin, &load, records)?);
    }
    if !args.keep || first_error.is_some() {
        let _ = runtime.block_on(admin.delete_topic(&args.topic));
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    let measured = Measured {
        partitions,
        records,
        batches,
        elapsed,
        histogram,
        read,
        interrupted: interrupt::requested(),
    };
    report(global, &args, &measured)
}

/// The first `n` records of `batch` (all of it when `n` is larger).
fn first(batch: &[Record], n: u64) -> &[Record] {
    batch.get(..usize::try_from(n).unwrap_or(usize::MAX)).unwrap_or(batch)
}

/// One thread per producer, each with a blocking connection of its own; the
/// batch is built once and sent from where it is.
fn blocking_producers(load: &Load, options: &ClientOptions, producers: u32) -> Vec<CliResult<ProducerResult>> {
    let threads: Vec<_> = (0..producers)
        .map(|producer| {
            let load = load.clone();
            let options = options.clone();
            std::thread::spawn(move || -> CliResult<ProducerResult> {
                let addr = load.addr;
                let result = (|| {
                    let mut client = BlockingClient::connect(addr, options).map_err(|e| remote_error(addr, e))?;
                    let partition = producer % load.partitions;
                    let mut histogram = new_histogram()?;
                    let batch = load.batch();
                    let (mut records, mut batches) = (0u64, 0u64);
                    while let Some(n) = load.next_batch() {
                        let records_now = first(&batch, n);
                        let t = Instant::now();
                        client
                            .produce(&load.topic, partition, records_now)
                            .map_err(|e| remote_error(addr, e))?;
                        let _ = histogram.record((t.elapsed().as_micros() as u64).clamp(1, LATENCY_MAX_US));
                        records += n;
                        batches += 1;
                    }
                    Ok(ProducerResult {
                        records,
                        batches,
                        histogram,
                    })
                })();
                if result.is_err() {
                    load.stop.store(true, Ordering::Relaxed);
                }
                result
            })
        })
        .collect();
    threads
        .into_iter()
        .map(|thread| {
            thread
                .join()
                .unwrap_or_else(|_| Err(CliError::new("a producer thread failed")))
        })
        .collect()
}

/// Producers as tasks sharing `connections` async-client connections, round robin.
fn async_producers(
    runtime: &tokio::runtime::Runtime,
    load: &Load,
    options: &ClientOptions,
    producers: u32,
    connections: u32,
) -> Vec<CliResult<ProducerResult>> {
    let addr = load.addr;
    let mut clients = Vec::new();
    for _ in 0..connections {
        match runtime.block_on(Client::connect(addr, options.clone())) {
            Ok(client) => clients.push(client),
            Err(e) => return vec![Err(remote_error(addr, e))],
        }
    }
    let mut tasks = Vec::new();
    for (producer, client) in (0..producers).zip(clients.iter().cycle()) {
        let load = load.clone();
        let client = client.clone();
        tasks.push(runtime.spawn(async move {
            let partition = producer % load.partitions;
            let mut histogram = new_histogram()?;
            let batch = load.batch();
            let (mut records, mut batches) = (0u64, 0u64);
            while let Some(n) = load.next_batch() {
                let records_now = first(&batch, n);
                let t = Instant::now();
                if let Err(e) = client.produce_from(&load.topic, partition, records_now).await {
                    load.stop.store(true, Ordering::Relaxed);
                    return Err(remote_error(addr, e));
                }
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
    tasks
        .into_iter()
        .map(|task| {
            runtime
                .block_on(task)
                .unwrap_or_else(|_| Err(CliError::new("a producer task failed")))
        })
        .collect()
}

/// How long the read-back waits for records it has not seen yet to become
/// visible. Under `interval:MS` an acknowledged record is visible only after
/// the next fsync (design/durability.md), so the last records of a run can
/// lag its end by one interval.
const READ_BACK_PATIENCE: Duration = Duration::from_secs(10);

/// Read every partition back from offset 0 until the `acknowledged` records
/// of the run are read: (records, seconds). A pass that finds nothing new
/// waits a little and reads on; when nothing new appears for
/// [`READ_BACK_PATIENCE`], the read-back is an error naming what it missed.
/// Ctrl-C ends it with what it read so far.
fn read_back(
    runtime: &tokio::runtime::Runtime,
    admin: &Client,
    load: &Load,
    acknowledged: u64,
) -> CliResult<(u64, f64)> {
    let t = Instant::now();
    let mut read_records = 0u64;
    let mut offsets: Vec<u64> = (0..load.partitions).map(|_| 0).collect();
    let mut idle_since: Option<Instant> = None;
    loop {
        let before = read_records;
        for (p, offset) in (0..load.partitions).zip(offsets.iter_mut()) {
            loop {
                let fetched = runtime
                    .block_on(admin.fetch(&load.topic, p, *offset, Duration::ZERO))
                    .map_err(|e| remote_error(load.addr, e))?;
                read_records += fetched.records.len() as u64;
                if fetched.next_offset <= *offset {
                    break;
                }
                *offset = fetched.next_offset;
                if *offset >= fetched.high_watermark {
                    break;
                }
            }
        }
        if read_records >= acknowledged || interrupt::requested() {
            return Ok((read_records, t.elapsed().as_secs_f64().max(1e-9)));
        }
        if read_records > before {
            idle_since = None;
        } else if idle_since.get_or_insert_with(Instant::now).elapsed() >= READ_BACK_PATIENCE {
            return Err(CliError::new(format!(
                "read back {read_records} of the {acknowledged} acknowledged records of {}: \
                 nothing new became visible for {} s",
                load.topic,
                READ_BACK_PATIENCE.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
