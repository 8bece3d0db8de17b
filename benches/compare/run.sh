#!/usr/bin/env bash
# Peer comparison (issue 7): Millrace (embedded, and `millrace serve` through
# its own client) against Redis Streams, NATS
# JetStream and SQLite, same machine, same run. Installs the peers from
# Debian's packages, starts each server on 127.0.0.1 with its data under a
# temporary directory, runs every workload, stops it, and writes
# compare.{md,csv,png} into benches/results/<UTC date>-compare/ (one folder
# per run; benches/results/README.md).
#
#   benches/compare/run.sh                 # full run (3 rounds of 5 s per produce workload, 1 GiB scans)
#   MILLRACE_COMPARE_QUICK=1 benches/compare/run.sh   # smoke run (64 MiB, 2 s)
#
# Environment: MILLRACE_COMPARE_DIR (where data goes, default $TMPDIR or /tmp),
# MILLRACE_COMPARE_BIN and MILLRACE_COMPARE_MILLRACE_BIN (both set: run
# these driver and `millrace` binaries, build nothing),
# MILLRACE_COMPARE_SECONDS, MILLRACE_COMPARE_SCAN_MB, MILLRACE_COMPARE_PIPELINE_RECORDS,
# MILLRACE_COMPARE_DD_MB, MILLRACE_COMPARE_ROUNDS (default 3),
# MILLRACE_COMPARE_SYSTEMS (space-separated subset of `millrace server sqlite
# redis nats`, default all), MILLRACE_COMPARE_WORKLOADS (subset of `durable
# relaxed durable16 pipeline scan`, default all; e.g. SYSTEMS="server redis"
# WORKLOADS="durable16 relaxed" for the rows of issue 26), MILLRACE_COMPARE_LABEL (result file names, default
# `compare`), MILLRACE_COMPARE_RESULTS_DIR (where they go, default
# benches/results/<UTC date>-compare), CARGO_TARGET_DIR (default benches/compare/target).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
RESULTS="${MILLRACE_COMPARE_RESULTS_DIR:-$HERE/../results/$(date -u +%F)-compare}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HERE/target}"
BASE="${MILLRACE_COMPARE_DIR:-${TMPDIR:-/tmp}}"
REDIS_PORT="${MILLRACE_COMPARE_REDIS_PORT:-16379}"
NATS_PORT="${MILLRACE_COMPARE_NATS_PORT:-14222}"
SERVER_PORT="${MILLRACE_COMPARE_SERVER_PORT:-17878}"
ROUNDS="${MILLRACE_COMPARE_ROUNDS:-3}"
if [[ -n "${MILLRACE_COMPARE_QUICK:-}" ]]; then
  ROUNDS="${MILLRACE_COMPARE_ROUNDS:-1}"
  export MILLRACE_COMPARE_SECONDS="${MILLRACE_COMPARE_SECONDS:-2}"
  export MILLRACE_COMPARE_SCAN_MB="${MILLRACE_COMPARE_SCAN_MB:-64}"
  export MILLRACE_COMPARE_PIPELINE_RECORDS="${MILLRACE_COMPARE_PIPELINE_RECORDS:-20000}"
  export MILLRACE_COMPARE_DD_MB="${MILLRACE_COMPARE_DD_MB:-256}"
fi

log() { echo "[compare] $*" >&2; }

