#!/usr/bin/env bash
# Engine benchmark (issue 3): sagas/s with zero-latency simulated steps (64 in flight)
# on SQLite and PostgreSQL next to `pgbench -N` on the same cluster, and 100 ms step
# latency with 2,000 sagas in flight. Extra arguments go to bench_engine (--help).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
build="${SAGA_BENCH_BUILD_DIR:-$here/build-bench}"
cmake -S "$here" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" --target bench_engine -j"$(nproc)"
QT_LOGGING_RULES="saga.*.info=false;saga.*.debug=false" "$build/tests/bench/bench_engine" "$@"
