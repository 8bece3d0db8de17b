//! Who may see a consumer group's state and members: one rule for both
//! fronts (design/protocol.md, "Security", "Groups"; design/kafka.md,
//! "Consumer groups"), as [`super::internal_topics`] is for topics.
//!
//! A group's activity and its Kafka members (their client ids and hosts)
//! are the group's own: a token sees them only for groups its `groups`
//! patterns cover, the same patterns that let it commit
//! ([`crate::auth::Principal::may_use_group`]): `"name"` exactly, `"prefix*"`
//! by prefix, an internal `__*` group only through a pattern naming `__`.
//! Admin tokens and servers without tokens see every group. Its committed
//! offsets and lag are the group's own too, as Kafka's Describe on a group
//! guards its offsets: the service's group reads ([`Service::group_offsets`],
//! [`Service::lag`]) refuse such a group with `PermissionDenied` and its
//! listings ([`Service::groups`], [`Service::groups_page`]) leave it out.
//! The native `DescribeGroups` and `DescribeGroupMembers` answer
//! `PermissionDenied` for a group outside them; the Kafka front's
//! DescribeGroups and OffsetFetch answer GROUP_AUTHORIZATION_FAILED for it
//! and its ListGroups leaves it out.
//!
//! [`Service::group_offsets`]: super::Service::group_offsets
//! [`Service::lag`]: super::Service::lag
//! [`Service::groups`]: super::Service::groups
//! [`Service::groups_page`]: super::Service::groups_page

use super::{ServiceError, ServiceResult, Session};
use crate::auth::Principal;

/// May `principal` see `group`'s state and members?
pub fn may_describe_group(principal: &Principal, group: &str) -> bool {
    principal.may_use_group(group)
}

impl Session {
    /// [`may_describe_group`] for this connection's principal.
    pub fn may_describe_group(&self, group: &str) -> bool {
        may_describe_group(&self.principal, group)
    }

    /// Refuse a group this connection may not describe: its committed
    /// offsets and lag are the group's own, as its state is.
    pub(super) fn check_describe_group(&self, group: &str) -> ServiceResult<()> {
        if self.may_describe_group(group) {
            return Ok(());
        }
        Err(hidden_group(group))
    }

    /// The first of `groups` this connection may not describe, as (its
    /// index in `groups`, the refusal naming it); `None`: it may describe
    /// them all.
    pub fn first_group_hidden(&self, groups: &[String]) -> Option<(usize, ServiceError)> {
        let index = groups.iter().position(|group| !self.may_describe_group(group))?;
        let group = groups.get(index)?;
        Some((index, hidden_group(group)))
    }
}

/// The refusal of a group the connection may not describe, naming it.
fn hidden_group(group: &str) -> ServiceError {
    ServiceError::PermissionDenied(format!(
        "the connection's token may not describe group {}; list it (or a prefix*) in the token's `groups`",
        crate::text::escape_quoted(group)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{Permission, Permissions};

    #[test]
    fn a_token_describes_the_groups_its_patterns_cover_and_admin_every_group() {
        let consume = Permissions::of(&[Permission::Consume]);
        let reader = Principal::named("reader", consume, &["app-*".to_string(), "billing".to_string()]);
        assert!(may_describe_group(&reader, "app-orders"));
        assert!(may_describe_group(&reader, "billing"));
        assert!(!may_describe_group(&reader, "billing-2"));
        assert!(!may_describe_group(&reader, "payroll"));
        assert!(!may_describe_group(&reader, "__redrive.orders"));
        let none = Principal::named("none", consume, &[]);
        assert!(!may_describe_group(&none, "app-orders"));
        let admin = Principal::named("admin", Permissions::of(&[Permission::Admin]), &[]);
        assert!(may_describe_group(&admin, "payroll"));
        assert!(may_describe_group(&admin, "__redrive.orders"));
        assert!(may_describe_group(&Principal::anonymous(), "payroll"));
    }

    #[test]
    fn the_first_hidden_group_is_named_with_its_index() {
        let mut session = Session::new("127.0.0.1:1".parse().unwrap());
        session.principal = Principal::named(
            "reader",
            Permissions::of(&[Permission::Consume]),
            &["app-*".to_string()],
        );
        let groups = ["app-1".to_string(), "payroll".to_string(), "other".to_string()];
        let Some((index, ServiceError::PermissionDenied(message))) = session.first_group_hidden(&groups) else {
            panic!("payroll is hidden");
        };
        assert_eq!(index, 1);
        assert!(message.contains("\"payroll\""), "{message}");
        assert!(session.first_group_hidden(&groups[..1]).is_none());
    }
}
