// The teaching kernels of kernels/reduce.cu and kernels/elementwise.cu against host loops, at
// sizes that are not multiples of any block size, in the three thread orders. Linked with
// ednn_kernels_emu (kernels_ops) and with ednn_kernels_cuda (kernels_ops_gpu, label gpu).
#include <cmath>
#include <vector>

#include "core/error.h"
#include "kernels/elementwise.h"
#include "kernels/reduce.h"
#include "tests/kernels/test_util.h"

using ednn::test::check_close;
using ednn::test::for_each_schedule;
using simt::DeviceBuffer;

namespace {
const long sizes[] = {1, 31, 33, 1000, 100003};
constexpr int guard = 37;  // elements past n that a kernel must leave alone
constexpr float guard_value = 12345.0f;

// A device buffer holding x followed by `guard` sentinel values.
DeviceBuffer<float> with_guard(std::vector<float> x) {
  x.resize(x.size() + guard, guard_value);
  return DeviceBuffer<float>(x);
}
std::vector<float> guarded(std::vector<float> want) {
  want.resize(want.size() + guard, guard_value);
  return want;
}
}  // namespace

TEST_CASE("kernels::sum matches a double-precision host sum") {
  for_each_schedule([](simt::Schedule) {
    for (long n : sizes) {
      CAPTURE(n);
      const std::vector<float> x = ednn::test::random_floats(n, static_cast<unsigned>(n));
      double want = 0.0, magnitude = 0.0;
      for (float v : x) {
        want += v;
        magnitude += std::fabs(v);
      }
      DeviceBuffer<float> dx(x), out(1), workspace(ednn::kernels::sum_workspace_size(n));
      ednn::kernels::sum(dx.data(), n, out.data(), workspace.data(), nullptr);
      // float accumulation: each thread adds about n / (256 * blocks) values, then log2 tree levels
      const double tol = (std::log2(static_cast<double>(n)) + n / (256.0 * 1024.0) + 2.0) * 1.2e-7 * magnitude;
      CHECK(std::fabs(out.download()[0] - want) <= tol);
    }
    DeviceBuffer<float> out(1), workspace(1);
    ednn::kernels::sum(nullptr, 0, out.data(), workspace.data(), nullptr);
    CHECK(out.download()[0] == 0.0f);
  });
}

TEST_CASE("kernels::sum is deterministic") {
  const long n = 100003;
  const std::vector<float> x = ednn::test::random_floats(n, 5);
  DeviceBuffer<float> dx(x), out(1), workspace(ednn::kernels::sum_workspace_size(n));
  ednn::kernels::sum(dx.data(), n, out.data(), workspace.data(), nullptr);
  const float first = out.download()[0];
  for_each_schedule([&](simt::Schedule) {
    ednn::kernels::sum(dx.data(), n, out.data(), workspace.data(), nullptr);
    CHECK(out.download()[0] == first);
  });
}

TEST_CASE("kernels::fill, axpy, scale match host loops") {
  for_each_schedule([](simt::Schedule) {
    for (long n : sizes) {
      CAPTURE(n);
      const std::vector<float> x = ednn::test::random_floats(n, 1);
      const std::vector<float> y = ednn::test::random_floats(n, 2);

      DeviceBuffer<float> filled(n + guard);  // NaN-poisoned under the emulation
      simt::copy_to_device(filled.data() + n, std::vector<float>(guard, guard_value).data(), guard * sizeof(float));
      ednn::kernels::fill(filled.data(), n, 0.25f, nullptr);
      check_close(filled.download(), guarded(std::vector<float>(n, 0.25f)), 0.0);

      const float alpha = -1.5f;
      DeviceBuffer<float> dx(x), dy = with_guard(y);
      ednn::kernels::axpy(dy.data(), dx.data(), n, alpha, nullptr);
      std::vector<float> want(n);
      for (long i = 0; i < n; ++i) want[i] = y[i] + alpha * x[i];
      check_close(dy.download(), guarded(want), 1e-7, 1e-6);  // nvcc may fuse the multiply-add

      DeviceBuffer<float> scalar(std::vector<float>{3.0f}), scaled = with_guard(std::vector<float>(n, 0.0f));
      ednn::kernels::scale(scaled.data(), dx.data(), n, scalar.data(), nullptr);
      for (long i = 0; i < n; ++i) want[i] = x[i] * 3.0f;
      check_close(scaled.download(), guarded(want), 0.0);
      ednn::kernels::scale(dx.data(), dx.data(), n, scalar.data(), nullptr);  // in place
      check_close(dx.download(), want, 0.0);
    }
  });
}

TEST_CASE("kernels: negative sizes are errors") {
  DeviceBuffer<float> x(1);
  CHECK_THROWS_AS(ednn::kernels::fill(x.data(), -1, 0.0f, nullptr), ednn::Error);
  CHECK_THROWS_AS(ednn::kernels::sum_workspace_size(-3), ednn::Error);
}
