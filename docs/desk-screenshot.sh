#!/usr/bin/env bash
# Remakes docs/images/desk.png, the screenshot in the README's "At the desk"
# section, from a real run: a demo index served by sltdd, `sltd desk` in a
# detached tmux session of 100 x 30, the TD3 specimen typed in as a
# keyboard-wedge reader types it (with a wrong check digit), the pane
# captured with its colours (tmux capture-pane -e -N) and rendered to PNG by
# docs/render-ansi.py (Pillow, installed from PyPI into a throw-away venv).
#
# Needs: a Rust toolchain, tmux, python3 with venv, the DejaVu fonts
# (Debian fonts-dejavu-core).
#
#   bash docs/desk-screenshot.sh
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d)
SOCK="$WORK/tmux.sock"
SLTDD_PID=
cleanup() {
    tmux -S "$SOCK" kill-server 2>/dev/null || true
    [ -n "$SLTDD_PID" ] && kill "$SLTDD_PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

cd "$ROOT"
cargo build --bin sltd --bin sltdd
BIN="$ROOT/target/debug"

"$BIN/sltd" gen --records 100000 --output "$WORK/export.csv"
"$BIN/sltd" index build --input "$WORK/export.csv" --output "$WORK/index.sltd"
"$BIN/sltdd" --index "$WORK/index.sltd" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 \
    --log-format json --audit-log "$WORK/audit.jsonl" 2>"$WORK/sltdd.log" &
SLTDD_PID=$!

# Polls until `$1` (a command) succeeds, for up to 60 s.
wait_until() {
    for _ in $(seq 600); do
        if eval "$1"; then return 0; fi
        sleep 0.1
    done
    echo "gave up waiting for: $1" >&2
    exit 1
}
wait_until 'grep -q "serving data set" "$WORK/sltdd.log"'
ADDR=$(grep -o '"grpc":"[^"]*"' "$WORK/sltdd.log" | head -1 | cut -d'"' -f4)

tmux -S "$SOCK" -f /dev/null new-session -d -s desk -x 100 -y 30 \
    "$BIN/sltd" desk --server "http://$ADDR"
screen() { tmux -S "$SOCK" capture-pane -p -t desk; }
wait_until 'screen | grep -q "Ready: scan a document"'

# The TD3 specimen, its document number check digit misread (7 for 6).
tmux -S "$SOCK" send-keys -t desk -l 'P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<'
tmux -S "$SOCK" send-keys -t desk Enter
tmux -S "$SOCK" send-keys -t desk -l 'L898902C37UTO7408122F1204159ZE184226B<<<<<10'
tmux -S "$SOCK" send-keys -t desk Enter
wait_until 'screen | grep -q "HIT: LISTED AS STOLEN"'
tmux -S "$SOCK" capture-pane -e -p -N -t desk >"$WORK/desk.ansi"

python3 -m venv "$WORK/venv"
"$WORK/venv/bin/pip" install --quiet pillow==12.0.0
mkdir -p "$ROOT/docs/images"
"$WORK/venv/bin/python" "$ROOT/docs/render-ansi.py" "$WORK/desk.ansi" "$ROOT/docs/images/desk.png"
echo "wrote docs/images/desk.png"
