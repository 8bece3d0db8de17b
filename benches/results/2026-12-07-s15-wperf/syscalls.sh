#!/usr/bin/env bash
# Syscalls, context switches and CPU per record on each end of
# `millrace bench --server` (issue 26, s15): for each binary in turn (ABAB…),
# start `serve`, run the bench for RUN_SECONDS, and count with
# `perf stat -e syscalls:sys_enter_*` on the server and on the client for
# COUNT_SECONDS in the middle of it. Per-record figures divide by the
# bench's records/s × the counted seconds (its whole-run rate); task-clock
# is µs per record. One JSON line per run.
#
#   syscalls.sh WORKLOAD ROUNDS BIN...      (WORKLOAD: durable16 | relaxed | durable)
set -euo pipefail
WORKLOAD="$1"; ROUNDS="$2"; shift 2
BINS=("$@")
COUNT_S="${COUNT_SECONDS:-2}"; SECONDS_RUN="${RUN_SECONDS:-5}"
EVENTS="context-switches,cpu-migrations,task-clock"
for s in read recvfrom readv write sendto writev sendmsg recvmsg epoll_wait epoll_pwait futex fdatasync pwrite64 sched_yield; do
  EVENTS="$EVENTS,syscalls:sys_enter_$s"
done
EVENTS="$EVENTS,raw_syscalls:sys_enter"
case "$WORKLOAD" in
  durable16) producers=16; durability=always ;;
  relaxed) producers=1; durability=interval:10 ;;
  durable) producers=1; durability=always ;;
esac
WORK="$(mktemp -d /tmp/s15-wperf-syscalls.XXXXXX)"
spid=""
trap '[[ -n $spid ]] && kill $spid 2>/dev/null; rm -rf "$WORK"' EXIT
for round in $(seq "$ROUNDS"); do
  order=("${BINS[@]}")
  if (( round % 2 == 0 )); then order=(); for ((i=${#BINS[@]}-1; i>=0; i--)); do order+=("${BINS[$i]}"); done; fi
  for bin in "${order[@]}"; do
    dir="$WORK/run"; rm -rf "$dir"; mkdir -p "$dir"
    port=$((17000 + RANDOM % 900))
    "$bin" --data "$dir/data" serve --listen 127.0.0.1:$port --no-metrics --kafka-listen off \
      --registry-listen off --durability "$durability" >"$dir/server.log" 2>&1 &
    spid=$!
    for _ in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.05; done
    load="$(cut -d' ' -f1-3 /proc/loadavg)"
    "$bin" --server 127.0.0.1:$port bench --json --producers $producers --partitions 1 --record-bytes 1024 \
      --batch-records 1 --durability "$durability" --duration ${SECONDS_RUN}s >"$dir/bench.json" &
    dpid=$!
    sleep 1.5
    perf stat -x, -e "$EVENTS" -p "$spid" -o "$dir/server.stat" -- sleep "$COUNT_S" &
    p1=$!
    perf stat -x, -e "$EVENTS" -p "$dpid" -o "$dir/client.stat" -- sleep "$COUNT_S" &
    p2=$!
    wait $p1 $p2
    wait $dpid
    kill -TERM $spid; wait $spid 2>/dev/null || true; spid=""
    python3 - "$dir" "$COUNT_S" "$bin" "$WORKLOAD" "$round" "$load" <<'PY'
import sys, csv, json
d, secs, binary, workload, rnd, load = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
bench = json.load(open(f"{d}/bench.json"))
per_s = bench["records_per_second"]
n = per_s * secs
row = {"binary": binary, "workload": workload, "round": int(rnd), "load": load, "records_per_second": round(per_s)}
for end in ("server", "client"):
    counts = {}
    for r in csv.reader(open(f"{d}/{end}.stat")):
        if len(r) > 3 and r[0] and r[0][0].isdigit():
            counts[r[2].replace("syscalls:sys_enter_", "").replace("raw_syscalls:sys_enter", "all")] = float(r[0])
    row[end] = {k: round((v * 1000 if k == "task-clock" else v) / n, 3) for k, v in counts.items() if v > 0}
print(json.dumps(row), flush=True)
PY
  done
done
