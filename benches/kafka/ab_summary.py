#!/usr/bin/env python3
"""Medians of a `benches/kafka/ab.py` JSON, per binary and workload, and the
Kafka front ÷ native front ratios paired by round (same binary, same round:
the machine's drift between rounds cancels better).

usage: ab_summary.py AB.json
"""
import json, statistics, sys
d = json.load(open(sys.argv[1]))
raw = d["raw"]
print("meta", d["meta"]["started_utc"], d["meta"]["ended_utc"], "load", [round(x,1) for x in d["meta"]["load_before"]], [round(x,1) for x in d["meta"]["load_after"]])
by = {}
for r in raw:
    by.setdefault((r["binary"], r["workload"]), []).append(r)
for (b, w), rows in sorted(by.items()):
    s = [r["server_us"] for r in rows]; c = [r["client_us"] for r in rows]; t = [r["records_per_s"] for r in rows]
    extra = ""
    if "p50" in rows[0]:
        extra = f" p50 {statistics.median(r['p50'] for r in rows):.0f} p99 {statistics.median(r['p99'] for r in rows):.0f}"
    print(f"{b:5} {w:22} client {statistics.median(c):6.2f} server {statistics.median(s):6.2f} (min {min(s):.2f} max {max(s):.2f}) rec/s {statistics.median(t):8.0f}{extra}")
# paired per round: kafka / native, same binary, same round
for b in ("base", "new"):
    for kw, nw in (("kafka produce", "native produce"), ("kafka read", "native read")):
        ratios_cpu, ratios_rate = [], []
        for rnd in sorted({r["round"] for r in raw}):
            k = [r for r in raw if r["binary"] == b and r["round"] == rnd and r["workload"] == kw]
            n = [r for r in raw if r["binary"] == b and r["round"] == rnd and r["workload"] == nw]
            if k and n:
                ratios_cpu.append(k[0]["server_us"] / n[0]["server_us"])
                ratios_rate.append(k[0]["records_per_s"] / n[0]["records_per_s"])
        if ratios_cpu:
            print(f"{b:5} {kw} ÷ native: server CPU median {statistics.median(ratios_cpu):.2f} {[round(x,2) for x in ratios_cpu]}; records/s median {statistics.median(ratios_rate):.2f} {[round(x,2) for x in ratios_rate]}")
