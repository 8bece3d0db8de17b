#!/usr/bin/env python3
"""Kernel counts of `millrace serve` per produced record (issue 26): `perf
stat` attached to the server during the batched produce, Kafka front
(confluent-kafka, as `ab.py`'s `kafka produce` row) and native front
(`millrace --server ADDR bench`, 1000-record batches, as its `native
produce` row), for two binaries taking turns. Counts (page faults, context
switches, system calls) move far less with the machine's load than CPU
time does; task-clock is there too.

usage: counts.py BASE_BIN NEW_BIN WORK_DIR [ROUNDS] > out.json

KBENCH_RECORDS records of 1 KiB per case (default 300000), `always` topics.
Needs `perf`. Prints per case the counts per 1,000 records and the load.
"""
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import driver  # noqa: E402

EVENTS = "task-clock,page-faults,context-switches,raw_syscalls:sys_enter"


def one(binary, front, work):
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    native = front == "native"
    server = driver.Server(binary, os.path.join(work, "data"), kafka=not native)
    addr = f"127.0.0.1:{server.port}"
    out = os.path.join(work, "stat.txt")
    load = os.getloadavg()[0]
    try:
        if not native:
            subprocess.run([binary, "--server", addr, "topic", "create", driver.TOPIC, "--partitions", "1",
                            "--durability", "always", "--record-bytes-max", "2KiB"], check=True, stdout=subprocess.DEVNULL)
        perf = subprocess.Popen(["perf", "stat", "-e", EVENTS, "-p", str(server.proc.pid), "-o", out],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.3)  # perf attached

        def stop():
            perf.send_signal(signal.SIGINT)
            perf.wait()

        if native:
            driver.run_bench(binary, ["--server", addr, "bench", "--topic", driver.TOPIC, "--batch-records",
                                      str(driver.NATIVE_BATCH), "--count", str(driver.RECORDS), "--record-bytes",
                                      str(driver.RECORD_BYTES), "--durability", "always", "--json", "--keep"], server)
            stop()
        else:
            driver.kafka_throughput(server, on_produced=stop)
    finally:
        server.stop()
    counts = {"load_1m": load}
    with open(out) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2 and parts[0].replace(",", "").replace(".", "").isdigit():
                name = parts[1] if parts[1] != "msec" else "task-clock-ms"
                counts[name] = float(parts[0].replace(",", "")) * 1000 / driver.RECORDS
    shutil.rmtree(work, ignore_errors=True)
    return counts


def main():
    base, new, work = sys.argv[1:4]
    rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 3
    rows = []
    for rnd in range(1, rounds + 1):
        order = [("base", base), ("new", new)] if rnd % 2 else [("new", new), ("base", base)]
        for label, binary in order:
            for front in ("kafka", "native"):
                counts = one(binary, front, os.path.join(work, f"{label}-{front}"))
                rows.append({"round": rnd, "binary": label, "front": front, **counts})
                driver.log(f"round {rnd} {label} {front}: " + ", ".join(f"{k} {v:.2f}" for k, v in counts.items()))
    medians = {}
    for row in rows:
        key = f"{row['binary']} {row['front']}"
        for name, value in row.items():
            if name not in ("round", "binary", "front"):
                medians.setdefault(key, {}).setdefault(name, []).append(value)
    summary = {key: {name: round(statistics.median(v), 3) for name, v in names.items()} for key, names in medians.items()}
    json.dump({"per_1000_records": summary, "rows": rows, "records": driver.RECORDS}, sys.stdout, indent=1)
    print()
    for key, names in sorted(summary.items()):
        print(f"{key:14} " + "  ".join(f"{k} {v}" for k, v in names.items()), file=sys.stderr)


if __name__ == "__main__":
    main()
