"""Two Kafka group members with their own client.id, one confluent-kafka
(librdkafka) and one kafka-python, in one group; once each owns one of the
topic's two partitions and committed, runs `millrace offsets show` against
the server (the group's view as JSON and as text, and the all-groups view)
and prints one JSON line with the three outputs.

Usage: group_members_show.py BOOTSTRAP MILLRACE SERVER TOPIC GROUP

Bounded: it gives up after 60 s (printing what it saw).
"""

import json
import subprocess
import sys
import threading
import time

from confluent_kafka import Consumer, TopicPartition
from kafka import KafkaConsumer
from kafka import TopicPartition as KpTopicPartition
from kafka.coordinator.assignors.range import RangePartitionAssignor
from kafka.structs import OffsetAndMetadata

CONFLUENT_ID = "members-confluent"
KAFKA_PYTHON_ID = "members-kafka-python"


def main(bootstrap, millrace, server, topic, group):
    stop = threading.Event()
    committed = {"confluent": False, "kafka_python": False}

    def confluent():
        consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": group,
                "client.id": CONFLUENT_ID,
                "session.timeout.ms": 6000,
                "heartbeat.interval.ms": 500,
                "enable.auto.commit": False,
                "partition.assignment.strategy": "range",
            }
        )
        consumer.subscribe([topic])
        while not stop.is_set():
            consumer.poll(0.2)
            owned = consumer.assignment()
            if len(owned) == 1 and not committed["confluent"]:
                part = owned[0].partition
                consumer.commit(offsets=[TopicPartition(topic, part, 0)], asynchronous=False)
                committed["confluent"] = True
            elif len(owned) != 1:
                committed["confluent"] = False
        consumer.close()

    def kafka_python():
        consumer = KafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=group,
            client_id=KAFKA_PYTHON_ID,
            session_timeout_ms=6000,
            heartbeat_interval_ms=500,
            enable_auto_commit=False,
            partition_assignment_strategy=[RangePartitionAssignor],
        )
        consumer.subscribe([topic])
        while not stop.is_set():
            consumer.poll(timeout_ms=200)
            owned = consumer.assignment()
            if len(owned) == 1 and not committed["kafka_python"]:
                part = next(iter(owned)).partition
                consumer.commit({KpTopicPartition(topic, part): OffsetAndMetadata(0, "", -1)})
                committed["kafka_python"] = True
            elif len(owned) != 1:
                committed["kafka_python"] = False
        consumer.close()

    threads = [threading.Thread(target=confluent), threading.Thread(target=kafka_python)]
    for thread in threads:
        thread.start()

    def show(*args):
        run = subprocess.run([millrace, "offsets", "show", "--server", server, *args], capture_output=True, text=True)
        return run.stdout + run.stderr

    deadline = time.time() + 60
    result = {"ok": False}
    while time.time() < deadline:
        time.sleep(0.5)
        if not all(committed.values()):
            continue
        group_json = show("--group", group, "--json")
        try:
            members = json.loads(group_json).get("members") or []
        except ValueError:
            continue
        if len(members) == 2:
            result = {
                "ok": True,
                "group_json": group_json,
                "group_text": show("--group", group),
                "all_text": show(),
            }
            break
    stop.set()
    for thread in threads:
        thread.join()
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:6])
