#!/usr/bin/env bash
# The daemon benchmarks at 100 million records (docs/BENCHMARKS.md, "Daemon
# (gRPC)"): start-to-SERVING, RSS and the same load runs as at 10M.
#
# Needs about 12 GB of disk in SLTD_BENCH_DIR (CSV export and index) and
# takes a while to generate the data the first time. Set
# SLTD_BENCH_START_ONLY=1 to measure only start-to-SERVING and RSS.
set -euo pipefail
cd "$(dirname "$0")"
export SLTD_BENCH_RECORDS=100000000
export SLTD_BENCH_DURATION="${SLTD_BENCH_DURATION:-20}"
exec ./daemon.sh
