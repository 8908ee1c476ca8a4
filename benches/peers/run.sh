#!/usr/bin/env bash
# sltd side by side with Redis, PostgreSQL, LMDB, cdb, fst and a plain
# HashMap: same data, same seeded key streams, every answer checked.
#
#   benches/peers/run.sh            full run (1M and 10M records), by hand;
#                                   writes the "## Peers" section of
#                                   docs/BENCHMARKS.md and docs/charts/peers-*.png
#   benches/peers/run.sh --smoke    100k records, about a second per case, one
#                                   round, debug builds, results in a scratch
#                                   directory only (docs/ untouched); exits
#                                   non-zero on any wrong answer or error. CI runs
#                                   it after `cargo test`, whose debug sltd and
#                                   sltdd it reuses (rebuilt only if a source is
#                                   newer). About 3 minutes on 2 cores, most of
#                                   it compiling this crate.
#   benches/peers/run.sh --with-100m  also 100M records (sltd and sltdd alone:
#                                   the peers' loaders keep a deduplicated copy
#                                   in memory, which does not fit 24 GiB)
#
# Knobs (environment): PEERS_SIZES (default 1M,10M), PEERS_100M=1 (as
# --with-100m), PEERS_ROUNDS (3), PEERS_DURATION (seconds per network case,
# 5), PEERS_RATES (1000,5000,10000), PEERS_CONCURRENCY (1,16,64),
# PEERS_BATCH_CONCURRENCY (1,4), PEERS_HIT_RATIOS (0.01,0.5),
# PEERS_INPROC_SECS (1), PEERS_DATA (where generated CSVs and indexes are kept
# between runs, default bench-data/peers), PEERS_NO_DOCS=1 (do not touch
# docs/), PEERS_PROFILE (debug or release), KEEP_WORK=1 (keep the scratch
# directory), CARGO_TARGET_DIR (main workspace build). Ports 127.0.0.1:26379
# (Redis), 25432 (PostgreSQL), 25051 and 29851 (sltdd) must be free.
#
# Needs root on Debian (apt-get for redis-server, postgresql, jq, curl and a
# font); every server listens on 127.0.0.1 only, in a scratch directory, and
# is stopped on exit; PostgreSQL runs as the postgres user. Timed runs take
# /tmp/sltd-bench.lock so benchmarks on a shared machine never overlap.
# Results: one JSON line per figure, kept in bench-data/peers-results.jsonl;
# `sltd-peers report` turns them into the tables and charts.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CMDLINE=$(echo "benches/peers/run.sh $*" | sed 's/ *$//')
SMOKE=0
for arg in "$@"; do
    case "$arg" in
        --smoke) SMOKE=1 ;;
        --with-100m) PEERS_100M=1 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "run.sh: unknown argument $arg (try --help)" >&2; exit 2 ;;
    esac
done

if [ "$SMOKE" = 1 ]; then
    SIZES=100k ROUNDS=1 DURATION=1 WARMUP=0.3 RATES=2000 CONCS=1,16 BATCH_CONCS=2
    HITS=${PEERS_HIT_RATIOS:-0.01,0.5} INPROC_SECS=0.02 QUERIES=32768 PROFILE=debug
else
    SIZES=${PEERS_SIZES:-1M,10M}
    [ "${PEERS_100M:-0}" = 1 ] && SIZES="$SIZES,100M"
    ROUNDS=${PEERS_ROUNDS:-3} DURATION=${PEERS_DURATION:-5} WARMUP=1
    RATES=${PEERS_RATES:-1000,5000,10000} CONCS=${PEERS_CONCURRENCY:-1,16,64}
    BATCH_CONCS=${PEERS_BATCH_CONCURRENCY:-1,4} HITS=${PEERS_HIT_RATIOS:-0.01,0.5}
    INPROC_SECS=${PEERS_INPROC_SECS:-1} QUERIES=1048576 PROFILE=release
fi
PROFILE=${PEERS_PROFILE:-$PROFILE}
SEED=42
LOCK=/tmp/sltd-bench.lock
REDIS_PORT=26379 PG_PORT=25432 SLTDD_PORT=25051 ADMIN_PORT=29851
BATCH=300

