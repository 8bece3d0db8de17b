"""What a token sees of consumer groups through millrace's Kafka front
(issue 23: group descriptions obey the token's `groups` patterns).

Logged in over SASL/PLAIN as USER, with confluent-kafka's AdminClient:
1. list_consumer_groups: the group ids listed;
2. describe_consumer_groups of every GROUP given: per group its state, or
   the error name it was answered;
3. list_consumer_group_offsets of every GROUP: its committed offsets on
   TOPIC ({partition: offset}), or the error name;
and with a Consumer of each GROUP (never subscribed), committed() of
TOPIC's partition 0: the offset, or the error name.

Usage: group_describe_auth.py BOOTSTRAP --user U --password P --topic TOPIC GROUP...
Prints one JSON line; exits non-zero on a failure of its own. Every wait is bounded.
"""

import argparse
import json

from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient


def error_name(error):
    """The Kafka error name of a KafkaException."""
    return error.args[0].name()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("bootstrap")
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("groups", nargs="+")
    args = parser.parse_args()
    login = {
        "bootstrap.servers": args.bootstrap,
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanisms": "PLAIN",
        "sasl.username": args.user,
        "sasl.password": args.password,
    }
    admin = AdminClient(login)
    listed = admin.list_consumer_groups(request_timeout=20).result(timeout=30)
    out = {
        "listed": sorted(group.group_id for group in listed.valid),
        "list_errors": [str(error) for error in listed.errors],
        "described": {},
        "offsets": {},
        "committed": {},
    }
    futures = admin.describe_consumer_groups(args.groups, request_timeout=20)
    for group, future in futures.items():
        try:
            described = future.result(timeout=30)
            out["described"][group] = {"state": described.state.name}
        except KafkaException as error:
            out["described"][group] = {"error": error_name(error)}
    for group in args.groups:
        futures = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)], request_timeout=20)
        try:
            listed = futures[group].result(timeout=30)
            out["offsets"][group] = {
                str(tp.partition): tp.offset for tp in listed.topic_partitions if tp.topic == args.topic
            }
        except KafkaException as error:
            out["offsets"][group] = {"error": error_name(error)}
        consumer = Consumer({**login, "group.id": group, "enable.auto.commit": False})
        try:
            [committed] = consumer.committed([TopicPartition(args.topic, 0)], timeout=20)
            if committed.error is not None:
                out["committed"][group] = {"error": committed.error.name()}
            else:
                out["committed"][group] = {"offset": committed.offset}
        except KafkaException as error:
            out["committed"][group] = {"error": error_name(error)}
        finally:
            consumer.close()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
