//! Token authentication and per-opcode permissions ("Opcodes" table, column
//! `perm`, in `design/protocol.md`).

use serde::Deserialize;

use crate::config::TokenConfig;
use crate::messages::Opcode;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    Produce,
    Consume,
    Admin,
}

/// A set of permissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Permissions(u8);

impl Permissions {
    pub const NONE: Permissions = Permissions(0);
    pub const ALL: Permissions = Permissions(0b111);

    fn bit(permission: Permission) -> u8 {
        match permission {
            Permission::Produce => 1,
            Permission::Consume => 2,
            Permission::Admin => 4,
        }
    }

    pub fn of(list: &[Permission]) -> Permissions {
        Permissions(list.iter().fold(0, |acc, p| acc | Permissions::bit(*p)))
    }

    pub fn contains(self, other: Permissions) -> bool {
        self.0 & other.0 == other.0
    }
}

/// What an opcode needs.
pub fn required(opcode: Opcode) -> Permissions {
    use Permission::*;
    match opcode {
        Opcode::Hello | Opcode::Ping | Opcode::Stats => Permissions::NONE,
        Opcode::CreateTopic
        | Opcode::DeleteTopic
        | Opcode::ResetOffsets
        | Opcode::ResetAudit
        | Opcode::DlqRedrive
        | Opcode::DlqPurge => Permissions::of(&[Admin]),
        Opcode::Flush => Permissions::of(&[Admin]),
        Opcode::ListTopics
        | Opcode::DescribeTopic
        | Opcode::Fetch
        | Opcode::CommitOffsets
        | Opcode::FetchOffsets
        | Opcode::ListGroups
        | Opcode::Lag
        | Opcode::DlqList => Permissions::of(&[Consume]),
        Opcode::InitProducer
        | Opcode::Produce
        | Opcode::TxnBegin
        | Opcode::TxnAppend
        | Opcode::TxnCommit
        | Opcode::TxnAbort => Permissions::of(&[Produce]),
        Opcode::TxnCommitOffsets | Opcode::TxnDeadLetter | Opcode::FailRecord => Permissions::of(&[Produce, Consume]),
    }
}

/// The configured tokens.
#[derive(Debug, Clone, Default)]
pub struct Authenticator {
    tokens: Vec<(Vec<u8>, Permissions)>,
}

impl Authenticator {
    pub fn new(tokens: &[TokenConfig]) -> Self {
        Authenticator {
            tokens: tokens
                .iter()
                .map(|t| (t.token.as_bytes().to_vec(), Permissions::of(&t.permissions)))
                .collect(),
        }
    }

    pub fn is_enabled(&self) -> bool {
        !self.tokens.is_empty()
    }

    /// Permissions of a connection that presented `token`; `None` = refused.
    /// Without configured tokens every connection gets every permission.
    pub fn authenticate(&self, token: Option<&[u8]>) -> Option<Permissions> {
        if !self.is_enabled() {
            return Some(Permissions::ALL);
        }
        let token = token?;
        // Compare against every token without early exit, so timing does not
        // tell which prefix matched.
        let mut found = None;
        for (known, permissions) in &self.tokens {
            if constant_time_eq(known, token) {
                found = Some(*permissions);
            }
        }
        found
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_permissions() {
        let auth = Authenticator::new(&[TokenConfig {
            token: "producer-token-0001".into(),
            permissions: vec![Permission::Produce],
        }]);
        let perms = auth.authenticate(Some(b"producer-token-0001")).unwrap();
        assert!(perms.contains(required(Opcode::Produce)));
        assert!(!perms.contains(required(Opcode::Fetch)));
        assert!(!perms.contains(required(Opcode::TxnDeadLetter)));
        assert!(perms.contains(required(Opcode::Ping)));
        assert_eq!(auth.authenticate(Some(b"producer-token-0002")), None);
        assert_eq!(auth.authenticate(None), None);
        assert_eq!(Authenticator::default().authenticate(None), Some(Permissions::ALL));
    }
}
