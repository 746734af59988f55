#!/usr/bin/env bash
# Execution-mode benchmark (issue 4). Prints figures and ratios against a baseline measured
# in the same run; it never fails on a figure, only on a broken run.
#
#   tests/bench/modes.sh                    full run (release build of the workspace and the probe pack first)
#   SKIP_BUILD=1 tests/bench/modes.sh       reuse target/release (the probe pack is still built: seconds)
#   SMOKE=1 tests/bench/modes.sh            tiny counts (figures meaningless): the harness still works
#
# What it measures (production In (TCPService) → Work (HIE.Test.Probe) → Out (TCPOperation)
# → `hie-bench sink`, process durability, a fresh engine and data directory per configuration):
#
#  a. CPU-bound transform: every message carries `SPIN<ms>` (in MSH-10, through the load
#     tool's run id), so the probe burns that much CPU per message. Work runs multi_process
#     with concurrency 1 (one worker process, the baseline) and 2 (two worker processes).
#     Two figures per configuration, each the median of MODES_REPEAT runs:
#     - delivered: MODES_CONNECTIONS connections send MODES_CPU_MESSAGES messages closed loop;
#       messages / (first send → the sink has them all). ACKs come at commit, so intake is
#       done long before the workers are, and this is the workers' sustained rate.
#     - drain: Work is paused, the same number is queued, Work is resumed; messages /
#       (resume → the sink has them all). The workers alone, without intake competing.
#     Ratio = 2 workers / 1 worker. Target ≥ 1.7× on 2 cores. The CPU of the engine and of
#     the workers per message is printed as well: with N cores and engine CPU e and worker
#     CPU w per message, the best possible rate with 2 workers is min(2/w, N/(e+w)) per ms.
#  b. Per-message CPU of a trivial transform (the probe without SPIN): Work runs async and
#     then multi_process (concurrency 1 each). CPU = utime+stime from /proc/<pid>/stat of hie
#     (including reaped children) and of all its live children (the workers), read before and
#     after MODES_CPU_TRIVIAL_MESSAGES messages are delivered, divided by the messages.
#     The load tool and the sink are not counted. Ratio = multi_process / async, target ≤ 2×.
#  c. Worker RSS: every worker's VmRSS (the API's workers[].rss_bytes) after a and b, with
#     its PSS and private memory from /proc/<pid>/smaps_rollup beside it. Target ≤ 50 MB each.
#
# Environment (defaults in brackets; SMOKE=1 lowers the counts):
#   MODES_SPIN_MS [2]                    CPU per message of the CPU-bound transform
#   MODES_CPU_MESSAGES [4000]            messages per CPU-bound run
#   MODES_TRIVIAL_MESSAGES [20000]       messages per trivial-transform run
#   MODES_CONNECTIONS [8]                load connections
#   MODES_REPEAT [3]                     runs per figure (the median is reported)
#   MODES_WARMUP [500]                   untimed messages after each engine start
#   BENCH_DIR [mktemp], BENCH_KEEP [0], BENCH_HIE_LOG [warn], HIE_PROFILE [release], SKIP_BUILD [0]
#
# Needs curl and jq (API reads). Binaries are copied into the work directory first, so a
# concurrent rebuild of target/ cannot swap packs or worker binaries under the run.
set -euo pipefail

BENCH_NAME=modes
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [[ $SMOKE == 1 ]]; then
    d_cpu=100 d_trivial=300 d_repeat=1 d_warmup=20
else
    d_cpu=4000 d_trivial=20000 d_repeat=3 d_warmup=500
fi
SPIN_MS=${MODES_SPIN_MS:-2}
CPU_MESSAGES=${MODES_CPU_MESSAGES:-$d_cpu}
TRIVIAL_MESSAGES=${MODES_TRIVIAL_MESSAGES:-$d_trivial}
CONNS=${MODES_CONNECTIONS:-8}
REPEAT=${MODES_REPEAT:-$d_repeat}
WARMUP=${MODES_WARMUP:-$d_warmup}
CLK_TCK=$(getconf CLK_TCK)
# us_per TICKS N: CPU microseconds per message from clock ticks.
us_per() { awk -v t="$1" -v n="$2" -v k="$CLK_TCK" 'BEGIN { printf "%.1f", t / k * 1e6 / n }'; }

need curl
need jq

build_probe bench "$WORK/probe"

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print 0; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }

# stat_ticks PID WITH_CHILDREN: utime+stime of PID (plus cutime+cstime with WITH_CHILDREN=1),
# in clock ticks. The comm field may hold spaces, so the line is cut after its last ')'.
stat_ticks() {
    local s
    s=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
    s=${s##*) }
    awk -v c="$2" '{ print $12 + $13 + (c ? $14 + $15 : 0) }' <<<"$s"
}

children() { cat /proc/"$1"/task/*/children 2>/dev/null || true; }

# cpu_ticks PID: CPU ticks of PID, its reaped children and every live child.
# cpu_split PID: "engine workers" ticks.
cpu_split() {
    local pid=$1 w=0 c
    for c in $(children "$pid"); do w=$((w + $(stat_ticks "$c" 0))); done
    echo "$(stat_ticks "$pid" 1) $w"
}

# smaps PID: "pss private" bytes from /proc/PID/smaps_rollup.
smaps() {
    awk '/^Pss:/ { p = $2 } /^Private_(Clean|Dirty):/ { q += $2 } END { printf "%d %d\n", p * 1024, q * 1024 }' \
        "/proc/$1/smaps_rollup" 2>/dev/null || echo "0 0"
}

api_get() { curl -sf --max-time 10 "http://$API$1"; }

# start_config NAME MODE CONCURRENCY: a fresh sink and engine; sets IN_PORT, API, HIE_PID,
# SINK_PID, SINK_NAME, SENT (messages the sink should have).
start_config() {
    local name=$1 mode=$2 conc=$3 sink_port data
    IN_PORT=$("$BENCH" free-port)
    sink_port=$("$BENCH" free-port)
    API=127.0.0.1:$("$BENCH" free-port)
    data=$WORK/data-$name
    SINK_NAME=sink-$name
    probe_production "$WORK/$name.yaml" Modes process "$mode" "$conc" "$IN_PORT" "$sink_port"
    start_server sink "$SINK_NAME" "$sink_port"
    SINK_PID=$SERVER_PID
    start_hie "$WORK/$name.yaml" "$data" "$API" --plugins "$WORK/probe"
    SENT=0
    log "$name: hie pid $HIE_PID running ($mode, concurrency $conc; api $API)"
}

stop_config() {
    echo "$SENT $(cat "$WORK/$SINK_NAME.count")" >"$WORK/$SINK_NAME.totals"
    stop_pid "$HIE_PID"
    stop_pid "$SINK_PID"
}

# send RUN_ID COUNT: closed-loop load into In; JSON in $WORK/RUN_ID.json; adds to SENT.
send() {
    local id=$1 n=$2 errors
    "$BENCH" load --port "$IN_PORT" --connections "$CONNS" --messages "$n" --run-id "$id" >"$WORK/$id.json" \
        || die "load $id"
    errors=$(j "$WORK/$id.json" errors)
    [[ $errors == 0 ]] || log "$id: $errors errors; first: $(j "$WORK/$id.json" first_error)"
    ERRORS=$((ERRORS + errors))
    SENT=$((SENT + $(j "$WORK/$id.json" acked)))
}

# wait_sink: until the sink has SENT messages; prints the unix ms.
wait_sink() {
    "$BENCH" wait-count --file "$WORK/$SINK_NAME.count" --count "$SENT" --timeout 1200 >"$WORK/$SINK_NAME.wait.json" \
        || die "$SINK_NAME never reached $SENT messages"
    j "$WORK/$SINK_NAME.wait.json" unix_ms
}

# workers_now NAME: records Work's workers (pid, rss) and their smaps into $WORK/NAME.workers
# (one line each: pid rss pss private).
workers_now() {
    local pid rss
    api_get /api/production | jq -r '.items[] | select(.name == "Work") | .workers[] | "\(.pid) \(.rss_bytes)"' \
        >"$WORK/$1.workers.api" || die "GET /api/production"
    : >"$WORK/$1.workers"
    while read -r pid rss; do
        echo "$pid $rss $(smaps "$pid")" >>"$WORK/$1.workers"
    done <"$WORK/$1.workers.api"
}

ERRORS=0
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
log "work directory $WORK; SPIN$SPIN_MS x $CPU_MESSAGES messages, trivial x $TRIVIAL_MESSAGES, $CONNS connections, $REPEAT runs each; load average $LOAD_START"

# ---- a. CPU-bound transform: 1 vs 2 worker processes ---------------------------------------------
# The run id becomes MSH-10 (<id>-<conn>-<seq>), which the probe scans for SPIN<ms>.
cpu_series() {
    local name=$1 conc=$2 r t0 t1 c0 c1 e0 w0 e1 w1 rates=() drains=() eng=() wrk=()
    start_config "$name" multi_process "$conc"
    send "SPIN${SPIN_MS}-${name}-warm" "$WARMUP"
    wait_sink >/dev/null
    for ((r = 1; r <= REPEAT; r++)); do
        # delivered: load while Work runs.
        read -r e0 w0 <<<"$(cpu_split "$HIE_PID")"
        send "SPIN${SPIN_MS}-${name}-d$r" "$CPU_MESSAGES"
        t1=$(wait_sink)
        read -r e1 w1 <<<"$(cpu_split "$HIE_PID")"
        t0=$(j "$WORK/SPIN${SPIN_MS}-${name}-d$r.json" start_unix_ms)
        rates+=("$(rate "$CPU_MESSAGES" "$t0" "$t1")")
        eng+=("$(us_per "$((e1 - e0))" "$CPU_MESSAGES")")
        wrk+=("$(us_per "$((w1 - w0))" "$CPU_MESSAGES")")
        log "$name run $r: delivered ${rates[-1]} msg/s; CPU per message: engine ${eng[-1]} µs, workers ${wrk[-1]} µs"
        # drain: queue behind a paused Work, then resume.
        "$BENCH" post --api "$API" --path /api/items/Work/pause >/dev/null || die "pause Work"
        send "SPIN${SPIN_MS}-${name}-q$r" "$CPU_MESSAGES"
        "$BENCH" wait-depth --api "$API" --item Work --depth "$CPU_MESSAGES" --timeout 600 >/dev/null \
            || die "Work never had $CPU_MESSAGES queued"
        t0=$("$BENCH" now-ms)
        "$BENCH" post --api "$API" --path /api/items/Work/resume >/dev/null || die "resume Work"
        t1=$(wait_sink)
        drains+=("$(rate "$CPU_MESSAGES" "$t0" "$t1")")
        log "$name run $r: drain ${drains[-1]} msg/s"
    done
    echo "${rates[*]}" >"$WORK/$name.rates"
    echo "${drains[*]}" >"$WORK/$name.drains"
    echo "${eng[*]}" >"$WORK/$name.eng"
    echo "${wrk[*]}" >"$WORK/$name.wrk"
    workers_now "$name"
    stop_config
}
cpu_series cpu-1w 1
cpu_series cpu-2w 2

# ---- b. per-message CPU of a trivial transform: async vs multi_process --------------------------
trivial_series() {
    local name=$1 mode=$2 r t0 t1 e0 w0 e1 w1 i0 i1 per=() eng=() wrk=() rates=()
    start_config "$name" "$mode" 1
    send "T-${name}-warm" "$WARMUP"
    wait_sink >/dev/null
    # Idle CPU over 2 s, to show what the per-message figures include besides messages.
    read -r e0 w0 <<<"$(cpu_split "$HIE_PID")"
    sleep 2
    read -r e1 w1 <<<"$(cpu_split "$HIE_PID")"
    awk -v t="$((e1 + w1 - e0 - w0))" -v k="$CLK_TCK" 'BEGIN { printf "%.1f", t / k * 1000 / 2 }' >"$WORK/$name.idle"
    for ((r = 1; r <= REPEAT; r++)); do
        read -r e0 w0 <<<"$(cpu_split "$HIE_PID")"
        send "T-${name}-$r" "$TRIVIAL_MESSAGES"
        t1=$(wait_sink)
        read -r e1 w1 <<<"$(cpu_split "$HIE_PID")"
        t0=$(j "$WORK/T-${name}-$r.json" start_unix_ms)
        per+=("$(us_per "$((e1 + w1 - e0 - w0))" "$TRIVIAL_MESSAGES")")
        eng+=("$(us_per "$((e1 - e0))" "$TRIVIAL_MESSAGES")")
        wrk+=("$(us_per "$((w1 - w0))" "$TRIVIAL_MESSAGES")")
        rates+=("$(rate "$TRIVIAL_MESSAGES" "$t0" "$t1")")
        log "$name run $r: ${per[-1]} µs CPU per message (engine ${eng[-1]}, workers ${wrk[-1]}); delivered ${rates[-1]} msg/s"
    done
    echo "${per[*]}" >"$WORK/$name.per"
    echo "${eng[*]}" >"$WORK/$name.eng"
    echo "${wrk[*]}" >"$WORK/$name.wrk"
    echo "${rates[*]}" >"$WORK/$name.rates"
    [[ $mode == multi_process ]] && workers_now "$name"
    stop_config
}
trivial_series trivial-async async
trivial_series trivial-mp multi_process

# ---- summary ----------------------------------------------------------------------------------
med() { median <"$WORK/$1"; }
list() { sed 's/ /, /g' "$WORK/$1"; }
R1=$(med cpu-1w.rates) R2=$(med cpu-2w.rates)
D1=$(med cpu-1w.drains) D2=$(med cpu-2w.drains)
RATIO=$(ratio "$R2" "$R1")
DRATIO=$(ratio "$D2" "$D1")
E1=$(med cpu-1w.eng) W1=$(med cpu-1w.wrk) E2=$(med cpu-2w.eng) W2=$(med cpu-2w.wrk)
# Best possible 2-worker rate on this machine's cores, from the measured CPU per message.
CORES=$(nproc)
BOUND=$(awk -v e="$E2" -v w="$W2" -v n="$CORES" 'BEGIN { a = 2e6 / w; b = n * 1e6 / (e + w); printf "%.0f", (a < b ? a : b) }')
PA=$(med trivial-async.per) PM=$(med trivial-mp.per)
CPU_RATIO=$(ratio "$PM" "$PA")
MAX_RSS=$(cat "$WORK"/*.workers 2>/dev/null | awk '$2 > m { m = $2 } END { print m + 0 }')
rss_list() {
    awk '{ printf "%s%s MiB (PSS %s, private %s)", (NR > 1 ? "; " : ""), sprintf("%.1f", $2 / 1048576), sprintf("%.1f", $3 / 1048576), sprintf("%.1f", $4 / 1048576) }' "$WORK/$1.workers"
}
row() { printf '| %s | %s | %s | %s | %s |\n' "$@"; }

echo
echo "## HIE execution modes: $(date -u +%Y-%m-%dT%H:%MZ), $CORES cores, profile $PROFILE$([[ $SMOKE == 1 ]] && echo ', SMOKE (figures meaningless)')"
echo
echo "Load average (1/5/15 min) at start: $LOAD_START, at end: $(cut -d' ' -f1-3 /proc/loadavg). Medians of $REPEAT runs; $CONNS connections; process durability; errors in all runs: $ERRORS"
echo
row "Measurement" "Figure" "Ratio" "Target" "Met"
row "---" "---:" "---:" "---" "---"
row "a. SPIN$SPIN_MS, multi_process x1 (baseline), delivered" "$(fmt "$R1") msg/s (runs: $(list cpu-1w.rates)); CPU per message: worker $W1 µs, engine $E1 µs" "" "" ""
row "a. SPIN$SPIN_MS, multi_process x2, delivered" "$(fmt "$R2") msg/s (runs: $(list cpu-2w.rates)); CPU per message: workers $W2 µs, engine $E2 µs" "**${RATIO}×** x1" "≥ 1.7×" "$(yesno ge "$RATIO" 1.7)"
row "a. SPIN$SPIN_MS, drain of $CPU_MESSAGES queued, x1 / x2" "$(fmt "$D1") / $(fmt "$D2") msg/s (x2 runs: $(list cpu-2w.drains))" "${DRATIO}×" "" ""
row "a. bound for x2 on $CORES cores: min(2 / worker CPU, cores / (worker + engine CPU))" "$BOUND msg/s" "$(ratio "$BOUND" "$R1")× x1" "" ""
row "b. trivial transform, async (baseline)" "$PA µs CPU per message (engine $(med trivial-async.eng), runs: $(list trivial-async.per)); delivered $(fmt "$(med trivial-async.rates)") msg/s; idle $(cat "$WORK/trivial-async.idle") ms CPU/s" "" "" ""
row "b. trivial transform, multi_process x1" "$PM µs CPU per message (engine $(med trivial-mp.eng) + worker $(med trivial-mp.wrk); runs: $(list trivial-mp.per)); delivered $(fmt "$(med trivial-mp.rates)") msg/s; idle $(cat "$WORK/trivial-mp.idle") ms CPU/s" "**${CPU_RATIO}×** async (+$(awk -v a="$PM" -v b="$PA" 'BEGIN { printf "%.0f", a - b }') µs)" "≤ 2×" "$(yesno ge 2 "$CPU_RATIO")"
row "c. worker RSS after a, x1" "$(rss_list cpu-1w)" "" "≤ 50 MB each" "$(yesno ge 50000000 "$(awk '$2 > m { m = $2 } END { print m + 0 }' "$WORK/cpu-1w.workers")")"
row "c. worker RSS after a, x2" "$(rss_list cpu-2w)" "" "≤ 50 MB each" "$(yesno ge 50000000 "$(awk '$2 > m { m = $2 } END { print m + 0 }' "$WORK/cpu-2w.workers")")"
row "c. worker RSS after b" "$(rss_list trivial-mp)" "" "≤ 50 MB each" "$(yesno ge 50000000 "$(awk '$2 > m { m = $2 } END { print m + 0 }' "$WORK/trivial-mp.workers")")"
echo
echo "Largest worker RSS: $(mib "$MAX_RSS") MiB. Sent / received by the sink per configuration: $(for f in "$WORK"/sink-*.totals; do n=${f##*/sink-}; printf '%s %s / %s; ' "${n%.totals}" $(cat "$f"); done)(more received than sent = duplicate deliveries)."
if [[ $ERRORS != 0 ]]; then
    log "WARNING: $ERRORS errors (NACKs or socket errors); see $WORK/*.json (set BENCH_KEEP=1)"
fi
