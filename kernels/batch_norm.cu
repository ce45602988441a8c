// Batch norm over (N, H, W) per channel: training forward, evaluation forward, backward.
// x, y, dy, dx: [N, C, H, W]; gamma, beta, running and saved statistics: [C]; M = N H W.
//
// Training forward:
//   mean_c = 1/M sum x      var_c = 1/M sum (x - mean_c)^2   (biased: it normalises)
//   invstd_c = 1 / sqrt(var_c + eps)      y = gamma_c (x - mean_c) invstd_c + beta_c
//   running_mean <- (1 - momentum) running_mean + momentum mean_c
//   running_var  <- (1 - momentum) running_var  + momentum var_c M / (M - 1)   (unbiased)
// Evaluation: y = gamma_c (x - running_mean_c) / sqrt(running_var_c + eps) + beta_c.
// Backward needs x, gamma and the saved mean_c and invstd_c; with xhat = (x - mean_c) invstd_c:
//   dbeta_c = sum dy     dgamma_c = sum dy xhat     dx = gamma_c invstd_c / M (M dy - dbeta_c - xhat dgamma_c)
//
// Kernels, in launch order (the statistics are the reduction; the rest is elementwise):
//   training: batch_norm_partial_sums    grid (S, C): block (s, c) sums slice s of channel c
//                                        (kernels/channel_reduce.cuh) into a double partial;
//             batch_norm_partial_sqdevs  grid (S, C): each thread first adds channel c's S partials
//                                        (the same S numbers in the same order: every thread gets
//                                        the same mean), then the block sums (x - mean)^2 over its
//                                        slice;
//             batch_norm_finalize_stats  one thread per channel: mean, var, invstd, running stats;
//             batch_norm_normalize       one thread per element: y = x scale_c + shift_c.
//   Two passes over x for the variance (not E[x^2] - mean^2, which cancels catastrophically when
//   |mean| >> std), sums in double: a channel holds 13 million values at the paper's shapes.
//   evaluation: batch_norm_eval_forward, elementwise.
//   backward: batch_norm_backward_partials (both sums in one pass over dy and x),
//             batch_norm_backward_finalize (dgamma, dbeta),
//             batch_norm_backward_data (dx, elementwise).
// Partials live in a caller-provided double workspace [2 C S]. Nothing is shared between blocks
// except through these partials, and no atomics: results are the same bits on every run.
#include "kernels/batch_norm.h"

#include "kernels/block_reduce.cuh"
#include "kernels/channel_reduce.cuh"
#include "kernels/reduce.h"
#include "kernels/simt.h"

namespace ednn::kernels {

constexpr int bn_elementwise_block = 256;
constexpr long bn_elementwise_max_blocks = 4096;

namespace device {

// sums[c S + s] = sum of x over slice s of channel c.
__global__ void batch_norm_partial_sums(const float* __restrict__ x, int C, long HW, long M,
                                        double* __restrict__ sums) {
  const int c = blockIdx.y;
  long first, last;
  channel_slice(M, &first, &last);
  double v = 0.0;
  for (long m = first + threadIdx.x; m < last; m += blockDim.x) v += x[channel_offset(m, c, C, HW)];
  v = block_sum(v);
  if (threadIdx.x == 0) sums[static_cast<long>(c) * gridDim.x + blockIdx.x] = v;
}

// sqdevs[c S + s] = sum of (x - mean_c)^2 over slice s of channel c, mean_c from the partial sums.
__global__ void batch_norm_partial_sqdevs(const float* __restrict__ x, int C, long HW, long M,
                                          const double* __restrict__ sums, double* __restrict__ sqdevs) {
  const int c = blockIdx.y;
  const int S = gridDim.x;
  double total = 0.0;
  for (int s = 0; s < S; ++s) total += sums[static_cast<long>(c) * S + s];
  const double mean = total / static_cast<double>(M);
  long first, last;
  channel_slice(M, &first, &last);
  double v = 0.0;
  for (long m = first + threadIdx.x; m < last; m += blockDim.x) {
    const double d = x[channel_offset(m, c, C, HW)] - mean;
    v += d * d;
  }
  v = block_sum(v);
  if (threadIdx.x == 0) sqdevs[static_cast<long>(c) * S + blockIdx.x] = v;
}

__global__ void batch_norm_finalize_stats(const double* __restrict__ sums, const double* __restrict__ sqdevs, int C,
                                          int S, long M, double momentum, double eps, float* __restrict__ running_mean,
                                          float* __restrict__ running_var, float* __restrict__ saved_mean,
                                          float* __restrict__ saved_invstd) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= C) return;
  double sum = 0.0, sq = 0.0;
  for (int s = 0; s < S; ++s) {
    sum += sums[static_cast<long>(c) * S + s];
    sq += sqdevs[static_cast<long>(c) * S + s];
  }
  const double Md = static_cast<double>(M);
  const double mean = sum / Md, var = sq / Md;
  saved_mean[c] = static_cast<float>(mean);
  saved_invstd[c] = static_cast<float>(1.0 / sqrt(var + eps));
  const double unbiased = M > 1 ? var * Md / (Md - 1.0) : var;
  running_mean[c] = static_cast<float>((1.0 - momentum) * running_mean[c] + momentum * mean);
  running_var[c] = static_cast<float>((1.0 - momentum) * running_var[c] + momentum * unbiased);
}

