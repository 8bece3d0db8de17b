"""One confluent-kafka (librdkafka) group member for groups_scenario.py.

Usage: groups_member_confluent.py BOOTSTRAP TOPIC GROUP ASSIGNOR
       groups_member_confluent.py --committed BOOTSTRAP TOPIC GROUP PARTITIONS

A member prints one JSON line per event (start, add/remove of partitions,
rec for each record processed, commit_error, closed) with its time, commits
each record (synchronously, with metadata) before the next, and leaves the
group on SIGTERM. Bounded: it stops by itself after 150 s.
"""

import json
import signal
import sys
import time

from confluent_kafka import Consumer, TopicPartition, KafkaException


def out(**event):
    event["t"] = time.time()
    print(json.dumps(event), flush=True)


def committed(bootstrap, topic, group, partitions):
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    tps = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=20)
    result = {
        "committed": {str(tp.partition): tp.offset for tp in tps if tp.offset >= 0},
        "metadata": {str(tp.partition): tp.metadata for tp in tps if tp.offset >= 0},
    }
    consumer.close()
    print(json.dumps(result), flush=True)


def member(bootstrap, topic, group, assignor):
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "session.timeout.ms": 6000,
            "heartbeat.interval.ms": 500,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "partition.assignment.strategy": assignor,
            "topic.metadata.refresh.interval.ms": 1000,
        }
    )

    def on_assign(_consumer, partitions):
        out(ev="add", parts=sorted(p.partition for p in partitions))

    def on_revoke(_consumer, partitions):
        out(ev="remove", parts=sorted(p.partition for p in partitions))

    consumer.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke, on_lost=on_revoke)
    out(ev="start")
    deadline = time.time() + 150
    while not stopping and time.time() < deadline:
        message = consumer.poll(0.2)
        if message is None:
            continue
        if message.error():
            out(ev="error", err=str(message.error()))
            continue
        out(ev="rec", p=message.partition(), o=message.offset(), v=message.value().decode())
        next_offset = TopicPartition(topic, message.partition(), message.offset() + 1, metadata="m%d" % message.offset())
        try:
            consumer.commit(offsets=[next_offset], asynchronous=False)
        except KafkaException as error:
            out(ev="commit_error", err=str(error), v=message.value().decode())
    consumer.close()
    out(ev="closed")


if __name__ == "__main__":
    if sys.argv[1] == "--committed":
        committed(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
    else:
        member(*sys.argv[1:5])
