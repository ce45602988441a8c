// Linked into the GPU test executables: on a machine without a usable GPU the test exits with 77
// before any test runs, which CTest reports as skipped (never as passed).
#include <cstdio>
#include <cstdlib>
#include <string>

#include "kernels/simt_host.h"

namespace {
const bool gpu_present = [] {
  std::string why;
  if (!simt::device_available(&why)) {
    std::fprintf(stderr, "skipped: %s\n", why.c_str());
    std::exit(77);
  }
  std::fprintf(stderr, "running on %s\n", simt::device_description().c_str());
  return true;
}();
}  // namespace
