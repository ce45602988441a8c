// Leaky ReLU, x, y: [n] (any shape, flattened):
//   forward   y = x if x > 0 else slope x
//   backward  dx = dy if x > 0 else slope dy     (needs the forward's input x; at x = 0 the slope)
// One thread per element in a grid-stride loop (blocks of 256, at most 4096 blocks), as in
// kernels/elementwise.cu: the work is one load and one store per element, so the only thing that
// matters is that a warp's 32 loads fall in one 128-byte line (consecutive threads, consecutive i).
#include "kernels/activation.h"

#include "core/error.h"
#include "kernels/simt.h"

namespace ednn::kernels {

constexpr int activation_block = 256;
constexpr long activation_max_blocks = 4096;

namespace device {

// y and x may alias (in-place), so no __restrict__.
__global__ void leaky_relu_forward(const float* x, float* y, long n, float slope) {
  const long stride = static_cast<long>(blockDim.x) * gridDim.x;
  for (long i = static_cast<long>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const float v = x[i];
    y[i] = v > 0.0f ? v : slope * v;
  }
}

__global__ void leaky_relu_backward(const float* dy, const float* __restrict__ x, float* dx, long n, float slope) {
  const long stride = static_cast<long>(blockDim.x) * gridDim.x;
  for (long i = static_cast<long>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const float d = dy[i];
    dx[i] = x[i] > 0.0f ? d : slope * d;
  }
}

}  // namespace device

namespace {
unsigned activation_grid(const char* op, long n) {
  EDNN_CHECK(n >= 0, op, ": n = ", n, " is negative");
  const long blocks = (n + activation_block - 1) / activation_block;
  return static_cast<unsigned>(blocks < activation_max_blocks ? blocks : activation_max_blocks);
}
}  // namespace

void leaky_relu_forward(const float* x, float* y, long n, float slope, simt::Stream stream) {
  if (const unsigned grid = activation_grid("leaky_relu_forward", n))
    simt::launch(device::leaky_relu_forward, grid, activation_block, 0, stream, x, y, n, slope);
}

void leaky_relu_backward(const float* dy, const float* x, float* dx, long n, float slope, simt::Stream stream) {
  if (const unsigned grid = activation_grid("leaky_relu_backward", n))
    simt::launch(device::leaky_relu_backward, grid, activation_block, 0, stream, dy, x, dx, n, slope);
}

}  // namespace ednn::kernels
