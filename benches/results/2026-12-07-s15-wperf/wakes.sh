#!/bin/bash
# Who makes the server's eventfd writes, epoll_waits and futex calls at 16
# durable producers (s14's wakes.sh with `millrace bench --server` as the
# load): perf record of those syscalls' entries with call graphs for 1 s in
# the middle of a 5 s run.
#   wakes.sh MILLRACE_BIN OUT_SCRIPT_TXT; then ../2026-12-07-s14-wperf/wakes_summary.py OUT_SCRIPT_TXT
BIN=$1; OUT=$2
W=$(mktemp -d /tmp/s15-wperf-wakes.XXXX)
$BIN --data $W/data serve --listen 127.0.0.1:17897 --no-metrics --kafka-listen off --registry-listen off --durability always > $W/server.log 2>&1 &
SP=$!
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/17897) 2>/dev/null && break; sleep 0.05; done
$BIN --server 127.0.0.1:17897 bench --json --producers 16 --partitions 1 --record-bytes 1024 --batch-records 1 --durability always --duration 5s > $W/bench.json &
DP=$!
sleep 1.5
perf record -e syscalls:sys_enter_write,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_futex --call-graph dwarf,8192 -p $SP -o $W/p.data -- sleep 1 2>&1 | tail -1
wait $DP
kill $SP; wait $SP
grep records_per_second $W/bench.json
perf script -i $W/p.data 2>/dev/null > $OUT
rm -rf $W
