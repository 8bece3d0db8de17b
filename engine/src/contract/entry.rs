//! One record of `__contracts` (design/format.md "Contract records"): an
//! applied contract version or a removal, with who, when and whether it was
//! forced. The topic is both the history of every topic's contract and its
//! audit log.

use crate::codec::{Decoder, Encoder};

/// The internal topic of contract versions (the audit log of contracts).
pub const CONTRACTS_TOPIC: &str = "__contracts";
/// Format version of a contract record.
const ENTRY_FORMAT: u8 = 1;
const FLAG_REMOVED: u8 = 1;
const FLAG_FORCED: u8 = 2;
/// Most subjects an entry pins (key and value).
const PINNED_MAX: u16 = 2;

/// One applied version (or the removal) of a topic's contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContractEntry {
    /// The topic.
    pub topic: String,
    /// The version this entry made current; a removal has its own next
    /// number (the removed version is its `previous`). Entries written
    /// before that numbered a removal as the version it removed.
    pub version: u32,
    /// The version it replaced (a removal: the one it removed), if any.
    pub previous: Option<u32>,
    /// When, ms since the Unix epoch.
    pub at_ms: i64,
    /// Who (a token's name, a user), 1..=255 bytes.
    pub actor: String,
    /// Applied although a schema change broke the promised compatibility.
    pub forced: bool,
    /// The contract was removed: the topic has none from here on.
    pub removed: bool,
    /// The subjects' latest versions when it was applied: (subject, version).
    pub pinned: Vec<(String, u32)>,
    /// The contract file as applied (empty for a removal).
    pub text: String,
}

impl ContractEntry {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        let flags = if self.removed { FLAG_REMOVED } else { 0 } | if self.forced { FLAG_FORCED } else { 0 };
        e.u8(ENTRY_FORMAT)
            .u8(flags)
            .u32(self.version)
            .u32(self.previous.unwrap_or(0))
            .i64(self.at_ms)
            .short_str(&self.actor)
            .short_str(&self.topic);
        let count = self.pinned.len().min(usize::from(PINNED_MAX));
        e.u16(count as u16);
        for (subject, version) in self.pinned.iter().take(count) {
            e.short_str(subject).u32(*version);
        }
        e.long_bytes(self.text.as_bytes());
        e.bytes
    }

    pub(crate) fn decode(bytes: &[u8]) -> Option<ContractEntry> {
        let mut d = Decoder::new(bytes);
        if d.u8()? != ENTRY_FORMAT {
            return None;
        }
        let flags = d.u8()?;
        let version = d.u32()?;
        let previous = Some(d.u32()?).filter(|v| *v != 0);
        let at_ms = d.i64()?;
        let actor = d.short_str()?;
        let topic = d.short_str()?;
        let count = d.u16()?;
        if count > PINNED_MAX {
            return None;
        }
        let mut pinned = Vec::new();
        for _ in 0..count {
            pinned.push((d.short_str()?, d.u32()?));
        }
        let text = String::from_utf8(d.long_bytes()?).ok()?;
        if !d.is_empty() || version == 0 || flags & !(FLAG_REMOVED | FLAG_FORCED) != 0 {
            return None;
        }
        Some(ContractEntry {
            topic,
            version,
            previous,
            at_ms,
            actor,
            forced: flags & FLAG_FORCED != 0,
            removed: flags & FLAG_REMOVED != 0,
            pinned,
            text,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_damage_is_refused() {
        let entry = ContractEntry {
            topic: "orders".into(),
            version: 2,
            previous: Some(1),
            at_ms: 1_700_000_000_000,
            actor: "alice".into(),
            forced: true,
            removed: false,
            pinned: vec![("orders-value".into(), 3)],
            text: "kind: DataContract\n".into(),
        };
        let bytes = entry.encode();
        assert_eq!(ContractEntry::decode(&bytes), Some(entry));
        assert_eq!(
            ContractEntry::decode(bytes.get(..bytes.len() - 1).unwrap_or_default()),
            None
        );
        let mut flipped = bytes.clone();
        if let Some(b) = flipped.get_mut(1) {
            *b = 0x80;
        }
        assert_eq!(ContractEntry::decode(&flipped), None);
    }
}
