#!/usr/bin/env bash
# Runs every fuzz target (or the ones named) for a given time each and
# prints, per target, the executions, the corpus size and whether it found
# anything. Crashes are kept in fuzz/artifacts/TARGET/.
#
#   fuzz/run.sh                 20 s per target (what CI runs)
#   fuzz/run.sh 1200            20 minutes per target
#   fuzz/run.sh 60 feed_delta   one target for a minute
#
# Needs a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
set -euo pipefail
cd "$(dirname "$0")"
SECS=${1:-20}
shift || true
if [ "$#" -gt 0 ]; then
    TARGETS=("$@")
else
    mapfile -t TARGETS < <(cargo +nightly fuzz list)
fi
cargo +nightly fuzz build --release
failed=0
printf '%-24s %12s %8s %s\n' target executions corpus result
for t in "${TARGETS[@]}"; do
    mkdir -p "corpus/$t" "artifacts/$t"
    log=$(mktemp)
    stamp=$(mktemp)
    if cargo +nightly fuzz run --release "$t" "corpus/$t" -- \
        -max_total_time="$SECS" -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
        >"$log" 2>&1; then
        result=clean
    elif [ -n "$(find "artifacts/$t" -type f -newer "$stamp")" ]; then
        result="FOUND (see fuzz/artifacts/$t/ and $log)"
        failed=1
    else
        result="ERROR: the run did not complete (see $log)"
        failed=1
    fi
    rm -f "$stamp"
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    corpus=$(find "corpus/$t" -type f | wc -l)
    printf '%-24s %12s %8s %s\n' "$t" "${execs:-?}" "$corpus" "$result"
    [ "$result" = clean ] && rm -f "$log"
done
exit "$failed"
