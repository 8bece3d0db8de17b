#!/bin/bash
# Quiet-machine runs after the s14 merge (no builds running; the load average
# before each part is in *.load). Binaries: base = main 08652c6e (where s14
# started; CI's build), new = s14's merged main (the CI clone's release build).
# Run from the repository root: benches/results/2026-12-07-s14-quiet/run.sh
set -u
OUT=benches/results/2026-12-07-s14-quiet
BASE=/tmp/s14-main-millrace
NEW=/tmp/s14-new-millrace
PY=/work/ci-clone/target/kafka-venv/bin/python
# 1. The mirror (issue 24): base and new taking turns, one round each, 500,000
# records (driver.py reports the steady state and the whole process).
for i in 1 2 3; do
  for b in base new; do
    bin=$BASE; [ $b = new ] && bin=$NEW
    uptime > $OUT/mirror-$b-$i.load
    rm -rf /tmp/s14-mb
    MBENCH_RECORDS=${MBENCH_RECORDS:-500000} MBENCH_ROUNDS=1 $PY benches/mirror/driver.py $bin /tmp/s14-mb $OUT/mirror-$b-$i.json > $OUT/mirror-$b-$i.log 2>&1
  done
done
rm -rf /tmp/s14-mb
# 2. Issue 21 after the merge: Kafka ÷ native (ab.py pairs and p99.py).
uptime > $OUT/kafka-after.load
KBENCH_RECORDS=300000 KBENCH_AB_LATENCY=0 $PY benches/kafka/ab.py $BASE $NEW /tmp/s14-kq2-ab 4 > $OUT/after-ab.json 2> $OUT/after-ab.log
$PY benches/kafka/p99.py $NEW /tmp/s14-kq2-p99 8 > $OUT/after-p99.json 2> $OUT/after-p99.log
uptime >> $OUT/kafka-after.load
rm -rf /tmp/s14-kq2-*
# 3. The full comparison (README's table, issue 26).
uptime > $OUT/compare.load
MILLRACE_COMPARE_BIN=/work/compare-build/target/release/millrace-compare MILLRACE_COMPARE_MILLRACE_BIN=$NEW \
  MILLRACE_COMPARE_LABEL=quiet MILLRACE_COMPARE_RESULTS_DIR=$OUT benches/compare/run.sh > $OUT/compare.log 2>&1
uptime >> $OUT/compare.load
