//! Listings (topics, groups, a group's committed offsets, the reset audit,
//! a group's lag), paged or whole, and group deletion: the handlers of
//! `ListTopicsPage`, `ListGroupsPage`, `FetchOffsetsPage`, `ResetAuditPage`,
//! `LagPage`, `DeleteGroup`, and the size rule of the unpaged `ListTopics`,
//! `ListGroups`, `FetchOffsets`, `ResetAudit` and `Lag` ("Paging" in
//! `design/protocol.md`). The native front's side of them: what fits in a
//! response of this protocol (cursors, entry counts, encoded sizes); the
//! engine is reached through the [`Service`] only.

use crate::error_code::{ErrorCode, WireError};
use crate::messages::{
    CommittedOffset, DeleteGroup, DeleteGroupOffsets, DescribeGroupMembers, DescribeGroups, GroupMembers, GroupQuery,
    GroupState, KafkaMember, LagPage, LagPaged, NamesPage, NamesPaged, OffsetsPage, OffsetsPaged, PartitionKey,
    PartitionLag, ResetAudit, ResetAuditEntry, ResetAuditPage, ResetAuditPaged, Response,
};
use crate::server::convert;
use crate::server::service::{Service, Session};

/// Entries of a page when the request says 0.
pub const PAGE_ENTRIES_DEFAULT: u32 = 1000;
/// The most entries a page request may ask for; above is `InvalidInput`.
pub const PAGE_ENTRIES_MAX: u32 = 1000;
/// Headroom kept in a frame for a listing's fixed fields (frame header,
/// status, count, the next cursor).
pub const LISTING_RESPONSE_OVERHEAD_BYTES: u32 = 1024;

const _: () = assert!(PAGE_ENTRIES_DEFAULT <= PAGE_ENTRIES_MAX);

/// The entries a page request may hold.
fn page_entries(limit: u32) -> Result<usize, WireError> {
    match limit {
        0 => Ok(PAGE_ENTRIES_DEFAULT as usize),
        1..=PAGE_ENTRIES_MAX => Ok(limit as usize),
        _ => Err(WireError::new(
            ErrorCode::InvalidInput,
            format!("page limit {limit} is above the server's maximum of {PAGE_ENTRIES_MAX} entries (0 = {PAGE_ENTRIES_DEFAULT})"),
        )),
    }
}

/// Bytes a listing's entries may take in one response.
fn entries_room(frame_bytes_max: u32) -> usize {
    frame_bytes_max.saturating_sub(LISTING_RESPONSE_OVERHEAD_BYTES) as usize
}

fn name_bytes(name: &str) -> usize {
    4 + name.len()
}

fn offset_bytes(offset: &CommittedOffset) -> usize {
    4 + offset.topic.len() + 4 + 8 + 4 + offset.metadata.len() + 8
}

/// Take entries from `candidates` (already in order, after the cursor) while
/// they are at most `limit` and fit in `room` bytes; the first is always
/// taken. Returns them and whether any entry was left.
fn take_page<T>(
    candidates: impl IntoIterator<Item = T>,
    limit: usize,
    room: usize,
    bytes: impl Fn(&T) -> usize,
) -> (Vec<T>, bool) {
    let mut page = Vec::new();
    let mut used = 0usize;
    for entry in candidates {
        let size = bytes(&entry);
        if page.len() >= limit || (!page.is_empty() && used + size > room) {
            return (page, true);
        }
        used += size;
        page.push(entry);
    }
    (page, false)
}

/// `ListTopicsPage`: user topics after the cursor, in byte order.
pub fn list_topics_page(service: &Service, page: &NamesPage) -> Result<Response, WireError> {
    let limit = page_entries(page.limit)?;
    let candidates = service.topics_after(page.after.as_deref());
    Ok(Response::NamesPage(names_page(
        candidates,
        limit,
        service.frame_bytes_max,
    )))
}

/// `ListGroupsPage`: groups after the cursor that the session may describe,
/// in byte order (internal ones included, like `ListGroups`).
pub fn list_groups_page(service: &Service, session: &Session, page: &NamesPage) -> Result<Response, WireError> {
    let limit = page_entries(page.limit)?;
    // One more than the page holds: tells whether another page follows.
    let groups = service.groups_page(session, page.after.as_deref(), limit + 1)?;
    Ok(Response::NamesPage(names_page(groups, limit, service.frame_bytes_max)))
}

