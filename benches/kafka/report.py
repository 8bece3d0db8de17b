#!/usr/bin/env python3
"""Turn driver.py's raw rows into OUT_PREFIX.md (the table and the issue 21 targets).

usage: report.py OUT_PREFIX   (reads OUT_PREFIX-raw.csv and OUT_PREFIX-meta.json)

Per (workload, system) the median round by records/s (latency: by p99) is
shown, with the min-max of the rounds. Ratios are Kafka front / native front
from the same run (the medians).
"""
import csv
import json
import sys

SYSTEMS = [("embedded", "embedded engine (`millrace bench --data`)"), ("native", "native front (`millrace --server … bench`)"), ("kafka", "Kafka front (confluent-kafka)"), ("kcat", "Kafka front (kcat)")]
WORKLOADS = [("produce", "batched produce, acks after fsync"), ("read", "fetch / consume"), ("latency", "1 record per produce, 1 in flight, acks after fsync")]


def main():
    prefix = sys.argv[1]
    with open(prefix + "-raw.csv") as f:
        raw = list(csv.DictReader(f))
    with open(prefix + "-meta.json") as f:
        meta = json.load(f)

    medians = {}
    lines = []
    lines.append(f"- run: {meta['started_utc']} – {meta['ended_utc']} UTC, {meta['rounds']} rounds, systems' order rotated each round; the median round is shown (latency rows: the round with the median p99), with the min–max of the rounds")
    lines.append(f"- load average (1/5/15 min) before: {' / '.join(f'{x:.1f}' for x in meta['load_before'])}, after: {' / '.join(f'{x:.1f}' for x in meta['load_after'])} (2 vCPUs, shared with other engineers' builds and tests: noisy)")
    lines.append(f"- disk: 4 KiB append + fdatasync {meta['fdatasync_per_s_before']:.0f}/s before, {meta['fdatasync_per_s_after']:.0f}/s after")
    lines.append(f"- {meta['records']} records of 1 KiB per throughput case; native and embedded batches of {meta['native_batch']} records; Kafka producer linger.ms={meta['kafka_linger_ms']}, batch.size={meta['kafka_batch_bytes']}, acks=all; every topic `durability always`; latency cases run {meta['latency_seconds']:g} s")
    lines.append("- CPU µs/record = user + system CPU time over the timed part ÷ records: client process (all threads) + server process (`/proc/<pid>/stat`); embedded: the one process")
    lines.append("")
    lines.append("| workload | system | records/s (median) | rounds min–max | MB/s | p50 µs | p99 µs | CPU µs/record client + server | note |")
    lines.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for workload, title in WORKLOADS:
        for system, name in SYSTEMS:
            runs = [r for r in raw if r["workload"] == workload and r["system"] == system]
            if not runs:
                continue
            key = (lambda r: int(r["p99_us"])) if workload == "latency" else (lambda r: float(r["records_per_s"]))
            runs.sort(key=key)
            m = runs[(len(runs) - 1) // 2]
            medians[(workload, system)] = m
            rates = sorted(float(r["records_per_s"]) for r in runs)
            cpu = m["client_cpu_us_per_record"] + (f" + {m['server_cpu_us_per_record']}" if m["server_cpu_us_per_record"] else "")
            lines.append(
                f"| {title} | {name} | {float(m['records_per_s']):,.0f} | {rates[0]:,.0f}–{rates[-1]:,.0f} | {float(m['mb_per_s']):.1f} "
                f"| {m['p50_us'] or '-'} | {m['p99_us'] or '-'} | {cpu} | {m['note']} |"
            )
    lines.append("")
    lines.append("Targets (issue 21), Kafka front against the native front of the same run:")
    lines.append("")
    lines.append("| target | Kafka | native | ratio | goal | met |")
    lines.append("| --- | --- | --- | --- | --- | --- |")

    def ratio_line(label, workload, field, goal, higher_is_better):
        k, n = medians.get((workload, "kafka")), medians.get((workload, "native"))
        if not k or not n:
            return
        kv, nv = float(k[field]), float(n[field])
        ratio = kv / nv if nv else float("inf")
        met = ratio >= goal if higher_is_better else ratio <= goal
        goal_cell, met_cell = (f"{'≥' if higher_is_better else '≤'} {goal}", "yes" if met else "**no**") if "no target" not in label else ("-", "-")
        lines.append(f"| {label} | {kv:,.0f} | {nv:,.0f} | {ratio:.2f} | {goal_cell} | {met_cell} |")

    ratio_line("batched produce records/s", "produce", "records_per_s", 0.8, True)
    ratio_line("fetch records/s", "read", "records_per_s", 0.8, True)
    ratio_line("p99 µs, acks=all, 1 in flight", "latency", "p99_us", 1.2, False)
    ratio_line("p50 µs, acks=all, 1 in flight (no target)", "latency", "p50_us", 1.2, False)
    lines.append("")
    lines.append("The same ratios paired by round (Kafka and native ran within seconds of each other in each round, so the disk's drift between rounds cancels better), median of the rounds and each round's ratio:")
    lines.append("")
    lines.append("| target | client | median of per-round ratios | per round | goal | met |")
    lines.append("| --- | --- | --- | --- | --- | --- |")

    def paired(label, workload, field, goal, higher_is_better, client="kafka"):
        by_round = {}
        for r in raw:
            if r["workload"] == workload and r["system"] in (client, "native"):
                by_round.setdefault(r["round"], {})[r["system"]] = float(r[field])
        ratios = [v[client] / v["native"] for _, v in sorted(by_round.items()) if client in v and v.get("native")]
        if not ratios:
            return
        median = sorted(ratios)[(len(ratios) - 1) // 2]
        met = median >= goal if higher_is_better else median <= goal
        goal_cell, met_cell = (f"{'≥' if higher_is_better else '≤'} {goal}", "yes" if met else "**no**") if "no target" not in label else ("-", "-")
        lines.append(f"| {label} | {client} | {median:.2f} | {', '.join(f'{x:.2f}' for x in ratios)} | {goal_cell} | {met_cell} |")

    paired("batched produce records/s", "produce", "records_per_s", 0.8, True)
    paired("batched produce records/s", "produce", "records_per_s", 0.8, True, "kcat")
    paired("fetch records/s", "read", "records_per_s", 0.8, True)
    paired("fetch records/s", "read", "records_per_s", 0.8, True, "kcat")
    paired("p99 µs, acks=all, 1 in flight", "latency", "p99_us", 1.2, False)
    paired("p50 µs, acks=all, 1 in flight (no target)", "latency", "p50_us", 1.2, False)
    paired("server CPU µs/record, batched produce (no target)", "produce", "server_cpu_us_per_record", 1.2, False)
    paired("server CPU µs/record, batched produce (no target)", "produce", "server_cpu_us_per_record", 1.2, False, "kcat")
    paired("server CPU µs/record, fetch (no target)", "read", "server_cpu_us_per_record", 1.2, False)
    paired("server CPU µs/record, 1 record per produce (no target)", "latency", "server_cpu_us_per_record", 1.2, False)
    paired("server CPU µs/record, fetch (no target)", "read", "server_cpu_us_per_record", 1.2, False, "kcat")
    with open(prefix + ".md", "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
