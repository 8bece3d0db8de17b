#!/usr/bin/env bash
# Whole-machine CPU profile of one comparison workload, as a flame graph
# (issue 7: "where a target is missed, profile"). Starts the system as
# run.sh does, runs the workload, samples every CPU with `perf record -a -g`
# in the middle of it, and writes profile-<system>-<workload>.svg into
# benches/results/<UTC date>-compare/ (as run.sh; MILLRACE_COMPARE_RESULTS_DIR)
# (one tower per process: the server, the benchmark process that is its
# client, and the idle loop) and a summary of where the samples went (.txt:
# per thread name, in the kernel, the hottest leaf functions).
#
#   benches/compare/profile.sh                     # millrace serve, 16 durable producers
#   benches/compare/profile.sh redis durable16     # the same workload against Redis
#   benches/compare/profile.sh millrace durable    # the embedded engine, one durable producer
#
# Systems: millrace (embedded), server, redis. Workloads: durable, relaxed,
# durable16. Needs `perf` for the running kernel (Debian: linux-perf) and
# installs inferno (flame graphs) with cargo if it is missing. Environment:
# MILLRACE_PROFILE_SECONDS (sampling time, default 3), MILLRACE_PROFILE_HZ
# (default 2999), CARGO_TARGET_DIR (default benches/compare/target).
set -euo pipefail

SYSTEM="${1:-server}"
WORKLOAD="${2:-durable16}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
RESULTS="${MILLRACE_COMPARE_RESULTS_DIR:-$HERE/../results/$(date -u +%F)-compare}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HERE/target}"
SECONDS_SAMPLED="${MILLRACE_PROFILE_SECONDS:-3}"
HZ="${MILLRACE_PROFILE_HZ:-2999}"
SERVER_PORT=17878
REDIS_PORT=16379

log() { echo "[profile] $*" >&2; }

case "$SYSTEM" in millrace | server | redis) ;; *) log "unknown system $SYSTEM (millrace, server, redis)"; exit 2 ;; esac
case "$WORKLOAD" in durable | relaxed | durable16) ;; *) log "unknown workload $WORKLOAD (durable, relaxed, durable16)"; exit 2 ;; esac
if ! perf --version >/dev/null 2>&1; then
  log "perf is not installed for this kernel (Debian: apt-get install linux-perf)"
  exit 1
fi
if ! command -v inferno-flamegraph >/dev/null; then
  log "installing inferno (flame graphs)"
  cargo install --quiet --locked inferno
fi
if [[ "$SYSTEM" == redis ]] && ! command -v redis-server >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
fi

log "building the driver and the millrace CLI"
cargo build --release --quiet --manifest-path "$HERE/Cargo.toml"
cargo build --release --quiet --manifest-path "$HERE/../../Cargo.toml" -p millrace-cli
BIN="$CARGO_TARGET_DIR/release/millrace-compare"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/millrace-profile.XXXXXX")"
SERVER_PID=""
cleanup() {
  if [[ -n "$SERVER_PID" ]]; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

wait_for_port() {
  for _ in $(seq 200); do
    (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  log "nothing listening on $1"
  return 1
}

durable=yes
[[ "$WORKLOAD" == relaxed ]] && durable=no
port=0
case "$SYSTEM" in
  server)
    if [[ "$durable" == yes ]]; then durability=always; else durability=interval:10; fi
    "$CARGO_TARGET_DIR/release/millrace" --data "$WORK/data" serve --listen "127.0.0.1:$SERVER_PORT" \
      --no-metrics --durability "$durability" >"$WORK/server.log" 2>&1 &
    SERVER_PID=$!
    port=$SERVER_PORT
    ;;
  redis)
    if [[ "$durable" == yes ]]; then fsync=always; else fsync=everysec; fi
    redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$WORK" --save "" \
      --appendonly yes --appendfsync "$fsync" --daemonize no --logfile "$WORK/redis.log" &
    SERVER_PID=$!
    port=$REDIS_PORT
    ;;
esac
[[ -n "$SERVER_PID" ]] && wait_for_port "$port"

# The workload runs two seconds longer than the sampling, which starts one
# second in (past connection set-up) and ends before the producers stop.
log "$SYSTEM / $WORKLOAD for $((SECONDS_SAMPLED + 2)) s, sampling all CPUs for $SECONDS_SAMPLED s at $HZ Hz"
MILLRACE_COMPARE_SECONDS=$((SECONDS_SAMPLED + 2)) MILLRACE_COMPARE_SERVER_PID="$SERVER_PID" \
  "$BIN" run "$SYSTEM" "$WORKLOAD" "$WORK" "$port" >"$WORK/outcome.csv" &
DRIVER=$!
sleep 1
perf record -a -g -F "$HZ" -o "$WORK/perf.data" -- sleep "$SECONDS_SAMPLED" 2>"$WORK/perf.log" >/dev/null
wait "$DRIVER"

mkdir -p "$RESULTS"
OUT="$RESULTS/profile-$SYSTEM-$WORKLOAD"
FOLDED="$WORK/stacks.folded"
perf script -i "$WORK/perf.data" 2>/dev/null | inferno-collapse-perf --all >"$FOLDED"
inferno-flamegraph --title "$SYSTEM / $WORKLOAD: all CPUs, $SECONDS_SAMPLED s at $HZ Hz" \
  --countname samples <"$FOLDED" >"$OUT.svg"
# Folded lines are "thread;frame;...;leaf count"; kernel frames end in _[k].
summary() {
  awk -v what="$1" '{
      n = $NF; line = $0; sub(/ [0-9]+$/, "", line)
      k = split(line, frames, ";"); total += n
      if (what == "thread") by[frames[1]] += n
      else if (what == "leaf") { if (frames[1] != "swapper") by[frames[k]] += n }
      else { by[frames[1] == "swapper" ? "idle (swapper)" : (line ~ /_\[k\]/ ? "kernel" : "user")] += n }
    }
    END { for (p in by) if (100 * by[p] / total >= 0.5) printf "%6.1f %%  %s\n", 100 * by[p] / total, p }' "$FOLDED" |
    sort -rn | head -"$2"
}
{
  echo "# $SYSTEM / $WORKLOAD, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, $SECONDS_SAMPLED s at $HZ Hz"
  echo "# outcome (millrace-compare run): $(cat "$WORK/outcome.csv")"
  echo "# share of all samples: idle, kernel, user"
  summary mode 3
  echo "# per thread name (at least 0.5 %)"
  summary thread 12
  echo "# hottest leaf functions outside the idle loop (at least 0.5 % of all samples)"
  summary leaf 15
} >"$OUT.txt"
cat "$OUT.txt"
log "wrote $OUT.svg and $OUT.txt"
