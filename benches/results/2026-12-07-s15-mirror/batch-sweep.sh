#!/bin/bash
# One binary, transaction sizes taking turns (768 KiB default against 4 MiB
# with the record cap raised): driver.py rounds of 500,000 records.
# Run from the repository root: [OUT=DIR] benches/results/2026-12-07-s15-mirror/batch-sweep.sh BIN TURNS
set -u
OUT=${OUT:-benches/results/2026-12-07-s15-mirror}
BIN=$1
TURNS=${2:-2}
PY=${PY:-target/kafka-venv/bin/python}
for i in $(seq 1 "$TURNS"); do
  for size in 768KiB 4MiB; do
    uptime > $OUT/sweep-$size-$i.load
    rm -rf /tmp/s15-mirror-sw
    MBENCH_MIRROR_ARGS="--batch-bytes $size --batch-records 20000" MBENCH_RECORDS=${MBENCH_RECORDS:-500000} MBENCH_ROUNDS=1 \
      $PY benches/mirror/driver.py "$BIN" /tmp/s15-mirror-sw $OUT/sweep-$size-$i.json > $OUT/sweep-$size-$i.log 2>&1
    echo "$size $i: $(grep -o 'round 0.*' $OUT/sweep-$size-$i.log | tail -1)"
  done
done
rm -rf /tmp/s15-mirror-sw
