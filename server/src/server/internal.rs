//! The store's own names (`__*`, `millrace::names`) on the wire: what a
//! connection's permissions allow beyond the opcode's column of the
//! "Opcodes" table (design/protocol.md, "Internal topics and groups").
//!
//! Writes are refused by the engine itself, for every token
//! (`InternalName`); this module adds what depends on the token: reading an
//! internal topic (Fetch, DescribeTopic, DescribeDamage, Lag on it) needs `admin`, and so does running
//! a replay job (its producer and its group `__replay.<job>`). A topic's
//! dead-letter queue `__dlq.<topic>` is the exception: reading it (Fetch,
//! DescribeTopic, Lag: a group may commit its position there) needs only what the opcode needs
//! (`consume`), as `DlqList` already shows its records to a `consume` token;
//! writing it stays the engine's own.

use millrace::names::{is_internal, REPLAY_PREFIX};

/// The rule both fronts share (`service::read_needs_admin`).
use crate::server::service::read_needs_admin as admin_read;

use crate::auth::{Permission, Permissions};
use crate::error_code::{ErrorCode, WireError};
use crate::messages::Request;

/// `Some(PermissionDenied)` if `request` touches one of the store's own
/// names in a way `permissions` does not allow.
pub fn denied(request: &Request, permissions: Permissions) -> Option<WireError> {
    if permissions.contains(Permissions::of(&[Permission::Admin])) {
        return None;
    }
    let (what, name) = match request {
        Request::Fetch(fetch) if admin_read(&fetch.topic) => ("reading the internal topic", &fetch.topic),
        Request::DescribeTopic(topic) if admin_read(&topic.name) => ("describing the internal topic", &topic.name),
        Request::DescribeDamage(damage) if damage.topic.as_deref().is_some_and(is_internal) => {
            ("the damage of the internal topic", damage.topic.as_ref()?)
        }
        Request::Lag(query) if query.topic.as_deref().is_some_and(admin_read) => {
            ("the lag on the internal topic", query.topic.as_ref()?)
        }
        Request::LagPage(page) if page.topic.as_deref().is_some_and(admin_read) => {
            ("the lag on the internal topic", page.topic.as_ref()?)
        }
        Request::InitProducer(init) if init.name.starts_with(REPLAY_PREFIX) => {
            ("the producer of the replay job", &init.name)
        }
        Request::TxnCommitOffsets(commit) if commit.group.starts_with(REPLAY_PREFIX) => {
            ("committing the progress of the replay job", &commit.group)
        }
        _ => return None,
    };
    Some(WireError::new(
        ErrorCode::PermissionDenied,
        format!("{what} {name:?} needs the admin permission (names starting with `__` are the store's own)"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::{DescribeDamage, Fetch, GroupQuery, Isolation, Position, TopicName};

    fn fetch(topic: &str) -> Request {
        Request::Fetch(Fetch {
            topic: topic.to_string(),
            partition: 0,
            position: Position::Offset(0),
            max_bytes: 1024,
            max_records: 0,
            max_wait_ms: 0,
            isolation: Isolation::ReadCommitted,
        })
    }

    #[test]
    fn internal_reads_need_admin() {
        let consume = Permissions::of(&[Permission::Consume]);
        let admin = Permissions::of(&[Permission::Admin]);
        assert!(denied(&fetch("orders"), consume).is_none());
        let refused = denied(&fetch("__offsets"), consume).unwrap();
        assert_eq!(refused.code, ErrorCode::PermissionDenied);
        assert!(denied(&fetch("__offsets"), admin).is_none());
        let describe = |name: &str| Request::DescribeTopic(TopicName { name: name.into() });
        assert!(denied(&describe("__offsets"), consume).is_some());
        // A dead-letter queue is readable with `consume` (never writable:
        // the engine refuses every write of a `__*` topic).
        assert!(denied(&describe("__dlq.orders"), consume).is_none());
        assert!(denied(&fetch("__dlq.orders"), consume).is_none());
        assert!(denied(&fetch("__dlq_orders"), consume).is_some());
        // A group may keep its position on a DLQ, so its lag there is a
        // `consume` token's to read too.
        let lag = |topic: &str| {
            Request::Lag(GroupQuery {
                group: "g".into(),
                topic: Some(topic.into()),
            })
        };
        assert!(denied(&lag("__dlq.orders"), consume).is_none());
        assert!(denied(&lag("__offsets"), consume).is_some());
        let damage = |topic: Option<&str>| {
            Request::DescribeDamage(DescribeDamage {
                topic: topic.map(str::to_string),
            })
        };
        assert!(denied(&damage(Some("__offsets")), consume).is_some());
        assert!(denied(&damage(Some("__offsets")), admin).is_none());
        assert!(denied(&damage(Some("orders")), consume).is_none());
        assert!(denied(&damage(None), consume).is_none());
    }
}
