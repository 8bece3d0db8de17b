#!/bin/sh
# Scan cycles A/B of issue 26 (s10-rperf). Wall-clock read figures moved 2-6x
# between passes on the loaded machine (scan_ab.sh), so this counts user-space
# cycles and instructions (perf stat) of the whole bench process with 1 and with
# 21 timed read passes: the difference is 20 passes over 128 MiB of 1 KiB and
# 128 MiB of 100 B records (1,483,637 records per pass), the fill and baselines
# cancel out. Base and new alternate. Usage: scan_cycles.sh BASE NEW OUT_DIR ROUNDS
BASE=$1; NEW=$2; OUT=$3; ROUNDS=${4:-2}
export MILLRACE_BENCH_FILTER=nomatch MILLRACE_BENCH_READ_MB=128 MILLRACE_BENCH_REOPEN_MB=8 \
  MILLRACE_BENCH_DD_MB=16 MILLRACE_BENCH_RESULTS_DIR=$OUT/tables
i=1
while [ $i -le $ROUNDS ]; do
  if [ $((i % 2)) -eq 1 ]; then ORDER="new base"; else ORDER="base new"; fi
  for which in $ORDER; do
    if [ $which = base ]; then BIN=$BASE; else BIN=$NEW; fi
    for api in scan scanner; do
      for passes in 1 21; do
        f=$OUT/$which-$api-$passes-$i.perf
        MILLRACE_BENCH_READ_API=$api MILLRACE_BENCH_READ_ROUNDS=$passes MILLRACE_BENCH_LABEL=$which-$api-$passes-$i \
          perf stat -x, -e cycles:u,instructions:u,task-clock -o $f $BIN --bench > /dev/null 2>&1
        echo "$which $api passes=$passes round=$i $(grep -E 'cycles|instructions|task-clock' $f | cut -d, -f1,3 | tr '\n' ' ')"
      done
    done
  done
  i=$((i + 1))
done
