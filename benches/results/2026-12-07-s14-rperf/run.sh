#!/usr/bin/env bash
# The comparison's scan row (1 GiB of 1 KiB records; server through
# fetch_view in 4 MiB fetches, and in-process SQLite, plus the memcpy
# baseline), base and new binaries taking turns for $ROUNDS rounds, the load
# average recorded before and after each run.
#
#   BASE_DRIVER=... BASE_MILLRACE=... NEW_DRIVER=... NEW_MILLRACE=... run.sh
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROUNDS="${ROUNDS:-3}"
for ((round = 1; round <= ROUNDS; round++)); do
  for version in base new; do
    driver_var="${version^^}_DRIVER"; millrace_var="${version^^}_MILLRACE"
    uptime >"$HERE/$version-$round.load"
    MILLRACE_COMPARE_BIN="${!driver_var}" MILLRACE_COMPARE_MILLRACE_BIN="${!millrace_var}" \
      MILLRACE_COMPARE_SYSTEMS="server sqlite" MILLRACE_COMPARE_WORKLOADS=scan \
      MILLRACE_COMPARE_DD_MB="${DD_MB:-256}" MILLRACE_COMPARE_LABEL="$version-$round" \
      MILLRACE_COMPARE_RESULTS_DIR="$HERE" "$HERE/../../compare/run.sh" 2>"$HERE/$version-$round.log"
    uptime >>"$HERE/$version-$round.load"
  done
done
# One line per run: server and SQLite records/s, their ratio, CPU µs per record.
python3 - "$HERE" "$ROUNDS" <<'PY'
import csv, sys, os
here, rounds = sys.argv[1], int(sys.argv[2])
print("run | server rec/s | sqlite rec/s | server/sqlite | server CPU µs/rec (client + server) | sqlite CPU µs/rec | memcpy GB/s")
for r in range(1, rounds + 1):
    for v in ("base", "new"):
        rows = {row["system"]: row for row in csv.DictReader(open(os.path.join(here, f"{v}-{r}-raw.csv")))}
        base = list(csv.DictReader(open(os.path.join(here, f"{v}-{r}-baseline.csv"))))[0]
        s, q = rows["server"], rows["sqlite"]
        rate = lambda row: int(row["records"]) / float(row["seconds"])
        us = lambda row, col: 1e6 * float(row[col] or 0) / int(row["records"])
        memcpy = next((base[k] for k in base if "memcpy" in k), "?")
        print(f"{v}-{r} | {rate(s):,.0f} | {rate(q):,.0f} | {rate(s)/rate(q):.2f} | "
              f"{us(s,'bench_cpu_s'):.3f} + {us(s,'server_cpu_s'):.3f} | {us(q,'bench_cpu_s'):.3f} | {memcpy}")
PY
