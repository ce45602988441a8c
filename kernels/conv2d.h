// 2-d convolution on the device (kernels/conv2d_dispatch.cu and the kernels it picks): forward,
// backward-data (which is also the forward pass of the transposed convolution, as in Caffe) and
// backward-weight with the bias gradient. Plain C++: callable from any .cpp that links
// ednn_kernels_cuda or ednn_kernels_emu.
//
// Shapes (core/geometry.h; NCHW, contiguous, all pointers on the device):
//   x [N, C_in, H_in, W_in]   w [C_out, C_in, kH, kW]   bias [C_out]   y [N, C_out, H_out, W_out]
// A transposed convolution with weight [C_in', C_out', kH, kW] (PyTorch's layout) is described by
// the ConvGeometry of the convolution whose backward-data it is (conv_transpose2d_geometry): its
// input is that convolution's y, its weight is w, its output is that convolution's x. So
//   conv_transpose2d(input, weight) + bias = conv2d_backward_data(input, weight, output, g, stream, bias).
//
// Every launcher is asynchronous on `stream`, overwrites its outputs (never accumulates) and
// allocates nothing: scratch memory comes from the caller, sized by the *_workspace_size
// function of the same operation (always for backward-weight; for forward and backward-data
// Winograd's transformed kernels, or the implicit GEMM's weights laid out by tap when it walks K
// by channel blocks, kernels/conv2d_gemm.cu).
#pragma once
#include "core/conv_epilogue.h"
#include "core/geometry.h"
#include "kernels/simt_host.h"

namespace ednn::kernels {

// Which kernel of the numbered sequence runs (conv2d_dispatch.cu decides, by version and shape):
//   0  automatic: 3 when the GEMM is large enough to fill 128 x 128 tiles; tiles of 16 x 128
//      (or 128 x 16) when it has at most 16 rows (or columns), such as the dx of a layer with
//      one input channel; else 2;
//   1  direct: one thread per output value, loops over (c, p, q) (forward only);
//   2  tiled implicit GEMM, 64 x 64 tiles, 4 x 4 outputs per thread;
//   3  tiled implicit GEMM, 128 x 128 tiles, 8 x 8 outputs per thread;
//   4  the same tiles multiplied on the tensor cores: inputs rounded to TF32 (10 mantissa bits),
//      float accumulators; 128 x 256 (at least 256 columns), 128 x 128 or 64 x 64 tiles by size. Less precise than the
//      others (relative error per product up to about 2^-11): never chosen by 0;
//   5  the same on the tensor cores with float accuracy ("3xTF32"): each input split into a TF32
//      high and low part, three mma instructions per product (a_lo b_hi + a_hi b_lo + a_hi b_hi);
//   6  Winograd (kernels/conv2d_winograd.cu), float: F(2x2, 3x3) for forward and backward-data
//      (16 multiplications per 2x2 outputs instead of 36), F(3x3, 2x2) for backward-weight; for
//      3x3 kernels with stride 1 and padding 1 (every layer of the ED-CNN); elsewhere what 0 runs;
//   7  the same, its forward and backward-data kernels compiled for two blocks per SM (fewer
//      registers, the multiply loop rolled) instead of one: the GPU decides which is faster.
// The backward launchers accept 0, 2, 3, 4, 5, 6 and 7.

// Floats of device workspace that conv2d_forward and conv2d_backward_data need for g with this
// version: Winograd's transformed kernels (versions 6 and 7, where they apply), the weights by tap
// (the implicit GEMMs, when their K step, 8 or 16, divides C_in (forward) or C_out
// (backward-data)), else 0, and then workspace may be null.
long conv2d_forward_workspace_size(const ConvGeometry& g, int version = 0);
long conv2d_backward_data_workspace_size(const ConvGeometry& g, int version = 0);

// y = conv2d(x, w) + bias, then the epilogue. bias may be null (no bias).
// workspace [conv2d_forward_workspace_size(g, version)].
void conv2d_forward(const float* x, const float* w, const float* bias, float* y, const ConvGeometry& g,
                    simt::Stream stream, ConvEpilogue epilogue = {}, int version = 0, float* workspace = nullptr);

// dx[n, c, h, v] = sum over (o, p, q) with h = i s - pad + p, v = j s - pad + q of
//                  w[o, c, p, q] dy[n, o, i, j]   (+ bias[c], then the epilogue).
// dy [N, C_out, H_out, W_out], dx [N, C_in, H_in, W_in]; bias [C_in] or null. With bias and
// epilogue this is the whole forward pass of a transposed convolution layer.
// dy_scale (a power of two) fuses a nearest upsampling into the loads: the dy pointer then holds
// [N, C_out, H_out / dy_scale, W_out / dy_scale], and dy[n, o, i, j] reads it at
// (i / dy_scale, j / dy_scale). An Upsample layer followed by a transposed convolution thus runs
// without ever writing the upsampled tensor (dy_scale^2 times the size of its input).
// workspace [conv2d_backward_data_workspace_size(g, version)].
void conv2d_backward_data(const float* dy, const float* w, float* dx, const ConvGeometry& g, simt::Stream stream,
                          const float* bias = nullptr, ConvEpilogue epilogue = {}, int version = 0,
                          int dy_scale = 1, float* workspace = nullptr);

// Floats of device workspace that conv2d_backward_weight needs for g: the split-K partial sums
// of dw and the partial sums of the bias gradient (kernels/reduce.h, sum_per_channel). A
// function of the geometry (and version) only, so a caller can allocate it once per layer.
long conv2d_backward_weight_workspace_size(const ConvGeometry& g, int version = 0);

// dw[o, c, p, q] = sum over (n, i, j) of dy[n, o, i, j] x[n, c, i s - pad + p, j s - pad + q],
// dbias[o]       = sum over (n, i, j) of dy[n, o, i, j]   (skipped when dbias is null).
// x [N, C_in, H_in, W_in], dy [N, C_out, H_out, W_out], dw [C_out, C_in, kH, kW], dbias [C_out],
// workspace [conv2d_backward_weight_workspace_size(g, version)], with the same version.
// dy_scale: dy stored at 1 / dy_scale of its size, as in conv2d_backward_data (the weight
// gradient of a transposed convolution whose input is upsampled; dbias must then be null).
// Deterministic: the same bits on every run (no atomics; split-K partials are added in order).
void conv2d_backward_weight(const float* x, const float* dy, float* dw, float* dbias, float* workspace,
                            const ConvGeometry& g, simt::Stream stream, int version = 0, int dy_scale = 1);

}  // namespace ednn::kernels
