// Reductions over float arrays on the device (kernels/reduce.cu). Plain C++: callable from any
// .cpp that links ednn_kernels_cuda or ednn_kernels_emu.
#pragma once
#include "kernels/simt_host.h"

namespace ednn::kernels {

// Floats of device workspace that sum() needs for n elements (one partial sum per block of its
// first pass; at most 1024). The caller owns it, so no allocation happens in a training loop.
long sum_workspace_size(long n);

// out[0] = x[0] + ... + x[n-1] (0 for n = 0). x: [n], out: [1], workspace: [sum_workspace_size(n)],
// all on the device. Two passes, no atomics: the result is the same bits on every run.
void sum(const float* x, long n, float* out, float* workspace, simt::Stream stream);

// out[0] = a[0] b[0] + ... + a[n-1] b[n-1]; workspace: [sum_workspace_size(n)]. Same two passes
// as sum (the first multiplies as it loads).
void dot(const float* a, const float* b, long n, float* out, float* workspace, simt::Stream stream);

// Per-channel reductions of x [N, C, H, W] (HW = H W) split each channel's N HW values into S
// slices, one block each (kernels/channel_reduce.cuh): S = channel_slices(N, HW), between 1 and 64.
long channel_slices(int N, long HW);
// Floats of workspace sum_per_channel needs: C S partial sums.
long sum_per_channel_workspace_size(int N, int C, long HW);
// out[c] = sum over n, h, w of x[n, c, h, w] (the bias gradient). out: [C].
void sum_per_channel(const float* x, int N, int C, long HW, float* out, float* workspace, simt::Stream stream);

}  // namespace ednn::kernels
