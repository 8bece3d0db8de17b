"""A transactional consume-transform-produce stage reading a dead-letter
queue through millrace's Kafka front (issue 21): confluent-kafka, logged in
over SASL/PLAIN as USER, group GROUP on `__dlq.TOPIC`, output to OUT.

1. Read the first two records of the queue, produce a fixed copy of each to
   OUT and send the consumer's position (2) to the transaction; commit.
2. Read the next two, produce and send the position (4); abort.
3. A new member of the group (read_committed) starts where the committed
   transaction left it: it reads offset 2 first.

Usage: dlq_txn.py BOOTSTRAP --user U --password P --topic T --group G --out OUT
Prints one JSON line; exits non-zero on a failure of its own. Every wait is bounded.
"""

import argparse
import json
import time

from confluent_kafka import Consumer, Producer, TopicPartition


def read(consumer, count):
    """The next `count` records (bounded wait)."""
    got = []
    deadline = time.monotonic() + 40
    while len(got) < count:
        if time.monotonic() > deadline:
            raise SystemExit("read only %s within 40 s" % [m.offset() for m in got])
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        if msg.error():
            raise SystemExit("poll: %s" % msg.error())
        got.append(msg)
    return got


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("bootstrap")
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    config = {
        "bootstrap.servers": args.bootstrap,
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanisms": "PLAIN",
        "sasl.username": args.user,
        "sasl.password": args.password,
    }
    dlq = "__dlq." + args.topic
    consumer_config = dict(
        config,
        **{
            "group.id": args.group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
            "session.timeout.ms": 6000,
        },
    )
    consumer = Consumer(consumer_config)
    consumer.subscribe([dlq])
    producer = Producer(dict(config, **{"transactional.id": args.group + "-stage", "linger.ms": 0}))
    producer.init_transactions(30)
    out = {}
    for step, ending in (("committed", "commit"), ("aborted", "abort")):
        batch = read(consumer, 2)
        producer.begin_transaction()
        for msg in batch:
            producer.produce(args.out, value=b"fixed:" + msg.value())
        positions = consumer.position(consumer.assignment())
        producer.send_offsets_to_transaction(positions, consumer.consumer_group_metadata(), 30)
        if ending == "commit":
            producer.commit_transaction(30)
        else:
            producer.abort_transaction(30)
        out[step] = {
            "offsets": [m.offset() for m in batch],
            "sent": [(tp.topic, tp.partition, tp.offset) for tp in positions],
        }
    consumer.close()
    # A new member resumes at the committed position, not the aborted one.
    resumed = Consumer(consumer_config)
    resumed.subscribe([dlq])
    out["resumed_at"] = read(resumed, 1)[0].offset()
    resumed.close()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
