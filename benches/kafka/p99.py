#!/usr/bin/env python3
"""p99 produce latency under acks=all, Kafka front vs native front (issue 21's
target: Kafka ≤ 1.2 × native), measured alone so that a run fits a quiet
moment of a shared machine.

usage: p99.py MILLRACE_BIN WORK_DIR [ROUNDS] > out.json

Each round starts one `millrace serve --durability always` per front, in a
fresh data directory, order swapped every other round, and runs driver.py's
one-record-per-produce loop for KBENCH_LATENCY_SECONDS (default 5):
- native: `millrace --server ADDR bench --batch-records 1` (one request in
  flight, its append latency percentiles);
- kafka:  confluent-kafka produce + flush, linger.ms=0, max.in.flight=1,
  acks=all (`driver.kafka_latency`);
- kafka-thin: `thin.py`, raw sockets, one pre-built Produce v7 request of a
  one-record batch v2 sent with a fresh correlation id, one in flight (a
  client as thin as the native bench's: what is left of the gap is the
  server's Kafka path, the rest of confluent-kafka's gap is librdkafka's).
Every row carries the 1-minute load average before and after it, and the
server's CPU per request over the case (`server_us_per_request`). Prints the
rows and, per round, each Kafka client's p99 (and p50) ÷ native's, and their
medians. KBENCH_P99_SYSTEMS (default `native,kafka,kafka-thin`) picks them.
"""
import json
import os
import shutil
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import driver  # noqa: E402
import thin  # noqa: E402

SYSTEMS = os.environ.get("KBENCH_P99_SYSTEMS", "native,kafka,kafka-thin").split(",")


def one(binary, system, case):
    os.makedirs(case, exist_ok=True)
    data = os.path.join(case, "data")
    server = driver.Server(binary, data, kafka=(system != "native"))
    try:
        addr = f"127.0.0.1:{server.port}"
        topic = driver.TOPIC + "-lat"
        load = os.getloadavg()[0]
        server_cpu_before = server.cpu()
        if system == "native":
            args = ["--server", addr, "bench", "--topic", topic, "--batch-records", "1",
                    "--duration", f"{driver.LATENCY_SECONDS}s", "--record-bytes", str(driver.RECORD_BYTES),
                    "--durability", "always", "--json", "--keep"]
            res, _ = driver.run_bench(binary, args, server)
            lat = {"records": res["records"], "p50": res["append_latency_us"]["p50"],
                   "p99": res["append_latency_us"]["p99"]}
        else:
            subprocess.run([binary, "--server", addr, "topic", "create", topic, "--partitions", "1",
                            "--durability", "always", "--record-bytes-max", "2KiB"],
                           check=True, stdout=subprocess.DEVNULL)
            if system == "kafka-thin":
                full = thin.latency("127.0.0.1", server.kafka_port, topic, driver.LATENCY_SECONDS,
                                    b"x" * driver.RECORD_BYTES)
            else:
                full = driver.kafka_latency(server, topic)
            lat = {"records": full["records"], "p50": full["p50"], "p99": full["p99"]}
        # Server CPU per request over the case (the native row includes
        # its bench's topic creation: a few ms against seconds of requests).
        server_cpu = server.cpu() - server_cpu_before
        lat.update(system=system, load_before=load, load_after=os.getloadavg()[0],
                   server_us_per_request=server_cpu * 1e6 / max(1, lat["records"]))
        return lat
    finally:
        server.stop()
        shutil.rmtree(case, ignore_errors=True)


def main():
    binary, work = sys.argv[1], sys.argv[2]
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    os.makedirs(work, exist_ok=True)
    rows, ratios = [], {}
    for rnd in range(rounds):
        # Each round starts with another system.
        order = SYSTEMS[rnd % len(SYSTEMS):] + SYSTEMS[:rnd % len(SYSTEMS)]
        got = {}
        for system in order:
            row = one(binary, system, os.path.join(work, f"{system}-{rnd}"))
            row["round"] = rnd + 1
            rows.append(row)
            got[system] = row
            driver.log(f"round {rnd + 1} {system}: p50 {row['p50']} p99 {row['p99']} µs, load {row['load_before']:.2f}")
        for system in SYSTEMS:
            if system != "native" and "native" in got:
                for q in ("p50", "p99"):
                    ratios.setdefault(f"{system} {q} / native {q}", []).append(got[system][q] / got["native"][q])
    print(json.dumps({"rows": rows, "ratios": ratios,
                      "median_ratios": {key: statistics.median(values) for key, values in ratios.items()},
                      "p99_ratio_kafka_over_native": ratios.get("kafka p99 / native p99", []),
                      "latency_seconds": driver.LATENCY_SECONDS}, indent=1))
    for key, values in ratios.items():
        driver.log(f"{key}: median {statistics.median(values):.2f} per round {' '.join(f'{v:.2f}' for v in values)}")


if __name__ == "__main__":
    main()
