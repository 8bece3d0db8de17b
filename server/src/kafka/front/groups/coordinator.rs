// Over 600 lines: one state machine (the classic group protocol), whose transitions share one Group, one lock and one condition variable.
//! The classic group protocol's state machine (design/kafka.md, "Consumer
//! groups"): one [`Group`] per group id, in memory, under one lock, with one
//! condition variable the blocked JoinGroup and SyncGroup requests wait on.
//!
//! Empty → PreparingRebalance (a member joins, rejoins with new metadata,
//! leaves or is evicted) → CompletingRebalance (every member rejoined, or
//! the rebalance timeout removed those that did not: a new generation, a
//! leader, a protocol) → Stable (the leader's SyncGroup brought the
//! assignments) → PreparingRebalance again, or Empty when the last member
//! leaves. A group that is Empty with nothing pending is dropped (Kafka's
//! Dead); generations come from one coordinator-wide counter, so a dropped
//! and recreated group never hands out a generation a zombie still holds.
//!
//! There is no timer: every request on a group first evicts the members
//! whose session timed out and completes a rebalance whose deadline passed,
//! and the blocked requests do the same each time they wake
//! ([`WAIT_SLICE`]). After each change the group publishes until when its
//! members stay alive ([`LiveGroups`]), which is what native resets check.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::kafka::front::errors;
use crate::server::service::{LiveGroups, LiveMember};

/// Blocked requests wake at least this often (evictions, deadlines, shutdown).
const WAIT_SLICE: Duration = Duration::from_millis(100);
/// Session timeouts accepted (Kafka's broker defaults are 6 s to 30 min;
/// the lower bound is lower here so tests stay short).
pub(crate) const SESSION_TIMEOUT_MS: std::ops::RangeInclusive<i32> = 1000..=1_800_000;
/// Members (joined or holding an id from MEMBER_ID_REQUIRED) one group may have.
pub(crate) const MEMBERS_MAX: usize = 1000;
/// Groups the coordinator holds at once.
pub(crate) const GROUPS_MAX: usize = 100_000;

/// A group's state, as DescribeGroups and ListGroups name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
}

impl State {
    pub(crate) fn name(self) -> &'static str {
        match self {
            State::Empty => "Empty",
            State::PreparingRebalance => "PreparingRebalance",
            State::CompletingRebalance => "CompletingRebalance",
            State::Stable => "Stable",
        }
    }
}

#[derive(Debug)]
struct Member {
    client_id: String,
    client_host: String,
    session_timeout: Duration,
    rebalance_timeout: Duration,
    /// (protocol name, metadata), in the member's order of preference.
    protocols: Vec<(String, Vec<u8>)>,
    last_seen: Instant,
    /// Rejoined in the current rebalance.
    joined: bool,
    /// The assignment of the current generation (empty until the leader's sync).
    assignment: Vec<u8>,
    /// Join order: the first joiner leads.
    seq: u64,
}

#[derive(Debug)]
struct Group {
    state: State,
    generation: i32,
    protocol_type: String,
    protocol: Option<String>,
    leader: Option<String>,
    members: HashMap<String, Member>,
    /// Ids handed out with MEMBER_ID_REQUIRED, valid until the instant.
    pending: HashMap<String, Instant>,
    rebalance_deadline: Option<Instant>,
    /// Completed rebalances (a blocked JoinGroup waits for the next one).
    round: u64,
    /// The roster last published to [`LiveGroups`] (see [`Group::roster`]).
    published_roster: (usize, u64),
}

impl Group {
    fn new() -> Self {
        Group {
            state: State::Empty,
            generation: 0,
            protocol_type: String::new(),
            protocol: None,
            leader: None,
            members: HashMap::new(),
            pending: HashMap::new(),
            rebalance_deadline: None,
            round: 0,
            published_roster: (0, 0),
        }
    }

    /// Evicts the members whose session timed out and completes a
    /// rebalance that may complete; answers whether anything changed.
    fn tick(&mut self, now: Instant, generations: &AtomicI32) -> bool {
        self.pending.retain(|_, until| *until > now);
        let before = self.members.len();
        self.members
            .retain(|_, member| now.saturating_duration_since(member.last_seen) <= member.session_timeout);
        let mut changed = self.members.len() != before;
        if changed {
            self.members_changed(now, generations);
        }
        changed |= self.try_complete(now, generations);
        changed
    }

