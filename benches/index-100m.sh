#!/usr/bin/env bash
# The in-process index benchmarks at 100M records. Needs about 20 GB of free
# memory (the records, the index, and the build's working set) and an hour.
set -euo pipefail
cd "$(dirname "$0")/.."
SLTD_BENCH_SIZES=100M exec benches/run-index.sh
