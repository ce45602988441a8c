// The convolution kernels (kernels/conv2d.h, every version) against the CPU reference loops
// (ednn::cpu::ref, run in double), on small shapes that are multiples of no tile (odd, non-square,
// 1x1 images, more channels than one tile), kernels 1x1 to 4x4, stride 1 and 2, padding 0 to 2,
// every kernel version, in the three thread orders of the emulation. Each output buffer is
// followed by guard values the kernels must leave alone, and starts as NaN (the emulation fills
// fresh device memory with 0xFF), so a value a kernel forgets to write fails too.
// Linked with ednn_kernels_emu (kernels_conv) and with ednn_kernels_cuda (kernels_conv_gpu, label gpu).
#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "cpu/cpu_ops.h"
#include "core/error.h"
#include "core/geometry.h"
#include "kernels/conv2d.h"
#include "kernels/reduce.h"
#include "tests/kernels/test_util.h"

using ednn::ConvGeometry;
using ednn::ConvActivation;
using ednn::ConvEpilogue;
using ednn::test::check_close;
using ednn::test::for_each_schedule;
using simt::DeviceBuffer;

namespace {

struct Shape {
  int N, C_in, C_out, H, W, kH, kW, stride, pad;
};

// Hand-picked shapes (each for a reason), then seeded random ones.
std::vector<Shape> test_shapes() {
  std::vector<Shape> shapes = {
      {1, 1, 1, 1, 1, 1, 1, 1, 0},     // everything 1
      {2, 3, 5, 7, 5, 3, 3, 1, 1},     // the paper's 3x3 / stride 1 / pad 1, odd sizes
      {3, 5, 7, 13, 11, 3, 3, 2, 1},   // stride 2; K = N H_out W_out large enough for split-K
      {3, 2, 3, 13, 11, 3, 3, 1, 1},   // 429 pixels: split-K with three slices
      {1, 2, 3, 9, 13, 4, 4, 2, 2},    // even kernel, pad 2
      {2, 4, 6, 6, 10, 1, 1, 2, 0},    // 1x1 kernel with stride (skips pixels)
      {1, 1, 2, 5, 4, 4, 4, 1, 0},     // kernel nearly the image
      {2, 3, 4, 1, 1, 3, 3, 1, 1},     // 1x1 image, padding only
      {1, 2, 3, 8, 7, 1, 3, 1, 1},     // non-square kernel
      {1, 67, 70, 5, 6, 3, 3, 1, 1},   // more channels than a 64-row tile, both ways
      {1, 131, 130, 3, 4, 3, 3, 1, 1}, // more than a 128-row tile, both ways
      {2, 1, 140, 9, 7, 3, 3, 1, 1},   // one input channel: dx has 1 row, dw 9 columns and 140 rows
                                       // (version 0's 16-wide tiles, two row blocks of 128)
      // Channel counts that the K step divides: the loads by channel blocks (CHANNEL_BLOCKS),
      // forward when BK (8, or 16 for TF32) divides C_in, backward-data when it divides C_out.
      {2, 16, 24, 7, 5, 3, 3, 1, 1},   // forward: blocks for every BK; backward-data: for BK 8 only
      {1, 32, 16, 9, 8, 4, 4, 2, 2},   // stride 2, even kernel, pad 2: both ways, every BK
      {3, 8, 136, 5, 6, 3, 3, 1, 1},   // C_out past a 128-row tile; forward blocks for BK 8 only
      // Backward-weight by channel blocks when BN (64 or 128) divides C_in.
      {2, 64, 8, 4, 5, 3, 3, 1, 1},    // BN 64 only
      {1, 128, 20, 3, 3, 3, 3, 2, 1},  // BN 64 and 128, stride 2
      // Products large enough for the big tensor-core tiles (versions 4 and 5 pick them only then):
      // forward (M = C_out = 128, 272 columns: version 4's 128 x 256, version 5's 128 x 128), then
      // backward-data (M = C_in = 128).
      {1, 16, 128, 17, 16, 3, 3, 1, 1},
      {1, 128, 16, 17, 16, 3, 3, 1, 1},
      // 264 2x2 tiles: Winograd's weight gradient (version 6) sums them in two slices.
      {2, 3, 4, 24, 22, 3, 3, 1, 1},
  };
  std::mt19937 rng(2024);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  const int kernels[] = {1, 3, 4};
  while (shapes.size() < 28) {
    Shape s{pick(1, 3), pick(1, 5), pick(1, 7), pick(1, 13), pick(1, 13), 0, 0, pick(1, 2), pick(0, 2)};
    s.kH = s.kW = kernels[pick(0, 2)];
    if (s.kH <= s.H + 2 * s.pad && s.kW <= s.W + 2 * s.pad) shapes.push_back(s);
  }
  return shapes;
}

ConvGeometry geometry(const Shape& s) {
  return ednn::conv2d_geometry({s.N, s.C_in, s.H, s.W}, {s.C_out, s.C_in, s.kH, s.kW}, s.stride, s.pad);
}

std::string describe(const Shape& s) {
  return "N " + std::to_string(s.N) + ", C_in " + std::to_string(s.C_in) + ", C_out " + std::to_string(s.C_out) +
         ", " + std::to_string(s.H) + "x" + std::to_string(s.W) + ", kernel " + std::to_string(s.kH) + "x" +
         std::to_string(s.kW) + ", stride " + std::to_string(s.stride) + ", pad " + std::to_string(s.pad);
}

std::vector<double> to_double(const std::vector<float>& v) { return {v.begin(), v.end()}; }

constexpr int guard = 13;
constexpr float guard_value = 12345.0f;

// A device buffer of n outputs followed by `guard` sentinels.
DeviceBuffer<float> output_buffer(long n) {
  DeviceBuffer<float> b(static_cast<std::size_t>(n + guard));
  std::vector<float> tail(guard, guard_value);
  simt::copy_to_device(b.data() + n, tail.data(), guard * sizeof(float));
  return b;
}

// Checks the n outputs against want (float sums of `terms` products of values in [-1, 1]) and
// that the guards are intact.
void check_output(const DeviceBuffer<float>& b, std::vector<double> want, long terms) {
  want.resize(want.size() + guard, guard_value);
  check_close(b.download(), want, 2e-6 * static_cast<double>(terms + 1), 1e-5);
}

void add_bias_and_activation(std::vector<double>& out, const std::vector<double>& bias, int N, int C, long HW,
                             ConvEpilogue e) {
  for (int n = 0; n < N; ++n)
    for (int c = 0; c < C; ++c)
      for (long i = 0; i < HW; ++i) {
        double& v = out[(static_cast<long>(n) * C + c) * HW + i];
        v += bias[c];
        if (e.activation == ConvActivation::leaky_relu && v < 0) v *= e.slope;
      }
}

const ConvEpilogue leaky{ConvActivation::leaky_relu, 0.02f};

// The scratch memory of conv2d_forward and conv2d_backward_data (Winograd's transformed kernels,
// the implicit GEMM's weights by tap),
// fresh device memory: NaN in the emulation, so a part the kernels read but never wrote fails.
DeviceBuffer<float> workspace_of(long floats) {
  return DeviceBuffer<float>(static_cast<std::size_t>(std::max(1L, floats)));
}
DeviceBuffer<float> forward_workspace(const ConvGeometry& g, int version) {
  return workspace_of(ednn::kernels::conv2d_forward_workspace_size(g, version));
}
DeviceBuffer<float> backward_data_workspace(const ConvGeometry& g, int version) {
  return workspace_of(ednn::kernels::conv2d_backward_data_workspace_size(g, version));
}

// v rounded to TF32 (11 significant bits), to nearest with ties away from zero, computed from
// the definition (significand scaled to 11 bits, std::round), not from the bit trick the kernels
// use. For normal numbers, which is all the tests feed it.
double tf32(double v) {
  if (v == 0.0 || !std::isfinite(v)) return v;
  int exponent = 0;
  const double significand = std::frexp(v, &exponent);  // in [0.5, 1): 2^11 of it are the 11 bits kept
  return std::ldexp(std::round(std::ldexp(significand, 11)), exponent - 11);
}

std::vector<double> tf32_doubles(const std::vector<float>& v) {
  std::vector<double> out(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) out[i] = tf32(v[i]);
  return out;
}

}  // namespace

