//! Each system under test behind one small interface: producers that append
//! one 1 KiB record per call and return once it is acknowledged, a bulk load,
//! and a full scan.

use crate::nats::{self, Nats};
use crate::redis::{self, Redis};
use millrace::{Durability, ReadOptions, Record, Store, StoreOptions, TopicConfig};
use millrace_server::messages::{Fetch, Isolation, Position};
use millrace_server::{BlockingClient, Client, ClientOptions};
use rusqlite::Connection;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

pub trait Producer: Send {
    /// Append one record; return once the system acknowledges it.
    fn produce(&mut self) -> Result<()>;
}

pub trait System {
    fn producer(&self) -> Result<Box<dyn Producer>>;
    /// Append `count` records as fast as the system allows (not timed).
    fn load(&self, count: u64) -> Result<()>;
    /// Read every record from the start; returns (records, payload bytes).
    fn scan(&self, count: u64) -> Result<(u64, u64)>;
    /// Make everything durable and close.
    fn finish(&self) -> Result<()>;
}

/// Incompressible (xorshift) bytes, the same for every system, so that
/// bytes-on-disk figures are not flattered by compression (Redis's AOF
/// rewrite writes an LZF-compressed RDB preamble).
pub fn payload(record_bytes: usize) -> Vec<u8> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    (0..record_bytes)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

// ---------------------------------------------------------------- Millrace

pub const TOPIC: &str = "bench";

pub struct Millrace {
    pub store: Store,
    record: Record,
}

impl Millrace {
    pub fn open(dir: &Path, durability: Durability, record_bytes: usize) -> Result<Millrace> {
        let store = Store::open(
            dir,
            StoreOptions {
                durability,
                ..StoreOptions::default()
            },
        )?;
        store.create_topic(TOPIC, TopicConfig::default())?;
        Ok(Millrace {
            store,
            record: Record::new(payload(record_bytes)),
        })
    }
}

struct MillraceProducer {
    store: Store,
    records: [Record; 1],
}

impl Producer for MillraceProducer {
    fn produce(&mut self) -> Result<()> {
        self.store.append(TOPIC, 0, &self.records)?;
        Ok(())
    }
}

impl System for Millrace {
    fn producer(&self) -> Result<Box<dyn Producer>> {
        Ok(Box::new(MillraceProducer {
            store: self.store.clone(),
            records: [self.record.clone()],
        }))
    }
    fn load(&self, count: u64) -> Result<()> {
        let batch: Vec<Record> = (0..1000).map(|_| self.record.clone()).collect();
        let mut left = count;
        while left > 0 {
            let n = left.min(batch.len() as u64) as usize;
            self.store.append(TOPIC, 0, batch.get(..n).unwrap_or_default())?;
            left -= n as u64;
        }
        self.store.flush()?;
        Ok(())
    }
    fn scan(&self, count: u64) -> Result<(u64, u64)> {
        let options = ReadOptions {
            max_bytes: 4 << 20,
            max_records: 100_000,
        };
        let (mut offset, end) = self.store.offsets(TOPIC, 0)?;
        let (mut records, mut bytes) = (0u64, 0u64);
        // The sequential zero-copy reader (records borrowed from the mapped
        // segment, each batch's CRC checked once), as SQLite's rows are read
        // through one cursor and borrowed blobs.
        let mut scanner = self
            .store
            .scanner(TOPIC, 0, offset, millrace::Isolation::ReadCommitted)?;
        while offset < end && records < count {
            offset = scanner.scan(options, |view| {
                records += 1;
                bytes += view.value.len() as u64;
            })?;
        }
        Ok((records, bytes))
    }
    fn finish(&self) -> Result<()> {
        self.store.flush()?;
        Ok(())
    }
}

// ---------------------------------------------------------------- SQLite

pub struct Sqlite {
    path: PathBuf,
    synchronous: &'static str,
    payload: Vec<u8>,
}

