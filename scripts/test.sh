#!/usr/bin/env bash
# Command 2 of the README (and all of .ci/run): install what is missing (incl.
# PostgreSQL, Java, WireMock), build, start a real PostgreSQL and a real WireMock
# on 127.0.0.1, run every ctest label (unit, integration, gui, reliability), stop
# the services (by PID) whatever happens. Extra arguments go to ctest (e.g. -L unit).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${SAGA_BUILD_DIR:-$ROOT/build}
export SAGA_BUILD_DIR=$BUILD_DIR

say() { printf '\033[1m[test]\033[0m %s\n' "$*"; }
die() { printf '\033[1;31m[test] error:\033[0m %s\n' "$*" >&2; exit 1; }

"$ROOT/scripts/setup.sh" --test

RUN_DIR=$(mktemp -d /tmp/saga-test-run.XXXXXX)
PG_PID=""; WM_PID=""
cleanup() {
    set +e
    if [[ -n "$WM_PID" ]]; then kill "$WM_PID" 2>/dev/null; wait "$WM_PID" 2>/dev/null; fi
    if [[ -n "$PG_PID" ]]; then
        kill -INT "$PG_PID" 2>/dev/null   # fast shutdown of the postmaster
        for _ in $(seq 50); do kill -0 "$PG_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$PG_PID" 2>/dev/null
    fi
    rm -rf "$RUN_DIR"
}
trap cleanup EXIT INT TERM

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
    local p
    for _ in $(seq 200); do
        p=$(( 20000 + RANDOM % 40000 ))
        port_free "$p" && { echo "$p"; return 0; }
    done
    return 1
}

# --- PostgreSQL: a throw-away cluster in a temp dir, loopback only ----------
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
[[ -x "$PG_BIN/initdb" ]] || die "PostgreSQL server binaries not found under /usr/lib/postgresql"
as_pg() { if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }
mkdir -p "$RUN_DIR/pg"; [[ $(id -u) -eq 0 ]] && chown postgres:postgres "$RUN_DIR" "$RUN_DIR/pg"
chmod 755 "$RUN_DIR"
as_pg "$PG_BIN/initdb" -D "$RUN_DIR/pg/data" -U postgres --auth=trust -E UTF8 --no-sync >"$RUN_DIR/initdb.log" 2>&1 \
    || { cat "$RUN_DIR/initdb.log" >&2; die "initdb failed"; }
PG_PORT=$(free_port) || die "no free loopback port for PostgreSQL"
as_pg "$PG_BIN/pg_ctl" -D "$RUN_DIR/pg/data" -l "$RUN_DIR/pg/server.log" -w -t 60 \
    -o "-p $PG_PORT -k $RUN_DIR/pg -c listen_addresses=127.0.0.1 -c max_connections=400 -c fsync=on" start >/dev/null \
    || { cat "$RUN_DIR/pg/server.log" >&2; die "PostgreSQL did not start"; }
PG_PID=$(head -n1 "$RUN_DIR/pg/data/postmaster.pid")
say "PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PG_PORT (pid $PG_PID)"

# --- WireMock: the standalone jar from npm, run by java directly -------------
JAR=$(ls "$ROOT"/.deps/node_modules/wiremock/build/wiremock-standalone-*.jar | tail -n1)
java -jar "$JAR" --port 0 --bind-address 127.0.0.1 --root-dir "$ROOT/resources/wiremock" \
    --disable-banner --async-response-enabled=true >"$RUN_DIR/wiremock.log" 2>&1 &
WM_PID=$!
WM_PORT=""
for _ in $(seq 600); do
    WM_PORT=$(sed -n 's/^port: *\([0-9][0-9]*\).*/\1/p' "$RUN_DIR/wiremock.log" | head -n1)
    [[ -n "$WM_PORT" ]] && break
    kill -0 "$WM_PID" 2>/dev/null || { cat "$RUN_DIR/wiremock.log" >&2; die "WireMock exited"; }
    sleep 0.1
done
[[ -n "$WM_PORT" ]] || { cat "$RUN_DIR/wiremock.log" >&2; die "WireMock did not start within 60 s"; }
say "WireMock on 127.0.0.1:$WM_PORT (pid $WM_PID)"

export SAGA_TEST_PG_URL="postgresql://postgres@127.0.0.1:$PG_PORT/postgres"
export SAGA_TEST_WIREMOCK_URL="http://127.0.0.1:$WM_PORT"
export SAGA_WIREMOCK_JAR="$JAR"
export SAGA_PG_BINDIR="$PG_BIN"

say "running every test label (unit, integration, gui, reliability)"
cd "$BUILD_DIR"
status=0
# One test program at a time per core (ctest -j): most of a test's time is waiting (steps,
# leases, backoffs, child processes), so the suite takes about half as long; tests that
# share WireMock's journal hold a ctest resource lock (tests/CMakeLists.txt), every other
# shared service is per test (own database, own ports, own temp dir). `-j1` as an
# argument runs them one at a time.
ctest --output-on-failure --timeout 900 -j"$(nproc)" "$@" || status=$?
if (( status != 0 )); then
    say "some tests failed; PostgreSQL log tail:"; tail -n 20 "$RUN_DIR/pg/server.log" || true
fi
exit $status
