"""kafka-python and aiokafka idempotent producers (acks=all) against
millrace's Kafka front: each sends N numbered records to its own topic
without an error; then every record is read back once, in order.

Usage: idem_clients.py BOOTSTRAP --topic-prefix T --count N
Prints one JSON line; exits non-zero on any failure. Every wait is bounded.
"""

import argparse
import asyncio
import json
import sys
import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition


def kafka_python(bootstrap, topic, count):
    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        enable_idempotence=True,
        acks="all",
        linger_ms=5,
        request_timeout_ms=30000,
    )
    futures = [producer.send(topic, value=b"%08d" % i, partition=0) for i in range(count)]
    producer.flush(timeout=60)
    offsets = [f.get(timeout=30).offset for f in futures]
    producer.close(timeout=10)
    return offsets


async def aiokafka_send(bootstrap, topic, count):
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        enable_idempotence=True,
        acks="all",
        linger_ms=5,
        request_timeout_ms=30000,
    )
    await asyncio.wait_for(producer.start(), 30)
    try:
        sent = [await producer.send(topic, value=b"%08d" % i, partition=0) for i in range(count)]
        results = await asyncio.wait_for(asyncio.gather(*sent), 60)
        return [r.offset for r in results]
    finally:
        await asyncio.wait_for(producer.stop(), 30)


def read_back(bootstrap, topic):
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    tp = TopicPartition(topic, 0)
    consumer.assign([tp])
    consumer.seek_to_beginning()
    end = consumer.end_offsets([tp])[tp]
    values = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and consumer.position(tp) < end:
        for records in consumer.poll(timeout_ms=500).values():
            values.extend(int(r.value) for r in records)
    consumer.close()
    return values


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("bootstrap")
    parser.add_argument("--topic-prefix", required=True)
    parser.add_argument("--count", type=int, default=2000)
    args = parser.parse_args()
    result = {"problems": []}
    for client in ("kafka-python", "aiokafka"):
        topic = "%s-%s" % (args.topic_prefix, client)
        try:
            if client == "kafka-python":
                offsets = kafka_python(args.bootstrap, topic, args.count)
            else:
                offsets = asyncio.run(aiokafka_send(args.bootstrap, topic, args.count))
        except Exception as e:  # noqa: BLE001: reported as a problem
            result["problems"].append("%s: %r" % (client, e))
            continue
        values = read_back(args.bootstrap, topic)
        result[client] = {"acked": len(offsets), "consumed": len(values)}
        if offsets != list(range(args.count)):
            result["problems"].append("%s: offsets are not 0..%d in order" % (client, args.count))
        if values != list(range(args.count)):
            result["problems"].append("%s: read back %d records, not 0..%d once in order" % (client, len(values), args.count))
    print(json.dumps(result))
    sys.exit(1 if result["problems"] else 0)


if __name__ == "__main__":
    main()
