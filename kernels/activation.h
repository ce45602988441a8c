// Leaky ReLU on the device (kernels/activation.cu). Plain C++; device pointers, n >= 0.
#pragma once
#include "kernels/simt_host.h"

namespace ednn::kernels {

// y[i] = x[i] > 0 ? x[i] : slope x[i].  y may be x.
void leaky_relu_forward(const float* x, float* y, long n, float slope, simt::Stream stream);
// dx[i] = x[i] > 0 ? dy[i] : slope dy[i]  (slope at exactly 0, as PyTorch).  dx may be dy.
// With slope > 0 the forward's output y may be passed as x (y > 0 exactly where x > 0): the fused
// convolution + leaky ReLU layers do, and keep no pre-activation.
void leaky_relu_backward(const float* dy, const float* x, float* dx, long n, float slope, simt::Stream stream);

}  // namespace ednn::kernels
