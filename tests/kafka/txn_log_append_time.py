"""A transactional confluent-kafka producer against a LogAppendTime topic of
millrace's Kafka front: the delivery reports carry the broker's append time
(the Produce answer's `log_append_time_ms`), and a read_committed consumer
reads the same times.

Usage: txn_log_append_time.py BOOTSTRAP TOPIC
TOPIC exists (one partition, log-append time, empty). Two transactions of
three records each, produced with an old timestamp, both committed.
Prints one JSON object: started_ms, finished_ms, the delivery reports and
the consumed records ([timestamp type, time] and offset each); exits
non-zero on any failure. Every wait is bounded.
"""

import json
import sys
import time

from confluent_kafka import Consumer, Producer, TopicPartition

OLD_TS = 1_500_000_000_000
TIMEOUT = 20


def main():
    bootstrap, topic = sys.argv[1:3]
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "transactional.id": "txn-log-append-time",
            "linger.ms": 20,
            "message.timeout.ms": 30000,
        }
    )
    producer.init_transactions(TIMEOUT)
    reports = []

    def report(err, msg):
        if err:
            raise SystemExit(f"delivery to {topic} failed: {err}")
        reports.append({"offset": msg.offset(), "timestamp": list(msg.timestamp())})

    started = int(time.time() * 1000)
    for round in range(2):
        producer.begin_transaction()
        for i in range(3):
            producer.produce(topic, value=f"t{round}-{i}".encode(), partition=0, timestamp=OLD_TS + i, on_delivery=report)
        producer.flush(TIMEOUT)
        producer.commit_transaction(TIMEOUT)
    finished = int(time.time() * 1000)
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "txn-log-append-unused",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "fetch.wait.max.ms": 200,
        }
    )
    consumer.assign([TopicPartition(topic, 0, 0)])
    consumed = []
    deadline = time.time() + TIMEOUT
    while len(consumed) < 6 and time.time() < deadline:
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        if msg.error():
            raise SystemExit(f"consume error: {msg.error()}")
        consumed.append({"offset": msg.offset(), "timestamp": list(msg.timestamp())})
    consumer.close()
    print(json.dumps({"started_ms": started, "finished_ms": finished, "delivered": reports, "consumed": consumed}))


if __name__ == "__main__":
    main()
