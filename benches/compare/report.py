#!/usr/bin/env python3
"""Turn the raw rows of run.sh into OUT_PREFIX.{csv,md,png} (run.sh: benches/results/<date>-compare/compare).

usage: report.py BASELINE_CSV RAW_CSV OUT_PREFIX VERSIONS
Every throughput is also given as a ratio to the disk's own limits measured in
the same run: MB/s / dd conv=fdatasync bandwidth (x dd) and records/s / the
4 KiB fdatasync rate (x fsync).
"""
import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

WORKLOADS = [
    ("durable", "durable append, 1 KiB, 1 producer, ack after fsync"),
    ("relaxed", "relaxed append, 1 KiB, 1 producer"),
    ("durable16", "durable append, 1 KiB, 16 producers"),
    ("scan", "consume/scan"),
    ("pipeline", "exactly-once consume-transform-produce stage"),
]
SETTINGS = {
    "durable": {"server": "serve --durability always", "millrace": "Always", "sqlite": "WAL, synchronous=FULL", "redis": "appendfsync always", "nats": "file stream"},
    "relaxed": {"server": "serve --durability interval:10", "millrace": "Interval 10 ms", "sqlite": "WAL, synchronous=NORMAL", "redis": "appendfsync everysec", "nats": "file stream, default sync"},
    "durable16": {"server": "serve --durability always", "millrace": "Always", "sqlite": "WAL, synchronous=FULL", "redis": "appendfsync always", "nats": "file stream"},
    "scan": {"server": "fetch, 4 MiB", "millrace": "Scanner, 4 MiB", "sqlite": "SELECT ORDER BY id", "redis": "XRANGE COUNT 1000", "nats": "pull consumer, batch 1000"},
    "pipeline": {"millrace": "outbox batch, Always", "sqlite": "transaction, FULL"},
}
SYSTEMS = ["millrace", "server", "sqlite", "redis", "nats"]
PEERS = ["sqlite", "redis", "nats"]


