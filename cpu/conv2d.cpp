// conv2d on the CPU: forward, backward-data and backward-weight, as reference loops and as
// im2col + GEMM.
//
// Maths (cross-correlation, as PyTorch), for x [N, C_in, H_in, W_in], w [C_out, C_in, kH, kW]:
//   y[n, o, i, j]  = b[o] + sum_{c, p, q} w[o, c, p, q] * x[n, c, i*s - pad + p, j*s - pad + q]
//   dx[n, c, h, v] = sum_{o, p, q : h = i*s - pad + p, v = j*s - pad + q} w[o, c, p, q] * dy[n, o, i, j]
//   dw[o, c, p, q] = sum_{n, i, j} dy[n, o, i, j] * x[n, c, i*s - pad + p, j*s - pad + q]
//   db[o]          = sum_{n, i, j} dy[n, o, i, j]
// (x outside the image is zero.) The transposed convolution (conv_transpose2d) is exactly
// backward-data, so it lives here too, through the same three functions.
//
// The GEMM view: unfold each image into columns, col[(c, p, q), (i, j)] = x[c, i*s-pad+p, j*s-pad+q]
// (im2col, K = C_in kH kW rows, P = H_out W_out columns). Then per image
//   y_n  = W[C_out, K] col[K, P]          (forward)
//   col  = W^T[K, C_out] dy_n[C_out, P]   then fold the columns back, summing overlaps (col2im)
//   dW  += dy_n[C_out, P] col^T[P, K]     (backward-weight)
// Images are spread over OpenMP threads, each with its own column buffer; the BLAS runs
// single-threaded inside them. Large images are unfolded a block of output rows at a time, so the
// columns stay in cache between im2col and the GEMM (the block's columns of y, dy are strided views). The fast path applies an epilogue (bias, then leaky ReLU) to each
// image right after its GEMM, while the image's output is still in cache; the reference path has
// no epilogue (tests compose it from the reference convolution and the activation loop).
#if EDNN_HAVE_CBLAS
#include <cblas.h>
#endif
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "cpu/cpu_ops.h"
#include "cpu/gemm.h"

