// The operation kernels (kernels/pool.cu, batch_norm.cu, activation.cu, loss.cu, adam.cu and the
// per-channel and dot reductions of reduce.cu / elementwise.cu) against the CPU reference of
// cpu/ computed in float64, in the three thread orders, forward and backward, at sizes
// that are not multiples of any block (1, 7, 33, 257 elements; odd H and W; several slices per
// channel; several blocks and chunks). Each output buffer carries guard values past its end that
// a kernel must leave alone. Linked with ednn_kernels_emu (kernels_op_kernels) and with
// ednn_kernels_cuda (kernels_op_kernels_gpu, label gpu).
#include <cmath>
#include <vector>

#include "cpu/cpu_ops.h"
#include "core/geometry.h"
#include "core/loss_math.h"
#include "kernels/activation.h"
#include "kernels/adam.h"
#include "kernels/batch_norm.h"
#include "kernels/elementwise.h"
#include "kernels/loss.h"
#include "kernels/pool.h"
#include "kernels/reduce.h"
#include "tests/kernels/test_util.h"

using ednn::test::check_close;
using ednn::test::for_each_schedule;
using ednn::test::random_floats;
using simt::DeviceBuffer;
namespace kernels = ednn::kernels;
namespace cpu = ednn::cpu;

namespace {

constexpr int guard = 5;
constexpr float guard_value = 12345.0f;

// A device buffer of n floats followed by `guard` sentinels; the first n are left as the
// allocator made them (NaN under the emulation), so a kernel that skips an element shows it.
DeviceBuffer<float> output_buffer(std::size_t n) {
  DeviceBuffer<float> b(n + guard);
  const std::vector<float> sentinels(guard, guard_value);
  simt::copy_to_device(b.data() + n, sentinels.data(), guard * sizeof(float));
  return b;
}
DeviceBuffer<float> input_buffer(const std::vector<float>& host) { return DeviceBuffer<float>(host); }

std::vector<double> to_double(const std::vector<float>& v) { return {v.begin(), v.end()}; }
std::vector<double> guarded(std::vector<double> want) {
  want.resize(want.size() + guard, guard_value);
  return want;
}

const long flat_sizes[] = {1, 7, 33, 257, 4099};

}  // namespace

TEST_CASE("avg_pool2d forward and backward match the CPU reference") {
  struct Case { int N, C, H, W, k, s; };
  const Case cases[] = {{1, 1, 1, 1, 1, 1}, {2, 3, 7, 5, 2, 2}, {1, 2, 9, 11, 3, 2},
                        {1, 1, 33, 17, 2, 2}, {2, 1, 7, 8, 2, 3}, {1, 1, 2, 257, 2, 2}};
  for_each_schedule([&](simt::Schedule) {
    for (const Case& c : cases) {
      CAPTURE(c.N); CAPTURE(c.C); CAPTURE(c.H); CAPTURE(c.W); CAPTURE(c.k); CAPTURE(c.s);
      const ednn::PoolGeometry g = ednn::avg_pool2d_geometry({c.N, c.C, c.H, c.W}, c.k, c.s);
      const std::size_t nx = std::size_t(c.N) * c.C * c.H * c.W, ny = std::size_t(c.N) * c.C * g.H_out * g.W_out;
      const std::vector<float> x = random_floats(nx, 11), dy = random_floats(ny, 12);

      std::vector<double> want_y(ny), want_dx(nx);
      cpu::avg_pool2d_forward(to_double(x).data(), want_y.data(), g);
      cpu::avg_pool2d_backward(to_double(dy).data(), want_dx.data(), g);

      DeviceBuffer<float> dx_in = input_buffer(x), dy_in = input_buffer(dy);
      DeviceBuffer<float> y = output_buffer(ny), dx = output_buffer(nx);
      kernels::avg_pool2d_forward(dx_in.data(), y.data(), g, nullptr);
      kernels::avg_pool2d_backward(dy_in.data(), dx.data(), g, nullptr);
      check_close(y.download(), guarded(want_y), 1e-6, 1e-6);
      check_close(dx.download(), guarded(want_dx), 1e-6, 1e-6);
    }
  });
}

