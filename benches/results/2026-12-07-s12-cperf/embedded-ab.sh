#!/bin/bash
# Embedded validated produce, base and new bench binaries alternating.
cd /work/wt/cperf
R=benches/results/2026-12-07-s12-cperf
for i in 1 2; do
  for v in base new; do
    echo "$(date -u +%T) $v-$i load $(cut -d' ' -f1-3 /proc/loadavg)"
    MILLRACE_BENCH_DURABILITY=${DURABILITY:-os} MILLRACE_BENCH_ROUNDS=5 MILLRACE_BENCH_CASE_SECONDS=2 MILLRACE_BENCH_CHECK_RECORDS=50000 \
      MILLRACE_BENCH_LABEL=embedded-${DURABILITY:-os}-$v-$i MILLRACE_BENCH_RESULTS_DIR=$R /tmp/cperf-$v-bench --bench 2>/dev/null | sed -n '/paired per round/,/^$/p;/paired per round/,/Cases/p' | grep "^| Json\|^| Avro\|^| JSON \|^| Avro "
  done
done
