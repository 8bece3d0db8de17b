"""DescribeConfigs through millrace's Kafka front with confluent-kafka's
AdminClient (issue 21): each resource's configs, or its error.

Usage: describe_configs.py BOOTSTRAP [--broker ID] [--config KEY=VALUE ...] TOPIC...
Prints one JSON line {resource: {"error": name or null, "configs": {name:
{"value", "default", "read_only", "source"}}}} (resources as "topic:NAME" and
"broker:ID"); exits non-zero on a failure of its own. Every wait is bounded.
"""

import argparse
import json

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, ConfigResource, ConfigSource, ResourceType


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("bootstrap")
    parser.add_argument("topics", nargs="*")
    parser.add_argument("--broker")
    parser.add_argument("--config", action="append", default=[], help="client property KEY=VALUE")
    args = parser.parse_intermixed_args()
    config = {"bootstrap.servers": args.bootstrap}
    for pair in args.config:
        key, value = pair.split("=", 1)
        config[key] = value
    admin = AdminClient(config)
    resources = [(ConfigResource(ResourceType.TOPIC, topic), "topic:" + topic) for topic in args.topics]
    if args.broker is not None:
        resources.append((ConfigResource(ResourceType.BROKER, args.broker), "broker:" + args.broker))
    out = {}
    for resource, label in resources:
        # One request per resource: librdkafka sends a broker resource to
        # that broker and topics to any; each future carries its own error.
        future = admin.describe_configs([resource], request_timeout=20)[resource]
        try:
            entries = future.result(timeout=30)
        except KafkaException as error:
            out[label] = {"error": error.args[0].name(), "configs": {}}
            continue
        out[label] = {
            "error": None,
            "configs": {
                name: {
                    "value": entry.value,
                    "default": entry.is_default,
                    "read_only": entry.is_read_only,
                    "source": ConfigSource(entry.source).name,
                }
                for name, entry in entries.items()
            },
        }
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main()
