//! Which groups have live members of the Kafka front's group coordinator,
//! so that the native offset resets and group deletes refuse them as they
//! refuse a group whose native consumers committed or polled recently
//! (`millrace::Error::GroupActive`). The coordinator publishes, after each
//! change of a group, until when its members stay alive without another
//! request (the latest of `last heard from + session timeout`); nothing here
//! needs a timer: a group whose members all died stops counting as live
//! when that instant passes.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use super::{Service, ServiceError, ServiceResult};

/// A live member of a Kafka group: (member id, client id, client host).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveMember {
    pub member_id: String,
    pub client_id: String,
    pub client_host: String,
}

#[derive(Debug)]
struct LiveGroup {
    until: Instant,
    /// As of the group's last change of members, in join order.
    members: Vec<LiveMember>,
}

/// Groups with live Kafka members, each with the instant its members expire
/// and who they are.
#[derive(Debug, Default)]
pub struct LiveGroups {
    live: Mutex<HashMap<String, LiveGroup>>,
}

impl LiveGroups {
    /// Records that `group`'s members stay alive until `until` (`None`: it
    /// has none) and, when they changed, who they are now (`members`:
    /// `None` = unchanged).
    pub fn publish(&self, group: &str, until: Option<Instant>, members: Option<Vec<LiveMember>>) {
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        match until {
            Some(until) => {
                let entry = live.entry(group.to_string()).or_insert_with(|| LiveGroup {
                    until,
                    members: Vec::new(),
                });
                entry.until = until;
                if let Some(members) = members {
                    entry.members = members;
                }
            }
            None => {
                live.remove(group);
            }
        }
    }

    /// Whether `group` has members that may still be alive now.
    #[must_use]
    pub fn is_live(&self, group: &str) -> bool {
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        live.retain(|_, g| g.until > now);
        live.contains_key(group)
    }

    /// `group`'s members that may still be alive now, in join order (empty:
    /// none). A member whose session ran out is dropped at the group's
    /// next request, when the coordinator notices.
    #[must_use]
    pub fn members(&self, group: &str) -> Vec<LiveMember> {
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        live.retain(|_, g| g.until > now);
        live.get(group).map(|g| g.members.clone()).unwrap_or_default()
    }
}

impl Service {
    /// Whether the session's token may use `group` (join it, commit for it):
    /// the check native commits make.
    pub fn check_group_access(&self, session: &super::Session, group: &str) -> ServiceResult<()> {
        session.check_group(group)
    }

    /// Whether `group` is in use now: (active, has live Kafka members, idle
    /// since its last commit or poll in this process). Active: live Kafka
    /// members, or a commit or poll within the engine's activity window (what
    /// resets and deletes refuse without `force`).
    pub fn group_state(&self, group: &str) -> (bool, bool, Option<std::time::Duration>) {
        let kafka = self.kafka_groups.is_live(group);
        let idle = self.store.group_idle(group);
        let recent = idle.is_some_and(|idle| idle < millrace::GROUP_ACTIVE_WINDOW);
        (kafka || recent, kafka, idle)
    }

    /// `group`'s live Kafka members, in join order (empty: none).
    pub fn kafka_members(&self, group: &str) -> Vec<LiveMember> {
        self.kafka_groups.members(group)
    }

    /// `GroupActive` when `group` has live Kafka members, unless the
    /// operation is forced or only planned (the same exemptions as the
    /// engine's own activity check).
    pub(super) fn refuse_live_kafka_group(&self, group: &str, forced_or_dry_run: bool) -> ServiceResult<()> {
        if forced_or_dry_run || !self.kafka_groups.is_live(group) {
            return Ok(());
        }
        Err(ServiceError::Engine(millrace::Error::GroupActive {
            group: group.to_string(),
            idle_ms: 0,
        }))
    }
}
