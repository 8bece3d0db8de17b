#!/bin/sh
# A/B of scan_ratio binaries: each binary's own in-process ratio (scan ÷ memcpy
# in alternating rounds, thread CPU time); binaries alternate, order swapped
# every pass. Usage: ab.sh OUT_DIR PASSES BIN_A BIN_B...
OUT=$1; PASSES=$2; shift 2
mkdir -p $OUT
i=1
while [ $i -le $PASSES ]; do
  if [ $((i % 2)) -eq 1 ]; then ORDER="$*"; else ORDER=$(echo "$*" | tr ' ' '\n' | tac | tr '\n' ' '); fi
  for bin in $ORDER; do
    name=$(basename $bin)
    MILLRACE_SCAN_RATIO_OUT=$OUT/$name-$i.csv $bin --bench > $OUT/$name-$i.txt 2>&1
    echo "$name pass $i: $(grep -E '^(Scan|Scanner):.*median' $OUT/$name-$i.txt | sed -E 's/×memcpy \(CPU time\) median ([0-9.]+).*scan CPU ns\/record median ([0-9.]+).*/\1 ×memcpy, \2 ns\/record/' | tr '\n' ' ')"
  done
  i=$((i + 1))
done
