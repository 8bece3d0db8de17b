#!/bin/sh
# Scan A/B of issue 26 (s10-rperf): the engine bench's read cases only, base and
# new bench binaries alternating (new first in odd rounds), 128 MiB per case,
# best of 3 timed passes, dd/reopen baselines shrunk. Usage: scan_ab.sh BASE NEW OUT_DIR ROUNDS
BASE=$1; NEW=$2; OUT=$3; ROUNDS=${4:-3}
export MILLRACE_BENCH_FILTER=nomatch MILLRACE_BENCH_READ_MB=128 MILLRACE_BENCH_READ_ROUNDS=3 \
  MILLRACE_BENCH_REOPEN_MB=8 MILLRACE_BENCH_DD_MB=16 MILLRACE_BENCH_READ_API=scan MILLRACE_BENCH_RESULTS_DIR=$OUT
i=1
while [ $i -le $ROUNDS ]; do
  if [ $((i % 2)) -eq 1 ]; then ORDER="new base"; else ORDER="base new"; fi
  for which in $ORDER; do
    if [ $which = base ]; then BIN=$BASE; else BIN=$NEW; fi
    for api in scan scanner; do
      MILLRACE_BENCH_READ_API=$api MILLRACE_BENCH_LABEL=$which-$api-$i $BIN --bench > /dev/null 2>&1
      echo "$which $api round $i: $(grep -E '^(Scan|Scanner),' $OUT/$which-$api-$i-read.csv | tr '\n' ' ') $(grep '^memcpy' $OUT/$which-$api-$i-baselines.csv)"
    done
  done
  i=$((i + 1))
done