    /// After members left or were evicted: rebalance the others, or go Empty.
    fn members_changed(&mut self, now: Instant, generations: &AtomicI32) {
        if self.members.is_empty() {
            self.go_empty(generations);
        } else if self.state == State::PreparingRebalance {
            self.try_complete(now, generations);
        } else {
            self.prepare_rebalance(now);
        }
    }

    fn go_empty(&mut self, generations: &AtomicI32) {
        if self.state != State::Empty {
            self.generation = next_generation(generations);
            self.round += 1;
        }
        self.state = State::Empty;
        self.protocol = None;
        self.leader = None;
        self.rebalance_deadline = None;
    }

    fn prepare_rebalance(&mut self, now: Instant) {
        self.state = State::PreparingRebalance;
        for member in self.members.values_mut() {
            member.joined = false;
        }
        let timeout = self
            .members
            .values()
            .map(|m| m.rebalance_timeout)
            .max()
            .unwrap_or_default();
        self.rebalance_deadline = Some(now + timeout);
    }

    /// Completes the rebalance once every member rejoined, or at its
    /// deadline without those that did not.
    fn try_complete(&mut self, now: Instant, generations: &AtomicI32) -> bool {
        if self.state != State::PreparingRebalance {
            return false;
        }
        let all_joined = self.members.values().all(|m| m.joined);
        let expired = self.rebalance_deadline.is_some_and(|deadline| now >= deadline);
        if !all_joined && !expired {
            return false;
        }
        self.members.retain(|_, m| m.joined);
        if self.members.is_empty() {
            self.go_empty(generations);
            return true;
        }
        let leader = match &self.leader {
            Some(leader) if self.members.contains_key(leader) => leader.clone(),
            _ => self
                .members
                .iter()
                .min_by_key(|(_, m)| m.seq)
                .map(|(id, _)| id.clone())
                .unwrap_or_default(),
        };
        self.protocol = self.members.get(&leader).and_then(|leader_member| {
            leader_member
                .protocols
                .iter()
                .map(|(name, _)| name)
                .find(|name| self.members.values().all(|m| m.supports(name)))
                .cloned()
        });
        for member in self.members.values_mut() {
            member.assignment.clear();
        }
        self.leader = Some(leader);
        self.generation = next_generation(generations);
        self.state = State::CompletingRebalance;
        self.rebalance_deadline = None;
        self.round += 1;
        true
    }

    /// Whether `protocols` has a protocol every other member supports.
    fn compatible(&self, member_id: &str, protocols: &[(&str, &[u8])]) -> bool {
        protocols.iter().any(|(name, _)| {
            self.members
                .iter()
                .filter(|(id, _)| id.as_str() != member_id)
                .all(|(_, m)| m.supports(name))
        })
    }

    /// Which members the group has, in a word: their count and the sum of
    /// their join sequence numbers. Members only join with a number above
    /// every earlier one, so between two looks an equal count with other
    /// members has a larger sum: equal rosters mean the same members.
    fn roster(&self) -> (usize, u64) {
        let sum = self.members.values().fold(0u64, |sum, m| sum.wrapping_add(m.seq));
        (self.members.len(), sum)
    }

    /// The members as [`LiveGroups`] shows them, in join order.
    fn live_members(&self) -> Vec<LiveMember> {
        let mut members: Vec<(&String, &Member)> = self.members.iter().collect();
        members.sort_by_key(|(_, m)| m.seq);
        members
            .into_iter()
            .map(|(id, m)| LiveMember {
                member_id: id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
            })
            .collect()
    }

    /// The instant the last member expires without another request.
    fn live_until(&self) -> Option<Instant> {
        self.members.values().map(|m| m.last_seen + m.session_timeout).max()
    }

    /// JoinGroup's answer to `member_id` for the current generation.
    fn joined(&self, member_id: &str) -> Joined {
        let is_leader = self.leader.as_deref() == Some(member_id);
        let protocol = self.protocol.clone().unwrap_or_default();
        let mut members = Vec::new();
        if is_leader {
            let mut ordered: Vec<(&String, &Member)> = self.members.iter().collect();
            ordered.sort_by_key(|(_, m)| m.seq);
            members = ordered
                .into_iter()
                .map(|(id, m)| (id.clone(), m.metadata(&protocol).to_vec()))
                .collect();
        }
        Joined {
            generation: self.generation,
            protocol,
            leader: self.leader.clone().unwrap_or_default(),
            member_id: member_id.to_string(),
            members,
        }
    }
}

