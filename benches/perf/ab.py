#!/usr/bin/env python3
"""Before/after CPU per record, alternating rounds (issue 26): each round runs
every picked workload of cpu.py with the BEFORE binary, then with AFTER (the
order swapped every other round), so both see the same load on the shared
machine. Prints one JSON line per run and a table of medians.

usage: ab.py BEFORE_BIN AFTER_BIN WORK_DIR [SECONDS] [ROUNDS]

Environment: CPU_WORKLOADS as for cpu.py; CPU_CLIENT_BIN runs every client
from that binary (a server-only comparison), CPU_SERVER_BIN every server (a
client-only comparison).
"""
import json
import os
import shutil
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cpu  # noqa: E402


def main():
    before, after, work = sys.argv[1], sys.argv[2], sys.argv[3]
    seconds = int(sys.argv[4]) if len(sys.argv) > 4 else 5
    rounds = int(sys.argv[5]) if len(sys.argv) > 5 else 3
    os.makedirs(work, exist_ok=True)
    print(json.dumps({"loadavg_before": open("/proc/loadavg").read().split()[:3]}), flush=True)
    rows = []
    for r in range(rounds):
        order = [("before", before), ("after", after)]
        if r % 2:
            order.reverse()
        for name, producers, durability in cpu.WORKLOADS:
            for label, binary in order:
                row = cpu.one(binary, work, name, producers, durability, seconds)
                row["round"] = r
                row["binary"] = label
                rows.append(row)
                print(json.dumps(row), flush=True)
    print(json.dumps({"loadavg_after": open("/proc/loadavg").read().split()[:3]}), flush=True)
    print("| workload | before: CPU µs/record client + server | after | before → after records/s |")
    print("| --- | --- | --- | --- |")
    for name, _, _ in cpu.WORKLOADS:
        def med(label, key):
            return statistics.median(row[key] for row in rows if row["workload"] == name and row["binary"] == label)
        print(f"| {name} | {med('before', 'client_us_per_record'):.1f} + {med('before', 'server_us_per_record'):.1f} "
              f"| {med('after', 'client_us_per_record'):.1f} + {med('after', 'server_us_per_record'):.1f} "
              f"| {med('before', 'records_per_second'):,.0f} → {med('after', 'records_per_second'):,.0f} |")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
