#!/usr/bin/env bash
# Adapter-pack benchmark (issue 16). Prints figures and ratios against baselines measured in
# the same run; it never fails on a figure, only on a broken run.
#
#   tests/bench/adapters.sh                 full run (release build of the workspace and the adapter probe pack)
#   SKIP_BUILD=1 tests/bench/adapters.sh    reuse target/release (the adapter probe pack is still built)
#   SMOKE=1 tests/bench/adapters.sh         tiny counts (figures meaningless): the harness still works
#
# a. SQL inbound: rows per second from the SQL pack's EnsLib.SQL.Service.GenericService
#    (hie-pack-sql, a PostgreSQL poll `WHERE id > %LastKey ORDER BY id LIMIT 1000`, each row
#    one HL7 message, its key committed with it) through EnsLib.HL7.Operation.TCPOperation
#    into `hie-bench sink`: the table is filled while the service is paused, then it is
#    resumed and timed until the sink holds every row. Baseline: `hie-bench sql-select`, the
#    same query in a bare loop on the same database, reading every row and storing nothing.
#    Needs PostgreSQL: ADAPTERS_DSN, or HIE_TEST_POSTGRES, or the local default; skipped
#    loudly when it does not answer.
# b. Pack outbound adapter overhead: In (TCPService) → Out → `hie-bench sink`, where Out is
#    either the host's EnsLib.HL7.Operation.TCPOperation (the host MLLP adapter) or the
#    adapter probe pack's HIE.Test.MllpOperation on its pack adapter HIE.Test.MllpOutbound
#    (a blocking MLLP client called through the ABI on a blocking thread). The same closed
#    loop load; figures: delivered messages per second (load start → the sink has them all)
#    and the engine's CPU per message (utime+stime of hie from /proc). Baseline: the bare
#    `hie-bench relay` (no store) with the same load. Configurations alternate, each run
#    ADAPTERS_REPEAT times; medians are reported.
#
# Environment (defaults in brackets; SMOKE=1 lowers the counts):
#   ADAPTERS_ROWS [20000]          rows for a
#   ADAPTERS_MESSAGES [20000]      messages per run of b
#   ADAPTERS_CONNECTIONS [8]       load connections for b
#   ADAPTERS_REPEAT [3]            runs per figure of b
#   ADAPTERS_DURABILITY [fsync]    the productions' durability
#   ADAPTERS_DSN                   PostgreSQL for a
#   BENCH_DIR [mktemp], BENCH_KEEP [0], BENCH_HIE_LOG [warn], HIE_PROFILE [release], SKIP_BUILD [0]
set -euo pipefail

BENCH_NAME=adapters
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [[ $SMOKE == 1 ]]; then
    d_rows=500 d_msgs=500 d_repeat=1
else
    d_rows=20000 d_msgs=20000 d_repeat=3
