"""Confluent's wire framing, checked at the Kafka front (issue 22,
design/contracts.md "Rules", 2. Framing): confluent-kafka's JSONSerializer
writes the framing (magic byte 0, 4-byte schema id), and a producer gets it
wrong in the three ways a contract with `framing: required` catches:

(a) schema.id: an id Millrace's registry does not know (a serializer
    pointed at another registry: confluent-kafka's in-memory `mock://`
    registry, whose ids are not Millrace's);
(b) schema.subject: an id registered under another subject than the
    topic's (the serializer of topic `other`, registered there, its bytes
    sent to this topic);
(c) schema.framing: no magic byte (the JSON text without a serializer) and
    a wrong one (the serializer's bytes with the first byte 1).

Two topics, both `framing: required`: ORDERS with action reject (each bad
record travels in one batch between two good ones: the whole batch is
answered INVALID_RECORD and nothing of it is appended; a batch of good
records follows), PAYMENTS with action dlq (one batch of good and bad
records: every delivery succeeds, the good ones are in the topic in order,
the bad ones in `__dlq.PAYMENTS` byte for byte, with their provenance
headers). The good records are read back with JSONDeserializer.

Usage: contract_framing.py BOOTSTRAP REGISTRY_URL --reject ORDERS --dlq PAYMENTS
Prints one JSON line; exits non-zero on a failure of its own. Every wait is bounded.
"""

import argparse
import json
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.schema_registry.json_schema import JSONDeserializer, JSONSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

TIMEOUT = 30

ORDER = json.dumps({
    "type": "object",
    "properties": {"id": {"type": "integer"}, "item": {"type": "string"}},
    "required": ["id", "item"],
})
# Another subject's schema (another text: the same text would have the same id).
OTHER = json.dumps({
    "title": "Other", "type": "object",
    "properties": {"id": {"type": "integer"}, "item": {"type": "string"}},
})


def serializer(schema, registry):
    return JSONSerializer(schema, registry, conf={"auto.register.schemas": True})


def frame(serialize, topic, value):
    return serialize(value, SerializationContext(topic, MessageField.VALUE))


def deliver(bootstrap, topic, values):
    """Produce `values` (bytes) to partition 0 as ONE batch and flush; the
    delivery reports as {error, text} in order."""
    producer = Producer({
        "bootstrap.servers": bootstrap, "acks": "all", "retries": 0,
        # One batch per flush: the records below travel together.
        "linger.ms": 500, "message.timeout.ms": TIMEOUT * 1000,
    })
    reports = [None] * len(values)

    def report(index):
        def callback(err, _msg):
            reports[index] = {"error": None} if err is None else {"error": err.name(), "text": err.str()}
        return callback

    for i, value in enumerate(values):
        producer.produce(topic, value=value, partition=0, on_delivery=report(i))
    if producer.flush(TIMEOUT):
        raise SystemExit(f"{topic}: not every message delivered within {TIMEOUT} s")
    return reports


def read_all(bootstrap, topic):
    """Every record of partition 0: (value bytes, headers)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "contract-framing-" + topic,
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    tp = TopicPartition(topic, 0, 0)
    _, end = consumer.get_watermark_offsets(tp, timeout=TIMEOUT)
    consumer.assign([tp])
    records, position = [], 0
    deadline = time.monotonic() + TIMEOUT
    while position < end and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        if msg.error():
            raise SystemExit(f"consume {topic}: {msg.error()}")
        position = msg.offset() + 1
        headers = {k: (v.decode() if v is not None else None) for k, v in (msg.headers() or [])}
        records.append((msg.value(), headers))
    consumer.close()
    if position < end:
        raise SystemExit(f"{topic}: read {position} of {end} records within {TIMEOUT} s")
    return records


def schema_id(framed):
    return int.from_bytes(framed[1:5], "big")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("bootstrap")
    parser.add_argument("registry")
    parser.add_argument("--reject", required=True)
    parser.add_argument("--dlq", required=True)
    args = parser.parse_args()
    registry = SchemaRegistryClient({"url": args.registry})
    order = serializer(ORDER, registry)
    other = serializer(OTHER, registry)
    # Another registry: its ids are not Millrace's. Three schemas first, so
    # that the order schema's id there is past every id Millrace gave out.
    elsewhere = SchemaRegistryClient.new_client({"url": "mock://elsewhere"})
    for filler in ("a", "b", "c"):
        frame(serializer(json.dumps({"title": filler, "type": "object"}), elsewhere), "filler-" + filler, {})
    order_elsewhere = serializer(ORDER, elsewhere)
    out = {}

    def bad_records(topic, n):
        """The four framing violations, each for record `n` of `topic`."""
        value = {"id": n, "item": "bad"}
        unknown = frame(order_elsewhere, topic, value)
        other_subject = frame(other, "other", value)
        wrong_magic = b"\x01" + frame(order, topic, value)[1:]
        return {
            "unknown_id": unknown,
            "other_subject": other_subject,
            "no_magic": json.dumps(value).encode(),
            "wrong_magic": wrong_magic,
        }

    # What the test needs to know of the ids: the unknown one really is.
    sample = bad_records(args.reject, 0)
    try:
        registry.get_schema(schema_id(sample["unknown_id"]))
        out["unknown_id_known"] = True
    except SchemaRegistryError as error:
        out["unknown_id_known"] = error.error_code
    out["ids"] = {"order": schema_id(frame(order, args.reject, {"id": 0, "item": "x"})),
                  "other_subject": schema_id(sample["other_subject"]),
                  "unknown": schema_id(sample["unknown_id"])}

    # reject: each violation in a batch of its own, between two good records.
    out["reject"] = {}
    n = 0
    for kind in ("unknown_id", "other_subject", "no_magic", "wrong_magic"):
        n += 3
        batch = [frame(order, args.reject, {"id": n, "item": "good-before"}),
                 bad_records(args.reject, n + 1)[kind],
                 frame(order, args.reject, {"id": n + 2, "item": "good-after"})]
        out["reject"][kind] = deliver(args.bootstrap, args.reject, batch)
    out["reject_last"] = deliver(args.bootstrap, args.reject,
                                 [frame(order, args.reject, {"id": 100 + i, "item": "last"}) for i in range(2)])
    deserialize = JSONDeserializer(ORDER, schema_registry_client=registry)
    out["reject_topic"] = [deserialize(v, SerializationContext(args.reject, MessageField.VALUE))["id"]
                           for v, _ in read_all(args.bootstrap, args.reject)]

    # dlq: one batch mixing good records and each violation.
    bad = bad_records(args.dlq, 1000)
    kinds = ["unknown_id", "other_subject", "no_magic", "wrong_magic"]
    batch, sent_bad = [], []
    for i, kind in enumerate(kinds):
        batch.append(frame(order, args.dlq, {"id": i, "item": "good"}))
        batch.append(bad[kind])
        sent_bad.append(bad[kind])
    batch.append(frame(order, args.dlq, {"id": len(kinds), "item": "good"}))
    out["dlq_reports"] = deliver(args.bootstrap, args.dlq, batch)
    out["dlq_topic"] = [deserialize(v, SerializationContext(args.dlq, MessageField.VALUE))["id"]
                        for v, _ in read_all(args.bootstrap, args.dlq)]
    letters = read_all(args.bootstrap, "__dlq." + args.dlq)
    out["dlq_letters"] = [
        {"kind": kinds[i] if i < len(kinds) else None, "same_bytes": i < len(sent_bad) and value == sent_bad[i],
         "headers": {k: v for k, v in headers.items() if k.startswith("dlq.")}}
        for i, (value, headers) in enumerate(letters)
    ]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
