#!/usr/bin/env bash
# Pack hot-reload benchmark (issue 6). Prints figures and ratios against a baseline measured
# in the same run; it never fails on a figure, only on a broken run.
#
#   tests/bench/reload.sh                   full run (release build of the workspace and probe packs v1, v2 first)
#   SKIP_BUILD=1 tests/bench/reload.sh      reuse target/release (the probe packs are still built: seconds)
#   SMOKE=1 tests/bench/reload.sh           tiny counts (figures meaningless): the harness still works
#
# Production: In (TCPService) → Work (HIE.Test.Probe, trivial) → Out (TCPOperation) →
# `hie-bench sink`. The probe pack is built twice (HIE_PROBE_VERSION=v1 and v2) and deployed
# the way operators should: copied to a temporary name in the plugin directory, then renamed
# over libhie_pack_probe.so (the engine's directory watch picks it up).
#
#  1. Swap under load, per execution mode of Work (RELOAD_MODES): open-loop
#     `hie-bench load --rate RELOAD_RATE` for RELOAD_SECONDS over RELOAD_CONNECTIONS
#     connections; RELOAD_SWAP_AT seconds in, v2 is renamed into place; the swap is done when
#     GET /api/production shows Work on the new pack_generation. Figures:
#     - ACK latency (the load tool: scheduled send → ACK; the ACK comes at intake commit, so
#       this does not include Work's processing): p50/p99/max, and p99 before the swap
#       (the baseline) against p99 of messages scheduled in the swap window
#       (rename → swap done + 1 s).
#     - End-to-end latency (scheduled send → Out finished delivering to the sink), from the
#       journal: every Out header of the run (GET /api/messages?item=Out, paged), its
#       processed_us against the message's scheduled send time (the load tool's start time
#       + seq / rate, seq being the last part of MSH-10). Same windows.
#     - Errors: the load tool's (NACKs, socket errors), Work's and Out's error counters, and
#       headers in Error. Loss: the sink's count against the messages ACKed (and distinct
#       control ids Completed at Out).
#     Targets: p99 ≤ 50 ms, zero errors, zero loss.
#  2. Memory per in-process reload (Work async, no load): hie's VmRSS before and after
#     RELOAD_SWAPS swaps alternating v2/v1, each waited for (new pack_generation); then
#     RELOAD_SWAPS more swaps of *distinct* files (v1/v2 with a unique trailer appended: a
#     new content hash, hence a new staged path and a new dlopen each time; the ELF loader
#     ignores trailing bytes). Alternating between two builds dlopens two staged paths only,
#     which glibc deduplicates, so it measures the engine's own per-swap cost; the distinct
#     series measures a deployment of a new build every time (libraries are never unloaded).
#     Reported: MB per reload over the whole series and over its second half (after the
#     allocator's warm-up), and the RSS trace in the work directory (rss-*.tsv).
#
# Environment (defaults in brackets; SMOKE=1 lowers them):
#   RELOAD_RATE [1000]  RELOAD_SECONDS [20]  RELOAD_SWAP_AT [8]  RELOAD_CONNECTIONS [16]
#   RELOAD_MODES ["async multi_process"]  RELOAD_MP_CONCURRENCY [2]  (workers of Work in multi_process)
#   RELOAD_DURABILITY [fsync]            the production's durability in the swap-under-load runs
#   RELOAD_SWAPS [30]                    swaps per memory series
#   RELOAD_WARMUP [1000]                 untimed messages after each engine start
#   BENCH_DIR [mktemp], BENCH_KEEP [0], BENCH_HIE_LOG [warn], HIE_PROFILE [release], SKIP_BUILD [0]
#
# Needs curl and jq. Binaries are copied into the work directory first, so a concurrent
# rebuild of target/ cannot trigger a reload of the standard pack under the run.
set -euo pipefail

