//! Who may read the store's own topics (`__*`, `millrace::names`): one rule
//! for both fronts (design/protocol.md, "Internal topics and groups";
//! design/kafka.md, "Internal topics").
//!
//! Reading an internal topic needs `admin`, except a topic's dead-letter
//! queue `__dlq.<topic>`, which a `consume` token may read (as `DlqList`
//! already shows its records to one). Writing any internal topic is the
//! engine's own, whatever the token (`InternalName`).

use millrace::dlq::DLQ_PREFIX;
use millrace::names::is_internal;

use super::Session;
use crate::auth::{Permission, Permissions};

/// Internal, and not a dead-letter queue a `consume` token may read.
pub fn read_needs_admin(topic: &str) -> bool {
    is_internal(topic) && !topic.starts_with(DLQ_PREFIX)
}

/// May a client group commit its position on `topic`: a user topic, or a
/// dead-letter queue (which a `consume` token reads); the engine refuses
/// the other internal topics (`InternalName`) for every token.
pub fn may_commit_position_on(topic: &str) -> bool {
    !is_internal(topic) || millrace::names::is_dlq_topic(topic)
}

/// May `permissions` read `topic`: `consume`, and `admin` for an internal
/// topic other than a dead-letter queue?
pub fn may_read_topic(permissions: Permissions, topic: &str) -> bool {
    permissions.contains(Permissions::of(&[Permission::Consume]))
        && (!read_needs_admin(topic) || permissions.is_admin())
}

impl Session {
    /// [`may_read_topic`] for this connection's principal.
    pub fn may_read_topic(&self, topic: &str) -> bool {
        may_read_topic(self.principal.permissions, topic)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_letter_queue_is_readable_with_consume_and_other_internal_topics_need_admin() {
        let consume = Permissions::of(&[Permission::Consume]);
        let produce = Permissions::of(&[Permission::Produce]);
        let admin = Permissions::of(&[Permission::Admin]);
        assert!(may_read_topic(consume, "orders"));
        assert!(may_read_topic(consume, "__dlq.orders"));
        assert!(!may_read_topic(consume, "__dlq_orders"));
        assert!(!may_read_topic(consume, "__offsets"));
        assert!(!may_read_topic(produce, "orders"));
        assert!(!may_read_topic(produce, "__dlq.orders"));
        assert!(may_read_topic(admin, "__offsets"));
        assert!(may_read_topic(admin, "__dlq.orders"));
    }
}
