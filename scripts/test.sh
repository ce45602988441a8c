#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what is missing, builds, runs every test.
#
#   scripts/test.sh            the main build (CUDA kernels compiled with nvcc when a toolkit is
#                              present; run through the CPU emulation layer here) + an
#                              AddressSanitizer build of the engine and the emulated kernels
#   EDNN_TEST_ASAN=0 scripts/test.sh    skip the AddressSanitizer build
#
# Tests that need a GPU are labelled `gpu` and report as skipped on machines without one; tests
# labelled `noasan` (long end-to-end runs) are left out of the sanitizer build.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
jobs=$(nproc)

echo "== main build (build/)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$jobs"
(cd build && ctest --output-on-failure -j"$jobs")

if [ "${EDNN_TEST_ASAN:-1}" != "0" ]; then
  echo "== AddressSanitizer build of the CPU engine and the emulated kernels (build-asan/)"
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEDNN_CUDA=OFF -DEDNN_ASAN=ON
  cmake --build build-asan -j"$jobs"
  (cd build-asan && ASAN_OPTIONS=detect_leaks=0 ctest --output-on-failure -j"$jobs" -LE noasan)
fi
echo "== all tests passed"
