#!/usr/bin/env python3
"""Summarise alternating server.py runs: per binary, the median over its
runs and rounds of server CPU us/record per case, the server CPU added by
validation (validated - plain, paired per round) and the records/s ratio.
usage: ab_summary.py DIR (reads DIR/server-{base,new}-N-raw.csv)"""
import csv, glob, os, statistics, sys

d = sys.argv[1]
out = []
for v in ("base", "new"):
    rows = []
    for p in sorted(glob.glob(os.path.join(d, f"server-{v}-*-raw.csv"))):
        run = os.path.basename(p).split("-")[2]
        for r in csv.DictReader(open(p)):
            r["run"] = run
            rows.append(r)
    if not rows:
        continue
    def of(case, run, rnd):
        return next(r for r in rows if r["case"] == case and r["run"] == run and r["round"] == rnd)
    keys = sorted({(r["run"], r["round"]) for r in rows})
    out.append(f"### {v}: {len(keys)} rounds ({len(keys) // max(1, len({k[0] for k in keys}))} per run)")
    out.append("")
    out.append("| records | server CPU µs/record plain | validated | added (median of paired) | records/s ratio median | per round |")
    out.append("| --- | --- | --- | --- | --- | --- |")
    for kind in ("JSON", "Avro"):
        plain, val, added, ratio = [], [], [], []
        for run, rnd in keys:
            p, q = of(f"{kind} plain", run, rnd), of(f"{kind} validated", run, rnd)
            n = int(p["records"])
            plain.append(float(p["server_cpu"]) * 1e6 / n)
            val.append(float(q["server_cpu"]) * 1e6 / n)
            added.append(val[-1] - plain[-1])
            ratio.append(float(p["seconds"]) / float(q["seconds"]))
        out.append(f"| {kind} | {statistics.median(plain):.2f} | {statistics.median(val):.2f} | "
                   f"{statistics.median(added):.2f} | {statistics.median(ratio):.2f}x | "
                   f"{' / '.join(f'{x:.2f}' for x in ratio)} |")
    out.append("")
print("\n".join(out))
