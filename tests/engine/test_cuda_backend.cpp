// The CUDA backend (engine/cuda_backend.cpp) against the CPU backend, through the engine's own API:
// a small network with every operation (conv2d, batch norm, leaky ReLU, average pooling, nearest
// upsampling, transposed convolution, a weighted loss, dot, Adam) trained for three steps on
// Device::cuda and on Device::cpu from the same float32 start, compared after each step; the
// caching allocator makes no device allocation in the steady state; float64 on cuda is refused.
//
// Built when ednn has a CUDA backend: on a GPU (label gpu; skipped without one) or, with
// EDNN_EMULATE_CUDA=ON, through the simt CPU emulation, which is how CI runs it.
#include <doctest/doctest.h>

#include <cmath>
#include <optional>
#include <random>
#include <vector>

#include "engine/autograd.h"
#include "engine/cuda_device.h"
#include "engine/cuda_graph.h"
#include "engine/device.h"
#include "engine/functional.h"
#include "engine/optim.h"
#include "engine/tensor.h"

using namespace ednn;

namespace {

Tensor random_f32(const Shape& shape, unsigned seed, double lo = -1, double hi = 1) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist{float(lo), float(hi)};
  std::vector<float> v(static_cast<std::size_t>(shape_numel(shape)));
  for (float& x : v) x = dist(gen);
  return Tensor::from_vector(v, shape);
}

// Every element within tol + rel |want|; reports the first mismatches.
void check_close(const Tensor& got, const Tensor& want, double tol, double rel, const char* what) {
  REQUIRE(got.shape() == want.shape());
  const std::vector<double> g = got.to_vector(), w = want.to_vector();  // explicit copies to the host
  int bad = 0;
  std::string first;
  for (std::size_t i = 0; i < g.size(); ++i)
    if (!(std::fabs(g[i] - w[i]) <= tol + rel * std::fabs(w[i]))) {
      if (bad++ < 5) first += detail::concat("  [", i, "] got ", g[i], ", want ", w[i], "\n");
    }
  INFO(std::string(what), ": ", bad, " of ", g.size(), " differ; first:\n", first);
  CHECK(bad == 0);
}

// Runs y = layer(x, w, b) on the cpu and on cuda, then the gradients of sum(y * r) for x, w and b
// (r seeded by r_seed), and checks that cuda's y and gradients match the cpu's. Returns cuda's y.
template <class Layer>
Tensor check_layer_matches_cpu(const Tensor& x, const Tensor& w, const Tensor& b, unsigned r_seed, Layer layer) {
  auto run = [&](Device device, std::vector<Tensor>& grads) {
    Tensor xd = x.to(device).set_requires_grad(true), wd = w.to(device).set_requires_grad(true),
           bd = b.to(device).set_requires_grad(true);
    Tensor y = layer(xd, wd, bd);
    dot(y, random_f32(y.shape(), r_seed).to(device)).backward();
    grads = {xd.grad(), wd.grad(), bd.grad()};
    return y;
  };
  std::vector<Tensor> g_cpu, g_gpu;
  const Tensor y_cpu = run(Device::cpu, g_cpu), y_gpu = run(Device::cuda, g_gpu);
  REQUIRE(y_gpu.device() == Device::cuda);
  check_close(y_gpu, y_cpu, 1e-6, 1e-5, "fused forward");
  const char* names[] = {"dx", "dw", "db"};
  for (int k = 0; k < 3; ++k) check_close(g_gpu[k], g_cpu[k], 1e-5, 1e-4, names[k]);
  return y_gpu;
}

// The parameters and state of the little network, on one device.
// The first convolution has no bias: batch norm right after it removes the mean, so that bias's
// gradient is zero up to rounding, and Adam (which divides by its size) would move it by +-lr in
// a direction set by rounding noise, different on each backend.
struct Net {
  Tensor w1, gamma, beta, running_mean, running_var, w2, b2, wt, bt;
  std::vector<Tensor> params() { return {w1, gamma, beta, w2, b2, wt, bt}; }

