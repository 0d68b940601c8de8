#!/usr/bin/env bash
# Local AWS emulators for ringdown's tests.
#
#   tests/emulators.sh install        # create .venv (if missing) with moto[server]
#   eval "$(tests/emulators.sh start)" # start moto_server, export RINGDOWN_TEST_MOTO_URL
#   tests/emulators.sh status
#   tests/emulators.sh stop
#
# or `source tests/emulators.sh` and call emulators_install / emulators_start /
# emulators_stop (emulators_start then exports RINGDOWN_TEST_MOTO_URL itself).
#
# moto keeps all state in one process: tests use unique resource names.
# connect-sim (Amazon Connect) is started in-process by the Rust tests.

_EMU_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
EMU_VENV="${EMU_VENV:-$_EMU_ROOT/.venv}"
EMU_RUN_DIR="${EMU_RUN_DIR:-$EMU_VENV/run}"
MOTO_VERSION="${MOTO_VERSION:-5.2.1}"

_emu_log() { echo "emulators: $*" >&2; }

emulators_install() {
    if [ ! -x "$EMU_VENV/bin/python" ]; then
        _emu_log "creating virtualenv $EMU_VENV"
        python3 -m venv "$EMU_VENV" || return 1
    fi
    if ! "$EMU_VENV/bin/python" -c "import moto, sys; sys.exit(0 if moto.__version__ == '$MOTO_VERSION' else 1)" 2>/dev/null \
        || [ ! -x "$EMU_VENV/bin/moto_server" ]; then
        _emu_log "installing moto[server]==$MOTO_VERSION"
        "$EMU_VENV/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION" >&2 || return 1
    fi
}

# True when an HTTP GET of $1 answers 2xx (python: curl may be absent).
_emu_http_ok() {
    "$EMU_VENV/bin/python" - "$1" <<'PY' 2>/dev/null
import sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=2) as r:
        sys.exit(0 if 200 <= r.status < 300 else 1)
except Exception:
    sys.exit(1)
PY
}

_emu_free_port() {
    "$EMU_VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Start moto_server on a free loopback port (idempotent: reuses a running one).
# Prints `export RINGDOWN_TEST_MOTO_URL=...` on stdout and exports it.
emulators_start() {
    emulators_install || return 1
    mkdir -p "$EMU_RUN_DIR"
    local pidf="$EMU_RUN_DIR/moto.pid" urlf="$EMU_RUN_DIR/moto.url"
    if [ -f "$pidf" ] && kill -0 "$(cat "$pidf")" 2>/dev/null && [ -f "$urlf" ] \
        && _emu_http_ok "$(cat "$urlf")/moto-api/"; then
        export RINGDOWN_TEST_MOTO_URL="$(cat "$urlf")"
        echo "export RINGDOWN_TEST_MOTO_URL=$RINGDOWN_TEST_MOTO_URL"
        return 0
    fi
    local port url pid i
    port="$(_emu_free_port)" || return 1
    url="http://127.0.0.1:$port"
    nohup "$EMU_VENV/bin/moto_server" -H 127.0.0.1 -p "$port" >"$EMU_RUN_DIR/moto.log" 2>&1 &
    pid=$!
    echo "$pid" >"$pidf"
    for i in $(seq 1 100); do
        if _emu_http_ok "$url/moto-api/"; then
            echo "$url" >"$urlf"
            export RINGDOWN_TEST_MOTO_URL="$url"
            _emu_log "moto_server $MOTO_VERSION up at $url (pid $pid)"
            echo "export RINGDOWN_TEST_MOTO_URL=$url"
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            _emu_log "moto_server exited; log:"; cat "$EMU_RUN_DIR/moto.log" >&2
            return 1
        fi
        sleep 0.2
    done
    _emu_log "moto_server did not answer within 20 s; log:"; cat "$EMU_RUN_DIR/moto.log" >&2
    kill "$pid" 2>/dev/null
    return 1
}

emulators_stop() {
    local pidf="$EMU_RUN_DIR/moto.pid"
    if [ -f "$pidf" ]; then
        local pid; pid="$(cat "$pidf")"
        if kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null
            for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -9 "$pid" 2>/dev/null || true
            _emu_log "moto_server (pid $pid) stopped"
        fi
        rm -f "$pidf" "$EMU_RUN_DIR/moto.url"
    fi
    unset RINGDOWN_TEST_MOTO_URL
}

emulators_status() {
    local urlf="$EMU_RUN_DIR/moto.url"
    if [ -f "$urlf" ] && _emu_http_ok "$(cat "$urlf")/moto-api/"; then
        echo "moto: up at $(cat "$urlf")"
    else
        echo "moto: down"; return 1
    fi
}

# Run as a command (not sourced).
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -u
    case "${1:-}" in
        install) emulators_install ;;
        start) emulators_start ;;
        stop) emulators_stop ;;
        status) emulators_status ;;
        *) echo "usage: $0 install|start|stop|status" >&2; exit 64 ;;
    esac
fi
