#!/bin/bash
# Flat CPU profile (perf, cpu-clock: no hardware counters in this VM) of the
# central server for one mirror run of N records of 1 KiB, per binary:
#   benches/results/2026-12-07-s14-mirror/profile.sh NAME BINARY [N]
# Writes profile-NAME.txt (symbols by share of the server's samples).
set -eu
OUT=benches/results/2026-12-07-s14-mirror
NAME=$1; BIN=$2; N=${3:-200000}
W=/tmp/s14-prof-$NAME
rm -rf $W; mkdir -p $W/central
$BIN bench --data $W/edge --topic mbench --record-bytes 1024 --batch-records 1000 --count $N --durability always --keep --json > /dev/null
PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
KPORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
$BIN serve --data $W/central/data --listen 127.0.0.1:$PORT --no-metrics --registry-listen off --durability always --kafka-listen 127.0.0.1:$KPORT > $W/server.log 2>&1 &
SPID=$!
for i in $(seq 1 100); do (echo > /dev/tcp/127.0.0.1/$KPORT) 2>/dev/null && break; sleep 0.1; done
perf record -e cpu-clock -F 2000 -p $SPID -o $W/perf.data 2> /dev/null &
PPID_=$!
sleep 0.5
$BIN mirror --data $W/edge --to 127.0.0.1:$KPORT --prefix edge. --edge-id prof --topics mbench --progress-topic mirror_progress --exit-when-caught-up > $W/mirror.log 2>&1
kill -INT $PPID_; wait $PPID_ || true
kill -TERM $SPID; wait $SPID || true
{ uptime; echo "N=$N binary=$BIN"; perf report -i $W/perf.data --stdio --sort symbol --percent-limit 0.7 2>/dev/null | grep -v '^#' | grep -v '^$' | sed -E "s/[[:space:]]+-[[:space:]]+-[[:space:]]*$//" | head -n 45; } > $OUT/profile-$NAME.txt
rm -rf $W