BENCH_NAME=reload
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [[ $SMOKE == 1 ]]; then
    d_rate=200 d_seconds=4 d_swap_at=2 d_swaps=3 d_warmup=50
else
    d_rate=1000 d_seconds=20 d_swap_at=8 d_swaps=30 d_warmup=1000
fi
RATE=${RELOAD_RATE:-$d_rate}
SECONDS_LOAD=${RELOAD_SECONDS:-$d_seconds}
SWAP_AT=${RELOAD_SWAP_AT:-$d_swap_at}
CONNS=${RELOAD_CONNECTIONS:-16}
MODES=${RELOAD_MODES:-async multi_process}
MP_CONC=${RELOAD_MP_CONCURRENCY:-2}
DURABILITY=${RELOAD_DURABILITY:-fsync}
SWAPS=${RELOAD_SWAPS:-$d_swaps}
WARMUP=${RELOAD_WARMUP:-$d_warmup}
MESSAGES=$(awk -v r="$RATE" -v s="$SECONDS_LOAD" 'BEGIN { printf "%d", r * s }')

need curl
need jq

build_probe v1 "$WORK/probe-v1"
build_probe v2 "$WORK/probe-v2"
V1=$WORK/probe-v1/libhie_pack_probe.so
V2=$WORK/probe-v2/libhie_pack_probe.so
cmp -s "$V1" "$V2" && die "the v1 and v2 builds are identical"
PACK_KB=$(($(stat -c %s "$V1") / 1024))

# pctl P: the P-th percentile (nearest rank) of the numbers on stdin; "-" when there are none.
pctl() { sort -g | awk -v p="$1" '{ v[NR] = $1 } END { if (NR == 0) { print "-"; exit } i = int(p / 100 * NR); if (i < p / 100 * NR) i++; if (i < 1) i = 1; printf "%.2f\n", v[i] }'; }
count_lines() { grep -c . || true; }

