// Every kernel of kernels/ other than the convolutions (those are bench_conv's), at the shapes
// the ED-CNN gives them, beside cuDNN where it has the same operation, CUB and cuBLAS for the
// reductions, and the CPU path (cpu/, the functions the CPU backend runs).
//
//   bench_ops [--preset paper|small|all] [--batch 16] [--runs 20] [--cpu] [--op NAME]
//             [--loss exp-mae:w=1] [--csv bench_ops.csv] [--json FILE]
//
// Shapes are read off the network itself (nets::build_ednn and nets::summarize at the preset's L
// and c0, batch --batch): for each kind of layer the first, the middle and the last place it
// occurs (largest to smallest activations), the one batch norm, the network's output for the
// loss, and the 28 parameter tensors for Adam. Where engine/modules.h fuses a layer into the
// convolution next to it (a leaky ReLU after a convolution, by default), the training step does
// not run that layer's kernel on its own: those rows are what the unfused path (--no-fusion)
// runs, and the first leaky ReLU row (after the batch norm) is the one the fused step runs too.
//
//   op                    at                     GPU variants
//   avg_pool2d_fwd, _bwd  AvgPool2d inputs       ednn; cudnn (AVERAGE_COUNT_INCLUDE_PADDING)
//   upsample2d_fwd, _bwd  Upsample inputs        ednn; cudnn average pooling times s^2 (the
//                                                same maths: nearest upsampling is s^2 times average
//                                                pooling's backward, its backward s^2 times the forward)
//   leaky_relu_fwd, _bwd  LeakyReLU inputs       ednn; cudnn relu (cuDNN's activations have no
//                                                leaky ReLU: its ReLU moves the same bytes, and is
//                                                checked against the same functions with slope 0)
//   batch_norm_train_fwd  BatchNorm2d input      ednn; cudnn spatial; cudnn spatial persistent
//   batch_norm_stats                             cub: the statistics alone (bench/cub_reductions.h)
//   batch_norm_eval_fwd                          ednn; cudnn inference
//   batch_norm_bwd                               ednn; cudnn spatial; cudnn spatial persistent
//   weighted_loss         the network's output   ednn (value and gradient in one pass)
//   scale                 the network's output   ednn (the loss's backward: grad times dl)
//   adam                  all 28 parameters      ednn multi-tensor (1 launch); ednn a launch per
//                                                tensor (the same kernel and chunks, 28 launches)
//   sum_per_channel       conv / convT outputs   ednn; cub planes; cub channels (see
//                         (the bias gradient)    bench/cub_reductions.h); cublas 2 gemv with a ones
//                                                vector (how Caffe computes a bias gradient)
// Every operation also has a CPU row, "cpu (cpu/)": the function of cpu/cpu_ops.h the
// CPU backend calls (scale: the backend's own loop), for the small preset; --cpu adds it at the
// paper preset (slow on 2 cores).
//
// Each variant is first run once and its whole output checked against the reference: the same
// cpu/ function run in double on the same inputs (scale: x times the factor, in double).
// Outputs are filled with NaN first, so a variant that writes nothing fails. A value passes when
// |got - want| <= rtol max(|want|, s), s the typical size of the values or, for sums, the sum of
// the absolute terms. The check column says "checked: max |diff| ..." per output, or "WRONG: ..."
// with the first bad value (and the exit status is 1). Inputs are seeded; each GPU variant is
// warmed up twice, then timed with CUDA events, the CPU path with a steady clock (its checked run
// is its warm-up); rows give the median of --runs (CPU: of --runs / 3).
// Columns: op | shape | variant | ms | GFLOP/s | GB/s | % of peak | check. GFLOP/s counts nominal
// flops per element (pool fwd k^2, pool bwd 1, upsample fwd 0, upsample bwd s^2, leaky ReLU 1,
// batch norm train 7, stats 4, eval 3, bwd 11, loss 11, Adam 13 per value, sum 1, scale 1). GB/s
// is the minimal traffic (every input read once, every output written once; small per-channel
// arrays left out) over the time. All of these operations are bandwidth-bound, so % of peak is of
// the card's peak memory bandwidth (2 x memory clock x bus width; 4.8 TB/s on an H200).
// GPU variants are skipped, with a line saying why, when the build has no CUDA (or no cuDNN) or
// the machine no GPU.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "apps/cli.h"
#include "bench/bench_common.h"
#include "engine/backend.h"
#include "cpu/cpu_ops.h"
#include "core/error.h"
#include "core/geometry.h"
#include "core/loss_math.h"
#include "core/loss_spec.h"
#include "engine/modules.h"
#include "engine/tensor.h"
#include "nets/ednn_cnn.h"

#if EDNN_BENCH_CUDA
#include "bench/cub_reductions.h"
#include "kernels/activation.h"
#include "kernels/adam.h"
#include "kernels/batch_norm.h"
#include "kernels/elementwise.h"
#include "kernels/loss.h"
#include "kernels/pool.h"
#include "kernels/reduce.h"
#include "kernels/simt_host.h"
#endif

namespace {

using namespace ednn;
using bench::Row;
#if EDNN_BENCH_CUDA
using bench::Gpu;
#endif

// ---- where each operation runs in the network ------------------------------------------------

struct Dims {
  int N = 0, C = 0, H = 0, W = 0;
  std::int64_t numel() const { return std::int64_t(N) * C * H * W; }
  long HW() const { return long(H) * W; }
  std::string str() const {
    return std::to_string(N) + "x" + std::to_string(C) + "x" + std::to_string(H) + "x" + std::to_string(W);
  }
};

// One place an operation runs: the shape of its input and the layer's settings.
struct Site {
  std::string shape;  // the row's shape column: "paper 16x64x512x512 (layer 3)"
  bool paper = false;
  Dims in;
  int kernel = 0, stride = 0, scale = 0;     // AvgPool2d, Upsample
  double slope = 0, momentum = 0, eps = 0;   // LeakyReLU, BatchNorm2d
};

struct Network {
  std::string preset;
  bool paper = false;
  std::vector<Site> pools, upsamples, leaky_relus, conv_outputs, batch_norms;
  Site output;                              // the prediction: the loss's input
  std::vector<std::int64_t> parameters;     // Adam's tensors, their sizes in order
  std::int64_t parameter_count = 0;
};

Network network_sites(const std::string& preset, int N) {
  const nets::NetConfig config = nets::preset_config(preset);
  const std::unique_ptr<Sequential> net = nets::build_ednn(config, 1);
  const std::vector<nets::LayerSummary> summary = nets::summarize(*net, config.L);
  Network out;
  out.preset = preset;
  out.paper = preset == "paper";
  auto site = [&](const Dims& d, const std::string& where) {
    Site s;
    s.shape = preset + " " + d.str() + " (" + where + ")";
    s.paper = out.paper;
    s.in = d;
    return s;
  };
  Dims in{N, 1, config.L, config.L};
  for (std::size_t i = 0; i < net->size(); ++i) {
    Module& m = (*net)[i];
    const Shape& o = summary[i].output;  // [C, H, W]
    const Dims after{N, int(o[0]), int(o[1]), int(o[2])};
    const std::string layer = "layer " + std::to_string(i);
    if (auto* p = dynamic_cast<AvgPool2d*>(&m)) {
      Site s = site(in, layer);
      s.kernel = p->kernel;
      s.stride = p->stride;
      out.pools.push_back(s);
    } else if (auto* u = dynamic_cast<Upsample*>(&m)) {
      Site s = site(in, layer);
      s.scale = u->scale;
      out.upsamples.push_back(s);
    } else if (auto* r = dynamic_cast<LeakyReLU*>(&m)) {
      Site s = site(in, layer);
      s.slope = r->slope;
      out.leaky_relus.push_back(s);
    } else if (auto* b = dynamic_cast<BatchNorm2d*>(&m)) {
      Site s = site(in, layer);
      s.momentum = b->momentum;
      s.eps = b->eps;
      out.batch_norms.push_back(s);
    } else if (dynamic_cast<Conv2d*>(&m) || dynamic_cast<ConvTranspose2d*>(&m)) {
      out.conv_outputs.push_back(site(after, layer + " output"));  // its bias gradient sums dy
    }
    in = after;
  }
  out.output = site(in, "output");
  for (const Tensor& t : net->parameters()) {
    out.parameters.push_back(t.numel());
    out.parameter_count += t.numel();
  }
  return out;
}

// The first, the middle and the last of a kind of layer: a handful of shapes per operation.
std::vector<Site> handful(const std::vector<Site>& all) {
  std::vector<Site> out;
  if (all.empty()) return out;
  for (std::size_t i : {std::size_t(0), all.size() / 2, all.size() - 1})
    if (std::none_of(out.begin(), out.end(), [&](const Site& s) { return s.shape == all[i].shape; }))
      out.push_back(all[i]);
  return out;
}

// ---- inputs and checks ---------------------------------------------------------------------

std::vector<double> widen(const std::vector<float>& v) {
  std::vector<double> out(v.size());
  const std::int64_t n = std::int64_t(v.size());
#pragma omp parallel for schedule(static) if (cpu::worth_threads(n))
  for (std::int64_t i = 0; i < n; ++i) out[i] = v[i];
  return out;
}

// v[i] -> a + b |v[i]|, in place (positive inputs: variances, targets).
void affine_abs(std::vector<float>& v, float a, float b) {
  for (float& x : v) x = a + b * std::fabs(x);
}

void poison(std::vector<float>& v) { std::fill(v.begin(), v.end(), std::numeric_limits<float>::quiet_NaN()); }

// Compares outputs with the double reference and words the verdict.
class Check {
public:
  explicit Check(std::string note = "") : note_(std::move(note)) {}

