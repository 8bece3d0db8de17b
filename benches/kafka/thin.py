#!/usr/bin/env python3
"""A thin Kafka producer for latency figures (issue 21): raw sockets, one
pre-built Produce v7 request (acks=-1) carrying one record batch v2 of one
1 KiB record (built once with kafka-python's `DefaultRecordBatchBuilder`),
sent again and again with a fresh correlation id, one request in flight.
No client library between the timer and the socket: the Kafka front
measured with a client as thin as the native front's `millrace bench`
(design/performance.md, issue 21 row), beside confluent-kafka's
`produce` + `flush` (`driver.kafka_latency`, which adds librdkafka's
thread hand-offs).

Each answer is checked: its correlation id, and error code 0 for the one
partition. The same batch bytes are appended each time (offsets are the
server's), so this measures the round trip of an acknowledged, fsync'd
(`always` topic) one-record produce.

usage (alone): thin.py HOST:PORT TOPIC SECONDS  -> JSON {records, p50, p99}
"""
import json
import socket
import struct
import sys
import time

API_PRODUCE = 0
VERSION = 7
CLIENT_ID = b"millrace-thin"


def _string(value):
    return struct.pack(">h", len(value)) + value


def build_body(topic, value, partition=0):
    """The Produce v7 request body (after the request header) of one
    record batch holding one record of `value`."""
    from kafka.record.default_records import DefaultRecordBatchBuilder

    builder = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=0, producer_id=-1,
                                        producer_epoch=-1, base_sequence=-1, batch_size=len(value) + 1024)
    builder.append(0, timestamp=None, key=None, value=value, headers=[])
    batch = bytes(builder.build())
    return (
        struct.pack(">h", -1)  # transactional_id: null
        + struct.pack(">hi", -1, 30000)  # acks=all, timeout_ms
        + struct.pack(">i", 1) + _string(topic.encode())
        + struct.pack(">i", 1) + struct.pack(">i", partition)
        + struct.pack(">i", len(batch)) + batch
    )


def _read_exact(sock, n):
    parts = []
    while n:
        chunk = sock.recv(n)
        if not chunk:
            raise RuntimeError("thin producer: the server closed the connection")
        parts.append(chunk)
        n -= len(chunk)
    return b"".join(parts)


def _check(response, correlation):
    """The one partition's error code of a Produce v7 response."""
    got, topics = struct.unpack_from(">ii", response, 0)
    if got != correlation or topics != 1:
        raise RuntimeError(f"thin producer: answer {got} ({topics} topics) to request {correlation}")
    (name_len,) = struct.unpack_from(">h", response, 8)
    at = 10 + name_len
    partitions, _index, code = struct.unpack_from(">iih", response, at)
    if partitions != 1 or code != 0:
        raise RuntimeError(f"thin producer: error code {code} ({partitions} partitions)")


def latency(host, port, topic, seconds, value):
    """One-record produces for `seconds`: {records, p50, p99} in µs."""
    body = build_body(topic, value)
    head = struct.pack(">hh", API_PRODUCE, VERSION)
    client = _string(CLIENT_ID)
    sock = socket.create_connection((host, port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    latencies = []
    correlation = 0
    try:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            correlation += 1
            frame = head + struct.pack(">i", correlation) + client + body
            request = struct.pack(">i", len(frame)) + frame
            t = time.perf_counter()
            sock.sendall(request)
            (size,) = struct.unpack(">i", _read_exact(sock, 4))
            response = _read_exact(sock, size)
            latencies.append((time.perf_counter() - t) * 1e6)
            _check(response, correlation)
    finally:
        sock.close()
    latencies.sort()
    pick = lambda q: int(latencies[min(len(latencies) - 1, int(q * len(latencies)))])  # noqa: E731
    return {"records": len(latencies), "seconds": seconds, "p50": pick(0.5), "p99": pick(0.99)}


if __name__ == "__main__":
    addr, topic, secs = sys.argv[1], sys.argv[2], float(sys.argv[3])
    h, p = addr.rsplit(":", 1)
    print(json.dumps(latency(h, int(p), topic, secs, b"x" * 1024)))
