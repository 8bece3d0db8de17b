"""confluent-kafka producers meet a topic's contract through millrace's Kafka
front (issue 22, design/contracts.md "Enforcement").

The topic's contract (applied by the calling test) has `amount` with
`maximum: 100` and action `reject`, and `currency` in [EUR, USD] with action
`dlq`. This script:
1. sends a record breaking the `reject` rule with a plain producer: its
   delivery fails with INVALID_RECORD (librdkafka reports the code's text);
2. sends with an IDEMPOTENT producer (acks=all) one batch mixing valid
   records and records breaking the `dlq` rule, then a second batch: every
   delivery succeeds (the dead-lettered records are accepted into the DLQ);
3. reads the topic back (the valid records, once, in order) and the DLQ
   `__dlq.<topic>` with a consumer (the dead-lettered records with their
   provenance headers).

Usage: contract_rules.py BOOTSTRAP --topic T
Prints one JSON line; exits non-zero on a failure of its own. Every wait is bounded.
"""

import argparse
import json
import time

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition


def deliver(producer, topic, values):
    """Produce `values` to partition 0 and flush; the delivery reports as
    (error name, error text, offset) in order."""
    reports = [None] * len(values)

    def report(index):
        def callback(err, msg):
            if err is None:
                reports[index] = {"error": None, "offset": msg.offset()}
            else:
                reports[index] = {"error": err.name(), "text": err.str(), "offset": msg.offset()}

        return callback

    for i, value in enumerate(values):
        producer.produce(topic, value=json.dumps(value).encode(), partition=0, on_delivery=report(i))
    remaining = producer.flush(60)
    if remaining:
        raise SystemExit("%d messages not delivered within 60 s" % remaining)
    return reports


def read_all(bootstrap, topic):
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "contract-rules-reader",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    tp = TopicPartition(topic, 0, 0)
    _, end = consumer.get_watermark_offsets(tp, timeout=30)
    consumer.assign([tp])
    records = []
    deadline = time.monotonic() + 60
    position = 0
    while position < end and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        if msg.error():
            raise SystemExit("consume %s: %s" % (topic, msg.error()))
        position = msg.offset() + 1
        headers = {k: (v.decode() if v is not None else None) for k, v in (msg.headers() or [])}
        records.append({"offset": msg.offset(), "value": json.loads(msg.value()), "headers": headers})
    consumer.close()
    return records


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("bootstrap")
    parser.add_argument("--topic", required=True)
    args = parser.parse_args()
    out = {}

    plain = Producer({"bootstrap.servers": args.bootstrap, "acks": "all", "retries": 0, "linger.ms": 0})
    out["rejected"] = deliver(plain, args.topic, [{"amount": 500, "currency": "EUR"}])

    idempotent = Producer(
        {
            "bootstrap.servers": args.bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            # One batch per flush: the records below travel together.
            "linger.ms": 200,
        }
    )
    first = [
        {"amount": 1, "currency": "EUR"},
        {"amount": 2, "currency": "GBP"},
        {"amount": 3, "currency": "USD"},
        {"amount": 4, "currency": "JPY"},
        {"amount": 5, "currency": "EUR"},
    ]
    out["idempotent_first"] = deliver(idempotent, args.topic, first)
    out["idempotent_second"] = deliver(idempotent, args.topic, [{"amount": 6, "currency": "USD"}])

    out["topic"] = [r["value"]["amount"] for r in read_all(args.bootstrap, args.topic)]
    out["dlq"] = [
        {"amount": r["value"]["amount"], "headers": r["headers"]}
        for r in read_all(args.bootstrap, "__dlq." + args.topic)
    ]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
