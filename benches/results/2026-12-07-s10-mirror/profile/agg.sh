#!/bin/sh
# sums of the per-transaction phase timings in a mirror debug log
f=$1
grep "transaction committed" $f | sed -E 's/.*commit_us=([0-9]+) joined_after_us=([0-9]+).*/\1 \2/' | awk '{c+=$1; j+=$2; n++} END {printf "commits=%d commit_ms_sum=%.0f commit_ms_avg=%.2f joined_wait_ms_sum=%.0f\n", n, c/1000, c/n/1000, j/1000}'
grep "batch sent" $f | sed -E 's/.*fill_us=([0-9]+) waited_for_previous_commit_us=([0-9]+).*/\1 \2/' | awk '{f+=$1; w+=$2; n++} END {printf "batches=%d fill_ms_sum=%.0f fill_ms_avg=%.2f waited_prev_ms_sum=%.0f\n", n, f/1000, f/n/1000, w/1000}'
first=$(grep -m1 "batch sent" $f | cut -c12-26); last=$(grep "transaction committed" $f | tail -1 | cut -c12-26)
echo "first batch $first last commit $last"
