// The fused convolution + bias + leaky ReLU operations (conv2d_leaky_relu,
// conv_transpose2d_leaky_relu, upsample_conv_transpose2d_leaky_relu) and the Sequential rules that
// run a convolution and the LeakyReLU after it (and an Upsample before a transposed one) as one:
//   - float64 central-difference gradient checks of both fused operations, skipping the inputs
//     whose perturbation moves some pre-activation across the kink at 0;
//   - fused == unfused (convolution, then leaky_relu): values and gradients, float32 and float64,
//     the values bit for bit (the CPU epilogue does the same float operations in the same order);
//   - a Sequential with fusion on and off: same outputs, same gradients, same state names;
//   - slope <= 0 is refused with a message that says why.
#include "tests/engine/test_util.h"

#include <cmath>
#include <cstdlib>
#include <string>

#include "core/geometry.h"
#include "engine/modules.h"

using namespace ednn;
using ednn::test::check_gradients;
using ednn::test::max_abs_diff;
using ednn::test::random_tensor;

namespace {

constexpr double kSlope = 0.02;

struct Case {
  int N, C_in, H, W, C_out, k, stride, pad, out_pad;  // out_pad: transposed convolution only
};

// Odd and non-square images, 1x1, 3x3 and 4x4 kernels, stride 1 and 2, padding 0 to 2.
const Case kCases[] = {{2, 3, 5, 6, 4, 3, 1, 1, 0}, {1, 2, 7, 7, 3, 3, 2, 1, 1}, {2, 2, 6, 5, 2, 4, 2, 2, 0},
                       {1, 3, 4, 4, 2, 1, 1, 0, 0}, {2, 1, 5, 5, 3, 3, 1, 0, 0}};

// Whether moving input k's element i by +-step takes some pre-activation pre(inputs) across 0,
// where the central difference of leaky ReLU is not its derivative on either side.
bool crosses_kink(const std::function<Tensor(std::vector<Tensor>&)>& pre, std::vector<Tensor>& inputs,
                  std::size_t k, std::int64_t i, double step) {
  NoGradGuard no_grad;
  double* x = inputs[k].data<double>();
  const double saved = x[i];
  x[i] = saved + step;
  const std::vector<double> plus = pre(inputs).to_vector();
  x[i] = saved - step;
  const std::vector<double> minus = pre(inputs).to_vector();
  x[i] = saved;
  for (std::size_t j = 0; j < plus.size(); ++j)
    if ((plus[j] > 0) != (minus[j] > 0)) return true;
  return false;
}

// The operation under test, fused or composed from the unfused operations, for one case.
Tensor conv_op(const Case& c, bool transposed, bool fused, const Tensor& x, const Tensor& w, const Tensor& b) {
  if (transposed) {
    if (fused) return conv_transpose2d_leaky_relu(x, w, b, c.stride, c.pad, c.out_pad, kSlope);
    return leaky_relu(conv_transpose2d(x, w, b, c.stride, c.pad, c.out_pad), kSlope);
  }
  if (fused) return conv2d_leaky_relu(x, w, b, c.stride, c.pad, kSlope);
  return leaky_relu(conv2d(x, w, b, c.stride, c.pad), kSlope);
}

Shape weight_shape(const Case& c, bool transposed) {
  return transposed ? Shape{c.C_in, c.C_out, c.k, c.k} : Shape{c.C_out, c.C_in, c.k, c.k};
}

}  // namespace

TEST_CASE("gradient check: conv2d_leaky_relu and conv_transpose2d_leaky_relu (input, weight, bias), kinks skipped") {
  const double step = 1e-6;
  std::uint64_t seed = 300;
  for (bool transposed : {false, true}) {
    for (const Case& c : kCases) {
      CAPTURE(transposed); CAPTURE(c.k); CAPTURE(c.stride); CAPTURE(c.pad); CAPTURE(c.out_pad);
      Tensor x = random_tensor({c.N, c.C_in, c.H, c.W}, seed++, DType::f64, -1, 1, true);
      Tensor w = random_tensor(weight_shape(c, transposed), seed++, DType::f64, -1, 1, true);
      Tensor b = random_tensor({c.C_out}, seed++, DType::f64, -1, 1, true);
      Shape out_shape;
      {
        NoGradGuard no_grad;
        out_shape = conv_op(c, transposed, true, x, w, b).shape();
      }
      Tensor r = random_tensor(out_shape, seed++);
      auto pre = [&](std::vector<Tensor>& in) {
        return transposed ? conv_transpose2d(in[0], in[1], in[2], c.stride, c.pad, c.out_pad)
                          : conv2d(in[0], in[1], in[2], c.stride, c.pad);
      };
      std::vector<Tensor> probe{x, w, b};
      check_gradients([&](std::vector<Tensor>& in) { return dot(conv_op(c, transposed, true, in[0], in[1], in[2]), r); },
                      {x, w, b}, step, 1e-6,
                      [&](std::size_t k, std::int64_t i) { return crosses_kink(pre, probe, k, i, step); });
    }
  }
}

