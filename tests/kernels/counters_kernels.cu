// Kernels with known memory counts, for counters_test.cpp (see counters_kernels.h). Compiled for
// the emulation with its loads and stores counted (kernels/simt_counters.h).
#include "tests/kernels/counters_kernels.h"

#include "kernels/simt.h"

namespace counters_test {
namespace device {

__global__ void copy_floats(const float* __restrict__ in, float* __restrict__ out, int n) {
  const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (i < n) out[i] = in[i];
}

__global__ void gather_stride_32(const float* __restrict__ in, float* __restrict__ out, int n) {
  const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (i < n) out[i] = in[32 * i];
}

__global__ void copy_float4s(const float4* __restrict__ in, float4* __restrict__ out, int n) {
  const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (i < n) out[i] = in[i];
}

__global__ void shared_column(const float* __restrict__ in, float* __restrict__ out, int stride, int column) {
  SIMT_DYNAMIC_SHARED(float, tile);
  const int t = static_cast<int>(threadIdx.x);
  for (int j = 0; j < 32; ++j) tile[j * stride + t] = in[32 * j + t];
  __syncthreads();
  out[t] = tile[t * stride + column];
}

__global__ void shared_broadcast(const float* __restrict__ in, float* __restrict__ out, int word) {
  __shared__ float tile[32];  // static shared memory, as the dynamic one in shared_column
  const int t = static_cast<int>(threadIdx.x);
  tile[t] = in[t];
  __syncthreads();
  out[t] = tile[word];
}

__device__ float all_of(double v) { return static_cast<float>(v); }
__device__ float all_of(const float4& v) { return v.x + v.y + v.z + v.w; }

template <class T>
__global__ void shared_wide(const float* __restrict__ in, float* __restrict__ out) {
  __shared__ __align__(16) T tile[32];
  const int t = static_cast<int>(threadIdx.x);
  tile[t] = reinterpret_cast<const T*>(in)[t];
  __syncthreads();
  const T value = tile[t];  // one 8- or 16-byte load, as on the GPU
  out[t] = all_of(value);
}

__global__ void copy_async_float4s(const float4* __restrict__ in, float4* __restrict__ out) {
  __shared__ __align__(16) float4 tile[32];
  const int t = static_cast<int>(threadIdx.x);
  simt::copy_async_16(&tile[t], &in[t]);
  simt::copy_async_wait_all();
  __syncthreads();
  out[t] = tile[t];
}

}  // namespace device

void copy_floats(const float* in, float* out, int n, int block) {
  simt::launch(device::copy_floats, (n + block - 1) / block, block, 0, nullptr, in, out, n);
}
void gather_stride_32(const float* in, float* out, int n) {
  simt::launch(device::gather_stride_32, (n + 127) / 128, 128, 0, nullptr, in, out, n);
}
void copy_float4s(const float* in, float* out, int n) {
  simt::launch(device::copy_float4s, (n + 127) / 128, 128, 0, nullptr, reinterpret_cast<const float4*>(in),
               reinterpret_cast<float4*>(out), n);
}
void shared_column(const float* in, float* out, int stride, int column) {
  simt::launch(device::shared_column, 1, 32, 32 * stride * sizeof(float), nullptr, in, out, stride, column);
}
void shared_broadcast(const float* in, float* out, int word) {
  simt::launch(device::shared_broadcast, 1, 32, 0, nullptr, in, out, word);
}
void shared_wide(const float* in, float* out, int bytes_per_lane) {
  if (bytes_per_lane == 8)
    simt::launch(device::shared_wide<double>, 1, 32, 0, nullptr, in, out);
  else
    simt::launch(device::shared_wide<float4>, 1, 32, 0, nullptr, in, out);
}
void copy_async_float4s(const float* in, float* out) {
  simt::launch(device::copy_async_float4s, 1, 32, 0, nullptr, reinterpret_cast<const float4*>(in),
               reinterpret_cast<float4*>(out));
}

}  // namespace counters_test