// y = (x - mean_c) invstd_c gamma_c + beta_c over all n elements, c = (i / HW) % C.
__global__ void batch_norm_normalize(const float* __restrict__ x, const float* __restrict__ gamma,
                                     const float* __restrict__ beta, const float* __restrict__ mean,
                                     const float* __restrict__ invstd, float* __restrict__ y, long n, int C, long HW) {
  const long stride = static_cast<long>(blockDim.x) * gridDim.x;
  for (long i = static_cast<long>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const int c = static_cast<int>((i / HW) % C);
    y[i] = (x[i] - mean[c]) * (invstd[c] * gamma[c]) + beta[c];
  }
}

__global__ void batch_norm_eval_forward(const float* __restrict__ x, const float* __restrict__ gamma,
                                        const float* __restrict__ beta, const float* __restrict__ running_mean,
                                        const float* __restrict__ running_var, float eps, float* __restrict__ y,
                                        long n, int C, long HW) {
  const long stride = static_cast<long>(blockDim.x) * gridDim.x;
  for (long i = static_cast<long>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const int c = static_cast<int>((i / HW) % C);
    const float scale = gamma[c] * rsqrtf(running_var[c] + eps);
    y[i] = (x[i] - running_mean[c]) * scale + beta[c];
  }
}

// sum_dy[c S + s] and sum_dy_xhat[c S + s] over slice s of channel c.
__global__ void batch_norm_backward_partials(const float* __restrict__ dy, const float* __restrict__ x,
                                             const float* __restrict__ mean, const float* __restrict__ invstd, int C,
                                             long HW, long M, double* __restrict__ sum_dy,
                                             double* __restrict__ sum_dy_xhat) {
  const int c = blockIdx.y;
  const double mu = mean[c], is = invstd[c];
  long first, last;
  channel_slice(M, &first, &last);
  double a = 0.0, b = 0.0;
  for (long m = first + threadIdx.x; m < last; m += blockDim.x) {
    const long o = channel_offset(m, c, C, HW);
    const double d = dy[o];
    a += d;
    b += d * (x[o] - mu) * is;
  }
  a = block_sum(a);
  b = block_sum(b);  // block_sum may be called again at once: it ends with a barrier
  if (threadIdx.x == 0) {
    sum_dy[static_cast<long>(c) * gridDim.x + blockIdx.x] = a;
    sum_dy_xhat[static_cast<long>(c) * gridDim.x + blockIdx.x] = b;
  }
}

__global__ void batch_norm_backward_finalize(const double* __restrict__ sum_dy, const double* __restrict__ sum_dy_xhat,
                                             int C, int S, float* __restrict__ dgamma, float* __restrict__ dbeta) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= C) return;
  double a = 0.0, b = 0.0;
  for (int s = 0; s < S; ++s) {
    a += sum_dy[static_cast<long>(c) * S + s];
    b += sum_dy_xhat[static_cast<long>(c) * S + s];
  }
  dbeta[c] = static_cast<float>(a);
  dgamma[c] = static_cast<float>(b);
}

