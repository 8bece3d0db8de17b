"""An exact retry of an idempotent Produce against millrace's Kafka front:
the same record batch (same producer id, epoch and base sequence) sent
again, byte for byte, as a client does after a lost answer.

Usage:
  contract_retry.py BOOTSTRAP --mode init
      InitProducerId v0 without a transactional id; prints
      {"producer_id": P, "epoch": E}.
  contract_retry.py BOOTSTRAP --mode send --topic T --producer-id P
          --epoch E --sequence S --values V1;V2;...
      one ProduceRequest v3 (acks=all) to partition 0 of T with one record
      batch (magic 2, base sequence S, one record per value, timestamps
      fixed so that a resend is the same bytes); prints
      {"error_code": C, "base_offset": O}.
Exits non-zero on any failure. Every wait is bounded.
"""

import argparse
import json
import socket
import struct
import sys

from kafka.record.default_records import DefaultRecordBatchBuilder


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("connection closed")
        data += chunk
    return data


def string(s):
    raw = s.encode()
    return struct.pack(">h", len(raw)) + raw


def call(bootstrap, api_key, version, body):
    host, port = bootstrap.rsplit(":", 1)
    correlation = 7
    request = struct.pack(">hhi", api_key, version, correlation) + string("contract-retry") + body
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(struct.pack(">i", len(request)) + request)
        (size,) = struct.unpack(">i", recv_exact(sock, 4))
        response = recv_exact(sock, size)
    (got,) = struct.unpack(">i", response[:4])
    if got != correlation:
        raise ValueError(f"correlation {got} != {correlation}")
    return response[4:]


def init(bootstrap):
    response = call(bootstrap, 22, 0, struct.pack(">hi", -1, 60000))
    _throttle, code, producer_id, epoch = struct.unpack(">ihqh", response)
    if code != 0:
        raise ValueError(f"InitProducerId error {code}")
    return {"producer_id": producer_id, "epoch": epoch}


def send(bootstrap, topic, producer_id, epoch, sequence, values):
    builder = DefaultRecordBatchBuilder(
        magic=2,
        compression_type=0,
        is_transactional=False,
        producer_id=producer_id,
        producer_epoch=epoch,
        base_sequence=sequence,
        batch_size=1 << 20,
    )
    for i, value in enumerate(values):
        builder.append(i, timestamp=1_700_000_000_000 + i, key=None, value=value.encode(), headers=[])
    batch = bytes(builder.build())
    body = struct.pack(">hhi", -1, -1, 30000)  # null transactional id, acks=all, timeout
    body += struct.pack(">i", 1) + string(topic)
    body += struct.pack(">i", 1) + struct.pack(">ii", 0, len(batch)) + batch
    response = call(bootstrap, 0, 3, body)
    (topics,) = struct.unpack(">i", response[:4])
    at = 4
    if topics != 1:
        raise ValueError(f"{topics} topics in the answer")
    (name_len,) = struct.unpack(">h", response[at : at + 2])
    at += 2 + name_len
    (partitions,) = struct.unpack(">i", response[at : at + 4])
    at += 4
    if partitions != 1:
        raise ValueError(f"{partitions} partitions in the answer")
    _partition, code, base_offset, _append_time = struct.unpack(">ihqq", response[at : at + 22])
    return {"error_code": code, "base_offset": base_offset}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("bootstrap")
    parser.add_argument("--mode", choices=["init", "send"], required=True)
    parser.add_argument("--topic")
    parser.add_argument("--producer-id", type=int)
    parser.add_argument("--epoch", type=int)
    parser.add_argument("--sequence", type=int, default=0)
    parser.add_argument("--values", default="")
    args = parser.parse_args()
    if args.mode == "init":
        result = init(args.bootstrap)
    else:
        values = [v for v in args.values.split(";") if v]
        result = send(args.bootstrap, args.topic, args.producer_id, args.epoch, args.sequence, values)
    print(json.dumps(result))


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # noqa: BLE001 - report and fail
        print(json.dumps({"exception": repr(e)}))
        sys.exit(1)
