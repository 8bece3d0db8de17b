#!/usr/bin/env python3
"""Before/after of the Kafka front's CPU per record (issue 26): two `millrace`
binaries measured in the same run, rounds alternating which goes first.

usage: ab.py BASE_BIN NEW_BIN WORK_DIR [ROUNDS] > out.json

Each round runs, for each binary (order swapped every other round), in a fresh
data directory of an `always` topic: the Kafka front's batched produce and
consume with confluent-kafka (`driver.kafka_throughput`: KBENCH_RECORDS
records of 1 KiB, librdkafka acks=all linger.ms=5 batch.size=1000000), the
Kafka front's one-record-per-produce loop (`driver.kafka_latency`,
KBENCH_LATENCY_SECONDS) and the native front's batched produce and read
(`millrace --server ... bench`, 1000-record batches) as the reference of the
same minutes. Prints the raw rows and the medians as JSON; CPU µs per record
of the client and of the server process (`/proc/<pid>/stat`), as driver.py.
Set KBENCH_AB_NATIVE=0 to skip the native rows, KBENCH_AB_LATENCY=0 to skip
the one-record loop; KBENCH_AB_DURABILITY (default `always`) is the topics'
durability on both fronts (`os` for relaxed: no fsync owed).
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import driver  # noqa: E402

DURABILITY = os.environ.get("KBENCH_AB_DURABILITY", "always")


def kafka_case(binary, case):
    data = os.path.join(case, "data")
    server = driver.Server(binary, data, kafka=True)
    rows = {}
    try:
        addr = f"127.0.0.1:{server.port}"
        for topic in (driver.TOPIC, driver.TOPIC + "-lat"):
            subprocess.run([binary, "--server", addr, "topic", "create", topic, "--partitions", "1", "--durability", DURABILITY, "--record-bytes-max", "2KiB"], check=True, stdout=subprocess.DEVNULL)
        produce, read = driver.kafka_throughput(server)
        rows["kafka produce"] = produce
        rows["kafka read"] = read
        if os.environ.get("KBENCH_AB_LATENCY", "1") != "0":
            rows["kafka 1 per produce"] = driver.kafka_latency(server, driver.TOPIC + "-lat")
    finally:
        server.stop()
    return rows


def native_case(binary, case):
    data = os.path.join(case, "data")
    server = driver.Server(binary, data, kafka=False)
    rows = {}
    try:
        addr = f"127.0.0.1:{server.port}"
        common = ["--record-bytes", str(driver.RECORD_BYTES), "--durability", DURABILITY, "--json", "--keep"]
        res, ph = driver.run_bench(binary, ["--server", addr, "bench", "--topic", driver.TOPIC, "--batch-records", str(driver.NATIVE_BATCH), "--count", str(driver.RECORDS), "--read"] + common, server)
        rows["native produce"] = {"records": res["records"], "seconds": res["seconds"], "client_cpu": ph["produce"][0], "server_cpu": ph["produce"][1]}
        rows["native read"] = {"records": res["read"]["records"], "seconds": res["read"]["seconds"], "client_cpu": ph["read"][0], "server_cpu": ph["read"][1]}
    finally:
        server.stop()
    return rows


def main():
    base, new, work = sys.argv[1:4]
    rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 3
    native = os.environ.get("KBENCH_AB_NATIVE", "1") != "0"
    os.makedirs(work, exist_ok=True)
    meta = {"started_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()), "load_before": os.getloadavg(),
            "records": driver.RECORDS, "rounds": rounds, "durability": DURABILITY, "base": base, "new": new}
    raw = []
    for rnd in range(1, rounds + 1):
        order = [("base", base), ("new", new)] if rnd % 2 else [("new", new), ("base", base)]
        for label, binary in order:
            cases = [kafka_case] + ([native_case] if native else [])
            for run in cases:
                case = os.path.join(work, f"{label}-{rnd}-{run.__name__}")
                os.makedirs(case)
                try:
                    driver.log(f"round {rnd}: {label} {run.__name__}")
                    for workload, r in run(binary, case).items():
                        raw.append({"round": rnd, "binary": label, "workload": workload, **r,
                                    "client_us": r["client_cpu"] * 1e6 / r["records"],
                                    "server_us": r["server_cpu"] * 1e6 / r["records"],
                                    "records_per_s": r["records"] / r["seconds"],
                                    "load_1m_after": os.getloadavg()[0]})
                finally:
                    shutil.rmtree(case, ignore_errors=True)
    meta["load_after"] = os.getloadavg()
    meta["ended_utc"] = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    medians = {}
    for row in raw:
        key = f"{row['workload']} / {row['binary']}"
        medians.setdefault(key, {"client_us": [], "server_us": [], "records_per_s": []})
        for field in ("client_us", "server_us", "records_per_s"):
            medians[key][field].append(row[field])
    summary = {key: {field: round(statistics.median(values), 2) for field, values in fields.items()}
               for key, fields in sorted(medians.items())}
    json.dump({"meta": meta, "medians": summary, "raw": raw}, sys.stdout, indent=1)
    print()
    for key, fields in summary.items():
        print(f"{key:40} client {fields['client_us']:8.2f} µs  server {fields['server_us']:8.2f} µs  {fields['records_per_s']:10.0f}/s", file=sys.stderr)


if __name__ == "__main__":
    main()