__global__ void batch_norm_backward_data(const float* __restrict__ dy, const float* __restrict__ x,
                                         const float* __restrict__ gamma, const float* __restrict__ mean,
                                         const float* __restrict__ invstd, const float* __restrict__ dgamma,
                                         const float* __restrict__ dbeta, float* __restrict__ dx, long n, int C,
                                         long HW, float M) {
  const long stride = static_cast<long>(blockDim.x) * gridDim.x;
  for (long i = static_cast<long>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const int c = static_cast<int>((i / HW) % C);
    const float xhat = (x[i] - mean[c]) * invstd[c];
    // gamma invstd / M (M dy - dbeta - xhat dgamma), with the 1/M applied to the sums first.
    dx[i] = gamma[c] * invstd[c] * (dy[i] - dbeta[c] / M - xhat * (dgamma[c] / M));
  }
}

}  // namespace device

namespace {
unsigned bn_elementwise_grid(long n) {
  const long blocks = (n + bn_elementwise_block - 1) / bn_elementwise_block;
  return static_cast<unsigned>(blocks < bn_elementwise_max_blocks ? blocks : bn_elementwise_max_blocks);
}
unsigned channel_grid(int C) { return static_cast<unsigned>((C + 255) / 256); }
void check_bn(const char* op, int N, int C, long HW) {
  EDNN_CHECK(N >= 1 && C >= 1 && HW >= 1, op, ": needs at least one value per channel, got N = ", N, ", C = ", C,
             ", H W = ", HW);
}
}  // namespace

long batch_norm_workspace_size(int N, int C, long HW) { return 2L * C * channel_slices(N, HW); }

void batch_norm2d_train_forward(const float* x, const float* gamma, const float* beta, float* running_mean,
                                float* running_var, double momentum, double eps, float* y, float* saved_mean,
                                float* saved_invstd, int N, int C, long HW, double* workspace, simt::Stream stream) {
  check_bn("batch_norm2d_train_forward", N, C, HW);
  const long S = channel_slices(N, HW), M = static_cast<long>(N) * HW, n = M * C;
  double* sums = workspace;
  double* sqdevs = workspace + static_cast<long>(C) * S;
  const dim3 slices(static_cast<unsigned>(S), static_cast<unsigned>(C));
  simt::launch(device::batch_norm_partial_sums, slices, channel_block, 0, stream, x, C, HW, M, sums);
  simt::launch(device::batch_norm_partial_sqdevs, slices, channel_block, 0, stream, x, C, HW, M, sums, sqdevs);
  simt::launch(device::batch_norm_finalize_stats, channel_grid(C), 256, 0, stream, sums, sqdevs, C,
               static_cast<int>(S), M, momentum, eps, running_mean, running_var, saved_mean, saved_invstd);
  simt::launch(device::batch_norm_normalize, bn_elementwise_grid(n), bn_elementwise_block, 0, stream, x, gamma, beta,
               saved_mean, saved_invstd, y, n, C, HW);
}

void batch_norm2d_eval_forward(const float* x, const float* gamma, const float* beta, const float* running_mean,
                               const float* running_var, double eps, float* y, int N, int C, long HW,
                               simt::Stream stream) {
  check_bn("batch_norm2d_eval_forward", N, C, HW);
  const long n = static_cast<long>(N) * C * HW;
  simt::launch(device::batch_norm_eval_forward, bn_elementwise_grid(n), bn_elementwise_block, 0, stream, x, gamma,
               beta, running_mean, running_var, static_cast<float>(eps), y, n, C, HW);
}

void batch_norm2d_backward(const float* dy, const float* x, const float* gamma, const float* saved_mean,
                           const float* saved_invstd, float* dx, float* dgamma, float* dbeta, int N, int C, long HW,
                           double* workspace, simt::Stream stream) {
  check_bn("batch_norm2d_backward", N, C, HW);
  const long S = channel_slices(N, HW), M = static_cast<long>(N) * HW, n = M * C;
  double* sum_dy = workspace;
  double* sum_dy_xhat = workspace + static_cast<long>(C) * S;
  const dim3 slices(static_cast<unsigned>(S), static_cast<unsigned>(C));
  simt::launch(device::batch_norm_backward_partials, slices, channel_block, 0, stream, dy, x, saved_mean,
               saved_invstd, C, HW, M, sum_dy, sum_dy_xhat);
  simt::launch(device::batch_norm_backward_finalize, channel_grid(C), 256, 0, stream, sum_dy, sum_dy_xhat, C,
               static_cast<int>(S), dgamma, dbeta);
  simt::launch(device::batch_norm_backward_data, bn_elementwise_grid(n), bn_elementwise_block, 0, stream, dy, x, gamma,
               saved_mean, saved_invstd, dgamma, dbeta, dx, n, C, HW, static_cast<float>(M));
}

}  // namespace ednn::kernels
