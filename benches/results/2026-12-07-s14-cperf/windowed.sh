#!/bin/bash
# Windowed rules and freshness (the lock once per request), base and new
# bench binaries alternating; load before each run in windowed/windowed.log.
cd /work/wt/cperf
R=benches/results/2026-12-07-s14-cperf/windowed
mkdir -p $R
for i in ${RUNS:-1 2}; do
  for v in base new; do
    echo "$(date -u +%T) $v-$i load $(cut -d' ' -f1-3 /proc/loadavg)" >> $R/windowed.log
    MILLRACE_BENCH_WINDOWED=1 MILLRACE_BENCH_ROUNDS=3 MILLRACE_BENCH_CASE_SECONDS=2 MILLRACE_BENCH_CHECK_RECORDS=20000 MILLRACE_BENCH_LABEL=windowed-$v-$i \
      MILLRACE_BENCH_RESULTS_DIR=$R /tmp/cperf-$v-bench --bench >> $R/windowed.log 2>&1
  done
done
