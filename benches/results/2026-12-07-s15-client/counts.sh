#!/usr/bin/env bash
# Kernel and allocator counts per record of the comparison's client and
# server (issue 26, session s15): one `millrace-compare run SYSTEM WORKLOAD`
# with the client under `perf stat` (task-clock, context switches, syscalls
# by kind, malloc calls through a libc uprobe) and the server process under a
# second `perf stat -p` for the same seconds. Prints one JSON line.
#
#   counts.sh DRIVER_BIN MILLRACE_BIN SYSTEM WORKLOAD [SECONDS]
#
# SYSTEM: server | redis. WORKLOAD: relaxed | durable | durable16 | window.
# Needs `perf probe -x /lib/x86_64-linux-gnu/libc.so.6 malloc` done once.
set -euo pipefail
DRIVER="$1" MILLRACE="$2" SYSTEM="$3" WORKLOAD="$4" SECS="${5:-3}"
PORT_SERVER=17978 PORT_REDIS=16479
WORK="$(mktemp -d /tmp/s15-client-counts.XXXXXX)"
SERVER_PID=""
cleanup() {
  [[ -n "$SERVER_PID" ]] && { kill -TERM "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; }
  rm -rf "$WORK"
}
trap cleanup EXIT
wait_for_port() {
  for _ in $(seq 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}
durable=yes
[[ "$WORKLOAD" == relaxed || "$WORKLOAD" == window ]] && durable=no
case "$SYSTEM" in
  server)
    if [[ $durable == yes ]]; then d=always; else d=interval:10; fi
    "$MILLRACE" --data "$WORK/data" serve --listen "127.0.0.1:$PORT_SERVER" --no-metrics \
      --kafka-listen off --registry-listen off --durability "$d" >"$WORK/server.log" 2>&1 &
    SERVER_PID=$!; PORT=$PORT_SERVER ;;
  redis)
    if [[ $durable == yes ]]; then f=always; else f=everysec; fi
    redis-server --bind 127.0.0.1 --port "$PORT_REDIS" --dir "$WORK" --save "" --appendonly yes \
      --appendfsync "$f" --daemonize no --logfile "$WORK/redis.log" &
    SERVER_PID=$!; PORT=$PORT_REDIS ;;
esac
wait_for_port "$PORT"
EVENTS=task-clock,context-switches,raw_syscalls:sys_enter,syscalls:sys_enter_write,syscalls:sys_enter_read,syscalls:sys_enter_sendto,syscalls:sys_enter_recvfrom,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_futex,syscalls:sys_enter_writev,probe_libc:malloc
perf stat -x, -e "$EVENTS" -p "$SERVER_PID" -o "$WORK/server.perf" &
PERF_SERVER=$!
sleep 0.2
MILLRACE_COMPARE_SECONDS="$SECS" MILLRACE_COMPARE_SERVER_PID="$SERVER_PID" \
  perf stat -x, -e "$EVENTS" -o "$WORK/client.perf" -- "$DRIVER" run "$SYSTEM" "$WORKLOAD" "$WORK/d" "$PORT" >"$WORK/outcome.csv"
kill -INT "$PERF_SERVER"; wait "$PERF_SERVER" 2>/dev/null || true
python3 - "$WORK" "$SYSTEM" "$WORKLOAD" "$(cut -d' ' -f1 /proc/loadavg)" "$DRIVER" <<'PY'
import csv, json, sys
work, system, workload, load, driver = sys.argv[1:6]
row = next(csv.reader(open(f"{work}/outcome.csv")))
records = int(row[2])
def counts(path):
    out = {}
    for line in open(path):
        parts = line.strip().split(",")
        if len(parts) < 3 or line.startswith("#"):
            continue
        try:
            value = float(parts[0])
        except ValueError:
            continue
        out[parts[2].replace("syscalls:sys_enter_", "").replace("raw_syscalls:sys_enter", "syscalls").replace("probe_libc:", "")] = value
    return out
result = {"system": system, "workload": workload, "driver": driver, "load": float(load), "records": records,
          "records_per_s": records / float(row[4]), "client_cpu_us": float(row[9]) * 1e6 / records,
          "server_cpu_us": float(row[10]) * 1e6 / records if row[10] else None}
for end in ("client", "server"):
    c = counts(f"{work}/{end}.perf")
    result[end] = {k: round((v * 1000 if k == "task-clock" else v) / records, 3) for k, v in c.items()}
print(json.dumps(result))
PY