impl Sqlite {
    /// WAL mode; `synchronous` is `FULL` (fsync every commit) or `NORMAL`.
    pub fn open(dir: &Path, synchronous: &'static str, record_bytes: usize) -> Result<Sqlite> {
        std::fs::create_dir_all(dir)?;
        let sqlite = Sqlite {
            path: dir.join("bench.db"),
            synchronous,
            payload: payload(record_bytes),
        };
        sqlite
            .connect()?
            .execute_batch("CREATE TABLE IF NOT EXISTS log (id INTEGER PRIMARY KEY, payload BLOB NOT NULL);")?;
        Ok(sqlite)
    }

    pub fn connect(&self) -> Result<Connection> {
        let connection = Connection::open(&self.path)?;
        connection.busy_timeout(std::time::Duration::from_secs(120))?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", self.synchronous)?;
        Ok(connection)
    }
}

struct SqliteProducer {
    connection: Connection,
    payload: Vec<u8>,
}

impl Producer for SqliteProducer {
    fn produce(&mut self) -> Result<()> {
        // Autocommit: one transaction (one WAL commit) per record.
        let mut statement = self
            .connection
            .prepare_cached("INSERT INTO log (payload) VALUES (?1)")?;
        statement.execute([&self.payload])?;
        Ok(())
    }
}

impl System for Sqlite {
    fn producer(&self) -> Result<Box<dyn Producer>> {
        Ok(Box::new(SqliteProducer {
            connection: self.connect()?,
            payload: self.payload.clone(),
        }))
    }
    fn load(&self, count: u64) -> Result<()> {
        let mut connection = self.connect()?;
        let transaction = connection.transaction()?;
        {
            let mut statement = transaction.prepare("INSERT INTO log (payload) VALUES (?1)")?;
            for _ in 0..count {
                statement.execute([&self.payload])?;
            }
        }
        transaction.commit()?;
        Ok(())
    }
    fn scan(&self, count: u64) -> Result<(u64, u64)> {
        let connection = self.connect()?;
        let mut statement = connection.prepare("SELECT payload FROM log ORDER BY id")?;
        let mut rows = statement.query([])?;
        let (mut records, mut bytes) = (0u64, 0u64);
        while let Some(row) = rows.next()? {
            let payload = row.get_ref(0)?.as_blob()?;
            bytes += payload.len() as u64;
            records += 1;
            if records >= count {
                break;
            }
        }
        Ok((records, bytes))
    }
    fn finish(&self) -> Result<()> {
        self.connect()?.pragma_update(None, "wal_checkpoint", "TRUNCATE")?;
        Ok(())
    }
}

// ---------------------------------------------------------------- Redis Streams

pub struct RedisStreams {
    port: u16,
    payload: Vec<u8>,
}

const STREAM_KEY: &[u8] = b"bench";

impl RedisStreams {
    pub fn new(port: u16, record_bytes: usize) -> RedisStreams {
        RedisStreams {
            port,
            payload: payload(record_bytes),
        }
    }
}

struct RedisProducer {
    redis: Redis,
    payload: Vec<u8>,
}

impl Producer for RedisProducer {
    fn produce(&mut self) -> Result<()> {
        let reply = self.redis.command(&[b"XADD", STREAM_KEY, b"*", b"v", &self.payload])?;
        redis::expect_bulk(reply)?;
        Ok(())
    }
}

impl System for RedisStreams {
    fn producer(&self) -> Result<Box<dyn Producer>> {
        Ok(Box::new(RedisProducer {
            redis: Redis::connect(self.port)?,
            payload: self.payload.clone(),
        }))
    }
    fn load(&self, count: u64) -> Result<()> {
        let mut redis = Redis::connect(self.port)?;
        let mut left = count;
        while left > 0 {
            let n = left.min(1000);
            for _ in 0..n {
                redis.send(&[b"XADD", STREAM_KEY, b"*", b"v", &self.payload])?;
            }
            redis.flush()?;
            for _ in 0..n {
                redis::expect_bulk(redis.read_reply()?)?;
            }
            left -= n;
        }
        Ok(())
    }
    fn scan(&self, count: u64) -> Result<(u64, u64)> {
        let mut redis = Redis::connect(self.port)?;
        let (mut records, mut bytes) = (0u64, 0u64);
        let mut start = b"-".to_vec();
        while records < count {
            let reply = redis.command(&[b"XRANGE", STREAM_KEY, &start, b"+", b"COUNT", b"1000"])?;
            let redis::Reply::Array(Some(entries)) = reply else {
                return Err(io::Error::other("XRANGE: expected an array").into());
            };
            if entries.is_empty() {
                break;
            }
            for entry in entries {
                let redis::Reply::Array(Some(parts)) = entry else {
                    return Err(io::Error::other("XRANGE: bad entry").into());
                };
                let mut parts = parts.into_iter();
                let (Some(redis::Reply::Bulk(Some(id))), Some(redis::Reply::Array(Some(fields)))) =
                    (parts.next(), parts.next())
                else {
                    return Err(io::Error::other("XRANGE: bad entry").into());
                };
                if let Some(redis::Reply::Bulk(Some(value))) = fields.get(1) {
                    bytes += value.len() as u64;
                }
                records += 1;
                start = [b"(".as_slice(), &id].concat();
            }
        }
        Ok((records, bytes))
    }
    fn finish(&self) -> Result<()> {
        Ok(())
    }
}

