// Version 1 of the convolution (conv2d.h): the direct forward kernel. One thread per output
// value y[n, o, i, j] (grid-stride loop over all of them, consecutive threads on consecutive j),
// each looping over (c, p, q):
//   y[n, o, i, j] = b[o] + sum_{c, p, q} w[o, c, p, q] x[n, c, i s - pad + p, j s - pad + q].
// Every x and w value is read from global memory C_out (resp. N H_out W_out) times; only the
// caches help. The baseline the tiled kernels of conv2d_gemm.cu are measured against.
#include <algorithm>

#include "kernels/conv2d_kernels.h"
#include "kernels/conv_epilogue.cuh"
#include "kernels/simt.h"

namespace ednn::kernels {

namespace device {

__global__ void conv2d_forward_direct(const float* __restrict__ x, const float* __restrict__ w,
                                      const float* __restrict__ bias, float* __restrict__ y, ConvDims d,
                                      ConvEpilogue epilogue) {
  const long total = long(d.N) * d.C_out * d.H_out * d.W_out;
  const long stride = long(blockDim.x) * gridDim.x;
  for (long idx = long(blockIdx.x) * blockDim.x + threadIdx.x; idx < total; idx += stride) {
    const int j = int(idx % d.W_out);
    long t = idx / d.W_out;
    const int i = int(t % d.H_out);
    t /= d.H_out;
    const int o = int(t % d.C_out);
    const int n = int(t / d.C_out);
    float acc = bias ? bias[o] : 0.0f;
    for (int c = 0; c < d.C_in; ++c) {
      const float* x_plane = x + (long(n) * d.C_in + c) * d.H_in * d.W_in;
      const float* w_kernel = w + (long(o) * d.C_in + c) * d.kH * d.kW;
      for (int p = 0; p < d.kH; ++p) {
        const int h = i * d.stride - d.pad + p;
        if (h < 0 || h >= d.H_in) continue;
        for (int q = 0; q < d.kW; ++q) {
          const int v = j * d.stride - d.pad + q;
          if (v < 0 || v >= d.W_in) continue;
          acc = fmaf(w_kernel[p * d.kW + q], x_plane[long(h) * d.W_in + v], acc);
        }
      }
    }
    y[idx] = apply_epilogue(acc, epilogue);
  }
}

}  // namespace device

void launch_conv2d_forward_direct(const float* x, const float* w, const float* bias, float* y, const ConvDims& d,
                                  simt::Stream stream, ConvEpilogue epilogue) {
  constexpr int block = 256;
  const long outputs = long(d.N) * d.C_out * d.H_out * d.W_out;
  const long blocks = std::min<long>((outputs + block - 1) / block, 65536L);
  simt::launch(device::conv2d_forward_direct, static_cast<unsigned>(blocks), block, 0, stream, x, w, bias, y, d,
               epilogue);
}

}  // namespace ednn::kernels
