#!/usr/bin/env bash
# Command 1 of the README: install what is missing, build, start the console with
# demo traffic on its embedded default (SQLite in your data folder, simulated steps).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$ROOT/scripts/setup.sh"
CONSOLE=${SAGA_BUILD_DIR:-$ROOT/build}/app/console/saga-console
if [[ -z "${DISPLAY:-}" && -z "${WAYLAND_DISPLAY:-}" ]]; then
    echo "[demo] no display found: running under Xvfb (headless). Set DISPLAY to see the window." >&2
    exec xvfb-run -a -s "-screen 0 1400x900x24" "$CONSOLE" --demo "$@"
fi
exec "$CONSOLE" --demo "$@"
