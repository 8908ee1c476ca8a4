#!/usr/bin/env bash
# Three sltdd replicas behind HAProxy, each fed by its own sltd-sync from one
# feed, on loopback; `sltd loadgen` drives checks through the balancer while
# the replicas are restarted one at a time, updated to a new generation, and
# one is killed. Shows what a client sees in each case.
#
#   bash deploy/cluster/run.sh                      # binaries from PATH
#   SLTD_BIN=target/release bash deploy/cluster/run.sh
#
# Phases, each under load (half hits, every verdict checked):
#   1. rolling restart: SIGTERM each replica in turn, start it again, wait
#      until the balancer has it back (SERVING);        must fail no check
#   2. a new feed publication installed by sltd-sync on every replica;
#                                                       must fail no check
#   3. SIGKILL of one replica, plain client: the checks in flight on it fail
#   4. SIGKILL of one replica, client with deploy/cluster/service-config.json
#      (retry on UNAVAILABLE);     must fail no check but those committed:
#      a check whose answer had begun to arrive when the replica died cannot
#      be retried (gRFC A6, in every gRPC client) and fails UNKNOWN; at
#      most the checks in flight at the kill may.
#
# Environment: SLTD_BIN (directory of sltd, sltdd, sltd-sync), SLTD_CLUSTER_PORTS
# (nine free TCP ports: balancer, balancer stats, feed, three gRPC, three
# admin; default 56050-56058), SLTD_CLUSTER_WORK (work directory, default a
# new temporary one, removed at the end), SLTD_CLUSTER_RECORDS (default 20000),
# SLTD_CLUSTER_RATE (checks per second in phases 1 and 2, default 300),
# SLTD_CLUSTER_SHUTDOWN_DELAY_MS (overrides deploy/cluster/sltdd.toml, e.g. 0
# to see a rolling restart without it). Needs haproxy and curl.
#
# The last line is a summary, `cluster: ...`, and the exit status is 0 only
# when the phases that must fail no check did not.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
BIN=${SLTD_BIN:+$(cd "$SLTD_BIN" && pwd)/}
RECORDS=${SLTD_CLUSTER_RECORDS:-20000}
RATE=${SLTD_CLUSTER_RATE:-300}
read -r -a PORTS <<< "${SLTD_CLUSTER_PORTS:-56050 56051 56052 56053 56054 56055 56056 56057 56058}"
if [ "${#PORTS[@]}" -ne 9 ]; then
    echo "run.sh: SLTD_CLUSTER_PORTS must list 9 ports" >&2
    exit 2
fi
LB=127.0.0.1:${PORTS[0]}
STATS=127.0.0.1:${PORTS[1]}
FEED_ADDR=127.0.0.1:${PORTS[2]}
GRPC=(127.0.0.1:${PORTS[3]} 127.0.0.1:${PORTS[4]} 127.0.0.1:${PORTS[5]})
ADMIN=(127.0.0.1:${PORTS[6]} 127.0.0.1:${PORTS[7]} 127.0.0.1:${PORTS[8]})

for tool in haproxy curl; do
    command -v "$tool" >/dev/null || { echo "run.sh: $tool is needed (apt-get install $tool)" >&2; exit 2; }
done
for prog in sltd sltdd sltd-sync; do
    command -v "${BIN}$prog" >/dev/null || { echo "run.sh: ${BIN}$prog not found (set SLTD_BIN)" >&2; exit 2; }
done

if [ -n "${SLTD_CLUSTER_WORK:-}" ]; then
    WORK=$SLTD_CLUSTER_WORK
    mkdir -p "$WORK"
    KEEP_WORK=1
else
    WORK=$(mktemp -d -t sltd-cluster-XXXXXX)
    KEEP_WORK=0
fi

