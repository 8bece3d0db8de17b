#!/usr/bin/env python3
"""Validated produce through the Kafka front (issue 22, "Figures"): 1 KiB
records in Confluent's framing (magic byte 0, 4-byte schema id, payload) of
the 10 fields of benches/src/contract_records.rs, produced by confluent-kafka
(librdkafka) to `millrace serve --kafka-listen` into a topic whose contract
checks framing, schema and 5 per-field rules, and into a topic without one,
in the same run. JSON Schema and Avro. Target: validated >= 0.9 x plain.

usage: server.py MILLRACE_BIN WORK_DIR OUT_PREFIX
  e.g. target/kafka-venv/bin/python benches/contracts/server.py \
         target/release/millrace /tmp/cbench-work benches/results/2026-12-07-contracts/server

Environment: CBENCH_RECORDS (records per case and round, default 100000),
CBENCH_ROUNDS (default 3), CBENCH_DURABILITY (the topics', default always:
acks=all means fsync'd, as benches/kafka), CBENCH_PERF (a directory: the
first round's cases are each recorded with `perf record --call-graph dwarf`
of the server,
one `<case>.perf.data` per case, for flame graphs; off by default).

The schemas and contracts are set up on the data directory before the server
starts (`millrace schema register`, `millrace contract apply`). Each round
runs the four cases, the order rotated per round; the ratio is taken within
a round. CPU: user + system time of this process and of the server
(/proc/<pid>/stat) over the timed part, per record.
"""
import csv
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import time

RECORDS = int(os.environ.get("CBENCH_RECORDS", "100000"))
ROUNDS = int(os.environ.get("CBENCH_ROUNDS", "3"))
DURABILITY = os.environ.get("CBENCH_DURABILITY", "always")
PERF_DIR = os.environ.get("CBENCH_PERF")
PAYLOAD_BYTES = 1024
POOL = 1000
CLK_TCK = os.sysconf("SC_CLK_TCK")
HERE = os.path.dirname(os.path.abspath(__file__))

JSON_SCHEMA = {
    "type": "object",
    "properties": {
        "order_id": {"type": "string"},
        "customer_id": {"type": "integer", "minimum": 0},
        "email": {"type": "string"},
        "amount": {"type": "number"},
        "currency": {"type": "string"},
        "status": {"type": "string", "enum": ["new", "paid", "shipped"]},
        "created_at": {"type": "string"},
        "items": {"type": "integer"},
        "country": {"type": "string", "maxLength": 2},
        "note": {"type": "string"},
    },
    "required": ["order_id", "customer_id", "email", "amount", "currency", "status", "created_at", "items", "country", "note"],
    "additionalProperties": False,
}
AVRO_FIELDS = [
    ("order_id", "string"), ("customer_id", "long"), ("email", "string"), ("amount", "double"),
    ("currency", "string"), ("status", "string"), ("created_at", "string"), ("items", "int"),
    ("country", "string"), ("note", "string"),
]
AVRO_SCHEMA = {"type": "record", "name": "Order", "namespace": "bench",
               "fields": [{"name": n, "type": t} for n, t in AVRO_FIELDS]}
CONTRACT = """apiVersion: v3.0.0
kind: DataContract
id: urn:bench:{topic}
version: 1.0.0
status: active
owner: bench
topic: {topic}
schema:
  value:
    framing: required
    action: dlq
properties:
  - name: order_id
    required: true
    format: uuid
    action: dlq
  - name: amount
    logicalType: number
    minimum: 0
    maximum: 100000
    action: dlq
  - name: currency
    enum: [EUR, USD, GBP]
    action: dlq
  - name: email
    pattern: '@example\\.com$'
    action: dlq
  - name: created_at
    format: date-time
    action: dlq
"""
# (name, kind, validated, topic)
CASES = [
    ("JSON plain", "json", False, "json-plain"),
    ("JSON validated", "json", True, "json-contract"),
    ("Avro plain", "avro", False, "avro-plain"),
    ("Avro validated", "avro", True, "avro-contract"),
]


def log(msg):
    print(f"[contracts-server-bench] {msg}", file=sys.stderr, flush=True)


