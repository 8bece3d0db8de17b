#!/usr/bin/env bash
# Syscalls, context switches and CPU per record on each end (server, client)
# for one comparison workload, Millrace's server against Redis, in the same
# run (issue 26, s13 step 1). Starts the server as benches/compare/run.sh
# does, runs the comparison driver's workload, and counts with
# `perf stat -e syscalls:sys_enter_*` on both processes for SECONDS in the
# middle of it. Per-record figures divide by the driver's records/s × the
# counted seconds.
#
#   syscalls.sh COMPARE_BIN MILLRACE_BIN [WORKLOAD] [SYSTEMS...]
set -euo pipefail
BIN="$1"; MBIN="$2"; WORKLOAD="${3:-durable16}"; shift 3 || true
SYSTEMS=("${@:-server redis}")
[[ ${#SYSTEMS[@]} -eq 1 ]] && read -r -a SYSTEMS <<<"${SYSTEMS[0]}"
COUNT_S="${COUNT_SECONDS:-2}"
EVENTS="context-switches,cpu-migrations,task-clock"
for s in read recvfrom readv write sendto writev sendmsg recvmsg epoll_wait epoll_pwait epoll_pwait2 futex fdatasync fsync pwrite64 sched_yield io_uring_enter; do
  EVENTS="$EVENTS,syscalls:sys_enter_$s"
done
EVENTS="$EVENTS,raw_syscalls:sys_enter"
spid=""
WORK="$(mktemp -d /tmp/s14-syscalls.XXXXXX)"
trap '[[ -n $spid ]] && kill $spid 2>/dev/null; rm -rf "$WORK"' EXIT
for system in "${SYSTEMS[@]}"; do
  dir="$WORK/$system"; mkdir -p "$dir"
  durability=always; fsync=always
  [[ "$WORKLOAD" == relaxed ]] && durability=interval:10 && fsync=everysec
  case "$system" in
    server) "$MBIN" --data "$dir/data" serve --listen 127.0.0.1:17896 --no-metrics --kafka-listen off \
              --registry-listen off --durability "$durability" >"$dir/server.log" 2>&1 & port=17896 ;;
    redis) redis-server --bind 127.0.0.1 --port 16396 --dir "$dir" --save "" --appendonly yes \
              --appendfsync "$fsync" --daemonize no --logfile "$dir/redis.log" & port=16396 ;;
  esac
  spid=$!
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.05; done
  echo "== $system $WORKLOAD load $(cut -d' ' -f1-3 /proc/loadavg)"
  MILLRACE_COMPARE_SERVER_PID=$spid "$BIN" run "$system" "$WORKLOAD" "$dir" "$port" >"$dir/line.csv" &
  dpid=$!
  sleep 1.5
  perf stat -x, -e "$EVENTS" -p "$spid" -o "$dir/server.stat" -- sleep "$COUNT_S" &
  p1=$!
  perf stat -x, -e "$EVENTS" -p "$dpid" -o "$dir/client.stat" -- sleep "$COUNT_S" &
  p2=$!
  wait $p1 $p2
  wait $dpid
  kill -TERM $spid; wait $spid 2>/dev/null || true
  echo "driver: $(cat "$dir/line.csv")"
  # system,workload,records,payload_bytes,seconds,...
  python3 - "$dir" "$COUNT_S" "$system" <<'PY'
import sys, csv
d, secs, system = sys.argv[1], float(sys.argv[2]), sys.argv[3]
line = open(f"{d}/line.csv").read().strip().split(",")
records, seconds = float(line[2]), float(line[4])
per_s = records / seconds
n = per_s * secs
print(f"{system}: {per_s:,.0f} records/s; per record over {secs:.0f} s (~{n:,.0f} records):")
for end in ("server", "client"):
    counts = {}
    for row in csv.reader(open(f"{d}/{end}.stat")):
        if len(row) > 3 and row[0] and row[0][0].isdigit():
            counts[row[2].replace("syscalls:sys_enter_", "")] = float(row[0])
    cols = [f"{k}={v / n:.3f}" for k, v in counts.items() if v > 0 and k != "task-clock"]
    print(f"  {end:6} cpu_us={counts.get('task-clock', 0) * 1000 / n:.1f} " + " ".join(cols))
PY
done
