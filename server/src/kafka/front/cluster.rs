//! ApiVersions, Metadata, CreateTopics and DeleteTopics (owner: kfront; SASL
//! is in `sasl`).

use super::{errors, respond, Conn, Front, Handled};
use crate::kafka::protocol::messages;
use crate::kafka::protocol::{RequestHeader, Response};
use crate::messages::Opcode;
use crate::server::auth::{required, Permissions};
use crate::server::config::Permission;
use crate::server::service::ServiceError;

/// The served versions of every API (a request of an unserved ApiVersions
/// version never gets here: the connection answers it with the KIP-511
/// fallback).
pub(crate) fn api_versions(
    _front: &Front,
    _conn: &mut Conn,
    header: &RequestHeader<'_>,
    _request: messages::api_versions::ApiVersionsRequest<'_>,
    out: &mut Vec<u8>,
) -> Handled {
    let response = messages::api_versions::ApiVersionsResponse::advertised(0);
    respond(out, header, &Response::ApiVersions(response))
}

/// Metadata v0–8: this one broker (controller too), and the topics asked
/// for (or every topic the principal may see) with every partition led by
/// it. See "Listener and cluster APIs" in `design/kafka.md`.
pub(crate) fn metadata(
    front: &Front,
    conn: &mut Conn,
    header: &RequestHeader<'_>,
    request: messages::metadata::MetadataRequest<'_>,
    out: &mut Vec<u8>,
) -> Handled {
    use messages::metadata::{MetadataResponse, MetadataResponseBroker};
    let (host, port) = front.advertised();
    let node_id = front.config.node_id;
    let permissions = conn.session.principal.permissions;
    // v0: an empty list means every topic; v1+: null does.
    let named: Option<Vec<&str>> = match &request.topics {
        None => None,
        Some(topics) if topics.is_empty() && header.api_version == 0 => None,
        Some(topics) => Some(topics.iter().map(|t| t.name.unwrap_or("")).collect()),
    };
    let mut names: Vec<String> = Vec::new();
    let topics = match named {
        None => {
            if may_describe(permissions) {
                names = front.service.list_topics();
            }
            // The store's own topics the token may read: every one for
            // admin, the dead-letter queues for consume.
            names.extend(
                front
                    .service
                    .list_internal_topics()
                    .into_iter()
                    .filter(|name| conn.session.may_read_topic(name)),
            );
            names.iter().map(|name| describe(front, name, node_id)).collect()
        }
        Some(names) => {
            let create = request.allow_auto_topic_creation && front.config.auto_create_topics;
            names
                .into_iter()
                .map(|name| topic_metadata(front, conn, name, create, node_id))
                .collect()
        }
    };
    let response = MetadataResponse {
        brokers: vec![MetadataResponseBroker {
            node_id,
            host,
            port: i32::from(port),
            rack: None,
        }],
        cluster_id: Some(&front.cluster_id),
        controller_id: node_id,
        topics,
        ..MetadataResponse::default()
    };
    respond(out, header, &Response::Metadata(response))
}

/// Whether `permissions` may see user topics (DescribeTopic needs consume;
/// a producer needs its topics' partitions too).
fn may_describe(permissions: Permissions) -> bool {
    permissions.contains(Permissions::of(&[Permission::Consume]))
        || permissions.contains(Permissions::of(&[Permission::Produce]))
}

/// One named topic of a Metadata request: described if the principal may
/// see it, created first when auto-creation is on and allowed.
fn topic_metadata<'a>(
    front: &Front,
    conn: &Conn,
    name: &'a str,
    create: bool,
    node_id: i32,
) -> messages::metadata::MetadataResponseTopic<'a> {
    let permissions = conn.session.principal.permissions;
    let internal = millrace::names::is_internal(name);
    let allowed = if internal {
        // Read-only for whoever may read it (a dead-letter queue: consume;
        // the others: admin); no token may write one (the engine refuses).
        conn.session.may_read_topic(name)
    } else {
        may_describe(permissions)
    };
    if !allowed {
        return topic_error(name, errors::TOPIC_AUTHORIZATION_FAILED);
    }
    let mut found = front.service.describe_topic(name);
    if found.is_err() && !internal {
        if let Err(error) = millrace::names::validate_topic_name(name) {
            tracing::debug!(topic = ?name, %error, "Metadata: topic name Millrace does not allow");
            return topic_error(name, errors::INVALID_TOPIC_EXCEPTION);
        }
        // Auto-creation is CreateTopic: it needs what the native CreateTopic needs.
        if create && permissions.is_admin() {
            let config = millrace::TopicConfig {
                partitions: front.config.auto_create_partitions,
                ..millrace::TopicConfig::default()
            };
            let actor = format!("{} (Metadata auto-create)", conn.session.actor());
            match front.service.create_topic(&actor, name, config, false) {
                Ok(()) => tracing::info!(topic = ?name, "Kafka Metadata: topic auto-created"),
                Err(error) => tracing::debug!(topic = ?name, ?error, "Kafka Metadata: auto-creation failed"),
            }
            found = front.service.describe_topic(name);
        }
    }
    match found {
        Ok(description) => described(name, &description, node_id),
        Err(error) => topic_error(name, errors::code_of(&error)),
    }
}

