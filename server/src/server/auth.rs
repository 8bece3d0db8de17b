//! Token authentication, per-opcode permissions ([`PERMISSIONS`], the table
//! "Opcodes", column `perm`, in `design/protocol.md`; a test compares the two),
//! per-group rights, and the back-off after failed authentications.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Defined with the token configuration that lists it; re-exported here,
/// next to the permission table.
pub use crate::config::Permission;
use crate::config::TokenConfig;
use crate::messages::Opcode;

/// A set of permissions. `Admin` includes the others: a token with it may
/// call every opcode and use every group and producer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Permissions(u8);

impl Permissions {
    pub const NONE: Permissions = Permissions(0);
    pub const ALL: Permissions = Permissions(0b111);

    const fn bit(permission: Permission) -> u8 {
        match permission {
            Permission::Produce => 1,
            Permission::Consume => 2,
            // Admin is a superset of the other permissions.
            Permission::Admin => 0b111,
        }
    }

    pub const fn of(list: &[Permission]) -> Permissions {
        let mut bits = 0;
        let mut rest = list;
        while let [first, tail @ ..] = rest {
            bits |= Permissions::bit(*first);
            rest = tail;
        }
        Permissions(bits)
    }

    pub fn contains(self, other: Permissions) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn is_admin(self) -> bool {
        self.contains(Permissions::ALL)
    }
}

use Permission::{Admin as A, Consume as C, Produce as P};

/// What each opcode needs: every opcode exactly once, in opcode order. The
/// single source of the "perm" column of the opcode table in
/// `design/protocol.md` (`permission_table_matches_protocol_md` checks it).
pub const PERMISSIONS: &[(Opcode, &[Permission])] = &[
    (Opcode::Hello, &[]),
    (Opcode::Ping, &[]),
    (Opcode::CreateTopic, &[A]),
    (Opcode::DeleteTopic, &[A]),
    (Opcode::ListTopics, &[C]),
    (Opcode::DescribeTopic, &[C]),
    (Opcode::ListTopicsPage, &[C]),
    (Opcode::DescribeDamage, &[C]),
    (Opcode::AlterTopic, &[A]),
    (Opcode::ConfigHistoryPage, &[A]),
    (Opcode::InitProducer, &[P]),
    (Opcode::Produce, &[P]),
    (Opcode::Fetch, &[C]),
    (Opcode::CommitOffsets, &[C]),
    (Opcode::FetchOffsets, &[C]),
    (Opcode::ResetOffsets, &[A]),
    (Opcode::Lag, &[C]),
    (Opcode::FailRecord, &[P, C]),
    (Opcode::ResetAudit, &[A]),
    (Opcode::ListGroups, &[C]),
    (Opcode::ListGroupsPage, &[C]),
    (Opcode::FetchOffsetsPage, &[C]),
    (Opcode::DeleteGroup, &[A]),
    (Opcode::ResetAuditPage, &[A]),
    (Opcode::LagPage, &[C]),
    (Opcode::DescribeGroups, &[C]),
    (Opcode::DeleteGroupOffsets, &[A]),
    (Opcode::DescribeGroupMembers, &[C]),
    (Opcode::TxnBegin, &[P]),
    (Opcode::TxnAppend, &[P]),
    (Opcode::TxnCommitOffsets, &[P, C]),
    (Opcode::TxnDeadLetter, &[P, C]),
    (Opcode::TxnCommit, &[P]),
    (Opcode::TxnAbort, &[P]),
    (Opcode::DlqList, &[C]),
    (Opcode::DlqRedrive, &[A]),
    (Opcode::DlqPurge, &[A]),
    (Opcode::Stats, &[]),
    (Opcode::Flush, &[A]),
    (Opcode::Status, &[]),
    (Opcode::ContractQuery, &[C]),
    (Opcode::ContractChange, &[A]),
];

/// Topics only an admin token may read (`Fetch`): the reset audit log, whose
/// entries name every group, actor and offset, and the config change log,
/// whose entries name every actor.
pub const ADMIN_ONLY_TOPICS: &[&str] = &["__offset_resets", millrace::CONFIG_CHANGES_TOPIC];

/// What an opcode needs. An opcode missing from [`PERMISSIONS`] (a bug the
/// tests catch) needs admin.
pub fn required(opcode: Opcode) -> Permissions {
    PERMISSIONS
        .iter()
        .find(|(o, _)| *o == opcode)
        .map_or(Permissions::of(&[A]), |(_, needs)| Permissions::of(needs))
}

/// Who is on the other end of a connection, once `Hello` succeeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's name; `None` on a server without authentication.
    pub name: Option<String>,
    pub permissions: Permissions,
    /// Group patterns the token may commit to (see [`Principal::may_use_group`]).
    groups: Vec<String>,
    /// Most groups its patterns may reach (`crate::group_budget`); `None` = no limit.
    pub groups_max: Option<u32>,
}

impl Principal {
    /// A connection to a server without tokens: every permission, every
    /// group, every producer; no principal to record.
    pub fn anonymous() -> Principal {
        Principal {
            name: None,
            permissions: Permissions::ALL,
            groups: Vec::new(),
            groups_max: None,
        }
    }

