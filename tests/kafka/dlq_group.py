"""A consumer group on a dead-letter queue through millrace's Kafka front
(issue 21: a group subscribed to `__dlq.<topic>` keeps its place there).

Logged in over SASL/PLAIN as USER, with confluent-kafka, group GROUP:
1. a first member subscribes to `__dlq.TOPIC`, reads FIRST records from the
   start, commits its position synchronously and leaves;
2. a second member of the same group subscribes and reads until it has read
   offset TOTAL - 1, the queue's last: it resumes after the commit; it
   commits and leaves;
3. a consumer of the same group commits a position on `__offsets` (another
   internal topic): the per-partition error it gets.

Usage: dlq_group.py BOOTSTRAP --user U --password P --topic T --group G --first N --total M
Prints one JSON line; exits non-zero on a failure of its own. Every wait is bounded.
"""

import argparse
import json
import time

from confluent_kafka import Consumer, KafkaException, TopicPartition


def member(config, group, dlq, done):
    """Subscribe, read until `done(offsets read)`, commit the last one's
    position, leave: (offsets read, committed [(topic, partition, offset, error)])."""
    consumer = Consumer(
        dict(
            config,
            **{
                "group.id": group,
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "session.timeout.ms": 6000,
            },
        )
    )
    consumer.subscribe([dlq])
    offsets = []
    last = None
    deadline = time.monotonic() + 40
    while not done(offsets):
        if time.monotonic() > deadline:
            raise SystemExit("the member read only %s within 40 s" % offsets)
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        if msg.error():
            raise SystemExit("poll: %s" % msg.error())
        offsets.append(msg.offset())
        last = msg
    answer = consumer.commit(message=last, asynchronous=False)
    committed = [(tp.topic, tp.partition, tp.offset, tp.error.name() if tp.error else None) for tp in answer]
    consumer.close()
    return offsets, committed


def commit_elsewhere(config, group, topic):
    """The error name of a commit of offset 0 of `topic`/0 (None: accepted)."""
    consumer = Consumer(dict(config, **{"group.id": group, "enable.auto.commit": False}))
    try:
        answer = consumer.commit(offsets=[TopicPartition(topic, 0, 0)], asynchronous=False)
        errors = [tp.error.name() if tp.error else None for tp in answer]
        return errors[0] if errors else None
    except KafkaException as error:
        return error.args[0].name()
    finally:
        consumer.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("bootstrap")
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--first", type=int, required=True)
    parser.add_argument("--total", type=int, required=True)
    args = parser.parse_args()
    config = {
        "bootstrap.servers": args.bootstrap,
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanisms": "PLAIN",
        "sasl.username": args.user,
        "sasl.password": args.password,
    }
    dlq = "__dlq." + args.topic
    out = {}
    out["first"], out["first_committed"] = member(config, args.group, dlq, lambda read: len(read) >= args.first)
    out["second"], out["second_committed"] = member(
        config, args.group, dlq, lambda read: bool(read) and read[-1] + 1 >= args.total
    )
    out["offsets_commit"] = commit_elsewhere(config, args.group, "__offsets")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