  explicit Net(Device device) {
    auto on = [&](Tensor t) { return t.to(device).set_requires_grad(true); };
    w1 = on(random_f32({4, 1, 3, 3}, 1));
    gamma = on(random_f32({4}, 3, 0.5, 1.5));
    beta = on(random_f32({4}, 4));
    w2 = on(random_f32({4, 4, 3, 3}, 7, -0.3, 0.3));
    b2 = on(random_f32({4}, 2));
    wt = on(random_f32({4, 1, 3, 3}, 5));  // conv_transpose2d weight [in 4, out 1, 3, 3]
    bt = on(random_f32({1}, 6));
    running_mean = Tensor::zeros({4}, DType::f32, device);
    running_var = Tensor::full({4}, 1.0, DType::f32, device);
  }

  // x [2, 1, 9, 7] -> conv -> bn -> lrelu -> pool (4 x 3) -> conv -> lrelu -> up (8 x 6) -> convT -> lrelu
  // -> [2, 1, 8, 6]
  Tensor forward(const Tensor& x, bool training) {
    Tensor h = conv2d(x, w1, Tensor(), 1, 1);
    h = batch_norm2d(h, gamma, beta, running_mean, running_var, training);
    h = leaky_relu(h, 0.02);
    h = avg_pool2d(h, 2);
    h = leaky_relu(conv2d(h, w2, b2, 1, 1), 0.02);
    h = upsample_nearest2d(h, 2);
    h = conv_transpose2d(h, wt, bt, 1, 1);
    return leaky_relu(h, 0.02);
  }
};

}  // namespace

TEST_CASE("cuda backend: three training steps match the cpu backend, without device allocations in the steady state") {
  const Tensor x = random_f32({2, 1, 9, 7}, 10), target = random_f32({2, 1, 8, 6}, 11, 0, 1);
  const LossSpec spec = parse_loss("exp-huber:w=1,delta=0.5");
  Net cpu(Device::cpu), gpu(Device::cuda);
  const Tensor x_gpu = x.to(Device::cuda), target_gpu = target.to(Device::cuda);
  AdamConfig config;
  config.lr = 1e-2;
  Adam opt_cpu(cpu.params(), config), opt_gpu(gpu.params(), config);

  std::size_t mallocs_after_second = 0;
  for (int step = 1; step <= 3; ++step) {
    CAPTURE(step);
    opt_cpu.zero_grad();
    opt_gpu.zero_grad();
    Tensor loss_cpu = weighted_loss(cpu.forward(x, true), target, spec);
    Tensor loss_gpu = weighted_loss(gpu.forward(x_gpu, true), target_gpu, spec);
    REQUIRE(loss_gpu.device() == Device::cuda);  // the value stays on the device
    // A second scalar through dot, to exercise it and the scale of its backward.
    Tensor reg_cpu = dot(cpu.w1, cpu.w1), reg_gpu = dot(gpu.w1, gpu.w1);
    loss_cpu.backward();
    loss_gpu.backward();
    reg_cpu.backward();
    reg_gpu.backward();
    check_close(loss_gpu, loss_cpu, 1e-6, 1e-4, "loss");
    check_close(reg_gpu, reg_cpu, 1e-6, 1e-5, "dot");
    const char* names[] = {"w1", "gamma", "beta", "w2", "b2", "wt", "bt"};
    std::vector<Tensor> pc = cpu.params(), pg = gpu.params();
    for (std::size_t k = 0; k < pc.size(); ++k) check_close(pg[k].grad(), pc[k].grad(), 1e-5, 1e-3, names[k]);
    opt_cpu.step();
    opt_gpu.step();
    for (std::size_t k = 0; k < pc.size(); ++k) check_close(pg[k], pc[k], 1e-5, 1e-4, names[k]);
    check_close(gpu.running_mean, cpu.running_mean, 1e-6, 1e-5, "running_mean");
    check_close(gpu.running_var, cpu.running_var, 1e-6, 1e-5, "running_var");
    device_synchronize(Device::cuda);
    if (step == 2) mallocs_after_second = cuda::allocator_stats().device_mallocs;
  }
  // The steady state: step 3 asks for what step 2 did (step 2 may need a little more than step
  // 1, whose forward pass ran before Adam's state on the device existed), all served from the cache.
  CHECK(cuda::allocator_stats().device_mallocs == mallocs_after_second);
  CHECK(cuda::allocator_stats().cache_hits > 0);

  // Evaluation mode uses the running statistics.
  check_close(gpu.forward(x_gpu, false), cpu.forward(x, false), 1e-5, 1e-4, "eval forward");
}

TEST_CASE("cuda backend: float64 is refused with a message that says so") {
  Tensor a = Tensor::zeros({3}, DType::f64, Device::cuda);
  try {
    leaky_relu(a, 0.02);
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("float32 only") != std::string::npos);
  }
}

