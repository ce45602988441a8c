// The convolution kernels of kernels/conv2d.h at the network's shapes (SPEC section 4), beside
// cuDNN (its fastest fp32 algorithm, no TF32; then its fastest with tensor cores allowed, TF32),
// cuBLAS (a plain GEMM of the same M, N, K, fp32 then TF32: what the convolution would cost if
// im2col were free) and the CPU path (cpu/, im2col + BLAS). Kernel version 4 and the TF32
// rows are the tensor-core path: compare them with each other, the rest with each other. Version
// 5 (tensor cores, float accuracy, checked with the float tolerance) belongs with the fp32 rows.
//
//   bench_conv [--preset paper|small|all] [--batch 16] [--runs 10] [--cpu] [--csv bench_conv.csv]
//              [--layer TEXT]   (only the layers whose name contains TEXT, e.g. "conv 512->1024")
//
// Layers: every distinct convolution geometry of the ED-CNN at lattice L and width c0
// (paper: 512, 64; small: 128, 8; bench/conv_layers.h). For each: forward, backward-data,
// backward-weight.
// Every variant's result is first checked at 32 sampled outputs against the direct formula in
// double (and the line says so); inputs are seeded; each variant is warmed up, then timed with
// CUDA events (CPU: a steady clock) and the median of --runs is reported.
// Columns: op | shape | variant | ms | GFLOP/s | GB/s (minimal traffic: both inputs read once,
// the output written once) | % of the card's fp32 peak (SMs x 128 lanes x 2 x clock; TF32 rows
// too, though the tensor cores' dense TF32 peak is about 7.4 times that on an H100 or H200).
// GPU variants are skipped, with a line saying why, when the build has no CUDA or the machine no GPU.
// The CPU variant runs for the small preset; --cpu adds it at the paper preset (slow on 2 cores).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "apps/cli.h"
#include "bench/bench_common.h"
#include "bench/conv_layers.h"
#include "cpu/cpu_ops.h"
#include "core/error.h"
#include "core/geometry.h"

#if EDNN_BENCH_CUDA
#include "kernels/conv2d.h"
#endif

