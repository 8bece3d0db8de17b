"""confluent-kafka (librdkafka 2.16) against millrace's Kafka front: records
produced with an explicit old timestamp to a LogAppendTime topic come back
with the broker's append time, to a CreateTime topic with the producer's.

Usage: log_append_time.py BOOTSTRAP LOG_APPEND_TOPIC CREATE_TOPIC
Both topics exist (one partition each). A third, `la-admin`, is created here
through CreateTopics with `message.timestamp.type=LogAppendTime`.

Prints one JSON object: per topic, the delivery reports (timestamp type and
time as librdkafka saw them in the Produce answer) and the consumed records
(timestamp type and time from the fetched batches); exits non-zero on any
failure. Every wait is bounded.
"""

import json
import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

OLD_TS = 1_500_000_000_000
TIMEOUT = 20


def produce(producer, topic):
    reports = []

    def report(err, msg):
        if err:
            raise SystemExit(f"delivery to {topic} failed: {err}")
        reports.append({"offset": msg.offset(), "timestamp": list(msg.timestamp())})

    for i in range(3):
        producer.produce(topic, value=f"v{i}".encode(), timestamp=OLD_TS + i, on_delivery=report)
    if producer.flush(TIMEOUT):
        raise SystemExit(f"{topic}: not delivered within {TIMEOUT}s")
    return reports


def consume(bootstrap, topic, count):
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "log-append-unused",
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 200,
        }
    )
    consumer.assign([TopicPartition(topic, 0, 0)])
    records = []
    deadline = time.time() + TIMEOUT
    while len(records) < count and time.time() < deadline:
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        if msg.error():
            raise SystemExit(f"consume error: {msg.error()}")
        records.append({"offset": msg.offset(), "timestamp": list(msg.timestamp())})
    consumer.close()
    return records


def main():
    bootstrap, log_append_topic, create_topic = sys.argv[1:4]
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics(
        [NewTopic("la-admin", num_partitions=1, config={"message.timestamp.type": "LogAppendTime"})],
        operation_timeout=TIMEOUT,
        request_timeout=TIMEOUT,
    )
    try:
        futures["la-admin"].result(timeout=TIMEOUT)
    except KafkaException as error:
        raise SystemExit(f"CreateTopics la-admin: {error}")
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 50, "message.timeout.ms": 30000})
    results = {"started_ms": int(time.time() * 1000)}
    for topic in [log_append_topic, "la-admin", create_topic]:
        results[topic] = {"delivered": produce(producer, topic)}
    results["finished_ms"] = int(time.time() * 1000)
    for topic in [log_append_topic, "la-admin", create_topic]:
        results[topic]["consumed"] = consume(bootstrap, topic, 3)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
