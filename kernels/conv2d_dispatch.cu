// 2-d convolution (conv2d.h): forward, backward-data (= transposed convolution) and
// backward-weight + bias. This file checks the arguments and decides which kernel runs for which
// version and shape; the kernels are elsewhere:
//   conv2d_direct.cu    version 1, one thread per output value;
//   conv2d_gemm.cu      versions 0, 2 to 5, the implicit GEMMs, in the tiles of conv2d_tiles.cuh;
//   conv2d_winograd.cu  versions 6 and 7, Winograd F(2x2, 3x3) and F(3x3, 2x2);
//   split_k.cu          the second pass of backward-weight's split sum;
//   reduce.cu           the bias gradient (sum_per_channel).
//
// Maths (cross-correlation, as PyTorch; x is zero outside the image), for
//   x [N, C_in, H_in, W_in], w [C_out, C_in, kH, kW], b [C_out], y [N, C_out, H_out, W_out]:
//   y[n, o, i, j]  = b[o] + sum_{c, p, q} w[o, c, p, q] x[n, c, i s - pad + p, j s - pad + q]
//   dx[n, c, h, v] = sum_{o, p, q : h = i s - pad + p, v = j s - pad + q} w[o, c, p, q] dy[n, o, i, j]
//   dw[o, c, p, q] = sum_{n, i, j} dy[n, o, i, j] x[n, c, i s - pad + p, j s - pad + q]
//   db[o]          = sum_{n, i, j} dy[n, o, i, j]
// (cpu/conv2d.cpp has the same maths as plain loops: the reference the tests use.)
//
// The policy. Version 0 (automatic) runs the implicit GEMM in 128 x 128 tiles (version 3's) when
// the product C[M, Ncol] has at least one full tile each way, in tiles 16 wide on a side with at
// most 16 rows or columns, else in 64 x 64 tiles (version 2's); version 4 (tensor cores) likewise
// picks its 128 x 256, 128 x 128 or 64 x 64 tiles, version 5 its 128 x 128 or 64 x 64. Versions 6
// and 7 run Winograd where it applies (3x3 kernels, stride 1, padding 1) and version 0 elsewhere.
// Version 1 (direct) exists for the forward pass only.
#include "kernels/conv2d.h"
#include "kernels/conv2d_kernels.h"
#include "kernels/conv2d_tiles.cuh"
#include "kernels/conv2d_winograd.h"
#include "kernels/split_k.h"

#include "core/error.h"
#include "kernels/reduce.h"
#include "kernels/simt.h"

