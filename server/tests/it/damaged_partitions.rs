//! Damaged partitions over the server (issue 18, item 4): a partition that
//! failed to open is named by `DescribeDamage` with its error's wire code,
//! while `DescribeTopic` keeps its layout (the partitions that opened).

use crate::common;

use std::path::{Path, PathBuf};

use common::start_server;
use millrace::{Record, Store, StoreOptions, TopicConfig};
use millrace_server::error_code::ErrorCode;
use millrace_server::messages::{DescribeDamage, Request, Response};

/// Topic `t` (2 partitions, 16 KiB segments, several sealed segments in
/// partition 0) and topic `ok`; then the second segment of t/0 is cut to
/// half its length, so t/0 fails to open (a missing batch in the middle of
/// the log). Returns the damaged file.
pub fn damaged_store(data: &Path) -> PathBuf {
    let store = Store::open(
        data,
        StoreOptions {
            background: false,
            ..StoreOptions::default()
        },
    )
    .unwrap();
    let config = TopicConfig {
        partitions: 2,
        segment_bytes: 16 * 1024,
        ..TopicConfig::default()
    };
    store.create_topic("t", config).unwrap();
    store.create_topic("ok", TopicConfig::default()).unwrap();
    for batch in 0..30 {
        let records: Vec<Record> = (0..20)
            .map(|i| Record::new(format!("t-{batch:03}-{i:02}-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx")))
            .collect();
        store.append("t", 0, &records).unwrap();
    }
    store.append("t", 1, &[Record::new("one")]).unwrap();
    store.append("ok", 0, &[Record::new("fine")]).unwrap();
    store.close().unwrap();
    let partition = data.join("topics/t/00000");
    let mut logs: Vec<PathBuf> = std::fs::read_dir(&partition)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".log"))
        .collect();
    logs.sort();
    assert!(logs.len() > 2, "the fixture has sealed segments: {logs:?}");
    let sealed = logs[1].clone();
    let len = std::fs::metadata(&sealed).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&sealed)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    sealed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_damage_names_a_partition_that_failed_to_open() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let sealed = damaged_store(&data);
    let file_name = sealed.file_name().unwrap().to_string_lossy().to_string();
    let server = start_server(|c| c.data_dir = data.clone()).await;
    let client = server.client().await;

    // Every topic's damage: exactly t/0, as Corruption, naming the file.
    let report = client.describe_damage(None).await.unwrap();
    assert!(!report.truncated);
    assert_eq!(report.entries.len(), 1, "{report:?}");
    let entry = &report.entries[0];
    assert_eq!((entry.topic.as_str(), entry.partition), ("t", Some(0)));
    assert_eq!(entry.code, ErrorCode::Corruption.code(), "{entry:?}");
    assert!(entry.message.contains(&file_name), "{entry:?}");

    // One topic's: t's is the same entry, ok's and an unknown topic's are empty.
    assert_eq!(client.describe_damage(Some("t")).await.unwrap(), report);
    assert!(client.describe_damage(Some("ok")).await.unwrap().entries.is_empty());
    assert!(client.describe_damage(Some("absent")).await.unwrap().entries.is_empty());

    // DescribeTopic is unchanged: the partition that opened, in the old layout.
    let described = client.describe_topic("t").await.unwrap();
    let partitions: Vec<u32> = described.partitions.iter().map(|p| p.partition).collect();
    assert_eq!(partitions, vec![1]);
    assert_eq!(described.partitions[0].end_offset, 1);

    // The damaged partition answers its error; the rest serves.
    let fetch = client.fetch("t", 0, 0, std::time::Duration::ZERO).await.unwrap_err();
    assert_eq!(fetch.code(), Some(ErrorCode::Corruption), "{fetch}");
    assert_eq!(
        client
            .fetch("ok", 0, 0, std::time::Duration::ZERO)
            .await
            .unwrap()
            .records
            .len(),
        1
    );

    // The raw request, as an older client library would not send it: the
    // response decodes exactly (no trailing bytes).
    match client
        .call(Request::DescribeDamage(DescribeDamage {
            topic: Some("t".into()),
        }))
        .await
        .unwrap()
    {
        Response::Damage(raw) => assert_eq!(raw, report),
        other => panic!("unexpected {other:?}"),
    }
    server.handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_damage_of_an_undamaged_store_is_empty() {
    let server = start_server(|_| {}).await;
    let client = server.client().await;
    client.create_topic("a", 1, &[]).await.unwrap();
    let report = client.describe_damage(None).await.unwrap();
    assert!(report.entries.is_empty() && !report.truncated, "{report:?}");
    server.handle.shutdown().await.unwrap();
}

