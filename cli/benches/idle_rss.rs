//! Resident memory of `millrace serve` (issue 5: idle server RSS under 20 MiB).
//!
//! `cargo bench -p millrace-cli --bench idle_rss`
//!
//! Starts the real binary with its default settings (metrics listener on, a
//! fresh data directory, its own ports on 127.0.0.1), and reads
//! `/proc/<pid>/status`:
//!
//! 1. idle, 1 s after it answers;
//! 2. right after a load: `MILLRACE_BENCH_RSS_CONNECTIONS` (default 8)
//!    connections each produce `MILLRACE_BENCH_RSS_MB` / connections (default
//!    64 MiB in all) of 1 KiB records in batches of `MILLRACE_BENCH_RSS_BATCH`
//!    (default 100) to a 4-partition topic, then everything is fetched back,
//!    offsets are committed and the metrics endpoint is read;
//! 3. idle again, once the server has given memory back after the quiet
//!    spell (between 10 and 20 s after the last request at the default
//!    `memory_release_idle_ms`; this waits up to 30 s);
//! 4. after a restart on that store: 1 s after it listens (opening the store
//!    loaded every sealed segment's index), and after its first release.
//!
//! `RssAnon` is the server's own heap and stacks; `RssFile` counts pages of
//! the binary and of memory-mapped sealed segments, which the kernel
//! reclaims as page cache. Linux only (`/proc`).

#![expect(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "benchmark harness: any failure should abort the run loudly"
)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use millrace::Record;
use millrace_server::{Client, ClientOptions};

/// The target from issue 5.
const IDLE_RSS_TARGET_KIB: u64 = 20 * 1024;
const TOPIC: &str = "rss";
const PARTITIONS: u32 = 4;
/// Longest wait for the server's idle release after the load.
const IDLE_WAIT_SECONDS: u64 = 30;
/// What the server logs (at debug) when it releases memory.
const RELEASE_LOG: &str = "idle: released mapped segment pages";

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

/// The kB fields of `/proc/<pid>/status` this bench reports.
#[derive(Debug, Clone, Copy)]
struct Memory {
    rss: u64,
    anon: u64,
    file: u64,
    hwm: u64,
}

fn memory(pid: u32) -> Memory {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in /proc/{pid}/status"))
    };
    Memory {
        rss: field("VmRSS:"),
        anon: field("RssAnon:"),
        file: field("RssFile:"),
        hwm: field("VmHWM:"),
    }
}

