#!/bin/bash
# option A/B with the base binary, taking turns.
cd /work/wt/mirror
OUT=/tmp/mab/opts
mkdir -p $OUT
for i in 1 2 3; do
  for v in default nosparse 384k; do
    case $v in
      default) ARGS="";;
      nosparse) ARGS="--to-config enable.sparse.connections=false";;
      384k) ARGS="--batch-bytes 384KiB";;
    esac
    uptime > $OUT/$v-$i.load
    rm -rf /tmp/mab/work
    MBENCH_MIRROR_ARGS="$ARGS" MBENCH_RECORDS=100000 MBENCH_ROUNDS=1 target/kafka-venv/bin/python benches/mirror/driver.py /work/wt/mirror-base-millrace /tmp/mab/work $OUT/$v-$i.json > $OUT/$v-$i.log 2>&1
  done
done
echo done
