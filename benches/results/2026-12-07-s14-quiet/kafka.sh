#!/bin/bash
# Issue 21's figures on a quiet machine: Kafka front ÷ native front, main 08652c6e's CI build.
set -u
R=$(cd "$(dirname "$0")" && pwd)
PY=/work/ci-clone/target/kafka-venv/bin/python
BIN=/tmp/s14-main-millrace
cd /work/main
uptime > $R/load-start.txt
$PY benches/kafka/ab.py $BIN $BIN /tmp/s14-kq-ab 4 > $R/ab.json 2> $R/ab.log
uptime >> $R/load-start.txt
$PY benches/kafka/p99.py $BIN /tmp/s14-kq-p99 8 > $R/p99.json 2> $R/p99.log
uptime >> $R/load-start.txt
KBENCH_ROUNDS=4 $PY benches/kafka/driver.py $BIN /tmp/s14-kq-driver kafka > $R/driver.log 2>&1
uptime > $R/load-end.txt
echo done >> $R/load-end.txt
