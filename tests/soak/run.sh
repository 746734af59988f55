#!/usr/bin/env bash
# The soak (issue 15): messages at a steady rate through a three-hop production while the
# engine and its worker processes are killed with kill -9 at random, the receiver goes
# down and comes back, and the pack is swapped. Then it checks that every message the
# engine acknowledged was delivered, counts the duplicates (at-least-once: a resend after
# a kill), and checks that the engine's memory and open descriptors stayed flat. Exits 1
# when a check fails; prints figures either way. Not part of `cargo test`.
#
#   tests/soak/run.sh                              an hour at 1,000 msg/s (release build first)
#   SOAK_SECONDS=180 SOAK_RATE=200 HIE_PROFILE=debug SKIP_BUILD=1 tests/soak/run.sh
#                                                  the three-minute version tests/run-all.sh runs
#
# Production: In (EnsLib.HL7.Service.TCPService) → Work (HIE.Test.Probe, multi_process,
# 2 workers) → Out (EnsLib.HL7.Operation.TCPOperation) → `hie-bench sink --ids-file`.
# The sender (`hie-bench soak-send`) resends a message until it is accepted (AA, or CA:
# the service's commit ACK to a v2.4 message under UseAckCommitCodes=1) and logs every
# accepted id; the sink logs every id it receives before it ACKs.
#
# Events, one every SOAK_EVENT_EVERY seconds (± half), in a shuffled cycle:
#   kill-engine    kill -9 of hie, then a restart on the same data directory
#   kill-worker    kill -9 of one of Work's worker processes (the engine restarts it)
#   receiver       the sink killed, down for 5 s, started again (Out queues and retries)
#   swap           the probe pack replaced by its other build (hot reload, under load)
#
# Checks: lost = acknowledged ids missing at the sink after the drain (must be 0); RSS
# of the last engine process from its first sample 30 s after start (and 10 s after the
# last event: a swapped-in pack stays mapped, by design) to its last, within
# 10% (+ 8 MiB for allocator noise at small sizes); open descriptors of that process, its
# first and last sample within 16 of each other.
#
# Environment: SOAK_SECONDS [3600], SOAK_RATE [1000], SOAK_CONNECTIONS [4],
# SOAK_EVENT_EVERY [30], SOAK_DURABILITY [fsync]; BENCH_DIR, BENCH_KEEP, HIE_PROFILE,
# SKIP_BUILD as for the benchmarks (tests/bench/lib.sh).
set -euo pipefail

BENCH_NAME=soak
. "$(dirname "${BASH_SOURCE[0]}")/../bench/lib.sh"

SECONDS_TOTAL=${SOAK_SECONDS:-3600}
RATE=${SOAK_RATE:-1000}
CONNS=${SOAK_CONNECTIONS:-4}
EVERY=${SOAK_EVENT_EVERY:-30}
DURABILITY=${SOAK_DURABILITY:-fsync}

build_probe v1 "$WORK/probe-v1"
build_probe v2 "$WORK/probe-v2"
PLUGINS=$WORK/plugins
mkdir -p "$PLUGINS"
cp "$WORK/probe-v1/libhie_pack_probe.so" "$PLUGINS/"
PACK=v1

IN_PORT=$("$BENCH" free-port)
SINK_PORT=$("$BENCH" free-port)
API=127.0.0.1:$("$BENCH" free-port)
DATA=$WORK/data
ACKED=$WORK/acked.ids
SINK_IDS=$WORK/sink.ids
STATS=$WORK/stats.tsv
: >"$ACKED"
: >"$SINK_IDS"
printf 'lifetime\tsecond\trss_kib\tfds\tanon_kib\tfile_kib\n' >"$STATS"
cat >"$WORK/soak.yaml" <<EOF
name: Soak
durability: $DURABILITY
items:
  - id: In
    class: EnsLib.HL7.Service.TCPService
    adapter_settings: {Port: $IN_PORT}
    host_settings: {TargetConfigNames: Work}
  - id: Work
    class: HIE.Test.Probe
    execution_mode: multi_process
    concurrency: 2
    host_settings: {TargetConfigNames: Out}
  - id: Out
    class: EnsLib.HL7.Operation.TCPOperation
    adapter_settings: {IPAddress: 127.0.0.1, Port: $SINK_PORT}
    host_settings: {RetryInterval: 1}
EOF

start_sink() {
    "$BENCH" sink --port "$SINK_PORT" --ids-file "$SINK_IDS" >>"$WORK/sink.log" 2>&1 &
    SINK_PID=$!
    PIDS+=("$SINK_PID")
    wait_port "$SINK_PORT"
}

LIFETIME=0
LIFE_START=0
LAST_EVENT_AT=0
start_engine() {
    start_hie "$WORK/soak.yaml" "$DATA" "$API" --plugins "$PLUGINS"
    LIFETIME=$((LIFETIME + 1))
    LIFE_START=$(date +%s)
}

