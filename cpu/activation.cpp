// Leaky ReLU on the CPU:  y = x if x > 0 else slope x;   dx = dy if x > 0 else slope dy.
// (The derivative at exactly 0 is taken as slope, as PyTorch does.)
#include "cpu/cpu_ops.h"

namespace ednn::cpu {

template <class T>
void leaky_relu_forward(const T* x, T* y, std::int64_t n, double slope) {
  const T s = T(slope);
#pragma omp parallel for simd schedule(static) if (worth_threads(n))
  for (std::int64_t i = 0; i < n; ++i) y[i] = x[i] > T(0) ? x[i] : s * x[i];
}

template <class T>
void leaky_relu_backward(const T* dy, const T* x, T* dx, std::int64_t n, double slope) {
  const T s = T(slope);
#pragma omp parallel for simd schedule(static) if (worth_threads(n))
  for (std::int64_t i = 0; i < n; ++i) dx[i] = x[i] > T(0) ? dy[i] : s * dy[i];
}

template void leaky_relu_forward<float>(const float*, float*, std::int64_t, double);
template void leaky_relu_forward<double>(const double*, double*, std::int64_t, double);
template void leaky_relu_backward<float>(const float*, const float*, float*, std::int64_t, double);
template void leaky_relu_backward<double>(const double*, const double*, double*, std::int64_t, double);

}  // namespace ednn::cpu
