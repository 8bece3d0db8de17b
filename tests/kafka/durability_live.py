"""`millrace.durability` altered on a running server through confluent-kafka's
AdminClient (issue 21): the change applies at once, with no restart.

Usage: durability_live.py BOOTSTRAP alter TOPIC
  Creates TOPIC (one partition) with `millrace.durability=os`, then SETs it
  to `always` with IncrementalAlterConfigs, and describes it. Prints one
  JSON line {"created": outcome, "altered": outcome, "durability": value}.
Usage: durability_live.py BOOTSTRAP produce TOPIC COUNT
  Produces COUNT records `v0`..`v<COUNT-1>` with acks=all, one request at a
  time, and prints one JSON line {"acked": [value, ...], "errors": [...]}:
  the values whose delivery report came back without an error.
Exits non-zero on a failure of its own. Every wait is bounded.
"""

import json
import sys

from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
    ResourceType,
)


def outcome(future):
    try:
        future.result(timeout=30)
        return {"error": None, "message": None}
    except KafkaException as error:
        return {"error": error.args[0].name(), "message": error.args[0].str()}


def alter(bootstrap, topic):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    new = NewTopic(topic, num_partitions=1, replication_factor=1, config={"millrace.durability": "os"})
    created = outcome(admin.create_topics([new], request_timeout=20)[topic])
    entry = ConfigEntry("millrace.durability", "always", incremental_operation=AlterConfigOpType.SET)
    resource = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[entry])
    altered = outcome(admin.incremental_alter_configs([resource], request_timeout=20)[resource])
    described = admin.describe_configs([ConfigResource(ResourceType.TOPIC, topic)], request_timeout=20)
    configs = list(described.values())[0].result(timeout=30)
    value = configs["millrace.durability"].value if "millrace.durability" in configs else None
    print(json.dumps({"created": created, "altered": altered, "durability": value}))


def produce(bootstrap, topic, count):
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "enable.idempotence": False,
            "linger.ms": 0,
            "max.in.flight.requests.per.connection": 1,
            "message.timeout.ms": 30000,
        }
    )
    acked, errors = [], []

    def report(error, message):
        if error is None:
            acked.append(message.value().decode())
        else:
            errors.append(str(error))

    for i in range(count):
        producer.produce(topic, value=f"v{i}".encode(), on_delivery=report)
        producer.poll(0)
    left = producer.flush(60)
    if left:
        errors.append(f"{left} records not delivered within 60 s")
    print(json.dumps({"acked": acked, "errors": errors}))


def main():
    bootstrap, mode, topic = sys.argv[1], sys.argv[2], sys.argv[3]
    if mode == "alter":
        alter(bootstrap, topic)
    elif mode == "produce":
        produce(bootstrap, topic, int(sys.argv[4]))
    else:
        sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