  // Every got[i] within rtol max(|want[i]|, scale) of want[i], scale = scales[i] when given
  // (sums: the sum of the absolute terms) else `typical`, the typical size of the values.
  Check& compare(const std::string& what, const std::vector<float>& got, const std::vector<double>& want, double rtol,
                 double typical, const std::vector<double>* scales = nullptr) {
    EDNN_CHECK(got.size() == want.size(), what, " has ", got.size(), " values, the reference ",
               want.size());
    const std::int64_t n = std::int64_t(got.size());
    double worst = 0.0;
    std::int64_t first_bad = n;
#pragma omp parallel for schedule(static) reduction(max : worst) reduction(min : first_bad) if (cpu::worth_threads(n))
    for (std::int64_t i = 0; i < n; ++i) {
      const double diff = std::isnan(got[i]) ? HUGE_VAL : std::fabs(double(got[i]) - want[i]);
      const double tol = rtol * std::max(std::fabs(want[i]), scales ? (*scales)[i] : typical);
      worst = std::max(worst, diff);
      if (!(diff <= tol)) first_bad = std::min(first_bad, i);
    }
    char buf[160];
    if (first_bad < n && bad_.empty()) {
      std::snprintf(buf, sizeof buf, "%s[%lld] = %.7g, want %.7g (rtol %.0e)", what.c_str(), (long long)first_bad,
                    double(got[first_bad]), want[first_bad], rtol);
      bad_ = buf;
    }
    std::snprintf(buf, sizeof buf, "%s%s %.1e", diffs_.empty() ? "" : ", ", what.c_str(), worst);
    diffs_ += buf;
    return *this;
  }

  bool ok() const { return bad_.empty(); }
  std::string verdict() const {
    const std::string note = note_.empty() ? "" : " (" + note_ + ")";
    if (!ok()) return "WRONG" + note + ": " + bad_ + "; max |diff| " + diffs_;
    return "checked" + note + ": max |diff| " + diffs_;
  }

private:
  std::string note_, diffs_, bad_;
};

// ---- the table -------------------------------------------------------------------------------

// What one execution of an operation costs at minimum: nominal flops and bytes moved.
struct OpCost {
  std::string op;
  double flops, bytes;
};

struct Report {
  std::vector<Row> rows;
  double peak_gbs = 0.0;  // 0: unknown (no GPU)

  static void print_header() {
    std::printf("%-20s | %-40s | %-28s | %13s | %16s | %12s | %6s | %s\n", "op", "shape", "variant", "time", "GFLOP/s",
                "GB/s", "% BW", "check (whole output vs cpu/ in double)");
  }
  void add(const OpCost& cost, const std::string& shape, const std::string& variant, bool gpu, double ms,
           const std::string& check) {
    Row r{cost.op, shape, variant, check, ms, cost.flops / ms * 1e-6, cost.bytes / ms * 1e-6, 0.0};
    if (gpu && peak_gbs > 0) r.peak_percent = 100.0 * r.gbs / peak_gbs;
    const std::string peak = r.peak_percent > 0 ? std::to_string(int(std::lround(r.peak_percent))) + "%" : "-";
    std::printf("%-20s | %-40s | %-28s | %10.4f ms | %8.1f GFLOP/s | %7.1f GB/s | %6s | %s\n", r.op.c_str(),
                r.shape.c_str(), r.variant.c_str(), ms, r.gflops, r.gbs, peak.c_str(), check.c_str());
    std::fflush(stdout);
    rows.push_back(r);
  }
  // A line without a row: "skipped: why" (or "FAILED: ..." when why says so).
  static void skip(const std::string& op, const std::string& shape, const std::string& variant, const std::string& why) {
    const char* word = why.rfind("FAILED", 0) == 0 ? "" : "skipped: ";
    std::printf("%-20s | %-40s | %-28s | %s%s\n", op.c_str(), shape.c_str(), variant.c_str(), word, why.c_str());
    std::fflush(stdout);
  }
};

#if EDNN_BENCH_CUDA
// ---- the GPU ---------------------------------------------------------------------------------

using Buffer = simt::DeviceBuffer<float>;

void poison(Buffer& b) { simt::device_memset(b.data(), 0xFF, b.size() * sizeof(float)); }  // NaN

// cuDNN descriptors that destroy themselves.
struct TensorDesc {
  cudnnTensorDescriptor_t d = nullptr;
  explicit TensorDesc(const Dims& s) {
    CUDNN_OK(cudnnCreateTensorDescriptor(&d));
    CUDNN_OK(cudnnSetTensor4dDescriptor(d, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, s.N, s.C, s.H, s.W));
  }
  TensorDesc(const TensorDesc& x, cudnnBatchNormMode_t mode) {  // batch norm's [1, C, 1, 1]
    CUDNN_OK(cudnnCreateTensorDescriptor(&d));
    CUDNN_OK(cudnnDeriveBNTensorDescriptor(d, x.d, mode));
  }
  ~TensorDesc() { cudnnDestroyTensorDescriptor(d); }
  TensorDesc(const TensorDesc&) = delete;
  TensorDesc& operator=(const TensorDesc&) = delete;
};

struct PoolDesc {
  cudnnPoolingDescriptor_t d = nullptr;
  PoolDesc(int window, int stride) {
    CUDNN_OK(cudnnCreatePoolingDescriptor(&d));
    CUDNN_OK(cudnnSetPooling2dDescriptor(d, CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING, CUDNN_NOT_PROPAGATE_NAN,
                                         window, window, 0, 0, stride, stride));
  }
  ~PoolDesc() { cudnnDestroyPoolingDescriptor(d); }
  PoolDesc(const PoolDesc&) = delete;
  PoolDesc& operator=(const PoolDesc&) = delete;
};

struct ReluDesc {
  cudnnActivationDescriptor_t d = nullptr;
  ReluDesc() {
    CUDNN_OK(cudnnCreateActivationDescriptor(&d));
    CUDNN_OK(cudnnSetActivationDescriptor(d, CUDNN_ACTIVATION_RELU, CUDNN_NOT_PROPAGATE_NAN, 0.0));
  }
  ~ReluDesc() { cudnnDestroyActivationDescriptor(d); }
  ReluDesc(const ReluDesc&) = delete;
  ReluDesc& operator=(const ReluDesc&) = delete;
};

const float kOne = 1.0f, kZero = 0.0f;
#endif

// ---- running and timing variants -------------------------------------------------------------

using Action = std::function<void()>;
using Verdict = std::function<std::string()>;

struct Bench {
  int runs = 20;
  bool cpu_paper = false;
  std::string only;  // --op: run the operations whose name contains it
  LossSpec loss;
  Report report;
  std::uint64_t seed = 1;
  int failures = 0;  // variants or sites that threw
#if EDNN_BENCH_CUDA
  Gpu* gpu = nullptr;
#endif

