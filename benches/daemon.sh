#!/usr/bin/env bash
# Daemon benchmarks for docs/BENCHMARKS.md ("Daemon (gRPC)"): sltdd and the
# load generator side by side on this machine, with the loopback TCP
# ping-pong floor measured in the same run.
#
#   benches/daemon.sh                          # 10M records
#   SLTD_BENCH_RECORDS=100000000 benches/daemon.sh   # what daemon-100m.sh runs
#
# Environment: SLTD_BENCH_RECORDS (10000000), SLTD_BENCH_DURATION (seconds per
# run, 20), SLTD_BENCH_DIR (work directory, target/bench-daemon; data files
# are kept and reused), SLTD_BENCH_HIT_RATIO (0.1), SLTD_BENCH_START_ONLY=1
# (measure start-to-SERVING and RSS only), SLTD_BENCH_NICE (niceness of the
# daemon and the load generator, 0; a negative value, as root, keeps other
# work on a shared machine from skewing the figures).
#
# Prints the machine, one JSON line per run, and a markdown summary.
set -euo pipefail
cd "$(dirname "$0")/.."
records=${SLTD_BENCH_RECORDS:-10000000}
duration=${SLTD_BENCH_DURATION:-20}
hit_ratio=${SLTD_BENCH_HIT_RATIO:-0.1}
nice_n=${SLTD_BENCH_NICE:-0}
target="${CARGO_TARGET_DIR:-target}"
work=${SLTD_BENCH_DIR:-$target/bench-daemon}
grpc=127.0.0.1:50551
admin=127.0.0.1:9951

cargo build --release -p sltd-cli -p sltd-server
bin="$target/release"
mkdir -p "$work"
csv="$work/export-$records.csv"
index="$work/index-$records.sltd"
if [ ! -f "$csv" ]; then
  "$bin/sltd" gen --records "$records" --seed 7 --output "$csv"
fi
if [ ! -f "$index" ]; then
  "$bin/sltd" index build --input "$csv" --output "$index"
fi

echo "## machine"
lscpu | head -20
uname -r
rustc -V
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg); niceness $nice_n"
echo "index: $(stat -c %s "$index") bytes, $records records"

results="$work/results-$records.jsonl"
: > "$results"
run() {
  local name=$1; shift
  local line
  line=$(nice -n "$nice_n" "$bin/sltd" loadgen "$@" --duration "$duration" --json)
  echo "{\"run\":\"$name\",\"result\":$line}" | tee -a "$results"
}

echo "## transport floor: TCP ping-pong on loopback"
run tcp-pingpong --tcp-pingpong

# Evict the index (only it) from this machine's page cache so start-up pays
# for reading it from disk, as after a reboot (a VM's host may still cache
# it).
sync "$index"
python3 -c 'import os,sys; fd=os.open(sys.argv[1], os.O_RDONLY); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)' "$index"
cache="evicted from the page cache"

echo "## start-to-SERVING (index $cache)"
t0=$(date +%s%N)
nice -n "$nice_n" "$bin/sltdd" --index "$index" --listen "$grpc" --admin-listen "$admin" \
  --audit-log /dev/null --no-watch --log-format json 2> "$work/sltdd.log" &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
until curl -sf "http://$admin/readyz" > /dev/null; do
  kill -0 $pid 2>/dev/null || { cat "$work/sltdd.log"; exit 1; }
  sleep 0.02
done
t1=$(date +%s%N)
start_ms=$(( (t1 - t0) / 1000000 ))
rss_start=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
echo "{\"run\":\"start\",\"result\":{\"start_to_serving_ms\":$start_ms,\"cache\":\"$cache\",\"rss_kib\":$rss_start}}" | tee -a "$results"

if [ "${SLTD_BENCH_START_ONLY:-0}" != 1 ]; then
  keys=(--server "http://$grpc" --keys "$csv" --hit-ratio "$hit_ratio" --server-pid "$pid")
  for rate in 1000 5000 10000; do
    run "unary-open-$rate" "${keys[@]}" --rate "$rate"
  done
  run unary-closed-16 "${keys[@]}" --concurrency 16
  run batch-300 "${keys[@]}" --batch 300 --concurrency 4
  run stream "${keys[@]}" --stream --concurrency 4 --window 64
  rss_end=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
  hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
  echo "{\"run\":\"rss\",\"result\":{\"rss_kib\":$rss_end,\"peak_rss_kib\":$hwm}}" | tee -a "$results"

  # The same daemon with one worker thread (worker_threads = 1): fewer
  # cross-thread wake-ups, lower unary tail latency on a small shared host,
  # less throughput.
  kill $pid; wait $pid 2>/dev/null || true
  nice -n "$nice_n" "$bin/sltdd" --index "$index" --listen "$grpc" --admin-listen "$admin" \
    --audit-log /dev/null --no-watch --log-format json --worker-threads 1 2>> "$work/sltdd.log" &
  pid=$!
  until curl -sf "http://$admin/readyz" > /dev/null; do sleep 0.02; done
  keys=(--server "http://$grpc" --keys "$csv" --hit-ratio "$hit_ratio" --server-pid "$pid")
  run "1-worker-unary-open-10000" "${keys[@]}" --rate 10000
  run "1-worker-unary-closed-16" "${keys[@]}" --concurrency 16
  run "1-worker-batch-300" "${keys[@]}" --batch 300 --concurrency 4
fi
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

python3 - "$results" "$records" <<'PY'
import json, sys
runs = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    runs[r["run"]] = r["result"]
print()
print(f"### {int(sys.argv[2]):,} records")
print()
print("| run | requests/s | keys/s | p50 | p90 | p99 | p99.9 | max | p99 from actual send | errors | mismatches | daemon CPU | daemon CPU per key |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for name, r in runs.items():
    if "p50_us" not in r:
        continue
    cores = r.get("server_cpu_cores")
    per = r.get("server_cpu_us_per_key")
    print(f"| {name} | {r['throughput_rps']:,.0f} | {r['keys_per_s']:,.0f} | {r['p50_us']} us | {r['p90_us']} us | "
          f"{r['p99_us']} us | {r['p999_us']} us | {r['max_us']} us | "
          f"{'-' if r.get('service_p99_us') is None else str(r['service_p99_us']) + ' us'} | {r['errors']} | {r['mismatches']} | "
          f"{'-' if cores is None else f'{cores:.2f} cores'} | {'-' if per is None else f'{per:.1f} us'} |")
s = runs.get("start")
if s:
    print()
    print(f"start-to-SERVING: {s['start_to_serving_ms']} ms (index {s['cache']}), RSS at SERVING {s['rss_kib']/1024:.0f} MiB")
if "rss" in runs:
    print(f"RSS after the runs: {runs['rss']['rss_kib']/1024:.0f} MiB (peak {runs['rss']['peak_rss_kib']/1024:.0f} MiB)")
PY
