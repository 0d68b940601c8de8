#!/usr/bin/env bash
# ringdown's benchmark, from a fresh clone:
#   bench/run.sh                 # everything: report in target/bench/
#   bench/run.sh --only storm30  # one run (latency, storm3, storm30, alertmanager)
#
# It installs what it needs (the moto virtualenv; Debian's
# prometheus-alertmanager for the side-by-side run), builds ringdown and the
# bench in release mode, measures the core pipeline with criterion, starts
# moto on loopback, and runs `ringdown-bench`, which writes
# target/bench/report.json and target/bench/report.md.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x /usr/bin/prometheus-alertmanager ]; then
    echo "== installing prometheus-alertmanager (Debian)" >&2
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq prometheus-alertmanager >&2
    # The package starts a system service; the bench runs its own copy.
    $SUDO systemctl stop prometheus-alertmanager 2>/dev/null || true
fi

echo "== building (release)" >&2
cargo build --release --quiet -p ringdown -p ringdown-proof --features ringdown/aws

echo "== core pipeline (criterion)" >&2
cargo bench --quiet -p ringdown-core --bench pipeline -- --noplot 2>&1 | grep -E "^parse|thrpt:" >&2 || true

# shellcheck source=tests/emulators.sh
source tests/emulators.sh
trap emulators_stop EXIT
emulators_start >/dev/null

echo "== whole-system runs" >&2
target/release/ringdown-bench --out target/bench "$@"
