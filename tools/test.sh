#!/usr/bin/env bash
# The README's test command: set up, build, run every test (GPU tests report Skipped without a device).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
tools/build.sh
ctest --test-dir build --output-on-failure -j"$(nproc)"
