"""One aiokafka group member for groups_scenario.py (same events and
arguments as groups_member_confluent.py; ASSIGNOR: range or roundrobin)."""

import asyncio
import json
import signal
import sys
import time

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import KafkaError
from aiokafka.structs import OffsetAndMetadata


def out(**event):
    event["t"] = time.time()
    print(json.dumps(event), flush=True)


def assignor_class(name):
    from aiokafka.coordinator.assignors.range import RangePartitionAssignor
    from aiokafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor

    return {"range": RangePartitionAssignor, "roundrobin": RoundRobinPartitionAssignor}[name]


async def committed(bootstrap, topic, group, partitions):
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    result = {"committed": {}, "metadata": {}}
    try:
        for p in range(partitions):
            offset = await consumer.committed(TopicPartition(topic, p))
            if offset is not None:
                result["committed"][str(p)] = offset
    finally:
        await consumer.stop()
    print(json.dumps(result), flush=True)


class Listener(ConsumerRebalanceListener):
    def on_partitions_revoked(self, revoked):
        out(ev="remove", parts=sorted(tp.partition for tp in revoked))

    def on_partitions_assigned(self, assigned):
        out(ev="add", parts=sorted(tp.partition for tp in assigned))


async def member(bootstrap, topic, group, assignor):
    stopping = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        session_timeout_ms=6000,
        heartbeat_interval_ms=500,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        metadata_max_age_ms=1000,
        partition_assignment_strategy=(assignor_class(assignor),),
    )
    consumer.subscribe([topic], listener=Listener())
    await consumer.start()
    out(ev="start")
    deadline = time.time() + 150
    while not stopping.is_set() and time.time() < deadline:
        batches = await consumer.getmany(timeout_ms=200)
        for tp, messages in batches.items():
            for message in messages:
                out(ev="rec", p=tp.partition, o=message.offset, v=message.value.decode())
                try:
                    await consumer.commit({tp: OffsetAndMetadata(message.offset + 1, "m%d" % message.offset)})
                except KafkaError as error:
                    out(ev="commit_error", err=str(error), v=message.value.decode())
    await consumer.stop()
    out(ev="closed")


if __name__ == "__main__":
    if sys.argv[1] == "--committed":
        asyncio.run(committed(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])))
    else:
        asyncio.run(member(*sys.argv[1:5]))
