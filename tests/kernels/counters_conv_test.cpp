// The memory counters (kernels/simt_counters.h) on real kernels: the forward convolution, version
// 3 (the 128 x 128 implicit GEMM) and 6 (Winograd, with cp.async), at a small shape, compiled for counting
// (the conv sources through ednn_counted_emulation_sources). It prints what the counters see and
// checks what must hold whatever the kernel does: the result (against a loop here), at most 32
// lanes per request, at least one sector and one wavefront per request, and every byte of x, w
// and y touched at least once. The counts themselves are for reading, not yet for a model.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

#include "core/geometry.h"
#include "kernels/conv2d.h"
#include "kernels/simt_counters.h"
#include "tests/kernels/test_util.h"

TEST_CASE("counters: conv2d_forward versions 3 and 6 at [1, 16, 16, 16] -> [1, 128, 16, 16], 3x3, pad 1") {
  ednn::ConvGeometry g;
  g.N = 1, g.C_in = 16, g.H_in = 16, g.W_in = 16, g.C_out = 128, g.kH = 3, g.kW = 3, g.stride = 1, g.pad = 1;
  g.H_out = 16, g.W_out = 16;
  const std::vector<float> x = ednn::test::random_floats(g.input_numel(), 1);
  const std::vector<float> w = ednn::test::random_floats(g.weight_numel(), 2);
  simt::DeviceBuffer<float> dx(x), dw(w), dy(g.output_numel());
  for (int version : {3, 6}) {
    CAPTURE(version);
    simt::DeviceBuffer<float> workspace(std::max<long>(1, ednn::kernels::conv2d_forward_workspace_size(g, version)));

    simt::counters::begin();
    ednn::kernels::conv2d_forward(dx.data(), dw.data(), nullptr, dy.data(), g, nullptr, {}, version, workspace.data());
    const simt::counters::Counts c = simt::counters::end();
    std::printf("conv2d_forward version %d, N %d C_in %d %dx%d -> C_out %d, 3x3 pad 1:\n%s", version, g.N, g.C_in,
                g.H_in, g.W_in, g.C_out, simt::counters::to_string(c).c_str());

    // The result, against the definition.
    std::vector<float> y(g.output_numel());
    simt::copy_to_host(y.data(), dy.data(), y.size() * sizeof(float));
    double worst = 0.0;
    for (int o = 0; o < g.C_out; ++o)
      for (int i = 0; i < g.H_out; ++i)
        for (int j = 0; j < g.W_out; ++j) {
          double sum = 0.0;
          for (int ci = 0; ci < g.C_in; ++ci)
            for (int p = 0; p < 3; ++p)
              for (int q = 0; q < 3; ++q) {
                const int h = i - 1 + p, v = j - 1 + q;
                if (h >= 0 && h < g.H_in && v >= 0 && v < g.W_in)
                  sum += double(w[((o * g.C_in + ci) * 3 + p) * 3 + q]) * x[(ci * g.H_in + h) * g.W_in + v];
              }
          worst = std::max(worst, std::abs(sum - y[(o * g.H_out + i) * g.W_out + j]));
        }
    CHECK(worst < 1e-4);

    CHECK(c.blocks >= 1);
    // A tiled kernel (one that stages tiles in shared memory) waits for its tiles in every block.
    // Version 3 also launches the weights-by-tap pre-pass, which has neither.
    int tiled = 0;
    for (const auto& k : c.kernels) {
      if (k.numbers.shared_load.requests == 0) continue;
      CAPTURE(k.launched_at);
      CHECK(k.numbers.barriers >= k.numbers.blocks);
      ++tiled;
    }
    CHECK(tiled >= 1);
    // Per instruction (bench_counters --lines): each kernel's instructions add up to its totals.
    for (const auto& k : c.kernels) {
      CAPTURE(k.launched_at);
      std::uint64_t requests = 0, sectors = 0, wavefronts = 0, bytes = 0;
      for (const auto& i : k.instructions)
        requests += i.requests, sectors += i.sectors, wavefronts += i.wavefronts, bytes += i.bytes;
      const auto& n = k.numbers;
      CHECK(requests == n.global_load.requests + n.global_store.requests + n.shared_load.requests +
                            n.shared_store.requests);
      CHECK(sectors == n.global_load.sectors + n.global_store.sectors);
      CHECK(wavefronts == n.shared_load.wavefronts + n.shared_store.wavefronts);
      CHECK(bytes == n.global_load.bytes + n.global_store.bytes + n.shared_load.bytes + n.shared_store.bytes);
    }
    for (const auto* r : {&c.global_load, &c.global_store}) {
      REQUIRE(r->requests > 0);
      CHECK(r->lanes_per_request() <= 32.0);
      CHECK(r->sectors_per_request() >= 1.0);
      CHECK(r->sectors_per_request() <= 32.0);  // 32 aligned lanes: a sector each at most
    }
    for (const auto* r : {&c.shared_load, &c.shared_store}) {
      REQUIRE(r->requests > 0);
      CHECK(r->lanes_per_request() <= 32.0);
      CHECK(r->wavefronts_per_request() >= 1.0);
    }
    const std::uint64_t must_touch = (g.input_numel() + g.weight_numel() + g.output_numel()) * sizeof(float);
    CHECK(c.unique_sectors * 32 >= must_touch);
    CHECK(c.global_load.bytes >= (g.input_numel() + g.weight_numel()) * sizeof(float));
    CHECK(c.global_store.bytes >= g.output_numel() * sizeof(float));
  }
}
