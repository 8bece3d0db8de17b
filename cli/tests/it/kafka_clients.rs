//! The real Kafka clients the Kafka front is tested with are the versions
//! design/kafka.md names (`make kafka-clients` installs them).

use crate::common::kafka;

#[test]
fn the_pinned_kafka_clients_are_installed() {
    let Some(clients) = kafka::clients() else {
        return;
    };
    let version = std::process::Command::new(&clients.kcat)
        .arg("-V")
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&version.stdout).into_owned() + &String::from_utf8_lossy(&version.stderr);
    assert!(
        text.contains("kcat - Apache Kafka producer and consumer tool"),
        "{text}"
    );
    assert!(
        text.contains("Version 1.7.1") && text.contains("librdkafka 2.0.2"),
        "{text}"
    );
    let versions = std::process::Command::new(&clients.python)
        .args([
            "-c",
            "import confluent_kafka, kafka, aiokafka; print(confluent_kafka.version(), kafka.__version__, aiokafka.__version__)",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&versions.stdout).trim(), "2.16.2 3.0.12 0.14.0");
}

/// The fenced block of README.md's "Kafka clients" section that starts
/// with `fence` (e.g. "```sh").
fn readme_block(fence: &str) -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let section = &readme[readme
        .find("## Kafka clients")
        .expect("README has a Kafka clients section")..];
    let start = section.find(&format!("{fence}\n")).expect("the block") + fence.len() + 1;
    let end = start + section[start..].find("```").expect("the block's end");
    section[start..end].to_owned()
}

/// README.md's Kafka quickstart, as written, against `millrace serve`
/// (the default port swapped for a free one).
#[test]
fn the_readme_kafka_quickstart_works_as_written() {
    let Some(clients) = kafka::clients() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (server, bootstrap) = kafka::start_server(dir.path(), &["--kafka-auto-create-topics"]);
    let mut consumed = String::new();
    for line in readme_block("```sh").lines().filter(|l| !l.trim().is_empty()) {
        let line = line.replace("127.0.0.1:9092", &bootstrap);
        let output = std::process::Command::new("sh").args(["-c", &line]).output().unwrap();
        consumed = kafka::success(&output);
    }
    assert_eq!(consumed, "order-1 {\"total\": 42}\n");
    let script = dir.path().join("quickstart.py");
    std::fs::write(&script, readme_block("```python").replace("127.0.0.1:9092", &bootstrap)).unwrap();
    let output = std::process::Command::new(&clients.python)
        .arg(&script)
        .output()
        .unwrap();
    assert_eq!(kafka::success(&output), "b'order-1' b'{\"total\": 42}' 0\n");
    let shown = crate::common::json_of(
        server
            .millrace()
            .args(["offsets", "show", "--group", "billing", "--json"]),
    );
    // The one record polled (offset 0) is committed: the group resumes at 1.
    assert_eq!(shown["partitions"][0]["committed"].as_u64(), Some(1), "{shown}");
}