impl Member {
    fn supports(&self, protocol: &str) -> bool {
        self.protocols.iter().any(|(name, _)| name == protocol)
    }

    fn metadata(&self, protocol: &str) -> &[u8] {
        self.protocols
            .iter()
            .find(|(name, _)| name == protocol)
            .map_or(&[][..], |(_, metadata)| metadata.as_slice())
    }
}

fn next_generation(generations: &AtomicI32) -> i32 {
    // Wraps after 2^31 rebalances of this process; 0 is never handed out
    // again after the first (a fresh group's generation).
    generations.fetch_add(1, Ordering::Relaxed).max(1)
}

/// A JoinGroup request, as the coordinator needs it.
#[derive(Debug)]
pub(crate) struct Join<'a> {
    pub group: &'a str,
    pub member_id: &'a str,
    pub client_id: &'a str,
    pub client_host: &'a str,
    pub session_timeout: Duration,
    pub rebalance_timeout: Duration,
    pub protocol_type: &'a str,
    pub protocols: Vec<(&'a str, &'a [u8])>,
    /// JoinGroup v4+: an empty member id gets MEMBER_ID_REQUIRED.
    pub member_id_required: bool,
}

/// A completed join.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Joined {
    pub generation: i32,
    pub protocol: String,
    pub leader: String,
    pub member_id: String,
    /// The members and their metadata (the leader's answer only).
    pub members: Vec<(String, Vec<u8>)>,
}

/// Why a JoinGroup got no generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum JoinError {
    /// A Kafka error code.
    Code(i16),
    /// MEMBER_ID_REQUIRED with the id to rejoin with.
    MemberIdRequired(String),
}

/// A member as DescribeGroups shows it.
#[derive(Debug, Clone)]
pub(crate) struct MemberView {
    pub member_id: String,
    pub client_id: String,
    pub client_host: String,
    pub metadata: Vec<u8>,
    pub assignment: Vec<u8>,
}

/// A group as DescribeGroups shows it.
#[derive(Debug, Clone)]
pub(crate) struct GroupView {
    pub state: State,
    pub protocol_type: String,
    pub protocol: String,
    pub members: Vec<MemberView>,
}

/// The coordinator of every group (one per front).
#[derive(Debug)]
pub(crate) struct Coordinator {
    groups: Mutex<HashMap<String, Group>>,
    changed: Condvar,
    generations: AtomicI32,
    next_seq: AtomicU64,
    ids: RandomState,
}

impl Default for Coordinator {
    fn default() -> Self {
        Coordinator {
            groups: Mutex::new(HashMap::new()),
            changed: Condvar::new(),
            generations: AtomicI32::new(1),
            next_seq: AtomicU64::new(0),
            ids: RandomState::new(),
        }
    }
}