TEST_CASE("conv2d_forward: every version matches the reference, with bias, without, with leaky ReLU") {
  const std::vector<Shape> shapes = test_shapes();
  for_each_schedule([&](simt::Schedule) {
    unsigned seed = 1;
    for (const Shape& s : shapes) {
      INFO(describe(s));
      const ConvGeometry g = geometry(s);
      const std::vector<float> x = ednn::test::random_floats(g.input_numel(), seed++);
      const std::vector<float> w = ednn::test::random_floats(g.weight_numel(), seed++);
      const std::vector<float> b = ednn::test::random_floats(g.C_out, seed++);
      const std::vector<double> xd = to_double(x), wd = to_double(w), bd = to_double(b);
      std::vector<double> want(g.output_numel()), want_plain(g.output_numel());
      ednn::cpu::ref::conv2d_forward<double>(xd.data(), wd.data(), bd.data(), want.data(), g);
      ednn::cpu::ref::conv2d_forward<double>(xd.data(), wd.data(), nullptr, want_plain.data(), g);
      std::vector<double> want_leaky = want;
      add_bias_and_activation(want_leaky, std::vector<double>(g.C_out, 0.0), g.N, g.C_out,
                              long(g.H_out) * g.W_out, leaky);
      const long terms = long(g.C_in) * g.kH * g.kW;

      DeviceBuffer<float> dx(x), dw(w), db(b);
      // 5: tensor cores with float accuracy; 6 and 7: Winograd; all at the float tolerance.
      for (int version : {0, 1, 2, 3, 5, 6, 7}) {
        CAPTURE(version);
        DeviceBuffer<float> workspace = forward_workspace(g, version);
        DeviceBuffer<float> y = output_buffer(g.output_numel());
        ednn::kernels::conv2d_forward(dx.data(), dw.data(), db.data(), y.data(), g, nullptr, {}, version,
                                      workspace.data());
        check_output(y, want, terms);
        DeviceBuffer<float> y_plain = output_buffer(g.output_numel());
        ednn::kernels::conv2d_forward(dx.data(), dw.data(), nullptr, y_plain.data(), g, nullptr, {}, version,
                                      workspace.data());
        check_output(y_plain, want_plain, terms);
        DeviceBuffer<float> y_leaky = output_buffer(g.output_numel());
        ednn::kernels::conv2d_forward(dx.data(), dw.data(), db.data(), y_leaky.data(), g, nullptr, leaky, version,
                                      workspace.data());
        check_output(y_leaky, want_leaky, terms);
      }
    }
  });
}

