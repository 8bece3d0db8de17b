#!/bin/bash
# Issue 24, session s14: binaries taking turns, one round each per turn, at
# MBENCH_RECORDS (default 500000) records of 1 KiB; the load average before
# each turn in *.load. Run from the repository root:
#   benches/results/2026-12-07-s14-mirror/ab.sh TURNS NAME=BINARY [NAME=BINARY ...]
# e.g. ab.sh 3 base=/tmp/s14-main-millrace new=target/release/millrace
# PY: a python with confluent-kafka (default target/kafka-venv/bin/python).
set -u
OUT=benches/results/2026-12-07-s14-mirror
PY=${PY:-target/kafka-venv/bin/python}
N=${MBENCH_RECORDS:-500000}
TURNS=$1; shift
for i in $(seq 1 "$TURNS"); do
  for pair in "$@"; do
    name=${pair%%=*}; bin=${pair#*=}
    uptime > $OUT/ab-$name-$i.load
    rm -rf /tmp/s14-mb
    MBENCH_RECORDS=$N MBENCH_ROUNDS=1 $PY benches/mirror/driver.py "$bin" /tmp/s14-mb $OUT/ab-$name-$i.json > $OUT/ab-$name-$i.log 2>&1
    grep "round 0" $OUT/ab-$name-$i.log
  done
done
rm -rf /tmp/s14-mb