fn wait_listening(addr: SocketAddr, server: &mut Child) {
    let started = Instant::now();
    while TcpStream::connect(addr).is_err() {
        if let Some(status) = server.try_wait().unwrap() {
            panic!("millrace serve exited early: {status}");
        }
        assert!(started.elapsed() < Duration::from_secs(20), "server did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One plain HTTP GET of the metrics page; returns its size.
fn scrape(addr: SocketAddr) -> usize {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut page = Vec::new();
    stream.read_to_end(&mut page).unwrap();
    assert!(
        page.starts_with(b"HTTP/1.1 200"),
        "metrics answered {:?}",
        String::from_utf8_lossy(&page[..page.len().min(40)])
    );
    page.len()
}

fn load(addr: SocketAddr, connections: u64, mb: u64, batch: u64) -> (u64, Duration) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let admin = Client::connect(addr, ClientOptions::default()).await.unwrap();
        admin.create_topic(TOPIC, PARTITIONS, &[]).await.unwrap();
        let batches_per_connection = (mb << 20) / 1024 / batch / connections;
        let started = Instant::now();
        let mut tasks = Vec::new();
        for c in 0..connections {
            tasks.push(tokio::spawn(async move {
                let client = Client::connect(addr, ClientOptions::default()).await.unwrap();
                let partition = (c % u64::from(PARTITIONS)) as u32;
                let batch: Vec<Record> = (0..batch).map(|_| Record::new(vec![b'r'; 1024])).collect();
                for _ in 0..batches_per_connection {
                    client.produce(TOPIC, partition, batch.clone()).await.unwrap();
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        // Read everything back and commit where each partition ends.
        let mut fetched = 0u64;
        for partition in 0..PARTITIONS {
            let mut offset = 0;
            loop {
                let batch = admin.fetch(TOPIC, partition, offset, Duration::ZERO).await.unwrap();
                if batch.records.is_empty() {
                    break;
                }
                fetched += batch.records.len() as u64;
                offset = batch.next_offset;
            }
            admin
                .commit_offsets("rss-group", &[(TOPIC, partition, offset)])
                .await
                .unwrap();
        }
        (fetched, started.elapsed())
    })
}

fn kib(k: u64) -> String {
    format!("{:.1} MiB", k as f64 / 1024.0)
}

/// A running `millrace serve` whose debug log is watched for its idle release.
struct Served {
    child: Child,
    pid: u32,
    listen: SocketAddr,
    metrics: SocketAddr,
    released: std::sync::mpsc::Receiver<Instant>,
}

impl Served {
    fn start(data: &Path) -> Served {
        let (listen, metrics) = (free_port(), free_port());
        let mut child = Command::new(env!("CARGO_BIN_EXE_millrace"))
            .arg("--data")
            .arg(data)
            .args([
                "serve",
                "--listen",
                &listen.to_string(),
                "--metrics-listen",
                &metrics.to_string(),
            ])
            .env("RUST_LOG", "millrace_server=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id();
        // The server's debug log says when it gave memory back.
        let (tx, released) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in std::io::BufRead::lines(std::io::BufReader::new(stderr)).map_while(Result::ok) {
                if line.contains(RELEASE_LOG) {
                    let _ = tx.send(Instant::now());
                }
            }
        });
        wait_listening(listen, &mut child);
        Served {
            child,
            pid,
            listen,
            metrics,
            released,
        }
    }

    /// Wait for the next idle release (it comes one to two quiet periods
    /// after the last traffic); its time after `since`, and the memory then.
    fn after_release(&self, since: Instant) -> (Option<Duration>, Memory) {
        let at = self
            .released
            .recv_timeout(Duration::from_secs(IDLE_WAIT_SECONDS).saturating_sub(since.elapsed()))
            .ok();
        std::thread::sleep(Duration::from_millis(200));
        (at.map(|at| at - since), memory(self.pid))
    }

    fn stop(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill").args(["-TERM", &self.pid.to_string()]).status();
        self.child.wait().unwrap()
    }
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else to parse.
    let connections = env_u64("MILLRACE_BENCH_RSS_CONNECTIONS", 8).max(1);
    let mb = env_u64("MILLRACE_BENCH_RSS_MB", 64).max(1);
    let batch = env_u64("MILLRACE_BENCH_RSS_BATCH", 100).max(1);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut rows: Vec<(String, Memory)> = Vec::new();
    let mut verdicts: Vec<(String, Memory)> = Vec::new();
    let describe = |when: Option<Duration>| match when {
        Some(when) => format!("{:.1} s", when.as_secs_f64()),
        None => format!("NO release within {IDLE_WAIT_SECONDS} s"),
    };

    // 1-3: a fresh store, a load, the quiet spell after it.
    let server = Served::start(&data);
    std::thread::sleep(Duration::from_secs(1));
    rows.push(("idle, 1 s after start (empty store)".into(), memory(server.pid)));
    verdicts.push(("idle after start".into(), memory(server.pid)));
    let (fetched, took) = load(server.listen, connections, mb, batch);
    let page = scrape(server.metrics);
    let quiet_since = Instant::now();
    rows.push(("right after the load".into(), memory(server.pid)));
    let (when, idle_after) = server.after_release(quiet_since);
    rows.push((
        format!("idle, after its release ({} after the load)", describe(when)),
        idle_after,
    ));
    verdicts.push(("idle after the load".into(), idle_after));
    let exited = server.stop();

    // 4: a restart on that store (open loads every sealed segment's index).
    let started = Instant::now();
    let server = Served::start(&data);
    let opened = started.elapsed();
    std::thread::sleep(Duration::from_secs(1));
    rows.push((
        format!("idle, 1 s after a restart on the {mb} MiB store"),
        memory(server.pid),
    ));
    let (when, idle_restarted) = server.after_release(started);
    rows.push((
        format!("idle, after its first release ({} after the restart)", describe(when)),
        idle_restarted,
    ));
    verdicts.push(("idle after a restart".into(), idle_restarted));
    let restarted_exit = server.stop();

    println!(
        "millrace serve, default settings; {connections} connections, {mb} MiB of 1 KiB records in batches of {batch} \
         over {PARTITIONS} partitions ({fetched} fetched back, {took:.1?}); metrics page {page} B; exit on SIGTERM: \
         {exited}, after the restart {restarted_exit}; restart listening after {opened:.2?}"
    );
    println!("| moment | VmRSS | RssAnon | RssFile | VmHWM |");
    println!("| --- | --- | --- | --- | --- |");
    for (name, m) in &rows {
        println!(
            "| {name} | {} | {} | {} | {} |",
            kib(m.rss),
            kib(m.anon),
            kib(m.file),
            kib(m.hwm)
        );
    }
    for (name, m) in &verdicts {
        println!(
            "target: {name} VmRSS {} < {} ({:.2} × the target): {}",
            kib(m.rss),
            kib(IDLE_RSS_TARGET_KIB),
            m.rss as f64 / IDLE_RSS_TARGET_KIB as f64,
            if m.rss < IDLE_RSS_TARGET_KIB { "met" } else { "NOT met" }
        );
    }
}
