// Values worked out by hand, adjoint identities, and the fast CPU path against the reference loops.
#include "tests/engine/test_util.h"

#include <cmath>

#include "engine/backend.h"
#include "cpu/cpu_ops.h"
#include "cpu/gemm.h"
#include "core/geometry.h"

using namespace ednn;
using ednn::test::max_abs_diff;
using ednn::test::random_tensor;

TEST_CASE("conv_transpose2d: a 2x2 input through a 2x2 kernel with stride 2 tiles scaled copies of the kernel") {
  // Each input pixel x[i][j] writes x[i][j] * w into the 2x2 block at (2i, 2j).
  Tensor x = Tensor::from_vector(std::vector<double>{1, 2, 3, 4}, {1, 1, 2, 2});
  Tensor w = Tensor::from_vector(std::vector<double>{1, 10, 100, 1000}, {1, 1, 2, 2});
  Tensor y = conv_transpose2d(x, w, Tensor(), 2, 0);
  const std::vector<double> expected = {1, 10, 2, 20, 100, 1000, 200, 2000, 3, 30, 4, 40, 300, 3000, 400, 4000};
  REQUIRE(y.shape() == Shape{1, 1, 4, 4});
  CHECK(y.to_vector() == expected);
}

TEST_CASE("conv2d: a 3x3 box filter with padding 1 sums each pixel's neighbourhood") {
  Tensor x = Tensor::from_vector(std::vector<double>{1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 1, 3, 3});
  Tensor w = Tensor::full({1, 1, 3, 3}, 1.0, DType::f64);
  Tensor b = Tensor::full({1}, 0.5, DType::f64);
  Tensor y = conv2d(x, w, b, 1, 1);
  // Corner (0,0): 1+2+4+5 = 12; centre: 45; edge (0,1): 1+2+3+4+5+6 = 21; plus the bias 0.5.
  const std::vector<double> expected = {12.5, 21.5, 16.5, 27.5, 45.5, 33.5, 24.5, 39.5, 28.5};
  CHECK(y.to_vector() == expected);
}

TEST_CASE("batch_norm2d: four numbers, by hand") {
  // x = 1, 2, 3, 4 in one channel: mean 2.5, biased variance 1.25, unbiased 5/3.
  Tensor x = Tensor::from_vector(std::vector<double>{1, 2, 3, 4}, {4, 1, 1, 1});
  Tensor gamma = Tensor::full({1}, 2.0, DType::f64), beta = Tensor::full({1}, 0.5, DType::f64);
  Tensor rm = Tensor::zeros({1}, DType::f64), rv = Tensor::full({1}, 1.0, DType::f64);
  Tensor y = batch_norm2d(x, gamma, beta, rm, rv, true, 0.1, 1e-5);
  const double invstd = 1.0 / std::sqrt(1.25 + 1e-5);
  auto v = y.to_vector();
  for (int i = 0; i < 4; ++i) CHECK(v[i] == doctest::Approx(2.0 * (i + 1 - 2.5) * invstd + 0.5).epsilon(1e-14));
  CHECK(rm.item() == doctest::Approx(0.25).epsilon(1e-14));                      // 0.9 * 0 + 0.1 * 2.5
  CHECK(rv.item() == doctest::Approx(0.9 + 0.1 * 5.0 / 3.0).epsilon(1e-14));    // 0.9 * 1 + 0.1 * 5/3
}