api_get() { curl -sf --max-time 30 "http://$API$1"; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
# work_pack: "generation version" of Work.
work_pack() { api_get /api/production | jq -r '.items[] | select(.name == "Work") | "\(.pack_generation) \(.pack_version)"'; }

# work_pids: Work's worker pids and states (multi_process), comma-separated.
work_pids() { api_get /api/production | jq -r '[.items[] | select(.name == "Work") | .workers[] | "\(.pid)/\(.state)"] | join(",")'; }

# deploy FILE [TRAILER]: copies FILE (plus TRAILER bytes) to a temporary name in the plugin
# directory and renames it over the pack.
deploy() {
    local tmp=$PLUGINS/.libhie_pack_probe.so.tmp
    if [[ -n ${2:-} ]]; then
        { cat "$1"; printf '%s' "$2"; } >"$tmp"
    else
        cp "$1" "$tmp"
    fi
    mv "$tmp" "$PLUGINS/libhie_pack_probe.so"
}

# wait_generation OLD_GENERATION: until Work's pack_generation differs; prints "generation version".
wait_generation() {
    local old=$1 now i
    for ((i = 0; i < 1500; i++)); do
        now=$(work_pack || true)
        if [[ -n $now && ${now%% *} != "$old" ]]; then
            echo "$now"
            return 0
        fi
        sleep 0.02
    done
    die "Work never left pack generation $old"
}

# start_engine NAME DURABILITY MODE CONCURRENCY: fresh plugin dir (v1), sink and engine.
start_engine() {
    local name=$1 sink_port data
    IN_PORT=$("$BENCH" free-port)
    sink_port=$("$BENCH" free-port)
    API=127.0.0.1:$("$BENCH" free-port)
    PLUGINS=$WORK/plugins-$name
    data=$WORK/data-$name
    SINK_COUNT=$WORK/sink-$name.count # start_server's count file for sink-$name
    mkdir -p "$PLUGINS"
    cp "$V1" "$PLUGINS/libhie_pack_probe.so"
    probe_production "$WORK/$name.yaml" Reload "$2" "$3" "$4" "$IN_PORT" "$sink_port"
    start_server sink "sink-$name" "$sink_port"
    SINK_PID=$SERVER_PID
    start_hie "$WORK/$name.yaml" "$data" "$API" --plugins "$PLUGINS"
    log "$name: hie pid $HIE_PID running (Work $3 x$4, $2; api $API)"
}

wait_sink() {
    "$BENCH" wait-count --file "$SINK_COUNT" --count "$1" --timeout 600 >/dev/null \
        || die "the sink never reached $1 messages (has $(cat "$SINK_COUNT"))"
}

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
log "work directory $WORK; $RATE msg/s for $SECONDS_LOAD s over $CONNS connections, swap at $SWAP_AT s; modes: $MODES; $SWAPS swaps per memory series; load average $LOAD_START"

# ---- 1. swap under load ---------------------------------------------------------------------
# Results per mode in $WORK/<mode>.* ; the summary reads them.
swap_under_load() {
    local mode=$1 conc=1 name=load-$1 id load_pid t_swap t_done before after start sent sink errors
    [[ $mode == multi_process ]] && conc=$MP_CONC
    start_engine "$name" "$DURABILITY" "$mode" "$conc"
    "$BENCH" load --port "$IN_PORT" --connections "$CONNS" --messages "$WARMUP" --run-id "W$mode" >"$WORK/$name-warm.json" \
        || die "warm-up load"
    wait_sink "$(j "$WORK/$name-warm.json" acked)"
    before=$(work_pack)
    local pids_before pids_after
    pids_before=$(work_pids)
    id="R${mode//_/}"
    "$BENCH" load --port "$IN_PORT" --connections "$CONNS" --messages "$MESSAGES" --rate "$RATE" --run-id "$id" \
        --latency-log "$WORK/$name.ack.tsv" >"$WORK/$name.json" &
    load_pid=$!
    PIDS+=("$load_pid")
    sleep "$SWAP_AT"
    t_swap=$("$BENCH" now-ms)
    deploy "$V2"
    after=$(wait_generation "${before%% *}")
    t_done=$("$BENCH" now-ms)
    pids_after=$(work_pids)
    log "$name: swap $before → $after took $((t_done - t_swap)) ms (rename → new generation in the API)"
    wait "$load_pid" || die "load $name"
    start=$(j "$WORK/$name.json" start_unix_ms)
    sent=$(($(j "$WORK/$name.json" acked) + $(j "$WORK/$name-warm.json" acked)))
    errors=$(j "$WORK/$name.json" errors)
    [[ $errors == 0 ]] || log "$name: $errors load errors; first: $(j "$WORK/$name.json" first_error)"
    log "$name: load done: $(j "$WORK/$name.json" acked) ACKed at $(j "$WORK/$name.json" throughput) msg/s, ACK p99 $(j "$WORK/$name.json" latency_ms.p99) ms, errors $errors"
    # Give the pipeline time to deliver everything, then a little longer for stragglers.
    "$BENCH" wait-count --file "$SINK_COUNT" --count "$sent" --timeout 120 >/dev/null \
        || log "$name: the sink has $(cat "$SINK_COUNT") of $sent after 120 s"
    sleep 1
    sink=$(cat "$SINK_COUNT")
    # The run's Out headers from the journal, paged newest first: control_id processed_us status.
    local url before_id="" page n
    : >"$WORK/$name.out"
    while :; do
        url="/api/messages?item=Out&since=$start&limit=10000${before_id:+&before=$before_id}"
        page=$(api_get "$url") || die "GET $url"
        n=$(jq '.count' <<<"$page")
        jq -r '.messages[] | "\(.control_id) \(.processed_us // 0) \(.status) \(.id)"' <<<"$page" >>"$WORK/$name.out"
        [[ $n -lt 10000 ]] && break
        before_id=$(jq '[.messages[].id] | min' <<<"$page")
    done
    # e2e latency per message from its scheduled send time, with the schedule offset (ms).
    awk -v id="$id" -v s="$start" -v r="$RATE" '
        index($1, id "-") == 1 && $3 == "Completed" {
            n = split($1, p, "-"); seq = p[n]; sched = s + seq * 1000 / r
            printf "%.3f %.3f\n", sched - s, $2 / 1000 - sched
        }' "$WORK/$name.out" >"$WORK/$name.e2e"
    # Windows (ms since the load start): before the swap; rename → done + 1 s; after.
    local w0=$((t_swap - start)) w1=$((t_done - start + 1000))
    {
        echo "swap_ms $((t_done - t_swap))"
        echo "swap_at_ms $w0"
        echo "before $before"
        echo "workers_before ${pids_before:--}"
        echo "workers_after ${pids_after:--}"
        echo "after $after"
        echo "sent $sent"
        echo "sink $sink"
        echo "load_errors $errors"
        echo "completed_out $(awk -v id="$id" 'index($1, id "-") == 1 && $3 == "Completed" { print $1 }' "$WORK/$name.out" | sort -u | count_lines)"
        echo "not_completed_out $(awk -v id="$id" 'index($1, id "-") == 1 && $3 != "Completed"' "$WORK/$name.out" | count_lines)"
        echo "e2e_p50 $(awk '{ print $2 }' "$WORK/$name.e2e" | pctl 50)"
        echo "e2e_p99 $(awk '{ print $2 }' "$WORK/$name.e2e" | pctl 99)"
        echo "e2e_max $(awk '{ print $2 }' "$WORK/$name.e2e" | pctl 100)"
        echo "e2e_p99_before $(awk -v a="$w0" '$1 < a { print $2 }' "$WORK/$name.e2e" | pctl 99)"
        echo "e2e_p99_swap $(awk -v a="$w0" -v b="$w1" '$1 >= a && $1 < b { print $2 }' "$WORK/$name.e2e" | pctl 99)"
        echo "e2e_max_swap $(awk -v a="$w0" -v b="$w1" '$1 >= a && $1 < b { print $2 }' "$WORK/$name.e2e" | pctl 100)"
        echo "e2e_p99_after $(awk -v b="$w1" '$1 >= b { print $2 }' "$WORK/$name.e2e" | pctl 99)"
        echo "ack_p99_before $(awk -v a="$w0" 'NR > 1 && $1 < a { print $2 }' "$WORK/$name.ack.tsv" | pctl 99)"
        echo "ack_p99_swap $(awk -v a="$w0" -v b="$w1" 'NR > 1 && $1 >= a && $1 < b { print $2 }' "$WORK/$name.ack.tsv" | pctl 99)"
        echo "ack_max_swap $(awk -v a="$w0" -v b="$w1" 'NR > 1 && $1 >= a && $1 < b { print $2 }' "$WORK/$name.ack.tsv" | pctl 100)"
        api_get /api/production | jq -r '.items[] | select(.name == "Work" or .name == "Out") | "errors_\(.name) \(.errors)"'
        echo "journal_errors $(api_get "/api/messages?status=Error&limit=10000" | jq '.count')"
        echo "journal_pending $(api_get /api/journal | jq '.pending')"
        # The newest message at Out went through v2: its body carries the probe's ZPR|<version>.
        echo "last_body_version $(api_get "/api/messages/$(head -n 1 "$WORK/$name.out" | awk '{ print $4 }')" | jq -r '.body' | tr '\r' '\n' | awk -F'|' '$1 == "ZPR" { print $2 }' | tail -n 1)"
    } >"$WORK/$mode.res"
    log "$name: $(tr '\n' ' ' <"$WORK/$mode.res")"
    stop_pid "$HIE_PID"
    stop_pid "$SINK_PID"
}
for mode in $MODES; do
    swap_under_load "$mode"
done

# ---- 2. memory per in-process reload --------------------------------------------------------
start_engine mem process async 1
"$BENCH" load --port "$IN_PORT" --connections 1 --messages 10 --run-id Mwarm >/dev/null || die "warm-up load"
wait_sink 10
# memory_series NAME KIND: KIND alternate (v2, v1, v2, ...) or distinct (v2/v1 + unique trailer).
memory_series() {
    local name=$1 kind=$2 i gen src trailer rss0 rss t0 t1
    gen=$(work_pack)
    rss0=$(rss_kb "$HIE_PID")
    printf 'swap\trss_kb\tgeneration\tversion\tms\n0\t%s\t%s\n' "$rss0" "${gen/ /$'\t'}" >"$WORK/rss-$name.tsv"
    for ((i = 1; i <= SWAPS; i++)); do
        if ((i % 2)); then src=$V2; else src=$V1; fi
        trailer=""
        [[ $kind == distinct ]] && trailer="hie-bench-trailer-$name-$i"
        t0=$("$BENCH" now-ms)
        deploy "$src" "$trailer"
        gen=$(wait_generation "${gen%% *}")
        t1=$("$BENCH" now-ms)
        rss=$(rss_kb "$HIE_PID")
        printf '%s\t%s\t%s\t%s\n' "$i" "$rss" "${gen/ /$'\t'}" "$((t1 - t0))" >>"$WORK/rss-$name.tsv"
    done
    awk -v n="$SWAPS" 'NR > 1 { r[$1] = $2; if ($1 > 0) { ms += $5 } }
        END { h = int(n / 2); printf "rss0 %d\nrss1 %d\nmb_per_reload %.3f\nmb_per_reload_2nd_half %.3f\nswap_ms_mean %.0f\n",
              r[0], r[n], (r[n] - r[0]) / 1024 / n, (r[n] - r[h]) / 1024 / (n - h), ms / n }' "$WORK/rss-$name.tsv" >"$WORK/$name.res"
    log "$name: $(tr '\n' ' ' <"$WORK/$name.res")"
}
memory_series mem-alternate alternate
memory_series mem-distinct distinct
# Still serving, on the last version deployed.
"$BENCH" load --port "$IN_PORT" --connections 1 --messages 10 --run-id Mafter >"$WORK/mem-after.json" || die "load after the swaps"
wait_sink 20
STAGED=$(find "$WORK/data-mem/packs" -name 'libhie_pack_probe-*.so' | wc -l)
MAPPED=$(grep -c 'libhie_pack_probe-.*\.so' "/proc/$HIE_PID/maps" | tr -d ' ')
MAPPED_FILES=$(grep -o '/[^ ]*libhie_pack_probe-[^ ]*\.so' "/proc/$HIE_PID/maps" | sort -u | wc -l)
ANON10=$(awk '/^[0-9a-f]+-[0-9a-f]+ / { name = $6 } /^Rss:/ { if (name == "" && $2 >= 8192) n++ } END { print n + 0 }' "/proc/$HIE_PID/smaps")
stop_pid "$HIE_PID"
stop_pid "$SINK_PID"

# ---- summary ----------------------------------------------------------------------------------
val() { awk -v k="$2" '$1 == k { $1 = ""; sub(/^ /, ""); print; exit }' "$WORK/$1.res"; }
row() { printf '| %s | %s | %s | %s | %s |\n' "$@"; }
echo
echo "## HIE pack reload: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, profile $PROFILE$([[ $SMOKE == 1 ]] && echo ', SMOKE (figures meaningless)')"
echo
echo "Load average (1/5/15 min) at start: $LOAD_START, at end: $(cut -d' ' -f1-3 /proc/loadavg). Probe pack ${PACK_KB} KiB."
echo "Swap under load: $RATE msg/s open loop for $SECONDS_LOAD s ($MESSAGES messages), $CONNS connections, $DURABILITY durability, v1 → v2 renamed in at ${SWAP_AT} s; swap window = rename → new generation + 1 s."
echo
row "Measurement" "Figure" "Baseline (before the swap)" "Target" "Met"
row "---" "---:" "---:" "---" "---"
for mode in $MODES; do
    m=$mode
    conc=1
    [[ $mode == multi_process ]] && conc=$MP_CONC
    errs=$(($(j "$WORK/load-$m.json" errors) + $(val "$m" errors_Work) + $(val "$m" errors_Out) + $(val "$m" journal_errors)))
    lost=$(($(val "$m" sent) - $(val "$m" sink)))
    dups=0
    ((lost < 0)) && dups=$((-lost)) && lost=0
    row "$m x$conc: swap" "$(val "$m" swap_ms) ms rename → generation $(val "$m" after) in the API (workers $(val "$m" workers_before) → $(val "$m" workers_after)); newest message at Out went through $(val "$m" last_body_version)" "" "" ""
    row "$m x$conc: ACK latency, whole run" "p50 $(j "$WORK/load-$m.json" latency_ms.p50), p99 $(j "$WORK/load-$m.json" latency_ms.p99), max $(j "$WORK/load-$m.json" latency_ms.max) ms; swap window p99 $(val "$m" ack_p99_swap), max $(val "$m" ack_max_swap) ms" "p99 $(val "$m" ack_p99_before) ms" "p99 ≤ 50 ms" "$(yesno ge 50 "$(j "$WORK/load-$m.json" latency_ms.p99)")"
    row "$m x$conc: end-to-end latency (scheduled send → Out done)" "p50 $(val "$m" e2e_p50), **p99 $(val "$m" e2e_p99)**, max $(val "$m" e2e_max) ms; swap window p99 $(val "$m" e2e_p99_swap), max $(val "$m" e2e_max_swap) ms; after p99 $(val "$m" e2e_p99_after) ms" "p99 $(val "$m" e2e_p99_before) ms" "p99 ≤ 50 ms" "$(yesno ge 50 "$(val "$m" e2e_p99)")"
    row "$m x$conc: errors" "$errs (load tool $(j "$WORK/load-$m.json" errors), Work $(val "$m" errors_Work), Out $(val "$m" errors_Out), headers in Error $(val "$m" journal_errors))" "" "0" "$(yesno test "$errs" = 0)"
    row "$m x$conc: loss" "$lost, duplicates at the sink $dups (ACKed $(val "$m" sent) incl. warm-up, sink received $(val "$m" sink); run's control ids Completed at Out: $(val "$m" completed_out), other statuses $(val "$m" not_completed_out); headers still Queued/Delivered $(val "$m" journal_pending))" "" "0" "$(yesno test "$lost" = 0)"
done
a_rate=$(val mem-alternate mb_per_reload)
d_rate=$(val mem-distinct mb_per_reload)
row "RSS per reload, $SWAPS swaps alternating v2/v1 (async)" "$a_rate MB/reload ($(( $(val mem-alternate rss0) / 1024 )) → $(( $(val mem-alternate rss1) / 1024 )) MiB); 2nd half $(val mem-alternate mb_per_reload_2nd_half) MB/reload; $(val mem-alternate swap_ms_mean) ms per swap" "" "" ""
row "RSS per reload, $SWAPS swaps of distinct builds (async)" "$d_rate MB/reload ($(( $(val mem-distinct rss0) / 1024 )) → $(( $(val mem-distinct rss1) / 1024 )) MiB); 2nd half $(val mem-distinct mb_per_reload_2nd_half) MB/reload; $(val mem-distinct swap_ms_mean) ms per swap" "design notes: ~0.42 MB per reload of a 631 KB pack" "" ""
echo
echo "After both series: $STAGED staged probe files, $MAPPED_FILES distinct probe libraries mapped ($MAPPED mappings), $ANON10 anonymous regions of ≥ 8 MiB resident in hie."
