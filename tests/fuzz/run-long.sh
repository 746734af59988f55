#!/usr/bin/env bash
# Long fuzzing runs, one target after another (one fuzzer process at a time, nice 19):
#   tests/fuzz/run-long.sh [RUNS] [TARGET...]      (default: 10,000,000 runs of every target)
# Needs the targets built first (docs/fuzzing.md):
#   cd tests/fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz build -s none
# New inputs go to corpus/<target>/ (minimise afterwards with `cargo fuzz cmin`), crashes
# to artifacts/<target>/, libFuzzer's output to logs/<target>.log. (-jobs=1 makes libFuzzer
# run the one fuzzing process as its child, writing fuzz-0.log, which is moved to logs/.)
set -uo pipefail
cd "$(dirname "$0")"
RUNS=${1:-10000000}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(mllp_framer framing worker_protocol journal_log hl7_message schema_paths schema_xml \
    production_iris production_yaml routing_rules iris_classes)
BIN=${FUZZ_BIN_DIR:-target/x86_64-unknown-linux-gnu/release}
mkdir -p logs
status=0
for t in "${TARGETS[@]}"; do
    mkdir -p "corpus/$t" "artifacts/$t"
    extra=()
    case $t in
        mllp_framer|framing) extra=(-max_len=1024) ;;
        worker_protocol|journal_log) ;;
        *) extra=(-max_len=4096) ;;
    esac
    start=$(date +%s)
    nice -n 19 "$BIN/$t" -runs="$RUNS" -workers=1 -jobs=1 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        "${extra[@]}" -artifact_prefix="artifacts/$t/" "corpus/$t" >"logs/$t.log" 2>&1
    rc=$?
    [ -f fuzz-0.log ] && cat fuzz-0.log >>"logs/$t.log" && rm -f fuzz-0.log
    secs=$(( $(date +%s) - start ))
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "logs/$t.log" | grep -o '[0-9]*$')
    rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "logs/$t.log" | grep -o '[0-9]*$')
    echo "$t: rc=$rc runs=${runs:-?} exec/s=${rate:-?} seconds=$secs" | tee -a logs/summary.txt
    [ $rc -eq 0 ] || status=1
done
exit $status