# sample: one line of the engine's RSS and open descriptors into $STATS.
sample() {
    local rss anon file fds
    read -r rss anon file < <(awk '/^VmRSS:/ { r = $2 } /^RssAnon:/ { a = $2 } /^RssFile:/ { f = $2 }
        END { print r + 0, a + 0, f + 0 }' "/proc/$HIE_PID/status" 2>/dev/null || echo 0 0 0)
    fds=$(find "/proc/$HIE_PID/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$LIFETIME" "$(($(date +%s) - LIFE_START))" "${rss:-0}" "$fds" "${anon:-0}" "${file:-0}" >>"$STATS"
}

workers() { cat /proc/"$HIE_PID"/task/*/children 2>/dev/null || true; }

start_sink
start_engine
log "soak: ${SECONDS_TOTAL}s at $RATE msg/s over $CONNS connections, an event every ~${EVERY}s; work $WORK"
"$BENCH" soak-send --port "$IN_PORT" --rate "$RATE" --seconds "$SECONDS_TOTAL" --connections "$CONNS" \
    --acked-file "$ACKED" >"$WORK/sender.json" 2>"$WORK/sender.log" &
SENDER=$!
PIDS+=("$SENDER")
END=$(($(date +%s) + SECONDS_TOTAL))

events=(kill-engine kill-worker receiver swap)
declare -A done_events=()
next_event=$(($(date +%s) + EVERY / 2 + RANDOM % (EVERY + 1)))
cycle=()
while kill -0 "$SENDER" 2>/dev/null; do
    sleep 2
    sample
    now=$(date +%s)
    ((now >= next_event)) || continue
    # No chaos in the last 45 s, so the last engine lifetime is long enough to measure.
    ((now + 45 < END)) || continue
    ((${#cycle[@]} > 0)) || mapfile -t cycle < <(printf '%s\n' "${events[@]}" | shuf)
    event=${cycle[0]}
    cycle=("${cycle[@]:1}")
    case $event in
        kill-engine)
            kill -9 "$HIE_PID" 2>/dev/null || true
            wait "$HIE_PID" 2>/dev/null || true
            start_engine
            ;;
        kill-worker)
            w=$(workers | tr ' ' '\n' | grep . | shuf -n 1 || true)
            [[ -n $w ]] && kill -9 "$w" 2>/dev/null || true
            ;;
        receiver)
            kill -9 "$SINK_PID" 2>/dev/null || true
            wait "$SINK_PID" 2>/dev/null || true
            sleep 5
            start_sink
            ;;
        swap)
            if [[ $PACK == v1 ]]; then PACK=v2; else PACK=v1; fi
            cp "$WORK/probe-$PACK/libhie_pack_probe.so" "$PLUGINS/.probe.tmp"
            mv "$PLUGINS/.probe.tmp" "$PLUGINS/libhie_pack_probe.so"
            ;;
    esac
    done_events[$event]=$((${done_events[$event]:-0} + 1))
    # Seconds into the engine's lifetime of the last event: a pack swap maps a new pack
    # for good (shared libraries are never unloaded), so memory is measured after it.
    LAST_EVENT_AT=$(($(date +%s) - LIFE_START))
    [[ $event == kill-engine ]] && LAST_EVENT_AT=0
    log "event: $event (engine lifetime $LIFETIME, $(wc -l <"$ACKED") acknowledged so far)"
    next_event=$(($(date +%s) + EVERY / 2 + RANDOM % (EVERY + 1)))
done
wait "$SENDER" || die "the sender failed: $(tail -n 5 "$WORK/sender.log")"
sample

# Drain: every acknowledged id at the sink (at most two minutes).
acked_n=$(sort -u "$ACKED" | wc -l)
for ((i = 0; i < 600; i++)); do
    missing=$(comm -23 <(sort -u "$ACKED") <(sort -u "$SINK_IDS") | wc -l)
    ((missing == 0)) && break
    sleep 0.2
done
sample
missing=$(comm -23 <(sort -u "$ACKED") <(sort -u "$SINK_IDS") | wc -l)
received=$(wc -l <"$SINK_IDS")
unique=$(sort -u "$SINK_IDS" | wc -l)
duplicates=$((received - unique))

# Memory and descriptors of the last engine process, from 30 s after its start.
from=$((LAST_EVENT_AT + 10 > 30 ? LAST_EVENT_AT + 10 : 30))
read -r rss0 rss1 fd0 fd1 n anon0 anon1 < <(awk -F'\t' -v l="$LIFETIME" -v from="$from" 'NR > 1 && $1 == l && $2 >= from {
    if (!seen) { r0 = $3; f0 = $4; a0 = $5; seen = 1 } r1 = $3; f1 = $4; a1 = $5; n++ }
    END { print r0 + 0, r1 + 0, f0 + 0, f1 + 0, n + 0, a0 + 0, a1 + 0 }' "$STATS")
rss_ok=yes
fd_ok=yes
if ((n >= 2)); then
    awk -v a="$rss0" -v b="$rss1" 'BEGIN { exit !(b <= a * 1.10 + 8192) }' || rss_ok=no
    ((fd1 <= fd0 + 16)) || fd_ok=no
else
    rss_ok="not measured (the last engine ran under 30 s)"
    fd_ok=$rss_ok
fi

echo
echo "== soak: ${SECONDS_TOTAL}s at $RATE msg/s, durability $DURABILITY, $(nproc) cores, $(date -u +%FT%TZ)"
echo "   sender: $(cat "$WORK/sender.json")"
echo "   events: $(for e in "${!done_events[@]}"; do printf '%s %s, ' "$e" "${done_events[$e]}"; done) engine lifetimes $LIFETIME"
echo "   acknowledged $acked_n, received $received ($unique distinct, $duplicates duplicates), lost $missing"
echo "   last engine, from ${from}s into its life: RSS ${rss0} → ${rss1} KiB (anonymous ${anon0} → ${anon1}), descriptors ${fd0} → ${fd1} over $n samples: RSS flat $rss_ok, descriptors flat $fd_ok"
status=0
((missing == 0)) || { echo "FAIL: $missing acknowledged messages were never delivered"; comm -23 <(sort -u "$ACKED") <(sort -u "$SINK_IDS") | head -5; status=1; }
[[ $rss_ok != no ]] || { echo "FAIL: the engine's RSS grew more than 10%"; status=1; }
[[ $fd_ok != no ]] || { echo "FAIL: the engine's open descriptors grew"; status=1; }
((acked_n > 0)) || { echo "FAIL: nothing was acknowledged"; status=1; }
exit $status