fn topic_error(name: &str, error_code: i16) -> messages::metadata::MetadataResponseTopic<'_> {
    messages::metadata::MetadataResponseTopic {
        error_code,
        name: Some(name),
        is_internal: millrace::names::is_internal(name),
        ..Default::default()
    }
}

/// A listed topic (it may have been deleted since it was listed).
fn describe<'a>(front: &Front, name: &'a str, node_id: i32) -> messages::metadata::MetadataResponseTopic<'a> {
    match front.service.describe_topic(name) {
        Ok(description) => described(name, &description, node_id),
        Err(error) => topic_error(name, errors::code_of(&error)),
    }
}

fn described<'a>(
    name: &'a str,
    description: &millrace::TopicDescription,
    node_id: i32,
) -> messages::metadata::MetadataResponseTopic<'a> {
    use messages::metadata::{MetadataResponsePartition, MetadataResponseTopic};
    let partitions = (0..description.config.partitions)
        .map(|partition| {
            // A damaged partition is still this broker's: its reads and
            // writes answer the damage (KAFKA_STORAGE_ERROR).
            let damaged = description.damaged_partitions.iter().any(|(p, _)| *p == partition);
            MetadataResponsePartition {
                error_code: if damaged {
                    errors::KAFKA_STORAGE_ERROR
                } else {
                    errors::NONE
                },
                partition_index: i32::try_from(partition).unwrap_or(i32::MAX),
                leader_id: node_id,
                // -1: no epoch (one broker, leadership never moves; with an
                // epoch librdkafka would validate offsets by it).
                leader_epoch: -1,
                replica_nodes: vec![node_id],
                isr_nodes: vec![node_id],
                offline_replicas: Vec::new(),
            }
        })
        .collect();
    MetadataResponseTopic {
        error_code: errors::NONE,
        name: Some(name),
        is_internal: millrace::names::is_internal(name),
        partitions,
        ..Default::default()
    }
}

/// CreateTopics v2–4: the native CreateTopic for each topic (admin), its
/// configs mapped through the engine's one key table by their Kafka names.
pub(crate) fn create_topics(
    front: &Front,
    conn: &mut Conn,
    header: &RequestHeader<'_>,
    request: messages::topics::CreateTopicsRequest<'_>,
    out: &mut Vec<u8>,
) -> Handled {
    use messages::topics::{CreatableTopicResult, CreateTopicsResponse};
    let allowed = conn
        .session
        .principal
        .permissions
        .contains(required(Opcode::CreateTopic));
    let outcomes: Vec<(i16, Option<String>, i32)> = request
        .topics
        .iter()
        .enumerate()
        .map(|(index, topic)| {
            let repeated = request.topics.iter().take(index).any(|t| t.name == topic.name)
                || request.topics.iter().skip(index + 1).any(|t| t.name == topic.name);
            if repeated {
                return (
                    errors::INVALID_REQUEST,
                    Some(format!("topic {:?} appears more than once in the request", topic.name)),
                    -1,
                );
            }
            if !allowed {
                return (
                    errors::TOPIC_AUTHORIZATION_FAILED,
                    Some("creating topics needs the admin permission".into()),
                    -1,
                );
            }
            match create_one(front, &conn.session.actor(), topic, request.validate_only) {
                Ok(partitions) => (errors::NONE, None, i32::try_from(partitions).unwrap_or(i32::MAX)),
                Err((code, message)) => (code, Some(message), -1),
            }
        })
        .collect();
    for (code, _, _) in &outcomes {
        if *code != errors::NONE {
            front.service.metrics.kafka.record_error(header.api_key, *code);
        }
    }
    let topics = request
        .topics
        .iter()
        .zip(&outcomes)
        .map(|(topic, (error_code, message, partitions))| CreatableTopicResult {
            name: topic.name,
            error_code: *error_code,
            error_message: message.as_deref(),
            num_partitions: *partitions,
            replication_factor: if *error_code == errors::NONE { 1 } else { -1 },
            ..Default::default()
        })
        .collect();
    respond(
        out,
        header,
        &Response::CreateTopics(CreateTopicsResponse {
            throttle_time_ms: 0,
            topics,
        }),
    )
}

