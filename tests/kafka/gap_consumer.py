"""A confluent-kafka consumer in a group across an accepted gap (issue 23's
`repair --accept-gap`, read by a real Kafka client for issue 21).

Subscribes GROUP to TOPIC from the earliest offset, reads partition 0 to its
high watermark, commits synchronously after every message, and reports the
offsets and values read, the watermarks, the group's committed offset and
`offsets_for_times` of timestamp 0.

Usage: gap_consumer.py BOOTSTRAP --topic T --group G
Prints one JSON line; exits non-zero on a failure of its own. Every wait is bounded.
"""

import argparse
import json
import time

from confluent_kafka import Consumer, TopicPartition


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("bootstrap")
    parser.add_argument("--topic", required=True)
    parser.add_argument("--group", required=True)
    args = parser.parse_args()
    consumer = Consumer(
        {
            "bootstrap.servers": args.bootstrap,
            "group.id": args.group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    tp = TopicPartition(args.topic, 0)
    low, high = consumer.get_watermark_offsets(tp, timeout=20)
    consumer.subscribe([args.topic])
    read = []
    errors = []
    position = -1
    deadline = time.monotonic() + 60
    while position + 1 < high and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        if msg.error():
            errors.append(msg.error().name())
            continue
        position = msg.offset()
        read.append([msg.offset(), msg.value().decode()])
        consumer.commit(message=msg, asynchronous=False)
    committed = consumer.committed([TopicPartition(args.topic, 0)], timeout=20)[0].offset
    by_time = consumer.offsets_for_times([TopicPartition(args.topic, 0, 0)], timeout=20)[0].offset
    consumer.close()
    print(
        json.dumps(
            {"low": low, "high": high, "read": read, "errors": errors, "committed": committed, "by_time_0": by_time}
        )
    )


if __name__ == "__main__":
    main()
