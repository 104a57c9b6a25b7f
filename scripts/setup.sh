#!/usr/bin/env bash
# Installs what is missing and builds Saga Console. Idempotent.
#   scripts/setup.sh            runtime + build packages, then build
#   scripts/setup.sh --test     also the test services (PostgreSQL, Java, WireMock, Xvfb, wrk, nginx)
# Fails loudly, with the reason, when something cannot be installed or built.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${SAGA_BUILD_DIR:-$ROOT/build}
WIREMOCK_VERSION=3.13.2
WITH_TEST=0
[[ "${1:-}" == "--test" ]] && WITH_TEST=1

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
die() { printf '\033[1;31m[setup] error:\033[0m %s\n' "$*" >&2; exit 1; }

BUILD_PACKAGES=(cmake ninja-build g++ pkg-config ccache
    qt6-base-dev qt6-httpserver-dev qt6-websockets-dev libqt6opengl6-dev
    libqt6sql6-psql libqt6sql6-sqlite qt6-svg-dev qt6-charts-dev
    qt6-tools-dev qt6-l10n-tools libjwt-dev libpq-dev libsqlite3-dev libgl-dev xvfb xauth)
TEST_PACKAGES=(postgresql postgresql-client openjdk-17-jre-headless wrk nginx curl)

packages=("${BUILD_PACKAGES[@]}")
(( WITH_TEST )) && packages+=("${TEST_PACKAGES[@]}")
command -v npm >/dev/null 2>&1 || { (( WITH_TEST )) && packages+=(npm); }

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if ((${#missing[@]})); then
    say "installing: ${missing[*]}"
    SUDO=()
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null 2>&1 || die "need root to install ${missing[*]} (run as root, or install them yourself)"
        SUDO=(sudo)
    fi
    export DEBIAN_FRONTEND=noninteractive
    "${SUDO[@]}" apt-get update -q || die "apt-get update failed (no network or broken sources list?)"
    "${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" \
        || die "apt-get install failed for: ${missing[*]}"
    # A Debian postgresql install starts a cluster on 5432; the tests start their own.
else
    say "all packages present"
fi

if (( WITH_TEST )); then
    jar=$(ls "$ROOT"/.deps/node_modules/wiremock/build/wiremock-standalone-*.jar 2>/dev/null | tail -n1 || true)
    if [[ -z "$jar" ]]; then
        say "installing WireMock $WIREMOCK_VERSION from npm into .deps/"
        mkdir -p "$ROOT/.deps"
        npm install --silent --no-audit --no-fund --prefix "$ROOT/.deps" "wiremock@$WIREMOCK_VERSION" \
            || die "npm install wiremock@$WIREMOCK_VERSION failed"
        jar=$(ls "$ROOT"/.deps/node_modules/wiremock/build/wiremock-standalone-*.jar 2>/dev/null | tail -n1 || true)
        [[ -n "$jar" ]] || die "the wiremock npm package did not contain the standalone jar"
    fi
fi

say "configuring in $BUILD_DIR"
mkdir -p "$BUILD_DIR"
cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$BUILD_DIR/configure.log" 2>&1 \
    || { cat "$BUILD_DIR/configure.log" >&2; die "cmake configure failed (log above)"; }
say "building (this takes a few minutes the first time)"
cmake --build "$BUILD_DIR" -j"$(nproc)" || die "build failed (errors above)"
say "build ready in $BUILD_DIR"
