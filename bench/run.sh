#!/usr/bin/env bash
# Benchmark of `claims` (Rust) against bench/peer.py (pandas + scikit-learn + XGBoost's
# Python package, the same XGBoost 3.2.0) on the same files. See bench/README.md.
#
#   scenario 1: train on 10,000 rows, 100 candidates x 5 folds
#   scenario 2: train on 100,000 rows, 30 candidates x 3 folds
#   scenario 3: predict 1,000,000 rows into SQLite with the same model on both sides
#
# Each run is measured with /usr/bin/time (wall and CPU seconds, peak RSS); the sides run
# alternately. Prints one markdown table at the end.
#
# Environment: RUNS (default 3), SCENARIOS (default "1 2 3"), PEER_VENV (default
# $HOME/.cache/claims-ops/bench-venv; created with pip when it lacks XGBoost 3.2.0),
# CLAIMS_BIN, SEED (42), S2_ROWS (100000), S3_ROWS (1000000), SEED_CSV, and
# SAME_CANDIDATES=1: the peer evaluates the candidates `claims` drew (taken from the first
# Rust run of the scenario) instead of drawing its own, so both search the same models.
# SEARCH_STRATEGY: `claims`' search.strategy in scenarios 1 and 2; default halving (the
# tool's default), or full (every candidate on every fold, the same fits as the peer).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
runs="${RUNS:-3}"
scenarios="${SCENARIOS:-1 2 3}"
seed="${SEED:-42}"
s2_rows="${S2_ROWS:-100000}"
s3_rows="${S3_ROWS:-1000000}"
same_candidates="${SAME_CANDIDATES:-0}"
search_strategy="${SEARCH_STRATEGY:-halving}"
seed_csv="${SEED_CSV:-$here/../../shared/data/claims_seed_10k.csv}"
bin="${CLAIMS_BIN:-${CARGO_TARGET_DIR:-$HOME/.cache/claims-ops/target}/release/claims}"
venv="${PEER_VENV:-$HOME/.cache/claims-ops/bench-venv}"
py="$venv/bin/python"
peer="$here/peer.py"

[ -x "$bin" ] || { echo "no claims binary at $bin: build first (make build)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (apt-get install time)" >&2; exit 1; }

if ! "$py" -c 'import xgboost, sklearn, pandas, scipy, joblib
assert xgboost.__version__ == "3.2.0", xgboost.__version__' 2>/dev/null; then
  echo "setting up the peer's venv in $venv" >&2
  python3 -m venv "$venv"
  "$py" -m pip install --quiet --upgrade pip
  "$py" -m pip install --quiet xgboost-cpu==3.2.0 scikit-learn pandas
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
results="$work/results.tsv"
: > "$results"
printf '[search]\nstrategy = "%s"\n' "$search_strategy" > "$work/search.toml"
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

