#!/usr/bin/env bash
# The chain at the real list's size, one step after another, with the wall
# time and peak RSS of each (GNU time), for docs/BENCHMARKS.md ("Scale").
#
#   benches/scale.sh              # 100M records
#   benches/scale.sh 200000000    # 200M
#   benches/scale.sh 10000000     # 10M, where the feed steps fit in memory too
#
# Steps: gen (CSV export), index build, install as a data-directory
# generation (the full check, recorded in the generation), sltdd ready with
# a cold page cache and a warm one, a swap to a generation with a
# 10k-record segment, compaction and the swap to its new base; with
# N <= SLTD_SCALE_FEED_MAX (10M) also publish with snapshot, first sync and
# a 10k-change publish and delta sync. The feed steps are skipped above
# that: today's publisher holds the whole export in memory (about 21 GiB at
# 100M), which this 24 GiB machine cannot spare.
#
# Environment: SLTD_SCALE_DIR (work directory, default
# target/bench-scale-N; the CSV and the index are kept and reused, delete
# the directory when done), SLTD_SCALE_FEED_MAX (10000000).
#
# Cold start: the page cache is dropped with /proc/sys/vm/drop_caches when
# that is writable (root), otherwise only the data directory's files are
# evicted (posix_fadvise DONTNEED); the script says which.
set -euo pipefail
cd "$(dirname "$0")/.."
records=${1:-100000000}
feed_max=${SLTD_SCALE_FEED_MAX:-10000000}
target="${CARGO_TARGET_DIR:-target}"
work=${SLTD_SCALE_DIR:-$target/bench-scale-$records}
grpc=127.0.0.1:50561
admin=127.0.0.1:9961

cargo build --release -p sltd-cli -p sltd-server -p sltd-sync -p sltd-benches --bin sltd-bench-datadir
bin="$target/release"
mkdir -p "$work"
work=$(cd "$work" && pwd)
csv="$work/export.csv"
index="$work/index.sltdidx"
data="$work/data"
results="$work/results.jsonl"
: > "$results"

echo "## machine"
lscpu | grep -E '^(Model name|CPU\(s\)|Thread|Core)' || true
free -g | head -2
uname -r
rustc -V
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

# Runs a step under GNU time; records wall seconds and peak RSS.
step() {
  local name=$1; shift
  local tv="$work/time-$name.txt"
  local out="$work/out-$name.txt"
  /usr/bin/time -v "$@" > "$out" 2> "$tv" || { cat "$tv" "$out"; exit 1; }
  local wall rss
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$tv" \
    | awk -F: '{ if (NF == 3) print $1*3600 + $2*60 + $3; else print $1*60 + $2 }')
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$tv")
  local extra
  extra=$(grep -E '^\{' "$out" | tail -1 || true)
  echo "{\"step\":\"$name\",\"wall_s\":$wall,\"peak_rss_kib\":$rss,\"detail\":${extra:-null}}" | tee -a "$results"
}

if [ ! -f "$csv" ]; then
  step gen "$bin/sltd" gen --records "$records" --seed 7 --output "$csv"
fi
if [ ! -f "$index" ]; then
  step index-build "$bin/sltd" index build --input "$csv" --output "$index" --created-at 1700000000 --quiet
fi
echo "index: $(stat -c %s "$index") bytes, $records records"

rm -rf "$data"
step install "$bin/sltd-bench-datadir" install "$data" "$index"

