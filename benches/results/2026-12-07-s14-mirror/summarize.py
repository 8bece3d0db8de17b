#!/usr/bin/env python3
"""Table of every turn of ab.sh in the run directories given (default: run*/)."""
import glob, json, os, statistics, sys
dirs = sys.argv[1:] or sorted(glob.glob(os.path.join(os.path.dirname(os.path.abspath(__file__)), "run*")))
for d in dirs:
    print(f"## {os.path.basename(d)}")
    print("| turn | binary | load before | Kafka produce rec/s | mirror steady rec/s | ratio steady | ratio whole process | start-up s | end s | central CPU µs/record (mirror) | (Kafka produce) | mirror CPU µs/record |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    by = {}
    for f in sorted(glob.glob(os.path.join(d, "ab-*.json")), key=lambda p: (p.rsplit("-", 1)[1], p)):
        name, turn = os.path.basename(f)[3:-5].rsplit("-", 1)
        r = json.load(open(f))["rounds"][0]
        load = open(f[:-5] + ".load").read().split("load average:")[1].split(",")[0].strip()
        by.setdefault(name, []).append(r)
        print(f"| {turn} | {name} | {load} | {r['kafka_produce_records_per_s']:,.0f} | {r['mirror_steady_records_per_s']:,.0f} | {r['ratio_steady']:.2f} | {r['ratio']:.2f} | {r['mirror_startup_s']:.3f} | {r['mirror_end_s']:.3f} | {r['mirror_server_cpu_us_per_record']:.2f} | {r['kafka_server_cpu_us_per_record']:.2f} | {r['mirror_cpu_us_per_record']:.2f} |")
    for name, rows in by.items():
        med = lambda k: statistics.median(x[k] for x in rows)
        print(f"| median | {name} | | {med('kafka_produce_records_per_s'):,.0f} | {med('mirror_steady_records_per_s'):,.0f} | {med('ratio_steady'):.2f} | {med('ratio'):.2f} | {med('mirror_startup_s'):.3f} | {med('mirror_end_s'):.3f} | {med('mirror_server_cpu_us_per_record'):.2f} | {med('kafka_server_cpu_us_per_record'):.2f} | {med('mirror_cpu_us_per_record'):.2f} |")
    print()
