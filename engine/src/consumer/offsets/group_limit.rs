//! `groups_max` (issue 27): the check every commit that may add a group
//! passes, decided under the offset table's lock, and the reservation that
//! holds a committing transaction's new groups from before its commit point
//! until they are applied.

use super::{count_groups, has_group, CommittedOffset, Key, OffsetTable};
use crate::consumer::groups::ConsumerGroups;
use crate::error::{Error, Result};
use std::collections::{BTreeMap, BTreeSet};

/// Room for a committing transaction's new groups, held from before its
/// commit point until it is applied (or failed): every other commit counts
/// these groups as present. Dropping it gives the room back (the applied
/// groups are in the table by then).
#[must_use = "the room is given back when this is dropped"]
pub(crate) struct GroupReservation<'a> {
    table: &'a OffsetTable,
    groups: Vec<String>,
}

impl Drop for GroupReservation<'_> {
    fn drop(&mut self) {
        if self.groups.is_empty() {
            return;
        }
        let mut loaded = self.table.loaded.lock();
        for group in &self.groups {
            loaded.reserved.remove(group);
        }
    }
}

impl ConsumerGroups {
    /// [`ConsumerGroups::check_group_limit`] for a transaction's commits about to be
    /// staged: `groups` are every group the transaction commits to, the one
    /// being staged included, so that its new groups count together. Refused
    /// now rather than at the commit; checked again, with a reservation, at
    /// the commit ([`ConsumerGroups::reserve_new_groups`]).
    pub(crate) fn check_new_groups(&self, groups: &[&str]) -> Result<()> {
        self.with_table(|map, reserved| self.check_group_limit(map, reserved, groups).map(drop))
    }

    /// Before a transaction's commit point: refuse it (`GroupLimit`) if the
    /// groups it adds (those of `groups` not in the table yet), all together,
    /// would take the store past `groups_max`; else reserve them until the
    /// returned guard is dropped, after the transaction is applied. Decided
    /// under the table's lock, the lock that applies them, and counted by
    /// every other commit meanwhile: no commit, direct or another
    /// transaction's, takes the room in between.
    pub(crate) fn reserve_new_groups<'a>(
        &'a self,
        groups: impl Iterator<Item = &'a str>,
    ) -> Result<GroupReservation<'a>> {
        let groups: Vec<&str> = groups.collect();
        self.with_table(|map, reserved| {
            let new: Vec<String> = self
                .check_group_limit(map, reserved, &groups)?
                .into_iter()
                .map(str::to_string)
                .collect();
            reserved.extend(new.iter().cloned());
            Ok(GroupReservation {
                table: self.offset_table(),
                groups: new,
            })
        })
    }

    /// Refuse commits that would add groups past `groups_max` (decided
    /// under the table's lock): the groups of `groups` that are neither in
    /// the table nor reserved by a committing transaction are counted
    /// together, with the reserved ones. The store's own groups (`__*`)
    /// pass. Returns the groups of `groups` that are new.
    pub(super) fn check_group_limit<'g>(
        &self,
        map: &BTreeMap<Key, CommittedOffset>,
        reserved: &BTreeSet<String>,
        groups: &[&'g str],
    ) -> Result<Vec<&'g str>> {
        // In the caller's order: the first that does not fit is named.
        let mut new: Vec<&str> = Vec::new();
        for group in groups.iter().copied() {
            if !group.starts_with("__") && !has_group(map, group) && !reserved.contains(group) && !new.contains(&group)
            {
                new.push(group);
            }
        }
        if new.is_empty() {
            return Ok(new);
        }
        let groups_max = self.options().groups_max;
        // Reserved groups are new ones (a reservation holds only groups
        // absent from the table when it was taken) until they are applied.
        let pending = reserved.iter().filter(|g| !has_group(map, g)).count();
        let present = count_groups(map, groups_max).saturating_add(pending);
        let room = groups_max.saturating_sub(present);
        if let Some(group) = new.get(room) {
            return Err(Error::GroupLimit {
                group: (*group).to_string(),
                groups_max: groups_max as u64,
            });
        }
        Ok(new)
    }
}
