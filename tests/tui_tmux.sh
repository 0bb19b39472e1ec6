#!/usr/bin/env bash
# End-to-end test of the operations console (`claims tui`), driven through tmux.
#
#   bash tests/tui_tmux.sh [path/to/claims]
#
# Default binary: $CARGO_TARGET_DIR/release/claims, else
# $HOME/.cache/claims-ops/target/release/claims. Skips (exit 0) when tmux is missing.
#
# What it does: on a fresh temporary home it generates data, trains once headless (fast
# search), scores one unlabelled day; then it opens the console in a detached 120x40 tmux
# session on a private socket, switches through all six panes (1-6 and Tab), opens and
# closes the help popup, launches a background training run from the Imbalance pane (t),
# waits for "training finished", checks the Runs pane lists two succeeded train runs,
# checks the "Quit?" confirmation while a run is in progress, cancels a run with Esc (the
# screen must stay intact and the run be listed as failed), promotes v3 while another
# process holds the database's write lock (keys must keep working), starts a fourth run and quits
# with q, y (the run must be recorded as cancelled and register no model), and checks the
# process exited 0 and left the terminal clean (normal screen, mouse reporting off,
# cursor shown, no tab bar left on screen).
#
# Every check polls the screen with a timeout instead of sleeping a fixed time.
set -u

BIN=${1:-${CARGO_TARGET_DIR:-$HOME/.cache/claims-ops/target}/release/claims}

if ! command -v tmux >/dev/null 2>&1; then
    echo "SKIPPED: tmux not installed"
    exit 0
fi
if [ ! -x "$BIN" ]; then
    echo "tui_tmux: the claims binary is missing or not executable: $BIN" >&2
    echo "tui_tmux: build it first (make build) or pass its path as the first argument" >&2
    exit 2