def main():
    baseline_path, raw_path, out_prefix, versions = sys.argv[1:5]
    with open(baseline_path) as f:
        baseline = next(csv.DictReader(f))
    dd = float(baseline["dd_bytes_per_second"])
    fsync = float(baseline["fdatasync_per_second"])
    overwrite = float(baseline.get("fdatasync_overwrite_per_second") or 0)
    memcpy = float(baseline["memcpy_bytes_per_second"])
    with open(raw_path) as f:
        raw = list(csv.DictReader(f))

    all_rows = []
    for r in raw:
        seconds = float(r["seconds"])
        records = int(r["records"])
        rate = records / seconds if seconds > 0 else 0.0
        mbps = int(r["payload_bytes"]) / seconds / 1e6 if seconds > 0 else 0.0
        server_rss = int(r["server_rss_kib"] or 0)
        # CPU seconds over the timed part (absent in rows of older runs).
        bench_cpu = float(r.get("bench_cpu_s") or "nan")
        server_cpu = float(r.get("server_cpu_s") or 0)
        rss_kib = server_rss if server_rss > 0 else int(r["client_rss_kib"] or 0)
        all_rows.append(
            {
                "round": r.get("round", "1"),
                "workload": r["workload"],
                "system": r["system"],
                "setting": SETTINGS.get(r["workload"], {}).get(r["system"], ""),
                "durable_ack": r["durable_ack"],
                "records": records,
                "records_per_s": rate,
                "mb_per_s": mbps,
                "x_dd": mbps * 1e6 / dd,
                "x_fsync": rate / fsync,
                "x_memcpy": mbps * 1e6 / memcpy,
                "p50_us": int(r["p50_us"]),
                "p99_us": int(r["p99_us"]),
                "p999_us": int(r["p999_us"]),
                "peak_rss_mib": rss_kib / 1024,
                "rss_of": "server" if server_rss > 0 else "process",
                "disk_bytes_per_record": int(r["disk_bytes"]) / records if records else 0.0,
                "bench_cpu_us_per_record": bench_cpu * 1e6 / records if records else 0.0,
                "server_cpu_us_per_record": server_cpu * 1e6 / records if records else 0.0,
                "cpu_cores": (bench_cpu + server_cpu) / seconds if seconds > 0 else 0.0,
                "note": r["note"],
            }
        )

    # Median round per (workload, system); keep the spread of records/s.
    rows = []
    for workload, _ in WORKLOADS:
        for system in SYSTEMS:
            runs = sorted((r for r in all_rows if r["workload"] == workload and r["system"] == system), key=lambda r: r["records_per_s"])
            if not runs:
                continue
            median = dict(runs[(len(runs) - 1) // 2])
            median["rounds"] = len(runs)
            median["records_per_s_min"] = runs[0]["records_per_s"]
            median["records_per_s_max"] = runs[-1]["records_per_s"]
            rows.append(median)
    with open(out_prefix + ".csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0].keys()) if rows else ["workload"], extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{v:.4g}" if isinstance(v, float) else v) for k, v in row.items()})

    def fmt(v):
        if v >= 1e6:
            return f"{v / 1e6:.2f}M"
        if v >= 1e4:
            return f"{v / 1e3:.1f}k"
        if v >= 100:
            return f"{v:.0f}"
        return f"{v:.2f}"

    def cpu_cell(row):
        bench, server = row["bench_cpu_us_per_record"], row["server_cpu_us_per_record"]
        if bench != bench:  # NaN: a row from before CPU was measured
            return "-"
        precision = 2 if bench + server < 1 else 1
        if row["system"] in ("millrace", "sqlite"):
            return f"{bench:.{precision}f}"
        return f"{bench:.{precision}f} + {server:.{precision}f}"

    md = []
    md.append(f"- disk limits (same run): dd conv=fdatasync {dd / 1e6:.0f} MB/s, 4 KiB append + fdatasync {fsync:.0f}/s (4 KiB overwrite + fdatasync {overwrite:.0f}/s, not used as a limit); memcpy {memcpy / 1e6:.0f} MB/s")
    md.append(f"- machine: {baseline['machine']}")
    md.append(f"- peers: {versions}")
    md.append("- ×dd = MB/s ÷ dd bandwidth; ×fsync = records/s ÷ fdatasync rate; each produce workload ran in several rounds with the systems' order rotated (the disk's fsync latency drifts by up to 10× over minutes on this shared machine); the row shown is the median round and its latencies; latency is per produce call (per batch for the pipeline); RSS is the server's peak (VmHWM) for Redis/NATS and the benchmark process's peak for the embedded systems; disk B/record = data directory bytes ÷ records (the pipeline counts input and output); CPU µs/record = CPU time (user + system, all threads) over the timed part ÷ records, of the benchmark process (+ the server process, for the network servers: the benchmark process is then their client), and CPU cores = both CPU times ÷ seconds (this machine has 2).")
    md.append("")
    md.append("| workload | system | setting | durable ack | records/s (median) | rounds: min–max | MB/s | ×dd | ×fsync | p50 µs | p99 µs | p99.9 µs | peak RSS MiB | disk B/record | CPU µs/record (bench + server) | CPU cores |")
    md.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for workload, title in WORKLOADS:
        for row in rows:
            if row["workload"] != workload:
                continue
            latency = workload not in ("scan",)
            md.append(
                f"| {title} | {row['system']} | {row['setting']} | {row['durable_ack']} | {fmt(row['records_per_s'])} "
                f"| {row['rounds']}: {fmt(row['records_per_s_min'])}–{fmt(row['records_per_s_max'])} | {fmt(row['mb_per_s'])} "
                f"| {row['x_dd']:.2f} | {row['x_fsync']:.1f} "
                f"| {row['p50_us'] if latency else '-'} | {row['p99_us'] if latency else '-'} | {row['p999_us'] if latency else '-'} "
                f"| {row['peak_rss_mib']:.0f} | {row['disk_bytes_per_record']:.0f} | {cpu_cell(row)} | {'-' if row['cpu_cores'] != row['cpu_cores'] else format(row['cpu_cores'], '.2f')} |"
            )
    md.append("")
    md.append("Targets (issue 7): Millrace ≥ 2 × the best durable peer on each durable workload, never behind any peer.")
    md.append("")
    md.append("| workload | Millrace | records/s | best peer | peer records/s | Millrace ÷ peer | target | met |")
    md.append("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for workload, title in WORKLOADS:
        peers = [r for r in rows if r["workload"] == workload and r["system"] in PEERS]
        if workload in ("durable", "durable16"):
            peers = [r for r in peers if r["durable_ack"] == "yes"]
            goal = 2.0
        else:
            goal = 1.0
        if not peers:
            continue
        best = max(peers, key=lambda r: r["records_per_s"])
        for system in ("millrace", "server"):
            mine = [r for r in rows if r["workload"] == workload and r["system"] == system]
            if not mine:
                continue
            quotient = mine[0]["records_per_s"] / best["records_per_s"] if best["records_per_s"] else float("inf")
            md.append(
                f"| {title} | {'embedded' if system == 'millrace' else 'server'} | {fmt(mine[0]['records_per_s'])} | {best['system']} | {fmt(best['records_per_s'])} | {quotient:.2f} | ≥ {goal:g} | {'yes' if quotient >= goal else '**no**'} |"
            )
    with open(out_prefix + ".md", "w") as f:
        f.write("\n".join(md) + "\n")

    # Plot: throughput (records/s, log) and p99 latency per workload and system.
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 8))
    width = 0.16
    names = [w for w, _ in WORKLOADS]
    colors = {"millrace": "#1b7837", "server": "#5aae61", "sqlite": "#2166ac", "redis": "#b2182b", "nats": "#8c510a"}
    for i, system in enumerate(SYSTEMS):
        for j, workload in enumerate(names):
            for row in rows:
                if row["system"] != system or row["workload"] != workload:
                    continue
                x = j + (i - 2) * width
                # Hatched: acknowledged without an fsync in a durable workload.
                hatch = "//" if workload in ("durable", "durable16") and row["durable_ack"] == "no" else None
                label = system if j == min(k for k, w in enumerate(names) if any(r["system"] == system and r["workload"] == w for r in rows)) else None
                top.bar(x, row["records_per_s"], width, label=label, color=colors[system], hatch=hatch, edgecolor="white")
                if workload != "scan":
                    bottom.bar(x, max(row["p99_us"], 1), width, color=colors[system], hatch=hatch, edgecolor="white")
    for axis in (top, bottom):
        axis.set_xticks(range(len(names)))
        axis.set_xticklabels(names)
        axis.set_yscale("log")
        axis.grid(axis="y", alpha=0.3)
    top.axhline(fsync, color="black", linestyle="--", linewidth=1, label=f"disk fdatasync rate {fsync:.0f}/s")
    top.axhline(dd / 1024, color="grey", linestyle=":", linewidth=1, label=f"dd {dd / 1e6:.0f} MB/s in 1 KiB records")
    top.set_ylabel("records/s (log)")
    top.set_title("Throughput, 1 KiB records (higher is better; hatched = acknowledged without fsync)")
    top.legend(fontsize=8, ncol=3)
    bottom.set_ylabel("p99 latency µs (log)")
    bottom.set_title("Produce latency p99 (per call; per batch for pipeline; none for scan)")
    fig.tight_layout()
    fig.savefig(out_prefix + ".png", dpi=110)


if __name__ == "__main__":
    main()
