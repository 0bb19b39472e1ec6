#!/usr/bin/env bash
# Screenshots of the operations console, one PNG per pane, in screenshots/.
#
#   scripts/screenshots.sh [path/to/claims]
#
# Builds a demo home in a temporary folder (two training runs, so there is a champion
# and a challenger; a normal business day and a drifted one, so drift alerts show;
# one training run launched from the console's Imbalance pane, so its results table has
# a row), opens `claims tui` in a detached tmux session at 120x40, captures each pane
# with its colours (tmux capture-pane -e) and renders it with scripts/ansi2png.py:
#
#   01-runs.png 02-metrics.png 03-imbalance.png 04-champion-challenger.png
#   05-predictions.png 06-logs.png, and 07-runs-80x24.png (the Runs pane at 80x24).
#
# Needs tmux and Python with Pillow; Pillow is installed into
# $HOME/.cache/claims-ops/venv when missing. The .ansi captures are kept next to the
# PNGs only with KEEP_ANSI=1.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN=${1:-${CARGO_TARGET_DIR:-$HOME/.cache/claims-ops/target}/release/claims}
OUT=${SCREENSHOTS_DIR:-$ROOT/screenshots}
VENV=${CLAIMS_VENV:-$HOME/.cache/claims-ops/venv}

die() {
    echo "screenshots: $*" >&2
    exit 1
}
command -v tmux >/dev/null 2>&1 || die "tmux is not installed (apt-get install tmux)"
[ -x "$BIN" ] || die "the claims binary is missing: $BIN (build it, or pass its path)"
BIN="$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")"

# Python with Pillow.
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV" || die "could not create the venv $VENV"
fi
PY="$VENV/bin/python"
if ! "$PY" -c "import PIL" 2>/dev/null; then
    echo "screenshots: installing Pillow into $VENV" >&2
    "$VENV/bin/pip" install --quiet pillow || die "could not install Pillow into $VENV"
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/claims-screenshots.XXXXXX")
H="$TMP/home"
TM=(tmux -L "claims-shots-$$" -f /dev/null)
SOCKET_PATH=""
cleanup() {
    "${TM[@]}" kill-server >/dev/null 2>&1 || true
    [ -n "$SOCKET_PATH" ] && rm -f "$SOCKET_PATH"
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
export XDG_CONFIG_HOME="$TMP/xdg-config" # the user's own config stays out of the pictures
unset CLAIMS_HOME CLAIMS_LOG

step() {
    echo "screenshots: $1" >&2
    shift
    "$@" >"$TMP/step.log" 2>&1 || {
        tail -n 30 "$TMP/step.log" >&2
        die "failed: $*"
    }
}

# ------------------------------------------------------------------ the demo home
step "generating data" "$BIN" generate --rows 3000 --seed 1 --out "$TMP/train.csv"
step "training v1 (becomes champion)" \
    "$BIN" --home "$H" train --data "$TMP/train.csv" --search-iters 3 --folds 3
step "training v2 with class weights (challenger)" \
    "$BIN" --home "$H" train --data "$TMP/train.csv" --search-iters 8 --folds 3 --imbalance weight
step "generating two days of applications" \
    "$BIN" generate --rows 800 --seed 2 --no-label --id-offset 100000 --out "$TMP/day1.csv"
step "generating a drifted day" \
    "$BIN" generate --rows 800 --seed 3 --no-label --id-offset 200000 --shift 0.5 --out "$TMP/day2.csv"
step "scoring 2026-03-02" "$BIN" --home "$H" predict --data "$TMP/day1.csv" --date 2026-03-02
step "scoring 2026-03-03 (drifted)" "$BIN" --home "$H" predict --data "$TMP/day2.csv" --date 2026-03-03

# ------------------------------------------------------------------ the console
cat >"$TMP/run-tui.sh" <<'EOF'
#!/bin/sh
"$SHOTS_BIN" --home "$SHOTS_HOME" tui
echo "TUI_EXIT=$?"
exec sleep 600
EOF
export SHOTS_BIN="$BIN" SHOTS_HOME="$H"

SESSION=shots
screen() { "${TM[@]}" capture-pane -p -t "$SESSION"; }
# wait_for REGEX [TIMEOUT_S]
wait_for() {
    local re=$1 deadline=$((SECONDS + ${2:-15}))
    until screen | grep -qE -- "$re"; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            screen >&2 || true
            die "timed out waiting for /$re/ in session $SESSION"
        fi
        sleep 0.2
    done
}
keys() { "${TM[@]}" send-keys -t "$SESSION" "$@"; }
# shoot NAME COLS ROWS: capture the pane with colours and render it.
shoot() {
    local name=$1 cols=$2 rows=$3
    sleep 1.2 # one console refresh (1 s poll), so every part of the pane is filled in
    "${TM[@]}" capture-pane -e -p -t "$SESSION" >"$TMP/$name.ansi"
    "$PY" "$ROOT/scripts/ansi2png.py" "$TMP/$name.ansi" "$OUT/$name.png" --cols "$cols" --rows "$rows"
    [ "${KEEP_ANSI:-0}" = 1 ] && cp "$TMP/$name.ansi" "$OUT/"
    echo "screenshots: wrote $OUT/$name.png" >&2
}

mkdir -p "$OUT"
"${TM[@]}" new-session -d -s "$SESSION" -x 120 -y 40 "sh '$TMP/run-tui.sh'"
SOCKET_PATH=$("${TM[@]}" display-message -p '#{socket_path}')
wait_for 'runs \([0-9]+\), Enter for details'

# A training run from the Imbalance pane (undersampling 3:1), so its results table has a row.
keys 3
wait_for 'imbalance settings'
keys l l
wait_for 'strategy +< undersample >'
echo "screenshots: training from the console (Imbalance pane, t)" >&2
keys t
wait_for 'training finished' 300

keys 1
wait_for 'runs \(5\), Enter for details'
shoot 01-runs 120 40
keys 2
wait_for 'evaluation \(test split\)'
shoot 02-metrics 120 40
keys 3
wait_for 'results of runs started here'
shoot 03-imbalance 120 40
keys 4
wait_for 'held-out rows, 95% CI' 60
wait_for 'gate: [a-z]+ \(' 60
shoot 04-champion-challenger 120 40
keys 5
wait_for '2026-03-03, champion v[0-9]+, threshold [0-9.]+: [0-9]+ scored'
shoot 05-predictions 120 40
keys 6
wait_for 'log \[follow\]'
shoot 06-logs 120 40
keys q
wait_for '^TUI_EXIT=0'

# The Runs pane on a small terminal.
SESSION=small
"${TM[@]}" new-session -d -s "$SESSION" -x 80 -y 24 "sh '$TMP/run-tui.sh'"
wait_for 'runs \([0-9]+\), Enter'
shoot 07-runs-80x24 80 24
keys q
wait_for '^TUI_EXIT=0'

ls -1 "$OUT"/*.png
