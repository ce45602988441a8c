// The convolutions of the ED-CNN at lattice L and base width c0 (SPEC section 4), as bench_conv
// times them and bench_counters counts them: every distinct geometry once. A transposed
// convolution ConvT(a -> b) at size S runs the kernels of the convolution conv(b -> a) at S, with
// forward and backward-data swapped, so each decoder layer is listed as that convolution.
#pragma once
#include <string>
#include <vector>

#include "core/geometry.h"

namespace ednn::bench {

struct ConvLayer {
  std::string name;  // e.g. "paper conv 64->128 @256"
  ConvGeometry g;
};

inline std::vector<ConvLayer> network_layers(const std::string& preset, int L, int c0, int N) {
  std::vector<ConvLayer> layers;
  auto w = [&](int k) { return c0 << k; };
  auto add = [&](const std::string& what, int C_in, int C_out, int size) {
    for (ConvLayer& l : layers)  // the bottleneck conv and the first ConvT share a geometry: once
      if (l.g.C_in == C_in && l.g.C_out == C_out && l.g.H_in == size) {
        l.name += " (and " + what + ")";
        return;
      }
    layers.push_back({preset + " " + what + " " + std::to_string(C_in) + "->" + std::to_string(C_out) + " @" +
                          std::to_string(size),
                      conv2d_geometry({N, C_in, size, size}, {C_out, C_in, 3, 3}, 1, 1)});
  };
  add("conv", 1, w(0), L);
  for (int k = 0; k < 4; ++k) add("conv", w(k), w(k + 1), L >> (k + 1));
  add("conv", w(4), w(5), L >> 5);
  // ConvT(a -> b) at size S is conv(b -> a) at S.
  add("convT-as-conv", w(4), w(5), L >> 5);
  for (int k = 4; k >= 1; --k) add("convT-as-conv", w(k - 1), w(k), L >> (k + 1));
  add("convT-as-conv", w(0) / 2, w(0), L >> 1);
  add("convT-as-conv", 1, w(0) / 2, L);
  return layers;
}

}  // namespace ednn::bench
