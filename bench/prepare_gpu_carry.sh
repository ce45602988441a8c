#!/usr/bin/env bash
# prepare_gpu_carry.sh: copies the header-only dependencies a lent GPU machine lacks into
# third_party/ (git-ignored), so that the build there finds them without installing anything:
#   third_party/doctest/doctest/doctest.h          (the tests)
#   third_party/nlohmann_json/nlohmann/...         (checkpoints, benchmark JSON)
# OpenBLAS and HDF5 are not carried: without them the CPU convolutions use the built-in GEMM and
# the data programs are left out. Run it here (after scripts/install_deps.sh), then name
# third_party in the device tool's carry, e.g.
#   run(command="OUT=$OUT bench/gpu_check.sh", carry=["third_party"], timeout_s=600)
set -euo pipefail
cd "$(dirname "$0")/.."
doctest=$(ls /usr/include/doctest/doctest.h 2>/dev/null || true)
json=$(ls -d /usr/include/nlohmann 2>/dev/null || true)
[ -n "$doctest" ] || { echo "prepare_gpu_carry: /usr/include/doctest/doctest.h not found (apt-get install doctest-dev)" >&2; exit 1; }
[ -n "$json" ] || { echo "prepare_gpu_carry: /usr/include/nlohmann not found (apt-get install nlohmann-json3-dev)" >&2; exit 1; }
rm -rf third_party/doctest third_party/nlohmann_json
mkdir -p third_party/doctest/doctest third_party/nlohmann_json
cp "$doctest" third_party/doctest/doctest/
cp -r "$json" third_party/nlohmann_json/
echo "prepare_gpu_carry: third_party/ holds doctest and nlohmann-json ($(du -sh third_party | cut -f1)); carry it"
