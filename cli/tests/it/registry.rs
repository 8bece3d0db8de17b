//! The schema registry of `millrace serve` (`--registry-listen`) through
//! confluent-kafka's own clients (tests/kafka/registry_serde.py):
//! SchemaRegistryClient, AvroSerializer/AvroDeserializer and
//! JSONSerializer/JSONDeserializer registering here and producing and
//! consuming through the Kafka front; an incompatible registration refused
//! with 409; the registry's error codes; basic auth against the server's
//! tokens; a taken port naming its flag; `millrace schema ...` on a data dir.

use crate::common::registry::{free_addr, http, wait_for};
use crate::common::{self, kafka};
use predicates::prelude::*;
use serde_json::Value;

fn error_code(body: &str) -> i64 {
    let value: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{body:?}: {e}"));
    value["error_code"].as_i64().unwrap()
}

#[test]
fn confluent_serializers_register_produce_and_consume_through_millrace() {
    let Some(clients) = kafka::clients() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    for topic in ["orders", "events"] {
        common::millrace(&data)
            .args(["topic", "create", topic])
            .assert()
            .success();
    }
    let registry = free_addr();
    let (server, bootstrap) = kafka::start_server(&data, &["--registry-listen", &registry]);
    wait_for(&registry);
    let output = clients.python("registry_serde.py", &bootstrap, &[&format!("http://{registry}")]);
    let out: Value = serde_json::from_str(kafka::success(&output).trim()).unwrap();
    assert_eq!(out["types"], serde_json::json!(["AVRO", "JSON"]));
    assert_eq!(
        out["orders"],
        serde_json::json!([{"id": 1, "item": "pen"}, {"id": 2, "item": "ink"}, {"id": 3, "item": "paper"}])
    );
    // Confluent framing on the wire: magic 0, then schema id 1 big-endian.
    assert_eq!(out["orders_header"], serde_json::json!([0, 0, 0, 0, 1]));
    assert_eq!(
        out["events"],
        serde_json::json!([{"kind": "login", "at": 5}, {"kind": "logout", "at": 9}])
    );
    assert_eq!(out["incompatible"], serde_json::json!({"http": 409, "code": 409}));
    assert_eq!(out["compatible_check_bad"], false);
    assert_eq!(out["compatible_check_v2"], true);
    assert_eq!(
        out["latest"],
        serde_json::json!({"version": 2, "id": 3, "same_id": true})
    );
    assert_eq!(out["versions"], serde_json::json!([1, 2]));
    assert_eq!(out["subjects"], serde_json::json!(["events-value", "orders-value"]));
    assert_eq!(out["lookup_v1"], serde_json::json!({"version": 1, "id": 1}));
    assert_eq!(out["by_id_type"], "AVRO");
    assert_eq!(out["invalid"], serde_json::json!({"http": 422, "code": 42201}));
    assert_eq!(out["missing_subject"], serde_json::json!({"http": 404, "code": 40401}));
    assert_eq!(out["missing_id"], serde_json::json!({"http": 404, "code": 40403}));
    assert_eq!(out["compatibility"], "FULL");
    assert_eq!(out["permanent_first"], serde_json::json!({"http": 404, "code": 40405}));
    assert_eq!(out["soft_delete"], serde_json::json!([1]));
    assert_eq!(out["hard_delete"], serde_json::json!([1]));
    assert_eq!(out["subjects_after"], serde_json::json!(["orders-value"]));
    assert!(server.stop(), "the server stops cleanly");

    // Durable: after a restart the ids and versions are there, and a new
    // schema gets the next id (4), never one given out before.
    let schema = r#"{"schema": "{\"type\":\"record\",\"name\":\"T\",\"fields\":[]}"}"#;
    let registry = free_addr();
    let _server = common::Server::start(&data, &["--registry-listen", &registry]);
    wait_for(&registry);
    let (status, body) = http(&registry, "GET", "/subjects/orders-value/versions/latest", None, "");
    assert_eq!(status, 200, "{body}");
    let latest: Value = serde_json::from_str(&body).unwrap();
    assert_eq!((latest["version"].as_i64(), latest["id"].as_i64()), (Some(2), Some(3)));
    let (status, body) = http(&registry, "POST", "/subjects/other-value/versions", None, schema);
    assert_eq!(status, 200, "{body}");
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["id"], 4);
}

