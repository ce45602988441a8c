// Split-K: how a kernel with a long sum cuts it into slices that run as separate blocks
// (blockIdx.z), each writing its partial sums; split_k_reduce (split_k.cu) then adds the slices
// in order, so the result is the same bits on every run. Backward-weight sums over pixels (the
// implicit GEMM's K = N H_out W_out) or over 2x2 tiles (Winograd). Plain C++.
#pragma once
#include <algorithm>

#include "kernels/simt_host.h"

namespace ednn::kernels {

struct SplitK {
  int slices;
  long chunk;  // terms per slice, a multiple of the kernel's step
};

// The split of `terms` terms, summed `step` at a time by a grid of `blocks` blocks per slice:
// enough slices to fill a large GPU (about 256 blocks), but at least 16 steps per slice so that
// the partial sums stay few. A function of its arguments only, so a workspace size can be too.
inline SplitK split_sum(long terms, int step, long blocks) {
  constexpr long target_blocks = 256, min_steps = 16;
  const long steps = (terms + step - 1) / step;
  const long slices = std::clamp(std::min((target_blocks + blocks - 1) / blocks, steps / min_steps), 1L, 65535L);
  const long chunk = (steps + slices - 1) / slices * step;
  return {static_cast<int>((terms + chunk - 1) / chunk), chunk};
}

// out[e] = sum over z < slices of partials[z count + e], for e < count, z in order: the second
// pass. partials [slices, count], out [count], on the device; asynchronous on the stream.
void split_k_reduce(const float* partials, int slices, long count, float* out, simt::Stream stream);

}  // namespace ednn::kernels
