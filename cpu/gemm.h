// Row-major C[M, N] = alpha op(A) op(B) + beta C, op = transpose or not, with row strides lda,
// ldb, ldc: the one BLAS routine the CPU convolutions use (cpu/conv2d.cpp).
//
// With OpenBLAS (EDNN_HAVE_CBLAS, the normal build) conv2d.cpp calls cblas_sgemm/dgemm. This is
// the built-in fallback for machines without it (the lent GPU machines have no OpenBLAS; there the
// CPU path is only the reference the GPU is checked against): plain loops in an order that keeps
// the innermost loop on contiguous memory of B and C, so the compiler vectorises it. Several times
// slower than OpenBLAS, exact to float rounding. tests/engine checks it against the BLAS.
#pragma once

namespace ednn::cpu {

template <class T>
void portable_gemm(bool trans_a, bool trans_b, int M, int N, int K, T alpha, const T* A, int lda, const T* B,
                   int ldb, T beta, T* C, int ldc) {
  for (int i = 0; i < M; ++i) {
    T* c = C + static_cast<long>(i) * ldc;
    for (int j = 0; j < N; ++j) c[j] = beta == T(0) ? T(0) : beta * c[j];
    for (int k = 0; k < K; ++k) {
      const T a = alpha * (trans_a ? A[static_cast<long>(k) * lda + i] : A[static_cast<long>(i) * lda + k]);
      if (a == T(0)) continue;
      if (!trans_b) {
        const T* b = B + static_cast<long>(k) * ldb;  // row k of B: contiguous in j
        for (int j = 0; j < N; ++j) c[j] += a * b[j];
      } else {
        for (int j = 0; j < N; ++j) c[j] += a * B[static_cast<long>(j) * ldb + k];
      }
    }
  }
}

}  // namespace ednn::cpu