TEST_CASE("conv2d_backward_data: versions 0, 2, 3, 5, 6 and 7 match the reference") {
  const std::vector<Shape> shapes = test_shapes();
  for_each_schedule([&](simt::Schedule) {
    unsigned seed = 100;
    for (const Shape& s : shapes) {
      INFO(describe(s));
      const ConvGeometry g = geometry(s);
      const std::vector<float> dy = ednn::test::random_floats(g.output_numel(), seed++);
      const std::vector<float> w = ednn::test::random_floats(g.weight_numel(), seed++);
      const std::vector<double> dyd = to_double(dy), wd = to_double(w);
      std::vector<double> want(g.input_numel());
      ednn::cpu::ref::conv2d_backward_data<double>(dyd.data(), wd.data(), want.data(), g);
      const long terms = long(g.C_out) * g.kH * g.kW;

      DeviceBuffer<float> ddy(dy), dw(w);
      for (int version : {0, 2, 3, 5, 6, 7}) {
        CAPTURE(version);
        DeviceBuffer<float> dx = output_buffer(g.input_numel()), workspace = backward_data_workspace(g, version);
        ednn::kernels::conv2d_backward_data(ddy.data(), dw.data(), dx.data(), g, nullptr, nullptr, {}, version, 1,
                                            workspace.data());
        check_output(dx, want, terms);
      }
    }
  });
}

