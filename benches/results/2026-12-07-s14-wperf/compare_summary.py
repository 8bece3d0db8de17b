#!/usr/bin/env python3
"""Per pass of compare.sh: client + server CPU µs per record and records/s,
Millrace's server ÷ Redis's in the same run, base and new; then medians.
usage: compare_summary.py DIR"""
import csv
import glob
import os
import statistics
import sys

d = sys.argv[1]
rows = {}
for path in sorted(glob.glob(os.path.join(d, "compare-*-[0-9]-raw.csv"))):
    label, pass_ = os.path.basename(path).split("-")[1:3]
    for r in csv.DictReader(open(path)):
        n = float(r["records"])
        rows[(label, pass_, r["workload"], r["system"])] = (
            float(r["bench_cpu_s"]) * 1e6 / n, float(r["server_cpu_s"]) * 1e6 / n, n / float(r["seconds"]))
print("| workload | pass | binary | server: client + server µs/record | Redis | CPU ÷ Redis | records/s ÷ Redis | load |")
print("| --- | --- | --- | --- | --- | --- | --- | --- |")
ratios = {}
for (label, pass_, workload, system), (c, s, rps) in sorted(rows.items(), key=lambda kv: (kv[0][2], kv[0][1], kv[0][0])):
    if system != "server" or (label, pass_, workload, "redis") not in rows:
        continue
    rc, rs, rrps = rows[(label, pass_, workload, "redis")]
    cpu, rate = (c + s) / (rc + rs), rps / rrps
    ratios.setdefault((workload, label), []).append((cpu, rate))
    load = open(os.path.join(d, f"compare-{label}-{pass_}.load")).read().split("load average:")[1].split(",")[0].strip()
    print(f"| {workload} | {pass_} | {label} | {c:.1f} + {s:.1f} ({rps:,.0f}/s) | {rc:.1f} + {rs:.1f} ({rrps:,.0f}/s) "
          f"| {cpu:.2f} | {rate:.2f} | {load} |")
print()
print("| workload | binary | CPU ÷ Redis (median) | records/s ÷ Redis (median) |")
print("| --- | --- | --- | --- |")
for (workload, label), v in sorted(ratios.items()):
    print(f"| {workload} | {label} | {statistics.median(x[0] for x in v):.2f} | {statistics.median(x[1] for x in v):.2f} |")
