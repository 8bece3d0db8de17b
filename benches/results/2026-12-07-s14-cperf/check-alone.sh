#!/bin/bash
# The check alone (CPU µs per record, thread CPU), base and new bench
# binaries alternating; the load before each run goes to check-alone/runs.log.
cd /work/wt/cperf
R=benches/results/2026-12-07-s14-cperf/check-alone
mkdir -p $R
for i in ${RUNS:-1 2 3}; do
  for v in base new; do
    echo "$(date -u +%T) $v-$i load $(cut -d' ' -f1-3 /proc/loadavg)" >> $R/runs.log
    MILLRACE_BENCH_ROUNDS=0 MILLRACE_BENCH_CHECK_RECORDS=300000 MILLRACE_BENCH_LABEL=alone-$v-$i \
      MILLRACE_BENCH_RESULTS_DIR=$R /tmp/cperf-$v-bench --bench 2>&1 | grep -E "check alone" >> $R/runs.log
  done
done