TEST_CASE("cuda allocator: trimming empties the cache, and freed blocks are reused") {
  cuda::allocator_trim();
  CHECK(cuda::allocator_stats().bytes_cached == 0);
  const std::size_t before = cuda::allocator_stats().device_mallocs;
  { Tensor t = Tensor::zeros({1000}, DType::f32, Device::cuda); }
  { Tensor t = Tensor::zeros({1000}, DType::f32, Device::cuda); }  // the same block again
  CHECK(cuda::allocator_stats().device_mallocs == before + 1);
  CHECK(cuda::allocator_stats().bytes_cached > 0);
}

TEST_CASE("cuda backend: the fused convolutions (bias + leaky ReLU in the kernels' epilogue) match the cpu backend") {
  // conv2d_leaky_relu: x [2, 3, 9, 7], w [5, 3, 3, 3], stride 2, padding 1 -> [2, 5, 5, 4];
  // conv_transpose2d_leaky_relu: x [2, 3, 5, 4], w [3, 2, 3, 3], stride 2, padding 1, output_padding 1
  // -> [2, 2, 10, 8]. Values, then the gradients of sum(y * r) for input, weight and bias.
  for (bool transposed : {false, true}) {
    CAPTURE(transposed);
    const Tensor x = random_f32(transposed ? Shape{2, 3, 5, 4} : Shape{2, 3, 9, 7}, 20);
    const Tensor w = random_f32(transposed ? Shape{3, 2, 3, 3} : Shape{5, 3, 3, 3}, 21, -0.5, 0.5);
    const Tensor b = random_f32({transposed ? 2 : 5}, 22, -0.3, 0.3);
    check_layer_matches_cpu(x, w, b, 23, [&](const Tensor& xd, const Tensor& wd, const Tensor& bd) {
      return transposed ? conv_transpose2d_leaky_relu(xd, wd, bd, 2, 1, 1, 0.02)
                        : conv2d_leaky_relu(xd, wd, bd, 2, 1, 0.02);
    });
  }
}

TEST_CASE("cuda backend: set_allow_tf32 switches the convolutions to the tensor-core kernels and back; version 5 is exact") {
  // 1 + 2^-12 has a mantissa bit TF32 does not keep: through a 1x1 convolution with weight 1 it
  // comes out as 1 with TF32 and unchanged in float. Forward, backward-data (the input gradient)
  // and backward-weight (the weight gradient, sum of x over pixels) each show it.
  const float fine = 1.0f + std::ldexp(1.0f, -12);
  // The 1x1 convolution of x = fine with w = 1, then sum(y * r) with r = fine: dx = w r,
  // dw = sum x r. Checks y and dx against want, and dw against want_dw.
  auto check_1x1 = [&](float want, float want_dw) {
    Tensor x = Tensor::from_vector(std::vector<float>(4, fine), {1, 1, 2, 2}).to(Device::cuda).set_requires_grad(true);
    Tensor w = Tensor::from_vector(std::vector<float>{1.0f}, {1, 1, 1, 1}).to(Device::cuda).set_requires_grad(true);
    Tensor y = conv2d(x, w, Tensor(), 1, 0);
    dot(y, Tensor::from_vector(std::vector<float>(4, fine), {1, 1, 2, 2}).to(Device::cuda)).backward();
    for (double v : y.to_vector()) CHECK(v == double(want));
    for (double v : x.grad().to_vector()) CHECK(v == double(want));
    CHECK(w.grad().to_vector()[0] == double(want_dw));
  };
  const bool before = allow_tf32();
  for (bool tf32 : {true, false}) {
    CAPTURE(tf32);
    set_allow_tf32(tf32);
    check_1x1(tf32 ? 1.0f : fine, 4.0f * (tf32 ? 1.0f : fine * fine));
  }
  set_allow_tf32(before);

  // Version 5 (3xTF32) on the same tensor cores keeps the bit TF32 drops: the float results.
  set_conv_kernel_version(5);
  check_1x1(fine, 4.0f * (fine * fine));
  set_conv_kernel_version(0);
  CHECK_THROWS_WITH_AS(set_conv_kernel_version(1), doctest::Contains("version 1 does not exist"), Error);
  CHECK_THROWS_WITH_AS(set_conv_kernel_version(8), doctest::Contains("version 8 does not exist"), Error);
}

