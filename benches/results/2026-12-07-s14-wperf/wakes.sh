#!/bin/bash
# Who makes the server's eventfd writes, epoll_waits and futex calls at 16 durable
# producers (issue 26, s14): perf record of those syscalls' entries with call
# graphs for 1 s in the middle of the comparison driver's durable16 run.
#   wakes.sh MILLRACE_BIN OUT_SCRIPT_TXT; then wakes_summary.py OUT_SCRIPT_TXT
BIN=$1; OUT=$2
W=$(mktemp -d /tmp/wperf-p.XXXX)
$BIN --data $W/data serve --listen 127.0.0.1:17896 --no-metrics --kafka-listen off --registry-listen off --durability always > $W/server.log 2>&1 &
SP=$!
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/17896) 2>/dev/null && break; sleep 0.05; done
MILLRACE_COMPARE_SERVER_PID=$SP /work/compare-build/target/release/millrace-compare run server durable16 $W 17896 > $W/line.csv &
DP=$!
sleep 1.5
perf record -e syscalls:sys_enter_write,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_futex --call-graph dwarf,8192 -p $SP -o $W/p.data -- sleep 1 2>&1 | tail -1
wait $DP
kill $SP; wait $SP
cat $W/line.csv
perf script -i $W/p.data 2>/dev/null > $OUT
rm -rf $W
