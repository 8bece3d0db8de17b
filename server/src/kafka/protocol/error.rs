//! The codec's typed errors: what failed, in which field, at which byte.

/// Why bytes did not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeErrorKind {
    /// The input ended inside a value of `needed` bytes.
    #[error("truncated: {needed} bytes needed, {remaining} remaining")]
    Truncated { needed: usize, remaining: usize },
    /// A length or count below -1 (or a null where the field is not nullable).
    #[error("invalid length {length}")]
    InvalidLength { length: i64 },
    /// A count or length larger than the bytes left could hold.
    #[error("length {length} exceeds the {remaining} bytes remaining")]
    LengthExceedsInput { length: u64, remaining: usize },
    /// An unsigned varint of more than 5 bytes (or a varlong of more than 10).
    #[error("varint too long")]
    VarintTooLong,
    /// A string that is not UTF-8.
    #[error("string is not UTF-8")]
    InvalidUtf8,
    /// A boolean byte other than 0 or 1.
    #[error("boolean byte {0} is neither 0 nor 1")]
    InvalidBoolean(u8),
    /// Bytes left after the last field of a request.
    #[error("{0} bytes after the end of the message")]
    TrailingBytes(usize),
}

/// A decode failure: its kind, the innermost field being read and the byte
/// offset (from the start of the buffer given to the reader) where it began.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("field `{field}` at byte {offset}: {kind}")]
pub struct DecodeError {
    pub kind: DecodeErrorKind,
    /// The innermost named field ("" when the failure is outside any field).
    pub field: &'static str,
    pub offset: usize,
}

impl DecodeError {
    pub(crate) fn new(kind: DecodeErrorKind, offset: usize) -> Self {
        Self {
            kind,
            field: "",
            offset,
        }
    }

    /// Names the field unless an inner field already did.
    #[must_use]
    pub(crate) fn within(mut self, field: &'static str) -> Self {
        if self.field.is_empty() {
            self.field = field;
        }
        self
    }
}

/// Why a value could not be encoded (only values the front built wrongly:
/// every wire type has a size limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// A string, bytes or array longer than its length prefix can say.
    #[error("field `{field}` is {length} long, over the wire limit {limit}")]
    TooLong {
        field: &'static str,
        length: usize,
        limit: usize,
    },
    /// The response frame is over 2 GiB.
    #[error("frame of {0} bytes over the i32 size prefix")]
    FrameTooLarge(usize),
}

impl EncodeError {
    #[must_use]
    pub(crate) fn within(self, field: &'static str) -> Self {
        match self {
            Self::TooLong {
                field: "",
                length,
                limit,
            } => Self::TooLong { field, length, limit },
            other => other,
        }
    }
}
