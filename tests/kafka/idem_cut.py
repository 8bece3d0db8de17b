"""Idempotent producer (confluent-kafka, enable.idempotence, acks=all)
against millrace's Kafka front while its connections are cut, then every
record is read back: each number exactly once, in order per partition.

Usage: idem_cut.py UPSTREAM --topic T --partitions P --count N
                   [--proxy-port PORT --cut-bytes B] [--progress FILE]

With --proxy-port, a TCP proxy listens on 127.0.0.1:PORT (the server must
advertise it: `--kafka-advertised 127.0.0.1:PORT`) and forwards to UPSTREAM;
while producing it resets each connection (RST) once B bytes went from the
client to the server, so requests die mid-flight and the producer retries
them. With --progress, the number of acknowledged records is written to
FILE as they come (a test kills the server at some point and restarts it).
Prints one JSON line; exits non-zero on any failure. Every wait is bounded.
"""

import argparse
import json
import os
import socket
import struct
import sys
import threading
import time

from confluent_kafka import Producer

DEADLINE_S = 100


class Proxy:
    """Forwards 127.0.0.1:port to upstream; cuts connections while `cutting`."""

    def __init__(self, port, upstream, cut_bytes):
        host, uport = upstream.rsplit(":", 1)
        self.upstream = (host, int(uport))
        self.cut_bytes = cut_bytes
        self.cutting = True
        self.cuts = 0
        self.lock = threading.Lock()
        self.server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", port))
        self.server.listen(64)
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            try:
                up = socket.create_connection(self.upstream, timeout=10)
                up.settimeout(None)
            except OSError:
                client.close()
                continue
            state = {"sent": 0, "dead": False}
            threading.Thread(target=self.pipe, args=(client, up, state, True), daemon=True).start()
            threading.Thread(target=self.pipe, args=(up, client, state, False), daemon=True).start()

    def reset(self, a, b, state):
        with self.lock:
            if state["dead"]:
                return
            state["dead"] = True
            self.cuts += 1
        for s in (a, b):
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.close()
            except OSError:
                pass

    def pipe(self, src, dst, state, to_server):
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            if not data:
                self.reset(src, dst, state)
                return
            if to_server and self.cutting:
                room = self.cut_bytes - state["sent"]
                if len(data) >= room:
                    # Forward part of the request, then reset both sides:
                    # the server sees a truncated frame, the client a reset.
                    try:
                        dst.sendall(data[: max(room, 0)])
                    except OSError:
                        pass
                    self.reset(src, dst, state)
                    return
                state["sent"] += len(data)
            try:
                dst.sendall(data)
            except OSError:
                self.reset(src, dst, state)
                return


def produce(bootstrap, topic, partitions, count, progress):
    errors = []
    acked = [0]

    def delivered(err, msg):
        if err is not None:
            errors.append(str(err))
        else:
            acked[0] += 1

    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "batch.num.messages": 200,
            "message.timeout.ms": 90000,
            "socket.timeout.ms": 10000,
            "reconnect.backoff.ms": 50,
            "reconnect.backoff.max.ms": 500,
            "retry.backoff.ms": 50,
        }
    )
    fatal = []
    start = time.monotonic()
    last_written = -1
    for i in range(count):
        value = ("%08d" % i).encode() + b"." * 100
        while True:
            try:
                producer.produce(topic, value=value, key=str(i).encode(), partition=i % partitions, on_delivery=delivered)
                break
            except BufferError:
                producer.poll(0.05)
        if i % 500 == 0:
            producer.poll(0)
            if progress and acked[0] != last_written:
                last_written = acked[0]
                with open(progress + ".tmp", "w") as f:
                    f.write(str(acked[0]))
                os.replace(progress + ".tmp", progress)
        if time.monotonic() - start > DEADLINE_S:
            fatal.append("produce deadline")
            break
    while len(producer) > 0 and time.monotonic() - start < DEADLINE_S:
        producer.poll(0.1)
        if progress:
            with open(progress + ".tmp", "w") as f:
                f.write(str(acked[0]))
            os.replace(progress + ".tmp", progress)
    left = producer.flush(5)
    return acked[0], errors + fatal, left


def consume(bootstrap, topic, partitions, count):
    """Reads every partition from the start to its end (kafka-python, no
    group: nothing but Metadata, ListOffsets and Fetch)."""
    from kafka import KafkaConsumer
    from kafka import TopicPartition as Tp

    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        request_timeout_ms=30000,
    )
    tps = [Tp(topic, p) for p in range(partitions)]
    consumer.assign(tps)
    consumer.seek_to_beginning()
    end = consumer.end_offsets(tps)
    seen = {p: [] for p in range(partitions)}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and any(consumer.position(tp) < end[tp] for tp in tps):
        for tp, records in consumer.poll(timeout_ms=500).items():
            for record in records:
                seen[tp.partition].append(int(record.value[:8]))
    consumer.close()
    return seen


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("upstream")
    parser.add_argument("--topic", required=True)
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--count", type=int, default=20000)
    parser.add_argument("--proxy-port", type=int)
    parser.add_argument("--cut-bytes", type=int, default=300000)
    parser.add_argument("--progress")
    args = parser.parse_args()

    proxy = None
    bootstrap = args.upstream
    if args.proxy_port:
        proxy = Proxy(args.proxy_port, args.upstream, args.cut_bytes)
        bootstrap = "127.0.0.1:%d" % args.proxy_port

    acked, errors, left = produce(bootstrap, args.topic, args.partitions, args.count, args.progress)
    if proxy:
        proxy.cutting = False
    seen = consume(bootstrap, args.topic, args.partitions, args.count)

    problems = []
    if errors:
        problems.append("delivery errors: %s" % sorted(set(errors))[:5])
    if left:
        problems.append("%d records never delivered" % left)
    for p, values in seen.items():
        expected = list(range(p, args.count, args.partitions))
        if values != expected:
            dups = len(values) - len(set(values))
            missing = len(set(expected) - set(values))
            out_of_order = sum(1 for a, b in zip(values, values[1:]) if b <= a)
            problems.append(
                "partition %d: %d records, %d duplicates, %d missing, %d out of order"
                % (p, len(values), dups, missing, out_of_order)
            )
    result = {
        "acked": acked,
        "consumed": sum(len(v) for v in seen.values()),
        "cuts": proxy.cuts if proxy else 0,
        "problems": problems,
    }
    print(json.dumps(result))
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
