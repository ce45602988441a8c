// Tensors and the autograd graph: creation, copies, gradient accumulation, no-grad scopes, devices.
#include "tests/engine/test_util.h"

#include "engine/device.h"
#include "engine/modules.h"

using namespace ednn;

TEST_CASE("tensor: creation, shape, dtype conversion and explicit copies") {
  Tensor t = Tensor::from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3});
  CHECK(t.numel() == 6);
  CHECK(t.dim(-1) == 3);
  CHECK(t.describe() == "float32[2, 3] on cpu");
  Tensor d = t.to_dtype(DType::f64);
  CHECK(d.dtype() == DType::f64);
  CHECK(d.to_vector() == std::vector<double>{1, 2, 3, 4, 5, 6});
  Tensor c = t.clone();
  c.data<float>()[0] = 9;
  CHECK(t.data<float>()[0] == 1);  // clone is deep
  Tensor r = t.reshape({3, 2});
  r.data<float>()[0] = 7;
  CHECK(t.data<float>()[0] == 7);  // reshape shares
  CHECK_THROWS_AS(t.data<double>(), Error);
  CHECK_THROWS_AS(t.reshape({4}), Error);
  CHECK(Tensor::zeros({3}).to_vector() == std::vector<double>{0, 0, 0});
  CHECK(Tensor::full({2}, 2.5, DType::f64).to_vector() == std::vector<double>{2.5, 2.5});
}

TEST_CASE("autograd: a tensor used twice gets the sum of both gradients") {
  Tensor x = Tensor::from_vector(std::vector<double>{1, -2, 3}, {3}).set_requires_grad(true);
  Tensor y = dot(x, x);  // d/dx sum(x^2) = 2x, from two paths of one node
  y.backward();
  CHECK(x.grad().to_vector() == std::vector<double>{2, -4, 6});
  // A second, separate graph accumulates into the same .grad until it is zeroed.
  dot(x, Tensor::full({3}, 1.0, DType::f64)).backward();
  CHECK(x.grad().to_vector() == std::vector<double>{3, -3, 7});
  x.zero_grad();
  CHECK(!x.grad().defined());
}

TEST_CASE("autograd: diamond graphs, no-grad scopes and reuse of a freed graph") {
  Tensor x = ednn::test::random_tensor({1, 1, 4, 4}, 1, DType::f64, -1, 1, true);
  Tensor h = leaky_relu(x, 0.5);
  Tensor a = upsample_nearest2d(h, 2), b = upsample_nearest2d(h, 2);
  Tensor loss = dot(a, b);  // = 4 sum(h^2): d/dx = 8 h h'(x)
  loss.backward();
  auto xv = x.to_vector(), gv = x.grad().to_vector();
  for (std::size_t i = 0; i < xv.size(); ++i) {
    const double hv = xv[i] > 0 ? xv[i] : 0.5 * xv[i], dh = xv[i] > 0 ? 1 : 0.5;
    CHECK(gv[i] == doctest::Approx(8 * hv * dh));
  }
  CHECK_THROWS_WITH_AS(loss.backward(), doctest::Contains("already used"), Error);
  {
    NoGradGuard no_grad;
    Tensor y = leaky_relu(x, 0.1);
    CHECK(!y.requires_grad());
    CHECK(!grad_enabled());
  }
  CHECK(grad_enabled());
}

TEST_CASE("modules: parameter counts, state names in PyTorch's order, train/eval") {
  InitRng rng{1};
  Sequential net;
  net.add<Conv2d>(1, 8, 3, 1, 1, rng);
  net.add<BatchNorm2d>(8);
  net.add<LeakyReLU>(0.02);
  net.add<AvgPool2d>(2);
  net.add<ConvTranspose2d>(8, 4, 3, 1, 1, 0, rng);
  net.add<Upsample>(2);
  // 8*1*9 + 8 + 8 + 8 + 8*4*9 + 4
  CHECK(net.parameter_count() == 72 + 8 + 16 + 288 + 4);
  std::vector<std::string> names;
  for (auto& s : net.state()) names.push_back(s.name);
  CHECK(names == std::vector<std::string>{"0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean",
                                          "1.running_var", "4.weight", "4.bias"});
  auto& convt = static_cast<ConvTranspose2d&>(net[4]);
  CHECK(convt.weight.shape() == Shape{8, 4, 3, 3});  // [in, out, k, k]
  // PyTorch's default bound: 1/sqrt(fan_in), fan_in from weight.size(1) * k * k = 4 * 9.
  for (double v : convt.weight.to_vector()) CHECK(std::abs(v) <= 1.0 / 6.0);
  Tensor y = net(Tensor::zeros({2, 1, 8, 8}));
  CHECK(y.shape() == Shape{2, 4, 8, 8});
  net.eval();
  CHECK(!net[1].training());
  net.train();
  CHECK(net[1].training());
  // Same seed, same weights.
  InitRng rng2{1};
  Conv2d again(1, 8, 3, 1, 1, rng2);
  CHECK(again.weight.to_vector() == static_cast<Conv2d&>(net[0]).weight.to_vector());
}

TEST_CASE("devices: parsing, and cuda without a usable GPU is a clear error") {
  CHECK(parse_device("cpu") == Device::cpu);
  CHECK_THROWS_WITH_AS(parse_device("gpu"), doctest::Contains("expected cpu, cuda, cuda:N (N = 0, 1, ...) or auto"), Error);
  // cuda:N: N a card number, nothing else after the colon.
  for (const char* bad : {"cuda:", "cuda:-1", "cuda:1x", "cuda: 1", "cuda:99999", "auto:0", "cpu:0"}) {
    const std::string message = "unknown device '" + std::string(bad) + "'";
    CHECK_THROWS_WITH_AS(parse_device(bad), doctest::Contains(message.c_str()), Error);
  }
  std::string why;
  if (!cuda_available(&why)) {
    CHECK(parse_device("auto") == Device::cpu);
    CHECK_THROWS_WITH_AS(parse_device("cuda"), doctest::Contains("no usable GPU"), Error);
    CHECK_THROWS_WITH_AS(parse_device("cuda:0"), doctest::Contains("device 'cuda:0' requested but no usable GPU"), Error);
    CHECK(!why.empty());
    CHECK(chosen_cuda_device() == -1);
  }
}