// ---------------------------------------------------------------- NATS JetStream

pub struct JetStream {
    port: u16,
    payload: Vec<u8>,
}

const STREAM: &str = "BENCH";
const SUBJECT: &str = "bench";

impl JetStream {
    pub fn new(port: u16, record_bytes: usize) -> Result<JetStream> {
        let mut nats = Nats::connect(port, "setup")?;
        let config = serde_json::json!({
            "name": STREAM,
            "subjects": [SUBJECT],
            "storage": "file",
            "retention": "limits",
            "discard": "old",
            "max_msgs": -1,
            "max_bytes": -1,
            "max_age": 0,
            "num_replicas": 1,
        });
        let reply = nats.request(
            &format!("$JS.API.STREAM.CREATE.{STREAM}"),
            config.to_string().as_bytes(),
        )?;
        nats::check_api_reply(&reply)?;
        Ok(JetStream {
            port,
            payload: payload(record_bytes),
        })
    }
}

struct JetStreamProducer {
    nats: Nats,
    payload: Vec<u8>,
}

impl Producer for JetStreamProducer {
    fn produce(&mut self) -> Result<()> {
        let ack = self.nats.request(SUBJECT, &self.payload)?;
        nats::check_api_reply(&ack)?;
        Ok(())
    }
}

impl System for JetStream {
    fn producer(&self) -> Result<Box<dyn Producer>> {
        Ok(Box::new(JetStreamProducer {
            nats: Nats::connect(self.port, "producer")?,
            payload: self.payload.clone(),
        }))
    }
    fn load(&self, count: u64) -> Result<()> {
        let mut nats = Nats::connect(self.port, "load")?;
        let mut left = count;
        while left > 0 {
            let n = left.min(1000);
            for _ in 0..n {
                nats.publish_request(SUBJECT, &self.payload)?;
            }
            nats.flush()?;
            for _ in 0..n {
                nats::check_api_reply(&nats.next_message()?)?;
            }
            left -= n;
        }
        Ok(())
    }
    fn scan(&self, count: u64) -> Result<(u64, u64)> {
        let mut nats = Nats::connect(self.port, "scan")?;
        let consumer = serde_json::json!({
            "stream_name": STREAM,
            "config": {
                "durable_name": "scan",
                "deliver_policy": "all",
                "ack_policy": "none",
                "replay_policy": "instant",
            }
        });
        let reply = nats.request(
            &format!("$JS.API.CONSUMER.DURABLE.CREATE.{STREAM}.scan"),
            consumer.to_string().as_bytes(),
        )?;
        nats::check_api_reply(&reply)?;
        let (mut records, mut bytes) = (0u64, 0u64);
        let next = format!("$JS.API.CONSUMER.MSG.NEXT.{STREAM}.scan");
        let batch = 1000u64;
        while records < count {
            let want = batch.min(count - records);
            let request = format!("{{\"batch\":{want},\"expires\":5000000000}}");
            let reply_to = nats.publish_request(&next, request.as_bytes())?;
            nats.flush()?;
            let mut got = 0u64;
            while got < want {
                let message = nats.next_message()?;
                let delivery = message.reply.as_deref().is_some_and(|r| r.starts_with("$JS.ACK."));
                if !delivery {
                    if message.subject == reply_to {
                        // A status (404 no messages / 408 timeout): this pull is over.
                        break;
                    }
                    continue;
                }
                got += 1;
                bytes += message.payload.len() as u64;
            }
            if got == 0 {
                break;
            }
            records += got;
        }
        Ok((records, bytes))
    }
    fn finish(&self) -> Result<()> {
        Ok(())
    }
}

