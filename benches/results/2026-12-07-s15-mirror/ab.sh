#!/bin/bash
# The mirror (issue 24), base and new binaries taking turns, one round each,
# MBENCH_RECORDS records of 1 KiB (500,000 by default): driver.py's steady-state
# ratio and the central server's CPU per mirrored record; the load average
# before each turn in *.load. Run from the repository root:
#   benches/results/2026-12-07-s15-mirror/ab.sh BASE_BIN NEW_BIN TURNS [LABEL]
set -u
OUT=benches/results/2026-12-07-s15-mirror
BASE=$1
NEW=$2
TURNS=${3:-3}
LABEL=${4:-ab}
PY=${PY:-target/kafka-venv/bin/python}
for i in $(seq 1 "$TURNS"); do
  for b in base new; do
    bin=$BASE; [ $b = new ] && bin=$NEW
    uptime > $OUT/$LABEL-$b-$i.load
    rm -rf /tmp/s15-mirror-mb
    MBENCH_RECORDS=${MBENCH_RECORDS:-500000} MBENCH_ROUNDS=1 $PY benches/mirror/driver.py "$bin" /tmp/s15-mirror-mb $OUT/$LABEL-$b-$i.json > $OUT/$LABEL-$b-$i.log 2>&1
    tail -1 $OUT/$LABEL-$b-$i.log | grep -o 'round 0.*' || tail -3 $OUT/$LABEL-$b-$i.log
  done
done
rm -rf /tmp/s15-mirror-mb
