#!/bin/bash
# Quiet-machine runs after the s15 merge (no builds running; the load average
# before each part is in *.load). Binaries: base = main 3ad5e42c (where s15
# started; a helper's build of it), new = s15's merged main (the CI clone's
# release build). Run from the repository root:
#   benches/results/2026-12-07-s15-quiet/run.sh
set -u
OUT=benches/results/2026-12-07-s15-quiet
BASE=/tmp/s15-base-mirror-millrace
NEW=/tmp/s15-new-millrace
export PY=/work/ci-clone/target/kafka-venv/bin/python
# 1. The mirror (issue 24): base and new taking turns, 500,000 records.
for i in 1 2 3; do
  for b in base new; do
    bin=$BASE; [ $b = new ] && bin=$NEW
    uptime > $OUT/mirror-$b-$i.load
    rm -rf /tmp/s15-q-mb
    MBENCH_RECORDS=500000 MBENCH_ROUNDS=1 $PY benches/mirror/driver.py $bin /tmp/s15-q-mb $OUT/mirror-$b-$i.json > $OUT/mirror-$b-$i.log 2>&1
  done
done
rm -rf /tmp/s15-q-mb
# 2. Issue 21: p99 under acks=all, base and new taking turns, with the thin
# raw producer and confluent-kafka; then batched produce Kafka ÷ native.
uptime > $OUT/kafka.load
KBENCH_P99_SYSTEMS=native,kafka,kafka-thin $PY benches/kafka/p99_ab.py $BASE $NEW /tmp/s15-q-p99 6 > $OUT/p99-ab.json 2> $OUT/p99-ab.log
uptime >> $OUT/kafka.load
KBENCH_RECORDS=300000 KBENCH_AB_LATENCY=0 $PY benches/kafka/ab.py $BASE $NEW /tmp/s15-q-ab 4 > $OUT/ab.json 2> $OUT/ab.log
uptime >> $OUT/kafka.load
rm -rf /tmp/s15-q-p99 /tmp/s15-q-ab
# 3. Issue 22: validated produce through the Kafka front, the new binary.
uptime > $OUT/contracts.load
CBENCH_ROUNDS=3 $PY benches/contracts/server.py $NEW /tmp/s15-q-cb $OUT/contracts > $OUT/contracts.log 2>&1
uptime >> $OUT/contracts.load
rm -rf /tmp/s15-q-cb
