// Central-difference gradient checks in float64 for every differentiable operation and loss.
// Each f reduces the operation's output to a scalar with a fixed random weighting r, so every
// output element contributes: f = sum(op(inputs) * r).
#include "tests/engine/test_util.h"

#include <cmath>

#include "core/geometry.h"
#include "core/loss_spec.h"

using namespace ednn;
using ednn::test::check_gradients;
using ednn::test::random_tensor;

namespace {

struct ConvCase {
  int N, C_in, H, W, C_out, k, stride, pad;
};

// Sizes include odd and non-square images, 1x1, 3x3 and 4x4 kernels, stride 2, padding 0, 1, 2.
const ConvCase kConvCases[] = {
    {2, 3, 5, 6, 4, 3, 1, 1}, {1, 2, 7, 7, 3, 3, 2, 1}, {2, 2, 6, 5, 2, 4, 2, 2},
    {1, 3, 4, 4, 2, 1, 1, 0}, {2, 1, 5, 5, 3, 4, 1, 0}, {1, 2, 9, 6, 2, 3, 2, 0},
};

}  // namespace

TEST_CASE("gradient check: conv2d (input, weight, bias)") {
  std::uint64_t seed = 1;
  for (const ConvCase& c : kConvCases) {
    CAPTURE(c.N); CAPTURE(c.C_in); CAPTURE(c.H); CAPTURE(c.W); CAPTURE(c.k); CAPTURE(c.stride); CAPTURE(c.pad);
    Tensor x = random_tensor({c.N, c.C_in, c.H, c.W}, seed++, DType::f64, -1, 1, true);
    Tensor w = random_tensor({c.C_out, c.C_in, c.k, c.k}, seed++, DType::f64, -1, 1, true);
    Tensor b = random_tensor({c.C_out}, seed++, DType::f64, -1, 1, true);
    const ConvGeometry g = conv2d_geometry(x.shape(), w.shape(), c.stride, c.pad);
    Tensor r = random_tensor(g.output_shape(), seed++);
    check_gradients([&](std::vector<Tensor>& in) { return dot(conv2d(in[0], in[1], in[2], c.stride, c.pad), r); },
                    {x, w, b});
  }
}

TEST_CASE("gradient check: conv_transpose2d (input, weight, bias), including output_padding") {
  struct Case { int N, C_in, H, W, C_out, k, stride, pad, out_pad; };
  const Case cases[] = {{2, 3, 4, 5, 2, 3, 1, 1, 0}, {1, 2, 3, 3, 3, 4, 2, 1, 0}, {2, 2, 3, 4, 2, 3, 2, 1, 1},
                        {1, 3, 4, 3, 2, 1, 1, 0, 0}, {1, 2, 2, 3, 2, 4, 2, 2, 1}, {1, 1, 2, 2, 2, 2, 2, 0, 0}};
  std::uint64_t seed = 100;
  for (const Case& c : cases) {
    CAPTURE(c.k); CAPTURE(c.stride); CAPTURE(c.pad); CAPTURE(c.out_pad);
    Tensor x = random_tensor({c.N, c.C_in, c.H, c.W}, seed++, DType::f64, -1, 1, true);
    Tensor w = random_tensor({c.C_in, c.C_out, c.k, c.k}, seed++, DType::f64, -1, 1, true);
    Tensor b = random_tensor({c.C_out}, seed++, DType::f64, -1, 1, true);
    const int Ho = (c.H - 1) * c.stride - 2 * c.pad + c.k + c.out_pad;
    const int Wo = (c.W - 1) * c.stride - 2 * c.pad + c.k + c.out_pad;
    Tensor r = random_tensor({c.N, c.C_out, Ho, Wo}, seed++);
    check_gradients(
        [&](std::vector<Tensor>& in) {
          Tensor y = conv_transpose2d(in[0], in[1], in[2], c.stride, c.pad, c.out_pad);
          REQUIRE(y.shape() == Shape{c.N, c.C_out, Ho, Wo});
          return dot(y, r);
        },
        {x, w, b});
  }
}

TEST_CASE("gradient check: avg_pool2d, including overlapping windows and odd sizes") {
  struct Case { int H, W, k, s; };
  for (Case c : {Case{4, 6, 2, 2}, Case{5, 7, 2, 2}, Case{7, 6, 3, 2}, Case{5, 5, 3, 1}}) {
    Tensor x = random_tensor({2, 3, c.H, c.W}, 7 + c.H, DType::f64, -1, 1, true);
    const PoolGeometry g = avg_pool2d_geometry(x.shape(), c.k, c.s);
    Tensor r = random_tensor(g.output_shape(), 9 + c.W);
    check_gradients([&](std::vector<Tensor>& in) { return dot(avg_pool2d(in[0], c.k, c.s), r); }, {x});
  }
}

TEST_CASE("gradient check: upsample_nearest2d") {
  for (int scale : {1, 2, 3}) {
    Tensor x = random_tensor({2, 2, 3, 5}, 20 + scale, DType::f64, -1, 1, true);
    Tensor r = random_tensor({2, 2, 3 * scale, 5 * scale}, 30 + scale);
    check_gradients([&](std::vector<Tensor>& in) { return dot(upsample_nearest2d(in[0], scale), r); }, {x});
  }
}

