#!/usr/bin/env python3
"""Kafka front figures (issue 21): the Kafka front of `millrace serve` measured
against the native front and the embedded engine, in one run.

usage: driver.py MILLRACE_BIN WORK_DIR OUT_PREFIX

Run by `benches/kafka/run.sh` (which builds the binary, picks the directories
and writes the README figures); the environment variables it documents
(KBENCH_RECORDS, KBENCH_ROUNDS, KBENCH_LATENCY_SECONDS, ...) are read here.

Three ways, same records (1 KiB values of b'x', no compression), `Always`
topics (an acknowledgement means fsync'd, the durable workload of
benches/compare):

- embedded: `millrace bench --data DIR` (the engine in the bench process);
- native:   `millrace --server ADDR bench` against `millrace serve` (the
            project's own client, one connection, one request in flight);
- kafka:    confluent-kafka (librdkafka) in this process against
            `millrace serve --kafka-listen`.

Workloads: (1) batched produce of KBENCH_RECORDS records, (2) reading them
back (fetch/consume), (3) one record per produce, one request in flight,
acks after fsync, KBENCH_LATENCY_SECONDS seconds: p50/p99.

CPU is measured as benches/compare does: user + system CPU time of the client
process (all threads) and of the server process (`/proc/<pid>/stat`) over the
timed part, divided by the records. For the `millrace bench` child the
produce/read split comes from sampling its /proc stat every 5 ms and cutting at
(exit - read seconds it reports); the topic is kept (`--keep`) so nothing runs
after the read but printing the JSON.
"""
import csv
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

RECORD_BYTES = 1024
RECORDS = int(os.environ.get("KBENCH_RECORDS", "300000"))
ROUNDS = int(os.environ.get("KBENCH_ROUNDS", "3"))
LATENCY_SECONDS = float(os.environ.get("KBENCH_LATENCY_SECONDS", "5"))
# Native batch size, and the Kafka producer's batching: librdkafka's default
# batch.size (1,000,000 bytes) holds ~950 records of 1 KiB + overhead.
NATIVE_BATCH = int(os.environ.get("KBENCH_NATIVE_BATCH", "1000"))
KAFKA_LINGER_MS = os.environ.get("KBENCH_KAFKA_LINGER_MS", "5")
KAFKA_BATCH_BYTES = os.environ.get("KBENCH_KAFKA_BATCH_BYTES", "1000000")
# KBENCH_IDEMPOTENCE=1: the batched produce as an idempotent producer
# (librdkafka enable.idempotence; up to 5 requests in flight), issue 26.
IDEMPOTENCE = os.environ.get("KBENCH_IDEMPOTENCE", "0") == "1"
CLK_TCK = os.sysconf("SC_CLK_TCK")
TOPIC = "kbench"


def log(msg):
    print(f"[kafka-bench] {msg}", file=sys.stderr, flush=True)