TEST_CASE("cuda backend: Upsample + ConvT + LeakyReLU fused (the kernels read x through the upsampling) match the cpu") {
  // x [2, 3, 4, 3] upsampled by 2 -> [2, 3, 8, 6]; ConvT w [3, 2, 3, 3], stride 1, padding 1.
  const Tensor x = random_f32({2, 3, 4, 3}, 30);
  const Tensor w = random_f32({3, 2, 3, 3}, 31, -0.5, 0.5);
  const Tensor b = random_f32({2}, 32, -0.3, 0.3);
  const Tensor y = check_layer_matches_cpu(x, w, b, 33, [](const Tensor& xd, const Tensor& wd, const Tensor& bd) {
    return upsample_conv_transpose2d_leaky_relu(xd, 2, wd, bd, 1, 1, 0, 0.02);
  });
  CHECK(y.shape() == Shape{2, 2, 8, 6});
}

TEST_CASE("cuda backend: convolution versions 6 and 7 (Winograd) run the ED-CNN's layers, fused, and match the cpu") {
  // 3x3, stride 1, padding 1: Winograd for all three passes; a conv with bias and leaky ReLU,
  // and an upsampled transposed convolution.
  for (int version : {6, 7}) {
    CAPTURE(version);
    set_conv_kernel_version(version);
    const Tensor x = random_f32({2, 3, 7, 6}, 40), w = random_f32({5, 3, 3, 3}, 41, -0.5, 0.5);
    const Tensor b = random_f32({5}, 42, -0.3, 0.3);
    check_layer_matches_cpu(x, w, b, 43, [](const Tensor& xd, const Tensor& wd, const Tensor& bd) {
      return conv2d_leaky_relu(xd, wd, bd, 1, 1, 0.02);
    });
    const Tensor xt = random_f32({2, 3, 4, 3}, 44), wt = random_f32({3, 2, 3, 3}, 45, -0.5, 0.5);
    const Tensor bt = random_f32({2}, 46, -0.3, 0.3);
    check_layer_matches_cpu(xt, wt, bt, 47, [](const Tensor& xd, const Tensor& wd, const Tensor& bd) {
      return upsample_conv_transpose2d_leaky_relu(xd, 2, wd, bd, 1, 1, 0, 0.02);
    });
  }
  set_conv_kernel_version(0);
}

TEST_CASE("parse_device: 'cuda' selects this device; 'auto' selects it only when it is a real GPU") {
  CHECK(parse_device("cuda") == Device::cuda);
  CHECK(parse_device("auto") == (cuda::runtime_emulated() ? Device::cpu : Device::cuda));
  CHECK(cuda::runtime_emulated() == (cuda::runtime_available() && simt::device_description().rfind("CPU", 0) == 0));
}

TEST_CASE("parse_device: 'cuda:N' selects card N when there is one, and names the count when not") {
  const int cards = simt::device_count();
  REQUIRE(cards >= 1);
  if (cuda::runtime_emulated()) CHECK(cards == 1);  // the emulation is one device
  CHECK(parse_device("cuda:0") == Device::cuda);
  CHECK(chosen_cuda_device() == 0);
  const std::string beyond = "cuda:" + std::to_string(cards);
  const std::string expected = cuda::runtime_emulated()
                                   ? "device 'cuda:1': CUDA device 1 asked for, but the CPU emulation (an "
                                     "EDNN_EMULATE_CUDA build) is one device, cuda:0"
                                   : "device '" + beyond + "': CUDA device " + std::to_string(cards) +
                                         " asked for, but the driver sees " + std::to_string(cards);
  CHECK_THROWS_WITH_AS(parse_device(beyond), doctest::Contains(expected.c_str()), Error);
  CHECK(chosen_cuda_device() == 0);  // a refused choice changes nothing
  // Work still runs on card 0 after the refusal.
  const Tensor x = Tensor::full({3}, 2.0).to(Device::cuda);
  CHECK(x.to(Device::cpu).to_vector() == std::vector<double>{2, 2, 2});
}