# ---- install the peers (Debian packages) and the plotting library
install_peers() {
  local missing=()
  command -v redis-server >/dev/null || missing+=(redis-server)
  command -v nats-server >/dev/null || missing+=(nats-server)
  if ((${#missing[@]})); then
    apt-get update -qq
    for package in "${missing[@]}"; do
      if apt-cache show "$package" >/dev/null 2>&1; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" >/dev/null
      else
        log "$package is not packaged for this distribution; its rows are skipped"
      fi
    done
  fi
  if ! python3 -c 'import matplotlib' 2>/dev/null; then
    python3 -m pip install --quiet matplotlib
  fi
}

install_peers
if [[ -n "${MILLRACE_COMPARE_BIN:-}" && -n "${MILLRACE_COMPARE_MILLRACE_BIN:-}" ]]; then
  # Binaries built before (a before/after run of kept copies): no build.
  BIN="$MILLRACE_COMPARE_BIN"
  MILLRACE_BIN="$MILLRACE_COMPARE_MILLRACE_BIN"
else
  log "building the driver and the millrace CLI (for \`millrace serve\`)"
  cargo build --release --quiet --manifest-path "$HERE/Cargo.toml"
  cargo build --release --quiet --manifest-path "$HERE/../../Cargo.toml" -p millrace-cli
  BIN="$CARGO_TARGET_DIR/release/millrace-compare"
  MILLRACE_BIN="$CARGO_TARGET_DIR/release/millrace"
fi

mkdir -p "$BASE"
WORK="$(mktemp -d "$BASE/millrace-compare.XXXXXX")"
SERVER_PID=""

stop_server() {
  if [[ -n "$SERVER_PID" ]]; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
  fi
}
cleanup() {
  stop_server
  rm -rf "$WORK"
}
trap cleanup EXIT

wait_for_port() {
  local port="$1"
  for _ in $(seq 1 200); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      return 0
    fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      log "server exited before listening on $port"
      return 1
    fi
    sleep 0.05
  done
  log "nothing listening on $port"
  return 1
}

# Redis Streams: AOF on, `appendfsync always` (durable) or `everysec` (relaxed), no RDB.
start_redis() {
  local dir="$1" fsync="$2"
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$dir" --save "" \
    --appendonly yes --appendfsync "$fsync" --daemonize no --logfile "$dir/redis.log" &
  SERVER_PID=$!
  wait_for_port "$REDIS_PORT"
}

# NATS JetStream, file storage. `sync_interval: always` exists only from
# nats-server 2.10; older servers run with their default (periodic) sync.
NATS_SYNC_ALWAYS=""
start_nats() {
  local dir="$1" durable="$2"
  {
    echo "listen: 127.0.0.1:$NATS_PORT"
    echo "jetstream {"
    echo "  store_dir: \"$dir/jetstream\""
    if [[ "$durable" == yes && -n "$NATS_SYNC_ALWAYS" ]]; then
      echo "  sync_interval: always"
    fi
    echo "}"
  } >"$dir/nats.conf"
  nats-server -c "$dir/nats.conf" >"$dir/nats.log" 2>&1 &
  SERVER_PID=$!
  wait_for_port "$NATS_PORT"
}
if command -v nats-server >/dev/null; then
  NATS_VERSION="$(nats-server --version | sed 's/.*v//')"
  if [[ "$(printf '%s\n2.10.0\n' "$NATS_VERSION" | sort -V | head -1)" == 2.10.0 ]]; then
    NATS_SYNC_ALWAYS=yes
  fi
fi

# `millrace serve` with the workload's durability (store default).
start_millrace_server() {
  local dir="$1" durability="$2"
  "$MILLRACE_BIN" --data "$dir/data" serve --listen "127.0.0.1:$SERVER_PORT" --no-metrics \
    --kafka-listen off --registry-listen off --durability "$durability" >"$dir/server.log" 2>&1 &
  SERVER_PID=$!
  wait_for_port "$SERVER_PORT"
}

server_peak_rss_kib() {
  awk '/^VmHWM:/ {print $2}' "/proc/$SERVER_PID/status" 2>/dev/null || echo 0
}

log "baselines (dd conv=fdatasync, 4 KiB fdatasync rate, memcpy) in $WORK"
"$BIN" baseline "$WORK/baseline" >"$WORK/baseline.csv"

RAW="$WORK/raw.csv"
echo "system,workload,records,payload_bytes,seconds,p50_us,p99_us,p999_us,client_rss_kib,bench_cpu_s,server_cpu_s,note,durable_ack,server_rss_kib,disk_bytes,round" >"$RAW"

run_one() {
  local system="$1" workload="$2" round="$3"
  local dir="$WORK/$system-$workload" durable=yes port=0 durable_ack=yes
  # The scan's load phase is untimed: load with relaxed settings (Redis
  # `appendfsync always` would fsync every ~15 pipelined XADDs).
  [[ "$workload" == relaxed || "$workload" == scan ]] && durable=no
  [[ "$durable" == no ]] && durable_ack=no
  mkdir -p "$dir"
  case "$system" in
    server)
      if [[ "$workload" == durable || "$workload" == durable16 ]]; then
        start_millrace_server "$dir" always
      else
        start_millrace_server "$dir" interval:10
      fi
      port="$SERVER_PORT"
      ;;
    redis)
      command -v redis-server >/dev/null || { log "skip redis: not installed"; return 0; }
      if [[ "$durable" == yes ]]; then start_redis "$dir" always; else start_redis "$dir" everysec; fi
      port="$REDIS_PORT"
      ;;
    nats)
      command -v nats-server >/dev/null || { log "skip nats: not installed"; return 0; }
      start_nats "$dir" "$durable"
      port="$NATS_PORT"
      [[ -z "$NATS_SYNC_ALWAYS" ]] && durable_ack=no
      ;;
  esac
  [[ "$workload" == scan ]] && durable_ack="-"
  log "round $round: $system / $workload"
  local line server_rss=0
  if ! line="$(MILLRACE_COMPARE_SERVER_PID="${SERVER_PID:-}" "$BIN" run "$system" "$workload" "$dir" "$port")"; then
    log "$system / $workload FAILED"
    stop_server
    return 0
  fi
  if [[ -n "$SERVER_PID" ]]; then
    server_rss="$(server_peak_rss_kib)"
    stop_server
  fi
  local disk
  disk="$(du -sb --exclude=redis.log --exclude=nats.log --exclude=nats.conf --exclude=server.log "$dir" | cut -f1)"
  echo "$line,$durable_ack,$server_rss,$disk,$round" >>"$RAW"
  rm -rf "$dir"
}