TEST_CASE("conv2d_backward_data with bias and leaky ReLU is conv_transpose2d's forward pass") {
  struct TransposedShape {
    int N, C_in, C_out, H, W, k, stride, pad, output_padding;
  };
  // Transposed-convolution shapes (input [N, C_in, H, W], weight [C_in, C_out, k, k]).
  const TransposedShape shapes[] = {
      {2, 3, 2, 4, 5, 3, 1, 1, 0},  // the paper's ConvT: 3x3, stride 1, pad 1 keeps the size
      {1, 4, 3, 3, 4, 4, 2, 1, 0},  // the classic x2 upsampling ConvT
      {2, 2, 5, 5, 3, 3, 2, 1, 1},  // output_padding: the output row/column no input reaches
      {1, 5, 1, 6, 7, 3, 2, 0, 1},
      {1, 16, 8, 3, 4, 3, 2, 1, 1},  // 16 input channels: the loads by channel blocks
  };
  for_each_schedule([&](simt::Schedule) {
    unsigned seed = 300;
    for (const TransposedShape& t : shapes) {
      const ConvGeometry g = ednn::conv_transpose2d_geometry({t.N, t.C_in, t.H, t.W}, {t.C_in, t.C_out, t.k, t.k},
                                                             t.stride, t.pad, t.output_padding);
      INFO("conv_transpose2d input ", t.N, "x", t.C_in, "x", t.H, "x", t.W, ", output ", g.H_in, "x", g.W_in,
           ", kernel ", t.k, ", stride ", t.stride, ", pad ", t.pad, ", output_padding ", t.output_padding);
      const std::vector<float> in = ednn::test::random_floats(g.output_numel(), seed++);
      const std::vector<float> w = ednn::test::random_floats(g.weight_numel(), seed++);
      const std::vector<float> b = ednn::test::random_floats(g.C_in, seed++);
      const std::vector<double> ind = to_double(in), wd = to_double(w), bd = to_double(b);
      std::vector<double> want(g.input_numel());
      ednn::cpu::ref::conv2d_backward_data<double>(ind.data(), wd.data(), want.data(), g);
      add_bias_and_activation(want, bd, g.N, g.C_in, long(g.H_in) * g.W_in, leaky);

      DeviceBuffer<float> din(in), dw(w), db(b);
      for (int version : {0, 2, 3, 5, 6, 7}) {
        CAPTURE(version);
        DeviceBuffer<float> out = output_buffer(g.input_numel()), workspace = backward_data_workspace(g, version);
        ednn::kernels::conv2d_backward_data(din.data(), dw.data(), out.data(), g, nullptr, db.data(), leaky, version, 1,
                                            workspace.data());
        check_output(out, want, long(g.C_out) * g.kH * g.kW);
      }
    }
  });
}

