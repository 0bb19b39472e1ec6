#!/usr/bin/env bash
# Benchmark of daily inference: `claims predict` on 1,000,000 generated rows into the
# default SQLite sink, end to end (read, contract, score with TreeSHAP reasons, drift,
# write). Runs it RUNS times (default 3) and prints the median wall time, rows per second
# and peak RSS. Usage: bench/predict_1m.sh  (after `make build`)
set -euo pipefail
runs="${RUNS:-3}"
rows="${ROWS:-1000000}"
bin="${CLAIMS_BIN:-${CARGO_TARGET_DIR:-$HOME/.cache/claims-ops/target}/release/claims}"
[ -x "$bin" ] || { echo "build first: make build" >&2; exit 1; }
command -v /usr/bin/time >/dev/null || { echo "needs /usr/bin/time (apt-get install time)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin" generate --rows 20000 --seed 1 --out "$work/train.csv" >/dev/null
"$bin" --home "$work/home" train --data "$work/train.csv" --search-iters 10 --folds 3 >/dev/null 2>&1
"$bin" generate --rows "$rows" --seed 2 --no-label --id-offset 5000000 --out "$work/day.csv" >/dev/null
echo "claims predict, $rows rows, $runs runs, $(nproc) cores, $(uname -m)"
results=()
for i in $(seq 1 "$runs"); do
  /usr/bin/time -f "%e %M" -o "$work/t" "$bin" --home "$work/home" predict --data "$work/day.csv" --date "2026-01-0$i" >/dev/null 2>&1 || true
  read -r secs kb < "$work/t"
  echo "  run $i: ${secs}s, peak RSS $((kb / 1024)) MiB"
  results+=("$secs $kb")
done
printf '%s\n' "${results[@]}" | sort -n | awk -v rows="$rows" '{s[NR]=$1; m[NR]=$2} END {i=int((NR+1)/2); printf "median: %.2f s, %.0f rows/s, peak RSS %d MiB\n", s[i], rows/s[i], m[i]/1024}'
