//! `DescribeGroupMembers` (0x004E): the live members of the Kafka front's
//! group coordinator, with the client id and host each joined from
//! (design/protocol.md, "0x004E DescribeGroupMembers").

use super::types::{read_list, write_list, Wire};
use crate::wire::{DecodeResult, Reader, Writer, STRING_MIN};

/// `DescribeGroupMembers`: the groups whose members to list, at most 1000.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DescribeGroupMembers {
    pub groups: Vec<String>,
}

impl Wire for DescribeGroupMembers {
    const BYTES_MIN: usize = 4;
    fn encode(&self, w: &mut Writer) {
        write_list(w, &self.groups);
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(DescribeGroupMembers {
            groups: read_list(r, "describe_group_members.groups")?,
        })
    }
}

/// A live member of the Kafka front's group coordinator.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KafkaMember {
    /// The id the coordinator gave it (`<client_id>-<uuid>`).
    pub member_id: String,
    /// The `client.id` of its JoinGroup request.
    pub client_id: String,
    /// The IP address its JoinGroup came from.
    pub client_host: String,
}

impl Wire for KafkaMember {
    const BYTES_MIN: usize = 3 * STRING_MIN;
    fn encode(&self, w: &mut Writer) {
        w.string(&self.member_id);
        w.string(&self.client_id);
        w.string(&self.client_host);
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(KafkaMember {
            member_id: r.string("member.member_id")?,
            client_id: r.string("member.client_id")?,
            client_host: r.string("member.client_host")?,
        })
    }
}

/// One group of a `DescribeGroupMembers` answer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupMembers {
    pub group: String,
    /// How many live members the group has; more than `members` holds when
    /// the answer had to be cut to fit in a frame.
    pub members_total: u32,
    /// In join order.
    pub members: Vec<KafkaMember>,
}

impl Wire for GroupMembers {
    const BYTES_MIN: usize = STRING_MIN + 4 + 4;
    fn encode(&self, w: &mut Writer) {
        w.string(&self.group);
        w.u32(self.members_total);
        write_list(w, &self.members);
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(GroupMembers {
            group: r.string("group_members.group")?,
            members_total: r.u32("group_members.members_total")?,
            members: read_list(r, "group_members.members")?,
        })
    }
}