# measure SCENARIO SIDE CMD...: runs CMD under /usr/bin/time, appends a result row.
measure() {
  local sc=$1 side=$2
  shift 2
  if ! /usr/bin/time -f '%e %M %U %S' -o "$work/time" "$@" > "$work/out" 2> "$work/err"; then
    echo "scenario $sc, $side failed:" >&2
    tail -n 20 "$work/err" >&2
    exit 1
  fi
  local secs kb usr sys cpu auc trees
  read -r secs kb usr sys < <(tail -n 1 "$work/time")
  cpu=$(awk -v u="$usr" -v s="$sys" 'BEGIN {printf "%.2f", u + s}')
  # Test ROC AUC, and for training the search's workload: trees kept over all its fits
  # (it depends on the candidates each side draws).
  read -r auc trees < <(tail -n 1 "$work/out" | "$py" -c 'import json, os, sys
d = json.loads(sys.stdin.read())
auc = d.get("test_roc_auc", (d.get("test") or {}).get("roc_auc"))
trees = d.get("search_rounds_kept")
metrics = os.path.join(d.get("model_dir") or "-", "metrics.json")
if trees is None and os.path.exists(metrics):
    cv = json.load(open(metrics))["cv"]
    trees = round(sum((c["mean_best_iteration"] + 1) * c.get("folds_run", cv["folds"])
                      + (c["sample"]["best_iteration"] + 1 if c.get("sample") else 0)
                      for c in cv["candidates"]))
print("-" if auc is None else auc, "-" if trees is None else trees)')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$sc" "$side" "$secs" "$kb" "$auc" "$trees" "$cpu" \
    >> "$results"
  local more=""
  [ "$auc" = - ] || more=", test ROC AUC $auc, search trees kept $trees"
  log "scenario $sc, $side: ${secs}s wall, ${cpu}s CPU, peak RSS $((kb / 1024)) MiB$more"
}

rust_train() { # SCENARIO DATA ITERS FOLDS
  rm -rf "$work/home"
  measure "$1" rust "$bin" --home "$work/home" --config "$work/search.toml" train \
    --data "$2" --search-iters "$3" --folds "$4" --seed "$seed" --json
  [ "$same_candidates" = 1 ] && cp "$work/home/models/v1/metrics.json" "$work/candidates-$1.json"
  rm -rf "$work/home"
}
python_train() { # SCENARIO DATA ITERS FOLDS
  local extra=()
  [ "$same_candidates" = 1 ] && extra=(--candidates "$work/candidates-$1.json")
  measure "$1" python "$py" "$peer" train --data "$2" --iters "$3" --folds "$4" --seed "$seed" \
    "${extra[@]+"${extra[@]}"}"
}
train_scenario() { # SCENARIO DATA ITERS FOLDS
  for i in $(seq 1 "$runs"); do
    if [ $((i % 2)) -eq 1 ]; then rust_train "$@"; python_train "$@"
    else python_train "$@"; rust_train "$@"; fi
  done
}

notes=()
for sc in $scenarios; do
  case "$sc" in
    1)
      if [ -f "$seed_csv" ]; then data1="$seed_csv"
      else
        data1="$work/train10k.csv"
        "$bin" generate --rows 10000 --seed 1 --out "$data1" > /dev/null
      fi
      log "scenario 1: $data1"
      train_scenario 1 "$data1" 100 5
      ;;
    2)
      "$bin" generate --rows "$s2_rows" --seed 2 --out "$work/train100k.csv" > /dev/null
      log "scenario 2: $s2_rows generated rows"
      train_scenario 2 "$work/train100k.csv" 30 3
      rm -f "$work/train100k.csv"
      ;;
    3)
      # Untimed setup: a model trained by `claims`, imported by the peer (same trees, so
      # both sides do the same scoring and TreeSHAP work), and the day's unlabelled rows.
      "$bin" generate --rows 20000 --seed 3 --out "$work/train20k.csv" > /dev/null
      "$bin" --home "$work/home3" train --data "$work/train20k.csv" --search-iters 10 \
        --folds 3 --seed "$seed" > /dev/null 2>&1
      "$py" "$peer" import-rust-model --rust-model-dir "$work/home3/models/v1" \
        --out "$work/peer-model" > /dev/null
      "$bin" generate --rows "$s3_rows" --seed 4 --no-label --id-offset 5000000 \
        --out "$work/day.csv" > /dev/null
      log "scenario 3: $s3_rows generated rows"
      rust_predict() {
        rm -f "$work/rust.db"
        measure 3 rust "$bin" --home "$work/home3" predict --data "$work/day.csv" \
          --date 2026-01-01 --sink "sqlite:$work/rust.db" --json
      }
      python_predict() {
        rm -f "$work/python.db"
        measure 3 python "$py" "$peer" predict --model-dir "$work/peer-model" \
          --data "$work/day.csv" --db "$work/python.db" --date 2026-01-01
      }
      rust_predict_plain() {
        rm -f "$work/rust-plain.db"
        printf '[inference]\ntop_reasons = 0\n' > "$work/no-reasons.toml"
        measure 3 "rust, no reasons" "$bin" --home "$work/home3" --config "$work/no-reasons.toml" \
          predict --data "$work/day.csv" --date 2026-01-01 --sink "sqlite:$work/rust-plain.db" --json
        rm -f "$work/rust-plain.db"
      }
      python_predict_plain() {
        rm -f "$work/plain.db"
        measure 3 "python, no SHAP" "$py" "$peer" predict --model-dir "$work/peer-model" \
          --data "$work/day.csv" --db "$work/plain.db" --date 2026-01-01 --no-reasons
        rm -f "$work/plain.db"
      }
      for i in $(seq 1 "$runs"); do
        if [ $((i % 2)) -eq 1 ]; then
          rust_predict; python_predict; rust_predict_plain; python_predict_plain
        else python_predict_plain; rust_predict_plain; python_predict; rust_predict; fi
      done
      # Both sides must have written the same rows.
      notes+=("$("$py" - "$work/python.db" "$work/rust.db" <<'EOF'
import json, sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("ATTACH ? AS r", (sys.argv[2],))
n, d, p, t = c.execute(
    "SELECT count(*), max(abs(a.score - b.score)), sum(a.predicted_claim != b.predicted_claim),"
    " sum(a.top_reasons != b.top_reasons) FROM predictions a JOIN r.predictions b"
    " USING (business_date, application_id, role)").fetchone()
f = sum(1 for x, y in c.execute(
    "SELECT a.top_reasons, b.top_reasons FROM predictions a JOIN r.predictions b"
    " USING (business_date, application_id, role) WHERE a.top_reasons != b.top_reasons")
    if [e["feature"] for e in json.loads(x)] != [e["feature"] for e in json.loads(y)])
na = c.execute("SELECT count(*) FROM predictions").fetchone()[0]
nb = c.execute("SELECT count(*) FROM r.predictions").fetchone()[0]
print(f"Scenario 3 check: python wrote {na} rows, rust {nb}; {n} matched by id; max |score"
      f" difference| {d}; {p} different predicted_claim; {t} different top_reasons texts"
      f" ({f} with different reason features).")
EOF
)")
      rm -f "$work/day.csv" "$work/rust.db" "$work/python.db"
      ;;
    *) echo "unknown scenario '$sc' (1, 2 or 3)" >&2; exit 2 ;;
  esac