def proc_cpu(pid):
    """utime + stime of a live process, seconds (None once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 1 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def self_cpu():
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc):
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited before listening on {port}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"nothing listening on {port}")


class Server:
    """`millrace serve` on DIR, native port and optionally the Kafka front."""

    def __init__(self, binary, data, kafka):
        self.port = free_port()
        self.kafka_port = free_port() if kafka else None
        args = [binary, "serve", "--data", data, "--listen", f"127.0.0.1:{self.port}", "--no-metrics", "--registry-listen", "off", "--durability", "always"]
        args += ["--kafka-listen", f"127.0.0.1:{self.kafka_port}"] if kafka else ["--kafka-listen", "off"]
        self.log = open(os.path.join(os.path.dirname(data), "server.log"), "w")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        wait_port(self.port, self.proc)
        if kafka:
            wait_port(self.kafka_port, self.proc)

    def cpu(self):
        return proc_cpu(self.proc.pid)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def run_bench(binary, args, server):
    """Run `millrace ... bench ... --json --keep`; return its JSON and the CPU
    (client, server) of its produce and read phases."""
    out_path = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"kbench-{os.getpid()}.json")
    samples = []  # (monotonic, client cpu, server cpu)
    with open(out_path, "w") as out:
        server_before = server.cpu() if server else 0.0
        started = time.monotonic()
        proc = subprocess.Popen([binary] + args, stdout=out, stderr=subprocess.PIPE)
        done = threading.Event()

        def sample():
            while not done.is_set():
                c = proc_cpu(proc.pid)
                if c is not None:
                    samples.append((time.monotonic(), c, server.cpu() if server else 0.0))
                time.sleep(0.005)

        sampler = threading.Thread(target=sample)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        ended = time.monotonic()
        done.set()
        sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
        server_after = server.cpu() if server else 0.0
    stderr = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    if proc.returncode != 0:
        raise RuntimeError(f"millrace {' '.join(args)} failed: {stderr}")
    with open(out_path) as f:
        result = json.load(f)
    os.unlink(out_path)
    client_total = usage.ru_utime + usage.ru_stime
    phases = {"elapsed": ended - started}
    if result.get("read"):
        cut = ended - result["read"]["seconds"]
        before = [s for s in samples if s[0] <= cut]
        at = before[-1] if before else (started, 0.0, server_before)
        phases["produce"] = (at[1], at[2] - server_before)
        phases["read"] = (client_total - at[1], server_after - at[2])
    else:
        phases["produce"] = (client_total, server_after - server_before)
    return result, phases


def kafka_throughput(server, on_produced=None):
    """Batched produce, then consume, with confluent-kafka; `on_produced` (if
    given) is called between the two (profile.py stops `perf` there)."""
    from confluent_kafka import Consumer, Producer, TopicPartition

    bootstrap = f"127.0.0.1:{server.kafka_port}"
    errors = []
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "linger.ms": KAFKA_LINGER_MS,
            "batch.size": KAFKA_BATCH_BYTES,
            "compression.type": "none",
            "enable.idempotence": IDEMPOTENCE,
            "delivery.report.only.error": True,
        }
    )
    producer.list_topics(TOPIC, timeout=10)  # connect and learn the leader, untimed
    value = b"x" * RECORD_BYTES

    def on_delivery(err, _msg):
        if err is not None:
            errors.append(err)

    cpu0, srv0, t0 = self_cpu(), server.cpu(), time.monotonic()
    for _ in range(RECORDS):
        while True:
            try:
                producer.produce(TOPIC, value, partition=0, on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.001)
        producer.poll(0)
    left = producer.flush(60)
    t1, cpu1, srv1 = time.monotonic(), self_cpu(), server.cpu()
    if left or errors:
        raise RuntimeError(f"kafka produce: {left} undelivered, errors {errors[:3]}")
    produce = {"records": RECORDS, "seconds": t1 - t0, "client_cpu": cpu1 - cpu0, "server_cpu": srv1 - srv0}
    del producer
    if on_produced is not None:
        on_produced()

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "kbench",
            "enable.auto.commit": False,
            "enable.partition.eof": False,
            "max.partition.fetch.bytes": 1048576,
        }
    )
    low, high = consumer.get_watermark_offsets(TopicPartition(TOPIC, 0), timeout=10)
    if high - low != RECORDS:
        raise RuntimeError(f"kafka: {high - low} records in the partition, {RECORDS} produced")
    consumer.assign([TopicPartition(TOPIC, 0, 0)])
    cpu0, srv0, t0 = self_cpu(), server.cpu(), time.monotonic()
    count = 0
    deadline = t0 + 120
    while count < RECORDS and time.monotonic() < deadline:
        for message in consumer.consume(num_messages=10000, timeout=1.0):
            if message.error():
                raise RuntimeError(f"kafka consume: {message.error()}")
            count += 1
    t1, cpu1, srv1 = time.monotonic(), self_cpu(), server.cpu()
    consumer.close()
    if count != RECORDS:
        raise RuntimeError(f"kafka consume: {count} of {RECORDS} records")
    read = {"records": count, "seconds": t1 - t0, "client_cpu": cpu1 - cpu0, "server_cpu": srv1 - srv0}
    return produce, read


def run_child(args, server, stdin_path=None):
    """Run a client process to its end; (seconds, its CPU from wait4, server CPU)."""
    srv0, t0 = server.cpu(), time.monotonic()
    stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
    proc = subprocess.Popen(args, stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    t1, srv1 = time.monotonic(), server.cpu()
    proc.returncode = os.waitstatus_to_exitcode(status)
    stderr = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    if stdin_path:
        stdin.close()
    if proc.returncode != 0 or "fail" in stderr.lower() or "error" in stderr.lower():
        raise RuntimeError(f"{args[0]} failed ({proc.returncode}): {stderr[:500]}")
    return t1 - t0, usage.ru_utime + usage.ru_stime, srv1 - srv0


def kcat_throughput(server, lines_path):
    """The same two workloads through kcat (librdkafka without Python): the
    client's own cost apart. Timed from process start (startup included)."""
    from confluent_kafka import Consumer, TopicPartition

    bootstrap = f"127.0.0.1:{server.kafka_port}"
    topic = TOPIC + "-kcat"
    settings = ["-X", "acks=all", "-X", f"linger.ms={KAFKA_LINGER_MS}", "-X", f"batch.size={KAFKA_BATCH_BYTES}", "-X", "compression.type=none"]
    produce = run_child(["kcat", "-P", "-b", bootstrap, "-t", topic, "-p", "0", "-l", lines_path] + settings, server)
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "kbench"})
    low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    consumer.close()
    if high - low != RECORDS:
        raise RuntimeError(f"kcat: {high - low} records in the partition, {RECORDS} produced")
    read = run_child(["kcat", "-C", "-b", bootstrap, "-t", topic, "-p", "0", "-o", "beginning", "-c", str(RECORDS), "-e", "-q", "-f", "", "-X", "max.partition.fetch.bytes=1048576"], server)
    return produce, read


