#!/usr/bin/env bash
# HIE benchmark driver. Prints figures and ratios against bare baselines measured in the
# same run (fdatasync rate of the data directory's disk, a bare MLLP echo server); it
# never fails on a figure, only on a broken run.
#
#   tests/bench/run.sh                    full run (release build first)
#   SMOKE=1 tests/bench/run.sh            tiny counts, well under a minute (CI)
#   SKIP_BUILD=1 HIE_PROFILE=debug ...    use an existing target/debug build
#
# Environment (defaults in brackets; SMOKE=1 lowers them):
#   BENCH_MESSAGES [20000]        messages per throughput run
#   BENCH_CONNECTIONS [16]        the "many connections" figure
#   BENCH_QUEUED [100000]         messages queued for the RSS and recovery figures
#   BENCH_LAT_RATE [1000]         aggregate rate (msg/s) of the latency run (fsync)
#   BENCH_LAT_MESSAGES [20000]    messages in the latency run
#   BENCH_LAT_CONNECTIONS [16]    connections sharing that rate
#   BENCH_WARMUP [1000]           untimed messages before each series
#   BENCH_FSYNC_SECONDS [5]       length of each fdatasync measurement (append and overwrite,
#                                 at the start and again right before the fsync series)
#   BENCH_OUT_POOL [4]            concurrency (IRIS PoolSize) of the outbound TCP operation:
#                                 its connections to the sink (1 = strict FIFO delivery)
#   BENCH_PROCESS [passthrough]   passthrough (HIE.Process.Passthrough) | router (RoutingEngine, one rule)
#   BENCH_QUEUE_DURABILITY [process]  durability of the RSS/recovery production
#   BENCH_DIR [mktemp]            work directory (data dirs, logs, JSON); its filesystem is measured
#   BENCH_KEEP [0]                keep the work directory
#   BENCH_HIE_LOG [warn]          HIE_LOG of the engine
#   HIE_PROFILE [release]         target/<profile> holding hie, its packs and hie-bench
#   SKIP_BUILD [0]                do not build
#
# Output: the summary table (markdown) on stdout, progress on stderr; every run's JSON,
# the engines' logs and the latency run's per-message latencies (TSV) in the work directory.
# The "delivered" figure of a run is messages / (time from its first send until the sink
# has them all): the sustained end-to-end rate, next to the ACK rate. See docs/benchmarks.md.
set -euo pipefail

BENCH_NAME=bench
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [[ $SMOKE == 1 ]]; then
    d_messages=300 d_queued=2000 d_lat_messages=1000 d_warmup=50 d_fsync=1
else
    d_messages=20000 d_queued=100000 d_lat_messages=20000 d_warmup=1000 d_fsync=5
fi
MESSAGES=${BENCH_MESSAGES:-$d_messages}
CONNS=${BENCH_CONNECTIONS:-16}
QUEUED=${BENCH_QUEUED:-$d_queued}
LAT_RATE=${BENCH_LAT_RATE:-1000}
LAT_MESSAGES=${BENCH_LAT_MESSAGES:-$d_lat_messages}
LAT_CONNS=${BENCH_LAT_CONNECTIONS:-16}
WARMUP=${BENCH_WARMUP:-$d_warmup}
FSYNC_SECONDS=${BENCH_FSYNC_SECONDS:-$d_fsync}
PROCESS=${BENCH_PROCESS:-passthrough}
OUT_POOL=${BENCH_OUT_POOL:-4}
QUEUE_DURABILITY=${BENCH_QUEUE_DURABILITY:-process}

