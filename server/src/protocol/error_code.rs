//! Error codes on the wire ("Error codes" in `design/protocol.md`): engine
//! errors in `1..=999` (which engine error gets which code:
//! `millrace::Error::code`, the one table; this module only names the
//! numbers), protocol errors in `1000..=1999`.

use std::fmt;

use crate::wire::{DecodeResult, Reader, Writer};

/// Engine codes occupy `1..=ENGINE_CODE_LAST`.
pub const ENGINE_CODE_LAST: u16 = 999;
/// Longest error message put on the wire (bytes); longer ones are cut at a char boundary.
pub const ERROR_MESSAGE_BYTES_MAX: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    Io,
    Corruption,
    InvalidInput,
    Poisoned,
    QuotaExceeded,
    Locked,
    TopicNotFound,
    TopicExists,
    PartitionNotFound,
    OffsetOutOfRange,
    Fenced,
    OutOfOrderSequence,
    UnknownProducer,
    Closed,
    GroupActive,
    NoSpace,
    NotADataDir,
    /// A write, delete or commit of a `__*` topic, group or producer: the store's own.
    InternalName,
    /// A commit would add a consumer group past `groups_max`.
    GroupLimit,
    /// The schema registry has no schema with the id.
    SchemaNotFound,
    /// The schema registry has no (undeleted) version of the subject.
    SubjectNotFound,
    /// The subject has no (undeleted) version with the number.
    VersionNotFound,
    /// A schema breaks its subject's compatibility level.
    IncompatibleSchema,
    /// A schema that does not parse as its type, or of a type not taken.
    InvalidSchema,
    /// A record broke a `reject` rule of its topic's contract: nothing of the request was appended.
    ContractViolation,
    /// An engine code this build does not name yet (`19..=999`).
    OtherEngine(u16),
    Malformed,
    UnknownOpcode,
    FrameTooLarge,
    UnsupportedVersion,
    HandshakeRequired,
    Unauthenticated,
    PermissionDenied,
    Unsupported,
    TooManyConnections,
    Timeout,
    ShuttingDown,
    Internal,
    /// A code outside every known range.
    Other(u16),
}

/// (code, variant) for every named code: the single table both directions use.
const NAMED: [(u16, ErrorCode); 37] = [
    (1, ErrorCode::Io),
    (2, ErrorCode::Corruption),
    (3, ErrorCode::InvalidInput),
    (4, ErrorCode::Poisoned),
    (5, ErrorCode::QuotaExceeded),
    (6, ErrorCode::Locked),
    (7, ErrorCode::TopicNotFound),
    (8, ErrorCode::TopicExists),
    (9, ErrorCode::PartitionNotFound),
    (10, ErrorCode::OffsetOutOfRange),
    (11, ErrorCode::Fenced),
    (12, ErrorCode::OutOfOrderSequence),
    (13, ErrorCode::UnknownProducer),
    (14, ErrorCode::Closed),
    (15, ErrorCode::GroupActive),
    (16, ErrorCode::NoSpace),
    (17, ErrorCode::NotADataDir),
    (18, ErrorCode::InternalName),
    (19, ErrorCode::GroupLimit),
    (21, ErrorCode::SchemaNotFound),
    (22, ErrorCode::SubjectNotFound),
    (23, ErrorCode::VersionNotFound),
    (24, ErrorCode::IncompatibleSchema),
    (25, ErrorCode::InvalidSchema),
    (30, ErrorCode::ContractViolation),
    (1000, ErrorCode::Malformed),
    (1001, ErrorCode::UnknownOpcode),
    (1002, ErrorCode::FrameTooLarge),
    (1003, ErrorCode::UnsupportedVersion),
    (1004, ErrorCode::HandshakeRequired),
    (1005, ErrorCode::Unauthenticated),
    (1006, ErrorCode::PermissionDenied),
    (1007, ErrorCode::Unsupported),
    (1008, ErrorCode::TooManyConnections),
    (1009, ErrorCode::Timeout),
    (1010, ErrorCode::ShuttingDown),
    (1011, ErrorCode::Internal),
];

impl ErrorCode {
    pub fn from_code(code: u16) -> ErrorCode {
        if let Some((_, named)) = NAMED.iter().find(|(c, _)| *c == code) {
            return *named;
        }
        if (1..=ENGINE_CODE_LAST).contains(&code) {
            ErrorCode::OtherEngine(code)
        } else {
            ErrorCode::Other(code)
        }
    }

    pub fn code(self) -> u16 {
        match self {
            ErrorCode::OtherEngine(code) | ErrorCode::Other(code) => code,
            named => NAMED.iter().find(|(_, n)| *n == named).map_or(0, |(code, _)| *code),
        }
    }

    /// Whether a client may retry the same request (on a new connection if need be).
    pub fn is_retriable(self) -> bool {
        matches!(
            self,
            ErrorCode::Timeout | ErrorCode::ShuttingDown | ErrorCode::Closed | ErrorCode::TooManyConnections
        )
    }
}

/// An error response: code, human-readable message, structured details.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError {
    pub code: ErrorCode,
    pub message: String,
    /// Per-code structured fields, see the error table of `design/protocol.md`.
    pub details: Vec<u64>,
}

impl WireError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        WireError {
            code,
            message: message.into(),
            details: Vec::new(),
        }
    }

    pub fn with_details(mut self, details: Vec<u64>) -> Self {
        self.details = details;
        self
    }

    /// Encode after the `status` field.
    pub(crate) fn encode_fields(&self, w: &mut Writer) {
        w.string(truncate_at_char(&self.message, ERROR_MESSAGE_BYTES_MAX));
        w.list(&self.details, |w, d| w.u64(*d));
    }

    pub(crate) fn decode_fields(code: u16, r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(WireError {
            code: ErrorCode::from_code(code),
            message: r.string("error.message")?,
            details: r.list("error.details", 8, |r| r.u64("error.detail"))?,
        })
    }
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} ({}): {}", self.code, self.code.code(), self.message)
    }
}

impl std::error::Error for WireError {}

fn truncate_at_char(s: &str, bytes_max: usize) -> &str {
    if s.len() <= bytes_max {
        return s;
    }
    let mut end = bytes_max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_roundtrips() {
        for code in 0..=u16::MAX {
            assert_eq!(ErrorCode::from_code(code).code(), code);
        }
    }

    #[test]
    fn long_messages_cut_on_char_boundary() {
        let s = "é".repeat(3000);
        let cut = truncate_at_char(&s, ERROR_MESSAGE_BYTES_MAX);
        assert!(cut.len() <= ERROR_MESSAGE_BYTES_MAX);
        assert!(cut.len() >= ERROR_MESSAGE_BYTES_MAX - 1);
    }
}
