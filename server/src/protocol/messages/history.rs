//! `ConfigHistoryPage`: the store's record of topic configuration changes
//! ("ConfigHistoryPage" in `design/protocol.md`).

use super::types::{read_list, write_list, Wire};
use crate::wire::{DecodeResult, Reader, Writer, OPTION_MIN, STRING_MIN};

/// A page of the config change log: changes whose log offset is above
/// `after`, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConfigHistoryPage {
    /// Absent = every topic.
    pub topic: Option<String>,
    /// The log offset cursor (exclusive); absent = from the oldest change.
    pub after: Option<u64>,
    /// 0 = the server's default.
    pub limit: u32,
}

impl Wire for ConfigHistoryPage {
    const BYTES_MIN: usize = OPTION_MIN + OPTION_MIN + 4;
    fn encode(&self, w: &mut Writer) {
        w.option(self.topic.as_ref(), |w, t| w.string(t));
        w.option(self.after.as_ref(), |w, a| w.u64(*a));
        w.u32(self.limit);
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(ConfigHistoryPage {
            topic: r.option("config_history.topic", |r| r.string("config_history.topic"))?,
            after: r.option("page.after", |r| r.u64("page.after"))?,
            limit: r.u32("page.limit")?,
        })
    }
}

/// One key of a recorded change: its value before and after, as text
/// (absent before a create, after a delete).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConfigKeyChange {
    pub key: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

impl Wire for ConfigKeyChange {
    const BYTES_MIN: usize = STRING_MIN + OPTION_MIN + OPTION_MIN;
    fn encode(&self, w: &mut Writer) {
        w.string(&self.key);
        w.option(self.old.as_ref(), |w, v| w.string(v));
        w.option(self.new.as_ref(), |w, v| w.string(v));
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(ConfigKeyChange {
            key: r.string("config_change.key")?,
            old: r.option("config_change.old", |r| r.string("config_change.old"))?,
            new: r.option("config_change.new", |r| r.string("config_change.new"))?,
        })
    }
}

/// One recorded change of a topic's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConfigHistoryEntry {
    /// When it was asked for (ms since the Unix epoch).
    pub at_ms: i64,
    pub actor: String,
    pub topic: String,
    /// `create`, `alter` or `delete`.
    pub kind: String,
    /// The keys that moved (every key for a create, none for a delete).
    pub keys: Vec<ConfigKeyChange>,
}

impl ConfigHistoryEntry {
    /// The wire form of an engine record.
    pub fn of(change: &millrace::ConfigChange) -> ConfigHistoryEntry {
        ConfigHistoryEntry {
            at_ms: change.at_ms,
            actor: change.actor.clone(),
            topic: change.topic.clone(),
            kind: change.kind.name().to_string(),
            keys: change
                .keys_changed()
                .into_iter()
                .map(|(key, old, new)| ConfigKeyChange {
                    key: key.to_string(),
                    old,
                    new,
                })
                .collect(),
        }
    }

    /// Bytes of its encoding.
    pub fn encoded_bytes(&self) -> usize {
        let option = |v: &Option<String>| 1 + v.as_ref().map_or(0, |v| 4 + v.len());
        let keys: usize = self
            .keys
            .iter()
            .map(|k| 4 + k.key.len() + option(&k.old) + option(&k.new))
            .sum();
        8 + 4 + self.actor.len() + 4 + self.topic.len() + 4 + self.kind.len() + 4 + keys
    }
}

impl Wire for ConfigHistoryEntry {
    const BYTES_MIN: usize = 8 + STRING_MIN * 3 + 4;
    fn encode(&self, w: &mut Writer) {
        w.i64(self.at_ms);
        w.string(&self.actor);
        w.string(&self.topic);
        w.string(&self.kind);
        write_list(w, &self.keys);
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(ConfigHistoryEntry {
            at_ms: r.i64("config_history.at_ms")?,
            actor: r.string("config_history.actor")?,
            topic: r.string("config_history.topic")?,
            kind: r.string("config_history.kind")?,
            keys: read_list(r, "config_history.keys")?,
        })
    }
}

/// The answer to a [`ConfigHistoryPage`]: `next_after` is the log offset
/// of the page's last entry when another page follows.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConfigHistoryPaged {
    pub entries: Vec<ConfigHistoryEntry>,
    pub next_after: Option<u64>,
}

impl Wire for ConfigHistoryPaged {
    const BYTES_MIN: usize = 4 + OPTION_MIN;
    fn encode(&self, w: &mut Writer) {
        write_list(w, &self.entries);
        w.option(self.next_after.as_ref(), |w, a| w.u64(*a));
    }
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(ConfigHistoryPaged {
            entries: read_list(r, "page.entries")?,
            next_after: r.option("page.next_after", |r| r.u64("page.next_after"))?,
        })
    }
}
