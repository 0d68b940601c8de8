#!/usr/bin/env bash
# Renders the deployable template: infra/build/ringdown.packaged.yaml, with the
# contact flows from contact-flows/*.json inlined. Deploy that file (see
# infra/README.md), never infra/ringdown.yaml itself.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 infra/render.py
