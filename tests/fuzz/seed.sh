#!/usr/bin/env bash
# Regenerates the seed inputs of every target into tests/fuzz/seeds/<target>/ (git-ignored) from
# the repository's real data (see src/bin/gen-seeds.rs), with the HL7 samples of
# ../shared/samples/hl7 too when that directory exists. Build first:
#   cd tests/fuzz && cargo fuzz build -s none
# Then fuzz with the seeds as a second corpus directory, e.g.
#   target/x86_64-unknown-linux-gnu/release/hl7_message corpus/hl7_message seeds/hl7_message
set -euo pipefail
cd "$(dirname "$0")"
BIN=${FUZZ_BIN_DIR:-target/x86_64-unknown-linux-gnu/release}
rm -rf seeds
extra=()
[ -d ../../../shared/samples/hl7 ] && extra=(../../../shared/samples/hl7)
"$BIN/gen-seeds" seeds "${extra[@]}"
