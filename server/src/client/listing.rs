//! Paged listings on the client: one page at a time (`*_page`), a walker
//! over every page ([`NamePages`], [`OffsetPages`], [`AuditPages`],
//! [`LagPages`]), and group deletion.
//! The cursor rule is in `design/protocol.md`, "Paging".

use crate::client::{Client, ClientError};
use crate::messages::{
    CommittedOffset, DeleteGroup, DeleteGroupOffsets, DescribeGroupMembers, DescribeGroups, GroupMembers, GroupState,
    LagPage, LagPaged, NamesPage, NamesPaged, OffsetsPage, OffsetsPaged, PartitionKey, PartitionLag, Request,
    ResetAuditEntry, ResetAuditPage, ResetAuditPaged, Response,
};

fn unexpected(response: Response) -> ClientError {
    ClientError::Protocol(format!("unexpected response {response:?}"))
}

/// Which names a [`NamePages`] lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameListing {
    /// User topics (`ListTopicsPage`).
    Topics,
    /// Consumer groups, internal ones included (`ListGroupsPage`).
    Groups,
}

/// Walks a name listing page by page: each name once, in byte order. Names
/// added or removed during the walk may or may not be listed; every other
/// name is listed exactly once.
#[derive(Debug)]
pub struct NamePages {
    client: Client,
    listing: NameListing,
    after: Option<String>,
    limit: u32,
    done: bool,
}

impl NamePages {
    /// Ask for pages of at most `limit` names (0 = the server's default).
    pub fn with_limit(mut self, limit: u32) -> Self {
        self.limit = limit;
        self
    }

    /// The next page; `None` once the listing is complete.
    pub async fn next_page(&mut self) -> Result<Option<Vec<String>>, ClientError> {
        if self.done {
            return Ok(None);
        }
        let after = self.after.as_deref();
        let page = match self.listing {
            NameListing::Topics => self.client.list_topics_page(after, self.limit).await?,
            NameListing::Groups => self.client.list_groups_page(after, self.limit).await?,
        };
        // The cursor must move forward, else a faulty server would loop us.
        advance(&mut self.after, &mut self.done, page.next_after, "listing")?;
        Ok(Some(page.names))
    }

    /// Every remaining name.
    pub async fn all(mut self) -> Result<Vec<String>, ClientError> {
        let mut names = Vec::new();
        while let Some(page) = self.next_page().await? {
            names.extend(page);
        }
        Ok(names)
    }
}

/// Walks a group's committed offsets page by page, in (topic, partition) order.
#[derive(Debug)]
pub struct OffsetPages {
    client: Client,
    group: String,
    topic: Option<String>,
    after: Option<PartitionKey>,
    limit: u32,
    done: bool,
}

impl OffsetPages {
    /// Ask for pages of at most `limit` offsets (0 = the server's default).
    pub fn with_limit(mut self, limit: u32) -> Self {
        self.limit = limit;
        self
    }

    /// The next page; `None` once the listing is complete.
    pub async fn next_page(&mut self) -> Result<Option<Vec<CommittedOffset>>, ClientError> {
        if self.done {
            return Ok(None);
        }
        let page = self
            .client
            .committed_offsets_page(&self.group, self.topic.as_deref(), self.after.clone(), self.limit)
            .await?;
        advance(&mut self.after, &mut self.done, page.next_after, "offsets")?;
        Ok(Some(page.offsets))
    }

    /// Every remaining committed offset.
    pub async fn all(mut self) -> Result<Vec<CommittedOffset>, ClientError> {
        let mut offsets = Vec::new();
        while let Some(page) = self.next_page().await? {
            offsets.extend(page);
        }
        Ok(offsets)
    }
}

impl Client {
    /// One page of user topics after `after` (0 = the server's default limit).
    pub async fn list_topics_page(&self, after: Option<&str>, limit: u32) -> Result<NamesPaged, ClientError> {
        let page = NamesPage {
            after: after.map(str::to_string),
            limit,
        };
        match self.call(Request::ListTopicsPage(page)).await? {
            Response::NamesPage(page) => Ok(page),
            other => Err(unexpected(other)),
        }
    }

    /// One page of consumer groups after `after` (internal `__` groups included).
    pub async fn list_groups_page(&self, after: Option<&str>, limit: u32) -> Result<NamesPaged, ClientError> {
        let page = NamesPage {
            after: after.map(str::to_string),
            limit,
        };
        match self.call(Request::ListGroupsPage(page)).await? {
            Response::NamesPage(page) => Ok(page),
            other => Err(unexpected(other)),
        }
    }