TEST_CASE("gradient check: batch_norm2d in training mode (input, gamma, beta)") {
  for (Shape shape : {Shape{2, 3, 4, 5}, Shape{4, 2, 1, 1}, Shape{1, 2, 3, 3}}) {
    const int C = int(shape[1]);
    Tensor x = random_tensor(shape, 40 + shape[0], DType::f64, -2, 3, true);
    Tensor gamma = random_tensor({C}, 41, DType::f64, 0.5, 1.5, true);
    Tensor beta = random_tensor({C}, 42, DType::f64, -1, 1, true);
    Tensor rm = Tensor::zeros({C}, DType::f64), rv = Tensor::full({C}, 1.0, DType::f64);
    Tensor r = random_tensor(shape, 43);
    check_gradients(
        [&](std::vector<Tensor>& in) { return dot(batch_norm2d(in[0], in[1], in[2], rm, rv, true), r); },
        {x, gamma, beta}, 1e-6, 1e-5);
  }
}

TEST_CASE("gradient check: leaky_relu, kinks skipped") {
  Tensor x = random_tensor({2, 3, 4, 4}, 50, DType::f64, -1, 1, true);
  Tensor r = random_tensor({2, 3, 4, 4}, 51);
  const double* xv = x.data<double>();
  check_gradients([&](std::vector<Tensor>& in) { return dot(leaky_relu(in[0], 0.02), r); }, {x}, 1e-6, 1e-6,
                  [&](std::size_t, std::int64_t i) { return std::abs(xv[i]) < 1e-4; });
}

TEST_CASE("gradient check: every loss (metric x prefactor), kinks skipped") {
  const char* texts[] = {"mae", "mse", "huber:delta=0.3", "berhu:delta=0.3",
                         "exp-mae:w=1", "exp-mse:w=0.5", "exp-huber:w=1,delta=0.3", "exp-berhu:w=1,delta=0.3",
                         "exp-mae:w=1,on=prediction", "exp-mse:w=0.7,on=prediction",
                         "exp-huber:w=1,delta=0.3,on=prediction", "exp-berhu:w=2,delta=0.3,on=prediction",
                         "step-mae:a=40,b=10", "step-mse:a=4,b=2", "step-huber:a=4,b=3,delta=0.3",
                         "step-berhu:a=4,b=3,delta=0.3"};
  for (const char* text : texts) {
    CAPTURE(text);
    const LossSpec spec = parse_loss(text);
    Tensor pred = random_tensor({2, 1, 5, 4}, 60, DType::f64, -1, 1, true);
    Tensor target = random_tensor({2, 1, 5, 4}, 61, DType::f64, 0, 1);
    const double* p = pred.data<double>();
    const double* y = target.data<double>();
    // Kinks: d = 0 (mae, berhu), |d| = delta (huber, berhu), p = 0 (the prediction-weighted exp).
    auto at_kink = [&](std::size_t, std::int64_t i) {
      const double d = std::abs(p[i] - y[i]);
      return d < 1e-4 || std::abs(d - spec.delta) < 1e-4 || std::abs(p[i]) < 1e-4;
    };
    check_gradients([&](std::vector<Tensor>& in) { return weighted_loss(in[0], target, spec); }, {pred}, 1e-6,
                    1e-6, at_kink);
  }
}

TEST_CASE("gradient check: a small network chains the operations") {
  // conv -> batch norm -> leaky relu -> pool -> transposed conv -> upsample -> loss, as in the ED-CNN.
  Tensor x = random_tensor({2, 1, 8, 8}, 70, DType::f64, 0, 1);
  Tensor w1 = random_tensor({3, 1, 3, 3}, 71, DType::f64, -1, 1, true);
  Tensor b1 = random_tensor({3}, 72, DType::f64, -1, 1, true);
  Tensor gamma = random_tensor({3}, 73, DType::f64, 0.5, 1.5, true);
  Tensor beta = random_tensor({3}, 74, DType::f64, -0.5, 0.5, true);
  Tensor w2 = random_tensor({3, 1, 3, 3}, 75, DType::f64, -1, 1, true);
  Tensor b2 = random_tensor({1}, 76, DType::f64, -1, 1, true);
  Tensor target = random_tensor({2, 1, 8, 8}, 77, DType::f64, 0, 1);
  Tensor rm = Tensor::zeros({3}, DType::f64), rv = Tensor::full({3}, 1.0, DType::f64);
  check_gradients(
      [&](std::vector<Tensor>& in) {
        Tensor h = conv2d(x, in[0], in[1], 1, 1);
        h = leaky_relu(batch_norm2d(h, in[2], in[3], rm, rv, true), 0.02);
        h = avg_pool2d(h, 2);
        h = upsample_nearest2d(conv_transpose2d(h, in[4], in[5], 1, 1), 2);
        return weighted_loss(h, target, parse_loss("exp-mse:w=1"));
      },
      {w1, b1, gamma, beta, w2, b2}, 1e-6, 1e-5);
}
