//! The topic-config keys, written once: each key's name, how its value is
//! parsed and printed, and its one-line meaning. `topic.meta`
//! (design/format.md), the native protocol's `CreateTopic`/`DescribeTopic`
//! (design/protocol.md, "CreateTopic config keys") and the CLI all go
//! through this table, so a key added here is known everywhere.
//!
//! Values are text: decimal integers, `none` for an absent limit, `default`
//! for the store's durability, `true`/`false`. Parsing checks the spelling
//! only; [`TopicConfig::validate`] checks the ranges (refused, never
//! clamped).

use super::{Durability, TimestampType, TopicConfig};
use crate::error::{Error, Result};

/// One topic-config key.
#[derive(Debug, Clone, Copy)]
pub struct TopicConfigKey {
    /// The key as written in `topic.meta` and on the wire.
    pub key: &'static str,
    /// What it means, in one line.
    pub doc: &'static str,
    /// The spelling of "not set" (the store's default, no limit, off);
    /// `None` when the key always has a value.
    pub absent: Option<&'static str>,
    /// Added to `topic.meta` after its format 1 was fixed: written there
    /// only when not [`TopicConfigKey::absent`], so that a file of a topic
    /// that does not use it stays byte for byte what older builds wrote.
    pub written_only_when_set: bool,
    /// The key's name on the Kafka front (DescribeConfigs, AlterConfigs,
    /// IncrementalAlterConfigs, CreateTopics configs): Kafka's name of the
    /// same setting where Kafka has one with the same meaning (its `-1`, "no
    /// limit", is this key's `none`), else [`KAFKA_PREFIX`] and the key with
    /// dots (`millrace.durability`), a name no Kafka broker uses. `None`:
    /// not reachable from Kafka clients.
    pub kafka: Option<&'static str>,
    parse: fn(&mut TopicConfig, &str) -> std::result::Result<(), String>,
    print: fn(&TopicConfig) -> String,
}

impl TopicConfigKey {
    /// Set this key of `config` from its text; `InvalidInput` naming the key
    /// and the expected spelling when it does not parse.
    pub fn set(&self, config: &mut TopicConfig, value: &str) -> Result<()> {
        (self.parse)(config, value).map_err(|expected| {
            Error::invalid("topic config", format!("{} = {value:?}: expected {expected}", self.key))
        })
    }

    /// This key's value in `config`, as text.
    pub fn print(&self, config: &TopicConfig) -> String {
        (self.print)(config)
    }

    /// Whether `config` leaves this key at its "not set" spelling.
    pub fn is_absent(&self, config: &TopicConfig) -> bool {
        self.absent.is_some_and(|absent| self.print(config) == absent)
    }

    /// Whether this key is Millrace's own (its Kafka-front name starts with
    /// [`KAFKA_PREFIX`]): a Kafka client that does not know it never names it.
    pub fn is_millrace_only(&self) -> bool {
        self.kafka.is_some_and(|name| name.starts_with(KAFKA_PREFIX))
    }

    /// This key's value in `config` as the Kafka front shows it: `-1` for a
    /// limit that is not set, `CreateTime`/`LogAppendTime` for the
    /// timestamp type, else the key's own text.
    pub fn kafka_value(&self, config: &TopicConfig) -> String {
        if self.absent == Some("none") && self.is_absent(config) {
            return "-1".into();
        }
        if self.key == "timestamp_type" {
            return config.timestamp_type.kafka_name().to_string();
        }
        self.print(config)
    }

    /// A value a Kafka client sent for this key, as the key's own text
    /// (`-1` is `none` where the key is a limit), checked to parse; else a
    /// message naming the key by its Kafka name and the values it takes.
    pub fn parse_kafka(&self, value: &str) -> std::result::Result<String, String> {
        let text = match (value, self.absent) {
            ("-1", Some("none")) => "none",
            (value, _) => value,
        };
        let mut scratch = TopicConfig::default();
        match (self.parse)(&mut scratch, text) {
            Ok(()) => Ok(text.to_string()),
            Err(expected) => {
                let expected = if self.absent == Some("none") {
                    expected.replace("`none`", "`-1` (no limit)")
                } else {
                    expected
                };
                Err(format!(
                    "config {:?} = {value:?}: expected {expected}",
                    self.kafka.unwrap_or(self.key)
                ))
            }
        }
    }
}

