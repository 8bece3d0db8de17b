#!/usr/bin/env python3
"""Per-round Kafka ÷ native ratios of this directory's three runs (issue 21's
targets): kafka-raw.csv (benches/kafka/driver.py), ab.json
(benches/kafka/ab.py, one binary as both "base" and "new": eight
Kafka/native pairs) and p99.json (benches/kafka/p99.py).

usage: summary.py [DIR]   (default: this file's directory)
"""
import csv
import json
import os
import statistics
import sys

HERE = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))


def show(name, ratios):
    if ratios:
        print(f"{name:58} median {statistics.median(ratios):5.2f}  per round "
              + " ".join(f"{r:.2f}" for r in ratios))


def driver():
    rows = list(csv.DictReader(open(os.path.join(HERE, "kafka-raw.csv"))))
    by = {}
    for row in rows:
        by.setdefault(row["round"], {})[(row["system"], row["workload"])] = row
    out = {}
    for rnd, cases in sorted(by.items()):
        def ratio(system, workload, field, base="native"):
            a, b = cases.get((system, workload)), cases.get((base, workload))
            if a and b and a[field] and b[field]:
                out.setdefault((system, workload, field), []).append(float(a[field]) / float(b[field]))
        for system in ("kafka", "kcat"):
            for workload in ("produce", "read"):
                for field in ("records_per_s", "server_cpu_us_per_record"):
                    ratio(system, workload, field)
        ratio("kafka", "latency", "p99_us")
        ratio("kafka", "latency", "p50_us")
    loads = [float(r["load_1m"]) for r in rows]
    print(f"driver.py ({len(by)} rounds, load {min(loads):.1f}-{max(loads):.1f}), Kafka ÷ native:")
    for (system, workload, field), ratios in sorted(out.items()):
        show(f"  {system} {workload} {field}", ratios)


def ab():
    data = json.load(open(os.path.join(HERE, "ab.json")))
    by = {}
    for row in data["raw"]:
        by.setdefault((row["round"], row["binary"]), {})[row["workload"]] = row
    out = {}
    for cases in by.values():
        for workload in ("produce", "read"):
            k, n = cases[f"kafka {workload}"], cases[f"native {workload}"]
            out.setdefault(f"confluent-kafka {workload} records/s", []).append(k["records_per_s"] / n["records_per_s"])
            out.setdefault(f"confluent-kafka {workload} server CPU/record", []).append(k["server_us"] / n["server_us"])
    print(f"ab.py ({len(by)} pairs, load {data['meta']['load_before'][0]:.1f}-{data['meta']['load_after'][0]:.1f}), Kafka ÷ native:")
    for name, ratios in sorted(out.items()):
        show(f"  {name}", ratios)


def p99():
    data = json.load(open(os.path.join(HERE, "p99.json")))
    print(f"p99.py ({len(data['p99_ratio_kafka_over_native'])} rounds), Kafka p99 ÷ native p99:")
    show("  acks=all, 1 record per produce, 1 in flight", data["p99_ratio_kafka_over_native"])


driver()
ab()
p99()
