//! AlterConfigs v0–1 and IncrementalAlterConfigs v0–1 (design/kafka.md,
//! "AlterConfigs and IncrementalAlterConfigs"): a topic's writable configs
//! (the keys DescribeConfigs lists as not read-only, by their Kafka names
//! through the engine's key table) changed through the one path the native
//! AlterTopic and `millrace topic alter --server` take
//! (`Service::alter_topic`: the engine's parsing and range checks, one
//! durable change or none, audited with the session's token@peer).
//!
//! IncrementalAlterConfigs: SET a key, DELETE it (back to a new topic's
//! default); APPEND and SUBTRACT apply to list configs, and no writable key
//! is one (INVALID_REQUEST). AlterConfigs (Kafka's older API) replaces the
//! whole set: the listed keys are set and every other writable key goes
//! back to its default, as Kafka does; Millrace-only keys
//! (`millrace.durability`, `millrace.route.invalid.to.dlq`, `millrace.quota.bytes`) change only when
//! named: a client that does not know them never weakens a topic's
//! durability by leaving them out.

use millrace::config::{topic_config_key_of_kafka, TopicConfigKey, TOPIC_CONFIG_KEYS};

use super::{errors, respond, Conn, Front, Handled};
use crate::kafka::protocol::messages::configs::{
    AlterConfigsRequest, AlterConfigsResourceResponse, AlterConfigsResponse, IncrementalAlterConfigsRequest,
    IncrementalAlterConfigsResponse,
};
use crate::kafka::protocol::{RequestHeader, Response};
use crate::server::service::ServiceError;

/// Kafka's `ConfigResource.Type` codes.
const TOPIC: i8 = 2;
const BROKER: i8 = 4;

/// Kafka's `AlterConfigOp.OpType` codes.
const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;

/// Topic settings one node fixes: DescribeConfigs lists them read-only.
const FIXED_KEYS: [&str; 2] = ["cleanup.policy", "min.insync.replicas"];

/// One resource's answer: `None` is success.
type Outcome = Option<(i16, String)>;

/// One requested change: the Kafka name, the operation, the value.
type Op<'a> = (&'a str, i8, Option<&'a str>);

pub(crate) fn incremental_alter_configs(
    front: &Front,
    conn: &mut Conn,
    header: &RequestHeader<'_>,
    request: IncrementalAlterConfigsRequest<'_>,
    out: &mut Vec<u8>,
) -> Handled {
    let names: Vec<(i8, &str)> = request
        .resources
        .iter()
        .map(|r| (r.resource_type, r.resource_name))
        .collect();
    let outcomes: Vec<Outcome> = request
        .resources
        .iter()
        .enumerate()
        .map(|(index, resource)| {
            let ops: Vec<Op<'_>> = resource
                .configs
                .iter()
                .map(|c| (c.name, c.config_operation, c.value))
                .collect();
            resource_outcome(front, conn, &names, index, &ops, false, request.validate_only)
        })
        .collect();
    let responses = answers(front, header, &names, &outcomes);
    let response = IncrementalAlterConfigsResponse {
        throttle_time_ms: 0,
        responses,
    };
    respond(out, header, &Response::IncrementalAlterConfigs(response))
}

pub(crate) fn alter_configs(
    front: &Front,
    conn: &mut Conn,
    header: &RequestHeader<'_>,
    request: AlterConfigsRequest<'_>,
    out: &mut Vec<u8>,
) -> Handled {
    let names: Vec<(i8, &str)> = request
        .resources
        .iter()
        .map(|r| (r.resource_type, r.resource_name))
        .collect();
    let outcomes: Vec<Outcome> = request
        .resources
        .iter()
        .enumerate()
        .map(|(index, resource)| {
            // A null value is the key's default, as in Kafka's AlterConfigs.
            let ops: Vec<Op<'_>> = resource
                .configs
                .iter()
                .map(|c| (c.name, if c.value.is_some() { SET } else { DELETE }, c.value))
                .collect();
            resource_outcome(front, conn, &names, index, &ops, true, request.validate_only)
        })
        .collect();
    let responses = answers(front, header, &names, &outcomes);
    let response = AlterConfigsResponse {
        throttle_time_ms: 0,
        responses,
    };
    respond(out, header, &Response::AlterConfigs(response))
}

fn answers<'a>(
    front: &Front,
    header: &RequestHeader<'_>,
    names: &[(i8, &'a str)],
    outcomes: &'a [Outcome],
) -> Vec<AlterConfigsResourceResponse<'a>> {
    names
        .iter()
        .zip(outcomes)
        .map(|((resource_type, resource_name), outcome)| {
            let (error_code, error_message) = match outcome {
                None => (errors::NONE, None),
                Some((code, message)) => {
                    front.service.metrics.kafka.record_error(header.api_key, *code);
                    (*code, Some(message.as_str()))
                }
            };
            AlterConfigsResourceResponse {
                error_code,
                error_message,
                resource_type: *resource_type,
                resource_name,
            }
        })
        .collect()
}

