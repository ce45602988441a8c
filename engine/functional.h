// The differentiable operations: each computes its output through the device's backend and,
// when gradients are recorded, attaches the backward step to the graph (engine/autograd.h).
//
// Shapes are NCHW. Argument errors throw ednn::Error naming the operation and the expected and
// actual values. Inputs must share dtype and device.
#pragma once
#include "core/loss_spec.h"
#include "engine/tensor.h"

namespace ednn {

// y = conv2d(x, w) + bias;  x [N, C_in, H, W], w [C_out, C_in, kH, kW], bias [C_out] or undefined.
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, int stride = 1, int padding = 0);

// The transposed convolution (PyTorch semantics): x [N, C_in, H, W], w [C_in, C_out, kH, kW],
// bias [C_out]; output [N, C_out, (H - 1) s - 2p + kH + output_padding, ...].
// It is the backward-data of conv2d with the same weight, and its backward is conv2d.
Tensor conv_transpose2d(const Tensor& x, const Tensor& w, const Tensor& bias, int stride = 1, int padding = 0,
                        int output_padding = 0);

// The two convolutions with their activation fused: leaky_relu(conv(...) + bias, slope) in one
// pass, the bias and the activation applied to each output value right after it is computed.
// Same arguments and results as the unfused composition (on the CPU bit for bit).
//
// Backward without the pre-activation: for slope > 0, y = leaky_relu(v) is positive exactly where
// v is, so the activation's derivative is read off the saved output,
//   dv = dy where y > 0, else slope dy,
// and then the convolution's usual backward runs on dv. Only y is saved, never v: where the next
// layer keeps its input anyway (a convolution) that is one activation-sized tensor less, and the
// forward pass never holds v and y at once. This is why slope must be positive (slope <= 0 is an
// error); y must not be modified in place before backward.
Tensor conv2d_leaky_relu(const Tensor& x, const Tensor& w, const Tensor& bias, int stride, int padding,
                         double slope);
Tensor conv_transpose2d_leaky_relu(const Tensor& x, const Tensor& w, const Tensor& bias, int stride, int padding,
                                   int output_padding, double slope);

// conv_transpose2d_leaky_relu(upsample_nearest2d(x, scale), ...) without the upsampled tensor:
// the CUDA kernels read x through the upsampling as they load it (the decoder's Upsample(2) +
// ConvT + LeakyReLU; the upsampled tensor is scale^2 times the size of x, and would be written,
// read back and kept for backward). scale is a power of two. The backward pass makes the
// gradient of the upsampled tensor and sums it back (upsample_nearest2d's backward); the weight
// gradient reads x through the upsampling again. Same results as the composition (on the CPU,
// which does make the upsampled tensor, bit for bit).
Tensor upsample_conv_transpose2d_leaky_relu(const Tensor& x, int scale, const Tensor& w, const Tensor& bias,
                                            int stride, int padding, int output_padding, double slope);

// Average over kernel x kernel windows every `stride` pixels (stride 0 means stride = kernel).
Tensor avg_pool2d(const Tensor& x, int kernel = 2, int stride = 0);

// Nearest-neighbour upsampling by an integer factor.
Tensor upsample_nearest2d(const Tensor& x, int scale = 2);

// Batch norm over (N, H, W) per channel. training: batch statistics, running statistics updated
// in place; otherwise the running statistics normalise. gamma, beta, running_* are [C].
Tensor batch_norm2d(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
                    Tensor& running_var, bool training, double momentum = 0.1, double eps = 1e-5);

// y = x if x > 0 else slope x.
Tensor leaky_relu(const Tensor& x, double slope);

// The weighted loss of SPEC section 5: a one-element tensor, mean over all pixels.
// The target gets no gradient.
Tensor weighted_loss(const Tensor& prediction, const Tensor& target, const LossSpec& spec);

// sum(a * b) as a one-element tensor (inner products in tests and adjoint checks).
Tensor dot(const Tensor& a, const Tensor& b);

}  // namespace ednn
