#!/usr/bin/env bash
# Profile of the comparison's scan row through the server (issue 26, s14 rperf):
# `millrace serve` (binary $1) and the compare driver ($2) scanning
# $MB MiB of 1 KiB records in 4 MiB fetch_view calls, $PASSES passes; perf
# attaches to both processes when the driver prints `scan-start` (after
# the untimed load). Writes <label>-server.svg, <label>-client.svg, the
# driver's CSV line and a perf report summary into this directory.
#
#   profile-scan.sh /tmp/s14-main-millrace target-compare/release/millrace-compare base
set -euo pipefail
MILLRACE_BIN="$1"; DRIVER="$2"; LABEL="$3"
MB="${MB:-512}"; PASSES="${PASSES:-4}"; PORT="${PORT:-17979}"
OUT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
WORK="$(mktemp -d /tmp/rperf-profile.XXXXXX)"
"$MILLRACE_BIN" --data "$WORK/data" serve --listen "127.0.0.1:$PORT" --no-metrics \
  --kafka-listen off --registry-listen off --durability interval:10 >"$WORK/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.1; done
uptime >"$OUT/$LABEL-profile.load"
MILLRACE_COMPARE_SCAN_MB=$MB MILLRACE_COMPARE_SCAN_PASSES=$PASSES MILLRACE_COMPARE_SERVER_PID=$SERVER \
  "$DRIVER" run server scan "$WORK/client" "$PORT" >"$OUT/$LABEL-profile.csv" 2>"$WORK/driver.err" &
DRIVER_PID=$!
until grep -q scan-start "$WORK/driver.err" 2>/dev/null; do sleep 0.05; done
perf record -q -F 499 --call-graph dwarf,16384 -o "$WORK/server.data" -p "$SERVER" 2>/dev/null &
PERF_SERVER=$!
perf record -q -F 499 --call-graph dwarf,16384 -o "$WORK/client.data" -p "$DRIVER_PID" 2>/dev/null &
PERF_CLIENT=$!
wait $DRIVER_PID
kill -INT $PERF_SERVER $PERF_CLIENT; wait $PERF_SERVER $PERF_CLIENT || true
uptime >>"$OUT/$LABEL-profile.load"
for side in server client; do
  perf script -i "$WORK/$side.data" 2>/dev/null | inferno-collapse-perf >"$WORK/$side.folded"
  inferno-flamegraph --title "$LABEL $side (scan, 1 KiB records, 4 MiB fetch_view)" <"$WORK/$side.folded" >"$OUT/$LABEL-$side.svg"
  # Self time of the hottest leaves.
  awk '{n=$NF; $NF=""; k=split($0, f, ";"); leaf=f[k]; gsub(/ +$/, "", leaf); s[leaf]+=n; t+=n} END {for (x in s) printf "%6.2f%% %s\n", 100*s[x]/t, x}' "$WORK/$side.folded" \
    | sort -rn | head -25 >"$OUT/$LABEL-$side-leaves.txt"
done
cat "$OUT/$LABEL-profile.csv"