// ---------------------------------------------------------------- Millrace server

/// `millrace serve` (started by run.sh with the workload's durability) through
/// the crate's own pipelined client; one connection per producer.
pub struct MillraceServer {
    runtime: tokio::runtime::Runtime,
    address: SocketAddr,
    client: Client,
    record: Record,
}

impl MillraceServer {
    pub fn connect(port: u16, record_bytes: usize) -> Result<MillraceServer> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        let client = runtime.block_on(Client::connect(address, ClientOptions::default()))?;
        runtime.block_on(client.create_topic(TOPIC, 1, &[]))?;
        Ok(MillraceServer {
            runtime,
            address,
            client,
            record: Record::new(payload(record_bytes)),
        })
    }
}

/// One producer thread's connection (`MillraceServer::producer`). By default the blocking client (one
/// request at a time, written and read on the producer's thread, as the
/// Redis row's client does); `MILLRACE_COMPARE_SERVER_CLIENT=async` drives
/// the async client with a current-thread runtime of the producer's own
/// instead (`block_on` on the calling thread then also runs the client's
/// read task, so a response wakes this thread once; on a shared
/// multi-thread runtime a worker reads it, then wakes the caller).
struct BlockingProducer {
    client: BlockingClient,
    record: Record,
}

impl Producer for BlockingProducer {
    fn produce(&mut self) -> Result<()> {
        self.client.produce(TOPIC, 0, std::slice::from_ref(&self.record))?;
        Ok(())
    }
}

struct AsyncProducer {
    runtime: tokio::runtime::Runtime,
    client: Client,
    record: Record,
}

impl Producer for AsyncProducer {
    fn produce(&mut self) -> Result<()> {
        self.runtime
            .block_on(self.client.produce_from(TOPIC, 0, std::slice::from_ref(&self.record)))?;
        Ok(())
    }
}

impl System for MillraceServer {
    fn producer(&self) -> Result<Box<dyn Producer>> {
        let record = self.record.clone();
        if std::env::var("MILLRACE_COMPARE_SERVER_CLIENT").as_deref() == Ok("async") {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let client = runtime.block_on(Client::connect(self.address, ClientOptions::default()))?;
            return Ok(Box::new(AsyncProducer {
                runtime,
                client,
                record,
            }));
        }
        let client = BlockingClient::connect(self.address, ClientOptions::default())?;
        Ok(Box::new(BlockingProducer { client, record }))
    }
    fn load(&self, count: u64) -> Result<()> {
        let mut left = count;
        while left > 0 {
            let n = left.min(1000);
            let batch: Vec<Record> = (0..n).map(|_| self.record.clone()).collect();
            self.runtime.block_on(self.client.produce(TOPIC, 0, batch))?;
            left -= n;
        }
        self.runtime.block_on(self.client.flush())?;
        Ok(())
    }
    fn scan(&self, count: u64) -> Result<(u64, u64)> {
        let (mut records, mut bytes, mut offset) = (0u64, 0u64, 0u64);
        while records < count {
            // Records read in place from the response (no copy per record),
            // as the embedded scan reads them from the segment.
            let fetched = self.runtime.block_on(self.client.fetch_view(Fetch {
                topic: TOPIC.to_string(),
                partition: 0,
                position: Position::Offset(offset),
                max_bytes: 4 << 20,
                max_records: 0,
                isolation: Isolation::ReadCommitted,
                max_wait_ms: 0,
            }))?;
            if fetched.is_empty() {
                break;
            }
            records += fetched.len() as u64;
            bytes += fetched.iter().map(|r| r.value.len() as u64).sum::<u64>();
            offset = fetched.next_offset;
        }
        Ok((records, bytes))
    }
    fn finish(&self) -> Result<()> {
        self.runtime.block_on(self.client.flush())?;
        Ok(())
    }
}
