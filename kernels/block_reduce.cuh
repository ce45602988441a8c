// Warp and block sums, the building block of every reduction in kernels/ (sum, batch-norm
// statistics, weight gradients, loss values). Device code: include from a .cu after simt.h.
//
// warp_sum: the 32 lanes of a warp add their values in 5 shuffle steps (offset 16, 8, 4, 2, 1);
//   after step k, lane i holds the sum of lanes i .. i + 2^(5-k) - 1, so lane 0 ends with all 32.
//   No shared memory and no barrier: shuffles move registers between the lanes of a warp.
// block_sum: each warp reduces its values; lane 0 of each warp writes its warp's sum to shared
//   memory; after a barrier, warp 0 reduces those (at most 32) sums. Thread 0 gets the total.
#pragma once
#include "kernels/simt.h"

namespace ednn::kernels {

// Sum over the 32 lanes of a warp, returned to lane 0 (other lanes get partial sums). Every lane
// of the warp must call it. T is float, or double for sums over millions of values where float
// accumulation would lose digits (batch-norm statistics of a channel: 50 x 512 x 512 values at the
// paper's shapes).
template <class T>
__device__ __forceinline__ T warp_sum(T v) {
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_down_sync(0xffffffffu, v, offset);
  return v;
}

// Sum over the block, returned to thread 0 (other threads get partial sums). blockDim.x must be
// a multiple of 32 (at most 1024) with blockDim.y = blockDim.z = 1, and every thread of the block
// must call it: it contains barriers. It may be called again right away: the last barrier keeps
// the next call's writes from overtaking this call's reads. (Each T has its own shared array.)
template <class T>
__device__ __forceinline__ T block_sum(T v) {
  __shared__ T warp_sums[32];
  const int lane = threadIdx.x % 32;
  const int warp = threadIdx.x / 32;
  v = warp_sum(v);
  if (lane == 0) warp_sums[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < static_cast<int>(blockDim.x / 32) ? warp_sums[lane] : T(0);
    v = warp_sum(v);
  }
  __syncthreads();
  return v;
}

}  // namespace ednn::kernels