log() { printf '\n== %s  [%s]\n' "$*" "$(date +%T)" >&2; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
calc() { awk "BEGIN { printf \"%.6f\", $1 }"; }

# ---------------------------------------------------------------- install
log "checking packages"
missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing+=(postgresql)
dpkg -s postgresql-contrib >/dev/null 2>&1 || ls /usr/lib/postgresql/*/lib/pg_prewarm.so >/dev/null 2>&1 || missing+=(postgresql-contrib)
command -v jq >/dev/null || missing+=(jq)
command -v curl >/dev/null || missing+=(curl)
command -v flock >/dev/null || missing+=(util-linux)
ls /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf >/dev/null 2>&1 || missing+=(fonts-dejavu-core)
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
id postgres >/dev/null 2>&1 || useradd --system --home-dir /nonexistent --shell /usr/sbin/nologin postgres

# ---------------------------------------------------------------- build
log "building ($PROFILE)"
# Not --locked: CI has checked the main lock file already, and the peers'
# lock file must follow path dependencies as the product's crates change
# (cargo only adds what is missing; the peers' pinned versions stay).
MAIN_TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
PEERS_TARGET=$ROOT/benches/peers/target
if [ "$PROFILE" = release ]; then
    (cd "$ROOT" && CARGO_TARGET_DIR=$MAIN_TARGET cargo build --release -q -p sltd-cli -p sltd-server)
    (unset CARGO_TARGET_DIR; cargo build --release -q --manifest-path "$ROOT/benches/peers/Cargo.toml")
else
    # CI's `cargo test` has just built these; building them again with
    # `cargo build` would recompile dependencies whose features differ
    # without dev-dependencies. Rebuild only when a source is newer.
    stale=1
    if [ -x "$MAIN_TARGET/debug/sltd" ] && [ -x "$MAIN_TARGET/debug/sltdd" ]; then
        stale=$(cd "$ROOT" && find crates proto Cargo.toml Cargo.lock \( -name '*.rs' -o -name '*.proto' -o -name '*.toml' -o -name Cargo.lock \) \
            \( -newer "$MAIN_TARGET/debug/sltd" -o -newer "$MAIN_TARGET/debug/sltdd" \) 2>/dev/null | head -1 | wc -l)
    fi
    if [ "$stale" != 0 ]; then
        (cd "$ROOT" && CARGO_TARGET_DIR=$MAIN_TARGET cargo build -q -p sltd-cli -p sltd-server)
    fi
    (unset CARGO_TARGET_DIR; cargo build -q --manifest-path "$ROOT/benches/peers/Cargo.toml")
fi
SLTD=$MAIN_TARGET/$PROFILE/sltd
SLTDD=$MAIN_TARGET/$PROFILE/sltdd
PEERS=$PEERS_TARGET/$PROFILE/sltd-peers

# ---------------------------------------------------------------- scratch
WORK=$(mktemp -d /tmp/sltd-peers.XXXXXX)
chmod 755 "$WORK"
DATA=${PEERS_DATA:-$ROOT/bench-data/peers}
[ "$SMOKE" = 1 ] && DATA=$WORK/data
mkdir -p "$DATA"
RESULTS=$WORK/results.jsonl
: > "$RESULTS"
FAILURES=$WORK/failures
: > "$FAILURES"
REDIS_PID="" SLTDD_PID="" PG_UP=0

stop_redis() { [ -n "$REDIS_PID" ] && kill "$REDIS_PID" 2>/dev/null && wait "$REDIS_PID" 2>/dev/null; REDIS_PID=""; }
stop_sltdd() { [ -n "$SLTDD_PID" ] && kill "$SLTDD_PID" 2>/dev/null && wait "$SLTDD_PID" 2>/dev/null; SLTDD_PID=""; }
stop_pg() {
    if [ "$PG_UP" = 1 ]; then
        runuser -u postgres -- "$PGBIN/pg_ctl" -D "$WORK/pg/data" -m fast -w stop >/dev/null 2>&1 || true
        PG_UP=0
    fi
}
cleanup() {
    set +e
    stop_sltdd; stop_redis; stop_pg
    if [ "${KEEP_WORK:-0}" = 1 ]; then echo "scratch kept: $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for port in $REDIS_PORT $PG_PORT $SLTDD_PORT $ADMIN_PORT; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        echo "run.sh: port $port on 127.0.0.1 is in use; stop what uses it" >&2; exit 2
    fi
done

# Appends one JSON result, tagged with $1 (a JSON object of extra fields).
record() { jq -c --argjson tag "$1" '. + $tag' >> "$RESULTS"; }
# Notes a failed case; the run goes on and fails at the end.
fail() { echo "$*" >> "$FAILURES"; echo "FAILED: $*" >&2; }

# Proportional set size of processes, in kB (shared pages counted once).
pss_kb() {
    local total=0 p v
    for p in "$@"; do
        v=$(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)
        total=$(( total + ${v:-0} ))
    done
    echo $total
}
# PostgreSQL's resident memory: its processes' private and file-backed
# pages, plus the shared buffers that hold data (pages of shared memory
# touched by backends that have since exited are in no process's PSS).
pg_memory_kb() {
    local private=0 p v buffers
    for p in $(pg_pids); do
        v=$(awk '/^Pss:/ {t=$2} /^Pss_Shmem:/ {s=$2} END {print t - s}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)
        private=$(( private + ${v:-0} ))
    done
    buffers=$(runuser -u postgres -- "$PGBIN/psql" -h "$WORK/pg/sock" -p $PG_PORT -U sltd -d sltd -Atq \
        -c "CREATE EXTENSION IF NOT EXISTS pg_buffercache" \
        -c "SELECT count(*) * current_setting('block_size')::bigint / 1024 FROM pg_buffercache WHERE relfilenode IS NOT NULL")
    echo $(( private + buffers ))
}
pg_pids() {
    local master
    master=$(head -1 "$WORK/pg/data/postmaster.pid")
    echo "$master" $(pgrep -P "$master" || true)
}

# Bytes per record of a peer: memory in kB over the records.
server_memory() { # peer size records kB extra-json
    record "{\"part\":\"server\",\"size\":\"$2\",\"records\":$3,\"peer\":\"$1\"}" <<< \
        "{\"metric\":\"pss_bytes_per_record\",\"value\":$(calc "$4 * 1024 / $3")${5:+,$5}}"
}
server_metric() { # peer size records metric value
    record "{\"part\":\"server\",\"size\":\"$2\",\"records\":$3,\"peer\":\"$1\"}" <<< \
        "{\"metric\":\"$4\",\"value\":$5}"
}

# ---------------------------------------------------------------- servers
# Each start_* sets READY_MS: from process start to answering.
start_redis() {
    mkdir -p "$WORK/redis"
    local t0; t0=$(now_ms)
    redis-server --bind 127.0.0.1 --port $REDIS_PORT --protected-mode yes \
        --save '' --appendonly no --dir "$WORK/redis" --daemonize no \
        --logfile "$WORK/redis/redis.log" </dev/null >/dev/null 2>&1 &
    REDIS_PID=$!
    "$PEERS" redis-ready --addr 127.0.0.1:$REDIS_PORT
    READY_MS=$(( $(now_ms) - t0 ))
}

pg_init() {
    mkdir -p "$WORK/pg/sock"
    chown -R postgres: "$WORK/pg"
    runuser -u postgres -- "$PGBIN/initdb" -D "$WORK/pg/data" -U sltd --auth=trust \
        -E UTF8 --locale=C.UTF-8 --no-sync >/dev/null
}
pg_start() { # shared_buffers
    runuser -u postgres -- "$PGBIN/pg_ctl" -D "$WORK/pg/data" -l "$WORK/pg/log" -w start \
        -o "-p $PG_PORT -k $WORK/pg/sock -c listen_addresses=127.0.0.1 -c shared_buffers=$1 -c max_connections=200" >/dev/null
    PG_UP=1
}
pg_stop() { runuser -u postgres -- "$PGBIN/pg_ctl" -D "$WORK/pg/data" -m fast -w stop >/dev/null; PG_UP=0; }

start_sltdd() { # index
    local t0; t0=$(now_ms)
    "$SLTDD" --index "$1" --listen 127.0.0.1:$SLTDD_PORT --admin-listen 127.0.0.1:$ADMIN_PORT \
        --audit-log /dev/null --no-watch --log-filter warn </dev/null >/dev/null 2>"$WORK/sltdd.log" &
    SLTDD_PID=$!
    until curl -sf "http://127.0.0.1:$ADMIN_PORT/readyz" >/dev/null 2>&1; do
        kill -0 "$SLTDD_PID" 2>/dev/null || { cat "$WORK/sltdd.log" >&2; echo "sltdd died" >&2; return 1; }
        sleep 0.005
    done
    READY_MS=$(( $(now_ms) - t0 ))
}

# ---------------------------------------------------------------- cases
# One network case: runs "$@" under the lock, checks and records its JSON.
net_case() { # tag-json command...
    local tag=$1; shift
    local out rc=0
    out=$(flock "$LOCK" "$@" 2>"$WORK/case.err") || rc=$?
    if ! jq -e . >/dev/null 2>&1 <<< "$out"; then
        fail "$tag: no result (exit $rc): $(tail -3 "$WORK/case.err" | tr '\n' ' ')"
        return 0
    fi
    record "$tag" <<< "$out"
    local bad err
    bad=$(jq '.mismatches // 0' <<< "$out"); err=$(jq '.errors // 0' <<< "$out")
    if [ "$bad" != 0 ] || [ "$err" != 0 ] || [ "$rc" != 0 ]; then
        fail "$tag: $bad mismatches, $err errors, exit $rc: $(jq -r '.first_error // ""' <<< "$out")"
    fi
    printf '   %-70s %10.0f keys/s  p50 %6s us  p99 %6s us\n' "$tag" \
        "$(jq '.keys_per_s' <<< "$out")" "$(jq '.p50_us' <<< "$out")" "$(jq '.p99_us' <<< "$out")" >&2
}

run_sltdd_cases() { # size hit round csv
    local base="\"part\":\"net\",\"size\":\"$1\",\"hit_ratio\":$2,\"round\":$3,\"peer\":\"sltdd\""
    local common=(--server "http://127.0.0.1:$SLTDD_PORT" --keys "$4" --hit-ratio "$2" --seed $SEED
                  --duration "$DURATION" --warmup "$WARMUP" --json)
    local r c
    for r in ${RATES//,/ }; do
        net_case "{$base,\"mode\":\"unary\",\"rate\":$r}" "$SLTD" loadgen "${common[@]}" --rate "$r"
    done
    for c in ${CONCS//,/ }; do
        net_case "{$base,\"mode\":\"unary\",\"concurrency\":$c}" "$SLTD" loadgen "${common[@]}" --concurrency "$c"
    done
    for c in ${BATCH_CONCS//,/ }; do
        net_case "{$base,\"mode\":\"batch\",\"concurrency\":$c}" "$SLTD" loadgen "${common[@]}" --batch $BATCH --concurrency "$c"
    done
    net_case "{$base,\"mode\":\"stream\",\"concurrency\":4}" "$SLTD" loadgen "${common[@]}" --stream --concurrency 4
}

run_kv_cases() { # peer(redis|pg) label size hit round keysfile single-mode batch-modes...
    local peer=$1 label=$2 size=$3 hit=$4 round=$5 keys=$6 single=$7; shift 7
    local addr=127.0.0.1:$REDIS_PORT
    [ "$peer" = pg ] && addr=127.0.0.1:$PG_PORT
    local base="\"part\":\"net\",\"size\":\"$size\",\"hit_ratio\":$hit,\"round\":$round,\"peer\":\"$label\""
    local common=(net --peer "$peer" --addr "$addr" --keys-file "$keys" --hit-ratio "$hit"
                  --duration "$DURATION" --warmup "$WARMUP" --connections 4)
    local r c m
    for r in ${RATES//,/ }; do
        net_case "{$base,\"mode\":\"$single\",\"rate\":$r}" "$PEERS" "${common[@]}" --mode "$single" --rate "$r"
    done
    for c in ${CONCS//,/ }; do
        net_case "{$base,\"mode\":\"$single\",\"concurrency\":$c}" "$PEERS" "${common[@]}" --mode "$single" --concurrency "$c"
    done
    for m in "$@"; do
        for c in ${BATCH_CONCS//,/ }; do
            net_case "{$base,\"mode\":\"$m\",\"concurrency\":$c}" "$PEERS" "${common[@]}" --mode "$m" --batch $BATCH --concurrency "$c"
        done
    done
}

records_of() { # label -> number
    local s=$1
    case "$s" in
        *k|*K) echo $(( ${s%?} * 1000 )) ;;
        *M|*m) echo $(( ${s%?} * 1000000 )) ;;
        *) echo "$s" ;;
    esac
}

# ---------------------------------------------------------------- run
log "scratch $WORK, data $DATA"
pg_init
for size in ${SIZES//,/ }; do
    n=$(records_of "$size")
    csv=$DATA/sltd-$size.csv
    idx=$DATA/sltd-$size.sltd
    if [ ! -s "$csv" ]; then
        log "[$size] generating $n records"
        "$SLTD" gen --records "$n" --seed 1 --output "$csv.tmp" && mv "$csv.tmp" "$csv"
    fi
    big=0; [ "$n" -gt 20000000 ] && big=1

    log "[$size] sltd index build"
    t0=$(now_ms)
    flock "$LOCK" "$SLTD" index build --input "$csv" --output "$idx" >/dev/null 2>"$WORK/build.err" \
        || { cat "$WORK/build.err" >&2; exit 1; }
    server_metric sltdd "$size" "$n" load_s "$(calc "($(now_ms) - $t0) / 1000")"

    if [ "$big" = 1 ]; then
        echo "[$size] in-process peers, Redis and PostgreSQL skipped: the harness loads them from an" \
             "in-memory deduplicated copy that does not fit this machine; sltd alone is measured" >&2
    else
        log "[$size] in-process peers"
        rc=0
        flock "$LOCK" "$PEERS" inproc --csv "$csv" --label "$size" --work "$WORK/inproc" \
            --rounds "$ROUNDS" --secs "$INPROC_SECS" --queries "$QUERIES" --hit-ratios "$HITS" \
            >> "$RESULTS" || rc=$?
        [ "$rc" = 0 ] || fail "[$size] in-process: exit $rc (3 = wrong answers)"
        rm -rf "$WORK/inproc"
    fi

    log "[$size] servers: load and ready"
    sb=128MB
    [ "$n" -ge 1000000 ] && sb=$(( n / 1000000 * 200 + 256 ))MB
    if [ "$big" = 0 ]; then
        pg_start "$sb"
        runuser -u postgres -- "$PGBIN/psql" -h "$WORK/pg/sock" -p $PG_PORT -U sltd -d postgres -qc \
            "DROP DATABASE IF EXISTS sltd" -c "CREATE DATABASE sltd" >/dev/null
        out=$(flock "$LOCK" "$PEERS" pg-load --addr 127.0.0.1:$PG_PORT --csv "$csv")
        server_metric PostgreSQL "$size" "$n" load_s "$(jq .load_s <<< "$out")"
        server_metric PostgreSQL "$size" "$n" disk_bytes_per_record "$(jq ".total_bytes / $n" <<< "$out")"
        pg_stop
        t0=$(now_ms); pg_start "$sb"; "$PEERS" pg-ready --addr 127.0.0.1:$PG_PORT
        server_metric PostgreSQL "$size" "$n" ready_ms $(( $(now_ms) - t0 ))

        start_redis
        out=$(flock "$LOCK" "$PEERS" redis-load --addr 127.0.0.1:$REDIS_PORT --csv "$csv")
        load=$(jq .load_s <<< "$out")
        server_metric Redis "$size" "$n" load_s "$load"
        # No persistence: a restarted Redis is ready once reloaded.
        server_metric Redis "$size" "$n" ready_ms "$(calc "$READY_MS + $load * 1000")"
    fi
    start_sltdd "$idx"
    server_metric sltdd "$size" "$n" ready_ms "$READY_MS"

    for hit in ${HITS//,/ }; do
        keys=$WORK/keys-$size-$hit.bin
        [ "$big" = 1 ] || "$PEERS" keys --csv "$csv" --seed $SEED --hit-ratio "$hit" --out "$keys" 2>/dev/null
        for (( round = 0; round < ROUNDS; round++ )); do
            log "[$size] hit ratio $hit, round $((round + 1))/$ROUNDS"
            order=(sltdd Redis PostgreSQL)
            [ "$big" = 1 ] && order=(sltdd)
            k=$(( round % ${#order[@]} ))
            order=("${order[@]:$k}" "${order[@]:0:$k}")
            if (( round % 2 == 1 )); then order=($(printf '%s\n' "${order[@]}" | tac)); fi
            net_case "{\"part\":\"net\",\"size\":\"$size\",\"hit_ratio\":$hit,\"round\":$round,\"peer\":\"TCP ping-pong\",\"mode\":\"pingpong\",\"concurrency\":1}" \
                "$SLTD" loadgen --tcp-pingpong --concurrency 1 --duration "$DURATION" --warmup "$WARMUP" --json
            for peer in "${order[@]}"; do
                case $peer in
                    sltdd) run_sltdd_cases "$size" "$hit" "$round" "$csv" ;;
                    Redis) run_kv_cases redis Redis "$size" "$hit" "$round" "$keys" get mget pipeline ;;
                    PostgreSQL) run_kv_cases pg PostgreSQL "$size" "$hit" "$round" "$keys" single batch ;;
                esac
            done
        done
    done

    log "[$size] resident memory after the runs"
    server_memory sltdd "$size" "$n" "$(pss_kb "$SLTDD_PID")"
    if [ "$big" = 0 ]; then
        server_memory Redis "$size" "$n" "$(pss_kb "$REDIS_PID")"
        server_memory PostgreSQL "$size" "$n" "$(pg_memory_kb)" "\"shared_buffers\":\"$sb\""
        stop_redis; pg_stop
    fi
    stop_sltdd
    rm -f "$WORK"/keys-"$size"-*.bin
done

# ---------------------------------------------------------------- report
log "report"
{
    echo "{"
    echo "\"date\": \"$(date -u +%Y-%m-%d)\","
    echo "\"command\": $(jq -Rn --arg c "$CMDLINE" '$c'),"
    echo "\"smoke\": $SMOKE,"
    echo "\"kernel\": \"$(uname -r)\","
    echo "\"cpu\": $(lscpu | jq -Rs .),"
    echo "\"redis\": \"$(redis-server --version | awk '{print $3}' | sed 's/v=//')\","
    echo "\"postgres\": \"$("$PGBIN/postgres" --version | awk '{print $3}')\","
    echo "\"rounds\": $ROUNDS, \"duration_s\": $DURATION, \"loadavg\": \"$(cut -d' ' -f1-3 /proc/loadavg)\""
    echo "}"
} > "$WORK/meta.json"
if [ "$SMOKE" = 1 ] || [ "${PEERS_NO_DOCS:-0}" = 1 ]; then
    md=$WORK/BENCHMARKS.md charts=$WORK/charts
else
    md=$ROOT/docs/BENCHMARKS.md charts=$ROOT/docs/charts
    mkdir -p "$ROOT/bench-data"
    cp "$RESULTS" "$ROOT/bench-data/peers-results.jsonl"
fi
"$PEERS" report --results "$RESULTS" --md "$md" --charts "$charts" --meta "$WORK/meta.json"
[ "$SMOKE" = 1 ] && ls "$charts" >&2

if [ -s "$FAILURES" ]; then
    echo >&2
    echo "run.sh: $(wc -l < "$FAILURES") failed cases:" >&2
    cat "$FAILURES" >&2
    exit 1
fi
echo "run.sh: every answer matched the ground truth ($(wc -l < "$RESULTS") results)" >&2
