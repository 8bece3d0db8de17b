//! The per-connection state the service checks permissions against.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;

use millrace::Store;

use super::FetchScanners;
use super::{
    producer_denied, unknown_transaction, ServiceError, ServiceResult, ACTOR_BYTES_MAX, FETCH_BUFFER_KEEP_BYTES,
};
use crate::auth::{Principal, ADMIN_ONLY_TOPICS};

/// Per-connection state: who is connected and its open transactions. Dropping
/// it (the connection closed) aborts every open transaction.
#[derive(Debug)]
pub struct Session {
    pub peer: SocketAddr,
    pub client_name: String,
    /// Who authenticated (anonymous on a server without tokens).
    pub principal: Principal,
    pub(super) transactions: HashMap<u64, millrace::txn::Transaction>,
    /// Per open transaction, the groups it adds (for a token's `groups_max`,
    /// `crate::group_budget`).
    pub(super) staged_groups: HashMap<u64, BTreeSet<String>>,
    pub(super) next_transaction_id: u64,
    /// Reused by every fetch of the connection to encode records into (the
    /// front's buffer, kept here because it lives as long as the session).
    pub(crate) fetch_buffer: Vec<u8>,
    /// The connection's scanners, one per partition it fetches from: a
    /// fetch that continues where the last one stopped reads on inside the
    /// batch it stopped in, without verifying that batch again.
    pub(crate) fetch_scanners: FetchScanners,
}

impl Session {
    pub fn new(peer: SocketAddr) -> Self {
        Session {
            peer,
            client_name: String::new(),
            principal: Principal::anonymous(),
            transactions: HashMap::new(),
            staged_groups: HashMap::new(),
            next_transaction_id: 1,
            fetch_buffer: Vec::new(),
            fetch_scanners: FetchScanners::default(),
        }
    }

    /// Give back the records buffer of a fetch response once it was sent.
    pub fn recycle_fetch_buffer(&mut self, mut buffer: Vec<u8>) {
        if buffer.capacity() <= FETCH_BUFFER_KEEP_BYTES && buffer.capacity() > self.fetch_buffer.capacity() {
            buffer.clear();
            self.fetch_buffer = buffer;
        }
    }

    /// Recorded as the actor of offset resets: the token's name, or on a
    /// server without tokens the client's own name (control characters
    /// escaped), then `@` and the peer address.
    pub(crate) fn actor(&self) -> String {
        let who = match &self.principal.name {
            Some(name) => name.clone(),
            None => crate::text::escape(&self.client_name),
        };
        let mut actor = format!("{who}@{}", self.peer);
        while actor.len() > ACTOR_BYTES_MAX {
            actor.pop();
        }
        actor
    }

    /// Refuse a group the principal may not commit to.
    pub(super) fn check_group(&self, group: &str) -> ServiceResult<()> {
        // Internal groups are nobody's: the store refuses every client write
        // to them (`InternalName`), whatever the token.
        if self.principal.may_use_group(group) || millrace::names::is_internal(group) {
            return Ok(());
        }
        Err(ServiceError::PermissionDenied(format!(
            "the connection's token may not commit to group {}; list it (or a prefix*) in the token's `groups`",
            crate::text::escape_quoted(group)
        )))
    }

    /// Refuse a producer registered by another principal. Nothing about it
    /// (epoch, sequences) is revealed.
    pub(super) fn check_producer(&self, store: &Store, producer_id: u64) -> ServiceResult<()> {
        let Some(owner) = self.producer_owner() else {
            return Ok(());
        };
        if store.producer_usable_by(producer_id, owner)? {
            return Ok(());
        }
        Err(producer_denied())
    }

    /// The owner to check producers against: `None` (any producer) without
    /// authentication and for admin tokens (admin is a superset).
    pub(super) fn producer_owner(&self) -> Option<&str> {
        if self.principal.permissions.is_admin() {
            return None;
        }
        self.principal.owner()
    }

    /// Refuse a topic the principal may not read.
    pub(super) fn check_read(&self, topic: &str) -> ServiceResult<()> {
        if ADMIN_ONLY_TOPICS.contains(&topic) && !self.principal.permissions.is_admin() {
            return Err(ServiceError::PermissionDenied(format!(
                "only an admin token may read {topic}"
            )));
        }
        Ok(())
    }

    /// Count a commit to `group` staged in open transaction `transaction_id`
    /// against the token's `groups_max` (`crate::group_budget`).
    pub(super) fn stage_group(
        &mut self,
        service: &super::Service,
        transaction_id: u64,
        group: &str,
    ) -> ServiceResult<()> {
        if !self.transactions.contains_key(&transaction_id) {
            return Err(unknown_transaction(transaction_id));
        }
        let staged = self.staged_groups.entry(transaction_id).or_default();
        service
            .group_budget
            .stage(&service.store, &self.principal, group, staged)
    }

    pub(super) fn transaction(&mut self, transaction_id: u64) -> ServiceResult<&mut millrace::txn::Transaction> {
        self.transactions
            .get_mut(&transaction_id)
            .ok_or_else(|| unknown_transaction(transaction_id))
    }

    pub(super) fn take_transaction(&mut self, transaction_id: u64) -> ServiceResult<millrace::txn::Transaction> {
        self.transactions
            .remove(&transaction_id)
            .ok_or_else(|| unknown_transaction(transaction_id))
    }
}
