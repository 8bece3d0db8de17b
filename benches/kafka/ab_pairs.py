#!/usr/bin/env python3
"""New ÷ base per round of a `benches/kafka/ab.py` JSON (same round, same
workload: the machine's drift between rounds cancels), server and client
CPU per record, with the median.

usage: ab_pairs.py AB.json
"""
import json
import statistics
import sys

raw = json.load(open(sys.argv[1]))["raw"]
for workload in sorted({r["workload"] for r in raw}):
    for side in ("server_us", "client_us"):
        ratios = []
        for rnd in sorted({r["round"] for r in raw}):
            rows = {r["binary"]: r for r in raw if r["round"] == rnd and r["workload"] == workload}
            if "base" in rows and "new" in rows and rows["base"][side] > 0:
                ratios.append(rows["new"][side] / rows["base"][side])
        if ratios:
            print(f"{workload:22} {side:9} new ÷ base median {statistics.median(ratios):.2f} {[round(x, 2) for x in ratios]}")
