#!/usr/bin/env bash
# Feed and sync benchmark (docs/BENCHMARKS.md, "Feed and sync").
#
#   crates/sltd-sync/bench/feed_bench.sh [RECORDS] [WORKDIR]
#
# RECORDS defaults to 10000000; run with 100000000 for the 100M figures
# (needs about 40 GB of disk and 20 GB of memory). Builds release binaries,
# generates an export, publishes it with a snapshot, serves the feed over
# HTTP on 127.0.0.1, syncs a post from nothing, publishes a 10k-change
# delta, times it to queryable, and compacts. Prints one line per figure.
set -euo pipefail

N=${1:-10000000}
WORK=${2:-$(pwd)/bench-data/feed-$N}
CHANGES=10000
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}

cd "$ROOT"
cargo build --release -q -p sltd-cli -p sltd-sync
cargo build --release -q -p sltd-datadir --example datadir_query
BIN=$CARGO_TARGET_DIR/release
SLTD=$BIN/sltd
SYNC=$BIN/sltd-sync
QUERY=$BIN/examples/datadir_query
T="/usr/bin/time -f %e_s_wall_%U_s_user_%S_s_sys_%M_KiB_maxrss"

rm -rf "$WORK" && mkdir -p "$WORK" && cd "$WORK"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem/{print $2}') GiB"
echo "records: $N"

$SLTD gen --records "$N" --seed 1 --output e0.csv > /dev/null
for k in feed root-1 root-2; do $SLTD feed keygen --output $k.key > /dev/null; done
$SLTD feed init --dir FEED --key feed.key --root-key root-1.key --root-key root-2.key \
    --name bench --snapshot-every 0 > /dev/null
echo -n "publish full export (snapshot): "
$T $SLTD feed publish --dir FEED --key feed.key --input e0.csv --snapshot 2>&1 | tail -1
SNAP=$(du -cb FEED/snapshots/*/chunk-*.zst | tail -1 | cut -f1)
echo "snapshot bytes: $SNAP ($(echo "scale=2; $SNAP / $N" | bc) bytes/record)"

$SLTD feed serve --dir FEED --listen 127.0.0.1:0 > url.txt &
SERVER=$!
trap 'kill $SERVER 2>/dev/null' EXIT
for _ in $(seq 50); do [ -s url.txt ] && break; sleep 0.1; done
URL=$(head -1 url.txt)
OPTS="--feed $URL --data-dir DATA --trust FEED/1.root.json"

echo -n "sync from nothing (snapshot over HTTP): "
SLTD_LOG=warn $T $SYNC $OPTS run 2>&1 >/dev/null | tail -1

# A 10k-change export: 5000 records removed, 5000 new ones, the rest kept.
HALF=$((CHANGES / 2))
{ head -n $((N + 1 - HALF)) e0.csv; $SLTD gen --records $((HALF + 4)) --seed 2 --output - | tail -n +6; } > e1.csv
NEW=$(tail -1 e1.csv | cut -d, -f3)
echo -n "publish $CHANGES-change delta: "
$T $SLTD feed publish --dir FEED --key feed.key --input e1.csv 2>&1 | tail -1
DELTA=$(stat -c %s FEED/deltas/00000000000000000002.delta)
echo "delta bytes: $DELTA ($(echo "scale=2; $DELTA / $CHANGES" | bc) bytes/changed record)"

echo -n "sync $CHANGES-change delta (fetch+verify+segment+install): "
START=$(date +%s.%N)
SLTD_LOG=warn $T $SYNC $OPTS run --no-compact --json 2>&1 >sync.json | tail -1
SYNCED=$(date +%s.%N)
# The example opens the previous generation first, as a running daemon has
# it, and reports how long the switch to the new one took.
$QUERY DATA "$NEW" > query.txt
SWITCH=$(sed -n 's/.* switched in \([0-9.]*\) s$/\1/p' query.txt)
echo "delta available -> queryable: $(echo "$SYNCED - $START + $SWITCH" | bc) s (sync run, then a running daemon's switch)"
cat sync.json
cat query.txt

echo -n "compaction: "
SLTD_LOG=warn $T $SYNC $OPTS compact 2>&1 >/dev/null | tail -1
$QUERY DATA "$NEW"
