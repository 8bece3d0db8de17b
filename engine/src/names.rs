//! The one name rule for topics, consumer groups and producers, shared by
//! every entry point (the engine's public API, the server, the CLI): the
//! exact rule is in design/format.md, "Names".
//!
//! Names starting with `__` are the store's own: its internal topics
//! (`__offsets`, `__transactions`, `__attempts`, `__redriven`,
//! `__offset_resets`, `__dlq.<topic>`), the groups of its jobs
//! (`__redrive.<topic>`, `__replay.<job>`, `__mirror.<name>`) and their producers. No public
//! write path takes one: only the operation that owns a name writes it
//! ([`Error::InternalName`]).

use crate::error::{Error, Result};

/// The prefix of every name the store keeps for itself.
pub const INTERNAL_PREFIX: &str = "__";
/// Longest user topic name.
pub const TOPIC_NAME_BYTES_MAX: usize = 200;
/// Longest internal topic name: a DLQ (`__dlq.` + a topic name) fits, and so
/// does its staging directory (`.creating`) within a file name's 255 bytes.
pub const INTERNAL_TOPIC_NAME_BYTES_MAX: usize = 246;
/// Longest group name (a key of `__offsets`).
pub const GROUP_NAME_BYTES_MAX: usize = 255;
/// Longest producer name (a key of the producer registry).
pub const PRODUCER_NAME_BYTES_MAX: usize = 255;
/// Suffixes of the directories a topic passes through in `topics/` while it
/// is created or deleted (design/format.md, "Directory layout"), and of the
/// temporary files of atomic replacement: no topic is named with one.
pub const RESERVED_TOPIC_SUFFIXES: [&str; 3] = [".creating", ".deleting", ".tmp"];
/// The group (and producer) of `millrace replay`'s job `job`.
pub const REPLAY_PREFIX: &str = "__replay.";
/// The group (and producer) of the DLQ redrive into a topic.
pub const REDRIVE_PREFIX: &str = "__redrive.";
/// The group of mirror `<name>` (`millrace mirror`): its positions, which
/// are retention floors (`consumer/mirror.rs`).
pub const MIRROR_PREFIX: &str = "__mirror.";

/// The prefix of a topic's dead-letter queue, `__dlq.<topic>`
/// (`pipeline::dlq`).
pub const DLQ_PREFIX: &str = "__dlq.";

/// The internal topic of committed offsets (consumer groups' and the
/// mirrors' positions).
pub const OFFSETS_TOPIC: &str = "__offsets";

/// Internal topic holding transaction commit records (`pipeline::txn`).
pub const TRANSACTIONS_TOPIC: &str = "__transactions";

/// Whether appends to `topic` pass the store quota (they are counted in
/// the used bytes, never refused by it): only [`OFFSETS_TOPIC`]. Its
/// records are small and come from consumers and mirrors, and at the quota
/// they are what frees space: a mirror's position is a retention floor, so
/// refusing it would keep every undelivered record, and the store full,
/// for good (design/mirror.md).
pub fn quota_exempt(topic: &str) -> bool {
    topic == OFFSETS_TOPIC
}

/// Whether `name` (a topic, group or producer) is one the store keeps for itself.
pub fn is_internal(name: &str) -> bool {
    name.starts_with(INTERNAL_PREFIX)
}

/// Whether `topic` is a dead-letter queue (`__dlq.<topic>`): internal, yet
/// a client group may commit its position there (design/format.md,
/// "Names").
pub fn is_dlq_topic(topic: &str) -> bool {
    topic.starts_with(DLQ_PREFIX)
}

/// The group and producer name of replay job `job`.
pub fn replay_group(job: &str) -> String {
    format!("{REPLAY_PREFIX}{job}")
}

/// The group of mirror `name` (its positions).
pub fn mirror_group(name: &str) -> String {
    format!("{MIRROR_PREFIX}{name}")
}

/// A user topic name: 1 to 200 bytes of `A-Z a-z 0-9 . _ -`, beginning with
/// a letter or a digit (so never `.`, `..`, a hidden file, an option-like
/// `-x` or the `__` of internal topics), and not ending in a suffix the data
/// directory uses for itself ([`RESERVED_TOPIC_SUFFIXES`]).
pub fn validate_topic_name(name: &str) -> Result<()> {
    check_topic_name(name, TOPIC_NAME_BYTES_MAX)?;
    if !name.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric()) {
        if is_internal(name) {
            return Err(internal("topic", name));
        }
        return Err(Error::invalid(
            "topic name",
            format!("{name:?}: begin with a letter or a digit"),
        ));
    }
    Ok(())
}

/// An internal topic name (`__` and the user rule's characters and
/// suffixes), for the operations that own them.
pub(crate) fn validate_internal_topic_name(name: &str) -> Result<()> {
    check_topic_name(name, INTERNAL_TOPIC_NAME_BYTES_MAX)?;
    if !is_internal(name) {
        return Err(Error::invalid(
            "topic name",
            format!("{name:?}: an internal topic's name starts with `__`"),
        ));
    }
    Ok(())
}