namespace ednn::cpu {

// ------------------------------------------------------------------------------------------------
// Reference: direct loops.
// ------------------------------------------------------------------------------------------------
namespace ref {
namespace {

// Calls tap(x_index, w_index, y_index) for every term w[o, c, p, q] * x[n, c, h, v] of every output
// y[n, o, i, j], skipping the taps that fall on the zero padding. The three operations differ only
// in which of the three arrays they write:
//   forward          y[y_index]  += w[w_index] * x[x_index]
//   backward-data    dx[x_index] += w[w_index] * dy[y_index]
//   backward-weight  dw[w_index] += dy[y_index] * x[x_index]
template <class Tap>
void for_each_tap(const ConvGeometry& g, Tap tap) {
  for (int n = 0; n < g.N; ++n)
    for (int o = 0; o < g.C_out; ++o)
      for (int i = 0; i < g.H_out; ++i)
        for (int j = 0; j < g.W_out; ++j) {
          const std::int64_t y_index = ((std::int64_t(n) * g.C_out + o) * g.H_out + i) * g.W_out + j;
          for (int c = 0; c < g.C_in; ++c)
            for (int p = 0; p < g.kH; ++p) {
              const int h = i * g.stride - g.pad + p;
              if (h < 0 || h >= g.H_in) continue;
              for (int q = 0; q < g.kW; ++q) {
                const int v = j * g.stride - g.pad + q;
                if (v < 0 || v >= g.W_in) continue;
                tap(((std::int64_t(n) * g.C_in + c) * g.H_in + h) * g.W_in + v,
                    ((std::int64_t(o) * g.C_in + c) * g.kH + p) * g.kW + q, y_index);
              }
            }
        }
}

}  // namespace

template <class T>
void conv2d_forward(const T* x, const T* w, const T* bias, T* y, const ConvGeometry& g) {
  const std::int64_t plane = std::int64_t(g.H_out) * g.W_out;
  for (std::int64_t k = 0; k < g.output_numel(); ++k) y[k] = bias ? bias[(k / plane) % g.C_out] : T(0);
  for_each_tap(g, [&](std::int64_t xi, std::int64_t wi, std::int64_t yi) { y[yi] += w[wi] * x[xi]; });
}

template <class T>
void conv2d_backward_data(const T* dy, const T* w, T* dx, const ConvGeometry& g) {
  std::fill(dx, dx + g.input_numel(), T(0));
  for_each_tap(g, [&](std::int64_t xi, std::int64_t wi, std::int64_t yi) { dx[xi] += w[wi] * dy[yi]; });
}

template <class T>
void conv2d_backward_weight(const T* x, const T* dy, T* dw, const ConvGeometry& g) {
  std::fill(dw, dw + g.weight_numel(), T(0));
  for_each_tap(g, [&](std::int64_t xi, std::int64_t wi, std::int64_t yi) { dw[wi] += dy[yi] * x[xi]; });
}

template void conv2d_forward<float>(const float*, const float*, const float*, float*, const ConvGeometry&);
template void conv2d_forward<double>(const double*, const double*, const double*, double*, const ConvGeometry&);
template void conv2d_backward_data<float>(const float*, const float*, float*, const ConvGeometry&);
template void conv2d_backward_data<double>(const double*, const double*, double*, const ConvGeometry&);
template void conv2d_backward_weight<float>(const float*, const float*, float*, const ConvGeometry&);
template void conv2d_backward_weight<double>(const double*, const double*, double*, const ConvGeometry&);

}  // namespace ref

// ------------------------------------------------------------------------------------------------
// Fast: im2col + GEMM.
// ------------------------------------------------------------------------------------------------
namespace fast {
namespace {

// Row-major C[M, N] = alpha op(A) op(B) + beta C, with leading dimensions (row strides) lda, ldb, ldc.
// (Without OpenBLAS: cpu/gemm.h's portable_gemm.)
#if EDNN_HAVE_CBLAS
void gemm(bool ta, bool tb, int M, int N, int K, float alpha, const float* A, int lda, const float* B, int ldb,
          float beta, float* C, int ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda,
              B, ldb, beta, C, ldc);
}
void gemm(bool ta, bool tb, int M, int N, int K, double alpha, const double* A, int lda, const double* B, int ldb,
          double beta, double* C, int ldc) {
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda,
              B, ldb, beta, C, ldc);
}
#else
template <class T>
void gemm(bool ta, bool tb, int M, int N, int K, T alpha, const T* A, int lda, const T* B, int ldb, T beta, T* C,
          int ldc) {
  portable_gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
#endif

// One-time: the BLAS runs single-threaded because the images already are spread over threads.
void single_threaded_blas() {
#if EDNN_HAVE_CBLAS
  static const bool once = [] {
    openblas_set_num_threads(1);
    return true;
  }();
  (void)once;
#endif
}

// A 1x1 convolution with stride 1 and no padding needs no unfolding: the image is its own column matrix.
bool is_pointwise(const ConvGeometry& g) { return g.kH == 1 && g.kW == 1 && g.stride == 1 && g.pad == 0; }

// The column matrix of a whole large image does not fit in cache (the paper's second layer:
// 576 rows x 65,536 columns, 150 MB), so it is built and consumed a block of output rows at a
// time: about kColumnBlockBytes of columns, but at least 256 columns so the GEMM stays efficient.
constexpr std::size_t kColumnBlockBytes = std::size_t(1) << 21;

template <class T>
int rows_per_block(const ConvGeometry& g) {
  const std::size_t K = std::size_t(g.C_in) * g.kH * g.kW;
  const std::size_t by_cache = kColumnBlockBytes / (K * sizeof(T) * std::size_t(g.W_out));
  const std::size_t by_gemm = (256 + g.W_out - 1) / g.W_out;
  return int(std::clamp<std::size_t>(std::max(by_cache, by_gemm), 1, std::size_t(g.H_out)));
}

// col[(c*kH + p)*kW + q][(i - i0)*W_out + j] = x[c, i*s - pad + p, j*s - pad + q] (0 outside),
// for one image and the output rows i0 <= i < i1.
template <class T>
void im2col(const T* x, T* col, const ConvGeometry& g, int i0, int i1) {
  const std::int64_t cols = std::int64_t(i1 - i0) * g.W_out;
  for (int c = 0; c < g.C_in; ++c)
    for (int p = 0; p < g.kH; ++p)
      for (int q = 0; q < g.kW; ++q) {
        T* row = col + std::int64_t((c * g.kH + p) * g.kW + q) * cols;
        const T* plane = x + std::int64_t(c) * g.H_in * g.W_in;
        for (int i = i0; i < i1; ++i) {
          int h = i * g.stride - g.pad + p;
          T* out = row + std::int64_t(i - i0) * g.W_out;
          if (h < 0 || h >= g.H_in) {
            std::fill(out, out + g.W_out, T(0));
            continue;
          }
          const T* in = plane + std::int64_t(h) * g.W_in;
          if (g.stride == 1) {  // a contiguous run with zeros on either side
            int j0 = std::max(0, g.pad - q), j1 = std::min(g.W_out, g.W_in + g.pad - q);
            j1 = std::max(j0, j1);
            std::fill(out, out + j0, T(0));
            std::memcpy(out + j0, in + j0 - g.pad + q, sizeof(T) * (j1 - j0));
            std::fill(out + j1, out + g.W_out, T(0));
          } else {
            for (int j = 0; j < g.W_out; ++j) {
              int v = j * g.stride - g.pad + q;
              out[j] = (v >= 0 && v < g.W_in) ? in[v] : T(0);
            }
          }
        }
      }
}

// The adjoint of im2col for the output rows i0 <= i < i1: adds each column entry into the pixel of
// x it was read from (blocks overlap by the kernel's height, so x is zeroed once, by the caller).
template <class T>
void col2im_add(const T* col, T* x, const ConvGeometry& g, int i0, int i1) {
  const std::int64_t cols = std::int64_t(i1 - i0) * g.W_out;
  for (int c = 0; c < g.C_in; ++c)
    for (int p = 0; p < g.kH; ++p)
      for (int q = 0; q < g.kW; ++q) {
        const T* row = col + std::int64_t((c * g.kH + p) * g.kW + q) * cols;
        T* plane = x + std::int64_t(c) * g.H_in * g.W_in;
        for (int i = i0; i < i1; ++i) {
          int h = i * g.stride - g.pad + p;
          if (h < 0 || h >= g.H_in) continue;
          T* out = plane + std::int64_t(h) * g.W_in;
          const T* in = row + std::int64_t(i - i0) * g.W_out;
          if (g.stride == 1) {
            int j0 = std::max(0, g.pad - q), j1 = std::min(g.W_out, g.W_in + g.pad - q);
            for (int j = j0; j < j1; ++j) out[j - g.pad + q] += in[j];
          } else {
            for (int j = 0; j < g.W_out; ++j) {
              int v = j * g.stride - g.pad + q;
              if (v >= 0 && v < g.W_in) out[v] += in[j];
            }
          }
        }
      }
}

// One image's output y [C, plane]: y += bias[c] (when bias is given), then the activation.
// The same float operations, in the same order, as add_per_channel followed by leaky_relu_forward,
// so fused and unfused layers give the same bits.
template <class T>
void apply_epilogue(T* y, const T* bias, int C, std::int64_t plane, const ConvEpilogue& epilogue) {
  const T s = T(epilogue.slope);
  for (int c = 0; c < C; ++c) {
    T* p = y + std::int64_t(c) * plane;
    if (bias) {
      const T b = bias[c];
      for (std::int64_t i = 0; i < plane; ++i) p[i] += b;
    }
    if (epilogue.activation == ConvActivation::leaky_relu) {
#pragma omp simd
      for (std::int64_t i = 0; i < plane; ++i) p[i] = p[i] > T(0) ? p[i] : s * p[i];
    }
  }
}

}  // namespace

template <class T>
void conv2d_forward(const T* x, const T* w, const T* bias, T* y, const ConvGeometry& g, const ConvEpilogue& epilogue) {
  single_threaded_blas();
  const int K = g.C_in * g.kH * g.kW, P = g.H_out * g.W_out, rows = rows_per_block<T>(g);
  const std::int64_t x_stride = std::int64_t(g.C_in) * g.H_in * g.W_in, y_stride = std::int64_t(g.C_out) * P;
#pragma omp parallel if (worth_threads(std::int64_t(g.flops())))
  {
    std::vector<T> col(is_pointwise(g) ? 0 : std::size_t(K) * rows * g.W_out);
#pragma omp for schedule(static)
    for (int n = 0; n < g.N; ++n) {
      const T* xn = x + n * x_stride;
      T* yn = y + n * y_stride;
      if (bias) {
        for (int o = 0; o < g.C_out; ++o) std::fill(yn + std::int64_t(o) * P, yn + std::int64_t(o + 1) * P, bias[o]);
      }
      if (is_pointwise(g)) {
        gemm(false, false, g.C_out, P, K, T(1), w, K, xn, P, bias ? T(1) : T(0), yn, P);
      } else {
        for (int i0 = 0; i0 < g.H_out; i0 += rows) {  // y[:, block] = W col(block)
          const int i1 = std::min(g.H_out, i0 + rows), cols = (i1 - i0) * g.W_out;
          im2col(xn, col.data(), g, i0, i1);
          gemm(false, false, g.C_out, cols, K, T(1), w, K, col.data(), cols, bias ? T(1) : T(0),
               yn + std::int64_t(i0) * g.W_out, P);
        }
      }
      if (epilogue.activation == ConvActivation::leaky_relu) apply_epilogue(yn, static_cast<const T*>(nullptr), g.C_out, P, epilogue);
    }
  }
}

template <class T>
void conv2d_backward_data(const T* dy, const T* w, T* dx, const ConvGeometry& g, const T* bias,
                          const ConvEpilogue& epilogue) {
  single_threaded_blas();
  const std::int64_t plane = std::int64_t(g.H_in) * g.W_in;
  const int K = g.C_in * g.kH * g.kW, P = g.H_out * g.W_out, rows = rows_per_block<T>(g);
  const std::int64_t x_stride = std::int64_t(g.C_in) * g.H_in * g.W_in, y_stride = std::int64_t(g.C_out) * P;
#pragma omp parallel if (worth_threads(std::int64_t(g.flops())))
  {
    std::vector<T> col(is_pointwise(g) ? 0 : std::size_t(K) * rows * g.W_out);
#pragma omp for schedule(static)
    for (int n = 0; n < g.N; ++n) {
      const T* dyn = dy + n * y_stride;
      T* dxn = dx + n * x_stride;
      if (is_pointwise(g)) {
        gemm(true, false, K, P, g.C_out, T(1), w, K, dyn, P, T(0), dxn, P);
      } else {
        std::fill(dxn, dxn + x_stride, T(0));
        for (int i0 = 0; i0 < g.H_out; i0 += rows) {  // col(block) = W^T dy[:, block], folded back into dx
          const int i1 = std::min(g.H_out, i0 + rows), cols = (i1 - i0) * g.W_out;
          gemm(true, false, K, cols, g.C_out, T(1), w, K, dyn + std::int64_t(i0) * g.W_out, P, T(0), col.data(),
               cols);
          col2im_add(col.data(), dxn, g, i0, i1);
        }
      }
      if (bias || epilogue.activation == ConvActivation::leaky_relu) apply_epilogue(dxn, bias, g.C_in, plane, epilogue);
    }
  }
}

template <class T>
void conv2d_backward_weight(const T* x, const T* dy, T* dw, const ConvGeometry& g) {
  single_threaded_blas();
  const int K = g.C_in * g.kH * g.kW, P = g.H_out * g.W_out, rows = rows_per_block<T>(g);
  const std::int64_t x_stride = std::int64_t(g.C_in) * g.H_in * g.W_in, y_stride = std::int64_t(g.C_out) * P;
  const std::int64_t wn = g.weight_numel();
  const int threads = worth_threads(std::int64_t(g.flops())) ? std::max(1, std::min(omp_get_max_threads(), g.N)) : 1;
  // Each thread sums its images into its own partial dW; the partials are added at the end.
  std::vector<T> partial(std::size_t(threads) * wn, T(0));
#pragma omp parallel num_threads(threads)
  {
    std::vector<T> col(is_pointwise(g) ? 0 : std::size_t(K) * rows * g.W_out);
    T* mine = partial.data() + std::int64_t(omp_get_thread_num()) * wn;
#pragma omp for schedule(static)
    for (int n = 0; n < g.N; ++n) {
      const T* xn = x + n * x_stride;
      const T* dyn = dy + n * y_stride;
      if (is_pointwise(g)) {
        gemm(false, true, g.C_out, K, P, T(1), dyn, P, xn, P, T(1), mine, K);
        continue;
      }
      for (int i0 = 0; i0 < g.H_out; i0 += rows) {  // dW += dy[:, block] col(block)^T
        const int i1 = std::min(g.H_out, i0 + rows), cols = (i1 - i0) * g.W_out;
        im2col(xn, col.data(), g, i0, i1);
        gemm(false, true, g.C_out, K, cols, T(1), dyn + std::int64_t(i0) * g.W_out, P, col.data(), cols, T(1), mine,
             K);
      }
    }
  }
  std::copy(partial.begin(), partial.begin() + wn, dw);
  for (int t = 1; t < threads; ++t)
    for (std::int64_t i = 0; i < wn; ++i) dw[i] += partial[std::size_t(t) * wn + i];
}

template void conv2d_forward<float>(const float*, const float*, const float*, float*, const ConvGeometry&,
                                    const ConvEpilogue&);
template void conv2d_forward<double>(const double*, const double*, const double*, double*, const ConvGeometry&,
                                     const ConvEpilogue&);
template void conv2d_backward_data<float>(const float*, const float*, float*, const ConvGeometry&, const float*,
                                          const ConvEpilogue&);
template void conv2d_backward_data<double>(const double*, const double*, double*, const ConvGeometry&,
                                           const double*, const ConvEpilogue&);
template void conv2d_backward_weight<float>(const float*, const float*, float*, const ConvGeometry&);
template void conv2d_backward_weight<double>(const double*, const double*, double*, const ConvGeometry&);

}  // namespace fast

template <class T>
void sum_per_channel(const T* x, T* out, int N, int C, std::int64_t HW) {
#pragma omp parallel for schedule(static) if (worth_threads(std::int64_t(N) * C * HW))
  for (int c = 0; c < C; ++c) {
    double acc = 0;  // double accumulation: bias gradients sum up to N*H*W terms
    for (int n = 0; n < N; ++n) {
      const T* p = x + (std::int64_t(n) * C + c) * HW;
      for (std::int64_t i = 0; i < HW; ++i) acc += p[i];
    }
    out[c] = T(acc);
  }
}
template void sum_per_channel<float>(const float*, float*, int, int, std::int64_t);
template void sum_per_channel<double>(const double*, double*, int, int, std::int64_t);

}  // namespace ednn::cpu
