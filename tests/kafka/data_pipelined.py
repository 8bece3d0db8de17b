"""confluent-kafka (librdkafka 2.16) producing many batched records with
pipelined requests (acks=all, up to librdkafka's default in-flight count,
~200 KB batches), then reading every record back: the Kafka front reuses its
frame buffers from one request to the next (server/src/kafka/front/connection.rs,
`Spares`), so each record must come back with its own bytes, never a previous
request's. Record sizes vary (so batches do too, and a reused buffer has held
a longer frame before).

Usage: data_pipelined.py BOOTSTRAP TOPIC COUNT
TOPIC: one partition, empty. Prints one JSON object: count, the number of
records read back, the offsets whose value differs (at most 5) and the
produce errors (at most 5). Every wait is bounded.
"""

import json
import sys
import time

from confluent_kafka import Consumer, Producer, TopicPartition


def value_of(i):
    # 412..1012 bytes, the record's own index throughout.
    return (b"%08d" % i) * (52 + (i % 7) * 12) + b"#"


def main():
    bootstrap, topic, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    errors = []
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "linger.ms": 5,
            "batch.size": 200000,
            "compression.type": "none",
            "enable.idempotence": False,
        }
    )

    def report(err, _msg):
        if err is not None and len(errors) < 5:
            errors.append(str(err))

    for i in range(count):
        while True:
            try:
                producer.produce(topic, value_of(i), partition=0, on_delivery=report)
                break
            except BufferError:
                producer.poll(0.01)
        producer.poll(0)
    left = producer.flush(60)
    if left:
        raise SystemExit(f"{left} records not delivered within 60s")

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "pipelined",
            "enable.auto.commit": False,
            "enable.partition.eof": False,
        }
    )
    consumer.assign([TopicPartition(topic, 0, 0)])
    read, wrong = 0, []
    deadline = time.monotonic() + 60
    while read < count and time.monotonic() < deadline:
        for message in consumer.consume(num_messages=5000, timeout=1.0):
            if message.error():
                raise SystemExit(f"consume: {message.error()}")
            if message.value() != value_of(message.offset()) and len(wrong) < 5:
                wrong.append(message.offset())
            read += 1
    consumer.close()
    print(json.dumps({"count": count, "read": read, "wrong": wrong, "errors": errors}))


if __name__ == "__main__":
    main()