TEST_CASE("cuda graph: a captured training step, replayed, takes the same steps as eager code, bit for bit") {
  const Tensor x = random_f32({2, 1, 9, 7}, 10).to(Device::cuda);
  const Tensor x_other = random_f32({2, 1, 9, 7}, 12).to(Device::cuda);
  const Tensor target = random_f32({2, 1, 8, 6}, 11, 0, 1).to(Device::cuda);
  const LossSpec spec = parse_loss("exp-huber:w=1,delta=0.5");
  AdamConfig config;
  config.lr = 1e-2;
  Net eager(Device::cuda), graphed(Device::cuda), bystander(Device::cuda);
  Adam opt_eager(eager.params(), config), opt_graphed(graphed.params(), config);
  // The graph reads its input from one tensor; each step copies that step's batch into it.
  Tensor x_in = Tensor::zeros(x.shape(), DType::f32, Device::cuda);
  auto batch = [&](int step) { return step % 2 ? x : x_other; };
  auto train_step = [&](Net& net, Adam& opt, const Tensor& input) {
    opt.zero_grad();
    Tensor loss = weighted_loss(net.forward(input, true), target, spec);
    loss.backward();
    opt.step();
    return loss;
  };
  auto exactly = [](const Tensor& got, const Tensor& want, const char* what) { check_close(got, want, 0, 0, what); };
  auto check_same = [&](int step, const Tensor& loss_eager, const Tensor& loss_graphed) {
    CAPTURE(step);
    exactly(loss_graphed, loss_eager, "loss");
    std::vector<Tensor> pe = eager.params(), pg = graphed.params();
    for (std::size_t k = 0; k < pe.size(); ++k) exactly(pg[k], pe[k], "parameter");
    exactly(graphed.running_mean, eager.running_mean, "running_mean");
    exactly(graphed.running_var, eager.running_var, "running_var");
    CHECK(opt_graphed.steps() == opt_eager.steps());
  };

  // Step 1, eager on both: Adam writes its state on the device, which a capture cannot.
  x_in.copy_from(batch(1));
  check_same(1, train_step(eager, opt_eager, batch(1)), train_step(graphed, opt_graphed, x_in));

  // Step 2 is captured: nothing runs until the replay.
  const std::vector<double> before = graphed.w2.to_vector();
  Tensor loss_graphed;
  x_in.copy_from(batch(2));
  auto graph = std::make_optional<cuda::CapturedTrainingStep>(
      opt_graphed, [&] { loss_graphed = train_step(graphed, opt_graphed, x_in); });
  CHECK(graph->node_count() > 20);
  CHECK(graphed.w2.to_vector() == before);
  CHECK(cuda::allocator_stats().bytes_in_graph_pools > 0);
  graph->replay();
  check_same(2, train_step(eager, opt_eager, batch(2)), loss_graphed);

  // Steps 3 to 5 replay it. Between replays, eager work allocates what the step allocates and
  // keeps it: the graph's pool must not hand it the blocks the replays write.
  for (int step = 3; step <= 5; ++step) {
    Tensor held = bystander.forward(x_other, true);
    const std::vector<double> held_before = held.to_vector();
    x_in.copy_from(batch(step));
    graph->replay();  // advances opt_graphed's host count: check_same compares it
    check_same(step, train_step(eager, opt_eager, batch(step)), loss_graphed);
    CHECK(held.to_vector() == held_before);
  }

  // Back to eager steps: Adam's device state continues from the replays (the host rewrites it).
  loss_graphed = Tensor();
  graph.reset();
  check_same(6, train_step(eager, opt_eager, batch(6)), train_step(graphed, opt_graphed, batch(6)));
  CHECK(cuda::allocator_stats().bytes_in_graph_pools == 0);
}

TEST_CASE("cuda graph: what a capture cannot record is an error, and the capture is closed after it") {
  Net net(Device::cuda);
  const Tensor x = random_f32({2, 1, 9, 7}, 10).to(Device::cuda);
  Adam opt(net.params(), AdamConfig{});
  // Reading a value back waits for the device: not in a capture.
  CHECK_THROWS_AS(cuda::CapturedGraph::capture([&] { (void)net.forward(x, true).to_vector(); }), Error);
  CHECK_FALSE(simt::capture_open());
  // Adam's first step writes its state from the host: take it eagerly first.
  CHECK_THROWS_AS(cuda::CapturedGraph::capture([&] {
                    dot(net.forward(x, true), net.forward(x, true)).backward();
                    opt.step();
                  }),
                  Error);
  CHECK_FALSE(simt::capture_open());
  CHECK(cuda::allocator_stats().bytes_in_graph_pools == 0);
  // And eager work still runs.
  CHECK(std::isfinite(dot(net.forward(x, false), net.forward(x, false)).item()));
}