TEST_CASE("conv2d_backward_weight: dw and the bias gradient match the reference, with and without split-K") {
  const std::vector<Shape> shapes = test_shapes();
  bool saw_split = false, saw_single = false;
  for_each_schedule([&](simt::Schedule) {
    unsigned seed = 200;
    for (const Shape& s : shapes) {
      INFO(describe(s));
      const ConvGeometry g = geometry(s);
      const std::vector<float> x = ednn::test::random_floats(g.input_numel(), seed++);
      const std::vector<float> dy = ednn::test::random_floats(g.output_numel(), seed++);
      const std::vector<double> xd = to_double(x), dyd = to_double(dy);
      const long HW_out = long(g.H_out) * g.W_out;
      std::vector<double> want_dw(g.weight_numel()), want_db(g.C_out, 0.0);
      ednn::cpu::ref::conv2d_backward_weight<double>(xd.data(), dyd.data(), want_dw.data(), g);
      ednn::cpu::sum_per_channel<double>(dyd.data(), want_db.data(), g.N, g.C_out, HW_out);
      const long terms = g.N * HW_out;

      DeviceBuffer<float> dx(x), ddy(dy);
      for (int version : {0, 2, 3, 5, 6}) {
        CAPTURE(version);
        const long workspace_size = ednn::kernels::conv2d_backward_weight_workspace_size(g, version);
        const bool split = workspace_size > ednn::kernels::sum_per_channel_workspace_size(g.N, g.C_out, HW_out);
        (split ? saw_split : saw_single) = true;
        DeviceBuffer<float> workspace(static_cast<std::size_t>(workspace_size));
        DeviceBuffer<float> dw = output_buffer(g.weight_numel()), db = output_buffer(g.C_out);
        ednn::kernels::conv2d_backward_weight(dx.data(), ddy.data(), dw.data(), db.data(), workspace.data(), g,
                                              nullptr, version);
        check_output(dw, want_dw, terms);
        check_output(db, want_db, terms);
        if (version != 0) continue;
        // Without a bias gradient, dw alone.
        DeviceBuffer<float> dw_only = output_buffer(g.weight_numel());
        ednn::kernels::conv2d_backward_weight(dx.data(), ddy.data(), dw_only.data(), nullptr, workspace.data(), g,
                                              nullptr, version);
        check_output(dw_only, want_dw, terms);
      }
    }
  });
  CHECK(saw_split);
  CHECK(saw_single);
}

TEST_CASE("conv2d_backward_weight is deterministic across thread orders") {
  const Shape s{3, 5, 7, 13, 11, 3, 3, 1, 1};
  const ConvGeometry g = geometry(s);
  DeviceBuffer<float> x(ednn::test::random_floats(g.input_numel(), 7));
  DeviceBuffer<float> dy(ednn::test::random_floats(g.output_numel(), 8));
  DeviceBuffer<float> workspace(static_cast<std::size_t>(ednn::kernels::conv2d_backward_weight_workspace_size(g)));
  DeviceBuffer<float> dw(g.weight_numel()), db(g.C_out);
  ednn::kernels::conv2d_backward_weight(x.data(), dy.data(), dw.data(), db.data(), workspace.data(), g, nullptr);
  const std::vector<float> first_dw = dw.download(), first_db = db.download();
  for_each_schedule([&](simt::Schedule) {
    ednn::kernels::conv2d_backward_weight(x.data(), dy.data(), dw.data(), db.data(), workspace.data(), g, nullptr);
    CHECK(dw.download() == first_dw);
    CHECK(db.download() == first_db);
  });
}

// Version 4 multiplies on the tensor cores with TF32 inputs. Its products are exact and its sums
// float, so against a reference computed in double from the TF32-rounded inputs it must be as
// close as the float kernels are to theirs; it is also checked to round, and to round the way
// cvt.rna does.
TEST_CASE("version 4 (tensor cores) rounds its inputs to TF32, to nearest, ties away from zero") {
  // y = x * 1 through a 1x1 convolution of one channel: y is exactly the TF32 value of x.
  const float ulp = std::ldexp(1.0f, -10);  // TF32's unit in the last place at 1
  const std::vector<float> x = {
      1.0f + ulp / 2,                              // a tie: away from zero, up to 1 + ulp
      -(1.0f + ulp / 2),                           // a negative tie: down to -(1 + ulp)
      1.0f + ulp / 2 - std::ldexp(1.0f, -23),      // just below the tie: 1
      1.0f + 1.5f * ulp,                           // a tie between 1 + ulp and 1 + 2 ulp: 1 + 2 ulp
      2.0f - std::ldexp(1.0f, -23),                // rounds up across the exponent, to 2
      0.1f, -3.14159265f, 1e-20f, 6.02e23f, 1.0f / 3.0f};
  const int n = static_cast<int>(x.size());
  const ConvGeometry g = ednn::conv2d_geometry({1, 1, 1, n}, {1, 1, 1, 1}, 1, 0);
  DeviceBuffer<float> dx(x), dw(std::vector<float>{1.0f});
  DeviceBuffer<float> y = output_buffer(n);
  ednn::kernels::conv2d_forward(dx.data(), dw.data(), nullptr, y.data(), g, nullptr, {}, 4);
  const std::vector<float> got = y.download();
  for (int i = 0; i < n; ++i) {
    CAPTURE(x[i]);
    CHECK(static_cast<double>(got[i]) == tf32(x[i]));
  }
  CHECK(got[0] == 1.0f + ulp);
  CHECK(got[1] == -(1.0f + ulp));
  CHECK(got[2] == 1.0f);
  CHECK(got[3] == 1.0f + 2 * ulp);
  CHECK(got[4] == 2.0f);
}