    pub fn named(name: &str, permissions: Permissions, groups: &[String]) -> Principal {
        Principal {
            name: Some(name.to_string()),
            permissions,
            groups: groups.to_vec(),
            groups_max: None,
        }
    }

    /// This principal with a per-token group limit (`groups_max` of its token).
    pub fn with_groups_max(mut self, groups_max: Option<u32>) -> Principal {
        self.groups_max = groups_max;
        self
    }

    /// May this principal commit offsets for `group` (CommitOffsets,
    /// TxnCommitOffsets, TxnDeadLetter, FailRecord)? Always without
    /// authentication and for admin tokens; otherwise when one of the
    /// token's `groups` patterns matches: `"name"` exactly, `"prefix*"` every
    /// group starting with `prefix`. A pattern matches an internal group
    /// (`__...`) only if it names `__` itself.
    pub fn may_use_group(&self, group: &str) -> bool {
        if self.name.is_none() || self.permissions.is_admin() {
            return true;
        }
        self.groups.iter().any(|pattern| group_matches(pattern, group))
    }

    /// Producer owner recorded in the registry; `None` without authentication.
    pub fn owner(&self) -> Option<&str> {
        self.name.as_deref()
    }
}

/// Does a token's group pattern match `group`?
pub fn group_matches(pattern: &str, group: &str) -> bool {
    let matched = match pattern.strip_suffix('*') {
        Some(prefix) => group.starts_with(prefix),
        None => group == pattern,
    };
    matched && (!group.starts_with("__") || pattern.starts_with("__"))
}

/// The configured tokens.
#[derive(Debug, Clone, Default)]
pub struct Authenticator {
    tokens: Vec<(Vec<u8>, Principal)>,
}

impl Authenticator {
    pub fn new(tokens: &[TokenConfig]) -> Self {
        Authenticator {
            tokens: tokens
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    let name = t.principal_name(i);
                    let principal = Principal::named(&name, Permissions::of(&t.permissions), &t.groups)
                        .with_groups_max(t.groups_max);
                    (t.token.as_bytes().to_vec(), principal)
                })
                .collect(),
        }
    }

    pub fn is_enabled(&self) -> bool {
        !self.tokens.is_empty()
    }

    /// The principal of a connection that presented `token`; `None` =
    /// refused. Without configured tokens every connection is
    /// [`Principal::anonymous`].
    pub fn authenticate(&self, token: Option<&[u8]>) -> Option<Principal> {
        if !self.is_enabled() {
            return Some(Principal::anonymous());
        }
        let token = token?;
        // Compare against every token without early exit, so timing does not
        // tell which prefix matched.
        let mut found = None;
        for (known, principal) in &self.tokens {
            if constant_time_eq(known, token) {
                found = Some(principal);
            }
        }
        found.cloned()
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Failed authentications answered per second, server-wide, before the
/// answers wait ([`FailedAuthentications::record`]).
pub const AUTH_FAILURES_PER_SECOND_MAX: u32 = 50;
/// Longest a failed authentication's answer waits.
pub const AUTH_FAILURE_DELAY_MAX: Duration = Duration::from_secs(2);
/// At most one log line per this interval about failed authentications.
const AUTH_FAILURE_LOG_INTERVAL: Duration = Duration::from_secs(1);

/// Counts failed authentications, rate-limits their log lines and spaces
/// their answers: answers are handed out at most
/// [`AUTH_FAILURES_PER_SECOND_MAX`] per second over the whole server, each
/// waiting at most [`AUTH_FAILURE_DELAY_MAX`], so that guessing tokens costs
/// time and connection slots however many connections try.
#[derive(Debug)]
pub struct FailedAuthentications {
    pub total: AtomicU64,
    state: Mutex<FailureState>,
}

#[derive(Debug)]
struct FailureState {
    /// When the next failure may be answered.
    next_answer_at: Instant,
    last_log_at: Option<Instant>,
    suppressed: u64,
}

impl Default for FailedAuthentications {
    fn default() -> Self {
        FailedAuthentications {
            total: AtomicU64::new(0),
            state: Mutex::new(FailureState {
                next_answer_at: Instant::now(),
                last_log_at: None,
                suppressed: 0,
            }),
        }
    }
}

/// What to do about one failed authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureVerdict {
    /// Wait this long before answering.
    pub delay: Duration,
    /// Log a line now: `Some(n)` with the failures not logged since the last line.
    pub log: Option<u64>,
}

