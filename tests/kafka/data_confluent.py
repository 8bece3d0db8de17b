"""confluent-kafka (librdkafka 2.16) against millrace's Kafka front:
produce with acks=all (a batch of 10 in one request, keys, duplicate and
null headers, null keys and values, explicit timestamps) and acks=0; a
record over the topic's record_bytes_max (its delivery report); consume
with isolation.level=read_committed from the start and from offset 5 (the
middle of the batch of 10).

Usage: data_confluent.py BOOTSTRAP TOPIC BIG_TOPIC
TOPIC: one partition, empty. BIG_TOPIC: record_bytes_max of 1 KiB.
Prints one JSON object; exits non-zero on any failure. Every wait is bounded.
"""

import json
import sys
import time

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

BASE_TS = 1_700_000_000_000


def deliveries(producer, sends, timeout=30):
    reports = []

    def report(err, msg):
        reports.append(
            {
                "error": err.code() if err else 0,
                "error_name": err.name() if err else None,
                "offset": msg.offset(),
            }
        )

    for send in sends:
        producer.produce(on_delivery=report, **send)
    left = producer.flush(timeout)
    if left:
        raise SystemExit(f"{left} messages not delivered within {timeout}s")
    return reports


def consume(bootstrap, topic, offset, count, timeout=30):
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "data-confluent-unused",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "fetch.wait.max.ms": 500,
        }
    )
    consumer.assign([TopicPartition(topic, 0, offset)])
    records = []
    deadline = time.time() + timeout
    while len(records) < count and time.time() < deadline:
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        if msg.error():
            raise SystemExit(f"consume error: {msg.error()}")
        records.append(
            {
                "offset": msg.offset(),
                "key": None if msg.key() is None else msg.key().decode(),
                "value": None if msg.value() is None else msg.value().decode(),
                "headers": [[k, None if v is None else v.decode()] for k, v in (msg.headers() or [])],
                "timestamp": list(msg.timestamp()),
            }
        )
    consumer.close()
    return records


def main():
    bootstrap, topic, big_topic = sys.argv[1:4]
    common = {"bootstrap.servers": bootstrap, "enable.idempotence": False, "message.timeout.ms": 30000}
    # acks=all: ten records in one batch (one request: produced before the
    # linger runs out, then flushed).
    all_producer = Producer({**common, "acks": "all", "linger.ms": 2000, "batch.num.messages": 10})
    sends = []
    for i in range(10):
        send = {
            "topic": topic,
            "partition": 0,
            "key": None if i == 4 else f"k{i}",
            "value": None if i == 3 else f"v{i}",
            "timestamp": BASE_TS + i,
        }
        if i == 0:
            send["headers"] = [("h", b"1"), ("h", b"2"), ("n", None)]
        sends.append(send)
    acks_all = deliveries(all_producer, sends)
    # acks=0: no response; librdkafka reports success without an offset.
    zero_producer = Producer({**common, "acks": 0})
    acks_zero = deliveries(
        zero_producer, [{"topic": topic, "partition": 0, "value": f"z{i}", "timestamp": BASE_TS + 100 + i} for i in range(3)]
    )
    # Over the topic's record_bytes_max (1 KiB), under the client's own limit.
    too_large = deliveries(all_producer, [{"topic": big_topic, "partition": 0, "value": b"x" * 4096}])
    everything = consume(bootstrap, topic, 0, 13)
    from_middle = consume(bootstrap, topic, 5, 8)
    print(
        json.dumps(
            {
                "acks_all": acks_all,
                "acks_zero": acks_zero,
                "too_large": too_large,
                "msg_size_too_large": KafkaError.MSG_SIZE_TOO_LARGE,
                "everything": everything,
                "from_middle": from_middle,
            }
        )
    )


if __name__ == "__main__":
    main()