TEST_CASE("version 4 (tensor cores, TF32) matches the reference on TF32-rounded inputs, all three operations") {
  const std::vector<Shape> shapes = test_shapes();
  for_each_schedule([&](simt::Schedule) {
    unsigned seed = 400;
    for (const Shape& s : shapes) {
      INFO(describe(s));
      const ConvGeometry g = geometry(s);
      const long HW_out = long(g.H_out) * g.W_out;
      const std::vector<float> x = ednn::test::random_floats(g.input_numel(), seed++);
      const std::vector<float> w = ednn::test::random_floats(g.weight_numel(), seed++);
      const std::vector<float> dy = ednn::test::random_floats(g.output_numel(), seed++);
      const std::vector<float> b = ednn::test::random_floats(g.C_out, seed++);
      const std::vector<double> xt = tf32_doubles(x), wt = tf32_doubles(w), dyt = tf32_doubles(dy);
      const std::vector<double> bd = to_double(b);  // the bias is added in float, not rounded
      DeviceBuffer<float> dx(x), dw(w), ddy(dy), db(b);

      std::vector<double> want_y(g.output_numel());
      ednn::cpu::ref::conv2d_forward<double>(xt.data(), wt.data(), bd.data(), want_y.data(), g);
      add_bias_and_activation(want_y, std::vector<double>(g.C_out, 0.0), g.N, g.C_out, HW_out, leaky);
      DeviceBuffer<float> y = output_buffer(g.output_numel()), forward_scratch = forward_workspace(g, 4);
      ednn::kernels::conv2d_forward(dx.data(), dw.data(), db.data(), y.data(), g, nullptr, leaky, 4,
                                    forward_scratch.data());
      check_output(y, want_y, long(g.C_in) * g.kH * g.kW);

      std::vector<double> want_dx(g.input_numel());
      ednn::cpu::ref::conv2d_backward_data<double>(dyt.data(), wt.data(), want_dx.data(), g);
      DeviceBuffer<float> dxo = output_buffer(g.input_numel()), data_scratch = backward_data_workspace(g, 4);
      ednn::kernels::conv2d_backward_data(ddy.data(), dw.data(), dxo.data(), g, nullptr, nullptr, {}, 4, 1,
                                          data_scratch.data());
      check_output(dxo, want_dx, long(g.C_out) * g.kH * g.kW);

      std::vector<double> want_dw(g.weight_numel()), want_db(g.C_out, 0.0);
      const std::vector<double> dyd = to_double(dy);
      ednn::cpu::ref::conv2d_backward_weight<double>(xt.data(), dyt.data(), want_dw.data(), g);
      ednn::cpu::sum_per_channel<double>(dyd.data(), want_db.data(), g.N, g.C_out, HW_out);  // not a product: float
      DeviceBuffer<float> workspace(
          static_cast<std::size_t>(ednn::kernels::conv2d_backward_weight_workspace_size(g, 4)));
      DeviceBuffer<float> dwo = output_buffer(g.weight_numel()), dbo = output_buffer(g.C_out);
      ednn::kernels::conv2d_backward_weight(dx.data(), ddy.data(), dwo.data(), dbo.data(), workspace.data(), g,
                                            nullptr, 4);
      check_output(dwo, want_dw, g.N * HW_out);
      check_output(dbo, want_db, g.N * HW_out);
    }
  });
}

