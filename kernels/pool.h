// Average pooling and nearest-neighbour upsampling on the device (kernels/pool.cu). Plain C++:
// callable from any .cpp that links ednn_kernels_cuda or ednn_kernels_emu. All pointers are
// device pointers, images NCHW contiguous float32; launches go on `stream`.
#pragma once
#include "core/geometry.h"
#include "kernels/simt_host.h"

namespace ednn::kernels {

// y [N, C, H_out, W_out] = mean of x [N, C, H_in, W_in] over each kernel x kernel window.
void avg_pool2d_forward(const float* x, float* y, const PoolGeometry& g, simt::Stream stream);
// dx [N, C, H_in, W_in] from dy [N, C, H_out, W_out]: every input pixel gathers dy / kernel^2
// from the windows that contain it (0 for pixels no window covers). Overwrites dx.
void avg_pool2d_backward(const float* dy, float* dx, const PoolGeometry& g, simt::Stream stream);

// y [N, C, H s, W s] with y[n, c, i, j] = x[n, c, i / s, j / s]; x is [N, C, H, W].
void upsample_nearest2d_forward(const float* x, float* y, int N, int C, int H, int W, int s, simt::Stream stream);
// dx [N, C, H, W] = sum of dy [N, C, H s, W s] over each s x s block. Overwrites dx.
void upsample_nearest2d_backward(const float* dy, float* dx, int N, int C, int H, int W, int s,
                                 simt::Stream stream);

}  // namespace ednn::kernels
