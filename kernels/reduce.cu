// Sum of a float array: out[0] = sum_{i < n} x[i], x: [n].
//
// Pass 1 (sum_partials): a grid of G <= 1024 blocks of 256 threads. Thread t of the grid
//   accumulates x[t], x[t + 256 G], x[t + 2 * 256 G], ... (a grid-stride loop: consecutive threads
//   read consecutive floats, so every load of a warp is one coalesced 128-byte transaction), then
//   the block adds its 256 partials (block_sum: warp shuffles, then shared memory across warps)
//   and thread 0 writes partials[blockIdx.x].
// Pass 2 (the same kernel, one block of 1024 threads): the G partials -> out[0].
// No atomics: the order of the additions depends only on n, so the result is deterministic.
// Accumulation is in float; per thread it adds about n / (256 G) values, then trees of 32.
//
// dot (dot_partials, then the pass 2 above): the same, multiplying a[i] b[i] as it loads.
//
// sum_per_channel, x [N, C, H, W] -> out [C] (the bias gradient of a convolution):
//   pass 1 (channel_sum_partials), grid (S, C): block (s, c) sums slice s of channel c
//     (kernels/channel_reduce.cuh) into partials[c S + s];
//   pass 2 (channel_sum_finalize): one thread per channel adds its S partials in order.
#include "kernels/reduce.h"

#include "kernels/block_reduce.cuh"
#include "kernels/channel_reduce.cuh"
#include "kernels/simt.h"

namespace ednn::kernels {

constexpr int sum_block = 256;
constexpr int sum_max_blocks = 1024;
constexpr int sum_final_block = 1024;

namespace device {

// out[blockIdx.x] = sum of x[i] over the i this block's threads visit.
__global__ void sum_partials(const float* __restrict__ x, long n, float* __restrict__ out) {
  float v = 0.0f;
  const long stride = static_cast<long>(blockDim.x) * gridDim.x;
  for (long i = static_cast<long>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) v += x[i];
  v = block_sum(v);
  if (threadIdx.x == 0) out[blockIdx.x] = v;
}

// out[blockIdx.x] = sum of a[i] b[i] over the i this block's threads visit.
__global__ void dot_partials(const float* __restrict__ a, const float* __restrict__ b, long n,
                             float* __restrict__ out) {
  float v = 0.0f;
  const long stride = static_cast<long>(blockDim.x) * gridDim.x;
  for (long i = static_cast<long>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) v += a[i] * b[i];
  v = block_sum(v);
  if (threadIdx.x == 0) out[blockIdx.x] = v;
}

// partials[c S + s] = sum of slice s of channel c; grid (S, C).
__global__ void channel_sum_partials(const float* __restrict__ x, int C, long HW, long M,
                                     float* __restrict__ partials) {
  const int c = blockIdx.y;
  long first, last;
  channel_slice(M, &first, &last);
  float v = 0.0f;
  for (long m = first + threadIdx.x; m < last; m += blockDim.x) v += x[channel_offset(m, c, C, HW)];
  v = block_sum(v);
  if (threadIdx.x == 0) partials[static_cast<long>(c) * gridDim.x + blockIdx.x] = v;
}

// out[c] = partials[c S] + ... + partials[c S + S - 1], one thread per channel.
__global__ void channel_sum_finalize(const float* __restrict__ partials, int C, int S, float* __restrict__ out) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= C) return;
  float v = 0.0f;
  for (int s = 0; s < S; ++s) v += partials[static_cast<long>(c) * S + s];
  out[c] = v;
}

}  // namespace device

long sum_workspace_size(long n) {
  EDNN_CHECK(n >= 0, "sum: n = ", n, " is negative");
  const long blocks = (n + sum_block - 1) / sum_block;
  return blocks < sum_max_blocks ? blocks : sum_max_blocks;
}

void sum(const float* x, long n, float* out, float* workspace, simt::Stream stream) {
  const long blocks = sum_workspace_size(n);
  if (blocks > 0)
    simt::launch(device::sum_partials, static_cast<unsigned>(blocks), sum_block, 0, stream, x, n, workspace);
  // For n = 0 this sums no partials and writes the empty sum, 0, on the stream.
  simt::launch(device::sum_partials, 1u, sum_final_block, 0, stream, workspace, blocks, out);
}

void dot(const float* a, const float* b, long n, float* out, float* workspace, simt::Stream stream) {
  const long blocks = sum_workspace_size(n);
  if (blocks > 0)
    simt::launch(device::dot_partials, static_cast<unsigned>(blocks), sum_block, 0, stream, a, b, n, workspace);
  simt::launch(device::sum_partials, 1u, sum_final_block, 0, stream, workspace, blocks, out);
}

long channel_slices(int N, long HW) {
  EDNN_CHECK(N >= 0 && HW >= 0, "channel_slices: N = ", N, ", HW = ", HW, " must not be negative");
  // About 16 values per thread per slice, at most 64 slices.
  const long M = static_cast<long>(N) * HW;
  const long per_slice = 16L * channel_block;
  const long S = (M + per_slice - 1) / per_slice;
  return S < 1 ? 1 : (S > 64 ? 64 : S);
}

long sum_per_channel_workspace_size(int N, int C, long HW) { return static_cast<long>(C) * channel_slices(N, HW); }

void sum_per_channel(const float* x, int N, int C, long HW, float* out, float* workspace, simt::Stream stream) {
  EDNN_CHECK(C >= 0, "sum_per_channel: C = ", C, " is negative");
  if (C == 0) return;
  const long S = channel_slices(N, HW);
  simt::launch(device::channel_sum_partials, dim3(static_cast<unsigned>(S), static_cast<unsigned>(C)),
               channel_block, 0, stream, x, C, HW, static_cast<long>(N) * HW, workspace);
  simt::launch(device::channel_sum_finalize, static_cast<unsigned>((C + 255) / 256), 256, 0, stream, workspace, C,
               static_cast<int>(S), out);
}

}  // namespace ednn::kernels
