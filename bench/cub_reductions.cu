// CUB baselines for the per-channel reductions (see bench/cub_reductions.h for what and why).
// Compiled by nvcc only (CUB is device code); bench_ops.cpp calls the plain C++ functions.
//
// Every reduction here is cub::DeviceSegmentedReduce::Sum. Segment offsets are never stored: the
// offset of segment i is i * length, a transform of a counting iterator, as are the views that
// reorder values (plane sums by channel, x channel by channel, squared deviations).
#include "bench/cub_reductions.h"

#include <algorithm>

#include <cub/device/device_segmented_reduce.cuh>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/iterator/transform_iterator.h>

#include "core/error.h"

#define CUDA_OK(call)                                                                  \
  do {                                                                                 \
    const cudaError_t error_ = (call);                                                 \
    EDNN_CHECK(error_ == cudaSuccess, #call, " failed: ", cudaGetErrorString(error_)); \
  } while (0)

namespace ednn::bench {
namespace {

using Counting = thrust::counting_iterator<long>;

// The start of segment i when every segment has `length` values.
struct SegmentStart {
  long length;
  __host__ __device__ long operator()(long i) const { return i * length; }
};
auto segment_starts(long length) { return thrust::make_transform_iterator(Counting(0), SegmentStart{length}); }

// Plane sums stored in (n, c) order, read in (c, n) order: element k = c N + n.
template <class T>
struct PlaneSumsByChannel {
  const T* sums;
  int N, C;
  __host__ __device__ T operator()(long k) const { return sums[(k % N) * C + k / N]; }
};

// x [N, C, H, W] read channel after channel: element k = c M + m, m = n HW + i (M = N HW).
struct ChannelMajor {
  const float* x;
  int C;
  long HW, M;
  __host__ __device__ float operator()(long k) const {
    const long c = k / M, m = k % M;
    return x[(m / HW * C + c) * HW + m % HW];
  }
};

// (x[k] - mean_c)^2 in double, with c = (k / HW) % C and mean_c = sums[c] / M.
struct SquaredDeviation {
  const float* x;
  const double* sums;
  int C;
  long HW;
  double M;
  __host__ __device__ double operator()(long k) const {
    const double d = static_cast<double>(x[k]) - sums[(k / HW) % C] / M;
    return d * d;
  }
};

std::size_t aligned(std::size_t bytes) { return (bytes + 255) / 256 * 256; }

// out[c] = sum of the N C HW values of `in` (NCHW order) over channel c, accumulated in Acc:
// first one segment per (n, c) plane into plane_sums [N C], then one segment per channel over
// its N plane sums. With temp == nullptr nothing runs and the temporary bytes CUB needs (the
// larger of the two calls: they run one after the other and share it) are returned.
template <class Acc, class In, class Out>
std::size_t sum_by_planes(In in, int N, int C, long HW, Out out, Acc* plane_sums, void* temp, std::size_t temp_bytes,
                          cudaStream_t stream) {
  const auto by_channel = thrust::make_transform_iterator(Counting(0), PlaneSumsByChannel<Acc>{plane_sums, N, C});
  const long planes = static_cast<long>(N) * C;
  if (temp == nullptr) {
    std::size_t first = 0, second = 0;
    CUDA_OK(cub::DeviceSegmentedReduce::Sum(nullptr, first, in, plane_sums, planes, segment_starts(HW),
                                            segment_starts(HW) + 1, stream));
    CUDA_OK(cub::DeviceSegmentedReduce::Sum(nullptr, second, by_channel, out, C, segment_starts(N),
                                            segment_starts(N) + 1, stream));
    return std::max(first, second);
  }
  CUDA_OK(cub::DeviceSegmentedReduce::Sum(temp, temp_bytes, in, plane_sums, planes, segment_starts(HW),
                                          segment_starts(HW) + 1, stream));
  CUDA_OK(cub::DeviceSegmentedReduce::Sum(temp, temp_bytes, by_channel, out, C, segment_starts(N),
                                          segment_starts(N) + 1, stream));
  return temp_bytes;
}

// One segment per channel, read through ChannelMajor. Query mode as above.
std::size_t sum_by_channels(const float* x, int N, int C, long HW, float* out, void* temp, std::size_t temp_bytes,
                            cudaStream_t stream) {
  const long M = static_cast<long>(N) * HW;
  const auto in = thrust::make_transform_iterator(Counting(0), ChannelMajor{x, C, HW, M});
  CUDA_OK(cub::DeviceSegmentedReduce::Sum(temp, temp_bytes, in, out, C, segment_starts(M), segment_starts(M) + 1,
                                          stream));
  return temp_bytes;
}

__global__ void stats_finalize_kernel(const double* __restrict__ sums, const double* __restrict__ sqdevs, int C,
                                      double M, double eps, float* __restrict__ mean, float* __restrict__ invstd) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= C) return;
  mean[c] = static_cast<float>(sums[c] / M);
  invstd[c] = static_cast<float>(1.0 / sqrt(sqdevs[c] / M + eps));
}

// The batch-norm scratch: plane sums [N C], channel sums [C], channel squared deviations [C]
// (doubles), then CUB's temporary storage.
struct StatsLayout {
  std::size_t planes, sums, sqdevs, temp;
  StatsLayout(int N, int C)
      : planes(0),
        sums(aligned(sizeof(double) * N * C)),
        sqdevs(sums + aligned(sizeof(double) * C)),
        temp(sqdevs + aligned(sizeof(double) * C)) {}
};

}  // namespace