  bool wants(const std::string& op) const { return only.empty() || op.find(only) != std::string::npos; }
  bool cpu(const Site& s) const { return !s.paper || cpu_paper; }
  bool has_gpu() const {
#if EDNN_BENCH_CUDA
    return gpu != nullptr;
#else
    return false;
#endif
  }
  // Whether anything runs at this site (otherwise its inputs are not even made).
  bool any(const Site& s) const { return cpu(s) || has_gpu(); }
  std::vector<float> inputs(std::int64_t n) { return bench::seeded(std::size_t(n), seed++); }

  // prepare (reset state, fill outputs with NaN), run once, check, then time the median of runs.
  void cpu_variant(const OpCost& cost, const std::string& shape, const Action& prepare, const Action& run,
                   const Verdict& check) {
    prepare();
    run();
    const std::string verdict = check();
    report.add(cost, shape, "cpu (cpu/)", false, bench::time_cpu(run, std::max(1, runs / 3)), verdict);
  }

#if EDNN_BENCH_CUDA
  // The same on the GPU. An error does not end the run (a GPU is lent for minutes: every other
  // row is still worth having): the line says FAILED and the exit status will be 1. `optional`
  // marks a variant that may not support the shape (cuDNN's persistent batch norm): its error
  // only makes the line say "skipped".
  void gpu_variant(const OpCost& cost, const std::string& shape, const std::string& variant, const Action& prepare,
                   const Action& run, const Verdict& check, bool optional = false) {
    try {
      prepare();
      run();
      CUDA_OK(cudaStreamSynchronize(gpu->stream));
      const std::string verdict = check();
      report.add(cost, shape, variant, true, bench::time_gpu(run, runs, gpu->stream), verdict);
    } catch (const std::exception& e) {
      cudaStreamSynchronize(gpu->stream);
      if (!optional) ++failures;
      Report::skip(cost.op, shape, variant, std::string(optional ? "" : "FAILED: ") + e.what());
    }
  }
#endif
};

// ---- average pooling -------------------------------------------------------------------------

void bench_avg_pool(Bench& b, const Site& s) {
  const bool fwd = b.wants("avg_pool2d_fwd"), bwd = b.wants("avg_pool2d_bwd");
  if (!(fwd || bwd) || !b.any(s)) return;
  const PoolGeometry g = avg_pool2d_geometry({s.in.N, s.in.C, s.in.H, s.in.W}, s.kernel, s.stride);
  const Dims out{g.N, g.C, g.H_out, g.W_out};
  const std::int64_t n_in = s.in.numel(), n_out = out.numel();
  const std::vector<float> x = b.inputs(n_in), dy = b.inputs(n_out);
  std::vector<double> y_ref(n_out), dx_ref(n_in);
  cpu::avg_pool2d_forward<double>(widen(x).data(), y_ref.data(), g);
  cpu::avg_pool2d_backward<double>(widen(dy).data(), dx_ref.data(), g);
  const OpCost fc{"avg_pool2d_fwd", double(g.kernel) * g.kernel * n_out, 4.0 * (n_in + n_out)};
  const OpCost bc{"avg_pool2d_bwd", double(n_in), 4.0 * (n_in + n_out)};
  auto check_y = [&](const std::vector<float>& y) { return Check().compare("y", y, y_ref, 1e-5, 1.0).verdict(); };
  auto check_dx = [&](const std::vector<float>& dx) { return Check().compare("dx", dx, dx_ref, 1e-5, 1.0).verdict(); };

  if (b.cpu(s)) {
    std::vector<float> y(n_out), dx(n_in);
    if (fwd)
      b.cpu_variant(fc, s.shape, [&] { poison(y); }, [&] { cpu::avg_pool2d_forward<float>(x.data(), y.data(), g); },
                    [&] { return check_y(y); });
    if (bwd)
      b.cpu_variant(bc, s.shape, [&] { poison(dx); }, [&] { cpu::avg_pool2d_backward<float>(dy.data(), dx.data(), g); },
                    [&] { return check_dx(dx); });
  }
#if EDNN_BENCH_CUDA
  if (b.gpu) {
    Gpu& gpu = *b.gpu;
    Buffer xd(x), yd(n_out), dyd(dy), dxd(n_in);
    const TensorDesc xdesc(s.in), ydesc(out);
    const PoolDesc pool(g.kernel, g.stride);
    if (fwd) {
      b.gpu_variant(fc, s.shape, "ednn", [&] { poison(yd); },
                    [&] { kernels::avg_pool2d_forward(xd.data(), yd.data(), g, gpu.stream); },
                    [&] { return check_y(yd.download()); });
      b.gpu_variant(fc, s.shape, "cudnn", [&] { poison(yd); },
                    [&] {
                      CUDNN_OK(cudnnPoolingForward(gpu.cudnn, pool.d, &kOne, xdesc.d, xd.data(), &kZero, ydesc.d,
                                                   yd.data()));
                    },
                    [&] { return check_y(yd.download()); });
    }
    if (bwd) {
      b.gpu_variant(bc, s.shape, "ednn", [&] { poison(dxd); },
                    [&] { kernels::avg_pool2d_backward(dyd.data(), dxd.data(), g, gpu.stream); },
                    [&] { return check_dx(dxd.download()); });
      // Average pooling's backward reads neither y nor x; cuDNN still takes them.
      b.gpu_variant(bc, s.shape, "cudnn", [&] { poison(dxd); },
                    [&] {
                      CUDNN_OK(cudnnPoolingBackward(gpu.cudnn, pool.d, &kOne, ydesc.d, yd.data(), ydesc.d, dyd.data(),
                                                    xdesc.d, xd.data(), &kZero, xdesc.d, dxd.data()));
                    },
                    [&] { return check_dx(dxd.download()); });
    }
  }
#endif
}

// ---- nearest upsampling ----------------------------------------------------------------------

void bench_upsample(Bench& b, const Site& s) {
  const bool fwd = b.wants("upsample2d_fwd"), bwd = b.wants("upsample2d_bwd");
  if (!(fwd || bwd) || !b.any(s)) return;
  const int k = s.scale;
  const Dims in = s.in, out{in.N, in.C, in.H * k, in.W * k};
  const std::int64_t n = in.numel(), n_out = out.numel();
  const std::vector<float> x = b.inputs(n), dy = b.inputs(n_out);
  std::vector<double> y_ref(n_out), dx_ref(n);
  cpu::upsample_nearest2d_forward<double>(widen(x).data(), y_ref.data(), in.N, in.C, in.H, in.W, k);
  cpu::upsample_nearest2d_backward<double>(widen(dy).data(), dx_ref.data(), in.N, in.C, in.H, in.W, k);
  const OpCost fc{"upsample2d_fwd", 0.0, 4.0 * (n + n_out)};
  const OpCost bc{"upsample2d_bwd", double(n_out), 4.0 * (n + n_out)};
  auto check_y = [&](const std::vector<float>& y) { return Check().compare("y", y, y_ref, 1e-6, 1.0).verdict(); };
  // dx sums k^2 values of dy (each |dy| < 1).
  auto check_dx = [&](const std::vector<float>& dx) {
    return Check().compare("dx", dx, dx_ref, 1e-5, double(k) * k).verdict();
  };

  if (b.cpu(s)) {
    std::vector<float> y(n_out), dx(n);
    if (fwd)
      b.cpu_variant(fc, s.shape, [&] { poison(y); },
                    [&] { cpu::upsample_nearest2d_forward<float>(x.data(), y.data(), in.N, in.C, in.H, in.W, k); },
                    [&] { return check_y(y); });
    if (bwd)
      b.cpu_variant(bc, s.shape, [&] { poison(dx); },
                    [&] { cpu::upsample_nearest2d_backward<float>(dy.data(), dx.data(), in.N, in.C, in.H, in.W, k); },
                    [&] { return check_dx(dx); });
  }
#if EDNN_BENCH_CUDA
  if (b.gpu) {
    Gpu& gpu = *b.gpu;
    Buffer xd(x), yd(n_out), dyd(dy), dxd(n);
    const TensorDesc small(in), large(out);
    const PoolDesc pool(k, k);
    const float k2 = float(k * k);
    const std::string times = " x" + std::to_string(k * k);
    if (fwd) {
      b.gpu_variant(fc, s.shape, "ednn", [&] { poison(yd); },
                    [&] { kernels::upsample_nearest2d_forward(xd.data(), yd.data(), in.N, in.C, in.H, in.W, k, gpu.stream); },
                    [&] { return check_y(yd.download()); });
      // y = k^2 avg_pool_backward(dy = x): each x spread over its k x k block. The pooling's
      // y and x arguments are not read (average pooling); buffers of the right sizes are passed.
      b.gpu_variant(fc, s.shape, "cudnn avg-pool bwd" + times, [&] { poison(yd); },
                    [&] {
                      CUDNN_OK(cudnnPoolingBackward(gpu.cudnn, pool.d, &k2, small.d, xd.data(), small.d, xd.data(),
                                                    large.d, dyd.data(), &kZero, large.d, yd.data()));
                    },
                    [&] { return check_y(yd.download()); });
    }
    if (bwd) {
      b.gpu_variant(bc, s.shape, "ednn", [&] { poison(dxd); },
                    [&] { kernels::upsample_nearest2d_backward(dyd.data(), dxd.data(), in.N, in.C, in.H, in.W, k, gpu.stream); },
                    [&] { return check_dx(dxd.download()); });
      // dx = k^2 avg_pool_forward(dy): the sum over each k x k block.
      b.gpu_variant(bc, s.shape, "cudnn avg-pool fwd" + times, [&] { poison(dxd); },
                    [&] {
                      CUDNN_OK(cudnnPoolingForward(gpu.cudnn, pool.d, &k2, large.d, dyd.data(), &kZero, small.d,
                                                   dxd.data()));
                    },
                    [&] { return check_dx(dxd.download()); });
    }
  }
#endif
}

// ---- leaky ReLU ------------------------------------------------------------------------------

void bench_leaky_relu(Bench& b, const Site& s) {
  const bool fwd = b.wants("leaky_relu_fwd"), bwd = b.wants("leaky_relu_bwd");
  if (!(fwd || bwd) || !b.any(s)) return;
  const std::int64_t n = s.in.numel();
  const std::vector<float> x = b.inputs(n), dy = b.inputs(n);
  const std::vector<double> xd64 = widen(x), dy64 = widen(dy);
  std::vector<double> y_ref(n), dx_ref(n);
  cpu::leaky_relu_forward<double>(xd64.data(), y_ref.data(), n, s.slope);
  cpu::leaky_relu_backward<double>(dy64.data(), xd64.data(), dx_ref.data(), n, s.slope);
  const OpCost fc{"leaky_relu_fwd", double(n), 8.0 * n}, bc{"leaky_relu_bwd", double(n), 12.0 * n};
  auto check_y = [&](const std::vector<float>& y) { return Check().compare("y", y, y_ref, 1e-6, 1.0).verdict(); };
  auto check_dx = [&](const std::vector<float>& dx) { return Check().compare("dx", dx, dx_ref, 1e-6, 1.0).verdict(); };

  if (b.cpu(s)) {
    std::vector<float> y(n), dx(n);
    if (fwd)
      b.cpu_variant(fc, s.shape, [&] { poison(y); }, [&] { cpu::leaky_relu_forward<float>(x.data(), y.data(), n, s.slope); },
                    [&] { return check_y(y); });
    if (bwd)
      b.cpu_variant(bc, s.shape, [&] { poison(dx); },
                    [&] { cpu::leaky_relu_backward<float>(dy.data(), x.data(), dx.data(), n, s.slope); },
                    [&] { return check_dx(dx); });
  }
#if EDNN_BENCH_CUDA
  if (b.gpu) {
    Gpu& gpu = *b.gpu;
    Buffer xd(x), yd(n), dyd(dy), dxd(n);
    const float slope = float(s.slope);
    // cuDNN's activations have no leaky ReLU: its ReLU moves the same bytes, and is checked
    // against the same cpu/ functions with slope 0.
    std::vector<double> relu_y(n), relu_dx(n);
    cpu::leaky_relu_forward<double>(xd64.data(), relu_y.data(), n, 0.0);
    cpu::leaky_relu_backward<double>(dy64.data(), xd64.data(), relu_dx.data(), n, 0.0);
    const TensorDesc desc(s.in);
    const ReluDesc relu;
    auto relu_forward = [&] {
      CUDNN_OK(cudnnActivationForward(gpu.cudnn, relu.d, &kOne, desc.d, xd.data(), &kZero, desc.d, yd.data()));
    };
    if (fwd) {
      b.gpu_variant(fc, s.shape, "ednn", [&] { poison(yd); },
                    [&] { kernels::leaky_relu_forward(xd.data(), yd.data(), n, slope, gpu.stream); },
                    [&] { return check_y(yd.download()); });
      b.gpu_variant(fc, s.shape, "cudnn relu (slope 0)", [&] { poison(yd); }, relu_forward,
                    [&] { return Check("vs slope 0").compare("y", yd.download(), relu_y, 1e-6, 1.0).verdict(); });
    }
    if (bwd) {
      b.gpu_variant(bc, s.shape, "ednn", [&] { poison(dxd); },
                    [&] { kernels::leaky_relu_backward(dyd.data(), xd.data(), dxd.data(), n, slope, gpu.stream); },
                    [&] { return check_dx(dxd.download()); });
      // cuDNN's ReLU backward reads y = relu(x): made first, untimed.
      b.gpu_variant(bc, s.shape, "cudnn relu (slope 0)", [&] { relu_forward(); poison(dxd); },
                    [&] {
                      CUDNN_OK(cudnnActivationBackward(gpu.cudnn, relu.d, &kOne, desc.d, yd.data(), desc.d, dyd.data(),
                                                       desc.d, xd.data(), &kZero, desc.d, dxd.data()));
                    },
                    [&] { return Check("vs slope 0").compare("dx", dxd.download(), relu_dx, 1e-6, 1.0).verdict(); });
    }
  }
#endif
}

// ---- batch norm ------------------------------------------------------------------------------

void bench_batch_norm(Bench& b, const Site& s) {
  const bool train = b.wants("batch_norm_train_fwd"), stats = b.wants("batch_norm_stats");
  const bool eval = b.wants("batch_norm_eval_fwd"), bwd = b.wants("batch_norm_bwd");
  if (!(train || stats || eval || bwd) || !b.any(s)) return;
  const int N = s.in.N, C = s.in.C;
  const long HW = s.in.HW();
  const std::int64_t n = s.in.numel();
  const std::vector<float> x = b.inputs(n), dy = b.inputs(n), gamma = b.inputs(C), beta = b.inputs(C);
  std::vector<float> mean0 = b.inputs(C), var0 = b.inputs(C);  // running statistics before the step
  affine_abs(mean0, 0.0f, 0.1f);
  affine_abs(var0, 0.5f, 1.0f);
  const std::vector<double> x64 = widen(x), dy64 = widen(dy), gamma64 = widen(gamma), beta64 = widen(beta);

  // The references, in double. Backward takes the saved statistics rounded to float, as every
  // variant receives them.
  std::vector<double> y_ref(n), mean_ref(C), invstd_ref(C), rmean_ref = widen(mean0), rvar_ref = widen(var0);
  cpu::batch_norm2d_train_forward<double>(x64.data(), gamma64.data(), beta64.data(), rmean_ref.data(), rvar_ref.data(),
                                          s.momentum, s.eps, y_ref.data(), mean_ref.data(), invstd_ref.data(), N, C, HW);
  std::vector<double> y_eval_ref(n);
  cpu::batch_norm2d_eval_forward<double>(x64.data(), gamma64.data(), beta64.data(), widen(mean0).data(),
                                         widen(var0).data(), s.eps, y_eval_ref.data(), N, C, HW);
  std::vector<float> saved_mean(C), saved_invstd(C);
  for (int c = 0; c < C; ++c) saved_mean[c] = float(mean_ref[c]), saved_invstd[c] = float(invstd_ref[c]);
  std::vector<double> dx_ref(n), dgamma_ref(C), dbeta_ref(C);
  cpu::batch_norm2d_backward<double>(dy64.data(), x64.data(), gamma64.data(), widen(saved_mean).data(),
                                     widen(saved_invstd).data(), dx_ref.data(), dgamma_ref.data(), dbeta_ref.data(), N,
                                     C, HW);
  // Scales of the two gradient sums: sum |dy| and sum |dy xhat| per channel.
  std::vector<double> sum_abs_dy(C, 0.0), sum_abs_dy_xhat(C, 0.0);
#pragma omp parallel for schedule(static) if (cpu::worth_threads(n))
  for (int c = 0; c < C; ++c)
    for (int i = 0; i < N; ++i)
      for (long j = 0; j < HW; ++j) {
        const std::int64_t at = (std::int64_t(i) * C + c) * HW + j;
        sum_abs_dy[c] += std::fabs(dy64[at]);
        sum_abs_dy_xhat[c] += std::fabs(dy64[at] * (x64[at] - saved_mean[c]) * saved_invstd[c]);
      }

  const OpCost tc{"batch_norm_train_fwd", 7.0 * n, 8.0 * n}, sc{"batch_norm_stats", 4.0 * n, 4.0 * n};
  const OpCost ec{"batch_norm_eval_fwd", 3.0 * n, 8.0 * n}, bc{"batch_norm_bwd", 11.0 * n, 12.0 * n};
  auto check_train = [&](const std::vector<float>& y, const std::vector<float>& mean, const std::vector<float>& invstd,
                         const std::vector<float>& rmean, const std::vector<float>& rvar) {
    return Check()
        .compare("y", y, y_ref, 1e-4, 1.0)
        .compare("mean", mean, mean_ref, 1e-5, 1.0)
        .compare("invstd", invstd, invstd_ref, 1e-5, 1.0)
        .compare("running_mean", rmean, rmean_ref, 1e-5, 1.0)
        .compare("running_var", rvar, rvar_ref, 1e-5, 1.0)
        .verdict();
  };
  auto check_eval = [&](const std::vector<float>& y) { return Check().compare("y", y, y_eval_ref, 1e-5, 1.0).verdict(); };
  auto check_bwd = [&](const std::vector<float>& dx, const std::vector<float>& dgamma, const std::vector<float>& dbeta) {
    return Check()
        .compare("dx", dx, dx_ref, 1e-4, 1.0)
        .compare("dgamma", dgamma, dgamma_ref, 1e-5, 0.0, &sum_abs_dy_xhat)
        .compare("dbeta", dbeta, dbeta_ref, 1e-5, 0.0, &sum_abs_dy)
        .verdict();
  };

  if (b.cpu(s)) {
    std::vector<float> y(n), mean(C), invstd(C), rmean(C), rvar(C), dx(n), dgamma(C), dbeta(C);
    if (train)
      b.cpu_variant(tc, s.shape,
                    [&] {
                      poison(y);
                      poison(mean);
                      poison(invstd);
                      rmean = mean0;
                      rvar = var0;
                    },
                    [&] {
                      cpu::batch_norm2d_train_forward<float>(x.data(), gamma.data(), beta.data(), rmean.data(),
                                                             rvar.data(), s.momentum, s.eps, y.data(), mean.data(),
                                                             invstd.data(), N, C, HW);
                    },
                    [&] { return check_train(y, mean, invstd, rmean, rvar); });
    if (eval)
      b.cpu_variant(ec, s.shape, [&] { poison(y); },
                    [&] {
                      cpu::batch_norm2d_eval_forward<float>(x.data(), gamma.data(), beta.data(), mean0.data(),
                                                            var0.data(), s.eps, y.data(), N, C, HW);
                    },
                    [&] { return check_eval(y); });
    if (bwd)
      b.cpu_variant(bc, s.shape, [&] { poison(dx); poison(dgamma); poison(dbeta); },
                    [&] {
                      cpu::batch_norm2d_backward<float>(dy.data(), x.data(), gamma.data(), saved_mean.data(),
                                                        saved_invstd.data(), dx.data(), dgamma.data(), dbeta.data(), N,
                                                        C, HW);
                    },
                    [&] { return check_bwd(dx, dgamma, dbeta); });
  }
#if EDNN_BENCH_CUDA
  if (b.gpu) {
    Gpu& gpu = *b.gpu;
    Buffer xd(x), yd(n), dyd(dy), dxd(n), gammad(gamma), betad(beta), rmean(C), rvar(C), mean(C), invstd(C),
        dgamma(C), dbeta(C);
    simt::DeviceBuffer<double> workspace(std::size_t(kernels::batch_norm_workspace_size(N, C, HW)));
    const TensorDesc xdesc(s.in);
    const cudnnBatchNormMode_t modes[] = {CUDNN_BATCHNORM_SPATIAL, CUDNN_BATCHNORM_SPATIAL_PERSISTENT};
    auto mode_name = [](cudnnBatchNormMode_t m) {
      return std::string(m == CUDNN_BATCHNORM_SPATIAL ? "cudnn spatial" : "cudnn spatial persistent");
    };
    auto prepare_train = [&] {
      poison(yd);
      poison(mean);
      poison(invstd);
      rmean.upload(mean0);
      rvar.upload(var0);
    };
    auto checked_train = [&] {
      return check_train(yd.download(), mean.download(), invstd.download(), rmean.download(), rvar.download());
    };
    if (train) {
      b.gpu_variant(tc, s.shape, "ednn", prepare_train,
                    [&] {
                      kernels::batch_norm2d_train_forward(xd.data(), gammad.data(), betad.data(), rmean.data(),
                                                          rvar.data(), s.momentum, s.eps, yd.data(), mean.data(),
                                                          invstd.data(), N, C, HW, workspace.data(), gpu.stream);
                    },
                    checked_train);
      for (cudnnBatchNormMode_t mode : modes) {
        const TensorDesc bn(xdesc, mode);
        b.gpu_variant(tc, s.shape, mode_name(mode), prepare_train,
                      [&] {
                        CUDNN_OK(cudnnBatchNormalizationForwardTraining(
                            gpu.cudnn, mode, &kOne, &kZero, xdesc.d, xd.data(), xdesc.d, yd.data(), bn.d, gammad.data(),
                            betad.data(), s.momentum, rmean.data(), rvar.data(), s.eps, mean.data(), invstd.data()));
                      },
                      checked_train, mode == CUDNN_BATCHNORM_SPATIAL_PERSISTENT);
      }
    }
    if (stats) {
      const std::size_t bytes = bench::cub_batch_norm_stats_scratch_bytes(N, C, HW);
      simt::DeviceBuffer<unsigned char> scratch(bytes);
      b.gpu_variant(sc, s.shape, "cub (4 segmented sums)", [&] { poison(mean); poison(invstd); },
                    [&] {
                      bench::cub_batch_norm_stats(xd.data(), N, C, HW, s.eps, mean.data(), invstd.data(),
                                                  scratch.data(), bytes, gpu.stream);
                    },
                    [&] {
                      return Check()
                          .compare("mean", mean.download(), mean_ref, 1e-5, 1.0)
                          .compare("invstd", invstd.download(), invstd_ref, 1e-5, 1.0)
                          .verdict();
                    });
    }
    if (eval) {
      auto prepare_eval = [&] {
        poison(yd);
        rmean.upload(mean0);
        rvar.upload(var0);
      };
      b.gpu_variant(ec, s.shape, "ednn", prepare_eval,
                    [&] {
                      kernels::batch_norm2d_eval_forward(xd.data(), gammad.data(), betad.data(), rmean.data(),
                                                         rvar.data(), s.eps, yd.data(), N, C, HW, gpu.stream);
                    },
                    [&] { return check_eval(yd.download()); });
      const TensorDesc bn(xdesc, CUDNN_BATCHNORM_SPATIAL);
      b.gpu_variant(ec, s.shape, "cudnn inference", prepare_eval,
                    [&] {
                      CUDNN_OK(cudnnBatchNormalizationForwardInference(
                          gpu.cudnn, CUDNN_BATCHNORM_SPATIAL, &kOne, &kZero, xdesc.d, xd.data(), xdesc.d, yd.data(),
                          bn.d, gammad.data(), betad.data(), rmean.data(), rvar.data(), s.eps));
                    },
                    [&] { return check_eval(yd.download()); });
    }
    if (bwd) {
      auto prepare_bwd = [&] {
        poison(dxd);
        poison(dgamma);
        poison(dbeta);
        mean.upload(saved_mean);
        invstd.upload(saved_invstd);
      };
      auto checked_bwd = [&] { return check_bwd(dxd.download(), dgamma.download(), dbeta.download()); };
      b.gpu_variant(bc, s.shape, "ednn", prepare_bwd,
                    [&] {
                      kernels::batch_norm2d_backward(dyd.data(), xd.data(), gammad.data(), mean.data(), invstd.data(),
                                                     dxd.data(), dgamma.data(), dbeta.data(), N, C, HW,
                                                     workspace.data(), gpu.stream);
                    },
                    checked_bwd);
      for (cudnnBatchNormMode_t mode : modes) {
        const TensorDesc bn(xdesc, mode);
        b.gpu_variant(bc, s.shape, mode_name(mode), prepare_bwd,
                      [&] {
                        CUDNN_OK(cudnnBatchNormalizationBackward(
                            gpu.cudnn, mode, &kOne, &kZero, &kOne, &kZero, xdesc.d, xd.data(), xdesc.d, dyd.data(),
                            xdesc.d, dxd.data(), bn.d, gammad.data(), dgamma.data(), dbeta.data(), s.eps, mean.data(),
                            invstd.data()));
                      },
                      checked_bwd, mode == CUDNN_BATCHNORM_SPATIAL_PERSISTENT);
      }
    }
  }
#endif
}

// ---- the loss --------------------------------------------------------------------------------

void bench_loss(Bench& b, const Site& s) {
  if (!b.wants("weighted_loss") || !b.any(s)) return;
  const std::int64_t n = s.in.numel();
  const std::vector<float> prediction = b.inputs(n);
  std::vector<float> target = b.inputs(n);
  affine_abs(target, 0.0f, 1.0f);  // a field in [0, 1), as the solver's
  std::vector<double> grad_ref(n);
  const std::vector<double> value_ref{
      cpu::weighted_loss<double>(widen(prediction).data(), widen(target).data(), grad_ref.data(), n, b.loss)};
  const OpCost cost{"weighted_loss", 11.0 * n, 12.0 * n};
  const std::string shape = s.shape + " " + b.loss.text();
  // The value is a mean of non-negative terms; each gradient is about P / n.
  auto check = [&](const std::vector<float>& value, const std::vector<float>& grad) {
    return Check()
        .compare("value", value, value_ref, 1e-5, 0.0)
        .compare("grad", grad, grad_ref, 1e-5, 1.0 / double(n))
        .verdict();
  };

  if (b.cpu(s)) {
    std::vector<float> value(1), grad(n);
    b.cpu_variant(cost, shape, [&] { poison(value); poison(grad); },
                  [&] { value[0] = float(cpu::weighted_loss<float>(prediction.data(), target.data(), grad.data(), n, b.loss)); },
                  [&] { return check(value, grad); });
  }
#if EDNN_BENCH_CUDA
  if (b.gpu) {
    Gpu& gpu = *b.gpu;
    Buffer pd(prediction), td(target), grad(n), value(1), workspace(std::size_t(kernels::weighted_loss_workspace_size(n)));
    const LossParams params = loss_params(b.loss);
    b.gpu_variant(cost, shape, "ednn", [&] { poison(grad); poison(value); },
                  [&] {
                    kernels::weighted_loss(pd.data(), td.data(), grad.data(), n, params, value.data(), workspace.data(),
                                           gpu.stream);
                  },
                  [&] { return check(value.download(), grad.download()); });
  }
#endif
}

// ---- the loss gradient's scale (elementwise.h) -----------------------------------------------

void bench_scale(Bench& b, const Site& s) {
  if (!b.wants("scale") || !b.any(s)) return;
  const std::int64_t n = s.in.numel();
  const std::vector<float> x = b.inputs(n);
  const float factor = 0.75f;
  std::vector<double> y_ref = widen(x);
  for (double& v : y_ref) v *= factor;
  const OpCost cost{"scale", double(n), 8.0 * n};
  auto check = [&](const std::vector<float>& y) { return Check().compare("y", y, y_ref, 1e-6, 1.0).verdict(); };

  if (b.cpu(s)) {
    // The CPU backend's scale (engine/cpu_backend.cpp) works on tensors and returns a new one.
    const Tensor xt = Tensor::from_vector(x, {s.in.N, s.in.C, s.in.H, s.in.W});
    const Tensor kt = Tensor::from_vector(std::vector<float>{factor}, {1});
    Tensor y;
    b.cpu_variant(cost, s.shape, [&] { y = Tensor(); }, [&] { y = cpu_backend().scale(xt, kt); },
                  [&] {
                    const float* p = y.data<float>();
                    return check(std::vector<float>(p, p + n));
                  });
  }
#if EDNN_BENCH_CUDA
  if (b.gpu) {
    Gpu& gpu = *b.gpu;
    Buffer xd(x), yd(n), kd(std::vector<float>{factor});
    b.gpu_variant(cost, s.shape, "ednn", [&] { poison(yd); },
                  [&] { kernels::scale(yd.data(), xd.data(), n, kd.data(), gpu.stream); },
                  [&] { return check(yd.download()); });
  }
#endif
}

// ---- Adam ------------------------------------------------------------------------------------

void bench_adam(Bench& b, const Network& net) {
  Site s;
  s.paper = net.paper;
  s.shape = net.preset + " " + std::to_string(net.parameters.size()) + " tensors, " +
            nets::with_commas(net.parameter_count) + " values";
  if (!b.wants("adam") || !b.any(s)) return;
  const std::int64_t P = net.parameter_count;
  const AdamConfig config;  // lr 1e-4, betas 0.9 and 0.999, eps 1e-8: the trainer's defaults
  const long step = 10;
  // Plausible state after a few steps: |m| < 0.1, v in [1e-6, 0.01].
  const std::vector<float> p0 = b.inputs(P), grad = b.inputs(P);
  std::vector<float> m0 = b.inputs(P), v0 = b.inputs(P);
  for (float& m : m0) m *= 0.1f;
  affine_abs(v0, 1e-6f, 0.01f);
  std::vector<double> p_ref = widen(p0), m_ref = widen(m0), v_ref = widen(v0);
  {
    const std::vector<double> g = widen(grad);
    std::int64_t at = 0;
    for (std::int64_t size : net.parameters) {
      cpu::adam_step<double>(p_ref.data() + at, g.data() + at, m_ref.data() + at, v_ref.data() + at, size, config, step);
      at += size;
    }
  }
  const OpCost cost{"adam", 13.0 * P, 28.0 * P};  // reads p, g, m, v; writes p, m, v
  auto check = [&](const std::vector<float>& p, const std::vector<float>& m, const std::vector<float>& v) {
    return Check()
        .compare("param", p, p_ref, 2e-6, 1.0)
        .compare("exp_avg", m, m_ref, 1e-5, 0.1)
        .compare("exp_avg_sq", v, v_ref, 1e-5, 0.01)
        .verdict();
  };

  if (b.cpu(s)) {
    std::vector<float> p, m, v;
    b.cpu_variant(cost, s.shape, [&] { p = p0; m = m0; v = v0; },
                  [&] {
                    std::int64_t at = 0;
                    for (std::int64_t size : net.parameters) {
                      cpu::adam_step<float>(p.data() + at, grad.data() + at, m.data() + at, v.data() + at, size, config,
                                            step);
                      at += size;
                    }
                  },
                  [&] { return check(p, m, v); });
  }
#if EDNN_BENCH_CUDA
  if (b.gpu) {
    Gpu& gpu = *b.gpu;
    Buffer pd(p0), gd(grad), md(m0), vd(v0);
    // The tensors lie one after the other in the four arrays.
    std::vector<kernels::AdamTensor> tensors;
    std::int64_t at = 0;
    for (std::int64_t size : net.parameters) {
      tensors.push_back({pd.data() + at, gd.data() + at, md.data() + at, vd.data() + at, long(size)});
      at += size;
    }
    // The constants of step `step`, as the CUDA backend leaves them on the device.
    const simt::DeviceBuffer<kernels::AdamDeviceState> state(std::vector<kernels::AdamDeviceState>{
        kernels::adam_device_state(config.lr, config.beta1, config.beta2, config.eps, config.weight_decay, step)});
    auto prepare = [&] {
      pd.upload(p0);
      md.upload(m0);
      vd.upload(v0);
    };
    auto checked = [&] { return check(pd.download(), md.download(), vd.download()); };
    b.gpu_variant(cost, s.shape, "ednn multi-tensor (1 launch)", prepare,
                  [&] { kernels::adam_step(tensors, state.data(), gpu.stream); }, checked);
    b.gpu_variant(cost, s.shape, "ednn launch per tensor (" + std::to_string(tensors.size()) + ")", prepare,
                  [&] {
                    for (const kernels::AdamTensor& t : tensors) kernels::adam_step({t}, state.data(), gpu.stream);
                  },
                  checked);
  }
#endif
}

// ---- sum per channel (the bias gradient) -----------------------------------------------------

void bench_sum_per_channel(Bench& b, const Site& s) {
  if (!b.wants("sum_per_channel") || !b.any(s)) return;
  const int N = s.in.N, C = s.in.C;
  const long HW = s.in.HW();
  const std::int64_t n = s.in.numel();
  const std::vector<float> x = b.inputs(n);
  std::vector<double> x64 = widen(x), out_ref(C), scale(C);
  cpu::sum_per_channel<double>(x64.data(), out_ref.data(), N, C, HW);
  for (double& v : x64) v = std::fabs(v);
  cpu::sum_per_channel<double>(x64.data(), scale.data(), N, C, HW);  // sum |x| per channel
  const OpCost cost{"sum_per_channel", double(n), 4.0 * n};
  auto check = [&](const std::vector<float>& out) {
    return Check().compare("out", out, out_ref, 1e-5, 0.0, &scale).verdict();
  };

  if (b.cpu(s)) {
    std::vector<float> out(C);
    b.cpu_variant(cost, s.shape, [&] { poison(out); },
                  [&] { cpu::sum_per_channel<float>(x.data(), out.data(), N, C, HW); }, [&] { return check(out); });
  }
#if EDNN_BENCH_CUDA
  if (b.gpu) {
    Gpu& gpu = *b.gpu;
    Buffer xd(x), out(C), workspace(std::size_t(std::max(1L, kernels::sum_per_channel_workspace_size(N, C, HW))));
    auto prepare = [&] { poison(out); };
    auto checked = [&] { return check(out.download()); };
    b.gpu_variant(cost, s.shape, "ednn", prepare,
                  [&] { kernels::sum_per_channel(xd.data(), N, C, HW, out.data(), workspace.data(), gpu.stream); },
                  checked);
    for (bench::CubChannelSum how : {bench::CubChannelSum::planes, bench::CubChannelSum::channels}) {
      simt::DeviceBuffer<unsigned char> scratch(std::max<std::size_t>(bench::cub_sum_per_channel_scratch_bytes(how, N, C, HW), 1));
      b.gpu_variant(cost, s.shape, std::string("cub ") + bench::cub_channel_sum_name(how), prepare,
                    [&] {
                      bench::cub_sum_per_channel(how, xd.data(), N, C, HW, out.data(), scratch.data(), scratch.size(),
                                                 gpu.stream);
                    },
                    checked);
    }
    // Caffe's bias gradient: plane sums = X [N C, HW] times ones [HW], then out = the plane sums
    // as [N, C] transposed times ones [N]. Column-major cuBLAS sees X as [HW, N C] (lda HW).
    Buffer ones(std::vector<float>(std::size_t(std::max<long>(HW, N)), 1.0f)), planes(std::size_t(N) * C);
    b.gpu_variant(cost, s.shape, "cublas 2 gemv (Caffe)", prepare,
                  [&] {
                    CUBLAS_OK(cublasSgemv(gpu.cublas, CUBLAS_OP_T, int(HW), N * C, &kOne, xd.data(), int(HW),
                                          ones.data(), 1, &kZero, planes.data(), 1));
                    CUBLAS_OK(cublasSgemv(gpu.cublas, CUBLAS_OP_N, C, N, &kOne, planes.data(), C, ones.data(), 1, &kZero,
                                          out.data(), 1));
                  },
                  checked);
  }
#endif
}

int run(int argc, char** argv) {
  ednn::io::Cli cli("bench_ops",
                    "Times every non-convolution kernel (pooling, upsampling, leaky ReLU, batch norm, loss, Adam, "
                    "sum per channel, scale) at the ED-CNN's shapes beside cuDNN, CUB, cuBLAS and the CPU path; "
                    "every variant is checked against cpu/ in double before it is timed. Without CUDA (or "
                    "cuDNN) it times the CPU path and says the GPU variants are skipped.\n\n"
                    "  bench_ops --preset small --op batch_norm");
  Bench b;
  cli.choice_option("preset", {"paper", "small", "all"}, "paper (L 512, c0 64), small (L 128, c0 8) or both", "all");
  cli.integer_option("batch", "B", "images per batch", "16", 1, 2147483647);
  cli.integer_option("runs", "R", "timed runs per variant, the median is reported (the CPU path R/3)",
                     std::to_string(b.runs), 1, 2147483647);
  cli.flag("cpu", "also time the CPU path at the paper preset (slow on a few cores)");
  cli.option("op", "NAME", "only the operations whose name contains NAME (e.g. batch_norm, _bwd, adam)");
  cli.option("loss", "TEXT", "the loss of weighted_loss", "exp-mae:w=1");
  cli.option("csv", "FILE", "the rows as CSV", "bench_ops.csv");
  cli.option("json", "FILE", "the rows as JSON as well");
  if (!cli.parse(argc, argv)) return 0;  // --help, --version
  const std::string preset = cli.get("preset"), csv = cli.get("csv"), json = cli.get("json");
  const int batch = int(cli.integer("batch"));
  b.runs = int(cli.integer("runs"));
  b.cpu_paper = cli.has("cpu");
  b.only = cli.get("op");
  const std::string loss = cli.get("loss");
  b.loss = parse_loss(loss);

  std::string device = "none";
#if EDNN_BENCH_CUDA
  const std::string why = bench::gpu_unavailable();
  std::unique_ptr<Gpu> gpu;
  if (why.empty()) {
    cudaDeviceProp prop{};
    CUDA_OK(cudaGetDeviceProperties(&prop, 0));
    b.report.peak_gbs = bench::peak_bandwidth_gbs();
    device = prop.name;
    std::printf("bench_ops: %s, peak memory bandwidth %.0f GB/s, fp32 peak %.0f GFLOP/s; batch %d, median of %d runs\n",
                prop.name, b.report.peak_gbs, bench::peak_gflops(), batch, b.runs);
    gpu = std::make_unique<Gpu>();
    b.gpu = gpu.get();
  } else {
    std::printf("bench_ops: GPU variants skipped: %s\n", why.c_str());
  }
#else
  std::printf("bench_ops: GPU variants skipped: built without CUDA (EDNN_CUDA=OFF, no toolkit or no cuDNN)\n");
#endif
  Report::print_header();

  std::vector<std::string> presets;
  if (preset != "paper") presets.push_back("small");
  if (preset != "small") presets.push_back("paper");
  for (const std::string& name : presets) {
    if (name == "paper" && !b.cpu_paper && !b.has_gpu()) {
      std::printf("paper preset: nothing to run (no GPU, and the CPU path there only with --cpu)\n");
      continue;
    }
    const Network net = network_sites(name, batch);
    // An error at one site (out of memory, a failed cuDNN setup) is reported and the run goes on.
    auto guarded = [&](const char* ops, const Site& s, void (*bench_site)(Bench&, const Site&)) {
      try {
        bench_site(b, s);
      } catch (const std::exception& e) {
        ++b.failures;
        Report::skip(ops, s.shape, "(all)", std::string("FAILED: ") + e.what());
      }
    };
    for (const Site& s : handful(net.pools)) guarded("avg_pool2d", s, bench_avg_pool);
    for (const Site& s : handful(net.upsamples)) guarded("upsample2d", s, bench_upsample);
    for (const Site& s : handful(net.leaky_relus)) guarded("leaky_relu", s, bench_leaky_relu);
    for (const Site& s : net.batch_norms) guarded("batch_norm", s, bench_batch_norm);
    guarded("weighted_loss", net.output, bench_loss);
    guarded("scale", net.output, bench_scale);
    try {
      bench_adam(b, net);
    } catch (const std::exception& e) {
      ++b.failures;
      Report::skip("adam", net.preset, "(all)", std::string("FAILED: ") + e.what());
    }
    for (const Site& s : handful(net.conv_outputs)) guarded("sum_per_channel", s, bench_sum_per_channel);
  }
  if (!b.cpu_paper && preset != "small" && b.has_gpu())
    std::printf("cpu variant at the paper preset skipped: pass --cpu (slow on a few cores)\n");

  bench::write_csv(csv, b.report.rows);
  if (!json.empty())
    bench::write_json(json, b.report.rows,
                      {{"benchmark", "bench_ops"}, {"device", device}, {"preset", preset}, {"batch", batch},
                       {"runs", b.runs}, {"loss", b.loss.text()}, {"peak_gbs", b.report.peak_gbs}});
  bool wrong = false;
  for (const Row& r : b.report.rows) wrong = wrong || r.check.rfind("WRONG", 0) == 0;
  const std::string files = json.empty() ? csv : csv + " and " + json;
  std::printf("%zu rows written to %s%s%s\n", b.report.rows.size(), files.c_str(),
              wrong ? "; SOME RESULTS ARE WRONG (see the check column)" : "; every checked result matched",
              b.failures ? "; SOME VARIANTS FAILED (see the FAILED lines)" : "");
  return wrong || b.failures ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) { return ednn::io::run_main("bench_ops", run, argc, argv); }
