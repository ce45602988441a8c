// Elementwise operations, x, y: [n]:
//   fill   x[i] = value
//   axpy   y[i] = y[i] + alpha * x[i]
//   scale  y[i] = x[i] * s, s = scalar[0] in device memory (e.g. a loss value or a learning-rate
//          factor computed by an earlier kernel: reading it on the device avoids a copy to the host)
//   add_per_channel  y[n,c,h,w] += bias[c], y: [N, C, H, W] seen as [n] with c = (i / HW) % C
// One thread per element in a grid-stride loop: blocks of 256 threads, at most 4096 blocks; a
// thread handles i, i + 256 G, ..., so consecutive threads touch consecutive floats (coalesced)
// and any n works, with the tail handled by the loop bound.
#include "kernels/elementwise.h"

#include "core/error.h"
#include "kernels/simt.h"

namespace ednn::kernels {

constexpr int elementwise_block = 256;
constexpr long elementwise_max_blocks = 4096;

namespace device {

__global__ void fill(float* __restrict__ x, long n, float value) {
  const long stride = static_cast<long>(blockDim.x) * gridDim.x;
  for (long i = static_cast<long>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) x[i] = value;
}

__global__ void axpy(float* __restrict__ y, const float* __restrict__ x, long n, float alpha) {
  const long stride = static_cast<long>(blockDim.x) * gridDim.x;
  for (long i = static_cast<long>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) y[i] += alpha * x[i];
}

// y and x may alias, so no __restrict__.
__global__ void scale(float* y, const float* x, long n, const float* __restrict__ scalar) {
  const float s = *scalar;
  const long stride = static_cast<long>(blockDim.x) * gridDim.x;
  for (long i = static_cast<long>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) y[i] = x[i] * s;
}

__global__ void add_per_channel(float* __restrict__ y, const float* __restrict__ bias, long n, int C, long HW) {
  const long stride = static_cast<long>(blockDim.x) * gridDim.x;
  for (long i = static_cast<long>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    y[i] += bias[(i / HW) % C];
}

}  // namespace device

namespace {
unsigned elementwise_grid(const char* op, long n) {
  EDNN_CHECK(n >= 0, op, ": n = ", n, " is negative");
  const long blocks = (n + elementwise_block - 1) / elementwise_block;
  return static_cast<unsigned>(blocks < elementwise_max_blocks ? blocks : elementwise_max_blocks);
}
}  // namespace

void fill(float* x, long n, float value, simt::Stream stream) {
  if (const unsigned grid = elementwise_grid("fill", n))
    simt::launch(device::fill, grid, elementwise_block, 0, stream, x, n, value);
}

void axpy(float* y, const float* x, long n, float alpha, simt::Stream stream) {
  if (const unsigned grid = elementwise_grid("axpy", n))
    simt::launch(device::axpy, grid, elementwise_block, 0, stream, y, x, n, alpha);
}

void scale(float* y, const float* x, long n, const float* scalar, simt::Stream stream) {
  if (const unsigned grid = elementwise_grid("scale", n))
    simt::launch(device::scale, grid, elementwise_block, 0, stream, y, x, n, scalar);
}

void add_per_channel(float* y, const float* bias, int N, int C, long HW, simt::Stream stream) {
  if (const unsigned grid = elementwise_grid("add_per_channel", static_cast<long>(N) * C * HW))
    simt::launch(device::add_per_channel, grid, elementwise_block, 0, stream, y, bias, static_cast<long>(N) * C * HW,
                 C, HW);
}

}  // namespace ednn::kernels
