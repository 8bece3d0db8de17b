#!/usr/bin/env python3
"""CPU per record through `millrace serve`'s native front (issue 26), the
three produce workloads of benches/compare without the peers: 1 KiB records,
one record per call and per acknowledgement, one partition:

- durable16: 16 producers (16 connections), `always` topic;
- relaxed:   1 producer, `interval:10` topic;
- durable:   1 producer, `always` topic;
- durable16x1: 16 producers pipelining on one connection (`--connections 1`),
  `always` topic (only with a client that has `--connections`).

usage: cpu.py MILLRACE_BIN WORK_DIR [SECONDS] [ROUNDS]

Environment: CPU_CLIENT_BIN runs the client from another binary than the
server (to measure a server change alone); CPU_SERVER_BIN runs the server
from another binary than the client (to measure a client change alone);
CPU_WORKLOADS=name,name picks workloads (default: the first three).

The client is `millrace --server ADDR bench` (the project's Rust client);
its CPU is the child's rusage (all threads), the server's is
/proc/<pid>/stat (utime + stime) over the client's run. Prints one JSON line
per (workload, round) and a median summary table (markdown) at the end.
Each round starts a fresh server on an empty data directory.
"""
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
ALL_WORKLOADS = [
    ("durable16", 16, "always"),
    ("relaxed", 1, "interval:10"),
    ("durable", 1, "always"),
    ("durable16x1", 16, "always"),
]
CONNECTIONS = {"durable16x1": 1}
PICKED = os.environ.get("CPU_WORKLOADS", "durable16,relaxed,durable").split(",")
WORKLOADS = [w for w in ALL_WORKLOADS if w[0] in PICKED]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def wait_port(port, server):
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("server exited before listening")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("server did not listen")


def one(binary, work, name, producers, durability, seconds):
    data = os.path.join(work, name)
    shutil.rmtree(data, ignore_errors=True)
    os.makedirs(data)
    port = free_port()
    server = subprocess.Popen(
        [os.environ.get("CPU_SERVER_BIN", binary), "--data", data, "serve", "--listen", f"127.0.0.1:{port}", "--no-metrics",
         "--kafka-listen", "off", "--registry-listen", "off",
         "--durability", durability],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port, server)
        client_bin = os.environ.get("CPU_CLIENT_BIN", binary)
        args = [client_bin, "--server", f"127.0.0.1:{port}", "bench", "--json", "--producers", str(producers),
                "--partitions", "1", "--record-bytes", "1024", "--batch-records", "1",
                "--durability", durability, "--duration", f"{seconds}s"]
        if name in CONNECTIONS:
            args += ["--connections", str(CONNECTIONS[name])]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        server_before = proc_cpu(server.pid)
        out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
        server_after = proc_cpu(server.pid)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    finally:
        server.terminate()
        server.wait(timeout=30)
    result = json.loads(out)
    records = result["records"]
    client = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    lat = result["append_latency_us"]
    return {
        "workload": name,
        "records_per_second": result["records_per_second"],
        "client_us_per_record": client * 1e6 / records,
        "server_us_per_record": (server_after - server_before) * 1e6 / records,
        "p50_us": lat["p50"],
        "p99_us": lat["p99"],
        "records": records,
    }


def main():
    binary, work = sys.argv[1], sys.argv[2]
    seconds = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 3
    os.makedirs(work, exist_ok=True)
    print(json.dumps({"loadavg_before": open("/proc/loadavg").read().split()[:3]}), flush=True)
    rows = []
    for r in range(rounds):
        for name, producers, durability in WORKLOADS:
            row = one(binary, work, name, producers, durability, seconds)
            row["round"] = r
            rows.append(row)
            print(json.dumps(row), flush=True)
    print(json.dumps({"loadavg_after": open("/proc/loadavg").read().split()[:3]}), flush=True)
    print("| workload | records/s | CPU µs/record client + server | p50 / p99 µs |")
    print("| --- | --- | --- | --- |")
    for name, _, _ in WORKLOADS:
        mine = [row for row in rows if row["workload"] == name]
        med = lambda key: statistics.median(row[key] for row in mine)
        print(f"| {name} | {med('records_per_second'):,.0f} | {med('client_us_per_record'):.1f} + "
              f"{med('server_us_per_record'):.1f} | {med('p50_us'):.0f} / {med('p99_us'):.0f} |")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
