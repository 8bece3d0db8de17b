//! The per-token group limit: `groups_max` in a `[[tokens]]` entry bounds the
//! consumer groups that token's `groups` patterns reach (design/protocol.md,
//! "Security", "Groups"). A commit that would add a group is refused
//! ([`ServiceError::TokenGroupLimit`]; the native front answers GroupLimit,
//! details `[groups_max]`) when that many non-internal groups
//! matching the patterns exist already; commits to existing groups are never
//! refused by it, and the store's own `groups_max` applies as well.
//!
//! Attribution: a group counts against every limited token whose patterns
//! match it, whoever committed to it first (the store records no creator).
//! So nothing is kept or rebuilt: the count is taken from the store's groups
//! when a commit would add one, and holds across restarts as it is. Tokens
//! with distinct prefixes each get their own budget.
//!
//! Exactness: the count and the commit that adds a group happen under one
//! server-wide lock ([`GroupBudget`]), taken only by limited tokens' commits
//! to new groups. A transaction's commits are counted when staged, together
//! with the new groups already staged in that transaction, and again, with
//! every group it adds, under the lock when it commits.

use std::collections::BTreeSet;
use std::sync::{Mutex, MutexGuard, PoisonError};

use millrace::Store;

use crate::auth::Principal;
use crate::server::service::{ServiceError, ServiceResult};

/// Groups read per page while counting a token's groups.
const COUNT_PAGE_GROUPS: usize = 1000;

/// Serializes limited tokens' commits that add groups (see the module doc).
#[derive(Debug, Default)]
pub struct GroupBudget {
    creations: Mutex<()>,
}

/// Held from the count until the commit it allowed is applied.
#[derive(Debug)]
pub struct Admitted<'a> {
    _guard: Option<MutexGuard<'a, ()>>,
}

impl GroupBudget {
    /// Before a commit, applied now, to `groups` by `principal`: refuse
    /// (GroupLimit) when the groups it adds would take the principal's reach
    /// past its `groups_max`. Keep the answer until the commit is applied.
    pub fn admit<'a, 'g>(
        &'a self,
        store: &Store,
        principal: &Principal,
        groups: impl IntoIterator<Item = &'g str>,
    ) -> ServiceResult<Admitted<'a>> {
        let Some(groups_max) = limit(principal) else {
            return Ok(Admitted { _guard: None });
        };
        let new = new_groups(store, groups)?;
        let Some(first) = new.first() else {
            return Ok(Admitted { _guard: None });
        };
        let guard = self.creations.lock().unwrap_or_else(PoisonError::into_inner);
        check(store, principal, groups_max, first, new.len())?;
        Ok(Admitted { _guard: Some(guard) })
    }

    /// Before staging a commit to `group` in a transaction whose staged new
    /// groups are `staged`: refuse (GroupLimit) when adding `group` too would
    /// take the principal past its `groups_max`; else note it in `staged`.
    pub fn stage(
        &self,
        store: &Store,
        principal: &Principal,
        group: &str,
        staged: &mut BTreeSet<String>,
    ) -> ServiceResult<()> {
        let Some(groups_max) = limit(principal) else {
            return Ok(());
        };
        if staged.contains(group) || new_groups(store, [group])?.is_empty() {
            return Ok(());
        }
        let _guard = self.creations.lock().unwrap_or_else(PoisonError::into_inner);
        check(store, principal, groups_max, group, staged.len() + 1)?;
        staged.insert(group.to_string());
        Ok(())
    }
}

/// The principal's limit; `None` when it has none (admin tokens never do:
/// the configuration refuses it).
fn limit(principal: &Principal) -> Option<u64> {
    principal
        .groups_max
        .filter(|_| !principal.permissions.is_admin())
        .map(u64::from)
}

/// Those of `groups` that are not internal and have no committed offset.
fn new_groups<'g>(store: &Store, groups: impl IntoIterator<Item = &'g str>) -> ServiceResult<Vec<&'g str>> {
    let mut new = Vec::new();
    for group in groups {
        if millrace::names::is_internal(group) || new.contains(&group) {
            continue;
        }
        if store.group_offsets(group)?.is_empty() {
            new.push(group);
        }
    }
    Ok(new)
}

/// Refuse adding `adding` groups (`group` among them) when the groups the
/// principal's patterns reach plus those would exceed `groups_max`.
fn check(store: &Store, principal: &Principal, groups_max: u64, group: &str, adding: usize) -> ServiceResult<()> {
    let room = groups_max.saturating_sub(adding as u64);
    let reached = reach(store, principal, room.saturating_add(1))?;
    if reached <= room {
        return Ok(());
    }
    Err(ServiceError::TokenGroupLimit {
        token: principal.name.clone(),
        group: group.to_string(),
        groups_max,
    })
}

/// Existing non-internal groups the principal's patterns match, counted up
/// to `stop_at`.
fn reach(store: &Store, principal: &Principal, stop_at: u64) -> ServiceResult<u64> {
    let mut count = 0u64;
    let mut after: Option<String> = None;
    loop {
        let page = store.groups_page(after.as_deref(), COUNT_PAGE_GROUPS)?;
        count += page
            .iter()
            .filter(|g| !millrace::names::is_internal(g) && principal.may_use_group(g))
            .count() as u64;
        if count >= stop_at || page.len() < COUNT_PAGE_GROUPS {
            return Ok(count);
        }
        after = page.last().cloned();
    }
}
