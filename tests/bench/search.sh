#!/usr/bin/env bash
# Message search at volume (issue 3: "fast at 1 million messages"). Prints figures; it never
# fails on a figure, only on a broken run.
#
#   tests/bench/search.sh                   full run (release build of the workspace and the probe pack first)
#   SKIP_BUILD=1 tests/bench/search.sh      reuse target/release (the probe pack is still built: seconds)
#   SMOKE=1 tests/bench/search.sh           tiny counts (figures meaningless): the harness still works
#
# 1. Fill: production In (TCPService) → Work (HIE.Test.Probe, async, trivial) → Out
#    (TCPOperation) → `hie-bench sink`, process durability. Every message leaves 3 headers
#    (In, Work, Out) and 2 bodies (the original and the probe's copy with a ZPR segment).
#    Messages go in chunks of SEARCH_CHUNK (16 connections, closed loop), each chunk waiting
#    until the previous one is delivered (bounded queues). Every chunk also sends
#    SEARCH_ERRORS messages with FAIL in MSH-10, which the probe fails (status Error at Work;
#    they never reach Out). Half way through, one message with MSH-10 NEEDLE-0-0 is sent and
#    the time noted (MID). Filling stops at SEARCH_MESSAGES or after SEARCH_MAX_FILL_SECONDS;
#    the count reached is printed.
# 2. Queries, each SEARCH_REPEAT times on the idle engine (the indexer has caught up after the
#    first), median and first of the wall time (curl, including HTTP) and of the API's own
#    elapsed_ms (which includes the read barrier: the search waits until the warehouse has
#    every committed write):
#      control_id=NEEDLE-0-0 · item=Out&since=MID · status=Error · type=ADT^A01 ·
#      field=PID-3.1&value=10000000 (indexed, the default SearchFields; every chunk's first message) · GET /api/sessions/<needle's session>
#    and, for information: item=Work&status=Error · since=MID&until=MID+1s · an unindexed
#    field (PV1-19.1 = a visit number no message has: parses bodies, newest first, reads its
#    whole bound of 200,000 rows) · GET /api/messages/<id>
#    · GET /api/journal (counts rows) · control_id=NEEDLE-0-0 while a chunk is being sent
#    (the read barrier then waits for the indexer's backlog). All with limit 100.
#
# Environment (defaults in brackets; SMOKE=1 lowers them):
#   SEARCH_MESSAGES [1000000]  SEARCH_CHUNK [50000]  SEARCH_CONNECTIONS [16]  SEARCH_ERRORS [50] (per chunk)
#   SEARCH_MAX_FILL_SECONDS [1500]  SEARCH_REPEAT [7]
#   BENCH_DIR [mktemp], BENCH_KEEP [0], BENCH_HIE_LOG [warn], HIE_PROFILE [release], SKIP_BUILD [0]
#
# Disk: about 5.5 KB of journal per message (5-6 GB for a million). Needs curl and jq.
set -euo pipefail

BENCH_NAME=search
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [[ $SMOKE == 1 ]]; then
    d_messages=3000 d_chunk=1000 d_errors=5 d_repeat=3
else
    d_messages=1000000 d_chunk=50000 d_errors=50 d_repeat=7
fi
TARGET_MESSAGES=${SEARCH_MESSAGES:-$d_messages}
CHUNK=${SEARCH_CHUNK:-$d_chunk}
CONNS=${SEARCH_CONNECTIONS:-16}
ERRS=${SEARCH_ERRORS:-$d_errors}
MAX_FILL=${SEARCH_MAX_FILL_SECONDS:-1500}
REPEAT=${SEARCH_REPEAT:-$d_repeat}

need curl
need jq

build_probe bench "$WORK/probe"