/// Creates one topic (or checks that it could be, `validate_only`); its
/// partition count, or the Kafka error code and message.
fn create_one(
    front: &Front,
    actor: &str,
    topic: &messages::topics::CreatableTopic<'_>,
    validate_only: bool,
) -> Result<u32, (i16, String)> {
    if let Err(error) = millrace::names::validate_topic_name(topic.name) {
        return Err((errors::INVALID_TOPIC_EXCEPTION, error.to_string()));
    }
    if !matches!(topic.replication_factor, 1 | -1) {
        return Err((
            errors::INVALID_REPLICATION_FACTOR,
            format!(
                "replication factor {} on a single broker: use 1 (or -1 for the default)",
                topic.replication_factor
            ),
        ));
    }
    let partitions = if topic.assignments.is_empty() {
        match topic.num_partitions {
            -1 => front.config.auto_create_partitions,
            n => u32::try_from(n)
                .ok()
                .filter(|n| (1..=millrace::config::PARTITIONS_MAX).contains(n))
                .ok_or_else(|| {
                    (
                        errors::INVALID_PARTITIONS,
                        format!(
                            "{n} partitions: use 1..={} (or -1 for the default)",
                            millrace::config::PARTITIONS_MAX
                        ),
                    )
                })?,
        }
    } else {
        // A manual assignment: each partition on this one broker.
        let node = front.config.node_id;
        let in_order = topic.assignments.iter().enumerate().all(|(i, a)| {
            usize::try_from(a.partition_index).is_ok_and(|p| p == i) && a.broker_ids.as_slice() == [node]
        });
        if topic.num_partitions != -1 || !in_order {
            return Err((
                errors::INVALID_REPLICA_ASSIGNMENT,
                format!("a manual assignment must list partitions 0.. in order, each on broker {node} alone, with num_partitions -1"),
            ));
        }
        u32::try_from(topic.assignments.len()).unwrap_or(u32::MAX)
    };
    let mut config = millrace::TopicConfig {
        partitions,
        ..millrace::TopicConfig::default()
    };
    let mut record_bytes_max_set = false;
    for entry in &topic.configs {
        let Some(key) = millrace::config::topic_config_key_of_kafka(entry.name) else {
            let known: Vec<&str> = millrace::config::TOPIC_CONFIG_KEYS
                .iter()
                .filter_map(|k| k.kafka)
                .collect();
            return Err((
                errors::INVALID_CONFIG,
                format!(
                    "config {:?} has no meaning here; known: {}",
                    entry.name,
                    known.join(", ")
                ),
            ));
        };
        // Null: the default.
        let Some(value) = entry.value else {
            continue;
        };
        let value = key
            .parse_kafka(value)
            .map_err(|message| (errors::INVALID_CONFIG, message))?;
        key.set(&mut config, &value)
            .map_err(|error| (errors::INVALID_CONFIG, format!("{}: {error}", entry.name)))?;
        record_bytes_max_set |= key.key == "record_bytes_max";
    }
    config
        .validate()
        .map_err(|error| (errors::INVALID_CONFIG, error.to_string()))?;
    if validate_only {
        return match front.service.describe_topic(topic.name) {
            Ok(_) => Err((
                errors::TOPIC_ALREADY_EXISTS,
                format!("topic {:?} already exists", topic.name),
            )),
            Err(_) => Ok(partitions),
        };
    }
    match front
        .service
        .create_topic(actor, topic.name, config, record_bytes_max_set)
    {
        Ok(()) => {
            tracing::info!(topic = ?topic.name, partitions, "Kafka CreateTopics: topic created");
            Ok(partitions)
        }
        Err(ServiceError::InvalidInput(message)) => Err((errors::INVALID_CONFIG, message)),
        Err(error) => Err((errors::code_of(&error), service_message(&error))),
    }
}

/// The message of a service error, for a response's error_message.
fn service_message(error: &ServiceError) -> String {
    match error {
        ServiceError::Engine(engine) => engine.to_string(),
        ServiceError::InvalidInput(message) | ServiceError::PermissionDenied(message) => message.clone(),
        ServiceError::Internal(_) => "internal error; see the server log".into(),
        ServiceError::TokenGroupLimit { .. } => format!("{error:?}"),
    }
}

/// DeleteTopics v1–3: the native DeleteTopic for each topic (admin).
pub(crate) fn delete_topics(
    front: &Front,
    conn: &mut Conn,
    header: &RequestHeader<'_>,
    request: messages::topics::DeleteTopicsRequest<'_>,
    out: &mut Vec<u8>,
) -> Handled {
    use messages::topics::{DeletableTopicResult, DeleteTopicsResponse};
    let allowed = conn
        .session
        .principal
        .permissions
        .contains(required(Opcode::DeleteTopic));
    let actor = conn.session.actor();
    let responses = request
        .topic_names
        .iter()
        .map(|name| {
            let error_code = if allowed {
                match front.service.delete_topic(&actor, name) {
                    Ok(()) => {
                        tracing::info!(topic = ?name, "Kafka DeleteTopics: topic deleted");
                        errors::NONE
                    }
                    Err(error) => errors::code_of(&error),
                }
            } else {
                errors::TOPIC_AUTHORIZATION_FAILED
            };
            if error_code != errors::NONE {
                front.service.metrics.kafka.record_error(header.api_key, error_code);
            }
            DeletableTopicResult {
                name: Some(name),
                error_code,
                ..Default::default()
            }
        })
        .collect();
    respond(
        out,
        header,
        &Response::DeleteTopics(DeleteTopicsResponse {
            throttle_time_ms: 0,
            responses,
        }),
    )
}
