#!/usr/bin/env bash
# ringdown's whole test suite, on a fresh machine or a developer's:
#   1. a Python virtualenv (.venv, git-ignored) with moto[server];
#   2. moto_server on a free loopback port (SQS, DynamoDB, Kinesis, SNS);
#   3. every contact flow in contact-flows/ through connect-sim's validator;
#   4. the deployment templates and Dockerfile (cfn-lint, checkov, hadolint);
#   5. every crate's tests, with the emulators required (a test that needs
#      moto fails instead of skipping), and libfaketime (Debian's faketime)
#      for the replica whose clock runs ahead;
# and stops the emulators even when something fails.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the suite needs, installed when missing.
apt_install() {
    echo "== installing $*"
    if [ "$(id -u)" = 0 ]; then apt_get=(apt-get); else apt_get=(sudo apt-get); fi
    DEBIAN_FRONTEND=noninteractive "${apt_get[@]}" install -y -qq "$@" >/dev/null 2>&1 ||
        { "${apt_get[@]}" update -qq >/dev/null &&
            DEBIAN_FRONTEND=noninteractive "${apt_get[@]}" install -y -qq "$@" >/dev/null; }
}

# libfaketime runs one replica of the fault suite on a clock of its own
# (Debian's faketime; the test fails without it).
if ! ls /usr/lib/*/faketime/libfaketime.so.1 >/dev/null 2>&1; then
    apt_install faketime
fi

# The console's tests open its pages in a real browser: Debian's chromium,
# with Japanese fonts so the Japanese pages' screenshots are readable.
if [ ! -x /usr/bin/chromium ] || ! fc-list 2>/dev/null | grep -qi "Noto Sans CJK"; then
    apt_install chromium fonts-noto-cjk
fi
export RINGDOWN_REQUIRE_BROWSER=1

# shellcheck source=tests/emulators.sh
source tests/emulators.sh
trap emulators_stop EXIT
emulators_start >/dev/null
export RINGDOWN_REQUIRE_EMULATORS=1

echo "== contact flows"
cargo run --quiet -p connect-sim -- validate contact-flows/*.json

echo "== infrastructure"
infra/check.sh

echo "== tests"
# With the AWS mode (`ringdown` builds without it by default).
cargo test --workspace --features ringdown/aws --quiet "$@"
