"""kafka-python (3.0.12) and aiokafka (0.14.0) against millrace's Kafka
front: each produces ten records in one request (acks=all), then reads the
topic back read_committed from the start and from offset 5 (inside that
stored batch), and asks ListOffsets for the beginning, the end and a time.
kafka-python sends Fetch v7+ with a fetch session; the front answers
session 0, so every request stays a full one.

Usage: data_python.py BOOTSTRAP KAFKA_PYTHON_TOPIC AIOKAFKA_TOPIC
Both topics: one partition, empty. Prints one JSON object; exits non-zero
on any failure. Every wait is bounded.
"""

import asyncio
import json
import sys
import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

BASE_TS = 1_700_000_000_000


def record(message):
    return {
        "offset": message.offset,
        "key": None if message.key is None else message.key.decode(),
        "value": None if message.value is None else message.value.decode(),
        "headers": [[k, None if v is None else v.decode()] for k, v in (message.headers or [])],
        "timestamp": message.timestamp,
    }


def kafka_python(bootstrap, topic):
    producer = KafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=1000, enable_idempotence=False, request_timeout_ms=30000
    )
    futures = [
        producer.send(
            topic,
            partition=0,
            key=f"k{i}".encode(),
            value=None if i == 3 else f"v{i}".encode(),
            headers=[("h", b"1"), ("h", b"2")] if i == 0 else [],
            timestamp_ms=BASE_TS + i,
        )
        for i in range(10)
    ]
    producer.flush(timeout=30)
    offsets = [f.get(timeout=30).offset for f in futures]
    producer.close(timeout=10)
    partition = TopicPartition(topic, 0)
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        isolation_level="read_committed",
        consumer_timeout_ms=10000,
    )
    consumer.assign([partition])
    read = {}
    for start in (0, 5):
        consumer.seek(partition, start)
        got = []
        deadline = time.time() + 30
        while len(got) < 10 - start and time.time() < deadline:
            for messages in consumer.poll(timeout_ms=500).values():
                got.extend(record(m) for m in messages)
        read[str(start)] = got
    times = consumer.offsets_for_times({partition: BASE_TS + 4})
    listed = {
        "beginning": consumer.beginning_offsets([partition])[partition],
        "end": consumer.end_offsets([partition])[partition],
        "time": times[partition].offset,
    }
    consumer.close()
    return {"produced": offsets, "read": read, "listed": listed}


async def aiokafka(bootstrap, topic):
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from aiokafka.structs import TopicPartition as AioPartition

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=1000, request_timeout_ms=30000)
    await asyncio.wait_for(producer.start(), 30)
    try:
        batch = producer.create_batch()
        for i in range(10):
            batch.append(key=f"k{i}".encode(), value=None if i == 3 else f"v{i}".encode(), timestamp=BASE_TS + i)
        sent = await asyncio.wait_for(producer.send_batch(batch, topic, partition=0), 30)
        base = (await asyncio.wait_for(sent, 30)).offset
    finally:
        await asyncio.wait_for(producer.stop(), 30)
    partition = AioPartition(topic, 0)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, isolation_level="read_committed")
    await asyncio.wait_for(consumer.start(), 30)
    try:
        consumer.assign([partition])
        read = {}
        for start in (0, 5):
            consumer.seek(partition, start)
            got = []
            deadline = time.time() + 30
            while len(got) < 10 - start and time.time() < deadline:
                batches = await consumer.getmany(partition, timeout_ms=500)
                got.extend(record(m) for m in batches.get(partition, []))
            read[str(start)] = got
        times = await asyncio.wait_for(consumer.offsets_for_times({partition: BASE_TS + 4}), 30)
        listed = {
            "beginning": (await asyncio.wait_for(consumer.beginning_offsets([partition]), 30))[partition],
            "end": (await asyncio.wait_for(consumer.end_offsets([partition]), 30))[partition],
            "time": times[partition].offset,
        }
    finally:
        await asyncio.wait_for(consumer.stop(), 30)
    return {"produced": [base], "read": read, "listed": listed}


def main():
    bootstrap, kp_topic, aio_topic = sys.argv[1:4]
    result = {"kafka_python": kafka_python(bootstrap, kp_topic), "aiokafka": asyncio.run(aiokafka(bootstrap, aio_topic))}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
