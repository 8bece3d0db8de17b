#!/usr/bin/env python3
"""p99.py's one-record-per-produce cases (acks=all, `always` topics) for two
`millrace` binaries taking turns (issue 21, session s15): per round, each
binary (order swapped every other round) runs each of KBENCH_P99_SYSTEMS
(default `native,kafka-thin`) in a fresh server. Prints the rows (p50, p99,
server CPU µs per request, load) as JSON and, on stderr, per binary the
medians and the Kafka ÷ native ratios paired by round, and new ÷ base of
the Kafka rows paired by round.

usage: p99_ab.py BASE_BIN NEW_BIN WORK_DIR [ROUNDS] > out.json
"""
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import driver  # noqa: E402
import p99  # noqa: E402

SYSTEMS = os.environ.get("KBENCH_P99_SYSTEMS", "native,kafka-thin").split(",")


def main():
    binaries = {"base": sys.argv[1], "new": sys.argv[2]}
    work = sys.argv[3]
    rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 4
    os.makedirs(work, exist_ok=True)
    rows = []
    for rnd in range(rounds):
        order = ["base", "new"] if rnd % 2 == 0 else ["new", "base"]
        for name in order:
            for system in SYSTEMS:
                row = p99.one(binaries[name], system, os.path.join(work, f"{name}-{system}-{rnd}"))
                row.update(round=rnd + 1, binary=name)
                rows.append(row)
                driver.log(f"round {rnd + 1} {name} {system}: p50 {row['p50']} p99 {row['p99']} µs, "
                           f"server {row['server_us_per_request']:.1f} µs/request, load {row['load_before']:.2f}")
    print(json.dumps({"rows": rows, "systems": SYSTEMS, "latency_seconds": driver.LATENCY_SECONDS}, indent=1))
    pick = lambda name, system, rnd: next(  # noqa: E731
        (r for r in rows if r["binary"] == name and r["system"] == system and r["round"] == rnd), None)
    for name in binaries:
        for system in SYSTEMS:
            mine = [r for r in rows if r["binary"] == name and r["system"] == system]
            driver.log(f"{name} {system}: median p50 {statistics.median(r['p50'] for r in mine):.0f} "
                       f"p99 {statistics.median(r['p99'] for r in mine):.0f} µs, server "
                       f"{statistics.median(r['server_us_per_request'] for r in mine):.1f} µs/request")
            if system == "native":
                continue
            for key in ("p50", "p99", "server_us_per_request"):
                ratios = [pick(name, system, rnd)[key] / pick(name, "native", rnd)[key]
                          for rnd in range(1, rounds + 1) if pick(name, "native", rnd) and pick(name, system, rnd)]
                if ratios:
                    driver.log(f"{name} {system} {key} ÷ native: median {statistics.median(ratios):.2f} "
                               f"{[round(x, 2) for x in ratios]}")
    for system in SYSTEMS:
        for key in ("p50", "p99", "server_us_per_request"):
            ratios = [pick("new", system, rnd)[key] / pick("base", system, rnd)[key] for rnd in range(1, rounds + 1)]
            driver.log(f"{system} {key} new ÷ base: median {statistics.median(ratios):.2f} {[round(x, 2) for x in ratios]}")


if __name__ == "__main__":
    main()
