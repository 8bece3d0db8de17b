"""DescribeConfigs with synonyms through millrace's Kafka front (issue 21),
logged in over SASL/PLAIN as admin: kafka-python's
`describe_configs(include_synonyms=True)` (the synonym chain as sent: a
list) and confluent-kafka's (librdkafka always asks for synonyms; it keys
them by name).

Usage: describe_synonyms.py BOOTSTRAP TOPIC
TOPIC is first created with CreateTopics (confluent-kafka), `retention.ms`
set to 3600000 and the rest left to the server's defaults.
Prints one JSON line {"kafka_python": {config: {"value", "source",
"synonyms": [[name, value, source], ...]}}, "confluent": {config: {"value",
"source", "synonyms": {name: source}}}}; exits non-zero on a failure of its
own. Every wait is bounded.
"""

import json
import sys

from confluent_kafka.admin import AdminClient, ConfigResource, ConfigSource, NewTopic, ResourceType
from kafka.admin import ConfigResource as KafkaConfigResource
from kafka.admin import ConfigResourceType, KafkaAdminClient

PASSWORD = "admin-token-0123456789"


def kafka_python(bootstrap, topic):
    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap,
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="PLAIN",
        sasl_plain_username="admin",
        sasl_plain_password=PASSWORD,
        request_timeout_ms=20000,
    )
    try:
        described = admin.describe_configs(
            [KafkaConfigResource(ConfigResourceType.TOPIC, topic)], include_synonyms=True, config_filter="all"
        )
    finally:
        admin.close()
    return {
        name: {
            "value": config["value"],
            "source": config["config_source"],
            "synonyms": [[s["name"], s["value"], s["source"]] for s in config.get("synonyms", [])],
        }
        for name, config in described["topic"][topic].items()
    }


def confluent_admin(bootstrap):
    return AdminClient(
        {
            "bootstrap.servers": bootstrap,
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanisms": "PLAIN",
            "sasl.username": "admin",
            "sasl.password": PASSWORD,
        }
    )


def create(bootstrap, topic):
    new = NewTopic(topic, num_partitions=1, replication_factor=1, config={"retention.ms": "3600000"})
    admin = confluent_admin(bootstrap)
    admin.create_topics([new], request_timeout=20)[topic].result(timeout=30)


def confluent(bootstrap, topic):
    admin = confluent_admin(bootstrap)
    resource = ConfigResource(ResourceType.TOPIC, topic)
    entries = admin.describe_configs([resource], request_timeout=20)[resource].result(
        timeout=30
    )
    return {
        name: {
            "value": entry.value,
            "source": ConfigSource(entry.source).name,
            "synonyms": {s.name: ConfigSource(s.source).name for s in entry.synonyms.values()},
        }
        for name, entry in entries.items()
    }


def main():
    bootstrap, topic = sys.argv[1], sys.argv[2]
    create(bootstrap, topic)
    print(json.dumps({"kafka_python": kafka_python(bootstrap, topic), "confluent": confluent(bootstrap, topic)}))


if __name__ == "__main__":
    main()