fi
ROWS=${ADAPTERS_ROWS:-$d_rows}
MSGS=${ADAPTERS_MESSAGES:-$d_msgs}
CONNS=${ADAPTERS_CONNECTIONS:-8}
REPEAT=${ADAPTERS_REPEAT:-$d_repeat}
DURABILITY=${ADAPTERS_DURABILITY:-fsync}
DSN=${ADAPTERS_DSN:-${HIE_TEST_POSTGRES:-host=127.0.0.1 port=5432 user=postgres dbname=test}}
CLK_TCK=$(getconf CLK_TCK)
TABLE=hie_bench_adapters_$$

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print 0; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# ticks PID: utime+stime of PID and its reaped children, in clock ticks.
ticks() {
    local s
    s=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
    s=${s##*) }
    awk '{ print $12 + $13 + $14 + $15 }' <<<"$s"
}
us_per() { awk -v t="$1" -v n="$2" -v k="$CLK_TCK" 'BEGIN { printf "%.1f", t / k * 1e6 / n }'; }

# The packs: hie-pack-sql beside hie, and the adapter probe pack in its own directory.
[[ -f $TARGET/libhie_pack_sql.so ]] || die "$TARGET lacks libhie_pack_sql.so"
cp "$TARGET/libhie_pack_sql.so" "$WORK/bin/"
probe_sub=$PROFILE
mkdir -p "$WORK/probe" "$TARGET_DIR/test-packs"
log "building the adapter probe pack ($PROFILE)"
(
    take_build_locks
    cargo build --quiet "${profile_flag[@]}" \
        --manifest-path "$ROOT/tests/packs/adapter-probe/Cargo.toml" --target-dir "$TARGET_DIR/test-packs" >&2
    cp "$TARGET_DIR/test-packs/$probe_sub/libhie_pack_adapter_probe.so" "$WORK/probe/"
) || die "building the adapter probe pack failed"

# ---- a. SQL inbound ---------------------------------------------------------------------------
sql_a() {
    if ! "$BENCH" sql-exec --dsn "$DSN" --sql "SELECT 1" 2>"$WORK/sql-probe.err"; then
        log "!!! SQL INBOUND SKIPPED: PostgreSQL at '$DSN' does not answer ($(head -c 200 "$WORK/sql-probe.err"))"
        SQL_SKIPPED=1
        return
    fi
    SQL_SKIPPED=0
    trap '"$BENCH" sql-exec --dsn "$DSN" --sql "DROP TABLE IF EXISTS $TABLE" 2>/dev/null || true; cleanup' EXIT
    "$BENCH" sql-exec --dsn "$DSN" --sql "DROP TABLE IF EXISTS $TABLE; CREATE TABLE $TABLE (id bigserial PRIMARY KEY, msg text NOT NULL)"
    local fill="INSERT INTO $TABLE (msg) SELECT 'MSH|^~\\&|PAS|RVJ|EPR|RVJ|20261202120000||ADT^A01|B' || g || '|P|2.4' || chr(13)
        || 'PID|1||' || (9000000000 + g) || '^^^NHS^NH||SMITH^JOHN||19700101|M' || chr(13)
        || 'PV1|1|I|WARD1^BED' || (g % 30) FROM generate_series(1, $ROWS) g"
    "$BENCH" sql-exec --dsn "$DSN" --sql "$fill"
    local query="SELECT id, msg FROM $TABLE WHERE id > \$1 ORDER BY id LIMIT 1000"
    "$BENCH" sql-select --dsn "$DSN" --query "$query" --rows "$ROWS" >"$WORK/sql-select.json" || die "sql-select"
    BASE_ROWS=$(j "$WORK/sql-select.json" rows_per_s)
    log "bare SELECT loop: $BASE_ROWS rows/s ($(j "$WORK/sql-select.json" queries) queries)"

    # The engine: an empty table first, the service paused, then the rows, then resume.
    "$BENCH" sql-exec --dsn "$DSN" --sql "TRUNCATE $TABLE RESTART IDENTITY"
    local sink_port api data=$WORK/data-sql
    sink_port=$("$BENCH" free-port)
    api=127.0.0.1:$("$BENCH" free-port)
    cat >"$WORK/sql.yaml" <<EOF
name: BenchSql
durability: $DURABILITY
items:
  - id: In
    class: EnsLib.SQL.Service.GenericService
    adapter_settings:
      DSN: "$DSN"
      Query: "SELECT id, msg FROM $TABLE WHERE id > ? ORDER BY id LIMIT 1000"
      Parameters: "%LastKey"
      KeyFieldName: id
      CallInterval: 0.05
    host_settings: {TargetConfigNames: Out, MessageColumn: msg}
  - id: Out
    class: EnsLib.HL7.Operation.TCPOperation
    adapter_settings: {IPAddress: 127.0.0.1, Port: $sink_port}
    host_settings: {RetryInterval: 1}
EOF
    start_server sink sink-sql "$sink_port"
    local sink_pid=$SERVER_PID
    start_hie "$WORK/sql.yaml" "$data" "$api"
    "$BENCH" post --api "$api" --path /api/items/In/pause >/dev/null || die "pause In"
    "$BENCH" sql-exec --dsn "$DSN" --sql "$fill"
    local t0 t1 c0 c1
    c0=$(ticks "$HIE_PID")
    t0=$("$BENCH" now-ms)
    "$BENCH" post --api "$api" --path /api/items/In/resume >/dev/null || die "resume In"
    "$BENCH" wait-count --file "$WORK/sink-sql.count" --count "$ROWS" --timeout 600 >/dev/null \
        || { tail -n 30 "$data.log" >&2; die "the sink did not get every row"; }
    t1=$("$BENCH" now-ms)
    c1=$(ticks "$HIE_PID")
    ENGINE_ROWS=$(rate "$ROWS" "$t0" "$t1")
    ENGINE_ROWS_CPU=$(us_per $((c1 - c0)) "$ROWS")
    log "SQL inbound → MLLP sink: $ENGINE_ROWS rows/s, engine CPU $ENGINE_ROWS_CPU µs/row"
    stop_pid "$HIE_PID"
    stop_pid "$sink_pid"
    "$BENCH" sql-exec --dsn "$DSN" --sql "DROP TABLE IF EXISTS $TABLE"
}

# ---- b. outbound: pack adapter against the host's MLLP adapter ---------------------------------------
# run_b NAME CLASS: one engine run; appends "rate cpu" to $WORK/NAME.figures.
run_b() {
    local name=$1 class=$2 in_port sink_port api data t0 t1 c0 c1
    in_port=$("$BENCH" free-port)
    sink_port=$("$BENCH" free-port)
    api=127.0.0.1:$("$BENCH" free-port)
    data=$WORK/data-$name-$RANDOM
    cat >"$WORK/$name.yaml" <<EOF
name: BenchOut
durability: $DURABILITY
items:
  - id: In
    class: EnsLib.HL7.Service.TCPService
    adapter_settings: {Port: $in_port}
    host_settings: {TargetConfigNames: Out}
  - id: Out
    class: $class
    adapter_settings: {IPAddress: 127.0.0.1, Port: $sink_port}
    host_settings: {RetryInterval: 1}
EOF
    rm -f "$WORK/sink-$name.count"
    start_server sink "sink-$name" "$sink_port"
    local sink_pid=$SERVER_PID
    start_hie "$WORK/$name.yaml" "$data" "$api" --plugins "$WORK/probe"
    "$BENCH" load --port "$in_port" --connections "$CONNS" --messages 200 --run-id "warm$name" >/dev/null || die "warm-up $name"
    "$BENCH" wait-count --file "$WORK/sink-$name.count" --count 200 --timeout 120 >/dev/null || die "warm-up $name delivery"
    c0=$(ticks "$HIE_PID")
    t0=$("$BENCH" now-ms)
    "$BENCH" load --port "$in_port" --connections "$CONNS" --messages "$MSGS" --run-id "$name" >"$WORK/$name.json" \
        || die "load $name"
    "$BENCH" wait-count --file "$WORK/sink-$name.count" --count $((MSGS + 200)) --timeout 600 >/dev/null \
        || { tail -n 30 "$data.log" >&2; die "$name: the sink did not get every message"; }
    t1=$("$BENCH" now-ms)
    c1=$(ticks "$HIE_PID")
    echo "$(rate "$MSGS" "$t0" "$t1") $(us_per $((c1 - c0)) "$MSGS")" >>"$WORK/$name.figures"
    log "$name: $(tail -n 1 "$WORK/$name.figures" | awk '{ print $1 " msg/s delivered, engine " $2 " µs/msg" }')"
    stop_pid "$HIE_PID"
    stop_pid "$sink_pid"
    rm -rf "$data"
}

run_relay() {
    local relay_port sink_port
    relay_port=$("$BENCH" free-port)
    sink_port=$("$BENCH" free-port)
    rm -f "$WORK/sink-relay.count"
    start_server sink sink-relay "$sink_port"
    local sink_pid=$SERVER_PID
    "$BENCH" relay --port "$relay_port" --to "$sink_port" >"$WORK/relay.log" 2>&1 &
    local relay_pid=$!
    PIDS+=("$relay_pid")
    wait_port "$relay_port"
    "$BENCH" load --port "$relay_port" --connections "$CONNS" --messages "$MSGS" --run-id relay >"$WORK/relay.json" \
        || die "load relay"
    j "$WORK/relay.json" throughput >>"$WORK/relay.figures"
    log "bare relay: $(tail -n 1 "$WORK/relay.figures") msg/s"
    stop_pid "$relay_pid"
    stop_pid "$sink_pid"
}

sql_a
for ((r = 1; r <= REPEAT; r++)); do
    run_relay
    if ((r % 2)); then
        run_b host EnsLib.HL7.Operation.TCPOperation
        run_b pack HIE.Test.MllpOperation
    else
        run_b pack HIE.Test.MllpOperation
        run_b host EnsLib.HL7.Operation.TCPOperation
    fi
done

relay=$(median <"$WORK/relay.figures")
host_rate=$(awk '{ print $1 }' "$WORK/host.figures" | median)
host_cpu=$(awk '{ print $2 }' "$WORK/host.figures" | median)
pack_rate=$(awk '{ print $1 }' "$WORK/pack.figures" | median)
pack_cpu=$(awk '{ print $2 }' "$WORK/pack.figures" | median)

echo
echo "== adapters benchmark: $(nproc) cores, durability $DURABILITY, $(date -u +%FT%TZ)"
if [[ $SQL_SKIPPED == 0 ]]; then
    echo "a. SQL inbound, $ROWS rows (LIMIT 1000 a poll)"
    echo "   bare SELECT loop (baseline)          $(fmt "$BASE_ROWS") rows/s"
    echo "   GenericService → TCPOperation → sink $(fmt "$ENGINE_ROWS") rows/s  ($(ratio "$ENGINE_ROWS" "$BASE_ROWS")× the bare SELECT; engine $ENGINE_ROWS_CPU µs/row)"
else
    echo "a. SQL inbound: SKIPPED (no PostgreSQL)"
fi
echo "b. outbound adapter, $MSGS messages, $CONNS connections, medians of $REPEAT"
echo "   bare relay (baseline)                $(fmt "$relay") msg/s"
echo "   host MLLP adapter (TCPOperation)     $(fmt "$host_rate") msg/s  ($(ratio "$host_rate" "$relay")× relay; engine $host_cpu µs/msg)"
echo "   pack adapter (HIE.Test.MllpOutbound) $(fmt "$pack_rate") msg/s  ($(ratio "$pack_rate" "$relay")× relay; engine $pack_cpu µs/msg)"
echo "   pack / host                          $(ratio "$pack_rate" "$host_rate")× the rate, $(ratio "$pack_cpu" "$host_cpu")× the CPU per message"