TEST_CASE("upsample_nearest2d forward and backward match the CPU reference") {
  struct Case { int N, C, H, W, s; };
  const Case cases[] = {{1, 1, 1, 1, 2}, {2, 3, 7, 5, 2}, {1, 2, 3, 11, 3}, {1, 1, 1, 257, 2}, {1, 1, 5, 3, 1}};
  for_each_schedule([&](simt::Schedule) {
    for (const Case& c : cases) {
      CAPTURE(c.N); CAPTURE(c.C); CAPTURE(c.H); CAPTURE(c.W); CAPTURE(c.s);
      const std::size_t nx = std::size_t(c.N) * c.C * c.H * c.W, ny = nx * c.s * c.s;
      const std::vector<float> x = random_floats(nx, 21), dy = random_floats(ny, 22);
      std::vector<double> want_y(ny), want_dx(nx);
      cpu::upsample_nearest2d_forward(to_double(x).data(), want_y.data(), c.N, c.C, c.H, c.W, c.s);
      cpu::upsample_nearest2d_backward(to_double(dy).data(), want_dx.data(), c.N, c.C, c.H, c.W, c.s);

      DeviceBuffer<float> x_in = input_buffer(x), dy_in = input_buffer(dy);
      DeviceBuffer<float> y = output_buffer(ny), dx = output_buffer(nx);
      kernels::upsample_nearest2d_forward(x_in.data(), y.data(), c.N, c.C, c.H, c.W, c.s, nullptr);
      kernels::upsample_nearest2d_backward(dy_in.data(), dx.data(), c.N, c.C, c.H, c.W, c.s, nullptr);
      check_close(y.download(), guarded(want_y), 0.0);
      check_close(dx.download(), guarded(want_dx), 1e-6, 1e-6);
    }
  });
}

TEST_CASE("leaky_relu forward and backward (from the input and from the output) match the CPU reference, including x = 0") {
  const double slope = 0.02;
  for_each_schedule([&](simt::Schedule) {
    for (long n : flat_sizes) {
      CAPTURE(n);
      std::vector<float> x = random_floats(n, 31);
      x[0] = 0.0f;  // the kink: the derivative there is the slope
      const std::vector<float> dy = random_floats(n, 32);
      std::vector<double> want_y(n), want_dx(n);
      cpu::leaky_relu_forward(to_double(x).data(), want_y.data(), n, slope);
      cpu::leaky_relu_backward(to_double(dy).data(), to_double(x).data(), want_dx.data(), n, slope);

      DeviceBuffer<float> x_in = input_buffer(x), dy_in = input_buffer(dy);
      DeviceBuffer<float> y = output_buffer(n), dx = output_buffer(n);
      kernels::leaky_relu_forward(x_in.data(), y.data(), n, float(slope), nullptr);
      kernels::leaky_relu_backward(dy_in.data(), x_in.data(), dx.data(), n, float(slope), nullptr);
      check_close(y.download(), guarded(want_y), 1e-7, 1e-6);
      check_close(dx.download(), guarded(want_dx), 1e-7, 1e-6);
      // From the output: with slope > 0, y > 0 exactly where x > 0, so the fused convolutions'
      // backward passes y where x was; the result must be the same.
      DeviceBuffer<float> dx_from_y = output_buffer(n);
      kernels::leaky_relu_backward(dy_in.data(), y.data(), dx_from_y.data(), n, float(slope), nullptr);
      check_close(dx_from_y.download(), guarded(want_dx), 1e-7, 1e-6);
    }
  });
}