/// Internal topics' damage is the operator's (issue 18): with tokens, a
/// consume token's `DescribeDamage` lists the damaged user partition but no
/// internal topic (here a DLQ whose `topic.meta` is flipped), and naming that
/// topic is refused; an admin token's lists both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_damage_hides_internal_topics_from_non_admin_tokens() {
    const ADMIN: &str = "admin-token-0123456789";
    const READER: &str = "reader-token-0123456789";
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    damaged_store(&data);
    {
        // A dead letter of `ok`: `__dlq.ok` exists; then its topic.meta is damaged.
        let store = Store::open(
            &data,
            StoreOptions {
                background: false,
                ..StoreOptions::default()
            },
        )
        .unwrap();
        let writer = store.init_producer("dlq-writer").unwrap();
        let failed = store
            .read("ok", 0, 0, millrace::ReadOptions::default())
            .unwrap()
            .records[0]
            .clone();
        store
            .fail_record(writer.id(), "g", "ok", 0, &failed, "process", "Test", "fixture", 1)
            .unwrap();
        store.close().unwrap();
    }
    let meta = data.join("topics/__dlq.ok/topic.meta");
    let mut bytes = std::fs::read(&meta).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x20;
    std::fs::write(&meta, bytes).unwrap();

    let text = format!(
        "[[tokens]]\ntoken = \"{ADMIN}\"\npermissions = [\"admin\"]\n\
         [[tokens]]\ntoken = \"{READER}\"\npermissions = [\"consume\"]\n"
    );
    let tokens = millrace_server::config::ServerConfig::from_toml_str(&text, Path::new("test.toml"))
        .unwrap()
        .tokens;
    let server = start_server(|c| {
        c.data_dir = data.clone();
        c.tokens = tokens;
    })
    .await;
    let connect = |token: &'static str| {
        let addr = server.addr();
        async move {
            let options = millrace_server::ClientOptions {
                token: Some(token.as_bytes().to_vec()),
                connect_attempts_max: 1,
                ..millrace_server::ClientOptions::default()
            };
            millrace_server::Client::connect(addr, options).await.unwrap()
        }
    };
    let scopes = |report: &millrace_server::messages::DamageReport| -> Vec<(String, Option<u32>)> {
        report.entries.iter().map(|e| (e.topic.clone(), e.partition)).collect()
    };

    let admin = connect(ADMIN).await;
    let all = admin.describe_damage(None).await.unwrap();
    assert_eq!(
        scopes(&all),
        [("__dlq.ok".to_string(), None), ("t".to_string(), Some(0))],
        "{all:?}"
    );
    assert!(all.entries[0].message.contains("topic.meta"), "{all:?}");
    assert_eq!(scopes(&admin.describe_damage(Some("__dlq.ok")).await.unwrap()).len(), 1);

    let reader = connect(READER).await;
    let seen = reader.describe_damage(None).await.unwrap();
    assert_eq!(scopes(&seen), [("t".to_string(), Some(0))], "{seen:?}");
    assert!(!seen.truncated);
    // Naming the internal topic is reading it: admin only.
    match reader.describe_damage(Some("__dlq.ok")).await {
        Err(millrace_server::ClientError::Server(e)) => assert_eq!(e.code, ErrorCode::PermissionDenied, "{e:?}"),
        other => panic!("expected PermissionDenied, got {other:?}"),
    }
    server.handle.shutdown().await.unwrap();
}