# load NAME PORT CONNECTIONS MESSAGES [RATE]: runs the load tool, JSON in $WORK/NAME.json.
load() {
    local name=$1 port=$2 conns=$3 msgs=$4 rate=${5:-}
    local args=(load --port "$port" --connections "$conns" --messages "$msgs" --run-id "$name")
    [[ -n $rate ]] && args+=(--rate "$rate" --latency-log "$WORK/$name.latency.tsv")
    "$BENCH" "${args[@]}" >"$WORK/$name.json" || die "load $name"
    local errors
    errors=$(j "$WORK/$name.json" errors)
    log "$name: $(j "$WORK/$name.json" throughput) msg/s, p50 $(j "$WORK/$name.json" latency_ms.p50) ms, p99 $(j "$WORK/$name.json" latency_ms.p99) ms, errors $errors"
    if [[ $errors != 0 ]]; then
        log "$name: first error: $(j "$WORK/$name.json" first_error)"
    fi
}

write_production() {
    local file=$1 durability=$2 in_port=$3 sink_port=$4
    local class=HIE.Process.Passthrough settings="TargetConfigNames: Out"
    if [[ $PROCESS == router ]]; then
        class=EnsLib.HL7.MsgRouter.RoutingEngine
        settings="BusinessRuleName: $WORK/rules.yaml"
        cat >"$WORK/rules.yaml" <<'EOF'
rules:
  - name: ADT to the sink
    when: MSH-9.1 = "ADT"
    send: ["Out"]
EOF
    fi
    cat >"$file" <<EOF
name: Bench
description: hie-bench production (MLLP in, $class, MLLP out to hie-bench sink)
durability: $durability
items:
  - id: In
    class: EnsLib.HL7.Service.TCPService
    adapter_settings: {Port: $in_port}
    host_settings: {TargetConfigNames: Route}
  - id: Route
    class: $class
    host_settings: {$settings}
  - id: Out
    class: EnsLib.HL7.Operation.TCPOperation
    concurrency: $OUT_POOL
    adapter_settings: {IPAddress: 127.0.0.1, Port: $sink_port}
    host_settings: {RetryInterval: 1}
EOF
}

