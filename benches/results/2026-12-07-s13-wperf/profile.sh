#!/usr/bin/env bash
# Flame graphs of the server and of the comparison driver (its client)
# during one workload (s13 step 1): perf record --call-graph dwarf on each
# process for SECONDS in the middle of the run.
#   profile.sh COMPARE_BIN MILLRACE_BIN SYSTEM WORKLOAD LABEL
set -euo pipefail
BIN="$1"; MBIN="$2"; SYSTEM="$3"; WORKLOAD="$4"; LABEL="$5"
OUT="$(cd "$(dirname "$0")" && pwd)"
SECS="${PROFILE_SECONDS:-2}"
spid=""
WORK="$(mktemp -d /tmp/s13-profile.XXXXXX)"
trap 'kill $spid 2>/dev/null; rm -rf "$WORK"' EXIT
durability=always; fsync=always
[[ "$WORKLOAD" == relaxed ]] && durability=interval:10 && fsync=everysec
case "$SYSTEM" in
  server) "$MBIN" --data "$WORK/data" serve --listen 127.0.0.1:17893 --no-metrics --kafka-listen off \
            --registry-listen off --durability "$durability" >"$WORK/server.log" 2>&1 & port=17893 ;;
  redis) redis-server --bind 127.0.0.1 --port 16393 --dir "$WORK" --save "" --appendonly yes \
            --appendfsync "$fsync" --daemonize no --logfile "$WORK/redis.log" & port=16393 ;;
esac
spid=$!
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.05; done
echo "load $(cut -d' ' -f1-3 /proc/loadavg)" >"$OUT/profile-$LABEL.load"
MILLRACE_COMPARE_SERVER_PID=$spid "$BIN" run "$SYSTEM" "$WORKLOAD" "$WORK" "$port" >"$WORK/line.csv" &
dpid=$!
sleep 1.5
perf record -F 499 --call-graph dwarf,16384 -p "$spid" -o "$WORK/server.data" -- sleep "$SECS" 2>/dev/null &
p1=$!
perf record -F 499 --call-graph dwarf,16384 -p "$dpid" -o "$WORK/client.data" -- sleep "$SECS" 2>/dev/null &
p2=$!
wait $p1 $p2
wait $dpid
kill -TERM $spid; wait $spid 2>/dev/null || true
cat "$WORK/line.csv" >>"$OUT/profile-$LABEL.load"
for end in server client; do
  perf script -i "$WORK/$end.data" 2>/dev/null | inferno-collapse-perf >"$WORK/$end.folded"
  inferno-flamegraph --title "$LABEL $end" <"$WORK/$end.folded" >"$OUT/profile-$LABEL-$end.svg"
  # Share of samples in the kernel and top leaf frames.
  python3 - "$WORK/$end.folded" >"$OUT/profile-$LABEL-$end.txt" <<'PY'
import sys, collections
total = 0; kernel = 0; leaves = collections.Counter(); frames = collections.Counter()
for line in open(sys.argv[1]):
    stack, n = line.rsplit(" ", 1); n = int(n); total += n
    parts = stack.split(";")
    if parts[-1].endswith("_[k]"): kernel += n
    leaves[parts[-1]] += n
    for f in set(parts): frames[f] += n
print(f"samples (period sum) {total}")
print("syscalls and scheduler (inclusive share of the samples):")
for f in ("__x64_sys_sendto", "__x64_sys_recvfrom", "__x64_sys_write", "__x64_sys_read", "__x64_sys_fdatasync",
          "__x64_sys_pwrite64", "__x64_sys_epoll_wait", "__x64_sys_futex", "__x64_sys_sched_yield",
          "finish_task_switch.isra.0", "try_to_wake_up", "schedule"):
    print(f"  {frames[f] / total:6.1%} {f}")
print("top frames (inclusive):")
for f, n in frames.most_common(45): print(f"  {n / total:6.1%} {f[:110]}")
print("top leaves:")
for f, n in leaves.most_common(20): print(f"  {n / total:6.1%} {f[:110]}")
PY
done
