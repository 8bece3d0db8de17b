#!/bin/bash
# Base (main 7d7bdb87, the CI clone's release build) and new (s13-mirror:
# EndTxn answered at the commit point) taking turns, one round each; the
# load average before each turn is in *.load. Then one timeline of each
# (the mirror's per-batch commit wait and the central server's fdatasyncs).
# Run from the worktree root: benches/results/2026-12-07-s13-mirror/ab.sh [TURNS]
set -u
OUT=benches/results/2026-12-07-s13-mirror
BASE=/work/wt/mirror-base-millrace
NEW=/tmp/s13-mirror-new-millrace
PY=target/kafka-venv/bin/python
TURNS=${1:-3}
for i in $(seq 1 "$TURNS"); do
  for b in base new; do
    bin=$BASE; [ $b = new ] && bin=$NEW
    uptime > $OUT/ab-$b-$i.load
    rm -rf /tmp/s13-mb
    MBENCH_RECORDS=100000 MBENCH_ROUNDS=1 $PY benches/mirror/driver.py $bin /tmp/s13-mb $OUT/ab-$b-$i.json > $OUT/ab-$b-$i.log 2>&1
    uptime >> $OUT/ab-$b-$i.load
  done
done
for b in base new; do
  bin=$BASE; [ $b = new ] && bin=$NEW
  rm -rf /tmp/s13-mb
  uptime > $OUT/timeline-$b.load
  MBENCH_RECORDS=100000 $PY benches/mirror/timeline.py $bin /tmp/s13-mb $OUT/timeline-$b > $OUT/timeline-$b.log 2>&1
done
rm -rf /tmp/s13-mb