def order(n):
    return {
        "order_id": "%08x-%04x-4%03x-8%03x-%012x" % ((n * 2654435761) & 0xFFFFFFFF, n & 0xFFFF, n % 0xFFF, (n // 7) % 0xFFF, n),
        "customer_id": n % 100000,
        "email": f"customer{n % 100000}@example.com",
        "amount": (n % 100000) / 100.0,
        "currency": ["EUR", "USD", "GBP"][n % 3],
        "status": ["new", "paid", "shipped"][n % 3],
        "created_at": "2026-12-07T%02d:%02d:%02d.%03dZ" % (n // 3600 % 24, n // 60 % 60, n % 60, n % 1000),
        "items": n % 50 + 1,
        "country": ["DE", "FR", "US", "GB"][n % 4],
        "note": "",
    }


def json_payload(n):
    o = order(n)
    head = json.dumps(o, separators=(",", ":"))
    pad = PAYLOAD_BYTES - len(head)
    o["note"] = "n" * pad
    return json.dumps(o, separators=(",", ":")).encode()


def zigzag(n):
    v = (n << 1) ^ (n >> 63)
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v == 0:
            out.append(b)
            return bytes(out)
        out.append(b | 0x80)


def avro_string(s):
    return zigzag(len(s)) + s


def avro_payload(n):
    o = order(n)
    out = bytearray()
    for name, kind in AVRO_FIELDS[:-1]:
        v = o[name]
        if kind == "string":
            out += avro_string(v.encode())
        elif kind in ("long", "int"):
            out += zigzag(v)
        else:
            out += struct.pack("<d", v)
    out += avro_string(b"n" * (PAYLOAD_BYTES - len(out) - 2))
    return bytes(out)


def framed(schema_id, payload):
    return b"\x00" + struct.pack(">I", schema_id) + payload


def proc_cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    fields = stat[stat.rfind(")") + 1:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def self_cpu():
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited before listening on {port}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"nothing listening on {port}")


def cli(binary, data, *args):
    out = subprocess.run([binary, "--data", data, *args], check=True, capture_output=True, text=True)
    return out.stdout


def setup(binary, work):
    data = os.path.join(work, "data")
    for _, _, _, topic in CASES:
        cli(binary, data, "topic", "create", topic, "--durability", DURABILITY)
    ids = {}
    for kind, schema, subject in (("json", JSON_SCHEMA, "json-contract-value"), ("avro", AVRO_SCHEMA, "avro-contract-value")):
        out = cli(binary, data, "--json", "schema", "register", subject, "--type", kind, "--schema", json.dumps(schema))
        ids[kind] = json.loads(out)["id"]
    for topic in ("json-contract", "avro-contract"):
        path = os.path.join(work, f"{topic}.yaml")
        with open(path, "w") as f:
            f.write(CONTRACT.format(topic=topic))
        cli(binary, data, "contract", "apply", path)
    return data, ids


def produce(bootstrap, topic, values, server_pid):
    from confluent_kafka import Producer

    errors = []
    producer = Producer({
        "bootstrap.servers": bootstrap,
        "acks": "all",
        "linger.ms": 5,
        "batch.size": 1000000,
        "compression.type": "none",
        "enable.idempotence": False,
        "delivery.report.only.error": True,
    })
    producer.list_topics(topic, timeout=10)

    def on_delivery(err, _msg):
        if err is not None:
            errors.append(err)

    cpu0, srv0, t0 = self_cpu(), proc_cpu(server_pid), time.monotonic()
    for i in range(RECORDS):
        value = values[i % len(values)]
        while True:
            try:
                producer.produce(topic, value, partition=0, on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.001)
        producer.poll(0)
    left = producer.flush(120)
    t1, cpu1, srv1 = time.monotonic(), self_cpu(), proc_cpu(server_pid)
    if left or errors:
        raise RuntimeError(f"{topic}: {left} undelivered, errors {errors[:3]}")
    return {"seconds": t1 - t0, "client_cpu": cpu1 - cpu0, "server_cpu": srv1 - srv0}


def main():
    binary, work, prefix = sys.argv[1:4]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    data, ids = setup(binary, work)
    values = {
        "json": [framed(ids["json"], json_payload(n)) for n in range(POOL)],
        "avro": [framed(ids["avro"], avro_payload(n)) for n in range(POOL)],
    }
    port, kafka_port = free_port(), free_port()
    server_log = open(os.path.join(work, "server.log"), "w")
    server = subprocess.Popen(
        [binary, "serve", "--data", data, "--listen", f"127.0.0.1:{port}", "--no-metrics",
         "--kafka-listen", f"127.0.0.1:{kafka_port}", "--registry-listen", "off"],
        stdout=server_log, stderr=subprocess.STDOUT)
    rows = []
    load_before = os.getloadavg()[0]
    try:
        wait_port(kafka_port, server)
        bootstrap = f"127.0.0.1:{kafka_port}"
        for rnd in range(ROUNDS):
            for i in range(len(CASES)):
                name, kind, validated, topic = CASES[(i + rnd) % len(CASES)]
                perf = None
                if PERF_DIR and rnd == 0:
                    os.makedirs(PERF_DIR, exist_ok=True)
                    out = os.path.join(PERF_DIR, name.replace(" ", "-").lower() + ".perf.data")
                    perf = subprocess.Popen(["perf", "record", "-q", "-F", "1999", "--call-graph", "dwarf,16384", "-o", out,
                                             "-p", str(server.pid)], stderr=subprocess.DEVNULL)
                    time.sleep(0.5)
                m = produce(bootstrap, topic, values[kind], server.pid)
                if perf is not None:
                    perf.send_signal(signal.SIGINT)
                    perf.wait(timeout=60)
                m.update({"round": rnd, "case": name, "records": RECORDS})
                rows.append(m)
                log(f"round {rnd} {name}: {RECORDS / m['seconds']:.0f} records/s, "
                    f"server {m['server_cpu'] * 1e6 / RECORDS:.2f} CPU us/record, client {m['client_cpu'] * 1e6 / RECORDS:.2f}")
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        server_log.close()
    dlq = ""
    for topic in ("json-contract", "avro-contract"):
        try:
            dlq += f"{topic} {json.loads(cli(binary, data, '--json', 'dlq', 'list', topic))['depth']}; "
        except subprocess.CalledProcessError as e:
            dlq += f"{topic}: {e.stderr.strip()}; "
    load_after = os.getloadavg()[0]

    os.makedirs(os.path.dirname(os.path.abspath(prefix)), exist_ok=True)
    with open(f"{prefix}-raw.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["round", "case", "records", "seconds", "client_cpu", "server_cpu"])
        w.writeheader()
        w.writerows(rows)

    def of(case, rnd):
        return next(r for r in rows if r["case"] == case and r["round"] == rnd)

    lines = [
        "## Validated produce through the Kafka front",
        "",
        f"- command: `{sys.executable} benches/contracts/server.py {binary} {work} {prefix}`",
        f"- {RECORDS} records per case and round, {ROUNDS} rounds, topics `{DURABILITY}`, confluent-kafka acks=all, "
        "linger.ms 5, batch.size 1000000, one partition; 1024 B payload + 5 B framing",
        f"- load average (1 min) before/after: {load_before:.2f} / {load_after:.2f}",
        f"- DLQ depth after the run (must be 0): {dlq.strip()}",
        "",
        "### Validated / plain, paired per round (target >= 0.9x)",
        "",
        "| records | median | per round | server CPU us/record added (median) | met |",
        "| --- | --- | --- | --- | --- |",
    ]
    for kind in ("JSON", "Avro"):
        ratios = [(RECORDS / of(f"{kind} validated", r)["seconds"]) / (RECORDS / of(f"{kind} plain", r)["seconds"]) for r in range(ROUNDS)]
        added = [(of(f"{kind} validated", r)["server_cpu"] - of(f"{kind} plain", r)["server_cpu"]) * 1e6 / RECORDS for r in range(ROUNDS)]
        med = statistics.median(ratios)
        lines.append(f"| {kind} | {med:.2f}x | {' / '.join(f'{x:.2f}' for x in ratios)} | {statistics.median(added):.2f} | {'yes' if med >= 0.9 else '**no**'} |")
    lines += ["", "### Cases (median of the rounds)", "",
              "| case | records/s | server CPU us/record | client CPU us/record |", "| --- | --- | --- | --- |"]
    for name, _, _, _ in CASES:
        rs = [r for r in rows if r["case"] == name]
        lines.append(f"| {name} | {statistics.median(RECORDS / r['seconds'] for r in rs):.0f} | "
                     f"{statistics.median(r['server_cpu'] * 1e6 / RECORDS for r in rs):.2f} | "
                     f"{statistics.median(r['client_cpu'] * 1e6 / RECORDS for r in rs):.2f} |")
    text = "\n".join(lines) + "\n"
    with open(f"{prefix}.md", "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