// dy_scale fuses a nearest upsampling into the loads of dy: the result must be the same bits as
// the same kernel run on the upsampled tensor, made on the host.
TEST_CASE("conv2d_backward_data and _weight with dy_scale read dy through nearest upsampling, bit for bit") {
  struct UpShape {
    Shape conv;  // the convolution; its output (dy) is an upsampling by `scale`
    int scale;
  };
  const UpShape shapes[] = {
      {{2, 3, 5, 8, 6, 3, 3, 1, 1}, 2},     // the decoder's Upsample(2) + ConvT 3x3
      {{1, 70, 67, 4, 8, 3, 3, 1, 1}, 2},   // more channels than a 64-row tile
      {{3, 2, 3, 12, 8, 3, 3, 1, 1}, 4},    // scale 4; split-K in backward-weight
      {{1, 4, 3, 8, 12, 4, 4, 2, 3}, 2},    // stride 2 with an even output
      {{2, 8, 16, 6, 4, 3, 3, 1, 1}, 2},    // C_out 16: backward-data by channel blocks, every BK
      {{1, 64, 8, 4, 4, 3, 3, 1, 1}, 2},    // C_in 64: backward-weight by channel blocks (64-wide tiles)
  };
  for_each_schedule([&](simt::Schedule) {
    unsigned seed = 500;
    for (const UpShape& u : shapes) {
      INFO(describe(u.conv), ", dy_scale ", u.scale);
      const ConvGeometry g = geometry(u.conv);
      REQUIRE(g.H_out % u.scale == 0);
      REQUIRE(g.W_out % u.scale == 0);
      const int Hs = g.H_out / u.scale, Ws = g.W_out / u.scale;
      const std::vector<float> small = ednn::test::random_floats(long(g.N) * g.C_out * Hs * Ws, seed++);
      std::vector<float> full(g.output_numel());
      for (long nc = 0; nc < long(g.N) * g.C_out; ++nc)
        for (int i = 0; i < g.H_out; ++i)
          for (int j = 0; j < g.W_out; ++j)
            full[(nc * g.H_out + i) * g.W_out + j] = small[(nc * Hs + i / u.scale) * Ws + j / u.scale];
      const std::vector<float> w = ednn::test::random_floats(g.weight_numel(), seed++);
      const std::vector<float> x = ednn::test::random_floats(g.input_numel(), seed++);
      DeviceBuffer<float> dsmall(small), dfull(full), dw(w), dx(x);
      for (int version : {0, 2, 3, 4, 5, 6, 7}) {
        CAPTURE(version);
        DeviceBuffer<float> fused(g.input_numel()), plain(g.input_numel());
        DeviceBuffer<float> data_workspace = backward_data_workspace(g, version);
        ednn::kernels::conv2d_backward_data(dsmall.data(), dw.data(), fused.data(), g, nullptr, nullptr, leaky,
                                            version, u.scale, data_workspace.data());
        ednn::kernels::conv2d_backward_data(dfull.data(), dw.data(), plain.data(), g, nullptr, nullptr, leaky,
                                            version, 1, data_workspace.data());
        CHECK(fused.download() == plain.download());

        DeviceBuffer<float> workspace(
            static_cast<std::size_t>(ednn::kernels::conv2d_backward_weight_workspace_size(g, version)));
        DeviceBuffer<float> dw_fused(g.weight_numel()), dw_plain(g.weight_numel());
        ednn::kernels::conv2d_backward_weight(dx.data(), dsmall.data(), dw_fused.data(), nullptr, workspace.data(), g,
                                              nullptr, version, u.scale);
        ednn::kernels::conv2d_backward_weight(dx.data(), dfull.data(), dw_plain.data(), nullptr, workspace.data(), g,
                                              nullptr, version);
        CHECK(dw_fused.download() == dw_plain.download());
      }
    }
  });
}