    /// One page of a group's committed offsets after `after`.
    pub async fn committed_offsets_page(
        &self,
        group: &str,
        topic: Option<&str>,
        after: Option<PartitionKey>,
        limit: u32,
    ) -> Result<OffsetsPaged, ClientError> {
        let page = OffsetsPage {
            group: group.to_string(),
            topic: topic.map(str::to_string),
            after,
            limit,
        };
        match self.call(Request::FetchOffsetsPage(page)).await? {
            Response::OffsetsPage(page) => Ok(page),
            other => Err(unexpected(other)),
        }
    }

    /// Every user topic, page by page.
    pub fn topic_pages(&self) -> NamePages {
        self.name_pages(NameListing::Topics)
    }

    /// Every consumer group (internal `__` groups included), page by page.
    pub fn group_pages(&self) -> NamePages {
        self.name_pages(NameListing::Groups)
    }

    fn name_pages(&self, listing: NameListing) -> NamePages {
        NamePages {
            client: self.clone(),
            listing,
            after: None,
            limit: 0,
            done: false,
        }
    }

    /// A group's committed offsets (of `topic`, or all), page by page.
    pub fn committed_offset_pages(&self, group: &str, topic: Option<&str>) -> OffsetPages {
        OffsetPages {
            client: self.clone(),
            group: group.to_string(),
            topic: topic.map(str::to_string),
            after: None,
            limit: 0,
            done: false,
        }
    }

    /// Delete a consumer group (needs an admin token): every committed
    /// offset it has, audited with this connection's token as the actor.
    /// Returns what was removed (empty: the group had nothing committed).
    /// `GroupActive` while it committed or polled in the last 30 s unless
    /// `force`; `InternalName` for the store's own `__*` groups.
    pub async fn delete_group(&self, group: &str, force: bool) -> Result<Vec<CommittedOffset>, ClientError> {
        let request = Request::DeleteGroup(DeleteGroup {
            group: group.to_string(),
            force,
        });
        match self.call(request).await? {
            Response::Offsets(removed) => Ok(removed),
            other => Err(unexpected(other)),
        }
    }

    /// Delete a consumer group's committed offsets on `topic` only (needs an
    /// admin token), audited like [`Client::delete_group`]; its offsets on
    /// other topics stay. A server older than this request answers
    /// `UnknownOpcode`.
    pub async fn delete_group_offsets(
        &self,
        group: &str,
        topic: &str,
        force: bool,
    ) -> Result<Vec<CommittedOffset>, ClientError> {
        let request = Request::DeleteGroupOffsets(DeleteGroupOffsets {
            group: group.to_string(),
            topic: topic.to_string(),
            force,
        });
        match self.call(request).await? {
            Response::Offsets(removed) => Ok(removed),
            other => Err(unexpected(other)),
        }
    }

    /// Whether each group is in use now (`DescribeGroups`, at most 1000
    /// groups). A server older than this request answers `UnknownOpcode`
    /// and closes the connection: call it last.
    pub async fn describe_groups(&self, groups: &[String]) -> Result<Vec<GroupState>, ClientError> {
        let request = Request::DescribeGroups(DescribeGroups {
            groups: groups.to_vec(),
        });
        match self.call(request).await? {
            Response::GroupStates(states) => Ok(states),
            other => Err(unexpected(other)),
        }
    }

    /// The live Kafka members of each group (`DescribeGroupMembers`, at
    /// most 1000 groups), in `groups`' order: asks again for the groups an
    /// answer left out (it is a prefix of the request, cut to fit a frame).
    /// A server older than this request answers `UnknownOpcode` and closes
    /// the connection: call it last.
    pub async fn describe_group_members(&self, groups: &[String]) -> Result<Vec<GroupMembers>, ClientError> {
        let mut answer = Vec::with_capacity(groups.len());
        while answer.len() < groups.len() {
            let rest = groups.get(answer.len()..).unwrap_or_default();
            let request = Request::DescribeGroupMembers(DescribeGroupMembers { groups: rest.to_vec() });
            match self.call(request).await? {
                // A server answers at least the first group it is asked for.
                Response::GroupMembers(page) if !page.is_empty() && page.len() <= rest.len() => answer.extend(page),
                other => return Err(unexpected(other)),
            }
        }
        Ok(answer)
    }
}

/// Walks the reset audit page by page, oldest first.
#[derive(Debug)]
pub struct AuditPages {
    client: Client,
    group: Option<String>,
    after: Option<u64>,
    limit: u32,
    done: bool,
}