def kafka_latency(server, topic):
    from confluent_kafka import Producer

    producer = Producer(
        {
            "bootstrap.servers": f"127.0.0.1:{server.kafka_port}",
            "acks": "all",
            "linger.ms": 0,
            "max.in.flight.requests.per.connection": 1,
            "enable.idempotence": False,
            "compression.type": "none",
        }
    )
    producer.list_topics(topic, timeout=10)
    value = b"x" * RECORD_BYTES
    failed = []
    latencies = []
    cpu0, srv0 = self_cpu(), server.cpu()
    end = time.monotonic() + LATENCY_SECONDS
    while time.monotonic() < end:
        t = time.perf_counter()
        producer.produce(topic, value, partition=0, on_delivery=lambda err, _m: err and failed.append(err))
        producer.flush(10)
        latencies.append((time.perf_counter() - t) * 1e6)
    cpu1, srv1 = self_cpu(), server.cpu()
    if failed:
        raise RuntimeError(f"kafka latency: {failed[:3]}")
    latencies.sort()
    pick = lambda q: int(latencies[min(len(latencies) - 1, int(q * len(latencies)))])  # noqa: E731
    return {"records": len(latencies), "seconds": LATENCY_SECONDS, "p50": pick(0.5), "p99": pick(0.99), "client_cpu": cpu1 - cpu0, "server_cpu": srv1 - srv0}


def fsync_rate(directory, seconds=2.0):
    """4 KiB append + fdatasync per second (the disk's limit for acks=all)."""
    path = os.path.join(directory, "fsync-probe")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    block = b"\0" * 4096
    n, end = 0, time.monotonic() + seconds
    while time.monotonic() < end:
        os.write(fd, block)
        os.fdatasync(fd)
        n += 1
    os.close(fd)
    os.unlink(path)
    return n / seconds


def row(system, workload, rnd, records, seconds, client_cpu, server_cpu, p50="", p99="", note=""):
    return {
        "round": rnd,
        "workload": workload,
        "system": system,
        "records": records,
        "seconds": f"{seconds:.4f}",
        "records_per_s": f"{records / seconds:.1f}",
        "mb_per_s": f"{records * RECORD_BYTES / seconds / 1e6:.2f}",
        "client_cpu_us_per_record": f"{client_cpu * 1e6 / records:.2f}",
        "server_cpu_us_per_record": f"{server_cpu * 1e6 / records:.2f}" if server_cpu is not None else "",
        "p50_us": p50,
        "p99_us": p99,
        "load_1m": f"{os.getloadavg()[0]:.2f}",
        "note": note,
    }


