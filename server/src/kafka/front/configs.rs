//! DescribeConfigs v0–2 (design/kafka.md, "DescribeConfigs"): a topic's
//! configuration under Kafka's names, from the engine's key table
//! (`TopicConfigKey::kafka`, Millrace-only keys as `millrace.*`), plus the
//! settings one node fixes
//! (`cleanup.policy`, `min.insync.replicas`); and a minimal broker resource.

use millrace::config::TOPIC_CONFIG_KEYS;
use millrace::TopicConfig;

use super::config::KafkaConfig;
use crate::frame::FRAME_BYTES_MAX_DEFAULT;

use super::{errors, respond, Conn, Front, Handled};
use crate::auth::{Permission, Permissions};
use crate::kafka::protocol::messages::configs::{
    DescribeConfigsRequest, DescribeConfigsResource, DescribeConfigsResourceResult, DescribeConfigsResponse,
    DescribeConfigsResult, DescribeConfigsSynonym,
};
use crate::kafka::protocol::{RequestHeader, Response};

/// Kafka's `ConfigResource.Type` codes.
const TOPIC: i8 = 2;
const BROKER: i8 = 4;

/// Kafka's `DescribeConfigsResponse.ConfigSource` codes.
const TOPIC_CONFIG: i8 = 1;
const STATIC_BROKER_CONFIG: i8 = 4;
const DEFAULT_CONFIG: i8 = 5;

