"""Millrace's schema registry through confluent-kafka's own clients:
SchemaRegistryClient, AvroSerializer/AvroDeserializer and
JSONSerializer/JSONDeserializer, producing and consuming through the Kafka
front.

Usage: registry_serde.py BOOTSTRAP REGISTRY_URL [USER:PASSWORD]

Expects topics "orders" and "events" to exist. Prints one JSON object of
what it saw; exits non-zero if a step fails unexpectedly (every wait is
bounded).
"""

import json
import sys

from confluent_kafka import Consumer, Producer
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.schema_registry.json_schema import JSONDeserializer, JSONSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

TIMEOUT = 20

ORDER_V1 = json.dumps({
    "type": "record", "name": "Order", "namespace": "shop",
    "fields": [{"name": "id", "type": "long"}, {"name": "item", "type": "string"}],
})
# Adds a field with a default: BACKWARD compatible.
ORDER_V2 = json.dumps({
    "type": "record", "name": "Order", "namespace": "shop",
    "fields": [{"name": "id", "type": "long"}, {"name": "item", "type": "string"},
               {"name": "quantity", "type": "int", "default": 1}],
})
# Changes a field's type: not BACKWARD compatible.
ORDER_BAD = json.dumps({
    "type": "record", "name": "Order", "namespace": "shop",
    "fields": [{"name": "id", "type": "string"}, {"name": "item", "type": "string"}],
})
EVENT = json.dumps({
    "$schema": "http://json-schema.org/draft-07/schema#", "title": "Event", "type": "object",
    "properties": {"kind": {"type": "string"}, "at": {"type": "integer", "minimum": 0}},
    "required": ["kind", "at"], "additionalProperties": False,
})


def registry_error(call):
    try:
        call()
        return "ok"
    except SchemaRegistryError as error:
        return {"http": error.http_status_code, "code": error.error_code}


def produce(bootstrap, topic, values, serializer):
    producer = Producer({"bootstrap.servers": bootstrap, "message.timeout.ms": TIMEOUT * 1000})
    for value in values:
        payload = serializer(value, SerializationContext(topic, MessageField.VALUE))
        producer.produce(topic, value=payload)
    left = producer.flush(TIMEOUT)
    if left:
        raise SystemExit(f"{left} messages not delivered to {topic}")


def consume(bootstrap, topic, count, deserializer):
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"registry-{topic}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    values, raw = [], []
    polls = 0
    while len(values) < count and polls < TIMEOUT * 2:
        polls += 1
        message = consumer.poll(0.5)
        if message is None or message.error():
            continue
        raw.append(list(message.value()[:5]))
        values.append(deserializer(message.value(), SerializationContext(topic, MessageField.VALUE)))
    consumer.close()
    return values, raw


def main():
    bootstrap, url = sys.argv[1], sys.argv[2]
    config = {"url": url}
    if len(sys.argv) > 3:
        config["basic.auth.user.info"] = sys.argv[3]
    client = SchemaRegistryClient(config)
    out = {"types": sorted(client.get_schema_types())}

    orders = [{"id": 1, "item": "pen"}, {"id": 2, "item": "ink"}, {"id": 3, "item": "paper"}]
    produce(bootstrap, "orders", orders, AvroSerializer(client, ORDER_V1))
    values, raw = consume(bootstrap, "orders", len(orders), AvroDeserializer(client))
    out["orders"] = values
    out["orders_header"] = raw[0] if raw else None

    events = [{"kind": "login", "at": 5}, {"kind": "logout", "at": 9}]
    produce(bootstrap, "events", events, JSONSerializer(EVENT, client))
    values, _ = consume(bootstrap, "events", len(events), JSONDeserializer(EVENT, schema_registry_client=client))
    out["events"] = values

    out["incompatible"] = registry_error(lambda: client.register_schema("orders-value", Schema(ORDER_BAD, "AVRO")))
    out["compatible_check_bad"] = client.test_compatibility("orders-value", Schema(ORDER_BAD, "AVRO"))
    out["compatible_check_v2"] = client.test_compatibility("orders-value", Schema(ORDER_V2, "AVRO"))
    v2_id = client.register_schema("orders-value", Schema(ORDER_V2, "AVRO"))
    latest = client.get_latest_version("orders-value")
    out["latest"] = {"version": latest.version, "id": latest.schema_id, "same_id": latest.schema_id == v2_id}
    out["versions"] = client.get_versions("orders-value")
    out["subjects"] = sorted(client.get_subjects())
    found = client.lookup_schema("orders-value", Schema(ORDER_V1, "AVRO"))
    out["lookup_v1"] = {"version": found.version, "id": found.schema_id}
    out["by_id_type"] = client.get_schema(v2_id).schema_type
    out["invalid"] = registry_error(lambda: client.register_schema("bad-value", Schema("{\"type\": \"nope\"}", "AVRO")))
    out["missing_subject"] = registry_error(lambda: client.get_latest_version("nobody-value"))
    out["missing_id"] = registry_error(lambda: client.get_schema(999999))
    client.set_compatibility("orders-value", "FULL")
    out["compatibility"] = client.get_compatibility("orders-value")
    out["permanent_first"] = registry_error(lambda: client.delete_subject("events-value", permanent=True))
    out["soft_delete"] = client.delete_subject("events-value")
    out["hard_delete"] = client.delete_subject("events-value", permanent=True)
    out["subjects_after"] = sorted(client.get_subjects())
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main()
