#!/usr/bin/env bash
# Kafka front figures (issue 21): the Kafka front of `millrace serve` against
# the native front and the embedded engine, 1 KiB records, `always` topics,
# in ONE run (every ratio is against a baseline of the same run). Builds the
# `millrace` CLI in release, runs benches/kafka/driver.py (confluent-kafka from
# the venv) and writes kafka{-raw.csv,-meta.json,.md} into
# benches/results/<UTC date>-kafka/ (one folder per run; benches/results/README.md).
#
#   benches/kafka/run.sh
#   KBENCH_RECORDS=20000 KBENCH_ROUNDS=1 KBENCH_LATENCY_SECONDS=1 benches/kafka/run.sh   # smoke run
#
# Environment: KBENCH_PYTHON (a python with confluent-kafka, default
# /work/kvenv/bin/python, else python3), KBENCH_RECORDS (records per
# throughput case, default 300000), KBENCH_ROUNDS (default 3),
# KBENCH_LATENCY_SECONDS (default 5), KBENCH_NATIVE_BATCH (records per native
# and embedded batch, default 1000), KBENCH_KAFKA_LINGER_MS (default 5),
# KBENCH_KAFKA_BATCH_BYTES (librdkafka batch.size, default 1000000),
# KBENCH_DIR (where data goes, default $TMPDIR or /tmp), KBENCH_RESULTS_DIR
# (default benches/results/<UTC date>-kafka), CARGO_TARGET_DIR.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
RESULTS="${KBENCH_RESULTS_DIR:-$HERE/../results/$(date -u +%F)-kafka}"
PYTHON="${KBENCH_PYTHON:-/work/kvenv/bin/python}"
[[ -x "$PYTHON" ]] || PYTHON=python3
BASE="${KBENCH_DIR:-${TMPDIR:-/tmp}}"

"$PYTHON" -c 'import confluent_kafka' || {
  echo "[kafka-bench] $PYTHON has no confluent_kafka (pip install confluent-kafka)" >&2
  exit 1
}
echo "[kafka-bench] building the millrace CLI (release)" >&2
cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml" -p millrace-cli
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/millrace"

mkdir -p "$BASE" "$RESULTS"
WORK="$(mktemp -d "$BASE/millrace-kafka-bench.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

"$PYTHON" "$HERE/driver.py" "$BIN" "$WORK" "$RESULTS/kafka"
{
  echo "commit $(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD -- engine server cli || echo ' (dirty)')"
  echo "$("$PYTHON" -c 'import confluent_kafka as c; v = c.version(); print("confluent-kafka", v if isinstance(v, str) else v[0], "librdkafka", c.libversion()[0])')"
  echo "$(nproc) vCPUs, $(uname -sr)"
} >"$RESULTS/kafka-versions.txt"
python3 "$HERE/report.py" "$RESULTS/kafka"
echo "[kafka-bench] wrote $RESULTS/kafka.md (raw rows kafka-raw.csv, kafka-meta.json, kafka-versions.txt)" >&2