/// The prefix of the Kafka-front names of Millrace-only keys
/// (`millrace.durability`, `millrace.route.invalid.to.dlq`).
pub const KAFKA_PREFIX: &str = "millrace.";

const INTEGER: &str = "a decimal integer";
const INTEGER_U32: &str = "a decimal integer up to 4294967295";
const INTEGER_OR_NONE: &str = "`none` or a decimal integer";

fn optional(value: &str) -> std::result::Result<Option<u64>, String> {
    if value == "none" {
        return Ok(None);
    }
    value.parse().map(Some).map_err(|_| INTEGER_OR_NONE.to_string())
}

fn print_optional(value: Option<u64>) -> String {
    value.map_or_else(|| "none".to_string(), |v| v.to_string())
}

/// Every topic-config key, in the order `topic.meta` and `DescribeTopic`
/// list them (`partitions` is not among them: it is fixed at creation and
/// travels on its own).
pub const TOPIC_CONFIG_KEYS: [TopicConfigKey; 10] = [
    TopicConfigKey {
        key: "durability",
        kafka: Some("millrace.durability"),
        doc: "when an append is acknowledged: `default` (the store's), `always`, `os`, `interval:<ms>`",
        absent: Some("default"),
        written_only_when_set: false,
        parse: |c, v| {
            c.durability = if v == "default" {
                None
            } else {
                Some(
                    Durability::parse(v)
                        .map_err(|_| "`default`, `always`, `os` or `interval:<ms>` (ms at least 1)".to_string())?,
                )
            };
            Ok(())
        },
        print: |c| c.durability.map_or_else(|| "default".to_string(), |d| d.to_string()),
    },
    TopicConfigKey {
        key: "segment_bytes",
        kafka: Some("segment.bytes"),
        doc: "a segment is sealed and a new one started past this size; also bounds a batch",
        absent: None,
        written_only_when_set: false,
        parse: |c, v| {
            c.segment_bytes = v.parse().map_err(|_| INTEGER.to_string())?;
            Ok(())
        },
        print: |c| c.segment_bytes.to_string(),
    },
    TopicConfigKey {
        key: "segment_age_ms",
        kafka: Some("segment.ms"),
        doc: "roll the active segment once it is this old (and not empty); `none`: never by age",
        absent: Some("none"),
        written_only_when_set: false,
        parse: |c, v| {
            c.segment_age_ms = optional(v)?;
            Ok(())
        },
        print: |c| print_optional(c.segment_age_ms),
    },
    TopicConfigKey {
        key: "retention_ms",
        kafka: Some("retention.ms"),
        doc: "delete sealed segments whose records are all older; `none`: keep them",
        absent: Some("none"),
        written_only_when_set: false,
        parse: |c, v| {
            c.retention_ms = optional(v)?;
            Ok(())
        },
        print: |c| print_optional(c.retention_ms),
    },
    TopicConfigKey {
        key: "retention_bytes",
        kafka: Some("retention.bytes"),
        doc: "per partition: delete the oldest sealed segments beyond this; `none`: unbounded",
        absent: Some("none"),
        written_only_when_set: false,
        parse: |c, v| {
            c.retention_bytes = optional(v)?;
            Ok(())
        },
        print: |c| print_optional(c.retention_bytes),
    },
    TopicConfigKey {
        key: "record_bytes_max",
        kafka: Some("max.message.bytes"),
        doc: "largest record (key, value and headers encoded), refused above",
        absent: None,
        written_only_when_set: false,
        parse: |c, v| {
            c.record_bytes_max = v.parse().map_err(|_| INTEGER_U32.to_string())?;
            Ok(())
        },
        print: |c| c.record_bytes_max.to_string(),
    },
    TopicConfigKey {
        key: "index_interval_bytes",
        kafka: Some("index.interval.bytes"),
        doc: "bytes of log between two offset-index entries",
        absent: None,
        written_only_when_set: false,
        parse: |c, v| {
            c.index_interval_bytes = v.parse().map_err(|_| INTEGER_U32.to_string())?;
            Ok(())
        },
        print: |c| c.index_interval_bytes.to_string(),
    },
    TopicConfigKey {
        key: "route_invalid_to_dlq",
        kafka: Some("millrace.route.invalid.to.dlq"),
        doc: "a record refused by validation goes to the topic's DLQ (stage `produce`) instead of failing the \
              append, for appends that route (`Store::append_routed`)",
        absent: Some("false"),
        written_only_when_set: true,
        parse: |c, v| {
            c.route_invalid_to_dlq = v.parse().map_err(|_| "`true` or `false`".to_string())?;
            Ok(())
        },
        print: |c| c.route_invalid_to_dlq.to_string(),
    },
    TopicConfigKey {
        key: "timestamp_type",
        kafka: Some("message.timestamp.type"),
        doc: "which time records carry: `create` (the producer's) or `log-append` (the time the partition \
              appended them, whatever the producer gave)",
        absent: Some("create"),
        written_only_when_set: true,
        parse: |c, v| {
            c.timestamp_type = TimestampType::parse(v)
                .ok_or_else(|| "`create` or `log-append` (Kafka: `CreateTime` or `LogAppendTime`)".to_string())?;
            Ok(())
        },
        print: |c| c.timestamp_type.to_string(),
    },
    TopicConfigKey {
        key: "quota_bytes",
        kafka: Some("millrace.quota.bytes"),
        doc: "the topic's byte quota over all its partitions: an append that would pass it is refused \
              (`QuotaExceeded`, nothing written); `none`: only the store's quota",
        absent: Some("none"),
        written_only_when_set: true,
        parse: |c, v| {
            c.quota_bytes = optional(v)?;
            Ok(())
        },
        print: |c| print_optional(c.quota_bytes),
    },
];

