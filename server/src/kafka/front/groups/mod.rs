//! The classic group coordinator and committed offsets.

use super::{errors, respond, Conn, Front, FrontError, Handled};
use crate::kafka::protocol::messages;
use crate::kafka::protocol::{ApiKey, RequestHeader, Response};

#[cfg(test)]
mod tests;

/// Shared state of this area (one per front).
#[derive(Debug, Default)]
pub(crate) struct Coordinator {}

/// FindCoordinator v0–2: this node coordinates every group (key type 0)
/// and every transactional id (key type 1). The address is the advertised
/// one (`[kafka] advertised`), else the listen address.
pub(crate) fn find_coordinator(
    front: &Front,
    _conn: &mut Conn,
    header: &RequestHeader<'_>,
    request: messages::groups::FindCoordinatorRequest<'_>,
    out: &mut Vec<u8>,
) -> Handled {
    let mut response = messages::groups::FindCoordinatorResponse {
        node_id: -1,
        port: -1,
        ..Default::default()
    };
    let advertised = coordinator_address(front);
    match (request.key_type, &advertised) {
        (0 | 1, Some((host, port))) => {
            response.node_id = front.config.node_id;
            response.host = host;
            response.port = i32::from(*port);
        }
        (0 | 1, None) => {
            response.error_code = errors::COORDINATOR_NOT_AVAILABLE;
            response.error_message = Some("the Kafka front has no address to advertise");
        }
        _ => {
            response.error_code = errors::INVALID_REQUEST;
            response.error_message = Some("key_type must be 0 (group) or 1 (transaction)");
        }
    }
    respond(out, header, &Response::FindCoordinator(response))
}

/// The host and port clients reach this node at: the advertised address,
/// else the listen address (the listener fills in the bound port).
fn coordinator_address(front: &Front) -> Option<(String, u16)> {
    if let Some(advertised) = &front.config.advertised {
        return Some(advertised.clone());
    }
    front.config.listen.map(|addr| (addr.ip().to_string(), addr.port()))
}

pub(crate) fn join_group(
    _front: &Front,
    _conn: &mut Conn,
    _header: &RequestHeader<'_>,
    _request: messages::groups::JoinGroupRequest<'_>,
    _out: &mut Vec<u8>,
) -> Handled {
    Err(FrontError::NotServed(ApiKey::JoinGroup))
}

pub(crate) fn sync_group(
    _front: &Front,
    _conn: &mut Conn,
    _header: &RequestHeader<'_>,
    _request: messages::groups::SyncGroupRequest<'_>,
    _out: &mut Vec<u8>,
) -> Handled {
    Err(FrontError::NotServed(ApiKey::SyncGroup))
}

pub(crate) fn heartbeat(
    _front: &Front,
    _conn: &mut Conn,
    _header: &RequestHeader<'_>,
    _request: messages::groups::HeartbeatRequest<'_>,
    _out: &mut Vec<u8>,
) -> Handled {
    Err(FrontError::NotServed(ApiKey::Heartbeat))
}

pub(crate) fn leave_group(
    _front: &Front,
    _conn: &mut Conn,
    _header: &RequestHeader<'_>,
    _request: messages::groups::LeaveGroupRequest<'_>,
    _out: &mut Vec<u8>,
) -> Handled {
    Err(FrontError::NotServed(ApiKey::LeaveGroup))
}

pub(crate) fn describe_groups(
    _front: &Front,
    _conn: &mut Conn,
    _header: &RequestHeader<'_>,
    _request: messages::groups::DescribeGroupsRequest<'_>,
    _out: &mut Vec<u8>,
) -> Handled {
    Err(FrontError::NotServed(ApiKey::DescribeGroups))
}

pub(crate) fn list_groups(
    _front: &Front,
    _conn: &mut Conn,
    _header: &RequestHeader<'_>,
    _request: messages::groups::ListGroupsRequest<'_>,
    _out: &mut Vec<u8>,
) -> Handled {
    Err(FrontError::NotServed(ApiKey::ListGroups))
}

pub(crate) fn offset_commit(
    _front: &Front,
    _conn: &mut Conn,
    _header: &RequestHeader<'_>,
    _request: messages::offsets::OffsetCommitRequest<'_>,
    _out: &mut Vec<u8>,
) -> Handled {
    Err(FrontError::NotServed(ApiKey::OffsetCommit))
}

pub(crate) fn offset_fetch(
    _front: &Front,
    _conn: &mut Conn,
    _header: &RequestHeader<'_>,
    _request: messages::offsets::OffsetFetchRequest<'_>,
    _out: &mut Vec<u8>,
) -> Handled {
    Err(FrontError::NotServed(ApiKey::OffsetFetch))
}
