"""Millrace-only topic keys under their Kafka-front names
(`millrace.durability`, `millrace.route.invalid.to.dlq`) and the broker
resource's configs, through millrace's Kafka front with confluent-kafka's
AdminClient (issue 21). A server without tokens.

Usage: millrace_configs.py BOOTSTRAP
Creates `keys` with Millrace-only configs and `bad` with a bad value
(CreateTopics), describes `keys`, changes it with IncrementalAlterConfigs
(SET, DELETE, a bad value, APPEND) and AlterConfigs (naming only
`retention.ms`), describes it again, then the broker with synonyms.
Prints one JSON line {"create": {topic: outcome}, "before": configs,
"alter": [outcome, ...], "after": configs, "broker": configs}, an outcome
being {"error": name or null, "message": text or null} and configs
{name: {"value", "default", "read_only", "source", "synonyms": [[name,
value, source], ...]}}; exits non-zero on a failure of its own. Every wait
is bounded.
"""

import json
import sys

from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewTopic,
    ResourceType,
)


def outcome(future):
    try:
        future.result(timeout=30)
        return {"error": None, "message": None}
    except KafkaException as error:
        return {"error": error.args[0].name(), "message": error.args[0].str()}


def describe(admin, resource):
    entries = admin.describe_configs([resource], request_timeout=20)[resource].result(timeout=30)
    return {
        name: {
            "value": entry.value,
            "default": entry.is_default,
            "read_only": entry.is_read_only,
            "source": ConfigSource(entry.source).name,
            "synonyms": [[s.name, s.value, ConfigSource(s.source).name] for s in entry.synonyms.values()],
        }
        for name, entry in entries.items()
    }


def incremental(admin, configs):
    entries = [ConfigEntry(key, value, incremental_operation=AlterConfigOpType[op]) for key, op, value in configs]
    resource = ConfigResource(ResourceType.TOPIC, "keys", incremental_configs=entries)
    return outcome(admin.incremental_alter_configs([resource], request_timeout=20)[resource])


def main():
    admin = AdminClient({"bootstrap.servers": sys.argv[1]})
    topics = [
        NewTopic(
            "keys",
            num_partitions=1,
            replication_factor=1,
            config={"millrace.durability": "always", "millrace.route.invalid.to.dlq": "true", "retention.ms": "60000"},
        ),
        NewTopic("bad", num_partitions=1, replication_factor=1, config={"millrace.durability": "sometimes"}),
    ]
    created = admin.create_topics(topics, request_timeout=20)
    out = {"create": {name: outcome(future) for name, future in created.items()}}
    topic = ConfigResource(ResourceType.TOPIC, "keys")
    out["before"] = describe(admin, topic)
    out["alter"] = [
        incremental(admin, [("millrace.durability", "SET", "interval:50"), ("millrace.route.invalid.to.dlq", "DELETE", None)]),
        incremental(admin, [("millrace.route.invalid.to.dlq", "SET", "yes")]),
        incremental(admin, [("millrace.durability", "APPEND", "os")]),
        incremental(admin, [("millrace.quota.bytes", "SET", "1048576")]),
        incremental(admin, [("millrace.quota.bytes", "SET", "lots")]),
    ]
    # AlterConfigs replaces the Kafka keys it does not name, not Millrace's.
    legacy = ConfigResource(ResourceType.TOPIC, "keys", set_config={"retention.ms": "120000"})
    out["alter"].append(outcome(admin.alter_configs([legacy], request_timeout=20)[legacy]))
    out["after"] = describe(admin, topic)
    out["broker"] = describe(admin, ConfigResource(ResourceType.BROKER, "0"))
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main()
