#!/bin/sh
# Base (main 77bd27f) and branch binaries in alternating rounds, both
# durabilities; the load average before and after each run.
R=benches/results/2026-12-07-s12-rperf
for d in always os; do
  echo "$(date -u +%H:%M:%S) load $(cat /proc/loadavg) start $d" >> $R/ab-load.txt
  KBENCH_RECORDS=300000 KBENCH_AB_LATENCY=0 KBENCH_AB_DURABILITY=$d \
    target/kafka-venv/bin/python benches/kafka/ab.py /work/wt/rperf-base-millrace /work/wt/rperf-new-millrace /tmp/rperf-ab-$d 5 \
    > $R/ab-$d.json 2> $R/ab-$d.log
  echo "$(date -u +%H:%M:%S) load $(cat /proc/loadavg) end $d" >> $R/ab-load.txt
done
