"""One kafka-python group member for groups_scenario.py (same events and
arguments as groups_member_confluent.py; ASSIGNOR: range or roundrobin)."""

import json
import signal
import sys
import time

from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.coordinator.assignors.range import RangePartitionAssignor
from kafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata


def out(**event):
    event["t"] = time.time()
    print(json.dumps(event), flush=True)


def committed(bootstrap, topic, group, partitions):
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    result = {"committed": {}, "metadata": {}}
    for p in range(partitions):
        tp = TopicPartition(topic, p)
        offset = consumer.committed(tp, metadata=True)
        if offset is not None:
            result["committed"][str(p)] = offset.offset
            result["metadata"][str(p)] = offset.metadata
    consumer.close()
    print(json.dumps(result), flush=True)


class Listener(ConsumerRebalanceListener):
    def on_partitions_revoked(self, revoked):
        out(ev="remove", parts=sorted(tp.partition for tp in revoked))

    def on_partitions_assigned(self, assigned):
        out(ev="add", parts=sorted(tp.partition for tp in assigned))


def member(bootstrap, topic, group, assignor):
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    assignors = {"range": RangePartitionAssignor, "roundrobin": RoundRobinPartitionAssignor}
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        session_timeout_ms=6000,
        heartbeat_interval_ms=500,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        metadata_max_age_ms=1000,
        partition_assignment_strategy=[assignors[assignor]],
    )
    consumer.subscribe([topic], listener=Listener())
    out(ev="start")
    deadline = time.time() + 150
    while not stopping and time.time() < deadline:
        batches = consumer.poll(timeout_ms=200)
        for tp, messages in batches.items():
            for message in messages:
                out(ev="rec", p=tp.partition, o=message.offset, v=message.value.decode())
                try:
                    consumer.commit({tp: OffsetAndMetadata(message.offset + 1, "m%d" % message.offset, -1)})
                except KafkaError as error:
                    out(ev="commit_error", err=str(error), v=message.value.decode())
    consumer.close()
    out(ev="closed")


if __name__ == "__main__":
    if sys.argv[1] == "--committed":
        committed(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
    else:
        member(*sys.argv[1:5])