/// The key named `key`, if it is one.
pub fn topic_config_key(key: &str) -> Option<&'static TopicConfigKey> {
    TOPIC_CONFIG_KEYS.iter().find(|k| k.key == key)
}

/// The key the Kafka front calls `name` (Kafka's `retention.ms`,
/// `max.message.bytes`, ..., or a Millrace-only `millrace.durability`).
pub fn topic_config_key_of_kafka(name: &str) -> Option<&'static TopicConfigKey> {
    TOPIC_CONFIG_KEYS.iter().find(|k| k.kafka == Some(name))
}

impl TopicConfig {
    /// Set `key` from its text (see [`TOPIC_CONFIG_KEYS`]); an unknown key
    /// or a value that does not parse is `InvalidInput` naming it. Ranges
    /// are checked by [`TopicConfig::validate`].
    ///
    /// ```
    /// let mut config = millrace::TopicConfig::default();
    /// config.set("retention_ms", "60000").unwrap();
    /// assert_eq!(config.retention_ms, Some(60_000));
    /// assert!(config.set("retention_ms", "1h").is_err());
    /// assert!(config.set("colour", "blue").is_err());
    /// ```
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        match topic_config_key(key) {
            Some(entry) => entry.set(self, value),
            None => Err(Error::invalid(
                "topic config",
                format!(
                    "unknown key {key:?}; known: {}",
                    TOPIC_CONFIG_KEYS.iter().map(|k| k.key).collect::<Vec<_>>().join(", ")
                ),
            )),
        }
    }

    /// Every key with its value as text, in [`TOPIC_CONFIG_KEYS`] order.
    pub fn entries(&self) -> Vec<(&'static str, String)> {
        TOPIC_CONFIG_KEYS.iter().map(|k| (k.key, k.print(self))).collect()
    }

    /// The keys not at their "not set" spelling ([`TopicConfigKey::absent`]):
    /// what a client sends to create a topic like this one, leaving the
    /// rest to the other side's defaults.
    pub fn entries_set(&self) -> Vec<(&'static str, String)> {
        TOPIC_CONFIG_KEYS
            .iter()
            .filter(|k| !k.is_absent(self))
            .map(|k| (k.key, k.print(self)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each key prints what it parses, and the defaults print as documented.
    #[test]
    fn every_key_round_trips() {
        let config = TopicConfig {
            durability: Some(Durability::Interval { ms: 50 }),
            segment_age_ms: Some(7),
            retention_ms: Some(8),
            retention_bytes: Some(9),
            route_invalid_to_dlq: true,
            timestamp_type: TimestampType::LogAppend,
            quota_bytes: Some(10),
            ..TopicConfig::with_partitions(3)
        };
        for defaults in [TopicConfig::with_partitions(3), config] {
            let mut rebuilt = TopicConfig::with_partitions(3);
            for (key, value) in defaults.entries() {
                rebuilt.set(key, &value).unwrap();
            }
            assert_eq!(rebuilt, defaults);
        }
        let names: Vec<&str> = TopicConfig::default()
            .entries_set()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(names, ["segment_bytes", "record_bytes_max", "index_interval_bytes"]);
    }

    /// Every key has a Kafka-front name, unique; the Millrace-only ones
    /// under `millrace.`; Kafka spellings translate and bad ones are
    /// refused naming the Kafka name and the values the key takes.
    #[test]
    fn kafka_names_and_spellings() {
        let mut names: Vec<&str> = TOPIC_CONFIG_KEYS.iter().filter_map(|k| k.kafka).collect();
        assert_eq!(names.len(), TOPIC_CONFIG_KEYS.len());
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), TOPIC_CONFIG_KEYS.len());
        let only: Vec<&str> = TOPIC_CONFIG_KEYS
            .iter()
            .filter(|k| k.is_millrace_only())
            .map(|k| k.key)
            .collect();
        assert_eq!(only, ["durability", "route_invalid_to_dlq", "quota_bytes"]);
        let key = |name| topic_config_key_of_kafka(name).unwrap();
        assert_eq!(key("millrace.quota.bytes").parse_kafka("-1").unwrap(), "none");
        assert_eq!(key("retention.ms").parse_kafka("-1").unwrap(), "none");
        assert_eq!(key("millrace.durability").parse_kafka("always").unwrap(), "always");
        let error = key("millrace.durability").parse_kafka("-1").unwrap_err();
        assert!(
            error.contains("millrace.durability") && error.contains("`always`"),
            "{error}"
        );
        let error = key("millrace.route.invalid.to.dlq").parse_kafka("yes").unwrap_err();
        assert!(
            error.contains("millrace.route.invalid.to.dlq") && error.contains("`true` or `false`"),
            "{error}"
        );
        let error = key("segment.ms").parse_kafka("1h").unwrap_err();
        assert!(error.contains("`-1` (no limit)"), "{error}");
        let config = TopicConfig::default();
        assert_eq!(key("retention.ms").kafka_value(&config), "-1");
        assert_eq!(key("millrace.durability").kafka_value(&config), "default");
        assert_eq!(key("millrace.route.invalid.to.dlq").kafka_value(&config), "false");
        assert_eq!(key("message.timestamp.type").kafka_value(&config), "CreateTime");
    }

    #[test]
    fn bad_values_are_refused_naming_the_key() {
        let mut config = TopicConfig::default();
        for (key, value) in [
            ("segment_bytes", "64MiB"),
            ("record_bytes_max", "4294967296"),
            ("retention_ms", "forever"),
            ("durability", "sometimes"),
            ("route_invalid_to_dlq", "yes"),
            ("timestamp_type", "append"),
            ("quota_bytes", "1GiB"),
        ] {
            let error = config.set(key, value).unwrap_err().to_string();
            assert!(error.contains(key) && error.contains("expected"), "{error}");
        }
        assert_eq!(config, TopicConfig::default());
    }
}
