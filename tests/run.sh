#!/usr/bin/env bash
# ringdown's whole test suite, on a fresh machine or a developer's:
#   1. a Python virtualenv (.venv, git-ignored) with moto[server];
#   2. moto_server on a free loopback port (SQS, DynamoDB, Kinesis, SNS);
#   3. every contact flow in contact-flows/ through connect-sim's validator;
#   4. the deployment templates and Dockerfile (cfn-lint, checkov, hadolint);
#   5. every crate's tests, with the emulators required (a test that needs
#      moto fails instead of skipping);
# and stops the emulators even when something fails.
set -euo pipefail
cd "$(dirname "$0")/.."

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
cargo test --workspace --quiet "$@"
