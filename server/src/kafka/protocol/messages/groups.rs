//! The classic group protocol: FindCoordinator (10), JoinGroup (11),
//! Heartbeat (12), LeaveGroup (13), SyncGroup (14), DescribeGroups (15),
//! ListGroups (16), after Kafka's `<Name>Request.json` /
//! `<Name>Response.json`. Field lists complete through FindCoordinator v6,
//! JoinGroup v9, Heartbeat v4, LeaveGroup v5, SyncGroup v5, DescribeGroups
//! v6 and ListGroups v5.

use crate::kafka::protocol::macros::wire_struct;

wire_struct! {
    pub struct FindCoordinatorRequest<'a> {
        key: &'a str [0, 3],
        /// 0 group, 1 transaction (v1+).
        key_type: i8 [1, 99],
        coordinator_keys: Vec<&'a str> [4, 99],
    }
}

wire_struct! {
    /// One key's coordinator (v4+).
    pub struct Coordinator<'a> {
        key: &'a str [4, 99],
        node_id: i32 [4, 99],
        host: &'a str [4, 99],
        port: i32 [4, 99],
        error_code: i16 [4, 99],
        error_message: Option<&'a str> [4, 99],
    }
}

wire_struct! {
    pub struct FindCoordinatorResponse<'a> {
        throttle_time_ms: i32 [1, 99],
        error_code: i16 [0, 3],
        error_message: Option<&'a str> [1, 3],
        node_id: i32 [0, 3],
        host: &'a str [0, 3],
        port: i32 [0, 3],
        coordinators: Vec<Coordinator<'a>> [4, 99],
    }
}

wire_struct! {
    pub struct JoinGroupRequestProtocol<'a> {
        name: &'a str [0, 99],
        metadata: &'a [u8] [0, 99],
    }
}

wire_struct! {
    pub struct JoinGroupRequest<'a> {
        group_id: &'a str [0, 99],
        session_timeout_ms: i32 [0, 99],
        rebalance_timeout_ms: i32 [1, 99] = -1,
        member_id: &'a str [0, 99],
        /// Static membership (KIP-345), v5+.
        group_instance_id: Option<&'a str> [5, 99],
        protocol_type: &'a str [0, 99],
        protocols: Vec<JoinGroupRequestProtocol<'a>> [0, 99],
        reason: Option<&'a str> [8, 99],
    }
}

wire_struct! {
    pub struct JoinGroupResponseMember<'a> {
        member_id: &'a str [0, 99],
        group_instance_id: Option<&'a str> [5, 99],
        metadata: &'a [u8] [0, 99],
    }
}

wire_struct! {
    pub struct JoinGroupResponse<'a> {
        throttle_time_ms: i32 [2, 99],
        error_code: i16 [0, 99],
        generation_id: i32 [0, 99] = -1,
        protocol_type: Option<&'a str> [7, 99],
        /// Nullable from v7.
        protocol_name: Option<&'a str> [0, 99],
        leader: &'a str [0, 99],
        skip_assignment: bool [9, 99],
        member_id: &'a str [0, 99],
        members: Vec<JoinGroupResponseMember<'a>> [0, 99],
    }
}

wire_struct! {
    pub struct HeartbeatRequest<'a> {
        group_id: &'a str [0, 99],
        generation_id: i32 [0, 99],
        member_id: &'a str [0, 99],
        group_instance_id: Option<&'a str> [3, 99],
    }
}

wire_struct! {
    pub struct HeartbeatResponse {
        throttle_time_ms: i32 [1, 99],
        error_code: i16 [0, 99],
    }
}

wire_struct! {
    pub struct MemberIdentity<'a> {
        member_id: &'a str [3, 99],
        group_instance_id: Option<&'a str> [3, 99],
        reason: Option<&'a str> [5, 99],
    }
}

wire_struct! {
    pub struct LeaveGroupRequest<'a> {
        group_id: &'a str [0, 99],
        member_id: &'a str [0, 2],
        members: Vec<MemberIdentity<'a>> [3, 99],
    }
}

wire_struct! {
    pub struct MemberResponse<'a> {
        member_id: &'a str [3, 99],
        group_instance_id: Option<&'a str> [3, 99],
        error_code: i16 [3, 99],
    }
}

wire_struct! {
    pub struct LeaveGroupResponse<'a> {
        throttle_time_ms: i32 [1, 99],
        error_code: i16 [0, 99],
        members: Vec<MemberResponse<'a>> [3, 99],
    }
}

wire_struct! {
    pub struct SyncGroupRequestAssignment<'a> {
        member_id: &'a str [0, 99],
        assignment: &'a [u8] [0, 99],
    }
}

wire_struct! {
    pub struct SyncGroupRequest<'a> {
        group_id: &'a str [0, 99],
        generation_id: i32 [0, 99],
        member_id: &'a str [0, 99],
        group_instance_id: Option<&'a str> [3, 99],
        protocol_type: Option<&'a str> [5, 99],
        protocol_name: Option<&'a str> [5, 99],
        assignments: Vec<SyncGroupRequestAssignment<'a>> [0, 99],
    }
}

wire_struct! {
    pub struct SyncGroupResponse<'a> {
        throttle_time_ms: i32 [1, 99],
        error_code: i16 [0, 99],
        protocol_type: Option<&'a str> [5, 99],
        protocol_name: Option<&'a str> [5, 99],
        assignment: &'a [u8] [0, 99],
    }
}

wire_struct! {
    pub struct DescribeGroupsRequest<'a> {
        groups: Vec<&'a str> [0, 99],
        include_authorized_operations: bool [3, 99],
    }
}

wire_struct! {
    pub struct DescribedGroupMember<'a> {
        member_id: &'a str [0, 99],
        group_instance_id: Option<&'a str> [4, 99],
        client_id: &'a str [0, 99],
        client_host: &'a str [0, 99],
        member_metadata: &'a [u8] [0, 99],
        member_assignment: &'a [u8] [0, 99],
    }
}

wire_struct! {
    pub struct DescribedGroup<'a> {
        error_code: i16 [0, 99],
        error_message: Option<&'a str> [6, 99],
        group_id: &'a str [0, 99],
        group_state: &'a str [0, 99],
        protocol_type: &'a str [0, 99],
        protocol_data: &'a str [0, 99],
        members: Vec<DescribedGroupMember<'a>> [0, 99],
        authorized_operations: i32 [3, 99] = i32::MIN,
    }
}

wire_struct! {
    pub struct DescribeGroupsResponse<'a> {
        throttle_time_ms: i32 [1, 99],
        groups: Vec<DescribedGroup<'a>> [0, 99],
    }
}

wire_struct! {
    pub struct ListGroupsRequest<'a> {
        states_filter: Vec<&'a str> [4, 99],
        types_filter: Vec<&'a str> [5, 99],
    }
}

wire_struct! {
    pub struct ListedGroup<'a> {
        group_id: &'a str [0, 99],
        protocol_type: &'a str [0, 99],
        group_state: &'a str [4, 99],
        group_type: &'a str [5, 99],
    }
}

wire_struct! {
    pub struct ListGroupsResponse<'a> {
        throttle_time_ms: i32 [1, 99],
        error_code: i16 [0, 99],
        groups: Vec<ListedGroup<'a>> [0, 99],
    }
}