TEST_CASE("batch_norm2d: evaluation uses the running statistics; several steps update them") {
  const int C = 3;
  Tensor gamma = random_tensor({C}, 1, DType::f64, 0.5, 1.5), beta = random_tensor({C}, 2);
  Tensor rm = Tensor::zeros({C}, DType::f64), rv = Tensor::full({C}, 1.0, DType::f64);
  std::vector<double> expect_mean(C, 0.0), expect_var(C, 1.0);
  for (int step = 0; step < 4; ++step) {
    Tensor x = random_tensor({3, C, 4, 2}, 10 + step, DType::f64, -1 + step, 2 + step);
    batch_norm2d(x, gamma, beta, rm, rv, true, 0.1, 1e-5);
    // Independent statistics, straight from the definition.
    auto v = x.to_vector();
    for (int c = 0; c < C; ++c) {
      double s = 0, s2 = 0;
      const int M = 3 * 8;
      for (int n = 0; n < 3; ++n)
        for (int i = 0; i < 8; ++i) s += v[(n * C + c) * 8 + i];
      const double mean = s / M;
      for (int n = 0; n < 3; ++n)
        for (int i = 0; i < 8; ++i) s2 += std::pow(v[(n * C + c) * 8 + i] - mean, 2);
      expect_mean[c] = 0.9 * expect_mean[c] + 0.1 * mean;
      expect_var[c] = 0.9 * expect_var[c] + 0.1 * s2 / (M - 1);
    }
  }
  auto m = rm.to_vector(), var = rv.to_vector();
  for (int c = 0; c < C; ++c) {
    CHECK(m[c] == doctest::Approx(expect_mean[c]).epsilon(1e-12));
    CHECK(var[c] == doctest::Approx(expect_var[c]).epsilon(1e-12));
  }
  // Evaluation: y = gamma (x - running_mean) / sqrt(running_var + eps) + beta; statistics unchanged.
  Tensor x = random_tensor({2, C, 3, 3}, 99);
  Tensor y = batch_norm2d(x, gamma, beta, rm, rv, false, 0.1, 1e-5);
  auto xv = x.to_vector(), yv = y.to_vector(), g = gamma.to_vector(), b = beta.to_vector();
  for (int n = 0; n < 2; ++n)
    for (int c = 0; c < C; ++c)
      for (int i = 0; i < 9; ++i) {
        const int k = (n * C + c) * 9 + i;
        CHECK(yv[k] == doctest::Approx(g[c] * (xv[k] - m[c]) / std::sqrt(var[c] + 1e-5) + b[c]).epsilon(1e-12));
      }
  CHECK(rm.to_vector() == m);
  // Training mode on the same input gives a different answer (batch statistics).
  Tensor y_train = batch_norm2d(x, gamma, beta, rm, rv, true, 0.1, 1e-5);
  CHECK(max_abs_diff(y, y_train) > 1e-3);
}

TEST_CASE("adjoint: <conv2d(x), y> = <x, conv_transpose2d(y)> with the same weight") {
  struct Case { int C_in, C_out, H, W, k, s, p; };
  for (Case c : {Case{2, 3, 7, 6, 3, 1, 1}, Case{3, 2, 8, 8, 4, 2, 1}, Case{2, 2, 9, 7, 3, 2, 1},
                 Case{1, 2, 5, 5, 1, 1, 0}}) {
    Tensor w = random_tensor({c.C_out, c.C_in, c.k, c.k}, 5);
    Tensor x = random_tensor({2, c.C_in, c.H, c.W}, 6);
    Tensor cx = conv2d(x, w, Tensor(), c.s, c.p);
    Tensor y = random_tensor(cx.shape(), 7);
    // The transposed convolution must give back x's size: pick output_padding to make it so.
    const int op = (c.H + 2 * c.p - c.k) % c.s;
    Tensor ty = conv_transpose2d(y, w, Tensor(), c.s, c.p, op);
    REQUIRE(ty.shape() == x.shape());
    const double lhs = dot(cx, y).item(), rhs = dot(x, ty).item();
    CHECK(lhs == doctest::Approx(rhs).epsilon(1e-12));
  }
}

TEST_CASE("adjoint: avg_pool2d and upsample_nearest2d against their backward passes") {
  Backend& be = backend_for(Device::cpu);
  Tensor x = random_tensor({2, 3, 6, 8}, 11);
  const PoolGeometry g = avg_pool2d_geometry(x.shape(), 2, 2);
  Tensor y = random_tensor(g.output_shape(), 12);
  CHECK(dot(be.avg_pool2d_forward(x, g), y).item() ==
        doctest::Approx(dot(x, be.avg_pool2d_backward(y, g)).item()).epsilon(1e-12));
  Tensor u = random_tensor({2, 3, 6, 8}, 13);  // the size of y upsampled by 2
  CHECK(dot(be.upsample_nearest2d_forward(y, 2), u).item() ==
        doctest::Approx(dot(y, be.upsample_nearest2d_backward(u, 2)).item()).epsilon(1e-12));
  // With window = scale, pooling's backward is upsampling divided by the window's area.
  Tensor pb = be.avg_pool2d_backward(y, g), up = be.upsample_nearest2d_forward(y, 2);
  auto a = pb.to_vector(), b = up.to_vector();
  for (std::size_t i = 0; i < a.size(); ++i) CHECK(a[i] == doctest::Approx(b[i] / 4).epsilon(1e-14));
}

