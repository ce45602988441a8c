// Elementwise operations on float arrays on the device (kernels/elementwise.cu). Plain C++:
// callable from any .cpp that links ednn_kernels_cuda or ednn_kernels_emu. All pointers are
// device pointers; n >= 0; n = 0 launches nothing.
#pragma once
#include "kernels/simt_host.h"

namespace ednn::kernels {

// x[i] = value.
void fill(float* x, long n, float value, simt::Stream stream);
// y[i] += alpha * x[i].
void axpy(float* y, const float* x, long n, float alpha, simt::Stream stream);
// y[i] = x[i] * scalar[0], the scalar read on the device (no copy to the host); y may be x.
void scale(float* y, const float* x, long n, const float* scalar, simt::Stream stream);
// y[n, c, h, w] += bias[c] for y [N, C, H, W], HW = H W (a convolution's bias).
void add_per_channel(float* y, const float* bias, int N, int C, long HW, simt::Stream stream);

}  // namespace ednn::kernels