def one(binary, work, system, rnd):
    """One system's three workloads in a fresh data directory; returns rows."""
    case = os.path.join(work, f"{system}-{rnd}")
    os.makedirs(case)
    data = os.path.join(case, "data")
    rows = []
    common = ["--record-bytes", str(RECORD_BYTES), "--durability", "always", "--json", "--keep"]
    try:
        if system == "embedded":
            res, ph = run_bench(binary, ["bench", "--data", data, "--topic", TOPIC, "--batch-records", str(NATIVE_BATCH), "--count", str(RECORDS), "--read"] + common, None)
            rows.append(row(system, "produce", rnd, res["records"], res["seconds"], ph["produce"][0], None, note=f"{NATIVE_BATCH}-record batches"))
            rows.append(row(system, "read", rnd, res["read"]["records"], res["read"]["seconds"], ph["read"][0], None, note="Store::read loop"))
            res, ph = run_bench(binary, ["bench", "--data", data, "--topic", TOPIC + "-lat", "--batch-records", "1", "--duration", f"{LATENCY_SECONDS}s"] + common, None)
            rows.append(row(system, "latency", rnd, res["records"], res["seconds"], ph["produce"][0], None, res["append_latency_us"]["p50"], res["append_latency_us"]["p99"]))
            return rows
        server = Server(binary, data, kafka=(system == "kafka"))
        try:
            addr = f"127.0.0.1:{server.port}"
            if system == "native":
                res, ph = run_bench(binary, ["--server", addr, "bench", "--topic", TOPIC, "--batch-records", str(NATIVE_BATCH), "--count", str(RECORDS), "--read"] + common, server)
                rows.append(row(system, "produce", rnd, res["records"], res["seconds"], ph["produce"][0], ph["produce"][1], note=f"{NATIVE_BATCH}-record batches, 1 in flight"))
                rows.append(row(system, "read", rnd, res["read"]["records"], res["read"]["seconds"], ph["read"][0], ph["read"][1], note="fetch 1 MiB, 1 in flight"))
                res, ph = run_bench(binary, ["--server", addr, "bench", "--topic", TOPIC + "-lat", "--batch-records", "1", "--duration", f"{LATENCY_SECONDS}s"] + common, server)
                rows.append(row(system, "latency", rnd, res["records"], res["seconds"], ph["produce"][0], ph["produce"][1], res["append_latency_us"]["p50"], res["append_latency_us"]["p99"]))
            else:
                for topic in (TOPIC, TOPIC + "-lat", TOPIC + "-kcat"):
                    subprocess.run([binary, "--server", addr, "topic", "create", topic, "--partitions", "1", "--durability", "always", "--record-bytes-max", "2KiB"], check=True, stdout=subprocess.DEVNULL)
                produce, read = kafka_throughput(server)
                rows.append(row(system, "produce", rnd, produce["records"], produce["seconds"], produce["client_cpu"], produce["server_cpu"], note=f"librdkafka acks=all linger.ms={KAFKA_LINGER_MS} batch.size={KAFKA_BATCH_BYTES}"))
                rows.append(row(system, "read", rnd, read["records"], read["seconds"], read["client_cpu"], read["server_cpu"], note="Consumer.consume(10000), max.partition.fetch.bytes 1 MiB"))
                lat = kafka_latency(server, TOPIC + "-lat")
                rows.append(row(system, "latency", rnd, lat["records"], lat["seconds"], lat["client_cpu"], lat["server_cpu"], lat["p50"], lat["p99"], note="produce + flush, linger.ms=0, max.in.flight=1"))
                lines = os.path.join(case, "records.txt")
                with open(lines, "wb") as f:
                    f.write((b"x" * (RECORD_BYTES - 1) + b"\n") * RECORDS)
                (ps, pc, psrv), (rs, rc, rsrv) = kcat_throughput(server, lines)
                # kcat -P splits on newlines: values of RECORD_BYTES - 1 bytes.
                rows.append(row("kcat", "produce", rnd, RECORDS, ps, pc, psrv, note=f"kcat -P -l, acks=all linger.ms={KAFKA_LINGER_MS} batch.size={KAFKA_BATCH_BYTES}; 1023 B values; process start included"))
                rows.append(row("kcat", "read", rnd, RECORDS, rs, rc, rsrv, note="kcat -C -f '' > /dev/null; process start included"))
        finally:
            server.stop()
    finally:
        shutil.rmtree(case, ignore_errors=True)
    return rows


def main():
    binary, work, out_prefix = sys.argv[1:4]
    os.makedirs(work, exist_ok=True)
    meta = {"load_before": os.getloadavg(), "records": RECORDS, "rounds": ROUNDS, "native_batch": NATIVE_BATCH,
            "kafka_linger_ms": KAFKA_LINGER_MS, "kafka_batch_bytes": KAFKA_BATCH_BYTES, "latency_seconds": LATENCY_SECONDS,
            "started_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())}
    meta["fdatasync_per_s_before"] = fsync_rate(work)
    log(f"load {meta['load_before']}, fdatasync {meta['fdatasync_per_s_before']:.0f}/s")
    systems = ["embedded", "native", "kafka"]
    rows = []
    for rnd in range(1, ROUNDS + 1):
        for i in range(len(systems)):
            system = systems[(i + rnd - 1) % len(systems)]
            log(f"round {rnd}: {system}")
            rows += one(binary, work, system, rnd)
    meta["fdatasync_per_s_after"] = fsync_rate(work)
    meta["load_after"] = os.getloadavg()
    meta["ended_utc"] = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    with open(out_prefix + "-raw.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        writer.writeheader()
        writer.writerows(rows)
    with open(out_prefix + "-meta.json", "w") as f:
        json.dump(meta, f, indent=1)
    log(f"wrote {out_prefix}-raw.csv and -meta.json")


if __name__ == "__main__":
    main()
