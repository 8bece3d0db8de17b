#!/usr/bin/env python3
"""Table of syscalls.sh's JSON lines: per request, both ends divided by the
server's recvfrom count in the same window (one per request: the whole-run
records/s of the bench is a poor divisor at this load), medians per binary.

usage: syscalls_table.py FILE...
"""
import json
import statistics
import sys

KEYS = ["all", "sendto", "recvfrom", "write", "epoll_wait", "futex", "fdatasync", "pwrite64", "context-switches", "task-clock"]
rows = []
for path in sys.argv[1:]:
    for line in open(path):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            pass
by = {}
for r in rows:
    name = "task (A)" if "task-answers" in r["binary"] else "completer (B)"
    by.setdefault((r["workload"], name), []).append(r)
print("| workload | answers | runs | loads | end | " + " | ".join(KEYS) + " |")
print("|" + " --- |" * (len(KEYS) + 5))
for (workload, name), mine in sorted(by.items()):
    for end in ("server", "client"):
        vals = []
        for k in KEYS:
            per = [r[end].get(k, 0) / r["server"]["recvfrom"] for r in mine if r["server"].get("recvfrom")]
            vals.append(f"{statistics.median(per):.3f}" if per else "-")
        loads = ", ".join(r["load"].split()[0] for r in mine)
        print(f"| {workload} | {name} | {len(mine)} | {loads} | {end} | " + " | ".join(vals) + " |")