TEST_CASE("batch_norm2d training, evaluation and backward match the CPU reference") {
  struct Case { int N, C, H, W; float offset; };
  // (2, 2, 65, 65): 8450 values per channel, three slices; offset 100: |mean| >> std, where a
  // one-pass E[x^2] - mean^2 variance would lose every digit.
  const Case cases[] = {{2, 1, 1, 1, 0}, {2, 3, 7, 5, 0}, {1, 2, 1, 257, 0.5f}, {3, 4, 33, 1, 0},
                        {2, 2, 65, 65, 100.0f}};
  const double momentum = 0.1, eps = 1e-5;
  for_each_schedule([&](simt::Schedule) {
    for (const Case& c : cases) {
      CAPTURE(c.N); CAPTURE(c.C); CAPTURE(c.H); CAPTURE(c.W); CAPTURE(c.offset);
      const long HW = long(c.H) * c.W, n = long(c.N) * c.C * HW;
      std::vector<float> x = random_floats(n, 41);
      for (float& v : x) v = v * 2.0f + c.offset;
      const std::vector<float> dy = random_floats(n, 42), gamma = random_floats(c.C, 43, 0.5f, 2.0f),
                               beta = random_floats(c.C, 44), rm = random_floats(c.C, 45),
                               rv = random_floats(c.C, 46, 0.5f, 2.0f);

      std::vector<double> want_y(n), want_rm = to_double(rm), want_rv = to_double(rv), want_mean(c.C),
          want_invstd(c.C), want_eval(n), want_dx(n), want_dgamma(c.C), want_dbeta(c.C);
      const std::vector<double> xd = to_double(x), gd = to_double(gamma), bd = to_double(beta);
      cpu::batch_norm2d_train_forward(xd.data(), gd.data(), bd.data(), want_rm.data(), want_rv.data(), momentum, eps,
                                      want_y.data(), want_mean.data(), want_invstd.data(), c.N, c.C, HW);
      cpu::batch_norm2d_eval_forward(xd.data(), gd.data(), bd.data(), want_rm.data(), want_rv.data(), eps,
                                     want_eval.data(), c.N, c.C, HW);
      cpu::batch_norm2d_backward(to_double(dy).data(), xd.data(), gd.data(), want_mean.data(), want_invstd.data(),
                                 want_dx.data(), want_dgamma.data(), want_dbeta.data(), c.N, c.C, HW);

      DeviceBuffer<float> x_in = input_buffer(x), dy_in = input_buffer(dy), g_in = input_buffer(gamma),
                          b_in = input_buffer(beta), rm_io = input_buffer(rm), rv_io = input_buffer(rv);
      DeviceBuffer<float> y = output_buffer(n), mean = output_buffer(c.C), invstd = output_buffer(c.C),
                          eval = output_buffer(n), dx = output_buffer(n), dgamma = output_buffer(c.C),
                          dbeta = output_buffer(c.C);
      DeviceBuffer<double> workspace(kernels::batch_norm_workspace_size(c.N, c.C, HW));
      kernels::batch_norm2d_train_forward(x_in.data(), g_in.data(), b_in.data(), rm_io.data(), rv_io.data(), momentum,
                                          eps, y.data(), mean.data(), invstd.data(), c.N, c.C, HW, workspace.data(),
                                          nullptr);
      kernels::batch_norm2d_eval_forward(x_in.data(), g_in.data(), b_in.data(), rm_io.data(), rv_io.data(), eps,
                                         eval.data(), c.N, c.C, HW, nullptr);
      kernels::batch_norm2d_backward(dy_in.data(), x_in.data(), g_in.data(), mean.data(), invstd.data(), dx.data(),
                                     dgamma.data(), dbeta.data(), c.N, c.C, HW, workspace.data(), nullptr);
      // x carries an offset of up to 100 and xhat = (x - mean) invstd is formed in float: about
      // 1e-7 * 100 * invstd of error per element.
      const double xtol = 2e-5 * (1.0 + c.offset);
      check_close(mean.download(), guarded(want_mean), 1e-6, 1e-6);
      check_close(invstd.download(), guarded(want_invstd), 1e-6, 1e-5);
      check_close(rm_io.download(), want_rm, 1e-6, 1e-6);
      check_close(rv_io.download(), want_rv, 1e-6, 1e-5);
      check_close(y.download(), guarded(want_y), xtol, 1e-5);
      check_close(eval.download(), guarded(want_eval), xtol, 1e-5);
      // The sums over M values: float inputs, double accumulation.
      const double M = double(c.N) * HW;
      check_close(dbeta.download(), guarded(want_dbeta), 1e-6 * M, 1e-5);
      check_close(dgamma.download(), guarded(want_dgamma), 1e-6 * M * (1.0 + c.offset), 1e-5);
      check_close(dx.download(), guarded(want_dx), xtol * 10, 1e-4);
    }
  });
}

