//! The classic group coordinator and committed offsets (design/kafka.md,
//! "Consumer groups"): the handlers here decode what they need and answer;
//! the state machine is [`coordinator`]; OffsetCommit and OffsetFetch, onto
//! the offset table native groups use, are [`offsets`].

mod coordinator;
mod offsets;
#[cfg(test)]
mod tests;

use std::time::Duration;

use messages::groups as m;

use super::{errors, respond, Conn, Front, Handled};
use crate::kafka::protocol::messages;
use crate::kafka::protocol::{RequestHeader, Response};

pub(crate) use coordinator::Coordinator;
pub(crate) use offsets::{offset_commit, offset_fetch};

/// A group id Kafka clients may use here, else the Kafka code: 1 to 255
/// bytes (the offset table's limit; Kafka has none), not internal (`__*`).
pub(crate) fn check_group_id(group: &str) -> Result<(), i16> {
    if group.is_empty() || millrace::names::validate_group_name(group).is_err() {
        return Err(errors::INVALID_GROUP_ID);
    }
    Ok(())
}

/// FindCoordinator v0–2: this node coordinates every group (key type 0)
/// and every transactional id (key type 1), at the address Metadata names
/// ([`Front::advertised`]).
pub(crate) fn find_coordinator(
    front: &Front,
    _conn: &mut Conn,
    header: &RequestHeader<'_>,
    request: m::FindCoordinatorRequest<'_>,
    out: &mut Vec<u8>,
) -> Handled {
    let mut response = m::FindCoordinatorResponse {
        node_id: -1,
        port: -1,
        ..Default::default()
    };
    if matches!(request.key_type, 0 | 1) {
        let (host, port) = front.advertised();
        response.node_id = front.config.node_id;
        response.host = host;
        response.port = i32::from(port);
    } else {
        response.error_code = errors::INVALID_REQUEST;
        response.error_message = Some("key_type must be 0 (group) or 1 (transaction)");
    }
    respond(out, header, &Response::FindCoordinator(response))
}

/// JoinGroup v0–5: blocks until the rebalance completes (bounded by the
/// group's rebalance timeout and by shutdown).
pub(crate) fn join_group(
    front: &Front,
    conn: &mut Conn,
    header: &RequestHeader<'_>,
    request: m::JoinGroupRequest<'_>,
    out: &mut Vec<u8>,
) -> Handled {
    let result = join(front, conn, header, &request);
    let mut response = m::JoinGroupResponse {
        protocol_name: Some(""),
        ..Default::default()
    };
    let (member_id, protocol, leader);
    match &result {
        Ok(joined) => {
            response.generation_id = joined.generation;
            protocol = joined.protocol.as_str();
            leader = joined.leader.as_str();
            member_id = joined.member_id.as_str();
            response.members = joined
                .members
                .iter()
                .map(|(id, metadata)| m::JoinGroupResponseMember {
                    member_id: id,
                    group_instance_id: None,
                    metadata,
                })
                .collect();
        }
        Err(coordinator::JoinError::MemberIdRequired(id)) => {
            response.error_code = errors::MEMBER_ID_REQUIRED;
            (protocol, leader, member_id) = ("", "", id.as_str());
        }
        Err(coordinator::JoinError::Code(code)) => {
            response.error_code = *code;
            (protocol, leader, member_id) = ("", "", request.member_id);
        }
    }
    response.protocol_name = Some(protocol);
    response.leader = leader;
    response.member_id = member_id;
    respond(out, header, &Response::JoinGroup(response))
}

