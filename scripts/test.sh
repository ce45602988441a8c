#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what is missing, builds, runs every test.
#
#   scripts/test.sh            1. the main build (build/): the CPU engine, every kernel compiled
#                                 with nvcc when a toolkit is present (GPU tests run when there is
#                                 a GPU, else report skipped), and every kernel run through the
#                                 CPU emulation layer against the CPU reference;
#                              2. the sanitizer build (build-asan/): AddressSanitizer + UBSan, and
#                                 the engine's CUDA backend linked against the emulated kernels,
#                                 so Device::cuda tensors run the real kernels on the CPU
#   EDNN_TEST_ASAN=0 scripts/test.sh    skip the AddressSanitizer build
#
# Tests that need a GPU are labelled `gpu` and report as skipped on machines without one; tests
# labelled `noasan` (long end-to-end runs) are left out of the sanitizer build.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
jobs=$(nproc)

echo "== main build (build/)"
# The default CUDA architectures (sm_80, 86, 89, 90 + PTX; kernels/README.md): nvcc's share of the
# build grows 2.6 times, about a minute on two cores, and kernels_sass_architectures checks them.
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$jobs"
(cd build && ctest --output-on-failure -j"$jobs")

if [ "${EDNN_TEST_ASAN:-1}" != "0" ]; then
  echo "== AddressSanitizer build, CUDA backend on the emulated kernels (build-asan/)"
  # The asan preset of CMakePresets.json: build-asan/, RelWithDebInfo, -DEDNN_CUDA=OFF
  # -DEDNN_EMULATE_CUDA=ON -DEDNN_ASAN=ON; its tests leave out the label noasan, ASAN_OPTIONS=detect_leaks=0.
  cmake --preset asan
  cmake --build --preset asan -j"$jobs"
  ctest --preset asan -j"$jobs"
fi
echo "== all tests passed"
