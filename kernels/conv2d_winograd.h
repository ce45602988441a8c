// Winograd convolution (kernels/conv2d_winograd.cu): kernel versions 6 and 7 of kernels/conv2d.h, for
// the convolutions it applies to. Plain C++; conv2d_dispatch.cu's launchers call it.
#pragma once
#include "core/geometry.h"
#include "kernels/conv2d.h"
#include "kernels/simt_host.h"
#include "kernels/split_k.h"

namespace ednn::kernels {

// True when Winograd F(2x2, 3x3) computes g: a 3x3 kernel, stride 1, padding 1 (the output has
// the input's size), which is every convolution and transposed convolution of the ED-CNN.
bool winograd_applies(const ConvGeometry& g);

// Floats of device workspace for the transformed kernels (G g G^T of every 3x3 kernel, 16 floats
// each, padded to whole blocks of 32 output and 8 input channels) that forward and
// backward-data first write and then read.
long conv2d_forward_winograd_workspace_size(const ConvGeometry& g);
long conv2d_backward_data_winograd_workspace_size(const ConvGeometry& g);

// conv2d_forward of kernels/conv2d.h by Winograd F(2x2, 3x3); g must satisfy winograd_applies;
// workspace [conv2d_forward_winograd_workspace_size(g)]. blocks_per_sm: 1 (version 6) or 2
// (version 7), the occupancy the main kernel is compiled for (see conv2d_winograd.cu).
void conv2d_forward_winograd(const float* x, const float* w, const float* bias, float* y, float* workspace,
                             const ConvGeometry& g, simt::Stream stream, ConvEpilogue epilogue, int blocks_per_sm);

// conv2d_backward_data of kernels/conv2d.h by Winograd F(2x2, 3x3) (dy_shift: log2 of dy_scale);
// workspace [conv2d_backward_data_winograd_workspace_size(g)].
void conv2d_backward_data_winograd(const float* dy, const float* w, float* dx, float* workspace,
                                   const ConvGeometry& g, simt::Stream stream, const float* bias,
                                   ConvEpilogue epilogue, int dy_shift, int blocks_per_sm);

// The weight gradient by F(3x3, 2x2), its sum over tiles cut into slices (kernels/split_k.h):
// the split for g, and the launch with it, which writes slice z's dw [C_out, C_in, 3, 3] at
// out + z C_out C_in 9 (out is dw itself when there is one slice; conv2d_backward_weight adds the
// slices and the bias gradient).
SplitK conv2d_backward_weight_winograd_split(const ConvGeometry& g);
void conv2d_backward_weight_winograd(const float* x, const float* dy, float* out, const ConvGeometry& g, SplitK s,
                                     simt::Stream stream, int dy_shift);

}  // namespace ednn::kernels
