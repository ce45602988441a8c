// The weighted losses by hand, the loss texts, and Adam against the update written out in the test.
#include "tests/engine/test_util.h"

#include <cmath>

#include "engine/modules.h"
#include "engine/optim.h"

using namespace ednn;
using ednn::test::random_tensor;

namespace {
// The loss of SPEC section 5 written directly from its definition, one pixel at a time.
double loss_by_definition(const std::vector<double>& p, const std::vector<double>& y, const LossSpec& s) {
  double total = 0;
  for (std::size_t i = 0; i < p.size(); ++i) {
    const double d = p[i] - y[i], ad = std::abs(d);
    double m = 0;
    switch (s.metric) {
      case LossMetric::mae: m = ad; break;
      case LossMetric::mse: m = d * d; break;
      case LossMetric::huber: m = ad <= s.delta ? 0.5 * d * d : s.delta * (ad - 0.5 * s.delta); break;
      case LossMetric::berhu: m = ad <= s.delta ? ad : (d * d + s.delta * s.delta) / (2 * s.delta); break;
    }
    double P = 1;
    if (s.prefactor == LossPrefactor::exp_target) P = std::exp(-(1 - y[i]) / s.w);
    if (s.prefactor == LossPrefactor::exp_prediction) P = std::exp(-(1 - std::abs(p[i])) / s.w);
    if (s.prefactor == LossPrefactor::step) P = 1 + s.a * std::tanh(s.b * y[i]);
    total += P * m;
  }
  return total / double(p.size());
}
}  // namespace

TEST_CASE("losses: values against the definition, float64 and float32") {
  Tensor pred = random_tensor({3, 1, 4, 5}, 1, DType::f64, -0.5, 1.5);
  Tensor target = random_tensor({3, 1, 4, 5}, 2, DType::f64, 0, 1);
  for (const char* text : {"mae", "mse", "huber:delta=0.2", "berhu:delta=0.2", "exp-mae:w=1", "exp-mse:w=0.3",
                           "exp-berhu:w=1,delta=0.02", "exp-mae:w=1,on=prediction", "step-mae:a=4000,b=10",
                           "step-huber:a=4000,b=10,delta=0.1"}) {
    CAPTURE(text);
    const LossSpec spec = parse_loss(text);
    const double expected = loss_by_definition(pred.to_vector(), target.to_vector(), spec);
    CHECK(weighted_loss(pred, target, spec).item() == doctest::Approx(expected).epsilon(1e-12));
    CHECK(weighted_loss(pred.to_dtype(DType::f32), target.to_dtype(DType::f32), spec).item() ==
          doctest::Approx(expected).epsilon(1e-5));
  }
}

TEST_CASE("losses: a tiny case by hand") {
  // p = (0.5, 0), y = (1, 0): d = (-0.5, 0). mae = 0.25. exp on the target weights pixel 0 by
  // exp(0) = 1 and pixel 1 by exp(-1): the exp-mae is also 0.25. step with a = 1, b = 1:
  // (1 + tanh 1) * 0.5 / 2.
  Tensor p = Tensor::from_vector(std::vector<double>{0.5, 0}, {1, 1, 1, 2});
  Tensor y = Tensor::from_vector(std::vector<double>{1, 0}, {1, 1, 1, 2});
  CHECK(weighted_loss(p, y, parse_loss("mae")).item() == doctest::Approx(0.25));
  CHECK(weighted_loss(p, y, parse_loss("exp-mae:w=1")).item() == doctest::Approx(0.25));
  CHECK(weighted_loss(p, y, parse_loss("step-mae:a=1,b=1")).item() == doctest::Approx((1 + std::tanh(1.0)) * 0.25));
  CHECK(weighted_loss(p, y, parse_loss("mse")).item() == doctest::Approx(0.125));
}

