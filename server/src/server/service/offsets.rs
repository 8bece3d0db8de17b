//! Consumer-group offsets: commit, read, reset, lag.

use super::{invalid, Service, ServiceResult, Session, OFFSET_COMMIT_ENTRIES_MAX};

/// Refuse an offset commit with more entries than one request may carry.
pub(super) fn check_offset_commit_entries(entries: usize) -> ServiceResult<()> {
    if entries > OFFSET_COMMIT_ENTRIES_MAX {
        return Err(invalid(format!(
            "{entries} offsets in one request; at most {OFFSET_COMMIT_ENTRIES_MAX} (send the rest in another)"
        )));
    }
    Ok(())
}

/// Offsets: commit, read, reset, lag.
impl Service {
    /// `commits`: (topic, partition, offset, metadata).
    pub fn commit_offsets(
        &self,
        session: &Session,
        group: &str,
        commits: &[(String, u32, u64, Vec<u8>)],
    ) -> ServiceResult<()> {
        session.check_group(group)?;
        check_offset_commit_entries(commits.len())?;
        let _admitted = self.group_budget.admit(&self.store, &session.principal, [group])?;
        Ok(self.store.consumer_groups().commit_offsets(group, commits)?)
    }

    /// The group's committed offsets, of one topic or all; `PermissionDenied`
    /// for a group the session may not describe ([`super::may_describe_group`]).
    pub fn group_offsets(
        &self,
        session: &Session,
        group: &str,
        topic: Option<&str>,
    ) -> ServiceResult<Vec<((String, u32), millrace::offset_table::CommittedOffset)>> {
        session.check_describe_group(group)?;
        let mut offsets = self.store.consumer_groups().group_offsets(group)?;
        offsets.retain(|((t, _), _)| topic.is_none_or(|topic| topic == t));
        Ok(offsets)
    }

    /// Plan (and unless `dry_run`, apply) a reset, recorded with the
    /// session's actor.
    pub fn reset_offsets(
        &self,
        session: &Session,
        group: String,
        scope: millrace::ResetScope,
        target: millrace::ResetTarget,
        dry_run: bool,
        force: bool,
    ) -> ServiceResult<millrace::ResetPlan> {
        self.refuse_live_kafka_group(&group, dry_run || force)?;
        Ok(self.store.consumer_groups().reset_offsets(&millrace::ResetRequest {
            group,
            scopes: vec![scope],
            target,
            dry_run,
            actor: session.actor(),
            force,
        })?)
    }

    pub fn reset_audit(&self, group: Option<&str>) -> ServiceResult<Vec<millrace::ResetAuditEntry>> {
        Ok(self.store.consumer_groups().reset_audit(group)?)
    }

    /// At most `max` audit entries above the audit offset `after`, with their offsets.
    pub fn reset_audit_page(
        &self,
        group: Option<&str>,
        after: Option<u64>,
        max: usize,
    ) -> ServiceResult<Vec<(u64, millrace::ResetAuditEntry)>> {
        Ok(self.store.consumer_groups().reset_audit_page(group, after, max)?)
    }

    /// Every group with committed offsets (internal ones included) that the
    /// session may describe ([`super::may_describe_group`]), in byte order.
    pub fn groups(&self, session: &Session) -> ServiceResult<Vec<String>> {
        let mut groups = self.store.consumer_groups().groups()?;
        groups.retain(|group| session.may_describe_group(group));
        Ok(groups)
    }

    /// At most `max` groups after `after` that the session may describe, in
    /// byte order. Groups it may not describe are skipped, however many: a
    /// page never ends on one, so a cursor never names a hidden group.
    pub fn groups_page(&self, session: &Session, after: Option<&str>, max: usize) -> ServiceResult<Vec<String>> {
        /// Groups read from the store at a time while skipping hidden ones.
        const SCAN_GROUPS: usize = 1000;
        let groups = self.store.consumer_groups();
        let mut visible = Vec::new();
        let mut cursor = after.map(str::to_string);
        while visible.len() < max {
            let chunk = (max - visible.len()).max(SCAN_GROUPS);
            let page = groups.groups_page(cursor.as_deref(), chunk)?;
            let last_page = page.len() < chunk;
            cursor = page.last().cloned();
            visible.extend(page.into_iter().filter(|group| session.may_describe_group(group)));
            if last_page {
                break;
            }
        }
        visible.truncate(max);
        Ok(visible)
    }

    /// Remove every committed offset of `group`, audited with the session's
    /// actor; answers what was removed (empty: the group had nothing).
    pub fn delete_group(
        &self,
        session: &Session,
        group: &str,
        force: bool,
    ) -> ServiceResult<Vec<((String, u32), millrace::offset_table::CommittedOffset)>> {
        self.delete_group_offsets(session, group, None, force)
    }

    /// [`Service::delete_group`] limited to `topic` when given.
    pub fn delete_group_offsets(
        &self,
        session: &Session,
        group: &str,
        topic: Option<&str>,
        force: bool,
    ) -> ServiceResult<Vec<((String, u32), millrace::offset_table::CommittedOffset)>> {
        self.refuse_live_kafka_group(group, force)?;
        Ok(self
            .store
            .consumer_groups()
            .delete_group_offsets(group, topic, &session.actor(), force)?)
    }

    /// The group's lag on every partition of `topic`, or on every partition
    /// it committed to; `PermissionDenied` as [`Service::group_offsets`].
    pub fn lag(
        &self,
        session: &Session,
        group: &str,
        topic: Option<&str>,
    ) -> ServiceResult<Vec<millrace::PartitionLag>> {
        session.check_describe_group(group)?;
        Ok(match topic {
            Some(topic) => self.store.consumer_groups().consumer_lag_for_topic(group, topic),
            None => self.store.consumer_groups().consumer_lag(group),
        }?)
    }
}
