#!/bin/bash
# Alternate base and new binaries through benches/contracts/server.py
# (s14's server-ab.sh with this session's paths); the load before each run
# goes to server-ab-load.log.
cd /work/wt/contracts
R=benches/results/2026-12-07-s15-contracts
for i in ${RUNS:-1 2 3}; do
  for v in base new; do
    echo "$(date -u +%T) $v-$i load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a $R/server-ab-load.log >&2
    CBENCH_RECORDS=${CBENCH_RECORDS:-200000} CBENCH_ROUNDS=${CBENCH_ROUNDS:-2} target/kafka-venv/bin/python benches/contracts/server.py /tmp/s15-$v-contracts-millrace /tmp/s15-contracts-swork $R/server-$v-$i > /dev/null 2>> $R/server-ab.log
  done
done