# The disk's fsync latency drifts by 10x over minutes on a shared machine, so
# produce workloads run in ROUNDS rounds with the systems' order rotated each
# round; the report takes the median round per system. Scans run once.
read -r -a SYSTEMS <<<"${MILLRACE_COMPARE_SYSTEMS:-millrace server sqlite redis nats}"
WORKLOADS=" ${MILLRACE_COMPARE_WORKLOADS:-durable relaxed durable16 pipeline scan} "
picked() { [[ "$WORKLOADS" == *" $1 "* ]]; }
for ((round = 1; round <= ROUNDS; round++)); do
  for workload in durable relaxed durable16; do
    picked "$workload" || continue
    for ((i = 0; i < ${#SYSTEMS[@]}; i++)); do
      run_one "${SYSTEMS[$(((i + round - 1) % ${#SYSTEMS[@]}))]}" "$workload" "$round"
    done
  done
  if picked pipeline; then
    for system in millrace sqlite; do
      [[ " ${SYSTEMS[*]} " == *" $system "* ]] && run_one "$system" pipeline "$round"
    done
  fi
done
if picked scan; then
  for system in "${SYSTEMS[@]}"; do
    run_one "$system" scan 1
  done
fi

LABEL="${MILLRACE_COMPARE_LABEL:-compare}"
mkdir -p "$RESULTS"
cp "$WORK/baseline.csv" "$RESULTS/$LABEL-baseline.csv"
cp "$RAW" "$RESULTS/$LABEL-raw.csv"
python3 "$HERE/report.py" "$WORK/baseline.csv" "$RAW" "$RESULTS/$LABEL" \
  "redis-server $(redis-server --version 2>/dev/null | awk '{print $3}' | sed 's/v=//'), nats-server ${NATS_VERSION:-absent}${NATS_SYNC_ALWAYS:+ (sync_interval: always)}, SQLite (rusqlite bundled)"
log "wrote $RESULTS/$LABEL.md, $LABEL.csv, $LABEL.png (raw rows: $LABEL-raw.csv, $LABEL-baseline.csv)"
