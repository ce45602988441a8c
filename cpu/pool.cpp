// Average pooling and nearest-neighbour upsampling on the CPU, forward and backward.
//
// avg_pool2d, window k, stride s:   y[n,c,i,j] = 1/k^2 sum_{p,q<k} x[n,c,i s + p, j s + q]
//   backward: dx[n,c,i s + p, j s + q] += dy[n,c,i,j] / k^2       (overlapping windows add)
// upsample_nearest2d, scale s:      y[n,c,i,j] = x[n,c,i/s,j/s]   (integer division)
//   backward: dx[n,c,h,v] = sum_{p,q<s} dy[n,c,h s + p, v s + q]
// The two are adjoint up to the factor k^2 when k = s (pooling averages, upsampling copies).
#include <algorithm>

#include "cpu/cpu_ops.h"

namespace ednn::cpu {

template <class T>
void avg_pool2d_forward(const T* x, T* y, const PoolGeometry& g) {
  const T inv = T(1) / T(g.kernel * g.kernel);
#pragma omp parallel for schedule(static) if (worth_threads(std::int64_t(g.N) * g.C * g.H_in * g.W_in))
  for (std::int64_t plane = 0; plane < std::int64_t(g.N) * g.C; ++plane) {
    const T* xp = x + plane * g.H_in * g.W_in;
    T* yp = y + plane * g.H_out * g.W_out;
    for (int i = 0; i < g.H_out; ++i)
      for (int j = 0; j < g.W_out; ++j) {
        T acc = 0;
        for (int p = 0; p < g.kernel; ++p)
          for (int q = 0; q < g.kernel; ++q) acc += xp[(i * g.stride + p) * g.W_in + j * g.stride + q];
        yp[i * g.W_out + j] = acc * inv;
      }
  }
}

template <class T>
void avg_pool2d_backward(const T* dy, T* dx, const PoolGeometry& g) {
  const T inv = T(1) / T(g.kernel * g.kernel);
#pragma omp parallel for schedule(static) if (worth_threads(std::int64_t(g.N) * g.C * g.H_in * g.W_in))
  for (std::int64_t plane = 0; plane < std::int64_t(g.N) * g.C; ++plane) {
    T* xp = dx + plane * g.H_in * g.W_in;
    const T* yp = dy + plane * g.H_out * g.W_out;
    std::fill(xp, xp + g.H_in * g.W_in, T(0));
    for (int i = 0; i < g.H_out; ++i)
      for (int j = 0; j < g.W_out; ++j) {
        T d = yp[i * g.W_out + j] * inv;
        for (int p = 0; p < g.kernel; ++p)
          for (int q = 0; q < g.kernel; ++q) xp[(i * g.stride + p) * g.W_in + j * g.stride + q] += d;
      }
  }
}

template <class T>
void upsample_nearest2d_forward(const T* x, T* y, int N, int C, int H, int W, int s) {
  const int Ho = H * s, Wo = W * s;
#pragma omp parallel for schedule(static) if (worth_threads(std::int64_t(N) * C * H * W * s * s))
  for (std::int64_t plane = 0; plane < std::int64_t(N) * C; ++plane) {
    const T* xp = x + plane * H * W;
    T* yp = y + plane * Ho * Wo;
    for (int i = 0; i < Ho; ++i) {
      const T* row = xp + (i / s) * W;
      T* out = yp + std::int64_t(i) * Wo;
      for (int j = 0; j < Wo; ++j) out[j] = row[j / s];
    }
  }
}

template <class T>
void upsample_nearest2d_backward(const T* dy, T* dx, int N, int C, int H, int W, int s) {
  const int Wo = W * s;
#pragma omp parallel for schedule(static) if (worth_threads(std::int64_t(N) * C * H * W * s * s))
  for (std::int64_t plane = 0; plane < std::int64_t(N) * C; ++plane) {
    const T* yp = dy + plane * H * s * Wo;
    T* xp = dx + plane * H * W;
    for (int h = 0; h < H; ++h)
      for (int v = 0; v < W; ++v) {
        T acc = 0;
        for (int p = 0; p < s; ++p)
          for (int q = 0; q < s; ++q) acc += yp[std::int64_t(h * s + p) * Wo + v * s + q];
        xp[h * W + v] = acc;
      }
  }
}

#define EDNN_INSTANTIATE(T)                                                                     \
  template void avg_pool2d_forward<T>(const T*, T*, const PoolGeometry&);                       \
  template void avg_pool2d_backward<T>(const T*, T*, const PoolGeometry&);                      \
  template void upsample_nearest2d_forward<T>(const T*, T*, int, int, int, int, int);           \
  template void upsample_nearest2d_backward<T>(const T*, T*, int, int, int, int, int);
EDNN_INSTANTIATE(float)
EDNN_INSTANTIATE(double)
#undef EDNN_INSTANTIATE

}  // namespace ednn::cpu
