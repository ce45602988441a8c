// The convolution's kernels as conv2d_dispatch.cu launches them: the direct kernel
// (conv2d_direct.cu) and the implicit GEMMs (conv2d_gemm.cu), with the sizes they take and the
// tile configurations the GEMMs come in. Winograd's launchers are in conv2d_winograd.h.
// Plain C++: the checks, the version policy and the workspaces are the dispatcher's; these only
// size their grids and launch.
#pragma once
#include "core/geometry.h"
#include "kernels/conv2d.h"
#include "kernels/simt_host.h"
#include "kernels/split_k.h"

namespace ednn::kernels {

// The sizes a kernel needs, as plain ints (ConvGeometry's member functions are host code).
// dy_shift: dy is stored at 1 / 2^dy_shift of its size, [N, C_out, H_out >> dy_shift, W_out >>
// dy_shift], and read through nearest upsampling, dy[n, o, i, j] = stored[n, o, i >> s, j >> s]:
// an Upsample layer fused into the loads of the transposed convolution after it (see conv2d.h).
struct ConvDims {
  int N, C_in, H_in, W_in, C_out, kH, kW, stride, pad, H_out, W_out;
  int dy_shift = 0;
};

// The tile configurations of the implicit GEMMs (defined, with the version each serves, in
// conv2d_tiles.cuh): CUDA cores (versions 0, 2, 3), tensor cores with TF32 (4) or 3xTF32 (5).
enum class ConvTiles { small, large, narrow_rows, narrow_columns, small_tensor, large_tensor, wide_tensor,
                       small_split, large_split };

// Version 1: y = conv2d(x, w) + bias, then the epilogue, by the direct kernel (bias may be null).
void launch_conv2d_forward_direct(const float* x, const float* w, const float* bias, float* y, const ConvDims& d,
                                  simt::Stream stream, ConvEpilogue epilogue);

// The implicit GEMMs with the given tiles: conv2d_forward and conv2d_backward_data of conv2d.h
// (bias may be null), and backward-weight's sum over pixels cut into the slices of
// conv2d_backward_weight_gemm_split, slice z's dw [C_out, C_in, kH, kW] written at
// out + z C_out C_in kH kW (out is dw itself when there is one slice).
// Forward and backward-data need a workspace of the *_workspace_size floats (the weights laid
// out by tap, when the tiles' K step divides the channels; else none, and workspace may be null).
long conv2d_forward_gemm_workspace_size(ConvTiles tiles, const ConvDims& d);
long conv2d_backward_data_gemm_workspace_size(ConvTiles tiles, const ConvDims& d);
void launch_conv2d_forward_gemm(ConvTiles tiles, const float* x, const float* w, const float* bias, float* y,
                                float* workspace, const ConvDims& d, simt::Stream stream, ConvEpilogue epilogue);
void launch_conv2d_backward_data_gemm(ConvTiles tiles, const float* dy, const float* w, const float* bias, float* dx,
                                      float* workspace, const ConvDims& d, simt::Stream stream,
                                      ConvEpilogue epilogue);
SplitK conv2d_backward_weight_gemm_split(ConvTiles tiles, const ConvGeometry& g);
void launch_conv2d_backward_weight_gemm(ConvTiles tiles, const float* x, const float* dy, float* out,
                                        const ConvDims& d, SplitK s, simt::Stream stream);

}  // namespace ednn::kernels