fn join(
    front: &Front,
    conn: &Conn,
    header: &RequestHeader<'_>,
    request: &m::JoinGroupRequest<'_>,
) -> Result<coordinator::Joined, coordinator::JoinError> {
    use coordinator::JoinError::Code;
    check_group_id(request.group_id).map_err(Code)?;
    if request.group_instance_id.is_some() {
        // Static membership (KIP-345) is not served: clients report the
        // broker lacks the feature and the application drops group.instance.id.
        return Err(Code(errors::UNSUPPORTED_VERSION));
    }
    if front
        .service
        .check_group_access(&conn.session, request.group_id)
        .is_err()
    {
        return Err(Code(errors::GROUP_AUTHORIZATION_FAILED));
    }
    if !coordinator::SESSION_TIMEOUT_MS.contains(&request.session_timeout_ms) {
        return Err(Code(errors::INVALID_SESSION_TIMEOUT));
    }
    if request.protocol_type.is_empty() || request.protocols.is_empty() {
        return Err(Code(errors::INCONSISTENT_GROUP_PROTOCOL));
    }
    let session_timeout = millis(request.session_timeout_ms);
    // v0 has no rebalance timeout: the session timeout is it (as Kafka).
    let rebalance_timeout = if request.rebalance_timeout_ms > 0 {
        millis(request.rebalance_timeout_ms.min(*coordinator::SESSION_TIMEOUT_MS.end()))
    } else {
        session_timeout
    };
    let client_host = conn.session.peer.ip().to_string();
    let join = coordinator::Join {
        group: request.group_id,
        member_id: request.member_id,
        client_id: header.client_id.unwrap_or_default(),
        client_host: &client_host,
        session_timeout,
        rebalance_timeout,
        protocol_type: request.protocol_type,
        protocols: request.protocols.iter().map(|p| (p.name, p.metadata)).collect(),
        member_id_required: header.api_version >= 4,
    };
    front
        .groups
        .join(&join, &front.service.kafka_groups, &front.service.shutting_down)
}

fn millis(ms: i32) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or_default())
}

/// SyncGroup v0–3: the leader's assignments pass through as they are; a
/// follower waits for them (bounded).
pub(crate) fn sync_group(
    front: &Front,
    _conn: &mut Conn,
    header: &RequestHeader<'_>,
    request: m::SyncGroupRequest<'_>,
    out: &mut Vec<u8>,
) -> Handled {
    let result = if request.group_instance_id.is_some() {
        Err(errors::UNSUPPORTED_VERSION)
    } else {
        let assignments: Vec<(&str, &[u8])> = request
            .assignments
            .iter()
            .map(|a| (a.member_id, a.assignment))
            .collect();
        front.groups.sync(
            request.group_id,
            request.generation_id,
            request.member_id,
            &assignments,
            &front.service.kafka_groups,
            &front.service.shutting_down,
        )
    };
    let (error_code, assignment) = match &result {
        Ok(assignment) => (errors::NONE, assignment.as_slice()),
        Err(code) => (*code, &[][..]),
    };
    let response = m::SyncGroupResponse {
        error_code,
        assignment,
        ..Default::default()
    };
    respond(out, header, &Response::SyncGroup(response))
}

/// Heartbeat v0–3.
pub(crate) fn heartbeat(
    front: &Front,
    _conn: &mut Conn,
    header: &RequestHeader<'_>,
    request: m::HeartbeatRequest<'_>,
    out: &mut Vec<u8>,
) -> Handled {
    let error_code = if request.group_instance_id.is_some() {
        errors::UNSUPPORTED_VERSION
    } else {
        front.groups.heartbeat(
            request.group_id,
            request.generation_id,
            request.member_id,
            &front.service.kafka_groups,
        )
    };
    let response = m::HeartbeatResponse {
        error_code,
        ..Default::default()
    };
    respond(out, header, &Response::Heartbeat(response))
}

/// LeaveGroup v0–3 (v3: a batch of members).
pub(crate) fn leave_group(
    front: &Front,
    _conn: &mut Conn,
    header: &RequestHeader<'_>,
    request: m::LeaveGroupRequest<'_>,
    out: &mut Vec<u8>,
) -> Handled {
    let live = &front.service.kafka_groups;
    let mut response = m::LeaveGroupResponse::default();
    if header.api_version < 3 {
        let codes = front.groups.leave(request.group_id, &[request.member_id], live);
        response.error_code = codes.first().copied().unwrap_or(errors::UNKNOWN_MEMBER_ID);
    } else {
        let ids: Vec<&str> = request.members.iter().map(|member| member.member_id).collect();
        let codes = front.groups.leave(request.group_id, &ids, live);
        response.members = request
            .members
            .iter()
            .zip(codes)
            .map(|(member, code)| m::MemberResponse {
                member_id: member.member_id,
                group_instance_id: member.group_instance_id,
                error_code: if member.group_instance_id.is_some() {
                    errors::UNSUPPORTED_VERSION
                } else {
                    code
                },
            })
            .collect();
    }
    respond(out, header, &Response::LeaveGroup(response))
}