fn check_topic_name(name: &str, bytes_max: usize) -> Result<()> {
    let ok_chars = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-');
    if name.is_empty() || name.len() > bytes_max || !ok_chars {
        return Err(Error::invalid(
            "topic name",
            format!(
                "{:?}: use 1 to {bytes_max} characters of A-Z a-z 0-9 . _ -",
                truncated(name)
            ),
        ));
    }
    if let Some(suffix) = RESERVED_TOPIC_SUFFIXES.iter().find(|s| name.ends_with(*s)) {
        return Err(Error::invalid(
            "topic name",
            format!("{name:?}: names ending in {suffix:?} are used by the data directory itself"),
        ));
    }
    Ok(())
}

/// A group name a client may commit to or reset: 1 to 255 bytes, not
/// starting with `__` (the groups of the store's jobs).
pub fn validate_group_name(name: &str) -> Result<()> {
    check_length("group", name, GROUP_NAME_BYTES_MAX)?;
    if is_internal(name) {
        return Err(internal("group", name));
    }
    Ok(())
}

/// Any group name, internal ones included (reads, and the owning operations).
pub(crate) fn check_group_length(name: &str) -> Result<()> {
    check_length("group", name, GROUP_NAME_BYTES_MAX)
}

/// A producer name a client may register: 1 to 255 bytes, not starting with
/// `__` (the producers of the store's jobs).
pub fn validate_producer_name(name: &str) -> Result<()> {
    check_length("producer name", name, PRODUCER_NAME_BYTES_MAX)?;
    if is_internal(name) {
        return Err(internal("producer", name));
    }
    Ok(())
}

/// `Err(InternalName)` if `topic` is internal: the check of every public
/// write path (appends, transactions, deletes, truncation, DLQ moves).
pub(crate) fn refuse_internal_topic(topic: &str) -> Result<()> {
    if is_internal(topic) {
        return Err(internal("topic", topic));
    }
    Ok(())
}

/// `Err(InternalName)` if `topic` is internal and not a dead-letter queue:
/// the topic check of a client's position commit (direct, transactional,
/// reset). A group reads a DLQ as any topic, so it keeps its place there;
/// the DLQ's records stay the engine's to write.
pub(crate) fn refuse_internal_position_topic(topic: &str) -> Result<()> {
    if is_internal(topic) && !is_dlq_topic(topic) {
        return Err(internal("topic", topic));
    }
    Ok(())
}

fn check_length(what: &'static str, name: &str, bytes_max: usize) -> Result<()> {
    if name.is_empty() || name.len() > bytes_max {
        return Err(Error::invalid(
            what,
            format!("{:?}: use 1 to {bytes_max} bytes", truncated(name)),
        ));
    }
    Ok(())
}

fn internal(what: &'static str, name: &str) -> Error {
    Error::InternalName {
        what,
        name: truncated(name).to_string(),
    }
}

/// At most 256 bytes of `name` for a message (a char boundary).
fn truncated(name: &str) -> &str {
    let mut end = name.len().min(256);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    name.get(..end).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names() {
        assert!(validate_topic_name("orders-v1.eu_west").is_ok());
        assert!(validate_topic_name("9lives").is_ok());
        for bad in [
            "",
            ".",
            "..",
            ".hidden",
            "-x",
            "_x",
            "../etc",
            "a/b",
            "x.creating",
            "x.deleting",
            "x.tmp",
        ] {
            assert!(validate_topic_name(bad).is_err(), "{bad:?}");
        }
        assert!(matches!(
            validate_topic_name("__offsets"),
            Err(Error::InternalName { what: "topic", .. })
        ));
        assert!(validate_topic_name(&"a".repeat(200)).is_ok());
        assert!(validate_topic_name(&"a".repeat(201)).is_err());
        assert!(validate_internal_topic_name("__offsets").is_ok());
        assert!(validate_internal_topic_name(&format!("__dlq.{}", "a".repeat(200))).is_ok());
        assert!(validate_internal_topic_name("__x.deleting").is_err());
        assert!(validate_internal_topic_name("offsets").is_err());
    }

    #[test]
    fn a_position_may_be_committed_on_a_dead_letter_queue_only() {
        assert!(refuse_internal_position_topic("orders").is_ok());
        assert!(refuse_internal_position_topic("__dlq.orders").is_ok());
        for refused in ["__offsets", "__dlq_orders", "__attempts", "__transactions"] {
            assert!(
                matches!(
                    refuse_internal_position_topic(refused),
                    Err(Error::InternalName { what: "topic", .. })
                ),
                "{refused}"
            );
        }
    }

    #[test]
    fn group_and_producer_names() {
        assert!(validate_group_name("g").is_ok());
        assert!(validate_group_name("_g").is_ok());
        assert!(validate_group_name("").is_err());
        assert!(validate_group_name(&"g".repeat(256)).is_err());
        assert!(matches!(
            validate_group_name("__redrive.x"),
            Err(Error::InternalName { what: "group", .. })
        ));
        assert!(check_group_length("__redrive.x").is_ok());
        assert!(validate_producer_name("p").is_ok());
        assert!(matches!(
            validate_producer_name("__replay.j"),
            Err(Error::InternalName { what: "producer", .. })
        ));
    }
}