TEST_CASE("fused convolutions equal the unfused ones: values bit for bit, gradients to rounding") {
  std::uint64_t seed = 400;
  for (DType dtype : {DType::f32, DType::f64}) {
    for (bool transposed : {false, true}) {
      for (const Case& c : kCases) {
        CAPTURE(dtype_name(dtype)); CAPTURE(transposed); CAPTURE(c.k); CAPTURE(c.stride); CAPTURE(c.pad);
        const Tensor x0 = random_tensor({c.N, c.C_in, c.H, c.W}, seed++, dtype);
        const Tensor w0 = random_tensor(weight_shape(c, transposed), seed++, dtype);
        const Tensor b0 = random_tensor({c.C_out}, seed++, dtype);
        Tensor grads[2][3];
        Tensor outs[2];
        for (int fused = 0; fused < 2; ++fused) {
          Tensor x = x0.clone().set_requires_grad(true), w = w0.clone().set_requires_grad(true),
                 b = b0.clone().set_requires_grad(true);
          Tensor y = conv_op(c, transposed, fused == 1, x, w, b);
          const Tensor r = random_tensor(y.shape(), 99, dtype);
          dot(y, r).backward();
          outs[fused] = y;
          grads[fused][0] = x.grad();
          grads[fused][1] = w.grad();
          grads[fused][2] = b.grad();
        }
        CHECK(max_abs_diff(outs[1], outs[0]) == 0.0);
        // The gradients go through the same backward operations on the same dv: equal as well,
        // except that dv comes from the sign of y instead of the sign of the pre-activation,
        // which agree everywhere (slope > 0).
        for (int k = 0; k < 3; ++k) CHECK(max_abs_diff(grads[1][k], grads[0][k]) == 0.0);
      }
    }
  }
}

// Upsample + ConvT + LeakyReLU as one operation: input [N, C_in, H, W] upsampled by `scale`.
struct UpCase {
  int N, C_in, H, W, C_out, k, stride, pad, out_pad, scale;
};
const UpCase kUpCases[] = {{2, 3, 3, 2, 4, 3, 1, 1, 0, 2},   // the decoder's Upsample(2) + ConvT 3x3
                           {1, 2, 2, 3, 3, 3, 2, 1, 1, 2},   // with stride 2 and output_padding
                           {1, 2, 2, 2, 2, 4, 1, 2, 0, 4}};  // scale 4, a 4x4 kernel

Tensor up_op(const UpCase& c, bool fused, const Tensor& x, const Tensor& w, const Tensor& b) {
  if (fused) return upsample_conv_transpose2d_leaky_relu(x, c.scale, w, b, c.stride, c.pad, c.out_pad, kSlope);
  return leaky_relu(conv_transpose2d(upsample_nearest2d(x, c.scale), w, b, c.stride, c.pad, c.out_pad), kSlope);
}

TEST_CASE("upsample_conv_transpose2d_leaky_relu: gradient check, and equal to the composition bit for bit") {
  const double step = 1e-6;
  std::uint64_t seed = 700;
  for (const UpCase& c : kUpCases) {
    CAPTURE(c.scale); CAPTURE(c.k); CAPTURE(c.stride); CAPTURE(c.out_pad);
    Tensor x = random_tensor({c.N, c.C_in, c.H, c.W}, seed++, DType::f64, -1, 1, true);
    Tensor w = random_tensor({c.C_in, c.C_out, c.k, c.k}, seed++, DType::f64, -1, 1, true);
    Tensor b = random_tensor({c.C_out}, seed++, DType::f64, -1, 1, true);
    Shape out_shape;
    {
      NoGradGuard no_grad;
      out_shape = up_op(c, true, x, w, b).shape();
    }
    Tensor r = random_tensor(out_shape, seed++);
    auto pre = [&](std::vector<Tensor>& in) {
      return conv_transpose2d(upsample_nearest2d(in[0], c.scale), in[1], in[2], c.stride, c.pad, c.out_pad);
    };
    std::vector<Tensor> probe{x, w, b};
    check_gradients([&](std::vector<Tensor>& in) { return dot(up_op(c, true, in[0], in[1], in[2]), r); }, {x, w, b},
                    step, 1e-6, [&](std::size_t k, std::int64_t i) { return crosses_kink(pre, probe, k, i, step); });

    for (DType dtype : {DType::f32, DType::f64}) {
      CAPTURE(dtype_name(dtype));
      Tensor outs[2], grads[2][3];
      for (int fused = 0; fused < 2; ++fused) {
        Tensor xf = x.detach().to_dtype(dtype).set_requires_grad(true);
        Tensor wf = w.detach().to_dtype(dtype).set_requires_grad(true);
        Tensor bf = b.detach().to_dtype(dtype).set_requires_grad(true);
        outs[fused] = up_op(c, fused == 1, xf, wf, bf);
        dot(outs[fused], r.to_dtype(dtype)).backward();
        grads[fused][0] = xf.grad();
        grads[fused][1] = wf.grad();
        grads[fused][2] = bf.grad();
      }
      CHECK(max_abs_diff(outs[1], outs[0]) == 0.0);
      for (int k = 0; k < 3; ++k) CHECK(max_abs_diff(grads[1][k], grads[0][k]) == 0.0);
    }
  }
  Tensor x = random_tensor({1, 2, 3, 3}, 1), w = random_tensor({2, 3, 3, 3}, 2);
  CHECK_THROWS_WITH_AS(upsample_conv_transpose2d_leaky_relu(x, 3, w, Tensor(), 1, 1, 0, kSlope),
                       doctest::Contains("scale must be a power of two, got 3"), Error);
}

