#!/usr/bin/env bash
# CI: a short libFuzzer run of every fuzz target (docs/fuzzing.md).
#
#   tests/fuzz/run-ci.sh                 # FUZZ_SECONDS (default 20) per target
#
# Builds the targets (cargo-fuzz, --sanitizer none by default), then runs each one for
# FUZZ_SECONDS on its seeds, its regressions and the local corpus when there is one (read
# only: new inputs go to a temporary directory). Exits 1 when a target crashes, fails an
# assertion, hangs (-timeout) or a build of HIE's code fails; the crashing input is kept in
# $FUZZ_ARTIFACTS (default tests/fuzz/artifacts/ci/). Exits 0 with a loud SKIPPED banner when this
# machine cannot build fuzz targets at all (no cargo-fuzz and no way to install it, or a
# toolchain that cannot build libfuzzer-sys).
#
# Environment: FUZZ_SECONDS, FUZZ_SANITIZER (none|address; address needs RUSTC_BOOTSTRAP,
# set here), FUZZ_TARGET_DIR (default tests/fuzz/target), FUZZ_ARTIFACTS, FUZZ_TARGETS (space
# separated subset).
set -uo pipefail
cd "$(dirname "$0")"
FUZZ_DIR=$(pwd)
SECS=${FUZZ_SECONDS:-20}
SAN=${FUZZ_SANITIZER:-none}
TARGET_DIR=${FUZZ_TARGET_DIR:-$FUZZ_DIR/target}
ARTIFACTS=${FUZZ_ARTIFACTS:-$FUZZ_DIR/artifacts/ci}
TARGETS=${FUZZ_TARGETS:-"hl7_message mllp_framer framing schema_paths schema_xml production_iris production_yaml routing_rules iris_classes worker_protocol journal_log"}
LOCK=/tmp/hie-cargo.lock
START=$(date +%s)

skip() {
    echo
    echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
    echo "!!! FUZZING SKIPPED: $1"
    echo "!!! The fuzz targets were NOT run. See docs/fuzzing.md for the toolchain needed."
    echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
    exit 0
}

# One cargo at a time on a shared machine (flock when it is there).
cargo_locked() {
    if command -v flock >/dev/null; then nice -n 19 flock "$LOCK" cargo "$@"; else nice -n 19 cargo "$@"; fi
}

command -v cargo >/dev/null || skip "no cargo on PATH"
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== cargo-fuzz not found: installing it from crates.io"
    cargo_locked install cargo-fuzz --locked >/tmp/hie-fuzz-install.log 2>&1 \
        || { tail -20 /tmp/hie-fuzz-install.log; skip "cargo-fuzz is not installed and could not be installed"; }
fi
echo "== $(cargo fuzz --version), $(rustc --version), sanitizer $SAN, ${SECS}s per target"

# cargo-fuzz's flags are nightly-only with a sanitizer (-Zsanitizer); RUSTC_BOOTSTRAP=1 lets
# the stable toolchain take them. With --sanitizer none every flag is stable.
export RUSTC_BOOTSTRAP=1
BUILD_LOG=$(mktemp)
if ! cargo_locked fuzz build -s "$SAN" --target-dir "$TARGET_DIR" >"$BUILD_LOG" 2>&1; then
    tail -40 "$BUILD_LOG"
    # Tell a toolchain that cannot build fuzz targets at all from a build error in HIE's code:
    # build a fuzz target that is nothing but libfuzzer-sys the same way.
    PROBE=$(mktemp -d)
    mkdir -p "$PROBE/fuzz_targets"
    cat >"$PROBE/Cargo.toml" <<TOML
[package]
name = "probe-fuzz"
version = "0.0.0"
edition = "2021"
publish = false
[package.metadata]
cargo-fuzz = true
[workspace]
[dependencies]
libfuzzer-sys = "0.4"
[[bin]]
name = "probe"
path = "fuzz_targets/probe.rs"
TOML
    printf '#![no_main]\nlibfuzzer_sys::fuzz_target!(|d: &[u8]| { let _ = d.len(); });\n' >"$PROBE/fuzz_targets/probe.rs"
    if (cd "$PROBE" && cargo_locked fuzz build -s "$SAN" --fuzz-dir "$PROBE" >"$PROBE/build.log" 2>&1); then
        rm -rf "$PROBE"
        echo "FAIL: the fuzz targets do not build (a plain libFuzzer target does): see above"
        exit 1
    fi
    tail -20 "$PROBE/build.log"
    rm -rf "$PROBE"
    skip "this toolchain cannot build libFuzzer targets (cargo fuzz build -s $SAN failed even for an empty target)"
fi
BUILT=$(date +%s)
echo "== built in $((BUILT - START))s"

BIN="$TARGET_DIR/x86_64-unknown-linux-gnu/release"
mkdir -p "$ARTIFACTS"
# Seeds from the repository's own data (seed.sh), the committed regressions, and the local
# long-run corpus when this machine has one (tests/fuzz/corpus/, git-ignored: it is hundreds of MB).
FUZZ_BIN_DIR="$BIN" ./seed.sh >/dev/null || { echo "FAIL: the seed generator failed"; exit 1; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
failed=()
for t in $TARGETS; do
    case $t in
        mllp_framer | framing) max=(-max_len=1024) ;;
        worker_protocol | journal_log) max=() ;;
        *) max=(-max_len=4096) ;;
    esac
    # A target without seeds yet starts from an empty corpus rather than failing.
    mkdir -p "$WORK/$t" "$WORK/$t.regressions" "$FUZZ_DIR/seeds/$t"
    cp regressions/"$t"-* "$WORK/$t.regressions/" 2>/dev/null
    dirs=("$WORK/$t" "$WORK/$t.regressions" "$FUZZ_DIR/seeds/$t")
    [ -d "$FUZZ_DIR/corpus/$t" ] && dirs+=("$FUZZ_DIR/corpus/$t")
    # -jobs=1 runs the one fuzzing process as a child writing fuzz-0.log in the cwd.
    (cd "$WORK" && nice -n 19 "$BIN/$t" -max_total_time="$SECS" -workers=1 -jobs=1 -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 "${max[@]}" -artifact_prefix="$ARTIFACTS/$t-" \
        "${dirs[@]}" >"$WORK/$t.parent.log" 2>&1)
    rc=$?
    log="$WORK/fuzz-0.log"
    [ -f "$log" ] || log="$WORK/$t.parent.log"
    runs=$(grep -ao 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    rate=$(grep -ao 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    if [ $rc -ne 0 ] || grep -aqE 'panicked at|==ERROR|SUMMARY: libFuzzer|^Done 0 runs' "$log"; then
        echo "== $t: FAILED (exit $rc)"
        grep -aE -A15 'panicked at|==ERROR|SUMMARY' "$log" | head -40
        ls "$ARTIFACTS/$t-"* 2>/dev/null | sed 's/^/   input kept: /'
        failed+=("$t")
    else
        echo "== $t: ok, ${runs:-?} runs, ${rate:-?} exec/s"
    fi
    cp "$log" "$ARTIFACTS/$t.log" 2>/dev/null
    rm -f "$WORK/fuzz-0.log"
done
echo "== fuzzing took $(( $(date +%s) - BUILT ))s, $(( $(date +%s) - START ))s in all"
if [ ${#failed[@]} -gt 0 ]; then
    echo "FAIL: ${failed[*]} (inputs and logs in $ARTIFACTS)"
    exit 1
fi
echo "all fuzz targets ran without a crash"
