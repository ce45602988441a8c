// The per-channel reductions of the ED-CNN written with CUB (bench/cub_reductions.cu, compiled by
// nvcc only when the build has CUDA): the library baselines bench_ops times beside
// kernels/reduce.cu's sum_per_channel and the statistics of kernels/batch_norm.cu.
//
// In NCHW a channel is not one contiguous segment: channel c of x [N, C, H, W] is N runs of HW
// floats, one per image, C HW floats apart. CUB's segmented reduction wants each segment as one
// range of an input sequence, so there are two ways to hand it a channel:
//   planes    one segment per (n, c) plane (N C contiguous segments of HW floats: plain loads, and
//             N C blocks, enough to fill the GPU), then a second, tiny segmented sum over n of the
//             N C plane sums, read in (c, n) order through a transform iterator;
//   channels  one segment per channel, the channel's N HW values seen as one sequence through a
//             transform iterator that maps m to (m / HW) C HW + c HW + m % HW (the index arithmetic
//             of kernels/channel_reduce.cuh). One block per segment: C blocks, which at the paper's
//             64 channels leaves most of the GPU idle -- the reason the hand-written kernels split
//             every channel into S slices.
// "planes" is the fair baseline; "channels" shows what the slicing buys.
//
// Plain C++ header: all pointers are device pointers; `scratch` is caller-owned device memory of
// at least the size the *_scratch_bytes function returns (CUB's temporary storage and the
// intermediate sums), so nothing is allocated while timing.
#pragma once
#include <cstddef>

#include "kernels/simt_host.h"  // simt::Stream, the type cudaStream_t names

namespace ednn::bench {

enum class CubChannelSum { planes, channels };
const char* cub_channel_sum_name(CubChannelSum how);

// out[c] = sum over n, h, w of x[n, c, h, w], in float (as kernels::sum_per_channel).
std::size_t cub_sum_per_channel_scratch_bytes(CubChannelSum how, int N, int C, long HW);
void cub_sum_per_channel(CubChannelSum how, const float* x, int N, int C, long HW, float* out, void* scratch,
                         std::size_t scratch_bytes, simt::Stream stream);

// The batch-norm statistics as kernels/batch_norm.cu computes them (two passes, sums in double):
// mean[c] = 1/M sum x, invstd[c] = 1 / sqrt(1/M sum (x - mean)^2 + eps), M = N HW. Four "planes"
// segmented sums (x, then (x - mean)^2) and one small kernel for the division and the square root.
std::size_t cub_batch_norm_stats_scratch_bytes(int N, int C, long HW);
void cub_batch_norm_stats(const float* x, int N, int C, long HW, double eps, float* mean, float* invstd,
                          void* scratch, std::size_t scratch_bytes, simt::Stream stream);

}  // namespace ednn::bench
