#!/usr/bin/env python3
"""Server batched produce ÷ embedded (issues 5 and 26), CPU per record on
each end, with one or two binaries in alternating rounds.

Each round runs, for every durability and every binary (the order swapped
every other round): `millrace bench` embedded (its process's CPU), then a
fresh `millrace serve` and `millrace --server ADDR bench` against it (client
CPU from rusage, server CPU from /proc over the client's run). Both ends run
the same load: PRODUCERS producers, one partition, batches of BATCH records
of 1 KiB, as issue 5's loopback bench (4 writers, batches of 100).

usage: batched.py WORK_DIR SECONDS ROUNDS LABEL=BIN [LABEL=BIN ...]

Environment: BATCHED_DURABILITIES (default `os,interval:5`),
BATCHED_PRODUCERS (4), BATCHED_BATCH (100), BATCHED_RECORD_BYTES (1024).
Prints one JSON line per run, then per binary and durability the medians:
records/s of each end, server ÷ embedded (paired by round), and CPU µs per
record (embedded; client + server); with two binaries, the second's server
CPU per record ÷ the first's, paired by round.
"""
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cpu  # noqa: E402

DURABILITIES = os.environ.get("BATCHED_DURABILITIES", "os,interval:5").split(",")
PRODUCERS = os.environ.get("BATCHED_PRODUCERS", "4")
BATCH = os.environ.get("BATCHED_BATCH", "100")
RECORD_BYTES = os.environ.get("BATCHED_RECORD_BYTES", "1024")


def load_args(durability, seconds):
    return ["bench", "--json", "--producers", PRODUCERS, "--partitions", "1", "--record-bytes", RECORD_BYTES,
            "--batch-records", BATCH, "--durability", durability, "--duration", f"{seconds}s"]


def child_cpu(before, after):
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def embedded(binary, work, durability, seconds):
    data = os.path.join(work, "embedded")
    shutil.rmtree(data, ignore_errors=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run([binary, "--data", data] + load_args(durability, seconds),
                         check=True, capture_output=True, text=True).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    shutil.rmtree(data, ignore_errors=True)
    result = json.loads(out)
    return result["records_per_second"], child_cpu(before, after) * 1e6 / result["records"]


def server(binary, work, durability, seconds):
    data = os.path.join(work, "server")
    shutil.rmtree(data, ignore_errors=True)
    os.makedirs(data)
    port = cpu.free_port()
    proc = subprocess.Popen(
        [binary, "--data", data, "serve", "--listen", f"127.0.0.1:{port}", "--no-metrics",
         "--kafka-listen", "off", "--registry-listen", "off", "--durability", durability],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        cpu.wait_port(port, proc)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        server_before = cpu.proc_cpu(proc.pid)
        out = subprocess.run([binary, "--server", f"127.0.0.1:{port}"] + load_args(durability, seconds),
                             check=True, capture_output=True, text=True).stdout
        server_after = cpu.proc_cpu(proc.pid)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    shutil.rmtree(data, ignore_errors=True)
    result = json.loads(out)
    records = result["records"]
    return (result["records_per_second"], child_cpu(before, after) * 1e6 / records,
            (server_after - server_before) * 1e6 / records)


def main():
    work, seconds, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    binaries = [arg.split("=", 1) for arg in sys.argv[4:]]
    os.makedirs(work, exist_ok=True)
    rows = []
    for r in range(rounds):
        order = binaries if r % 2 == 0 else list(reversed(binaries))
        for durability in DURABILITIES:
            for label, binary in order:
                load = open("/proc/loadavg").read().split()[0]
                e_rate, e_cpu = embedded(binary, work, durability, seconds)
                s_rate, c_cpu, s_cpu = server(binary, work, durability, seconds)
                row = {"round": r, "binary": label, "durability": durability, "load1": float(load),
                       "embedded_records_per_second": e_rate, "embedded_us_per_record": e_cpu,
                       "server_records_per_second": s_rate, "client_us_per_record": c_cpu,
                       "server_us_per_record": s_cpu, "ratio": s_rate / e_rate}
                rows.append(row)
                print(json.dumps(row), flush=True)
    print("| binary | durability | embedded rec/s | server rec/s | server ÷ embedded (per round) | "
          "CPU µs/rec embedded | client + server | load |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for label, _ in binaries:
        for durability in DURABILITIES:
            mine = [row for row in rows if row["binary"] == label and row["durability"] == durability]

            def med(key, mine=mine):
                return statistics.median(row[key] for row in mine)
            ratios = " ".join(f"{row['ratio']:.2f}" for row in mine)
            loads = [row["load1"] for row in mine]
            print(f"| {label} | {durability} | {med('embedded_records_per_second'):,.0f} | "
                  f"{med('server_records_per_second'):,.0f} | **{med('ratio'):.2f}** ({ratios}) | "
                  f"{med('embedded_us_per_record'):.2f} | {med('client_us_per_record'):.2f} + "
                  f"{med('server_us_per_record'):.2f} | {min(loads):.1f}–{max(loads):.1f} |")
    if len(binaries) == 2:
        paired(rows, binaries[0][0], binaries[1][0])
    shutil.rmtree(work, ignore_errors=True)


def paired(rows, base, new):
    """CPU per record, NEW ÷ BASE paired by round (the same minutes' load)."""
    print(f"| durability | server CPU {new} ÷ {base}, per round | median | client + server, median |")
    print("| --- | --- | --- | --- |")
    for durability in DURABILITIES:
        pairs = []
        for r in sorted({row["round"] for row in rows}):
            def one(label, r=r):
                return next(row for row in rows
                            if row["round"] == r and row["durability"] == durability and row["binary"] == label)
            b, n = one(base), one(new)
            both = (n["server_us_per_record"] + n["client_us_per_record"]) / \
                (b["server_us_per_record"] + b["client_us_per_record"])
            pairs.append((n["server_us_per_record"] / b["server_us_per_record"], both))
        per_round = " ".join(f"{server:.2f}" for server, _ in pairs)
        print(f"| {durability} | {per_round} | **{statistics.median(p[0] for p in pairs):.2f}** | "
              f"{statistics.median(p[1] for p in pairs):.2f} |")


if __name__ == "__main__":
    main()
