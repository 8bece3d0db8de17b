#!/bin/sh
# Append CPU per record, base (main 7d7bdb87) and new (s13-ops, with the
# per-topic quota counter) binaries in alternating rounds: one producer,
# one record per batch (the most appends per record, so the most weight on
# the per-append check), durability os, 200,000 100-byte records each.
# Usage: ab.sh BASE NEW ROUNDS
BASE=$1; NEW=$2; ROUNDS=${3:-4}
for r in $(seq 1 "$ROUNDS"); do
  for which in base new; do
    bin=$BASE; [ "$which" = new ] && bin=$NEW
    dir=$(mktemp -d)
    load=$(cut -d' ' -f1 /proc/loadavg)
    /usr/bin/time -f "%U %S" -o "$dir/time" "$bin" --data "$dir/d" bench --count 200000 --batch-records 1 --durability os --json > "$dir/out"
    rps=$(python3 -c "import json;print(round(json.load(open('$dir/out'))['records_per_second']))")
    cpu=$(awk '{printf "%.3f", ($1+$2)*1e6/200000}' "$dir/time")
    echo "round $r $which load $load cpu_us_per_record $cpu records_per_s $rps"
    rm -rf "$dir"
  done
done
