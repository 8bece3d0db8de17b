//! ApiVersions, Metadata, CreateTopics, DeleteTopics and SASL (owner: kfront).

use super::{errors, respond, Conn, Front, FrontError, Handled};
use crate::kafka::protocol::messages;
use crate::kafka::protocol::{ApiKey, RequestHeader, Response};
use crate::server::auth::Permissions;
use crate::server::config::Permission;

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
            if permissions.is_admin() {
                let mut internal: Vec<String> = front
                    .service
                    .store
                    .list_all_topics()
                    .into_iter()
                    .filter(|name| millrace::names::is_internal(name))
                    .collect();
                internal.sort();
                names.extend(internal);
            }
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
        permissions.is_admin()
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
            match front.service.create_topic(name, config, false) {
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

/// A cluster id fixed per data directory: the store keeps no id of its own,
/// so it is derived from the data directory's canonical path (stable across
/// restarts; a directory moved elsewhere is another cluster to clients,
/// which only compare it to notice a different cluster): 16 bytes of two
/// FNV-1a hashes, in the 22 characters of URL-safe base64 Kafka's ids use.
pub(crate) fn cluster_id(data_dir: &std::path::Path) -> String {
    let path = std::fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
    let bytes = path.as_os_str().as_encoded_bytes();
    let fnv = |seed: u64| {
        bytes.iter().fold(seed, |hash, byte| {
            (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    };
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&fnv(0xcbf2_9ce4_8422_2325).to_be_bytes());
    id[8..].copy_from_slice(&fnv(0x6c62_272e_07bb_0142).to_be_bytes());
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut text = String::with_capacity(22);
    let mut bits = 0u32;
    let mut value = 0u32;
    for byte in id {
        value = (value << 8) | u32::from(byte);
        bits += 8;
        while bits >= 6 {
            bits -= 6;
            text.push(char::from(ALPHABET[((value >> bits) & 63) as usize]));
        }
    }
    if bits > 0 {
        text.push(char::from(ALPHABET[((value << (6 - bits)) & 63) as usize]));
    }
    text
}

pub(crate) fn create_topics(
    _front: &Front,
    _conn: &mut Conn,
    _header: &RequestHeader<'_>,
    _request: messages::topics::CreateTopicsRequest<'_>,
    _out: &mut Vec<u8>,
) -> Handled {
    Err(FrontError::NotServed(ApiKey::CreateTopics))
}

pub(crate) fn delete_topics(
    _front: &Front,
    _conn: &mut Conn,
    _header: &RequestHeader<'_>,
    _request: messages::topics::DeleteTopicsRequest<'_>,
    _out: &mut Vec<u8>,
) -> Handled {
    Err(FrontError::NotServed(ApiKey::DeleteTopics))
}

pub(crate) fn sasl_handshake(
    _front: &Front,
    _conn: &mut Conn,
    _header: &RequestHeader<'_>,
    _request: messages::sasl::SaslHandshakeRequest<'_>,
    _out: &mut Vec<u8>,
) -> Handled {
    Err(FrontError::NotServed(ApiKey::SaslHandshake))
}

pub(crate) fn sasl_authenticate(
    _front: &Front,
    _conn: &mut Conn,
    _header: &RequestHeader<'_>,
    _request: messages::sasl::SaslAuthenticateRequest<'_>,
    _out: &mut Vec<u8>,
) -> Handled {
    Err(FrontError::NotServed(ApiKey::SaslAuthenticate))
}
