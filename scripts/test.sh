#!/usr/bin/env bash
# The whole test suite: dependencies, a sanitizer build (ASan+UBSan), ctest.
# This is the README's second quick-start command and what .ci/run calls.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
build=${KILN_TEST_BUILD:-build-asan}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DKILN_SANITIZE=ON >/dev/null
cmake --build "$build" -j"$(nproc)"
# The optimized build must also compile cleanly (-O2 finds warnings -O0 misses).
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
cd "$build"
ctest --output-on-failure -j"$(nproc)" "$@"