impl FailedAuthentications {
    pub fn record(&self, now: Instant) -> FailureVerdict {
        self.total.fetch_add(1, Relaxed);
        let Ok(mut state) = self.state.lock() else {
            return FailureVerdict {
                delay: AUTH_FAILURE_DELAY_MAX,
                log: None,
            };
        };
        let spacing = Duration::from_secs(1) / AUTH_FAILURES_PER_SECOND_MAX;
        let at = state.next_answer_at.max(now);
        let delay = (at - now).min(AUTH_FAILURE_DELAY_MAX);
        state.next_answer_at = (at + spacing).min(now + AUTH_FAILURE_DELAY_MAX);
        let log = match state.last_log_at {
            Some(last) if now.duration_since(last) < AUTH_FAILURE_LOG_INTERVAL => {
                state.suppressed += 1;
                None
            }
            _ => {
                state.last_log_at = Some(now);
                Some(std::mem::take(&mut state.suppressed))
            }
        };
        FailureVerdict { delay, log }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(token: &str, permissions: Vec<Permission>, groups: &[&str]) -> TokenConfig {
        TokenConfig {
            name: None,
            token: token.into(),
            permissions,
            groups: groups.iter().map(|g| g.to_string()).collect(),
            groups_max: None,
        }
    }

    #[test]
    fn tokens_and_permissions() {
        let auth = Authenticator::new(&[token("producer-token-0001", vec![Permission::Produce], &[])]);
        let principal = auth.authenticate(Some(b"producer-token-0001")).unwrap();
        assert_eq!(principal.name.as_deref(), Some("token-1"));
        let perms = principal.permissions;
        assert!(perms.contains(required(Opcode::Produce)));
        assert!(!perms.contains(required(Opcode::Fetch)));
        assert!(!perms.contains(required(Opcode::TxnDeadLetter)));
        assert!(perms.contains(required(Opcode::Ping)));
        assert_eq!(auth.authenticate(Some(b"producer-token-0002")), None);
        assert_eq!(auth.authenticate(None), None);
        assert_eq!(
            Authenticator::default().authenticate(None),
            Some(Principal::anonymous())
        );
    }

    #[test]
    fn admin_is_a_superset() {
        let admin = Permissions::of(&[Permission::Admin]);
        for opcode in Opcode::ALL {
            assert!(admin.contains(required(*opcode)), "{opcode:?}");
        }
        assert!(Principal::named("ops", admin, &[]).may_use_group("anything"));
    }

    #[test]
    fn every_opcode_once_in_order() {
        let listed: Vec<Opcode> = PERMISSIONS.iter().map(|(o, _)| *o).collect();
        assert_eq!(listed, Opcode::ALL);
    }

    /// The "perm" column of the opcode table in design/protocol.md is
    /// [`PERMISSIONS`], row for row.
    #[test]
    fn permission_table_matches_protocol_md() {
        let doc = include_str!("../../../design/protocol.md");
        let mut documented = Vec::new();
        for line in doc.lines() {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let [_, code, name, perm, _, _] = cells.as_slice() else {
                continue;
            };
            let Some(hex) = code.strip_prefix("0x") else { continue };
            let Ok(code) = u16::from_str_radix(hex, 16) else {
                continue;
            };
            let opcode = Opcode::from_u16(code).unwrap_or_else(|| panic!("{name}: unknown opcode {code:#06x}"));
            assert_eq!(format!("{opcode:?}"), *name, "{line}");
            let needs: Vec<Permission> = match *perm {
                "-" => vec![],
                other => other
                    .split('+')
                    .map(|p| match p {
                        "P" => Permission::Produce,
                        "C" => Permission::Consume,
                        "A" => Permission::Admin,
                        _ => panic!("unknown permission {p:?} in {line}"),
                    })
                    .collect(),
            };
            documented.push((opcode, needs));
        }
        let table: Vec<(Opcode, Vec<Permission>)> = PERMISSIONS.iter().map(|(o, p)| (*o, p.to_vec())).collect();
        assert_eq!(documented, table);
    }

    #[test]
    fn group_patterns() {
        let consumer = Principal::named(
            "app",
            Permissions::of(&[Permission::Consume]),
            &["app-*".to_string(), "billing".to_string(), "*x".to_string()],
        );
        assert!(consumer.may_use_group("app-orders"));
        assert!(consumer.may_use_group("billing"));
        assert!(!consumer.may_use_group("billing-2"));
        assert!(!consumer.may_use_group("other"));
        assert!(!Principal::named("none", Permissions::of(&[Permission::Consume]), &[]).may_use_group("app"));
        let everything = Principal::named("all", Permissions::of(&[Permission::Consume]), &["*".to_string()]);
        assert!(everything.may_use_group("anything"));
        assert!(!everything.may_use_group("__redrive.orders"));
        assert!(Principal::anonymous().may_use_group("anything"));
    }

    #[test]
    fn failures_are_spaced_and_logged_once_a_second() {
        let failures = FailedAuthentications::default();
        let now = Instant::now();
        let first = failures.record(now);
        assert_eq!(
            first,
            FailureVerdict {
                delay: Duration::ZERO,
                log: Some(0)
            }
        );
        let mut last = first;
        for _ in 0..1000 {
            last = failures.record(now);
        }
        assert_eq!(last.log, None);
        assert_eq!(last.delay, AUTH_FAILURE_DELAY_MAX);
        let later = failures.record(now + Duration::from_secs(3));
        assert_eq!(later.log, Some(1000));
        assert_eq!(failures.total.load(Relaxed), 1002);
    }
}
