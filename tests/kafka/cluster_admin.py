"""CreateTopics and DeleteTopics through confluent-kafka's AdminClient.

Usage: cluster_admin.py BOOTSTRAP [KEY=VALUE ...]  (extra librdkafka settings)

Prints one JSON object: for each operation, "ok" or the Kafka error's name
and message. Exits non-zero only if the client itself fails (every wait is
bounded).
"""

import json
import sys

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

TIMEOUT = 20


def outcome(future):
    try:
        future.result(timeout=TIMEOUT)
        return "ok"
    except KafkaException as error:
        err = error.args[0]
        return {"error": err.name(), "message": err.str()}


def create(admin, topic, **options):
    validate_only = options.pop("validate_only", False)
    futures = admin.create_topics([topic], operation_timeout=TIMEOUT, request_timeout=TIMEOUT,
                                  validate_only=validate_only)
    return outcome(futures[topic.topic])


def main():
    bootstrap = sys.argv[1]
    config = {"bootstrap.servers": bootstrap}
    for setting in sys.argv[2:]:
        key, value = setting.split("=", 1)
        config[key] = value
    admin = AdminClient(config)
    results = {}
    results["create"] = create(admin, NewTopic(
        "payments", num_partitions=4, replication_factor=1,
        config={"retention.ms": "86400000", "max.message.bytes": "65536", "retention.bytes": "-1"}))
    results["create_default"] = create(admin, NewTopic("defaults"))
    results["create_again"] = create(admin, NewTopic("payments", num_partitions=1))
    results["replication_3"] = create(admin, NewTopic("replicated", num_partitions=1, replication_factor=3))
    results["unknown_config"] = create(admin, NewTopic(
        "configured", num_partitions=1, config={"cleanup.policy": "compact"}))
    results["bad_value"] = create(admin, NewTopic(
        "configured", num_partitions=1, config={"retention.ms": "soon"}))
    results["bad_name"] = create(admin, NewTopic("_hidden", num_partitions=1))
    results["validate_only"] = create(admin, NewTopic("dry", num_partitions=2), validate_only=True)
    metadata = admin.list_topics(timeout=TIMEOUT)
    results["topics"] = sorted(
        [name, len(topic.partitions)] for name, topic in metadata.topics.items())
    futures = admin.delete_topics(["defaults", "missing"], operation_timeout=TIMEOUT,
                                  request_timeout=TIMEOUT)
    results["delete"] = outcome(futures["defaults"])
    results["delete_missing"] = outcome(futures["missing"])
    print(json.dumps(results))


if __name__ == "__main__":
    main()