fi
BIN="$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/claims-tui-e2e.XXXXXX")
H="$TMP/home"
SESSION=e2e
TM=(tmux -L "claims-e2e-$$" -f /dev/null)
SOCKET_PATH=""
cleanup() {
    "${TM[@]}" kill-server >/dev/null 2>&1
    [ -n "$SOCKET_PATH" ] && rm -f "$SOCKET_PATH"
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Keep the user's own config and log settings out of the test.
export XDG_CONFIG_HOME="$TMP/xdg-config"
unset CLAIMS_HOME CLAIMS_LOG

PASS=0
FAIL=0
SCREEN=""

summary() { echo "tui_tmux: $PASS passed, $FAIL failed"; }
ok() {
    PASS=$((PASS + 1))
    echo "ok   $PASS - $1"
}
fail() {
    FAIL=$((FAIL + 1))
    echo "FAIL - $1" >&2
    if [ -n "${2:-}" ]; then
        echo "---- details ----" >&2
        printf '%s\n' "$2" >&2
    fi
    echo "---- last captured screen ----" >&2
    printf '%s\n' "$SCREEN" >&2
    echo "------------------------------" >&2
    summary
    exit 1
}

# Headless steps: run a command, its output goes to a log shown on failure.
run_step() {
    local desc=$1
    shift
    if "$@" >"$TMP/step.log" 2>&1; then
        ok "$desc"
    else
        local rc=$?
        SCREEN="(no screen: headless step)"
        fail "$desc (exit $rc): $*" "$(tail -n 30 "$TMP/step.log")"
    fi
}

capture() { SCREEN=$("${TM[@]}" capture-pane -p -t "$SESSION" 2>/dev/null) || SCREEN=""; }
keys() { "${TM[@]}" send-keys -t "$SESSION" "$@"; }
pane_var() { "${TM[@]}" display-message -p -t "$SESSION" "#{$1}" 2>/dev/null; }

# wait_for REGEX [TIMEOUT_S]: poll the screen until it matches (extended regex).
wait_for() {
    local re=$1 deadline=$((SECONDS + ${2:-10}))
    while :; do
        capture
        grep -qE -- "$re" <<<"$SCREEN" && return 0
        [ "$SECONDS" -ge "$deadline" ] && return 1
        sleep 0.2
    done
}
# wait_gone REGEX [TIMEOUT_S]: poll until the screen no longer matches.
wait_gone() {
    local re=$1 deadline=$((SECONDS + ${2:-10}))
    while :; do
        capture
        grep -qE -- "$re" <<<"$SCREEN" || return 0
        [ "$SECONDS" -ge "$deadline" ] && return 1
        sleep 0.2
    done
}
expect() {
    local desc=$1 re=$2 t=${3:-10}
    if wait_for "$re" "$t"; then ok "$desc"; else fail "$desc: /$re/ not on screen within ${t}s"; fi
}
expect_gone() {
    local desc=$1 re=$2 t=${3:-10}
    if wait_gone "$re" "$t"; then ok "$desc"; else fail "$desc: /$re/ still on screen after ${t}s"; fi
}
# selected_tab N TITLE: the tab bar (first line) shows tab "N TITLE" highlighted (reverse
# video), read from the coloured capture.
expect_selected_tab() {
    local n=$1 title=$2 deadline=$((SECONDS + 10)) first esc=$'\e'
    while :; do
        first=$("${TM[@]}" capture-pane -e -p -t "$SESSION" -S 0 -E 0 2>/dev/null)
        # reverse video (SGR 7, possibly combined with others) right before the tab's text
        if grep -qE -- "${esc}\[([0-9]+;)*7(;[0-9]+)*m(${esc}\[[0-9;]*m)*${n} ${title}" <<<"$first"; then
            ok "tab '$n $title' is highlighted"
            return
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            capture
            fail "tab '$n $title' is not highlighted in the tab bar" "$(cat -v <<<"$first")"
        fi
        sleep 0.2
    done
}

TABBAR='1 Runs \| 2 Metrics \| 3 Imbalance \| 4 Champion/Challenger \| 5 Predictions \| 6 Logs'
T_RUNS='runs \([0-9]+\), Enter for details'
T_METRICS='evaluation \(test split\)'
T_IMBALANCE='imbalance settings \(j/k field, h/l value\)'
T_COMPARE='(champion / challenger|held-out rows, 95% CI)'
T_PREDICTIONS='2026-03-02, champion v[0-9]+, threshold [0-9.]+: [0-9]+ scored'
T_LOGS='log \[(follow|paused)\]'
TRAIN_OK='train-[^ ]+ +train +succeeded'

echo "tui_tmux: binary $BIN, temp dir $TMP, tmux $(tmux -V)"

# ---------------------------------------------------------------- headless setup
run_step "generate training data" "$BIN" generate --rows 2000 --seed 1 --out "$TMP/train.csv"
run_step "train once headless (fast search)" \
    "$BIN" --home "$H" train --data "$TMP/train.csv" --search-iters 3 --folds 3
run_step "generate an unlabelled day" \
    "$BIN" generate --rows 300 --seed 2 --no-label --id-offset 100000 --out "$TMP/day.csv"
run_step "predict 2026-03-02" "$BIN" --home "$H" predict --data "$TMP/day.csv" --date 2026-03-02

# The console refuses to start without a terminal (exit 2, with a hint).
"$BIN" --home "$H" tui </dev/null >"$TMP/notty.log" 2>&1
rc=$?
if [ "$rc" -eq 2 ] && grep -q "interactive terminal" "$TMP/notty.log"; then
    ok "tui without a TTY exits 2 with a hint"
else
    SCREEN="(no screen: headless step)"
    fail "tui without a TTY: expected exit 2 and a hint, got exit $rc" "$(cat "$TMP/notty.log")"
fi

# ---------------------------------------------------------------- the console in tmux
cat >"$TMP/run-tui.sh" <<'EOF'
#!/bin/sh
"$E2E_BIN" --home "$E2E_HOME" tui
echo "TUI_EXIT=$?"
exec sleep 600
EOF
export E2E_BIN="$BIN" E2E_HOME="$H"
if ! "${TM[@]}" new-session -d -s "$SESSION" -x 120 -y 40 "sh '$TMP/run-tui.sh'"; then
    SCREEN="(no screen: tmux did not start)"
    fail "start a detached 120x40 tmux session"
fi
SOCKET_PATH=$("${TM[@]}" display-message -p '#{socket_path}' 2>/dev/null)
ok "tmux session started (120x40, socket claims-e2e-$$)"

expect "tab bar shows all six panes" "$TABBAR" 15
expect "starts on the Runs pane" "$T_RUNS"
expect_selected_tab 1 Runs
expect "Runs lists the headless train run" "$TRAIN_OK"
expect "Runs lists the predict run" 'predict-[^ ]+ +predict +succeeded'
if [ "$(pane_var alternate_on)" = 1 ]; then ok "console uses the alternate screen"; else fail "console is not on the alternate screen"; fi

keys 2
expect "key 2 shows Metrics" "$T_METRICS"
expect_selected_tab 2 Metrics
expect "Metrics shows model v1 (champion)" 'v1 champion +\(j/k other versions\)'
keys 3
expect "key 3 shows Imbalance" "$T_IMBALANCE"
expect_selected_tab 3 Imbalance
keys 4
expect "key 4 shows Champion/Challenger" "$T_COMPARE"
expect_selected_tab 4 Champion/Challenger
keys 5
expect "key 5 shows Predictions for 2026-03-02" "$T_PREDICTIONS"
expect_selected_tab 5 Predictions
expect "Predictions shows the drift panel" 'drift \(PSI(\)|; few rows\))'
keys 6
expect "key 6 shows Logs" "$T_LOGS"
expect_selected_tab 6 Logs
keys 1
expect "key 1 shows Runs" "$T_RUNS"
expect_selected_tab 1 Runs
keys Tab
expect "Tab moves from Runs to Metrics" "$T_METRICS"
expect_selected_tab 2 Metrics
keys BTab
expect "Shift-Tab moves back to Runs" "$T_RUNS"

keys '?'
expect "? opens the help popup" 'Keys \(Esc closes\)'
keys Escape
expect_gone "Esc closes the help popup" 'Keys \(Esc closes\)'

# ---------------------------------------------------------------- training from the console
keys 3
expect "back on Imbalance" "$T_IMBALANCE"
keys t
expect "t starts a training run" '(\[running\]|training with none)' 10
expect "the training run finishes" 'training finished: v2 ' 120
expect "Imbalance results list the new run" 'none +v2 +0\.[0-9]{4}'

keys 1
expect "Runs pane after training" "$T_RUNS"
# The list refreshes every second: poll until the new run shows as succeeded.
deadline=$((SECONDS + 15))
while capture; n=$(grep -cE -- "$TRAIN_OK" <<<"$SCREEN"); [ "$n" -ne 2 ] && [ "$SECONDS" -lt "$deadline" ]; do
    sleep 0.2
done
if [ "$n" -eq 2 ]; then ok "Runs lists two train runs with status succeeded"; else fail "Runs lists $n succeeded train runs, expected 2"; fi
n_runs=$(grep -cE -- '(train|predict)-[0-9T]+-[0-9a-f]+ ' <<<"$SCREEN")
if [ "$n_runs" -eq 3 ] && grep -qE 'runs \(3\)' <<<"$SCREEN"; then
    ok "Runs lists 3 runs in all"
else
    fail "Runs should list 3 runs (2 train, 1 predict), found $n_runs rows"
fi
if grep -qE -- '(running|failed) ' <<<"$(grep -E -- '-[0-9T]+-[0-9a-f]+ ' <<<"$SCREEN")"; then
    fail "a run is listed as running or failed"
fi
ok "no run listed as running or failed"

# ---------------------------------------------------------------- quitting while busy asks first
keys 3
expect "Imbalance again" "$T_IMBALANCE"
keys t
expect "a second console training run starts" '\[running\]' 15
keys q
expect "q while a run is in progress asks Quit?" 'A run is in progress' 5
keys n
expect_gone "any other key than y keeps the console open" 'A run is in progress' 5
expect "the run is still in progress" '\[running\]|training finished' 5
expect "the second console run finishes" 'training finished: v3 ' 120

# ---------------------------------------------------------------- Esc cancels a running training
keys t
expect "a third console training run starts" '\[running\]' 15
keys Escape
expect "Esc cancels it: status says training failed: cancelled" 'training failed: .*cancel' 60
# Nothing else may write to the terminal while the console owns it (e.g. log lines on
# stderr): that scrolls the screen and leaves it garbled, since only changes are redrawn.
first=$("${TM[@]}" capture-pane -p -t "$SESSION" -S 0 -E 0 2>/dev/null)
if ! grep -qE -- "$TABBAR" <<<"$first"; then
    fail "after cancelling, the tab bar is no longer on the first line (screen scrolled or overwritten)"
fi
if grep -qE -- '(ERROR|WARN) +claims_ops|run failed: cancelled' <<<"$SCREEN"; then
    fail "after cancelling, a log line was written over the console"
fi
ok "the screen is intact after cancelling (tab bar on line 1, no stray log output)"
keys 1
expect "Runs lists the cancelled run as failed" 'train-[^ ]+ +train +failed' 10

# ---------------------------------------------------------------- promote while the database is busy
# A promotion waits for SQLite's write lock (held here by another process, as a long
# predict would): the screen must keep answering keys meanwhile, and the promotion land
# once the lock is released.
if command -v python3 >/dev/null 2>&1; then
    keys 4
    expect "Champion/Challenger compares v1 with v3" 'v1 vs v3: gate (passes|refuses)' 30
    python3 -c "
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute('BEGIN IMMEDIATE')
open(sys.argv[2], 'w').close()
time.sleep(4)
" "$H/claims.db" "$TMP/locked" &
    locker=$!
    deadline=$((SECONDS + 10))
    while [ ! -e "$TMP/locked" ] && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
    keys p
    expect "p asks to promote v3" 'Promote v3 to champion\?' 5
    keys e2e Enter
    expect "the promotion waits for the lock without freezing" 'promoting v3\.\.\.' 2
    keys 1
    expect "keys still work while it waits (1 shows Runs)" "$T_RUNS" 2
    wait "$locker"
    # The audit as `claims promote` records it: the typed reason, after a passing gate, or
    # marked as an override of a refusal.
    expect "the promotion lands once the lock is released" 'champion: v1 -> v3 \((e2e|override: the gate refused v3 against v1)' 40
else
    ok "SKIPPED promote-while-busy: python3 not installed"
fi

# ---------------------------------------------------------------- quit during a run, leave a clean terminal
# Quitting with y while a run is in progress cancels it and waits for it to record itself
# (not "running" for ever, and no model registered by a run the user stopped).
keys 3
expect "Imbalance before the last run" "$T_IMBALANCE"
keys t
expect "a fourth console training run starts" '\[running\]' 15
keys q
expect "q asks Quit? while it runs" 'A run is in progress' 5
keys y
expect "y cancels and quits with exit code 0" '^TUI_EXIT=0' 60
last=$("$BIN" --home "$H" runs --limit 1 --json | tail -1)
if grep -q '"status":"failed"' <<<"$last" && grep -q '"error":"cancelled"' <<<"$last"; then
    ok "the run stopped by quitting is recorded as failed: cancelled"
else
    fail "the run stopped by quitting is not recorded as cancelled: $last"
fi
if "$BIN" --home "$H" models | grep -qE '^v4 '; then
    fail "the run stopped by quitting registered a model (v4)"
else
    ok "the run stopped by quitting registered no model"
fi
if grep -qE -- "$TABBAR|Runs \| 2 Metrics" <<<"$SCREEN"; then
    fail "the tab bar is still on screen after exit (alternate screen not left)"
fi
ok "no tab bar left on screen after exit"
if [ "$(grep -cvE '^[[:space:]]*$' <<<"$SCREEN")" -eq 1 ]; then
    ok "screen after exit shows only the exit line"
else
    fail "leftover TUI output on the screen after exit"
fi
v=$(pane_var alternate_on)
if [ "$v" = 0 ]; then ok "alternate screen left"; else fail "pane still on the alternate screen (alternate_on=$v)"; fi
v=$(pane_var mouse_any_flag)$(pane_var mouse_button_flag)$(pane_var mouse_standard_flag)$(pane_var mouse_sgr_flag)
if [ "$v" = 0000 ]; then ok "mouse reporting turned off"; else fail "mouse reporting still on after exit (any/button/standard/sgr flags: $v)"; fi
v=$(pane_var cursor_flag)
if [ "$v" = 1 ]; then ok "cursor visible again"; else fail "cursor still hidden after exit (cursor_flag=$v)"; fi
v=$(pane_var pane_current_command)
if [ "$v" = sleep ]; then ok "claims process has exited (pane runs: $v)"; else fail "the pane still runs '$v', expected the claims process to be gone"; fi

summary
exit 0
