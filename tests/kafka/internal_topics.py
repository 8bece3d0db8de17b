"""What a token sees of the store's own topics through millrace's Kafka front
(issue 21: "The DLQ and internal topics are visible to Kafka clients under
their names, read-only unless the token allows admin").

Logged in over SASL/PLAIN as USER, with confluent-kafka:
1. lists the topics (Metadata);
2. optionally commits offset 3 of TOPIC/0 for a group (so that `__offsets`
   holds a record);
3. reads `__dlq.TOPIC` and `__offsets` from the start (ListOffsets, then
   Fetch): the records with their headers, or the error each step answered;
4. produces one record to `__dlq.TOPIC`: its delivery report's error.

Usage: internal_topics.py BOOTSTRAP --user U --password P --topic T [--commit-group G]
Prints one JSON line; exits non-zero on a failure of its own. Every wait is bounded.
"""

import argparse
import json
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient


def read(config, topic):
    """(records, error name) of partition 0 of `topic` from offset 0."""
    consumer = Consumer(dict(config, **{"group.id": "internal-topics-reader", "enable.auto.commit": False}))
    tp = TopicPartition(topic, 0, 0)
    try:
        _, end = consumer.get_watermark_offsets(tp, timeout=20)
    except KafkaException as error:
        consumer.close()
        return {"error": error.args[0].name(), "records": []}
    consumer.assign([tp])
    records = []
    error = None
    position = 0
    deadline = time.monotonic() + 30
    while position < end and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        if msg.error():
            error = msg.error().name()
            break
        position = msg.offset() + 1
        headers = {k: (v.decode() if v is not None else None) for k, v in (msg.headers() or [])}
        value = msg.value()
        records.append(
            {"offset": msg.offset(), "value": value.decode(errors="replace") if value else None, "headers": headers}
        )
    consumer.close()
    return {"error": error, "end": end, "records": records}


def produce(config, topic):
    """The delivery report's error name (None: delivered)."""
    producer = Producer(dict(config, **{"acks": "all", "retries": 0, "message.timeout.ms": 20000}))
    reports = []
    producer.produce(
        topic, value=b"forged", partition=0, on_delivery=lambda err, msg: reports.append(err.name() if err else None)
    )
    if producer.flush(30):
        raise SystemExit("the produce to %s was not answered within 30 s" % topic)
    return reports[0]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("bootstrap")
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--commit-group")
    args = parser.parse_args()
    config = {
        "bootstrap.servers": args.bootstrap,
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanisms": "PLAIN",
        "sasl.username": args.user,
        "sasl.password": args.password,
    }
    out = {}
    metadata = AdminClient(config).list_topics(timeout=20)
    out["topics"] = sorted(metadata.topics)
    out["internal"] = sorted(name for name, topic in metadata.topics.items() if name.startswith("__"))
    if args.commit_group:
        consumer = Consumer(dict(config, **{"group.id": args.commit_group, "enable.auto.commit": False}))
        committed = consumer.commit(offsets=[TopicPartition(args.topic, 0, 3)], asynchronous=False)
        out["committed"] = [(tp.topic, tp.offset, tp.error.name() if tp.error else None) for tp in committed]
        consumer.close()
    dlq = "__dlq." + args.topic
    out["dlq"] = read(config, dlq)
    out["offsets"] = read(config, "__offsets")
    out["produce_dlq"] = produce(config, dlq)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