# Every background process, by pid, stopped at the end whatever happens.
declare -A PID=()
cleanup() {
    for name in "${!PID[@]}"; do
        kill -TERM "${PID[$name]}" 2>/dev/null || true
    done
    for name in "${!PID[@]}"; do
        wait "${PID[$name]}" 2>/dev/null || true
    done
    if [ "$KEEP_WORK" = 0 ]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT

say() { echo "cluster: $*" >&2; }
fail() { say "FAILED: $*"; exit 1; }

# Polls `$@` every 100 ms until it succeeds, for at most $1 seconds.
wait_for() {
    local secs=$1 what=$2; shift 2
    local deadline=$((SECONDS + secs))
    until "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -lt "$deadline" ] || fail "gave up after ${secs}s waiting for $what"
        sleep 0.1
    done
}

# The balancer's view of replica r$1 (UP, DOWN, ...), from its stats CSV.
lb_status() {
    curl -fsS "http://$STATS/stats;csv" | awk -F, -v s="r$1" '$1 == "sltdd" && $2 == s { print $18 }'
}
lb_is() { [ "$(lb_status "$1")" = "$2" ]; }
ready() { curl -fsS "http://${ADMIN[$1]}/readyz"; }
serves_sequence() { curl -fsS "http://${ADMIN[$1]}/status" | grep -q "\"sequence\":$2[,}]"; }

# --- data and feed ------------------------------------------------------
say "work directory $WORK"
"${BIN}sltd" gen --records "$RECORDS" --output "$WORK/first.csv" >/dev/null 2>&1
# The next export lists 50 more documents: every check of the load has the
# same verdict before, during and after the switch.
cp "$WORK/first.csv" "$WORK/second.csv"
for i in $(seq 1 50); do
    printf 'UTO,P,QQZ%09d,stolen,2026-11-01,CLUSTER-%d\n' "$i" "$i" >> "$WORK/second.csv"
done
for k in feed root-1 root-2; do "${BIN}sltd" feed keygen --output "$WORK/$k.key" >/dev/null; done
"${BIN}sltd" feed init --dir "$WORK/FEED" --key "$WORK/feed.key" \
    --root-key "$WORK/root-1.key" --root-key "$WORK/root-2.key" --name cluster >/dev/null
cp "$WORK/FEED/1.root.json" "$WORK/trust.json"
"${BIN}sltd" feed publish --dir "$WORK/FEED" --key "$WORK/feed.key" --input "$WORK/first.csv" --snapshot >/dev/null
"${BIN}sltd" feed serve --dir "$WORK/FEED" --listen "$FEED_ADDR" >"$WORK/feed.out" 2>&1 &
PID[feed]=$!
wait_for 30 "the feed server" curl -fsS "http://$FEED_ADDR/checkpoint.json"

CONFIG=$HERE/sltdd.toml
if [ -n "${SLTD_CLUSTER_SHUTDOWN_DELAY_MS:-}" ]; then
    sed "s/^shutdown_delay_ms = .*/shutdown_delay_ms = $SLTD_CLUSTER_SHUTDOWN_DELAY_MS/" "$CONFIG" > "$WORK/sltdd.toml"
    CONFIG=$WORK/sltdd.toml
fi

sync_replica() {
    "${BIN}sltd-sync" --feed "http://$FEED_ADDR" --data-dir "$WORK/r$1/data" \
        --trust "$WORK/trust.json" run >>"$WORK/r$1/sync.log" 2>&1 \
        || fail "sltd-sync for replica r$1 (see $WORK/r$1/sync.log)"
}

start_replica() {
    local i=$1
    "${BIN}sltdd" --config "$CONFIG" --data-dir "$WORK/r$i/data" \
        --listen "${GRPC[$((i - 1))]}" --admin-listen "${ADMIN[$((i - 1))]}" \
        --worker-threads 1 --audit-log "$WORK/r$i/audit.jsonl" \
        >>"$WORK/r$i/sltdd.out" 2>>"$WORK/r$i/sltdd.log" &
    PID[r$i]=$!
    wait_for 120 "replica r$i to be ready" ready $((i - 1))
}

for i in 1 2 3; do
    mkdir -p "$WORK/r$i"
    sync_replica "$i"
    start_replica "$i"
done

SLTD_LB_LISTEN=$LB SLTD_LB_STATS=$STATS \
SLTD_REPLICA_1=${GRPC[0]} SLTD_REPLICA_2=${GRPC[1]} SLTD_REPLICA_3=${GRPC[2]} \
    haproxy -db -f "$HERE/haproxy.cfg" >"$WORK/haproxy.log" 2>&1 &
PID[haproxy]=$!
for i in 1 2 3; do wait_for 30 "the balancer to have r$i UP" lb_is "$i" UP; done
say "3 replicas behind the balancer on $LB (stats http://$STATS/stats)"

# --- load ---------------------------------------------------------------
# Starts `sltd loadgen` through the balancer for phase $1 with more flags.
start_load() {
    local phase=$1; shift
    "${BIN}sltd" loadgen --server "http://$LB" --keys "$WORK/first.csv" \
        --duration 3600 --warmup 0 --hit-ratio 0.5 --connections 2 --threads 1 \
        --timeout 10 --json "$@" >"$WORK/$phase.json" 2>"$WORK/$phase.err" &
    PID[load]=$!
    wait_for 60 "the load of $phase to start" grep -q "Ctrl-C stops early" "$WORK/$phase.err"
    # Let it reach the replicas before anything happens.
    sleep 1
}

# Stops the load (Ctrl-C: it reports what it measured).
stop_load() {
    kill -INT "${PID[load]}"
    wait "${PID[load]}" || true
    unset 'PID[load]'
}
# Field $2 of phase $1's report (the first number of that name), or nothing.
field() { { grep -o "\"$2\":[0-9]*" "$WORK/$1.json" || true; } | head -1 | cut -d: -f2; }
# Failures by status code, `UNAVAILABLE 2, UNKNOWN 1`, from errors_by_kind.
kinds() { grep -o '"errors_by_kind":{[^}]*}' "$WORK/$1.json" | cut -d'{' -f2 | tr -d '"}' | sed 's/:/ /g; s/,/, /g'; }
first_error() { grep -o '"first_error":"[^"]*"' "$WORK/$1.json" | cut -d'"' -f4; }
report() {
    local phase=$1
    [ -s "$WORK/$phase.json" ] || fail "$phase: the load generator printed no report ($(cat "$WORK/$phase.err"))"
    local requests errors unavailable unknown mismatches retries in_flight
    requests=$(field "$phase" requests)
    errors=$(field "$phase" errors)
    unavailable=$(field "$phase" UNAVAILABLE)
    unknown=$(field "$phase" UNKNOWN)
    mismatches=$(field "$phase" mismatches)
    retries=$(field "$phase" retries)
    # A closed loop's checks in flight (none reported for an open loop).
    in_flight=$(field "$phase" concurrency)
    echo "$phase requests=$requests errors=$errors unavailable=${unavailable:-0} unknown=${unknown:-0} mismatches=$mismatches retries=$retries in_flight=${in_flight:-0}"
    local detail=""
    if [ "$errors" != 0 ]; then detail=" ($(kinds "$phase")); first error: $(first_error "$phase")"; fi
    say "$phase: $requests checks, $errors failed, $mismatches wrong verdicts, $retries retried$detail"
}

SUMMARY=()

# 1. Rolling restart.
start_load rolling-restart --rate "$RATE"
for i in 1 2 3; do
    kill -TERM "${PID[r$i]}"
    wait "${PID[r$i]}" || fail "replica r$i exited with $? on SIGTERM (see $WORK/r$i/sltdd.log)"
    start_replica "$i"
    wait_for 60 "the balancer to have r$i back UP" lb_is "$i" UP
    say "r$i restarted"
done
stop_load
SUMMARY+=("$(report rolling-restart)")

# 2. A new generation on every replica.
start_load new-generation --rate "$RATE"
"${BIN}sltd" feed publish --dir "$WORK/FEED" --key "$WORK/feed.key" --input "$WORK/second.csv" >/dev/null
for i in 1 2 3; do
    sync_replica "$i"
    wait_for 60 "r$i to serve sequence 2" serves_sequence $((i - 1)) 2
    say "r$i serves sequence 2"
done
stop_load
SUMMARY+=("$(report new-generation)")

# 3 and 4. SIGKILL, without and with the retry policy. A closed loop keeps
# checks in flight on every replica at the moment of the kill.
IN_FLIGHT=8
kill_phase() {
    local phase=$1; shift
    start_load "$phase" --concurrency "$IN_FLIGHT" "$@"
    kill -KILL "${PID[r2]}"
    wait "${PID[r2]}" 2>/dev/null || true
    unset 'PID[r2]'
    wait_for 30 "the balancer to take r2 out" lb_is 2 DOWN
    sleep 1
    stop_load
    SUMMARY+=("$(report "$phase")")
    start_replica 2
    wait_for 60 "the balancer to have r2 back UP" lb_is 2 UP
}
kill_phase sigkill-plain
kill_phase sigkill-retry --service-config "$HERE/service-config.json"

# --- verdict ------------------------------------------------------------
status=0
value() { sed "s/.* $1=\([0-9]*\).*/\1/" <<< "$2"; }
for line in "${SUMMARY[@]}"; do
    phase=${line%% *}
    [ "$(value mismatches "$line")" = 0 ] || { say "$phase: wrong verdicts"; status=1; }
    case $phase in
        sigkill-plain) ;;
        sigkill-retry)
            errors=$(value errors "$line")
            unknown=$(value unknown "$line")
            [ "$(value unavailable "$line")" = 0 ] || { say "$phase: UNAVAILABLE checks were not retried"; status=1; }
            if [ "$errors" != "$unknown" ] || [ "$unknown" -gt "$(value in_flight "$line")" ]; then
                say "$phase: failed checks beyond those in flight at the kill"; status=1
            elif [ "$errors" != 0 ]; then
                say "$phase: $errors checks whose answer was under way when the replica died failed (committed: gRFC A6)"
            fi
            ;;
        *) [ "$(value errors "$line")" = 0 ] || { say "$phase: failed checks"; status=1; } ;;
    esac
done
echo "cluster: ${SUMMARY[*]}"
exit $status