impl AuditPages {
    /// Ask for pages of at most `limit` entries (0 = the server's default).
    pub fn with_limit(mut self, limit: u32) -> Self {
        self.limit = limit;
        self
    }

    /// The next page; `None` once the listing is complete.
    pub async fn next_page(&mut self) -> Result<Option<Vec<ResetAuditEntry>>, ClientError> {
        if self.done {
            return Ok(None);
        }
        let page = self
            .client
            .reset_audit_page(self.group.as_deref(), self.after, self.limit)
            .await?;
        advance(&mut self.after, &mut self.done, page.next_after, "audit")?;
        Ok(Some(page.entries))
    }

    /// Every remaining entry.
    pub async fn all(mut self) -> Result<Vec<ResetAuditEntry>, ClientError> {
        let mut entries = Vec::new();
        while let Some(page) = self.next_page().await? {
            entries.extend(page);
        }
        Ok(entries)
    }
}

/// Walks a group's lag page by page, in (topic, partition) order.
#[derive(Debug)]
pub struct LagPages {
    client: Client,
    group: String,
    topic: Option<String>,
    after: Option<PartitionKey>,
    limit: u32,
    done: bool,
}

impl LagPages {
    /// Ask for pages of at most `limit` partitions (0 = the server's default).
    pub fn with_limit(mut self, limit: u32) -> Self {
        self.limit = limit;
        self
    }

    /// The next page; `None` once the listing is complete.
    pub async fn next_page(&mut self) -> Result<Option<Vec<PartitionLag>>, ClientError> {
        if self.done {
            return Ok(None);
        }
        let page = self
            .client
            .lag_page(&self.group, self.topic.as_deref(), self.after.clone(), self.limit)
            .await?;
        advance(&mut self.after, &mut self.done, page.next_after, "lag")?;
        Ok(Some(page.lags))
    }

    /// Every remaining partition's lag.
    pub async fn all(mut self) -> Result<Vec<PartitionLag>, ClientError> {
        let mut lags = Vec::new();
        while let Some(page) = self.next_page().await? {
            lags.extend(page);
        }
        Ok(lags)
    }
}

impl Client {
    /// One page of the reset audit (needs an admin token): entries whose
    /// audit offset is above `after`, oldest first.
    pub async fn reset_audit_page(
        &self,
        group: Option<&str>,
        after: Option<u64>,
        limit: u32,
    ) -> Result<ResetAuditPaged, ClientError> {
        let page = ResetAuditPage {
            group: group.map(str::to_string),
            after,
            limit,
        };
        match self.call(Request::ResetAuditPage(page)).await? {
            Response::ResetAuditPage(page) => Ok(page),
            other => Err(unexpected(other)),
        }
    }

    /// One page of a group's lag after `after`.
    pub async fn lag_page(
        &self,
        group: &str,
        topic: Option<&str>,
        after: Option<PartitionKey>,
        limit: u32,
    ) -> Result<LagPaged, ClientError> {
        let page = LagPage {
            group: group.to_string(),
            topic: topic.map(str::to_string),
            after,
            limit,
        };
        match self.call(Request::LagPage(page)).await? {
            Response::LagPage(page) => Ok(page),
            other => Err(unexpected(other)),
        }
    }

    /// The reset audit (of `group`, or every group), page by page.
    pub fn reset_audit_pages(&self, group: Option<&str>) -> AuditPages {
        AuditPages {
            client: self.clone(),
            group: group.map(str::to_string),
            after: None,
            limit: 0,
            done: false,
        }
    }

    /// A group's lag (on `topic`, or every partition it committed to), page by page.
    pub fn lag_pages(&self, group: &str, topic: Option<&str>) -> LagPages {
        LagPages {
            client: self.clone(),
            group: group.to_string(),
            topic: topic.map(str::to_string),
            after: None,
            limit: 0,
            done: false,
        }
    }
}

/// Move a page walker's cursor to the server's `next` (none: the listing is
/// complete). A cursor that does not move forward is a protocol error: a
/// walk is strictly increasing, so a server going backwards would loop.
fn advance<C: PartialOrd + std::fmt::Debug>(
    after: &mut Option<C>,
    done: &mut bool,
    next: Option<C>,
    what: &str,
) -> Result<(), ClientError> {
    if let (Some(next), Some(previous)) = (&next, &*after) {
        if next <= previous {
            return Err(ClientError::Protocol(format!(
                "{what} cursor went backwards: {next:?} after {previous:?}"
            )));
        }
    }
    *done = next.is_none();
    *after = next;
    Ok(())
}
