"""Idempotent producer ids against millrace's Kafka front: the cap on live
ids and their idle expiry.

Usage:
  idem_expiry.py BOOTSTRAP --mode loop --count N
      N fresh connections, each sending one InitProducerId v0 without a
      transactional id (what a client reconnect loop does) and closing;
      prints {"codes": [error code of each]}.
  idem_expiry.py BOOTSTRAP --mode expiry --topic T --idle-s S [--partitions P]
      a confluent-kafka idempotent producer (acks=all) sends 5 records to
      each of partitions 0..P, stays idle S seconds (past the server's
      producer id expiration), sends 5 more to each; then the topic is read
      back; prints {"errors": [...], "values": {partition: [...]},
      "fatal": ..., "acquired": producer ids acquired, "sends_before_idle"
      and "sends_after_idle": the Produce batches librdkafka logged
      ({partition, count, seq, id, epoch})}.
Exits non-zero on any failure. Every wait is bounded.
"""

import argparse
import json
import logging
import re
import socket
import struct
import sys
import time


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("connection closed")
        data += chunk
    return data


def init_producer_id(bootstrap, correlation):
    host, port = bootstrap.rsplit(":", 1)
    client_id = b"idem-expiry"
    # Request header v1 (api key 22, version 0), body v0: null
    # transactional_id, transaction_timeout_ms.
    body = struct.pack(">hhih", 22, 0, correlation, len(client_id)) + client_id
    body += struct.pack(">hi", -1, 60000)
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(struct.pack(">i", len(body)) + body)
        (size,) = struct.unpack(">i", recv_exact(sock, 4))
        response = recv_exact(sock, size)
    got_correlation, _throttle, code, producer_id, epoch = struct.unpack(">iihqh", response)
    if got_correlation != correlation:
        raise ValueError(f"correlation {got_correlation} != {correlation}")
    if code == 0 and (producer_id < 0 or epoch != 0):
        raise ValueError(f"granted {producer_id}/{epoch}")
    if code != 0 and (producer_id != -1 or epoch != -1):
        raise ValueError(f"refused with {producer_id}/{epoch}")
    return code


def loop(bootstrap, count):
    return {"codes": [init_producer_id(bootstrap, i + 1) for i in range(count)]}


PRODUCE_LINE = re.compile(
    r"\[(?P<partition>\d+)\]: Produce MessageSet with (?P<count>\d+) message.*"
    r"BaseSeq (?P<seq>-?\d+), PID\{Id:(?P<id>-?\d+),Epoch:(?P<epoch>-?\d+)\}"
)


class Sends(logging.Handler):
    """librdkafka's debug log (`debug=eos,msg`), read for what the producer
    sent: each Produce batch's partition, size, base sequence, producer id
    and epoch, and how many producer ids it acquired (InitProducerId)."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.sends = []
        self.acquired = 0

    def emit(self, record):
        line = record.getMessage()
        if "Acquired PID" in line:
            self.acquired += 1
        match = PRODUCE_LINE.search(line)
        if match:
            self.sends.append({k: int(v) for k, v in match.groupdict().items()})


def expiry(bootstrap, topic, idle_s, partitions):
    from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

    errors = []
    fatal = None
    sends = Sends()
    logger = logging.getLogger("idem-expiry")
    logger.setLevel(logging.DEBUG)
    logger.addHandler(sends)

    def delivered(err, _msg):
        if err is not None:
            errors.append(str(err))

    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "message.timeout.ms": 30000,
            "debug": "eos,msg",
        },
        logger=logger,
    )
    for partition in range(partitions):
        for i in range(5):
            producer.produce(topic, value=b"first-%d" % i, partition=partition, on_delivery=delivered)
    if producer.flush(30) != 0:
        raise TimeoutError("first flush")
    first_sends = len(sends.sends)
    time.sleep(idle_s)
    for partition in range(partitions):
        for i in range(5):
            producer.produce(topic, value=b"second-%d" % i, partition=partition, on_delivery=delivered)
    if producer.flush(60) != 0:
        raise TimeoutError("second flush")
    try:
        producer.poll(0)
    except KafkaException as e:
        fatal = str(e)

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "idem-expiry-reader",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    values = {str(p): [] for p in range(partitions)}
    expected = 10 * partitions
    got = 0
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and got < expected:
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        if msg.error():
            raise KafkaException(msg.error())
        values[str(msg.partition())].append(msg.value().decode())
        got += 1
    # Anything past the ones expected (a duplicate) arrives within a short poll.
    extra_deadline = time.monotonic() + 1
    while time.monotonic() < extra_deadline:
        msg = consumer.poll(0.2)
        if msg is not None and not msg.error():
            values[str(msg.partition())].append(msg.value().decode())
    consumer.close()
    return {
        "errors": errors,
        "values": values,
        "fatal": fatal,
        "acquired": sends.acquired,
        "sends_before_idle": sends.sends[:first_sends],
        "sends_after_idle": sends.sends[first_sends:],
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("bootstrap")
    parser.add_argument("--mode", choices=["loop", "expiry"], required=True)
    parser.add_argument("--count", type=int, default=10)
    parser.add_argument("--topic")
    parser.add_argument("--idle-s", type=float, default=3.0)
    parser.add_argument("--partitions", type=int, default=1)
    args = parser.parse_args()
    if args.mode == "loop":
        result = loop(args.bootstrap, args.count)
    else:
        result = expiry(args.bootstrap, args.topic, args.idle_s, args.partitions)
    print(json.dumps(result))


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # noqa: BLE001 - report and fail
        print(json.dumps({"exception": repr(e)}))
        sys.exit(1)