stop_hie() {
    local pid=$1
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# wait_sink NAME COUNT: waits until the sink NAME has COUNT messages; prints the unix ms.
wait_sink() {
    "$BENCH" wait-count --file "$WORK/$1.count" --count "$2" --timeout 1200 >"$WORK/$1.wait.json" \
        || die "sink $1 never reached $2 messages"
    j "$WORK/$1.wait.json" unix_ms
}

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
log "work directory $WORK; hie $HIE; messages $MESSAGES, connections 1 and $CONNS, queued $QUEUED; load average $LOAD_START"

# ---- 1. disk: fdatasync rate of a 1 KiB write, in the data directory's filesystem ------------
# append (the file grows: data + size metadata per sync) is the reference figure; overwrite
# (a preallocated file rewritten, as SQLite reuses its WAL) and direct (4 KiB O_DIRECT
# overwrites, as HIE's commit log writes in fsync mode) are shown beside it. Shared disks
# are noisy, so it is measured again right before the fsync series (that figure is the one
# the fsync ratios use).
fsync_rate() {
    local name=$1 mode
    for mode in append overwrite direct; do
        if ! "$BENCH" fsync-rate --dir "$WORK" --seconds "$FSYNC_SECONDS" --mode "$mode" >"$WORK/$name-$mode.json"; then
            # A filesystem without O_DIRECT (tmpfs): HIE writes buffered there too.
            [[ $mode == direct ]] || die "fsync-rate"
            echo '{"syncs_per_s": 0, "latency_ms": {"p50": 0, "p99": 0, "p999": 0, "max": 0}}' >"$WORK/$name-$mode.json"
        fi
        log "fdatasync ($name, $mode): $(j "$WORK/$name-$mode.json" syncs_per_s) syncs/s (p50 $(j "$WORK/$name-$mode.json" latency_ms.p50) ms, p99 $(j "$WORK/$name-$mode.json" latency_ms.p99) ms)"
    done
}
fsync_rate fsync-start

# ---- CPU per message ---------------------------------------------------------------------------
# Where the machine's CPU goes during a run: user + system clock ticks of each process
# (and of each kind of engine thread) before and after, per message. The load tool reports
# its own in its JSON. These explain the throughput figures: on a saturated machine the
# sum over the processes is what bounds the rate.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
# thread_ticks PID: "kind ticks" per kind of thread (hie-rt-3 and hie-rt-7 are both hie-rt).
thread_ticks() {
    local t
    for t in /proc/"$1"/task/*; do
        printf '%s %s\n' "$(tr ' ' _ <"$t/comm")" "$(awk '{ print $14 + $15 }' "$t/stat")"
    done 2>/dev/null | awk '{ sub(/[-_][0-9]+$/, "", $1); a[$1] += $2 } END { for (k in a) print k, a[k] }' | sort
}
TICK_US=$(awk -v hz="$(getconf CLK_TCK)" 'BEGIN { print 1000000 / hz }')
# cpu_begin PID...: remembers the ticks of these processes (the first is broken down by thread).
cpu_begin() {
    CPU_PIDS=("$@")
    thread_ticks "$1" >"$WORK/cpu.threads0"
    CPU_T0=()
    local p
    for p in "$@"; do CPU_T0+=("$(cpu_ticks "$p")"); done
}
# cpu_end NAME MESSAGES LABEL...: writes $WORK/NAME.cpu, one "label µs/msg" line per process
# given to cpu_begin (LABELs in the same order), then the first one's threads.
cpu_end() {
    local name=$1 msgs=$2 i
    shift 2
    local labels=("$@")
    : >"$WORK/$name.cpu"
    for i in "${!CPU_PIDS[@]}"; do
        awk -v a="${CPU_T0[$i]}" -v b="$(cpu_ticks "${CPU_PIDS[$i]}")" -v n="$msgs" -v t="$TICK_US" -v l="${labels[$i]}" \
            'BEGIN { printf "%s %.1f\n", l, (b - a) * t / n }' >>"$WORK/$name.cpu"
    done
    thread_ticks "${CPU_PIDS[0]}" | join "$WORK/cpu.threads0" - |
        awk -v n="$msgs" -v t="$TICK_US" '$3 > $2 { printf "  %s %.1f\n", $1, ($3 - $2) * t / n }' >>"$WORK/$name.cpu"
}
# cpu_cell NAME: "load L + server S [+ ...] = T µs/msg" for the summary.
cpu_cell() {
    awk -v lt="$(j "$WORK/$1.json" cpu_us_per_msg)" '
        /^  / { next }
        { parts = parts sprintf(" + %s %s", $1, $2); total += $2 }
        END { printf "load tool %s%s = %.0f µs/msg", lt, parts, total + lt }' "$WORK/$1.cpu"
}

# ---- 2. transport bound: bare MLLP echo ----------------------------------------------------
ECHO_PORT=$("$BENCH" free-port)
start_server echo echo "$ECHO_PORT"
ECHO_SRV=$SERVER_PID
load echo-warmup "$ECHO_PORT" 4 "$WARMUP"
load echo-1 "$ECHO_PORT" 1 "$MESSAGES"
cpu_begin "$ECHO_SRV"
load echo-n "$ECHO_PORT" "$CONNS" "$MESSAGES"
cpu_end echo-n "$MESSAGES" echo
stop_pid "$ECHO_SRV"

# ---- 2b. relay bound: the cheapest in → out path ---------------------------------------------
# `hie-bench relay` forwards each connection's frames over its own connection to a sink and
# relays the sink's ACK: no store, no parsing, no queue. No engine can beat it on this path,
# so it shows what the machine allows once a message crosses a middle process.
RELAY_SINK_PORT=$("$BENCH" free-port)
start_server sink relay-sink "$RELAY_SINK_PORT"
RELAY_SINK=$SERVER_PID
RELAY_PORT=$("$BENCH" free-port)
"$BENCH" relay --port "$RELAY_PORT" --to "$RELAY_SINK_PORT" >"$WORK/relay.log" 2>&1 &
RELAY_PID=$!
PIDS+=("$RELAY_PID")
wait_port "$RELAY_PORT"
load relay-warmup "$RELAY_PORT" 4 "$WARMUP"
load relay-1 "$RELAY_PORT" 1 "$MESSAGES"
cpu_begin "$RELAY_PID" "$RELAY_SINK"
load relay-n "$RELAY_PORT" "$CONNS" "$MESSAGES"
cpu_end relay-n "$MESSAGES" relay sink
stop_pid "$RELAY_PID"
stop_pid "$RELAY_SINK"

# ---- 3. the engine, per durability ----------------------------------------------------------
# series DURABILITY: a fresh engine and sink; warm-up, 1 connection, N connections, and for
# fsync the fixed-rate latency run. Each run waits for the sink to have everything, which
# gives the delivered (end-to-end) throughput next to the ACK throughput.
series() {
    local dur=$1 in_port sink_port api data sink_total=0 t
    in_port=$("$BENCH" free-port)
    sink_port=$("$BENCH" free-port)
    api=127.0.0.1:$("$BENCH" free-port)
    data=$WORK/data-$dur
    write_production "$WORK/$dur.yaml" "$dur" "$in_port" "$sink_port"
    start_server sink "sink-$dur" "$sink_port"
    local sink=$SERVER_PID
    start_hie "$WORK/$dur.yaml" "$data" "$api"
    log "$dur: hie pid $HIE_PID running (in :$in_port, sink :$sink_port, api $api)"
    local runs=("$dur-warmup:4:$WARMUP:" "$dur-1:1:$MESSAGES:" "$dur-n:$CONNS:$MESSAGES:")
    [[ $dur == fsync ]] && runs+=("$dur-latency:$LAT_CONNS:$LAT_MESSAGES:$LAT_RATE")
    local run name conns msgs rate
    for run in "${runs[@]}"; do
        IFS=: read -r name conns msgs rate <<<"$run"
        cpu_begin "$HIE_PID" "$sink"
        load "$name" "$in_port" "$conns" "$msgs" "$rate"
        sink_total=$((sink_total + $(j "$WORK/$name.json" acked)))
        t=$(wait_sink "sink-$dur" "$sink_total")
        # Until the sink has everything: the engine's CPU for the whole path, not just the ACKs.
        cpu_end "$name" "$msgs" hie sink
        rate "$(j "$WORK/$name.json" acked)" "$(j "$WORK/$name.json" start_unix_ms)" "$t" >"$WORK/$name.delivered"
        log "$name: delivered end to end at $(cat "$WORK/$name.delivered") msg/s"
    done
    "$BENCH" rss --pid "$HIE_PID" >"$WORK/$dur.rss"
    stop_hie "$HIE_PID"
    stop_pid "$sink"
}
series process
fsync_rate fsync-pre
FSYNC_RATE=$(j "$WORK/fsync-pre-append.json" syncs_per_s)
FSYNC_OVERWRITE=$(j "$WORK/fsync-pre-overwrite.json" syncs_per_s)
FSYNC_DIRECT=$(j "$WORK/fsync-pre-direct.json" syncs_per_s)
series fsync

# ---- 4. RSS with QUEUED messages behind a paused operation; recovery after kill -9 -------------
in_port=$("$BENCH" free-port)
sink_port=$("$BENCH" free-port)
api=127.0.0.1:$("$BENCH" free-port)
data=$WORK/data-queue
write_production "$WORK/queue.yaml" "$QUEUE_DURABILITY" "$in_port" "$sink_port"
start_server sink sink-queue "$sink_port"
sink=$SERVER_PID
start_hie "$WORK/queue.yaml" "$data" "$api"
RSS_IDLE=$("$BENCH" rss --pid "$HIE_PID")
"$BENCH" post --api "$api" --path /api/items/Out/pause >/dev/null || die "pause Out"
log "queue: Out paused; sending $QUEUED messages ($QUEUE_DURABILITY durability, $CONNS connections)"
load queue-fill "$in_port" "$CONNS" "$QUEUED"
"$BENCH" wait-depth --api "$api" --item Out --depth "$QUEUED" --timeout 1200 >"$WORK/queue-depth.json" \
    || die "Out never reached $QUEUED queued"
RSS_QUEUED=$("$BENCH" rss --pid "$HIE_PID")
log "queue: $QUEUED queued, hie RSS $((RSS_QUEUED / 1048576)) MiB (idle $((RSS_IDLE / 1048576)) MiB)"

# The restarted engine does not remember the pause: stop the sink so Out cannot deliver
# (it retries one message, so queue_depth + in_flight is counted).
stop_pid "$sink"
{ kill -9 "$HIE_PID" && wait "$HIE_PID"; } 2>/dev/null || true
DB_BYTES=$(stat -c %s "$data"/journal.db* 2>/dev/null | awk '{ s += $1 } END { print s + 0 }')
t0=$("$BENCH" now-ms)
HIE_LOG=$HIE_LOG_LEVEL "$HIE" run "$WORK/queue.yaml" --data-dir "$data" --api "$api" >>"$data.log" 2>&1 &
HIE_PID=$!
PIDS+=("$HIE_PID")
"$BENCH" wait-depth --api "$api" --item Out --depth "$QUEUED" --in-flight --running --timeout 600 >"$WORK/recovery.json" \
    || { tail -n 40 "$data.log" >&2; die "recovery"; }
t1=$("$BENCH" now-ms)
RECOVERY_S=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", (b - a) / 1000 }')
RSS_RECOVERED=$("$BENCH" rss --pid "$HIE_PID")
log "recovery: Running with $QUEUED queued $RECOVERY_S s after restart (journal $((DB_BYTES / 1048576)) MiB)"

# Informative: drain the backlog into a fresh sink on the same port.
start_server sink sink-drain "$sink_port"
sink=$SERVER_PID
d0=$("$BENCH" now-ms)
d1=$(wait_sink sink-drain "$QUEUED")
DRAIN_RATE=$(awk -v n="$QUEUED" -v a="$d0" -v b="$d1" 'BEGIN { printf "%.0f", n / ((b - a) / 1000) }')
log "drain: $QUEUED delivered at $DRAIN_RATE msg/s (includes up to RetryInterval=1 s before reconnecting)"
stop_hie "$HIE_PID"
stop_pid "$sink"

# ---- summary ----------------------------------------------------------------------------------
tp() { j "$WORK/$1.json" throughput; }
lat() { j "$WORK/$1.json" "latency_ms.$2"; }
E1=$(tp echo-1) EN=$(tp echo-n)
R1=$(tp relay-1) RN=$(tp relay-n)
P1=$(tp process-1) PN=$(tp process-n)
F1=$(tp fsync-1) FN=$(tp fsync-n)
FSYNC_N_TARGET=$(awk -v f1="$F1" -v en="$EN" 'BEGIN { a = 8 * f1; b = 0.4 * en; printf "%.0f", (a < b ? a : b) }')
ERRORS=0
for f in echo-1 echo-n relay-1 relay-n process-1 process-n fsync-1 fsync-n fsync-latency queue-fill; do
    ERRORS=$((ERRORS + $(j "$WORK/$f.json" errors)))
done
row() { printf '| %s | %s | %s | %s | %s |\n' "$@"; }

echo
echo "## HIE benchmark: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, profile $PROFILE$([[ $SMOKE == 1 ]] && echo ', SMOKE (figures meaningless)')"
echo
echo "Load average (1/5/15 min) at start: $LOAD_START, at end: $(cut -d' ' -f1-3 /proc/loadavg) (anything else running skews the figures)"
echo
echo "Messages per run: $MESSAGES ($(j "$WORK/echo-1.json" message_bytes)-byte ADT^A01), N = $CONNS connections, process: $PROCESS, outbound PoolSize: $OUT_POOL, errors in all runs: $ERRORS"
echo
row "Measurement" "Figure" "Ratio" "Target" "Met"
row "---" "---:" "---:" "---" "---"
fsync_row() {
    local f=$WORK/$1.json
    row "$2" "$(fmt "$(j "$f" syncs_per_s)")/s (p50 $(j "$f" latency_ms.p50), p99 $(j "$f" latency_ms.p99), p99.9 $(j "$f" latency_ms.p999), max $(j "$f" latency_ms.max) ms)" "" "" ""
}
fsync_row fsync-pre-append "fdatasync, 1 KiB append (disk bound, before the fsync series)"
fsync_row fsync-pre-overwrite "fdatasync, 1 KiB overwrite (before the fsync series)"
fsync_row fsync-pre-direct "O_DIRECT 4 KiB overwrite + fdatasync (before the fsync series)"
fsync_row fsync-start-append "fdatasync, 1 KiB append (start of run)"
fsync_row fsync-start-overwrite "fdatasync, 1 KiB overwrite (start of run)"
row "Echo bound, 1 conn" "$(fmt "$E1") msg/s (p50 $(lat echo-1 p50) ms)" "" "" ""
row "Echo bound, $CONNS conns" "$(fmt "$EN") msg/s (p50 $(lat echo-n p50) ms)" "" "" ""
row "Relay bound, 1 conn" "$(fmt "$R1") msg/s (p50 $(lat relay-1 p50) ms)" "$(pct "$R1" "$E1") of echo 1" "" ""
row "Relay bound, $CONNS conns" "$(fmt "$RN") msg/s (p50 $(lat relay-n p50) ms)" "$(pct "$RN" "$EN") of echo $CONNS" "" ""
row "process, 1 conn" "$(fmt "$P1") msg/s ACKed, $(fmt "$(cat "$WORK/process-1.delivered")") delivered (p50 $(lat process-1 p50) ms)" "$(pct "$P1" "$E1") of echo 1" "" ""
row "process, $CONNS conns" "$(fmt "$PN") msg/s ACKed, $(fmt "$(cat "$WORK/process-n.delivered")") delivered (p50 $(lat process-n p50) ms)" "$(pct "$PN" "$EN") of echo $CONNS, $(pct "$PN" "$RN") of relay $CONNS" "≥ 40% of echo bound" "$(yesno ge "$PN" "$(awk -v e="$EN" 'BEGIN{print 0.4*e}')")"
row "fsync, 1 conn" "$(fmt "$F1") msg/s ACKed, $(fmt "$(cat "$WORK/fsync-1.delivered")") delivered (p50 $(lat fsync-1 p50) ms)" "$(pct "$F1" "$FSYNC_RATE") of fdatasync append ($(pct "$F1" "$FSYNC_OVERWRITE") of overwrite); $(pct "$F1" "$E1") of echo 1" "≥ 80% of fdatasync rate" "$(yesno ge "$F1" "$(awk -v e="$FSYNC_RATE" 'BEGIN{print 0.8*e}')")"
# What an engine costing nothing could reach on 1 connection: the echo round trip plus one sync.
CEIL_APPEND=$(awk -v e="$E1" -v f="$FSYNC_RATE" 'BEGIN { printf "%.0f", 1 / (1 / e + 1 / f) }')
CEIL_DIRECT=$(awk -v e="$E1" -v f="$FSYNC_DIRECT" 'BEGIN { printf "%.0f", (f > 0 ? 1 / (1 / e + 1 / f) : 0) }')
row "fsync, 1 conn, zero-cost engine ceiling" "1 / (echo-1 round trip + one sync): $(fmt "$CEIL_APPEND") msg/s with an append sync, $(fmt "$CEIL_DIRECT") with a direct one" "$(pct "$CEIL_APPEND" "$FSYNC_RATE") / $(pct "$CEIL_DIRECT" "$FSYNC_RATE") of fdatasync append" "" ""
row "fsync, $CONNS conns" "$(fmt "$FN") msg/s ACKed, $(fmt "$(cat "$WORK/fsync-n.delivered")") delivered (p50 $(lat fsync-n p50) ms)" "$(ratio "$FN" "$F1")× fsync 1 conn; $(pct "$FN" "$EN") of echo $CONNS" "≥ min(8× 1 conn, 40% of echo) = $FSYNC_N_TARGET" "$(yesno ge "$FN" "$FSYNC_N_TARGET")"
row "fsync latency at $LAT_RATE msg/s ($LAT_CONNS conns, open loop)" "p50 $(lat fsync-latency p50), p90 $(lat fsync-latency p90), p99 $(lat fsync-latency p99), p99.9 $(lat fsync-latency p999), max $(lat fsync-latency max) ms; achieved $(fmt "$(tp fsync-latency)") msg/s" "" "p99 ≤ 10 ms" "$(yesno ge 10 "$(lat fsync-latency p99)")"
row "RSS, $QUEUED queued behind paused operation" "$((RSS_QUEUED / 1048576)) MiB (idle $((RSS_IDLE / 1048576)) MiB, after recovery $((RSS_RECOVERED / 1048576)) MiB)" "" "≤ 200 MB" "$(yesno ge 200000000 "$RSS_QUEUED")"
row "Recovery after kill -9, $QUEUED queued" "$RECOVERY_S s to Running with all queued (journal $((DB_BYTES / 1048576)) MiB)" "" "≤ 5 s" "$(yesno ge 5 "$RECOVERY_S")"
row "Queue fill, $CONNS conns ($QUEUE_DURABILITY)" "$(fmt "$(tp queue-fill)") msg/s ACKed" "" "" ""
row "Backlog drain through TCPOperation" "$DRAIN_RATE msg/s" "" "" ""
row "hie RSS after each series" "process $(($(cat "$WORK/process.rss") / 1048576)) MiB, fsync $(($(cat "$WORK/fsync.rss") / 1048576)) MiB" "" "" ""
echo
# The CPU table: what each process spent per message in the N-connection runs, and what
# the 40%-of-echo target would leave the engine once the load tool and the sink are paid.
echo "CPU per message at $CONNS connections ($(nproc) cores: a rate of R msg/s leaves $(nproc)e6 / R µs of CPU per message for everything):"
echo
row "Run" "Throughput" "CPU per message (user + system)" "Engine threads (µs/msg)" ""
row "---" "---:" "---" "---" ""
cpu_row() {
    row "$1" "$(fmt "$(tp "$1")") msg/s" "$(cpu_cell "$1")" "$(awk '/^  / { printf "%s%s %s", sep, $1, $2; sep = ", " }' "$WORK/$1.cpu")" ""
}
for f in echo-n relay-n process-n fsync-n; do cpu_row "$f"; done
BUDGET=$(awk -v c="$(nproc)" -v e="$EN" 'BEGIN { printf "%.0f", c * 1e6 / (0.4 * e) }')
OTHERS=$(awk -v l="$(j "$WORK/process-n.json" cpu_us_per_msg)" '$1 == "sink" { s = $2 } END { printf "%.0f", l + s }' "$WORK/process-n.cpu")
echo
echo "At 40% of echo $CONNS ($(fmt "$(awk -v e="$EN" 'BEGIN { print 0.4 * e }')") msg/s) the machine has $BUDGET µs of CPU per message; the load tool and the sink took $OTHERS of it in the process run, leaving the engine $((BUDGET - OTHERS)) µs (the relay, which stores nothing, used $(awk '$1 == "relay" { printf "%.0f", $2 }' "$WORK/relay-n.cpu"))."
echo
if [[ $ERRORS != 0 ]]; then
    log "WARNING: $ERRORS errors (NACKs or socket errors); see $WORK/*.json (set BENCH_KEEP=1)"
fi
