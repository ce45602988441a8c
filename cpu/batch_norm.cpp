// Batch norm over (N, H, W) per channel on the CPU: training forward, evaluation forward, backward.
//
// Training, with M = N H W values per channel c:
//   mean_c = 1/M sum x          var_c = 1/M sum (x - mean_c)^2      (biased: used to normalise)
//   invstd_c = 1 / sqrt(var_c + eps)    xhat = (x - mean_c) invstd_c    y = gamma_c xhat + beta_c
//   running_mean <- (1 - momentum) running_mean + momentum mean_c
//   running_var  <- (1 - momentum) running_var  + momentum var_c M / (M - 1)   (unbiased)
// Evaluation: y = gamma_c (x - running_mean_c) / sqrt(running_var_c + eps) + beta_c.
// Backward (training), from d(loss)/dy:
//   dbeta_c = sum dy    dgamma_c = sum dy xhat
//   dx = gamma_c invstd_c / M (M dy - dbeta_c - xhat dgamma_c)
// Sums run in double: a channel of the paper's first layer holds 50 x 512 x 512 values.
#include <cmath>

#include "cpu/cpu_ops.h"

namespace ednn::cpu {

template <class T>
void batch_norm2d_train_forward(const T* x, const T* gamma, const T* beta, T* running_mean, T* running_var,
                                double momentum, double eps, T* y, T* saved_mean, T* saved_invstd, int N, int C,
                                std::int64_t HW) {
  const double M = double(N) * double(HW);
#pragma omp parallel for schedule(static) if (worth_threads(std::int64_t(N) * C * HW))
  for (int c = 0; c < C; ++c) {
    double sum = 0;
    for (int n = 0; n < N; ++n) {
      const T* p = x + (std::int64_t(n) * C + c) * HW;
      for (std::int64_t i = 0; i < HW; ++i) sum += p[i];
    }
    const double mean = sum / M;
    double sq = 0;  // two passes: sum of squared deviations, not E[x^2] - mean^2, to avoid cancellation
    for (int n = 0; n < N; ++n) {
      const T* p = x + (std::int64_t(n) * C + c) * HW;
      for (std::int64_t i = 0; i < HW; ++i) sq += (p[i] - mean) * (p[i] - mean);
    }
    const double var = sq / M;
    const double invstd = 1.0 / std::sqrt(var + eps);
    const double scale = gamma[c] * invstd, shift = beta[c] - mean * scale;
    for (int n = 0; n < N; ++n) {
      const T* p = x + (std::int64_t(n) * C + c) * HW;
      T* q = y + (std::int64_t(n) * C + c) * HW;
      for (std::int64_t i = 0; i < HW; ++i) q[i] = T(p[i] * scale + shift);
    }
    saved_mean[c] = T(mean);
    saved_invstd[c] = T(invstd);
    const double unbiased = M > 1 ? var * M / (M - 1) : var;
    running_mean[c] = T((1 - momentum) * running_mean[c] + momentum * mean);
    running_var[c] = T((1 - momentum) * running_var[c] + momentum * unbiased);
  }
}

template <class T>
void batch_norm2d_eval_forward(const T* x, const T* gamma, const T* beta, const T* running_mean,
                               const T* running_var, double eps, T* y, int N, int C, std::int64_t HW) {
#pragma omp parallel for collapse(2) schedule(static) if (worth_threads(std::int64_t(N) * C * HW))
  for (int n = 0; n < N; ++n)
    for (int c = 0; c < C; ++c) {
      const double scale = gamma[c] / std::sqrt(double(running_var[c]) + eps);
      const double shift = beta[c] - running_mean[c] * scale;
      const T* p = x + (std::int64_t(n) * C + c) * HW;
      T* q = y + (std::int64_t(n) * C + c) * HW;
      for (std::int64_t i = 0; i < HW; ++i) q[i] = T(p[i] * scale + shift);
    }
}

template <class T>
void batch_norm2d_backward(const T* dy, const T* x, const T* gamma, const T* saved_mean, const T* saved_invstd,
                           T* dx, T* dgamma, T* dbeta, int N, int C, std::int64_t HW) {
  const double M = double(N) * double(HW);
#pragma omp parallel for schedule(static) if (worth_threads(std::int64_t(N) * C * HW))
  for (int c = 0; c < C; ++c) {
    const double mean = saved_mean[c], invstd = saved_invstd[c];
    double sum_dy = 0, sum_dy_xhat = 0;
    for (int n = 0; n < N; ++n) {
      const T* d = dy + (std::int64_t(n) * C + c) * HW;
      const T* p = x + (std::int64_t(n) * C + c) * HW;
      for (std::int64_t i = 0; i < HW; ++i) {
        sum_dy += d[i];
        sum_dy_xhat += d[i] * (p[i] - mean) * invstd;
      }
    }
    dbeta[c] = T(sum_dy);
    dgamma[c] = T(sum_dy_xhat);
    const double k = gamma[c] * invstd / M;
    for (int n = 0; n < N; ++n) {
      const T* d = dy + (std::int64_t(n) * C + c) * HW;
      const T* p = x + (std::int64_t(n) * C + c) * HW;
      T* q = dx + (std::int64_t(n) * C + c) * HW;
      for (std::int64_t i = 0; i < HW; ++i)
        q[i] = T(k * (M * d[i] - sum_dy - (p[i] - mean) * invstd * sum_dy_xhat));
    }
  }
}

#define EDNN_INSTANTIATE(T)                                                                                \
  template void batch_norm2d_train_forward<T>(const T*, const T*, const T*, T*, T*, double, double, T*, T*, \
                                              T*, int, int, std::int64_t);                                 \
  template void batch_norm2d_eval_forward<T>(const T*, const T*, const T*, const T*, const T*, double, T*,  \
                                             int, int, std::int64_t);                                      \
  template void batch_norm2d_backward<T>(const T*, const T*, const T*, const T*, const T*, T*, T*, T*, int, \
                                         int, std::int64_t);
EDNN_INSTANTIATE(float)
EDNN_INSTANTIATE(double)
#undef EDNN_INSTANTIATE

}  // namespace ednn::cpu