impl Coordinator {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Group>> {
        self.groups.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wait<'g>(&self, guard: MutexGuard<'g, HashMap<String, Group>>) -> MutexGuard<'g, HashMap<String, Group>> {
        match self.changed.wait_timeout(guard, WAIT_SLICE) {
            Ok((guard, _)) => guard,
            Err(poisoned) => poisoned.into_inner().0,
        }
    }

    /// `<client_id>-<uuid>` (a random version-4 layout; not a secret).
    fn new_member_id(&self, client_id: &str) -> String {
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        let high = self.ids.hash_one((seq, 0u8));
        let low = self.ids.hash_one((seq, 1u8));
        let random = (u128::from(high) << 64) | u128::from(low);
        // Version 4 in the 13th hex digit, variant 0b10 in the 17th.
        let bits = (random & !(0xF000u128 << 64) & !(0xCu128 << 60)) | (0x4000u128 << 64) | (0x8u128 << 60);
        let hex = format!("{bits:032x}");
        format!(
            "{client_id}-{}-{}-{}-{}-{}",
            &hex[0..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..32]
        )
    }

    /// Runs `f` on `group` after its tick; publishes its liveness, wakes the
    /// waiters when it changed, and drops it once Empty with nothing pending.
    fn with_group<T>(
        &self,
        groups: &mut HashMap<String, Group>,
        name: &str,
        live: &LiveGroups,
        f: impl FnOnce(&mut Group, Instant, &AtomicI32) -> (T, bool),
    ) -> Option<T> {
        let group = groups.get_mut(name)?;
        let now = Instant::now();
        let ticked = group.tick(now, &self.generations);
        let (result, changed) = f(group, now, &self.generations);
        let roster = group.roster();
        let members = (roster != group.published_roster).then(|| {
            group.published_roster = roster;
            group.live_members()
        });
        live.publish(name, group.live_until(), members);
        if group.state == State::Empty && group.members.is_empty() && group.pending.is_empty() {
            groups.remove(name);
        }
        if ticked || changed {
            self.changed.notify_all();
        }
        Some(result)
    }

    /// JoinGroup: blocks until the rebalance the member joined completes
    /// (or it is removed, the server shuts down, or the group's rebalance
    /// deadline passes).
    pub(crate) fn join(
        &self,
        join: &Join<'_>,
        live: &LiveGroups,
        shutting_down: &AtomicBool,
    ) -> Result<Joined, JoinError> {
        let mut groups = self.lock();
        if !groups.contains_key(join.group) {
            if groups.len() >= GROUPS_MAX {
                return Err(JoinError::Code(errors::GROUP_MAX_SIZE_REACHED));
            }
            groups.insert(join.group.to_string(), Group::new());
        }
        let start = self.with_group(&mut groups, join.group, live, |group, now, generations| {
            self.join_now(group, join, now, generations)
        });
        let (member_id, round) = match start {
            Some(Ok(JoinStart::Done(joined))) => return Ok(joined),
            Some(Ok(JoinStart::Wait { member_id, round })) => (member_id, round),
            Some(Err(error)) => return Err(error),
            None => return Err(JoinError::Code(errors::UNKNOWN_MEMBER_ID)),
        };
        loop {
            let outcome = self.with_group(&mut groups, join.group, live, |group, now, _| {
                if group.round == round + 1 && group.members.contains_key(&member_id) {
                    return (Some(Ok(group.joined(&member_id))), false);
                }
                let Some(member) = group.members.get_mut(&member_id) else {
                    return (Some(Err(JoinError::Code(errors::UNKNOWN_MEMBER_ID))), false);
                };
                if group.round != round {
                    return (Some(Err(JoinError::Code(errors::REBALANCE_IN_PROGRESS))), false);
                }
                if shutting_down.load(Ordering::Relaxed) {
                    return (Some(Err(JoinError::Code(errors::COORDINATOR_NOT_AVAILABLE))), false);
                }
                // Blocked here, the member cannot heartbeat: it is alive.
                member.last_seen = now;
                (None, false)
            });
            match outcome {
                Some(Some(result)) => return result,
                Some(None) => groups = self.wait(groups),
                None => return Err(JoinError::Code(errors::UNKNOWN_MEMBER_ID)),
            }
        }
    }

    fn join_now(
        &self,
        group: &mut Group,
        join: &Join<'_>,
        now: Instant,
        generations: &AtomicI32,
    ) -> (Result<JoinStart, JoinError>, bool) {
        let fail = |code| (Err(JoinError::Code(code)), false);
        if !group.members.is_empty() && group.protocol_type != join.protocol_type {
            return fail(errors::INCONSISTENT_GROUP_PROTOCOL);
        }
        if !group.compatible(join.member_id, &join.protocols) {
            return fail(errors::INCONSISTENT_GROUP_PROTOCOL);
        }
        let member_id = if join.member_id.is_empty() {
            if group.members.len() + group.pending.len() >= MEMBERS_MAX {
                return fail(errors::GROUP_MAX_SIZE_REACHED);
            }
            let id = self.new_member_id(join.client_id);
            if join.member_id_required {
                group.pending.insert(id.clone(), now + join.session_timeout);
                return (Err(JoinError::MemberIdRequired(id)), false);
            }
            id
        } else if group.members.contains_key(join.member_id) || group.pending.remove(join.member_id).is_some() {
            join.member_id.to_string()
        } else {
            return fail(errors::UNKNOWN_MEMBER_ID);
        };
        let protocols: Vec<(String, Vec<u8>)> = join
            .protocols
            .iter()
            .map(|(name, metadata)| ((*name).to_string(), metadata.to_vec()))
            .collect();
        let is_new = !group.members.contains_key(&member_id);
        let member = group.members.entry(member_id.clone()).or_insert_with(|| Member {
            client_id: join.client_id.to_string(),
            client_host: join.client_host.to_string(),
            session_timeout: join.session_timeout,
            rebalance_timeout: join.rebalance_timeout,
            protocols: Vec::new(),
            last_seen: now,
            joined: false,
            assignment: Vec::new(),
            seq: self.next_seq.fetch_add(1, Ordering::Relaxed),
        });
        let metadata_changed = member.protocols != protocols;
        member.protocols = protocols;
        member.session_timeout = join.session_timeout;
        member.rebalance_timeout = join.rebalance_timeout;
        member.last_seen = now;
        group.protocol_type = join.protocol_type.to_string();
        let is_leader = group.leader.as_deref() == Some(member_id.as_str());
        match group.state {
            // A follower rejoining with what it had gets the current
            // generation back (as Kafka does): no needless rebalance.
            State::Stable if !is_new && !metadata_changed && !is_leader => {
                return (Ok(JoinStart::Done(group.joined(&member_id))), false);
            }
            State::CompletingRebalance if !is_new && !metadata_changed => {
                return (Ok(JoinStart::Done(group.joined(&member_id))), false);
            }
            State::Empty | State::Stable | State::CompletingRebalance => group.prepare_rebalance(now),
            State::PreparingRebalance => {}
        }
        if let Some(member) = group.members.get_mut(&member_id) {
            member.joined = true;
        }
        let round = group.round;
        group.try_complete(now, generations);
        (Ok(JoinStart::Wait { member_id, round }), true)
    }

    /// SyncGroup: the leader's assignments in, the member's out. A follower
    /// waits for the leader's sync.
    pub(crate) fn sync(
        &self,
        name: &str,
        generation: i32,
        member_id: &str,
        assignments: &[(&str, &[u8])],
        live: &LiveGroups,
        shutting_down: &AtomicBool,
    ) -> Result<Vec<u8>, i16> {
        let mut groups = self.lock();
        let mut waited_since = None;
        loop {
            let outcome = self.with_group(&mut groups, name, live, |group, now, _| {
                let Some(member) = group.members.get_mut(member_id) else {
                    return (Some(Err(errors::UNKNOWN_MEMBER_ID)), false);
                };
                if generation != group.generation {
                    return (Some(Err(errors::ILLEGAL_GENERATION)), false);
                }
                member.last_seen = now;
                match group.state {
                    State::Empty => (Some(Err(errors::UNKNOWN_MEMBER_ID)), false),
                    State::PreparingRebalance => (Some(Err(errors::REBALANCE_IN_PROGRESS)), false),
                    State::Stable => (Some(Ok(member.assignment.clone())), false),
                    State::CompletingRebalance if group.leader.as_deref() == Some(member_id) => {
                        for (id, member) in &mut group.members {
                            member.assignment = assignments
                                .iter()
                                .find(|(assigned, _)| assigned == id)
                                .map(|(_, bytes)| bytes.to_vec())
                                .unwrap_or_default();
                        }
                        group.state = State::Stable;
                        let own = group.members.get(member_id).map(|m| m.assignment.clone());
                        (Some(Ok(own.unwrap_or_default())), true)
                    }
                    State::CompletingRebalance => {
                        let since = *waited_since.get_or_insert(now);
                        if shutting_down.load(Ordering::Relaxed) {
                            (Some(Err(errors::COORDINATOR_NOT_AVAILABLE)), false)
                        } else if now.saturating_duration_since(since) > member.rebalance_timeout {
                            (Some(Err(errors::REBALANCE_IN_PROGRESS)), false)
                        } else {
                            (None, false)
                        }
                    }
                }
            });
            match outcome {
                Some(Some(result)) => return result,
                Some(None) => groups = self.wait(groups),
                None => return Err(errors::UNKNOWN_MEMBER_ID),
            }
        }
    }

    /// Heartbeat: keeps the member alive; REBALANCE_IN_PROGRESS tells it to rejoin.
    pub(crate) fn heartbeat(&self, name: &str, generation: i32, member_id: &str, live: &LiveGroups) -> i16 {
        let mut groups = self.lock();
        self.with_group(&mut groups, name, live, |group, now, _| {
            let Some(member) = group.members.get_mut(member_id) else {
                return (errors::UNKNOWN_MEMBER_ID, false);
            };
            member.last_seen = now;
            let code = match group.state {
                State::PreparingRebalance => errors::REBALANCE_IN_PROGRESS,
                _ if generation != group.generation => errors::ILLEGAL_GENERATION,
                _ => errors::NONE,
            };
            (code, false)
        })
        .unwrap_or(errors::UNKNOWN_MEMBER_ID)
    }

    /// LeaveGroup: one code per member id.
    pub(crate) fn leave(&self, name: &str, member_ids: &[&str], live: &LiveGroups) -> Vec<i16> {
        let mut groups = self.lock();
        self.with_group(&mut groups, name, live, |group, now, generations| {
            let codes: Vec<i16> = member_ids
                .iter()
                .map(|id| {
                    if group.members.remove(*id).is_some() {
                        errors::NONE
                    } else {
                        errors::UNKNOWN_MEMBER_ID
                    }
                })
                .collect();
            let changed = codes.contains(&errors::NONE);
            if changed {
                group.members_changed(now, generations);
            }
            (codes, changed)
        })
        .unwrap_or_else(|| vec![errors::UNKNOWN_MEMBER_ID; member_ids.len()])
    }

    /// Whether an OffsetCommit of `member_id` at `generation` may commit
    /// (NONE), as Kafka decides: generation < 0 is a commit of a consumer
    /// outside the group protocol (`assign()`), allowed while the group has
    /// no members; otherwise the member and generation must be current.
    pub(crate) fn check_commit(&self, name: &str, generation: i32, member_id: &str, live: &LiveGroups) -> i16 {
        let mut groups = self.lock();
        let code = self.with_group(&mut groups, name, live, |group, now, _| {
            if generation < 0 && group.members.is_empty() {
                return (errors::NONE, false);
            }
            if group.state == State::CompletingRebalance {
                return (errors::REBALANCE_IN_PROGRESS, false);
            }
            let Some(member) = group.members.get_mut(member_id) else {
                return (errors::UNKNOWN_MEMBER_ID, false);
            };
            if generation != group.generation {
                return (errors::ILLEGAL_GENERATION, false);
            }
            member.last_seen = now;
            (errors::NONE, false)
        });
        code.unwrap_or(if generation < 0 {
            errors::NONE
        } else {
            errors::UNKNOWN_MEMBER_ID
        })
    }

    /// The group as DescribeGroups shows it (`None`: no members, nothing pending).
    pub(crate) fn describe(&self, name: &str, live: &LiveGroups) -> Option<GroupView> {
        let mut groups = self.lock();
        self.with_group(&mut groups, name, live, |group, _, _| {
            let protocol = group.protocol.clone().unwrap_or_default();
            let mut members: Vec<(&String, &Member)> = group.members.iter().collect();
            members.sort_by_key(|(_, m)| m.seq);
            let members = members
                .into_iter()
                .map(|(id, m)| MemberView {
                    member_id: id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    metadata: m.metadata(&protocol).to_vec(),
                    assignment: if group.state == State::Stable {
                        m.assignment.clone()
                    } else {
                        Vec::new()
                    },
                })
                .collect();
            let view = GroupView {
                state: group.state,
                protocol_type: group.protocol_type.clone(),
                protocol,
                members,
            };
            (view, false)
        })
    }

    /// Every group with members: (group, protocol type, state).
    pub(crate) fn list(&self, live: &LiveGroups) -> Vec<(String, String, State)> {
        let mut groups = self.lock();
        let names: Vec<String> = groups.keys().cloned().collect();
        let mut listed = Vec::new();
        for name in names {
            let entry = self.with_group(&mut groups, &name, live, |group, _, _| {
                let listed = (!group.members.is_empty()).then(|| (group.protocol_type.clone(), group.state));
                (listed, false)
            });
            if let Some(Some((protocol_type, state))) = entry {
                listed.push((name, protocol_type, state));
            }
        }
        listed.sort_by(|a, b| a.0.cmp(&b.0));
        listed
    }
}

enum JoinStart {
    /// Answered at once.
    Done(Joined),
    /// Joined the rebalance of round `round`: wait for it to complete.
    Wait { member_id: String, round: u64 },
}