#[test]
fn rest_errors_auth_and_limits() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let config = tmp.path().join("server.toml");
    std::fs::write(
        &config,
        "[[tokens]]\nname = \"app\"\ntoken = \"app-token-0123456789\"\npermissions = [\"produce\", \"consume\"]\n\
         [[tokens]]\nname = \"ops\"\ntoken = \"ops-token-0123456789\"\npermissions = [\"admin\"]\n",
    )
    .unwrap();
    std::fs::set_permissions(&config, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let registry = free_addr();
    let _server = common::Server::start(
        &data,
        &["--registry-listen", &registry, "--config", config.to_str().unwrap()],
    );
    wait_for(&registry);
    // base64("app:app-token-0123456789"), base64("ops:ops-token-0123456789"), a wrong secret.
    let app = "YXBwOmFwcC10b2tlbi0wMTIzNDU2Nzg5";
    let ops = "b3BzOm9wcy10b2tlbi0wMTIzNDU2Nzg5";
    let wrong = "YXBwOm5vcGU=";
    let (status, body) = http(&registry, "GET", "/subjects", None, "");
    assert_eq!((status, error_code(&body)), (401, 40101), "{body}");
    let (status, body) = http(&registry, "GET", "/subjects", Some(wrong), "");
    assert_eq!((status, error_code(&body)), (401, 40101), "{body}");
    let (status, body) = http(&registry, "GET", "/subjects", Some(app), "");
    assert_eq!((status, body.as_str()), (200, "[]"));
    let json_schema = r#"{"schemaType": "JSON", "schema": "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}},\"additionalProperties\":false}"}"#;
    let (status, body) = http(&registry, "POST", "/subjects/s/versions", Some(app), json_schema);
    assert_eq!(status, 200, "{body}");
    // Settings and deletes need admin.
    let full = r#"{"compatibility": "FULL"}"#;
    let (status, body) = http(&registry, "PUT", "/config/s", Some(app), full);
    assert_eq!((status, error_code(&body)), (403, 40301), "{body}");
    let (status, body) = http(&registry, "PUT", "/config/s", Some(ops), full);
    assert_eq!((status, body.as_str()), (200, r#"{"compatibility":"FULL"}"#));
    let (status, body) = http(
        &registry,
        "PUT",
        "/config",
        Some(ops),
        r#"{"compatibility": "SIDEWAYS"}"#,
    );
    assert_eq!((status, error_code(&body)), (422, 42203), "{body}");
    let (status, body) = http(&registry, "GET", "/config/other", Some(app), "");
    assert_eq!((status, error_code(&body)), (404, 40408), "{body}");
    let (status, body) = http(&registry, "GET", "/config/other?defaultToGlobal=true", Some(app), "");
    assert_eq!((status, body.as_str()), (200, r#"{"compatibilityLevel":"BACKWARD"}"#));
    // Versions: a bad one is 42202, a missing one 40402; unknown paths 404.
    let (status, body) = http(&registry, "GET", "/subjects/s/versions/zero", Some(app), "");
    assert_eq!((status, error_code(&body)), (422, 42202), "{body}");
    let (status, body) = http(&registry, "GET", "/subjects/s/versions/7", Some(app), "");
    assert_eq!((status, error_code(&body)), (404, 40402), "{body}");
    let (status, _) = http(&registry, "GET", "/nowhere", Some(app), "");
    assert_eq!(status, 404);
    // Verbose compatibility says why.
    let narrowed = r#"{"schemaType": "JSON", "schema": "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}},\"additionalProperties\":false}"}"#;
    let (status, body) = http(
        &registry,
        "POST",
        "/compatibility/subjects/s/versions/latest?verbose=true",
        Some(app),
        narrowed,
    );
    assert_eq!(status, 200, "{body}");
    let report: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(report["is_compatible"], false);
    assert!(!report["messages"].as_array().unwrap().is_empty(), "{body}");
    // Protobuf is refused with the registry's invalid-schema code.
    let proto = r#"{"schemaType": "PROTOBUF", "schema": "syntax = \"proto3\"; message M {}"}"#;
    let (status, body) = http(&registry, "POST", "/subjects/p/versions", Some(app), proto);
    assert_eq!((status, error_code(&body)), (422, 42201), "{body}");
    // A body over the limit is refused before it is parsed.
    let huge = format!(r#"{{"schema": "{}"}}"#, "x".repeat(5 * 1024 * 1024));
    let (status, _) = http(&registry, "POST", "/subjects/big/versions", Some(app), &huge);
    assert_eq!(status, 413);
}

#[test]
fn a_taken_registry_port_names_the_flag() {
    let tmp = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    common::millrace(&tmp.path().join("data"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--no-metrics",
            "--kafka-listen",
            "off",
        ])
        .args(["--registry-listen", &addr])
        .timeout(std::time::Duration::from_secs(30))
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains(format!("cannot listen on {addr} for the schema registry"))
                .and(predicate::str::contains("--registry-listen"))
                .and(predicate::str::contains("millrace serving").not()),
        );
}

/// The listing and lookup calls tools and serializers make besides
/// registering, through confluent-kafka's SchemaRegistryClient
/// (tests/kafka/registry_tools.py): subjects by prefix, deleted-only and
/// paged, `GET /schemas` (soft-deleted versions marked, with
/// `deleted=true`), a soft-deleted version by number, `referencedby` (none: references are refused),
/// `contexts` (the default one), and the latest version by metadata (none
/// is kept: any key finds nothing, 40403).
#[test]
fn confluent_tool_listings_and_lookups() {
    let Some(clients) = kafka::clients() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let registry = free_addr();
    let server = common::Server::start(&data, &["--registry-listen", &registry]);
    wait_for(&registry);
    let output = clients.python("registry_tools.py", "-", &[&format!("http://{registry}")]);
    let out: Value = serde_json::from_str(kafka::success(&output).trim()).unwrap();
    assert_eq!(
        out["all"],
        serde_json::json!(["audit-value", "shop.items-value", "shop.orders-value"])
    );
    assert_eq!(
        out["prefix"],
        serde_json::json!(["shop.items-value", "shop.orders-value"])
    );
    assert_eq!(out["deleted_only"], serde_json::json!(["gone-value"]));
    assert_eq!(
        out["with_deleted"],
        serde_json::json!(["audit-value", "gone-value", "shop.items-value", "shop.orders-value"])
    );
    assert_eq!(
        out["page"],
        serde_json::json!(["shop.items-value", "shop.orders-value"])
    );
    assert_eq!(out["referenced_by"], serde_json::json!([]));
    assert_eq!(
        out["referenced_by_missing"],
        serde_json::json!({"http": 404, "code": 40402})
    );
    assert_eq!(out["contexts"], serde_json::json!(["."]));
    assert_eq!(out["latest_with_metadata"], 2);
    assert_eq!(out["metadata_key"], serde_json::json!({"http": 404, "code": 40403}));
    assert_eq!(
        out["schemas"],
        serde_json::json!([
            ["shop.items-value", 1],
            ["shop.orders-value", 1],
            ["shop.orders-value", 2]
        ])
    );
    assert_eq!(
        out["schemas_latest"],
        serde_json::json!([["audit-value", 1], ["shop.items-value", 1], ["shop.orders-value", 2]])
    );
    // Soft-deleted versions as Confluent's registry answers them: listed by
    // `GET /schemas?deleted=true` with `"deleted": true`, found by number
    // with `deleted=true` (and not without), listed by `deletedOnly`.
    assert_eq!(out["schemas_deleted"], serde_json::json!([["gone-value", 1, true]]));
    assert_eq!(out["schemas_not_deleted"], serde_json::json!([]));
    assert_eq!(out["version_deleted"], 1);
    assert_eq!(
        out["version_not_deleted"],
        serde_json::json!({"http": 404, "code": 40401})
    );
    assert_eq!(out["versions_deleted_only"], serde_json::json!([1]));
    assert_eq!(out["versions_deleted"], serde_json::json!([1, 2]));
    assert!(server.stop());
}