TEST_CASE("conv2d launchers reject bad arguments with a message") {
  const ConvGeometry g = geometry({1, 2, 3, 5, 5, 3, 3, 1, 1});
  DeviceBuffer<float> a(1000), b(1000), c(1000);
  CHECK_THROWS_WITH_AS(ednn::kernels::conv2d_forward(a.data(), b.data(), nullptr, c.data(), g, nullptr, {}, 8),
                       doctest::Contains("conv2d_forward: no kernel version 8"), ednn::Error);
  CHECK_THROWS_WITH_AS(ednn::kernels::conv2d_backward_data(a.data(), b.data(), c.data(), g, nullptr, nullptr, {}, 1),
                       doctest::Contains("conv2d_backward_data: no kernel version 1"), ednn::Error);
  ConvGeometry wrong = g;
  wrong.H_out = 4;
  CHECK_THROWS_WITH_AS(ednn::kernels::conv2d_forward(a.data(), b.data(), nullptr, c.data(), wrong, nullptr),
                       doctest::Contains("does not match"), ednn::Error);
  CHECK_THROWS_WITH_AS(
      ednn::kernels::conv2d_backward_weight(a.data(), b.data(), c.data(), nullptr, nullptr, g, nullptr),
      doctest::Contains("needs a workspace"), ednn::Error);
  CHECK(ednn::kernels::conv2d_forward_workspace_size(g, 3) == 0);
  CHECK(ednn::kernels::conv2d_forward_workspace_size(g, 6) > 0);
  // 16 input and 8 output channels: forward by channel blocks for every K step (8, 16), backward-
  // data for 8 only; the weights by tap are one copy of w.
  const ConvGeometry blocks = geometry({1, 16, 8, 5, 5, 3, 3, 1, 1});
  for (int version : {0, 2, 3, 4, 5})
    CHECK(ednn::kernels::conv2d_forward_workspace_size(blocks, version) == blocks.weight_numel());
  CHECK(ednn::kernels::conv2d_forward_workspace_size(blocks, 1) == 0);
  CHECK(ednn::kernels::conv2d_backward_data_workspace_size(blocks, 3) == blocks.weight_numel());
  CHECK(ednn::kernels::conv2d_backward_data_workspace_size(blocks, 4) == 0);
  CHECK_THROWS_WITH_AS(ednn::kernels::conv2d_forward(a.data(), b.data(), nullptr, c.data(), blocks, nullptr),
                       doctest::Contains("conv2d_forward (implicit GEMM by channel blocks): needs a workspace of "
                                         "1152 floats"),
                       ednn::Error);
  CHECK_THROWS_WITH_AS(
      ednn::kernels::conv2d_backward_data(a.data(), b.data(), c.data(), blocks, nullptr, nullptr, {}, 2),
      doctest::Contains("conv2d_backward_data (implicit GEMM by channel blocks): needs a workspace of"),
      ednn::Error);
  CHECK_THROWS_WITH_AS(ednn::kernels::conv2d_forward(a.data(), b.data(), nullptr, c.data(), g, nullptr, {}, 6),
                       doctest::Contains("conv2d (Winograd): needs a workspace of"), ednn::Error);
  CHECK_THROWS_WITH_AS(ednn::kernels::conv2d_backward_data(a.data(), b.data(), c.data(), g, nullptr, nullptr, {}, 6),
                       doctest::Contains("conv2d (Winograd): needs a workspace of"), ednn::Error);
  CHECK_THROWS_WITH_AS(
      ednn::kernels::conv2d_backward_data(a.data(), b.data(), c.data(), g, nullptr, nullptr, {}, 0, 3),
      doctest::Contains("dy_scale must be a power of two, got 3"), ednn::Error);
  CHECK_THROWS_WITH_AS(  // g's dy is 5x5
      ednn::kernels::conv2d_backward_weight(a.data(), b.data(), c.data(), nullptr, c.data(), g, nullptr, 0, 2),
      doctest::Contains("is not an upsampling by 2"), ednn::Error);
}