TEST_CASE("loss texts: round trip and errors that list the valid forms") {
  for (const char* text : {"mae", "mse", "huber:delta=0.5", "exp-mae:w=1", "exp-mae:w=2,on=prediction",
                           "step-mae:a=4000,b=10", "exp-berhu:w=1,delta=0.02"}) {
    const LossSpec s = parse_loss(text);
    const LossSpec again = parse_loss(s.text());
    CHECK(again.metric == s.metric);
    CHECK(again.prefactor == s.prefactor);
    CHECK(again.w == s.w);
    CHECK(again.delta == s.delta);
  }
  CHECK(parse_loss("exp-mae:w=1,on=prediction").prefactor == LossPrefactor::exp_prediction);
  CHECK(parse_loss("step-mae:a=4000,b=10").a == 4000);
  CHECK(parse_loss("exp-berhu:w=1,delta=0.02").delta == 0.02);
  for (const char* bad : {"", "mea", "log-mae", "exp-mae:w=", "exp-mae:w=abc", "mae:w=1", "step-mae:q=1",
                          "exp-mae:on=both", "huber:delta=-1", "exp-mae:w",
                          // a key twice (the last would have won) and non-finite parameters
                          "exp-mae:w=1,w=2", "step-mae:a=1,b=2,a=3", "exp-mae:on=target,w=1,on=prediction",
                          "step-mae:a=inf,b=1", "exp-mae:w=1e999", "huber:delta=infinity", "step-mae:a=nan,b=1"}) {
    CAPTURE(bad);
    CHECK_THROWS_WITH_AS(parse_loss(bad), doctest::Contains("valid forms"), Error);
  }
}

TEST_CASE("Adam: two steps by hand") {
  // Constant gradient 0.5, lr 0.1. Step 1: m = 0.05, v = 0.00025, m_hat = 0.5, sqrt(v_hat) = 0.5.
  // Step 2: m = 0.095, v = 0.00049975, m_hat = 0.5, sqrt(v_hat) = 0.5 again. Each step moves the
  // parameter by lr * 0.5 / (0.5 + eps): 1 -> 0.9 -> 0.8 up to eps.
  const double move = 0.1 * 0.5 / (0.5 + 1e-8);
  Tensor p = Tensor::full({1}, 1.0, DType::f64).set_requires_grad(true);
  Adam adam({p}, AdamConfig{0.1, 0.9, 0.999, 1e-8, 0.0});
  p.set_grad(Tensor::full({1}, 0.5, DType::f64));
  adam.step();
  CHECK(p.item() == doctest::Approx(1.0 - move).epsilon(1e-13));
  p.set_grad(Tensor::full({1}, 0.5, DType::f64));
  adam.step();
  CHECK(p.item() == doctest::Approx(1.0 - 2 * move).epsilon(1e-13));
  CHECK(adam.steps() == 2);
}

TEST_CASE("Adam: matches torch.optim.Adam's update written out, with weight decay and changing gradients") {
  const AdamConfig c{1e-2, 0.8, 0.99, 1e-6, 0.1};
  Tensor p = random_tensor({7}, 3, DType::f64, -1, 1, true);
  std::vector<double> ref = p.to_vector(), m(7, 0), v(7, 0);
  Adam adam({p}, c);
  for (int t = 1; t <= 5; ++t) {
    Tensor g = random_tensor({7}, 10 + t);
    auto gv = g.to_vector();
    for (int i = 0; i < 7; ++i) {
      const double gi = gv[i] + c.weight_decay * ref[i];
      m[i] = c.beta1 * m[i] + (1 - c.beta1) * gi;
      v[i] = c.beta2 * v[i] + (1 - c.beta2) * gi * gi;
      const double denom = std::sqrt(v[i]) / std::sqrt(1 - std::pow(c.beta2, t)) + c.eps;
      ref[i] -= c.lr / (1 - std::pow(c.beta1, t)) * m[i] / denom;
    }
    p.set_grad(g);
    adam.step();
  }
  auto got = p.to_vector();
  for (int i = 0; i < 7; ++i) CHECK(got[i] == doctest::Approx(ref[i]).epsilon(1e-12));
}

TEST_CASE("training a small network with Adam lowers the loss") {
  InitRng rng{42};
  Sequential net;
  net.add<Conv2d>(1, 4, 3, 1, 1, rng);
  net.add<BatchNorm2d>(4);
  net.add<LeakyReLU>(0.02);
  net.add<Conv2d>(4, 1, 3, 1, 1, rng);
  Tensor x = random_tensor({4, 1, 8, 8}, 5, DType::f32, 0, 1);
  // Target: a blurred copy of the input, something a two-layer CNN can learn.
  Tensor target = conv2d(x, Tensor::full({1, 1, 3, 3}, 1.0 / 9), Tensor(), 1, 1);
  Adam adam(net.parameters(), AdamConfig{1e-2});
  const LossSpec mse = parse_loss("mse");
  double first = 0, last = 0;
  for (int step = 0; step < 60; ++step) {
    adam.zero_grad();
    Tensor loss = weighted_loss(net(x), target, mse);
    loss.backward();
    adam.step();
    if (step == 0) first = loss.item();
    last = loss.item();
  }
  CHECK(last < 0.1 * first);
}