fn names_page(candidates: impl IntoIterator<Item = String>, limit: usize, frame_bytes_max: u32) -> NamesPaged {
    let (names, more) = take_page(candidates, limit, entries_room(frame_bytes_max), |n| name_bytes(n));
    let next_after = if more { names.last().cloned() } else { None };
    NamesPaged { names, next_after }
}

/// `FetchOffsetsPage`: the group's committed offsets after the cursor, in
/// (topic, partition) order.
pub fn fetch_offsets_page(service: &Service, session: &Session, page: &OffsetsPage) -> Result<Response, WireError> {
    let limit = page_entries(page.limit)?;
    let candidates = committed_offsets(service, session, &page.group, page.topic.as_deref())?
        .into_iter()
        .filter(|o| {
            page.after
                .as_ref()
                .is_none_or(|a| (o.topic.as_str(), o.partition) > (a.topic.as_str(), a.partition))
        });
    let (offsets, more) = take_page(candidates, limit, entries_room(service.frame_bytes_max), offset_bytes);
    let next_after = match offsets.last() {
        Some(last) if more => Some(PartitionKey {
            topic: last.topic.clone(),
            partition: last.partition,
        }),
        _ => None,
    };
    Ok(Response::OffsetsPage(OffsetsPaged { offsets, next_after }))
}

/// A group's committed offsets, in (topic, partition) order, of one topic
/// or all; `PermissionDenied` for a group the session may not describe.
fn committed_offsets(
    service: &Service,
    session: &Session,
    group: &str,
    topic: Option<&str>,
) -> Result<Vec<CommittedOffset>, WireError> {
    Ok(convert::committed_offsets(
        service.group_offsets(session, group, topic)?,
    ))
}

/// Refuse an unpaged listing that does not fit in one response.
fn whole<T>(
    entries: Vec<T>,
    bytes: impl Fn(&T) -> usize,
    frame_bytes_max: u32,
    what: &str,
    paged: &str,
) -> Result<Vec<T>, WireError> {
    let total: usize = entries.iter().map(bytes).sum();
    if total > entries_room(frame_bytes_max) {
        return Err(WireError::new(
            ErrorCode::InvalidInput,
            format!(
                "{} {what} take {total} bytes, more than one response holds under frame_bytes_max = \
                 {frame_bytes_max}: list them with {paged}",
                entries.len()
            ),
        ));
    }
    Ok(entries)
}

/// `ListTopics` (unpaged): every user topic, sorted, if they fit in one response.
pub fn list_topics(service: &Service) -> Result<Response, WireError> {
    let topics = whole(
        service.list_topics(),
        |t| name_bytes(t),
        service.frame_bytes_max,
        "topics",
        "ListTopicsPage",
    )?;
    Ok(Response::Topics(topics))
}

/// `ListGroups` (unpaged): every group the session may describe, sorted, if
/// they fit in one response.
pub fn list_groups(service: &Service, session: &Session) -> Result<Response, WireError> {
    let groups = whole(
        service.groups(session)?,
        |g| name_bytes(g),
        service.frame_bytes_max,
        "groups",
        "ListGroupsPage",
    )?;
    Ok(Response::Groups(groups))
}

/// `FetchOffsets` (unpaged): a group's committed offsets, if they fit in one response.
pub fn fetch_offsets(service: &Service, session: &Session, query: &GroupQuery) -> Result<Response, WireError> {
    let offsets = committed_offsets(service, session, &query.group, query.topic.as_deref())?;
    let offsets = whole(
        offsets,
        offset_bytes,
        service.frame_bytes_max,
        "committed offsets",
        "FetchOffsetsPage",
    )?;
    Ok(Response::Offsets(offsets))
}

/// `DeleteGroup`: remove every committed offset of the group, audited with
/// the session's actor; answers what was removed (empty: the group had nothing).
pub fn delete_group(service: &Service, session: &Session, request: &DeleteGroup) -> Result<Response, WireError> {
    let removed = service.delete_group(session, &request.group, request.force)?;
    Ok(Response::Offsets(convert::committed_offsets(removed)))
}