TEST_CASE("fused convolutions refuse a slope that is not positive") {
  Tensor x = random_tensor({1, 2, 4, 4}, 1), w = random_tensor({3, 2, 3, 3}, 2), b = random_tensor({3}, 3);
  for (double slope : {0.0, -0.1}) {
    CAPTURE(slope);
    CHECK_THROWS_WITH_AS(conv2d_leaky_relu(x, w, b, 1, 1, slope),
                         doctest::Contains("conv2d_leaky_relu: the fused leaky ReLU needs a positive slope"), Error);
    Tensor wt = random_tensor({2, 3, 3, 3}, 4);
    CHECK_THROWS_WITH_AS(conv_transpose2d_leaky_relu(x, wt, b, 1, 1, 0, slope),
                         doctest::Contains("conv_transpose2d_leaky_relu: the fused leaky ReLU needs a positive slope"),
                         Error);
  }
}

namespace {

// conv -> lrelu -> pool -> conv -> batch norm -> lrelu (not fused: batch norm in between)
// -> upsample -> convT -> lrelu -> convT -> lrelu(0) (not fused: slope 0), the ED-CNN's pattern.
std::unique_ptr<Sequential> small_net(DType dtype) {
  auto net = std::make_unique<Sequential>();
  InitRng rng{7};
  net->add<Conv2d>(1, 4, 3, 1, 1, rng, dtype);
  net->add<LeakyReLU>(kSlope);
  net->add<AvgPool2d>(2);
  net->add<Conv2d>(4, 6, 3, 1, 1, rng, dtype);
  net->add<BatchNorm2d>(6, 0.1, 1e-5, dtype);
  net->add<LeakyReLU>(kSlope);
  net->add<Upsample>(2);
  net->add<ConvTranspose2d>(6, 3, 3, 2, 1, 1, rng, dtype);
  net->add<LeakyReLU>(kSlope);
  net->add<ConvTranspose2d>(3, 1, 3, 1, 1, 0, rng, dtype);
  net->add<LeakyReLU>(0.0);
  return net;
}

}  // namespace

TEST_CASE("Sequential fuses a convolution with the LeakyReLU after it: same outputs, gradients and state names") {
  for (DType dtype : {DType::f32, DType::f64}) {
    CAPTURE(dtype_name(dtype));
    auto fused = small_net(dtype), plain = small_net(dtype);
    fused->set_fusion(true);
    plain->set_fusion(false);
    // Which layers join: 0+1 and 6+7+8 (upsample, convT, lrelu); not 3 (batch norm follows), not 9
    // (slope 0). (7 on its own would join 8, but forward() never starts a step there.)
    const std::size_t want_steps[] = {2, 1, 1, 1, 1, 1, 3, 2, 1, 1, 1};
    for (std::size_t i = 0; i < fused->size(); ++i) {
      CAPTURE(i);
      CHECK(fused->step_size(i) == want_steps[i]);
      CHECK(plain->step_size(i) == 1);
    }
    std::vector<NamedTensor> sf = fused->state(), sp = plain->state();
    REQUIRE(sf.size() == sp.size());
    for (std::size_t k = 0; k < sf.size(); ++k) CHECK(sf[k].name == sp[k].name);
    CHECK(sf[0].name == "0.weight");
    CHECK(sf.back().name == "9.bias");

    const Tensor x = random_tensor({2, 1, 8, 6}, 500, dtype);
    const Tensor target = random_tensor({2, 1, 16, 12}, 501, dtype, 0, 1);
    Tensor y_fused = fused->forward(x), y_plain = plain->forward(x);
    CHECK(max_abs_diff(y_fused, y_plain) == 0.0);
    weighted_loss(y_fused, target, parse_loss("exp-mse:w=1")).backward();
    weighted_loss(y_plain, target, parse_loss("exp-mse:w=1")).backward();
    std::vector<Tensor> pf = fused->parameters(), pp = plain->parameters();
    for (std::size_t k = 0; k < pf.size(); ++k) {
      CAPTURE(sf[k].name);
      CHECK(max_abs_diff(pf[k].grad(), pp[k].grad()) == 0.0);
    }
    // Evaluation mode and no-grad use the same rule.
    fused->eval();
    plain->eval();
    NoGradGuard no_grad;
    CHECK(max_abs_diff(fused->forward(x), plain->forward(x)) == 0.0);
  }
}
