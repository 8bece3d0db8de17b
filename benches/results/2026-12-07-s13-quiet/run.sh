#!/bin/bash
# Quiet-machine runs after the s13 merge (no builds running; the load average
# before each turn is in *.load). Binaries: base = s12's merged main 6f7a787
# (7d7bdb87, where s13 started, differs from it only in a test and a
# refactor), new = s13's merged main (the CI clone's release build).
# Run from the repository root: benches/results/2026-12-07-s13-quiet/run.sh
set -u
OUT=benches/results/2026-12-07-s13-quiet
BASE=/tmp/s12-quiet-millrace
NEW=/tmp/s13-quiet-millrace
PY=/work/ci-clone/target/kafka-venv/bin/python
# 1. The mirror (issue 24): base and new taking turns, one round each.
for i in 1 2 3; do
  for b in base new; do
    bin=$BASE; [ $b = new ] && bin=$NEW
    uptime > $OUT/mirror-$b-$i.load
    rm -rf /tmp/s13-mb
    MBENCH_RECORDS=100000 MBENCH_ROUNDS=1 $PY benches/mirror/driver.py $bin /tmp/s13-mb $OUT/mirror-$b-$i.json > $OUT/mirror-$b-$i.log 2>&1
  done
done
rm -rf /tmp/s13-mb
# 2. The full comparison (README's table, issue 26): every system and
# workload, 3 rounds, the merged main's `millrace` and a comparison driver
# built from the same tree.
uptime > $OUT/compare.load
MILLRACE_COMPARE_BIN=/work/compare-build/target/release/millrace-compare MILLRACE_COMPARE_MILLRACE_BIN=$NEW \
  MILLRACE_COMPARE_LABEL=quiet MILLRACE_COMPARE_RESULTS_DIR=$OUT benches/compare/run.sh > $OUT/compare.log 2>&1
uptime >> $OUT/compare.load