namespace ednn::kernels {

namespace {

ConvDims check_dims(const ConvGeometry& g, const char* op) {
  EDNN_CHECK(g.N > 0 && g.C_in > 0 && g.H_in > 0 && g.W_in > 0 && g.C_out > 0 && g.kH > 0 && g.kW > 0, op,
             ": every size must be positive, got N ", g.N, ", C_in ", g.C_in, ", ", g.H_in, "x", g.W_in,
             ", C_out ", g.C_out, ", kernel ", g.kH, "x", g.kW);
  EDNN_CHECK(g.stride > 0 && g.pad >= 0, op, ": stride must be positive and padding non-negative, got ",
             g.stride, " and ", g.pad);
  const int H_out = (g.H_in + 2 * g.pad - g.kH) / g.stride + 1, W_out = (g.W_in + 2 * g.pad - g.kW) / g.stride + 1;
  EDNN_CHECK(g.H_in + 2 * g.pad >= g.kH && g.W_in + 2 * g.pad >= g.kW && g.H_out == H_out && g.W_out == W_out, op,
             ": output size ", g.H_out, "x", g.W_out, " does not match input ", g.H_in, "x", g.W_in, ", kernel ",
             g.kH, "x", g.kW, ", stride ", g.stride, ", padding ", g.pad, " (expected ", H_out, "x", W_out, ")");
  EDNN_CHECK(g.input_numel() < (1LL << 31) && g.output_numel() < (1LL << 31) && g.weight_numel() < (1LL << 31), op,
             ": tensors of 2^31 elements or more are not supported (GEMM indices are 32-bit)");
  return {g.N, g.C_in, g.H_in, g.W_in, g.C_out, g.kH, g.kW, g.stride, g.pad, g.H_out, g.W_out};
}

// log2 of dy_scale, after checking that dy_scale is a power of two that divides dy's size.
int dy_shift_for(int dy_scale, const ConvGeometry& g, const char* op) {
  EDNN_CHECK(dy_scale >= 1 && (dy_scale & (dy_scale - 1)) == 0, op, ": dy_scale must be a power of two, got ",
             dy_scale);
  EDNN_CHECK(g.H_out % dy_scale == 0 && g.W_out % dy_scale == 0, op, ": dy of ", g.H_out, "x", g.W_out,
             " is not an upsampling by ", dy_scale);
  int shift = 0;
  while ((1 << shift) < dy_scale) ++shift;
  return shift;
}

void check_version(int version, const char* op, bool direct_allowed) {
  EDNN_CHECK((version >= 2 && version <= 7) || version == 0 || (direct_allowed && version == 1), op,
             ": no kernel version ", version, " (expected 0 (automatic), ", direct_allowed ? "1, " : "",
             "2, 3, 4 (tensor cores, TF32), 5 (tensor cores, 3xTF32), 6 or 7 (Winograd))");
}

// Versions 6 and 7 (Winograd, kernels/conv2d_winograd.cu) where they apply; elsewhere (other
// kernel sizes, strides, paddings) what version 0 runs. Version 7 is version 6 with its forward
// and backward-data kernels compiled for two blocks per SM.
bool is_winograd_version(int version) { return version == 6 || version == 7; }
int winograd_blocks_per_sm(int version) { return version == 7 ? 2 : 1; }
int implicit_gemm_version(int version) { return is_winograd_version(version) ? 0 : version; }
bool runs_winograd(int version, const ConvGeometry& g) { return is_winograd_version(version) && winograd_applies(g); }

// The implicit GEMM's tiles for a checked version other than 1, on a product of M rows and Ncol
// columns (the policy at the top of this file).
ConvTiles gemm_tiles(int version, long M, long Ncol) {
  const bool large = M >= LargeTiles::BM && Ncol >= LargeTiles::BN;
  switch (implicit_gemm_version(version)) {
    case 2: return ConvTiles::small;
    case 3: return ConvTiles::large;
    case 4:
      if (M >= WideTensorTiles::BM && Ncol >= WideTensorTiles::BN) return ConvTiles::wide_tensor;
      return large ? ConvTiles::large_tensor : ConvTiles::small_tensor;
    case 5: return large ? ConvTiles::large_split : ConvTiles::small_split;
    default:
      if (M <= NarrowRowTiles::BM) return ConvTiles::narrow_rows;
      if (Ncol <= NarrowColumnTiles::BN) return ConvTiles::narrow_columns;
      return large ? ConvTiles::large : ConvTiles::small;
  }
}

ConvTiles backward_weight_tiles(const ConvGeometry& g, int version) {
  check_version(version, "conv2d_backward_weight", false);
  return gemm_tiles(version, g.C_out, long(g.C_in) * g.kH * g.kW);
}

// The split of backward-weight's sum: Winograd's over tiles, or the implicit GEMM's over pixels.
SplitK backward_weight_split(const ConvGeometry& g, int version) {
  if (runs_winograd(version, g)) return conv2d_backward_weight_winograd_split(g);
  return conv2d_backward_weight_gemm_split(backward_weight_tiles(g, version), g);
}

}  // namespace

// Winograd's transformed kernels, the implicit GEMM's weights by tap (when it walks K by channel
// blocks), or nothing (the direct kernel).
long conv2d_forward_workspace_size(const ConvGeometry& g, int version) {
  const ConvDims d = check_dims(g, "conv2d_forward_workspace_size");
  if (runs_winograd(version, g)) return conv2d_forward_winograd_workspace_size(g);
  if (version == 1) return 0;
  return conv2d_forward_gemm_workspace_size(gemm_tiles(version, g.C_out, long(g.N) * g.H_out * g.W_out), d);
}

long conv2d_backward_data_workspace_size(const ConvGeometry& g, int version) {
  const ConvDims d = check_dims(g, "conv2d_backward_data_workspace_size");
  if (runs_winograd(version, g)) return conv2d_backward_data_winograd_workspace_size(g);
  return conv2d_backward_data_gemm_workspace_size(gemm_tiles(version, g.C_in, long(g.N) * g.H_in * g.W_in), d);
}

void conv2d_forward(const float* x, const float* w, const float* bias, float* y, const ConvGeometry& g,
                    simt::Stream stream, ConvEpilogue epilogue, int version, float* workspace) {
  const ConvDims d = check_dims(g, "conv2d_forward");
  check_version(version, "conv2d_forward", true);
  if (runs_winograd(version, g)) {
    conv2d_forward_winograd(x, w, bias, y, workspace, g, stream, epilogue, winograd_blocks_per_sm(version));
    return;
  }
  if (version == 1) {
    launch_conv2d_forward_direct(x, w, bias, y, d, stream, epilogue);
    return;
  }
  const ConvTiles tiles = gemm_tiles(version, g.C_out, long(g.N) * g.H_out * g.W_out);
  launch_conv2d_forward_gemm(tiles, x, w, bias, y, workspace, d, stream, epilogue);
}

void conv2d_backward_data(const float* dy, const float* w, float* dx, const ConvGeometry& g, simt::Stream stream,
                          const float* bias, ConvEpilogue epilogue, int version, int dy_scale, float* workspace) {
  ConvDims d = check_dims(g, "conv2d_backward_data");
  d.dy_shift = dy_shift_for(dy_scale, g, "conv2d_backward_data");
  check_version(version, "conv2d_backward_data", false);
  if (runs_winograd(version, g)) {
    conv2d_backward_data_winograd(dy, w, dx, workspace, g, stream, bias, epilogue, d.dy_shift,
                                  winograd_blocks_per_sm(version));
    return;
  }
  const ConvTiles tiles = gemm_tiles(version, g.C_in, long(g.N) * g.H_in * g.W_in);
  launch_conv2d_backward_data_gemm(tiles, dy, w, bias, dx, workspace, d, stream, epilogue);
}

long conv2d_backward_weight_workspace_size(const ConvGeometry& g, int version) {
  check_dims(g, "conv2d_backward_weight_workspace_size");
  const SplitK s = backward_weight_split(g, version);
  // The slices' partial dw [S, C_out, C_in kH kW] (none for one slice), then sum_per_channel's partials.
  return (s.slices == 1 ? 0 : long(s.slices) * g.weight_numel()) +
         sum_per_channel_workspace_size(g.N, g.C_out, long(g.H_out) * g.W_out);
}

void conv2d_backward_weight(const float* x, const float* dy, float* dw, float* dbias, float* workspace,
                            const ConvGeometry& g, simt::Stream stream, int version, int dy_scale) {
  ConvDims d = check_dims(g, "conv2d_backward_weight");
  d.dy_shift = dy_shift_for(dy_scale, g, "conv2d_backward_weight");
  EDNN_CHECK(!dbias || dy_scale == 1, "conv2d_backward_weight: no bias gradient with dy_scale ", dy_scale,
             " (sum the stored dy instead)");
  const SplitK s = backward_weight_split(g, version);
  EDNN_CHECK(workspace, "conv2d_backward_weight: needs a workspace of ",
             conv2d_backward_weight_workspace_size(g, version), " floats, got none");
  const long weight_count = g.weight_numel();
  float* partials = s.slices == 1 ? nullptr : workspace;
  float* bias_workspace = workspace + (s.slices == 1 ? 0 : long(s.slices) * weight_count);

  float* out = partials ? partials : dw;
  if (runs_winograd(version, g))
    conv2d_backward_weight_winograd(x, dy, out, g, s, stream, d.dy_shift);
  else
    launch_conv2d_backward_weight_gemm(backward_weight_tiles(g, version), x, dy, out, d, s, stream);
  if (partials) split_k_reduce(partials, s.slices, weight_count, dw, stream);
  // db[o] = sum of dy[:, o, :, :]: the per-channel block reduction of kernels/reduce.cu.
  if (dbias) sum_per_channel(dy, g.N, g.C_out, long(g.H_out) * g.W_out, dbias, bias_workspace, stream);
}

}  // namespace ednn::kernels
