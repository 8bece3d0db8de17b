#!/usr/bin/env python3
"""Table of the A/B files given on the command line (driver.py outputs):
per file the load, both rates, the ratio, the mirror's seconds and start-up,
CPU per record; then per binary (base/new) the medians."""
import json, statistics, sys
rows = {}
print("| file | load | Kafka produce rec/s | mirror rec/s | ratio | mirror s | start-up s | ratio after start-up | central CPU µs/rec: mirror | mirror CPU µs/rec |")
print("|---|---|---|---|---|---|---|---|---|---|")
for f in sys.argv[1:]:
    r = json.load(open(f))["rounds"][0]
    n = r["records"]
    try:
        load = open(f.replace(".json", ".load")).read().split("load average:")[1].split(",")[0].strip()
    except OSError:
        load = "?"
    mc = 1e6 * r["mirror_server_cpu_s"] / n
    print(f"| `{f}` | {load} | {r['kafka_produce_records_per_s']:,.0f} | {r['mirror_records_per_s']:,.0f} | {r['ratio']:.2f} | {r['mirror_seconds']:.2f} | {r['mirror_startup_s']:.2f} | {r['ratio_after_start']:.2f} | {mc:.1f} | {1e6*r['mirror_cpu_s']/n:.1f} |")
    key = f.split("-")[1]
    rows.setdefault(key, []).append((r["ratio"], r["ratio_after_start"], mc, r["mirror_seconds"], r["mirror_startup_s"], r["mirror_records_per_s"], r["kafka_produce_records_per_s"]))
print()
for key, v in rows.items():
    med = lambda i: statistics.median(x[i] for x in v)
    print(f"- {key}: n={len(v)} median ratio {med(0):.2f} ({min(x[0] for x in v):.2f}–{max(x[0] for x in v):.2f}), after start-up {med(1):.2f}; mirror {med(3):.2f} s ({min(x[3] for x in v):.2f}–{max(x[3] for x in v):.2f}), start-up {med(4):.2f} s, {med(5):,.0f} rec/s; Kafka produce {med(6):,.0f} rec/s; central CPU µs/rec {med(2):.1f}")
