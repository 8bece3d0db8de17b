#!/bin/bash
# A/B: base and new binaries taking turns, one round each per turn.
cd /work/wt/mirror
OUT=benches/results/2026-12-07-s11-mirror
for i in 1 2 3 4; do
  for b in base new; do
    uptime > $OUT/ab-$b-$i.load
    rm -rf /tmp/mb-s11/work
    MBENCH_RECORDS=100000 MBENCH_ROUNDS=1 target/kafka-venv/bin/python benches/mirror/driver.py /work/wt/mirror-$b-millrace /tmp/mb-s11/work $OUT/ab-$b-$i.json > $OUT/ab-$b-$i.log 2>&1
  done
done
echo done