median() { tr ' ' '\n' | grep -E '^[0-9.]+$' | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# ---- the engine -------------------------------------------------------------------------------
IN_PORT=$("$BENCH" free-port)
SINK_PORT=$("$BENCH" free-port)
API=127.0.0.1:$("$BENCH" free-port)
DATA=$WORK/data
cat >"$WORK/search.yaml" <<EOF
name: Search
description: hie-bench journal search at volume (MLLP in, HIE.Test.Probe, MLLP out to hie-bench sink)
durability: process
items:
  - id: In
    class: EnsLib.HL7.Service.TCPService
    adapter_settings: {Port: $IN_PORT}
    host_settings: {TargetConfigNames: Work}
  - id: Work
    class: HIE.Test.Probe
    host_settings: {TargetConfigNames: Out}
  - id: Out
    class: EnsLib.HL7.Operation.TCPOperation
    adapter_settings: {IPAddress: 127.0.0.1, Port: $SINK_PORT}
    host_settings: {RetryInterval: 1}
EOF
start_server sink sink "$SINK_PORT"
SINK_PID=$SERVER_PID
start_hie "$WORK/search.yaml" "$DATA" "$API" --plugins "$WORK/probe"

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
log "work directory $WORK ($(df -h --output=avail "$WORK" | tail -n 1 | tr -d ' ') free); hie pid $HIE_PID; target $TARGET_MESSAGES messages in chunks of $CHUNK; load average $LOAD_START"

# send RUN_ID COUNT CONNECTIONS: closed-loop load; sets ACKED.
LOAD_ERRORS=0
send() {
    "$BENCH" load --port "$IN_PORT" --connections "$3" --messages "$2" --run-id "$1" >"$WORK/$1.json" || die "load $1"
    local e
    e=$(j "$WORK/$1.json" errors)
    [[ $e == 0 ]] || log "$1: $e errors; first: $(j "$WORK/$1.json" first_error)"
    LOAD_ERRORS=$((LOAD_ERRORS + e))
    ACKED=$(j "$WORK/$1.json" acked)
}

wait_sink() {
    "$BENCH" wait-count --file "$WORK/sink.count" --count "$1" --timeout 1200 >/dev/null \
        || die "the sink never reached $1 (has $(cat "$WORK/sink.count"))"
}

# query NAME PATH: runs GET PATH once; appends "wall_ms api_ms rows" to $WORK/q-NAME
# (api_ms: a search's own elapsed_ms, "-" for other routes).
query() {
    local out=$WORK/q-$1.last t api=-
    t=$(curl -sf --max-time 120 -o "$out" -w '%{time_total}' "http://$API$2") || die "GET $2"
    [[ $2 == /api/messages\?* ]] && api=$(jq '.elapsed_ms * 100 | round / 100' "$out")
    echo "$(awk -v t="$t" 'BEGIN { printf "%.2f", t * 1000 }') $api $(jq '.count // 1' "$out")" >>"$WORK/q-$1"
}

# ---- 1. fill ---------------------------------------------------------------------------------
CHUNKS=$(((TARGET_MESSAGES + CHUNK - 1) / CHUNK))
MID_CHUNK=$((CHUNKS / 2))
SENT=0        # messages that reach the sink
FAILED=0      # FAIL messages (end at Work)
DELIVERED_TARGET=0
MID_MS=""
fill_start=$("$BENCH" now-ms)
k=0
while ((SENT < TARGET_MESSAGES)); do
    elapsed=$(( ($("$BENCH" now-ms) - fill_start) / 1000 ))
    if ((elapsed >= MAX_FILL)); then
        log "fill: stopping after $elapsed s (SEARCH_MAX_FILL_SECONDS) with $SENT messages"
        break
    fi
    n=$((TARGET_MESSAGES - SENT))
    ((n > CHUNK)) && n=$CHUNK
    if ((k == CHUNKS - 1 && k > 0)); then
        # The last chunk: also time the control id lookup while the engine is busy.
        "$BENCH" load --port "$IN_PORT" --connections "$CONNS" --messages "$n" --run-id "C$k" >"$WORK/C$k.json" &
        lp=$!
        PIDS+=("$lp")
        sleep 1
        for ((i = 0; i < REPEAT; i++)); do
            query busy-control "/api/messages?control_id=NEEDLE-0-0"
            sleep 0.2
        done
        wait "$lp" || die "load C$k"
        acked=$(j "$WORK/C$k.json" acked)
        LOAD_ERRORS=$((LOAD_ERRORS + $(j "$WORK/C$k.json" errors)))
    else
        send "C$k" "$n" "$CONNS"
        acked=$ACKED
    fi
    SENT=$((SENT + acked))
    if ((ERRS > 0)); then
        send "FAIL$k" "$ERRS" 1
        FAILED=$((FAILED + ACKED))
    fi
    if ((k == MID_CHUNK)); then
        MID_MS=$("$BENCH" now-ms)
        send NEEDLE 1 1
        [[ $ACKED == 1 ]] || die "the needle was not ACKed"
        SENT=$((SENT + 1))
    fi
    # Bounded queues: wait until the previous chunk is delivered.
    wait_sink $((SENT - acked))
    now=$("$BENCH" now-ms)
    log "fill: chunk $k: $SENT messages ($FAILED failing), $(awk -v n="$SENT" -v a="$fill_start" -v b="$now" 'BEGIN { printf "%.0f", n / ((b - a) / 1000) }') msg/s so far, hie RSS $(($("$BENCH" rss --pid "$HIE_PID") / 1048576)) MiB, journal $(du -sm "$DATA" | cut -f1) MiB"
    k=$((k + 1))
done
[[ -n $MID_MS ]] || { MID_MS=$("$BENCH" now-ms); send NEEDLE 1 1; SENT=$((SENT + 1)); }
wait_sink "$SENT"
fill_end=$("$BENCH" now-ms)
FILL_S=$(awk -v a="$fill_start" -v b="$fill_end" 'BEGIN { printf "%.0f", (b - a) / 1000 }')
FILL_RATE=$(awk -v n="$SENT" -v a="$fill_start" -v b="$fill_end" 'BEGIN { printf "%.0f", n / ((b - a) / 1000) }')
RSS_FILLED=$("$BENCH" rss --pid "$HIE_PID")
log "fill: done, $SENT messages delivered + $FAILED failed in $FILL_S s ($FILL_RATE msg/s); load errors $LOAD_ERRORS"

# ---- 2. queries ------------------------------------------------------------------------------
# The first query also waits for the indexer to finish the backlog.
query journal "/api/journal"
HEADERS=$(jq '.headers' "$WORK/q-journal.last")
PENDING=$(jq '.pending' "$WORK/q-journal.last")
SINK_TOTAL=$(cat "$WORK/sink.count")
[[ $PENDING == 0 ]] || log "WARNING: $PENDING headers still Queued/Delivered after the fill (every message should be finished)"
((SINK_TOTAL == SENT)) || log "WARNING: the sink received $SINK_TOTAL messages for $SENT sent (duplicates: $((SINK_TOTAL - SENT)))"
BODIES=$(jq '.bodies' "$WORK/q-journal.last")
JBYTES=$(jq '.bytes' "$WORK/q-journal.last")
DISK_MB=$(du -sm "$DATA" | cut -f1)
query control "/api/messages?control_id=NEEDLE-0-0"
NEEDLE_SESSION=$(jq '.messages[0].session_id' "$WORK/q-control.last")
NEEDLE_ID=$(jq '.messages[0].id' "$WORK/q-control.last")
[[ $NEEDLE_SESSION =~ ^[0-9]+$ ]] || die "the needle was not found"
# PID-3.1 of every chunk's first message (and of the needle): one per chunk, spread over
# the whole journal. The unindexed search looks for a visit number that does not exist, so
# it reads its full bound of 200,000 rows (the worst case).
FIELD_VALUE=10000000
VISIT=V999999999
Q_NAMES=(control item-since status-error type field session)
Q_INFO=(item-status since-until unindexed show journal)
declare -A Q_PATH=(
    [control]="/api/messages?control_id=NEEDLE-0-0"
    [item-since]="/api/messages?item=Out&since=$MID_MS&limit=100"
    [status-error]="/api/messages?status=Error&limit=100"
    [type]="/api/messages?type=ADT%5EA01&limit=100"
    [field]="/api/messages?field=PID-3.1&value=$FIELD_VALUE&limit=100"
    [session]="/api/sessions/$NEEDLE_SESSION"
    [item-status]="/api/messages?item=Work&status=Error&limit=100"
    [since-until]="/api/messages?since=$MID_MS&until=$((MID_MS + 1000))&limit=100"
    [unindexed]="/api/messages?field=PV1-19.1&value=$VISIT&limit=100"
    [show]="/api/messages/$NEEDLE_ID"
    [journal]="/api/journal"
)
rm -f "$WORK/q-control" "$WORK/q-journal"
for ((r = 0; r < REPEAT; r++)); do
    for q in "${Q_NAMES[@]}" "${Q_INFO[@]}"; do
        query "$q" "${Q_PATH[$q]}"
    done
done
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
stop_pid "$HIE_PID"
stop_pid "$SINK_PID"

# ---- summary ----------------------------------------------------------------------------------
col() { awk -v c="$2" '{ print $c }' "$WORK/q-$1" | median; }
first() { awk -v c="$2" 'NR == 1 { print $c }' "$WORK/q-$1"; }
row() { printf '| %s | %s | %s | %s | %s |\n' "$@"; }
qrow() {
    row "\`${Q_PATH[$1]}\`" "$(col "$1" 1)" "$(col "$1" 2)" "$(first "$1" 1)" "$(col "$1" 3)"
}
echo
echo "## HIE message search: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, profile $PROFILE$([[ $SMOKE == 1 ]] && echo ', SMOKE (figures meaningless)')"
echo
echo "Load average (1/5/15 min) at start: $LOAD_START, before the queries: $LOAD_END."
echo
echo "Journal: **$SENT messages** delivered through In → Work → Out plus $FAILED failed at Work (MSH-10 FAIL…): **$HEADERS headers**, $BODIES bodies, $((JBYTES / 1048576)) MiB (database + WAL; data directory $DISK_MB MiB). Filled in $FILL_S s ($FILL_RATE msg/s, process durability, $CONNS connections, chunks of $CHUNK); load errors $LOAD_ERRORS; hie RSS after the fill $((RSS_FILLED / 1048576)) MiB. The sink received $SINK_TOTAL messages ($((SINK_TOTAL - SENT)) duplicates); headers still Queued/Delivered after the fill: $PENDING (expected 0)."
echo
echo "Each query $REPEAT times on the idle engine (limit 100); wall = curl time_total, API = the response's elapsed_ms (includes the read barrier)."
echo
row "Query" "Median wall ms" "Median API ms" "First wall ms" "Rows"
row "---" "---:" "---:" "---:" "---:"
for q in "${Q_NAMES[@]}"; do qrow "$q"; done
row "*information:*" "" "" "" ""
for q in "${Q_INFO[@]}"; do qrow "$q"; done
if [[ -s $WORK/q-busy-control ]]; then
    row "\`/api/messages?control_id=NEEDLE-0-0\` during the last chunk's load" "$(col busy-control 1)" "$(col busy-control 2)" "$(first busy-control 1)" "$(col busy-control 3)"
fi
echo
