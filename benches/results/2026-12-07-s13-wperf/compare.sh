#!/bin/bash
# The comparison's server and Redis rows (issue 26, s13 step 3): the new
# binary, then the base, one run each of 3 rounds (order of the systems
# rotated per round by run.sh); load before and after each run in *.load.
# Run from the repository root: benches/results/2026-12-07-s13-wperf/compare.sh
set -u
OUT=benches/results/2026-12-07-s13-wperf
for label in new base; do
  bin=/work/wt/wperf-s13-wake-millrace; [ $label = base ] && bin=/work/wt/wperf-s13-base-millrace
  uptime > $OUT/compare-$label.load
  MILLRACE_COMPARE_BIN=/work/wt/wperf-new-compare MILLRACE_COMPARE_MILLRACE_BIN=$bin \
    MILLRACE_COMPARE_SYSTEMS="server redis" MILLRACE_COMPARE_WORKLOADS="durable16 relaxed durable" \
    MILLRACE_COMPARE_DD_MB=256 MILLRACE_COMPARE_LABEL=compare-$label \
    MILLRACE_COMPARE_SERVER_PORT=17894 MILLRACE_COMPARE_REDIS_PORT=16394 \
    MILLRACE_COMPARE_RESULTS_DIR=$OUT benches/compare/run.sh > $OUT/compare-$label.log 2>&1
  uptime >> $OUT/compare-$label.load
done
