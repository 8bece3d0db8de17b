#!/bin/bash
# A/B: base (main 77bd27f) and new (this branch) binaries taking turns, one
# round each per turn; the load average before each turn in ab-*.load.
cd /work/wt/mirror
OUT=benches/results/2026-12-07-s12-mirror/second-run
TURNS=${TURNS:-4}
for i in $(seq 1 $TURNS); do
  for b in base new; do
    uptime > $OUT/ab-$b-$i.load
    rm -rf /tmp/mb-s12/work
    MBENCH_RECORDS=100000 MBENCH_ROUNDS=1 target/kafka-venv/bin/python benches/mirror/driver.py /work/wt/mirror-$b-millrace /tmp/mb-s12/work $OUT/ab-$b-$i.json > $OUT/ab-$b-$i.log 2>&1
  done
done
echo done
