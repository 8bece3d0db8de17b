"""AlterConfigs and IncrementalAlterConfigs through millrace's Kafka front
(issue 21), with confluent-kafka's AdminClient and kafka-python's
KafkaAdminClient, logged in over SASL/PLAIN.

Usage: alter_configs.py BOOTSTRAP STEPS_JSON
STEPS_JSON is a list of steps, each an object:
  {"client": "incremental" | "alter" | "kafka-python" | "kafka-python-legacy" | "produce",
   "user": U, "type": "topic" | "broker", "name": N,
   "configs": [[KEY, OP, VALUE], ...]   (OP: SET, DELETE, APPEND, SUBTRACT;
                                          "alter" and kafka-python take SET only),
   "validate_only": bool,
   "bytes": n}                           ("produce": one record of n bytes to N)
Each step is one request with one resource. Prints one JSON line: a list
with, per step, {"error": name or null, "message": text or null}; exits
non-zero on a failure of its own. Every wait is bounded.
"""

import json
import sys

from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType


def confluent_config(bootstrap, user):
    return {
        "bootstrap.servers": bootstrap,
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanisms": "PLAIN",
        "sasl.username": user,
        "sasl.password": user + "-token-0123456789",
    }


def resource_type(step):
    return ResourceType.BROKER if step.get("type") == "broker" else ResourceType.TOPIC


def outcome(future):
    try:
        future.result(timeout=30)
        return {"error": None, "message": None}
    except KafkaException as error:
        return {"error": error.args[0].name(), "message": error.args[0].str()}


def incremental(admin, step):
    entries = [
        ConfigEntry(key, value, incremental_operation=AlterConfigOpType[op]) for key, op, value in step["configs"]
    ]
    resource = ConfigResource(resource_type(step), step["name"], incremental_configs=entries)
    futures = admin.incremental_alter_configs(
        [resource], validate_only=step.get("validate_only", False), request_timeout=20
    )
    return outcome(futures[resource])


def alter(admin, step):
    configs = {key: value for key, _, value in step["configs"]}
    resource = ConfigResource(resource_type(step), step["name"], set_config=configs)
    futures = admin.alter_configs([resource], validate_only=step.get("validate_only", False), request_timeout=20)
    return outcome(futures[resource])


def kafka_python(bootstrap, step, legacy):
    from kafka.admin import ConfigResource as KafkaConfigResource
    from kafka.admin import ConfigResourceType, KafkaAdminClient

    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap,
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="PLAIN",
        sasl_plain_username=step["user"],
        sasl_plain_password=step["user"] + "-token-0123456789",
        request_timeout_ms=20000,
    )
    try:
        kind = ConfigResourceType.BROKER if step.get("type") == "broker" else ConfigResourceType.TOPIC
        configs = {key: value for key, _, value in step["configs"]}
        result = admin.alter_configs(
            [KafkaConfigResource(kind, step["name"], configs=configs)],
            validate_only=step.get("validate_only", False),
            incremental=False if legacy else None,
        )
    finally:
        admin.close()
    answer = result[kind.name.lower()][step["name"]]
    if answer == "OK":
        return {"error": None, "message": None}
    return {"error": answer.split(":")[0].strip("[] "), "message": str(answer)}


def produce(bootstrap, step):
    producer = Producer(dict(confluent_config(bootstrap, step["user"]), **{"acks": "all", "retries": 0}))
    reports = []
    producer.produce(
        step["name"],
        value=b"x" * step["bytes"],
        partition=0,
        on_delivery=lambda err, msg: reports.append(err),
    )
    if producer.flush(30):
        raise SystemExit("the produce to %s was not answered within 30 s" % step["name"])
    error = reports[0]
    return {"error": error.name() if error else None, "message": error.str() if error else None}


def main():
    bootstrap, steps = sys.argv[1], json.loads(sys.argv[2])
    out = []
    admins = {}
    for step in steps:
        client = step["client"]
        if client in ("incremental", "alter"):
            user = step["user"]
            if user not in admins:
                admins[user] = AdminClient(confluent_config(bootstrap, user))
            run = incremental if client == "incremental" else alter
            out.append(run(admins[user], step))
        elif client in ("kafka-python", "kafka-python-legacy"):
            out.append(kafka_python(bootstrap, step, client == "kafka-python-legacy"))
        elif client == "produce":
            out.append(produce(bootstrap, step))
        else:
            raise SystemExit("unknown client %r" % client)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
