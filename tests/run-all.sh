#!/usr/bin/env bash
# Every test HIE has, on a fresh machine: the README's test command, and what .ci/run runs.
#   1. tests/setup.sh       installs the peers the tests talk to (aiosmtpd, python-hl7)
#   2. clippy -D warnings   the workspace lints (missing_docs, unwrap_used outside tests)
#   3. cargo build + test   the unit and end-to-end tests (real binary, sockets, packs,
#                           PostgreSQL from HIE_TEST_POSTGRES)
#   4. the soak, 3 minutes  tests/soak/run.sh at 200 msg/s with kill -9s, a receiver
#                           outage and a pack swap (debug build; the full hour is by hand)
#   5. fuzzing, 20 s each   tests/fuzz/run-ci.sh (installs cargo-fuzz when missing)
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/setup.sh
# clippy ships with rustup's default profile; a minimal toolchain adds it here.
cargo clippy --version >/dev/null 2>&1 || rustup component add clippy
cargo clippy --workspace -- -D warnings
cargo build --workspace
cargo test --workspace
SOAK_SECONDS=180 SOAK_RATE=200 SOAK_EVENT_EVERY=20 HIE_PROFILE=debug SKIP_BUILD=1 bash tests/soak/run.sh
bash tests/fuzz/run-ci.sh
