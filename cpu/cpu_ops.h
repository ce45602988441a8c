// The CPU implementations of every operation, on raw pointers, templated on the scalar type.
//
// Two paths per heavy operation:
//   ref::   direct loops written to be read: the reference every other implementation (the fast
//           CPU path here, the CUDA kernels in kernels/) is tested against, usually in float64.
//   fast::  what the CPU backend runs: convolutions as im2col + GEMM through the BLAS, OpenMP over
//           the batch.
// Light operations (pooling, batch norm, activations, losses, Adam) have one implementation,
// a plain loop with OpenMP, which serves as both.
//
// Layouts: images NCHW contiguous. Conv weight [C_out, C_in, kH, kW]. Outputs are overwritten,
// never accumulated into, unless a name says so.
#pragma once
#include <cstdint>

#include "core/adam_math.h"  // AdamConfig
#include "core/conv_epilogue.h"
#include "core/geometry.h"
#include "core/loss_spec.h"

namespace ednn::cpu {

// Whether a loop over `work` elements is worth an OpenMP team. Small loops run serially: waking
// the threads costs more than the loop, and on a loaded machine spinning threads steal the cores.
inline bool worth_threads(std::int64_t work) { return work >= (std::int64_t(1) << 16); }

namespace ref {
// y = conv2d(x, w) + bias; bias may be null.
template <class T> void conv2d_forward(const T* x, const T* w, const T* bias, T* y, const ConvGeometry& g);
// dx = d(sum dy . conv2d(x, w))/dx: the transposed convolution of dy.
template <class T> void conv2d_backward_data(const T* dy, const T* w, T* dx, const ConvGeometry& g);
// dw = d(sum dy . conv2d(x, w))/dw.
template <class T> void conv2d_backward_weight(const T* x, const T* dy, T* dw, const ConvGeometry& g);
}  // namespace ref

namespace fast {
// y = epilogue(conv2d(x, w) + bias); the epilogue runs on each image right after its GEMM.
template <class T>
void conv2d_forward(const T* x, const T* w, const T* bias, T* y, const ConvGeometry& g,
                    const ConvEpilogue& epilogue = {});
// dx = epilogue(backward_data(dy, w) + bias), bias [C_in] or null: with both, the forward pass of
// a transposed convolution layer.
template <class T>
void conv2d_backward_data(const T* dy, const T* w, T* dx, const ConvGeometry& g, const T* bias = nullptr,
                          const ConvEpilogue& epilogue = {});
template <class T> void conv2d_backward_weight(const T* x, const T* dy, T* dw, const ConvGeometry& g);
}  // namespace fast

// Per-channel sum over (N, H, W): out[c] = sum x[n, c, :, :] (the bias gradient).
template <class T> void sum_per_channel(const T* x, T* out, int N, int C, std::int64_t HW);

// y[n,c,i,j] = mean of x over the kernel x kernel window at (i*stride, j*stride).
template <class T> void avg_pool2d_forward(const T* x, T* y, const PoolGeometry& g);
// dx = each dy spread evenly over its window (windows may overlap: dx is summed).
template <class T> void avg_pool2d_backward(const T* dy, T* dx, const PoolGeometry& g);
// y[n,c,i,j] = x[n,c,i/s,j/s] for y of size (H s, W s).
template <class T> void upsample_nearest2d_forward(const T* x, T* y, int N, int C, int H, int W, int s);
// dx[n,c,i,j] = sum of dy over the s x s block that copied x[n,c,i,j].
template <class T> void upsample_nearest2d_backward(const T* dy, T* dx, int N, int C, int H, int W, int s);

// Batch norm over (N, H, W) per channel; see cpu/batch_norm.cpp for the maths.
template <class T>
void batch_norm2d_train_forward(const T* x, const T* gamma, const T* beta, T* running_mean, T* running_var,
                                double momentum, double eps, T* y, T* saved_mean, T* saved_invstd,
                                int N, int C, std::int64_t HW);
template <class T>
void batch_norm2d_eval_forward(const T* x, const T* gamma, const T* beta, const T* running_mean,
                               const T* running_var, double eps, T* y, int N, int C, std::int64_t HW);
template <class T>
void batch_norm2d_backward(const T* dy, const T* x, const T* gamma, const T* saved_mean, const T* saved_invstd,
                           T* dx, T* dgamma, T* dbeta, int N, int C, std::int64_t HW);

template <class T> void leaky_relu_forward(const T* x, T* y, std::int64_t n, double slope);
// x may be the forward's output y when slope > 0 (y > 0 exactly where x > 0).
template <class T> void leaky_relu_backward(const T* dy, const T* x, T* dx, std::int64_t n, double slope);

// Returns mean_i P_i m(d_i) and writes d(loss)/d(prediction_i) (already divided by n) into grad.
template <class T>
double weighted_loss(const T* prediction, const T* target, T* grad, std::int64_t n, const LossSpec& spec);

// One Adam step on n values (PyTorch semantics; `step` counts from 1).
template <class T>
void adam_step(T* param, const T* grad, T* exp_avg, T* exp_avg_sq, std::int64_t n, const AdamConfig& c, long step);

}  // namespace ednn::cpu