/// The answer for resource `index` of `names`: checks in Kafka's order
/// (a repeated resource, the type, the permission), then the change.
fn resource_outcome(
    front: &Front,
    conn: &Conn,
    names: &[(i8, &str)],
    index: usize,
    ops: &[Op<'_>],
    replace: bool,
    validate_only: bool,
) -> Outcome {
    let Some(&(resource_type, name)) = names.get(index) else {
        return Some((errors::INVALID_REQUEST, "no such resource".into()));
    };
    if names.iter().filter(|other| **other == (resource_type, name)).count() > 1 {
        return Some((
            errors::INVALID_REQUEST,
            format!("resource {name:?} appears more than once in the request"),
        ));
    }
    let admin = conn.session.principal.permissions.is_admin();
    match resource_type {
        TOPIC if !admin => Some((
            errors::TOPIC_AUTHORIZATION_FAILED,
            format!("altering topic {name:?}'s configuration needs the admin permission"),
        )),
        TOPIC => alter_topic(front, conn, name, ops, replace, validate_only).err(),
        BROKER if !admin => Some((
            errors::CLUSTER_AUTHORIZATION_FAILED,
            "altering the broker's configuration needs the admin permission".into(),
        )),
        BROKER => Some((
            errors::INVALID_CONFIG,
            "the broker's configs are read-only: they are the server's configuration and change with a restart".into(),
        )),
        other => Some((
            errors::INVALID_REQUEST,
            format!("resource type {other}: only topics (2) are altered"),
        )),
    }
}

fn alter_topic(
    front: &Front,
    conn: &Conn,
    name: &str,
    ops: &[Op<'_>],
    replace: bool,
    validate_only: bool,
) -> Result<(), (i16, String)> {
    if millrace::names::is_internal(name) {
        return Err((
            errors::INVALID_CONFIG,
            format!("topic {name:?} is the store's own: its configuration is read-only"),
        ));
    }
    let defaults = front.service.topic_defaults();
    let mut changes: Vec<(String, String)> = Vec::with_capacity(ops.len());
    for (index, (config, op, value)) in ops.iter().enumerate() {
        if ops.iter().take(index).any(|(earlier, ..)| earlier == config) {
            return Err((
                errors::INVALID_REQUEST,
                format!("config {config:?} appears more than once for topic {name:?}"),
            ));
        }
        let key = writable_key(config)?;
        let value = match (*op, value) {
            (SET, Some(value)) => key
                .parse_kafka(value)
                .map_err(|message| (errors::INVALID_CONFIG, message))?,
            (SET, None) => {
                return Err((
                    errors::INVALID_REQUEST,
                    format!("config {config:?}: SET needs a value (DELETE resets a key to its default)"),
                ))
            }
            (DELETE, _) => key.print(&defaults),
            (APPEND | SUBTRACT, _) => {
                return Err((
                    errors::INVALID_REQUEST,
                    format!("config {config:?} is not a list: APPEND and SUBTRACT apply to list configs only"),
                ))
            }
            (other, _) => {
                return Err((
                    errors::INVALID_REQUEST,
                    format!("config {config:?}: unknown operation {other} (0 SET, 1 DELETE, 2 APPEND, 3 SUBTRACT)"),
                ))
            }
        };
        changes.push((key.key.to_string(), value));
    }
    if replace {
        for key in TOPIC_CONFIG_KEYS
            .iter()
            .filter(|key| key.kafka.is_some() && !key.is_millrace_only())
        {
            if !changes.iter().any(|(changed, _)| changed == key.key) {
                changes.push((key.key.to_string(), key.print(&defaults)));
            }
        }
    }
    match front
        .service
        .alter_topic(&conn.session.actor(), name, &changes, validate_only)
    {
        Ok(_) => Ok(()),
        Err(error) => Err(service_error(name, &error)),
    }
}

/// The engine's key for Kafka's `config`, if a client may change it.
fn writable_key(config: &str) -> Result<&'static TopicConfigKey, (i16, String)> {
    if let Some(key) = topic_config_key_of_kafka(config) {
        return Ok(key);
    }
    if FIXED_KEYS.contains(&config) {
        return Err((
            errors::INVALID_CONFIG,
            format!("config {config:?} is read-only: one node fixes it"),
        ));
    }
    let known: Vec<&str> = TOPIC_CONFIG_KEYS.iter().filter_map(|key| key.kafka).collect();
    Err((
        errors::INVALID_CONFIG,
        format!("config {config:?} has no meaning here; writable: {}", known.join(", ")),
    ))
}

/// A failed change's code and message: a value the engine refuses (it does
/// not parse, or is out of range) is INVALID_CONFIG.
fn service_error(topic: &str, error: &ServiceError) -> (i16, String) {
    match error {
        ServiceError::Engine(millrace::Error::InvalidInput { .. }) => (errors::INVALID_CONFIG, error_text(error)),
        ServiceError::InvalidInput(message) => (errors::INVALID_CONFIG, message.clone()),
        other => (
            errors::code_of(other),
            format!("topic {topic:?}: {}", error_text(other)),
        ),
    }
}

fn error_text(error: &ServiceError) -> String {
    match error {
        ServiceError::Engine(engine) => engine.to_string(),
        ServiceError::InvalidInput(message) | ServiceError::PermissionDenied(message) => message.clone(),
        ServiceError::Internal(_) | ServiceError::TokenGroupLimit { .. } => "see the server log".into(),
    }
}
