//! The contracts' gauges on the metrics port, through a real server over a
//! data directory whose topics have contracts: the version in force, the
//! freshness age of the newest record (seeded from the log at open), the
//! SLA breach per level, and the windowed rules' series.

use crate::common;

use common::{scrape, test_config, TestServer};
use millrace::contract::ApplyRequest;
use millrace::{Record, Store, StoreOptions, TopicConfig};
use millrace_server::server::start;

const CONTRACT: &str = "apiVersion: v3.0.0
kind: DataContract
id: c
version: 1.0.0
status: active
owner: team
topic: TOPIC
quality:
  - name: unique-id
    type: uniqueness
    field: /id
    window: {records: 100}
  - name: id-complete
    type: completeness
    field: /id
    window: {records: 100}
slaProperties:
  - property: freshness
    warn: 10m
    error: 1h
";

fn series(text: &str, name: &str) -> Option<String> {
    text.lines()
        .find_map(|line| line.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .map(str::to_string)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_freshness_sla_and_windowed_measures_are_exported() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
        for (topic, age_ms) in [("fresh", 0), ("stale", 2 * 3600 * 1000)] {
            store.create_topic(topic, TopicConfig::with_partitions(1)).unwrap();
            let text = CONTRACT.replace("TOPIC", topic);
            let request = ApplyRequest {
                text: &text,
                actor: "test",
                dry_run: false,
                force: false,
            };
            store.contracts().apply(&request).unwrap();
            let mut record = Record::new(r#"{"id": 1}"#);
            record.timestamp_ms = Some(millrace::clock::now_ms() - age_ms);
            store.append(topic, 0, &[record]).unwrap();
        }
        store.close().unwrap();
    }
    let handle = start(test_config(dir.path())).await.unwrap();
    let server = TestServer { handle, dir };
    let text = scrape(&server).await;
    assert_eq!(
        series(&text, r#"millrace_contract_version{topic="fresh"}"#).as_deref(),
        Some("1"),
        "{text}"
    );
    let stale_age: u64 = series(&text, r#"millrace_contract_freshness_seconds{topic="stale"}"#)
        .unwrap()
        .parse()
        .unwrap();
    assert!(stale_age >= 7200, "{stale_age}");
    assert_eq!(
        series(&text, r#"millrace_contract_sla_breached{topic="stale",level="error"}"#).as_deref(),
        Some("1")
    );
    assert_eq!(
        series(&text, r#"millrace_contract_sla_breached{topic="stale",level="warn"}"#).as_deref(),
        Some("1")
    );
    assert_eq!(
        series(&text, r#"millrace_contract_sla_breached{topic="fresh",level="error"}"#).as_deref(),
        Some("0")
    );
    // Windowed measures start at install (records observed by the append paths from then on).
    assert_eq!(
        series(
            &text,
            r#"millrace_contract_uniqueness_violations_total{topic="fresh",rule="unique-id"}"#
        )
        .as_deref(),
        Some("0"),
        "{text}"
    );
    assert!(
        text.contains("# TYPE millrace_contract_completeness_ratio gauge"),
        "{text}"
    );
    server.handle.shutdown().await.unwrap();
}

/// DLQ depth against the contract's `dlqDepth` thresholds: the depth, the
/// thresholds and the breach per level.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_dlq_depth_and_its_thresholds_are_exported() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
        store.create_topic("pay", TopicConfig::with_partitions(1)).unwrap();
        let text = "apiVersion: v3.0.0
kind: DataContract
id: c
version: 1.0.0
status: active
owner: team
topic: pay
properties:
  - name: currency
    enum: [EUR]
    action: dlq
slaProperties:
  - property: dlqDepth
    warn: 1
    error: 2
";
        let request = ApplyRequest {
            text,
            actor: "test",
            dry_run: false,
            force: false,
        };
        store.contracts().apply(&request).unwrap();
        let bad = [
            Record::new(r#"{"currency": "GBP"}"#),
            Record::new(r#"{"currency": "JPY"}"#),
            Record::new(r#"{"currency": "CHF"}"#),
        ];
        let info = store.append("pay", 0, &bad).unwrap();
        assert_eq!(info.next_offset - info.base_offset, 0, "both dead-lettered");
        store.close().unwrap();
    }
    let handle = start(test_config(dir.path())).await.unwrap();
    let server = TestServer { handle, dir };
    let text = scrape(&server).await;
    for (name, value) in [
        (r#"millrace_contract_dlq_depth{topic="pay"}"#, "3"),
        (
            r#"millrace_contract_dlq_depth_threshold{topic="pay",level="warn"}"#,
            "1",
        ),
        (
            r#"millrace_contract_dlq_depth_threshold{topic="pay",level="error"}"#,
            "2",
        ),
        (r#"millrace_contract_dlq_breached{topic="pay",level="warn"}"#, "1"),
        (r#"millrace_contract_dlq_breached{topic="pay",level="error"}"#, "1"),
    ] {
        assert_eq!(series(&text, name).as_deref(), Some(value), "{name} in\n{text}");
    }
    server.handle.shutdown().await.unwrap();
}
