#!/usr/bin/env python3
"""syscalls.sh outputs → per record: the server's counts divided by its own
receive calls (recvfrom, or read for Redis: one request per record on both
systems, one receive each), the client's CPU by its sendto (the driver's
records/s over-counts the 2 s window, which includes connecting; the two
perf windows are not aligned to the µs, so each end is divided by its own).
usage: syscalls_table.py FILE..."""
import re
import sys

keys = ["cpu_us", "recvfrom", "read", "sendto", "write", "fdatasync", "pwrite64", "epoll_wait", "futex",
        "context-switches", "raw_syscalls:sys_enter"]
cols = []
for path in sys.argv[1:]:
    text = open(path).read()
    load = re.search(r"load ([\d.]+)", text).group(1)
    ends = {}
    for end in ("server", "client"):
        line = re.search(rf"^\s+{end}\s+(.*)$", text, re.M).group(1)
        ends[end] = {k: float(v) for k, v in re.findall(r"(\S+)=([\d.]+)", line)}
    per = ends["server"].get("recvfrom") or ends["server"]["read"]
    cols.append((path.replace("syscalls-", "").replace(".txt", ""), load,
                 {k: ends["server"].get(k, 0) / per for k in keys},
                 ends["client"]["cpu_us"] / ends["client"]["sendto"]))
print("| server, per record (÷ its receive calls) | " + " | ".join(f"{c[0]} (load {c[1]})" for c in cols) + " |")
print("| --- |" + " --- |" * len(cols))
for k in keys:
    print(f"| {k} | " + " | ".join(f"{c[2][k]:.3f}" if k != "cpu_us" else f"{c[2][k]:.1f}" for c in cols) + " |")
print("| client cpu_us | " + " | ".join(f"{c[3]:.1f}" for c in cols) + " |")
