#!/bin/bash
# The comparison's server and Redis rows (issue 26, s14): base and new back
# to back, one round each per pass (order swapped every pass), 3 passes; the
# order of the systems inside a run is rotated by run.sh. Load before and
# after each run in compare-*.load. Summary: compare_summary.py.
# Run from the repository root: benches/results/2026-12-07-s14-wperf/compare.sh BASE_BIN NEW_BIN
set -u
OUT=benches/results/2026-12-07-s14-wperf
BASE_BIN="$1"; NEW_BIN="$2"
DRIVER="${MILLRACE_COMPARE_BIN:-/work/compare-build/target/release/millrace-compare}"
for pass in 1 2 3; do
  order="base new"; [ $((pass % 2)) = 0 ] && order="new base"
  for label in $order; do
    bin=$NEW_BIN; [ $label = base ] && bin=$BASE_BIN
    uptime > $OUT/compare-$label-$pass.load
    MILLRACE_COMPARE_BIN=$DRIVER MILLRACE_COMPARE_MILLRACE_BIN=$bin MILLRACE_COMPARE_ROUNDS=1 \
      MILLRACE_COMPARE_SYSTEMS="server redis" MILLRACE_COMPARE_WORKLOADS="durable16 relaxed durable" \
      MILLRACE_COMPARE_DD_MB=256 MILLRACE_COMPARE_LABEL=compare-$label-$pass \
      MILLRACE_COMPARE_SERVER_PORT=17895 MILLRACE_COMPARE_REDIS_PORT=16395 \
      MILLRACE_COMPARE_RESULTS_DIR=$OUT benches/compare/run.sh > $OUT/compare-$label-$pass.log 2>&1
    uptime >> $OUT/compare-$label-$pass.load
  done
done