/// `DeleteGroupOffsets`: remove the group's committed offsets on one topic,
/// audited with the session's actor; answers what was removed.
pub fn delete_group_offsets(
    service: &Service,
    session: &Session,
    request: &DeleteGroupOffsets,
) -> Result<Response, WireError> {
    let removed = service.delete_group_offsets(session, &request.group, Some(&request.topic), request.force)?;
    Ok(Response::Offsets(convert::committed_offsets(removed)))
}

fn audit_bytes(entry: &ResetAuditEntry) -> usize {
    8 + 4 + entry.actor.len() + 4 + entry.group.len() + 4 + entry.target.len() + 4 + entry.topic.len() + 4 + 1 + 8 + 8
}

fn lag_bytes(lag: &PartitionLag) -> usize {
    4 + lag.topic.len() + 4 + 1 + 8 + 8 + 8 + 8
}

/// `ResetAuditPage`: audit entries after the audit offset cursor, oldest first.
pub fn reset_audit_page(service: &Service, page: &ResetAuditPage) -> Result<Response, WireError> {
    let limit = page_entries(page.limit)?;
    // One more than the page holds: tells whether another page follows.
    let candidates = service.reset_audit_page(page.group.as_deref(), page.after, limit + 1)?;
    let (taken, more) = take_page(candidates, limit, entries_room(service.frame_bytes_max), |(_, e)| {
        audit_bytes(e)
    });
    let next_after = match taken.last() {
        Some((offset, _)) if more => Some(*offset),
        _ => None,
    };
    let entries = taken.into_iter().map(|(_, entry)| entry).collect();
    Ok(Response::ResetAuditPage(ResetAuditPaged { entries, next_after }))
}

/// `ConfigHistoryPage`: recorded topic config changes after the log offset
/// cursor, oldest first.
pub fn config_history_page(
    service: &Service,
    page: &crate::messages::ConfigHistoryPage,
) -> Result<Response, WireError> {
    let limit = page_entries(page.limit)?;
    // One more than the page holds: tells whether another page follows.
    let candidates: Vec<(u64, crate::messages::ConfigHistoryEntry)> = service
        .config_history_page(page.topic.as_deref(), page.after, limit + 1)?
        .iter()
        .map(|(offset, change)| (*offset, crate::messages::ConfigHistoryEntry::of(change)))
        .collect();
    let (taken, more) = take_page(candidates, limit, entries_room(service.frame_bytes_max), |(_, e)| {
        e.encoded_bytes()
    });
    let next_after = match taken.last() {
        Some((offset, _)) if more => Some(*offset),
        _ => None,
    };
    let entries = taken.into_iter().map(|(_, entry)| entry).collect();
    Ok(Response::ConfigHistoryPage(crate::messages::ConfigHistoryPaged {
        entries,
        next_after,
    }))
}

/// `ResetAudit` (unpaged): every audit entry, if they fit in one response.
pub fn reset_audit(service: &Service, audit: &ResetAudit) -> Result<Response, WireError> {
    let entries = service.reset_audit(audit.group.as_deref())?;
    let entries = whole(
        entries,
        audit_bytes,
        service.frame_bytes_max,
        "reset audit entries",
        "ResetAuditPage",
    )?;
    Ok(Response::ResetAudit(entries))
}

/// A group's lag, in (topic, partition) order, on one topic or on every
/// partition it committed to; `PermissionDenied` for a group the session
/// may not describe.
fn lags(
    service: &Service,
    session: &Session,
    group: &str,
    topic: Option<&str>,
) -> Result<Vec<PartitionLag>, WireError> {
    let mut lags = convert::lags(service.lag(session, group, topic)?);
    lags.sort_by(|a, b| (a.topic.as_str(), a.partition).cmp(&(b.topic.as_str(), b.partition)));
    Ok(lags)
}

/// `LagPage`: the group's lag after the cursor, in (topic, partition) order.
pub fn lag_page(service: &Service, session: &Session, page: &LagPage) -> Result<Response, WireError> {
    let limit = page_entries(page.limit)?;
    let candidates = lags(service, session, &page.group, page.topic.as_deref())?
        .into_iter()
        .filter(|l| {
            page.after
                .as_ref()
                .is_none_or(|a| (l.topic.as_str(), l.partition) > (a.topic.as_str(), a.partition))
        });
    let (lags, more) = take_page(candidates, limit, entries_room(service.frame_bytes_max), lag_bytes);
    let next_after = match lags.last() {
        Some(last) if more => Some(PartitionKey {
            topic: last.topic.clone(),
            partition: last.partition,
        }),
        _ => None,
    };
    Ok(Response::LagPage(LagPaged { lags, next_after }))
}