TEST_CASE("fast CPU path (float32) matches the reference loops (float64)") {
  struct Case { int N, C_in, H, W, C_out, k, s, p; };
  const Case cases[] = {{3, 5, 13, 11, 7, 3, 1, 1}, {2, 4, 16, 16, 6, 3, 1, 1}, {2, 3, 9, 10, 4, 4, 2, 1},
                        {1, 6, 7, 7, 5, 1, 1, 0},   {3, 2, 8, 9, 3, 3, 2, 2},   {1, 3, 6, 5, 2, 4, 1, 0},
                        // Large enough that the fast path unfolds the image in several blocks of rows.
                        {1, 64, 40, 64, 4, 3, 1, 1}, {2, 128, 41, 60, 3, 3, 2, 1}};
  std::uint64_t seed = 200;
  for (const Case& c : cases) {
    CAPTURE(c.k); CAPTURE(c.s); CAPTURE(c.p);
    Tensor x64 = random_tensor({c.N, c.C_in, c.H, c.W}, seed++), w64 = random_tensor({c.C_out, c.C_in, c.k, c.k}, seed++);
    Tensor b64 = random_tensor({c.C_out}, seed++);
    const ConvGeometry g = conv2d_geometry(x64.shape(), w64.shape(), c.s, c.p);
    Tensor dy64 = random_tensor(g.output_shape(), seed++);
    Tensor x = x64.to_dtype(DType::f32), w = w64.to_dtype(DType::f32), b = b64.to_dtype(DType::f32),
           dy = dy64.to_dtype(DType::f32);

    Tensor y_ref = Tensor::empty(g.output_shape(), DType::f64), y = Tensor::empty(g.output_shape(), DType::f32);
    cpu::ref::conv2d_forward(x64.data<double>(), w64.data<double>(), b64.data<double>(), y_ref.data<double>(), g);
    cpu::fast::conv2d_forward(x.data<float>(), w.data<float>(), b.data<float>(), y.data<float>(), g);
    // float32 rounding grows with the number of terms summed per output (K = C_in k k).
    const double tol = 1e-5 * std::max(1.0, c.C_in * c.k * c.k / 64.0);
    CHECK(max_abs_diff(y.to_dtype(DType::f64), y_ref) < tol);

    Tensor dx_ref = Tensor::empty(g.input_shape(), DType::f64), dx = Tensor::empty(g.input_shape(), DType::f32);
    cpu::ref::conv2d_backward_data(dy64.data<double>(), w64.data<double>(), dx_ref.data<double>(), g);
    cpu::fast::conv2d_backward_data(dy.data<float>(), w.data<float>(), dx.data<float>(), g);
    CHECK(max_abs_diff(dx.to_dtype(DType::f64), dx_ref) < tol);

    Tensor dw_ref = Tensor::empty(g.weight_shape(), DType::f64), dw = Tensor::empty(g.weight_shape(), DType::f32);
    cpu::ref::conv2d_backward_weight(x64.data<double>(), dy64.data<double>(), dw_ref.data<double>(), g);
    cpu::fast::conv2d_backward_weight(x.data<float>(), dy.data<float>(), dw.data<float>(), g);
    CHECK(max_abs_diff(dw.to_dtype(DType::f64), dw_ref) < 10 * tol);

    // The float64 fast path agrees with the reference to rounding.
    Tensor y64 = Tensor::empty(g.output_shape(), DType::f64);
    cpu::fast::conv2d_forward(x64.data<double>(), w64.data<double>(), b64.data<double>(), y64.data<double>(), g);
    CHECK(max_abs_diff(y64, y_ref) < 1e-12);
  }
}

