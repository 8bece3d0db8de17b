#!/bin/sh
# Base (main 77bd27f) and branch binaries in alternating rounds, both
# durabilities; the load average before and after each run.
R=benches/results/2026-12-07-s12-rperf
for d in always os; do
  echo "$(date -u +%H:%M:%S) load $(cat /proc/loadavg) start $d" >> $R/ab2-load.txt
  KBENCH_RECORDS=300000 KBENCH_AB_LATENCY=0 KBENCH_AB_DURABILITY=$d \
    target/kafka-venv/bin/python benches/kafka/ab.py /work/wt/rperf-base-millrace /work/wt/rperf-new-millrace /tmp/rperf-ab2-$d 7 \
    > $R/ab2-$d.json 2> $R/ab2-$d.log
  echo "$(date -u +%H:%M:%S) load $(cat /proc/loadavg) end $d" >> $R/ab2-load.txt
done