drop_caches() {
  sync
  if echo 3 > /proc/sys/vm/drop_caches 2>/dev/null; then
    cache="dropped (drop_caches)"
  else
    for f in "$data"/files/*; do
      python3 -c 'import os,sys; fd=os.open(sys.argv[1], os.O_RDONLY); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)' "$f"
    done
    cache="data files evicted (fadvise)"
  fi
}

pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null || true' EXIT
# Starts sltdd on the data directory and waits for /readyz; prints ms.
start_daemon() {
  local name=$1
  local t0 t1
  t0=$(date +%s%N)
  "$bin/sltdd" --data-dir "$data" --listen "$grpc" --admin-listen "$admin" \
    --audit-log /dev/null --no-watch --log-format json 2> "$work/sltdd-$name.log" &
  pid=$!
  until curl -sf "http://$admin/readyz" > /dev/null; do
    kill -0 $pid 2>/dev/null || { cat "$work/sltdd-$name.log"; exit 1; }
    sleep 0.01
  done
  t1=$(date +%s%N)
  local rss
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
  echo "{\"step\":\"$name\",\"wall_s\":$(echo "scale=3; ($t1 - $t0) / 1000000000" | bc),\"rss_kib\":$rss,\"cache\":\"${cache:-warm}\"}" | tee -a "$results"
}
stop_daemon() {
  kill $pid; wait $pid 2>/dev/null || true; pid=
}

# The time to read the data directory's files sequentially, cold: what a
# cold start is compared with.
drop_caches
t0=$(date +%s%N)
cat "$data"/files/*.sltdidx > /dev/null
t1=$(date +%s%N)
echo "{\"step\":\"read-files-cold\",\"wall_s\":$(echo "scale=3; ($t1 - $t0) / 1000000000" | bc),\"cache\":\"$cache\"}" | tee -a "$results"

drop_caches
start_daemon ready-cold
stop_daemon
cache=
start_daemon ready-warm

# Swap: a generation with a 10k-record segment, loaded by POST /reload.
reload() {
  local name=$1
  local t0 t1 body
  t0=$(date +%s%N)
  body=$(curl -sf -X POST "http://$admin/reload")
  t1=$(date +%s%N)
  local rss
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
  echo "{\"step\":\"$name\",\"wall_s\":$(echo "scale=3; ($t1 - $t0) / 1000000000" | bc),\"rss_kib\":$rss,\"reload\":$body}" | tee -a "$results"
}
step add-segment "$bin/sltd-bench-datadir" add-segment "$data" 10000 1
reload swap-segment
step compact "$bin/sltd-sync" --data-dir "$data" compact
reload swap-compacted
stop_daemon
echo "{\"step\":\"disk\",\"data_dir_bytes\":$(du -sb "$data" | cut -f1),\"csv_bytes\":$(stat -c %s "$csv"),\"index_bytes\":$(stat -c %s "$index")}" | tee -a "$results"

if [ "$records" -le "$feed_max" ]; then
  feed="$work/feed"
  rm -rf "$feed" "$work/sync-data"
  "$bin/sltd" feed keygen --output "$work/feed.key" > /dev/null
  "$bin/sltd" feed init --dir "$feed" --key "$work/feed.key" --name scale > /dev/null
  cp "$feed/1.root.json" "$work/trust.json"
  step publish-snapshot "$bin/sltd" feed publish --dir "$feed" --key "$work/feed.key" --input "$csv" --snapshot
  step first-sync "$bin/sltd-sync" --feed "$feed" --data-dir "$work/sync-data" --trust "$work/trust.json" --json run
  # 10k changes: the export with 10k more rows.
  cp "$csv" "$work/changed.csv"
  for i in $(seq 1 10000); do printf 'UTO,P,QQZ%09d,stolen,2026-11-01,SCALE-%d\n' "$i" "$i"; done >> "$work/changed.csv"
  step publish-10k "$bin/sltd" feed publish --dir "$feed" --key "$work/feed.key" --input "$work/changed.csv"
  step delta-sync "$bin/sltd-sync" --feed "$feed" --data-dir "$work/sync-data" --trust "$work/trust.json" --json run
  rm -f "$work/changed.csv"
else
  echo "feed steps skipped at $records records (the publisher holds the export in memory; SLTD_SCALE_FEED_MAX=$feed_max)"
fi

echo "## results ($results)"
cat "$results"