TEST_CASE("sum_per_channel, add_per_channel and dot match the CPU reference") {
  struct Case { int N, C, H, W; };
  const Case cases[] = {{1, 1, 1, 1}, {2, 3, 7, 5}, {1, 7, 1, 33}, {3, 2, 45, 47}};
  for_each_schedule([&](simt::Schedule) {
    for (const Case& c : cases) {
      CAPTURE(c.N); CAPTURE(c.C); CAPTURE(c.H); CAPTURE(c.W);
      const long HW = long(c.H) * c.W, n = long(c.N) * c.C * HW;
      const std::vector<float> x = random_floats(n, 51), bias = random_floats(c.C, 52);
      std::vector<double> want_sum(c.C), want_add(n);
      cpu::sum_per_channel(to_double(x).data(), want_sum.data(), c.N, c.C, HW);
      for (long i = 0; i < n; ++i) want_add[i] = double(x[i]) + double(bias[(i / HW) % c.C]);

      DeviceBuffer<float> x_in = input_buffer(x), b_in = input_buffer(bias), sums = output_buffer(c.C);
      DeviceBuffer<float> workspace(kernels::sum_per_channel_workspace_size(c.N, c.C, HW));
      kernels::sum_per_channel(x_in.data(), c.N, c.C, HW, sums.data(), workspace.data(), nullptr);
      check_close(sums.download(), guarded(want_sum), 1e-6 * std::sqrt(double(c.N) * HW) * 10, 1e-5);
      kernels::add_per_channel(x_in.data(), b_in.data(), c.N, c.C, HW, nullptr);
      check_close(x_in.download(), want_add, 1e-6, 1e-6);
    }
    for (long n : flat_sizes) {
      CAPTURE(n);
      const std::vector<float> a = random_floats(n, 53), b = random_floats(n, 54);
      double want = 0, magnitude = 0;
      for (long i = 0; i < n; ++i) {
        want += double(a[i]) * double(b[i]);
        magnitude += std::fabs(double(a[i]) * double(b[i]));
      }
      DeviceBuffer<float> da = input_buffer(a), db = input_buffer(b), out = output_buffer(1);
      DeviceBuffer<float> workspace(kernels::sum_workspace_size(n));
      kernels::dot(da.data(), db.data(), n, out.data(), workspace.data(), nullptr);
      check_close(out.download(), guarded({want}), 1e-6 * magnitude, 0.0);
    }
  });
}

TEST_CASE("weighted losses: value and gradient in one pass match the CPU reference") {
  const char* specs[] = {"mae", "mse", "huber:delta=0.5", "berhu:delta=0.5", "exp-mae:w=1",
                         "exp-mse:w=0.5,on=prediction", "step-mae:a=4000,b=10", "step-berhu:a=40,b=10,delta=0.3"};
  const long sizes[] = {1, 7, 33, 257, 70001};  // 70001: 274 blocks, partial last block
  for_each_schedule([&](simt::Schedule) {
    for (const char* text : specs) {
      const ednn::LossSpec spec = ednn::parse_loss(text);
      for (long n : sizes) {
        CAPTURE(text); CAPTURE(n);
        const std::vector<float> p = random_floats(n, 61), y = random_floats(n, 62, 0.0f, 1.0f);
        std::vector<double> want_grad(n);
        const double want = cpu::weighted_loss(to_double(p).data(), to_double(y).data(), want_grad.data(), n, spec);
        double magnitude = 0;  // scale of the mean, for the tolerance of the value
        for (long i = 0; i < n; ++i) magnitude += std::fabs(want_grad[i]);

        DeviceBuffer<float> dp = input_buffer(p), dyv = input_buffer(y), grad = output_buffer(n),
                            value = output_buffer(1), workspace(kernels::weighted_loss_workspace_size(n));
        kernels::weighted_loss(dp.data(), dyv.data(), grad.data(), n, ednn::loss_params(spec), value.data(),
                               workspace.data(), nullptr);
        check_close(value.download(), guarded({want}), 1e-7, 1e-5);
        check_close(grad.download(), guarded(want_grad), 1e-9, 1e-5);
      }
    }
  });
}