const char* cub_channel_sum_name(CubChannelSum how) {
  return how == CubChannelSum::planes ? "planes" : "channels";
}

std::size_t cub_sum_per_channel_scratch_bytes(CubChannelSum how, int N, int C, long HW) {
  if (how == CubChannelSum::channels) return sum_by_channels(nullptr, N, C, HW, nullptr, nullptr, 0, nullptr);
  const std::size_t sums = aligned(sizeof(float) * N * C);
  return sums + sum_by_planes<float>(static_cast<const float*>(nullptr), N, C, HW, static_cast<float*>(nullptr),
                                     static_cast<float*>(nullptr), nullptr, 0, nullptr);
}

void cub_sum_per_channel(CubChannelSum how, const float* x, int N, int C, long HW, float* out, void* scratch,
                         std::size_t scratch_bytes, simt::Stream stream) {
  // No size query here (it would sit inside the timed region): CUB itself fails a call whose
  // temporary storage is too small, and CUDA_OK turns that into an error.
  EDNN_CHECK(scratch != nullptr, "cub_sum_per_channel: no scratch (see cub_sum_per_channel_scratch_bytes)");
  if (how == CubChannelSum::channels) {
    sum_by_channels(x, N, C, HW, out, scratch, scratch_bytes, stream);
    return;
  }
  const std::size_t sums = aligned(sizeof(float) * N * C);
  EDNN_CHECK(scratch_bytes > sums, "cub_sum_per_channel: scratch of ", scratch_bytes, " bytes is too small");
  char* base = static_cast<char*>(scratch);
  sum_by_planes<float>(x, N, C, HW, out, reinterpret_cast<float*>(base), base + sums, scratch_bytes - sums, stream);
}

std::size_t cub_batch_norm_stats_scratch_bytes(int N, int C, long HW) {
  const StatsLayout at(N, C);
  const SquaredDeviation sq{nullptr, nullptr, C, HW, 1.0};
  const std::size_t first = sum_by_planes<double>(static_cast<const float*>(nullptr), N, C, HW,
                                                  static_cast<double*>(nullptr), static_cast<double*>(nullptr),
                                                  nullptr, 0, nullptr);
  const std::size_t second = sum_by_planes<double>(thrust::make_transform_iterator(Counting(0), sq), N, C, HW,
                                                   static_cast<double*>(nullptr), static_cast<double*>(nullptr),
                                                   nullptr, 0, nullptr);
  return at.temp + std::max(first, second);
}

void cub_batch_norm_stats(const float* x, int N, int C, long HW, double eps, float* mean, float* invstd,
                          void* scratch, std::size_t scratch_bytes, simt::Stream stream) {
  const StatsLayout at(N, C);
  EDNN_CHECK(scratch != nullptr && scratch_bytes > at.temp, "cub_batch_norm_stats: scratch of ", scratch_bytes,
             " bytes is too small (see cub_batch_norm_stats_scratch_bytes)");
  char* base = static_cast<char*>(scratch);
  double* planes = reinterpret_cast<double*>(base + at.planes);
  double* sums = reinterpret_cast<double*>(base + at.sums);
  double* sqdevs = reinterpret_cast<double*>(base + at.sqdevs);
  void* temp = base + at.temp;
  const std::size_t temp_bytes = scratch_bytes - at.temp;
  const double M = static_cast<double>(N) * static_cast<double>(HW);
  sum_by_planes<double>(x, N, C, HW, sums, planes, temp, temp_bytes, stream);
  const auto deviations = thrust::make_transform_iterator(Counting(0), SquaredDeviation{x, sums, C, HW, M});
  sum_by_planes<double>(deviations, N, C, HW, sqdevs, planes, temp, temp_bytes, stream);
  stats_finalize_kernel<<<(C + 255) / 256, 256, 0, stream>>>(sums, sqdevs, C, M, eps, mean, invstd);
  CUDA_OK(cudaGetLastError());
}

}  // namespace ednn::bench