/// `Lag` (unpaged): the group's lag, if it fits in one response.
pub fn lag(service: &Service, session: &Session, query: &GroupQuery) -> Result<Response, WireError> {
    let lags = lags(service, session, &query.group, query.topic.as_deref())?;
    let lags = whole(lags, lag_bytes, service.frame_bytes_max, "partitions' lag", "LagPage")?;
    Ok(Response::Lag(lags))
}

/// Most groups one `DescribeGroups` may name.
pub const DESCRIBE_GROUPS_MAX: usize = 1000;

/// `PermissionDenied` naming the first group the session may not describe,
/// with its index in the request as the details (a client drops it and asks
/// again for the rest).
fn refuse_hidden_group(session: &Session, groups: &[String]) -> Result<(), WireError> {
    match session.first_group_hidden(groups) {
        Some((index, refusal)) => {
            Err(WireError::from(refusal).with_details(vec![u64::try_from(index).unwrap_or(u64::MAX)]))
        }
        None => Ok(()),
    }
}

/// `DescribeGroups`: whether each group is in use (live Kafka members, or
/// a commit or poll within the engine's activity window), in the request's
/// order. `PermissionDenied` (details `[index]`) when the token may not
/// describe one of them (`Session::may_describe_group`).
pub fn describe_groups(service: &Service, session: &Session, request: &DescribeGroups) -> Result<Response, WireError> {
    if request.groups.len() > DESCRIBE_GROUPS_MAX {
        return Err(convert::invalid(format!(
            "DescribeGroups names {} groups; at most {DESCRIBE_GROUPS_MAX}",
            request.groups.len()
        )));
    }
    refuse_hidden_group(session, &request.groups)?;
    let states = request
        .groups
        .iter()
        .map(|group| {
            let (active, kafka_members, idle) = service.group_state(group);
            GroupState {
                group: group.clone(),
                active,
                kafka_members,
                idle_ms: idle.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            }
        })
        .collect();
    Ok(Response::GroupStates(states))
}

/// Bytes a member takes in a `DescribeGroupMembers` answer.
fn member_bytes(member: &KafkaMember) -> usize {
    12 + member.member_id.len() + member.client_id.len() + member.client_host.len()
}

/// `DescribeGroupMembers`: the live Kafka members of each group, in the
/// request's order. The answer is a prefix of the requested groups: it stops
/// before the group that would take it past `frame_bytes_max - 1 KiB` (the
/// client asks again for the rest); the first group is always answered, its
/// members cut to what fits (`members_total` says how many it has). Refused
/// as `DescribeGroups` is for a group the token may not describe.
pub fn describe_group_members(
    service: &Service,
    session: &Session,
    request: &DescribeGroupMembers,
) -> Result<Response, WireError> {
    if request.groups.len() > DESCRIBE_GROUPS_MAX {
        return Err(convert::invalid(format!(
            "DescribeGroupMembers names {} groups; at most {DESCRIBE_GROUPS_MAX}",
            request.groups.len()
        )));
    }
    refuse_hidden_group(session, &request.groups)?;
    let room = entries_room(service.frame_bytes_max);
    let mut used = 0usize;
    let mut answer = Vec::new();
    for group in &request.groups {
        let members: Vec<KafkaMember> = service
            .kafka_members(group)
            .into_iter()
            .map(|m| KafkaMember {
                member_id: m.member_id,
                client_id: m.client_id,
                client_host: m.client_host,
            })
            .collect();
        let members_total = u32::try_from(members.len()).unwrap_or(u32::MAX);
        let size = 12 + group.len() + members.iter().map(member_bytes).sum::<usize>();
        if !answer.is_empty() && used + size > room {
            break;
        }
        let members = if size > room {
            // The first group alone does not fit: as many members as do.
            let mut left = room.saturating_sub(12 + group.len());
            members
                .into_iter()
                .take_while(|m| {
                    let bytes = member_bytes(m);
                    let fits = bytes <= left;
                    left = left.saturating_sub(bytes);
                    fits
                })
                .collect()
        } else {
            members
        };
        used += size;
        answer.push(GroupMembers {
            group: group.clone(),
            members_total,
            members,
        });
    }
    Ok(Response::GroupMembers(answer))
}
