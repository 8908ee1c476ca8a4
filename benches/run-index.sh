#!/usr/bin/env bash
# In-process index benchmarks with every figure as a ratio to the machine's
# memory floor, measured in the same run.
#
#   benches/run-index.sh              # 1M and 10M records
#   SLTD_BENCH_SIZES=100M benches/run-index.sh   # see index-100m.sh
#
# Prints a markdown table for docs/BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export SLTD_BENCH_SIZES="${SLTD_BENCH_SIZES:-1M,10M}"
target="${CARGO_TARGET_DIR:-target}"
rm -rf "$target/criterion/index_"* "$target/criterion/build_"*
cargo bench -p sltd-benches --bench index -- --noplot 2>&1 | tee "$target/bench-index.log" \
  | grep -E '^\[|^(index|build)/|time:|thrpt:' || true
python3 - "$target" <<'PY'
import glob, json, os, re, sys
root = os.path.join(sys.argv[1], "criterion")
def est(group, bench):
    pat = os.path.join(root, group, bench, "new", "estimates.json")
    hits = glob.glob(pat)
    if not hits:
        return None
    return json.load(open(hits[0]))["median"]["point_estimate"]
sizes = os.environ["SLTD_BENCH_SIZES"].split(",")
log = open(os.path.join(sys.argv[1], "bench-index.log")).read()
bpr = dict(re.findall(r"^\[(\S+)\] index \d+ bytes, ([\d.]+) bytes/record", log, re.M))
oneshot = dict(re.findall(r"^\[(\S+)\] .*\(([\d.]+) M records/s\)", log, re.M))
print()
print("| records | bytes/record | floor (dependent read) | negative | negative, number only | positive | batch-300 negative, per lookup | batch-300 positive, per lookup | batch speed-up (neg / pos) | build |")
print("|---|---|---|---|---|---|---|---|---|---|")
for s in sizes:
    g = f"index_{s}"
    floor = est(g, "floor_dependent_read")
    neg = est(g, "negative"); num = est(g, "negative_number_only"); pos = est(g, "positive")
    bn = est(g, "batch300_negative/300"); bp = est(g, "batch300_positive/300")
    build = est(f"build_{s}", "build")
    if None in (floor, neg, num, pos, bn, bp):
        print(f"| {s} | missing results |"); continue
    bn /= 300; bp /= 300
    n = float(s[:-1]) * (1e6 if s.endswith("M") else 1e3 if s.endswith("k") else 1)
    r = lambda x: f"{x:.1f} ns ({x/floor:.2f}x)"
    b = f"{n/(build/1e9)/1e6:.2f} M records/s" if build else f"{oneshot.get(s, '?')} M records/s (generate + build, one shot)"
    print(f"| {s} | {bpr.get(s,'?')} | {floor:.1f} ns | {r(neg)} | {r(num)} | {r(pos)} | {r(bn)} | {r(bp)} | {neg/bn:.1f}x / {pos/bp:.1f}x | {b} |")
PY
