#!/bin/bash
# Embedded validated ÷ plain (durability os, batches of 1000), base and new
# bench binaries alternating; load before each run in embedded/embedded.log.
cd /work/wt/cperf
R=benches/results/2026-12-07-s14-cperf/embedded
mkdir -p $R
for i in ${RUNS:-1 2}; do
  for v in base new; do
    echo "$(date -u +%T) $v-$i load $(cut -d' ' -f1-3 /proc/loadavg)" >> $R/embedded.log
    MILLRACE_BENCH_ROUNDS=5 MILLRACE_BENCH_CASE_SECONDS=2 MILLRACE_BENCH_CHECK_RECORDS=20000 MILLRACE_BENCH_LABEL=embedded-$v-$i \
      MILLRACE_BENCH_RESULTS_DIR=$R /tmp/cperf-$v-bench --bench >> $R/embedded.log 2>&1
  done
done