/// DescribeGroups v0–4: a coordinator group as it is; a group known only
/// by its committed offsets is Empty; any other is Dead (as Kafka answers).
/// A group the principal may not describe (`Session::may_describe_group`,
/// the native front's rule) is GROUP_AUTHORIZATION_FAILED, with nothing of it.
pub(crate) fn describe_groups(
    front: &Front,
    conn: &mut Conn,
    header: &RequestHeader<'_>,
    request: m::DescribeGroupsRequest<'_>,
    out: &mut Vec<u8>,
) -> Handled {
    let views: Vec<(i16, Option<coordinator::GroupView>, bool)> = request
        .groups
        .iter()
        .map(|group| {
            if let Err(code) = check_group_id(group) {
                return (code, None, false);
            }
            if !conn.session.may_describe_group(group) {
                return (errors::GROUP_AUTHORIZATION_FAILED, None, false);
            }
            let view = front.groups.describe(group, &front.service.kafka_groups);
            let has_offsets = view.is_none()
                && front
                    .service
                    .group_offsets(&conn.session, group, None)
                    .is_ok_and(|offsets| !offsets.is_empty());
            (errors::NONE, view, has_offsets)
        })
        .collect();
    let groups = request
        .groups
        .iter()
        .zip(&views)
        .map(|(group_id, (error_code, view, has_offsets))| match view {
            Some(view) => m::DescribedGroup {
                error_code: *error_code,
                group_id,
                group_state: view.state.name(),
                protocol_type: &view.protocol_type,
                protocol_data: &view.protocol,
                members: view
                    .members
                    .iter()
                    .map(|member| m::DescribedGroupMember {
                        member_id: &member.member_id,
                        group_instance_id: None,
                        client_id: &member.client_id,
                        client_host: &member.client_host,
                        member_metadata: &member.metadata,
                        member_assignment: &member.assignment,
                    })
                    .collect(),
                ..Default::default()
            },
            None => m::DescribedGroup {
                error_code: *error_code,
                group_id,
                group_state: if *error_code != errors::NONE {
                    ""
                } else if *has_offsets {
                    "Empty"
                } else {
                    "Dead"
                },
                ..Default::default()
            },
        })
        .collect();
    let response = m::DescribeGroupsResponse {
        groups,
        ..Default::default()
    };
    respond(out, header, &Response::DescribeGroups(response))
}

/// ListGroups v0–2: the coordinator's groups with members and every group
/// of the offset table (native groups included; the store's internal
/// `__*` groups left out), each only if the principal may describe it
/// (as Kafka lists the groups the principal has Describe on).
pub(crate) fn list_groups(
    front: &Front,
    conn: &mut Conn,
    header: &RequestHeader<'_>,
    _request: m::ListGroupsRequest<'_>,
    out: &mut Vec<u8>,
) -> Handled {
    let live = front.groups.list(&front.service.kafka_groups);
    let mut response = m::ListGroupsResponse::default();
    let stored = match front.service.groups(&conn.session) {
        Ok(stored) => stored,
        Err(error) => {
            response.error_code = errors::code_of(&error);
            Vec::new()
        }
    };
    let mut listed: Vec<(&str, &str)> = live
        .iter()
        .map(|(group, protocol_type, _)| (group.as_str(), protocol_type.as_str()))
        .collect();
    for group in &stored {
        if !millrace::names::is_internal(group) && !live.iter().any(|(live, ..)| live == group) {
            listed.push((group, ""));
        }
    }
    listed.retain(|(group, _)| conn.session.may_describe_group(group));
    listed.sort_unstable();
    response.groups = listed
        .into_iter()
        .map(|(group_id, protocol_type)| m::ListedGroup {
            group_id,
            protocol_type,
            ..Default::default()
        })
        .collect();
    respond(out, header, &Response::ListGroups(response))
}