namespace {

using ednn::ConvGeometry;
using ednn::bench::median;
using ednn::bench::Row;
using ednn::bench::seeded;
#if EDNN_BENCH_CUDA
using ednn::bench::gpu_unavailable;
using ednn::bench::peak_gflops;
using ednn::bench::Gpu;
using ednn::bench::time_gpu;
#endif

using Layer = ednn::bench::ConvLayer;
using ednn::bench::network_layers;

enum class Op { forward, backward_data, backward_weight };
const char* op_name(Op op) {
  return op == Op::forward ? "forward" : op == Op::backward_data ? "backward_data" : "backward_weight";
}

// The host copies of one layer's inputs.
struct Inputs {
  std::vector<float> x, w, dy;
};

// One output of op by the direct formula, in double; also the sum of |terms| (for the tolerance).
double direct_value(Op op, const Inputs& in, const ConvGeometry& g, std::int64_t index, double* magnitude) {
  double sum = 0.0, mag = 0.0;
  auto X = [&](int n, int c, int h, int v) { return double(in.x[((std::int64_t(n) * g.C_in + c) * g.H_in + h) * g.W_in + v]); };
  auto W = [&](int o, int c, int p, int q) { return double(in.w[((std::int64_t(o) * g.C_in + c) * g.kH + p) * g.kW + q]); };
  auto DY = [&](int n, int o, int i, int j) { return double(in.dy[((std::int64_t(n) * g.C_out + o) * g.H_out + i) * g.W_out + j]); };
  auto term = [&](double t) { sum += t; mag += std::fabs(t); };
  if (op == Op::forward) {
    const int j = int(index % g.W_out), i = int(index / g.W_out % g.H_out);
    const int o = int(index / (std::int64_t(g.W_out) * g.H_out) % g.C_out), n = int(index / (std::int64_t(g.W_out) * g.H_out * g.C_out));
    for (int c = 0; c < g.C_in; ++c)
      for (int p = 0; p < g.kH; ++p)
        for (int q = 0; q < g.kW; ++q) {
          const int h = i * g.stride - g.pad + p, v = j * g.stride - g.pad + q;
          if (h >= 0 && h < g.H_in && v >= 0 && v < g.W_in) term(W(o, c, p, q) * X(n, c, h, v));
        }
  } else if (op == Op::backward_data) {
    const int v = int(index % g.W_in), h = int(index / g.W_in % g.H_in);
    const int c = int(index / (std::int64_t(g.W_in) * g.H_in) % g.C_in), n = int(index / (std::int64_t(g.W_in) * g.H_in * g.C_in));
    for (int o = 0; o < g.C_out; ++o)
      for (int p = 0; p < g.kH; ++p)
        for (int q = 0; q < g.kW; ++q) {
          const int ti = h + g.pad - p, tj = v + g.pad - q;
          if (ti < 0 || tj < 0 || ti % g.stride || tj % g.stride) continue;
          const int i = ti / g.stride, j = tj / g.stride;
          if (i < g.H_out && j < g.W_out) term(W(o, c, p, q) * DY(n, o, i, j));
        }
  } else {
    const int q = int(index % g.kW), p = int(index / g.kW % g.kH);
    const int c = int(index / (g.kW * g.kH) % g.C_in), o = int(index / (std::int64_t(g.kW) * g.kH * g.C_in));
    for (int n = 0; n < g.N; ++n)
      for (int i = 0; i < g.H_out; ++i)
        for (int j = 0; j < g.W_out; ++j) {
          const int h = i * g.stride - g.pad + p, v = j * g.stride - g.pad + q;
          if (h >= 0 && h < g.H_in && v >= 0 && v < g.W_in) term(DY(n, o, i, j) * X(n, c, h, v));
        }
  }
  *magnitude = mag;
  return sum;
}

std::int64_t output_count(Op op, const ConvGeometry& g) {
  return op == Op::forward ? g.output_numel() : op == Op::backward_data ? g.input_numel() : g.weight_numel();
}

// Checks 32 sampled outputs (read through `fetch`) against the direct formula; returns "" or
// a description of the first mismatch.
// `relative` is the tolerance relative to the sum of the magnitudes of the terms: 1e-4 for float
// arithmetic, 2e-3 for TF32 inputs (each rounded by up to 2^-11 relative).
std::string check_samples(Op op, const Inputs& in, const ConvGeometry& g,
                          const std::function<float(std::int64_t)>& fetch, double relative = 1e-4) {
  const std::int64_t count = output_count(op, g);
  for (int s = 0; s < 32; ++s) {
    const std::int64_t index = s == 0 ? 0 : s == 1 ? count - 1 : (std::int64_t(s) * 2654435761ll) % count;
    double magnitude = 0.0;
    const double want = direct_value(op, in, g, index, &magnitude);
    const double got = fetch(index);
    if (!(std::fabs(got - want) <= relative * magnitude + 1e-5))
      return "output " + std::to_string(index) + ": got " + std::to_string(got) + ", want " + std::to_string(want);
  }
  return "";
}

struct Report {
  std::vector<Row> rows;
  double peak_gflops = 0.0;  // 0: unknown (CPU only)
  void add(Op op, const Layer& layer, const std::string& variant, double ms, const std::string& check) {
    const ConvGeometry& g = layer.g;
    const double bytes = 4.0 * double(g.input_numel() + g.output_numel() + g.weight_numel());
    Row r{op_name(op), layer.name, variant, check, ms, g.flops() / ms * 1e-6, bytes / ms * 1e-6, 0.0};
    if (peak_gflops > 0 && variant.rfind("cpu", 0) != 0) r.peak_percent = 100.0 * r.gflops / peak_gflops;
    const std::string peak = r.peak_percent > 0 ? std::to_string(int(std::lround(r.peak_percent))) + "%" : "-";
    std::printf("%-16s | %-46s | %-22s | %9.3f ms | %8.1f GFLOP/s | %7.1f GB/s | %6s | %s\n", r.op.c_str(),
                r.shape.c_str(), r.variant.c_str(), ms, r.gflops, r.gbs, peak.c_str(), check.c_str());
    std::fflush(stdout);
    rows.push_back(r);
  }
};

// ---- the CPU path ---------------------------------------------------------------------------
void bench_cpu(const Layer& layer, const Inputs& in, int runs, Report& report) {
  const ConvGeometry& g = layer.g;
  std::vector<float> y(g.output_numel()), dx(g.input_numel()), dw(g.weight_numel());
  for (Op op : {Op::forward, Op::backward_data, Op::backward_weight}) {
    auto run = [&] {
      if (op == Op::forward) ednn::cpu::fast::conv2d_forward<float>(in.x.data(), in.w.data(), nullptr, y.data(), g);
      else if (op == Op::backward_data) ednn::cpu::fast::conv2d_backward_data<float>(in.dy.data(), in.w.data(), dx.data(), g);
      else ednn::cpu::fast::conv2d_backward_weight<float>(in.x.data(), in.dy.data(), dw.data(), g);
    };
    run();
    const std::vector<float>& out = op == Op::forward ? y : op == Op::backward_data ? dx : dw;
    const std::string bad = check_samples(op, in, g, [&](std::int64_t i) { return out[i]; });
    std::vector<double> ms;
    for (int r = 0; r < std::max(1, runs / 3); ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      run();
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    report.add(op, layer, "cpu (im2col+BLAS)", median(ms), bad.empty() ? "checked" : "WRONG: " + bad);
  }
}

#if EDNN_BENCH_CUDA
// ---- the GPU variants -----------------------------------------------------------------------
struct DeviceArray {
  float* p = nullptr;
  explicit DeviceArray(std::int64_t n) { CUDA_OK(cudaMalloc(&p, std::max<std::int64_t>(n, 1) * sizeof(float))); }
  DeviceArray(const std::vector<float>& host) : DeviceArray(std::int64_t(host.size())) {
    CUDA_OK(cudaMemcpy(p, host.data(), host.size() * sizeof(float), cudaMemcpyHostToDevice));
  }
  ~DeviceArray() { cudaFree(p); }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
};

float fetch_device(const float* p, std::int64_t i) {
  float v = 0.0f;
  CUDA_OK(cudaMemcpy(&v, p + i, sizeof v, cudaMemcpyDeviceToHost));
  return v;
}

// cuDNN descriptors for one geometry: fp32 with FMA math only (what PyTorch uses with TF32 off),
// or with tensor-core math allowed (TF32 for float data: PyTorch's allow_tf32).
struct CudnnConv {
  cudnnTensorDescriptor_t x, y;
  cudnnFilterDescriptor_t w;
  cudnnConvolutionDescriptor_t conv;
  bool tf32;
  CudnnConv(const ConvGeometry& g, bool allow_tf32) : tf32(allow_tf32) {
    CUDNN_OK(cudnnCreateTensorDescriptor(&x));
    CUDNN_OK(cudnnCreateTensorDescriptor(&y));
    CUDNN_OK(cudnnCreateFilterDescriptor(&w));
    CUDNN_OK(cudnnCreateConvolutionDescriptor(&conv));
    CUDNN_OK(cudnnSetTensor4dDescriptor(x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, g.N, g.C_in, g.H_in, g.W_in));
    CUDNN_OK(cudnnSetTensor4dDescriptor(y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, g.N, g.C_out, g.H_out, g.W_out));
    CUDNN_OK(cudnnSetFilter4dDescriptor(w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, g.C_out, g.C_in, g.kH, g.kW));
    CUDNN_OK(cudnnSetConvolution2dDescriptor(conv, g.pad, g.pad, g.stride, g.stride, 1, 1, CUDNN_CROSS_CORRELATION,
                                             CUDNN_DATA_FLOAT));
    CUDNN_OK(cudnnSetConvolutionMathType(conv, tf32 ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH));
  }
  ~CudnnConv() {
    cudnnDestroyConvolutionDescriptor(conv);
    cudnnDestroyFilterDescriptor(w);
    cudnnDestroyTensorDescriptor(y);
    cudnnDestroyTensorDescriptor(x);
  }
};

// The first (fastest) successful result that uses FMA math (or, with tf32, any math); -1 if none.
template <class Perf>
int pick(const Perf* perf, int count, bool tf32) {
  for (int i = 0; i < count; ++i)
    if (perf[i].status == CUDNN_STATUS_SUCCESS && (tf32 || perf[i].mathType == CUDNN_FMA_MATH)) return i;
  return -1;
}

void bench_gpu(const Layer& layer, const Inputs& in, int runs, Gpu& gpu, Report& report) {
  const ConvGeometry& g = layer.g;
  DeviceArray x(in.x), w(in.w), dy(in.dy), y(g.output_numel()), dx(g.input_numel()), dw(g.weight_numel());
  const CudnnConv fp32_desc(g, false), tf32_desc(g, true);
  const float one = 1.0f, zero = 0.0f;

  for (Op op : {Op::forward, Op::backward_data, Op::backward_weight}) {
    float* out = op == Op::forward ? y.p : op == Op::backward_data ? dx.p : dw.p;
    auto checked = [&](bool tf32) {
      CUDA_OK(cudaStreamSynchronize(gpu.stream));
      const std::string bad =
          check_samples(op, in, g, [&](std::int64_t i) { return fetch_device(out, i); }, tf32 ? 2e-3 : 1e-4);
      return bad.empty() ? std::string("checked") : "WRONG: " + bad;
    };
    // The hand-written kernels, every version (4: tensor cores, TF32; 5: tensor cores, 3xTF32;
    // 6: Winograd, which runs version 0's kernels for layers other than 3x3 / stride 1 /
    // padding 1), then 0: what the engine runs by default (3, 2 or the 16-wide tiles, by the
    // product's shape).
    for (int version : {1, 2, 3, 4, 5, 6, 7, 0}) {
      if (version == 1 && op != Op::forward) continue;
      // The operation's scratch memory, allocated outside the timed call (as a caller would keep it).
      const long workspace_floats = op == Op::forward ? ednn::kernels::conv2d_forward_workspace_size(g, version)
                                    : op == Op::backward_data
                                        ? ednn::kernels::conv2d_backward_data_workspace_size(g, version)
                                        : ednn::kernels::conv2d_backward_weight_workspace_size(g, version);
      auto ws = std::make_shared<DeviceArray>(std::max(1L, workspace_floats));
      std::function<void()> run;
      if (op == Op::forward)
        run = [&, version, ws] {
          ednn::kernels::conv2d_forward(x.p, w.p, nullptr, y.p, g, gpu.stream, {}, version, ws->p);
        };
      else if (op == Op::backward_data)
        run = [&, version, ws] {
          ednn::kernels::conv2d_backward_data(dy.p, w.p, dx.p, g, gpu.stream, nullptr, {}, version, 1, ws->p);
        };
      else
        run = [&, version, ws] {
          ednn::kernels::conv2d_backward_weight(x.p, dy.p, dw.p, nullptr, ws->p, g, gpu.stream, version);
        };
      run();
      const std::string check = checked(version == 4);
      const std::string variant = version == 4   ? "ednn v4 (TF32)"
                                  : version == 5 ? "ednn v5 (3xTF32)"
                                  : version == 6 ? "ednn v6 (Winograd)"
                                  : version == 7 ? "ednn v7 (Winograd, 2 blocks/SM)"
                                  : version == 0 ? "ednn auto (v0)"
                                                 : "ednn v" + std::to_string(version);
      report.add(op, layer, variant, time_gpu(run, runs, gpu.stream), check);
    }
    // cuDNN, its fastest algorithm: FMA math only (fp32), then with tensor cores allowed (TF32).
    for (const CudnnConv* descriptors : {&fp32_desc, &tf32_desc}) {
      const CudnnConv& desc = *descriptors;
      constexpr int max_algos = 16;
      int count = 0, best = -1;
      std::size_t bytes = 0;
      std::function<void(void*)> run_with;
      if (op == Op::forward) {
        cudnnConvolutionFwdAlgoPerf_t perf[max_algos];
        CUDNN_OK(cudnnFindConvolutionForwardAlgorithm(gpu.cudnn, desc.x, desc.w, desc.conv, desc.y, max_algos, &count, perf));
        if ((best = pick(perf, count, desc.tf32)) >= 0) {
          const auto algo = perf[best].algo;
          bytes = perf[best].memory;
          run_with = [&, algo, bytes](void* ws) {
            CUDNN_OK(cudnnConvolutionForward(gpu.cudnn, &one, desc.x, x.p, desc.w, w.p, desc.conv, algo, ws, bytes, &zero,
                                             desc.y, y.p));
          };
        }
      } else if (op == Op::backward_data) {
        cudnnConvolutionBwdDataAlgoPerf_t perf[max_algos];
        CUDNN_OK(cudnnFindConvolutionBackwardDataAlgorithm(gpu.cudnn, desc.w, desc.y, desc.conv, desc.x, max_algos, &count,
                                                           perf));
        if ((best = pick(perf, count, desc.tf32)) >= 0) {
          const auto algo = perf[best].algo;
          bytes = perf[best].memory;
          run_with = [&, algo, bytes](void* ws) {
            CUDNN_OK(cudnnConvolutionBackwardData(gpu.cudnn, &one, desc.w, w.p, desc.y, dy.p, desc.conv, algo, ws, bytes,
                                                  &zero, desc.x, dx.p));
          };
        }
      } else {
        cudnnConvolutionBwdFilterAlgoPerf_t perf[max_algos];
        CUDNN_OK(cudnnFindConvolutionBackwardFilterAlgorithm(gpu.cudnn, desc.x, desc.y, desc.conv, desc.w, max_algos,
                                                             &count, perf));
        if ((best = pick(perf, count, desc.tf32)) >= 0) {
          const auto algo = perf[best].algo;
          bytes = perf[best].memory;
          run_with = [&, algo, bytes](void* ws) {
            CUDNN_OK(cudnnConvolutionBackwardFilter(gpu.cudnn, &one, desc.x, x.p, desc.y, dy.p, desc.conv, algo, ws,
                                                    bytes, &zero, desc.w, dw.p));
          };
        }
      }
      const char* variant = desc.tf32 ? "cudnn (fastest, TF32)" : "cudnn (fastest fp32)";
      if (best < 0) {
        std::printf("%-16s | %-46s | %-22s | skipped: cuDNN found no algorithm for this math\n", op_name(op),
                    layer.name.c_str(), variant);
      } else {
        DeviceArray ws(std::int64_t(bytes / sizeof(float) + 1));
        auto run = [&] { run_with(ws.p); };
        run();
        const std::string check = checked(desc.tf32);
        report.add(op, layer, variant, time_gpu(run, runs, gpu.stream), check);
      }
    }
    // cuBLAS: the GEMM of the same M, N, K on dense matrices (row-major C = A B as column-major
    // C^T = B^T A^T). A lower bound for any implicit GEMM; its result is not a convolution.
    {
      std::int64_t M, Ncol, K;
      if (op == Op::forward) M = g.C_out, Ncol = std::int64_t(g.N) * g.H_out * g.W_out, K = std::int64_t(g.C_in) * g.kH * g.kW;
      else if (op == Op::backward_data) M = g.C_in, Ncol = std::int64_t(g.N) * g.H_in * g.W_in, K = std::int64_t(g.C_out) * g.kH * g.kW;
      else M = g.C_out, Ncol = std::int64_t(g.C_in) * g.kH * g.kW, K = std::int64_t(g.N) * g.H_out * g.W_out;
      DeviceArray A(M * K), B(K * Ncol), C(M * Ncol);
      CUDA_OK(cudaMemsetAsync(A.p, 0, M * K * sizeof(float), gpu.stream));
      CUDA_OK(cudaMemsetAsync(B.p, 0, K * Ncol * sizeof(float), gpu.stream));
      auto run = [&] {
        CUBLAS_OK(cublasSgemm(gpu.cublas, CUBLAS_OP_N, CUBLAS_OP_N, int(Ncol), int(M), int(K), &one, B.p, int(Ncol), A.p,
                              int(K), &zero, C.p, int(Ncol)));
      };
      report.add(op, layer, "cublas (GEMM only)", time_gpu(run, runs, gpu.stream), "timing only (same M, N, K)");
      CUBLAS_OK(cublasSetMathMode(gpu.cublas, CUBLAS_TF32_TENSOR_OP_MATH));
      report.add(op, layer, "cublas (GEMM, TF32)", time_gpu(run, runs, gpu.stream), "timing only (same M, N, K)");
      CUBLAS_OK(cublasSetMathMode(gpu.cublas, CUBLAS_PEDANTIC_MATH));
    }
  }
}

#endif

int run(int argc, char** argv) {
  ednn::io::Cli cli("bench_conv",
                    "Times every convolution of the ED-CNN (forward, backward-data, backward-weight) with each kernel "
                    "version, cuDNN (fp32, then TF32), cuBLAS and the CPU path, each checked first; the rows also go "
                    "to CSV (and JSON). Without CUDA (or cuDNN) it times the CPU path and says the GPU variants are "
                    "skipped.\n\n"
                    "  bench_conv --preset small --layer \"small conv\"");
  cli.choice_option("preset", {"paper", "small", "all"}, "the network whose layers are timed", "all");
  cli.integer_option("batch", "B", "images per batch", "16", 1, 2147483647);
  cli.integer_option("runs", "R", "timed runs per variant, the median is reported", "10", 1, 2147483647);
  cli.flag("cpu", "also time the CPU path at the paper preset (minutes on 2 cores)");
  cli.option("csv", "FILE", "the rows as CSV", "bench_conv.csv");
  cli.option("json", "FILE", "the rows as JSON as well");
  cli.option("layer", "TEXT", "only the layers whose name contains TEXT (e.g. \"paper conv 512->1024\")");
  if (!cli.parse(argc, argv)) return 0;  // --help, --version
  const std::string preset = cli.get("preset"), csv = cli.get("csv"), json = cli.get("json"),
                    layer_filter = cli.get("layer");
  const int batch = int(cli.integer("batch")), runs = int(cli.integer("runs"));
  const bool cpu_paper = cli.has("cpu");

  Report report;
  [[maybe_unused]] bool gpu = false;
#if EDNN_BENCH_CUDA
  const std::string why = gpu_unavailable();
  gpu = why.empty();
  if (gpu) {
    cudaDeviceProp prop{};
    CUDA_OK(cudaGetDeviceProperties(&prop, 0));
    report.peak_gflops = peak_gflops();
    std::printf("bench_conv: %s, fp32 peak %.0f GFLOP/s; batch %d, median of %d runs\n", prop.name,
                report.peak_gflops, batch, runs);
  } else {
    std::printf("bench_conv: GPU variants skipped: %s\n", why.c_str());
  }
#else
  std::printf("bench_conv: GPU variants skipped: built without CUDA (EDNN_CUDA=OFF or no toolkit)\n");
#endif
  std::printf("%-16s | %-46s | %-22s | %12s | %16s | %12s | %6s | %s\n", "op", "shape", "variant", "time", "GFLOP/s",
              "GB/s", "% peak", "check (32 sampled outputs vs the direct formula in double)");

  std::vector<Layer> layers;
  if (preset != "paper") for (auto& l : network_layers("small", 128, 8, batch)) layers.push_back(l);
  if (preset != "small") for (auto& l : network_layers("paper", 512, 64, batch)) layers.push_back(l);
  std::erase_if(layers, [&](const Layer& l) { return l.name.find(layer_filter) == std::string::npos; });
  EDNN_CHECK(!layers.empty(), "--layer ", layer_filter, ": no layer of preset ", preset, " has that in its name");
#if EDNN_BENCH_CUDA
  std::unique_ptr<Gpu> device = gpu ? std::make_unique<Gpu>() : nullptr;
#endif
  std::uint64_t seed = 1;
  for (const Layer& layer : layers) {
    const ConvGeometry& g = layer.g;
    const Inputs in{seeded(g.input_numel(), seed), seeded(g.weight_numel(), seed + 1), seeded(g.output_numel(), seed + 2)};
    seed += 3;
    const bool paper = layer.name.rfind("paper", 0) == 0;
    if (!paper || cpu_paper) bench_cpu(layer, in, runs, report);
#if EDNN_BENCH_CUDA
    if (gpu) bench_gpu(layer, in, runs, *device, report);
#endif
  }
  if (!cpu_paper && preset != "small") std::printf("cpu variant at the paper preset skipped: pass --cpu (minutes on 2 cores)\n");

  ednn::bench::write_csv(csv, report.rows);
  if (!json.empty())
    ednn::bench::write_json(json, report.rows, {{"program", "bench_conv"}, {"preset", preset}, {"batch", batch},
                                                {"runs", runs}, {"peak_gflops", report.peak_gflops}});
  bool wrong = false;
  for (const Row& r : report.rows) wrong = wrong || r.check.rfind("WRONG", 0) == 0;
  std::printf("%zu rows written to %s%s\n", report.rows.size(), csv.c_str(),
              wrong ? "; SOME RESULTS ARE WRONG (see the check column)" : "; every checked result matched");
  return wrong ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) { return ednn::io::run_main("bench_conv", run, argc, argv); }
