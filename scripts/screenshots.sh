#!/usr/bin/env bash
# Screenshots of the real saga-console window for the README, under Xvfb:
#   resources/screenshots/screenshot-demo.png         demo traffic running
#   resources/screenshots/screenshot-compensated.png  a compensated (rolled back) order expanded
# Usage: scripts/screenshots.sh [BUILD_DIR]   (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
console="$build/app/console/saga-console"
[[ -x "$console" ]] || { echo "build saga-console first: cmake --build $build --target saga-console" >&2; exit 1; }
command -v xvfb-run >/dev/null || { echo "xvfb-run is missing (apt-get install xvfb)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# A clean profile: no remembered window layout or source.
export XDG_CONFIG_HOME="$work/config" XDG_DATA_HOME="$work/data" XDG_RUNTIME_DIR="$work/run"
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
export QT_LOGGING_RULES="saga.*.info=false"
mkdir -p docs

shoot() { # FILE AFTER_MS [extra args]
    local file=$1 after=$2; shift 2
    xvfb-run -a -s "-screen 0 1400x900x24" \
        "$console" --database "sqlite:$work/saga.sqlite" --step-delay 900 \
        --screenshot "$file" --screenshot-after "$after" "$@"
    echo "wrote $file"
}

# 1. Demo running: a busy minute of traffic with failures, sagas in flight.
shoot resources/screenshots/screenshot-demo.png 30000 --demo --demo-rate 90 --demo-failures 35 --screenshot-select IN_PROGRESS
# 2. The same database again: select the latest rolled-back order and expand it.
shoot resources/screenshots/screenshot-compensated.png 9000 --demo --demo-rate 20 --demo-failures 35 --screenshot-select ROLLED_BACK
