// Helpers for the kernel benchmarks: seeded inputs, medians, the result rows and their CSV/JSON
// files, and (when built with EDNN_BENCH_CUDA) checked CUDA/cuDNN/cuBLAS calls, the stream and
// library handles, timing with CUDA events and the card's peak numbers. Used by bench_conv and bench_ops.
#pragma once
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"

#if EDNN_BENCH_CUDA
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>
#endif

namespace ednn::bench {

// Seeded values in [-1, 1): value i of splitmix64 started at seed (the same numbers as
// bench_conv's `seeded`), computed in parallel: each value depends only on its index.
inline std::vector<float> seeded(std::size_t n, std::uint64_t seed) {
  std::vector<float> v(n);
  const std::uint64_t s0 = seed * 0x9E3779B97F4A7C15ull + 1;
  const std::int64_t count = static_cast<std::int64_t>(n);
#pragma omp parallel for schedule(static) if (count >= (1 << 16))
  for (std::int64_t i = 0; i < count; ++i) {
    std::uint64_t z = s0 + static_cast<std::uint64_t>(i + 1) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    v[i] = static_cast<float>(static_cast<double>(z >> 11) * 0x1.0p-52 - 1.0);
  }
  return v;
}

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Median milliseconds of fn over `runs` calls, timed with a steady clock (the CPU path; its first
// call, the one that was checked, is its warm-up).
inline double time_cpu(const std::function<void()>& fn, int runs) {
  std::vector<double> ms;
  for (int r = 0; r < runs; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  return median(ms);
}

// One timed configuration: op | shape | variant | ms | GFLOP/s | GB/s | % of peak | check.
struct Row {
  std::string op, shape, variant, check;
  double ms, gflops, gbs, peak_percent;  // peak_percent 0: not applicable (CPU) or unknown
};

// A CSV field, quoted when it holds a comma, a quote or a line break (RFC 4180).
inline std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

inline void write_csv(const std::string& path, const std::vector<Row>& rows) {
  std::ofstream out(path);
  EDNN_CHECK(out, "cannot write ", path);
  out << "op,shape,variant,ms,gflops,gbs,peak_percent,check\n";
  for (const Row& r : rows)
    out << csv_field(r.op) << ',' << csv_field(r.shape) << ',' << csv_field(r.variant) << ',' << r.ms << ','
        << r.gflops << ',' << r.gbs << ',' << r.peak_percent << ',' << csv_field(r.check) << '\n';
  EDNN_CHECK(out, "error while writing ", path);
}

// {"meta": {...}, "rows": [{"op": ..., "ms": ...}, ...]}
inline void write_json(const std::string& path, const std::vector<Row>& rows, const nlohmann::json& meta) {
  nlohmann::json j;
  j["meta"] = meta;
  j["rows"] = nlohmann::json::array();
  for (const Row& r : rows)
    j["rows"].push_back({{"op", r.op}, {"shape", r.shape}, {"variant", r.variant}, {"ms", r.ms},
                         {"gflops", r.gflops}, {"gbs", r.gbs}, {"peak_percent", r.peak_percent},
                         {"check", r.check}});
  std::ofstream out(path);
  EDNN_CHECK(out, "cannot write ", path);
  out << j.dump(2) << '\n';
  EDNN_CHECK(out, "error while writing ", path);
}

#if EDNN_BENCH_CUDA
#define CUDA_OK(call)                                                                   \
  do {                                                                                  \
    const cudaError_t error_ = (call);                                                  \
    EDNN_CHECK(error_ == cudaSuccess, #call, " failed: ", cudaGetErrorString(error_));  \
  } while (0)
#define CUDNN_OK(call)                                                                              \
  do {                                                                                              \
    const cudnnStatus_t status_ = (call);                                                           \
    EDNN_CHECK(status_ == CUDNN_STATUS_SUCCESS, #call, " failed: ", cudnnGetErrorString(status_));  \
  } while (0)
#define CUBLAS_OK(call) EDNN_CHECK((call) == CUBLAS_STATUS_SUCCESS, #call, " failed")

// Median milliseconds of fn over runs, after two warm-up calls, timed with CUDA events on `stream`.
inline double time_gpu(const std::function<void()>& fn, int runs, cudaStream_t stream) {
  fn();
  fn();
  cudaEvent_t start, stop;
  CUDA_OK(cudaEventCreate(&start));
  CUDA_OK(cudaEventCreate(&stop));
  std::vector<double> ms;
  for (int r = 0; r < runs; ++r) {
    CUDA_OK(cudaEventRecord(start, stream));
    fn();
    CUDA_OK(cudaEventRecord(stop, stream));
    CUDA_OK(cudaEventSynchronize(stop));
    float t = 0.0f;
    CUDA_OK(cudaEventElapsedTime(&t, start, stop));
    ms.push_back(t);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return median(ms);
}

// A stream with a cuDNN and a cuBLAS handle on it, cuBLAS in plain fp32 (no TF32 unless a
// benchmark asks for it).
struct Gpu {
  cudaStream_t stream = nullptr;
  cudnnHandle_t cudnn = nullptr;
  cublasHandle_t cublas = nullptr;
  Gpu() {
    CUDA_OK(cudaStreamCreate(&stream));
    CUDNN_OK(cudnnCreate(&cudnn));
    CUDNN_OK(cudnnSetStream(cudnn, stream));
    CUBLAS_OK(cublasCreate(&cublas));
    CUBLAS_OK(cublasSetStream(cublas, stream));
    CUBLAS_OK(cublasSetMathMode(cublas, CUBLAS_PEDANTIC_MATH));
  }
  ~Gpu() {
    cublasDestroy(cublas);
    cudnnDestroy(cudnn);
    cudaStreamDestroy(stream);
  }
  Gpu(const Gpu&) = delete;
  Gpu& operator=(const Gpu&) = delete;
};

// "" when a GPU is usable, else why not.
inline std::string gpu_unavailable() {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) return std::string("no usable CUDA driver (") + cudaGetErrorString(e) + ")";
  if (count == 0) return "no CUDA device";
  return "";
}

inline int device_attribute(cudaDeviceAttr attribute) {
  int device = 0, value = 0;
  CUDA_OK(cudaGetDevice(&device));
  CUDA_OK(cudaDeviceGetAttribute(&value, attribute, device));
  return value;
}

// Peak fp32 GFLOP/s: SMs x 128 lanes x 2 flops x clock (64 lanes on sm_80).
inline double peak_gflops() {
  const int sms = device_attribute(cudaDevAttrMultiProcessorCount), khz = device_attribute(cudaDevAttrClockRate);
  const int major = device_attribute(cudaDevAttrComputeCapabilityMajor);
  const int minor = device_attribute(cudaDevAttrComputeCapabilityMinor);
  const int lanes = (major == 8 && minor == 0) ? 64 : 128;
  return double(sms) * lanes * 2.0 * khz * 1e-6;
}

// Peak memory bandwidth in GB/s: 2 transfers per memory clock (DDR) x bus width in bytes, as
// CUDA's deviceQuery computes it (H100 SXM: 2 x 2619 MHz x 5120 bit = 3352 GB/s; H200 about 4800).
inline double peak_bandwidth_gbs() {
  const double khz = device_attribute(cudaDevAttrMemoryClockRate);
  const double bits = device_attribute(cudaDevAttrGlobalMemoryBusWidth);
  return 2.0 * khz * 1e3 * (bits / 8.0) * 1e-9;
}
#endif

}  // namespace ednn::bench
