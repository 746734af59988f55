# Shared by the benchmark scripts in this directory (run.sh, modes.sh, reload.sh,
# search.sh). Source it after `set -euo pipefail` with BENCH_NAME set (the log prefix and
# the work directory's name). On sourcing it:
#   - builds the workspace (HIE_PROFILE [release]) unless SKIP_BUILD=1;
#   - creates the work directory $WORK (BENCH_DIR, or a fresh mktemp), removed on exit
#     unless BENCH_KEEP=1, and kills every pid in PIDS on exit;
#   - copies hie, hie-bench and the standard pack into $WORK/bin ($HIE, $BENCH), so a
#     rebuild of target/ during the run cannot swap binaries or trigger a pack reload.
# Scripts add their own pids to PIDS and may call build_probe, start_server, start_hie.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PROFILE=${HIE_PROFILE:-release}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
TARGET=$TARGET_DIR/$PROFILE
SMOKE=${SMOKE:-0}
HIE_LOG_LEVEL=${BENCH_HIE_LOG:-warn}

log() { printf '[%s %s] %s\n' "$BENCH_NAME" "$(date +%T)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }
need() { command -v "$1" >/dev/null || die "$1 is needed"; }

# ---- build ------------------------------------------------------------------------------
# One cargo at a time on this machine: builds take the lock the test kit takes too.
cargo_locked() {
    if command -v flock >/dev/null; then
        (cd "$ROOT" && flock /tmp/hie-cargo.lock cargo "$@") >&2
    else
        (cd "$ROOT" && cargo "$@") >&2
    fi
}
profile_flag=()
[[ $PROFILE == release ]] && profile_flag=(--release)
[[ $PROFILE != release && $PROFILE != debug ]] && profile_flag=(--profile "$PROFILE")
if [[ ${SKIP_BUILD:-0} != 1 ]]; then
    log "building the workspace ($PROFILE)"
    cargo_locked build "${profile_flag[@]}" --workspace
fi
[[ -x $TARGET/hie && -x $TARGET/hie-bench && -f $TARGET/libhie_pack_hl7.so ]] \
    || die "$TARGET lacks hie, hie-bench or libhie_pack_hl7.so (build first, or set HIE_PROFILE)"

# ---- work directory and process bookkeeping -----------------------------------------------
if [[ -n ${BENCH_DIR:-} ]]; then
    WORK=$BENCH_DIR
    mkdir -p "$WORK"
else
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/hie-$BENCH_NAME.XXXXXX")
fi
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
    if [[ ${BENCH_KEEP:-0} == 1 ]]; then
        log "work directory kept: $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Private copies of the binaries (the hl7 pack is found beside hie).
mkdir -p "$WORK/bin"
cp "$TARGET/hie" "$TARGET/hie-bench" "$TARGET/libhie_pack_hl7.so" "$WORK/bin/"
HIE=$WORK/bin/hie
BENCH=$WORK/bin/hie-bench

# take_build_locks: in a subshell, holds /tmp/hie-cargo.lock (when flock is there) and then
# target/test-packs/.build-lock until the subshell ends.
take_build_locks() {
    if command -v flock >/dev/null; then
        exec 8>/tmp/hie-cargo.lock
        flock 8
    fi
    exec 9>"$TARGET_DIR/test-packs/.build-lock"
    flock 9
}

# build_probe VERSION DIR: builds the probe pack ($PROFILE) with HIE_PROBE_VERSION=VERSION
# into target/test-packs and copies the .so into DIR. Holds the test packs' build lock
# (tests/src/packs.rs) across build and copy.
build_probe() {
    local version=$1 dir=$2 sub=$PROFILE
    [[ $PROFILE == debug ]] && sub=debug
    mkdir -p "$dir" "$TARGET_DIR/test-packs"
    log "building the probe pack $version ($PROFILE)"
    (
        # The cargo lock first, then the packs' build lock: the order the test kit takes
        # them in (its packs are built under a `flock ... cargo test`), or the two deadlock.
        take_build_locks
        HIE_PROBE_VERSION=$version cargo build --quiet "${profile_flag[@]}" \
            --manifest-path "$ROOT/tests/packs/probe/Cargo.toml" --target-dir "$TARGET_DIR/test-packs" >&2
        cp "$TARGET_DIR/test-packs/$sub/libhie_pack_probe.so" "$dir/"
    ) || die "building the probe pack failed"
}

# ---- figures ----------------------------------------------------------------------------------
j() { "$BENCH" json "$@"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "n/a" }'; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.0f%%", 100 * a / b; else printf "n/a" }'; }
# rate N T0_MS T1_MS: N messages over the time between two unix-ms stamps, per second.
rate() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%.1f", n / ((b - a) / 1000) }'; }
fmt() { awk -v a="$1" 'BEGIN { printf "%.0f", a }'; }
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }
yesno() { if "$@"; then echo yes; else echo "**no**"; fi; }

# ---- processes ----------------------------------------------------------------------------------
wait_port() {
    local port=$1 i
    for ((i = 0; i < 400; i++)); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        sleep 0.025
    done
    die "nothing listens on port $port"
}

# start_server KIND NAME PORT: starts `hie-bench echo|sink` on PORT, counting into
# $WORK/NAME.count (log $WORK/NAME.log); sets SERVER_PID once the port listens.
start_server() {
    local kind=$1 name=$2 port=$3
    "$BENCH" "$kind" --port "$port" --count-file "$WORK/$name.count" >"$WORK/$name.log" 2>&1 &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    wait_port "$port"
}

# start_hie CONFIG DATA API [ARGS...]: runs hie on CONFIG (log DATA.log, extra ARGS passed
# on); sets HIE_PID once the production is Running.
start_hie() {
    local config=$1 data=$2 api=$3
    shift 3
    HIE_LOG=$HIE_LOG_LEVEL "$HIE" run "$config" --data-dir "$data" --api "$api" "$@" >>"$data.log" 2>&1 &
    HIE_PID=$!
    PIDS+=("$HIE_PID")
    "$BENCH" wait-depth --api "$api" --item In --depth 0 --running --timeout 120 >/dev/null \
        || { tail -n 40 "$data.log" >&2; die "hie did not start ($config)"; }
}

stop_pid() {
    local pid=$1
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
}

# probe_production FILE NAME DURABILITY MODE CONCURRENCY IN_PORT SINK_PORT: In (TCPService)
# → Work (HIE.Test.Probe in MODE, CONCURRENCY) → Out (TCPOperation to the hie-bench sink).
probe_production() {
    cat >"$1" <<EOF
name: $2
description: hie-bench $2 (MLLP in, HIE.Test.Probe as $4 x$5, MLLP out to hie-bench sink)
durability: $3
items:
  - id: In
    class: EnsLib.HL7.Service.TCPService
    adapter_settings: {Port: $6}
    host_settings: {TargetConfigNames: Work}
  - id: Work
    class: HIE.Test.Probe
    execution_mode: $4
    concurrency: $5
    host_settings: {TargetConfigNames: Out}
  - id: Out
    class: EnsLib.HL7.Operation.TCPOperation
    adapter_settings: {IPAddress: 127.0.0.1, Port: $7}
    host_settings: {RetryInterval: 1}
EOF
}