/// One config of an answer, owning its value until the response is built.
struct Entry {
    name: &'static str,
    value: String,
    read_only: bool,
    is_default: bool,
    source: i8,
    /// (name, value, source), most specific first: the config itself when
    /// its value is its own, then where its default comes from.
    synonyms: Vec<(&'static str, String, i8)>,
}

pub(crate) fn describe_configs(
    front: &Front,
    conn: &mut Conn,
    header: &RequestHeader<'_>,
    request: DescribeConfigsRequest<'_>,
    out: &mut Vec<u8>,
) -> Handled {
    let answers: Vec<Result<Vec<Entry>, (i16, String)>> = request
        .resources
        .iter()
        .map(|resource| describe(front, conn, resource))
        .collect();
    let v0 = header.api_version == 0;
    let synonyms = !v0 && request.include_synonyms;
    let results = request
        .resources
        .iter()
        .zip(&answers)
        .map(|(resource, answer)| match answer {
            Ok(entries) => DescribeConfigsResult {
                error_code: errors::NONE,
                error_message: None,
                resource_type: resource.resource_type,
                resource_name: resource.resource_name,
                configs: entries
                    .iter()
                    .filter(|entry| wanted(resource, entry.name))
                    .map(|entry| DescribeConfigsResourceResult {
                        name: entry.name,
                        value: Some(&entry.value),
                        read_only: entry.read_only,
                        is_default: entry.is_default,
                        config_source: if v0 { -1 } else { entry.source },
                        is_sensitive: false,
                        synonyms: if synonyms {
                            entry
                                .synonyms
                                .iter()
                                .map(|(name, value, source)| DescribeConfigsSynonym {
                                    name,
                                    value: Some(value),
                                    source: *source,
                                })
                                .collect()
                        } else {
                            Vec::new()
                        },
                        ..DescribeConfigsResourceResult::default()
                    })
                    .collect(),
            },
            Err((code, message)) => DescribeConfigsResult {
                error_code: *code,
                error_message: Some(message),
                resource_type: resource.resource_type,
                resource_name: resource.resource_name,
                configs: Vec::new(),
            },
        })
        .collect();
    let response = DescribeConfigsResponse {
        throttle_time_ms: 0,
        results,
    };
    respond(out, header, &Response::DescribeConfigs(response))
}

/// Whether the request asked for `name` (null keys: every config; an
/// unknown key is left out, as Kafka does).
fn wanted(resource: &DescribeConfigsResource<'_>, name: &str) -> bool {
    resource
        .configuration_keys
        .as_ref()
        .is_none_or(|keys| keys.contains(&name))
}

fn describe(front: &Front, conn: &Conn, resource: &DescribeConfigsResource<'_>) -> Result<Vec<Entry>, (i16, String)> {
    let permissions = conn.session.principal.permissions;
    match resource.resource_type {
        TOPIC => {
            let name = resource.resource_name;
            let allowed = if millrace::names::is_internal(name) {
                conn.session.may_read_topic(name)
            } else {
                permissions.contains(Permissions::of(&[Permission::Consume]))
                    || permissions.contains(Permissions::of(&[Permission::Produce]))
            };
            if !allowed {
                return Err((
                    errors::TOPIC_AUTHORIZATION_FAILED,
                    format!("the connection's token may not describe topic {name:?}"),
                ));
            }
            let description = front.service.describe_topic(name).map_err(|error| {
                (
                    errors::code_of(&error),
                    format!("topic {name:?}: {}", service_text(&error)),
                )
            })?;
            Ok(topic_entries(
                &description.config,
                &front.service.topic_defaults(),
                millrace::names::is_internal(name),
            ))
        }
        BROKER => {
            if !permissions.is_admin() {
                return Err((
                    errors::CLUSTER_AUTHORIZATION_FAILED,
                    "describing the broker's configuration needs the admin permission".into(),
                ));
            }
            let node = front.config.node_id.to_string();
            if !resource.resource_name.is_empty() && resource.resource_name != node {
                return Err((
                    errors::INVALID_REQUEST,
                    format!(
                        "broker {:?}: this cluster is broker {node} alone",
                        resource.resource_name
                    ),
                ));
            }
            Ok(broker_entries(front))
        }
        other => Err((
            errors::INVALID_REQUEST,
            format!("resource type {other}: only topics (2) and the broker (4) are described"),
        )),
    }
}

fn service_text(error: &crate::server::service::ServiceError) -> String {
    use crate::server::service::ServiceError;
    match error {
        ServiceError::Engine(engine) => engine.to_string(),
        ServiceError::InvalidInput(message) | ServiceError::PermissionDenied(message) => message.clone(),
        ServiceError::Internal(_) | ServiceError::TokenGroupLimit { .. } => "see the server log".into(),
    }
}

/// A topic's configs under Kafka's names: every key of the engine's table
/// that Kafka has (its "not set" spelling as Kafka's `-1`, the timestamp
/// type as `CreateTime`/`LogAppendTime`), a default when it equals a new
/// topic's on this server (`server_defaults`); then the settings one node
/// fixes, read-only. The store's own topics are read-only whole (no client
/// alters them). A default's source is STATIC_BROKER_CONFIG where the
/// server's configuration sets it (`max.message.bytes` under a small
/// `frame_bytes_max`), else DEFAULT_CONFIG.
fn topic_entries(config: &TopicConfig, server_defaults: &TopicConfig, internal: bool) -> Vec<Entry> {
    let built_in = TopicConfig::default();
    let mut entries: Vec<Entry> = TOPIC_CONFIG_KEYS
        .iter()
        .filter_map(|key| {
            let name = key.kafka?;
            let broker_name = broker_synonym(name);
            let is_default = key.print(config) == key.print(server_defaults);
            let server_set = key.print(server_defaults) != key.print(&built_in);
            let mut synonyms = Vec::with_capacity(3);
            if !is_default {
                synonyms.push((name, key.kafka_value(config), TOPIC_CONFIG));
            }
            if server_set {
                synonyms.push((broker_name, key.kafka_value(server_defaults), STATIC_BROKER_CONFIG));
            }
            synonyms.push((broker_name, key.kafka_value(&built_in), DEFAULT_CONFIG));
            let default_source = if server_set {
                STATIC_BROKER_CONFIG
            } else {
                DEFAULT_CONFIG
            };
            Some(Entry {
                name,
                value: key.kafka_value(config),
                read_only: internal,
                is_default,
                source: if is_default { default_source } else { TOPIC_CONFIG },
                synonyms,
            })
        })
        .collect();
    entries.push(fixed("cleanup.policy", "delete"));
    entries.push(fixed("min.insync.replicas", "1"));
    entries.sort_by_key(|entry| entry.name);
    entries
}

/// The broker setting a topic config's default comes from in Kafka
/// (`log.retention.ms` for `retention.ms`, ...): its synonyms' name.
fn broker_synonym(topic_config: &'static str) -> &'static str {
    match topic_config {
        "retention.ms" => "log.retention.ms",
        "retention.bytes" => "log.retention.bytes",
        "max.message.bytes" => "message.max.bytes",
        "segment.bytes" => "log.segment.bytes",
        "segment.ms" => "log.roll.ms",
        "index.interval.bytes" => "log.index.interval.bytes",
        "message.timestamp.type" => "log.message.timestamp.type",
        "cleanup.policy" => "log.cleanup.policy",
        other => other,
    }
}

/// A setting one node fixes: its only value, read-only, a default.
fn fixed(name: &'static str, value: &str) -> Entry {
    Entry {
        name,
        value: value.into(),
        read_only: true,
        is_default: true,
        source: DEFAULT_CONFIG,
        synonyms: vec![(broker_synonym(name), value.into(), DEFAULT_CONFIG)],
    }
}

/// A broker setting: `value` on this server, `built_in` when the server's
/// configuration leaves it alone. Read-only (a restart changes it); source
/// STATIC_BROKER_CONFIG where the configuration moves it from the built-in
/// value, else DEFAULT_CONFIG; the synonyms list the configured value, then
/// the built-in one, as Kafka does.
fn broker_setting(name: &'static str, value: String, built_in: String) -> Entry {
    let server_set = value != built_in;
    let mut synonyms = Vec::with_capacity(2);
    if server_set {
        synonyms.push((name, value.clone(), STATIC_BROKER_CONFIG));
    }
    synonyms.push((name, built_in, DEFAULT_CONFIG));
    Entry {
        name,
        value,
        read_only: true,
        is_default: !server_set,
        source: if server_set {
            STATIC_BROKER_CONFIG
        } else {
            DEFAULT_CONFIG
        },
        synonyms,
    }
}

/// The broker's settings a Kafka client may ask about, from the server's
/// configuration (read-only: they change with a restart): the Kafka front's
/// own, the frame limit as `socket.request.max.bytes`, and the defaults a
/// new topic inherits under Kafka's broker names (`message.max.bytes`,
/// `log.retention.ms`, ...: what a topic's synonyms name).
fn broker_entries(front: &Front) -> Vec<Entry> {
    let config = &front.config;
    let built_in = KafkaConfig::default();
    let mut entries = vec![
        broker_setting(
            "auto.create.topics.enable",
            config.auto_create_topics.to_string(),
            built_in.auto_create_topics.to_string(),
        ),
        broker_setting("broker.id", config.node_id.to_string(), built_in.node_id.to_string()),
        broker_setting(
            "num.partitions",
            config.auto_create_partitions.to_string(),
            built_in.auto_create_partitions.to_string(),
        ),
        broker_setting(
            "socket.request.max.bytes",
            front.service.frame_bytes_max.to_string(),
            FRAME_BYTES_MAX_DEFAULT.to_string(),
        ),
    ];
    let server_defaults = front.service.topic_defaults();
    let topic_built_in = TopicConfig::default();
    entries.extend(TOPIC_CONFIG_KEYS.iter().filter_map(|key| {
        let name = broker_synonym(key.kafka?);
        (Some(name) != key.kafka).then(|| {
            broker_setting(
                name,
                key.kafka_value(&server_defaults),
                key.kafka_value(&topic_built_in),
            )
        })
    }));
    entries.push(fixed("log.cleanup.policy", "delete"));
    entries.push(fixed("default.replication.factor", "1"));
    entries.push(fixed("min.insync.replicas", "1"));
    entries.sort_by_key(|entry| entry.name);
    entries
}