TEST_CASE("Adam over many tensors, its step count kept on the device, matches the CPU reference over three steps") {
  // 40000: three chunks, the last partial; 0: a tensor with no block. The second list has more
  // tensors than one launch takes (adam_tensors_per_launch).
  std::vector<std::vector<long>> size_lists = {{1, 7, 33, 0, 257, 40000}, {}};
  for (int k = 0; k < kernels::adam_tensors_per_launch + 6; ++k) size_lists[1].push_back(1 + (k * 37) % 300);
  const ednn::AdamConfig configs[] = {{1e-3, 0.9, 0.999, 1e-8, 0.0}, {1e-2, 0.8, 0.99, 1e-6, 0.01}};
  for_each_schedule([&](simt::Schedule) {
    for (const std::vector<long>& sizes : size_lists)
      for (const ednn::AdamConfig& cfg : configs) {
        CAPTURE(sizes.size());
        CAPTURE(cfg.weight_decay);
        std::vector<std::vector<double>> want_p, want_m, want_v;
        std::vector<DeviceBuffer<float>> p, g, m, v;
        std::vector<std::vector<float>> grads;
        std::vector<kernels::AdamTensor> tensors;
        unsigned seed = 70;
        p.reserve(sizes.size()), g.reserve(sizes.size()), m.reserve(sizes.size()), v.reserve(sizes.size());
        for (long n : sizes) {
          const std::vector<float> p0 = random_floats(n, seed++), g0 = random_floats(n, seed++);
          want_p.push_back(to_double(p0));
          want_m.emplace_back(n, 0.0);
          want_v.emplace_back(n, 0.0);
          grads.push_back(g0);
          p.emplace_back(p0);
          g.emplace_back(g0);
          m.emplace_back(std::vector<float>(n, 0.0f));
          v.emplace_back(std::vector<float>(n, 0.0f));
          tensors.push_back({p.back().data(), g.back().data(), m.back().data(), v.back().data(), n});
        }
        // The state before the first step; each step advances it on the device.
        DeviceBuffer<kernels::AdamDeviceState> state(std::vector<kernels::AdamDeviceState>{
            kernels::adam_device_state(cfg.lr, cfg.beta1, cfg.beta2, cfg.eps, cfg.weight_decay, 0)});
        for (long step = 1; step <= 3; ++step) {
          for (std::size_t k = 0; k < sizes.size(); ++k)
            cpu::adam_step(want_p[k].data(), to_double(grads[k]).data(), want_m[k].data(), want_v[k].data(),
                           sizes[k], cfg, step);
          kernels::adam_count_step(state.data(), nullptr);
          kernels::adam_step(tensors, state.data(), nullptr);
        }
        const kernels::AdamDeviceState after = state.download()[0];
        // Step 3's bias corrections, from their definition (core/adam_math.h).
        const double want_step_size = cfg.lr / (1.0 - cfg.beta1 * cfg.beta1 * cfg.beta1);
        const double want_inv_sqrt_bias2 = 1.0 / std::sqrt(1.0 - cfg.beta2 * cfg.beta2 * cfg.beta2);
        CHECK(after.step == 3);
        CHECK(after.params.step_size == doctest::Approx(want_step_size).epsilon(1e-14));
        CHECK(after.params.inv_sqrt_bias2 == doctest::Approx(want_inv_sqrt_bias2).epsilon(1e-14));
        for (std::size_t k = 0; k < sizes.size(); ++k) {
          CAPTURE(k);
          check_close(p[k].download(), want_p[k], 1e-6, 1e-5);
          check_close(m[k].download(), want_m[k], 1e-7, 1e-5);
          // (1 - beta2) in float: 1 - 0.999f is 0.00099998713, 1.3e-5 away from 0.001.
          check_close(v[k].download(), want_v[k], 1e-9, 1e-4);
        }
      }
  });
}

TEST_CASE("operation kernels reject bad sizes with a clear error") {
  DeviceBuffer<float> b(4);
  CHECK_THROWS_AS(kernels::weighted_loss_workspace_size(0), ednn::Error);
  CHECK_THROWS_AS(kernels::leaky_relu_forward(b.data(), b.data(), -1, 0.02f, nullptr), ednn::Error);
  CHECK_THROWS_AS(kernels::upsample_nearest2d_forward(b.data(), b.data(), 1, 1, 1, 1, 0, nullptr), ednn::Error);
  CHECK_THROWS_AS(kernels::adam_device_state(1e-3, 0.9, 0.999, 1e-8, 0.0, -1), ednn::Error);
}