TEST_CASE("portable_gemm (the GEMM used without OpenBLAS) matches the definition, every transpose, strides, beta") {
  // C[M, N] = alpha op(A) op(B) + beta C on row-major matrices with padded rows, checked against
  // the sum written out in long double.
  const int M = 5, N = 7, K = 4, pad = 3;
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (double beta : {0.0, 0.5}) {
        CAPTURE(ta); CAPTURE(tb); CAPTURE(beta);
        const int lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
        std::vector<double> A((ta ? K : M) * lda), B((tb ? N : K) * ldb), C(M * ldc);
        for (std::size_t i = 0; i < A.size(); ++i) A[i] = std::sin(0.7 * double(i) + 0.1);
        for (std::size_t i = 0; i < B.size(); ++i) B[i] = std::cos(1.3 * double(i));
        for (std::size_t i = 0; i < C.size(); ++i) C[i] = 0.25 * double(i % 11) - 1.0;
        std::vector<double> got = C;
        ednn::cpu::portable_gemm(ta, tb, M, N, K, 1.5, A.data(), lda, B.data(), ldb, beta, got.data(), ldc);
        for (int i = 0; i < M; ++i)
          for (int j = 0; j < ldc; ++j) {
            if (j >= N) {  // the padding of C is left alone
              CHECK(got[i * ldc + j] == C[i * ldc + j]);
              continue;
            }
            long double sum = 0;
            for (int k = 0; k < K; ++k)
              sum += (long double)(ta ? A[k * lda + i] : A[i * lda + k]) * (tb ? B[j * ldb + k] : B[k * ldb + j]);
            const double want = double(1.5L * sum + (long double)beta * C[i * ldc + j]);
            CHECK(got[i * ldc + j] == doctest::Approx(want).epsilon(1e-12));
          }
      }
}

TEST_CASE("bad input throws errors that name the operation and the values") {
  Tensor x = Tensor::zeros({2, 3, 8, 8}), w = Tensor::zeros({4, 5, 3, 3});
  CHECK_THROWS_WITH_AS(conv2d(x, w, Tensor(), 1, 1), "conv2d: input has 3 channels, weight expects 5", Error);
  CHECK_THROWS_WITH_AS(conv2d(x, Tensor::zeros({4, 3, 11, 11}), Tensor(), 1, 1),
                       "conv2d: kernel 11x11 is larger than the padded input 10x10", Error);
  CHECK_THROWS_AS(conv2d(x, Tensor::zeros({4, 3, 3, 3}), Tensor(), 0, 1), Error);
  CHECK_THROWS_AS(conv2d(x, Tensor::zeros({4, 3, 3, 3}), Tensor(), 1, -1), Error);
  CHECK_THROWS_WITH_AS(conv2d(x, Tensor::zeros({4, 3, 3, 3}), Tensor::zeros({5}), 1, 1),
                       doctest::Contains("conv2d: bias must be [4]"), Error);
  CHECK_THROWS_AS(conv2d(Tensor::zeros({3, 8, 8}), w, Tensor(), 1, 1), Error);
  CHECK_THROWS_AS(conv2d(x, Tensor::zeros({4, 3, 3, 3}, DType::f64), Tensor(), 1, 1), Error);
  CHECK_THROWS_WITH_AS(conv_transpose2d(x, Tensor::zeros({3, 2, 3, 3}), Tensor(), 2, 1, 2),
                       doctest::Contains("output_padding must be in [0, stride = 2)"), Error);
  CHECK_THROWS_WITH_AS(conv_transpose2d(x, Tensor::zeros({4, 2, 3, 3}), Tensor(), 1, 1),
                       doctest::Contains("conv_transpose2d: input has 3 channels"), Error);
  CHECK_THROWS_AS(Tensor::zeros({2, 0, 4, 4}).reshape({1}), Error);
  CHECK_THROWS_AS(conv2d(Tensor::zeros({2, 0, 4, 4}), Tensor::zeros({1, 0, 3, 3}), Tensor(), 1, 1), Error);
  CHECK_THROWS_AS(avg_pool2d(Tensor::zeros({1, 1, 1, 1}), 2), Error);
  CHECK_THROWS_AS(upsample_nearest2d(x, 0), Error);
  Tensor rm = Tensor::zeros({4}), rv = Tensor::zeros({4});
  CHECK_THROWS_WITH_AS(batch_norm2d(x, Tensor::zeros({4}), Tensor::zeros({4}), rm, rv, true),
                       doctest::Contains("batch_norm2d: input has 3 channels"), Error);
  CHECK_THROWS_AS(Tensor::empty({-1, 2}), Error);
}
