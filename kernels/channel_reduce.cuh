// Per-channel reductions of an NCHW tensor: how kernels/reduce.cu (sum_per_channel, the bias
// gradient) and kernels/batch_norm.cu (statistics, dgamma, dbeta) split one channel's values over
// blocks. Device code: include from a .cu after simt.h.
//
// The M = N * HW values of channel c are the sequence m = 0 .. M-1, m = n * HW + i, stored at
// (n * C + c) * HW + i: N runs of HW contiguous floats. The grid is (S, C): block (s, c) takes
// the s-th of S equal slices of channel c's sequence, its 256 threads stride through the slice
// (consecutive threads, consecutive floats: coalesced within each run), and a block sum leaves one
// partial per (c, s). A second, tiny kernel adds each channel's S partials in a fixed order, so
// results do not depend on timing (no atomics). S is chosen on the host (channel_slices in
// kernels/reduce.h) so that the grid has enough blocks to fill the GPU even when C is small
// (the paper's batch norm has C = 64 channels of 13 million values each).
#pragma once
#include "kernels/simt.h"

namespace ednn::kernels {

constexpr int channel_block = 256;

// Where the m-th value of channel c lives.
__device__ __forceinline__ long channel_offset(long m, int c, int C, long HW) {
  return (m / HW * C + c) * HW + m % HW;
}

// The range [first, last) of channel c's sequence that block (s, c) = (blockIdx.x, blockIdx.y) of an
// (S, C) grid reduces.
__device__ __forceinline__ void channel_slice(long M, long* first, long* last) {
  const long S = gridDim.x;
  const long len = (M + S - 1) / S;
  *first = min(static_cast<long>(blockIdx.x) * len, M);
  *last = min(*first + len, M);
}

}  // namespace ednn::kernels