done

echo
echo "$(date -u +%Y-%m-%d), $(nproc) x $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'),"\
  "RUNS=$runs, SAME_CANDIDATES=$same_candidates, SEARCH_STRATEGY=$search_strategy, load average at the end $(cut -d' ' -f1-3 /proc/loadavg)"
echo
"$py" - "$results" "$s2_rows" "$s3_rows" <<'EOF'
import statistics, sys
def n(rows):
    rows = int(rows)
    return f"{rows // 1000000}M" if rows % 1000000 == 0 else (
        f"{rows // 1000}k" if rows % 1000 == 0 else str(rows))
label = {"1": "1: train 10k rows, 100 x 5 folds",
         "2": f"2: train {n(sys.argv[2])} rows, 30 x 3 folds",
         "3": f"3: predict {n(sys.argv[3])} rows into SQLite"}
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
groups = {}
for sc, side, secs, kb, auc, trees, cpu in rows:
    g = groups.setdefault((sc, side), {"s": [], "kb": [], "auc": [], "trees": [], "cpu": []})
    g["s"].append(float(secs))
    g["cpu"].append(float(cpu))
    g["kb"].append(int(kb))
    if auc != "-":
        g["auc"].append(float(auc))
    if trees != "-":
        g["trees"].append(int(trees))
print("| scenario | side | wall s, median (min-max) | CPU s (user+sys), median"
      " | peak RSS MiB, median | test ROC AUC | search trees kept"
      " | Python/Rust wall (same work) | Python/Rust CPU |")
print("|---|---|---|---|---|---|---|---|---|")
for (sc, side), g in groups.items():
    med = statistics.median(g["s"])
    # Each Python row is compared with the Rust row doing the same work.
    like = {"python, no SHAP": "rust, no reasons"}.get(side, "rust")
    rust = groups.get((sc, like)) or groups.get((sc, "rust"))
    cpu = statistics.median(g["cpu"])
    ours = side.startswith("rust")
    ratio = "1.00" if ours else (
        f"{med / statistics.median(rust['s']):.2f}" if rust else "")
    cratio = "1.00" if ours else (
        f"{cpu / statistics.median(rust['cpu']):.2f}" if rust else "")
    auc = f"{statistics.median(g['auc']):.4f}" if g["auc"] else "n/a"
    trees = f"{statistics.median(g['trees']):.0f}" if g["trees"] else "n/a"
    print(f"| {label.get(sc, sc)} | {side} | {med:.1f} ({min(g['s']):.1f}-{max(g['s']):.1f})"
          f" | {cpu:.1f} | {statistics.median(g['kb']) / 1024:.0f}"
          f" | {auc} | {trees} | {ratio} | {cratio} |")
EOF
for n in "${notes[@]+"${notes[@]}"}"; do echo; echo "$n"; done
