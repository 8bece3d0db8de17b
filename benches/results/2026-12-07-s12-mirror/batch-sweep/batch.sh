#!/bin/bash
# batch-size A/B with the base binary: default, 4 MiB, 16 MiB transactions, taking turns.
cd /work/wt/mirror
OUT=/tmp/mab/batch
mkdir -p $OUT
for i in 1 2 3; do
  for v in default 4m 16m; do
    case $v in
      default) ARGS="";;
      4m) ARGS="--batch-bytes 4MiB --batch-records 20000";;
      16m) ARGS="--batch-bytes 16MiB --batch-records 100000";;
    esac
    uptime > $OUT/$v-$i.load
    rm -rf /tmp/mab/work
    MBENCH_MIRROR_ARGS="$ARGS" MBENCH_RECORDS=100000 MBENCH_ROUNDS=1 target/kafka-venv/bin/python benches/mirror/driver.py /work/wt/mirror-base-millrace /tmp/mab/work $OUT/$v-$i.json > $OUT/$v-$i.log 2>&1
  done
done
echo done
