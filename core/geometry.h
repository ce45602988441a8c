// Shapes of the spatial operations in plain integers, worked out and checked once, shared by every
// backend: the engine (which builds them from tensor shapes), the CPU loops (cpu/) and the
// CUDA kernels (kernels/).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace ednn {

// The sizes of an array, outermost first; the same type as the engine's Shape (engine/tensor.h).
using Dims = std::vector<std::int64_t>;
std::string dims_str(const Dims& d);  // "[2, 3, 4]"

// A 2-d convolution y = conv2d(x, w) + b, PyTorch semantics (cross-correlation):
//   x [N, C_in, H_in, W_in], w [C_out, C_in, kH, kW], b [C_out], y [N, C_out, H_out, W_out]
//   H_out = (H_in + 2 pad - kH) / stride + 1 (floor), likewise W_out.
// A transposed convolution is described by the geometry of the convolution whose backward-data
// it is: its input is that convolution's y, its output that convolution's x.
struct ConvGeometry {
  int N = 0, C_in = 0, H_in = 0, W_in = 0;
  int C_out = 0, kH = 0, kW = 0;
  int stride = 1, pad = 0;
  int H_out = 0, W_out = 0;

  std::int64_t input_numel() const { return std::int64_t(N) * C_in * H_in * W_in; }
  std::int64_t output_numel() const { return std::int64_t(N) * C_out * H_out * W_out; }
  std::int64_t weight_numel() const { return std::int64_t(C_out) * C_in * kH * kW; }
  Dims input_shape() const { return {N, C_in, H_in, W_in}; }
  Dims output_shape() const { return {N, C_out, H_out, W_out}; }
  Dims weight_shape() const { return {C_out, C_in, kH, kW}; }
  // Multiply-adds of the forward pass, for GFLOP/s in benchmarks.
  double flops() const { return 2.0 * double(output_numel()) * C_in * kH * kW; }
};

// conv2d of x [N, C_in, H, W] with weight [C_out, C_in, kH, kW]; throws naming `op` on bad input.
ConvGeometry conv2d_geometry(const Dims& x, const Dims& weight, int stride, int padding,
                             const char* op = "conv2d");

// conv_transpose2d of x [N, C_in, H, W] with weight [C_in, C_out, kH, kW] (PyTorch's layout):
// output [N, C_out, (H - 1) s - 2p + k + output_padding, ...]. Returns the geometry of the
// equivalent convolution (whose input is the transposed convolution's output).
ConvGeometry conv_transpose2d_geometry(const Dims& x, const Dims& weight, int stride, int padding,
                                       int output_padding);

// Pooling / upsampling windows: y[n, c, i, j] from x[n, c, i*stride + di, j*stride + dj], di, dj < kernel.
struct PoolGeometry {
  int N = 0, C = 0, H_in = 0, W_in = 0;
  int kernel = 2, stride = 2;
  int H_out = 0, W_out = 0;
  Dims input_shape() const { return {N, C, H_in, W_in}; }
  Dims output_shape() const { return {N, C, H_out, W_out}; }
};
PoolGeometry avg_pool2d_geometry(const Dims& x, int kernel, int stride);

}  // namespace ednn
