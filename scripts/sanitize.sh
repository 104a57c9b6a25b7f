#!/usr/bin/env bash
# Developer command: build everything with AddressSanitizer + UndefinedBehaviorSanitizer into
# build-asan/ (-DSAGA_SANITIZE=address,undefined) and run the test suite there through
# scripts/test.sh (its own PostgreSQL and WireMock). Extra arguments go to ctest (e.g. -L unit,
# -R tst_orchestrator). Child processes the tests start (saga-server, saga-console) are the
# sanitized binaries too; their reports land in the test's output.
# Any finding stops the process that made it (halt_on_error) with a stack trace. Leaks are
# reported except inside Qt's and the system's libraries (scripts/lsan.supp: never the project's
# code). Set ASAN_OPTIONS / UBSAN_OPTIONS / LSAN_OPTIONS yourself to override.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${SAGA_BUILD_DIR:-$ROOT/build-asan}
SANITIZERS=${SAGA_SANITIZE:-address,undefined}

say() { printf '\033[1m[sanitize]\033[0m %s\n' "$*"; }
die() { printf '\033[1;31m[sanitize] error:\033[0m %s\n' "$*" >&2; exit 1; }

# Configure first with the sanitizers; scripts/test.sh (through setup.sh) configures the same
# directory again and builds it, and the cached settings stay. -O1 -g1: about half the compile time
# of -O2 -g on 2 cores, and stack traces with file:line (NDEBUG as in the normal build).
mkdir -p "$BUILD_DIR"
say "configuring $BUILD_DIR with -fsanitize=$SANITIZERS"
cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" -DSAGA_SANITIZE="$SANITIZERS" >"$BUILD_DIR/configure-sanitize.log" 2>&1 \
    || { cat "$BUILD_DIR/configure-sanitize.log" >&2; die "cmake configure failed (log above)"; }

export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:abort_on_error=0:detect_leaks=1:check_initialization_order=1:strict_string_checks=1:detect_stack_use_after_return=0:print_summary=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1:report_error_type=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$ROOT/scripts/lsan.supp:print_suppressions=0}
# Everything runs 2-5 times slower: QtTest's own limit per test function (300 s) is raised so a
# long data-driven function (tst_ordertreemodel randomSequences) is not cut off; ctest's per-test
# TIMEOUT still applies.
export QTEST_FUNCTION_TIMEOUT=${QTEST_FUNCTION_TIMEOUT:-1800000}
say "ASAN_OPTIONS=$ASAN_OPTIONS"
say "UBSAN_OPTIONS=$UBSAN_OPTIONS"
say "LSAN_OPTIONS=$LSAN_OPTIONS"

SAGA_BUILD_DIR=$BUILD_DIR exec "$ROOT/scripts/test.sh" "$@"
